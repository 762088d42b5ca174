/* s3_state.c - the S3 source's known state in LMDB (see s3_state.h).
 *
 * "objects": key -> i64 size, i64 mtime_ms, then the ETag bytes.
 * "long": keys longer than LMDB's key limit (511 bytes; S3 allows 1024):
 *   s3_key_hash(key) -> i64 size, i64 mtime_ms, u32 key_len, key, ETag.
 *   Not in key order: the source looks them up one by one and finds the
 *   removed ones by a scan after a complete listing.
 * "meta": "sequencer" -> u64, past every sequencer handed out.
 * LMDB orders keys bytewise, shorter first on a tie: the order S3 lists
 * keys in (UTF-8 binary), so a listing and the state can be walked side by
 * side. The walk uses short read transactions and finds its place again by
 * key, so writes can be committed between its steps. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "bridge/fsdir.h"
#include "bridge/hash.h"
#include "connectors/lmdb_open.h"
#include "s3_state.h"

#define MAP_SIZE ((size_t)64 << 30)   /* address space only: LMDB grows the file */
#define SEQ_LEASE 65536
#define VALUE_HEAD 16                 /* i64 size, i64 mtime */
#define OP_PUT 'P'
#define OP_DEL 'D'

struct s3_state {
    MDB_env *env;
    MDB_dbi objects, longs, meta;
    int lock_fd;
    char error[200];

    MDB_txn *long_txn;            /* holds what s3_state_get_long gave */

    /* the walk */
    MDB_txn *rtxn;
    MDB_cursor *cur;
    struct br_buf prefix;
    struct br_buf last;           /* the last consumed key */
    bool has_last;
    bool at_peeked;               /* the cursor stands on an unconsumed key, */
    MDB_val peeked_k, peeked_v;   /* this one (valid while rtxn is open) */

    /* queued writes: op, u32 key_len, key, [i64 size, i64 mtime, u32 etag_len, etag] */
    struct br_buf ops;
    size_t n_ops;

    uint64_t next_seq, lease_end;
    uintptr_t map_lo, map_hi;     /* where data.mdb is mapped; 0 if not found */
};

static void set_error(struct s3_state *st, const char *what, int rc)
{
    snprintf(st->error, sizeof(st->error), "%s: %s", what, mdb_strerror(rc));
}

const char *s3_state_error(const struct s3_state *st)
{
    return st->error;
}

size_t s3_state_pending_ops(const struct s3_state *st)
{
    return st->n_ops;
}

size_t s3_state_max_key(const struct s3_state *st)
{
    return (size_t)mdb_env_get_maxkeysize(st->env);
}

uint64_t s3_key_hash(const char *key, size_t len)
{
    uint64_t h = br_fnv1a(BR_FNV_BASIS, key, len);
    h ^= h >> 33;                                   /* MurmurHash3's finalizer */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ h >> 33;
}

void s3_state_release(struct s3_state *st)
{
    if (st->long_txn)
        mdb_txn_abort(st->long_txn);
    st->long_txn = NULL;
    if (st->cur)
        mdb_cursor_close(st->cur);
    if (st->rtxn)
        mdb_txn_abort(st->rtxn);
    st->cur = NULL;
    st->rtxn = NULL;
    st->at_peeked = false;
}

/* ------------------------------------------------------------ the lease */

static int load_lease(struct s3_state *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        set_error(st, "reading the state", rc);
        return -1;
    }
    MDB_val k = {9, "sequencer"}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        memcpy(&st->lease_end, v.mv_data, 8);
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND) {
        set_error(st, "reading the sequencer", rc);
        return -1;
    }
    st->next_seq = st->lease_end ? st->lease_end : 1;
    st->lease_end = st->next_seq;
    return 0;
}

/* Stores the new end of the lease and syncs it before any sequencer under
 * it is used: after a crash, numbering resumes past everything handed out. */
static int extend_lease(struct s3_state *st)
{
    uint64_t end = st->next_seq + SEQ_LEASE;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    MDB_val k = {9, "sequencer"}, v = {8, &end};
    if (!rc)
        rc = mdb_put(txn, st->meta, &k, &v, 0);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (!rc)
        rc = mdb_env_sync(st->env, 1);
    if (rc) {
        set_error(st, "storing the sequencer", rc);
        return -1;
    }
    st->lease_end = end;
    return 0;
}

uint64_t s3_state_next_sequencer(struct s3_state *st)
{
    if (st->next_seq >= st->lease_end) {
        s3_state_release(st);
        if (extend_lease(st) < 0)
            return 0;
    }
    return st->next_seq++;
}

/* ------------------------------------------------------------- the map */

