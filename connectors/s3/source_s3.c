/* source_s3.c - the S3 source: polls a bucket with ListObjectsV2 and turns
 * what changed since the last poll into S3 event records.
 *
 * Each poll walks the listing (sorted by key, one page at a time) beside
 * the known state in LMDB (sorted the same way): a key only in the
 * listing, or with another ETag or size, is created; a known key the
 * listing passed over is removed. Memory is one page and the records in
 * flight, whatever the bucket's size. A key's state changes only when its
 * event settles (delivered or dead-lettered), and the next poll starts
 * only once every event of this one settled: a change is reported once,
 * and again only if fnbridge dies before it settled. A listing that breaks
 * (an error, a cut connection, bad XML) ends the poll where it broke:
 * keys after that point are neither created nor removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/secrets.h"
#include "bridge/buf.h"
#include "bridge/clock.h"
#include "bridge/format.h"
#include "bridge/log.h"
#include "config/paths.h"
#include "s3_event.h"
#include "s3_list.h"
#include "s3_state.h"
#include "source_s3.h"

#define SERVICE_EVERY 64              /* records emitted between hand-overs */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define IDLE_SLICE_MS 100             /* how often an idle wait checks for shutdown */
#define STATE_COMMIT_OPS 1024         /* settled changes written per commit (one sync) */
#define STATE_COMMIT_MS 200           /* ...or whatever settled in this long */
#define TRIM_EVERY_PAGES 8            /* pages walked between unmapping the state's */

struct s3_ctx {
    struct s3_options opts;           /* first: filled by the option table */
    struct br_source *src;
    char *endpoint;                   /* opts.endpoint or the AWS default */
    const char *access_key, *secret_key, *session_token;
    bool path_style;
    bool want_created, want_removed;
    uint32_t shard_i, shard_n;
    char location[320];               /* "bucket B" (and prefix) for logs */

    struct s3_lister *lister;
    struct s3_state *state;
    int shard;                        /* the ackset's one shard */
    bool paused;
    size_t max_key;

    /* the poll */
    struct br_buf listed_last;        /* previous listed key: the order check */
    struct br_buf token;
    struct br_buf scratch;
    uint64_t *long_seen;              /* hashes of the long keys listed this poll */
    size_t n_long_seen, cap_long_seen;
    struct br_buf long_gone;          /* long keys to report removed: u32 len, key */
    size_t n_listed, n_created, n_removed, n_untracked;
    size_t warned_untracked;          /* the count last warned about */
    unsigned since_service;
    int64_t committed_ms;             /* when settled changes were last written */
    bool commit_failing;

    /* errors: each distinct one is logged once, until the listing works */
    char why[400];                    /* why this poll failed */
    char why_kind[120];               /* the same, without what varies between tries */
    char last_error[400];             /* why_kind (or why) of the failure last logged */
    int64_t backoff_ms;
};

/* --------------------------------------------------------------- helpers */

static bool has_suffix(const char *key, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return n <= len && memcmp(key + len - n, suffix, n) == 0;
}

/* Keys the state cannot hold: with a NUL (records carry keys as C
 * strings; S3 keys are UTF-8 text, so this is a store's oddity). */
static bool trackable(const char *key, size_t len)
{
    return !memchr(key, '\0', len);
}

/* Keys this replica reports on: the suffix, its shard, and trackable. */
static bool ours(struct s3_ctx *ctx, const char *key, size_t len)
{
    return has_suffix(key, len, ctx->opts.suffix) && trackable(key, len) &&
           (ctx->shard_n == 1 || s3_key_hash(key, len) % ctx->shard_n == ctx->shard_i);
}

/* LMDB's key order: bytewise, the shorter first on a tie. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : alen < blen ? -1 : alen > blen;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------- state and acks */

/* Writes the settled changes. While that fails (a full disk) they stay
 * queued and no poll starts, or it would report them all again. */
