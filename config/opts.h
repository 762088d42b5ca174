/* opts.h - option tables: one place that gives parsing, defaults, range
 * checks, unknown-key errors and help text for a config section.
 *
 * A table is an array of struct br_opt ending with {0}. Each option writes
 * its parsed value at `offset` in a caller-provided struct (the "base"):
 *   BR_OPT_STR       char *            (owned by base; br_opts_free)
 *   BR_OPT_STRLIST   struct br_strlist
 *   BR_OPT_INT       int64_t
 *   BR_OPT_DOUBLE    double
 *   BR_OPT_BOOL      bool
 *   BR_OPT_DURATION  int64_t milliseconds ("250ms", "30s", "5m", "1h", "1d";
 *                    a bare number is refused: the unit must be explicit)
 *   BR_OPT_SIZE      int64_t bytes ("512KiB", "1MiB", "1GiB", "100B", or
 *                    a bare integer meaning bytes)
 *   BR_OPT_ENUM      an enum whose values index enum_values: the setter
 *                    writes an int, so the field must be int-sized
 *                    (BR_OPT_ENUM_FIELD asserts it beside the table), and
 *                    an option without a default stores -1, which its
 *                    enum must then name
 *   BR_OPT_STRMAP    struct br_strmap (mapping of name -> scalar; numbers and
 *                    booleans are kept as their text)
 *   BR_OPT_SECTION   nested mapping parsed with `section`, into the same base
 *                    struct (section tables use offsets into the same base)
 * Defaults are given as text in `def` and parsed like config text; NULL
 * means "no default" (STR stays NULL, numbers 0, ENUM -1). */
#ifndef BR_OPTS_H
#define BR_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

enum br_opt_type {
    BR_OPT_END = 0,
    BR_OPT_STR,
    BR_OPT_STRLIST,
    BR_OPT_INT,
    BR_OPT_DOUBLE,
    BR_OPT_BOOL,
    BR_OPT_DURATION,
    BR_OPT_SIZE,
    BR_OPT_ENUM,
    BR_OPT_STRMAP,
    BR_OPT_SECTION,
};

#define BR_OPT_REQUIRED 0x1u   /* key must be present */
#define BR_OPT_NONEMPTY 0x2u   /* STR / STRLIST must not be empty */
/* The key is known (never "unknown key"; BR_OPT_REQUIRED is checked) but
 * its value is left to the caller, e.g. a list of pipelines or a choice of
 * connector. `type`, `def` and `offset` are ignored; `section` may be NULL. */
#define BR_OPT_CUSTOM   0x4u

struct br_strlist {
    char **v;
    size_t n;
};

struct br_strmap {
    char **keys;
    char **values;
    size_t n;
};

struct br_opt {
    const char *name;
    enum br_opt_type type;
    const char *def;                   /* default, as config text */
    size_t offset;                     /* into the base struct */
    unsigned flags;
    int64_t min, max;                  /* INT/DURATION/SIZE; checked when min < max */
    const char *const *enum_values;    /* ENUM: NULL-terminated */
    const struct br_opt *section;      /* SECTION: nested table */
    /* Extra check for STR values and each STRLIST item; returns NULL if
     * fine, else a message naming what is wrong (a static string, or a
     * static buffer valid until the next call). */
    const char *(*check)(const char *value);
    const char *help;                  /* one line, for `fnbridge help
                                          config` and the README */
    /* For help only: the default in words where it is no value of the
     * option (found at run time: "fnbridge-<pipeline>"), shown instead of
     * def; and the type in words of a BR_OPT_CUSTOM key ("list"). */
    const char *def_doc;
    const char *type_doc;
};

/* Beside a table with an ENUM option writing into type.field. */
#define BR_OPT_ENUM_FIELD(type, field)                                        \
    _Static_assert(sizeof(((type *)0)->field) == sizeof(int),                 \
                   "BR_OPT_ENUM writes an int into " #type "." #field)

/* Applies defaults of `table` to base, then the values of `map` (a MAP
 * node, or NULL for "all defaults"). Unknown keys, wrong types, values out
 * of range and missing required keys are added to errs with `path` as the
 * prefix ("pipelines[0].batch"). Returns the number of errors added. */
int br_opts_apply(const struct br_opt *table, const struct br_node *map,
                  void *base, const char *path, struct br_errors *errs);

/* Like br_opts_apply with several tables over one mapping: a key is unknown
 * only if no table names it. tables[i] writes into bases[i]. */
int br_opts_apply_multi(const struct br_opt *const *tables, void *const *bases,
                        size_t n, const struct br_node *map, const char *path,
                        struct br_errors *errs);

/* Frees the strings, lists and maps the table stored in base. */
void br_opts_free(const struct br_opt *table, void *base);

/* Text parsers shared with other code; return 0, or -1 if malformed. */
int br_parse_duration(const char *s, int64_t *ms);
int br_parse_size(const char *s, int64_t *bytes);

/* The reverse, as the errors print limits: ms in the largest unit that
 * divides it ("15m"), bytes in the largest binary one ("64MiB"). */
const char *br_fmt_duration(int64_t ms, char *buf, size_t size);
const char *br_fmt_size(int64_t bytes, char *buf, size_t size);

/* The one of names[0..n) within 2 edits of word (and not most of it), as
 * unknown keys are answered; NULL when none or several are as close. */
const char *br_did_you_mean(const char *word, const char *const *names,
                            size_t n);

#endif
