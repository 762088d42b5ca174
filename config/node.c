/* node.c - YAML text to struct br_node trees, through libyaml's event parser.
 *
 * Every node keeps the line and column it came from. Scalars get ${env:...}
 * and ${file:...} interpolation (interp.c; they are then marked secret).
 * Aliases are deep copies, counted against a node and byte budget so an
 * alias bomb fails fast in bounded memory. */
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "interp.h"
#include "node.h"
#include "secrets.h"

#define NODE_BUDGET 100000            /* nodes, aliases' copies included */
#define BYTE_BUDGET (32u << 20)       /* bytes of scalar text, likewise */
#define MAX_DEPTH 64                  /* nesting of sequences and mappings */
#define MAX_CONFIG_BYTES (16u << 20)
#define PATH_LEN 256

/* ------------------------------------------------------------- loader */

/* Anchors live in a balanced tree (tsearch) keyed by name: a config may
 * define tens of thousands and every alias looks one up, so a list scan
 * made a 10 MB config take seconds. A tree rather than a hash: its
 * O(log n) holds whatever names a hostile file picks. */
struct anchor {
    char *name;
    struct br_node *node;      /* borrowed from the tree being built */
};

struct loader {
    yaml_parser_t parser;
    struct br_errors *errs;
    const char *dir;           /* base of relative ${file:} paths; NULL = cwd */
    const char *text;          /* the YAML being parsed, for positions */
    size_t len;
    size_t nodes, bytes;       /* budget used */
    void *anchors;             /* tsearch tree of struct anchor */
    bool failed;               /* some error was added */
    bool fatal;                /* stop parsing */
};

struct start {                 /* what we keep of a start event */
    int line, col;
    char *anchor;
};

struct spot {                  /* where the node being built is, for errors */
    int line, col;
    const char *path;
};

static void ld_error(struct loader *ld, int line, int col, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void ld_error(struct loader *ld, int line, int col, const char *path,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    br_errors_vadd(ld->errs, line, col, path, fmt, ap);
    va_end(ap);
    ld->failed = true;
}

static void child_path(char *out, const char *path, const char *key)
{
    if (path[0])
        snprintf(out, PATH_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_LEN, "%s", key);
}

/* Allocates a node, counting it (and `bytes` of text) against the budget. */
static struct br_node *new_node(struct loader *ld, enum br_node_type type,
                                int line, int col, size_t bytes,
                                const char *path)
{
    if (ld->nodes >= NODE_BUDGET || bytes > BYTE_BUDGET - ld->bytes) {
        if (ld->nodes >= NODE_BUDGET)
            ld_error(ld, line, col, path, "document expands beyond %d nodes "
                     "(alias bomb?)", NODE_BUDGET);
        else
            ld_error(ld, line, col, path, "document expands beyond %u bytes "
                     "(alias bomb?)", BYTE_BUDGET);
        ld->fatal = true;
        return NULL;
    }
    struct br_node *node = calloc(1, sizeof *node);
    if (!node) {
        ld_error(ld, line, col, path, "out of memory");
        ld->fatal = true;
        return NULL;
    }
    ld->nodes++;
    ld->bytes += bytes;
    node->type = type;
    node->line = line;
    node->col = col;
    return node;
}

void br_node_free(struct br_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n; i++) {
        br_node_free(node->items[i]);
        if (node->keys)
            br_node_free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->value);
    free(node);
}

const struct br_node *br_node_get(const struct br_node *map, const char *key)
{
    if (!map || map->type != BR_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->value, key) == 0)
            return map->items[i];
    return NULL;
}

/* Appends item (and key, for maps); cap is the caller's capacity. */
static bool node_append(struct br_node *node, struct br_node *key,
                        struct br_node *item, size_t *cap)
{
    if (node->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct br_node **items = realloc(node->items, ncap * sizeof *items);
        if (!items)
            return false;
        node->items = items;
        if (key) {
            struct br_node **keys = realloc(node->keys, ncap * sizeof *keys);
            if (!keys)
                return false;
            node->keys = keys;
        }
        *cap = ncap;
    }
    node->items[node->n] = item;
    if (key)
        node->keys[node->n] = key;
    node->n++;
    return true;
}

/* ------------------------------------------------------------- parsing */

static struct br_node *parse_node(struct loader *ld, yaml_event_t *ev,
                                  const char *path, int depth);

