/* http_options.c - the option table of the HTTP function target, and the
 * URL check the other HTTP-based targets share. */
#include <string.h>

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
     .help = "the event is POSTed here (`http://` or `https://`)"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = H(headers),
     .help = "extra request headers, e.g. `{Authorization: \"Bearer "
             "${env:FN_TOKEN}\"}`"},
    {0},
};
