/* fuzz_admin_addr.c - fuzzes br_admin_addr_parse (bridge/admin_addr.c),
 * the `admin.listen` address the config loader checks. The input is the
 * value as the YAML loader hands it over: a string (cut at a NUL byte).
 *
 * Names are not looked up: this file's getaddrinfo takes the place of
 * libc's (the executable's symbol wins), reads numbers as libc does
 * (AI_NUMERICHOST) and knows a few names of its own, so a run sends no
 * DNS query and its answers are known.
 *
 * Properties: the parser takes exactly what a model of the grammar takes
 * (HOST:PORT or [IPV6]:PORT, PORT decimal digits from 1 to 65535, HOST a
 * dotted-quad IPv4 address or a known name), and what it takes is bound as
 * written: the family, length, address and port of the socket address,
 * and loopback true exactly for 127.0.0.0/8 and ::1 (every address of a
 * name). A refusal says why. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "bridge/admin_addr.h"
#include "fuzz.h"

/* ------------------------------------------------------- name lookups */

static const struct {
    const char *name;
    const char *addrs[3];
} names[] = {
    {"localhost", {"127.0.0.1", "::1"}},
    {"db.internal", {"10.1.2.3"}},
    {"mixed.test", {"127.0.0.1", "192.0.2.1"}},   /* not every address is loopback */
    {"v6.test", {"::1"}},
    {"lo2.test", {"127.9.8.7", "127.0.0.1"}},
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

static int real_numeric(const char *node, const char *service, const struct addrinfo *hints,
                        struct addrinfo **res)
{
    static gai_fn real;
    if (!real)
        real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    FUZZ_ASSERT(real, "no getaddrinfo in libc");
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

static int known_name(const char *node)
{
    for (size_t i = 0; node && i < N_NAMES; i++)
        if (!strcmp(node, names[i].name))
            return (int)i;
    return -1;
}

/* A known name gives libc's own lists of its addresses, chained
 * (freeaddrinfo frees them node by node); anything else, or a lookup that
 * asks for numbers only, is read by libc as a number or refused. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int k = hints && (hints->ai_flags & AI_NUMERICHOST) ? -1 : known_name(node);
    if (k < 0)
        return real_numeric(node, service, hints, res);
    struct addrinfo **tail = res;
    *res = NULL;
    for (int i = 0; names[k].addrs[i]; i++) {
        int rc = real_numeric(names[k].addrs[i], service, hints, tail);
        FUZZ_ASSERT(rc == 0, "the table's %s: %s", names[k].addrs[i], gai_strerror(rc));
        while (*tail)
            tail = &(*tail)->ai_next;
    }
    return 0;
}

/* --------------------------------------------------------- the model */

struct model {
    bool ok;
    bool v6;
    unsigned char addr[16];           /* 4 bytes for IPv4 */
    bool loopback;
    long port;
};

static bool addr_loopback(bool v6, const unsigned char *a)
{
    static const unsigned char one[16] = {[15] = 1};
    return v6 ? !memcmp(a, one, 16) : a[0] == 127;
}

static bool model_port(const char *s, long *port)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n])
        return false;
    while (*s == '0' && s[1])
        s++;                          /* leading zeros */
    if (strlen(s) > 5)
        return false;
    *port = strtol(s, NULL, 10);
    return *port >= 1 && *port <= 65535;
}

/* A host (brackets taken off) as the parser should take it. */
static void model_host(struct model *m, const char *host, bool bracketed)
{
    if (bracketed) {
        m->v6 = true;
        m->ok = inet_pton(AF_INET6, host, m->addr) == 1;
        m->loopback = m->ok && addr_loopback(true, m->addr);
        return;
    }
    if (inet_pton(AF_INET, host, m->addr) == 1) {
        m->ok = true;
        m->loopback = addr_loopback(false, m->addr);
        return;
    }
    int k = known_name(host);
    if (k < 0)
        return;
    m->ok = true;
    m->loopback = true;
    for (int i = 0; names[k].addrs[i]; i++) {
        unsigned char a[16];
        bool v6 = strchr(names[k].addrs[i], ':') != NULL;
        inet_pton(v6 ? AF_INET6 : AF_INET, names[k].addrs[i], a);
        m->loopback = m->loopback && addr_loopback(v6, a);
        if (i == 0) {                 /* the first address is bound */
            m->v6 = v6;
            memcpy(m->addr, a, v6 ? 16 : 4);
        }
    }
}

static struct model model_of(const char *s)
{
    struct model m = {0};
    char host[256];
    const char *colon, *start = s;
    size_t n;
    bool bracketed = s[0] == '[';
    if (bracketed) {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return m;
        start = s + 1;
        n = (size_t)(close - start);
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return m;
        n = (size_t)(colon - s);
    }
    if (n == 0 || n >= sizeof(host) || !model_port(colon + 1, &m.port))
        return m;
    memcpy(host, start, n);
    host[n] = '\0';
    model_host(&m, host, bracketed);
    return m;
}

/* ------------------------------------------------------------ the run */

static void check_bound(const struct br_admin_addr *a, const struct model *m, const char *s)
{
    int family = a->ss.ss_family;
    FUZZ_ASSERT(family == (m->v6 ? AF_INET6 : AF_INET), "%s: family %d", s, family);
    FUZZ_ASSERT(a->ipv6 == m->v6, "%s: ipv6 %d", s, a->ipv6);
    if (m->v6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
        FUZZ_ASSERT(a->len == sizeof(*in6), "%s: length %u", s, (unsigned)a->len);
        FUZZ_ASSERT(ntohs(in6->sin6_port) == m->port, "%s: port %u", s,
                    ntohs(in6->sin6_port));
        FUZZ_ASSERT(!memcmp(&in6->sin6_addr, m->addr, 16), "%s: another address", s);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        FUZZ_ASSERT(a->len == sizeof(*in), "%s: length %u", s, (unsigned)a->len);
        FUZZ_ASSERT(ntohs(in->sin_port) == m->port, "%s: port %u", s, ntohs(in->sin_port));
        FUZZ_ASSERT(!memcmp(&in->sin_addr, m->addr, 4), "%s: another address", s);
    }
    FUZZ_ASSERT(a->loopback == m->loopback, "%s: loopback %d", s, a->loopback);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s, "out of memory");
    memcpy(s, data, size);
    s[size] = '\0';                   /* a YAML string ends at its first NUL */
    struct model m = model_of(s);
    struct br_admin_addr a;
    char why[512] = "";
    int rc = br_admin_addr_parse(s, &a, why, sizeof(why));
    FUZZ_ASSERT((rc == 0) == m.ok, "'%s': parsed %d, the model says %d (%s)", s, rc, m.ok,
                why);
    if (rc == 0)
        check_bound(&a, &m, s);
    else
        FUZZ_ASSERT(why[0], "'%s' refused without a reason", s);
    free(s);
    return 0;
}
