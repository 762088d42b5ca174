/* fuzz_dlq_letter.c - fuzzes the dead-letter line as `fnbridge dlq replay`
 * reads it and writes it back (bridge/dlq_letter.c, with the text and
 * base64 writers of bridge/dlq_json.c and bridge/buf.c). The input is
 * LINE [\n ERROR [\n BODY]]: the line as the file reader hands it over
 * (without its newline), then the error text and the answer of the failed
 * attempt that the line written back reports.
 *
 * Properties, for a line the parser takes: the event is the payload's own
 * bytes (the same JSON value) or its base64 decoded, and the line written
 * back is one line of strict JSON (br_json_valid, where the input's
 * nesting is within its limit; jansson without flags, no duplicate key)
 * that parses again as the same letter: same pipeline, records, event
 * bytes and encoding, the attempt's condition, replayCount raised, every
 * member not rewritten equal to the old one and nothing else added; the
 * answer's body kept as text or as base64 of its bytes. */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "bridge/buf.h"
#include "bridge/dlq_json.h"
#include "bridge/dlq_letter.h"
#include "bridge/json_check.h"
#include "fuzz.h"
#include "fuzz_json.h"

#define CHECK_MAX_DEPTH 512          /* br_json_valid's limit */

/* The members the line written back says anew (dlq_letter.c). */
static const char *const rewritten[] = {"version", "timestamp", "requestContext",
                                        "responseContext", "replayCount", "payload",
                                        "payloadEncoding", NULL};

static bool is_rewritten(const char *key)
{
    for (const char *const *k = rewritten; *k; k++)
        if (!strcmp(key, *k))
            return true;
    return false;
}

/* A copy the parser may take over: exactly n bytes, so that ASan sees a
 * read past the line. */
static char *copy_of(const void *p, size_t n)
{
    char *s = malloc(n ? n : 1);
    FUZZ_ASSERT(s, "out of memory");
    memcpy(s, p, n);
    return s;
}

/* What parsing told of the line agrees with its JSON. */
static void check_parsed(const struct br_dlq_letter *l)
{
    FUZZ_ASSERT(json_is_object(l->doc), "parsed, not an object");
    FUZZ_ASSERT(!strcmp(l->pipeline, json_string_value(json_object_get(l->doc, "pipeline"))),
                "pipeline %s", l->pipeline);
    FUZZ_ASSERT(l->replay_count >= 0 && l->replay_count <= BR_DLQ_REPLAY_COUNT_MAX,
                "replay count %lld", (long long)l->replay_count);
    FUZZ_ASSERT(l->records >= 1, "a letter of no records");
    const json_t *payload = json_object_get(l->doc, "payload");
    if (l->base64) {
        FUZZ_ASSERT(json_is_string(payload) &&
                    is_base64_of(json_string_value(payload), json_string_length(payload),
                                 l->event, l->event_len),
                    "the event is not the payload's base64 decoded");
        return;
    }
    if (!l->event) {
        FUZZ_ASSERT(json_is_null(payload), "no event, the payload is not null");
        return;
    }
    FUZZ_ASSERT((const char *)l->event >= l->line &&
                (const char *)l->event + l->event_len <= l->line + l->line_len,
                "the event is not a span of the line");
    json_t *event = json_loadb((const char *)l->event, l->event_len, JSON_DECODE_ANY, NULL);
    FUZZ_ASSERT(event && json_equal(event, payload), "the event is not the payload: %.*s",
                (int)l->event_len, l->event);
    json_decref(event);
}

/* The old members carried over unchanged, and only the rewritten ones
 * added. */
static void check_members(const json_t *old, const json_t *now)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)old, key, v) {
        if (!is_rewritten(key))
            FUZZ_ASSERT(json_equal(v, json_object_get(now, key)), "member %s changed", key);
    }
    json_object_foreach((json_t *)now, key, v) {
        FUZZ_ASSERT(is_rewritten(key) || json_object_get(old, key), "member %s added", key);
    }
}

static void check_body(const json_t *doc, const struct br_dlq_attempt *a)
{
    const json_t *rc = json_object_get(doc, "responseContext");
    const json_t *body = json_object_get(rc, "body");
    if (!a->body) {
        FUZZ_ASSERT(json_is_null(body), "no answer, a body");
        return;
    }
    FUZZ_ASSERT(json_is_string(body), "the body is not a string");
    const char *enc = json_string_value(json_object_get(rc, "bodyEncoding"));
    if (br_dlq_is_text((const unsigned char *)a->body, a->body_len)) {
        FUZZ_ASSERT(!enc && json_string_length(body) == a->body_len &&
                    !memcmp(json_string_value(body), a->body, a->body_len),
                    "a text body not kept as it was");
        return;
    }
    FUZZ_ASSERT(enc && !strcmp(enc, "base64") &&
                is_base64_of(json_string_value(body), json_string_length(body),
                             (const unsigned char *)a->body, a->body_len),
                "a binary body not kept as base64");
}

