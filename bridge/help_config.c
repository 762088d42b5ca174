/* help_config.c - `fnbridge help config`: every config key with its type,
 * default, range and help, read from the option tables themselves (the
 * core's in config.c and each registered connector's), as text for a
 * terminal or as the Markdown tables README's config reference holds
 * between its config-reference markers (make docs writes them). The core
 * names no connector here: sources and targets come from the registry. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connector.h"
#include "dlq_sink.h"
#include "help_config.h"

#define EXIT_USAGE 2
#define MAX_SECTIONS 128
#define TEXT_WIDTH 78
#define HELP_INDENT 6
#define KEY_WIDTH 24      /* "retry.backoff.multiplier" */

/* A table the help can print: one of its own, or nested in one. */
struct section {
    char name[96];                        /* "source.mqtt.tls" */
    char where[128];                      /* "pipelines[].source.mqtt.tls" */
    const struct br_opt *table;
    const struct br_source_ops *source;   /* a source's own table: formats */
    bool nested;
};

struct sections {
    struct section v[MAX_SECTIONS];
    size_t n;
};

/* ------------------------------------------------------------- sections */

static struct section *add_section(struct sections *all, const char *name,
                                   const char *where,
                                   const struct br_opt *table, bool nested)
{
    if (all->n == MAX_SECTIONS)
        return NULL;
    struct section *s = &all->v[all->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->where, sizeof s->where, "%s", where);
    s->table = table;
    s->source = NULL;
    s->nested = nested;
    return s;
}

/* The section and, depth first, the tables nested in it. */
static struct section *add_tree(struct sections *all, const char *name,
                                const char *where, const struct br_opt *table,
                                bool nested)
{
    size_t at = all->n;
    if (!add_section(all, name, where, table, nested))
        return NULL;
    for (const struct br_opt *o = table; o->name; o++) {
        if (o->type != BR_OPT_SECTION || !o->section)   /* custom may have one */
            continue;
        char sub_name[96], sub_where[128];
        snprintf(sub_name, sizeof sub_name, "%s.%s", name, o->name);
        snprintf(sub_where, sizeof sub_where, "%s%s%s", where,
                 where[0] ? "." : "", o->name);
        add_tree(all, sub_name, sub_where, o->section, true);
    }
    return &all->v[at];
}

static void collect_sections(struct sections *all)
{
    char name[96], where[128];
    all->n = 0;
    add_tree(all, "top", "", br_config_opts, false);
    add_tree(all, "pipeline", "pipelines[]", br_pipeline_opts, false);
    for (size_t i = 0; br_sources[i]; i++) {
        snprintf(name, sizeof name, "source.%s", br_sources[i]->name);
        snprintf(where, sizeof where, "pipelines[].source.%s", br_sources[i]->name);
        struct section *s = add_tree(all, name, where, br_sources[i]->opts, false);
        if (s)
            s->source = br_sources[i];
    }
    for (size_t i = 0; br_targets[i]; i++) {
        snprintf(name, sizeof name, "target.%s", br_targets[i]->name);
        snprintf(where, sizeof where, "pipelines[].function.%s", br_targets[i]->name);
        add_tree(all, name, where, br_targets[i]->opts, false);
    }
    for (size_t i = 0; br_sinks[i]; i++) {
        snprintf(name, sizeof name, "dead_letter.%s", br_sinks[i]->name);
        snprintf(where, sizeof where, "pipelines[].dead_letter.%s", br_sinks[i]->name);
        add_tree(all, name, where, br_sinks[i]->opts, false);
    }
}

static const struct section *find_section(const struct sections *all,
                                          const char *name)
{
    for (size_t i = 0; i < all->n; i++)
        if (strcmp(all->v[i].name, name) == 0)
            return &all->v[i];
    return NULL;
}

/* A section near name: by its whole name, else by its last part alone
 * ("kafka" is source.kafka). */
static const char *suggest_section(const struct sections *all, const char *name)
{
    const char *names[MAX_SECTIONS], *lasts[MAX_SECTIONS];
    size_t n_lasts = 0;
    for (size_t i = 0; i < all->n; i++) {
        names[i] = all->v[i].name;
        lasts[i] = strrchr(names[i], '.') ? strrchr(names[i], '.') + 1 : names[i];
        /* a sink shares its name with a source or target: "kafka" is the
         * source, as before there were sinks */
        if (strncmp(names[i], "dead_letter.", 12) != 0)
            n_lasts = i + 1;
    }
    const char *near = br_did_you_mean(name, names, all->n);
    if (near)
        return near;
    near = br_did_you_mean(name, lasts, n_lasts);
    for (size_t i = 0; near && i < all->n; i++)
        if (lasts[i] == near)
            return names[i];
    return NULL;
}

