/* sd_service.c - readiness, status, stopping and the watchdog, told to the
 * service manager (sd_service.h) through sd_notify.c. Readiness is the
 * sources' own word (br_source_report_state), the watchdog the threads'
 * beats (observe.h): the same facts the admin server shows. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sd_notify.h"
#include "sd_service.h"

#define STATUS_MAX 1024
/* A thread is stalled once its beat is older than the watchdog interval,
 * and never sooner than this: a source may block this long in a library
 * call (a connect, a listing) and still be healthy. */
#define STALL_MIN_MS 10000

struct br_sd_service {
    struct br_pipeline **pls;          /* borrowed */
    size_t n;
    bool ready_sent;
    bool stopping;
    char status[STATUS_MAX];           /* the last STATUS= sent */

    /* watchdog */
    bool watchdog_running;
    pthread_t watchdog;
    pthread_mutex_t lock;
    pthread_cond_t cond;               /* CLOCK_MONOTONIC */
    bool quit;                         /* under lock */
    int64_t ping_ms;                   /* half the interval, as systemd advises */
    int64_t stall_ms;
    bool stalled;                      /* watchdog thread only */
};

/* Appends to out[*at..n) and keeps *at within bounds; what does not fit
 * becomes "...". */
static void append(char *out, size_t n, size_t *at, const char *text)
{
    if (*at + 4 >= n)
        return;
    int w = snprintf(out + *at, n - *at, "%s", text);
    if (w < 0 || (size_t)w >= n - *at - 4) {
        snprintf(out + n - 4, 4, "...");
        *at = n;
        return;
    }
    *at += (size_t)w;
}

/* "orders (kafka: starting), ..." for each pipeline whose source is not
 * connected; returns how many. */
static size_t list_unconnected(const struct br_sd_service *svc, char *out, size_t n)
{
    size_t at = 0, count = 0;
    out[0] = '\0';
    for (size_t i = 0; i < svc->n; i++) {
        struct br_pipeline *pl = svc->pls[i];
        int state = atomic_load(&pl->obs.source_state);
        if (state == BR_SOURCE_CONNECTED)
            continue;
        char one[256];
        snprintf(one, sizeof(one), "%s%s (%s: %s)", count ? ", " : "", pl->name_shown,
                 pl->conf->source_ops->name, br_source_state_names[state]);
        append(out, n, &at, one);
        count++;
    }
    return count;
}

static void tell(const char *msg)
{
    if (br_sd_notify(msg) < 0)
        br_warn(NULL, "cannot notify the service manager: %s", strerror(errno));
}

void br_sd_service_tick(struct br_sd_service *svc)
{
    if (!svc || svc->stopping)
        return;
    char waiting[STATUS_MAX - 128], status[STATUS_MAX];
    size_t missing = list_unconnected(svc, waiting, sizeof(waiting));
    if (missing)
        snprintf(status, sizeof(status), "STATUS=%s for %zu of %zu source%s to connect: %s",
                 svc->ready_sent ? "running; waiting" : "waiting", missing, svc->n,
                 svc->n == 1 ? "" : "s", waiting);
    else
        snprintf(status, sizeof(status), "STATUS=running %zu pipeline%s, every source "
                 "connected", svc->n, svc->n == 1 ? "" : "s");
    bool ready_now = !missing && !svc->ready_sent;
    if (!ready_now && !strcmp(status, svc->status))
        return;
    snprintf(svc->status, sizeof(svc->status), "%s", status);
    if (!ready_now) {
        tell(status);
        return;
    }
    char msg[STATUS_MAX + 16];
    snprintf(msg, sizeof(msg), "READY=1\n%s", status);
    tell(msg);
    svc->ready_sent = true;
    br_info(NULL, "every source connected: told the service manager we are ready");
}

void br_sd_service_stopping(struct br_sd_service *svc, int64_t timeout_ms)
{
    if (!svc || svc->stopping)
        return;
    svc->stopping = true;
    char msg[128];
    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=stopping: finishing in-flight work "
             "(up to %lld ms)", (long long)timeout_ms);
    tell(msg);
}

