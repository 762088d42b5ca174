/* test_s3.c - the S3 source's parts that need no server: key encoding,
 * the known state in LMDB (the walk, writes, the sequencer lease), the S3
 * event shape, record ids and batchItemFailures naming S3 records. */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/format.h"
#include "bridge/outcome.h"
#include "bridge/record.h"
#include "connectors/s3/s3_key.h"
#include "connectors/s3/s3_state.h"
#include "connectors/s3/source_s3.h"
#include "unit.h"
#include "connectors/s3/s3_event.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static char *make_tmpdir(void)
{
    char *dir = strdup("/tmp/test_s3.XXXXXX");
    if (!dir || !mkdtemp(dir))
        exit(1);
    return dir;
}

static void remove_tmpdir(char *dir)
{
    CHECK_MSG(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s", dir);
    free(dir);
}

/* An array as a pointer the NULL check of CHECK_STR can take. */
static const char *text(const char *s)
{
    return s;
}

/* ---------------------------------------------------------- key encoding */

static void check_encoding(const char *key, const char *want)
{
    char out[256];
    size_t n = br_s3_key_encode(key, strlen(key), out, sizeof(out));
    CHECK_STR(text(out), want);
    CHECK_INT(n, strlen(want));
    CHECK_INT(br_s3_key_encoded_len(key, strlen(key)), strlen(want));
}

static void test_key_encoding(void)
{
    check_encoding("Happy Face.jpg", "Happy+Face.jpg");
    check_encoding("dir/a b+c é.txt", "dir/a+b%2Bc+%C3%A9.txt");
    check_encoding("100%=x&y?#", "100%25%3Dx%26y%3F%23");
    check_encoding("A-Z_a.z~0/9", "A-Z_a.z~0/9");
    check_encoding("", "");

    /* truncation writes whole escapes only, and reports the full length */
    char small[6];
    size_t n = br_s3_key_encode("ab é", 5, small, sizeof(small));
    CHECK_INT(n, 9);
    CHECK_STR(text(small), "ab+");
    n = br_s3_key_encode("abc", 3, small, 0);
    CHECK_INT(n, 3);
}

/* ---------------------------------------------------------------- shards */

static void test_shard_parse(void)
{
    uint32_t i = 9, n = 9;
    CHECK(s3_parse_shard("0/1", &i, &n) && i == 0 && n == 1);
    CHECK(s3_parse_shard("3/4", &i, &n) && i == 3 && n == 4);
    CHECK(!s3_parse_shard("4/4", &i, &n));
    CHECK(!s3_parse_shard("0/0", &i, &n));
    CHECK(!s3_parse_shard("x", &i, &n));
    CHECK(!s3_parse_shard("-1/2", &i, &n));
    CHECK(!s3_parse_shard("1/2/3", &i, &n));
    CHECK(!s3_parse_shard("1/", &i, &n));
    CHECK(!s3_parse_shard("0/5000", &i, &n));
}

/* ----------------------------------------------------------------- state */

static struct s3_state *open_state(const char *dir)
{
    char err[512] = "";
    struct s3_state *st = s3_state_open(dir, err, sizeof(err));
    CHECK_MSG(st, "open %s: %s", dir, err);
    if (!st)
        exit(1);
    return st;
}

static void put(struct s3_state *st, const char *key, const char *etag, int64_t size)
{
    CHECK(s3_state_put(st, key, strlen(key), etag, size, 1000 * size) == 0);
}

/* Walks what is known under prefix into "k1,k2,..." */
static void walk(struct s3_state *st, const char *prefix, char *out, size_t n)
{
    struct s3_known k;
    size_t at = 0;
    out[0] = '\0';
    s3_state_rewind(st, prefix);
    while (s3_state_peek(st, &k) == 1) {
        at += (size_t)snprintf(out + at, n - at, "%s%.*s", at ? "," : "", (int)k.key_len,
                               k.key);
        s3_state_consume(st);
    }
}

static void test_state_walk_in_key_order(void)
{
    char *dir = make_tmpdir();
    struct s3_state *st = open_state(dir);
    char got[512];
    put(st, "b", "e-b", 2);
    put(st, "a/2", "e-a2", 3);
    put(st, "a/1", "e-a1", 1);
    put(st, "a", "e-a", 4);
    put(st, "é", "e-e", 5);
    CHECK(s3_state_pending(st));
    walk(st, "", got, sizeof(got));
    CHECK_STR(text(got), "");                           /* nothing before the commit */
    CHECK(s3_state_commit(st) == 0);
    CHECK(!s3_state_pending(st));
    walk(st, "", got, sizeof(got));
    CHECK_STR(text(got), "a,a/1,a/2,b,é");              /* bytewise, shorter first */
    walk(st, "a/", got, sizeof(got));
    CHECK_STR(text(got), "a/1,a/2");
    walk(st, "zz", got, sizeof(got));
    CHECK_STR(text(got), "");

    /* the values come back */
    struct s3_known k;
    s3_state_rewind(st, "b");
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK_INT(k.size, 2);
    CHECK_INT(k.mtime_ms, 2000);
    CHECK(k.etag_len == 3 && !memcmp(k.etag, "e-b", 3));

    /* peek does not move; consume does */
    s3_state_rewind(st, "");
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK(k.key_len == 1 && k.key[0] == 'a');
    s3_state_consume(st);
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK(k.key_len == 3 && !memcmp(k.key, "a/1", 3));

    CHECK(s3_state_del(st, "a/1", 3) == 0);
    CHECK(s3_state_del(st, "missing", 7) == 0);   /* deleting the unknown is fine */
    CHECK(s3_state_commit(st) == 0);
    walk(st, "", got, sizeof(got));
    CHECK_STR(text(got), "a,a/2,b,é");
    s3_state_close(st);
    remove_tmpdir(dir);
}

/* The walk goes on after commits, from where it was, and never sees again
 * a key written behind it (that would read as a removal). */
static void test_walk_survives_commits(void)
{
    char *dir = make_tmpdir();
    struct s3_state *st = open_state(dir);
    put(st, "k1", "e", 1);
    put(st, "k3", "e", 3);
    put(st, "k5", "e", 5);
    CHECK(s3_state_commit(st) == 0);

    struct s3_known k;
    s3_state_rewind(st, "");
    CHECK_INT(s3_state_peek(st, &k), 1);          /* k1, listed too */
    s3_state_consume(st);
    CHECK(s3_state_pass(st, "k1", 2) == 0);
    CHECK_INT(s3_state_peek(st, &k), 1);          /* k3 > k2: k2 is new */
    CHECK(k.key_len == 2 && k.key[1] == '3');
    CHECK(s3_state_pass(st, "k2", 2) == 0);

    /* k2's event settles and is written; the walk is not disturbed */
    put(st, "k2", "e", 2);
    CHECK(s3_state_commit(st) == 0);
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK_MSG(k.key_len == 2 && k.key[1] == '3', "after the commit the walk is at %.*s",
              (int)k.key_len, k.key);
    s3_state_consume(st);
    CHECK(s3_state_pass(st, "k3", 2) == 0);
    CHECK(s3_state_del(st, "k3", 2) == 0);
    CHECK(s3_state_commit(st) == 0);
    CHECK_INT(s3_state_peek(st, &k), 1);
    CHECK(k.key_len == 2 && k.key[1] == '5');
    s3_state_consume(st);
    CHECK_INT(s3_state_peek(st, &k), 0);
    s3_state_close(st);
    remove_tmpdir(dir);
}

static void test_sequencer_increases_across_reopen(void)
{
    char *dir = make_tmpdir();
    struct s3_state *st = open_state(dir);
    uint64_t prev = 0;
    for (int i = 0; i < 70000; i++) {          /* past one lease */
        uint64_t seq = s3_state_next_sequencer(st);
        if (seq <= prev) {
            CHECK_MSG(seq > prev, "sequencer %llu after %llu", (unsigned long long)seq,
                      (unsigned long long)prev);
            break;
        }
        prev = seq;
    }
    s3_state_close(st);                         /* as a crash would: no more writes */
    st = open_state(dir);
    uint64_t after = s3_state_next_sequencer(st);
    CHECK_MSG(after > prev, "after reopening %llu, before %llu", (unsigned long long)after,
              (unsigned long long)prev);
    s3_state_close(st);
    remove_tmpdir(dir);
}

static void test_one_owner(void)
{
    char *dir = make_tmpdir();
    char err[512] = "";
    struct s3_state *st = open_state(dir);
    CHECK(s3_state_open(dir, err, sizeof(err)) == NULL);
    CHECK_MSG(strstr(err, "in use") && strstr(err, dir), "err: %s", err);
    s3_state_close(st);
    st = open_state(dir);
    s3_state_close(st);
    remove_tmpdir(dir);
}

static int count_long(void *arg, const struct s3_known *k)
{
    (*(int *)arg)++;
    CHECK(k->key_len > 511);
    return 0;
}

/* Keys past LMDB's key limit (S3 allows 1024 bytes) are kept aside, found
 * by lookup and by a scan, and never seen by the walk. */
static void test_long_keys(void)
{
    char *dir = make_tmpdir();
    struct s3_state *st = open_state(dir);
    char long_key[1025], other[1025], got[512];
    memset(long_key, 'x', 1024);
    long_key[1024] = '\0';
    memcpy(other, long_key, sizeof(other));
    other[1023] = 'y';                           /* shares 1023 bytes with it */
    CHECK(s3_state_max_key(st) < 1024);
    put(st, "short", "e-s", 1);
    CHECK(s3_state_put(st, long_key, 1024, "e-long", 77, 5) == 0);
    CHECK(s3_state_put(st, other, 1024, "e-other", 78, 6) == 0);
    CHECK(s3_state_commit(st) == 0);
    walk(st, "", got, sizeof(got));
    CHECK_STR(text(got), "short");

    struct s3_known k;
    CHECK_INT(s3_state_get_long(st, long_key, 1024, &k), 1);
    CHECK(k.size == 77 && k.etag_len == 6 && !memcmp(k.etag, "e-long", 6));
    CHECK(k.key_len == 1024 && !memcmp(k.key, long_key, 1024));
    CHECK_INT(s3_state_get_long(st, other, 1024, &k), 1);
    CHECK(k.size == 78);
    CHECK_INT(s3_state_get_long(st, other, 1000, &k), 0);
    int n = 0;
    CHECK_INT(s3_state_scan_long(st, count_long, &n), 0);
    CHECK_INT(n, 2);

    CHECK(s3_state_del(st, long_key, 1024) == 0);
    CHECK(s3_state_commit(st) == 0);
    CHECK_INT(s3_state_get_long(st, long_key, 1024, &k), 0);
    CHECK_INT(s3_state_get_long(st, other, 1024, &k), 1);
    s3_state_close(st);
    remove_tmpdir(dir);
}

/* kB of dir/data.mdb resident in this process (/proc/self/smaps). */
static long mapped_kb(const char *dir)
{
    char want[512], line[1024];
    snprintf(want, sizeof(want), "%s/data.mdb", dir);
    FILE *f = fopen("/proc/self/smaps", "r");
    long kb = -1;
    bool in_map = false;
    while (f && fgets(line, sizeof(line), f)) {
        if (strchr(line, '-') && strchr(line, '/') && strstr(line, " r"))
            in_map = strstr(line, want) != NULL;
        else if (in_map && sscanf(line, "Rss: %ld kB", &kb) == 1)
            break;
    }
    if (f)
        fclose(f);
    return kb;
}

/* A walk maps the state's pages; trim gives them back to the page cache,
 * so the resident set does not grow with the bucket. */
static void test_trim_unmaps_what_the_walk_read(void)
{
    char *dir = make_tmpdir();
    struct s3_state *st = open_state(dir);
    char key[64];
    int failed_puts = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "dir/%05d/object-%08d.csv", i / 100, i);
        failed_puts += s3_state_put(st, key, strlen(key), "0123456789abcdef0123456789abcdef",
                                    i, i) < 0;
    }
    CHECK_INT(failed_puts, 0);
    CHECK(s3_state_commit(st) == 0);
    s3_state_trim(st);
    struct s3_known k;
    s3_state_rewind(st, "dir/00150/");          /* reads a few pages */
    CHECK_INT(s3_state_peek(st, &k), 1);
    long before = mapped_kb(dir);
    s3_state_rewind(st, "");
    int n = 0;
    for (; s3_state_peek(st, &k) == 1; n++)
        s3_state_consume(st);
    CHECK_INT(n, 20000);
    long walked = mapped_kb(dir);
    s3_state_trim(st);
    long after = mapped_kb(dir);
    CHECK_MSG(walked > 512 && after < walked / 4 && after <= before + 64,
              "data.mdb resident: %ld kB before the walk, %ld kB after it, %ld kB trimmed",
              before, walked, after);
    s3_state_close(st);
    remove_tmpdir(dir);
}

