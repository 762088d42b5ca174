/* record_doc.h - the document a filter sees of one record (README:
 * Filters): its top-level members, each as JSON text, which the record's
 * kind fills in (struct br_record_kind, `doc`) with the helpers below.
 *
 * A struct br_doc is kept by its user and reused for every record: a
 * member's JSON is either borrowed (a record's value that is JSON already,
 * pointed at where it lies) or written into the doc's scratch buffer,
 * which keeps its memory from one record to the next (up to a cap; a much
 * larger one is let go after use). Nothing else is allocated per record.
 * One thread at a time. */
#ifndef BR_RECORD_DOC_H
#define BR_RECORD_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pattern.h"
#include "record.h"

/* Members a document may have: the S3 event record's 9 are the most. */
#define BR_DOC_MAX 16

struct br_doc {
    struct br_doc_member m[BR_DOC_MAX];  /* valid after br_doc_finish */
    size_t n;
    /* Where each member's JSON starts in scratch, or SIZE_MAX when m[i]
     * points elsewhere already (borrowed, or absent). */
    size_t at[BR_DOC_MAX];
    struct br_buf scratch;
    bool failed;            /* a helper ran out of room: the doc is unusable */
    /* The headers of a record, ordered by name (br_doc_headers); reused. */
    const struct br_header **order;
    size_t order_cap;
    /* The member names anything will read (borrowed), or NULL for all:
     * the helpers skip the others, so a pattern on a record's topic never
     * pays for checking its value. Set by the doc's user. */
    const char *const *want;
    size_t n_want;
};

/* max caps the scratch buffer (a document that needs more fails). */
void br_doc_init(struct br_doc *d, size_t max);
void br_doc_free(struct br_doc *d);
/* Empties d for the next record (releasing scratch when it grew large). */
void br_doc_reset(struct br_doc *d);
/* Points the members at their JSON text. 0, or -1 when a helper failed
 * (out of memory, or past the cap). */
int br_doc_finish(struct br_doc *d);

/* True when the member name is read (d->want): a kind skips building
 * the members that are not (the helpers below skip them themselves). */
bool br_doc_wants(const struct br_doc *d, const char *name);

/* Members, for a kind's doc op. name is static text (a literal). Each
 * returns 0, or -1 once the doc failed (and every later call fails too):
 * a kind may check once at the end. A member nothing reads is left out
 * (0). */

/* JSON text borrowed as it is (it must outlive the document's use). */
int br_doc_json(struct br_doc *d, const char *name, const char *json, size_t len);
/* A member without a value (the pattern sees it as missing). */
int br_doc_absent(struct br_doc *d, const char *name);
/* s[0..n) as a JSON string; absent when it is not well-formed UTF-8. */
int br_doc_str(struct br_doc *d, const char *name, const char *s, size_t n);
int br_doc_i64(struct br_doc *d, const char *name, int64_t v);
int br_doc_bool(struct br_doc *d, const char *name, bool v);
/* A record's bytes as Lambda's FilterCriteria decode them: the JSON value
 * itself when p[0..n) is UTF-8 JSON (borrowed), else the UTF-8 text as a
 * JSON string, else (other bytes, or p NULL) absent. */
int br_doc_payload(struct br_doc *d, const char *name, const unsigned char *p, size_t n);
/* A member whose JSON the kind writes itself: append it to the returned
 * buffer (NULL once failed), then call br_doc_close. Ask br_doc_wants
 * first: this adds the member whether or not it is read. */
struct br_buf *br_doc_open(struct br_doc *d, const char *name);
int br_doc_close(struct br_doc *d, int rc);

/* Writes headers[0..n) to out as one JSON object: each name once, its
 * value a string (a header given once) or a list of strings in the order
 * received (a name given more than once); a null value is null, and a
 * name or value that is not UTF-8 is left out. Uses d's reusable order
 * array. */
int br_doc_put_headers(struct br_doc *d, struct br_buf *out, const struct br_header *headers,
                       size_t n);

/* True when p[0..n) is well-formed UTF-8 (br_utf8_len's rules). */
bool br_doc_utf8(const unsigned char *p, size_t n);

#endif
