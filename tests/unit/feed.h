/* feed.h - for unit tests that run a real pipeline on a running dispatcher
 * with no source thread (the exec target's modes): records are handed to
 * the dispatcher as a source would, the acks that come back are counted,
 * and the files and processes the functions leave are looked at.
 * Header-only: each test is one program. */
#ifndef BR_TEST_FEED_H
#define BR_TEST_FEED_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/clock.h"
#include "bridge/dispatcher.h"
#include "bridge/pipeline.h"
#include "connectors/kafka/kafka_event.h"

static inline void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

struct settled {
    size_t delivered, dead;
};

/* Hands n records of value_len bytes (offsets first_offset..) on topic "t",
 * partition 0, to the pipeline's dispatcher. */
static inline void feed(struct br_pipeline *pl, size_t n, size_t value_len,
                        int64_t first_offset)
{
    char *value = malloc(value_len + 1);
    memset(value, 'v', value_len);
    struct br_record_list l = {0};
    for (size_t i = 0; i < n; i++) {
        struct br_record_init init = { .kind = &br_kind_kafka,
            .topic = "t", .partition = 0, .offset = first_offset + (int64_t)i,
            .timestamp_ms = 1700000000000, .timestamp_type = BR_TS_CREATE,
            .value = value, .value_len = value_len,
        };
        struct br_record *rec = br_record_create(&init);
        rec->shard = 0;
        rec->received_ms = br_now_ms();
        br_record_list_push(&l, rec);
    }
    free(value);
    pthread_mutex_lock(&pl->lock);
    br_record_list_concat(&pl->inbound, &l);
    pthread_mutex_unlock(&pl->lock);
    br_pipeline_wake(pl);
}

/* Waits (up to 15 s) until n records came back settled. */
static inline struct settled collect(struct br_pipeline *pl, size_t n)
{
    struct settled s = {0};
    int64_t deadline = br_now_ms() + 15000;
    while (s.delivered + s.dead < n && br_now_ms() < deadline) {
        struct br_record *rec;
        pthread_mutex_lock(&pl->lock);
        while ((rec = br_record_list_pop(&pl->acks))) {
            s.delivered += rec->settle == BR_SETTLE_DELIVERED;
            s.dead += rec->settle == BR_SETTLE_DEAD_LETTERED;
            br_record_free(rec);
        }
        pthread_mutex_unlock(&pl->lock);
        sleep_ms(5);
    }
    return s;
}

/* dir/name's content (malloc'd, up to 1 MiB; "" when missing). */
static inline char *read_file_in(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 1 << 20);
    if (f) {
        size_t n = fread(s, 1, (1 << 20) - 1, f);
        s[n] = '\0';
        fclose(f);
    }
    return s;
}

/* Gone, or a zombie waiting for an init that does not reap. */
static inline bool pid_gone(pid_t pid)
{
    char path[64], stat[256] = "";
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    stat[n] = '\0';
    fclose(f);
    const char *rp = strrchr(stat, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

#endif
