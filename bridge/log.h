/* log.h - structured logging to stderr (logfmt or JSON lines).
 *
 * One line per event: time, level, pipeline, connector, message; a scope
 * "orders/kafka" names both, "orders" the pipeline's core (connector=core),
 * NULL the process (pipeline=- connector=fnbridge).
 * Thread-safe; a line is written with a single write(2). Scope and message
 * are masked: no configured secret is ever printed (config/secrets.h). */
#ifndef BR_LOG_H
#define BR_LOG_H

#include <stdio.h>

enum br_log_level { BR_LOG_DEBUG, BR_LOG_INFO, BR_LOG_WARN, BR_LOG_ERROR };
enum br_log_format { BR_LOG_LOGFMT, BR_LOG_JSON };

void br_log_setup(enum br_log_level level, enum br_log_format format);
int br_log_enabled(enum br_log_level level);
void br_log(enum br_log_level level, const char *scope, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fprintf through the secrets mask (config/secrets.h), for what commands
 * print besides log lines: errors of check, run and invoke. */
void br_print(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define br_debug(scope, ...) \
    do { if (br_log_enabled(BR_LOG_DEBUG)) br_log(BR_LOG_DEBUG, scope, __VA_ARGS__); } while (0)
#define br_info(scope, ...)  br_log(BR_LOG_INFO, scope, __VA_ARGS__)
#define br_warn(scope, ...)  br_log(BR_LOG_WARN, scope, __VA_ARGS__)
#define br_error(scope, ...) br_log(BR_LOG_ERROR, scope, __VA_ARGS__)

#endif
