/* config.c - br_config_load: the core's option tables (defaults, ranges and
 * help in one place), the pipelines list, the choice of source and function
 * connector, and the cross-field checks (README: Config reference). Every problem
 * is collected; the config is returned only when there are none. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/paths.h"
#include "backoff.h"
#include "config.h"
#include "dlq_sink.h"
#include "filter.h"
#include "log.h"

#define PATH_LEN 256
#define MS_MINUTE 60000
#define MS_HOUR 3600000
#define MS_DAY 86400000
#define KIB 1024
#define MIB (1024 * KIB)
#define GIB ((int64_t)1024 * MIB)

/* ------------------------------------------------------------- tables */

/* The names of enum br_log_level / br_log_format / br_jitter. */
static const char *const log_levels[] = {
    [BR_LOG_DEBUG] = "debug", [BR_LOG_INFO] = "info", [BR_LOG_WARN] = "warn",
    [BR_LOG_ERROR] = "error", [BR_LOG_ERROR + 1] = NULL,
};
static const char *const log_formats[] = {
    [BR_LOG_LOGFMT] = "logfmt", [BR_LOG_JSON] = "json", [BR_LOG_JSON + 1] = NULL,
};
static const char *const jitters[] = {
    [BR_JITTER_FULL] = "full", [BR_JITTER_NONE] = "none",
    [BR_JITTER_NONE + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct br_config, log_level);
BR_OPT_ENUM_FIELD(struct br_config, log_format);
BR_OPT_ENUM_FIELD(struct br_pipeline_conf, backoff_jitter);

static const char *check_name(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > 64 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.-") != len)
        return "must be 1 to 64 characters from A-Z a-z 0-9 _ . -";
    return NULL;
}

#define C(field) offsetof(struct br_config, field)
static const struct br_opt log_opts[] = {
    {.name = "level", .type = BR_OPT_ENUM, .def = "info", .offset = C(log_level),
     .enum_values = log_levels, .help = "the least severe level logged"},
    {.name = "format", .type = BR_OPT_ENUM, .def = "logfmt",
     .offset = C(log_format), .enum_values = log_formats,
     .help = "the form of each line; logs go to stderr"},
    {0},
};

static const struct br_opt admin_opts[] = {
    {.name = "listen", .type = BR_OPT_STR, .offset = C(admin_listen),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "HOST:PORT the admin server binds (an IPv4 address, [IPv6] or a "
             "name); an address that is not loopback needs `token` or "
             "`allow_unauthenticated: true`"},
    {.name = "token", .type = BR_OPT_STR, .offset = C(admin_token),
     .flags = BR_OPT_NONEMPTY,
     .help = "a bearer token /metrics and /status need (`Authorization: Bearer "
             "TOKEN`; the probes /healthz and /readyz answer without it, their "
             "verdict only); a secret, never printed"},
    {.name = "allow_unauthenticated", .type = BR_OPT_BOOL, .def = "false",
     .offset = C(admin_allow_unauthenticated),
     .help = "serve a non-loopback address without a token (behind a network "
             "policy, say)"},
    {0},
};

const struct br_opt br_config_opts[] = {
    {.name = "state_dir", .type = BR_OPT_STR, .def = "./state",
     .offset = C(state_dir), .flags = BR_OPT_NONEMPTY,
     .help = "where fnbridge keeps its state: the MQTT spools, the S3 "
             "checkpoints, the default dead-letter files"},
    {.name = "log", .type = BR_OPT_SECTION, .section = log_opts,
     .help = "logging: level and format"},
    {.name = "shutdown_timeout", .type = BR_OPT_DURATION, .def = "30s",
     .offset = C(shutdown_timeout_ms), .min = 0, .max = MS_HOUR,
     .help = "on SIGTERM, time allowed to finish the work in flight"},
    {.name = "pipelines", .type = BR_OPT_SECTION,
     .flags = BR_OPT_REQUIRED | BR_OPT_CUSTOM, .type_doc = "list",
     .help = "the pipelines, each a mapping of the `pipeline` section; names "
             "must be unique"},
    {.name = "admin", .type = BR_OPT_SECTION, .section = admin_opts,
     .def_doc = "none: no admin server",
     .help = "the admin server: GET /metrics, /healthz, /readyz, /status "
             "(README: Operations)"},
    {0},
};

#define P(field) offsetof(struct br_pipeline_conf, field)
static const struct br_opt batch_opts[] = {
    {.name = "max_records", .type = BR_OPT_INT, .def = "100",
     .offset = P(batch_max_records), .min = 1, .max = 10000,
     .help = "records per invocation at most"},
    {.name = "max_bytes", .type = BR_OPT_SIZE, .def = "1MiB",
     .offset = P(batch_max_bytes), .min = KIB, .max = 64 * MIB,
     .help = "record bytes (key + value + headers) per invocation at most"},
    {.name = "max_wait", .type = BR_OPT_DURATION, .def = "500ms",
     .offset = P(batch_max_wait_ms), .min = 0, .max = 15 * MS_MINUTE,
     .help = "how long a partial batch waits for more records"},
    {0},
};

static const struct br_opt inflight_opts[] = {
    {.name = "records", .type = BR_OPT_INT, .def = "10000",
     .offset = P(inflight_max_records), .min = 1, .max = 10000000,
     .help = "records received and not yet settled; past it the source pauses. "
             "At least `batch.max_records`"},
    {.name = "bytes", .type = BR_OPT_SIZE, .def = "64MiB",
     .offset = P(inflight_max_bytes), .min = KIB, .max = 16 * GIB,
     .help = "the same in bytes"},
    {0},
};

static const struct br_opt backoff_opts[] = {
    {.name = "initial", .type = BR_OPT_DURATION, .def = "100ms",
     .offset = P(backoff_initial_ms), .min = 0, .max = MS_HOUR,
     .help = "delay after the first failure; at most `retry.backoff.max`"},
    {.name = "max", .type = BR_OPT_DURATION, .def = "30s",
     .offset = P(backoff_max_ms), .min = 0, .max = MS_DAY,
     .help = "the largest delay"},
    {.name = "multiplier", .type = BR_OPT_DOUBLE, .def = "2",
     .offset = P(backoff_multiplier), .min = 1, .max = 100,
     .help = "the delay is `min(max, initial * multiplier^(attempt - 1))`"},
    {.name = "jitter", .type = BR_OPT_ENUM, .def = "full",
     .offset = P(backoff_jitter), .enum_values = jitters,
     .help = "`full`: the delay is uniform in [0, delay]; `none`: the delay "
             "itself"},
    {0},
};

static const struct br_opt retry_opts[] = {
    {.name = "max_attempts", .type = BR_OPT_INT, .def = "5",
     .offset = P(retry_max_attempts), .min = 1, .max = 100000,
     .help = "attempts per batch, including the first"},
    {.name = "backoff", .type = BR_OPT_SECTION, .section = backoff_opts,
     .help = "the delay between attempts"},
    {.name = "max_record_age", .type = BR_OPT_DURATION, .def = "1h",
     .offset = P(max_record_age_ms), .min = 1000, .max = 7 * MS_DAY,
     .help = "records older than this (since received) stop being retried"},
    {.name = "bisect_on_error", .type = BR_OPT_BOOL, .def = "true",
     .offset = P(bisect_on_error),
     .help = "when retries are exhausted, split the batch in two and retry "
             "each half, to isolate a poison record"},
    {0},
};

static const struct br_opt breaker_opts[] = {
    {.name = "failures", .type = BR_OPT_INT, .offset = P(breaker_failures),
     .flags = BR_OPT_REQUIRED, .min = 1, .max = 1000000,
     .help = "failed invocations in a row (timeouts, transient errors, 429s, "
             "function errors) that open the circuit"},
    {.name = "cooldown", .type = BR_OPT_DURATION, .offset = P(breaker_cooldown_ms),
     .flags = BR_OPT_REQUIRED, .min = 1, .max = MS_DAY,
     .help = "how long an open circuit makes no call; then one probe batch "
             "decides: success closes it, failure opens it again"},
    {0},
};

static const struct br_opt rate_limit_opts[] = {
    {.name = "invocations_per_second", .type = BR_OPT_DOUBLE,
     .offset = P(rate_per_second), .flags = BR_OPT_REQUIRED, .min = 0,
     .max = 1000000,
     .help = "invocations started per second, on average; fractions allowed "
             "(`0.5`: one every 2 s); at least 0.000001"},
    {.name = "burst", .type = BR_OPT_INT, .def = "1", .offset = P(rate_burst),
     .min = 1, .max = 1000000,
     .help = "invocations that may start at once after a quiet spell: in any "
             "t seconds at most `burst + invocations_per_second * t` start"},
    {0},
};

static const struct br_opt dlq_file_opts[] = {
    {.name = "path", .type = BR_OPT_STR, .offset = P(dlq_file_path),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "the dead-letter file: JSON lines, written and fsynced per failed "
             "batch"},
    {0},
};

static const struct br_opt dlq_opts[] = {
    {.name = "file", .type = BR_OPT_SECTION, .section = dlq_file_opts,
     .help = "dead-letter to a local file"},
    {0},
};

const struct br_opt br_pipeline_opts[] = {
    {.name = "name", .type = BR_OPT_STR, .offset = P(name),
     .flags = BR_OPT_REQUIRED, .check = check_name,
     .help = "unique name, used in logs and metrics: 1 to 64 letters, digits, "
             "`_`, `.` or `-`"},
    {.name = "source", .type = BR_OPT_SECTION,
     .flags = BR_OPT_REQUIRED | BR_OPT_CUSTOM, .type_doc = "mapping",
     .help = "exactly one source, as in `{NAME: {...}}` with the options of "
             "section `source.NAME`"},
    {.name = "function", .type = BR_OPT_SECTION,
     .flags = BR_OPT_REQUIRED | BR_OPT_CUSTOM, .type_doc = "mapping",
     .help = "exactly one function target, as in `{NAME: {...}}` with the "
             "options of section `target.NAME`"},
    {.name = "filter", .type = BR_OPT_SECTION, .flags = BR_OPT_CUSTOM,
     .type_doc = "list", .def_doc = "none: every record passes",
     .help = "event patterns, as Lambda's FilterCriteria and EventBridge write "
             "them, each a mapping (YAML or JSON); a record passes when any "
             "matches the document its source makes of it, and one that none "
             "matches is settled without an invocation (README: Filters)"},
    {.name = "batch", .type = BR_OPT_SECTION, .section = batch_opts,
     .help = "how records are grouped into invocations"},
    {.name = "concurrency", .type = BR_OPT_INT, .def = "8",
     .offset = P(concurrency), .min = 1, .max = 1024,
     .help = "invocations in flight for this pipeline"},
    {.name = "max_inflight", .type = BR_OPT_SECTION, .section = inflight_opts,
     .help = "backpressure: what may be received and not yet settled"},
    {.name = "retry", .type = BR_OPT_SECTION, .section = retry_opts,
     .help = "the retry policy"},
    {.name = "memory_size", .type = BR_OPT_INT, .def = "128",
     .offset = P(memory_size_mb), .min = 128, .max = 10240,
     .help = "MB, as Lambda's memory size: the function's usage in GB-seconds "
             "is billed_ms / 1000 * memory_size / 1024 (README: Operations)"},
    /* Custom: one sink, the file's options here, the others' with their
     * connectors (load_dead_letter). */
    {.name = "dead_letter", .type = BR_OPT_SECTION, .section = dlq_opts,
     .flags = BR_OPT_CUSTOM, .type_doc = "mapping",
     .def_doc = "`file: {path: <state_dir>/dlq/<name>.jsonl}`",
     .help = "where records go when retries are exhausted: exactly one sink, "
             "`file` (below), or `kafka`, `mqtt`, `http` with the options of "
             "section `dead_letter.NAME`"},
    {.name = "circuit_breaker", .type = BR_OPT_SECTION, .section = breaker_opts,
     .def_doc = "none",
     .help = "stop calling a failing function for a while, and pause the "
             "source meanwhile (README: Circuit breaker and rate limit)"},
    {.name = "rate_limit", .type = BR_OPT_SECTION, .section = rate_limit_opts,
     .def_doc = "none",
     .help = "a token bucket in front of the function: invocations start no "
             "faster than this, and the source pauses rather than buffer"},
    {0},
};

/* ------------------------------------------------------------- helpers */

/* Formats a key path into out (PATH_LEN bytes), truncating if need be. */
static void fmt_path(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fmt_path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_LEN, fmt, ap);
    va_end(ap);
}