/* The first thread of a running pipeline whose beat is older than
 * stall_ms, into what; false when all turn. A stopping pipeline is left
 * out: its source may wait in its library's close, and shutdown_timeout
 * bounds it. */
static bool find_stalled(const struct br_sd_service *svc, char *what, size_t n)
{
    int64_t now = br_now_ms();
    for (size_t i = 0; i < svc->n; i++) {
        struct br_pipeline *pl = svc->pls[i];
        if (atomic_load(&pl->stopping) || atomic_load(&pl->source_done))
            continue;
        int64_t source_age = now - atomic_load(&pl->obs.source_beat_ms);
        int64_t dispatch_age = now - atomic_load(&pl->obs.dispatch_beat_ms);
        if (source_age <= svc->stall_ms && dispatch_age <= svc->stall_ms)
            continue;
        bool src = source_age > svc->stall_ms;
        snprintf(what, n, "pipeline %s: the %s thread has not turned for %lld ms",
                 pl->name_shown, src ? "source" : "dispatcher",
                 (long long)(src ? source_age : dispatch_age));
        return true;
    }
    return false;
}

/* Pings while every thread turns; says once when it stops and resumes. */
static void watchdog_round(struct br_sd_service *svc)
{
    char what[256];
    bool stalled = find_stalled(svc, what, sizeof(what));
    if (stalled && !svc->stalled)
        br_error(NULL, "watchdog: %s; no longer telling the service manager we are "
                 "alive", what);
    else if (!stalled && svc->stalled)
        br_info(NULL, "watchdog: every thread turns again");
    svc->stalled = stalled;
    if (!stalled)
        tell("WATCHDOG=1");
}

static void *watchdog_main(void *arg)
{
    struct br_sd_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    while (!svc->quit) {
        pthread_mutex_unlock(&svc->lock);
        watchdog_round(svc);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += svc->ping_ms / 1000;
        until.tv_nsec += (svc->ping_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&svc->lock);
        while (!svc->quit &&
               pthread_cond_timedwait(&svc->cond, &svc->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

static void start_watchdog(struct br_sd_service *svc, int64_t usec)
{
    int64_t interval_ms = usec / 1000 > 0 ? usec / 1000 : 1;
    svc->ping_ms = interval_ms / 2 > 0 ? interval_ms / 2 : 1;
    svc->stall_ms = interval_ms > STALL_MIN_MS ? interval_ms : STALL_MIN_MS;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&svc->lock, NULL);
    if (pthread_create(&svc->watchdog, NULL, watchdog_main, svc) != 0) {
        br_warn(NULL, "cannot start the watchdog thread: the service manager will "
                "stop fnbridge after %lld ms", (long long)interval_ms);
        pthread_cond_destroy(&svc->cond);
        pthread_mutex_destroy(&svc->lock);
        return;
    }
    svc->watchdog_running = true;
    br_info(NULL, "watchdog: pinging the service manager every %lld ms while every "
            "thread turns", (long long)svc->ping_ms);
}

struct br_sd_service *br_sd_service_start(struct br_pipeline **pls, size_t n)
{
    if (!br_sd_enabled())
        return NULL;
    struct br_sd_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return NULL;
    svc->pls = pls;
    svc->n = n;
    int64_t usec = br_sd_watchdog_usec();
    if (usec > 0)
        start_watchdog(svc, usec);
    br_sd_service_tick(svc);
    return svc;
}

void br_sd_service_stop(struct br_sd_service *svc)
{
    if (!svc)
        return;
    if (svc->watchdog_running) {
        pthread_mutex_lock(&svc->lock);
        svc->quit = true;
        pthread_cond_signal(&svc->cond);
        pthread_mutex_unlock(&svc->lock);
        pthread_join(svc->watchdog, NULL);
        pthread_cond_destroy(&svc->cond);
        pthread_mutex_destroy(&svc->lock);
    }
    free(svc);
}
