/* secrets.c - the registry of secret texts and the mask every printed text
 * goes through (secrets.h). The registry is small (one entry per
 * interpolation and secret key), hashed so that many cost little. */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secrets.h"

/* Configs may hold tens of thousands of interpolations, often alike
 * ("value0001", "value0002"), so neither registering nor masking may scan
 * the registry: secrets are kept in a hash table on (length, polynomial
 * hash of the text), and a text is masked by hashing its substrings of each
 * length a secret has (Rabin-Karp), longest first, from the text's prefix
 * hashes: O(text x distinct lengths), whatever the secrets look like. */
struct secret {
    char *value;
    size_t len;
    char *shown;
    uint64_t hash;
};

#define HASH_MUL 0x100000001b3ULL  /* odd: the polynomial's base, mod 2^64 */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct secret *secrets;     /* in the order registered */
static size_t n_secrets, cap_secrets;
static uint32_t *slots;            /* index + 1 into secrets, or 0 */
static size_t n_slots;             /* a power of two, or 0 */
static size_t *lengths;            /* the distinct lengths, longest first */
static uint64_t *powers;           /* HASH_MUL^lengths[i] */
static size_t n_lengths;
static bool oom_reported;

/* ------------------------------------------------------------ registry */

static uint64_t text_hash(const char *p, size_t len)
{
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = h * HASH_MUL + (unsigned char)p[i] + 1;
    return h;
}

static size_t slot_of(uint64_t hash, size_t len)
{
    uint64_t h = (hash ^ len) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (n_slots - 1);
}

/* The secret with this text, or NULL. */
static const struct secret *lookup(const char *value, size_t len, uint64_t hash)
{
    if (!n_slots)
        return NULL;
    for (size_t at = slot_of(hash, len); slots[at]; at = (at + 1) & (n_slots - 1)) {
        const struct secret *s = &secrets[slots[at] - 1];
        if (s->hash == hash && s->len == len && memcmp(s->value, value, len) == 0)
            return s;
    }
    return NULL;
}

static void place(uint32_t i)
{
    size_t at = slot_of(secrets[i].hash, secrets[i].len);
    while (slots[at])
        at = (at + 1) & (n_slots - 1);
    slots[at] = i + 1;
}

static int grow_slots(void)
{
    size_t n = n_slots ? n_slots * 2 : 64;
    uint32_t *v = calloc(n, sizeof(*v));
    if (!v)
        return -1;
    free(slots);
    slots = v;
    n_slots = n;
    for (size_t i = 0; i < n_secrets; i++)
        place((uint32_t)i);
    return 0;
}

/* Records len among the distinct lengths (kept longest first). */
static int add_length(size_t len)
{
    size_t at = 0;
    while (at < n_lengths && lengths[at] > len)
        at++;
    if (at < n_lengths && lengths[at] == len)
        return 0;
    size_t *l = realloc(lengths, (n_lengths + 1) * sizeof(*l));
    if (l)
        lengths = l;
    uint64_t *p = realloc(powers, (n_lengths + 1) * sizeof(*p));
    if (p)
        powers = p;
    if (!l || !p)
        return -1;
    memmove(&lengths[at + 1], &lengths[at], (n_lengths - at) * sizeof(*lengths));
    memmove(&powers[at + 1], &powers[at], (n_lengths - at) * sizeof(*powers));
    uint64_t pw = 1;
    for (size_t i = 0; i < len; i++)
        pw *= HASH_MUL;
    lengths[at] = len;
    powers[at] = pw;
    n_lengths++;
    return 0;
}

