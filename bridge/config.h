/* config.h - the validated configuration (README: Config reference).
 *
 * br_config_load reads YAML (via node.c), applies the option tables of the
 * core and of each connector, and returns a tree the program runs from.
 * Every problem is collected (not just the first) with file, line, column
 * and key path. */
#ifndef BR_CONFIG_H
#define BR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config/node.h"
#include "config/opts.h"
#include "admin_addr.h"
#include "backoff.h"
#include "connector.h"
#include "log.h"

struct br_filter;

struct br_pipeline_conf {
    char *name;
    int line, col;                      /* where the pipeline was defined */

    int64_t batch_max_records;          /* batch.max_records  (default 100) */
    int64_t batch_max_bytes;            /* batch.max_bytes    (default 1MiB) */
    int64_t batch_max_wait_ms;          /* batch.max_wait     (default 500ms) */

    int64_t concurrency;                /* default 8 */
    int64_t inflight_max_records;       /* max_inflight.records (10000) */
    int64_t inflight_max_bytes;         /* max_inflight.bytes   (64MiB) */

    int64_t retry_max_attempts;         /* retry.max_attempts (5) */
    int64_t backoff_initial_ms;         /* retry.backoff.initial (100ms) */
    int64_t backoff_max_ms;             /* retry.backoff.max (30s) */
    double backoff_multiplier;          /* retry.backoff.multiplier (2) */
    enum br_jitter backoff_jitter;      /* retry.backoff.jitter: full|none */
    int64_t max_record_age_ms;          /* retry.max_record_age (1h) */
    bool bisect_on_error;               /* retry.bisect_on_error (true) */

    bool breaker_on;                    /* circuit_breaker given (else none) */
    int64_t breaker_failures;           /* circuit_breaker.failures */
    int64_t breaker_cooldown_ms;        /* circuit_breaker.cooldown */
    bool rate_limit_on;                 /* rate_limit given (else none) */
    double rate_per_second;             /* rate_limit.invocations_per_second */
    int64_t rate_burst;                 /* rate_limit.burst (1) */

    char *dlq_file_path;                /* dead_letter.file.path; NULL = none
                                           (then failed records stop the
                                           pipeline rather than be lost) */
    int dlq_line, dlq_col;              /* where it was given */
    bool dlq_secret;                    /* it came through interpolation */
    /* dead_letter.NAME other than file (dlq_sink.h): NULL for the file
     * sink; dlq_ctx is calloc'd ops->ctx_size, options set, owned here. */
    const struct br_sink_ops *dlq_ops;
    void *dlq_ctx;
    int dlq_sink_line, dlq_sink_col;    /* the sink's key, for init errors */

    int64_t memory_size_mb;             /* memory_size (128): for GB-seconds */

    /* filter: the compiled patterns (filter.h), owned; NULL: every record
     * passes. Commands that send records the user chose (invoke, dlq
     * replay) clear it in their copies. */
    struct br_filter *filter;

    /* Not from the file: set by `fnbridge invoke`, whose failures are
     * reported to the user instead of dead-lettered. */
    bool no_dead_letter;

    int source_line, source_col;        /* the source's key, for errors the
                                           connector finds in init */
    int target_line, target_col;        /* the function's key */
    const struct br_source_ops *source_ops;
    void *source_ctx;                   /* calloc'd ops->ctx_size, options set */
    const struct br_target_ops *target_ops;
    void *target_ctx;
};

struct br_config {
    char *path;
    char *state_dir;                    /* default ./state */
    int state_dir_line, state_dir_col;  /* where it was given (the top of
                                           the file for the default) */
    bool state_dir_secret;              /* it came through interpolation */
    bool state_dir_default;             /* not in the file */
    enum br_log_level log_level;
    enum br_log_format log_format;
    int64_t shutdown_timeout_ms;        /* default 30s */
    /* admin: absent, no admin server runs (README: Operations). */
    bool admin_enabled;
    char *admin_listen;                 /* admin.listen, as written */
    char *admin_token;                  /* admin.token; NULL: none (a secret) */
    bool admin_allow_unauthenticated;   /* admin.allow_unauthenticated */
    struct br_admin_addr admin_addr;    /* admin.listen, resolved */
    struct br_pipeline_conf *pipelines;
    size_t n_pipelines;
};

/* The option tables of the top of the file and of each pipeline (their
 * sections nested), for `fnbridge help config`. */
extern const struct br_opt br_config_opts[];
extern const struct br_opt br_pipeline_opts[];

/* Loads and validates path. Returns the config, or NULL with errs filled. */
struct br_config *br_config_load(const char *path, struct br_errors *errs);
void br_config_free(struct br_config *cfg);

/* What `run` will need of the filesystem, found without creating
 * anything: state_dir can be created and written, and so can each
 * pipeline's dead-letter file (README: Config reference). `check` and `run` call
 * it after br_config_load, so both refuse the same configs with the same
 * located errors. Returns the number of errors added. */
int br_config_check_paths(const struct br_config *cfg, struct br_errors *errs);

/* The dead-letter file of a pipeline without dead_letter: the default
 * STATE_DIR/dlq/NAME.jsonl, into buf. */
void br_config_default_dlq(const struct br_config *cfg,
                           const struct br_pipeline_conf *pl, char *buf,
                           size_t len);

/* Finds a pipeline by name, or NULL. */
const struct br_pipeline_conf *br_config_pipeline(const struct br_config *cfg,
                                                  const char *name);
/* For commands given --pipeline NAME: the pipeline, or NULL after
 * printing to stderr that cfg has none of that name, and the names it has. */
struct br_pipeline_conf *br_config_pipeline_named(struct br_config *cfg, const char *name);

#endif
