/* test_targets.c - the pure parts of the lambda and openfaas targets: URL
 * building and encoding, the region's fallbacks, Lambda's body retry hint,
 * and the per-batch X-Topic / X-Kafka-* headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/buf.h"
#include "bridge/record.h"
#include "connectors/http/http_engine.h"
#include "connectors/http/target_lambda.h"
#include "connectors/http/target_openfaas.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "connectors/s3/s3_event.h"

static void test_url_encode(void)
{
    static const struct { const char *in, *keep, *want; } cases[] = {
        {"my-fn_1.x~", NULL, "my-fn_1.x~"},
        {"$LATEST", NULL, "%24LATEST"},
        {"a b/c?d#e%", NULL, "a%20b%2Fc%3Fd%23e%25"},
        {"arn:aws:lambda", ":", "arn:aws:lambda"},
        {"arn:aws:lambda", NULL, "arn%3Aaws%3Alambda"},
        {"\xc3\xa9", NULL, "%C3%A9"},
        {"", NULL, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(http_url_encode(&b, cases[i].in, cases[i].keep) == 0);
        CHECK(br_buf_putc(&b, '\0') == 0);
        CHECK_STR(b.data, cases[i].want);
        br_buf_free(&b);
    }
}

static void check_lambda_url(const char *endpoint, const char *name, const char *qualifier,
                             const char *want)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(lambda_invoke_url(&b, endpoint, name, qualifier) == 0);
    CHECK(br_buf_putc(&b, '\0') == 0);
    CHECK_STR(b.data, want);
    br_buf_free(&b);
}

static void test_lambda_url(void)
{
    check_lambda_url("https://lambda.us-east-1.amazonaws.com", "my-fn", NULL,
                     "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-fn/invocations");
    check_lambda_url("http://127.0.0.1:9001/", "my-fn", "$LATEST",
                     "http://127.0.0.1:9001/2015-03-31/functions/my-fn/invocations?Qualifier=%24LATEST");
    check_lambda_url("http://h//", "arn:aws:lambda:eu-west-1:123456789012:function:f", "prod",
                     "http://h/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A"
                     "123456789012%3Afunction%3Af/invocations?Qualifier=prod");
    /* Nothing in a name can add a path segment or a query. */
    check_lambda_url("http://h", "a/b?c", "x&y=z",
                     "http://h/2015-03-31/functions/a%2Fb%3Fc/invocations?Qualifier=x%26y%3Dz");
}

static void test_lambda_region(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    CHECK_STR(lambda_region(NULL), "us-east-1");
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    CHECK_STR(lambda_region(NULL), "eu-west-1");
    setenv("AWS_REGION", "", 1);              /* empty counts as unset */
    CHECK_STR(lambda_region(NULL), "eu-west-1");
    setenv("AWS_REGION", "ap-south-1", 1);
    CHECK_STR(lambda_region(NULL), "ap-south-1");
    CHECK_STR(lambda_region("sa-east-1"), "sa-east-1");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
}

static void test_lambda_retry_after(void)
{
    static const struct { const char *body; long long want; } cases[] = {
        {"{\"Reason\":\"x\",\"retryAfterSeconds\":3}", 3000},
        {"{\"retryAfterSeconds\":\"7\"}", 7000},
        {"{\"retryAfterSeconds\":0}", 0},
        {"{\"retryAfterSeconds\":-1}", -1},
        {"{\"retryAfterSeconds\":\"1s\"}", -1},
        {"{\"retryAfterSeconds\":\"\"}", -1},
        {"{\"retryAfterSeconds\":1.5}", -1},
        {"{\"message\":\"Rate Exceeded.\"}", -1},
        {"not json", -1},
        {"[1]", -1},
        {"", -1},
        {"{\"retryAfterSeconds\":99999999999999999}", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(lambda_body_retry_after(cases[i].body, strlen(cases[i].body)) ==
                  cases[i].want, "body %s", cases[i].body);
    CHECK(lambda_body_retry_after(NULL, 0) == -1);
}

static void test_openfaas_url(void)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(openfaas_function_url(&b, "http://gw:8080/", "fn.ns", false) == 0);
    CHECK(br_buf_putc(&b, '\0') == 0);
    CHECK_STR(b.data, "http://gw:8080/function/fn.ns");
    br_buf_reset(&b);
    CHECK(openfaas_function_url(&b, "http://gw", "a b", true) == 0);
    CHECK(br_buf_putc(&b, '\0') == 0);
    CHECK_STR(b.data, "http://gw/async-function/a%20b");
    br_buf_free(&b);
}

static struct br_record rec_make(const struct br_record_kind *kind, const char *topic, int32_t part,
                                 int64_t off)
{
    struct br_record r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.topic = topic;
    r.partition = part;
    r.offset = off;
    return r;
}

static void check_headers(struct br_record *const *recs, size_t n, const char *want)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(openfaas_record_headers(&b, recs, n) == 0);
    CHECK(br_buf_putc(&b, '\0') == 0);
    CHECK_STR(b.data, want);
    br_buf_free(&b);
}

static void test_openfaas_headers(void)
{
    struct br_record k1 = rec_make(&br_kind_kafka, "orders", 2, 40);
    struct br_record k2 = rec_make(&br_kind_kafka, "orders", 2, 41);
    struct br_record k3 = rec_make(&br_kind_kafka, "orders", 3, 7);
    struct br_record k4 = rec_make(&br_kind_kafka, "refunds", 2, 42);
    struct br_record m1 = rec_make(&br_kind_mqtt, "sensors/1", 0, 5);
    struct br_record m2 = rec_make(&br_kind_mqtt, "sensors/2", 0, 6);
    struct br_record m3 = rec_make(&br_kind_mqtt, "bad\r\nX-Evil: 1", 0, 7);
    struct br_record s1 = rec_make(&br_kind_s3, "incoming/a.csv", 0, 9);

    check_headers((struct br_record *[]){&k1}, 1,
                  "X-Topic: orders\nX-Kafka-Partition: 2\nX-Kafka-Offset: 40\n");
    check_headers((struct br_record *[]){&k1, &k2}, 2,
                  "X-Topic: orders\nX-Kafka-Partition: 2\nX-Kafka-Offset: 40\n");
    check_headers((struct br_record *[]){&k1, &k3}, 2, "X-Topic: orders\n");
    check_headers((struct br_record *[]){&k1, &k4}, 2, "");
    check_headers((struct br_record *[]){&m1}, 1, "X-Topic: sensors/1\n");
    check_headers((struct br_record *[]){&m1, &m2}, 2, "");
    check_headers((struct br_record *[]){&m3}, 1, "");
    check_headers((struct br_record *[]){&s1}, 1, "");
    check_headers(NULL, 0, "");
}

/* What dead letters and logs show of a target's URL: no user, password or
 * query (an Azure-style ?code= key, a token). */
static void test_url_public(void)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"http://admin:s3cret@gw:8080/function/fn", "http://gw:8080/function/fn"},
        {"https://fn.example/api/orders?code=KEY&x=1", "https://fn.example/api/orders"},
        {"http://127.0.0.1:9000/fn", "http://127.0.0.1:9000/fn"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = http_url_public(cases[i].url);
        CHECK_STR(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    test_url_public();
    test_url_encode();
    test_lambda_url();
    test_lambda_region();
    test_lambda_retry_after();
    test_openfaas_url();
    test_openfaas_headers();
    return UNIT_DONE("targets");
}
