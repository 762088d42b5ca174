/* admin.c - the admin server (admin.h): binds the socket itself (so a
 * port in use is a clear error), hands it to libmicrohttpd's internal
 * thread, and routes each request to its renderer: admin_metrics.c,
 * admin_status.c and readiness.c. */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_metrics.h"
#include "admin_status.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "readiness.h"

#define ADMIN_MAX_CONNECTIONS 32
#define ADMIN_MAX_PER_CLIENT 8    /* one client cannot take every slot (the probes) */
#define ADMIN_CONNECTION_TIMEOUT_S 10
#define ADMIN_REQUEST_MEMORY (32 * 1024)   /* request line and headers */
#define ADMIN_MAX_BODY (64 * 1024 * 1024)  /* a response, at most */
#define ADMIN_SCOPE "-/admin"       /* pipeline=- connector=admin */

struct br_admin {
    struct MHD_Daemon *mhd;
    int fd;
    const char *token;                /* borrowed from the config; NULL: none */
    struct br_pipeline *const *pls;
    size_t n;
    int64_t started_ms;               /* monotonic */
};

/* ------------------------------------------------------------ responses */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"fnbridge\"");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
    char *body = strdup(text);
    if (!body)
        return MHD_NO;
    return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result reply_buf(struct MHD_Connection *conn, unsigned status,
                                 const char *type, struct br_buf *b)
{
    size_t len = 0;
    char *body = br_buf_steal(b, &len);
    if (!body)
        body = strdup("");
    return body ? reply(conn, status, type, body, len) : MHD_NO;
}

static enum MHD_Result unauthorized(struct MHD_Connection *conn)
{
    return reply_text(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized: send "
                      "Authorization: Bearer <admin.token>\n");
}

/* ------------------------------------------------------------ endpoints */

static enum MHD_Result serve_metrics(struct br_admin *a, struct MHD_Connection *conn,
                                     bool detail)
{
    (void)detail;
    struct br_buf b;
    br_buf_init(&b, ADMIN_MAX_BODY);
    if (br_metrics_render(&b, a->pls, a->n) < 0) {
        br_buf_free(&b);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics too large\n");
    }
    return reply_buf(conn, MHD_HTTP_OK, BR_METRICS_CONTENT_TYPE, &b);
}

/* Without the token a probe learns only the verdict (its status code),
 * never the reasons: a kubelet cannot send a token from a Secret. */
static enum MHD_Result verdict_only(struct MHD_Connection *conn, struct br_buf *b,
                                    const char *ok_text)
{
    bool ok = b->len == 0;
    br_buf_free(b);
    return ok ? reply_text(conn, MHD_HTTP_OK, ok_text)
              : reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "unavailable (send the admin token to see why)\n");
}

static enum MHD_Result serve_healthz(struct br_admin *a, struct MHD_Connection *conn,
                                     bool detail)
{
    struct br_buf b;
    char why[256];
    br_buf_init(&b, ADMIN_MAX_BODY);
    int64_t now = br_now_ms();
    for (size_t i = 0; i < a->n; i++)
        if (!br_pipeline_alive(a->pls[i], now, why, sizeof(why)))
            br_buf_printf(&b, "%s\n", why);
    if (!detail)
        return verdict_only(conn, &b, "ok\n");
    if (b.len == 0) {
        br_buf_free(&b);
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    }
    return reply_buf(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &b);
}

static enum MHD_Result serve_readyz(struct br_admin *a, struct MHD_Connection *conn,
                                    bool detail)
{
    struct br_buf b;
    struct br_readiness r;
    br_buf_init(&b, ADMIN_MAX_BODY);
    for (size_t i = 0; i < a->n; i++) {
        br_pipeline_ready(a->pls[i], &r);
        for (int k = 0; k < r.n; k++)
            br_buf_printf(&b, "%s: %s\n", a->pls[i]->name_shown, r.reasons[k]);
    }
    if (!detail)
        return verdict_only(conn, &b, "ready\n");
    if (b.len == 0) {
        br_buf_free(&b);
        return reply_text(conn, MHD_HTTP_OK, "ready\n");
    }
    return reply_buf(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &b);
}

