/* record_doc.c - building the per-record document filters match
 * (record_doc.h): members borrowed or written into a reused scratch
 * buffer, the FilterCriteria decoding of a record's bytes, and headers as
 * one JSON object. */
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "record_doc.h"
#include "utf8.h"

/* Scratch past this is let go after the record that needed it: one large
 * record must not pin its size for the pipeline's life. */
#define KEEP_SCRATCH (1u << 20)

void br_doc_init(struct br_doc *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    br_buf_init(&d->scratch, max);
}

void br_doc_free(struct br_doc *d)
{
    if (!d)
        return;
    br_buf_free(&d->scratch);
    free(d->order);
    d->order = NULL;
    d->order_cap = 0;
}

void br_doc_reset(struct br_doc *d)
{
    d->n = 0;
    d->failed = false;
    if (d->scratch.cap > KEEP_SCRATCH) {
        size_t max = d->scratch.max;
        br_buf_free(&d->scratch);
        br_buf_init(&d->scratch, max);
    }
    br_buf_reset(&d->scratch);
}

int br_doc_finish(struct br_doc *d)
{
    if (d->failed)
        return -1;
    /* Scratch members were written one after the other: each runs to the
     * start of the next one, the last to the end of what was written. */
    size_t end = d->scratch.len;
    for (size_t i = d->n; i-- > 0;) {
        if (d->at[i] == SIZE_MAX)
            continue;
        d->m[i].json = d->scratch.data + d->at[i];
        d->m[i].len = end - d->at[i];
        end = d->at[i];
    }
    return 0;
}

bool br_doc_wants(const struct br_doc *d, const char *name)
{
    if (!d->want)
        return true;
    for (size_t i = 0; i < d->n_want; i++)
        if (!strcmp(d->want[i], name))
            return true;
    return false;
}

/* The next member slot, or NULL (the doc fails) when there is none. */
static struct br_doc_member *slot(struct br_doc *d, const char *name, size_t at)
{
    if (d->failed || d->n == BR_DOC_MAX) {
        d->failed = true;
        return NULL;
    }
    d->at[d->n] = at;
    struct br_doc_member *m = &d->m[d->n++];
    *m = (struct br_doc_member){name, NULL, 0};
    return m;
}

int br_doc_json(struct br_doc *d, const char *name, const char *json, size_t len)
{
    if (!br_doc_wants(d, name))
        return d->failed ? -1 : 0;
    struct br_doc_member *m = slot(d, name, SIZE_MAX);
    if (!m)
        return -1;
    m->json = json;
    m->len = len;
    return 0;
}

int br_doc_absent(struct br_doc *d, const char *name)
{
    if (!br_doc_wants(d, name))
        return d->failed ? -1 : 0;
    return slot(d, name, SIZE_MAX) ? 0 : -1;
}

struct br_buf *br_doc_open(struct br_doc *d, const char *name)
{
    return slot(d, name, d->scratch.len) ? &d->scratch : NULL;
}

int br_doc_close(struct br_doc *d, int rc)
{
    if (rc < 0)
        d->failed = true;
    return d->failed ? -1 : 0;
}

/* s[0..n), known to be UTF-8, as a JSON string member. */
static int put_str(struct br_doc *d, const char *name, const char *s, size_t n)
{
    struct br_buf *b = br_doc_open(d, name);
    return br_doc_close(d, b ? br_buf_put_json_str(b, s, n) : -1);
}

int br_doc_str(struct br_doc *d, const char *name, const char *s, size_t n)
{
    if (!br_doc_wants(d, name))
        return d->failed ? -1 : 0;
    if (!br_doc_utf8((const unsigned char *)s, n))
        return br_doc_absent(d, name);
    return put_str(d, name, s, n);
}

int br_doc_i64(struct br_doc *d, const char *name, int64_t v)
{
    if (!br_doc_wants(d, name))
        return d->failed ? -1 : 0;
    struct br_buf *b = br_doc_open(d, name);
    return br_doc_close(d, b ? br_buf_put_i64(b, v) : -1);
}