static void commit_state(struct s3_ctx *ctx)
{
    ctx->committed_ms = br_now_ms();
    if (!s3_state_pending(ctx->state))
        return;
    if (s3_state_commit(ctx->state) < 0) {
        br_log(ctx->commit_failing ? BR_LOG_DEBUG : BR_LOG_ERROR, ctx->src->scope,
               "%s; the settled changes are kept and written again, and polling waits "
               "until they are", s3_state_error(ctx->state));
        ctx->commit_failing = true;
    } else if (ctx->commit_failing) {
        br_info(ctx->src->scope, "the state is written again; polling resumes");
        ctx->commit_failing = false;
    }
    s3_state_trim(ctx->state);
}

/* Hands records over and takes acks back (settled -> queued state
 * writes); writes those in batches worth a sync, at least every 200 ms,
 * so a crash repeats little; the rest when the poll's events settled. */
static void service(struct s3_ctx *ctx)
{
    br_source_service(ctx->src);
    /* Events listed and emitted, not yet done: what the checkpoint waits on. */
    br_source_report_gauge(ctx->src, BR_GAUGE_EVENTS_PENDING,
                           (int64_t)br_source_inflight(ctx->src));
    size_t pending = s3_state_pending_ops(ctx->state);
    if (pending >= STATE_COMMIT_OPS ||
        (pending && br_now_ms() - ctx->committed_ms >= STATE_COMMIT_MS))
        commit_state(ctx);
    ctx->since_service = 0;
}

/* service, as br_source_wait calls it between its waits. */
static void serve(struct br_source *src)
{
    service(src->ctx);
}

/* Hands over every SERVICE_EVERY records, and at once when max_inflight
 * has no room left: the walk then waits here (the core's backpressure
 * stalls for acks, then pauses) instead of emitting past the bound. */
static void after_emit(struct s3_ctx *ctx)
{
    if (++ctx->since_service >= SERVICE_EVERY || ctx->paused ||
        br_source_room(ctx->src) == 0) {
        service(ctx);
        br_source_wait(ctx->src, BR_WAIT_RESUMED, serve);
    }
}

/* Until every record emitted so far settled (or shutdown began). */
static void settle_all(struct s3_ctx *ctx)
{
    service(ctx);
    br_source_wait(ctx->src, BR_WAIT_SETTLED, serve);
    commit_state(ctx);
}

/* Queues what a settled change makes known of its key. */
static int record_change(struct s3_ctx *ctx, const char *key, size_t len, bool removed,
                         const char *etag, int64_t size, int64_t mtime_ms)
{
    return removed ? s3_state_del(ctx->state, key, len)
                   : s3_state_put(ctx->state, key, len, etag ? etag : "", size, mtime_ms);
}

static void s3_settled(struct br_source *src, const struct br_record *rec)
{
    struct s3_ctx *ctx = src->ctx;
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    if (record_change(ctx, rec->topic, strlen(rec->topic), m->removed, m->etag, m->size,
                      rec->timestamp_ms) < 0)
        br_error(src->scope, "%s: the change to '%s' will be reported again",
                 s3_state_error(ctx->state), rec->topic);
}

/* ---------------------------------------------------------------- events */

/* Emits one change, or, for a kind of change nobody asked for, records it
 * as settled at once. key is NUL-terminated and stays put through the call
 * (the page's, or scratch: never the state's, which moves as acks are
 * written). -1 when it cannot (ctx->why says why) or shutdown began. */
