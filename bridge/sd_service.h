/* sd_service.h - what fnbridge tells its service manager while it runs
 * (systemd's Type=notify, README: Deploying): READY=1 once the source of
 * every pipeline has reported connected, STATUS= what it still waits
 * for, STOPPING=1 when shutdown begins, and WATCHDOG=1 while the threads
 * of every pipeline turn. Without $NOTIFY_SOCKET none of this exists:
 * br_sd_service_start returns NULL and every call takes NULL. */
#ifndef BR_SD_SERVICE_H
#define BR_SD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"

struct br_sd_service;

/* Borrows pls[0..n) until br_sd_service_stop; starts the watchdog thread
 * when the manager asked for one. NULL when there is no socket (or no
 * memory: then the manager is simply not told). br_sd_init first. */
struct br_sd_service *br_sd_service_start(struct br_pipeline **pls, size_t n);

/* Looks at the sources again and says what changed: READY=1 the first
 * time all are connected, a new STATUS= whenever the list of those not
 * connected changes. Call it every few hundred milliseconds from the
 * thread that started the service; does nothing once stopping. */
void br_sd_service_tick(struct br_sd_service *svc);

/* Shutdown began, with up to timeout_ms to finish; said once. */
void br_sd_service_stopping(struct br_sd_service *svc, int64_t timeout_ms);

/* Stops the watchdog thread and frees svc (NULL is fine). */
void br_sd_service_stop(struct br_sd_service *svc);

#endif
