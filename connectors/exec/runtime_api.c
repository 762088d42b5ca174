/* runtime_api.c - the AWS Lambda Runtime API over HTTP, one libmicrohttpd
 * daemon (one thread, epoll) per worker slot, bound to 127.0.0.1 only.
 *
 * Routes: GET /2018-06-01/runtime/invocation/next (long poll: parked with
 * MHD_suspend_connection until an event is assigned), POST
 * .../invocation/{id}/response, .../invocation/{id}/error and
 * .../init/error. Bodies are bounded; replies are shaped like Lambda's
 * (202 {"status":"OK"}, JSON errors with errorMessage and errorType).
 *
 * Who may connect: the worker process fnbridge started in the slot and
 * its descendants, nothing else. Any local process can reach 127.0.0.1,
 * and one that could GET /next or POST a /response would read events and
 * have fnbridge commit answers the function never gave. Each connection
 * is judged once, as it is accepted (on_accept), never per request: the
 * client's socket, which the kernel finds from the connection's addresses
 * (peer_proc.c), must be owned by the worker's uid and be open in the
 * worker or one of its descendants. A secret in AWS_LAMBDA_RUNTIME_API
 * (host:port/secret) was the other way, but AWS's own clients split the
 * variable at ':' for some calls and drop the path (aws-lambda-ric's
 * init/error and streaming responses take the port with parseInt;
 * awslambdaric hands it to http.client, which finds no numeric port), so
 * unchanged runtimes would break; nor would it stop anyone holding
 * connections. The uid test comes first so that another user's refusal
 * costs no /proc scan; the tree test also keeps out processes of the same
 * user that are not the worker's (no boundary against a user who can
 * ptrace the worker, but no stray or stale client gets an event).
 * Descendants that switched to another uid are refused too.
 *
 * Refused connections get a 403 on their first request and are closed; at
 * most MAX_REFUSED_CONNS are open at once (more are closed as they are
 * accepted), each with REFUSED_TIMEOUT_S to send its request. A refusal is
 * logged once per peer (uid and reason), so a hostile loop cannot flood
 * the log. The worker may hold MAX_WORKER_CONNS connections; one not
 * parked in /next closes after IDLE_TIMEOUT_S without traffic. The two
 * counts are apart, so connections others hold cannot starve a cold
 * start. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bridge/buf.h"
#include "bridge/log.h"
#include "peer_proc.h"
#include "runtime_api.h"

#define PREFIX "/2018-06-01/runtime/"
/* /error bodies are kept for the dead letter: the first MiB is plenty. */
#define MAX_ERROR_BODY ((size_t)1 << 20)
/* /init/error bodies are only logged. */
#define MAX_INIT_ERROR_BODY ((size_t)64 << 10)
/* A worker needs two connections at once (a /next and a POST), but AWS's
 * Node.js client keeps one per HTTP stack it uses and, on a busy machine,
 * opens new ones before the kernel has told us the old ones closed: with 4
 * it was cut off mid-run. The cap only bounds a runtime gone wrong; others'
 * connections are counted apart. */
#define MAX_WORKER_CONNS 16
/* Refused connections open at once, waiting for their 403. */
#define MAX_REFUSED_CONNS 4
#define REFUSED_TIMEOUT_S 2u
/* A connection not parked in /next (suspended ones have no timeout) and
 * idle this long is closed; runtimes open a new one when they need it. */
#define IDLE_TIMEOUT_S 30u
/* MHD's own cap, never reached by the two above alone: connections of
 * earlier workers (a descendant left behind) also count in it until they
 * time out. */
#define MHD_CONNS (4 * (MAX_WORKER_CONNS + MAX_REFUSED_CONNS))
/* Distinct refused peers logged per slot; more are logged once in all. */
#define MAX_LOGGED_PEERS 16

/* Why a connection is refused. */
enum refusal {
    REFUSE_NONE,                /* the worker's */
    REFUSE_UNKNOWN,             /* its socket was not found */
    REFUSE_NO_WORKER,           /* no worker runs in the slot */
    REFUSE_OTHER_USER,          /* another uid than the worker's */
    REFUSE_NOT_TREE,            /* not the worker or a descendant */
};

/* What on_accept found, stamped on the connection (its socket context). */
struct conn_ctx {
    unsigned gen;               /* the worker's generation then */
    enum refusal why;
    uid_t uid;                  /* the client socket's owner; -1 if unknown */
    uid_t worker_uid;
    pid_t worker_pid;
    int fd;
    int seat;                   /* its index in the server's seats, or -1 */
};

struct logged_peer {
    uid_t uid;
    enum refusal why;
};

