/* s3_key.c - S3's URL encoding of object keys in event notifications. */
#include <stdbool.h>

#include "s3_key.h"

static bool kept(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
}

static size_t width(unsigned char c)
{
    return kept(c) || c == ' ' ? 1 : 3;
}

size_t br_s3_key_encoded_len(const char *key, size_t len)
{
    size_t total = 0;
    for (size_t i = 0; i < len; i++)
        total += width((unsigned char)key[i]);
    return total;
}

size_t br_s3_key_encode(const char *key, size_t len, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = 0, total = 0;
    if (n == 0)
        return br_s3_key_encoded_len(key, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        char enc[3] = {c == ' ' ? '+' : (char)c, 0, 0};
        if (width(c) == 3) {
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
        }
        total += width(c);
        if (at + width(c) < n) {
            for (size_t k = 0; k < width(c); k++)
                out[at++] = enc[k];
        } else {
            n = at + 1;     /* truncated: stop writing, keep counting */
        }
    }
    if (n)
        out[at] = '\0';
    return total;
}
