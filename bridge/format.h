/* format.h - encodes a batch of records into the event a function receives
 * (DESIGN section 4). Hand-written JSON into a br_buf: this is the hot
 * path, one call per invocation. */
#ifndef BR_FORMAT_H
#define BR_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "record.h"

enum br_format {
    BR_FORMAT_SOURCE_DEFAULT = -1,   /* a target's format not set */
    BR_FORMAT_LAMBDA = 0,
    BR_FORMAT_JSON = 1,
    BR_FORMAT_PAYLOAD = 2,
    BR_FORMAT_CLOUDEVENTS = 3,
};
#define BR_FORMAT_BIT(f) (1u << (f))

struct br_event_ctx {
    const char *pipeline;        /* pipeline name (json format) */
    const char *source_kind;     /* "kafka" */
    const char *origin;          /* kafka: bootstrap servers list */
    /* cloudevents: the pipeline's batch.max_records is 1, so each event
     * goes in binary mode (data as the body, attributes as ce-* headers) */
    bool ce_binary;
};

/* Appends the event for recs[0..n) to out. Returns 0, or -1 if out's cap
 * was reached (the event would be too large). */
int br_format_encode(enum br_format fmt, const struct br_event_ctx *ev,
                     struct br_record *const *recs, size_t n,
                     struct br_buf *out);

/* The Content-Type of the event for recs[0..n) in a pipeline's context
 * (ev may be NULL: then CloudEvents are taken as structured). A CloudEvents
 * event in binary mode (ev->ce_binary and one record) has its
 * datacontenttype. The string is static or borrowed from recs[0] (an MQTT
 * publisher's type). */
const char *br_format_content_type(enum br_format fmt, const struct br_event_ctx *ev,
                                   struct br_record *const *recs, size_t n);

/* Appends the request headers the event for recs[0..n) needs besides
 * Content-Type (CloudEvents binary mode: ce-specversion, ce-id, ...) as
 * "Name: value" lines, each NUL-terminated. Most formats add none.
 * Returns 0, or -1 when out of memory. */
int br_format_headers(enum br_format fmt, const struct br_event_ctx *ev,
                      struct br_record *const *recs, size_t n,
                      struct br_buf *out);

/* Upper bound of the bytes one record adds to an event of this format in
 * a pipeline's context (used to split batches before encoding). The
 * cloudevents and S3 shapes write the pipeline name into every record; with
 * ev NULL a name of up to BR_CE_PIPELINE_ALLOWANCE bytes is assumed. */
size_t br_format_record_bound(enum br_format fmt, const struct br_event_ctx *ev,
                              const struct br_record *rec);

/* True when p[0..n) is one complete JSON value by RFC 8259 (valid UTF-8,
 * at most 512 levels deep): what the formats embed instead of base64. */
bool br_format_json_valid(const unsigned char *p, size_t n);

/* True when a publisher's content type ("type/subtype[; params]",
 * printable ASCII, under 128 bytes) may go into an HTTP header. */
bool br_format_usable_content_type(const char *ct);

/* The cloudevents format (format_cloudevents.c), for br_format_*. ev may
 * be NULL in the bounds (here and for S3): the pipeline name is then
 * assumed to be at most BR_CE_PIPELINE_ALLOWANCE bytes. */
#define BR_CE_PIPELINE_ALLOWANCE 128
int br_format_cloudevents(const struct br_event_ctx *ev, struct br_record *const *recs,
                          size_t n, struct br_buf *out);
int br_format_cloudevents_headers(const struct br_event_ctx *ev,
                                  struct br_record *const *recs, size_t n,
                                  struct br_buf *out);
const char *br_format_cloudevents_content_type(const struct br_event_ctx *ev,
                                               struct br_record *const *recs, size_t n);
size_t br_format_cloudevents_record_bound(const struct br_event_ctx *ev,
                                          const struct br_record *rec);

/* The S3 shape of the lambda format (format_s3.c). */
int br_format_s3_lambda(const struct br_event_ctx *ev, struct br_record *const *recs,
                        size_t n, struct br_buf *out);
size_t br_format_s3_record_bound(const struct br_event_ctx *ev, const struct br_record *rec);
/* Appends one S3 event record (an entry of "Records") for rec; the
 * cloudevents format sends it as an event's data. Returns 0 or -1. */
int br_format_s3_record(const struct br_event_ctx *ev, const struct br_record *rec,
                        struct br_buf *out);

#endif
