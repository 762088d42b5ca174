/* admin_addr.h - the admin server's listen address (`admin.listen`):
 * parsed and resolved when the config is loaded, so `fnbridge check`
 * refuses a bad one and knows whether it is loopback (README: Operations). */
#ifndef BR_ADMIN_ADDR_H
#define BR_ADMIN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct br_admin_addr {
    struct sockaddr_storage ss;       /* what the server binds */
    socklen_t len;
    bool loopback;                    /* 127.0.0.0/8 or ::1 */
    bool ipv6;
};

/* Parses "HOST:PORT", where HOST is an IPv4 address, an IPv6 address in
 * brackets ("[::1]:9464") or a name, resolved now (its first address is
 * bound; it counts as loopback only if every address it has is). PORT is
 * 1..65535. Returns 0, or -1 with a sentence in why. */
int br_admin_addr_parse(const char *listen, struct br_admin_addr *out, char *why,
                        size_t whylen);

#endif