/* Follows keys (NULL-terminated) down from node; NULL if any is missing. */
static const struct br_node *dig(const struct br_node *node, ...)
{
    va_list ap;
    va_start(ap, node);
    const char *key;
    while (node && (key = va_arg(ap, const char *)))
        node = br_node_get(node, key);
    va_end(ap);
    return node;
}

/* "a, b, c" from the names of a connector list. */
static void connector_names(char *buf, size_t size, bool sources)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0;; i++) {
        const char *name = sources ? (br_sources[i] ? br_sources[i]->name : NULL)
                                   : (br_targets[i] ? br_targets[i]->name : NULL);
        if (!name)
            return;
        int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
        if (w < 0 || (size_t)w >= size - len)
            return;
        len += (size_t)w;
    }
}

/* ------------------------------------------------------------- connectors */

/* Checks that node is a mapping with exactly one key and returns its
 * index, or -1 with an error added. `what` is "source" or "function". */
static int pick_one(const struct br_node *node, const char *what,
                    bool sources, const char *path, struct br_errors *errs)
{
    char known[256];
    connector_names(known, sizeof known, sources);
    if (node->type != BR_NODE_MAP) {
        br_errors_add(errs, node, path, "must be a mapping naming one %s, "
                      "as in {%s: {...}}; known: %s", what,
                      sources ? br_sources[0]->name : br_targets[0]->name,
                      known);
        return -1;
    }
    if (node->n == 0) {
        br_errors_add(errs, node, path, "needs one %s; known: %s", what, known);
        return -1;
    }
    if (node->n > 1) {
        char found[256] = "";
        size_t len = 0;
        for (size_t i = 0; i < node->n && len < sizeof found; i++)
            len += (size_t)snprintf(found + len, sizeof found - len, "%s%s",
                                    i == 0 ? "" : i + 1 == node->n ? " and "
                                                                   : ", ",
                                    node->keys[i]->value);
        br_errors_add(errs, node->keys[1], path, "one %s per pipeline, found "
                      "%s", what, found);
        return -1;
    }
    return 0;
}

