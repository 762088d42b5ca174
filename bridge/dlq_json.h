/* dlq_json.h - the pieces of a dead-letter line that come from outside
 * (a function's answer, an event, broker topics, object keys), written so
 * that every line loads with a strict JSON parser: Python's json.loads and
 * jansson without flags (which refuses \u0000, integers beyond int64 and
 * reals beyond double). Bytes that cannot be JSON text go as base64. */
#ifndef BR_DLQ_JSON_H
#define BR_DLQ_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "utf8.h"

/* True when p[0..n) is well-formed UTF-8 (Unicode Table 3-7: no
 * overlongs, no surrogates, nothing past U+10FFFF) and holds no NUL. */
bool br_dlq_is_text(const unsigned char *p, size_t n);

/* Appends p[0..n) as a JSON string literal; each byte that is not part of
 * a well-formed UTF-8 sequence, and each NUL, becomes U+FFFD (lossy: for
 * labels whose exact bytes travel beside them as base64). */
int br_dlq_put_text(struct br_buf *out, const unsigned char *p, size_t n);

/* Appends a fresh random UUID (version 4) as a JSON string: a dead
 * letter's requestId. */
int br_dlq_put_request_id(struct br_buf *out);

/* Appends "name":<s as text>, and when s is not text (br_dlq_is_text),
 * also ,"<name>Base64":"<its bytes>" so nothing of it is lost. */
int br_dlq_put_label(struct br_buf *out, const char *name, const char *s, size_t n);

/* True when p[0..n) may be embedded verbatim in a line: one complete JSON
 * value (RFC 8259, valid UTF-8, at most 512 levels) without a \u0000
 * escape, whose integers fit int64 and whose reals do not overflow a
 * double. */
bool br_dlq_json_embeddable(const unsigned char *p, size_t n);

#endif
