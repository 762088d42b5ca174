/* test_sigv4.c - the SigV4 signer (connectors/sigv4.c) against vectors of
 * AWS's published SigV4 test suite (example credentials AKIDEXAMPLE,
 * 20150830T123600Z, us-east-1, service "service": canonical request,
 * string to sign, Authorization), AWS's documented signing-key example,
 * path normalization and query canonicalization, and a Lambda Invoke of a
 * function named by ARN with a session token (':' sent %3A, signed %253A). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/buf.h"
#include "connectors/http/sigv4.h"
#include "unit.h"

#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_DATE "20150830T123600Z"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_SCOPE "20150830/us-east-1/service/aws4_request"
/* The test suite's session token (post-sts-token). */
#define SUITE_TOKEN                                                                      \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAe" \
    "MicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phU" \
    "ZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38" \
    "xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQw" \
    "j2ICCR/oLxBA=="

static const struct sigv4_signer suite_signer = {
    .access_key = "AKIDEXAMPLE", .secret_key = EXAMPLE_SECRET, .region = "us-east-1",
    .service = "service", .amz_date = EXAMPLE_DATE,
};

/* One vector: the request, and what each step must give. */
struct vector {
    const char *name;
    struct sigv4_request req;
    const char *canonical;
    const char *to_sign_hash;         /* last line of the string to sign */
    const char *signed_headers;
    const char *signature;
};

static void check_vector(const struct vector *v, const struct sigv4_signer *s,
                         const char *scope)
{
    struct br_buf canonical, to_sign, auth, want;
    br_buf_init(&canonical, 0);
    br_buf_init(&to_sign, 0);
    br_buf_init(&auth, 0);
    br_buf_init(&want, 0);

    CHECK_MSG(sigv4_canonical_request(&canonical, &v->req) == 0, "%s: canonical", v->name);
    CHECK_MSG(canonical.data && strcmp(canonical.data, v->canonical) == 0,
              "%s: canonical request\n%s\nwant\n%s", v->name,
              canonical.data ? canonical.data : "(null)", v->canonical);

    CHECK(sigv4_string_to_sign(&to_sign, s, canonical.data, canonical.len) == 0);
    br_buf_printf(&want, "AWS4-HMAC-SHA256\n%s\n%s\n%s", s->amz_date, scope, v->to_sign_hash);
    CHECK_MSG(to_sign.data && strcmp(to_sign.data, want.data) == 0,
              "%s: string to sign\n%s\nwant\n%s", v->name,
              to_sign.data ? to_sign.data : "(null)", want.data);

    br_buf_reset(&want);
    br_buf_printf(&want, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                  s->access_key, scope, v->signed_headers, v->signature);
    CHECK_MSG(sigv4_authorization(&auth, &v->req, s) == 0, "%s: authorization", v->name);
    CHECK_MSG(auth.data && strcmp(auth.data, want.data) == 0, "%s: authorization\n%s\nwant\n%s",
              v->name, auth.data ? auth.data : "(null)", want.data);

    br_buf_free(&canonical);
    br_buf_free(&to_sign);
    br_buf_free(&auth);
    br_buf_free(&want);
}

#define SUITE_HEADERS                                                   \
    (const struct sigv4_header[]){{"Host", "example.amazonaws.com"},    \
                                  {"X-Amz-Date", EXAMPLE_DATE}}, 2
#define SUITE_CANON_HEADERS                                                    \
    "host:example.amazonaws.com\nx-amz-date:" EXAMPLE_DATE "\n\nhost;x-amz-date\n"

