/* fsdir.c - state directories: mkdir -p (dead-letter files, spools,
 * checkpoints) and the lock that gives each one a single owner. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsdir.h"

static int make_one(const char *dir, mode_t mode)
{
    return mkdir(dir, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int br_mkdirs(const char *path, mode_t mode, bool whole)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    int rc = 0;
    for (char *p = dir + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        rc = make_one(dir, mode);
        *p = '/';
    }
    if (rc == 0 && whole)
        rc = make_one(dir, mode);
    int saved = errno;
    free(dir);
    errno = saved;
    return rc;
}

/* flock, not fcntl locks: those belong to the process, so a second open in
 * the same process (two pipelines) would not see the first one's lock. */
int br_dir_lock(const char *dir, const char *what, const char *hint, char *err,
                size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/owner", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    if (errno == EWOULDBLOCK)
        snprintf(err, errlen, "%s in %s is in use by %s", what, dir, hint);
    else
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
    close(fd);
    return -1;
}
