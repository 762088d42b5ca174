/* deadletter.c - the dead-letter file sink and the record it writes
 * (README: Outcomes). A line is written in pieces: its head (everything
 * before the payload) is built in memory, the payload goes to the file
 * straight from where it lies (as base64 when it is not loadable JSON),
 * so a large event or message is never copied into a line first. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "deadletter.h"
#include "dlq_sink.h"
#include "dlq_json.h"
#include "fsdir.h"
#include "log.h"
#include "pipeline.h"
#include "record_kind.h"

#define B64_SLICE 49152            /* payload bytes per base64 write (3 | it) */
#define KEEP_HEAD_CAP (1u << 20)   /* a bigger head buffer is freed after use */

struct br_deadletter {
    char *path;
    int fd;
    const char *scope;
    /* The dispatcher writes batches; a source thread may write a message
     * too large to become a record. Lines must not interleave. */
    pthread_mutex_t lock;
    char why[256];         /* the last failure, for the sink's log line */
    struct br_buf head;    /* the line up to its payload */
    struct br_buf slice;   /* base64 of one slice of a payload */
};

/* The payload of a line: none (null), JSON as is, or bytes as base64. */
struct payload {
    const unsigned char *p;
    size_t n;
    bool base64;
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
    br_buf_init(&dl->head, 0);
    br_buf_init(&dl->slice, 0);
    if (br_mkdirs(path, 0750, false) < 0 ||
        (dl->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "cannot open dead-letter file %s: %s", path,
                 strerror(errno));
        free(dl->path);
        free(dl);
        return NULL;
    }
    pthread_mutex_init(&dl->lock, NULL);
    return dl;
}

void br_deadletter_close(struct br_deadletter *dl)
{
    if (!dl)
        return;
    close(dl->fd);
    pthread_mutex_destroy(&dl->lock);
    br_buf_free(&dl->head);
    br_buf_free(&dl->slice);
    free(dl->path);
    free(dl);
}

const char *br_deadletter_path(const struct br_deadletter *dl)
{
    return dl->path;
}

const char *br_deadletter_error(const struct br_deadletter *dl)
{
    return dl->why;
}

static int put_timestamp(struct br_buf *out)
{
    char text[40];
    size_t n = br_utc_text(br_wall_ms(), text, sizeof(text));
    return br_buf_put_json_str(out, text, n);
}

/* Where the records came from, as their kind names them. */
static int put_source(struct br_buf *out, const struct br_batch *b)
{
    const char *type = b->pl->src.ops->name;
    if (b->n == 0)
        return br_kind_dlq_partitions(out, type, b->recs, 0);
    return b->recs[0]->kind->dlq_source(out, type, b->recs, b->n);
}

/* The first 4 KiB of the answer (cut at a character, see invoke.c): as a
 * string when it is text, else as base64 with "bodyEncoding" saying so. */
static int put_body(struct br_buf *out, const struct br_batch *b)
{
    const unsigned char *body = (const unsigned char *)b->last_body;
    int rc = br_buf_puts(out, ",\"body\":");
    if (!body)
        return rc | br_buf_puts(out, "null");
    if (br_dlq_is_text(body, b->last_body_len))
        return rc | br_buf_put_json_str(out, b->last_body, b->last_body_len);
    rc |= br_buf_putc(out, '"');
    rc |= br_buf_put_base64(out, body, b->last_body_len);
    return rc | br_buf_puts(out, "\",\"bodyEncoding\":\"base64\"");
}

static int put_response(struct br_buf *out, const struct br_batch *b)
{
    int rc = br_buf_puts(out, "\"responseContext\":{\"statusCode\":");
    if (b->attempts)
        rc |= br_buf_put_i64(out, b->last_status);
    else
        rc |= br_buf_puts(out, "null");
    rc |= br_buf_puts(out, ",\"functionError\":");
    if (b->attempts && b->last_error[0])   /* may quote a peer's header */
        rc |= br_dlq_put_text(out, (const unsigned char *)b->last_error,
                              strlen(b->last_error));
    else
        rc |= br_buf_puts(out, "null");
    return rc | put_body(out, b) | br_buf_puts(out, "},");
}

