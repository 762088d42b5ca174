/* runtime_api.c - the AWS Lambda Runtime API over HTTP, one libmicrohttpd
 * daemon (one thread, epoll) per worker slot, bound to 127.0.0.1 only.
 *
 * Routes: GET /2018-06-01/runtime/invocation/next (long poll: parked with
 * MHD_suspend_connection until an event is assigned), POST
 * .../invocation/{id}/response, .../invocation/{id}/error and
 * .../init/error. Bodies are bounded; replies are shaped like Lambda's
 * (202 {"status":"OK"}, JSON errors with errorMessage and errorType). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../bridge/buf.h"
#include "../bridge/log.h"
#include "runtime_api.h"

#define PREFIX "/2018-06-01/runtime/"
/* /error bodies are kept for the dead letter: the first MiB is plenty. */
#define MAX_ERROR_BODY ((size_t)1 << 20)
/* /init/error bodies are only logged. */
#define MAX_INIT_ERROR_BODY ((size_t)64 << 10)
/* A worker needs two connections at once at most (a /next and a POST);
 * the rest is room for runtimes that keep idle ones open. */
#define MAX_CONNECTIONS 16

enum route { ROUTE_NEXT, ROUTE_RESPONSE, ROUTE_ERROR, ROUTE_INIT_ERROR };

struct rtapi_server {
    struct MHD_Daemon *daemon;
    const struct rtapi_hooks *hooks;
    void *arg;
    const char *scope;
    char arn[256];
    unsigned port;
    atomic_uint gen;
};

struct rtapi_req {
    struct rtapi_server *srv;
    struct MHD_Connection *conn;
    enum route route;
    unsigned gen;
    bool parked;              /* suspended in /next */
    bool drop;                /* woken to be closed */
    bool too_large;
    char id[64];              /* "" when the path's id was too long */
    struct br_buf body;
};

/* ------------------------------------------------------------ replies */

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
                                  const char *json)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A Lambda-shaped error reply; message and type are plain ASCII here. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                                   const char *type, const char *message)
{
    char json[512];
    snprintf(json, sizeof(json), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}",
             message, type);
    return reply_json(conn, status, json);
}

