/* source_s3.h - options of the S3 source (its ctx starts with this). */
#ifndef BR_SOURCE_S3_H
#define BR_SOURCE_S3_H

#include "bridge/connector.h"

enum s3_path_style { S3_PATH_AUTO, S3_PATH_YES, S3_PATH_NO };

struct s3_options {
    char *endpoint;              /* default https://s3.<region>.amazonaws.com */
    char *bucket;
    char *prefix;
    char *suffix;
    char *region;
    char *access_key;            /* default $AWS_ACCESS_KEY_ID */
    char *secret_key;            /* default $AWS_SECRET_ACCESS_KEY */
    char *session_token;         /* default $AWS_SESSION_TOKEN */
    enum s3_path_style path_style;
    int64_t poll_interval_ms;
    struct br_strlist events;    /* created, removed */
    char *shard;                 /* "i/n" */
    int64_t page_size;
};

extern const struct br_opt s3_source_opts[];

/* Parses "i/n" (0 <= i < n <= 4096); false if it is not that. */
bool s3_parse_shard(const char *s, uint32_t *i, uint32_t *n);

#endif
