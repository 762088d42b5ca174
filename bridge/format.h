/* format.h - encodes a batch of records into the event a function receives
 * (README: What the function receives). Hand-written JSON into a br_buf: this is the hot
 * path, one call per invocation. The formats are a table (format.c); the
 * shape of a record inside an event is its kind's (record_kind.h). */
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
    const char *source_kind;     /* the source's name, "kafka" (json format) */
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
 * datacontenttype. The string is static or borrowed from recs[0] (a
 * publisher's type, as its kind gives it). */
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

/* The format's name in the config ("lambda", ...); br_format_names lists
 * them in enum order, NULL-terminated. */
const char *br_format_name(enum br_format fmt);
extern const char *const br_format_names[];

/* The cloudevents and S3 bounds assume a pipeline name of at most this
 * many bytes when ev is NULL. */
#define BR_CE_PIPELINE_ALLOWANCE 128

#endif