/* Under the lock. */
static int insert(const char *value, size_t len, const char *shown)
{
    uint64_t hash = text_hash(value, len);
    if (lookup(value, len, hash))
        return 0;
    if (n_secrets >= UINT32_MAX - 1)
        return -1;
    if (n_secrets == cap_secrets) {
        size_t cap = cap_secrets ? cap_secrets * 2 : 16;
        struct secret *v = realloc(secrets, cap * sizeof(*v));
        if (!v)
            return -1;
        secrets = v;
        cap_secrets = cap;
    }
    if ((n_secrets + 1) * 2 > n_slots && grow_slots() < 0)
        return -1;
    if (add_length(len) < 0)
        return -1;
    /* A copy of all len bytes: the text may hold a NUL (a ${file:} of
     * binary content), where strndup would stop short of len. */
    struct secret s = {malloc(len + 1), len, strdup(shown ? shown : "***"), hash};
    if (s.value) {
        memcpy(s.value, value, len);
        s.value[len] = '\0';
    }
    if (!s.value || !s.shown) {
        free(s.value);
        free(s.shown);
        return -1;
    }
    secrets[n_secrets] = s;
    place((uint32_t)n_secrets);
    n_secrets++;
    return 0;
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* The value as a URL carries it (an ARN in Lambda's path, a password in
 * userinfo), when that differs; NULL otherwise or when out of memory. */
static char *pct_encoded(const char *value, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += unreserved((unsigned char)value[i]) ? 1 : 3;
    if (n == len)
        return NULL;
    char *out = malloc(n + 1);
    for (size_t i = 0, at = 0; out && i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (unreserved(c))
            out[at++] = (char)c;
        else
            at += (size_t)snprintf(out + at, 4, "%%%02X", c);
    }
    if (out)
        out[n] = '\0';
    return out;
}

void br_secrets_add(const char *value, size_t len, const char *shown)
{
    if (!value || len == 0)
        return;
    char *encoded = pct_encoded(value, len);
    pthread_mutex_lock(&lock);
    int rc = insert(value, len, shown);
    if (rc == 0 && encoded)
        rc = insert(encoded, strlen(encoded), shown);
    /* A list (Kafka's brokers) hides each item: libraries name them one by one */
    for (const char *item = value, *end = value + len; rc == 0 && memchr(value, ',', len) &&
                                                       item < end;) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        size_t n = (size_t)((comma ? comma : end) - item);
        if (n >= BR_SECRET_MIN_LEN)
            rc = insert(item, n, shown);
        item += n + 1;
    }
    bool report = rc < 0 && !oom_reported;
    oom_reported = oom_reported || rc < 0;
    pthread_mutex_unlock(&lock);
    free(encoded);
    if (report)
        fputs("fnbridge: out of memory remembering a secret; it may be printed\n", stderr);
}

/* `${env:NAME:-default}` is shown as `${env:NAME}`: the default is text
 * of the config, and may itself be the secret. */
void br_secrets_add_expansion(const char *written, size_t written_len, const char *value,
                              size_t value_len)
{
    char shown[300];
    size_t keep = written_len;
    if (written_len > 6 && memcmp(written, "${env:", 6) == 0) {
        const char *dash = NULL;
        for (size_t i = 6; i + 1 < written_len && !dash; i++)
            if (written[i] == ':' && written[i + 1] == '-')
                dash = written + i;
        if (dash)
            keep = (size_t)(dash - written);
    }
    if (keep > 200)
        snprintf(shown, sizeof(shown), "%.200s...}", written);
    else
        snprintf(shown, sizeof(shown), "%.*s%s", (int)keep, written,
                 keep < written_len ? "}" : "");
    br_secrets_add(value, value_len, shown);
}

bool br_secret_key_name(const char *key)
{
    static const char *const words[] = {
        "password", "passwd", "secret", "token", "authorization", "cookie",
        "api-key", "api_key", "apikey", "credential", "private", NULL,
    };
    size_t n = strlen(key);
    /* password_file names a file; the connector registers what it reads */
    if (n >= 5 && strcasecmp(key + n - 5, "_file") == 0)
        return false;
    for (int i = 0; words[i]; i++)
        if (strcasestr(key, words[i]))
            return true;
    return n >= 7 && strcasecmp(key + n - 7, "key.pem") == 0;
}

