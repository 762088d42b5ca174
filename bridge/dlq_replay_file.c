/* dlq_replay_file.c - the dead-letter file as replay's input and output
 * (dlq_replay_file.h; README: Replaying dead letters).
 *
 * Bookkeeping. The file is its own cursor: a line leaves it by being
 * cleared in place, overwritten with spaces (its newline kept) and
 * fsynced, and a line that begins with a space is one replay cleared
 * (the dead-letter writer never begins a line so), skipped by every later
 * run and by readers that skip blank lines. A line is cleared only after
 * its fate is durable: the function took it, or its new line was
 * appended to the live dead-letter file and fsynced, or it was appended to
 * the parked file and fsynced. Killed between the two steps, the next run
 * finds the line again and sends it again: a duplicate, never a loss. A
 * kill during the clearing itself (a long line, written page by page)
 * leaves a line that begins with spaces: skipped, as it is done.
 *
 * Nothing is ever moved: the daemon keeps its dead-letter file open and
 * appends to it (each line under an exclusive flock), so the file may not
 * be replaced or shifted under it. The run reads only up to the end the
 * file had when it began (taken under the flock, so at a line boundary);
 * what is appended after (the daemon's new letters, this run's own
 * write-backs) waits for the next run. Compaction: at the end of a run,
 * under the flock, if the file still ends where the run began, the
 * cleared lines at its end are cut off (all of them when every line is
 * done, leaving the file empty); else the cleared lines stay, blank,
 * until a later run ends with nothing appended behind them.
 *
 * Exclusion: a run holds a flock on PATH.replay.lock (never removed: a
 * lock file that is unlinked can be held twice); a second run on the same
 * file is refused. A dry run takes no lock and writes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dlq_replay_file.h"
#include "fsdir.h"

#define LINE_MAX_BYTES (64u << 20)   /* a longer line is left in place */
#define CLEAR_CHUNK 65536

struct dlq_file {
    char *path;
    FILE *rd;
    int fd;                 /* clears lines, takes the flock, compacts */
    int lock;               /* the replay lock; -1 on a dry run */
    bool dry_run;
    off_t end;              /* the size when the run began */
    off_t pos;              /* where the next line starts */
    off_t cur_at, cur_len;  /* the last line returned, newline included */
    size_t line_no;
    off_t kept_end;         /* the end of the last line that stays */
    off_t kept_before;      /* kept_end before the current letter */
    char *where;            /* "PATH:LINE" of the last line returned */
    size_t where_cap;
};

