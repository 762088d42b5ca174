/* invoke.c - encode a batch's event and submit it to the target. What the
 * answer means is verdict.c's business, what is done about it runner.c's. */
#include <stdlib.h>
#include <string.h>

#include "invoke.h"
#include "pipeline.h"

int br_invoke_encode(struct br_batch *b)
{
    const struct br_pipeline *pl = b->pl;
    br_buf_reset(&b->body);
    br_buf_reset(&b->headers);
    if (br_format_encode(pl->format, &pl->event, b->recs, b->n, &b->body) < 0)
        return -1;
    if (br_format_headers(pl->format, &pl->event, b->recs, b->n, &b->headers) < 0) {
        /* Out of memory: the caller's retry starts from an empty body. */
        br_buf_reset(&b->body);
        return -1;
    }
    return 0;
}

int br_invoke_submit(struct br_batch *b)
{
    struct br_pipeline *pl = b->pl;
    b->attempts++;
    free(b->inv.result.body);
    memset(&b->inv, 0, sizeof(b->inv));
    b->inv.tgt = &pl->tgt;
    b->inv.body = b->body.data;
    b->inv.body_len = b->body.len;
    b->inv.content_type = br_format_content_type(pl->format, &pl->event, b->recs, b->n);
    b->inv.headers = b->headers.len ? b->headers.data : NULL;
    b->inv.headers_len = b->headers.len;
    b->inv.recs = b->recs;
    b->inv.n_recs = b->n;
    b->inv.core = b;
    b->inv.result.retry_after_ms = -1;
    return pl->tgt.ops->submit(&pl->tgt, &b->inv);
}
