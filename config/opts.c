/* opts.c - applies option tables (opts.h) to br_node mappings: defaults
 * parsed like config text, typed values with range checks, required keys,
 * and unknown keys with a did-you-mean suggestion. Values that came from
 * interpolation (secrets) are never echoed in errors; values of keys named
 * as secrets (password, token, ...) are registered with secrets.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "secrets.h"

#define PATH_LEN 256

typedef int (*setter_fn)(const struct br_opt *o, const struct br_node *v,
                         void *field, const char *path,
                         struct br_errors *errs);

/* ------------------------------------------------------------- parsers */

/* Leading decimal digits of s as a non-negative int64; *end after them.
 * Returns -1 when there are none or the number overflows. */
static int parse_digits(const char *s, int64_t *out, const char **end)
{
    int64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *end = p;
    *out = n;
    return p == s ? -1 : 0;
}

struct unit {
    const char *name;
    int64_t mult;
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    {NULL, 0},
};

static const struct unit size_units[] = {
    {"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1048576},
    {"GiB", 1073741824}, {"KB", 1000}, {"MB", 1000000},
    {"GB", 1000000000}, {NULL, 0},
};

/* "<digits><unit>" with a unit from units; 0 or -1. */
static int parse_with_unit(const char *s, const struct unit *units,
                           int64_t *out)
{
    int64_t n;
    const char *rest;
    if (parse_digits(s, &n, &rest) < 0)
        return -1;
    for (const struct unit *u = units; u->name; u++) {
        if (strcmp(rest, u->name) != 0)
            continue;
        if (n > INT64_MAX / u->mult)
            return -1;
        *out = n * u->mult;
        return 0;
    }
    return -1;
}

int br_parse_duration(const char *s, int64_t *ms)
{
    return parse_with_unit(s, duration_units, ms);
}

int br_parse_size(const char *s, int64_t *bytes)
{
    return parse_with_unit(s, size_units, bytes);
}

/* An optionally negative decimal integer; -1 malformed, -2 overflow. */
static int parse_int(const char *s, int64_t *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (*end)
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = n;
    return 0;
}

/* Writes ms in the largest unit that divides it exactly ("15m"). */
const char *br_fmt_duration(int64_t ms, char *buf, size_t size)
{
    const struct unit *best = &duration_units[0];
    for (const struct unit *u = duration_units; u->name; u++)
        if (ms % u->mult == 0)
            best = u;
    if (ms == 0)
        best = &duration_units[1];
    snprintf(buf, size, "%" PRId64 "%s", ms / best->mult, best->name);
    return buf;
}

/* Writes bytes in the largest binary unit that divides it ("64MiB"). */
const char *br_fmt_size(int64_t bytes, char *buf, size_t size)
{
    static const struct unit units[] = {
        {"B", 1}, {"KiB", 1024}, {"MiB", 1048576}, {"GiB", 1073741824},
        {NULL, 0},
    };
    const struct unit *best = &units[0];
    for (const struct unit *u = units; u->name && bytes; u++)
        if (bytes % u->mult == 0)
            best = u;
    snprintf(buf, size, "%" PRId64 "%s", bytes / best->mult, best->name);
    return buf;
}

/* ------------------------------------------------------------- helpers */

static bool has_range(const struct br_opt *o)
{
    return o->min < o->max;
}

/* ", got 'VALUE'" for errors, or "" when the value is a secret. */
static const char *got(const struct br_node *v, char *buf, size_t size)
{
    if (v->type != BR_NODE_SCALAR || v->secret || v->line == 0)
        return "";
    snprintf(buf, size, ", got '%.40s%s'", v->value,
             strlen(v->value) > 40 ? "..." : "");
    return buf;
}

/* `key:`, `key: ~` or `key: null` (not "" and not an empty ${env:...}). */
static bool is_null(const struct br_node *v)
{
    return v->type == BR_NODE_SCALAR && !v->quoted && !v->secret &&
           !v->value[0];
}

static void join_path(char *out, const char *path, const char *key)
{
    if (path[0])
        snprintf(out, PATH_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_LEN, "%s", key);
}

/* A list or mapping where a single value belongs. */
static int fail_type(const struct br_node *v, const char *path,
                     struct br_errors *errs, const char *want)
{
    br_errors_add(errs, v, path, "must be %s, not a %s", want,
                  v->type == BR_NODE_SEQ ? "list" : "mapping");
    return 1;
}

/* ------------------------------------------------------------- setters */

static int set_str(const struct br_opt *o, const struct br_node *v,
                   void *field, const char *path, struct br_errors *errs)
{
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "a string");
    if ((o->flags & BR_OPT_NONEMPTY) && !v->value[0]) {
        br_errors_add(errs, v, path, "must not be empty");
        return 1;
    }
    const char *why = o->check ? o->check(v->value) : NULL;
    if (why) {
        br_errors_add(errs, v, path, "%s", why);
        return 1;
    }
    char *s = strdup(v->value);
    if (!s) {
        br_errors_add(errs, v, path, "out of memory");
        return 1;
    }
    if (br_secret_key_name(o->name))
        br_secrets_add(s, strlen(s), NULL);
    free(*(char **)field);
    *(char **)field = s;
    return 0;
}

