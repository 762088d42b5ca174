/* exec_spawn.c - starting function processes for the exec target.
 *
 * posix_spawn (clone+exec on glibc, cheap even for a large parent) with the
 * pipes, process group, signal state and environment set up explicitly,
 * so nothing of fnbridge leaks into the function: not its descriptors (the
 * Kafka sockets, the admin listener), not its signal dispositions (SIGPIPE
 * is ignored in fnbridge), not its environment (secrets). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "exec_spawn.h"

extern char **environ;

/* ---------------------------------------------------------- environment */

static int strv_push(char **v, size_t *n, const char *name, const char *value)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    if (br_buf_printf(&b, "%s=%s", name, value) < 0) {
        br_buf_free(&b);
        return -1;
    }
    v[(*n)++] = br_buf_steal(&b, NULL);
    return 0;
}

static bool env_name_ok(const char *name)
{
    return *name && !strchr(name, '=');
}

char **exec_env_build(const struct br_strmap *env, char *err, size_t errlen)
{
    size_t n = 0;
    char **v = calloc(env->n + 2, sizeof(*v));
    if (!v)
        goto out_oom;
    for (size_t i = 0; i < env->n; i++) {
        if (!env_name_ok(env->keys[i])) {
            snprintf(err, errlen, "env: \"%s\" is not a valid variable name",
                     env->keys[i]);
            goto out_free;
        }
        if (strv_push(v, &n, env->keys[i], env->values[i]) < 0)
            goto out_oom;
    }
    if (!exec_env_get(v, "PATH")) {
        const char *path = getenv("PATH");
        if (strv_push(v, &n, "PATH", path ? path : EXEC_DEFAULT_PATH) < 0)
            goto out_oom;
    }
    return v;

out_oom:
    snprintf(err, errlen, "out of memory building the environment");
out_free:
    exec_strv_free(v);
    return NULL;
}

const char *exec_env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (; *envp; envp++)
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

int exec_env_set(char ***envp, const char *name, const char *value)
{
    size_t n = 0, len = strlen(name);
    char **v = *envp, *entry = NULL;
    if (asprintf(&entry, "%s=%s", name, value) < 0)
        return -1;
    for (; v[n]; n++) {
        if (strncmp(v[n], name, len) == 0 && v[n][len] == '=') {
            free(v[n]);
            v[n] = entry;
            return 0;
        }
    }
    v = realloc(v, (n + 2) * sizeof(*v));
    if (!v) {
        free(entry);
        return -1;
    }
    v[n] = entry;
    v[n + 1] = NULL;
    *envp = v;
    return 0;
}

void exec_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

char **exec_argv_build(char *const *v, size_t n)
{
    char **argv = calloc(n + 1, sizeof(*argv));
    if (argv)
        memcpy(argv, v, n * sizeof(*argv));
    return argv;
}

char *exec_join(char *const *v, size_t n)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if ((i && br_buf_putc(&b, ' ') < 0) || br_buf_puts(&b, v[i]) < 0) {
            br_buf_free(&b);
            return NULL;
        }
    }
    return br_buf_steal(&b, NULL);
}

/* ------------------------------------------------------ finding the file */

/* 0 if prog (relative ones seen from cwd) is an executable file, else an
 * errno value: ENOENT, EACCES, or EISDIR for anything not a file. */
