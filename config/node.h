/* node.h - a YAML document as a small tree that remembers where each value
 * came from (line and column), so every config error can name its place.
 *
 * Loading applies ${env:...} / ${file:...} interpolation to scalars, refuses
 * documents whose aliases would expand beyond a fixed node budget (billion
 * laughs), and marks scalars that came from interpolation as secret so
 * their values are never echoed. */
#ifndef BR_NODE_H
#define BR_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "errors.h"

enum br_node_type { BR_NODE_SCALAR, BR_NODE_SEQ, BR_NODE_MAP };

struct br_node {
    enum br_node_type type;
    int line;                 /* 1-based */
    int col;                  /* 1-based */
    char *value;              /* SCALAR: the (interpolated) text */
    bool quoted;              /* SCALAR: written quoted ('...' or "...") */
    bool secret;              /* SCALAR: value came through interpolation */
    /* SEQ: items[i]; MAP: keys[i] (scalar nodes) -> items[i] */
    struct br_node **items;
    struct br_node **keys;
    size_t n;
};

/* Parses the YAML file at path (one document). Returns the root node, or
 * NULL with errors added (syntax errors, interpolation failures, alias
 * bombs). The caller owns the tree (br_node_free). */
struct br_node *br_node_load_file(const char *path, struct br_errors *errs);
/* Same, from a buffer (errs->file names it in errors; relative
 * ${file:...} paths are relative to the working directory). For tests. */
struct br_node *br_node_load_string(const char *text, size_t len,
                                    struct br_errors *errs);
void br_node_free(struct br_node *node);

/* MAP lookup by key; returns a borrowed child or NULL. */
const struct br_node *br_node_get(const struct br_node *map, const char *key);

#endif