static enum MHD_Result serve_status(struct br_admin *a, struct MHD_Connection *conn,
                                    bool detail)
{
    (void)detail;
    double uptime = (double)(br_now_ms() - a->started_ms) / 1000.0;
    char *doc = br_status_render(a->pls, a->n, uptime);
    if (!doc)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(conn, MHD_HTTP_OK, "application/json", doc, strlen(doc));
}

/* ------------------------------------------------------------ requests */

/* Equal in time that does not depend on where they differ. */
static bool same_secret(const char *given, const char *want)
{
    size_t glen = strlen(given), wlen = strlen(want);
    unsigned char diff = glen != wlen;
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)(want[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

static bool authorized(const struct br_admin *a, struct MHD_Connection *conn)
{
    if (!a->token)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    return same_secret(h + 7, a->token);
}

/* The probes answer without the token (their verdict only); the rest
 * need it when one is set. */
static enum MHD_Result route(struct br_admin *a, struct MHD_Connection *conn,
                             const char *url, bool authed)
{
    static const struct {
        const char *path;
        enum MHD_Result (*serve)(struct br_admin *, struct MHD_Connection *, bool);
        bool probe;
    } routes[] = {
        {"/metrics", serve_metrics, false}, {"/healthz", serve_healthz, true},
        {"/readyz", serve_readyz, true}, {"/status", serve_status, false},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (!authed && !routes[i].probe)
            return unauthorized(conn);
        return routes[i].serve(a, conn, authed);
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND,
                      "not found: the admin server has /metrics, /healthz, /readyz "
                      "and /status\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct br_admin *a = cls;
    (void)version;
    (void)upload_data;
    /* Answered on the first call, before any body is read: none is wanted. */
    *upload_data_size = 0;
    *con_cls = a;
    bool authed = authorized(a, conn);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return authed ? reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: "
                                   "GET or HEAD\n")
                      : unauthorized(conn);
    return route(a, conn, url, authed);
}

/* ------------------------------------------------------------ lifecycle */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    br_warn(ADMIN_SCOPE, "libmicrohttpd: %s", line);
}

static int bind_socket(const struct br_config *cfg, char *err, size_t errlen)
{
    const struct br_admin_addr *addr = &cfg->admin_addr;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
        listen(fd, ADMIN_MAX_CONNECTIONS) < 0) {
        snprintf(err, errlen, "%s: admin.listen: cannot listen on %s: %s", cfg->path,
                 cfg->admin_listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

struct br_admin *br_admin_start(const struct br_config *cfg,
                                struct br_pipeline *const *pls, size_t n, char *err,
                                size_t errlen)
{
    struct br_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *a = (struct br_admin){.fd = -1, .token = cfg->admin_token, .pls = pls, .n = n,
                           .started_ms = br_now_ms()};
    if ((a->fd = bind_socket(cfg, err, errlen)) < 0) {
        free(a);
        return NULL;
    }
    /* MHD_USE_AUTO: poll or epoll, not select, which refuses descriptors
     * past FD_SETSIZE (a process with many broker sockets reaches it). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                     (cfg->admin_addr.ipv6 ? MHD_USE_IPv6 : 0);
    a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)a->fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_MAX_CONNECTIONS,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                              (unsigned)ADMIN_MAX_PER_CLIENT,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)ADMIN_CONNECTION_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)ADMIN_REQUEST_MEMORY,
                              MHD_OPTION_END);
    if (!a->mhd) {
        snprintf(err, errlen, "%s: admin.listen: cannot start the admin server on %s",
                 cfg->path, cfg->admin_listen);
        close(a->fd);
        free(a);
        return NULL;
    }
    br_info(ADMIN_SCOPE, "admin server on %s%s", cfg->admin_listen,
            a->token ? " (bearer token required)" : "");
    return a;
}

void br_admin_stop(struct br_admin *admin)
{
    if (!admin)
        return;
    MHD_stop_daemon(admin->mhd);   /* closes the listening socket it was given */
    free(admin);
}