/* Pages of the map that polls read (walks, and writes looking up where to
 * write) stay in our resident set, clean and file backed, so a poll of a
 * big bucket would look as big as its state. They are the page cache's,
 * not ours: unmapping them keeps the footprint flat, and the next read maps
 * them again from the cache. LMDB only says where its map is with
 * MDB_FIXEDMAP, so it is looked up in /proc/self/maps once. */
static void find_map(struct s3_state *st, const char *dir)
{
    char want[4200], line[4400];
    if (!realpath(dir, want) || strlen(want) + 10 > sizeof(want))
        return;
    strcat(want, "/data.mdb");
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char *path = strchr(line, '/');
        if (!path || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        path[strcspn(path, "\n")] = '\0';
        if (!strcmp(path, want)) {
            st->map_lo = (uintptr_t)lo;
            st->map_hi = (uintptr_t)hi;
            break;
        }
    }
    fclose(maps);
}

void s3_state_trim(struct s3_state *st)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (!st->map_lo || mdb_env_info(st->env, &info) || mdb_env_stat(st->env, &stat))
        return;
    uintptr_t used = (uintptr_t)(info.me_last_pgno + 1) * stat.ms_psize;
    if (used > st->map_hi - st->map_lo)
        used = st->map_hi - st->map_lo;
    madvise((void *)st->map_lo, used, MADV_DONTNEED);
}

/* ----------------------------------------------------------- open/close */

static int open_env(struct s3_state *st, const char *dir)
{
    static const char *const names[] = {"objects", "long", "meta"};
    MDB_dbi dbis[3];
    /* NOMETASYNC: one sync per commit; a power cut may undo the last
     * commit (its events come again) but cannot damage the database. */
    int rc = br_lmdb_open(&st->env, dir, MAP_SIZE, MDB_NOTLS | MDB_NOMETASYNC, names, dbis, 3);
    if (rc) {
        set_error(st, "opening the state", rc);
        return -1;
    }
    st->objects = dbis[0];
    st->longs = dbis[1];
    st->meta = dbis[2];
    return 0;
}

struct s3_state *s3_state_open(const char *dir, char *err, size_t errlen)
{
    struct s3_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->lock_fd = -1;
    br_buf_init(&st->prefix, 0);
    br_buf_init(&st->last, 0);
    br_buf_init(&st->ops, 0);
    if (br_mkdirs(dir, 0700, true) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        s3_state_close(st);
        return NULL;
    }
    st->lock_fd = br_dir_lock(dir, "the S3 state", "another fnbridge process with the same "
                              "pipeline name and state_dir; give each its own state_dir",
                              err, errlen);
    if (st->lock_fd < 0) {
        s3_state_close(st);
        return NULL;
    }
    if (open_env(st, dir) < 0 || load_lease(st) < 0) {
        snprintf(err, errlen, "%s in %s", st->error, dir);
        s3_state_close(st);
        return NULL;
    }
    find_map(st, dir);
    return st;
}

void s3_state_close(struct s3_state *st)
{
    if (!st)
        return;
    s3_state_release(st);
    if (st->env) {
        mdb_env_sync(st->env, 1);
        mdb_env_close(st->env);
    }
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    br_buf_free(&st->prefix);
    br_buf_free(&st->last);
    br_buf_free(&st->ops);
    free(st);
}

/* ------------------------------------------------------------- the walk */

static bool decode(const MDB_val *k, const MDB_val *v, struct s3_known *out)
{
    if (v->mv_size < VALUE_HEAD)
        return false;
    out->key = k->mv_data;
    out->key_len = k->mv_size;
    memcpy(&out->size, v->mv_data, 8);
    memcpy(&out->mtime_ms, (const char *)v->mv_data + 8, 8);
    out->etag = (const char *)v->mv_data + VALUE_HEAD;
    out->etag_len = v->mv_size - VALUE_HEAD;
    return true;
}

void s3_state_rewind(struct s3_state *st, const char *prefix)
{
    s3_state_release(st);
    br_buf_reset(&st->prefix);
    if (prefix && br_buf_puts(&st->prefix, prefix) < 0)
        snprintf(st->error, sizeof(st->error), "out of memory");
    st->has_last = false;
}

/* Opens a read transaction and places the cursor on the first key after
 * the last consumed one (or the first with the prefix). */
static int position(struct s3_state *st, MDB_val *k, MDB_val *v)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
    if (!rc)
        rc = mdb_cursor_open(st->rtxn, st->objects, &st->cur);
    if (rc) {
        s3_state_release(st);
        return rc;
    }
    if (st->has_last) {
        *k = (MDB_val){st->last.len, st->last.data};
        rc = mdb_cursor_get(st->cur, k, v, MDB_SET_RANGE);
        if (!rc && k->mv_size == st->last.len && !memcmp(k->mv_data, st->last.data, st->last.len))
            rc = mdb_cursor_get(st->cur, k, v, MDB_NEXT);
    } else if (st->prefix.len) {
        *k = (MDB_val){st->prefix.len, st->prefix.data};
        rc = mdb_cursor_get(st->cur, k, v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(st->cur, k, v, MDB_FIRST);
    }
    return rc;
}