static int emit_change(struct s3_ctx *ctx, const char *key, size_t len, bool removed,
                       const char *etag, int64_t size, int64_t time_ms)
{
    if ((removed && !ctx->want_removed) || (!removed && !ctx->want_created)) {
        if (record_change(ctx, key, len, removed, etag, size, time_ms) < 0) {
            snprintf(ctx->why, sizeof(ctx->why), "%s", s3_state_error(ctx->state));
            return -1;
        }
        return 0;
    }
    uint64_t seq = s3_state_next_sequencer(ctx->state);
    if (seq == 0 || seq > INT64_MAX) {
        snprintf(ctx->why, sizeof(ctx->why), "%s", s3_state_error(ctx->state));
        return -1;
    }
    struct br_s3_meta meta = {.removed = removed, .size = size, .etag = removed ? NULL : etag,
                              .bucket = ctx->opts.bucket, .region = ctx->opts.region};
    struct br_record_init init = {.kind = &br_kind_s3, .topic = key,
                                  .offset = (int64_t)seq, .timestamp_ms = time_ms,
                                  .timestamp_type = BR_TS_CREATE, .meta = &meta};
    struct br_record *rec = br_record_create(&init);
    if (!rec || br_source_emit(ctx->src, ctx->shard, rec) < 0) {
        br_record_free(rec);
        snprintf(ctx->why, sizeof(ctx->why), "out of memory");
        return -1;
    }
    removed ? ctx->n_removed++ : ctx->n_created++;
    after_emit(ctx);
    return br_source_stopping(ctx->src) ? -1 : 0;
}

/* Copies a key the state gave into scratch (NUL-terminated): it may move
 * once the walk goes on or acks are written. */
static int keep_key(struct s3_ctx *ctx, const char *key, size_t len)
{
    br_buf_reset(&ctx->scratch);
    if (br_buf_append(&ctx->scratch, key, len) < 0) {
        snprintf(ctx->why, sizeof(ctx->why), "out of memory");
        return -1;
    }
    return 0;
}

static int state_failed(struct s3_ctx *ctx)
{
    snprintf(ctx->why, sizeof(ctx->why), "%s", s3_state_error(ctx->state));
    return -1;
}

/* Known keys before `upto` (NULL: all that are left) are gone from the
 * bucket: removed. */
static int remove_known_before(struct s3_ctx *ctx, const char *upto, size_t upto_len)
{
    struct s3_known k;
    int found;
    while ((found = s3_state_peek(ctx->state, &k)) == 1) {
        if (upto && key_cmp(k.key, k.key_len, upto, upto_len) >= 0)
            return 0;
        if (!ours(ctx, k.key, k.key_len)) {
            if (s3_state_consume(ctx->state) < 0)   /* kept by another configuration */
                return state_failed(ctx);
            continue;
        }
        size_t len = k.key_len;
        if (keep_key(ctx, k.key, len) < 0 || s3_state_consume(ctx->state) < 0)
            return ctx->why[0] ? -1 : state_failed(ctx);
        if (emit_change(ctx, ctx->scratch.data, len, true, NULL, 0, br_wall_ms()) < 0)
            return -1;
    }
    return found < 0 ? state_failed(ctx) : 0;
}

static bool same_object(const struct s3_known *k, const struct s3_object *o)
{
    return k->size == o->size && k->etag_len == strlen(o->etag) &&
           memcmp(k->etag, o->etag, k->etag_len) == 0;
}

static int note_long_seen(struct s3_ctx *ctx, uint64_t hash)
{
    if (ctx->n_long_seen == ctx->cap_long_seen) {
        size_t cap = ctx->cap_long_seen ? 2 * ctx->cap_long_seen : 64;
        uint64_t *grown = realloc(ctx->long_seen, cap * sizeof(*grown));
        if (!grown) {
            snprintf(ctx->why, sizeof(ctx->why), "out of memory");
            return -1;
        }
        ctx->long_seen = grown;
        ctx->cap_long_seen = cap;
    }
    ctx->long_seen[ctx->n_long_seen++] = hash;
    return 0;
}

