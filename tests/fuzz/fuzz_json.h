/* fuzz_json.h - checks the JSON fuzz targets share: the nesting of a
 * jansson value and a base64 digit's value. */
#ifndef BR_FUZZ_JSON_H
#define BR_FUZZ_JSON_H

#include <jansson.h>
#include <stddef.h>

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

#endif
