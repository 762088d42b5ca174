/* dlq_letter.c - reading a dead-letter line for replay and writing it back
 * after a failed replay (dlq_letter.h). The event is taken from the line's
 * own bytes (a JSON payload is a span of the line, never re-serialised), so
 * the function receives exactly what it was sent the first time. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dlq_json.h"
#include "dlq_letter.h"

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------ the line's spans */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is the opening quote: the index after the closing one. */
static size_t skip_string(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

/* The index after the value that starts at p[i]. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
    int depth = 0;
    while (i < n) {
        char c = p[i];
        if (c == '"') {
            i = skip_string(p, i, n);
            if (depth == 0)
                return i;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return i;             /* the end of the enclosing object */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' ||
                                  c == '\r')) {
            return i;
        }
        i++;
    }
    return i;
}

/* Calls fn for each top-level member of the object p[0..n) (raw key
 * without quotes, value span) until it returns false. */
typedef bool (*member_fn)(void *arg, const char *key, size_t key_len, size_t at,
                          size_t len);

static void each_member(const char *p, size_t n, member_fn fn, void *arg)
{
    size_t i = skip_ws(p, 0, n);
    if (i >= n || p[i] != '{')
        return;
    for (i++;;) {
        i = skip_ws(p, i, n);
        if (i >= n || p[i] != '"')
            return;
        size_t key = i + 1, key_end = skip_string(p, i, n);
        i = skip_ws(p, key_end, n);
        if (i >= n || p[i] != ':')
            return;
        size_t at = skip_ws(p, i + 1, n);
        i = skip_value(p, at, n);
        if (!fn(arg, p + key, key_end - 1 - key, at, i - at))
            return;
        i = skip_ws(p, i, n);
        if (i >= n || p[i] != ',')
            return;
        i++;
    }
}

/* The character an escape \c stands for (c is not 'u'). */
static unsigned unescape(unsigned char c)
{
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return c;            /* \" \\ \/ */
    }
}

/* The UTF-16 code unit of the four hex digits at p; above 0xFFFF when
 * they are not hex (not in a valid line). */
static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0x10000;
        v = v << 4 | (unsigned)d;
    }
    return v;
}

/* True when the raw key k[0..n) (as written, between its quotes) spells
 * name, an ASCII word. A writer may escape any character of a key
 * ("replay\u0043ount" is "replayCount" to every JSON parser), so the key
 * is compared as decoded; a code unit past ASCII matches no name. */
static bool key_is(const char *k, size_t n, const char *name)
{
    size_t i = 0;
    for (; *name; name++) {
        if (i >= n)
            return false;
        unsigned c = (unsigned char)k[i++];
        if (c == '\\' && i < n && k[i] == 'u' && n - i > 4) {
            c = hex4(k + i + 1);
            i += 5;
        } else if (c == '\\' && i < n) {
            c = unescape((unsigned char)k[i++]);
        }
        if (c != (unsigned char)*name)
            return false;
    }
    return i == n;
}

struct find {
    const char *key;
    size_t at, len;
    bool found;
};

static bool find_member(void *arg, const char *key, size_t key_len, size_t at, size_t len)
{
    struct find *f = arg;
    if (!key_is(key, key_len, f->key))
        return true;
    f->at = at;
    f->len = len;
    f->found = true;
    return false;
}

bool br_dlq_member_span(const char *p, size_t n, const char *key, size_t *at, size_t *len)
{
    struct find f = {.key = key};
    each_member(p, n, find_member, &f);
    *at = f.at;
    *len = f.len;
    return f.found;
}

/* --------------------------------------------------------------- base64 */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding, as the dead-letter writer makes it;
 * NULL when s is not that (or out of memory). */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    unsigned char *out = n % 4 ? NULL : malloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            bool last = i + 4 == n && j >= 2;
            if (s[i + j] == '=' && last && (j == 3 || s[i + 3] == '=')) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_value((unsigned char)s[i + j])) < 0) {
                free(out);
                return NULL;
            }
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
                     (unsigned)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    *out_len = o;
    return out;
}