static void load_source(struct br_pipeline_conf *pl,
                        const struct br_node *node, const char *path,
                        struct br_errors *errs)
{
    char spath[PATH_LEN], cpath[PATH_LEN], known[256];
    fmt_path(spath, "%s.source", path);
    if (!node || pick_one(node, "source", true, spath, errs) < 0)
        return;
    const char *name = node->keys[0]->value;
    const struct br_source_ops *ops = br_find_source(name);
    if (!ops) {
        connector_names(known, sizeof known, true);
        br_errors_add(errs, node->keys[0], spath, "unknown source '%s'; "
                      "known sources: %s", name, known);
        return;
    }
    pl->source_ctx = calloc(1, ops->ctx_size ? ops->ctx_size : 1);
    if (!pl->source_ctx) {
        br_errors_add(errs, node, spath, "out of memory");
        return;
    }
    pl->source_ops = ops;
    pl->source_line = node->keys[0]->line;   /* connector errors point here */
    pl->source_col = node->keys[0]->col;
    fmt_path(cpath, "%s.%s", spath, name);
    br_opts_apply(ops->opts, node->items[0], pl->source_ctx, cpath, errs);
}

static void load_target(struct br_pipeline_conf *pl,
                        const struct br_node *node, const char *path,
                        struct br_errors *errs)
{
    char fpath[PATH_LEN], cpath[PATH_LEN], known[256];
    fmt_path(fpath, "%s.function", path);
    if (!node || pick_one(node, "function", false, fpath, errs) < 0)
        return;
    const char *name = node->keys[0]->value;
    const struct br_target_ops *ops = br_find_target(name);
    if (!ops) {
        connector_names(known, sizeof known, false);
        br_errors_add(errs, node->keys[0], fpath, "unknown function target "
                      "'%s'; known targets: %s", name, known);
        return;
    }
    pl->target_ctx = calloc(1, ops->ctx_size ? ops->ctx_size : 1);
    if (!pl->target_ctx) {
        br_errors_add(errs, node, fpath, "out of memory");
        return;
    }
    pl->target_ops = ops;
    pl->target_line = node->keys[0]->line;
    pl->target_col = node->keys[0]->col;
    fmt_path(cpath, "%s.%s", fpath, name);
    if (!br_opts_apply(ops->opts, node->items[0], pl->target_ctx, cpath, errs) && ops->check)
        ops->check(pl->target_ctx, node->items[0], cpath, errs);
}

