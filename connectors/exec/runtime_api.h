/* runtime_api.h - one AWS Lambda Runtime API endpoint (libmicrohttpd) on
 * 127.0.0.1, for one worker slot of the exec target's runtime-api mode.
 *
 * Each slot has its own port, as each Lambda sandbox has its own endpoint:
 * runtimes open a new connection per request, so the port is what tells
 * which worker is asking. A port serves only the worker process of its
 * slot and that process's descendants: every other connection is refused
 * (runtime_api.c says how and why). The server does HTTP only (routes,
 * bounded bodies, the Lambda-shaped replies); what a request means is
 * decided by the hooks, which run on the server's thread. */
#ifndef BR_RUNTIME_API_H
#define BR_RUNTIME_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest function response accepted: a bigger one is answered 413 and
 * becomes a function error, as on Lambda. */
#define RTAPI_MAX_RESPONSE ((size_t)6 << 20)

struct rtapi_server;
struct rtapi_req;       /* a GET /next in progress: parked, then woken */

/* The event a hook hands out for GET /next. */
struct rtapi_event {
    char *body;                   /* malloc'd; the server takes it */
    size_t body_len;
    char content_type[96];
    char request_id[40];
    char trace_id[80];
    int64_t deadline_wall_ms;     /* epoch ms */
};

/* A POST .../response or .../error, whole. */
struct rtapi_result {
    const char *request_id;
    bool is_error;                /* posted to /error */
    bool too_large;               /* a response over RTAPI_MAX_RESPONSE
                                     (body is then NULL) */
    char *body;                   /* malloc'd, NUL-terminated; a hook that
                                     keeps it sets this to NULL */
    size_t body_len;
    const char *error_type;       /* is_error: the Lambda-Runtime-Function-
                                     Error-Type header, else the body's
                                     errorType, else "Unhandled" */
};

enum rtapi_next {
    RTAPI_NEXT_SEND,              /* ev is filled: answer with it */
    RTAPI_NEXT_PARKED,            /* the hook called rtapi_park(req) */
    RTAPI_NEXT_CLOSE,             /* drop the connection */
};

/* Called on the server's thread. gen is the generation owner gave when
 * the request's connection was accepted: a request of a worker that is
 * gone carries an older one. */
struct rtapi_hooks {
    /* The slot's live worker (0 if none) and its generation, read
     * consistently with a cold start in progress. */
    pid_t (*owner)(void *arg, unsigned *gen);
    enum rtapi_next (*next)(void *arg, unsigned gen, struct rtapi_req *req,
                            struct rtapi_event *ev);
    /* false: the request id is unknown or stale (answered 400). */
    bool (*result)(void *arg, unsigned gen, struct rtapi_result *res);
    void (*init_error)(void *arg, unsigned gen, const char *type,
                       const char *message);
    /* A parked request's connection ended before it was woken. */
    void (*gone)(void *arg, struct rtapi_req *req);
};

/* Binds 127.0.0.1 on a free port and starts the server thread. hooks, arg
 * and scope (the log prefix) are borrowed for the server's life; arn is
 * copied (the Lambda-Runtime-Invoked-Function-Arn of every event). NULL
 * with err filled on failure. */
struct rtapi_server *rtapi_start(const struct rtapi_hooks *hooks, void *arg,
                                 const char *arn, const char *scope, char *err,
                                 size_t errlen);
unsigned rtapi_port(const struct rtapi_server *srv);
/* From hooks->next only: holds the request until rtapi_wake. */
void rtapi_park(struct rtapi_req *req);
/* Any thread, once per park: the server calls hooks->next for req again,
 * or with drop closes its connection without asking. */
void rtapi_wake(struct rtapi_req *req, bool drop);
/* Stops the thread and closes every connection; every parked request must
 * have been woken first. Accepts NULL. */
void rtapi_stop(struct rtapi_server *srv);

#endif
