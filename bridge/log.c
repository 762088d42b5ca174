/* log.c - one line per event on stderr, logfmt or JSON: time, level,
 * pipeline, connector, message. Each is written with a single write(2) so
 * lines from different threads never interleave. Every line, and every
 * text br_print writes, goes through the secrets mask (config/secrets.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/secrets.h"
#include "clock.h"
#include "log.h"
#include "utf8.h"

static enum br_log_level min_level = BR_LOG_INFO;
static enum br_log_format log_format = BR_LOG_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void br_log_setup(enum br_log_level level, enum br_log_format format)
{
    min_level = level;
    log_format = format;
}

int br_log_enabled(enum br_log_level level)
{
    return level >= min_level;
}

/* Appends s quoted and escaped (the same escapes serve logfmt and JSON).
 * A byte that is not part of well-formed UTF-8 becomes \ufffd: texts from
 * outside (a function's error, a topic name) may hold any bytes, and a
 * JSON log line with them would be refused by the collector reading it. */
static size_t put_quoted(char *out, size_t at, size_t n, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    if (at < n)
        out[at++] = '"';
    while (left && at + 7 < n) {
        unsigned char c = *p;
        size_t len = br_utf8_len(p, left);
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c == '\n') {
            out[at++] = '\\';
            out[at++] = 'n';
        } else if (c < 0x20) {
            at += (size_t)snprintf(out + at, n - at, "\\u%04x", c);
        } else if (len == 0) {
            at += (size_t)snprintf(out + at, n - at, "\\ufffd");
            len = 1;
        } else {
            memcpy(out + at, p, len);
            at += len;
        }
        p += len;
        left -= len;
    }
    if (at < n)
        out[at++] = '"';
    return at;
}

/* The text fmt makes, with every secret masked (secrets.h); a new string
 * the caller frees, NULL when out of memory. */
static char *format_masked(const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    char *masked = br_secrets_mask_dup(text);
    free(text);
    return masked;
}

/* A scope is "PIPELINE/CONNECTOR" (a source's or target's), "PIPELINE"
 * (the pipeline's core) or NULL (the process): every line names both. */
static void split_scope(const char *scope, char *pipeline, size_t plen,
                        const char **connector)
{
    const char *slash = scope ? strrchr(scope, '/') : NULL;
    if (!scope) {
        snprintf(pipeline, plen, "-");
        *connector = "fnbridge";
    } else if (slash) {
        snprintf(pipeline, plen, "%.*s", (int)(slash - scope), scope);
        *connector = slash + 1;
    } else {
        snprintf(pipeline, plen, "%s", scope);
        *connector = "core";
    }
}

/* A logfmt value: bare when it is a plain word, quoted otherwise. */
static size_t put_value(char *out, size_t at, size_t n, const char *s)
{
    bool plain = *s != '\0';
    for (const unsigned char *c = (const unsigned char *)s; *c && plain; c++)
        plain = *c > 0x20 && *c < 0x7f && *c != '"' && *c != '=' && *c != '\\';
    if (!plain)
        return put_quoted(out, at, n, s);
    int w = snprintf(out + at, at < n ? n - at : 0, "%s", s);
    return at + (size_t)(w < 0 ? 0 : w);
}

void br_log(enum br_log_level level, const char *scope, const char *fmt, ...)
{
    if (!br_log_enabled(level))
        return;
    char msg[2048], when[40], line[4600], scope_shown[160], pipeline[160];
    const char *connector;
    va_list ap;
    va_start(ap, fmt);
    /* Masked whole, then cut: a cut through a secret would print its start. */
    char *full = format_masked(fmt, ap);
    va_end(ap);
    const char *text = full ? full : "(log line lost: out of memory)";
    size_t keep = br_utf8_cut((const unsigned char *)text, strlen(text), sizeof(msg) - 1);
    memcpy(msg, text, keep);
    msg[keep] = '\0';
    free(full);
    if (scope)
        scope = br_secrets_mask(scope, scope_shown, sizeof(scope_shown));
    split_scope(scope, pipeline, sizeof(pipeline), &connector);
    br_utc_text(br_wall_ms(), when, sizeof(when));
    size_t n = sizeof(line) - 2, at;
    if (log_format == BR_LOG_JSON) {
        at = (size_t)snprintf(line, n, "{\"ts\":\"%s\",\"level\":\"%s\",\"pipeline\":",
                              when, level_names[level]);
        at = put_quoted(line, at, n, pipeline);
        at += (size_t)snprintf(line + at, n - at, ",\"connector\":");
        at = put_quoted(line, at, n, connector);
        at += (size_t)snprintf(line + at, n - at, ",\"msg\":");
        at = put_quoted(line, at, n, msg);
        line[at++] = '}';
    } else {
        at = (size_t)snprintf(line, n, "ts=%s level=%s pipeline=", when, level_names[level]);
        at = put_value(line, at, n, pipeline);
        at += (size_t)snprintf(line + at, n - at, " connector=");
        at = put_value(line, at, n, connector);
        at += (size_t)snprintf(line + at, n - at, " msg=");
        at = put_quoted(line, at, n, msg);
    }
    line[at++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, at);
    (void)ignored;
}

void br_print(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *masked = format_masked(fmt, ap);
    va_end(ap);
    fputs(masked ? masked : "(not shown: out of memory)\n", out);
    free(masked);
}
