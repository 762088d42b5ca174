/* registry.c - the static list of connectors. Adding a source, target or
 * dead-letter sink is
 * one line here plus its file; the core never names a connector. */
#include <string.h>

#include "bridge/connector.h"
#include "bridge/dlq_input.h"
#include "bridge/dlq_sink.h"

extern const struct br_source_ops br_source_kafka;
extern const struct br_source_ops br_source_mqtt;
extern const struct br_source_ops br_source_s3;
extern const struct br_target_ops br_target_http;
extern const struct br_target_ops br_target_exec;
extern const struct br_target_ops br_target_lambda;
extern const struct br_target_ops br_target_openfaas;
extern const struct br_sink_ops br_sink_kafka;
extern const struct br_sink_ops br_sink_mqtt;
extern const struct br_sink_ops br_sink_http;
extern const struct br_dlq_topic_ops br_dlq_topic_kafka;

const struct br_source_ops *const br_sources[] = {&br_source_kafka, &br_source_mqtt,
                                                  &br_source_s3, NULL};
const struct br_target_ops *const br_targets[] = {&br_target_http, &br_target_exec,
                                                  &br_target_lambda,
                                                  &br_target_openfaas, NULL};
/* Dead-letter sinks besides the core's file sink (br_sink_file). */
const struct br_sink_ops *const br_sinks[] = {&br_sink_kafka, &br_sink_mqtt, &br_sink_http,
                                              NULL};
/* Dead-letter topics `fnbridge dlq replay --from-topic` reads. */
static const struct br_dlq_topic_ops *const br_dlq_topics[] = {&br_dlq_topic_kafka, NULL};


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

const struct br_sink_ops *br_find_sink(const char *name)
{
    if (strcmp(br_sink_file.name, name) == 0)
        return &br_sink_file;
    for (size_t i = 0; br_sinks[i]; i++)
        if (strcmp(br_sinks[i]->name, name) == 0)
            return br_sinks[i];
    return NULL;
}

const struct br_dlq_topic_ops *br_find_dlq_topic(const struct br_sink_ops *sink)
{
    for (size_t i = 0; br_dlq_topics[i]; i++)
        if (br_dlq_topics[i]->sink == sink)
            return br_dlq_topics[i];
    return NULL;
}
