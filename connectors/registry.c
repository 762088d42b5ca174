/* registry.c - the static list of connectors. Adding a source or target is
 * one line here plus its file; the core never names a connector. */
#include <string.h>

#include "bridge/connector.h"

extern const struct br_source_ops br_source_kafka;
extern const struct br_source_ops br_source_mqtt;
extern const struct br_source_ops br_source_s3;
extern const struct br_target_ops br_target_http;
extern const struct br_target_ops br_target_exec;
extern const struct br_target_ops br_target_lambda;
extern const struct br_target_ops br_target_openfaas;

const struct br_source_ops *const br_sources[] = {&br_source_kafka, &br_source_mqtt,
                                                  &br_source_s3, NULL};
const struct br_target_ops *const br_targets[] = {&br_target_http, &br_target_exec,
                                                  &br_target_lambda,
                                                  &br_target_openfaas, NULL};


const struct br_source_ops *br_find_source(const char *name)
{
    for (size_t i = 0; br_sources[i]; i++)
        if (strcmp(br_sources[i]->name, name) == 0)
            return br_sources[i];
    return NULL;
}

const struct br_target_ops *br_find_target(const char *name)
{
    for (size_t i = 0; br_targets[i]; i++)
        if (strcmp(br_targets[i]->name, name) == 0)
            return br_targets[i];
    return NULL;
}