static void lock_fd(int fd, int op)
{
    while (flock(fd, op) < 0 && errno == EINTR)
        ;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static char *with_suffix(const char *path, size_t keep, const char *suffix)
{
    size_t n = strlen(suffix);
    char *s = malloc(keep + n + 1);
    if (s) {
        memcpy(s, path, keep);
        memcpy(s + keep, suffix, n + 1);
    }
    return s;
}

char *br_dlq_parked_path(const char *path)
{
    size_t n = strlen(path);
    bool jsonl = n > 6 && !strcmp(path + n - 6, ".jsonl");
    return with_suffix(path, jsonl ? n - 6 : n, ".parked.jsonl");
}

char *br_dlq_lock_path(const char *path)
{
    return with_suffix(path, strlen(path), ".replay.lock");
}

/* ------------------------------------------------------------ reading */

enum line_kind { LINE_TEXT, LINE_CLEARED, LINE_LONG, LINE_UNENDED, LINE_EOF, LINE_ERROR };

/* Reads the line at f->pos, up to f->end. A LINE_TEXT line is *line (new,
 * without its newline); cleared and too long lines are skipped unread. */
static enum line_kind read_line(struct dlq_file *f, char **line, size_t *len)
{
    if (f->pos >= f->end)
        return LINE_EOF;
    struct br_buf b;
    br_buf_init(&b, 0);
    off_t at = f->pos;
    bool ended = false, cleared = false, skip = false;
    int c;
    while (f->pos < f->end && (c = getc_unlocked(f->rd)) != EOF) {
        f->pos++;
        if (c == '\n') {
            ended = true;
            break;
        }
        cleared = cleared || (f->pos - at == 1 && c == ' ');
        if (cleared || skip)
            continue;
        if (b.len >= LINE_MAX_BYTES) {
            skip = true;
            br_buf_free(&b);
        } else if (br_buf_putc(&b, (char)c) < 0) {
            br_buf_free(&b);
            errno = ENOMEM;
            return LINE_ERROR;
        }
    }
    enum line_kind kind = ferror(f->rd) || (!ended && f->pos < f->end) ? LINE_ERROR
                          : cleared                                    ? LINE_CLEARED
                          : skip                                       ? LINE_LONG
                          : !ended                                     ? LINE_UNENDED
                          : b.len == 0                                 ? LINE_CLEARED
                                                                       : LINE_TEXT;
    if (kind == LINE_TEXT)
        *line = br_buf_steal(&b, len);
    br_buf_free(&b);
    return kind;
}

static void note_where(struct dlq_file *f)
{
    snprintf(f->where, f->where_cap, "%s:%zu", f->path, f->line_no);
}

/* A line that stays where it is (not a letter, or not one we replay). */
static enum br_dlq_next malformed(struct dlq_file *f, char *msg, size_t msglen,
                                  const char *why)
{
    f->kept_end = f->pos;
    snprintf(msg, msglen, "%s: %s", f->where, why);
    return BR_DLQ_MALFORMED;
}

static enum br_dlq_next file_next(void *in, struct br_dlq_letter *l, char *msg,
                                  size_t msglen)
{
    struct dlq_file *f = in;
    for (;;) {
        char *line = NULL;
        size_t len = 0;
        f->cur_at = f->pos;
        errno = 0;
        enum line_kind kind = read_line(f, &line, &len);
        f->cur_len = f->pos - f->cur_at;
        if (kind == LINE_EOF)
            return BR_DLQ_END;
        f->line_no++;
        note_where(f);
        if (kind == LINE_ERROR) {
            snprintf(msg, msglen, "%s: cannot read: %s", f->where,
                     errno ? strerror(errno) : "the file shrank");
            return BR_DLQ_ERROR;
        }
        if (kind == LINE_CLEARED)
            continue;
        if (kind == LINE_LONG)
            return malformed(f, msg, msglen, "a line longer than 64 MiB");
        if (kind == LINE_UNENDED)
            return malformed(f, msg, msglen, "an incomplete line (no newline): a "
                             "write that did not finish");
        char why[256];
        if (br_dlq_letter_parse(l, line, len, why, sizeof(why)) < 0) {
            br_dlq_letter_free(l);
            return malformed(f, msg, msglen, why);
        }
        f->kept_before = f->kept_end;
        f->kept_end = f->pos;     /* until done() clears it */
        return BR_DLQ_LETTER;
    }
}

static const char *file_where(void *in)
{
    return ((struct dlq_file *)in)->where;
}

/* ------------------------------------------------------------ clearing */

static int file_done(void *in, char *err, size_t errlen)
{
    static char spaces[CLEAR_CHUNK];
    struct dlq_file *f = in;
    if (spaces[0] != ' ')
        memset(spaces, ' ', sizeof(spaces));
    off_t at = f->cur_at, left = f->cur_len - 1;     /* the newline stays */
    while (!f->dry_run && left > 0) {
        size_t n = left < CLEAR_CHUNK ? (size_t)left : CLEAR_CHUNK;
        ssize_t w = pwrite(f->fd, spaces, n, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto failed;
        at += w;
        left -= w;
    }
    if (!f->dry_run && fdatasync(f->fd) < 0)
        goto failed;
    f->kept_end = f->kept_before;
    return 0;
failed:
    snprintf(err, errlen, "%s: cannot clear the line: %s", f->where, strerror(errno));
    return -1;
}

/* Cuts the cleared lines off the end, if nothing was appended behind them. */
static int file_finish(void *in, char *err, size_t errlen)
{
    struct dlq_file *f = in;
    if (f->dry_run || f->kept_end >= f->end)
        return 0;
    int rc = 0;
    struct stat st;
    lock_fd(f->fd, LOCK_EX);
    if (fstat(f->fd, &st) == 0 && st.st_size == f->end &&
        (ftruncate(f->fd, f->kept_end) < 0 || fsync(f->fd) < 0)) {
        snprintf(err, errlen, "%s: cannot compact: %s", f->path, strerror(errno));
        rc = -1;
    }
    lock_fd(f->fd, LOCK_UN);
    return rc;
}

static void file_close(void *in)
{
    struct dlq_file *f = in;
    if (!f)
        return;
    if (f->rd)
        fclose(f->rd);
    if (f->fd >= 0)
        close(f->fd);
    if (f->lock >= 0)
        close(f->lock);
    free(f->where);
    free(f->path);
    free(f);
}

static const struct br_dlq_input_ops file_input_ops = {
    .next = file_next,
    .where = file_where,
    .done = file_done,
    .finish = file_finish,
    .close = file_close,
};

/* ------------------------------------------------------------ opening */

static int take_replay_lock(struct dlq_file *f, char *err, size_t errlen)
{
    char *path = br_dlq_lock_path(f->path);
    f->lock = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640) : -1;
    int rc = 0;
    if (f->lock < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path ? path : f->path,
                 path ? strerror(errno) : "out of memory");
        rc = -1;
    } else if (flock(f->lock, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "%s is being replayed by another `fnbridge dlq replay` "
                 "(it holds %s); wait for it to finish", f->path, path);
        rc = -1;
    }
    free(path);
    return rc;
}

