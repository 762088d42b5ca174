/* sd_notify.h - the service manager's notification protocol (systemd's
 * sd_notify, Type=notify) without libsystemd: one datagram per message to
 * the unix socket $NOTIFY_SOCKET names. Without it, nothing is sent. */
#ifndef BR_SD_NOTIFY_H
#define BR_SD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Takes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID out of the
 * environment (the processes fnbridge starts must not speak for it), and
 * keeps what they said. Call once, before any thread starts: it changes
 * the environment. A NOTIFY_SOCKET that is neither an absolute path nor
 * an abstract name ('@...') is ignored with a warning. */
void br_sd_init(void);

/* A socket was given. */
bool br_sd_enabled(void);

/* Sends state ("READY=1", "STATUS=...", lines joined by '\n'). Returns 1
 * when sent, 0 when there is no socket, -1 when sending failed (errno);
 * safe from any thread after br_sd_init. */
int br_sd_notify(const char *state);

/* The watchdog interval the manager asked for (WATCHDOG_USEC, when
 * WATCHDOG_PID is unset or ours), or 0. */
int64_t br_sd_watchdog_usec(void);

#endif
