/* filter.c - a pipeline's `filter` (filter.h): each pattern turned into
 * JSON text (filter_json.c) and compiled by the pattern compiler
 * (pattern.h) when the config loads, so `check` refuses a bad one with
 * its place; then per record, the kind's document against each pattern. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filter.h"
#include "filter_json.h"
#include "record_kind.h"

#define PATH_LEN 256
#define ERR_LEN 512

struct br_filter {
    /* The document's members some pattern names (the doc's want list):
     * the others are never built. */
    char **names;
    size_t n_names;
    bool all;                   /* they could not be listed: build all */
    size_t n;
    struct br_pattern *p[];
};

void br_filter_free(struct br_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        br_pattern_free(f->p[i]);
    for (size_t i = 0; i < f->n_names; i++)
        free(f->names[i]);
    free(f->names);
    free(f);
}

/* ------------------------------------------------------------- names */

/* Notes the member a pattern key reads: the key's first segment, since a
 * key may be a dotted path ("value.kind" reads the member "value"). */
static bool add_name(struct br_filter *f, const char *key)
{
    size_t len = strcspn(key, ".");
    for (size_t i = 0; i < f->n_names; i++)
        if (strlen(f->names[i]) == len && !strncmp(f->names[i], key, len))
            return true;
    char **names = realloc(f->names, (f->n_names + 1) * sizeof(*names));
    if (!names)
        return false;
    f->names = names;
    if (!(f->names[f->n_names] = strndup(key, len)))
        return false;
    f->n_names++;
    return true;
}

/* The top-level names of a pattern (a JSON object), those inside a
 * top-level $or's alternatives included. */
static bool collect(struct br_filter *f, const json_t *pattern)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)pattern, key, v) {
        if (strcmp(key, "$or")) {
            if (!add_name(f, key))
                return false;
            continue;
        }
        size_t i;
        json_t *alt;
        if (!json_is_array(v))
            return false;
        json_array_foreach(v, i, alt)
            if (!json_is_object(alt) || !collect(f, alt))
                return false;
    }
    return true;
}

/* Notes the members the pattern (compiled from json) reads; when that
 * cannot be told, every member is built. */
static void note_names(struct br_filter *f, const struct br_buf *json)
{
    json_t *pattern = f->all ? NULL : json_loadb(json->data, json->len, 0, NULL);
    if (!pattern || !json_is_object(pattern) || !collect(f, pattern))
        f->all = true;
    json_decref(pattern);
}

size_t br_filter_patterns(const struct br_filter *f)
{
    return f ? f->n : 0;
}

/* ------------------------------------------------------------- loading */

/* The child of node that one segment of a reason's path names: "price",
 * "items[2]" (the key, then the index), "[0]"; NULL when the key is not
 * there, the node reached so far when an index is not. */
static const struct br_node *child(const struct br_node *node, const char *seg, size_t n)
{
    char key[PATH_LEN];
    if (n >= sizeof(key))
        return NULL;
    memcpy(key, seg, n);
    key[n] = '\0';
    char *index = strchr(key, '[');
    if (index)
        *index = '\0';
    const struct br_node *c = key[0] ? br_node_get(node, key) : node;
    while (c && index) {
        char *end;
        unsigned long k = strtoul(index + 1, &end, 10);
        if (*end != ']' || c->type != BR_NODE_SEQ || k >= c->n)
            break;
        c = c->items[k];
        index = end[1] == '[' ? end + 1 : NULL;
    }
    return c;
}

/* The compiler's reason starts with the path of the operator at fault
 * ("value.price: numeric: ..."): the deepest node of the pattern that
 * path leads to, for the error's line and column (the pattern itself
 * when it leads nowhere). */
static const struct br_node *blame(const struct br_node *pattern, const char *why)
{
    const char *stop = strstr(why, ": ");
    const struct br_node *at = pattern;
    if (pattern->type != BR_NODE_MAP || !stop)
        return at;
    for (const char *seg = why; seg < stop && at->type != BR_NODE_SCALAR;) {
        const char *dot = memchr(seg, '.', (size_t)(stop - seg));
        size_t n = (size_t)((dot ? dot : stop) - seg);
        const struct br_node *c = child(at, seg, n);
        if (!c)
            break;
        at = c;
        seg += n + 1;
    }
    return at;
}