static int check_file(const char *prog, const char *cwd)
{
    char full[4096];
    struct stat st;
    if (cwd && prog[0] != '/') {
        if (snprintf(full, sizeof(full), "%s/%s", cwd, prog) >= (int)sizeof(full))
            return ENAMETOOLONG;
        prog = full;
    }
    if (stat(prog, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EISDIR;
    return access(prog, X_OK) < 0 ? errno : 0;
}

/* Searches path like execvp: an empty entry is the current directory. */
static char *search_path(const char *name, const char *path, const char *cwd,
                         int *why)
{
    *why = ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        int dlen = (int)(end - p);
        char *cand = NULL;
        if (asprintf(&cand, "%.*s%s%s", dlen, p, dlen ? "/" : "", name) < 0)
            return NULL;
        int rc = check_file(cand, cwd);
        if (rc == 0)
            return cand;
        free(cand);
        if (rc == EACCES)         /* remember it, as execvp does */
            *why = EACCES;
        if (!*end)
            return NULL;
        p = end;
    }
}

char *exec_resolve(const char *argv0, const char *path, const char *cwd,
                   char *err, size_t errlen)
{
    int why;
    if (!*argv0) {
        snprintf(err, errlen, "command: the program name is empty");
        return NULL;
    }
    if (!strchr(argv0, '/')) {
        char *prog = search_path(argv0, path, cwd, &why);
        if (prog)
            return prog;
        if (why == EACCES)
            snprintf(err, errlen, "command: \"%s\" is in PATH but not "
                     "executable", argv0);
        else
            snprintf(err, errlen, "command: \"%s\" was not found in PATH "
                     "(%s)", argv0, path);
        return NULL;
    }
    why = check_file(argv0, cwd);
    if (why == 0)
        return strdup(argv0);
    snprintf(err, errlen, "command: \"%s\"%s%s: %s", argv0,
             cwd && argv0[0] != '/' ? " in " : "",
             cwd && argv0[0] != '/' ? cwd : "",
             why == EISDIR ? "not a file"
             : why == EACCES ? "not executable" : strerror(why));
    return NULL;
}

/* ------------------------------------------------------------- spawning */

/* pipe2 with both ends above 2, so the dup2 onto 0 and 1 in the child
 * can never clobber or be a no-op on one of them (fnbridge may have been
 * started with stdin closed). */
static int pipe_high(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2)
            continue;
        int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
        close(fds[i]);
        fds[i] = fd;
    }
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int spawn_attrs(posix_spawnattr_t *attr)
{
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawnattr_init(attr);
    if (rc)
        return rc;
    /* Own process group (killed as a whole on timeout), no blocked
     * signals, and every signal at its default: ignored dispositions
     * (SIGPIPE) would otherwise survive exec. */
    rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
                                  POSIX_SPAWN_SETSIGMASK |
                                  POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnattr_setpgroup(attr, 0);
    if (!rc)
        rc = posix_spawnattr_setsigmask(attr, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(attr, &all);
    if (rc)
        posix_spawnattr_destroy(attr);
    return rc;
}

static int spawn_actions(posix_spawn_file_actions_t *fa, int in_r, int out_w,
                         const char *cwd)
{
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    rc = posix_spawn_file_actions_adddup2(fa, in_r, 0);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(fa, out_w, 1);
    /* Whatever another thread opened without O_CLOEXEC stays ours. */
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
    if (rc)
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

static int spawn_with(const char *prog, char *const argv[], char *const envp[],
                      const char *cwd, int in_r, int out_w, pid_t *pid)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    int rc = spawn_attrs(&attr);
    if (rc)
        return rc;
    rc = spawn_actions(&fa, in_r, out_w, cwd);
    if (!rc) {
        rc = posix_spawn(pid, prog, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
    }
    posix_spawnattr_destroy(&attr);
    return rc;
}

int exec_spawn(const char *prog, char *const argv[], char *const envp[],
               const char *cwd, struct exec_child *child)
{
    int in[2], out[2], rc;
    if (pipe_high(in) < 0)
        return errno;
    if (pipe_high(out) < 0) {
        rc = errno;
        goto out_close_in;
    }
    /* Only our ends are non-blocking; the child gets ordinary pipes. */
    if (set_nonblock(in[1]) < 0 || set_nonblock(out[0]) < 0) {
        rc = errno;
        goto out_close_out;
    }
    rc = spawn_with(prog, argv, envp, cwd, in[0], out[1], &child->pid);
    if (rc)
        goto out_close_out;
    close(in[0]);
    close(out[1]);
    child->in_fd = in[1];
    child->out_fd = out[0];
    return 0;

out_close_out:
    close(out[0]);
    close(out[1]);
out_close_in:
    close(in[0]);
    close(in[1]);
    return rc;
}

/* stdin from /dev/null; stdout and stderr on our stderr, or on /dev/null
 * when fnbridge runs with stderr closed (dup2 of a closed fd would fail
 * the spawn). */
static int worker_actions(posix_spawn_file_actions_t *fa, const char *cwd)
{
    bool have_stderr = fcntl(2, F_GETFD) >= 0;
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc && have_stderr)
        rc = posix_spawn_file_actions_adddup2(fa, 2, 1);
    if (!rc && !have_stderr)
        rc = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
    if (!rc && !have_stderr)
        rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
    if (rc)
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

int exec_spawn_worker(const char *prog, char *const argv[], char *const envp[],
                      const char *cwd, pid_t *pid)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    int rc = spawn_attrs(&attr);
    if (rc)
        return rc;
    rc = worker_actions(&fa, cwd);
    if (!rc) {
        rc = posix_spawn(pid, prog, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
    }
    posix_spawnattr_destroy(&attr);
    return rc;
}

int exec_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

bool exec_child_exited(pid_t pid)
{
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;   /* reaped elsewhere: nothing to wait for */
    return si.si_pid == pid;
}

int exec_child_reap(pid_t pid)
{
    int st;
    pid_t rc;
    kill(-pid, SIGKILL);
    while ((rc = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    return rc == pid ? st : -1;
}
