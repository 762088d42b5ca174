/* admin.h - the admin HTTP server (libmicrohttpd, its own thread):
 * GET /metrics, /healthz, /readyz and /status over the running pipelines
 * (README: Operations). Bounded: a few connections, small requests, only
 * GET and HEAD; with admin.token every request must carry it. */
#ifndef BR_ADMIN_H
#define BR_ADMIN_H

#include <stddef.h>

struct br_admin;
struct br_config;
struct br_pipeline;

/* Binds cfg->admin_addr and starts serving pls[0..n) (borrowed: they must
 * outlive br_admin_stop). Returns NULL with a sentence in err when the
 * address cannot be bound. Call only when cfg->admin_enabled. */
struct br_admin *br_admin_start(const struct br_config *cfg,
                                struct br_pipeline *const *pls, size_t n, char *err,
                                size_t errlen);
/* Stops the server and frees it; accepts NULL. */
void br_admin_stop(struct br_admin *admin);

#endif