/* ------------------------------------------------------------- pipelines */

/* Checks between fields; run only when every field parsed. */
static void cross_checks(const struct br_pipeline_conf *pl,
                         const struct br_node *node, const char *path,
                         struct br_errors *errs)
{
    char kpath[PATH_LEN];
    if (pl->backoff_initial_ms > pl->backoff_max_ms) {
        const struct br_node *at = dig(node, "retry", "backoff", "initial",
                                       NULL);
        fmt_path(kpath, "%s.retry.backoff.initial", path);
        br_errors_add(errs, at ? at : node, kpath,
                      "must not be longer than retry.backoff.max");
    }
    if (pl->inflight_max_records < pl->batch_max_records) {
        const struct br_node *at = dig(node, "max_inflight", "records", NULL);
        const char *key = "max_inflight.records";
        if (!at && (at = dig(node, "batch", "max_records", NULL)))
            key = "batch.max_records";
        fmt_path(kpath, "%s.%s", path, key);
        br_errors_add(errs, at ? at : node, kpath, "max_inflight.records "
                      "(%lld) must be at least batch.max_records (%lld)",
                      (long long)pl->inflight_max_records,
                      (long long)pl->batch_max_records);
    }
}

/* "file, kafka, mqtt, http": the sinks dead_letter may name. */
static void sink_names(char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "%s", br_sink_file.name);
    for (size_t i = 0; br_sinks[i] && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, ", %s", br_sinks[i]->name);
}