static void strlist_free(struct br_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Every item must be a (non-empty, when asked) scalar that passes the
 * option's check. */
static int check_strlist(const struct br_opt *o, const struct br_node *v,
                         const char *path, struct br_errors *errs)
{
    int nerr = 0;
    const char *why;
    for (size_t i = 0; i < v->n; i++) {
        const struct br_node *item = v->items[i];
        char ipath[PATH_LEN];
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
        if (item->type != BR_NODE_SCALAR) {
            br_errors_add(errs, item, ipath, "must be a string");
            nerr++;
        } else if ((o->flags & BR_OPT_NONEMPTY) && !item->value[0]) {
            br_errors_add(errs, item, ipath, "must not be empty");
            nerr++;
        } else if (o->check && (why = o->check(item->value))) {
            br_errors_add(errs, item, ipath, "%s", why);
            nerr++;
        }
    }
    return nerr;
}

static int set_strlist(const struct br_opt *o, const struct br_node *v,
                       void *field, const char *path, struct br_errors *errs)
{
    if (v->type != BR_NODE_SEQ) {
        br_errors_add(errs, v, path, "must be a list of strings, as in "
                      "[a, b]");
        return 1;
    }
    if ((o->flags & BR_OPT_NONEMPTY) && v->n == 0) {
        br_errors_add(errs, v, path, "must not be empty");
        return 1;
    }
    int nerr = check_strlist(o, v, path, errs);
    if (nerr)
        return nerr;
    struct br_strlist l = {calloc(v->n ? v->n : 1, sizeof(char *)), 0};
    for (; l.v && l.n < v->n; l.n++)
        if (!(l.v[l.n] = strdup(v->items[l.n]->value)))
            break;
    if (!l.v || l.n < v->n) {
        strlist_free(&l);
        br_errors_add(errs, v, path, "out of memory");
        return 1;
    }
    strlist_free(field);
    *(struct br_strlist *)field = l;
    return 0;
}

static void strmap_free(struct br_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    m->keys = m->values = NULL;
    m->n = 0;
}

static int copy_strmap(const struct br_node *v, struct br_strmap *m)
{
    size_t cap = v->n ? v->n : 1;
    m->keys = calloc(cap, sizeof(char *));
    m->values = calloc(cap, sizeof(char *));
    if (!m->keys || !m->values)
        return -1;
    for (; m->n < v->n; m->n++) {
        m->keys[m->n] = strdup(v->keys[m->n]->value);
        m->values[m->n] = strdup(v->items[m->n]->value);
        if (!m->keys[m->n] || !m->values[m->n]) {
            m->n++;
            return -1;
        }
        /* sasl.password, an Authorization header: never printed */
        if (br_secret_key_name(m->keys[m->n]))
            br_secrets_add(m->values[m->n], strlen(m->values[m->n]), NULL);
    }
    return 0;
}

static int set_strmap(const struct br_opt *o, const struct br_node *v,
                      void *field, const char *path, struct br_errors *errs)
{
    (void)o;
    if (v->type != BR_NODE_MAP && !is_null(v)) {
        br_errors_add(errs, v, path, "must be a mapping of names to values");
        return 1;
    }
    int nerr = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type == BR_NODE_SCALAR)
            continue;
        char kpath[PATH_LEN];
        join_path(kpath, path, v->keys[i]->value);
        br_errors_add(errs, v->items[i], kpath, "must be a string, number "
                      "or boolean");
        nerr++;
    }
    if (nerr)
        return nerr;
    struct br_strmap m = {0};
    if (copy_strmap(v, &m) < 0) {
        strmap_free(&m);
        br_errors_add(errs, v, path, "out of memory");
        return 1;
    }
    strmap_free(field);
    *(struct br_strmap *)field = m;
    return 0;
}

