/* target_options.c - the option tables of the http and exec targets. */
#include <string.h>

#include "target_exec.h"
#include "target_http.h"

const char *http_check_url(const char *s)
{
    if (strncmp(s, "http://", 7) == 0 && s[7])
        return NULL;
    if (strncmp(s, "https://", 8) == 0 && s[8])
        return NULL;
    return "must be an http:// or https:// URL";
}

#define H(field) offsetof(struct http_options, field)
const struct br_opt http_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct http_options),
    {.name = "url", .type = BR_OPT_STR, .offset = H(url),
     .flags = BR_OPT_REQUIRED, .check = http_check_url,
     .help = "the function's URL; the event is POSTed to it"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = H(headers),
     .help = "extra request headers (values may use ${env:...})"},
    {0},
};

static const char *const exec_modes[] = {"stdio", NULL};

#define E(field) offsetof(struct exec_options, field)
const struct br_opt exec_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct exec_options),
    {.name = "command", .type = BR_OPT_STRLIST, .offset = E(command),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "argv of the function process, run directly (no shell)"},
    {.name = "mode", .type = BR_OPT_ENUM, .def = "stdio", .offset = E(mode),
     .enum_values = exec_modes,
     .help = "stdio: one process per batch, event on stdin, response on stdout"},
    {.name = "env", .type = BR_OPT_STRMAP, .offset = E(env),
     .help = "the function's environment (besides PATH)"},
    {.name = "cwd", .type = BR_OPT_STR, .offset = E(cwd),
     .help = "working directory of the process"},
    {0},
};