/* The line written back, parsed again, is the same letter. */
static void check_again(const struct br_dlq_letter *l, const struct br_dlq_attempt *a,
                        const struct br_buf *out)
{
    FUZZ_ASSERT(out->len > 0 && out->data[out->len - 1] == '\n', "no newline at the end");
    size_t n = out->len - 1;
    FUZZ_ASSERT(!memchr(out->data, '\n', n), "a newline inside the line: %s", out->data);
    FUZZ_ASSERT(!memchr(out->data, '\0', n), "a NUL byte in the line");
    if (json_depth(l->doc) <= CHECK_MAX_DEPTH)
        FUZZ_ASSERT(br_json_valid((const unsigned char *)out->data, n),
                    "not JSON text: %s", out->data);
    json_error_t err;
    json_t *strict = json_loadb(out->data, n, JSON_REJECT_DUPLICATES, &err);
    FUZZ_ASSERT(strict, "jansson refuses it: %s at %d: %s", err.text, err.position, out->data);
    json_decref(strict);

    struct br_dlq_letter again;
    char why[256];
    int rc = br_dlq_letter_parse(&again, copy_of(out->data, n), n, why, sizeof(why));
    FUZZ_ASSERT(rc == 0, "written back, not a letter: %s: %s", why, out->data);
    check_parsed(&again);
    FUZZ_ASSERT(!strcmp(again.pipeline, l->pipeline), "pipeline %s, was %s", again.pipeline,
                l->pipeline);
    FUZZ_ASSERT(!strcmp(again.condition, a->condition), "condition %s", again.condition);
    FUZZ_ASSERT(again.replay_count == br_dlq_raised_count(l->replay_count),
                "replay count %lld after %lld", (long long)again.replay_count,
                (long long)l->replay_count);
    FUZZ_ASSERT(again.replay_count == l->replay_count + 1 ||
                l->replay_count == BR_DLQ_REPLAY_COUNT_MAX, "not raised by one");
    FUZZ_ASSERT(again.records == l->records, "%zu records, were %zu", again.records,
                l->records);
    FUZZ_ASSERT(again.base64 == l->base64 && again.event_len == l->event_len &&
                (!l->event_len || !memcmp(again.event, l->event, l->event_len)) &&
                !again.event == !l->event,
                "the event changed: %s", out->data);
    check_members(l->doc, again.doc);
    check_body(again.doc, a);
    br_dlq_letter_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const conditions[] = {"RetryAttemptsExhausted",
                                             "MaximumRecordAgeExceeded",
                                             "MaximumPayloadSizeExceeded", "NonRetryableError"};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t line_len = nl ? (size_t)(nl - data) : size;
    struct br_dlq_letter l;
    char why[256] = "";
    if (br_dlq_letter_parse(&l, copy_of(data, line_len), line_len, why, sizeof(why)) < 0) {
        FUZZ_ASSERT(why[0], "refused without a reason");
        br_dlq_letter_free(&l);
        return 0;
    }
    check_parsed(&l);

    /* The failed attempt: its error text and answer from the input. */
    const char *rest = nl ? (const char *)nl + 1 : "";
    size_t rest_len = nl ? size - line_len - 1 : 0;
    const char *nl2 = memchr(rest, '\n', rest_len);
    size_t error_len = nl2 ? (size_t)(nl2 - rest) : rest_len;
    char *error = malloc(error_len + 1);          /* a string: cut at a NUL */
    FUZZ_ASSERT(error, "out of memory");
    memcpy(error, rest, error_len);
    error[error_len] = '\0';
    struct br_dlq_attempt a = {
        .function = error, .condition = conditions[line_len % 4],
        .attempts = (int)(size % 4), .status = (long)(size % 600), .error = error,
        .body = nl2 ? nl2 + 1 : NULL,
        .body_len = nl2 ? rest_len - (size_t)(nl2 - rest) - 1 : 0};

    struct br_buf out;
    br_buf_init(&out, 0);
    FUZZ_ASSERT(br_dlq_letter_write_back(&out, &l, &a) == 0, "write back failed");
    check_again(&l, &a, &out);
    br_buf_free(&out);
    free(error);
    br_dlq_letter_free(&l);
    return 0;
}