/* A pattern written as a JSON object's text (as Lambda's FilterCriteria
 * hold them) is compiled as it is; a mapping becomes JSON first. */
static int pattern_text(const struct br_node *item, const char *ipath, struct br_buf *json,
                        struct br_errors *errs)
{
    if (item->type == BR_NODE_SCALAR) {
        const char *t = item->value + strspn(item->value, " \t\r\n");
        if (*t != '{') {
            br_errors_add(errs, item, ipath, "a pattern is a mapping, as in "
                          "{value: {kind: [order]}}, or a JSON object's text");
            return -1;
        }
        if (br_buf_puts(json, item->value) < 0) {
            br_errors_add(errs, item, ipath, "out of memory");
            return -1;
        }
        return 0;
    }
    if (item->type != BR_NODE_MAP) {
        br_errors_add(errs, item, ipath, "a pattern is a mapping, as in "
                      "{value: {kind: [order]}}, not a list");
        return -1;
    }
    return br_filter_json(item, ipath, json, errs);
}

static struct br_pattern *compile_one(struct br_filter *f, const struct br_node *item,
                                      const char *ipath, struct br_errors *errs)
{
    struct br_buf json;
    char why[ERR_LEN] = "";
    br_buf_init(&json, 0);
    struct br_pattern *p = NULL;
    if (pattern_text(item, ipath, &json, errs) == 0) {
        p = br_pattern_compile(json.data, json.len, why, sizeof(why));
        if (!p)
            br_errors_add(errs, blame(item, why), ipath, "%s",
                          why[0] ? why : "not a valid pattern");
        else
            note_names(f, &json);
    }
    br_buf_free(&json);
    return p;
}

static bool is_null(const struct br_node *node)
{
    return !node || (node->type == BR_NODE_SCALAR && !node->quoted && !node->value[0]);
}

int br_filter_load(const struct br_node *node, const char *path, struct br_filter **out,
                   struct br_errors *errs)
{
    *out = NULL;
    if (is_null(node) || (node->type == BR_NODE_SEQ && node->n == 0))
        return 0;
    if (node->type != BR_NODE_SEQ) {
        br_errors_add(errs, node, path, "must be a list of patterns, as in "
                      "[{value: {kind: [order]}}]; a record passes when any matches");
        return 1;
    }
    struct br_filter *f = calloc(1, sizeof(*f) + node->n * sizeof(f->p[0]));
    if (!f) {
        br_errors_add(errs, node, path, "out of memory");
        return 1;
    }
    int nerr = 0;
    for (size_t i = 0; i < node->n; i++) {
        char ipath[PATH_LEN];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!(f->p[f->n] = compile_one(f, node->items[i], ipath, errs)))
            nerr++;
        else
            f->n++;
    }
    if (nerr) {
        br_filter_free(f);
        return nerr;
    }
    *out = f;
    return 0;
}

/* ------------------------------------------------------------- judging */

enum br_filter_verdict br_filter_judge(const struct br_filter *f, struct br_doc *d,
                                       const struct br_event_ctx *ev,
                                       const struct br_record *rec)
{
    if (!f || !rec->kind->doc)
        return BR_FILTER_PASS;
    br_doc_reset(d);
    d->want = f->all ? NULL : (const char *const *)f->names;
    d->n_want = f->n_names;
    int rc = rec->kind->doc(d, ev, rec) < 0 || br_doc_finish(d) < 0;
    d->want = NULL;
    if (rc)
        return BR_FILTER_UNJUDGED;
    for (size_t i = 0; i < f->n; i++)
        if (br_pattern_match(f->p[i], d->m, d->n))
            return BR_FILTER_PASS;
    return BR_FILTER_OUT;
}