enum route { ROUTE_NEXT, ROUTE_RESPONSE, ROUTE_ERROR, ROUTE_INIT_ERROR };

struct rtapi_server {
    struct MHD_Daemon *daemon;
    const struct rtapi_hooks *hooks;
    void *arg;
    const char *scope;
    char arn[256];
    unsigned port;
    /* Only the server thread touches what follows. */
    struct conn_ctx pending;    /* from on_accept to on_connection */
    bool have_pending;
    /* The current worker's open connections; a new worker starts with
     * every seat free (its predecessor's connections die with it). */
    struct conn_ctx *seats[MAX_WORKER_CONNS];
    unsigned seats_gen;
    bool warned_seats;          /* for seats_gen */
    unsigned refused_conns;
    pid_t last_holder;          /* the worker's process that connected last */
    pid_t uid_of;               /* the worker whose uid worker_uid is */
    uid_t worker_uid;
    struct logged_peer logged[MAX_LOGGED_PEERS];
    size_t n_logged;
    bool logged_more;
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

/* What on_accept found about conn; NULL if it was not stamped. */
static const struct conn_ctx *conn_ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

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

static const char *refusal_text(enum refusal why)
{
    switch (why) {
    case REFUSE_NO_WORKER: return "no worker runs on this port";
    case REFUSE_OTHER_USER: return "the connection is from another user than the worker's";
    case REFUSE_NOT_TREE:
        return "the connection is not from the worker process or one of its descendants";
    default: return "the connection's socket could not be identified";
    }
}

/* 403, then the connection is closed. ctx is NULL if it could not be
 * stamped. */
static enum MHD_Result reply_forbidden(struct MHD_Connection *conn, const struct conn_ctx *ctx)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"errorMessage\":\"This Lambda Runtime API serves only the worker process "
             "fnbridge started on it (and its descendants): %s.\",\"errorType\":\"Forbidden\"}",
             refusal_text(ctx ? ctx->why : REFUSE_UNKNOWN));
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_FORBIDDEN, resp);
    MHD_destroy_response(resp);
    return ret;
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
    const struct conn_ctx *ctx = conn_ctx_of(conn);
    req->srv = srv;
    req->conn = conn;
    req->route = route;
    req->gen = ctx ? ctx->gen : 0;
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

/* True once the client closed (or reset) its end of the connection. */
static bool fd_gone(int fd)
{
    char byte;
    ssize_t r = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static bool client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return !info || fd_gone(info->connect_fd);
}