/* ------------------------------------------------------------- parsing */

/* How many records the line stands for: its source's batch sizes (Kafka,
 * MQTT), its keys (S3), else one. */
static size_t count_records(const json_t *source)
{
    const json_t *parts = json_object_get(source, "partitions");
    const json_t *keys = json_object_get(source, "keys");
    size_t i, n = 0;
    const json_t *part;
    json_array_foreach(parts, i, part) {
        json_int_t size = json_integer_value(json_object_get(part, "batchSize"));
        n += size > 0 ? (size_t)size : 0;
    }
    if (!n && json_is_array(keys))
        n = json_array_size(keys);
    return n ? n : 1;
}

/* The event: decoded base64, nothing (null), or the payload's own bytes. */
static int take_event(struct br_dlq_letter *l, char *why, size_t whylen)
{
    json_t *payload = json_object_get(l->doc, "payload");
    json_t *enc = json_object_get(l->doc, "payloadEncoding");
    if (enc) {
        if (!json_is_string(enc) || strcmp(json_string_value(enc), "base64") ||
            !json_is_string(payload))
            return fail(why, whylen, "\"payloadEncoding\" is not \"base64\" with a "
                        "string payload");
        l->event_owned = b64_decode(json_string_value(payload), json_string_length(payload),
                                    &l->event_len);
        if (!l->event_owned)
            return fail(why, whylen, "\"payload\" is not base64");
        l->event = l->event_owned;
        l->base64 = true;
        return 0;
    }
    if (json_is_null(payload))
        return 0;
    size_t at, len;
    if (!br_dlq_member_span(l->line, l->line_len, "payload", &at, &len))
        return fail(why, whylen, "\"payload\" is not a member of the line's object");
    l->event = (const unsigned char *)l->line + at;
    l->event_len = len;
    return 0;
}

int br_dlq_letter_parse(struct br_dlq_letter *l, char *line, size_t len, char *why,
                        size_t whylen)
{
    memset(l, 0, sizeof(*l));
    l->line = line;
    l->line_len = len;
    /* jansson skips a NUL byte after some tokens ({"a":1<NUL>,"b":2}
     * loads): such a line is not JSON text, and its bytes would be sent
     * and copied on as they are. */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return fail(why, whylen, "not a JSON object: a NUL byte at column %zu",
                    (size_t)(nul - line) + 1);
    json_error_t jerr;
    if (!(l->doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)))
        return fail(why, whylen, "not a JSON object: %s at column %d", jerr.text,
                    jerr.column);
    if (!json_is_object(l->doc))
        return fail(why, whylen, "not a JSON object");
    json_t *pipeline = json_object_get(l->doc, "pipeline");
    if (!json_is_string(pipeline))
        return fail(why, whylen, "no \"pipeline\" string: not a dead-letter record");
    if (!json_object_get(l->doc, "payload"))
        return fail(why, whylen, "no \"payload\": not a dead-letter record");
    json_t *count = json_object_get(l->doc, "replayCount");
    /* Bounded as the kafka sink's replay_count header is: raising it
     * never overflows (INT64_MAX + 1 would). */
    if (count && (!json_is_integer(count) || json_integer_value(count) < 0 ||
                  json_integer_value(count) > BR_DLQ_REPLAY_COUNT_MAX))
        return fail(why, whylen, "\"replayCount\" is not a count from 0 to %d",
                    BR_DLQ_REPLAY_COUNT_MAX);
    l->pipeline = json_string_value(pipeline);
    l->replay_count = count ? json_integer_value(count) : 0;
    const char *cond = json_string_value(
        json_object_get(json_object_get(l->doc, "requestContext"), "condition"));
    l->condition = cond ? cond : "";
    l->records = count_records(json_object_get(l->doc, "source"));
    return take_event(l, why, whylen);
}

void br_dlq_letter_free(struct br_dlq_letter *l)
{
    json_decref(l->doc);
    free(l->event_owned);
    free(l->line);
    memset(l, 0, sizeof(*l));
}

