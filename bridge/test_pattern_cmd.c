/* test_pattern_cmd.c - `fnbridge test-pattern PATTERN EVENT`: does the
 * event match the filter pattern, as a pipeline's `filter:` would decide
 * (README: Filters)? Like `aws events test-event-pattern`, but offline and
 * with exit codes a script can branch on. Each argument is JSON text,
 * `@FILE` for a file's contents, or `-` for stdin (one of them at most). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pattern.h"
#include "slurp.h"
#include "test_pattern_cmd.h"

#define TP_MATCH 0
#define TP_NOMATCH 1
#define TP_INVALID 2
#define TP_DOC_MAX (1u << 20)     /* EventBridge takes events of 256 KB */

const char br_test_pattern_usage[] =
    "Usage: fnbridge test-pattern PATTERN EVENT\n"
    "\n"
    "Does EVENT match PATTERN, as a pipeline's filter decides? Prints match\n"
    "or nomatch. Each is JSON text, @FILE for a file's contents, or - for\n"
    "stdin (one of the two at most). PATTERN is an EventBridge event pattern\n"
    "(Lambda FilterCriteria): the document a pipeline's filter sees of a\n"
    "record is in the README (Filters).\n"
    "\n"
    "  fnbridge test-pattern '{\"value\":{\"kind\":[\"order\"]}}' @record.json\n"
    "\n"
    "Exit codes: 0 match, 1 no match, 2 usage, or a pattern or event that is\n"
    "not valid (the reason and where on stderr).\n";

/* The text an argument stands for (the caller frees), NULL with the
 * reason printed. what: "pattern" or "event". */
static char *argument_text(const char *arg, const char *what, size_t *len)
{
    if (arg[0] != '@' && strcmp(arg, "-") != 0) {
        *len = strlen(arg);
        return strdup(arg);
    }
    bool is_stdin = arg[0] == '-';
    const char *path = is_stdin ? "stdin" : arg + 1;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        br_print(stderr, "fnbridge: test-pattern: the %s: %s: %s\n", what, path,
                 strerror(errno));
        return NULL;
    }
    char err[256];
    char *text = br_slurp(f, TP_DOC_MAX, len, err, sizeof(err));
    if (!is_stdin)
        fclose(f);
    if (!text)
        br_print(stderr, "fnbridge: test-pattern: the %s: %s: %s\n", what, path, err);
    return text;
}

static int usage(const char *why)
{
    fprintf(stderr, "fnbridge: test-pattern: %s\nTry 'fnbridge help test-pattern'.\n", why);
    return TP_INVALID;
}

static int run(const char *pattern_arg, const char *event_arg)
{
    size_t plen = 0, elen = 0;
    char err[512];
    int rc = TP_INVALID;
    char *pattern_text = argument_text(pattern_arg, "pattern", &plen);
    char *event_text = pattern_text ? argument_text(event_arg, "event", &elen) : NULL;
    struct br_pattern *p = NULL;
    if (event_text && !(p = br_pattern_compile(pattern_text, plen, err, sizeof(err))))
        br_print(stderr, "fnbridge: test-pattern: the pattern is not valid: %s\n", err);
    if (p) {
        int m = br_pattern_match_text(p, event_text, elen, err, sizeof(err));
        if (m < 0)
            br_print(stderr, "fnbridge: test-pattern: the event is not valid: %s\n", err);
        else
            rc = m ? TP_MATCH : TP_NOMATCH;
        if (m >= 0)
            puts(m ? "match" : "nomatch");
    }
    br_pattern_free(p);
    free(event_text);
    free(pattern_text);
    return rc;
}

int br_test_pattern_main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(br_test_pattern_usage, stdout);
        return 0;
    }
    if (argc != 3)
        return usage("takes two arguments, PATTERN and EVENT");
    if (!strcmp(argv[1], "-") && !strcmp(argv[2], "-"))
        return usage("only one of PATTERN and EVENT can be read from stdin");
    return run(argv[1], argv[2]);
}