static int set_int(const struct br_opt *o, const struct br_node *v,
                   void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64];
    int64_t n = 0;
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "an integer");
    int rc = parse_int(v->value, &n);
    if (rc == -1) {
        br_errors_add(errs, v, path, "must be an integer%s",
                      got(v, gbuf, sizeof gbuf));
        return 1;
    }
    if (rc == -2 || (has_range(o) && (n < o->min || n > o->max))) {
        if (has_range(o))
            br_errors_add(errs, v, path, "must be between %" PRId64 " and %"
                          PRId64 "%s", o->min, o->max, got(v, gbuf, sizeof gbuf));
        else
            br_errors_add(errs, v, path, "is too large for an integer");
        return 1;
    }
    *(int64_t *)field = n;
    return 0;
}

static int set_double(const struct br_opt *o, const struct br_node *v,
                      void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64];
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "a number");
    char *end;
    errno = 0;
    double d = strtod(v->value, &end);
    if (!v->value[0] || !strchr("0123456789+-.", v->value[0]) || *end ||
        errno == ERANGE || !isfinite(d)) {
        br_errors_add(errs, v, path, "must be a number%s",
                      got(v, gbuf, sizeof gbuf));
        return 1;
    }
    if (has_range(o) && (d < (double)o->min || d > (double)o->max)) {
        br_errors_add(errs, v, path, "must be between %" PRId64 " and %"
                      PRId64 "%s", o->min, o->max, got(v, gbuf, sizeof gbuf));
        return 1;
    }
    *(double *)field = d;
    return 0;
}

static int set_bool(const struct br_opt *o, const struct br_node *v,
                    void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64];
    (void)o;
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "true or false");
    if (strcmp(v->value, "true") == 0) {
        *(bool *)field = true;
    } else if (strcmp(v->value, "false") == 0) {
        *(bool *)field = false;
    } else {
        br_errors_add(errs, v, path, "must be true or false%s",
                      got(v, gbuf, sizeof gbuf));
        return 1;
    }
    return 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int set_duration(const struct br_opt *o, const struct br_node *v,
                        void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64], lo[32], hi[32];
    int64_t ms;
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "a duration");
    if (br_parse_duration(v->value, &ms) < 0) {
        if (all_digits(v->value))
            br_errors_add(errs, v, path, "needs a unit: 250ms, 30s, 5m, 1h "
                          "or 1d%s", got(v, gbuf, sizeof gbuf));
        else
            br_errors_add(errs, v, path, "must be a duration such as 250ms, "
                          "30s, 5m, 1h or 1d%s", got(v, gbuf, sizeof gbuf));
        return 1;
    }
    if (has_range(o) && (ms < o->min || ms > o->max)) {
        br_errors_add(errs, v, path, "must be between %s and %s%s",
                      br_fmt_duration(o->min, lo, sizeof lo),
                      br_fmt_duration(o->max, hi, sizeof hi),
                      got(v, gbuf, sizeof gbuf));
        return 1;
    }
    *(int64_t *)field = ms;
    return 0;
}

static int set_size(const struct br_opt *o, const struct br_node *v,
                    void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64], lo[32], hi[32];
    int64_t bytes;
    if (v->type != BR_NODE_SCALAR)
        return fail_type(v, path, errs, "a size");
    if (br_parse_size(v->value, &bytes) < 0) {
        br_errors_add(errs, v, path, "must be a size such as 512KiB, 1MiB "
                      "or 100B%s", got(v, gbuf, sizeof gbuf));
        return 1;
    }
    if (has_range(o) && (bytes < o->min || bytes > o->max)) {
        br_errors_add(errs, v, path, "must be between %s and %s%s",
                      br_fmt_size(o->min, lo, sizeof lo),
                      br_fmt_size(o->max, hi, sizeof hi),
                      got(v, gbuf, sizeof gbuf));
        return 1;
    }
    *(int64_t *)field = bytes;
    return 0;
}

