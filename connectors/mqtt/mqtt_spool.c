/* mqtt_spool.c - the MQTT source's durable spool on LMDB (see mqtt_spool.h).
 *
 * Entry layout (host byte order: a spool never leaves its machine):
 *   u8 version, u8 qos, u8 flags, u8 0, u32 n_props, i64 received_ms,
 *   u32 topic_len, payload_len, content_type_len, response_topic_len,
 *   correlation_len, then those bytes, then per user property:
 *   u32 name_len, value_len, name, value.
 * Every length is checked against the entry's size when read back.
 *
 * Memory: an entry is encoded once, straight into the batch of puts the
 * writer commits (LMDB copies it into its pages); a batch buffer that grew
 * past BATCH_KEEP_CAP for a large message is freed once written, not kept
 * for the next batch. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "bridge/fsdir.h"
#include "connectors/lmdb_open.h"
#include "mqtt_spool.h"

#define SPOOL_VERSION 1
#define FLAG_RETAIN 1u
#define FLAG_CT 2u
#define FLAG_RT 4u
#define FLAG_CORR 8u
/* Sequences are the records' ids, and a record is handed on before the
 * commit that makes it durable: after a crash its sequence must not be
 * given to another message. So the spool leases sequences ahead: "next" in
 * meta is always past every sequence handed out, renewed by the commit
 * that finds fewer than half a lease left. */
#define SEQ_LEASE 4096
/* Any message the broker may send (MQTT allows 256 MiB), plus its
 * metadata; the map has room for twice the spool's limit beside it. */
#define SPOOL_MAX_ENTRY ((size_t)268435456 + 65536)
#define BATCH_KEEP_CAP ((size_t)1 << 20)

/* One batch of writes: built by the source thread, committed by the
 * writer thread in one transaction (one sync). */
struct batch {
    struct br_buf puts;           /* per put: u64 seq, u32 len, the entry */
    size_t n_puts;
    uint64_t put_bytes;           /* entry bytes */
    uint64_t *dels;
    size_t n_dels, cap_dels;
};

struct mqtt_spool {
    MDB_env *env;
    MDB_dbi dbi;                  /* "messages": sequence -> entry */
    MDB_dbi meta;                 /* "meta": "next" -> the sequence lease */

    /* source thread only */
    struct batch building;
    uint64_t next_seq;
    uint64_t flushed_gen;         /* batches handed to the writer */

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t work;          /* the writer waits for a batch */
    pthread_cond_t done;          /* mqtt_spool_commit waits for the writer */
    struct batch queued;          /* handed over, not yet taken; between
                                     flushes, deletes a failed commit left */
    bool has_queued;
    uint64_t queued_gen;
    uint64_t committed_gen;       /* the last batch the writer finished */
    uint64_t want_lease;          /* asked for with the queued batch */
    atomic_uint_fast64_t lease;   /* committed: sequences below are ours */
    size_t count;                 /* committed */
    uint64_t bytes;
    size_t inflight_count;        /* puts handed over, not yet committed */
    uint64_t inflight_bytes;
    bool failed;                  /* a commit failed; not yet taken */
    bool carried;                 /* queued holds deletes to retry */
    bool stop;
    int efd;                      /* eventfd: a batch was committed */
    int lock_fd;                  /* flock held on <dir>/owner */
    pthread_t writer;
    bool writer_running;
    char error[160];
};

static void set_error(struct mqtt_spool *sp, const char *what, int rc)
{
    snprintf(sp->error, sizeof(sp->error), "%s: %s", what, mdb_strerror(rc));
}

const char *mqtt_spool_error(const struct mqtt_spool *sp)
{
    return sp->error;
}

static void key_of(uint64_t seq, unsigned char out[8])
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        out[i] = (unsigned char)seq;
}

static uint64_t seq_of(const MDB_val *key)
{
    uint64_t seq = 0;
    const unsigned char *k = key->mv_data;
    for (size_t i = 0; i < key->mv_size && i < 8; i++)
        seq = seq << 8 | k[i];
    return seq;
}

