/* openfaas_options.c - the option table of the OpenFaaS gateway target. */
#include "target_http.h"
#include "target_openfaas.h"

#define F(field) offsetof(struct openfaas_options, field)
const struct br_opt openfaas_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct openfaas_options),
    {.name = "gateway", .type = BR_OPT_STR, .offset = F(gateway),
     .flags = BR_OPT_REQUIRED, .check = http_check_url,
     .help = "the gateway's URL, e.g. `http://127.0.0.1:8080`"},
    {.name = "name", .type = BR_OPT_STR, .offset = F(name),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "the function (`fn` or `fn.namespace`)"},
    {.name = "async", .type = BR_OPT_BOOL, .def = "false", .offset = F(async),
     .help = "`false`: `POST /function/NAME`; `true`: `POST "
             "/async-function/NAME`, where `202 Accepted` is success"},
    {.name = "callback_url", .type = BR_OPT_STR, .offset = F(callback_url),
     .check = http_check_url,
     .help = "with `async`: sent as `X-Callback-Url`, where the gateway posts "
             "the function's result"},
    {.name = "username", .type = BR_OPT_STR, .def = "admin", .offset = F(username),
     .flags = BR_OPT_NONEMPTY,
     .help = "basic auth user (with `password` or `password_file`)"},
    {.name = "password", .type = BR_OPT_STR, .offset = F(password),
     .help = "basic auth password"},
    {.name = "password_file", .type = BR_OPT_STR, .offset = F(password_file),
     .flags = BR_OPT_NONEMPTY,
     .help = "a file holding the basic auth password (as the gateway's "
             "`basic-auth-password` secret; a trailing newline is dropped; a "
             "regular file of at most 4 KiB)"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = F(headers),
     .help = "extra request headers, as for `http`"},
    {0},
};
