/* pattern_num.c - JSON number text to the six-decimal fixed point of
 * numeric matching (pattern_num.h): the digits are read as a decimal
 * string, shifted by the exponent, and cut after the sixth decimal. */
#include "pattern_num.h"

/* Exponents past this only matter as "huge" or "tiny". */
#define EXP_CLAMP 100000

/* The digits of a number: its integer part then its fraction, as one
 * string with the decimal point after `point` digits. */
struct digits {
    const char *ip, *fp;
    long ni, nf;
    long point;
};

static int digit_at(const struct digits *d, long k)
{
    if (k < 0 || k >= d->ni + d->nf)
        return 0;
    return (k < d->ni ? d->ip[k] : d->fp[k - d->ni]) - '0';
}

static long run(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    return (long)(*i - start);
}

/* Splits s into sign, digits and exponent; false when s is not a number
 * by JSON's grammar. */
static bool split(const char *s, size_t n, bool *neg, struct digits *d)
{
    size_t i = 0;
    long exp = 0;
    *neg = n > 0 && s[0] == '-';
    i = *neg;
    d->ip = s + i;
    d->ni = run(s, n, &i);
    if (d->ni == 0 || (d->ni > 1 && d->ip[0] == '0'))
        return false;
    d->fp = s + i;
    d->nf = 0;
    if (i < n && s[i] == '.') {
        i++;
        d->fp = s + i;
        if ((d->nf = run(s, n, &i)) == 0)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = ++i < n && s[i] == '-';
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e0 = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < EXP_CLAMP)
                exp = exp * 10 + (s[i] - '0');
        if (i == e0)
            return false;
        exp = eneg ? -exp : exp;
    }
    d->point = d->ni + exp;
    return i == n;
}

bool br_pn_parse(const char *s, size_t n, struct br_pn *v)
{
    bool neg;
    struct digits d;
    if (!split(s, n, &neg, &d))
        return false;
    long total = d.ni + d.nf, z = 0;
    while (z < total && digit_at(&d, z) == 0)
        z++;
    v->micro = 0;
    v->more = false;
    if (z == total)
        return true;                /* zero, however spelt */
    /* Drop the leading zeros: the first digit is now nonzero, and the
     * value is at least 10^(point - 1). */
    long point = d.point - z;
    if (point > 10)
        return false;
    int64_t micro = 0;
    for (long k = 0; k < point + 6; k++)
        micro = micro * 10 + digit_at(&d, z + k);
    for (long k = point + 6 > 0 ? point + 6 : 0; z + k < total && !v->more; k++)
        v->more = digit_at(&d, z + k) != 0;
    if (micro > BR_PN_LIMIT || (micro == BR_PN_LIMIT && v->more))
        return false;
    v->micro = neg ? (v->more ? -micro - 1 : -micro) : micro;
    return true;
}

int br_pn_cmp(const struct br_pn *x, int64_t b)
{
    if (x->micro < b)
        return -1;
    if (x->micro == b && !x->more)
        return 0;
    return 1;
}
