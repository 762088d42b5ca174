/* target_openfaas.h - options of the OpenFaaS gateway target. */
#ifndef BR_TARGET_OPENFAAS_H
#define BR_TARGET_OPENFAAS_H

#include "connector.h"

struct openfaas_options {
    struct br_target_common common;   /* must come first */
    char *gateway;                    /* http://127.0.0.1:8080 */
    char *name;                       /* function name ("fn" or "fn.namespace") */
    bool async;                       /* POST /async-function/<name>; 202 = accepted */
    char *callback_url;               /* X-Callback-Url (async only) */
    char *username;                   /* basic auth user; default "admin" */
    char *password;                   /* basic auth password (secret) */
    char *password_file;              /* or read from this file (trailing newline dropped) */
    struct br_strmap headers;         /* extra request headers */
};

extern const struct br_opt openfaas_target_opts[];

#endif
