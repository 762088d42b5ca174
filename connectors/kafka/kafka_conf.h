/* kafka_conf.h - setting librdkafka properties with errors in fnbridge's
 * words, for every client of the family (the source, the dead-letter sink,
 * the replay consumer). */
#ifndef BR_KAFKA_CONF_H
#define BR_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/* Sets key=value on conf. Returns 0, or -1 with err as "librdkafka
 * property 'KEY': WHY". */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                   char *err, size_t errlen);

#endif
