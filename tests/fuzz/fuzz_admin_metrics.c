/* fuzz_admin_metrics.c - fuzzes the Prometheus rendering of /metrics
 * (bridge/admin_metrics.c) and what feeds it (bridge/observe.c). The input
 * is read as a script: up to three pipelines, each with a name of hostile
 * bytes, observations into its histograms and invocations ended with any
 * duration (NaN, infinities, huge, subnormal: the raw bits of a double),
 * its counters and gauges (any 64-bit value), its source, breaker and
 * sink states, and up to four Kafka shards (hostile topics, any partition
 * and lag); then bare doubles for the number writer.
 *
 * Properties: the exposition is every line valid text format 0.0.4 (HELP
 * and TYPE once per family before its samples; names and label names of
 * the format's alphabet; label values quoted with only \\ \" \n escapes
 * and UTF-8; a value that is NaN, +Inf, -Inf or a decimal number; no
 * timestamp); label values decode to the pipeline name and topic as given
 * (a byte that is not UTF-8 as U+FFFD); counters and lags read back
 * exactly as stored; a shard is shown exactly when assigned with a lag;
 * histogram buckets ascend, are cumulative, agree with the values
 * observed (le=b counts those <= b, +Inf all of them, NaN included) and
 * end in +Inf equal to _count. The
 * number writer's text reads back as the same double. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "bridge/admin_metrics.h"
#include "bridge/dlq_json.h"
#include "bridge/pipeline.h"
#include "fuzz.h"

#define MAX_PIPELINES 3
#define MAX_SHARDS 4
#define MAX_OBSERVED 16
#define NAME_MAX_BYTES 64      /* config: a pipeline name is 1 to 64 characters */
#define TOPIC_MAX_BYTES 128    /* within the renderer's label room, escaped 3x */
#define LABEL_MAX 1024

/* ------------------------------------------------------- the script */

struct reader {
    const uint8_t *p;
    size_t left;
};

static uint8_t byte(struct reader *r)
{
    if (!r->left)
        return 0;
    r->left--;
    return *r->p++;
}

static uint64_t u64(struct reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(r);
    return v;
}

static double dbl(struct reader *r)
{
    uint64_t bits = u64(r);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* prefix (which tells the pipelines and shards apart) and up to max
 * bytes of the input, cut at a NUL as a C string is. */
static char *text(struct reader *r, char prefix, size_t max)
{
    size_t n = byte(r) % (max + 1);
    char *s = malloc(n + 2);
    FUZZ_ASSERT(s, "out of memory");
    s[0] = prefix;
    for (size_t i = 0; i < n; i++)
        s[i + 1] = (char)byte(r);
    s[n + 1] = '\0';
    return s;
}

/* What the label value of s must decode to: s, with each byte that
 * starts no UTF-8 sequence as U+FFFD. */
static size_t shown_utf8(const char *s, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s), o = 0;
    while (left) {
        size_t len = br_utf8_len(p, left);
        const void *src = len ? (const void *)p : "\xef\xbf\xbd";
        size_t n = len ? len : 3;
        FUZZ_ASSERT(o + n < cap, "label model too long");
        memcpy(out + o, src, n);
        o += n;
        len = len ? len : 1;
        p += len;
        left -= len;
    }
    out[o] = '\0';
    return o;
}

struct hist_model {
    const struct br_histogram *h;
    double seen[2 * MAX_OBSERVED];
    int n;
};

struct fake {
    struct br_pipeline pl;
    struct br_pipeline_conf conf;
    struct br_shard_info shards[MAX_SHARDS];
    char shown[LABEL_MAX];                  /* the name as its label decodes */
    char topic_shown[MAX_SHARDS][LABEL_MAX];
    uint64_t received, delivered, dead_lettered, retries;
    struct hist_model duration, batch;
};

/* The model notes v as observed into h; observe() also observes it. */
static void note(struct hist_model *m, const struct br_histogram *h, double v)
{
    m->h = h;
    if (m->n < 2 * MAX_OBSERVED)
        m->seen[m->n++] = v;
}

static void observe(struct hist_model *m, struct br_histogram *h, double v)
{
    note(m, h, v);
    br_histogram_observe(h, v);
}

