/* filter.h - a pipeline's `filter` (README: Filters): event patterns
 * compiled once at load, and the verdict on each record: it passes when
 * any pattern matches the document its kind makes of it. A filter is
 * immutable once loaded; judging uses a caller's reusable document. */
#ifndef BR_FILTER_H
#define BR_FILTER_H

#include <stddef.h>

#include "config/node.h"
#include "format.h"
#include "record.h"
#include "record_doc.h"

struct br_filter;

/* Compiles the patterns of node (a pipeline's `filter`: a list, each
 * pattern a mapping or a JSON object's text; NULL, null or [] for none)
 * into *out (NULL when there are none). Each problem is added to errs,
 * at the node at fault, with path ("pipelines[0].filter") and the
 * pattern's index as its path and the compiler's reason. Returns the
 * number of errors added (*out NULL then). */
int br_filter_load(const struct br_node *node, const char *path, struct br_filter **out,
                   struct br_errors *errs);
void br_filter_free(struct br_filter *f);
size_t br_filter_patterns(const struct br_filter *f);

enum br_filter_verdict {
    BR_FILTER_PASS,        /* a pattern matched (or there are none) */
    BR_FILTER_OUT,         /* none matched: settle it without an invocation */
    BR_FILTER_UNJUDGED,    /* no document could be made (out of memory, or
                              past d's cap): it passes */
};

/* The verdict on rec (f may be NULL: it passes). d is reset and filled;
 * ev is the pipeline's. A kind without a doc op passes every record. */
enum br_filter_verdict br_filter_judge(const struct br_filter *f, struct br_doc *d,
                                       const struct br_event_ctx *ev,
                                       const struct br_record *rec);

#endif
