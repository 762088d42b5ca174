/* fsdir.h - creating the directories under state_dir. */
#ifndef BR_FSDIR_H
#define BR_FSDIR_H

#include <stdbool.h>
#include <sys/types.h>

/* mkdir -p: creates every directory on path that is missing, the last
 * component too when whole is true (else only its parents). Returns 0, or
 * -1 with errno set. */
int br_mkdirs(const char *path, mode_t mode, bool whole);

/* Takes the exclusive lock of a state directory (flock on <dir>/owner):
 * one owner per spool or checkpoint, across pipelines and processes; the
 * kernel drops it when the owner dies. Returns the lock's fd (close it to
 * release), or -1 with a sentence in err: `what` names the directory's
 * use and `hint` how to avoid the clash. */
int br_dir_lock(const char *dir, const char *what, const char *hint, char *err,
                size_t errlen);

#endif