/* The end the run stops at: the size, taken under the flock so that no
 * line is half written. */
static int note_end(struct dlq_file *f, char *err, size_t errlen)
{
    struct stat st;
    lock_fd(f->fd, LOCK_SH);
    int rc = fstat(f->fd, &st);
    lock_fd(f->fd, LOCK_UN);
    if (rc < 0 || !(f->rd = fopen(f->path, "rbe"))) {
        snprintf(err, errlen, "cannot read %s: %s", f->path, strerror(errno));
        return -1;
    }
    f->end = st.st_size;
    return 0;
}

int br_dlq_file_input_open(struct br_dlq_input *in, const char *path, bool dry_run,
                           bool *missing, char *err, size_t errlen)
{
    struct dlq_file *f = calloc(1, sizeof(*f));
    *missing = false;
    if (!f || !(f->path = strdup(path)) ||
        !(f->where = malloc(f->where_cap = strlen(path) + 32))) {
        snprintf(err, errlen, "out of memory");
        file_close(f);
        return -1;
    }
    f->lock = -1;
    f->dry_run = dry_run;
    f->fd = open(path, (dry_run ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
    if (f->fd < 0) {
        *missing = errno == ENOENT;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        file_close(f);
        return -1;
    }
    if ((!dry_run && take_replay_lock(f, err, errlen) < 0) || note_end(f, err, errlen) < 0) {
        file_close(f);
        return -1;
    }
    snprintf(f->where, f->where_cap, "%s", path);
    *in = (struct br_dlq_input){&file_input_ops, f};
    return 0;
}

/* ------------------------------------------------------------- output */

struct dlq_file_out {
    char *live, *parked;
    int live_fd, parked_fd;
    struct br_buf line;
};

/* Appends p[0..n) and q[0..m) as one line under the file's flock, the way
 * the dead-letter writer does: fsynced, and removed again if it could not
 * be written whole. */
static int append_line(const char *path, int *fd, const void *p, size_t n, const void *q,
                       size_t m, char *err, size_t errlen)
{
    if (*fd < 0 && (br_mkdirs(path, 0750, false) < 0 ||
                    (*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    lock_fd(*fd, LOCK_EX);
    off_t before = lseek(*fd, 0, SEEK_END);
    int rc = write_all(*fd, p, n) < 0 || write_all(*fd, q, m) < 0 || fsync(*fd) < 0 ? -1 : 0;
    if (rc < 0) {
        snprintf(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        if (before >= 0 && ftruncate(*fd, before) < 0)
            snprintf(err + strlen(err), errlen - strlen(err), " (and a torn line stays)");
    }
    lock_fd(*fd, LOCK_UN);
    return rc;
}

static int out_write_back(void *out, const struct br_dlq_letter *l,
                          const struct br_dlq_attempt *a, char *err, size_t errlen)
{
    struct dlq_file_out *o = out;
    br_buf_reset(&o->line);
    if (br_dlq_letter_write_back(&o->line, l, a) < 0) {
        snprintf(err, errlen, "out of memory building the line for %s", o->live);
        return -1;
    }
    int rc = append_line(o->live, &o->live_fd, o->line.data, o->line.len, "", 0, err, errlen);
    if (o->line.cap > (1u << 20))
        br_buf_free(&o->line);
    return rc;
}

static int out_park(void *out, const struct br_dlq_letter *l, char *err, size_t errlen)
{
    struct dlq_file_out *o = out;
    return append_line(o->parked, &o->parked_fd, l->line, l->line_len, "\n", 1, err, errlen);
}

static const char *out_parked_where(void *out)
{
    return ((struct dlq_file_out *)out)->parked;
}

static void out_close(void *out)
{
    struct dlq_file_out *o = out;
    if (!o)
        return;
    if (o->live_fd >= 0)
        close(o->live_fd);
    if (o->parked_fd >= 0)
        close(o->parked_fd);
    br_buf_free(&o->line);
    free(o->live);
    free(o->parked);
    free(o);
}

static const struct br_dlq_output_ops file_output_ops = {
    .write_back = out_write_back,
    .park = out_park,
    .parked_where = out_parked_where,
    .close = out_close,
};

int br_dlq_file_output_open(struct br_dlq_output *out, const char *live,
                            const char *parked)
{
    struct dlq_file_out *o = calloc(1, sizeof(*o));
    if (o) {
        o->live_fd = o->parked_fd = -1;
        br_buf_init(&o->line, 0);
        o->live = strdup(live);
        o->parked = strdup(parked);
    }
    if (!o || !o->live || !o->parked) {
        out_close(o);
        return -1;
    }
    *out = (struct br_dlq_output){&file_output_ops, o};
    return 0;
}
