/* target_http.h - options of the HTTP function target. */
#ifndef BR_TARGET_HTTP_H
#define BR_TARGET_HTTP_H

#include "bridge/connector.h"

struct http_options {
    struct br_target_common common;   /* must come first */
    char *url;
    struct br_strmap headers;
};

extern const struct br_opt http_target_opts[];
const char *http_check_url(const char *s);

#endif
