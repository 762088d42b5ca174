/* fsdir.c - mkdir -p, for the dead-letter files and the spools. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
