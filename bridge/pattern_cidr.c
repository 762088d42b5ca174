/* pattern_cidr.c - parsing IPv4 and IPv6 addresses and CIDR blocks
 * (pattern_cidr.h) without the C library's resolver functions, whose
 * leniency (octal quads, short forms) varies by platform. */
#include <string.h>

#include "pattern_cidr.h"

/* One decimal octet at s[*i]: 0..255, no leading zero. */
static bool octet(const char *s, size_t n, size_t *i, uint8_t *out)
{
    unsigned v = 0;
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9' && *i - start < 3)
        v = v * 10 + (unsigned)(s[(*i)++] - '0');
    if (*i == start || v > 255 || (s[start] == '0' && *i - start > 1))
        return false;
    *out = (uint8_t)v;
    return true;
}

static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k && (i >= n || s[i++] != '.'))
            return false;
        if (!octet(s, n, &i, &out[k]))
            return false;
    }
    return i == n;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The 16-bit groups of one side of "::" (s[0..n), possibly empty), an
 * IPv4 tail allowed when tail_ok: into g[0..*ng) (two groups for a tail). */
static bool groups(const char *s, size_t n, bool tail_ok, uint16_t *g, int *ng, int max)
{
    size_t i = 0;
    *ng = 0;
    if (n == 0)
        return true;
    for (;;) {
        size_t start = i;
        unsigned v = 0;
        while (i < n && hexval(s[i]) >= 0 && i - start < 4)
            v = v << 4 | (unsigned)hexval(s[i++]);
        if (tail_ok && i < n && s[i] == '.') {
            uint8_t q[4];
            if (*ng + 2 > max || !parse_v4(s + start, n - start, q))
                return false;
            g[(*ng)++] = (uint16_t)(q[0] << 8 | q[1]);
            g[(*ng)++] = (uint16_t)(q[2] << 8 | q[3]);
            return true;
        }
        if (i == start || *ng == max)
            return false;
        g[(*ng)++] = (uint16_t)v;
        if (i == n)
            return true;
        if (s[i++] != ':' || i == n)
            return false;
    }
}

static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t head[8], tail[8];
    int nh = 0, nt = 0;
    const char *dc = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == ':' && s[i + 1] == ':') {
            dc = s + i;
            break;
        }
    if (!dc) {
        if (!groups(s, n, true, head, &nh, 8) || nh != 8)
            return false;
    } else {
        size_t hl = (size_t)(dc - s);
        if (!groups(s, hl, false, head, &nh, 7) ||
            !groups(dc + 2, n - hl - 2, true, tail, &nt, 7 - nh))
            return false;
    }
    memset(out, 0, 16);
    for (int k = 0; k < nh; k++) {
        out[2 * k] = (uint8_t)(head[k] >> 8);
        out[2 * k + 1] = (uint8_t)head[k];
    }
    for (int k = 0; k < nt; k++) {
        out[16 - 2 * (nt - k)] = (uint8_t)(tail[k] >> 8);
        out[17 - 2 * (nt - k)] = (uint8_t)tail[k];
    }
    return true;
}

bool br_ip_parse(const char *s, size_t n, struct br_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (n > 45)                 /* the longest IPv6 text form */
        return false;
    if (memchr(s, ':', n)) {
        ip->v6 = true;
        return parse_v6(s, n, ip->a);
    }
    return parse_v4(s, n, ip->a);
}

bool br_cidr_parse(const char *s, size_t n, struct br_ip *net, unsigned *bits,
                   const char **why)
{
    const char *slash = memchr(s, '/', n);
    if (!slash) {
        *why = "needs an address, '/' and a prefix length, e.g. \"10.0.0.0/24\"";
        return false;
    }
    if (!br_ip_parse(s, (size_t)(slash - s), net)) {
        *why = "is not an IPv4 or IPv6 address before the '/'";
        return false;
    }
    unsigned v = 0, max = net->v6 ? 128 : 32;
    size_t i = (size_t)(slash - s) + 1, start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
        v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || i != n || v > max) {
        *why = net->v6 ? "needs a prefix length of 0 to 128 after the '/'"
                       : "needs a prefix length of 0 to 32 after the '/'";
        return false;
    }
    *bits = v;
    for (unsigned b = v; b < max; b++)
        net->a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
    return true;
}

bool br_cidr_contains(const struct br_ip *net, unsigned bits, const struct br_ip *ip)
{
    if (net->v6 != ip->v6)
        return false;
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(net->a, ip->a, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xFF00u >> rest);
    return (net->a[full] & mask) == (ip->a[full] & mask);
}
