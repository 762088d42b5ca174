/* test_spool.c - the MQTT source's LMDB spool (connectors/mqtt/mqtt_spool.c):
 * every field round trips, sequences start at 1 and are never reused,
 * count and bytes follow puts and deletes, only commits survive a reopen,
 * scans start where asked and stop when told, corrupt entries are
 * reported and skipped. Each test works in its own directory under /tmp. */
#include <ftw.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/mqtt/mqtt_spool.h"
#include "unit.h"

#define MAX_BYTES (1024 * 1024)

/* ------------------------------------------------------------- helpers */

static char *make_tmpdir(void)
{
    char *dir = strdup("/tmp/fnbridge-spool-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdir(char *dir)
{
    CHECK_MSG(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s", dir);
    free(dir);
}

static struct mqtt_spool *open_spool(const char *dir)
{
    char err[256] = "";
    struct mqtt_spool *sp = mqtt_spool_open(dir, MAX_BYTES, err, sizeof(err));
    CHECK_MSG(sp, "cannot open the spool in %s: %s", dir, err);
    if (!sp)
        exit(1);
    return sp;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const unsigned char *a, size_t alen, const unsigned char *b,
                       size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The first field in which got differs from want, or NULL. Absent v5
 * properties must read back as NULL, present ones (even empty) as set. */
static const char *msg_diff(const struct mqtt_msg *got, const struct mqtt_msg *want)
{
    if (!same_str(got->topic, want->topic))
        return "topic";
    if (!same_bytes(got->payload, got->payload_len, want->payload, want->payload_len))
        return "payload";
    if (got->received_ms != want->received_ms)
        return "received_ms";
    if (got->meta.qos != want->meta.qos)
        return "qos";
    if (got->meta.retain != want->meta.retain)
        return "retain";
    if (!same_str(got->meta.content_type, want->meta.content_type))
        return "content_type";
    if (!same_str(got->meta.response_topic, want->meta.response_topic))
        return "response_topic";
    if (!got->meta.correlation != !want->meta.correlation ||
        (want->meta.correlation &&
         !same_bytes(got->meta.correlation, got->meta.correlation_len,
                     want->meta.correlation, want->meta.correlation_len)))
        return "correlation";
    if (got->n_props != want->n_props)
        return "n_props";
    for (size_t i = 0; i < want->n_props; i++)
        if (!same_str(got->props[i].name, want->props[i].name) ||
            !same_bytes(got->props[i].value, got->props[i].value_len,
                        want->props[i].value, want->props[i].value_len))
            return "user property";
    return NULL;
}

/* What a scan saw. by_seq[s] is the message expected at sequence s (NULL:
 * none expected); stop_at makes the callback return stop_rc at that seq. */
#define MAX_SEQ 64
struct scan_log {
    const struct mqtt_msg *by_seq[MAX_SEQ];
    uint64_t seqs[MAX_SEQ];
    size_t n;
    uint64_t bad[MAX_SEQ];
    size_t n_bad;
    uint64_t stop_at;
    int stop_rc;
};

static int on_msg(void *arg, uint64_t seq, const struct mqtt_msg *m)
{
    struct scan_log *log = arg;
    if (log->n < MAX_SEQ)
        log->seqs[log->n++] = seq;
    const struct mqtt_msg *want = seq < MAX_SEQ ? log->by_seq[seq] : NULL;
    CHECK_MSG(want, "seq %llu: scanned, but no message expected there",
              (unsigned long long)seq);
    if (want) {
        const char *diff = msg_diff(m, want);
        CHECK_MSG(!diff, "seq %llu: %s differs", (unsigned long long)seq, diff);
    }
    return seq == log->stop_at ? log->stop_rc : 0;
}

static void on_bad(void *arg, uint64_t seq)
{
    struct scan_log *log = arg;
    if (log->n_bad < MAX_SEQ)
        log->bad[log->n_bad++] = seq;
}

/* Checks that the scan saw exactly the sequences want[0..n). */
#define CHECK_SEQS(got, got_n, ...)                                          \
    do {                                                                     \
        static const uint64_t want_[] = { __VA_ARGS__ };                     \
        size_t wn_ = sizeof(want_) / sizeof(want_[0]);                       \
        bool same_ = (got_n) == wn_;                                         \
        for (size_t i_ = 0; same_ && i_ < wn_; i_++)                         \
            same_ = (got)[i_] == want_[i_];                                  \
        CHECK_MSG(same_, "%s: %zu sequences, want %zu (first %llu)", #got,   \
                  (size_t)(got_n), wn_,                                      \
                  (got_n) ? (unsigned long long)(got)[0] : 0ULL);            \
    } while (0)

/* ------------------------------------------------------------ messages */

static const unsigned char binary[] = { 0x00, 0xff, 0x80, 0x0a, 0x00, 0x7f };
static const unsigned char corr[] = { 0xde, 0xad, 0x00, 0xbe, 0xef };
static const struct br_header props[] = {
    { "unit", (const unsigned char *)"\302\260C", 3 },
    { "dup", (const unsigned char *)"first", 5 },
    { "dup", (const unsigned char *)"second", 6 },
    { "empty", (const unsigned char *)"", 0 },
};
static unsigned char big[100000];    /* past an LMDB page: overflow pages */

#define N_MSGS 8
static const struct mqtt_msg msgs[N_MSGS] = {
    { .topic = "plain/text", .payload = (const unsigned char *)"hello", .payload_len = 5,
      .received_ms = 1700000000001, .meta = { .qos = 1 } },
    { .topic = "all/props", .payload = (const unsigned char *)"{\"t\":21.5}",
      .payload_len = 10, .received_ms = 1700000000002,
      .meta = { .qos = 1, .retain = true, .content_type = "application/json",
                .response_topic = "reply/to/me", .correlation = corr,
                .correlation_len = sizeof(corr) },
      .props = props, .n_props = 4 },
    { .topic = "empty/payload", .payload = NULL, .payload_len = 0, .received_ms = 0,
      .meta = { .qos = 0, .retain = true } },
    { .topic = "binary", .payload = binary, .payload_len = sizeof(binary),
      .received_ms = -1, .meta = { .qos = 2, .content_type = "" } },
    { .topic = "only/response", .payload = binary, .payload_len = 1,
      .received_ms = INT64_MAX, .meta = { .qos = 1, .response_topic = "r" } },
    { .topic = "empty/correlation", .payload = (const unsigned char *)"x",
      .payload_len = 1, .received_ms = 7,
      .meta = { .qos = 1, .correlation = corr, .correlation_len = 0 } },
    { .topic = "only/user/props", .payload = (const unsigned char *)"[]",
      .payload_len = 2, .received_ms = 8, .meta = { .qos = 1 },
      .props = props + 1, .n_props = 2 },
    { .topic = "big/payload", .payload = big, .payload_len = sizeof(big),
      .received_ms = 9, .meta = { .qos = 1 } },
};

/* Puts msgs[from..to) and returns the sum of what each put added to
 * mqtt_spool_bytes; sizes[i] gets each one. */
static uint64_t put_range(struct mqtt_spool *sp, size_t from, size_t to,
                          uint64_t first_seq, uint64_t *sizes)
{
    uint64_t total = 0;
    for (size_t i = from; i < to; i++) {
        size_t count = mqtt_spool_count(sp);
        uint64_t before = mqtt_spool_bytes(sp), seq = 0;
        CHECK_MSG(mqtt_spool_put(sp, &msgs[i], &seq) == 0, "put %zu: %s", i,
                  mqtt_spool_error(sp));
        CHECK_INT(seq, first_seq + (i - from));
        CHECK_INT(mqtt_spool_count(sp), count + 1);
        uint64_t added = mqtt_spool_bytes(sp) - before;
        CHECK_MSG(added >= msgs[i].payload_len + strlen(msgs[i].topic),
                  "put %zu: bytes grew by %llu", i, (unsigned long long)added);
        if (sizes)
            sizes[i] = added;
        total += added;
    }
    return total;
}

/* --------------------------------------------------------------- tests */

static void test_round_trip(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    CHECK(!mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_count(sp), 0);
    CHECK_INT(mqtt_spool_bytes(sp), 0);
    CHECK(mqtt_spool_commit(sp) == 0);           /* nothing pending: no-op */
    CHECK(!mqtt_spool_dirty(sp));

    uint64_t bytes = put_range(sp, 0, N_MSGS, 1, NULL);
    CHECK(mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_bytes(sp), bytes);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK(!mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_count(sp), N_MSGS);
    CHECK_INT(mqtt_spool_bytes(sp), bytes);

    struct scan_log log = { .stop_at = UINT64_MAX };
    for (size_t i = 0; i < N_MSGS; i++)
        log.by_seq[i + 1] = &msgs[i];
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 1, 2, 3, 4, 5, 6, 7, 8);
    CHECK_INT(log.n_bad, 0);

    log.n = 0;                                   /* bad may be NULL */
    CHECK_INT(mqtt_spool_scan(sp, 1, on_msg, NULL, &log), 0);
    CHECK_INT(log.n, N_MSGS);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* count and bytes: committed, plus puts not yet committed; deletions
 * count once committed. */
static void test_count_and_bytes(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    uint64_t sizes[N_MSGS];
    uint64_t total = put_range(sp, 0, 3, 1, sizes);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK_INT(mqtt_spool_count(sp), 3);
    CHECK_INT(mqtt_spool_bytes(sp), total);

    /* a delete counts once committed */
    CHECK(mqtt_spool_del(sp, 2) == 0);
    CHECK(mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_count(sp), 3);
    CHECK_INT(mqtt_spool_bytes(sp), total);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK(!mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_count(sp), 2);
    CHECK_INT(mqtt_spool_bytes(sp), total - sizes[1]);
    total -= sizes[1];

    /* unknown and already deleted sequences: no-ops */
    CHECK(mqtt_spool_del(sp, 99) == 0);
    CHECK(mqtt_spool_del(sp, 2) == 0);
    CHECK(mqtt_spool_del(sp, 0) == 0);
    CHECK_INT(mqtt_spool_count(sp), 2);
    CHECK_INT(mqtt_spool_bytes(sp), total);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK_INT(mqtt_spool_count(sp), 2);
    CHECK_INT(mqtt_spool_bytes(sp), total);

    /* put and delete in the same transaction */
    uint64_t seq = 0;
    CHECK(mqtt_spool_put(sp, &msgs[3], &seq) == 0);
    CHECK_INT(seq, 4);
    CHECK_INT(mqtt_spool_count(sp), 3);
    CHECK(!mqtt_spool_durable(sp));
    CHECK(mqtt_spool_del(sp, 4) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK(mqtt_spool_durable(sp));
    CHECK_INT(mqtt_spool_count(sp), 2);
    CHECK_INT(mqtt_spool_bytes(sp), total);

    struct scan_log log = { .by_seq = { [1] = &msgs[0], [3] = &msgs[2] },
                            .stop_at = UINT64_MAX };
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 1, 3);

    /* emptied: zero again */
    CHECK(mqtt_spool_del(sp, 1) == 0 && mqtt_spool_del(sp, 3) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK_INT(mqtt_spool_count(sp), 0);
    CHECK_INT(mqtt_spool_bytes(sp), 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* Only commits survive a close; counters are rebuilt on open. */
static void test_reopen(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    uint64_t committed = put_range(sp, 0, 3, 1, NULL);
    CHECK(mqtt_spool_commit(sp) == 0);
    put_range(sp, 3, 5, 4, NULL);                /* never committed */
    CHECK(mqtt_spool_dirty(sp));
    mqtt_spool_close(sp);

    sp = open_spool(dir);
    CHECK(!mqtt_spool_dirty(sp));
    CHECK_INT(mqtt_spool_count(sp), 3);
    CHECK_INT(mqtt_spool_bytes(sp), committed);
    struct scan_log log = { .stop_at = UINT64_MAX };
    for (size_t i = 0; i < 3; i++)
        log.by_seq[i + 1] = &msgs[i];
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 1, 2, 3);
    CHECK_INT(log.n_bad, 0);

    /* committed sequences are never handed out again */
    uint64_t seq = 0;
    CHECK(mqtt_spool_put(sp, &msgs[5], &seq) == 0);
    CHECK_MSG(seq > 3, "put after reopen got seq %llu", (unsigned long long)seq);
    mqtt_spool_close(sp);                        /* uncommitted again */

    sp = open_spool(dir);
    CHECK_INT(mqtt_spool_count(sp), 3);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* sync false skips the disk sync, not the write: a process that goes
 * away (as a crash would) leaves its commits for the next open. */
static void test_without_sync(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    CHECK(mqtt_spool_set_sync(sp, false) == 0);
    uint64_t committed = put_range(sp, 0, 3, 1, NULL);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK(mqtt_spool_durable(sp));
    mqtt_spool_close(sp);

    sp = open_spool(dir);
    CHECK_INT(mqtt_spool_count(sp), 3);
    CHECK_INT(mqtt_spool_bytes(sp), committed);
    CHECK(mqtt_spool_set_sync(sp, true) == 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* An emptied spool still continues its sequences, across reopens too. */
static void test_sequences_never_reused(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    put_range(sp, 0, 3, 1, NULL);
    CHECK(mqtt_spool_commit(sp) == 0);
    for (uint64_t s = 1; s <= 3; s++)
        CHECK(mqtt_spool_del(sp, s) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK_INT(mqtt_spool_count(sp), 0);
    mqtt_spool_close(sp);

    sp = open_spool(dir);
    CHECK_INT(mqtt_spool_count(sp), 0);
    CHECK_INT(mqtt_spool_bytes(sp), 0);
    struct scan_log log = { .stop_at = UINT64_MAX };
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_INT(log.n, 0);
    uint64_t seq = 0;
    CHECK(mqtt_spool_put(sp, &msgs[0], &seq) == 0);
    CHECK(seq > 3);                              /* past every one handed out */
    uint64_t first = seq;
    CHECK(mqtt_spool_del(sp, seq) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK(mqtt_spool_put(sp, &msgs[1], &seq) == 0);    /* same session */
    CHECK_INT(seq, first + 1);
    CHECK(mqtt_spool_del(sp, seq) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    mqtt_spool_close(sp);

    sp = open_spool(dir);
    CHECK(mqtt_spool_put(sp, &msgs[2], &seq) == 0);
    CHECK(seq > first + 1);
    CHECK(mqtt_spool_commit(sp) == 0);
    /* A crash before the commit: the message is gone, but its sequence
     * (which may already have reached a function) is not given out again. */
    uint64_t uncommitted = 0;
    CHECK(mqtt_spool_put(sp, &msgs[3], &uncommitted) == 0);
    mqtt_spool_close(sp);
    sp = open_spool(dir);
    CHECK(mqtt_spool_put(sp, &msgs[3], &seq) == 0);
    CHECK(seq > uncommitted);
    CHECK(mqtt_spool_commit(sp) == 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

static void test_scan_from_and_stop(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    struct scan_log log = { .stop_at = UINT64_MAX };
    for (uint64_t s = 1; s <= 10; s++) {
        uint64_t seq = 0;
        CHECK(mqtt_spool_put(sp, &msgs[s % 3], &seq) == 0);
        log.by_seq[seq] = &msgs[s % 3];
    }
    CHECK(mqtt_spool_commit(sp) == 0);

    CHECK_INT(mqtt_spool_scan(sp, 4, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 4, 5, 6, 7, 8, 9, 10);
    log.n = 0;
    CHECK_INT(mqtt_spool_scan(sp, 10, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 10);
    log.n = 0;
    CHECK_INT(mqtt_spool_scan(sp, 11, on_msg, on_bad, &log), 0);
    CHECK_INT(log.n, 0);
    log.n = 0;
    CHECK_INT(mqtt_spool_scan(sp, UINT64_MAX, on_msg, on_bad, &log), 0);
    CHECK_INT(log.n, 0);

    /* from a deleted sequence: the next one still there */
    CHECK(mqtt_spool_del(sp, 4) == 0 && mqtt_spool_del(sp, 5) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    log.by_seq[4] = log.by_seq[5] = NULL;
    log.n = 0;
    CHECK_INT(mqtt_spool_scan(sp, 4, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 6, 7, 8, 9, 10);

    /* the callback's non-zero answer stops the scan and is returned */
    static const int stops[] = { 7, -5, 1 };
    for (size_t i = 0; i < 3; i++) {
        log.n = 0;
        log.stop_at = 3;
        log.stop_rc = stops[i];
        CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), stops[i]);
        CHECK_SEQS(log.seqs, log.n, 1, 2, 3);
    }
    log.n = 0;
    log.stop_at = 10;
    log.stop_rc = 42;
    CHECK_INT(mqtt_spool_scan(sp, 8, on_msg, on_bad, &log), 42);
    CHECK_SEQS(log.seqs, log.n, 8, 9, 10);
    CHECK_INT(log.n_bad, 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* ------------------------------------------------------ corrupt entries */

/* Entry layout (mqtt_spool.c): u8 version, qos, flags, 0; u32 n_props;
 * i64 received_ms; u32 topic_len, payload_len, ct_len, rt_len, corr_len. */
enum { OFF_NPROPS = 4, OFF_TOPIC_LEN = 16, OFF_PAYLOAD_LEN = 20 };

static void set_u32(unsigned char *entry, size_t off, uint32_t v)
{
    memcpy(entry + off, &v, sizeof(v));
}

static uint32_t get_u32(const unsigned char *entry, size_t off)
{
    uint32_t v;
    memcpy(&v, entry + off, sizeof(v));
    return v;
}

static void key_of(uint64_t seq, unsigned char k[8])
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        k[i] = (unsigned char)seq;
}

static int raw_put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const void *p, size_t n)
{
    unsigned char k[8];
    key_of(seq, k);
    MDB_val key = { 8, k }, val = { n, (void *)p };
    return mdb_put(txn, dbi, &key, &val, 0);
}

/* Writes garbage into the "messages" database of the (closed) spool in
 * dir: at seq 2 over a good entry, and at 4..11, variants of the good
 * entry at seq 2 (msgs[1], with every property) broken one way each. */
static void write_garbage(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, 2);
    if (!rc)
        rc = mdb_env_open(env, dir, 0, 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "messages", 0, &dbi);
    CHECK_MSG(rc == 0, "opening the spool with LMDB: %s", mdb_strerror(rc));
    if (rc)
        exit(1);

    unsigned char k[8];
    key_of(2, k);
    MDB_val key = { 8, k }, val;
    CHECK(mdb_get(txn, dbi, &key, &val) == 0);
    size_t n = val.mv_size;
    unsigned char *good = malloc(n), *e = malloc(n + 8);
    memcpy(good, val.mv_data, n);
    CHECK_INT(get_u32(good, OFF_NPROPS), 4);        /* the layout assumed */
    CHECK_INT(get_u32(good, OFF_TOPIC_LEN), strlen("all/props"));

    static const char text[] = "this is not a spool entry at all";
    rc |= raw_put(txn, dbi, 2, text, sizeof(text));
    rc |= raw_put(txn, dbi, 4, "", 0);                          /* empty */
    rc |= raw_put(txn, dbi, 5, "\x01\x01\x00", 3);              /* short */
    memcpy(e, good, n);
    e[0] = 99;                                                  /* version */
    rc |= raw_put(txn, dbi, 6, e, n);
    rc |= raw_put(txn, dbi, 7, good, n - 1);                    /* truncated */
    memcpy(e, good, n);
    set_u32(e, OFF_NPROPS, 5);                                  /* one too many */
    rc |= raw_put(txn, dbi, 8, e, n);
    memcpy(e, good, n);
    set_u32(e, OFF_TOPIC_LEN, UINT32_MAX);
    rc |= raw_put(txn, dbi, 9, e, n);
    memcpy(e, good, n);
    set_u32(e, OFF_PAYLOAD_LEN, get_u32(good, OFF_PAYLOAD_LEN) + 1);
    rc |= raw_put(txn, dbi, 10, e, n);
    memcpy(e, good, n);
    set_u32(e, OFF_NPROPS, UINT32_MAX);
    memset(e + n, 0, 8);
    rc |= raw_put(txn, dbi, 11, e, n + 8);
    CHECK_MSG(rc == 0, "writing garbage");
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    free(good);
    free(e);
}

static void test_corrupt_entries(void)
{
    char *dir = make_tmpdir();
    struct mqtt_spool *sp = open_spool(dir);
    put_range(sp, 0, 3, 1, NULL);
    CHECK(mqtt_spool_commit(sp) == 0);
    mqtt_spool_close(sp);       /* one LMDB environment per process at a time */

    write_garbage(dir);

    sp = open_spool(dir);
    uint64_t seq = 0;
    CHECK(mqtt_spool_put(sp, &msgs[4], &seq) == 0);
    CHECK(seq > 11);                             /* after the highest key */
    CHECK(mqtt_spool_del(sp, seq) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);

    struct scan_log log = { .by_seq = { [1] = &msgs[0], [3] = &msgs[2] },
                            .stop_at = UINT64_MAX };
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 1, 3);
    CHECK_SEQS(log.bad, log.n_bad, 2, 4, 5, 6, 7, 8, 9, 10, 11);

    /* without a bad callback: still skipped */
    log.n = 0;
    log.n_bad = 0;
    CHECK_INT(mqtt_spool_scan(sp, 5, on_msg, NULL, &log), 0);
    CHECK_INT(log.n, 0);
    CHECK_INT(log.n_bad, 0);

    /* corrupt entries can be deleted like any other */
    for (uint64_t s = 2; s <= 11; s++)
        if (s != 3)
            CHECK(mqtt_spool_del(sp, s) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);
    CHECK_INT(mqtt_spool_count(sp), 2);
    log.n = 0;
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_SEQS(log.seqs, log.n, 1, 3);
    CHECK_INT(log.n_bad, 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* ------------------------------------------------------------- limits */

/* The size limit is the source's to apply (it stops reading): a message
 * bigger than the whole limit is still taken, or the broker would send it
 * again forever; it just leaves the spool over its limit. */
static void test_larger_than_the_limit(void)
{
    char *dir = make_tmpdir();
    char err[256] = "";
    struct mqtt_spool *sp = mqtt_spool_open(dir, 4096, err, sizeof(err));
    CHECK_MSG(sp, "open: %s", err);
    if (!sp)
        exit(1);
    uint64_t seq = 0;
    CHECK(mqtt_spool_put(sp, &msgs[7], &seq) == 0);
    CHECK_INT(mqtt_spool_count(sp), 1);
    CHECK(mqtt_spool_bytes(sp) > 4096);
    CHECK(mqtt_spool_commit(sp) == 0);
    mqtt_spool_close(sp);

    sp = mqtt_spool_open(dir, 4096, err, sizeof(err));
    CHECK_MSG(sp, "reopen: %s", err);
    if (!sp)
        exit(1);
    struct scan_log log = { .stop_at = UINT64_MAX };
    log.by_seq[seq] = &msgs[7];
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_INT(log.n, 1);
    CHECK_INT(log.seqs[0], seq);
    CHECK_INT(log.n_bad, 0);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* One owner per spool: a second open of the same directory (another
 * pipeline or process with the same client id) is refused with a reason,
 * and the directory is free again once the owner closes it. */
static void test_one_owner(void)
{
    char *dir = make_tmpdir();
    char err[512] = "";
    struct mqtt_spool *sp = open_spool(dir);
    CHECK(mqtt_spool_open(dir, MAX_BYTES, err, sizeof(err)) == NULL);
    CHECK_MSG(strstr(err, "in use") && strstr(err, dir), "err: \"%s\"", err);
    mqtt_spool_close(sp);
    sp = open_spool(dir);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

/* A commit that fails (here: an entry larger than the map) drops its puts,
 * whose PUBACKs never leave, but keeps its deletes of settled messages for
 * the next commit, so they are not replayed after a restart. */
static void test_failed_commit_keeps_deletes(void)
{
    char *dir = make_tmpdir();
    char err[256] = "";
    struct mqtt_spool *sp = mqtt_spool_open(dir, 4096, err, sizeof(err));
    CHECK_MSG(sp, "open: %s", err);
    if (!sp)
        exit(1);
    uint64_t settled = 0, huge_seq = 0, kept = 0;
    CHECK(mqtt_spool_put(sp, &msgs[0], &settled) == 0);
    CHECK(mqtt_spool_put(sp, &msgs[1], &kept) == 0);
    CHECK(mqtt_spool_commit(sp) == 0);

    size_t huge_len = (size_t)96 << 20;     /* past the 64 MiB + 8 KiB map */
    unsigned char *payload = calloc(1, huge_len);
    CHECK(payload != NULL);
    if (!payload)
        exit(1);
    struct mqtt_msg huge = msgs[0];
    huge.payload = payload;
    huge.payload_len = huge_len;
    CHECK(mqtt_spool_put(sp, &huge, &huge_seq) == 0);
    CHECK(mqtt_spool_del(sp, settled) == 0);
    CHECK(mqtt_spool_commit(sp) < 0);
    CHECK_MSG(strstr(mqtt_spool_error(sp), "committing"), "error: %s", mqtt_spool_error(sp));
    free(payload);
    CHECK(mqtt_spool_commit(sp) == 0);      /* carries the delete */
    CHECK_INT(mqtt_spool_count(sp), 1);
    mqtt_spool_close(sp);

    sp = open_spool(dir);
    struct scan_log log = { .stop_at = UINT64_MAX };
    log.by_seq[kept] = &msgs[1];
    CHECK_INT(mqtt_spool_scan(sp, 0, on_msg, on_bad, &log), 0);
    CHECK_INT(log.n, 1);
    CHECK_INT(log.seqs[0], kept);
    mqtt_spool_close(sp);
    remove_tmpdir(dir);
}

static void test_open_fails(void)
{
    char *dir = make_tmpdir();
    char path[512], err[256] = "";
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "%s/file/spool", dir);
    CHECK(mqtt_spool_open(path, MAX_BYTES, err, sizeof(err)) == NULL);
    CHECK_MSG(strstr(err, path) || strstr(err, "/file"), "err: \"%s\"", err);

    /* nested directories are created */
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    struct mqtt_spool *sp = mqtt_spool_open(path, MAX_BYTES, err, sizeof(err));
    CHECK_MSG(sp, "nested: %s", err);
    mqtt_spool_close(sp);
    mqtt_spool_close(NULL);
    remove_tmpdir(dir);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    test_round_trip();
    test_count_and_bytes();
    test_reopen();
    test_without_sync();
    test_sequences_never_reused();
    test_scan_from_and_stop();
    test_corrupt_entries();
    test_larger_than_the_limit();
    test_open_fails();
    test_one_owner();
    test_failed_commit_keeps_deletes();
    return UNIT_DONE("spool");
}
