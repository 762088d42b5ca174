/* source_kafka.h - options of the Kafka source (its ctx starts with this). */
#ifndef BR_SOURCE_KAFKA_H
#define BR_SOURCE_KAFKA_H

#include "bridge/connector.h"

enum kafka_ordering { KAFKA_ORDER_PARTITION, KAFKA_ORDER_KEY, KAFKA_ORDER_NONE };

struct kafka_options {
    char *brokers;
    struct br_strlist topics;
    char *group_id;
    char *start;                 /* earliest | latest | timestamp:<unix-ms> */
    enum kafka_ordering ordering;
    struct br_strmap librdkafka; /* passthrough properties */
};

extern const struct br_opt kafka_source_opts[];
/* NULL if s is a valid `start` value, else why not. */
const char *kafka_check_start(const char *s);
/* NULL if s is a topic librdkafka will subscribe to (a ^regex compiles),
 * else why not (a static buffer, valid until the next call). */
const char *kafka_check_topic(const char *s);
/* librdkafka reads its TLS files (ssl.ca.location, ssl.key.location, ...)
 * only when the consumer is created, at run time; this judges them first,
 * for check and run alike. 0, or -1 with a sentence in err. */
int kafka_check_tls_files(const struct br_strmap *props, char *err,
                          size_t errlen);

#endif