/* dead_letter: a mapping naming exactly one sink. Returns its ops, or NULL
 * with an error added. */
static const struct br_sink_ops *pick_sink(const struct br_node *dl, const char *dpath,
                                           struct br_errors *errs)
{
    char known[128];
    sink_names(known, sizeof known);
    if (dl->type != BR_NODE_MAP || dl->n != 1) {
        br_errors_add(errs, dl->type == BR_NODE_MAP && dl->n > 1 ? dl->keys[1] : dl,
                      dpath, "%s exactly one sink, as in {file: {path: ...}}; "
                      "known sinks: %s", dl->type == BR_NODE_MAP && dl->n > 1 ?
                      "one sink per pipeline: needs" : "needs", known);
        return NULL;
    }
    const struct br_sink_ops *ops = br_find_sink(dl->keys[0]->value);
    if (!ops)
        br_errors_add(errs, dl->keys[0], dpath, "unknown sink '%s'; known sinks: %s",
                      dl->keys[0]->value, known);
    return ops;
}

static void load_dead_letter(struct br_pipeline_conf *pl, const struct br_node *dl,
                             const char *path, struct br_errors *errs)
{
    char dpath[PATH_LEN], cpath[PATH_LEN];
    fmt_path(dpath, "%s.dead_letter", path);
    const struct br_sink_ops *ops = dl ? pick_sink(dl, dpath, errs) : NULL;
    if (!ops)
        return;
    pl->dlq_sink_line = dl->keys[0]->line;
    pl->dlq_sink_col = dl->keys[0]->col;
    if (ops == &br_sink_file) {
        br_opts_apply(dlq_opts, dl, pl, dpath, errs);
        return;
    }
    if (!(pl->dlq_ctx = calloc(1, ops->ctx_size ? ops->ctx_size : 1))) {
        br_errors_add(errs, dl, dpath, "out of memory");
        return;
    }
    pl->dlq_ops = ops;
    fmt_path(cpath, "%s.%s", dpath, ops->name);
    if (!br_opts_apply(ops->opts, dl->items[0], pl->dlq_ctx, cpath, errs) && ops->check)
        ops->check(pl->dlq_ctx, pl->source_ops, pl->source_ctx, dl->items[0], cpath, errs);
}