/* ------------------------------------------------------------- encoding */

static int put_u32(struct br_buf *b, size_t v)
{
    uint32_t u = (uint32_t)v;
    return br_buf_append(b, &u, sizeof(u));
}

static int put_bytes(struct br_buf *b, const void *p, size_t n)
{
    return n ? br_buf_append(b, p, n) : 0;
}

/* The bytes encode() appends for m. */
static size_t entry_size(const struct mqtt_msg *m)
{
    const struct br_mqtt_meta *meta = &m->meta;
    size_t n = 36 + strlen(m->topic) + m->payload_len + meta->correlation_len +
               (meta->content_type ? strlen(meta->content_type) : 0) +
               (meta->response_topic ? strlen(meta->response_topic) : 0);
    for (size_t i = 0; i < m->n_props; i++)
        n += 8 + strlen(m->props[i].name) + m->props[i].value_len;
    return n;
}

/* Appends the entry for m to b. */
static int encode(struct br_buf *b, const struct mqtt_msg *m)
{
    const struct br_mqtt_meta *meta = &m->meta;
    size_t ct = meta->content_type ? strlen(meta->content_type) : 0;
    size_t rt = meta->response_topic ? strlen(meta->response_topic) : 0;
    unsigned char head[4] = {SPOOL_VERSION, meta->qos,
                             (unsigned char)((meta->retain ? FLAG_RETAIN : 0) |
                                             (meta->content_type ? FLAG_CT : 0) |
                                             (meta->response_topic ? FLAG_RT : 0) |
                                             (meta->correlation ? FLAG_CORR : 0)), 0};
    if (put_bytes(b, head, 4) < 0 || put_u32(b, m->n_props) < 0 ||
        put_bytes(b, &m->received_ms, 8) < 0 || put_u32(b, strlen(m->topic)) < 0 ||
        put_u32(b, m->payload_len) < 0 || put_u32(b, ct) < 0 || put_u32(b, rt) < 0 ||
        put_u32(b, meta->correlation_len) < 0 || put_bytes(b, m->topic, strlen(m->topic)) < 0 ||
        put_bytes(b, m->payload, m->payload_len) < 0 || put_bytes(b, meta->content_type, ct) < 0 ||
        put_bytes(b, meta->response_topic, rt) < 0 ||
        put_bytes(b, meta->correlation, meta->correlation_len) < 0)
        return -1;
    for (size_t i = 0; i < m->n_props; i++) {
        const struct br_header *h = &m->props[i];
        if (put_u32(b, strlen(h->name)) < 0 || put_u32(b, h->value_len) < 0 ||
            put_bytes(b, h->name, strlen(h->name)) < 0 ||
            put_bytes(b, h->value, h->value_len) < 0)
            return -1;
    }
    return 0;
}

/* A bounds-checked reader over one entry. */
struct reader {
    const unsigned char *p, *end;
    bool bad;
};

static uint32_t get_u32(struct reader *r)
{
    uint32_t v = 0;
    if ((size_t)(r->end - r->p) < sizeof(v)) {
        r->bad = true;
        return 0;
    }
    memcpy(&v, r->p, sizeof(v));
    r->p += sizeof(v);
    return v;
}

