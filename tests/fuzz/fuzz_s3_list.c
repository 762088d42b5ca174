/* fuzz_s3_list.c - fuzzes the ListObjectsV2 parser of the S3 source
 * (connectors/s3_list.c, expat), through s3_list_parse: the body of one
 * answer from the store, fed in pieces as libcurl would.
 *
 * The first byte of the input chooses how it is read, the rest is the
 * body: bit 0 set, an error answer (HTTP 503: an <Error> document); bits
 * 1-3 the piece size (whole, 1, 2, 3, 7, 64, 512, 4096 bytes); bit 4 set,
 * a lister that asked for at most 2 objects (else 1000). So a seed file is
 * '@' then the XML of a page, 'A' then an error document.
 *
 * Properties: a page that parses has at most max-keys objects, each with a
 * non-empty NUL-terminated key of its length, an ETag, a size and a time
 * that are not negative, and a continuation token exactly when truncated;
 * an error answer keeps its status. After every input the same lister
 * still reads a known page right (state left by a broken page is reset). */
#include <stdbool.h>
#include <string.h>

#include "connectors/s3/s3_list.h"
#include "fuzz.h"

static struct s3_lister *listers[2];          /* max-keys 1000, 2 */

static const char known_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
    "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>tok-2</NextContinuationToken>"
    "<Contents><Key>incoming/a.csv</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
    "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>incoming/b+c%C3%A9.csv</Key><LastModified>2024-01-02T03:04:06.000Z"
    "</LastModified><ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag><Size>43</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const int page_sizes[2] = {1000, 2};
    for (int i = 0; i < 2; i++) {
        struct s3_list_config cfg = {
            .endpoint = "http://127.0.0.1:9", .bucket = "bucket", .region = "us-east-1",
            .path_style = true, .page_size = page_sizes[i]};
        char err[200];
        listers[i] = s3_lister_new(&cfg, err, sizeof err);
        FUZZ_ASSERT(listers[i], "%s", err);
    }
    return 0;
}

static void check_page(const struct s3_page *page, int page_size)
{
    FUZZ_ASSERT(page->n <= (size_t)page_size, "%zu objects, max-keys %d", page->n, page_size);
    for (size_t i = 0; i < page->n; i++) {
        const struct s3_object *o = &page->objects[i];
        FUZZ_ASSERT(o->key && o->key_len > 0 && o->key[o->key_len] == '\0',
                    "object %zu: key", i);
        FUZZ_ASSERT(o->etag && strlen(o->etag) < 4096, "object %zu: etag", i);
        FUZZ_ASSERT(o->size >= 0 && o->mtime_ms >= 0, "object %zu: size %lld, time %lld", i,
                    (long long)o->size, (long long)o->mtime_ms);
    }
    FUZZ_ASSERT(page->truncated == (page->next_token != NULL), "token without truncation");
    FUZZ_ASSERT(!page->next_token || page->next_token[0], "empty continuation token");
}

/* The lister still reads a page it has read before the input. */
static void check_known(struct s3_lister *l)
{
    struct s3_page page;
    struct s3_error e;
    int rc = s3_list_parse(l, 200, known_page, sizeof known_page - 1, 0, &page, &e);
    FUZZ_ASSERT(rc == 0, "the known page failed after the input: %s", e.message);
    FUZZ_ASSERT(page.n == 2 && page.truncated && strcmp(page.next_token, "tok-2") == 0,
                "the known page read as %zu objects", page.n);
    FUZZ_ASSERT(strcmp(page.objects[1].key, "incoming/b c\xc3\xa9.csv") == 0 &&
                strcmp(page.objects[1].etag, "9e107d9d372bb6826bd81d3542a419d6") == 0 &&
                page.objects[1].size == 43 && page.objects[1].mtime_ms == 1704164646000,
                "the known page's second object is wrong");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[8] = {0, 1, 2, 3, 7, 64, 512, 4096};
    if (size < 1)
        return -1;
    bool is_error = data[0] & 1;
    size_t chunk = chunks[(data[0] >> 1) & 7];
    int which = (data[0] >> 4) & 1;
    struct s3_lister *l = listers[which];
    long status = is_error ? 503 : 200;
    struct s3_page page;
    struct s3_error e;
    int rc = s3_list_parse(l, status, (const char *)data + 1, size - 1, chunk, &page, &e);
    FUZZ_ASSERT(memchr(e.message, '\0', sizeof e.message) &&
                memchr(e.code, '\0', sizeof e.code), "unterminated error text");
    if (is_error)
        FUZZ_ASSERT(rc == -1 && e.status == status, "an error answer: rc %d, status %ld", rc,
                    e.status);
    else if (rc == 0)
        check_page(&page, which ? 2 : 1000);
    else
        FUZZ_ASSERT(e.message[0], "a failed page without a reason");
    check_known(l);
    return 0;
}
