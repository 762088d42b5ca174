/* ackset.h - the one place that decides what may be committed.
 *
 * Per shard (a Kafka partition, later an MQTT spool or an S3 listing) it
 * keeps the positions of the records handed to the core, in the order
 * received, and which of them are settled (delivered, filtered or
 * dead-lettered). The commit point is one past the position of the last
 * record of the settled prefix: nothing unsettled is ever skipped over.
 * Used from the source thread only; not locked. */
#ifndef BR_ACKSET_H
#define BR_ACKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct br_ackset;

struct br_ackset *br_ackset_create(void);
void br_ackset_destroy(struct br_ackset *as);

/* Records position pos as received on shard; returns its sequence number
 * (used to settle it). Returns UINT64_MAX when out of memory. */
uint64_t br_ackset_track(struct br_ackset *as, int shard, int64_t pos);
/* Marks seq settled. Sequences forgotten by a reset, or never tracked, are
 * ignored (returns false). Returns true if the shard's commit point moved. */
bool br_ackset_settle(struct br_ackset *as, int shard, uint64_t seq);
/* The commit point (next position) if it moved since the last take, else
 * -1. */
int64_t br_ackset_take_commit(struct br_ackset *as, int shard);
/* The commit point whether or not it moved (-1 if nothing settled yet). */
int64_t br_ackset_commit_point(const struct br_ackset *as, int shard);
/* Tracked records of the shard not yet past the commit point. */
size_t br_ackset_outstanding(const struct br_ackset *as, int shard);
/* Slots the shard's ring holds now (its memory; it shrinks once mostly
 * empty). */
size_t br_ackset_slots(const struct br_ackset *as, int shard);
/* Forgets every tracked record of the shard (it was revoked); acks for
 * them are ignored from now on. The commit point is cleared too. */
void br_ackset_reset(struct br_ackset *as, int shard);

#endif