int br_doc_bool(struct br_doc *d, const char *name, bool v)
{
    static const char t[] = "true", f[] = "false";
    return v ? br_doc_json(d, name, t, sizeof(t) - 1) : br_doc_json(d, name, f, sizeof(f) - 1);
}

/* ASCII 8 bytes at a time, the rest by br_utf8_len. */
bool br_doc_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        size_t len = br_utf8_len(p + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

int br_doc_payload(struct br_doc *d, const char *name, const unsigned char *p, size_t n)
{
    if (!br_doc_wants(d, name))
        return d->failed ? -1 : 0;
    if (!p)
        return br_doc_absent(d, name);
    if (br_json_valid(p, n))
        return br_doc_json(d, name, (const char *)p, n);
    if (br_doc_utf8(p, n))
        return put_str(d, name, (const char *)p, n);
    return br_doc_absent(d, name);
}

/* ------------------------------------------------------------- headers */

static int by_name(const void *a, const void *b)
{
    const struct br_header *x = *(const struct br_header *const *)a;
    const struct br_header *y = *(const struct br_header *const *)b;
    int c = strcmp(x->name, y->name);
    /* Same name: in the order received (the array's order). */
    return c ? c : (x < y ? -1 : x > y);
}

/* headers[0..n) as pointers in d->order, sorted by name. */
static int order_headers(struct br_doc *d, const struct br_header *headers, size_t n)
{
    if (n > d->order_cap) {
        const struct br_header **o = realloc(d->order, n * sizeof(*o));
        if (!o)
            return -1;
        d->order = o;
        d->order_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        d->order[i] = &headers[i];
    qsort(d->order, n, sizeof(*d->order), by_name);
    return 0;
}

static bool usable(const struct br_header *h)
{
    return !h->value || br_doc_utf8(h->value, h->value_len);
}

static int put_value(struct br_buf *out, const struct br_header *h)
{
    if (!h->value)
        return br_buf_append(out, "null", 4);
    return br_buf_put_json_str(out, (const char *)h->value, h->value_len);
}

/* One name's values order[i..j): a string, or a list when there are more;
 * nothing (0) when neither the name nor any value is text. */
static int put_group(struct br_buf *out, const struct br_header *const *order, size_t i,
                     size_t j)
{
    size_t used = 0;
    const char *name = order[i]->name;
    for (size_t k = i; k < j; k++)
        used += usable(order[k]);
    if (!used || !br_doc_utf8((const unsigned char *)name, strlen(name)))
        return 0;
    int rc = br_buf_put_json_str(out, order[i]->name, strlen(order[i]->name));
    rc |= br_buf_putc(out, ':');
    if (used > 1)
        rc |= br_buf_putc(out, '[');
    bool first = true;
    for (size_t k = i; k < j && !rc; k++) {
        if (!usable(order[k]))
            continue;
        if (!first)
            rc |= br_buf_putc(out, ',');
        first = false;
        rc |= put_value(out, order[k]);
    }
    if (used > 1)
        rc |= br_buf_putc(out, ']');
    return rc ? -1 : 1;
}

int br_doc_put_headers(struct br_doc *d, struct br_buf *out, const struct br_header *headers,
                       size_t n)
{
    if (br_buf_putc(out, '{') < 0 || (n && order_headers(d, headers, n) < 0))
        return -1;
    bool first = true;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && !strcmp(d->order[j]->name, d->order[i]->name))
            j++;
        size_t mark = out->len;
        if (!first && br_buf_putc(out, ',') < 0)
            return -1;
        int put = put_group(out, d->order, i, j);
        if (put < 0)
            return -1;
        if (put == 0) {             /* nothing usable: take the comma back */
            out->len = mark;
            out->data[mark] = '\0';
        } else {
            first = false;
        }
        i = j;
    }
    return br_buf_putc(out, '}');
}