static void unknown_section(const struct sections *all, const char *name)
{
    const char *near = suggest_section(all, name);
    fprintf(stderr, "fnbridge: unknown config section '%s'; ", name);
    if (near) {
        fprintf(stderr, "did you mean '%s'?\n", near);
        return;
    }
    fputs("sections:", stderr);
    for (size_t i = 0; i < all->n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", all->v[i].name);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------- one key */

static const char *const type_words[] = {
    [BR_OPT_STR] = "string",     [BR_OPT_STRLIST] = "list of strings",
    [BR_OPT_INT] = "integer",    [BR_OPT_DOUBLE] = "number",
    [BR_OPT_BOOL] = "boolean",   [BR_OPT_DURATION] = "duration",
    [BR_OPT_SIZE] = "size",      [BR_OPT_ENUM] = "enum",
    [BR_OPT_STRMAP] = "mapping", [BR_OPT_SECTION] = "section",
};

static const char *type_word(const struct br_opt *o)
{
    if ((o->flags & BR_OPT_CUSTOM) && o->type_doc)
        return o->type_doc;
    return type_words[o->type];
}

/* The default: a value, in words, "required", or "" (none to show). With
 * quote, a value is written as Markdown code. */
static const char *default_words(const struct br_opt *o, bool quote,
                                 char *buf, size_t size)
{
    if (o->flags & BR_OPT_REQUIRED)
        return "required";
    if (o->def_doc)
        return o->def_doc;
    if (o->def) {
        snprintf(buf, size, quote ? "`%s`" : "%s", o->def[0] ? o->def : "\"\"");
        return buf;
    }
    if (o->type == BR_OPT_SECTION || (o->flags & BR_OPT_CUSTOM))
        return "";
    return o->type == BR_OPT_STRMAP ? (quote ? "`{}`" : "{}") : "none";
}

/* min..max of a number, a duration or a size; "" when unbounded. */
static const char *limit_words(const struct br_opt *o, char *buf, size_t size)
{
    char lo[32], hi[32];
    buf[0] = '\0';
    if (o->min >= o->max)
        return buf;
    if (o->type == BR_OPT_DURATION)
        snprintf(buf, size, "%s..%s", br_fmt_duration(o->min, lo, sizeof lo),
                 br_fmt_duration(o->max, hi, sizeof hi));
    else if (o->type == BR_OPT_SIZE)
        snprintf(buf, size, "%s..%s", br_fmt_size(o->min, lo, sizeof lo),
                 br_fmt_size(o->max, hi, sizeof hi));
    else if (o->type == BR_OPT_INT || o->type == BR_OPT_DOUBLE)
        snprintf(buf, size, "%lld..%lld", (long long)o->min, (long long)o->max);
    return buf;
}

/* The values of an enum joined by sep, each between quote marks. */
static const char *enum_words(const struct br_opt *o, const char *sep,
                              const char *quote, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; o->enum_values[i] && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s%s%s", i ? sep : "",
                                quote, o->enum_values[i], quote);
    return buf;
}

/* The range: an enum's values, or a number's limits; "" when none. */
static const char *range_words(const struct br_opt *o, bool markdown,
                               char *buf, size_t size)
{
    if (o->type == BR_OPT_ENUM && !(o->flags & BR_OPT_CUSTOM))
        return enum_words(o, markdown ? ", " : " | ", markdown ? "`" : "",
                          buf, size);
    return limit_words(o, buf, size);
}

/* ------------------------------------------------------------- text */

/* text indented by HELP_INDENT and wrapped at TEXT_WIDTH, without its
 * Markdown code quotes. */
static void print_wrapped(FILE *out, const char *text)
{
    int col = HELP_INDENT;
    fprintf(out, "%*s", HELP_INDENT, "");
    while (*text) {
        while (*text == ' ')
            text++;
        size_t len = strcspn(text, " "), shown = len;
        for (size_t i = 0; i < len; i++)
            shown -= text[i] == '`';
        if (!len)
            break;
        if (col > HELP_INDENT && col + 1 + (int)shown > TEXT_WIDTH) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
            col = HELP_INDENT;
        } else if (col > HELP_INDENT) {
            fputc(' ', out);
            col++;
        }
        for (size_t i = 0; i < len; i++)
            if (text[i] != '`')
                fputc(text[i], out);
        col += (int)shown;
        text += len;
    }
    fputc('\n', out);
}

/* s without its Markdown code quotes. */
static void put_plain(FILE *out, const char *s)
{
    for (; *s; s++)
        if (*s != '`')
            fputc(*s, out);
}

