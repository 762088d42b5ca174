/* json_check.h - is this byte string one complete JSON value? The event
 * formats embed a record's bytes as JSON only when it says yes, and the
 * dead-letter writer builds on it (dlq_json.h). */
#ifndef BR_JSON_CHECK_H
#define BR_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* True when p[0..n) is one complete JSON value by RFC 8259 (valid UTF-8,
 * no lone surrogate escapes, at most 512 levels deep). */
bool br_json_valid(const unsigned char *p, size_t n);

#endif