/* ---------------------------------------------------------------- events */

static struct br_record *s3_record(const char *key, bool removed, int64_t seq)
{
    struct br_s3_meta meta = {.removed = removed, .size = 1024,
                              .etag = removed ? NULL : "d41d8cd98f00b204e9800998ecf8427e",
                              .bucket = "sourcebucket", .region = "eu-west-1"};
    struct br_record_init init = {.kind = &br_kind_s3, .topic = key, .offset = seq,
                                  .timestamp_ms = 123, .meta = &meta};
    struct br_record *rec = br_record_create(&init);
    if (!rec)
        exit(1);
    return rec;
}

static json_t *encode(struct br_record *const *recs, size_t n)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    struct br_event_ctx ev = {.pipeline = "uploads", .source_kind = "s3"};
    CHECK(br_format_encode(BR_FORMAT_LAMBDA, &ev, recs, n, &out) == 0);
    json_error_t jerr;
    json_t *doc = json_loads(out.data ? out.data : "", 0, &jerr);
    CHECK_MSG(doc, "not JSON (%s): %s", jerr.text, out.data);
    size_t bound = 0;
    for (size_t i = 0; i < n; i++)
        bound += br_format_record_bound(BR_FORMAT_LAMBDA, NULL, recs[i]);
    CHECK_MSG(out.len <= bound + 16, "event %zu bytes, bound %zu", out.len, bound);
    br_buf_free(&out);
    return doc;
}

