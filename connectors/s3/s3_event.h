/* s3_event.h - the record kind of S3 object changes (s3_event.c) and the
 * metadata each such record carries in its kind's block. The record's
 * topic is the object key as listed, its offset the event's sequencer, its
 * timestamp LastModified (a creation) or when the removal was seen. */
#ifndef S3_EVENT_H
#define S3_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/record_kind.h"

struct br_s3_meta {
    bool removed;                 /* ObjectRemoved:Delete, else ObjectCreated:Put */
    int64_t size;
    const char *etag;             /* without quotes; NULL for a removal;
                                     copied into the record */
    /* Borrowed from the source, which outlives its records. */
    const char *bucket;
    const char *region;
};

extern const struct br_record_kind br_kind_s3;

/* What the S3 event writes where it names the caller; fnbridge is the one
 * that saw the change. */
#define S3_PRINCIPAL "fnbridge"

/* rec's metadata (rec of br_kind_s3); all zero when it has none. */
static inline const struct br_s3_meta *br_s3_meta_of(const struct br_record *rec)
{
    static const struct br_s3_meta none;
    return rec->meta ? (const struct br_s3_meta *)rec->meta : &none;
}

/* The S3 event shape (s3_lambda.c): one entry of "Records" for rec, the
 * lambda event {"Records":[...]} of recs[0..n), and the most bytes one
 * entry takes (ev may be NULL: a pipeline name of
 * BR_CE_PIPELINE_ALLOWANCE bytes is assumed). Return 0 or -1. */
int s3_event_record(struct br_buf *out, const struct br_event_ctx *ev,
                    const struct br_record *rec);
int s3_lambda_encode(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                     struct br_buf *out);
size_t s3_record_bound(const struct br_event_ctx *ev, const struct br_record *rec);
/* The entry's "s3" object alone ({"s3SchemaVersion",...,"object":{...}}). */
int s3_event_s3(struct br_buf *out, const struct br_event_ctx *ev, const struct br_record *rec);

/* The document a filter sees of rec (s3_doc.c): the members of its entry
 * of "Records"; the contract of struct br_record_kind's doc. */
int s3_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec);

#endif