/* Reader errors (bad UTF-8) come with a byte offset only. */
static void offset_to_pos(const struct loader *ld, size_t offset, int *line,
                          int *col)
{
    *line = *col = 1;
    for (size_t i = 0; i < offset && i < ld->len; i++) {
        if (ld->text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)ld->text[i] & 0xC0) != 0x80) {
            ++*col;             /* columns count characters, not bytes */
        }
    }
}

static void syntax_error(struct loader *ld)
{
    yaml_parser_t *p = &ld->parser;
    int line = (int)p->problem_mark.line + 1;
    int col = (int)p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR)
        offset_to_pos(ld, p->problem_offset, &line, &col);
    if (p->error == YAML_READER_ERROR)
        ld_error(ld, line, col, "", "invalid YAML: %s", problem);
    else if (p->context && p->context_mark.index == p->problem_mark.index)
        ld_error(ld, line, col, "", "invalid YAML: %s (%s)", problem,
                 p->context);
    else if (p->context)
        ld_error(ld, line, col, "", "invalid YAML: %s (%s at line %d, "
                 "column %d)", problem, p->context,
                 (int)p->context_mark.line + 1,
                 (int)p->context_mark.column + 1);
    else
        ld_error(ld, line, col, "", "invalid YAML: %s", problem);
    ld->fatal = true;
}

static bool next_event(struct loader *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev)) {
        syntax_error(ld);
        return false;
    }
    return true;
}

static void take_start(yaml_event_t *ev, const yaml_char_t *anchor,
                       struct start *st)
{
    st->line = (int)ev->start_mark.line + 1;
    st->col = (int)ev->start_mark.column + 1;
    st->anchor = anchor ? strdup((const char *)anchor) : NULL;
    yaml_event_delete(ev);
}

static int cmp_anchor(const void *a, const void *b)
{
    return strcmp(((const struct anchor *)a)->name,
                  ((const struct anchor *)b)->name);
}

static void free_anchor(void *p)
{
    struct anchor *a = p;
    free(a->name);
    free(a);
}

/* Remembers node under the anchor name (taken). Later definitions of the
 * same name shadow earlier ones, as YAML says. */
static void add_anchor(struct loader *ld, char *name, struct br_node *node)
{
    if (!name)
        return;
    struct anchor *a = malloc(sizeof *a);
    struct anchor **slot = NULL;
    if (a) {
        *a = (struct anchor){name, node};
        slot = tsearch(a, &ld->anchors, cmp_anchor);
    }
    if (!slot) {
        free(a);
        free(name);
        return;
    }
    if (*slot != a) {          /* the name was taken: the new one wins */
        (*slot)->node = node;
        free(a);
        free(name);
    }
}

static const struct anchor *find_anchor(const struct loader *ld,
                                        const char *name)
{
    struct anchor key = {(char *)name, NULL};
    struct anchor *const *slot = tfind(&key, &ld->anchors, cmp_anchor);
    return slot ? *slot : NULL;
}

