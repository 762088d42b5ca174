/* admin_metrics.h - /metrics: the pipelines' figures in the Prometheus
 * text format 0.0.4 (README: Operations lists every metric). Reads only
 * atomics and the observe block's locked strings: any thread. */
#ifndef BR_ADMIN_METRICS_H
#define BR_ADMIN_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "observe.h"

struct br_pipeline;

#define BR_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends every metric family of pls[0..n) to out. Returns 0, or -1 when
 * out reached its cap. */
int br_metrics_render(struct br_buf *out, struct br_pipeline *const *pls, size_t n);

/* The pieces, for tests: a label value escaped as the format asks
 * (backslash, double quote and newline; a byte that is not UTF-8 becomes
 * U+FFFD), a sample value (NaN, +Inf, -Inf, or a number that reads back
 * as v), and the _bucket, _sum and _count lines of histogram h; labels is
 * `pipeline="..."` already escaped. */
int br_metrics_put_label_value(struct br_buf *out, const char *value);
int br_metrics_put_value(struct br_buf *out, double v);
int br_metrics_put_histogram(struct br_buf *out, const char *name, const char *labels,
                             const struct br_histogram *h);

#endif
