/* target_exec.h - options of the local process target (mode stdio). */
#ifndef BR_TARGET_EXEC_H
#define BR_TARGET_EXEC_H

#include "connector.h"

enum exec_mode { EXEC_MODE_STDIO };

struct exec_options {
    struct br_target_common common;   /* must come first */
    struct br_strlist command;        /* argv, executed directly */
    int mode;                         /* enum exec_mode */
    struct br_strmap env;             /* the function's environment */
    char *cwd;
};

extern const struct br_opt exec_target_opts[];

#endif