static bool is_null_text(const char *s)
{
    return !s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* Interpolates a scalar's text (interp.h); any error there fails the load. */
static char *interpolate(struct loader *ld, const struct spot *at,
                         const char *text, bool *used)
{
    struct br_interp ip = {ld->errs, ld->dir, at->line, at->col, at->path,
                           false};
    char *value = br_interp_expand(&ip, text, used);
    if (ip.failed)
        ld->failed = true;
    return value;
}

/* The text of a scalar: keys verbatim, null as "", values interpolated.
 * Returns a new string (after adding an error if need be: "" then). */
static char *scalar_value(struct loader *ld, const yaml_event_t *ev,
                          const struct spot *at, bool is_key,
                          struct br_node *node)
{
    const char *text = (const char *)ev->data.scalar.value;
    yaml_scalar_style_t style = ev->data.scalar.style;
    char *value = NULL;
    if (memchr(text, '\0', ev->data.scalar.length))
        ld_error(ld, at->line, at->col, at->path, "text contains a NUL "
                 "character");
    else if (is_key)
        value = strdup(text);
    else if (style == YAML_PLAIN_SCALAR_STYLE && is_null_text(text))
        value = strdup("");
    else
        value = interpolate(ld, at, text, &node->secret);
    if (!value && !(value = strdup("")))
        ld_error(ld, at->line, at->col, at->path, "out of memory");
    return value;
}

/* Interpolation can make a scalar far longer than its text (up to 1 MiB
 * per ${file:}); the growth counts against the byte budget too, so a file
 * naming the same big file many times stays bounded. False when over. */
static bool count_growth(struct loader *ld, const struct spot *at, size_t raw,
                         const char *value)
{
    size_t len = strlen(value);
    if (len <= raw)
        return true;
    if (len - raw > BYTE_BUDGET - ld->bytes) {
        ld_error(ld, at->line, at->col, at->path, "document expands beyond "
                 "%u bytes with its interpolated values", BYTE_BUDGET);
        return false;
    }
    ld->bytes += len - raw;
    return true;
}

static struct br_node *parse_scalar(struct loader *ld, yaml_event_t *ev,
                                    const char *path, bool is_key)
{
    struct spot at = {(int)ev->start_mark.line + 1,
                      (int)ev->start_mark.column + 1, path};
    yaml_scalar_style_t style = ev->data.scalar.style;
    struct br_node *node = new_node(ld, BR_NODE_SCALAR, at.line, at.col,
                                    ev->data.scalar.length + 1, path);
    if (node) {
        node->quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                       style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        node->value = scalar_value(ld, ev, &at, is_key, node);
        if (node->value && node->secret &&
            !count_growth(ld, &at, ev->data.scalar.length, node->value)) {
            free(node->value);
            node->value = NULL;
        }
        if (!node->value) {
            ld->fatal = true;
            br_node_free(node);
            node = NULL;
        }
    }
    struct start st;
    take_start(ev, ev->data.scalar.anchor, &st);
    if (node)
        add_anchor(ld, st.anchor, node);
    else
        free(st.anchor);
    return node;
}

static struct br_node *parse_seq(struct loader *ld, yaml_event_t *ev,
                                 const char *path, int depth)
{
    struct start st;
    take_start(ev, ev->data.sequence_start.anchor, &st);
    struct br_node *node = new_node(ld, BR_NODE_SEQ, st.line, st.col, 0, path);
    size_t cap = 0;
    while (node) {
        yaml_event_t item_ev;
        if (!next_event(ld, &item_ev))
            goto fail;
        if (item_ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&item_ev);
            add_anchor(ld, st.anchor, node);
            return node;
        }
        char ipath[PATH_LEN];
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, node->n);
        struct br_node *item = parse_node(ld, &item_ev, ipath, depth + 1);
        if (!item)
            goto fail;
        if (!node_append(node, NULL, item, &cap)) {
            br_node_free(item);
            ld_error(ld, st.line, st.col, path, "out of memory");
            ld->fatal = true;
            goto fail;
        }
    }
fail:
    br_node_free(node);
    free(st.anchor);
    return NULL;
}

static int cmp_key(const void *a, const void *b)
{
    const struct br_node *x = *(const struct br_node *const *)a;
    const struct br_node *y = *(const struct br_node *const *)b;
    int c = strcmp(x->value, y->value);
    if (c)
        return c;
    return x->line != y->line ? x->line - y->line : x->col - y->col;
}

/* Duplicate keys, found by sorting (a map may have thousands of keys). */
static void check_duplicates(struct loader *ld, const struct br_node *map,
                             const char *path)
{
    if (map->n < 2)
        return;
    const struct br_node **keys = malloc(map->n * sizeof *keys);
    if (!keys)
        return;
    memcpy(keys, map->keys, map->n * sizeof *keys);
    qsort(keys, map->n, sizeof *keys, cmp_key);
    size_t first = 0;
    for (size_t i = 1; i < map->n; i++) {
        if (strcmp(keys[i]->value, keys[first]->value) != 0) {
            first = i;
            continue;
        }
        ld_error(ld, keys[i]->line, keys[i]->col, path,
                 "duplicate key '%s' (first at line %d, column %d)",
                 keys[i]->value, keys[first]->line, keys[first]->col);
    }
    free(keys);
}

/* Reads one key; only scalars are accepted (fatal otherwise). */
static struct br_node *parse_key(struct loader *ld, yaml_event_t *ev,
                                 const char *path)
{
    if (ev->type != YAML_SCALAR_EVENT) {
        ld_error(ld, (int)ev->start_mark.line + 1,
                 (int)ev->start_mark.column + 1, path,
                 "mapping keys must be plain strings, not %s",
                 ev->type == YAML_ALIAS_EVENT ? "aliases" : "collections");
        ld->fatal = true;
        yaml_event_delete(ev);
        return NULL;
    }
    bool merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 strcmp((const char *)ev->data.scalar.value, "<<") == 0;
    struct br_node *key = parse_scalar(ld, ev, path, true);
    if (key && merge)
        ld_error(ld, key->line, key->col, path, "merge keys (<<) are not "
                 "supported; repeat the keys instead");
    return key;
}

