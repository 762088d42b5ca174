/* mqtt_spool.c - the MQTT source's durable spool on LMDB (see mqtt_spool.h).
 *
 * Entry layout (host byte order: a spool never leaves its machine):
 *   u8 version, u8 qos, u8 flags, u8 0, u32 n_props, i64 received_ms,
 *   u32 topic_len, payload_len, content_type_len, response_topic_len,
 *   correlation_len, then those bytes, then per user property:
 *   u32 name_len, value_len, name, value.
 * Every length is checked against the entry's size when read back. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../bridge/buf.h"
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

struct mqtt_spool {
    MDB_env *env;
    MDB_dbi dbi;                  /* "messages": sequence -> entry */
    MDB_dbi meta;                 /* "meta": "next" -> the sequence lease */
    uint64_t lease;               /* committed: sequences below are ours */
    MDB_txn *txn;                 /* the open write transaction, or NULL */
    uint64_t next_seq;
    size_t count, pending_count;  /* committed, and as of the open txn */
    uint64_t bytes, pending_bytes;
    struct br_buf enc;            /* encoding scratch */
    char error[128];
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
    br_buf_reset(b);
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

/* ------------------------------------------------------------ the spool */

static int begin(struct mqtt_spool *sp)
{
    if (sp->txn)
        return 0;
    int rc = mdb_txn_begin(sp->env, NULL, 0, &sp->txn);
    if (rc) {
        set_error(sp, "starting a write", rc);
        sp->txn = NULL;
        return -1;
    }
    sp->pending_count = sp->count;
    sp->pending_bytes = sp->bytes;
    return 0;
}

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
    sp->lease = sp->next_seq;        /* nothing leased in this run yet */
    mdb_txn_abort(txn);
    return 0;
}

static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_env(struct mqtt_spool *sp, const char *dir, int64_t max_bytes,
                    char *err, size_t errlen)
{
    /* Entries, B-tree pages and freed pages not yet reusable: room for
     * twice the limit, plus slack for small limits. */
    size_t map = (size_t)max_bytes * 2 + 64u * 1024 * 1024;
    int rc = mdb_env_create(&sp->env);
    if (!rc)
        rc = mdb_env_set_mapsize(sp->env, map);
    if (!rc)
        rc = mdb_env_set_maxdbs(sp->env, 2);
    if (!rc)
        rc = mdb_env_open(sp->env, dir, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(sp->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "messages", MDB_CREATE, &sp->dbi);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &sp->meta);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        snprintf(err, errlen, "cannot open the spool in %s: %s", dir, mdb_strerror(rc));
        return -1;
    }
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
    br_buf_init(&sp->enc, (size_t)max_bytes);
    if (make_dirs(dir, err, errlen) < 0 || open_env(sp, dir, max_bytes, err, errlen) < 0 ||
        load_state(sp) < 0 || begin(sp) < 0 || mqtt_spool_commit(sp) < 0) {
        if (sp->error[0])
            snprintf(err, errlen, "spool in %s: %s", dir, sp->error);
        mqtt_spool_close(sp);
        return NULL;
    }
    return sp;
}

void mqtt_spool_close(struct mqtt_spool *sp)
{
    if (!sp)
        return;
    if (sp->txn)
        mdb_txn_abort(sp->txn);
    if (sp->env)
        mdb_env_close(sp->env);
    br_buf_free(&sp->enc);
    free(sp);
}

int mqtt_spool_put(struct mqtt_spool *sp, const struct mqtt_msg *m, uint64_t *seq)
{
    if (encode(&sp->enc, m) < 0) {
        snprintf(sp->error, sizeof(sp->error), "message too large for the spool");
        return -1;
    }
    if (sp->next_seq >= sp->lease) {
        snprintf(sp->error, sizeof(sp->error), "out of leased sequences (commit first)");
        return -1;
    }
    if (begin(sp) < 0)
        return -1;
    unsigned char k[8];
    key_of(sp->next_seq, k);
    MDB_val key = {8, k}, val = {sp->enc.len, sp->enc.data};
    int rc = mdb_put(sp->txn, sp->dbi, &key, &val, MDB_APPEND);
    if (rc) {
        set_error(sp, "spooling a message", rc);
        return -1;
    }
    *seq = sp->next_seq++;
    sp->pending_count++;
    sp->pending_bytes += val.mv_size;
    return 0;
}

int mqtt_spool_del(struct mqtt_spool *sp, uint64_t seq)
{
    if (begin(sp) < 0)
        return -1;
    unsigned char k[8];
    key_of(seq, k);
    MDB_val key = {8, k}, val;
    int rc = mdb_get(sp->txn, sp->dbi, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    size_t size = rc ? 0 : val.mv_size;
    if (!rc)
        rc = mdb_del(sp->txn, sp->dbi, &key, NULL);
    if (rc) {
        set_error(sp, "deleting a settled message", rc);
        return -1;
    }
    sp->pending_count--;
    sp->pending_bytes -= size;
    return 0;
}

static int put_lease(struct mqtt_spool *sp, uint64_t lease)
{
    unsigned char next[8];
    key_of(lease, next);
    MDB_val mkey = {4, "next"}, mval = {8, next};
    return mdb_put(sp->txn, sp->meta, &mkey, &mval, 0);
}

int mqtt_spool_commit(struct mqtt_spool *sp)
{
    if (!sp->txn)
        return 0;
    uint64_t lease = sp->lease;
    int rc = 0;
    if (sp->next_seq + SEQ_LEASE / 2 > lease) {
        lease = sp->next_seq + SEQ_LEASE;
        rc = put_lease(sp, lease);
        if (rc)
            mdb_txn_abort(sp->txn);
    }
    if (!rc)
        rc = mdb_txn_commit(sp->txn);   /* syncs: MDB_NOSYNC is not set */
    if (!rc)
        sp->lease = lease;
    sp->txn = NULL;
    if (rc) {
        set_error(sp, "committing the spool", rc);
        /* What was put since the last commit is gone, and so are its
         * numbers; sequences already handed out are never reused. */
        uint64_t next = sp->next_seq;
        sp->count = 0;
        sp->bytes = 0;
        load_state(sp);
        if (sp->next_seq < next)
            sp->next_seq = next;
        return -1;
    }
    sp->count = sp->pending_count;
    sp->bytes = sp->pending_bytes;
    return 0;
}

bool mqtt_spool_dirty(const struct mqtt_spool *sp)
{
    return sp->txn != NULL;
}

size_t mqtt_spool_count(const struct mqtt_spool *sp)
{
    return sp->txn ? sp->pending_count : sp->count;
}

uint64_t mqtt_spool_bytes(const struct mqtt_spool *sp)
{
    return sp->txn ? sp->pending_bytes : sp->bytes;
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