static enum MHD_Result reply_accepted(struct MHD_Connection *conn)
{
    return reply_json(conn, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

static enum MHD_Result reply_event(struct rtapi_server *srv, struct MHD_Connection *conn,
                                   struct rtapi_event *ev)
{
    char deadline[24];
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        ev->body_len, ev->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(ev->body);
        return MHD_NO;
    }
    snprintf(deadline, sizeof(deadline), "%lld", (long long)ev->deadline_wall_ms);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ev->content_type);
    MHD_add_response_header(resp, "Lambda-Runtime-Aws-Request-Id", ev->request_id);
    MHD_add_response_header(resp, "Lambda-Runtime-Deadline-Ms", deadline);
    MHD_add_response_header(resp, "Lambda-Runtime-Invoked-Function-Arn", srv->arn);
    if (ev->trace_id[0])
        MHD_add_response_header(resp, "Lambda-Runtime-Trace-Id", ev->trace_id);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ------------------------------------------------------------- routing */

/* Which route url names; fills id for the per-invocation ones. False for
 * an unknown path. */
static bool parse_route(const char *url, enum route *route, char *id, size_t idlen)
{
    size_t plen = strlen(PREFIX);
    if (strncmp(url, PREFIX, plen) != 0)
        return false;
    url += plen;
    if (!strcmp(url, "invocation/next")) {
        *route = ROUTE_NEXT;
        return true;
    }
    if (!strcmp(url, "init/error")) {
        *route = ROUTE_INIT_ERROR;
        return true;
    }
    if (strncmp(url, "invocation/", 11) != 0)
        return false;
    url += 11;
    const char *slash = strchr(url, '/');
    if (!slash || slash == url)
        return false;
    if (!strcmp(slash, "/response"))
        *route = ROUTE_RESPONSE;
    else if (!strcmp(slash, "/error"))
        *route = ROUTE_ERROR;
    else
        return false;
    size_t n = (size_t)(slash - url);
    /* An id longer than any we hand out is unknown, not truncated. */
    snprintf(id, idlen, "%.*s", n < idlen ? (int)n : 0, url);
    return true;
}

static size_t body_cap(enum route route)
{
    switch (route) {
    case ROUTE_RESPONSE: return RTAPI_MAX_RESPONSE;
    case ROUTE_ERROR: return MAX_ERROR_BODY;
    case ROUTE_INIT_ERROR: return MAX_INIT_ERROR_BODY;
    default: return 0;
    }
}

static struct rtapi_req *req_new(struct rtapi_server *srv, struct MHD_Connection *conn,
                                 enum route route, const char *id)
{
    struct rtapi_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    req->srv = srv;
    req->conn = conn;
    req->route = route;
    req->gen = info ? (unsigned)(uintptr_t)info->socket_context : 0;
    snprintf(req->id, sizeof(req->id), "%s", id);
    br_buf_init(&req->body, body_cap(route));
    return req;
}

/* Keeps what fits: a response past the cap is marked too large, an error
 * body is cut (its start says what went wrong). */
static void req_take_body(struct rtapi_req *req, const char *data, size_t n)
{
    if (req->route == ROUTE_NEXT || req->too_large)
        return;
    if (br_buf_append(&req->body, data, n) == 0)
        return;
    if (req->route == ROUTE_RESPONSE) {
        req->too_large = true;
        br_buf_free(&req->body);
        return;
    }
    size_t room = req->body.max - req->body.len;
    br_buf_append(&req->body, data, room < n ? room : n);
}

/* ---------------------------------------------------------- the routes */

static enum MHD_Result on_next(struct rtapi_server *srv, struct rtapi_req *req)
{
    struct rtapi_event ev;
    memset(&ev, 0, sizeof(ev));
    switch (srv->hooks->next(srv->arg, req->gen, req, &ev)) {
    case RTAPI_NEXT_SEND:
        return reply_event(srv, req->conn, &ev);
    case RTAPI_NEXT_PARKED:
        return MHD_YES;
    default:
        return MHD_NO;
    }
}

/* The JSON body's string member key, copied into out ("" if none). */
static void body_member(const struct br_buf *body, const char *key, char *out,
                        size_t outlen)
{
    out[0] = '\0';
    if (!body->len)
        return;
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    const char *s = json_string_value(json_object_get(root, key));
    if (s)
        snprintf(out, outlen, "%s", s);
    json_decref(root);
}

static const char *error_type_of(struct rtapi_req *req, char *buf, size_t buflen)
{
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                "Lambda-Runtime-Function-Error-Type");
    if (h && *h)
        return h;
    body_member(&req->body, "errorType", buf, buflen);
    return buf[0] ? buf : "Unhandled";
}

static enum MHD_Result on_result(struct rtapi_server *srv, struct rtapi_req *req)
{
    char type[128];
    struct rtapi_result res = {
        .request_id = req->id,
        .is_error = req->route == ROUTE_ERROR,
        .too_large = req->too_large,
    };
    if (res.is_error)
        res.error_type = error_type_of(req, type, sizeof(type));
    if (!req->too_large) {
        if (!req->body.data && br_buf_reserve(&req->body, 0) < 0)
            return MHD_NO;
        res.body = br_buf_steal(&req->body, &res.body_len);
    }
    bool known = srv->hooks->result(srv->arg, req->gen, &res);
    free(res.body);
    if (!known)
        return reply_error(req->conn, MHD_HTTP_BAD_REQUEST, "InvalidRequestID",
                           "Invalid request ID");
    if (req->too_large)
        return reply_error(req->conn, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge",
                           "Exceeded maximum allowed payload size (6291456 bytes).");
    return reply_accepted(req->conn);
}