static void fill(struct fake *f, struct reader *r, int index)
{
    br_observe_init(&f->pl.obs);
    struct br_pipeline *pl = &f->pl;
    pl->conf = &f->conf;
    f->conf.memory_size_mb = 128 + (int64_t)(u64(r) % 10113);   /* config: 128..10240 */
    pl->name_shown = text(r, (char)('0' + index), NAME_MAX_BYTES);
    shown_utf8(pl->name_shown, f->shown, sizeof(f->shown));
    /* Observed first: the counters and gauges stored next are any value,
     * which a real invocation never meets (concurrent at INT64_MAX). */
    int n_obs = byte(r) % (MAX_OBSERVED + 1);
    for (int i = 0; i < n_obs; i++) {
        double v = dbl(r);
        uint8_t how = byte(r);
        if (how & 1) {            /* an invocation of v ms and how/2 records */
            size_t records = how >> 1;
            br_observe_invocation_start(&pl->obs);
            br_observe_invocation_end(&pl->obs, (enum br_outcome)(how % BR_OUTCOME_COUNT),
                                      (how & 4) != 0, v, records);
            note(&f->duration, &pl->obs.duration_seconds, v / 1000.0);
            note(&f->batch, &pl->obs.batch_records, (double)records);
        } else {
            observe(how & 2 ? &f->batch : &f->duration,
                    how & 2 ? &pl->obs.batch_records : &pl->obs.duration_seconds, v);
        }
    }
    atomic_store(&pl->stats.received, f->received = u64(r));
    atomic_store(&pl->stats.filtered, u64(r));
    atomic_store(&pl->stats.delivered, f->delivered = u64(r));
    atomic_store(&pl->stats.dead_lettered, f->dead_lettered = u64(r));
    atomic_store(&pl->stats.retries, f->retries = u64(r));
    for (int i = 0; i < BR_OUTCOME_COUNT; i++)
        atomic_store(&pl->obs.invocations[i], u64(r));
    struct br_metering *m = &pl->obs.meter;
    atomic_store(&m->requests, u64(r));
    atomic_store(&m->billed_ms, u64(r));
    atomic_store(&m->errors, u64(r));
    atomic_store(&m->throttles, u64(r));
    atomic_store(&m->cold_starts, u64(r));
    atomic_store(&m->init_ms, u64(r));
    atomic_store(&m->concurrent, (int64_t)u64(r));
    atomic_store(&m->concurrent_max, (int64_t)u64(r));
    atomic_store(&pl->obs.inflight_records, (int64_t)u64(r));
    atomic_store(&pl->obs.inflight_bytes, (int64_t)u64(r));
    atomic_store(&pl->obs.breaker_opened, u64(r));
    atomic_store(&pl->obs.sink_failures, u64(r));
    for (int g = 0; g < BR_GAUGE_COUNT; g++) {
        atomic_store(&pl->obs.gauges[g], (int64_t)u64(r));
        atomic_store(&pl->obs.gauge_set[g], byte(r) & 1);
    }
    uint8_t states = byte(r);
    atomic_store(&pl->obs.source_state, states % 5);          /* 4: none of them */
    atomic_store(&pl->obs.breaker_state, (states / 5) % 4);
    atomic_store(&pl->obs.sink_state, (states / 20) % 3);
    atomic_store(&pl->obs.paused, states >= 128);

    int n_shards = byte(r) % (MAX_SHARDS + 1);
    pl->shards = f->shards;
    for (int i = 0; i < n_shards; i++) {
        struct br_shard_info *s = &f->shards[i];
        s->topic = text(r, (char)('a' + i), TOPIC_MAX_BYTES);
        shown_utf8(s->topic, f->topic_shown[i], sizeof(f->topic_shown[i]));
        s->partition = (int32_t)(uint32_t)u64(r);
        atomic_store(&s->lag, (int64_t)u64(r));
        atomic_store(&s->assigned, byte(r) & 1);
    }
    atomic_store(&pl->n_shards_shown, n_shards);
}

static void release(struct fake *f)
{
    for (int i = 0; i < atomic_load(&f->pl.n_shards_shown); i++)
        free(f->shards[i].topic);
    free(f->pl.name_shown);
    br_observe_destroy(&f->pl.obs);
}

/* -------------------------------------------------- the text format */

struct label {
    const char *name;
    size_t name_len;
    char value[LABEL_MAX];        /* decoded */
    size_t value_len;
};

struct sample {
    const char *name;
    size_t name_len;
    struct label labels[4];
    int n_labels;
    double value;
};

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

/* A metric or label name at p; its length (0: none). */
static size_t name_at(const char *p, const char *end, bool colon)
{
    size_t n = 0;
    while (p + n < end && name_char(p[n], n == 0, colon))
        n++;
    return n;
}