/* A listed key too long for the walk: looked up on its own. */
static int compare_long(struct s3_ctx *ctx, const struct s3_object *o)
{
    struct s3_known k;
    int found = s3_state_get_long(ctx->state, o->key, o->key_len, &k);
    if (found < 0)
        return state_failed(ctx);
    if (note_long_seen(ctx, s3_key_hash(o->key, o->key_len)) < 0)
        return -1;
    if ((found == 1 && same_object(&k, o)) || !ours(ctx, o->key, o->key_len))
        return 0;
    return emit_change(ctx, o->key, o->key_len, false, o->etag, o->size, o->mtime_ms);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has_prefix(const struct s3_ctx *ctx, const char *key, size_t len)
{
    size_t n = strlen(ctx->opts.prefix);
    return n <= len && memcmp(key, ctx->opts.prefix, n) == 0;
}

/* Collects the known long keys this complete listing did not show. */
static int collect_long_gone(void *arg, const struct s3_known *k)
{
    struct s3_ctx *ctx = arg;
    uint64_t hash = s3_key_hash(k->key, k->key_len);
    uint32_t len = (uint32_t)k->key_len;
    if (bsearch(&hash, ctx->long_seen, ctx->n_long_seen, sizeof(hash), cmp_u64) ||
        !has_prefix(ctx, k->key, k->key_len) || !ours(ctx, k->key, k->key_len))
        return 0;
    if (br_buf_append(&ctx->long_gone, &len, 4) < 0 ||
        br_buf_append(&ctx->long_gone, k->key, k->key_len) < 0) {
        snprintf(ctx->why, sizeof(ctx->why), "out of memory");
        return -1;
    }
    return 0;
}

/* After a complete listing: known long keys it did not show are removed. */
static int remove_long_gone(struct s3_ctx *ctx)
{
    br_buf_reset(&ctx->long_gone);
    if (ctx->n_long_seen)
        qsort(ctx->long_seen, ctx->n_long_seen, sizeof(uint64_t), cmp_u64);
    int rc = s3_state_scan_long(ctx->state, collect_long_gone, ctx);
    if (rc < 0)
        return ctx->why[0] ? -1 : state_failed(ctx);
    for (size_t at = 0; at < ctx->long_gone.len;) {
        uint32_t len;
        memcpy(&len, ctx->long_gone.data + at, 4);
        if (keep_key(ctx, ctx->long_gone.data + at + 4, len) < 0 ||
            emit_change(ctx, ctx->scratch.data, len, true, NULL, 0, br_wall_ms()) < 0)
            return -1;
        at += 4 + len;
    }
    return 0;
}

/* One listed object: compared with what is known of its key. */
static int compare_listed(struct s3_ctx *ctx, const struct s3_object *o)
{
    if (remove_known_before(ctx, o->key, o->key_len) < 0)
        return -1;
    if (o->key_len > ctx->max_key)
        return compare_long(ctx, o);
    struct s3_known k;
    int found = s3_state_peek(ctx->state, &k);
    if (found < 0)
        return state_failed(ctx);
    bool known = found == 1 && key_cmp(k.key, k.key_len, o->key, o->key_len) == 0;
    bool same = known && same_object(&k, o);
    /* What this key's event writes when it settles must stay behind the
     * walk: consuming the key, or passing it when unknown, sees to that. */
    if (known ? s3_state_consume(ctx->state) < 0
              : s3_state_pass(ctx->state, o->key, o->key_len) < 0)
        return state_failed(ctx);
    if (!trackable(o->key, o->key_len)) {
        ctx->n_untracked++;
        return 0;
    }
    if (same || !ours(ctx, o->key, o->key_len))
        return 0;
    return emit_change(ctx, o->key, o->key_len, false, o->etag, o->size, o->mtime_ms);
}

/* ----------------------------------------------------------------- polls */

/* The listing must be sorted: merging an unsorted one would report
 * removals that did not happen. */
static int check_order(struct s3_ctx *ctx, const struct s3_object *o, size_t page)
{
    struct br_buf *last = &ctx->listed_last;
    if (ctx->n_listed && key_cmp(last->data, last->len, o->key, o->key_len) >= 0) {
        snprintf(ctx->why, sizeof(ctx->why), "the listing is not in key order at page %zu "
                 "(key '%.200s'); nothing is deleted", page, o->key);
        return -1;
    }
    br_buf_reset(last);
    if (br_buf_append(last, o->key, o->key_len) < 0) {
        snprintf(ctx->why, sizeof(ctx->why), "out of memory");
        return -1;
    }
    return 0;
}

static void describe_error(struct s3_ctx *ctx, const struct s3_error *e, size_t page)
{
    /* curl's messages hold timings and byte counts: a repeat of the same
     * failure is recognised by its code. */
    if (e->status)
        snprintf(ctx->why_kind, sizeof(ctx->why_kind), "HTTP %ld %s", e->status, e->code);
    else if (e->curl_code)
        snprintf(ctx->why_kind, sizeof(ctx->why_kind), "curl %d", e->curl_code);
    else
        snprintf(ctx->why_kind, sizeof(ctx->why_kind), "%.100s", e->message);
    if (e->status && e->code[0])
        snprintf(ctx->why, sizeof(ctx->why), "%s (HTTP %ld): %s", e->code, e->status,
                 e->message[0] ? e->message : "no message");
    else if (e->status)
        snprintf(ctx->why, sizeof(ctx->why), "HTTP %ld", e->status);
    else
        snprintf(ctx->why, sizeof(ctx->why), "page %zu: %s; nothing is deleted", page,
                 e->message);
}

/* Lists every page and merges it: 0 when the listing was complete; -1
 * with the reason in ctx->why when it broke (or shutdown began). */
static int list_and_merge(struct s3_ctx *ctx, int64_t *retry_after)
{
    size_t page_no = 0;
    br_buf_reset(&ctx->token);
    for (;;) {
        struct s3_page page;
        struct s3_error e;
        page_no++;
        s3_state_release(ctx->state);       /* no snapshot held while a page downloads */
        if (s3_list_page(ctx->lister, page_no > 1 ? ctx->token.data : NULL, &page, &e) < 0) {
            describe_error(ctx, &e, page_no);
            *retry_after = e.retry_after_ms;
            return -1;
        }
        for (size_t i = 0; i < page.n; i++) {
            if (check_order(ctx, &page.objects[i], page_no) < 0)
                return -1;
            ctx->n_listed++;
            if (compare_listed(ctx, &page.objects[i]) < 0)
                return -1;
        }
        if (page_no % TRIM_EVERY_PAGES == 0)
            s3_state_trim(ctx->state);
        if (!page.truncated) {
            int rc = remove_known_before(ctx, NULL, 0);
            s3_state_trim(ctx->state);
            return rc < 0 ? rc : remove_long_gone(ctx);
        }
        br_buf_reset(&ctx->token);
        if (br_buf_puts(&ctx->token, page.next_token) < 0) {
            snprintf(ctx->why, sizeof(ctx->why), "out of memory");
            return -1;
        }
        service(ctx);
        if (br_source_stopping(ctx->src))
            return -1;
    }
}

static void report_poll(struct s3_ctx *ctx, int64_t took_ms)
{
    bool changed = ctx->n_created || ctx->n_removed;
    br_log(changed ? BR_LOG_INFO : BR_LOG_DEBUG, ctx->src->scope,
           "poll: %zu objects listed, %zu created, %zu removed, %lld ms", ctx->n_listed,
           ctx->n_created, ctx->n_removed, (long long)took_ms);
    if (ctx->n_untracked != ctx->warned_untracked && ctx->n_untracked)
        br_warn(ctx->src->scope, "%zu key(s) hold a NUL byte and are not tracked",
                ctx->n_untracked);
    ctx->warned_untracked = ctx->n_untracked;
}

/* Logs a failed poll once per distinct reason; returns the wait before
 * the next try. */
static int64_t poll_failed(struct s3_ctx *ctx, const char *why, int64_t retry_after)
{
    int64_t wait = ctx->backoff_ms ? ctx->backoff_ms : BACKOFF_MIN_MS;
    if (retry_after > wait)
        wait = retry_after < BACKOFF_MAX_MS ? retry_after : BACKOFF_MAX_MS;
    ctx->backoff_ms = wait * 2 < BACKOFF_MAX_MS ? wait * 2 : BACKOFF_MAX_MS;
    const char *kind = ctx->why_kind[0] ? ctx->why_kind : why;
    enum br_log_level level = strcmp(kind, ctx->last_error) ? BR_LOG_ERROR : BR_LOG_DEBUG;
    br_log(level, ctx->src->scope, "listing %s failed: %s; retrying in %lld ms",
           ctx->location, why, (long long)wait);
    snprintf(ctx->last_error, sizeof(ctx->last_error), "%s", kind);
    return wait;
}

/* One poll; returns how long to wait before the next. */
static int64_t poll_once(struct s3_ctx *ctx)
{
    int64_t t0 = br_now_ms(), retry_after = -1;
    ctx->n_listed = ctx->n_created = ctx->n_removed = ctx->n_untracked = 0;
    ctx->n_long_seen = 0;
    ctx->since_service = 0;
    ctx->why[0] = ctx->why_kind[0] = '\0';
    s3_state_rewind(ctx->state, ctx->opts.prefix);
    int rc = list_and_merge(ctx, &retry_after);
    service(ctx);
    if (br_source_stopping(ctx->src))
        return 0;
    if (rc < 0) {
        const char *why = ctx->why[0] ? ctx->why : "unknown error";
        char said[1024];
        snprintf(said, sizeof(said), "listing %.320s failed: %.600s", ctx->location, why);
        br_source_report_state(ctx->src, BR_SOURCE_DISCONNECTED, said);
        return poll_failed(ctx, why, retry_after);
    }
    /* Ready once a listing went through: the store answers and the
     * checkpoint is in step with it. */
    br_source_report_state(ctx->src, BR_SOURCE_CONNECTED, NULL);
    report_poll(ctx, br_now_ms() - t0);
    if (ctx->last_error[0])
        br_info(ctx->src->scope, "listing %s works again", ctx->location);
    ctx->last_error[0] = '\0';
    ctx->backoff_ms = 0;
    return ctx->opts.poll_interval_ms;
}

/* Sleeps until the next poll, taking acks meanwhile. */
static void wait_next(struct s3_ctx *ctx, int64_t ms)
{
    int64_t until = br_now_ms() + ms;
    while (!br_source_stopping(ctx->src)) {
        int64_t left = until - br_now_ms();
        if (left <= 0)
            return;
        if (br_source_inflight(ctx->src) > 0) {
            br_source_wait(ctx->src, BR_WAIT_ROUND, serve);
        } else {
            commit_state(ctx);
            sleep_ms(left < IDLE_SLICE_MS ? left : IDLE_SLICE_MS);
        }
    }
}

/* ------------------------------------------------------------------- run */

static bool cancelled(void *arg)
{
    return br_source_stopping(arg);
}

/* The checkpoint directory, STATE/s3/NAME[-shard-I-of-N], into dir. */
static void state_dir_of(const struct s3_ctx *ctx, char *dir, size_t len)
{
    const char *state = ctx->src->state_dir;
    const char *name = ctx->src->pipeline_name;
    if (ctx->shard_n > 1)
        snprintf(dir, len, "%s/s3/%s-shard-%u-of-%u", state, name, ctx->shard_i,
                 ctx->shard_n);
    else
        snprintf(dir, len, "%s/s3/%s", state, name);
}

/* Judged in init, so `check` refuses what open_state would. */
static int check_state_dir(const struct s3_ctx *ctx, char *err, size_t errlen)
{
    char dir[4096], why[900];
    state_dir_of(ctx, dir, sizeof(dir));
    if (br_path_check_dir(dir, !ctx->src->state_dir_secret, why,
                          sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "checkpoint directory: %s", why);
    return -1;
}

static int open_state(struct s3_ctx *ctx)
{
    char dir[4096], err[600];
    state_dir_of(ctx, dir, sizeof(dir));
    ctx->state = s3_state_open(dir, err, sizeof(err));
    if (!ctx->state) {
        br_error(ctx->src->scope, "%s", err);
        return -1;
    }
    ctx->max_key = s3_state_max_key(ctx->state);
    return 0;
}

static int open_lister(struct s3_ctx *ctx)
{
    char err[300];
    struct s3_list_config cfg = {
        .endpoint = ctx->endpoint, .bucket = ctx->opts.bucket, .prefix = ctx->opts.prefix,
        .region = ctx->opts.region, .access_key = ctx->access_key,
        .secret_key = ctx->secret_key, .session_token = ctx->session_token,
        .path_style = ctx->path_style, .page_size = (int)ctx->opts.page_size,
        .cancelled = cancelled, .cancel_arg = ctx->src};
    ctx->lister = s3_lister_new(&cfg, err, sizeof(err));
    if (!ctx->lister)
        br_error(ctx->src->scope, "%s", err);
    return ctx->lister ? 0 : -1;
}

static int s3_run(struct br_source *src)
{
    struct s3_ctx *ctx = src->ctx;
    ctx->shard = br_source_shard(src, "s3", 0);
    if (ctx->shard < 0 || open_state(ctx) < 0 || open_lister(ctx) < 0)
        return -1;
    br_source_assign(src, ctx->shard);
    br_info(src->scope, "watching %s on %s every %lld ms%s", ctx->location, ctx->endpoint,
            (long long)ctx->opts.poll_interval_ms,
            ctx->access_key ? "" : " (no credentials: unsigned requests)");
    while (!br_source_stopping(src)) {
        int64_t wait = ctx->commit_failing ? BACKOFF_MIN_MS : poll_once(ctx);
        settle_all(ctx);
        wait_next(ctx, wait);
    }
    br_source_drain(src);
    commit_state(ctx);
    if (s3_state_sync(ctx->state) < 0)
        br_error(src->scope, "%s", s3_state_error(ctx->state));
    return 0;
}

static int s3_commit(struct br_source *src, int shard, int64_t next_pos)
{
    /* Each record updates the state on its own (settled). */
    (void)src, (void)shard, (void)next_pos;
    return 0;
}

static void s3_pause(struct br_source *src)
{
    ((struct s3_ctx *)src->ctx)->paused = true;
}

static void s3_resume(struct br_source *src)
{
    ((struct s3_ctx *)src->ctx)->paused = false;
}

/* ------------------------------------------------------------------ init */

static const char *env_or(const char *value, const char *name)
{
    const char *env = getenv(name);
    return value ? value : env && *env ? env : NULL;
}

static int check_events(struct s3_ctx *ctx, char *err, size_t errlen)
{
    const struct br_strlist *ev = &ctx->opts.events;
    ctx->want_created = ctx->want_removed = ev->n == 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (!strcmp(ev->v[i], "created")) {
            ctx->want_created = true;
        } else if (!strcmp(ev->v[i], "removed")) {
            ctx->want_removed = true;
        } else {
            snprintf(err, errlen, "events[%zu] '%s' is not created or removed", i, ev->v[i]);
            return -1;
        }
    }
    return 0;
}

static int set_endpoint(struct s3_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->opts.endpoint) {
        ctx->endpoint = strdup(ctx->opts.endpoint);
    } else {
        size_t n = strlen(ctx->opts.region) + 32;
        ctx->endpoint = malloc(n);
        if (ctx->endpoint)
            snprintf(ctx->endpoint, n, "https://s3.%s.amazonaws.com", ctx->opts.region);
    }
    if (!ctx->endpoint) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *host = strstr(ctx->endpoint, "://") + 3;
    size_t host_len = strcspn(host, ":/");
    bool aws = host_len >= 14 && !memcmp(host + host_len - 14, ".amazonaws.com", 14);
    ctx->path_style = ctx->opts.path_style == S3_PATH_AUTO ? !aws
                      : ctx->opts.path_style == S3_PATH_YES;
    return 0;
}

