/* kafka_options.c - the option table of the Kafka source, and the checks
 * of its values that librdkafka would otherwise make only when it runs. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
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
        /* Digits only: strtoll alone would take a sign or spaces, and
         * turn an overflow into INT64_MAX without a word. */
        if (*digits >= '0' && *digits <= '9') {
            errno = 0;
            long long ms = strtoll(digits, &end, 10);
            if (*end == '\0' && errno != ERANGE)
                return ms >= 0 ? NULL : "timestamp must not be negative";
            if (errno == ERANGE && strspn(digits, "0123456789") == strlen(digits))
                return "timestamp is too large (at most 9223372036854775807 "
                       "milliseconds)";
        }
        return "timestamp must be a Unix time in milliseconds, as in timestamp:1700000000000";
    }
    return "must be earliest, latest or timestamp:<unix-ms>";
}

/* librdkafka takes a topic starting with ^ as a regex and compiles it when
 * it subscribes; the consumer then fails at run time with no place named.
 * Debian's librdkafka is built with HAVE_REGEX, so that is libc's
 * regcomp(REG_EXTENDED | REG_NOSUB) (rdregex.c): the same call here
 * accepts exactly what it will accept. */
const char *kafka_check_topic(const char *s)
{
    static char why[256];
    if (s[0] != '^')
        return NULL;
    regex_t re;
    int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&re);
        return NULL;
    }
    char detail[128];
    regerror(rc, &re, detail, sizeof detail);
    snprintf(why, sizeof why, "is not a valid regular expression (a topic "
             "starting with ^ is a POSIX extended regex to librdkafka): %s",
             detail);
    return why;
}

#define O(field) offsetof(struct kafka_options, field)
const struct br_opt kafka_source_opts[] = {
    {.name = "brokers", .type = BR_OPT_STR, .offset = O(brokers),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "bootstrap servers, host:port[,host:port...]"},
    {.name = "topics", .type = BR_OPT_STRLIST, .offset = O(topics),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY, .check = kafka_check_topic,
     .help = "topics to consume (a name starting with ^ is a POSIX extended "
             "regex)"},
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
