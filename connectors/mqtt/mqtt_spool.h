/* mqtt_spool.h - the MQTT source's durable spool: every QoS 1 message is
 * put here before its PUBACK may leave, and deleted once settled.
 *
 * An LMDB environment under state_dir. Keys are sequence numbers (8 bytes,
 * big-endian, so LMDB's byte order is arrival order); the sequence is the
 * record's id, never reused (leased ahead, see mqtt_spool.c). Writes go into one open write transaction that the source
 * thread commits (durably) before it lets libmosquitto write PUBACKs, so a
 * burst costs one sync, not one per message. Single-threaded: only the
 * source thread touches a spool. */
#ifndef BR_MQTT_SPOOL_H
#define BR_MQTT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/record.h"
#include "mqtt_event.h"

/* One message as spooled; pointers are borrowed (put) or point into the
 * read buffer (replay: valid during the callback only). */
struct mqtt_msg {
    const char *topic;
    const unsigned char *payload;
    size_t payload_len;
    int64_t received_ms;          /* epoch ms */
    struct br_mqtt_meta meta;
    const struct br_header *props;   /* v5 user properties */
    size_t n_props;
};

struct mqtt_spool;

/* Opens (creating) the spool in dir, sized for max_bytes of messages.
 * NULL with err filled on failure. */
struct mqtt_spool *mqtt_spool_open(const char *dir, int64_t max_bytes,
                                   char *err, size_t errlen);
void mqtt_spool_close(struct mqtt_spool *sp);
/* sync true (the default): each commit reaches the disk before it counts.
 * false: commits reach the page cache only (MDB_NOSYNC): safe from a crash
 * of fnbridge, not from one of the machine. */
int mqtt_spool_set_sync(struct mqtt_spool *sp, bool sync);

/* Adds m to the current batch; sets *seq. Returns 0, or -1 (see
 * mqtt_spool_error) when the spool cannot take it. */
int mqtt_spool_put(struct mqtt_spool *sp, const struct mqtt_msg *m, uint64_t *seq);
/* Takes a sequence for a message that is not spooled (dead-lettered at
 * once), so that ids stay unique. Returns 0, or -1 when the lease is used
 * up until the next commit. */
int mqtt_spool_take_seq(struct mqtt_spool *sp, uint64_t *seq);
/* Adds the deletion of seq to the current batch (unknown: no-op). */
int mqtt_spool_del(struct mqtt_spool *sp, uint64_t seq);
/* Hands the current batch to the writer; returns at once. */
int mqtt_spool_flush(struct mqtt_spool *sp);
/* Sequences left before the lease runs out (renewed by the next commit). */
uint64_t mqtt_spool_seq_room(struct mqtt_spool *sp);
/* True when every put so far is committed (flushed and written), and no
 * commit failed since mqtt_spool_take_failure last said so. */
bool mqtt_spool_durable(struct mqtt_spool *sp);
/* True once after a commit of the writer failed (its batch is lost). */
bool mqtt_spool_take_failure(struct mqtt_spool *sp);
/* An fd that polls readable after each commit; mqtt_spool_clear_fd
 * resets it. */
int mqtt_spool_fd(const struct mqtt_spool *sp);
void mqtt_spool_clear_fd(struct mqtt_spool *sp);
/* Flushes and waits until everything so far is committed. Returns 0, or
 * -1 when a commit failed: then what it held is not in the spool. */
int mqtt_spool_commit(struct mqtt_spool *sp);
/* Whether writes (puts or deletes) are not yet committed. */
bool mqtt_spool_dirty(struct mqtt_spool *sp);

/* Calls fn for each spooled message with a sequence >= from, in order,
 * until fn returns non-zero (then returns that) or the end (returns 0).
 * Entries that cannot be decoded are reported through bad (may be NULL)
 * and skipped. Must not be called with puts pending. */
int mqtt_spool_scan(struct mqtt_spool *sp, uint64_t from,
                    int (*fn)(void *arg, uint64_t seq, const struct mqtt_msg *m),
                    void (*bad)(void *arg, uint64_t seq), void *arg);

/* Messages and entry bytes in the spool: committed, plus puts not yet
 * committed (deletions count once committed). */
size_t mqtt_spool_count(struct mqtt_spool *sp);
uint64_t mqtt_spool_bytes(struct mqtt_spool *sp);

/* The last LMDB error, for logs. */
const char *mqtt_spool_error(const struct mqtt_spool *sp);

#endif
