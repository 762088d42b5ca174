/* test_observe.c - the texts a pipeline keeps for /status and /readyz:
 * whatever bytes a function or a broker put in an error, what is kept is
 * well-formed UTF-8 (jansson refuses anything else, and /status failed
 * whole on one such text), cut at a character boundary. */
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

int main(void)
{
    test_invalid_bytes_become_question_marks();
    test_a_long_text_is_cut_between_characters();
    return UNIT_DONE("observe");
}