static const char *str_at(json_t *doc, const char *path)
{
    json_t *v = doc;
    char buf[200];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save, *part = strtok_r(buf, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Every key of the public sample is there, but versionId (this source
 * does not see versions), with the same nesting. */
static void check_same_keys(json_t *sample, json_t *ours, const char *path)
{
    const char *name;
    json_t *value;
    json_object_foreach(sample, name, value) {
        if (!strcmp(name, "versionId"))
            continue;
        json_t *mine = json_object_get(ours, name);
        CHECK_MSG(mine, "%s.%s is missing", path, name);
        if (mine && json_is_object(value)) {
            char sub[200];
            snprintf(sub, sizeof(sub), "%s.%s", path, name);
            CHECK_MSG(json_is_object(mine), "%s is not an object", sub);
            check_same_keys(value, mine, sub);
        }
    }
}

static void test_event_shape(void)
{
    struct br_record *recs[2] = {s3_record("Happy Face.jpg", false, 0x1A),
                                 s3_record("old/x.csv", true, 0x1B)};
    json_t *doc = encode(recs, 2);
    json_t *list = json_object_get(doc, "Records");
    CHECK(json_array_size(list) == 2);
    json_t *created = json_array_get(list, 0), *removed = json_array_get(list, 1);

    json_error_t jerr;
    json_t *sample = json_load_file("tests/data/lambda-events/s3-event.json", 0, &jerr);
    CHECK_MSG(sample, "cannot read the sample S3 event: %s", jerr.text);
    if (sample)
        check_same_keys(json_array_get(json_object_get(sample, "Records"), 0), created,
                        "Records[0]");
    json_decref(sample);

    CHECK_STR(str_at(created, "eventVersion"), "2.1");
    CHECK_STR(str_at(created, "eventSource"), "aws:s3");
    CHECK_STR(str_at(created, "awsRegion"), "eu-west-1");
    CHECK_STR(str_at(created, "eventTime"), "1970-01-01T00:00:00.123Z");
    CHECK_STR(str_at(created, "eventName"), "ObjectCreated:Put");
    CHECK_STR(str_at(created, "s3.configurationId"), "uploads");
    CHECK_STR(str_at(created, "s3.bucket.name"), "sourcebucket");
    CHECK_STR(str_at(created, "s3.bucket.arn"), "arn:aws:s3:::sourcebucket");
    CHECK_STR(str_at(created, "s3.object.key"), "Happy+Face.jpg");
    CHECK_STR(str_at(created, "s3.object.eTag"), "d41d8cd98f00b204e9800998ecf8427e");
    CHECK_STR(str_at(created, "s3.object.sequencer"), "000000000000001A");
    json_t *obj = json_object_get(json_object_get(created, "s3"), "object");
    CHECK(json_integer_value(json_object_get(obj, "size")) == 1024);

    CHECK_STR(str_at(removed, "eventName"), "ObjectRemoved:Delete");
    CHECK_STR(str_at(removed, "s3.object.key"), "old/x.csv");
    CHECK_STR(str_at(removed, "s3.object.sequencer"), "000000000000001B");
    obj = json_object_get(json_object_get(removed, "s3"), "object");
    CHECK(!json_object_get(obj, "size") && !json_object_get(obj, "eTag"));
    json_decref(doc);
    br_record_free(recs[0]);
    br_record_free(recs[1]);
}

/* -------------------------------------------------------- ids and failures */

static void test_ids_and_partial_failures(void)
{
    struct br_record *recs[3] = {s3_record("a b.txt", false, 1), s3_record("dir/c+d", false, 2),
                                 s3_record("gone", true, 3)};
    char id[128];
    br_record_id(recs[0], id, sizeof(id));
    CHECK_STR(text(id), "sourcebucket/a+b.txt@0000000000000001");
    br_record_id(recs[1], id, sizeof(id));
    CHECK_STR(text(id), "sourcebucket/dir/c%2Bd@0000000000000002");
    char small[20];

    CHECK_INT(br_record_id(recs[1], small, sizeof(small)), strlen(small));
    CHECK_STR(text(small), "sourcebucket/dir/c@");

    bool failed[3] = {false};
    const char *body = "{\"batchItemFailures\":[{\"itemIdentifier\":"
                       "\"sourcebucket/dir/c%2Bd@0000000000000002\"}]}";
    CHECK_INT(br_outcome_partial(body, strlen(body), recs, 3, failed), BR_PARTIAL_SOME_FAILED);
    CHECK(!failed[0] && failed[1] && !failed[2]);

    /* a sequencer no record of the batch has fails the whole batch */
    memset(failed, 0, sizeof(failed));
    body = "{\"batchItemFailures\":[{\"itemIdentifier\":\"sourcebucket/x@00000000000000FF\"}]}";
    CHECK_INT(br_outcome_partial(body, strlen(body), recs, 3, failed), BR_PARTIAL_ALL_FAILED);
    /* a bare number is an MQTT id, not a sequencer: it names no S3 record */
    memset(failed, 0, sizeof(failed));
    body = "{\"batchItemFailures\":[{\"itemIdentifier\":\"0000000000000002\"}]}";
    CHECK_INT(br_outcome_partial(body, strlen(body), recs, 3, failed), BR_PARTIAL_ALL_FAILED);
    memset(failed, 0, sizeof(failed));
    body = "{\"batchItemFailures\":[{\"itemIdentifier\":\"sourcebucket/x@zz\"}]}";
    CHECK_INT(br_outcome_partial(body, strlen(body), recs, 3, failed), BR_PARTIAL_ALL_FAILED);
    for (size_t i = 0; i < 3; i++)
        br_record_free(recs[i]);
}

int main(void)
{
    test_key_encoding();
    test_shard_parse();
    test_state_walk_in_key_order();
    test_walk_survives_commits();
    test_sequencer_increases_across_reopen();
    test_one_owner();
    test_long_keys();
    test_trim_unmaps_what_the_walk_read();
    test_event_shape();
    test_ids_and_partial_failures();
    return UNIT_DONE("s3");
}
