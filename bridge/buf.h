/* buf.h - growable byte buffer with a hard cap.
 *
 * Used for request bodies, responses and log lines. Every append fails
 * (returns -1, buffer unchanged) rather than grow past `max` bytes, so a
 * misbehaving peer can never make us allocate without bound. */
#ifndef BR_BUF_H
#define BR_BUF_H

#include <stddef.h>
#include <stdint.h>

struct br_buf {
    char *data;     /* owned; always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;     /* 0 means SIZE_MAX/2 */
};

void br_buf_init(struct br_buf *b, size_t max);
int br_buf_reserve(struct br_buf *b, size_t extra);
int br_buf_append(struct br_buf *b, const void *p, size_t n);
int br_buf_puts(struct br_buf *b, const char *s);
int br_buf_putc(struct br_buf *b, char c);
int br_buf_printf(struct br_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int br_buf_put_i64(struct br_buf *b, int64_t v);
/* Appends s as a JSON string literal (with quotes, escaped). */
int br_buf_put_json_str(struct br_buf *b, const char *s, size_t n);
/* Appends standard base64 (with padding) of p[0..n). */
int br_buf_put_base64(struct br_buf *b, const unsigned char *p, size_t n);
void br_buf_reset(struct br_buf *b);           /* len = 0, keeps memory */
void br_buf_free(struct br_buf *b);            /* frees, safe on zeroed */
/* Hands the data to the caller (who frees it) and empties the buffer. */
char *br_buf_steal(struct br_buf *b, size_t *len);

#endif
