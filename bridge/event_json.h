/* event_json.h - the pieces every event shape writes with: inline appends
 * for the many short writes of the hot path, JSON strings, the
 * "<name>"/"<name>Encoding" pair of an embedded or base64 payload, and
 * the check of a publisher's content type. The formats (format.c,
 * format_cloudevents.c) and the record kinds of the connectors use them;
 * this file uses neither. */
#ifndef BR_EVENT_JSON_H
#define BR_EVENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "buf.h"

/* Inline fast path for the many short appends of an event: when the bytes
 * fit in the current allocation, copy them here (cap never exceeds
 * max + 1, so fitting in cap means fitting under the cap too); otherwise
 * br_buf_append grows the buffer or refuses. Each returns 0 or -1. */
static inline int br_ev_put(struct br_buf *out, const void *p, size_t n)
{
    if (out->cap - out->len <= n)
        return br_buf_append(out, p, n);
    memcpy(out->data + out->len, p, n);
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

static inline int br_ev_putc(struct br_buf *out, char c)
{
    return br_ev_put(out, &c, 1);
}

static inline int br_ev_puts(struct br_buf *out, const char *s)
{
    return br_ev_put(out, s, strlen(s));
}

#define BR_EV_LIT(b, lit) br_ev_put((b), (lit), sizeof(lit) - 1)

/* s as a JSON string literal. */
static inline int br_ev_str(struct br_buf *out, const char *s)
{
    return br_buf_put_json_str(out, s, strlen(s));
}

/* The escaped string s with its opening quote only, so the caller can
 * append more text (an id suffix) before closing it. */
static inline int br_ev_str_open(struct br_buf *out, const char *s)
{
    if (br_ev_str(out, s) < 0)
        return -1;
    out->data[--out->len] = '\0';
    return 0;
}

static inline size_t br_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* ,"<name>":<JSON verbatim>,"<name>Encoding":"json", or the same with a
 * base64 string; nothing when p is NULL (the record has no such bytes). */
int br_ev_payload(struct br_buf *out, const char *name, const unsigned char *p, size_t n);

/* True when a publisher's content type ("type/subtype[; params]",
 * printable ASCII, under 128 bytes) may go into an HTTP header. */
bool br_ev_usable_content_type(const char *ct);

#endif
