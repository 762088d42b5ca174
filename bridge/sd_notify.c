/* sd_notify.c - sends notifications to the service manager's socket
 * (sd_notify.h). The socket is opened for each message: they are few
 * (readiness, status changes, a watchdog ping every few seconds), and so
 * nothing stays open for exec'd functions to inherit. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sd_notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len;      /* 0: no socket */
static int64_t watchdog_usec;

/* An abstract name ('@' for the leading NUL) has no terminator and its
 * length is part of the address; a path is NUL-terminated. */
static bool set_address(const char *sock)
{
    size_t len = strlen(sock);
    if ((sock[0] != '/' && sock[0] != '@') || len < 2 ||
        len >= sizeof(notify_addr.sun_path))
        return false;
    notify_addr.sun_family = AF_UNIX;
    memcpy(notify_addr.sun_path, sock, len);
    if (sock[0] == '@') {
        notify_addr.sun_path[0] = '\0';
        notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        notify_addr.sun_path[len] = '\0';
        notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    return true;
}

/* WATCHDOG_PID names the process the interval is for: a child that
 * inherited the variables is not it. */
static int64_t read_watchdog(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec)
        return 0;
    char *end;
    if (pid) {
        long p = strtol(pid, &end, 10);
        if (*end || p != (long)getpid())
            return 0;
    }
    long long v = strtoll(usec, &end, 10);
    return *end || v <= 0 ? 0 : (int64_t)v;
}

void br_sd_init(void)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (sock && *sock && !set_address(sock))
        br_warn(NULL, "NOTIFY_SOCKET '%s' is neither an absolute path nor an abstract "
                "name (@...), or is too long: not notifying the service manager", sock);
    watchdog_usec = notify_addr_len ? read_watchdog() : 0;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

bool br_sd_enabled(void)
{
    return notify_addr_len > 0;
}

int64_t br_sd_watchdog_usec(void)
{
    return watchdog_usec;
}

int br_sd_notify(const char *state)
{
    if (!notify_addr_len)
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                       (const struct sockaddr *)&notify_addr, notify_addr_len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 1;
}