static const unsigned char *get_bytes(struct reader *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

/* Strings are stored without their NUL: copied into scratch to end them. */
static const char *get_str(struct reader *r, size_t n, char **scratch)
{
    const unsigned char *p = get_bytes(r, n);
    if (!p)
        return NULL;
    char *s = *scratch;
    memcpy(s, p, n);
    s[n] = '\0';
    *scratch += n + 1;
    return s;
}

/* Decodes val into m; strings go into scratch (val's size + 64 bytes is
 * enough), properties into props (room for n). Returns 0 or -1. */
static int decode(const MDB_val *val, struct mqtt_msg *m, char *scratch,
                  struct br_header **props)
{
    struct reader r = {val->mv_data, (const unsigned char *)val->mv_data + val->mv_size, false};
    const unsigned char *head = get_bytes(&r, 4);
    if (!head || head[0] != SPOOL_VERSION)
        return -1;
    memset(m, 0, sizeof(*m));
    m->meta.qos = head[1];
    m->meta.retain = head[2] & FLAG_RETAIN;
    uint32_t n_props = get_u32(&r);
    const unsigned char *ts = get_bytes(&r, 8);
    uint32_t topic_len = get_u32(&r), payload_len = get_u32(&r), ct = get_u32(&r),
             rt = get_u32(&r), corr = get_u32(&r);
    if (r.bad || n_props > val->mv_size / 8)
        return -1;
    memcpy(&m->received_ms, ts, 8);
    m->topic = get_str(&r, topic_len, &scratch);
    m->payload = get_bytes(&r, payload_len);
    m->payload_len = payload_len;
    m->meta.content_type = head[2] & FLAG_CT ? get_str(&r, ct, &scratch) : NULL;
    m->meta.response_topic = head[2] & FLAG_RT ? get_str(&r, rt, &scratch) : NULL;
    m->meta.correlation = head[2] & FLAG_CORR ? get_bytes(&r, corr) : NULL;
    m->meta.correlation_len = corr;
    struct br_header *h = n_props ? malloc(n_props * sizeof(*h)) : NULL;
    if (n_props && !h)
        return -1;
    for (uint32_t i = 0; i < n_props && !r.bad; i++) {
        uint32_t name_len = get_u32(&r), value_len = get_u32(&r);
        h[i].name = get_str(&r, name_len, &scratch);
        h[i].value = get_bytes(&r, value_len);
        h[i].value_len = value_len;
    }
    if (r.bad || !m->topic) {
        free(h);
        return -1;
    }
    m->props = h;
    m->n_props = n_props;
    *props = h;
    return 0;
}

/* ------------------------------------------------------------ batches */

static void batch_reset(struct batch *b)
{
    if (b->puts.cap > BATCH_KEEP_CAP)
        br_buf_free(&b->puts);          /* a large message's: give it back */
    else
        br_buf_reset(&b->puts);
    b->n_puts = 0;
    b->put_bytes = 0;
    b->n_dels = 0;
}

static void batch_free(struct batch *b)
{
    br_buf_free(&b->puts);
    free(b->dels);
    memset(b, 0, sizeof(*b));
}

static bool batch_empty(const struct batch *b)
{
    return b->n_puts == 0 && b->n_dels == 0;
}

static int batch_del(struct batch *b, uint64_t seq)
{
    if (b->n_dels == b->cap_dels) {
        size_t cap = b->cap_dels ? 2 * b->cap_dels : 256;
        uint64_t *grown = realloc(b->dels, cap * sizeof(*grown));
        if (!grown)
            return -1;
        b->dels = grown;
        b->cap_dels = cap;
    }
    b->dels[b->n_dels++] = seq;
    return 0;
}

/* Moves everything of src to the end of dst; src is left empty. */
static int batch_move(struct batch *dst, struct batch *src)
{
    if (batch_empty(dst)) {
        struct batch t = *dst;
        *dst = *src;
        *src = t;
        batch_reset(src);
        return 0;
    }
    if (src->puts.len && br_buf_append(&dst->puts, src->puts.data, src->puts.len) < 0)
        return -1;
    for (size_t i = 0; i < src->n_dels; i++)
        if (batch_del(dst, src->dels[i]) < 0)
            return -1;
    dst->n_puts += src->n_puts;
    dst->put_bytes += src->put_bytes;
    batch_reset(src);
    return 0;
}

/* ------------------------------------------------------------- writing */

static int put_lease(MDB_txn *txn, MDB_dbi meta, uint64_t lease)
{
    unsigned char next[8];
    key_of(lease, next);
    MDB_val mkey = {4, "next"}, mval = {8, next};
    return mdb_put(txn, meta, &mkey, &mval, 0);
}

/* Writes one batch (and the lease, when asked) in one transaction; the
 * commit syncs (MDB_NOSYNC is not set). Fills the net change of the
 * spool's count and bytes. Returns 0 or an LMDB error code. */
static int write_batch(struct mqtt_spool *sp, const struct batch *b, uint64_t lease,
                       long *d_count, int64_t *d_bytes)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(sp->env, NULL, 0, &txn);
    if (rc)
        return rc;
    *d_count = 0;
    *d_bytes = 0;
    for (size_t at = 0; !rc && at < b->puts.len;) {
        uint64_t seq;
        uint32_t len;
        memcpy(&seq, b->puts.data + at, 8);
        memcpy(&len, b->puts.data + at + 8, 4);
        unsigned char k[8];
        key_of(seq, k);
        MDB_val key = {8, k}, val = {len, b->puts.data + at + 12};
        rc = mdb_put(txn, sp->dbi, &key, &val, MDB_APPEND);
        (*d_count)++;
        *d_bytes += len;
        at += 12 + len;
    }
    for (size_t i = 0; !rc && i < b->n_dels; i++) {
        unsigned char k[8];
        key_of(b->dels[i], k);
        MDB_val key = {8, k}, val;
        rc = mdb_get(txn, sp->dbi, &key, &val);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        size_t size = val.mv_size;
        if (!rc)
            rc = mdb_del(txn, sp->dbi, &key, NULL);
        if (!rc) {
            (*d_count)--;
            *d_bytes -= (int64_t)size;
        }
    }
    if (!rc && lease)
        rc = put_lease(txn, sp->meta, lease);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* A failed commit loses its puts on purpose (their PUBACKs never leave,
 * so the broker sends them again), but its deletes are of settled
 * messages: they ride with the next batch instead of being replayed after
 * a restart. Called under the lock. */
static void carry_deletes(struct mqtt_spool *sp, const struct batch *failed)
{
    for (size_t i = 0; i < failed->n_dels; i++)
        if (batch_del(&sp->queued, failed->dels[i]) < 0)
            return; /* out of memory: those are replayed, not lost */
    sp->carried = sp->queued.n_dels > 0;
}

/* The writer thread: commits batches as they come, so the source thread
 * never waits for a sync; it only holds back the PUBACKs until the batch
 * holding their messages is committed. */
static void *writer_main(void *arg)
{
    struct mqtt_spool *sp = arg;
    struct batch b = {0};
    br_buf_init(&b.puts, 0);
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        while (!sp->has_queued && !sp->stop)
            pthread_cond_wait(&sp->work, &sp->lock);
        if (!sp->has_queued)
            break;
        struct batch t = b;
        b = sp->queued;
        sp->queued = t;
        sp->has_queued = false;
        uint64_t gen = sp->queued_gen, lease = sp->want_lease;
        sp->want_lease = 0;
        pthread_mutex_unlock(&sp->lock);

        long d_count;
        int64_t d_bytes;
        int rc = write_batch(sp, &b, lease, &d_count, &d_bytes);

        pthread_mutex_lock(&sp->lock);
        sp->inflight_count -= b.n_puts;
        sp->inflight_bytes -= b.put_bytes;
        if (rc == 0) {
            sp->count = (size_t)((long)sp->count + d_count);
            sp->bytes = (uint64_t)((int64_t)sp->bytes + d_bytes);
            if (lease)
                atomic_store(&sp->lease, lease);
        } else {
            snprintf(sp->error, sizeof(sp->error), "committing the spool: %s",
                     mdb_strerror(rc));
            sp->failed = true;
            carry_deletes(sp, &b);
        }
        sp->committed_gen = gen;
        pthread_cond_broadcast(&sp->done);
        uint64_t one = 1;
        if (write(sp->efd, &one, sizeof(one)) < 0) {
            /* a full counter still wakes the reader */
        }
        batch_reset(&b);
    }
    pthread_mutex_unlock(&sp->lock);
    batch_free(&b);
    return NULL;
}

