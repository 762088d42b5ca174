/* test_opts_doc.c - what `fnbridge help config` reads from the option
 * tables: the did-you-mean it shares with unknown keys, the limits written
 * back as config text, and every table of the core and the registry fit to
 * be printed (each key has help, each enum its values, each range is one
 * the parser applies, each default parses). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/config.h"
#include "unit.h"

static void test_did_you_mean(void)
{
    static const char *const names[] = {"source.kafka", "source.mqtt", "source.s3",
                                        "top", "target.http", "target.exec"};
    static const struct {
        const char *word, *want;      /* want NULL: no suggestion */
    } rows[] = {
        {"source.kafak", "source.kafka"},   /* a swap is one edit */
        {"source.mqt", "source.mqtt"},      /* a missing letter */
        {"tpo", "top"},                     /* short names: a swap still counts */
        {"target.htt", "target.http"},
        {"target.exe", "target.exec"},
        {"zzz", NULL},                      /* 3 edits of 'top': too far */
        {"source.s", "source.s3"},
        {"xx", NULL},                       /* most of 'top' would change */
        {"source.zzzzz", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *got = br_did_you_mean(rows[i].word, names, 6);
        if (rows[i].want)
            CHECK_STR(got, rows[i].want);
        else
            CHECK_MSG(got == NULL, "%s: got %s, want none", rows[i].word, got);
    }
    /* two names as near: no guess */
    static const char *const tie[] = {"abcd", "abce"};
    CHECK(br_did_you_mean("abcf", tie, 2) == NULL);
    CHECK_STR(br_did_you_mean("abcd", tie, 2), "abcd");
}

static void test_limits_as_text(void)
{
    static const struct {
        int64_t ms;
        const char *want;
    } durations[] = {
        {0, "0s"}, {1, "1ms"}, {10, "10ms"}, {1000, "1s"}, {1500, "1500ms"},
        {900000, "15m"}, {3600000, "1h"}, {86400000, "1d"}, {7 * 86400000LL, "7d"},
        {4294967000LL * 1000, "4294967000s"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
        CHECK_STR(br_fmt_duration(durations[i].ms, buf, sizeof buf), durations[i].want);
    static const struct {
        int64_t bytes;
        const char *want;
    } sizes[] = {
        {0, "0B"}, {1000, "1000B"}, {1024, "1KiB"}, {1048576, "1MiB"},
        {64 * 1048576LL, "64MiB"}, {1536, "1536B"}, {68719476736LL, "64GiB"},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CHECK_STR(br_fmt_size(sizes[i].bytes, buf, sizeof buf), sizes[i].want);
    /* what is printed parses back to the same value */
    int64_t back;
    CHECK(br_parse_duration(br_fmt_duration(900000, buf, sizeof buf), &back) == 0 &&
          back == 900000);
    CHECK(br_parse_size(br_fmt_size(16 * 1073741824LL, buf, sizeof buf), &back) == 0 &&
          back == 16 * 1073741824LL);
}

/* Every key of table (nested ones too) is documented and consistent. */
static void check_table(const char *what, const struct br_opt *table, int *keys)
{
    for (const struct br_opt *o = table; o->name; o++) {
        (*keys)++;
        CHECK_MSG(o->help && o->help[0], "%s.%s has no help", what, o->name);
        CHECK_MSG(!strchr(o->help ? o->help : "", '\n'), "%s.%s: help on one line",
                  what, o->name);
        if (o->flags & BR_OPT_CUSTOM) {
            CHECK_MSG(o->type_doc, "%s.%s: a custom key needs type_doc", what, o->name);
            continue;
        }
        if (o->type == BR_OPT_ENUM)
            CHECK_MSG(o->enum_values && o->enum_values[0], "%s.%s: no values", what,
                      o->name);
        if (o->min < o->max)
            CHECK_MSG(o->type == BR_OPT_INT || o->type == BR_OPT_DOUBLE ||
                      o->type == BR_OPT_DURATION || o->type == BR_OPT_SIZE,
                      "%s.%s: a range the parser would not check", what, o->name);
        CHECK_MSG(!(o->def && o->def_doc), "%s.%s: a default and one in words", what,
                  o->name);
        if (o->type == BR_OPT_SECTION) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.%s", what, o->name);
            check_table(sub, o->section, keys);
        }
    }
}

/* The defaults of table parse: applied to no mapping at all, the only
 * errors are its required keys. */
static void check_defaults(const char *what, const struct br_opt *table, size_t size)
{
    void *base = calloc(1, size);
    struct br_errors errs = {.file = "defaults"};
    br_opts_apply(table, NULL, base, what, &errs);
    for (size_t i = 0; i < errs.n; i++)
        CHECK_MSG(strstr(errs.v[i].message, "missing required key"), "%s: %s", what,
                  errs.v[i].message);
    br_opts_free(table, base);
    br_errors_free(&errs);
    free(base);
}

static void test_every_table_is_documented(void)
{
    int keys = 0;
    check_table("top", br_config_opts, &keys);
    check_table("pipeline", br_pipeline_opts, &keys);
    check_defaults("pipeline", br_pipeline_opts, sizeof(struct br_pipeline_conf));
    for (size_t i = 0; br_sources[i]; i++) {
        check_table(br_sources[i]->name, br_sources[i]->opts, &keys);
        check_defaults(br_sources[i]->name, br_sources[i]->opts, br_sources[i]->ctx_size);
    }
    for (size_t i = 0; br_targets[i]; i++) {
        check_table(br_targets[i]->name, br_targets[i]->opts, &keys);
        check_defaults(br_targets[i]->name, br_targets[i]->opts, br_targets[i]->ctx_size);
    }
    CHECK_MSG(keys > 90, "only %d keys found", keys);
}

int main(void)
{
    test_did_you_mean();
    test_limits_as_text();
    test_every_table_is_documented();
    return UNIT_DONE("opts_doc");
}