#define MIN_RATE 1e-6   /* one invocation in about 11.6 days */

/* True if a scalar reads as a rate below MIN_RATE (a negative number is
 * out of range and what is no number at all, the option table reported
 * already): 0 would never start a call, and a tiny rate's wait overflows. */
static bool below_min_rate(const struct br_node *v)
{
    char *end;
    if (!v || v->type != BR_NODE_SCALAR || !v->value[0])
        return false;
    double d = strtod(v->value, &end);
    return !*end && d >= 0 && d < MIN_RATE;
}

/* circuit_breaker and rate_limit are off unless given (null: not given);
 * a rate of 0 passes the table's range but would never start a call. */
static void load_limits(struct br_pipeline_conf *pl, const struct br_node *node,
                        const char *path, struct br_errors *errs)
{
    const struct br_node *cb = br_node_get(node, "circuit_breaker");
    const struct br_node *rl = br_node_get(node, "rate_limit");
    pl->breaker_on = cb && cb->type == BR_NODE_MAP;
    pl->rate_limit_on = rl && rl->type == BR_NODE_MAP;
    const struct br_node *rate = dig(node, "rate_limit", "invocations_per_second", NULL);
    if (pl->rate_limit_on && below_min_rate(rate)) {
        char kpath[PATH_LEN];
        fmt_path(kpath, "%s.rate_limit.invocations_per_second", path);
        br_errors_add(errs, rate, kpath, "must be at least 0.000001 (leave "
                      "rate_limit out for no limit)");
    }
}

static void load_pipeline(struct br_pipeline_conf *pl,
                          const struct br_node *node, const char *path,
                          struct br_errors *errs)
{
    pl->line = node->line;
    pl->col = node->col;
    int nerr = br_opts_apply(br_pipeline_opts, node, pl, path, errs);
    if (node->type != BR_NODE_MAP)
        return;
    load_source(pl, br_node_get(node, "source"), path, errs);
    load_target(pl, br_node_get(node, "function"), path, errs);
    load_dead_letter(pl, br_node_get(node, "dead_letter"), path, errs);
    if (nerr == 0)
        cross_checks(pl, node, path, errs);
    load_limits(pl, node, path, errs);
    char fpath[PATH_LEN];
    fmt_path(fpath, "%s.filter", path);
    br_filter_load(br_node_get(node, "filter"), fpath, &pl->filter, errs);
    const struct br_node *dlq = dig(node, "dead_letter", "file", "path", NULL);
    const struct br_node *at = dlq ? dlq : node;
    pl->dlq_line = at->line;
    pl->dlq_col = at->col;
    pl->dlq_secret = dlq && dlq->secret;
}

