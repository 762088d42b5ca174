/* kafka_options.c - the option table of the Kafka source, and the checks
 * of its values that librdkafka would otherwise make only when it runs. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source_kafka.h"

static const char *const ordering_names[] = {
    [KAFKA_ORDER_PARTITION] = "partition", [KAFKA_ORDER_KEY] = "key",
    [KAFKA_ORDER_NONE] = "none", [KAFKA_ORDER_NONE + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct kafka_options, ordering);

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

/* The librdkafka properties naming files it opens when it sets up TLS,
 * and whether a directory will do (a CA path). */
static const struct {
    const char *key;
    bool dir_ok;
} tls_files[] = {
    {"ssl.ca.location", true},        {"ssl.certificate.location", false},
    {"ssl.key.location", false},      {"ssl.keystore.location", false},
    {"ssl.crl.location", false},      {"ssl.engine.location", false},
};

static const char *prop(const struct br_strmap *props, const char *key)
{
    for (size_t i = 0; i < props->n; i++)
        if (strcmp(props->keys[i], key) == 0)
            return props->values[i];
    return NULL;
}

/* NULL if path can be read as the property needs, else why not. */
static const char *tls_file_problem(const char *path, bool dir_ok)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return strerror(errno);
    bool dir = S_ISDIR(st.st_mode);
    if (dir && !dir_ok)
        return "it is a directory";
    if (!dir && !S_ISREG(st.st_mode))
        return "not a regular file";
    if (faccessat(AT_FDCWD, path, dir ? R_OK | X_OK : R_OK, AT_EACCESS) < 0)
        return strerror(errno);
    return NULL;
}

int kafka_check_tls_files(const struct br_strmap *props, char *err,
                          size_t errlen)
{
    /* librdkafka opens them only for these protocols (rd_kafka_new), and
     * only then: a plaintext consumer runs with any value there. */
    const char *proto = prop(props, "security.protocol");
    if (!proto || (strcasecmp(proto, "ssl") != 0 &&
                   strcasecmp(proto, "sasl_ssl") != 0))
        return 0;
    for (size_t i = 0; i < sizeof(tls_files) / sizeof(tls_files[0]); i++) {
        const char *path = prop(props, tls_files[i].key);
        if (!path || (tls_files[i].dir_ok && strcmp(path, "probe") == 0))
            continue;
        const char *why = tls_file_problem(path, tls_files[i].dir_ok);
        if (why) {
            snprintf(err, errlen, "librdkafka property '%s': cannot read %s: %s",
                     tls_files[i].key, path, why);
            return -1;
        }
    }
    return 0;
}

#define O(field) offsetof(struct kafka_options, field)
const struct br_opt kafka_source_opts[] = {
    {.name = "brokers", .type = BR_OPT_STR, .offset = O(brokers),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "bootstrap servers, `host:port[,host:port...]`"},
    {.name = "topics", .type = BR_OPT_STRLIST, .offset = O(topics),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY, .check = kafka_check_topic,
     .help = "topics to consume; a name starting with `^` is a regular "
             "expression (POSIX extended, as librdkafka compiles it; one that "
             "does not compile is a config error)"},
    {.name = "group_id", .type = BR_OPT_STR, .offset = O(group_id),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "consumer group; replicas sharing it split the partitions"},
    {.name = "start", .type = BR_OPT_STR, .def = "earliest", .offset = O(start),
     .check = kafka_check_start,
     .help = "where a group without committed offsets starts: `earliest`, "
             "`latest`, `timestamp:<unix-ms>` (digits only, at most "
             "9223372036854775807)"},
    {.name = "ordering", .type = BR_OPT_ENUM, .def = "partition",
     .offset = O(ordering), .enum_values = ordering_names,
     .help = "`partition`: one batch in flight per partition; `key`: one per "
             "key (batches of different keys run in parallel); `none`"},
    {.name = "librdkafka", .type = BR_OPT_STRMAP, .offset = O(librdkafka),
     .help = "librdkafka properties passed through as they are (strings, "
             "numbers, booleans), e.g. `{security.protocol: SASL_SSL, "
             "session.timeout.ms: 10000}`. `bootstrap.servers`, `group.id`, "
             "`enable.auto.offset.store` and `statistics.interval.ms` (read "
             "each second for readiness) are refused: fnbridge sets them. "
             "fnbridge's own defaults, which you may override: "
             "`enable.auto.commit: true` with `auto.commit.interval.ms: 1000` "
             "(only offsets fnbridge stored are committed), "
             "`queued.max.messages.kbytes: 2048`, `reconnect.backoff.max.ms: "
             "1000` (a broker back is used again within a second), "
             "`fetch.max.bytes: 1048576` "
             "(raised to `message.max.bytes` if you raise that; see Performance "
             "and memory in the README). With `security.protocol` `SSL` or "
             "`SASL_SSL`, the files named by `ssl.ca.location` (a file, a directory or `probe`), "
             "`ssl.certificate.location`, `ssl.key.location`, "
             "`ssl.keystore.location`, `ssl.crl.location` and "
             "`ssl.engine.location` must be readable: `check` says so before "
             "librdkafka would at start"},
    {0},
};
