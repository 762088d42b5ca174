/* test_admin_addr.c - `admin.listen` parsing (bridge/admin_addr.c): the
 * addresses it takes, bound as written, and the junk it refuses, each
 * with its reason. No name here needs DNS (localhost is in /etc/hosts). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "bridge/admin_addr.h"
#include "unit.h"

static int port_of(const struct br_admin_addr *a)
{
    return a->ipv6 ? ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port)
                   : ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void test_taken(void)
{
    static const struct {
        const char *listen;
        int port;
        bool loopback, ipv6;
    } good[] = {
        {"127.0.0.1:9464", 9464, true, false},
        {"127.8.9.10:1", 1, true, false},
        {"0.0.0.0:65535", 65535, false, false},
        {"[::1]:9464", 9464, true, true},
        {"[::]:9464", 9464, false, true},
        {"127.0.0.1:09464", 9464, true, false},     /* leading zeros: still decimal */
        {"localhost:9464", 9464, true, false},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct br_admin_addr a;
        char why[512] = "";
        int rc = br_admin_addr_parse(good[i].listen, &a, why, sizeof(why));
        CHECK_MSG(rc == 0, "%s: %s", good[i].listen, why);
        if (rc)
            continue;
        CHECK_MSG(port_of(&a) == good[i].port, "%s: port %d", good[i].listen, port_of(&a));
        CHECK_MSG(a.loopback == good[i].loopback, "%s: loopback %d", good[i].listen,
                  a.loopback);
        if (strncmp(good[i].listen, "localhost", 9))    /* /etc/hosts decides its family */
            CHECK_MSG(a.ipv6 == good[i].ipv6, "%s: ipv6 %d", good[i].listen, a.ipv6);
    }
}

/* Regression: the port was read with strtol, which takes blanks and a
 * sign before the digits ("127.0.0.1: 9464", "+9464", "\n9464" were
 * taken); getaddrinfo's inet_aton forms ("0x7f.0.0.1", like "127.1"
 * already refused) bound an address nobody wrote; "*" was glibc's "no
 * host", loopback, for a user who meant every interface. */
static void test_refused(void)
{
    static const struct {
        const char *listen, *why;
    } bad[] = {
        {"127.0.0.1: 9464", "port must be a number from 1 to 65535"},
        {"127.0.0.1:+9464", "port"},
        {"127.0.0.1:\n9464", "port"},
        {"127.0.0.1:\t9464", "port"},
        {"[::1]: 9464", "port"},
        {"127.0.0.1:9464 ", "port"},
        {"127.0.0.1:9464x", "port"},
        {"127.0.0.1:0x50", "port"},
        {"127.0.0.1:-1", "port"},
        {"127.0.0.1:0", "port"},
        {"127.0.0.1:65536", "port"},
        {"127.0.0.1:99999999999999999999", "port"},
        {"127.0.0.1:", "port"},
        {"[::1]:", "port"},
        {"127.0.0.1", "must be HOST:PORT"},
        {":9464", "must be HOST:PORT"},
        {"", "must be HOST:PORT"},
        {"::1:9464", "must be HOST:PORT"},
        {"[]:9464", "must be HOST:PORT"},
        {"[::1]9464", "must be HOST:PORT"},
        {"[127.0.0.1]:9464", "in brackets is not an IPv6 address"},
        {"127.1:9464", "'127.1' is not an IPv4 address"},
        {"0x7f.0.0.1:9464", "'0x7f.0.0.1' is not an IPv4 address"},
        {"0x7f000001:9464", "is not an IPv4 address"},
        {"2130706433:9464", "is not an IPv4 address"},
        {"*:9464", "write 0.0.0.0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct br_admin_addr a;
        char why[512] = "";
        CHECK_MSG(br_admin_addr_parse(bad[i].listen, &a, why, sizeof(why)) < 0 &&
                  strstr(why, bad[i].why), "'%s' gave '%s', want '%s'", bad[i].listen, why,
                  bad[i].why);
    }
}

int main(void)
{
    test_taken();
    test_refused();
    return UNIT_DONE("admin_addr");
}