/* Names must be unique; the error names both places. */
static void check_names(const struct br_config *cfg, const struct br_node *seq,
                        struct br_errors *errs)
{
    for (size_t j = 1; j < cfg->n_pipelines; j++) {
        for (size_t i = 0; i < j && cfg->pipelines[j].name; i++) {
            if (!cfg->pipelines[i].name ||
                strcmp(cfg->pipelines[i].name, cfg->pipelines[j].name) != 0)
                continue;
            const struct br_node *first = br_node_get(seq->items[i], "name");
            char path[PATH_LEN];
            fmt_path(path, "pipelines[%zu].name", j);
            br_errors_add(errs, br_node_get(seq->items[j], "name"), path,
                          "duplicate pipeline name '%s' (also used by "
                          "pipelines[%zu] at line %d)", cfg->pipelines[j].name,
                          i, first->line);
            break;
        }
    }
}

static void load_pipelines(struct br_config *cfg, const struct br_node *seq,
                           struct br_errors *errs)
{
    if (!seq)
        return;             /* reported as a missing required key */
    if (seq->type != BR_NODE_SEQ || seq->n == 0) {
        br_errors_add(errs, seq, "pipelines", seq->type == BR_NODE_SEQ ?
                      "must list at least one pipeline" :
                      "must be a list of pipelines, as in [{name: ...}]");
        return;
    }
    cfg->pipelines = calloc(seq->n, sizeof *cfg->pipelines);
    if (!cfg->pipelines) {
        br_errors_add(errs, seq, "pipelines", "out of memory");
        return;
    }
    cfg->n_pipelines = seq->n;
    for (size_t i = 0; i < seq->n; i++) {
        char path[PATH_LEN];
        fmt_path(path, "pipelines[%zu]", i);
        load_pipeline(&cfg->pipelines[i], seq->items[i], path, errs);
    }
    check_names(cfg, seq, errs);
}

/* ------------------------------------------------------------- admin */

/* admin.listen resolves, and one that is not loopback is protected. */
static void check_admin(struct br_config *cfg, const struct br_node *root,
                        struct br_errors *errs)
{
    const struct br_node *admin = br_node_get(root, "admin");
    cfg->admin_enabled = admin && admin->type == BR_NODE_MAP;
    if (!cfg->admin_enabled || !cfg->admin_listen)
        return;
    const struct br_node *at = br_node_get(admin, "listen");
    char why[512];
    if (br_admin_addr_parse(cfg->admin_listen, &cfg->admin_addr, why, sizeof(why)) < 0) {
        br_errors_add(errs, at, "admin.listen", "%s", why);
        return;
    }
    if (!cfg->admin_addr.loopback && !cfg->admin_token &&
        !cfg->admin_allow_unauthenticated)
        br_errors_add(errs, at, "admin.listen", "'%s' is not a loopback address: "
                      "set admin.token (a bearer token clients send) or, behind "
                      "a network policy, admin.allow_unauthenticated: true",
                      cfg->admin_listen);
}

/* ------------------------------------------------------------- the config */

