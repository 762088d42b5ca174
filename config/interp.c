/* interp.c - ${env:...}, ${env:NAME:-default}, ${file:PATH} and $${ in
 * config scalars, for the loader in node.c. Errors go to the caller's
 * br_errors at the scalar's position. Also the bounded whole-file reader
 * that ${file:} and the loader share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"
#include "secrets.h"

#define MAX_FILE_BYTES (1u << 20)     /* one ${file:...} */
#define MAX_ENV_NAME 255              /* getenv takes any; none is longer */
#define MAX_PATH_BYTES 4096           /* PATH_MAX on Linux */

/* Adds an error at the scalar's position and marks the expansion failed.
 * A macro so the format is still checked: br_errors has no va_list form. */
#define interp_error(ip, ...)                                               \
    ((ip)->failed = true,                                                   \
     br_errors_add_pos((ip)->errs, (ip)->line, (ip)->col, (ip)->path,       \
                       __VA_ARGS__))

/* ------------------------------------------------------------ buffers */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *sb, const char *s, size_t len)
{
    if (sb->oom)
        return;
    if (sb->n + len + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 64;
        while (cap < sb->n + len + 1)
            cap *= 2;
        char *p = realloc(sb->p, cap);
        if (!p) {
            sb->oom = true;
            return;
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->n, s, len);
    sb->n += len;
    sb->p[sb->n] = '\0';
}

/* Reads fd to its end, at most max bytes (one more tells it is too big);
 * size is a hint for the first allocation. */
static char *read_all(int fd, size_t max, size_t size, size_t *len)
{
    size_t cap = (size < max ? size : max) + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
            char *p = ncap > cap ? realloc(buf, ncap + 1) : NULL;
            if (!p) {
                free(buf);
                errno = ncap > cap ? ENOMEM : EFBIG;
                return NULL;
            }
            buf = p;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(buf);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            free(buf);
            errno = EFBIG;
            return NULL;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *br_interp_read_file(const char *path, size_t max, bool regular_only,
                          size_t *len)
{
    struct stat st;
    /* Judged before open: opening a FIFO waits for a writer, and opening
     * some devices does things. O_NONBLOCK covers a swap in between. */
    if (regular_only && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
                            (regular_only ? O_NONBLOCK : 0));
    if (fd < 0)
        return NULL;
    char *text = NULL;
    if (fstat(fd, &st) < 0) {
        /* errno set */
    } else if (regular_only && !S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    } else if (S_ISREG(st.st_mode) && st.st_size > (off_t)max) {
        errno = EFBIG;
    } else {
        text = read_all(fd, max, S_ISREG(st.st_mode) ? (size_t)st.st_size
                                                     : 4096, len);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return text;
}

/* ------------------------------------------------------- interpolation */

static bool valid_env_name(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* ${env:NAME} or ${env:NAME:-default}; as in the shell, the default is
 * used when NAME is unset or empty. */
static void expand_env(struct br_interp *ip, const char *expr, size_t len,
                       struct sbuf *out)
{
    const char *dash = NULL;
    for (size_t i = 0; i + 1 < len && !dash; i++)
        if (expr[i] == ':' && expr[i + 1] == '-')
            dash = expr + i;
    size_t name_len = dash ? (size_t)(dash - expr) : len;
    if (!valid_env_name(expr, name_len)) {
        interp_error(ip, "invalid environment variable name in ${env:...}: "
                     "use letters, digits and _");
        return;
    }
    if (name_len > MAX_ENV_NAME) {
        interp_error(ip, "environment variable name in ${env:...} is longer "
                     "than %d characters", MAX_ENV_NAME);
        return;
    }
    char name[MAX_ENV_NAME + 1];
    snprintf(name, sizeof name, "%.*s", (int)name_len, expr);
    const char *val = getenv(name);
    if (val && val[0])
        sb_add(out, val, strlen(val));
    else if (dash)
        sb_add(out, dash + 2, len - name_len - 2);
    else if (val)
        sb_add(out, "", 0);
    else
        interp_error(ip, "environment variable %s is not set", name);
}

/* ${file:PATH}: the file's contents minus one trailing newline. */
static void expand_file(struct br_interp *ip, const char *expr, size_t len,
                        struct sbuf *out)
{
    if (len == 0) {
        interp_error(ip, "${file:} needs a path");
        return;
    }
    char path[MAX_PATH_BYTES];
    int w;
    if (expr[0] != '/' && ip->dir)
        w = snprintf(path, sizeof path, "%s/%.*s", ip->dir, (int)len, expr);
    else
        w = snprintf(path, sizeof path, "%.*s", (int)len, expr);
    if (w < 0 || (size_t)w >= sizeof path) {
        /* Not cut short: the shorter path could name another file. */
        interp_error(ip, "the path in ${file:...} is longer than %d bytes",
                     MAX_PATH_BYTES - 1);
        return;
    }
    size_t n;
    char *text = br_interp_read_file(path, MAX_FILE_BYTES, true, &n);
    if (!text) {
        interp_error(ip, "cannot read file %s: %s", path,
                     errno == EFBIG ? "larger than 1 MiB"
                     : errno == EINVAL ? "not a regular file (a FIFO, "
                                         "socket or device is never read)"
                     : strerror(errno));
        return;
    }
    if (memchr(text, '\0', n))
        interp_error(ip, "file %s contains a NUL byte", path);
    if (n > 0 && text[n - 1] == '\n')
        n -= (n > 1 && text[n - 2] == '\r') ? 2 : 1;
    sb_add(out, text, n);
    free(text);
}

static void expand_one(struct br_interp *ip, const char *expr, size_t len,
                       struct sbuf *out)
{
    if (len >= 4 && memcmp(expr, "env:", 4) == 0) {
        expand_env(ip, expr + 4, len - 4, out);
    } else if (len >= 5 && memcmp(expr, "file:", 5) == 0) {
        expand_file(ip, expr + 5, len - 5, out);
    } else {
        /* Name only the scheme: the rest might be something private. */
        size_t shown = 0;
        while (shown < len && shown < 16 && expr[shown] != ':')
            shown++;
        interp_error(ip, "unknown interpolation '${%.*s...}': use "
                     "${env:NAME}, ${env:NAME:-default} or ${file:PATH} "
                     "($${ for a literal ${)", (int)shown, expr);
    }
}

char *br_interp_expand(struct br_interp *ip, const char *s, bool *used)
{
    struct sbuf out = {0};
    size_t len = strlen(s);
    *used = false;
    /* Sized for the text as it is: most scalars have nothing to expand,
     * and a 10 MB config should not pay for growing each of them. */
    out.p = malloc(len + 1);
    out.cap = len + 1;
    out.oom = !out.p;
    sb_add(&out, "", 0);
    while (*s) {
        if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
            sb_add(&out, "${", 2);
            s += 3;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s + 2, '}');
            if (!end) {
                interp_error(ip, "unterminated ${ (missing })");
                break;
            }
            size_t before = out.n;
            expand_one(ip, s + 2, (size_t)(end - s - 2), &out);
            /* What it produced is a secret from now on (secrets.h). */
            if (!out.oom)
                br_secrets_add_expansion(s, (size_t)(end - s + 1), out.p + before,
                                         out.n - before);
            *used = true;
            s = end + 1;
        } else {
            size_t run = 1 + strcspn(s + 1, "$");
            sb_add(&out, s, run);
            s += run;
        }
    }
    if (out.oom) {
        interp_error(ip, "out of memory");
        free(out.p);
        return NULL;
    }
    return out.p;
}
