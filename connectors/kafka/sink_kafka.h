/* sink_kafka.h - the options of the `kafka` dead-letter sink (its ctx
 * starts with them), for what reads its topic back: the replay input
 * (dlq_topic_kafka.c). */
#ifndef BR_SINK_KAFKA_H
#define BR_SINK_KAFKA_H

#include "config/opts.h"

struct kafka_sink_options {
    char *brokers;               /* filled from a kafka source's at load */
    char *topic;
    struct br_strmap librdkafka; /* producer properties passed through */
};

#endif
