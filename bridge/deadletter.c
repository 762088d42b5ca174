/* deadletter.c - the dead-letter file sink and the record it writes
 * (DESIGN section 5). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "deadletter.h"
#include "fsdir.h"
#include "log.h"

struct br_deadletter {
    char *path;
    int fd;
    const char *scope;
    bool failing;          /* log a failure streak once */
    struct br_buf line;
};

struct br_deadletter *br_deadletter_open(const char *path, const char *scope,
                                         char *err, size_t errlen)
{
    struct br_deadletter *dl = calloc(1, sizeof(*dl));
    if (!dl || !(dl->path = strdup(path))) {
        free(dl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dl->scope = scope;
    br_buf_init(&dl->line, 0);
    if (br_mkdirs(path, 0750, false) < 0 ||
        (dl->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "cannot open dead-letter file %s: %s", path,
                 strerror(errno));
        free(dl->path);
        free(dl);
        return NULL;
    }
    return dl;
}

void br_deadletter_close(struct br_deadletter *dl)
{
    if (!dl)
        return;
    close(dl->fd);
    br_buf_free(&dl->line);
    free(dl->path);
    free(dl);
}

const char *br_deadletter_path(const struct br_deadletter *dl)
{
    return dl->path;
}

static int put_timestamp(struct br_buf *out)
{
    char text[40];
    size_t n = br_utc_text(br_wall_ms(), text, sizeof(text));
    return br_buf_put_json_str(out, text, n);
}

static int put_request_id(struct br_buf *out)
{
    unsigned char r[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(r, 1, sizeof(r), f) != sizeof(r))
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)(rand() & 0xff);
    if (f)
        fclose(f);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);   /* UUID version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    return br_buf_printf(out, "\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                              "%02x%02x%02x%02x%02x%02x\"",
                         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                         r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* S3: the bucket and the keys (as listed, not encoded) of the batch. */
static int put_s3_source(struct br_buf *out, const struct br_batch *b)
{
    const char *bucket = b->recs[0]->s3.bucket ? b->recs[0]->s3.bucket : "";
    int rc = br_buf_puts(out, "{\"type\":\"s3\",\"bucket\":");
    rc |= br_buf_put_json_str(out, bucket, strlen(bucket));
    rc |= br_buf_puts(out, ",\"keys\":[");
    for (size_t i = 0; i < b->n; i++) {
        if (i)
            rc |= br_buf_putc(out, ',');
        rc |= br_buf_put_json_str(out, b->recs[i]->topic, strlen(b->recs[i]->topic));
    }
    return rc | br_buf_puts(out, "]}");
}

/* One entry per topic-partition: offsets and count of the batch's records. */
static int put_source(struct br_buf *out, const struct br_batch *b)
{
    if (b->n && b->recs[0]->kind == BR_REC_S3)
        return put_s3_source(out, b);
    int rc = br_buf_printf(out, "{\"type\":\"%s\",\"partitions\":[", b->pl->src.ops->name);
    bool *done = calloc(b->n, sizeof(*done));
    bool first = true;
    if (!done)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        if (done[i])
            continue;
        const struct br_record *r = b->recs[i];
        int64_t lo = r->offset, hi = r->offset;
        size_t count = 0;
        for (size_t j = i; j < b->n; j++) {
            const struct br_record *o = b->recs[j];
            if (done[j] || o->partition != r->partition || strcmp(o->topic, r->topic))
                continue;
            done[j] = true;
            count++;
            lo = o->offset < lo ? o->offset : lo;
            hi = o->offset > hi ? o->offset : hi;
        }
        rc |= br_buf_puts(out, first ? "{\"topic\":" : ",{\"topic\":");
        first = false;
        rc |= br_buf_put_json_str(out, r->topic, strlen(r->topic));
        rc |= br_buf_printf(out, ",\"partition\":%d,\"startOffset\":%lld,"
                                 "\"endOffset\":%lld,\"batchSize\":%zu}",
                            (int)r->partition, (long long)lo, (long long)hi, count);
    }
    free(done);
    return rc | br_buf_puts(out, "]}");
}

static int put_response(struct br_buf *out, const struct br_batch *b)
{
    int rc = br_buf_puts(out, "\"responseContext\":{\"statusCode\":");
    if (b->attempts)
        rc |= br_buf_put_i64(out, b->last_status);
    else
        rc |= br_buf_puts(out, "null");
    rc |= br_buf_puts(out, ",\"functionError\":");
    if (b->attempts && b->last_error[0])
        rc |= br_buf_put_json_str(out, b->last_error, strlen(b->last_error));
    else
        rc |= br_buf_puts(out, "null");
    rc |= br_buf_puts(out, ",\"body\":");
    if (b->last_body)
        rc |= br_buf_put_json_str(out, b->last_body, strlen(b->last_body));
    else
        rc |= br_buf_puts(out, "null");
    return rc | br_buf_puts(out, "},");
}

/* Returns -1 if any part could not be appended (out of memory): a line
 * with a part missing must not count as the records' durable copy. */
static int format_record(struct br_buf *out, const struct br_batch *b,
                         const char *condition)
{
    const char *fn = b->pl->fn_shown ? b->pl->fn_shown : "";         /* masked */
    const char *pipeline = b->pl->name_shown ? b->pl->name_shown : "";
    br_buf_reset(out);
    int rc = br_buf_puts(out, "{\"version\":\"1.0\",\"timestamp\":");
    rc |= put_timestamp(out);
    rc |= br_buf_puts(out, ",\"requestContext\":{\"requestId\":");
    rc |= put_request_id(out);
    rc |= br_buf_puts(out, ",\"functionArn\":");
    rc |= br_buf_put_json_str(out, fn, strlen(fn));
    rc |= br_buf_printf(out, ",\"condition\":\"%s\",\"approximateInvokeCount\":%d},",
                        condition, b->attempts);
    rc |= put_response(out, b);
    rc |= br_buf_puts(out, "\"pipeline\":");
    rc |= br_buf_put_json_str(out, pipeline, strlen(pipeline));
    rc |= br_buf_puts(out, ",\"source\":");
    rc |= put_source(out, b);
    rc |= br_buf_puts(out, ",\"payload\":");
    if (b->body.len)
        rc |= br_buf_append(out, b->body.data, b->body.len);
    else
        rc |= br_buf_puts(out, "null");
    return rc | br_buf_puts(out, "}\n");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int br_deadletter_write(struct br_deadletter *dl, const struct br_batch *b,
                        const char *condition)
{
    if (format_record(&dl->line, b, condition) < 0) {
        if (!dl->failing)
            br_error(dl->scope, "out of memory building a dead-letter record; "
                     "holding the records and retrying");
        dl->failing = true;
        return -1;
    }
    off_t before = lseek(dl->fd, 0, SEEK_END);
    if (write_all(dl->fd, dl->line.data, dl->line.len) < 0 || fsync(dl->fd) < 0) {
        int saved = errno;
        if (before >= 0 && ftruncate(dl->fd, before) < 0)
            br_error(dl->scope, "could not remove a torn dead-letter line: %s",
                     strerror(errno));
        if (!dl->failing)
            br_error(dl->scope, "dead-letter write to %s failed: %s; holding the "
                     "records and retrying", dl->path, strerror(saved));
        dl->failing = true;
        return -1;
    }
    if (dl->failing)
        br_info(dl->scope, "dead-letter file %s writable again", dl->path);
    dl->failing = false;
    return 0;
}
