/* test_s3_list.c - the ListObjectsV2 parser (connectors/s3_list.c) through
 * s3_list_parse: pages read whole and cut in pieces, URL-encoded keys,
 * broken pages, error documents, and a lister reused after a failure. */
#include <string.h>

#include "connectors/s3/s3_list.h"
#include "unit.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
             "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" \
             "<Name>bucket</Name><Prefix></Prefix><MaxKeys>2</MaxKeys>"
#define OBJ(key, size) "<Contents><Key>" key "</Key>" \
             "<LastModified>2024-01-02T03:04:05.000Z</LastModified>" \
             "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>" \
             "<Size>" #size "</Size><StorageClass>STANDARD</StorageClass></Contents>"

static const char page_url[] =
    HEAD "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>tok-2</NextContinuationToken>"
    OBJ("incoming/a.csv", 0) OBJ("incoming/b+c%C3%A9%26.csv", 43) "</ListBucketResult>";

static struct s3_lister *lister(int page_size)
{
    struct s3_list_config cfg = {.endpoint = "http://127.0.0.1:9", .bucket = "bucket",
                                 .region = "us-east-1", .path_style = true,
                                 .page_size = page_size};
    char err[200];
    return s3_lister_new(&cfg, err, sizeof err);
}

/* The same page whole, in pieces of 1, 3 and 64 bytes. */
static void test_page_pieces(void)
{
    struct s3_lister *l = lister(2);
    static const size_t chunks[] = {0, 1, 3, 64};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        struct s3_page page;
        struct s3_error e;
        int rc = s3_list_parse(l, 200, page_url, sizeof page_url - 1, chunks[i], &page, &e);
        CHECK_MSG(rc == 0, "chunk %zu: %s", chunks[i], e.message);
        if (rc)
            continue;
        CHECK_INT(page.n, 2);
        CHECK(page.truncated);
        CHECK_STR(page.next_token, "tok-2");
        CHECK_STR(page.objects[0].key, "incoming/a.csv");
        CHECK_STR(page.objects[1].key, "incoming/b c\xc3\xa9&.csv");
        CHECK_INT(page.objects[1].key_len, strlen("incoming/b c\xc3\xa9&.csv"));
        CHECK_STR(page.objects[1].etag, "d41d8cd98f00b204e9800998ecf8427e");
        CHECK_INT(page.objects[1].size, 43);
        CHECK_INT(page.objects[1].mtime_ms, 1704164645000);
    }
    s3_lister_free(l);
}

/* Pages that are not whole fail with a reason; the lister reads the next
 * good page afterwards. */
static void test_broken_pages(void)
{
    static const struct { const char *body; const char *why; } cases[] = {
        {HEAD "<IsTruncated>false</IsTruncated>" OBJ("a", 1), "malformed XML"},
        {HEAD "<IsTruncated>false</IsTruncated>" OBJ("a", 1) OBJ("b", 2) OBJ("c", 3)
         "</ListBucketResult>", "more objects than max-keys"},
        {HEAD "<IsTruncated>true</IsTruncated>" OBJ("a", 1) "</ListBucketResult>",
         "no NextContinuationToken"},
        {HEAD OBJ("a", 1) "</ListBucketResult>", "no IsTruncated"},
        {HEAD "<IsTruncated>false</IsTruncated>" OBJ("a", x) "</ListBucketResult>",
         "Size is not a number"},
        {HEAD "<IsTruncated>false</IsTruncated><Contents><Key>a</Key></Contents>"
         "</ListBucketResult>", "lacks its Key, ETag, Size or LastModified"},
        {HEAD "<IsTruncated>false</IsTruncated>" OBJ("a", 1) "</ListBucket>", "malformed XML"},
        {"<Error><Code>NoSuchBucket</Code></Error>", "not <ListBucketResult>"},
        {HEAD "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>" OBJ("a%4", 1)
         "</ListBucketResult>", "URL encoding is malformed"},
    };
    struct s3_lister *l = lister(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct s3_page page;
        struct s3_error e;
        int rc = s3_list_parse(l, 200, cases[i].body, strlen(cases[i].body), 5, &page, &e);
        CHECK_MSG(rc == -1 && strstr(e.message, cases[i].why), "case %zu: rc %d, %s", i, rc,
                  e.message);
        rc = s3_list_parse(l, 200, page_url, sizeof page_url - 1, 0, &page, &e);
        CHECK_MSG(rc == 0 && page.n == 2, "after case %zu: %s", i, e.message);
    }
    s3_lister_free(l);
}

static void test_error_document(void)
{
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
        "<Message>Please reduce your request rate.</Message><Resource>/bucket</Resource>"
        "</Error>";
    struct s3_lister *l = lister(1000);
    struct s3_page page;
    struct s3_error e;
    CHECK(s3_list_parse(l, 503, body, sizeof body - 1, 7, &page, &e) == -1);
    CHECK_INT(e.status, 503);
    CHECK_STR(e.code, "SlowDown");
    CHECK_STR(e.message, "Please reduce your request rate.");
    s3_lister_free(l);
}

int main(void)
{
    test_page_pieces();
    test_broken_pages();
    test_error_document();
    return UNIT_DONE("s3_list");
}