int s3_state_peek(struct s3_state *st, struct s3_known *out)
{
    MDB_val k, v;
    int rc;
    if (!st->rtxn) {
        rc = position(st, &k, &v);
    } else if (st->at_peeked) {
        k = st->peeked_k;       /* peeked again: no cursor call */
        v = st->peeked_v;
        rc = 0;
    } else {
        rc = mdb_cursor_get(st->cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        st->at_peeked = false;
        return 0;
    }
    if (rc) {
        set_error(st, "reading the state", rc);
        s3_state_release(st);
        return -1;
    }
    st->at_peeked = true;
    st->peeked_k = k;
    st->peeked_v = v;
    if (k.mv_size < st->prefix.len || memcmp(k.mv_data, st->prefix.data, st->prefix.len))
        return 0;           /* past the prefix: keys with it are contiguous */
    if (!decode(&k, &v, out)) {
        snprintf(st->error, sizeof(st->error), "the state holds a damaged entry");
        return -1;
    }
    return 1;
}

/* The walk resumes after key; on running out of memory it is lost. */
static int set_last(struct s3_state *st, const void *key, size_t key_len)
{
    br_buf_reset(&st->last);
    if (br_buf_append(&st->last, key, key_len) < 0) {
        st->has_last = false;
        s3_state_release(st);
        snprintf(st->error, sizeof(st->error), "out of memory");
        return -1;
    }
    st->has_last = true;
    return 0;
}

int s3_state_consume(struct s3_state *st)
{
    if (!st->rtxn || !st->at_peeked) {
        snprintf(st->error, sizeof(st->error), "the walk has no key to move past");
        return -1;
    }
    if (set_last(st, st->peeked_k.mv_data, st->peeked_k.mv_size) < 0)
        return -1;
    st->at_peeked = false;
    return 0;
}

int s3_state_pass(struct s3_state *st, const char *key, size_t key_len)
{
    /* The caller consumed every known key up to this one, so an open
     * cursor already stands after it: only a re-found walk needs it. */
    return set_last(st, key, key_len);
}

/* --------------------------------------------------------------- writes */

static int put_u32(struct br_buf *b, size_t v)
{
    uint32_t u = (uint32_t)v;
    return br_buf_append(b, &u, 4);
}

int s3_state_put(struct s3_state *st, const char *key, size_t key_len, const char *etag,
                 int64_t size, int64_t mtime_ms)
{
    size_t etag_len = strlen(etag);
    size_t mark = st->ops.len;
    if (br_buf_putc(&st->ops, OP_PUT) < 0 || put_u32(&st->ops, key_len) < 0 ||
        br_buf_append(&st->ops, key, key_len) < 0 || br_buf_append(&st->ops, &size, 8) < 0 ||
        br_buf_append(&st->ops, &mtime_ms, 8) < 0 || put_u32(&st->ops, etag_len) < 0 ||
        br_buf_append(&st->ops, etag, etag_len) < 0) {
        st->ops.len = mark;
        snprintf(st->error, sizeof(st->error), "out of memory");
        return -1;
    }
    st->n_ops++;
    return 0;
}

int s3_state_del(struct s3_state *st, const char *key, size_t key_len)
{
    size_t mark = st->ops.len;
    if (br_buf_putc(&st->ops, OP_DEL) < 0 || put_u32(&st->ops, key_len) < 0 ||
        br_buf_append(&st->ops, key, key_len) < 0) {
        st->ops.len = mark;
        snprintf(st->error, sizeof(st->error), "out of memory");
        return -1;
    }
    st->n_ops++;
    return 0;
}

bool s3_state_pending(const struct s3_state *st)
{
    return st->n_ops > 0;
}

static uint32_t get_u32(const char *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    return u;
}

/* A long key's entry: the full key rides in the value. */
static int put_long(struct s3_state *st, MDB_txn *txn, const MDB_val *k, const char *head,
                    const char *etag, size_t etag_len)
{
    uint64_t h = s3_key_hash(k->mv_data, k->mv_size);
    MDB_val hk = {8, &h}, v = {VALUE_HEAD + 4 + k->mv_size + etag_len, NULL};
    int rc = mdb_put(txn, st->longs, &hk, &v, MDB_RESERVE);
    if (rc)
        return rc;
    char *out = v.mv_data;
    uint32_t key_len = (uint32_t)k->mv_size;
    memcpy(out, head, VALUE_HEAD);
    memcpy(out + VALUE_HEAD, &key_len, 4);
    memcpy(out + VALUE_HEAD + 4, k->mv_data, k->mv_size);
    memcpy(out + VALUE_HEAD + 4 + k->mv_size, etag, etag_len);
    return 0;
}

static bool decode_long(const MDB_val *v, struct s3_known *out)
{
    uint32_t key_len;
    if (v->mv_size < VALUE_HEAD + 4)
        return false;
    memcpy(&key_len, (const char *)v->mv_data + VALUE_HEAD, 4);
    if (v->mv_size < VALUE_HEAD + 4 + (size_t)key_len)
        return false;
    const char *p = v->mv_data;
    memcpy(&out->size, p, 8);
    memcpy(&out->mtime_ms, p + 8, 8);
    out->key = p + VALUE_HEAD + 4;
    out->key_len = key_len;
    out->etag = out->key + key_len;
    out->etag_len = v->mv_size - VALUE_HEAD - 4 - key_len;
    return true;
}

/* Deletes a long key's entry, if it is that key's (not a hash twin's). */
static int del_long(struct s3_state *st, MDB_txn *txn, const MDB_val *k)
{
    uint64_t h = s3_key_hash(k->mv_data, k->mv_size);
    MDB_val hk = {8, &h}, v;
    struct s3_known known;
    int rc = mdb_get(txn, st->longs, &hk, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (!decode_long(&v, &known) || known.key_len != k->mv_size ||
        memcmp(known.key, k->mv_data, k->mv_size))
        return 0;
    return mdb_del(txn, st->longs, &hk, NULL);
}

/* Applies one queued op at *at; advances *at. */
static int apply_op(struct s3_state *st, MDB_txn *txn, size_t *at)
{
    const char *p = st->ops.data + *at;
    char op = p[0];
    MDB_val k = {get_u32(p + 1), (void *)(p + 5)};
    bool is_long = k.mv_size > s3_state_max_key(st);
    p += 5 + k.mv_size;
    if (op == OP_DEL) {
        *at = (size_t)(p - st->ops.data);
        int rc = is_long ? del_long(st, txn, &k) : mdb_del(txn, st->objects, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    size_t etag_len = get_u32(p + 16);
    *at = (size_t)(p + 20 + etag_len - st->ops.data);
    if (is_long)
        return put_long(st, txn, &k, p, p + 20, etag_len);
    MDB_val v;
    v.mv_size = VALUE_HEAD + etag_len;
    int rc = mdb_put(txn, st->objects, &k, &v, MDB_RESERVE);
    if (!rc) {
        memcpy(v.mv_data, p, VALUE_HEAD);
        memcpy((char *)v.mv_data + VALUE_HEAD, p + 20, etag_len);
    }
    return rc;
}

int s3_state_get_long(struct s3_state *st, const char *key, size_t key_len,
                      struct s3_known *out)
{
    /* Its own snapshot beside the walk's (MDB_NOTLS allows both), held
     * until the next call. */
    if (st->long_txn)
        mdb_txn_abort(st->long_txn);
    st->long_txn = NULL;
    uint64_t h = s3_key_hash(key, key_len);
    MDB_val hk = {8, &h}, v;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->long_txn);
    if (!rc)
        rc = mdb_get(st->long_txn, st->longs, &hk, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc || !decode_long(&v, out)) {
        set_error(st, "reading the state", rc ? rc : MDB_CORRUPTED);
        return -1;
    }
    return out->key_len == key_len && !memcmp(out->key, key, key_len) ? 1 : 0;
}

int s3_state_scan_long(struct s3_state *st,
                       int (*fn)(void *arg, const struct s3_known *known), void *arg)
{
    s3_state_release(st);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_cursor_open(txn, st->longs, &cur);
    int out = 0;
    for (int get = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && get == 0 && !out;
         get = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct s3_known known;
        if (decode_long(&v, &known))
            out = fn(arg, &known);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        set_error(st, "reading the state", rc);
        return -1;
    }
    return out;
}

int s3_state_commit(struct s3_state *st)
{
    if (!st->n_ops)
        return 0;
    s3_state_release(st);
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    for (size_t at = 0; !rc && at < st->ops.len;)
        rc = apply_op(st, txn, &at);
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
    } else {
        rc = mdb_txn_commit(txn);
    }
    if (rc) {
        set_error(st, "writing the state", rc);
        return -1;          /* the ops stay queued for the next try */
    }
    br_buf_reset(&st->ops);
    st->n_ops = 0;
    return 0;
}

int s3_state_sync(struct s3_state *st)
{
    int rc = mdb_env_sync(st->env, 1);
    if (rc) {
        set_error(st, "syncing the state", rc);
        return -1;
    }
    return 0;
}