/* Everything of the line before the payload's value. Returns -1 if any
 * part could not be appended (out of memory): a line with a part missing
 * must not count as the records' durable copy. */
static int format_head(struct br_buf *out, const struct br_batch *b,
                       const char *condition)
{
    const char *fn = b->pl->fn_shown ? b->pl->fn_shown : "";         /* masked */
    const char *pipeline = b->pl->name_shown ? b->pl->name_shown : "";
    br_buf_reset(out);
    int rc = br_buf_puts(out, "{\"version\":\"1.0\",\"timestamp\":");
    rc |= put_timestamp(out);
    rc |= br_buf_puts(out, ",\"requestContext\":{\"requestId\":");
    rc |= br_dlq_put_request_id(out);
    rc |= br_buf_puts(out, ",\"functionArn\":");
    rc |= br_dlq_put_text(out, (const unsigned char *)fn, strlen(fn));  /* any bytes */
    rc |= br_buf_printf(out, ",\"condition\":\"%s\",\"approximateInvokeCount\":%d},",
                        condition, b->attempts);
    rc |= put_response(out, b);
    rc |= br_buf_puts(out, "\"pipeline\":");
    rc |= br_dlq_put_text(out, (const unsigned char *)pipeline, strlen(pipeline));
    rc |= br_buf_puts(out, ",\"source\":");
    rc |= put_source(out, b);
    return rc | br_buf_puts(out, ",\"payload\":");
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

/* Streams p[0..n) as base64 in slices: one slice of memory, whatever n. */
static int write_base64(struct br_deadletter *dl, const unsigned char *p, size_t n)
{
    for (size_t at = 0; at < n; at += B64_SLICE) {
        size_t len = n - at < B64_SLICE ? n - at : B64_SLICE;
        br_buf_reset(&dl->slice);
        if (br_buf_put_base64(&dl->slice, p + at, len) < 0) {
            errno = ENOMEM;
            return -1;
        }
        if (write_all(dl->fd, dl->slice.data, dl->slice.len) < 0)
            return -1;
    }
    return 0;
}

static const char b64_tail[] = "\",\"payloadEncoding\":\"base64\"}\n";

/* writev, until all is written. */
static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* The whole line in one write when its payload is JSON, none, or base64 of
 * one slice, so that a reader of the file (a test, tail -f, a collector)
 * sees whole lines; 1 when the payload must be streamed instead. */
static int write_line_at_once(struct br_deadletter *dl, const struct payload *pl)
{
    struct iovec iov[4] = {{dl->head.data, dl->head.len}};
    int n = 1;
    if (!pl->p) {
        iov[n++] = (struct iovec){(char *)"null}\n", 6};
    } else if (!pl->base64) {
        iov[n++] = (struct iovec){(void *)pl->p, pl->n};
        iov[n++] = (struct iovec){(char *)"}\n", 2};
    } else if (pl->n <= B64_SLICE) {
        br_buf_reset(&dl->slice);
        if (br_buf_putc(&dl->slice, '"') < 0 || br_buf_put_base64(&dl->slice, pl->p, pl->n) < 0) {
            errno = ENOMEM;
            return -1;
        }
        iov[n++] = (struct iovec){dl->slice.data, dl->slice.len};
        iov[n++] = (struct iovec){(char *)b64_tail, sizeof(b64_tail) - 1};
    } else {
        return 1;
    }
    return writev_all(dl->fd, iov, n);
}

/* A payload too large to hold as base64: its head, then slice by slice. */
static int write_line_streamed(struct br_deadletter *dl, const struct payload *pl)
{
    if (write_all(dl->fd, dl->head.data, dl->head.len) < 0 ||
        write_all(dl->fd, "\"", 1) < 0 || write_base64(dl, pl->p, pl->n) < 0)
        return -1;
    return write_all(dl->fd, b64_tail, sizeof(b64_tail) - 1);
}

/* write_line, under the file lock too. */
static int write_line_locked(struct br_deadletter *dl, const struct payload *pl)
{
    off_t before = lseek(dl->fd, 0, SEEK_END);
    int rc = write_line_at_once(dl, pl);
    if (rc == 1)
        rc = write_line_streamed(dl, pl);
    if (dl->head.cap > KEEP_HEAD_CAP)
        br_buf_free(&dl->head);         /* a huge batch's head: give it back */
    if (rc == 0 && fsync(dl->fd) == 0)
        return 0;
    snprintf(dl->why, sizeof(dl->why), "writing to %s: %s", dl->path, strerror(errno));
    if (before >= 0 && ftruncate(dl->fd, before) < 0)
        br_error(dl->scope, "could not remove a torn dead-letter line: %s", strerror(errno));
    return -1;
}

/* A line is written in several writes (its head, its payload in slices),
 * and several sinks may append to one file: pipelines that share a path,
 * or other fnbridge processes. An exclusive flock on the file (which is
 * per open file, so it also holds between two sinks of one process) keeps
 * lines whole, and makes removing a torn line safe: nobody appended after
 * it. Without flock support (some network filesystems) lines are still
 * whole per sink. */
static void lock_file(struct br_deadletter *dl, int op)
{
    while (flock(dl->fd, op) < 0 && errno == EINTR)
        ;
}

/* Writes dl->head, then the payload, and fsyncs; a failure removes what
 * was written of the line. Called with the lock held. */
static int write_line(struct br_deadletter *dl, const struct payload *pl)
{
    lock_file(dl, LOCK_EX);
    int rc = write_line_locked(dl, pl);
    lock_file(dl, LOCK_UN);
    return rc;
}

static int head_failed(struct br_deadletter *dl)
{
    snprintf(dl->why, sizeof(dl->why), "out of memory building a dead-letter record");
    pthread_mutex_unlock(&dl->lock);
    return -1;
}

int br_deadletter_write(struct br_deadletter *dl, const struct br_batch *b,
                        const char *condition)
{
    pthread_mutex_lock(&dl->lock);
    br_buf_reset(&dl->head);
    if (format_head(&dl->head, b, condition) < 0)
        return head_failed(dl);
    /* The event as sent; an event that is not loadable JSON (the payload
     * format's raw bytes, a label that is not UTF-8) goes as base64. */
    const unsigned char *event = (const unsigned char *)b->body.data;
    struct payload pl = {.p = b->body.len ? event : NULL, .n = b->body.len};
    pl.base64 = pl.p && !br_dlq_json_embeddable(event, b->body.len);
    int rc = write_line(dl, &pl);
    pthread_mutex_unlock(&dl->lock);
    return rc;
}

int br_deadletter_write_record(struct br_deadletter *dl, struct br_pipeline *pl,
                               const struct br_record *rec, const char *condition)
{
    /* A batch of one that was never invoked: the head says so (invoke
     * count 0, no response) and names the record's coordinates. */
    struct br_record *one = (struct br_record *)rec;
    struct br_batch b = {.pl = pl, .recs = &one, .n = 1};
    pthread_mutex_lock(&dl->lock);
    br_buf_reset(&dl->head);
    if (format_head(&dl->head, &b, condition) < 0)
        return head_failed(dl);
    struct payload value = {.p = rec->value ? rec->value : (const unsigned char *)"",
                            .n = rec->value_len, .base64 = true};
    int rc = write_line(dl, &value);
    pthread_mutex_unlock(&dl->lock);
    return rc;
}

/* The line in memory, for sinks that send it as one message: the head,
 * then the payload as write_line_at_once would lay it out. */
int br_dlq_item_line(struct br_buf *out, const struct br_dlq_item *item)
{
    if (item->line) {
        br_buf_reset(out);
        return br_buf_append(out, item->line, item->line_len);
    }
    const struct br_batch *b = item->batch;
    const unsigned char *p = item->alone ? item->recs[0]->value
                                         : (const unsigned char *)b->body.data;
    size_t n = item->alone ? item->recs[0]->value_len : b->body.len;
    bool base64 = item->alone || (n && !br_dlq_json_embeddable(p, n));
    if (format_head(out, b, item->condition) < 0)
        return -1;
    if (!base64 && !n)
        return br_buf_puts(out, "null}");
    if (!base64)
        return br_buf_append(out, p, n) | br_buf_putc(out, '}');
    int rc = br_buf_putc(out, '"') | br_buf_put_base64(out, p ? p : (const unsigned char *)"", n);
    return rc | br_buf_append(out, b64_tail, sizeof(b64_tail) - 2);   /* no newline */
}