/* A quoted label value at p (after its '"'): decoded into l; returns the
 * index past the closing quote. */
static size_t label_value(const char *p, const char *end, struct label *l, const char *line)
{
    size_t i = 0;
    l->value_len = 0;
    while (p + i < end && p[i] != '"') {
        char c = p[i++];
        if (c == '\\') {
            FUZZ_ASSERT(p + i < end, "a label value ends in a backslash: %s", line);
            char e = p[i++];
            FUZZ_ASSERT(e == '\\' || e == '"' || e == 'n', "escape \\%c in: %s", e, line);
            c = e == 'n' ? '\n' : e;
        }
        FUZZ_ASSERT(l->value_len + 1 < LABEL_MAX, "a label value too long");
        l->value[l->value_len++] = c;
    }
    FUZZ_ASSERT(p + i < end, "an unterminated label value: %s", line);
    l->value[l->value_len] = '\0';
    const unsigned char *u = (const unsigned char *)l->value;
    for (size_t k = 0; k < l->value_len;) {
        size_t len = br_utf8_len(u + k, l->value_len - k);
        FUZZ_ASSERT(len, "a label value that is not UTF-8: %s", line);
        k += len;
    }
    return i + 1;
}

/* NaN, +Inf, -Inf or -?digits[.digits][e[+-]digits], the whole token. */
static bool number_token(const char *p, size_t n, double *v)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!strcmp(tmp, "NaN") || !strcmp(tmp, "+Inf") || !strcmp(tmp, "-Inf")) {
        *v = tmp[0] == 'N' ? NAN : tmp[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    size_t i = tmp[0] == '-';
    size_t digits = strspn(tmp + i, "0123456789");
    if (!digits)
        return false;
    i += digits;
    if (tmp[i] == '.') {
        digits = strspn(tmp + i + 1, "0123456789");
        if (!digits)
            return false;
        i += 1 + digits;
    }
    if (tmp[i] == 'e' || tmp[i] == 'E') {
        i++;
        if (tmp[i] == '+' || tmp[i] == '-')
            i++;
        digits = strspn(tmp + i, "0123456789");
        if (!digits)
            return false;
        i += digits;
    }
    if (tmp[i])
        return false;
    *v = strtod(tmp, NULL);
    return true;
}

static void parse_sample(const char *p, const char *end, struct sample *s, const char *line)
{
    memset(s, 0, sizeof(*s));
    s->name = p;
    s->name_len = name_at(p, end, true);
    FUZZ_ASSERT(s->name_len, "no metric name: %s", line);
    p += s->name_len;
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            FUZZ_ASSERT(s->n_labels < 4, "too many labels: %s", line);
            struct label *l = &s->labels[s->n_labels++];
            l->name = p;
            l->name_len = name_at(p, end, false);
            FUZZ_ASSERT(l->name_len, "no label name: %s", line);
            p += l->name_len;
            FUZZ_ASSERT(end - p >= 2 && p[0] == '=' && p[1] == '"', "no =\" after a label: %s",
                        line);
            p += 2;
            p += label_value(p, end, l, line);
            if (p < end && *p == ',')
                p++;
            else
                FUZZ_ASSERT(p < end && *p == '}', "labels not closed: %s", line);
        }
        FUZZ_ASSERT(p < end, "labels not closed: %s", line);
        p++;
    }
    FUZZ_ASSERT(p < end && *p == ' ', "no blank before the value: %s", line);
    p++;
    FUZZ_ASSERT(number_token(p, (size_t)(end - p), &s->value), "value '%.*s' in: %s",
                (int)(end - p), p, line);
}

static const struct label *label_of(const struct sample *s, const char *name)
{
    for (int i = 0; i < s->n_labels; i++)
        if (s->labels[i].name_len == strlen(name) && !memcmp(s->labels[i].name, name,
                                                              s->labels[i].name_len))
            return &s->labels[i];
    return NULL;
}

static bool named(const struct sample *s, const char *family, const char *suffix)
{
    size_t fl = strlen(family), sl = strlen(suffix);
    return s->name_len == fl + sl && !memcmp(s->name, family, fl) &&
           !memcmp(s->name + fl, suffix, sl);
}

/* ------------------------------------------------- what must be shown */

struct check {
    struct fake *fakes;
    int n;
    char family[128], type[16];
    int n_families;
    char families[64][128];
    /* histogram series being read */
    struct hist_model *hist;
    int bucket;
    double last_le, last_count;
    int shards_shown[MAX_PIPELINES][MAX_SHARDS];
};

