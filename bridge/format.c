/* format.c - the event formats as one table (README: What the function receives): lambda,
 * json, payload and cloudevents, each with its encoder, request headers,
 * content type and per-record bound. What a record looks like inside an
 * event is its kind's (record_kind.h): this file writes the envelopes the
 * formats share and asks the batch's kind for the rest, one call per
 * event or per record, never per byte. CloudEvents has a file of its own
 * (format_cloudevents.c).
 *
 * This is the hot path (one call per invocation, every record byte passes
 * through it), so the JSON is written by hand into the caller's br_buf. */
#include <stdbool.h>
#include <string.h>

#include "event_json.h"
#include "format.h"
#include "format_cloudevents.h"
#include "json_check.h"
#include "record_kind.h"

const char *const br_format_names[] = {"lambda", "json", "payload", "cloudevents", NULL};

/* ---------------------------------------------------------- the encoders */

/* The kind's whole event: the lambda shapes differ per source (Kafka's
 * records by topic-partition, S3's "Records"). A batch is never empty; if
 * one were, there is no kind to ask, and it is the empty object. */
static int encode_lambda(const struct br_event_ctx *ev, struct br_record *const *recs,
                         size_t n, struct br_buf *out)
{
    if (n == 0)
        return BR_EV_LIT(out, "{}");
    const struct br_kind_lambda *shape = &recs[0]->kind->lambda;
    return shape->encode ? shape->encode(ev, recs, n, out) : -1;
}

/* {"source":<source>,"pipeline":<name>,"records":[<each record's shape>]} */
static int encode_json(const struct br_event_ctx *ev, struct br_record *const *recs,
                       size_t n, struct br_buf *out)
{
    const char *source = ev->source_kind ? ev->source_kind : n ? recs[0]->kind->name : "";
    if (BR_EV_LIT(out, "{\"source\":") < 0 || br_ev_str(out, source) < 0 ||
        BR_EV_LIT(out, ",\"pipeline\":") < 0 ||
        br_ev_str(out, ev->pipeline ? ev->pipeline : "") < 0 ||
        BR_EV_LIT(out, ",\"records\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int (*record)(struct br_buf *, const struct br_record *) = recs[i]->kind->json.record;
        if ((i && br_ev_putc(out, ',') < 0) || !record || record(out, recs[i]) < 0)
            return -1;
    }
    return BR_EV_LIT(out, "]}");
}

/* The first record's value as it is (the batcher sends one at a time). */
static int encode_payload(const struct br_event_ctx *ev, struct br_record *const *recs,
                          size_t n, struct br_buf *out)
{
    (void)ev;
    if (n == 0 || !recs[0]->value)
        return 0;
    return br_ev_put(out, recs[0]->value, recs[0]->value_len);
}

/* ------------------------------------------------------- content types */

static const char *json_content_type(const struct br_event_ctx *ev,
                                     struct br_record *const *recs, size_t n)
{
    (void)ev;
    (void)recs;
    (void)n;
    return "application/json";
}

/* The publisher's type when it is usable, else what the bytes are. */
static const char *payload_content_type(const struct br_event_ctx *ev,
                                        struct br_record *const *recs, size_t n)
{
    (void)ev;
    if (n == 0)
        return "application/json";
    const struct br_record *rec = recs[0];
    const char *declared = rec->kind->content_type ? rec->kind->content_type(rec) : NULL;
    if (declared && br_ev_usable_content_type(declared))
        return declared;
    bool json = rec->value && br_json_valid(rec->value, rec->value_len);
    return json ? "application/json" : "application/octet-stream";
}

/* -------------------------------------------------------------- bounds */

/* Per-record bounds are the kind's: every string field escaped at worst,
 * base64 at 4/3 rounded up, numbers at their widest. The event's envelope
 * (origin, pipeline name) is not included. */
static size_t lambda_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    return rec->kind->lambda.bound ? rec->kind->lambda.bound(ev, rec) : 0;
}

static size_t json_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    return rec->kind->json.bound ? rec->kind->json.bound(ev, rec) : 0;
}

static size_t payload_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    return rec->value_len;
}

/* ------------------------------------------------------------ the table */

struct format_def {
    const char *name;
    int (*encode)(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                  struct br_buf *out);
    /* NULL: the format adds no request headers */
    int (*headers)(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                   struct br_buf *out);
    const char *(*content_type)(const struct br_event_ctx *ev, struct br_record *const *recs,
                                size_t n);
    size_t (*record_bound)(const struct br_event_ctx *ev, const struct br_record *rec);
};

static const struct format_def formats[] = {
    [BR_FORMAT_LAMBDA] = {"lambda", encode_lambda, NULL, json_content_type, lambda_bound},
    [BR_FORMAT_JSON] = {"json", encode_json, NULL, json_content_type, json_bound},
    [BR_FORMAT_PAYLOAD] = {"payload", encode_payload, NULL, payload_content_type,
                           payload_bound},
    [BR_FORMAT_CLOUDEVENTS] = {"cloudevents", br_ce_encode, br_ce_headers,
                               br_ce_content_type, br_ce_record_bound},
};

#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))
_Static_assert(N_FORMATS == sizeof(br_format_names) / sizeof(br_format_names[0]) - 1,
               "br_format_names and the format table list the same formats");

/* An unknown value is taken as lambda, as before the table. */
static const struct format_def *format_of(enum br_format fmt)
{
    return (unsigned)fmt < N_FORMATS ? &formats[fmt] : &formats[BR_FORMAT_LAMBDA];
}

const char *br_format_name(enum br_format fmt)
{
    return format_of(fmt)->name;
}

/* ------------------------------------------------------------ interface */

/* Leaves out as it was, so the caller can split the batch and retry. */
static int rewind_to(struct br_buf *out, size_t start)
{
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}

int br_format_encode(enum br_format fmt, const struct br_event_ctx *ev,
                     struct br_record *const *recs, size_t n, struct br_buf *out)
{
    size_t start = out->len;
    return format_of(fmt)->encode(ev, recs, n, out) < 0 ? rewind_to(out, start) : 0;
}

const char *br_format_content_type(enum br_format fmt, const struct br_event_ctx *ev,
                                   struct br_record *const *recs, size_t n)
{
    return format_of(fmt)->content_type(ev, recs, n);
}

size_t br_format_record_bound(enum br_format fmt, const struct br_event_ctx *ev,
                              const struct br_record *rec)
{
    return format_of(fmt)->record_bound(ev, rec);
}

int br_format_headers(enum br_format fmt, const struct br_event_ctx *ev,
                      struct br_record *const *recs, size_t n, struct br_buf *out)
{
    const struct format_def *f = format_of(fmt);
    size_t start = out->len;
    if (!f->headers)
        return 0;
    return f->headers(ev, recs, n, out) < 0 ? rewind_to(out, start) : 0;
}