/* "  key   type range, default X", then the help below it. */
static void text_key(FILE *out, const struct br_opt *o, const char *key)
{
    char dbuf[128], rbuf[256];
    const char *def = default_words(o, false, dbuf, sizeof dbuf);
    const char *range = range_words(o, false, rbuf, sizeof rbuf);
    fprintf(out, "  %-*s %s", KEY_WIDTH, key, type_word(o));
    if (range[0])
        fprintf(out, o->type == BR_OPT_ENUM ? " (%s)" : " %s", range);
    if (strcmp(def, "required") == 0)
        fputs(", required", out);
    else if (def[0]) {
        fputs(", default ", out);
        put_plain(out, def);
    }
    fputc('\n', out);
    if (o->help)
        print_wrapped(out, o->help);
}

/* ------------------------------------------------------------- markdown */

/* s as the next cell of a table row: a '|' in it would end the cell. */
static void md_cell(FILE *out, const char *s)
{
    if (*s)
        fputc(' ', out);
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputs(" |", out);
}

static void md_key(FILE *out, const struct br_opt *o, const char *key)
{
    char dbuf[128], rbuf[256];
    fprintf(out, "| `%s` |", key);
    md_cell(out, type_word(o));
    md_cell(out, default_words(o, true, dbuf, sizeof dbuf));
    md_cell(out, range_words(o, true, rbuf, sizeof rbuf));
    md_cell(out, o->help ? o->help : "");
    fputc('\n', out);
}

/* ------------------------------------------------------------- sections */

typedef void (*key_fn)(FILE *out, const struct br_opt *o, const char *key);

/* Every key of table, nested ones as prefix.key, depth first. */
static void print_keys(FILE *out, const struct br_opt *table,
                       const char *prefix, key_fn print_key)
{
    for (const struct br_opt *o = table; o->name; o++) {
        char key[128];
        int w = snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "",
                         o->name);
        if (w < 0 || (size_t)w >= sizeof key)
            continue;       /* no table nests that deep */
        print_key(out, o, key);
        if (o->type == BR_OPT_SECTION && o->section)
            print_keys(out, o->section, key, print_key);
    }
}

/* "`lambda` (the default), `json`": the event formats a source's records
 * can be sent in, from its ops. */
static void print_formats(FILE *out, const struct br_source_ops *ops,
                          const char *quote)
{
    fprintf(out, "%s%s%s (the default)", quote, ops->default_format, quote);
    for (unsigned i = 0; br_format_names[i]; i++)
        if ((ops->formats & BR_FORMAT_BIT(i)) &&
            strcmp(br_format_names[i], ops->default_format) != 0)
            fprintf(out, ", %s%s%s", quote, br_format_names[i], quote);
}

static void print_text(FILE *out, const struct section *s)
{
    fprintf(out, "%s  (%s)\n", s->name, s->where[0] ? s->where : "the top of the file");
    if (s->source) {
        fputs("  event formats: ", out);
        print_formats(out, s->source, "");
        fputc('\n', out);
    }
    print_keys(out, s->table, "", text_key);
}

static void print_markdown(FILE *out, const struct section *s)
{
    if (s->source) {
        fputs("Event formats: ", out);
        print_formats(out, s->source, "`");
        fputs(".\n\n", out);
    }
    fputs("| key | type | default | range | meaning |\n|---|---|---|---|---|\n", out);
    print_keys(out, s->table, "", md_key);
}

static void print_section(const struct section *s, bool markdown)
{
    if (markdown)
        print_markdown(stdout, s);
    else
        print_text(stdout, s);
}

/* ------------------------------------------------------------- command */

static int usage(const char *fmt, const char *arg)
{
    fputs("fnbridge: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nUsage: fnbridge help config [SECTION] [--markdown]\n", stderr);
    return EXIT_USAGE;
}

int br_help_config_main(int argc, char **argv)
{
    const char *name = NULL;
    bool markdown = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0)
            markdown = true;
        else if (argv[i][0] == '-')
            return usage("help config: unknown option '%s'", argv[i]);
        else if (name)
            return usage("help config: one section at a time, not also '%s'", argv[i]);
        else
            name = argv[i];
    }
    static struct sections all;
    collect_sections(&all);
    if (name) {
        const struct section *s = find_section(&all, name);
        if (!s) {
            unknown_section(&all, name);
            return EXIT_USAGE;
        }
        print_section(s, markdown);
        return 0;
    }
    bool first = true;
    for (size_t i = 0; i < all.n; i++) {
        if (all.v[i].nested)
            continue;
        if (!first)
            fputc('\n', stdout);
        first = false;
        /* README's blocks, each between the markers make docs finds */
        if (markdown)
            printf("<!-- config-reference:begin %s -->\n", all.v[i].name);
        print_section(&all.v[i], markdown);
        if (markdown)
            puts("<!-- config-reference:end -->");
    }
    return 0;
}
