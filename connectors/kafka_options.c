/* kafka_options.c - the option table of the Kafka source. */
#include <stdlib.h>
#include <string.h>

#include "source_kafka.h"

static const char *const ordering_names[] = {"partition", "key", "none", NULL};

const char *kafka_check_start(const char *s)
{
    if (strcmp(s, "earliest") == 0 || strcmp(s, "latest") == 0)
        return NULL;
    if (strncmp(s, "timestamp:", 10) == 0) {
        const char *digits = s + 10;
        char *end;
        if (*digits >= '0' && *digits <= '9') {
            long long ms = strtoll(digits, &end, 10);
            if (*end == '\0' && ms >= 0)
                return NULL;
        }
        return "timestamp must be a Unix time in milliseconds, as in timestamp:1700000000000";
    }
    return "must be earliest, latest or timestamp:<unix-ms>";
}

#define O(field) offsetof(struct kafka_options, field)
const struct br_opt kafka_source_opts[] = {
    {.name = "brokers", .type = BR_OPT_STR, .offset = O(brokers),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "bootstrap servers, host:port[,host:port...]"},
    {.name = "topics", .type = BR_OPT_STRLIST, .offset = O(topics),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "topics to consume (a name starting with ^ is a regex)"},
    {.name = "group_id", .type = BR_OPT_STR, .offset = O(group_id),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "consumer group; replicas with one group_id split partitions"},
    {.name = "start", .type = BR_OPT_STR, .def = "earliest", .offset = O(start),
     .check = kafka_check_start,
     .help = "where a group with no committed offset starts: earliest | "
             "latest | timestamp:<unix-ms>"},
    {.name = "ordering", .type = BR_OPT_ENUM, .def = "partition",
     .offset = O(ordering), .enum_values = ordering_names,
     .help = "partition: one batch in flight per partition"},
    {.name = "librdkafka", .type = BR_OPT_STRMAP, .offset = O(librdkafka),
     .help = "librdkafka properties passed through"},
    {0},
};