/* ----------------------------------------------------------- writing back */

static int put_contexts(struct br_buf *out, const struct br_dlq_attempt *a)
{
    const char *fn = a->function ? a->function : "";
    int rc = br_buf_puts(out, ",\"requestContext\":{\"requestId\":");
    rc |= br_dlq_put_request_id(out);
    rc |= br_buf_puts(out, ",\"functionArn\":");
    rc |= br_dlq_put_text(out, (const unsigned char *)fn, strlen(fn));
    rc |= br_buf_printf(out, ",\"condition\":\"%s\",\"approximateInvokeCount\":%d},"
                             "\"responseContext\":{\"statusCode\":",
                        a->condition, a->attempts);
    rc |= a->attempts ? br_buf_put_i64(out, a->status) : br_buf_puts(out, "null");
    rc |= br_buf_puts(out, ",\"functionError\":");
    if (a->attempts && a->error && a->error[0])
        rc |= br_dlq_put_text(out, (const unsigned char *)a->error, strlen(a->error));
    else
        rc |= br_buf_puts(out, "null");
    rc |= br_buf_puts(out, ",\"body\":");
    const unsigned char *body = (const unsigned char *)a->body;
    if (!body)
        return rc | br_buf_puts(out, "null}");
    if (br_dlq_is_text(body, a->body_len))
        return rc | br_buf_put_json_str(out, a->body, a->body_len) | br_buf_putc(out, '}');
    rc |= br_buf_putc(out, '"') | br_buf_put_base64(out, body, a->body_len);
    return rc | br_buf_puts(out, "\",\"bodyEncoding\":\"base64\"}");
}

int64_t br_dlq_raised_count(int64_t count)
{
    return count < BR_DLQ_REPLAY_COUNT_MAX ? count + 1 : BR_DLQ_REPLAY_COUNT_MAX;
}

/* What the line written back says anew; every other member is copied. */
static const char *const rewritten[] = {"version", "timestamp", "requestContext",
                                        "responseContext", "replayCount", "payload",
                                        "payloadEncoding", NULL};

struct copy {
    struct br_buf *out;
    const char *line;
    int rc;
};

static bool copy_member(void *arg, const char *key, size_t key_len, size_t at, size_t len)
{
    struct copy *c = arg;
    for (const char *const *k = rewritten; *k; k++)
        if (key_is(key, key_len, *k))
            return true;
    /* The key as it was written: it is JSON text already (escaping it
     * again would change it). */
    c->rc |= br_buf_puts(c->out, ",\"") | br_buf_append(c->out, key, key_len);
    c->rc |= br_buf_puts(c->out, "\":") | br_buf_append(c->out, c->line + at, len);
    return true;
}

int br_dlq_letter_write_back(struct br_buf *out, const struct br_dlq_letter *l,
                             const struct br_dlq_attempt *a)
{
    char ts[40];
    size_t ts_len = br_utc_text(br_wall_ms(), ts, sizeof(ts));
    int rc = br_buf_puts(out, "{\"version\":\"1.0\",\"timestamp\":");
    rc |= br_buf_put_json_str(out, ts, ts_len);
    rc |= put_contexts(out, a);
    struct copy c = {.out = out, .line = l->line};
    each_member(l->line, l->line_len, copy_member, &c);
    rc |= c.rc;
    rc |= br_buf_printf(out, ",\"replayCount\":%lld,\"payload\":",
                        (long long)br_dlq_raised_count(l->replay_count));
    if (l->base64) {
        rc |= br_buf_putc(out, '"') | br_buf_put_base64(out, l->event, l->event_len);
        rc |= br_buf_puts(out, "\",\"payloadEncoding\":\"base64\"");
    } else if (!l->event) {
        rc |= br_buf_puts(out, "null");
    } else {
        rc |= br_buf_append(out, l->event, l->event_len);
    }
    return rc | br_buf_puts(out, "}\n");
}
