/* s3_state.h - what the S3 source knows of a bucket: key -> (ETag, size,
 * LastModified) in LMDB, walked in key order beside each listing, and the
 * sequencer lease. One owner per state directory. */
#ifndef BR_S3_STATE_H
#define BR_S3_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_known {
    const char *key;              /* not NUL-terminated */
    size_t key_len;
    const char *etag;             /* not NUL-terminated */
    size_t etag_len;
    int64_t size;
    int64_t mtime_ms;
};

struct s3_state;

struct s3_state *s3_state_open(const char *dir, char *err, size_t errlen);
void s3_state_close(struct s3_state *st);
const char *s3_state_error(const struct s3_state *st);

/* The longest key LMDB can hold as a key (511 bytes): the walk holds keys
 * up to this long; longer ones (S3 allows 1024) are kept aside, found by
 * s3_state_get_long and s3_state_scan_long. */
size_t s3_state_max_key(const struct s3_state *st);

/* 64-bit FNV-1a with MurmurHash3's finalizer (FNV-1a's low bits are weak):
 * long keys' index here, and the S3 source's shard hash. */
uint64_t s3_key_hash(const char *key, size_t len);

/* A long key's known entry: 1 found, 0 not, -1 error. What it gives is
 * valid until the next call on st. */
int s3_state_get_long(struct s3_state *st, const char *key, size_t key_len,
                      struct s3_known *out);
/* Calls fn with every long key known (in no order) until it returns
 * non-zero (returned). fn must not call into st. -1 on an error. */
int s3_state_scan_long(struct s3_state *st,
                       int (*fn)(void *arg, const struct s3_known *known), void *arg);

/* The walk: known keys that start with prefix, in key (byte) order.
 * rewind starts over; peek gives the first key not yet consumed (1), or
 * says there is none (0), or fails (-1); consume moves past it (-1 when
 * out of memory: the walk is lost, end the poll). What peek
 * gives is valid until the next call on st. The walk survives commits: it
 * resumes after the last consumed key. */
void s3_state_rewind(struct s3_state *st, const char *prefix);
/* Ends the walk's read transaction (it resumes by key): none is held while
 * a page downloads, so LMDB can reuse freed pages. */
void s3_state_release(struct s3_state *st);
int s3_state_peek(struct s3_state *st, struct s3_known *out);
int s3_state_consume(struct s3_state *st);
/* The walk has dealt with everything up to key (listed, known or not):
 * it resumes after it, whatever is written at or before it meanwhile.
 * -1 when out of memory: the walk is lost, end the poll. */
int s3_state_pass(struct s3_state *st, const char *key, size_t key_len);

/* Lets go of the map's pages polls have read (they stay in the page
 * cache): the resident set stays flat whatever the state's size. */
void s3_state_trim(struct s3_state *st);

/* Queued writes, applied together by s3_state_commit, one sync each: a
 * power cut may undo the last commit, which only repeats its events. */
int s3_state_put(struct s3_state *st, const char *key, size_t key_len, const char *etag,
                 int64_t size, int64_t mtime_ms);
int s3_state_del(struct s3_state *st, const char *key, size_t key_len);
int s3_state_commit(struct s3_state *st);
bool s3_state_pending(const struct s3_state *st);
size_t s3_state_pending_ops(const struct s3_state *st);
/* Flushes everything committed to disk. */
int s3_state_sync(struct s3_state *st);

/* The next event sequencer: strictly increasing for the life of the
 * state directory, also across crashes (leased ahead and synced). 0 on
 * failure. */
uint64_t s3_state_next_sequencer(struct s3_state *st);

#endif