static void s3_destroy(struct br_source *src);

static int s3_init(struct br_source *src, char *err, size_t errlen)
{
    struct s3_ctx *ctx = src->ctx;
    ctx->src = src;
    br_buf_init(&ctx->listed_last, 0);
    br_buf_init(&ctx->token, 0);
    br_buf_init(&ctx->scratch, 0);
    br_buf_init(&ctx->long_gone, 0);
    if (!s3_parse_shard(ctx->opts.shard, &ctx->shard_i, &ctx->shard_n)) {
        snprintf(err, errlen, "shard '%s' is not i/n", ctx->opts.shard);
        s3_destroy(src);
        return -1;
    }
    if (check_events(ctx, err, errlen) < 0 || set_endpoint(ctx, err, errlen) < 0 ||
        check_state_dir(ctx, err, errlen) < 0) {
        s3_destroy(src);
        return -1;
    }
    ctx->access_key = env_or(ctx->opts.access_key, "AWS_ACCESS_KEY_ID");
    ctx->secret_key = env_or(ctx->opts.secret_key, "AWS_SECRET_ACCESS_KEY");
    ctx->session_token = env_or(ctx->opts.session_token, "AWS_SESSION_TOKEN");
    if (!ctx->access_key != !ctx->secret_key) {
        snprintf(err, errlen, "%s without %s", ctx->access_key ? "an access key" : "a secret key",
                 ctx->access_key ? "a secret key (secret_key or AWS_SECRET_ACCESS_KEY)"
                                 : "an access key (access_key or AWS_ACCESS_KEY_ID)");
        s3_destroy(src);
        return -1;
    }
    if (!ctx->access_key)
        ctx->session_token = NULL;
    if (ctx->secret_key)              /* maybe from the environment */
        br_secrets_add(ctx->secret_key, strlen(ctx->secret_key), NULL);
    if (ctx->session_token)
        br_secrets_add(ctx->session_token, strlen(ctx->session_token), NULL);
    snprintf(ctx->location, sizeof(ctx->location), "bucket %s%s%s", ctx->opts.bucket,
             ctx->opts.prefix[0] ? " prefix " : "", ctx->opts.prefix);
    src->event_origin = ctx->opts.bucket;
    return 0;
}

static void s3_destroy(struct br_source *src)
{
    struct s3_ctx *ctx = src->ctx;
    if (!ctx || !ctx->src)
        return;
    s3_lister_free(ctx->lister);
    s3_state_close(ctx->state);
    free(ctx->endpoint);
    br_buf_free(&ctx->listed_last);
    br_buf_free(&ctx->token);
    br_buf_free(&ctx->scratch);
    br_buf_free(&ctx->long_gone);
    free(ctx->long_seen);
    ctx->long_seen = NULL;
    ctx->lister = NULL;
    ctx->state = NULL;
    ctx->endpoint = NULL;
    ctx->src = NULL;
}

const struct br_source_ops br_source_s3 = {
    .name = "s3",
    .opts = s3_source_opts,
    .ctx_size = sizeof(struct s3_ctx),
    .default_format = "lambda",
    .formats = BR_FORMAT_BIT(BR_FORMAT_LAMBDA) | BR_FORMAT_BIT(BR_FORMAT_CLOUDEVENTS),
    .init = s3_init,
    .run = s3_run,
    .commit = s3_commit,
    .settled = s3_settled,
    .pause = s3_pause,
    .resume = s3_resume,
    .destroy = s3_destroy,
};
