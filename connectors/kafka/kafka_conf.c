/* kafka_conf.c - librdkafka properties set with a located, readable error
 * (kafka_conf.h). */
#include <stdio.h>

#include "kafka_conf.h"

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                   char *err, size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "librdkafka property '%s': %s", key, why);
    return -1;
}
