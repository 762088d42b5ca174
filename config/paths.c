/* paths.c - can `run` create and write a directory or file? Found by
 * looking only (stat and access), never by creating, so that `check` has
 * no side effects.
 *
 * A missing directory is fine when its nearest existing ancestor is a
 * directory we may write in and search: mkdir -p then succeeds (the
 * directories it makes are ours). Access is asked for the effective ids,
 * as mkdir and open use them; for root that still fails on a read-only
 * filesystem, and the type checks (a file where a directory must be) fail
 * for everyone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

/* Drops trailing slashes, keeping a lone "/". */
static void strip_slashes(char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
}

/* Turns p into its parent directory in place: "a/b" -> "a", "a" -> ".",
 * "/a" -> "/". Returns false when p has no parent ("/" or "."). */
static bool to_parent(char *p)
{
    if (strcmp(p, "/") == 0 || strcmp(p, ".") == 0)
        return false;
    char *slash = strrchr(p, '/');
    if (!slash)
        strcpy(p, ".");
    else if (slash == p)
        p[1] = '\0';
    else
        *slash = '\0';
    strip_slashes(p);
    return true;
}

static bool can_write(const char *p)
{
    return faccessat(AT_FDCWD, p, W_OK | X_OK, AT_EACCESS) == 0;
}

/* The problem with at, an existing ancestor of dir (or dir itself), if
 * any. */
static int judge_existing(const char *dir, const char *at,
                          const struct stat *st, bool show, char *why,
                          size_t len)
{
    bool self = strcmp(dir, at) == 0;
    if (!S_ISDIR(st->st_mode)) {
        if (!show)
            snprintf(why, len, self ? "is not a directory"
                                    : "cannot be created: a parent is not a "
                                      "directory");
        else if (self)
            snprintf(why, len, "%s is not a directory", dir);
        else
            snprintf(why, len, "cannot create %s: %s is not a directory", dir,
                     at);
        return -1;
    }
    if (can_write(at))
        return 0;
    int e = errno;
    if (!show)
        snprintf(why, len, self ? "cannot write in it: %s"
                                : "cannot be created: cannot write in a "
                                  "parent: %s", strerror(e));
    else if (self)
        snprintf(why, len, "cannot write in %s: %s", dir, strerror(e));
    else
        snprintf(why, len, "cannot create %s: cannot write in %s: %s", dir,
                 at, strerror(e));
    return -1;
}

/* Walks up from dir to its nearest existing ancestor and judges it;
 * messages name `want`, the directory or file to be created. */
static int check_dir(const char *dir, const char *want, bool show, char *why,
                     size_t len)
{
    char *at = strdup(dir);
    int rc = -1;
    if (!at) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    strip_slashes(at);
    for (;;) {
        struct stat st;
        if (stat(at, &st) == 0) {
            rc = judge_existing(want, at, &st, show, why, len);
            break;
        }
        /* Missing (or under a file, found further up): look higher. */
        if ((errno != ENOENT && errno != ENOTDIR) || !to_parent(at)) {
            if (show)
                snprintf(why, len, "cannot create %s: %s", want,
                         strerror(errno));
            else
                snprintf(why, len, "cannot be created: %s", strerror(errno));
            break;
        }
    }
    free(at);
    return rc;
}

int br_path_check_dir(const char *dir, bool show, char *why, size_t len)
{
    if (!dir[0]) {
        snprintf(why, len, "the path is empty");
        return -1;
    }
    char *want = strdup(dir);
    if (!want) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    strip_slashes(want);
    int rc = check_dir(want, want, show, why, len);
    free(want);
    return rc;
}

int br_path_check_file(const char *file, bool show, char *why, size_t len)
{
    struct stat st;
    size_t n = strlen(file);
    if (n == 0 || file[n - 1] == '/') {
        snprintf(why, len, n ? "names a directory, not a file"
                             : "the path is empty");
        return -1;
    }
    if (stat(file, &st) == 0) {
        const char *what = S_ISDIR(st.st_mode) ? "is a directory"
                           : !S_ISREG(st.st_mode) ? "is not a regular file"
                                                  : NULL;
        if (what) {
            snprintf(why, len, "%s%s%s", show ? file : "", show ? " " : "",
                     what);
            return -1;
        }
        if (faccessat(AT_FDCWD, file, W_OK, AT_EACCESS) == 0)
            return 0;
        if (show)
            snprintf(why, len, "cannot write %s: %s", file, strerror(errno));
        else
            snprintf(why, len, "cannot write it: %s", strerror(errno));
        return -1;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        if (show)
            snprintf(why, len, "cannot open %s: %s", file, strerror(errno));
        else
            snprintf(why, len, "cannot open it: %s", strerror(errno));
        return -1;
    }
    char *dir = strdup(file);
    if (!dir) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    to_parent(dir);
    int rc = check_dir(dir, file, show, why, len);
    free(dir);
    return rc;
}
