/* exec_spawn.h - starting function processes for the exec target: the
 * explicit environment, finding the command, and spawning it in its own
 * process group with pipes for stdin and stdout, and watching and reaping
 * it. No shell anywhere. */
#ifndef BR_EXEC_SPAWN_H
#define BR_EXEC_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/opts.h"

/* PATH used when fnbridge itself has none. */
#define EXEC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Builds the child's environment: PATH (fnbridge's, or the default) and
 * then the env map (which may override PATH). Returns a new NULL-terminated
 * array (free with exec_strv_free), or NULL with err filled. */
char **exec_env_build(const struct br_strmap *env, char *err, size_t errlen);

/* The value of NAME in a NULL-terminated "NAME=value" array, or NULL. */
const char *exec_env_get(char *const *envp, const char *name);

/* Finds the program to run for argv0 the way execvp would in the child:
 * a name without '/' is searched in path, a relative one is taken from
 * cwd (when set). Returns a new string to pass to posix_spawn, or NULL
 * with err filled by a sentence naming the command. */
char *exec_resolve(const char *argv0, const char *path, const char *cwd,
                   char *err, size_t errlen);

/* A new copy of the first n strings of v with a NULL after them, sharing
 * the strings (free only the array). NULL when out of memory. */
char **exec_argv_build(char *const *v, size_t n);

/* v[0..] joined with single spaces; new string, NULL when out of memory. */
char *exec_join(char *const *v, size_t n);

void exec_strv_free(char **v);

/* Sets NAME=value in *envp (a NULL-terminated array from exec_env_build),
 * replacing an existing NAME or growing the array by one. Returns 0, or -1
 * when out of memory (*envp unchanged). */
int exec_env_set(char ***envp, const char *name, const char *value);

/* A running child: its pid (also its process group id) and the parent's
 * pipe ends, both non-blocking and close-on-exec. */
struct exec_child {
    pid_t pid;
    int in_fd;     /* write end of the child's stdin */
    int out_fd;    /* read end of the child's stdout */
};

/* Starts prog with argv and envp in a new process group (cwd when set),
 * stdin and stdout on pipes, stderr inherited, every other descriptor
 * closed and every signal at its default. Returns 0, or an errno value
 * (the exec failure itself is reported too, e.g. ENOENT). */
int exec_spawn(const char *prog, char *const argv[], char *const envp[],
               const char *cwd, struct exec_child *child);

/* Starts a long-lived worker (mode runtime-api) the same way, but with
 * stdin on /dev/null and stdout and stderr both on fnbridge's stderr (the
 * function's logs), no pipes. Returns 0 with *pid set, or an errno value. */
int exec_spawn_worker(const char *prog, char *const argv[], char *const envp[],
                      const char *cwd, pid_t *pid);

/* ---- watching and reaping a child (both exec modes) ---- */

/* A descriptor that becomes readable when pid exits (close-on-exec), or
 * -1 when the kernel has none (< 5.3): then poll exec_child_exited. */
int exec_pidfd(pid_t pid);

/* True once pid has exited. WNOWAIT leaves it a zombie, which keeps its pid
 * and process group id from being reused until exec_child_reap. */
bool exec_child_exited(pid_t pid);

/* Kills what is left of pid's process group (daemons the function
 * started), then reaps the exited leader; returns its wait status, or -1
 * if unknown. Call once exec_child_exited said so: it does not block. */
int exec_child_reap(pid_t pid);

#endif
