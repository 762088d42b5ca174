/* filter_json.h - a config value (a YAML tree, config/node.h) as JSON
 * text, for what the config holds as JSON: the event patterns of `filter`
 * (README: Filters). A scalar keeps the type YAML 1.2 gives it: quoted is
 * a string, plain `5` a number, `true`/`false` booleans, `null`, `~` or
 * nothing null, any other plain text a string. */
#ifndef BR_FILTER_JSON_H
#define BR_FILTER_JSON_H

#include "buf.h"
#include "config/node.h"

/* Appends node as JSON to out. 0, or -1 with an error added at the node
 * at fault (path is node's; its children's paths are made from it): a
 * plain scalar YAML reads as a number that JSON cannot spell (`+5`,
 * `0x1F`, `.5`, `007`, `.inf`), or out of memory. */
int br_filter_json(const struct br_node *node, const char *path, struct br_buf *out,
                   struct br_errors *errs);

#endif