static struct fake *pipeline_of(struct check *c, const struct sample *s, const char *line)
{
    const struct label *l = label_of(s, "pipeline");
    FUZZ_ASSERT(l && l == &s->labels[0], "no pipeline label first: %s", line);
    int i = l->value[0] - '0';
    FUZZ_ASSERT(i >= 0 && i < c->n && !strcmp(l->value, c->fakes[i].shown),
                "pipeline label '%s' is no pipeline's name", l->value);
    return &c->fakes[i];
}

static void check_exact(const struct sample *s, uint64_t want, const char *line)
{
    FUZZ_ASSERT(s->value == (double)want, "%s: want %.17g", line, (double)want);
}

static void check_lag(struct check *c, struct fake *f, const struct sample *s,
                      const char *line)
{
    const struct label *t = label_of(s, "topic"), *part = label_of(s, "partition");
    FUZZ_ASSERT(t && part, "a lag without topic or partition: %s", line);
    int i = t->value[0] - 'a';
    FUZZ_ASSERT(i >= 0 && i < atomic_load(&f->pl.n_shards_shown) &&
                !strcmp(t->value, f->topic_shown[i]), "topic '%s' is no shard's", t->value);
    struct br_shard_info *sh = &f->shards[i];
    char want[16];
    snprintf(want, sizeof(want), "%d", (int)sh->partition);
    FUZZ_ASSERT(!strcmp(part->value, want), "partition %s, want %s", part->value, want);
    FUZZ_ASSERT(atomic_load(&sh->assigned) && atomic_load(&sh->lag) >= 0,
                "an unassigned or unknown lag shown: %s", line);
    check_exact(s, (uint64_t)atomic_load(&sh->lag), line);
    c->shards_shown[f - c->fakes][i]++;
}

/* le=b must count the values observed <= b. */
static void check_bucket(struct check *c, struct fake *f, const struct sample *s,
                         const char *line)
{
    struct hist_model *m = strstr(c->family, "duration") ? &f->duration : &f->batch;
    const struct label *le = label_of(s, "le");
    FUZZ_ASSERT(le, "a bucket without le: %s", line);
    double bound;
    FUZZ_ASSERT(number_token(le->value, le->value_len, &bound), "le=%s", le->value);
    if (c->hist != m) {
        c->hist = m;
        c->bucket = 0;
        c->last_le = -INFINITY;
        c->last_count = 0;
    }
    FUZZ_ASSERT(bound > c->last_le, "le %g after %g: %s", bound, c->last_le, line);
    FUZZ_ASSERT(s->value >= c->last_count, "not cumulative: %s", line);
    double want = 0;                  /* +Inf holds them all, NaN too */
    for (int i = 0; i < m->n; i++)
        want += m->seen[i] <= bound || bound == INFINITY;
    if (m->n < 2 * MAX_OBSERVED)      /* the model saw every observation */
        FUZZ_ASSERT(s->value == want, "%s: want %g", line, want);
    c->last_le = bound;
    c->last_count = s->value;
    c->bucket++;
}

static void check_sample(struct check *c, const struct sample *s, const char *line)
{
    bool histogram = !strcmp(c->type, "histogram");
    FUZZ_ASSERT(named(s, c->family, "") ||
                (histogram && (named(s, c->family, "_bucket") || named(s, c->family, "_sum") ||
                               named(s, c->family, "_count"))),
                "a sample of another family than %s: %s", c->family, line);
    struct fake *f = pipeline_of(c, s, line);
    if (!strcmp(c->type, "counter"))
        FUZZ_ASSERT(s->value >= 0, "a counter below 0 or NaN: %s", line);
    if (!strcmp(c->family, "fnbridge_records_received_total"))
        check_exact(s, f->received, line);
    else if (!strcmp(c->family, "fnbridge_records_delivered_total"))
        check_exact(s, f->delivered, line);
    else if (!strcmp(c->family, "fnbridge_records_dead_lettered_total"))
        check_exact(s, f->dead_lettered, line);
    else if (!strcmp(c->family, "fnbridge_retries_total"))
        check_exact(s, f->retries, line);
    else if (!strcmp(c->family, "fnbridge_kafka_consumer_lag"))
        check_lag(c, f, s, line);
    if (!histogram)
        return;
    if (named(s, c->family, "_bucket")) {
        check_bucket(c, f, s, line);
    } else if (named(s, c->family, "_count")) {
        FUZZ_ASSERT(c->last_le == INFINITY && s->value == c->last_count,
                    "_count is not the +Inf bucket: %s", line);
        c->hist = NULL;
    } else {
        FUZZ_ASSERT(isfinite(s->value) && s->value >= 0, "a sum below 0: %s", line);
    }
}