/* "a, b, c" from a NULL-terminated list, or from a table's option names. */
static void list_names(char *buf, size_t size, const char *const *names,
                       const struct br_opt *const *tables, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t t = 0; t < (names ? 1 : n); t++) {
        for (size_t i = 0; names ? names[i] != NULL : tables[t][i].name != NULL;
             i++) {
            const char *name = names ? names[i] : tables[t][i].name;
            int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                             name);
            if (w < 0 || (size_t)w >= size - len)
                return;
            len += (size_t)w;
        }
    }
}

static int set_enum(const struct br_opt *o, const struct br_node *v,
                    void *field, const char *path, struct br_errors *errs)
{
    char gbuf[64], names[512];
    for (int i = 0; v->type == BR_NODE_SCALAR && o->enum_values[i]; i++) {
        if (strcmp(o->enum_values[i], v->value) == 0) {
            *(int *)field = i;
            return 0;
        }
    }
    list_names(names, sizeof names, o->enum_values, NULL, 0);
    br_errors_add(errs, v, path, "must be one of: %s%s", names,
                  got(v, gbuf, sizeof gbuf));
    return 1;
}

static const setter_fn setters[] = {
    [BR_OPT_STR] = set_str,           [BR_OPT_STRLIST] = set_strlist,
    [BR_OPT_INT] = set_int,           [BR_OPT_DOUBLE] = set_double,
    [BR_OPT_BOOL] = set_bool,         [BR_OPT_DURATION] = set_duration,
    [BR_OPT_SIZE] = set_size,         [BR_OPT_ENUM] = set_enum,
    [BR_OPT_STRMAP] = set_strmap,
};

/* ------------------------------------------------------------- unknown keys */

/* Optimal string alignment distance (edits, with swaps), capped inputs. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    unsigned char d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

/* The closest name seen so far within 2 edits of a word. */
struct nearest {
    const char *best;
    size_t d;
    bool tie;
};

/* Weighs name against word: within 2 edits, and not most of the name. */
static void nearest_add(struct nearest *n, const char *word, const char *name)
{
    size_t d = edit_distance(word, name);
    if (d > 2 || d * 2 > strlen(name))
        return;
    if (d == n->d) {
        n->tie = true;
    } else if (d < n->d) {
        n->best = name;
        n->d = d;
        n->tie = false;
    }
}

/* The one option name near key, or NULL when none or several are. */
static const char *suggest(const char *key, const struct br_opt *const *tables,
                           size_t n)
{
    struct nearest near = {NULL, 3, false};
    for (size_t t = 0; t < n; t++)
        for (const struct br_opt *o = tables[t]; o->name; o++)
            nearest_add(&near, key, o->name);
    return near.tie ? NULL : near.best;
}

const char *br_did_you_mean(const char *word, const char *const *names,
                            size_t n)
{
    struct nearest near = {NULL, 3, false};
    for (size_t i = 0; i < n; i++)
        nearest_add(&near, word, names[i]);
    return near.tie ? NULL : near.best;
}

static void unknown_key(const struct br_node *key,
                        const struct br_opt *const *tables, size_t n,
                        const char *path, struct br_errors *errs)
{
    const char *near = suggest(key->value, tables, n);
    if (near) {
        br_errors_add(errs, key, path, "unknown key '%s'; did you mean '%s'?",
                      key->value, near);
        return;
    }
    char names[512];
    list_names(names, sizeof names, NULL, tables, n);
    br_errors_add(errs, key, path, "unknown key '%s'; valid keys: %s",
                  key->value, names);
}

/* ------------------------------------------------------------- tables */

static int apply_values(const struct br_opt *const *tables,
                        void *const *bases, size_t n,
                        const struct br_node *map, const char *path,
                        struct br_errors *errs);

