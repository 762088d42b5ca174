/* format_cloudevents.h - the cloudevents format's entries in the format
 * table (format.c): the same contract as br_format_encode, _headers,
 * _content_type and _record_bound for BR_FORMAT_CLOUDEVENTS. */
#ifndef BR_FORMAT_CLOUDEVENTS_H
#define BR_FORMAT_CLOUDEVENTS_H

#include <stddef.h>

#include "buf.h"
#include "format.h"

int br_ce_encode(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                 struct br_buf *out);
int br_ce_headers(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                  struct br_buf *out);
const char *br_ce_content_type(const struct br_event_ctx *ev, struct br_record *const *recs,
                               size_t n);
size_t br_ce_record_bound(const struct br_event_ctx *ev, const struct br_record *rec);

#endif