/* First call for a request: route it, answer 404/405 at once. */
static enum MHD_Result on_new(struct rtapi_server *srv, struct MHD_Connection *conn,
                              const char *url, const char *method, void **con_cls)
{
    enum route route;
    char id[64] = "";
    const struct conn_ctx *ctx = conn_ctx_of(conn);
    if (!ctx || ctx->why != REFUSE_NONE)
        return reply_forbidden(conn, ctx);
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

/* ------------------------------------------------------ who connects */

/* The worker's uid, read once per worker, and again when a peer's differs
 * (the worker may have switched since). */
static uid_t worker_uid(struct rtapi_server *srv, pid_t pid, uid_t peer_uid)
{
    if (srv->uid_of != pid || srv->worker_uid != peer_uid) {
        srv->worker_uid = peer_proc_uid(pid);
        srv->uid_of = pid;
    }
    return srv->worker_uid;
}

/* Whose the connection from client is (see the top of the file). Server
 * thread. */
static void judge(struct rtapi_server *srv, const struct sockaddr *client, socklen_t len,
                  struct conn_ctx *ctx)
{
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
    struct sockaddr_in from;
    struct peer_sock peer;
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(ctx, 0, sizeof(*ctx));
    ctx->uid = ctx->worker_uid = (uid_t)-1;
    ctx->worker_pid = srv->hooks->owner(srv->arg, &ctx->gen);
    ctx->why = REFUSE_UNKNOWN;
    if (client->sa_family != AF_INET || len < (socklen_t)sizeof(from))
        return;
    memcpy(&from, client, sizeof(from));
    if (peer_sock_find(&from, &server, &peer) < 0)
        return;
    ctx->uid = peer.uid;
    ctx->why = REFUSE_NO_WORKER;
    if (!ctx->worker_pid)
        return;
    ctx->worker_uid = worker_uid(srv, ctx->worker_pid, peer.uid);
    ctx->why = REFUSE_OTHER_USER;
    if (peer.uid != ctx->worker_uid)
        return;
    ctx->why = REFUSE_NOT_TREE;
    pid_t holder = peer_tree_holder(ctx->worker_pid, peer.inode, srv->last_holder);
    if (!holder)
        return;
    srv->last_holder = holder;
    ctx->why = REFUSE_NONE;
}

static void log_refusal(struct rtapi_server *srv, const struct conn_ctx *ctx)
{
    char who[32], detail[96] = "";
    for (size_t i = 0; i < srv->n_logged; i++)
        if (srv->logged[i].uid == ctx->uid && srv->logged[i].why == ctx->why)
            return;
    if (srv->n_logged == MAX_LOGGED_PEERS) {
        if (!srv->logged_more)
            br_warn(srv->scope, "runtime API 127.0.0.1:%u: refusing connections from more "
                    "peers; those are not logged", srv->port);
        srv->logged_more = true;
        return;
    }
    srv->logged[srv->n_logged++] = (struct logged_peer){ctx->uid, ctx->why};
    if (ctx->uid == (uid_t)-1)
        snprintf(who, sizeof(who), "an unknown peer");
    else
        snprintf(who, sizeof(who), "uid %u", (unsigned)ctx->uid);
    if (ctx->why == REFUSE_OTHER_USER)
        snprintf(detail, sizeof(detail), " (worker pid %d runs as uid %u)",
                 (int)ctx->worker_pid, (unsigned)ctx->worker_uid);
    else if (ctx->why == REFUSE_NOT_TREE)
        snprintf(detail, sizeof(detail), " (worker pid %d)", (int)ctx->worker_pid);
    br_warn(srv->scope, "runtime API 127.0.0.1:%u: refused a connection from %s: %s%s; "
            "further refusals of this peer are not logged", srv->port, who,
            refusal_text(ctx->why), detail);
}

static void unseat(struct rtapi_server *srv, int i)
{
    srv->seats[i]->seat = -1;
    srv->seats[i] = NULL;
}

/* A free seat for a connection of worker generation gen, or -1. Seats
 * whose client has closed are freed first: MHD may not have seen that
 * yet when the runtime, having closed one connection, opens the next. */
static int free_seat(struct rtapi_server *srv, unsigned gen)
{
    if (srv->seats_gen != gen) {
        for (int i = 0; i < MAX_WORKER_CONNS; i++)
            if (srv->seats[i])
                unseat(srv, i);
        srv->seats_gen = gen;
        srv->warned_seats = false;
    }
    for (int i = 0; i < MAX_WORKER_CONNS; i++)
        if (!srv->seats[i])
            return i;
    for (int i = 0; i < MAX_WORKER_CONNS; i++) {
        if (fd_gone(srv->seats[i]->fd)) {
            unseat(srv, i);
            return i;
        }
    }
    return -1;
}

/* The accept policy: judges the connection and applies the two caps. A
 * connection refused here is closed without a reply. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct rtapi_server *srv = cls;
    struct conn_ctx ctx;
    judge(srv, addr, len, &ctx);
    srv->have_pending = false;
    if (ctx.why != REFUSE_NONE) {
        log_refusal(srv, &ctx);
        if (srv->refused_conns >= MAX_REFUSED_CONNS)
            return MHD_NO;
    } else if (free_seat(srv, ctx.gen) < 0) {
        if (!srv->warned_seats)
            br_warn(srv->scope, "runtime API 127.0.0.1:%u: worker pid %d opened more "
                    "than %d connections at once; closing the extra ones", srv->port,
                    (int)ctx.worker_pid, MAX_WORKER_CONNS);
        srv->warned_seats = true;
        return MHD_NO;
    }
    srv->pending = ctx;
    srv->have_pending = true;
    return MHD_YES;
}

/* Stamps the connection with what on_accept found, which MHD calls right
 * before this on the same thread; counts it until it closes. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rtapi_server *srv = cls;
    struct conn_ctx *ctx = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        ctx = srv->have_pending ? malloc(sizeof(*ctx)) : NULL;
        srv->have_pending = false;
        *socket_context = ctx;
        if (!ctx)
            return;                 /* refused at its request, uncounted */
        *ctx = srv->pending;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ctx->fd = info ? info->connect_fd : -1;
        ctx->seat = -1;
        if (ctx->why != REFUSE_NONE) {
            srv->refused_conns++;
            MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, REFUSED_TIMEOUT_S);
        } else {
            ctx->seat = free_seat(srv, ctx->gen);   /* on_accept found one */
            if (ctx->seat >= 0)
                srv->seats[ctx->seat] = ctx;
        }
        return;
    }
    if (!ctx)
        return;
    if (ctx->why != REFUSE_NONE)
        srv->refused_conns--;
    else if (ctx->seat >= 0)
        srv->seats[ctx->seat] = NULL;
    free(ctx);
    *socket_context = NULL;
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
        0, on_accept, srv, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHD_CONNS,
        MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
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

void rtapi_stop(struct rtapi_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