/* Reads one key and its value into map. Returns false when fatal. */
static bool parse_entry(struct loader *ld, yaml_event_t *key_ev,
                        struct br_node *map, size_t *cap, const char *path,
                        int depth)
{
    struct br_node *key = parse_key(ld, key_ev, path);
    if (!key)
        return false;
    char kpath[PATH_LEN];
    child_path(kpath, path, key->value);
    yaml_event_t val_ev;
    struct br_node *val = NULL;
    if (next_event(ld, &val_ev))
        val = parse_node(ld, &val_ev, kpath, depth + 1);
    if (val && node_append(map, key, val, cap))
        return true;
    if (val) {
        ld_error(ld, key->line, key->col, path, "out of memory");
        ld->fatal = true;
    }
    br_node_free(key);
    br_node_free(val);
    return false;
}

static struct br_node *parse_map(struct loader *ld, yaml_event_t *ev,
                                 const char *path, int depth)
{
    struct start st;
    take_start(ev, ev->data.mapping_start.anchor, &st);
    struct br_node *node = new_node(ld, BR_NODE_MAP, st.line, st.col, 0, path);
    size_t cap = 0;
    while (node) {
        yaml_event_t key_ev;
        if (!next_event(ld, &key_ev))
            break;
        if (key_ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key_ev);
            check_duplicates(ld, node, path);
            add_anchor(ld, st.anchor, node);
            return node;
        }
        if (!parse_entry(ld, &key_ev, node, &cap, path, depth))
            break;
    }
    br_node_free(node);
    free(st.anchor);
    return NULL;
}

static struct br_node *copy_node(struct loader *ld, const struct br_node *src,
                                 const struct spot *at, int depth);

/* Copies src's items (and keys) into dst; false when fatal. */
static bool copy_children(struct loader *ld, struct br_node *dst,
                          const struct br_node *src, const struct spot *at,
                          int depth)
{
    dst->items = calloc(src->n, sizeof *dst->items);
    if (src->keys)
        dst->keys = calloc(src->n, sizeof *dst->keys);
    if (!dst->items || (src->keys && !dst->keys)) {
        ld_error(ld, at->line, at->col, at->path, "out of memory");
        ld->fatal = true;
        return false;
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->items[i] = copy_node(ld, src->items[i], at, depth + 1);
        if (dst->items[i] && src->keys)
            dst->keys[i] = copy_node(ld, src->keys[i], at, depth + 1);
        dst->n = i + 1;             /* br_node_free skips NULL slots */
        if (!dst->items[i] || (src->keys && !dst->keys[i]))
            return false;
    }
    return true;
}

/* A deep copy of src counted against the budget; errors name the alias.
 * depth is where the copy lands, so copies of copies stay shallow too. */
static struct br_node *copy_node(struct loader *ld, const struct br_node *src,
                                 const struct spot *at, int depth)
{
    if (depth > MAX_DEPTH && src->type != BR_NODE_SCALAR) {
        ld_error(ld, at->line, at->col, at->path, "nested deeper than %d "
                 "levels (through aliases)", MAX_DEPTH);
        ld->fatal = true;
        return NULL;
    }
    size_t bytes = src->value ? strlen(src->value) + 1 : 0;
    struct br_node *dst = new_node(ld, src->type, at->line, at->col, bytes,
                                   at->path);
    if (!dst)
        return NULL;
    dst->line = src->line;      /* errors in the copy point at the original */
    dst->col = src->col;
    dst->quoted = src->quoted;
    dst->secret = src->secret;
    if (src->value && !(dst->value = strdup(src->value))) {
        ld_error(ld, at->line, at->col, at->path, "out of memory");
        ld->fatal = true;
    } else if (src->n == 0 || copy_children(ld, dst, src, at, depth)) {
        return dst;
    }
    br_node_free(dst);
    return NULL;
}

