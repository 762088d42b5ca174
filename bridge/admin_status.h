/* admin_status.h - /status: every pipeline's state as one JSON document
 * (README: Operations, /status). Never a secret: names, URLs and errors
 * are the masked ones the pipeline keeps. Any thread. */
#ifndef BR_ADMIN_STATUS_H
#define BR_ADMIN_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct br_pipeline;

/* The document for pls[0..n), up uptime_seconds; a new string the caller
 * frees, NULL when out of memory. */
char *br_status_render(struct br_pipeline *const *pls, size_t n, double uptime_seconds);

#endif