static void test_suite_vectors(void)
{
    static const char form_body[] = "Param1=value1";
    const struct vector vectors[] = {
        {"get-vanilla", {"GET", "/", NULL, SUITE_HEADERS, NULL, 0},
         "GET\n/\n\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"post-vanilla", {"POST", "/", "", SUITE_HEADERS, "", 0},
         "POST\n/\n\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87", "host;x-amz-date",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        {"get-vanilla-query-order-key-case",
         {"GET", "/", "Param2=value2&Param1=value1", SUITE_HEADERS, NULL, 0},
         "GET\n/\nParam1=value1&Param2=value2\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0", "host;x-amz-date",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"get-vanilla-query-unreserved",
         {"GET", "/",
          "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
          "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
          SUITE_HEADERS, NULL, 0},
         "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
         SUITE_CANON_HEADERS EMPTY_SHA256,
         "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177", "host;x-amz-date",
         "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
        {"get-utf8", {"GET", "/\xe1\x88\xb4", NULL, SUITE_HEADERS, NULL, 0},
         "GET\n/%E1%88%B4\n\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102", "host;x-amz-date",
         "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
        {"normalize-path/get-space", {"GET", "/example space/", NULL, SUITE_HEADERS, NULL, 0},
         "GET\n/example%20space/\n\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86", "host;x-amz-date",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
        {"normalize-path/get-relative-relative",
         {"GET", "/example1/example2/../..", NULL, SUITE_HEADERS, NULL, 0},
         "GET\n/\n\n" SUITE_CANON_HEADERS EMPTY_SHA256,
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"post-x-www-form-urlencoded",
         {"POST", "/", NULL,
          (const struct sigv4_header[]){{"Content-Type", "application/x-www-form-urlencoded"},
                                        {"Host", "example.amazonaws.com"},
                                        {"X-Amz-Date", EXAMPLE_DATE}},
          3, form_body, sizeof(form_body) - 1},
         "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
         "host:example.amazonaws.com\nx-amz-date:" EXAMPLE_DATE "\n\n"
         "content-type;host;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
         "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
         "content-type;host;x-amz-date",
         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
        {"post-sts-token/post-sts-header-before",
         {"POST", "/", NULL,
          (const struct sigv4_header[]){{"X-Amz-Security-Token", SUITE_TOKEN},
                                        {"X-Amz-Date", EXAMPLE_DATE},
                                        {"Host", "example.amazonaws.com"}},
          3, NULL, 0},
         "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:" EXAMPLE_DATE "\n"
         "x-amz-security-token:" SUITE_TOKEN "\n\nhost;x-amz-date;x-amz-security-token\n"
         EMPTY_SHA256,
         "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
         "host;x-amz-date;x-amz-security-token",
         "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        check_vector(&vectors[i], &suite_signer, SUITE_SCOPE);
}

/* A Lambda Invoke of a function named by full ARN, sent as the AWS SDKs
 * send it (':' as %3A), with a session token: the path is signed encoded
 * once more (%253A). The signature was computed independently, by
 * tests/tools/lambda_endpoint.py's verifier (Python hmac/hashlib). */
static void test_lambda_arn_with_token(void)
{
    static const char body[] = "{\"a\":1}";
    const struct sigv4_signer s = {
        .access_key = "ASIAEXAMPLE", .secret_key = EXAMPLE_SECRET, .region = "eu-west-1",
        .service = "lambda", .amz_date = EXAMPLE_DATE,
    };
    const struct vector v = {
        "lambda-arn-token",
        {"POST",
         "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3A"
         "orders/invocations",
         "Qualifier=7",
         (const struct sigv4_header[]){{"Host", "127.0.0.1:9001"},
                                       {"X-Amz-Invocation-Type", "RequestResponse"},
                                       {"X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE//token=="},
                                       {"X-Amz-Date", EXAMPLE_DATE}},
         4, body, sizeof(body) - 1},
        "POST\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aeu-west-1%253A123456789012"
        "%253Afunction%253Aorders/invocations\nQualifier=7\nhost:127.0.0.1:9001\n"
        "x-amz-date:" EXAMPLE_DATE "\nx-amz-invocation-type:RequestResponse\n"
        "x-amz-security-token:FQoGZXIvYXdzEXAMPLE//token==\n\n"
        "host;x-amz-date;x-amz-invocation-type;x-amz-security-token\n"
        "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862",
        "22c5b7e7ffa6c4a75fea081e28f7fb061e2394745a5f421c7e04edba4ee95104",
        "host;x-amz-date;x-amz-invocation-type;x-amz-security-token",
        "a877f787aafb96bc0fb1323393bfe7b60438c29679b37575b68638b65b6788b1",
    };
    check_vector(&v, &s, "20150830/eu-west-1/lambda/aws4_request");
}

/* AWS's documented example of deriving a signing key (IAM, 20120215). */
static void test_signing_key(void)
{
    const struct sigv4_signer s = {
        .access_key = "AKIDEXAMPLE", .secret_key = EXAMPLE_SECRET, .region = "us-east-1",
        .service = "iam", .amz_date = "20120215T000000Z",
    };
    unsigned char key[SIGV4_KEY_LEN];
    char hex[2 * SIGV4_KEY_LEN + 1];
    CHECK(sigv4_signing_key(key, &s) == 0);
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    const char *got = hex;
    CHECK_STR(got, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    const struct sigv4_signer bad = {.secret_key = "s", .region = "r", .service = "x",
                                     .amz_date = "2015"};
    CHECK(sigv4_signing_key(key, &bad) == -1);
}

static void test_canonical_uri(void)
{
    static const struct { const char *in, *want; } cases[] = {
        {"", "/"},
        {"/", "/"},
        {"//", "/"},                                   /* normalize-path/get-slash */
        {"//example//", "/example/"},                  /* get-slashes */
        {"/example/..", "/"},                          /* get-relative */
        {"/./", "/"},                                  /* get-slash-dot-slash */
        {"/./example", "/example"},                    /* get-slash-pointless-dot */
        {"/a/b/../c/./d/", "/a/c/d/"},
        {"/../..", "/"},
        {"/a%3Ab/c%2Fd", "/a%253Ab/c%252Fd"},          /* sent encoded: once more */
        {"/a:b/c d", "/a%3Ab/c%20d"},
        {"/-._~AZaz09", "/-._~AZaz09"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(sigv4_canonical_uri(&b, cases[i].in) == 0);
        CHECK_MSG(b.data && strcmp(b.data, cases[i].want) == 0, "uri %s: got %s, want %s",
                  cases[i].in, b.data ? b.data : "(null)", cases[i].want);
        br_buf_free(&b);
    }
}

static void test_canonical_query(void)
{
    static const struct { const char *in, *want; } cases[] = {
        {NULL, ""},
        {"", ""},
        {"Qualifier=7", "Qualifier=7"},
        {"Qualifier=%24LATEST", "Qualifier=%24LATEST"},
        {"Qualifier=$LATEST", "Qualifier=%24LATEST"},
        {"a=2&a=1", "a=1&a=2"},                        /* get-vanilla-query-order-value */
        {"b&a=", "a=&b="},
        {"a-b=1&a=2", "a=2&a-b=1"},                    /* by name, then value */
        {"k=v%20w&&k2=a+b", "k=v%20w&k2=a%2Bb"},
        {"%41=%zz&x=%4", "A=%25zz&x=%254"},            /* bad escapes are bytes */
        {"k=%e1%88%b4", "k=%E1%88%B4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(sigv4_canonical_query(&b, cases[i].in) == 0);
        const char *got = b.data ? b.data : "";
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "query %s: got %s, want %s",
                  cases[i].in ? cases[i].in : "(null)", got, cases[i].want);
        br_buf_free(&b);
    }
}

/* Values are signed trimmed with inner runs of blanks as one
 * (get-header-value-trim); names lower-case and sorted. */
static void test_header_values(void)
{
    const struct sigv4_header h[] = {
        {"My-Header2", "\"a   b   c\""}, {"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"}, {"X-Amz-Date", EXAMPLE_DATE},
        {"Empty", ""}, {"Tabs", "\t a \t b \t"},
    };
    const struct sigv4_request req = {"GET", "/", NULL, h, 6, NULL, 0};
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(sigv4_canonical_request(&b, &req) == 0);
    CHECK_STR(b.data, "GET\n/\n\nempty:\nhost:example.amazonaws.com\nmy-header1:value1\n"
                      "my-header2:\"a b c\"\ntabs:a b\nx-amz-date:" EXAMPLE_DATE "\n\n"
                      "empty;host;my-header1;my-header2;tabs;x-amz-date\n" EMPTY_SHA256);
    br_buf_free(&b);
}

static void test_failures(void)
{
    struct sigv4_header many[SIGV4_MAX_HEADERS + 1];
    for (size_t i = 0; i < SIGV4_MAX_HEADERS + 1; i++)
        many[i] = (struct sigv4_header){"h", "v"};
    const struct sigv4_request req = {"GET", "/", NULL, many, SIGV4_MAX_HEADERS + 1, NULL, 0};
    struct br_buf b;
    br_buf_init(&b, 0);
    br_buf_puts(&b, "kept");
    CHECK(sigv4_authorization(&b, &req, &suite_signer) == -1);
    CHECK_STR(b.data, "kept");                         /* nothing half-written */
    br_buf_free(&b);

    /* A bounded buffer too small for the value: refused, not truncated. */
    const struct sigv4_request ok = {"GET", "/", NULL, SUITE_HEADERS, NULL, 0};
    br_buf_init(&b, 64);
    CHECK(sigv4_authorization(&b, &ok, &suite_signer) == -1);
    CHECK(b.len == 0);
    br_buf_free(&b);
}

static void test_amz_date(void)
{
    char d[SIGV4_AMZ_DATE_LEN];
    const char *got = d;
    CHECK(sigv4_amz_date(d, 1440938160) == 0);
    CHECK_STR(got, EXAMPLE_DATE);
    CHECK(sigv4_amz_date(d, 0) == 0);
    CHECK_STR(got, "19700101T000000Z");
}

int main(void)
{
    test_suite_vectors();
    test_lambda_arn_with_token();
    test_signing_key();
    test_canonical_uri();
    test_canonical_query();
    test_header_values();
    test_failures();
    test_amz_date();
    return UNIT_DONE("sigv4");
}
