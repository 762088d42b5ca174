/* admin_addr.c - parsing and resolving `admin.listen` (admin_addr.h). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "admin_addr.h"

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/* PORT: decimal digits only, 1 to 65535 (strtol would take blanks, a
 * sign and a number past the range before them). */
static int parse_port(const char *s, long *port)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > 65535)
            return -1;
    }
    if (v < 1)
        return -1;
    *port = v;
    return 0;
}

/* Splits listen into host (brackets removed) and port; -1 if malformed,
 * -2 for a bad port. */
static int split(const char *listen, char *host, size_t hostlen, long *port)
{
    const char *colon;
    const char *start = listen;
    size_t n;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -1;
        start = listen + 1;
        n = (size_t)(close - start);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
            return -1;        /* none, or an IPv6 address without brackets */
        n = (size_t)(colon - listen);
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, start, n);
    host[n] = '\0';
    return parse_port(colon + 1, port) < 0 ? -2 : 0;
}

/* True when getaddrinfo reads host as a number (inet_aton's forms:
 * "127.1", "0x7f.1", "2130706433"), which inet_pton does not: such a host
 * would be bound as an address nobody wrote. */
static bool numeric_form(const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, "1", &hints, &res);
    if (res)
        freeaddrinfo(res);
    return rc == 0;
}

static int resolve(const char *host, long port, struct br_admin_addr *out, char *why,
                   size_t whylen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%ld", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, whylen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    out->loopback = true;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (!is_loopback(ai->ai_addr))
            out->loopback = false;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    out->ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

int br_admin_addr_parse(const char *listen, struct br_admin_addr *out, char *why,
                        size_t whylen)
{
    char host[256];
    long port = 0;
    memset(out, 0, sizeof(*out));
    int rc = split(listen, host, sizeof(host), &port);
    if (rc == -2) {
        snprintf(why, whylen, "the port must be a number from 1 to 65535");
        return -1;
    }
    if (rc < 0) {
        snprintf(why, whylen, "must be HOST:PORT, as in 127.0.0.1:9464 or "
                 "[::1]:9464");
        return -1;
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcmp(host, "*")) {       /* glibc's getaddrinfo reads it as no host: loopback */
        snprintf(why, whylen, "'*' is not an address: write 0.0.0.0 (every IPv4 "
                 "interface) or [::] (every IPv6 one)");
        return -1;
    }
    if (listen[0] == '[' && inet_pton(AF_INET6, host, &a6) != 1) {
        snprintf(why, whylen, "'%s' in brackets is not an IPv6 address", host);
        return -1;
    }
    if (listen[0] != '[' && inet_pton(AF_INET, host, &a4) != 1 &&
        (strspn(host, "0123456789.") == strlen(host) || numeric_form(host))) {
        snprintf(why, whylen, "'%s' is not an IPv4 address (four decimal numbers, as "
                 "in 127.0.0.1)", host);
        return -1;
    }
    return resolve(host, port, out, why, whylen);
}