/* ------------------------------------------------------------ the spool */

/* Counts what is spooled and finds the next sequence. */
static int load_state(struct mqtt_spool *sp)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        set_error(sp, "reading", rc);
        return -1;
    }
    rc = mdb_cursor_open(txn, sp->dbi, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        set_error(sp, "reading", rc);
        return -1;
    }
    MDB_val key, val;
    sp->next_seq = 1;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        sp->count++;
        sp->bytes += val.mv_size;
        if (seq_of(&key) >= sp->next_seq)
            sp->next_seq = seq_of(&key) + 1;
    }
    mdb_cursor_close(cur);
    /* Sequences are never reused, even once the spool is empty: they are
     * the records' ids. */
    MDB_val mkey = {4, "next"}, mval;
    if (mdb_get(txn, sp->meta, &mkey, &mval) == 0 && mval.mv_size == 8) {
        uint64_t next = seq_of(&mval);
        if (next > sp->next_seq)
            sp->next_seq = next;
    }
    mdb_txn_abort(txn);
    return 0;
}

/* The first lease, taken before anything is handed out. */
static int take_lease(struct mqtt_spool *sp)
{
    uint64_t lease = sp->next_seq + SEQ_LEASE;
    MDB_txn *txn;
    int rc = mdb_txn_begin(sp->env, NULL, 0, &txn);
    if (!rc) {
        rc = put_lease(txn, sp->meta, lease);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    if (rc) {
        set_error(sp, "taking sequences", rc);
        return -1;
    }
    atomic_store(&sp->lease, lease);
    return 0;
}

static int open_env(struct mqtt_spool *sp, const char *dir, int64_t max_bytes,
                    char *err, size_t errlen)
{
    /* Entries, B-tree pages and freed pages not yet reusable: room for
     * twice the limit, plus slack for small limits. */
    size_t map = (size_t)max_bytes * 2 + 64u * 1024 * 1024;
    static const char *const names[] = {"messages", "meta"};
    MDB_dbi dbis[2];
    int rc = br_lmdb_open(&sp->env, dir, map, MDB_NOTLS, names, dbis, 2);
    sp->dbi = dbis[0];
    sp->meta = dbis[1];
    if (rc) {
        snprintf(err, errlen, "cannot open the spool in %s: %s", dir, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

static int start_writer(struct mqtt_spool *sp)
{
    sp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sp->efd < 0 || pthread_create(&sp->writer, NULL, writer_main, sp) != 0) {
        snprintf(sp->error, sizeof(sp->error), "cannot start the spool writer: %s",
                 strerror(errno));
        return -1;
    }
    sp->writer_running = true;
    return 0;
}

struct mqtt_spool *mqtt_spool_open(const char *dir, int64_t max_bytes,
                                   char *err, size_t errlen)
{
    struct mqtt_spool *sp = calloc(1, sizeof(*sp));
    if (!sp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->efd = -1;
    sp->lock_fd = -1;
    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->work, NULL);
    pthread_cond_init(&sp->done, NULL);
    br_buf_init(&sp->building.puts, 0);
    br_buf_init(&sp->queued.puts, 0);
    if (br_mkdirs(dir, 0700, true) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        mqtt_spool_close(sp);
        return NULL;
    }
    /* Two pipelines or processes with one client id would share the
     * broker session and the spool; LMDB must not be opened twice in one
     * process either. */
    sp->lock_fd = br_dir_lock(dir, "the spool", "another pipeline or fnbridge process with "
                              "the same MQTT client id; give each its own client_id or "
                              "state_dir", err, errlen);
    if (sp->lock_fd < 0) {
        mqtt_spool_close(sp);
        return NULL;
    }
    if (open_env(sp, dir, max_bytes, err, errlen) < 0 ||
        load_state(sp) < 0 || take_lease(sp) < 0 || start_writer(sp) < 0) {
        if (sp->error[0])
            snprintf(err, errlen, "spool in %s: %s", dir, sp->error);
        mqtt_spool_close(sp);
        return NULL;
    }
    return sp;
}

/* What was handed to the writer is committed; what was not (puts since the
 * last flush) is dropped, as a crash would. */
void mqtt_spool_close(struct mqtt_spool *sp)
{
    if (!sp)
        return;
    if (sp->writer_running) {
        pthread_mutex_lock(&sp->lock);
        sp->stop = true;
        pthread_cond_signal(&sp->work);
        pthread_mutex_unlock(&sp->lock);
        pthread_join(sp->writer, NULL);
    }
    if (sp->efd >= 0)
        close(sp->efd);
    if (sp->env)
        mdb_env_close(sp->env);
    if (sp->lock_fd >= 0)
        close(sp->lock_fd);
    batch_free(&sp->building);
    batch_free(&sp->queued);
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->work);
    pthread_cond_destroy(&sp->done);
    free(sp);
}

int mqtt_spool_set_sync(struct mqtt_spool *sp, bool sync)
{
    int rc = mdb_env_set_flags(sp->env, MDB_NOSYNC, sync ? 0 : 1);
    if (rc)
        set_error(sp, "setting the sync mode", rc);
    return rc ? -1 : 0;
}

int mqtt_spool_take_seq(struct mqtt_spool *sp, uint64_t *seq)
{
    if (sp->next_seq >= atomic_load(&sp->lease)) {
        snprintf(sp->error, sizeof(sp->error), "out of leased sequences (flush first)");
        return -1;
    }
    *seq = sp->next_seq++;
    return 0;
}

int mqtt_spool_put(struct mqtt_spool *sp, const struct mqtt_msg *m, uint64_t *seq)
{
    size_t size = entry_size(m);
    if (size > SPOOL_MAX_ENTRY) {
        snprintf(sp->error, sizeof(sp->error), "a message of %zu bytes is too large for "
                 "the spool", m->payload_len);
        return -1;
    }
    if (sp->next_seq >= atomic_load(&sp->lease)) {
        snprintf(sp->error, sizeof(sp->error), "out of leased sequences (flush first)");
        return -1;
    }
    uint64_t s = sp->next_seq;
    uint32_t len = (uint32_t)size;
    struct br_buf *puts = &sp->building.puts;
    size_t at = puts->len;
    if (br_buf_reserve(puts, 12 + size) < 0 || br_buf_append(puts, &s, 8) < 0 ||
        br_buf_append(puts, &len, 4) < 0 || encode(puts, m) < 0 ||
        puts->len - at != 12 + size) {
        puts->len = at;                 /* the batch as it was */
        if (puts->data)
            puts->data[at] = '\0';
        snprintf(sp->error, sizeof(sp->error), "out of memory spooling a message");
        return -1;
    }
    sp->building.n_puts++;
    sp->building.put_bytes += len;
    *seq = sp->next_seq++;
    return 0;
}

int mqtt_spool_del(struct mqtt_spool *sp, uint64_t seq)
{
    if (batch_del(&sp->building, seq) < 0) {
        snprintf(sp->error, sizeof(sp->error), "out of memory deleting a settled message");
        return -1;
    }
    return 0;
}

int mqtt_spool_flush(struct mqtt_spool *sp)
{
    bool lease_low = sp->next_seq + SEQ_LEASE / 2 > atomic_load(&sp->lease);
    pthread_mutex_lock(&sp->lock);
    if (batch_empty(&sp->building) && !lease_low && !sp->carried) {
        pthread_mutex_unlock(&sp->lock);
        return 0;
    }
    sp->carried = false;
    size_t n_puts = sp->building.n_puts;
    uint64_t put_bytes = sp->building.put_bytes;
    int rc = batch_move(&sp->queued, &sp->building);
    if (rc == 0) {
        sp->has_queued = true;
        sp->queued_gen = ++sp->flushed_gen;
        sp->inflight_count += n_puts;
        sp->inflight_bytes += put_bytes;
        if (lease_low)
            sp->want_lease = sp->next_seq + SEQ_LEASE;
        pthread_cond_signal(&sp->work);
    } else {
        snprintf(sp->error, sizeof(sp->error), "out of memory handing writes over");
    }
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

uint64_t mqtt_spool_seq_room(struct mqtt_spool *sp)
{
    uint64_t lease = atomic_load(&sp->lease);
    return lease > sp->next_seq ? lease - sp->next_seq : 0;
}

bool mqtt_spool_durable(struct mqtt_spool *sp)
{
    pthread_mutex_lock(&sp->lock);
    bool durable = !sp->failed && sp->committed_gen >= sp->flushed_gen;
    pthread_mutex_unlock(&sp->lock);
    return durable && sp->building.n_puts == 0;
}

bool mqtt_spool_take_failure(struct mqtt_spool *sp)
{
    pthread_mutex_lock(&sp->lock);
    bool failed = sp->failed;
    sp->failed = false;
    pthread_mutex_unlock(&sp->lock);
    return failed;
}

int mqtt_spool_fd(const struct mqtt_spool *sp)
{
    return sp->efd;
}

void mqtt_spool_clear_fd(struct mqtt_spool *sp)
{
    uint64_t n;
    if (read(sp->efd, &n, sizeof(n)) < 0) {
        /* nothing pending: EAGAIN */
    }
}

int mqtt_spool_commit(struct mqtt_spool *sp)
{
    if (mqtt_spool_flush(sp) < 0)
        return -1;
    pthread_mutex_lock(&sp->lock);
    while (sp->committed_gen < sp->flushed_gen)
        pthread_cond_wait(&sp->done, &sp->lock);
    bool failed = sp->failed;
    sp->failed = false;
    pthread_mutex_unlock(&sp->lock);
    return failed ? -1 : 0;
}

bool mqtt_spool_dirty(struct mqtt_spool *sp)
{
    if (!batch_empty(&sp->building))
        return true;
    pthread_mutex_lock(&sp->lock);
    bool pending = sp->committed_gen < sp->flushed_gen;
    pthread_mutex_unlock(&sp->lock);
    return pending;
}

size_t mqtt_spool_count(struct mqtt_spool *sp)
{
    pthread_mutex_lock(&sp->lock);
    size_t n = sp->count + sp->inflight_count;
    pthread_mutex_unlock(&sp->lock);
    return n + sp->building.n_puts;
}

uint64_t mqtt_spool_bytes(struct mqtt_spool *sp)
{
    pthread_mutex_lock(&sp->lock);
    uint64_t n = sp->bytes + sp->inflight_bytes;
    pthread_mutex_unlock(&sp->lock);
    return n + sp->building.put_bytes;
}

int mqtt_spool_scan(struct mqtt_spool *sp, uint64_t from,
                    int (*fn)(void *arg, uint64_t seq, const struct mqtt_msg *m),
                    void (*bad)(void *arg, uint64_t seq), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
    if (rc || mdb_cursor_open(txn, sp->dbi, &cur)) {
        if (!rc)
            mdb_txn_abort(txn);
        set_error(sp, "reading", rc ? rc : EIO);
        return -1;
    }
    unsigned char k[8];
    key_of(from, k);
    MDB_val key = {8, k}, val;
    int out = 0;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && !out;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct mqtt_msg m;
        struct br_header *props = NULL;
        char *scratch = malloc(val.mv_size + 64);
        if (!scratch) {
            out = -1;
            break;
        }
        if (decode(&val, &m, scratch, &props) == 0)
            out = fn(arg, seq_of(&key), &m);
        else if (bad)
            bad(arg, seq_of(&key));
        free(props);
        free(scratch);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return out;
}