static int apply_defaults(const struct br_opt *table, void *base,
                          const char *path, struct br_errors *errs)
{
    int nerr = 0;
    for (const struct br_opt *o = table; o->name; o++) {
        void *field = (char *)base + o->offset;
        if (o->flags & BR_OPT_CUSTOM)
            continue;
        if (o->type == BR_OPT_SECTION) {
            char spath[PATH_LEN];
            join_path(spath, path, o->name);
            nerr += apply_defaults(o->section, base, spath, errs);
        } else if (o->def) {
            /* line 0: a default's text is never echoed as "got" */
            struct br_node v = {.type = BR_NODE_SCALAR, .value = (char *)o->def};
            char opath[PATH_LEN];
            join_path(opath, path, o->name);
            nerr += setters[o->type](o, &v, field, opath, errs);
        } else if (o->type == BR_OPT_ENUM) {
            *(int *)field = -1;
        }
    }
    return nerr;
}

static const struct br_opt *find_opt(const struct br_opt *const *tables,
                                     size_t n, const char *name, size_t *which)
{
    for (size_t t = 0; t < n; t++) {
        for (const struct br_opt *o = tables[t]; o->name; o++) {
            if (strcmp(o->name, name) == 0) {
                *which = t;
                return o;
            }
        }
    }
    return NULL;
}

static int apply_key(const struct br_opt *const *tables, void *const *bases,
                     size_t n, const struct br_node *key,
                     const struct br_node *v, const char *path,
                     struct br_errors *errs)
{
    size_t t;
    const struct br_opt *o = find_opt(tables, n, key->value, &t);
    if (!o) {
        unknown_key(key, tables, n, path, errs);
        return 1;
    }
    if (o->flags & BR_OPT_CUSTOM)
        return 0;
    /* An optional key set to null keeps its default, as if absent. */
    if (is_null(v) && !(o->flags & BR_OPT_REQUIRED))
        return 0;
    char kpath[PATH_LEN];
    join_path(kpath, path, o->name);
    if (o->type == BR_OPT_SECTION)
        return apply_values(&o->section, &bases[t], 1, v, kpath, errs);
    return setters[o->type](o, v, (char *)bases[t] + o->offset, kpath, errs);
}

/* Required keys missing from map (NULL: from an absent mapping). */
static int check_required(const struct br_opt *const *tables, size_t n,
                          const struct br_node *map, const char *path,
                          struct br_errors *errs)
{
    int nerr = 0;
    for (size_t t = 0; t < n; t++) {
        for (const struct br_opt *o = tables[t]; o->name; o++) {
            if (!(o->flags & BR_OPT_REQUIRED) || br_node_get(map, o->name))
                continue;
            char kpath[PATH_LEN];
            join_path(kpath, path, o->name);
            br_errors_add(errs, map, kpath, "missing required key '%s'",
                          o->name);
            nerr++;
        }
    }
    return nerr;
}

static int apply_values(const struct br_opt *const *tables,
                        void *const *bases, size_t n,
                        const struct br_node *map, const char *path,
                        struct br_errors *errs)
{
    if (map && map->type != BR_NODE_MAP && !is_null(map)) {
        br_errors_add(errs, map, path, "must be a mapping");
        return 1;
    }
    int nerr = 0;
    for (size_t i = 0; map && i < map->n; i++)
        nerr += apply_key(tables, bases, n, map->keys[i], map->items[i], path,
                          errs);
    return nerr + check_required(tables, n, map, path, errs);
}

int br_opts_apply_multi(const struct br_opt *const *tables, void *const *bases,
                        size_t n, const struct br_node *map, const char *path,
                        struct br_errors *errs)
{
    int nerr = 0;
    for (size_t t = 0; t < n; t++)
        nerr += apply_defaults(tables[t], bases[t], path, errs);
    return nerr + apply_values(tables, bases, n, map, path, errs);
}

int br_opts_apply(const struct br_opt *table, const struct br_node *map,
                  void *base, const char *path, struct br_errors *errs)
{
    return br_opts_apply_multi(&table, &base, 1, map, path, errs);
}

void br_opts_free(const struct br_opt *table, void *base)
{
    if (!table || !base)
        return;
    for (const struct br_opt *o = table; o->name; o++) {
        void *field = (char *)base + o->offset;
        if (o->flags & BR_OPT_CUSTOM)
            continue;
        if (o->type == BR_OPT_SECTION) {
            br_opts_free(o->section, base);
        } else if (o->type == BR_OPT_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (o->type == BR_OPT_STRLIST) {
            strlist_free(field);
        } else if (o->type == BR_OPT_STRMAP) {
            strmap_free(field);
        }
    }
}
