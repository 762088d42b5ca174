/* s3_options.c - the option table of the S3 source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_s3.h"

static const char *const path_style_names[] = {
    [S3_PATH_AUTO] = "auto", [S3_PATH_YES] = "true", [S3_PATH_NO] = "false",
    [S3_PATH_NO + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct s3_options, path_style);

bool s3_parse_shard(const char *s, uint32_t *i, uint32_t *n)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long a = strtoul(s, &end, 10);
    if (*end != '/' || end[1] < '0' || end[1] > '9')
        return false;
    unsigned long b = strtoul(end + 1, &end, 10);
    if (*end || b == 0 || b > 4096 || a >= b)
        return false;
    *i = (uint32_t)a;
    *n = (uint32_t)b;
    return true;
}

static const char *check_shard(const char *s)
{
    uint32_t i, n;
    return s3_parse_shard(s, &i, &n) ? NULL
           : "must be i/n with 0 <= i < n <= 4096, as in 0/2 and 1/2 for two replicas";
}

static const char *check_endpoint(const char *s)
{
    const char *host = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8
                                                                                       : NULL;
    if (!host)
        return "must start with http:// or https://, as in http://127.0.0.1:9000";
    if (!*host || *host == '/' || *host == ':')
        return "names no host, as in http://127.0.0.1:9000";
    if (strchr(host, '?') || strchr(host, '#'))
        return "must not hold a query or fragment";
    return NULL;
}

/* S3's rules, loosely: what may stand in a URL path and a host name. */
static const char *check_bucket(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 255)
        return "must be 3 to 255 characters long";
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            return "may hold only letters, digits, '.', '-' and '_'";
    return NULL;
}

#define O(field) offsetof(struct s3_options, field)
const struct br_opt s3_source_opts[] = {
    {.name = "endpoint", .type = BR_OPT_STR, .offset = O(endpoint), .flags = BR_OPT_NONEMPTY,
     .check = check_endpoint,
     .def_doc = "`https://s3.<region>.amazonaws.com`",
     .help = "the store, as in `http://127.0.0.1:9000`"},
    {.name = "bucket", .type = BR_OPT_STR, .offset = O(bucket),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY, .check = check_bucket,
     .help = "the bucket to watch"},
    {.name = "prefix", .type = BR_OPT_STR, .def = "", .offset = O(prefix),
     .help = "only keys that start with this (sent as the listing's `prefix`)"},
    {.name = "suffix", .type = BR_OPT_STR, .def = "", .offset = O(suffix),
     .help = "only keys that end with this, as in `.csv`"},
    {.name = "region", .type = BR_OPT_STR, .def = "us-east-1", .offset = O(region),
     .flags = BR_OPT_NONEMPTY,
     .help = "the region requests are signed for, and the events' `awsRegion`"},
    {.name = "access_key", .type = BR_OPT_STR, .offset = O(access_key),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_ACCESS_KEY_ID`",
     .help = "access key id; with no credentials, requests go unsigned "
             "(public buckets)"},
    {.name = "secret_key", .type = BR_OPT_STR, .offset = O(secret_key),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_SECRET_ACCESS_KEY`",
     .help = "secret access key"},
    {.name = "session_token", .type = BR_OPT_STR, .offset = O(session_token),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_SESSION_TOKEN`",
     .help = "for temporary credentials (sent as `x-amz-security-token`)"},
    {.name = "path_style", .type = BR_OPT_ENUM, .def = "auto", .offset = O(path_style),
     .enum_values = path_style_names,
     .help = "`true`: `endpoint/bucket` URLs; `false`: `bucket.endpoint`; "
             "`auto`: false for `amazonaws.com`, else true"},
    {.name = "poll_interval", .type = BR_OPT_DURATION, .def = "5s",
     .offset = O(poll_interval_ms), .min = 10, .max = 86400000,
     .help = "pause between the end of one poll and the start of the next"},
    {.name = "events", .type = BR_OPT_STRLIST,
     .offset = O(events), .flags = BR_OPT_NONEMPTY,
     .def_doc = "`[created, removed]`",
     .help = "which changes to report, of `created` and `removed`; the others "
             "still update the state, silently"},
    {.name = "shard", .type = BR_OPT_STR, .def = "0/1", .offset = O(shard),
     .check = check_shard,
     .help = "`i/n`: this replica reports only the keys whose hash (64-bit "
             "FNV-1a, then MurmurHash3's finalizer) modulo `n` is `i`; run `n` "
             "replicas with `0/n` ... `n-1/n`"},
    {.name = "page_size", .type = BR_OPT_INT, .def = "1000", .offset = O(page_size),
     .min = 1, .max = 1000, .help = "keys per listing request (`max-keys`)"},
    {0},
};
