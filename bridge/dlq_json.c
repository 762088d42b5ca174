/* dlq_json.c - text, labels and embeddable JSON for dead-letter lines (see
 * dlq_json.h). Nothing here allocates beyond the output buffer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlq_json.h"
#include "json_check.h"

bool br_dlq_is_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (p[i] >= 0x20 && p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = p[i] ? br_utf8_len(p + i, n - i) : 0;
        if (!len)
            return false;
        i += len;
    }
    return true;
}

int br_dlq_put_text(struct br_buf *out, const unsigned char *p, size_t n)
{
    static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */
    if (br_dlq_is_text(p, n))
        return br_buf_put_json_str(out, (const char *)p, n);
    /* Rare (a label that is not text): build the cleaned copy, then let
     * the one JSON string writer escape it. */
    struct br_buf clean;
    br_buf_init(&clean, 0);
    int rc = br_buf_reserve(&clean, n);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t len = p[i] ? br_utf8_len(p + i, n - i) : 0;
        rc = len ? br_buf_append(&clean, p + i, len) : br_buf_puts(&clean, replacement);
        i += len ? len : 1;
    }
    if (rc == 0)
        rc = br_buf_put_json_str(out, clean.data ? clean.data : "", clean.len);
    br_buf_free(&clean);
    return rc;
}

int br_dlq_put_label(struct br_buf *out, const char *name, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = br_buf_putc(out, '"');
    rc |= br_buf_puts(out, name);
    rc |= br_buf_puts(out, "\":");
    rc |= br_dlq_put_text(out, p, n);
    if (br_dlq_is_text(p, n))
        return rc;
    rc |= br_buf_puts(out, ",\"");
    rc |= br_buf_puts(out, name);
    rc |= br_buf_puts(out, "Base64\":\"");
    rc |= br_buf_put_base64(out, p, n);
    return rc | br_buf_putc(out, '"');
}

/* ------------------------------------------------- embeddable JSON values */

/* A number token of a valid document, as jansson reads it: integers with
 * strtoll, reals with strtod; both refuse what does not fit. Tokens too
 * long for the scratch are refused too (base64 then: still loss-free). */
static bool number_loadable(const unsigned char *p, size_t len)
{
    char tmp[400];
    bool real = memchr(p, '.', len) || memchr(p, 'e', len) || memchr(p, 'E', len);
    size_t digits = len - (p[0] == '-');
    if (!real && digits < 19)
        return true;                /* fits int64 whatever the digits */
    if (len >= sizeof(tmp))
        return false;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    errno = 0;
    if (!real) {
        (void)strtoll(tmp, NULL, 10);
        return errno != ERANGE;
    }
    double d = strtod(tmp, NULL);
    return !(isinf(d) && errno == ERANGE);
}

/* Past the string starting at p[i] (its opening quote); false on \u0000. */
static bool skip_string(const unsigned char *p, size_t n, size_t *i)
{
    size_t at = *i + 1;
    while (at < n && p[at] != '"') {
        if (p[at] != '\\') {
            at++;
            continue;
        }
        if (at + 5 < n && p[at + 1] == 'u' && !memcmp(p + at + 2, "0000", 4))
            return false;
        at += 2;
    }
    *i = at + 1;
    return true;
}

static bool is_number_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
           c == 'E';
}

bool br_dlq_json_embeddable(const unsigned char *p, size_t n)
{
    if (!br_json_valid(p, n))
        return false;
    /* The document is valid: only strings and numbers need a look. */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"') {
            if (!skip_string(p, n, &i))
                return false;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < n && is_number_byte(p[i]))
                i++;
            if (!number_loadable(p + start, i - start))
                return false;
        } else {
            i++;
        }
    }
    return true;
}

int br_dlq_put_request_id(struct br_buf *out)
{
    unsigned char r[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(r, 1, sizeof(r), f) != sizeof(r))
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)(rand() & 0xff);
    if (f)
        fclose(f);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);   /* UUID version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    return br_buf_printf(out, "\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                              "%02x%02x%02x%02x%02x%02x\"",
                         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                         r[10], r[11], r[12], r[13], r[14], r[15]);
}