static struct br_node *parse_alias(struct loader *ld, yaml_event_t *ev,
                                   const char *path, int depth)
{
    struct spot at = {(int)ev->start_mark.line + 1,
                      (int)ev->start_mark.column + 1, path};
    const char *name = (const char *)ev->data.alias.anchor;
    const struct anchor *a = find_anchor(ld, name);
    struct br_node *node;
    if (a) {
        node = copy_node(ld, a->node, &at, depth);
        if (node) {
            node->line = at.line;
            node->col = at.col;
        }
    } else {
        ld_error(ld, at.line, at.col, path, "unknown anchor '*%s' (an alias "
                 "must follow its &anchor, outside of it)", name);
        node = new_node(ld, BR_NODE_SCALAR, at.line, at.col, 1, path);
        if (node && !(node->value = strdup(""))) {
            br_node_free(node);
            node = NULL;
            ld->fatal = true;
        }
    }
    yaml_event_delete(ev);
    return node;
}

/* Takes ownership of ev (a node's first event). Returns NULL when fatal. */
static struct br_node *parse_node(struct loader *ld, yaml_event_t *ev,
                                  const char *path, int depth)
{
    int line = (int)ev->start_mark.line + 1;
    int col = (int)ev->start_mark.column + 1;
    if (depth > MAX_DEPTH && (ev->type == YAML_SEQUENCE_START_EVENT ||
                              ev->type == YAML_MAPPING_START_EVENT)) {
        ld_error(ld, line, col, path, "nested deeper than %d levels",
                 MAX_DEPTH);
        ld->fatal = true;
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(ld, ev, path, false);
    case YAML_SEQUENCE_START_EVENT:
        return parse_seq(ld, ev, path, depth);
    case YAML_MAPPING_START_EVENT:
        return parse_map(ld, ev, path, depth);
    case YAML_ALIAS_EVENT:
        return parse_alias(ld, ev, path, depth);
    default:
        ld_error(ld, line, col, path, "invalid YAML: unexpected event");
        ld->fatal = true;
        yaml_event_delete(ev);
        return NULL;
    }
}

/* Expects an event of type want; on anything else adds msg (if given). */
static bool expect(struct loader *ld, yaml_event_type_t want, const char *msg)
{
    yaml_event_t ev;
    if (!next_event(ld, &ev))
        return false;
    bool ok = ev.type == want;
    if (!ok && msg)
        ld_error(ld, (int)ev.start_mark.line + 1,
                 (int)ev.start_mark.column + 1, "", "%s", msg);
    yaml_event_delete(&ev);
    return ok;
}

/* stream-start, document-start, root node, document-end, stream-end. */
static struct br_node *load_document(struct loader *ld)
{
    yaml_event_t ev;
    if (!expect(ld, YAML_STREAM_START_EVENT, "invalid YAML: no stream") ||
        !next_event(ld, &ev))
        return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        ld_error(ld, 1, 1, "", "the config file is empty");
        return NULL;
    }
    yaml_event_delete(&ev);         /* document start */
    if (!next_event(ld, &ev))
        return NULL;
    struct br_node *root = parse_node(ld, &ev, "", 0);
    if (root && (!expect(ld, YAML_DOCUMENT_END_EVENT, NULL) ||
                 !expect(ld, YAML_STREAM_END_EVENT, "only one YAML document "
                         "is allowed in a config file")))
        ld->failed = true;
    return root;
}

static struct br_node *load_text(const char *text, size_t len,
                                 const char *dir, struct br_errors *errs)
{
    struct loader ld = {.errs = errs, .dir = dir, .text = text, .len = len};
    if (!yaml_parser_initialize(&ld.parser)) {
        br_errors_add_pos(errs, 0, 0, "", "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)text, len);
    struct br_node *root = load_document(&ld);
    yaml_parser_delete(&ld.parser);
    tdestroy(ld.anchors, free_anchor);
    if (ld.failed) {
        br_node_free(root);
        return NULL;
    }
    return root;
}

struct br_node *br_node_load_string(const char *text, size_t len,
                                    struct br_errors *errs)
{
    return load_text(text, len, NULL, errs);
}

struct br_node *br_node_load_file(const char *path, struct br_errors *errs)
{
    if (errs && !errs->file)
        errs->file = path;
    size_t len;
    char *text = br_interp_read_file(path, MAX_CONFIG_BYTES, false, &len);
    if (!text) {
        br_errors_add_pos(errs, 0, 0, "", "cannot read the config file: %s",
                          errno == EFBIG ? "larger than 16 MiB"
                                         : strerror(errno));
        return NULL;
    }
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash)
        dir = slash == path ? strdup("/")
                            : strndup(path, (size_t)(slash - path));
    struct br_node *root = load_text(text, len, dir, errs);
    free(dir);
    free(text);
    return root;
}
