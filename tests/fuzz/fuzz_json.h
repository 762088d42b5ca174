/* fuzz_json.h - checks the JSON fuzz targets share: the nesting of a
 * jansson value, a base64 digit's value, and whether a text is the
 * base64 of some bytes. */
#ifndef BR_FUZZ_JSON_H
#define BR_FUZZ_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting of containers (a scalar is 0, [] is 1). */
static inline size_t json_depth(const json_t *v)
{
    size_t deepest = 0, i;
    const char *key;
    json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            size_t d = json_depth(item);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item) {
            size_t d = json_depth(item);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

static inline int b64_digit(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* True when s is the padded standard base64 of p[0..n). */
static inline bool is_base64_of(const char *s, size_t len, const uint8_t *p, size_t n)
{
    if (len % 4 || len / 4 != (n + 2) / 3)
        return false;
    size_t out = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            int d = s[i + k] == '=' && i + 4 == len && k >= 2 ? (pad++, 0)
                                                              : b64_digit(s[i + k]);
            if (d < 0 || (pad && s[i + k] != '='))
                return false;
            v = v << 6 | (uint32_t)d;
        }
        for (int k = 0; k < 3 - pad; k++, out++)
            if (out >= n || p[out] != (uint8_t)(v >> (16 - 8 * k)))
                return false;
    }
    return out == n;
}

#endif
