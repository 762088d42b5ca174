/* target_openfaas.h - options of the OpenFaaS gateway target. */
#ifndef BR_TARGET_OPENFAAS_H
#define BR_TARGET_OPENFAAS_H

#include "bridge/connector.h"

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

struct br_buf;
/* Appends the function's URL to out: GATEWAY/function/NAME, or
 * GATEWAY/async-function/NAME; the name percent-encoded as a path segment
 * and a trailing '/' of the gateway dropped. 0, or -1 when out of memory. */
int openfaas_function_url(struct br_buf *out, const char *gateway, const char *name,
                          bool async);
/* Appends the headers OpenFaaS's Kafka connector sends, as far as they hold
 * for the whole batch recs[0..n), as "Name: value" lines each followed by
 * '\n': X-Topic when every record (Kafka or MQTT) has the same topic;
 * X-Kafka-Partition and X-Kafka-Offset (of the first record) when every
 * record is from one Kafka topic and partition. 0, or -1 out of memory. */
int openfaas_record_headers(struct br_buf *out, struct br_record *const *recs, size_t n);

#endif
