/* test_observe.c - the texts a pipeline keeps for /status and /readyz:
 * whatever bytes a function or a broker put in an error, what is kept is
 * well-formed UTF-8 (jansson refuses anything else, and /status failed
 * whole on one such text), cut at a character boundary; and the metering
 * of invocations, which counts a request, its billed time and an error
 * only for a call the function ran, and a throttle on its own. */
#include <jansson.h>
#include <string.h>

#include "bridge/observe.h"
#include "unit.h"

static const char *kept(struct br_observe *o, const char *why)
{
    static char out[BR_OBSERVE_ERROR_LEN];
    br_observe_error(o, why);
    br_observe_last_error(o, out, sizeof(out));
    return out;
}

static void check_json_string(const char *s)
{
    json_t *j = json_string(s);
    CHECK(j != NULL);
    json_decref(j);
}

static void test_invalid_bytes_become_question_marks(void)
{
    struct br_observe o;
    br_observe_init(&o);
    CHECK_STR(kept(&o, "bad \xff\xfe end"), "bad ?? end");
    CHECK_STR(kept(&o, "overlong \xc0\xaf, surrogate \xed\xa0\x80"),
              "overlong ??, surrogate ???");
    CHECK_STR(kept(&o, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    check_json_string(kept(&o, "Runtime.\xff\xc3"));
    br_observe_destroy(&o);
}

static void test_a_long_text_is_cut_between_characters(void)
{
    struct br_observe o;
    br_observe_init(&o);
    char text[1000];
    memset(text, 0, sizeof(text));
    for (size_t i = 0; i + 2 < 600; i += 2)
        memcpy(text + i, "\xc3\xa9", 2);         /* é, 2 bytes each */
    const char *out = kept(&o, text);
    CHECK(strlen(out) < BR_OBSERVE_ERROR_LEN);
    CHECK(strlen(out) % 2 == 0);                 /* never half an é */
    check_json_string(out);
    br_observe_sink_error(&o, text);
    char sink[BR_OBSERVE_ERROR_LEN];
    br_observe_sink_last_error(&o, sink, sizeof(sink));
    check_json_string(sink);
    br_observe_destroy(&o);
}

static void test_metering_counts_calls_the_function_ran(void)
{
    struct br_observe o;
    memset(&o, 0, sizeof(o));
    br_observe_init(&o);
    struct { enum br_outcome outcome; bool reached; double ms; } calls[] = {
        {BR_OUTCOME_SUCCESS, true, 0.2},          /* billed 1 ms */
        {BR_OUTCOME_FUNCTION_ERROR, true, 10.5},  /* 11 ms, an error */
        {BR_OUTCOME_TIMEOUT, true, 3000.0},       /* 3000 ms, an error */
        {BR_OUTCOME_TRANSIENT, false, 2.0},       /* refused: nothing */
        {BR_OUTCOME_THROTTLED, true, 4.0},        /* a throttle only */
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        br_observe_invocation_start(&o);
        CHECK_INT(atomic_load(&o.meter.concurrent), 1);
        br_observe_invocation_end(&o, calls[i].outcome, calls[i].reached, calls[i].ms, 1);
    }
    CHECK_INT(atomic_load(&o.meter.requests), 3);
    CHECK_INT(atomic_load(&o.meter.billed_ms), 1 + 11 + 3000);
    CHECK_INT(atomic_load(&o.meter.errors), 2);
    CHECK_INT(atomic_load(&o.meter.throttles), 1);
    CHECK_INT(atomic_load(&o.meter.concurrent), 0);
    CHECK_INT(atomic_load(&o.meter.concurrent_max), 1);
    CHECK_INT(atomic_load(&o.invocations[BR_OUTCOME_TRANSIENT]), 1);
    br_observe_destroy(&o);
}

/* /readyz quotes the source's own error: a function's error that came
 * after it is the last error, not the reason the source is down. */
static void test_source_error_outlives_other_errors(void)
{
    struct br_observe o;
    memset(&o, 0, sizeof(o));
    br_observe_init(&o);
    char buf[BR_OBSERVE_ERROR_LEN];
    const char *out = buf;
    br_observe_source_error(&o, "cannot connect to mqtt://h:1883: refused");
    br_observe_error(&o, "status 500 from the function");
    br_observe_source_last_error(&o, buf, sizeof(buf));
    CHECK_STR(out, "cannot connect to mqtt://h:1883: refused");
    br_observe_last_error(&o, buf, sizeof(buf));
    CHECK_STR(out, "status 500 from the function");
    br_observe_source_error(&o, "");            /* connected again */
    br_observe_source_last_error(&o, buf, sizeof(buf));
    CHECK_STR(out, "");
    br_observe_last_error(&o, buf, sizeof(buf));
    CHECK_STR(out, "status 500 from the function");
    br_observe_destroy(&o);
}

int main(void)
{
    test_source_error_outlives_other_errors();
    test_metering_counts_calls_the_function_ran();
    test_invalid_bytes_become_question_marks();
    test_a_long_text_is_cut_between_characters();
    return UNIT_DONE("observe");
}