struct br_config *br_config_load(const char *path, struct br_errors *errs)
{
    size_t before = errs->n;
    if (!errs->file)
        errs->file = path;
    struct br_node *root = br_node_load_file(path, errs);
    if (!root)
        return NULL;
    struct br_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(path))) {
        br_errors_add(errs, root, "", "out of memory");
    } else if (root->type != BR_NODE_MAP) {
        br_errors_add(errs, root, "", "the config must be a mapping of keys: "
                      "state_dir, log, shutdown_timeout, pipelines");
    } else {
        br_opts_apply(br_config_opts, root, cfg, "", errs);
        check_admin(cfg, root, errs);
        const struct br_node *sd = br_node_get(root, "state_dir");
        cfg->state_dir_line = sd ? sd->line : root->line;
        cfg->state_dir_col = sd ? sd->col : root->col;
        cfg->state_dir_secret = sd && sd->secret;
        cfg->state_dir_default = !sd;
        load_pipelines(cfg, br_node_get(root, "pipelines"), errs);
    }
    br_node_free(root);
    if (errs->n > before) {
        br_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* ------------------------------------------------------------- the disk */

void br_config_default_dlq(const struct br_config *cfg,
                           const struct br_pipeline_conf *pl, char *buf,
                           size_t len)
{
    snprintf(buf, len, "%s/dlq/%s.jsonl", cfg->state_dir, pl->name);
}

/* state_dir is made at start (mkdir -p) and written by the spools. */
static int check_state_dir(const struct br_config *cfg, struct br_errors *errs)
{
    char why[1024];
    if (br_path_check_dir(cfg->state_dir, !cfg->state_dir_secret, why,
                          sizeof why) == 0)
        return 0;
    br_errors_add_pos(errs, cfg->state_dir_line, cfg->state_dir_col,
                      "state_dir", "%s%s", cfg->state_dir_default ?
                      "(not set: the default ./state) " : "", why);
    return 1;
}

/* The dead-letter file is opened (parents made) when the pipeline is
 * built; the default one lives in state_dir, so it is judged only when
 * state_dir passed (else the error would only repeat). */
static int check_dead_letter(const struct br_config *cfg, size_t i,
                             bool state_ok, struct br_errors *errs)
{
    const struct br_pipeline_conf *pl = &cfg->pipelines[i];
    char def[4096], why[1024], path[PATH_LEN];
    const char *file = pl->dlq_file_path;
    bool show = !pl->dlq_secret;
    if (pl->no_dead_letter || (!file && !state_ok))
        return 0;
    if (!file) {
        br_config_default_dlq(cfg, pl, def, sizeof def);
        file = def;
        show = !cfg->state_dir_secret;
    }
    if (br_path_check_file(file, show, why, sizeof why) == 0)
        return 0;
    if (pl->dlq_file_path) {
        fmt_path(path, "pipelines[%zu].dead_letter.file.path", i);
        br_errors_add_pos(errs, pl->dlq_line, pl->dlq_col, path, "%s", why);
    } else {
        fmt_path(path, "pipelines[%zu]", i);
        br_errors_add_pos(errs, pl->dlq_line, pl->dlq_col, path,
                          "the default dead-letter file (no dead_letter "
                          "given): %s", why);
    }
    return 1;
}

int br_config_check_paths(const struct br_config *cfg, struct br_errors *errs)
{
    if (!errs->file)
        errs->file = cfg->path;
    int nerr = check_state_dir(cfg, errs);
    bool state_ok = nerr == 0;
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        nerr += check_dead_letter(cfg, i, state_ok, errs);
    return nerr;
}

static void pipeline_free(struct br_pipeline_conf *pl)
{
    br_opts_free(br_pipeline_opts, pl);
    if (pl->source_ops)
        br_opts_free(pl->source_ops->opts, pl->source_ctx);
    free(pl->source_ctx);
    if (pl->target_ops)
        br_opts_free(pl->target_ops->opts, pl->target_ctx);
    free(pl->target_ctx);
    br_opts_free(dlq_opts, pl);         /* dead_letter is custom: not above */
    if (pl->dlq_ops)
        br_opts_free(pl->dlq_ops->opts, pl->dlq_ctx);
    free(pl->dlq_ctx);
    br_filter_free(pl->filter);
}

void br_config_free(struct br_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        pipeline_free(&cfg->pipelines[i]);
    free(cfg->pipelines);
    br_opts_free(br_config_opts, cfg);
    free(cfg->path);
    free(cfg);
}

const struct br_pipeline_conf *br_config_pipeline(const struct br_config *cfg,
                                                  const char *name)
{
    for (size_t i = 0; cfg && i < cfg->n_pipelines; i++)
        if (cfg->pipelines[i].name && strcmp(cfg->pipelines[i].name, name) == 0)
            return &cfg->pipelines[i];
    return NULL;
}

struct br_pipeline_conf *br_config_pipeline_named(struct br_config *cfg, const char *name)
{
    struct br_pipeline_conf *conf = (struct br_pipeline_conf *)br_config_pipeline(cfg, name);
    if (conf)
        return conf;
    br_print(stderr, "fnbridge: %s has no pipeline named \"%s\"; it has:", cfg->path, name);
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        br_print(stderr, " %s", cfg->pipelines[i].name);
    fputc('\n', stderr);
    return NULL;
}