static enum MHD_Result on_init_error(struct rtapi_server *srv, struct rtapi_req *req)
{
    char buf[128], type[128], message[512];
    snprintf(type, sizeof(type), "%s", error_type_of(req, buf, sizeof(buf)));
    body_member(&req->body, "errorMessage", message, sizeof(message));
    srv->hooks->init_error(srv->arg, req->gen, type, message);
    return reply_accepted(req->conn);
}

/* True once the runtime closed (or reset) its end of the connection. */
static bool client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char byte;
    if (!info)
        return true;
    ssize_t r = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* First call for a request: route it, answer 404/405 at once. */
static enum MHD_Result on_new(struct rtapi_server *srv, struct MHD_Connection *conn,
                              const char *url, const char *method, void **con_cls)
{
    enum route route;
    char id[64] = "";
    if (!parse_route(url, &route, id, sizeof(id)))
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "NotFound", "Unknown path");
    const char *want = route == ROUTE_NEXT ? MHD_HTTP_METHOD_GET : MHD_HTTP_METHOD_POST;
    if (strcmp(method, want) != 0)
        return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                           route == ROUTE_NEXT ? "use GET" : "use POST");
    struct rtapi_req *req = req_new(srv, conn, route, id);
    if (!req)
        return MHD_NO;
    *con_cls = req;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct rtapi_server *srv = cls;
    struct rtapi_req *req = *con_cls;
    if (!req)
        return on_new(srv, conn, url, method, con_cls);
    if (req->parked) {
        req->parked = false;
        /* A worker that died while parked is not handed the event: it
         * stays with the slot, unsent, and waits for the next worker. */
        return req->drop || client_gone(conn) ? MHD_NO : on_next(srv, req);
    }
    if (*upload_data_size) {
        req_take_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (req->route) {
    case ROUTE_NEXT: return on_next(srv, req);
    case ROUTE_INIT_ERROR: return on_init_error(srv, req);
    default: return on_result(srv, req);
    }
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode why)
{
    (void)conn;
    (void)why;
    struct rtapi_server *srv = cls;
    struct rtapi_req *req = *con_cls;
    if (!req)
        return;
    if (req->parked)            /* only at daemon stop: the hook forgets it */
        srv->hooks->gone(srv->arg, req);
    br_buf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

/* Connections carry the generation of the worker that could have opened
 * them. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    struct rtapi_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = (void *)(uintptr_t)atomic_load(&srv->gen);
}

/* ------------------------------------------------------------ the server */

void rtapi_park(struct rtapi_req *req)
{
    req->parked = true;
    req->drop = false;
    MHD_suspend_connection(req->conn);
}

void rtapi_wake(struct rtapi_req *req, bool drop)
{
    req->drop = drop;
    MHD_resume_connection(req->conn);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    struct rtapi_server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    br_debug(srv->scope, "runtime API: %s", line);
}

static unsigned bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&sin, &len) < 0)
        return 0;
    return ntohs(sin.sin_port);
}

struct rtapi_server *rtapi_start(const struct rtapi_hooks *hooks, void *arg,
                                 const char *arn, const char *scope, char *err,
                                 size_t errlen)
{
    struct rtapi_server *srv = calloc(1, sizeof(*srv));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->hooks = hooks;
    srv->arg = arg;
    srv->scope = scope;
    snprintf(srv->arn, sizeof(srv->arn), "%s", arn);
    srv->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            MHD_USE_TURBO,
        0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, 0u,
        MHD_OPTION_END);
    if (srv->daemon)
        srv->port = bound_port(srv->daemon);
    if (!srv->port) {
        snprintf(err, errlen, "cannot serve the Lambda Runtime API on 127.0.0.1: %s",
                 srv->daemon ? "no port" : strerror(errno ? errno : EADDRNOTAVAIL));
        rtapi_stop(srv);
        return NULL;
    }
    return srv;
}

unsigned rtapi_port(const struct rtapi_server *srv)
{
    return srv->port;
}

void rtapi_set_gen(struct rtapi_server *srv, unsigned gen)
{
    atomic_store(&srv->gen, gen);
}

void rtapi_stop(struct rtapi_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