void br_secrets_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_secrets; i++) {
        free(secrets[i].value);
        free(secrets[i].shown);
    }
    free(secrets);
    free(slots);
    free(lengths);
    free(powers);
    secrets = NULL;
    slots = NULL;
    lengths = NULL;
    powers = NULL;
    n_secrets = cap_secrets = n_slots = n_lengths = 0;
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------ masking */

struct out {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (o->oom)
        return;
    if (o->n + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 128;
        while (cap < o->n + len + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
    o->p[o->n] = '\0';
}

/* The longest registered secret at text[at], or NULL; prefix[i] is the
 * hash of text[0..i). Under the lock. */
static const struct secret *secret_at(const char *text, size_t at, size_t len,
                                      const uint64_t *prefix)
{
    for (size_t i = 0; i < n_lengths; i++) {
        size_t n = lengths[i];
        if (n > len - at)
            continue;
        /* A short secret only as the whole text (it would mask ordinary words) */
        if (n < BR_SECRET_MIN_LEN && n != len)
            continue;
        uint64_t hash = prefix[at + n] - prefix[at] * powers[i];
        const struct secret *s = lookup(text + at, n, hash);
        if (s)
            return s;
    }
    return NULL;
}

static void replace_secrets(const char *text, struct out *o)
{
    size_t len = strlen(text), at = 0;
    uint64_t on_stack[513];
    uint64_t *prefix = len < 513 ? on_stack : malloc((len + 1) * sizeof(*prefix));
    if (!prefix) {
        o->oom = true;
        return;
    }
    prefix[0] = 0;
    for (size_t i = 0; i < len; i++)
        prefix[i + 1] = prefix[i] * HASH_MUL + (unsigned char)text[i] + 1;
    pthread_mutex_lock(&lock);
    while (at < len) {
        const struct secret *s = n_secrets ? secret_at(text, at, len, prefix) : NULL;
        if (s) {
            put(o, s->shown, strlen(s->shown));
            at += s->len;
        } else {
            put(o, text + at, 1);
            at++;
        }
    }
    pthread_mutex_unlock(&lock);
    if (prefix != on_stack)
        free(prefix);
    put(o, "", 0);
}

/* Where a URL in free text ends: white space, quotes and brackets. */
static bool url_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || strchr("\"'<>()[]`", c);
}

/* Copies text, replacing each URL's userinfo and query with ***. */
static void mask_urls(const char *text, struct out *o)
{
    const char *p = text;
    const char *sep;
    while ((sep = strstr(p, "://"))) {
        const char *host = sep + 3;
        const char *end = host;
        while (!url_end(*end))
            end++;
        const char *auth_end = host + strcspn(host, "/?#");
        if (auth_end > end)
            auth_end = end;
        const char *at = NULL;
        for (const char *c = host; c < auth_end; c++)
            if (*c == '@')
                at = c;
        put(o, p, (size_t)(host - p));
        if (at)
            put(o, "***", 3);
        const char *rest = at ? at : host;
        const char *query = memchr(rest, '?', (size_t)(end - rest));
        if (query) {
            const char *frag = memchr(query, '#', (size_t)(end - query));
            put(o, rest, (size_t)(query - rest) + 1);
            put(o, "***", 3);
            if (frag)
                put(o, frag, (size_t)(end - frag));
        } else {
            put(o, rest, (size_t)(end - rest));
        }
        p = end;
    }
    put(o, p, strlen(p));
}

char *br_secrets_mask_dup(const char *text)
{
    if (!text)
        return NULL;
    struct out replaced = {0}, masked = {0};
    replace_secrets(text, &replaced);
    if (!replaced.oom)
        mask_urls(replaced.p, &masked);
    free(replaced.p);
    if (replaced.oom || masked.oom) {
        free(masked.p);
        return NULL;
    }
    return masked.p;
}

char *br_secrets_mask(const char *text, char *out, size_t outlen)
{
    if (outlen == 0)
        return out;
    char *masked = br_secrets_mask_dup(text ? text : "");
    /* Out of memory: print nothing rather than the text unmasked. */
    snprintf(out, outlen, "%s", masked ? masked : "(not shown: out of memory)");
    free(masked);
    return out;
}