static void check_comment(struct check *c, const char *p, const char *end, const char *line)
{
    bool help = end - p > 7 && !memcmp(p, "# HELP ", 7);
    bool type = end - p > 7 && !memcmp(p, "# TYPE ", 7);
    FUZZ_ASSERT(help || type, "a comment that is neither HELP nor TYPE: %s", line);
    p += 7;
    size_t n = name_at(p, end, true);
    FUZZ_ASSERT(n && n < sizeof(c->family) && p + n < end && p[n] == ' ',
                "no family name: %s", line);
    if (help) {
        for (int i = 0; i < c->n_families; i++)
            FUZZ_ASSERT(strlen(c->families[i]) != n || memcmp(c->families[i], p, n),
                        "family %.*s printed twice", (int)n, p);
        FUZZ_ASSERT(c->n_families < 64, "too many families");
        memcpy(c->families[c->n_families], p, n);
        c->families[c->n_families++][n] = '\0';
        memcpy(c->family, p, n);
        c->family[n] = '\0';
        c->type[0] = '\0';
        return;
    }
    FUZZ_ASSERT(strlen(c->family) == n && !memcmp(c->family, p, n),
                "TYPE of another family than its HELP: %s", line);
    size_t tl = (size_t)(end - p) - n - 1;
    FUZZ_ASSERT(tl < sizeof(c->type), "type too long: %s", line);
    memcpy(c->type, p + n + 1, tl);
    c->type[tl] = '\0';
    FUZZ_ASSERT(!strcmp(c->type, "counter") || !strcmp(c->type, "gauge") ||
                !strcmp(c->type, "histogram"), "type %s", c->type);
}

static void check_exposition(struct check *c, const struct br_buf *out)
{
    FUZZ_ASSERT(out->len && out->data[out->len - 1] == '\n', "no newline at the end");
    FUZZ_ASSERT(!memchr(out->data, '\0', out->len), "a NUL byte in the exposition");
    const char *p = out->data, *stop = out->data + out->len;
    char line[2048];
    while (p < stop) {
        const char *end = memchr(p, '\n', (size_t)(stop - p));
        snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
        if (*p == '#') {
            check_comment(c, p, end, line);
        } else {
            FUZZ_ASSERT(c->type[0], "a sample before its TYPE: %s", line);
            struct sample s;
            parse_sample(p, end, &s, line);
            check_sample(c, &s, line);
        }
        p = end + 1;
    }
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < atomic_load(&c->fakes[i].pl.n_shards_shown); k++) {
            struct br_shard_info *sh = &c->fakes[i].shards[k];
            int want = atomic_load(&sh->assigned) && atomic_load(&sh->lag) >= 0;
            FUZZ_ASSERT(c->shards_shown[i][k] == want, "shard %d of pipeline %d shown %d "
                        "times", k, i, c->shards_shown[i][k]);
        }
}

/* ----------------------------------------------------- bare numbers */

static void check_number(double v)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    FUZZ_ASSERT(br_metrics_put_value(&b, v) == 0, "out of memory");
    double back;
    FUZZ_ASSERT(number_token(b.data, b.len, &back), "%a written as '%s'", v, b.data);
    FUZZ_ASSERT(isnan(v) ? isnan(back) : back == v, "%a written as '%s'", v, b.data);
    br_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};
    static struct fake fakes[MAX_PIPELINES];
    struct br_pipeline *pls[MAX_PIPELINES];
    int n = 1 + byte(&r) % MAX_PIPELINES;
    memset(fakes, 0, sizeof(fakes));
    for (int i = 0; i < n; i++) {
        fill(&fakes[i], &r, i);
        pls[i] = &fakes[i].pl;
    }
    struct br_buf out;
    br_buf_init(&out, 0);
    FUZZ_ASSERT(br_metrics_render(&out, pls, (size_t)n) == 0, "render failed");
    static struct check c;
    memset(&c, 0, sizeof(c));
    c.fakes = fakes;
    c.n = n;
    check_exposition(&c, &out);
    br_buf_free(&out);
    while (r.left)
        check_number(dbl(&r));
    for (int i = 0; i < n; i++)
        release(&fakes[i]);
    return 0;
}
