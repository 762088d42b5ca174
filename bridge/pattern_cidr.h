/* pattern_cidr.h - IP addresses and CIDR blocks for the `cidr` operator
 * (and for exact values that are IP addresses, which match any spelling
 * of the same address): IPv4 dotted quads and IPv6 in every RFC 4291
 * text form, IPv4-mapped tails included. */
#ifndef BR_PATTERN_CIDR_H
#define BR_PATTERN_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address: 4 bytes used for IPv4, 16 for IPv6, network order. */
struct br_ip {
    bool v6;
    uint8_t a[16];
};

/* True when s[0..n) is one address: a.b.c.d (decimal, no leading zeros)
 * or an IPv6 text form (no zone). */
bool br_ip_parse(const char *s, size_t n, struct br_ip *ip);

/* True when s[0..n) is ADDRESS/BITS (0..32 or 0..128): *net is the
 * address with its host bits cleared. Otherwise *why says what is wrong. */
bool br_cidr_parse(const char *s, size_t n, struct br_ip *net, unsigned *bits,
                   const char **why);

/* True when ip is of net's family and its first bits equal net's. */
bool br_cidr_contains(const struct br_ip *net, unsigned bits, const struct br_ip *ip);

#endif
