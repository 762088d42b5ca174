/* fsdir.h - creating the directories under state_dir. */
#ifndef BR_FSDIR_H
#define BR_FSDIR_H

#include <stdbool.h>
#include <sys/types.h>

/* mkdir -p: creates every directory on path that is missing, the last
 * component too when whole is true (else only its parents). Returns 0, or
 * -1 with errno set. */
int br_mkdirs(const char *path, mode_t mode, bool whole);

#endif
