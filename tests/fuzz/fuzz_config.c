/* fuzz_config.c - fuzzes the config loader, br_config_load (config/node.c
 * YAML, config/interp.c interpolation, config/config.c and the option
 * tables of the core and of every connector). The input is the text of a
 * config file.
 *
 * Interpolation reads the environment and files, so the target fences both:
 * the environment is replaced by a small fixed one, and the loader reads
 * the input from a private temporary directory holding a few files, so
 * relative ${file:NAME} paths land there. Before loading, the input's YAML
 * scalars are read with the same libyaml parser the loader uses, and an
 * input where any "file:" is followed by anything but a plain file name
 * (an absolute path, a '/', a leading '.') is skipped: the loader can then
 * open no file outside the directory, and no FIFO or device.
 *
 * Property: no error message holds the value of the secret variable or the
 * secret file unless the input's own text does (interpolated values are
 * never echoed). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "bridge/config.h"
#include "fuzz.h"

#define ENV_SECRET "hunter2-env-marker"
#define FILE_SECRET "hunter2-file-marker"

static char dir[256];
static char config_path[300];
static FILE *devnull;                 /* br_errors_print's output */

static const struct { const char *name; const char *text; size_t len; } files[] = {
    {"secret", FILE_SECRET "\n", sizeof FILE_SECRET},
    {"crlf", "token\r\n", 7},
    {"empty", "", 0},
    {"nul", "a\0b", 3},
    {"brokers", "127.0.0.1:9092,127.0.0.1:9093", 29},
};

static void write_file(const char *name, const void *text, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_ASSERT(fd >= 0, "%s: %s", path, strerror(errno));
    FUZZ_ASSERT(len == 0 || write(fd, text, len) == (ssize_t)len, "%s: %s", path,
                strerror(errno));
    close(fd);
}

static void remove_dir(void)
{
    char path[400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        unlink(path);
    }
    unlink(config_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fnbridge-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    snprintf(config_path, sizeof config_path, "%s/fnbridge.yaml", dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_file(files[i].name, files[i].text, files[i].len);
    atexit(remove_dir);
    devnull = fopen("/dev/null", "w");
    FUZZ_ASSERT(devnull, "/dev/null: %s", strerror(errno));
    clearenv();
    setenv("FUZZ_SECRET", ENV_SECRET, 1);
    setenv("KAFKA_BROKERS", "127.0.0.1:9092", 1);
    setenv("TOPIC", "orders", 1);
    setenv("EMPTY", "", 1);
    setenv("PORT", "8080", 1);
    return 0;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || (c == '.' && !first);
}

/* True when every "file:" in s is followed by a plain name (or nothing)
 * up to the next '}' or the end. */
static bool file_refs_ok(const char *s, size_t len)
{
    for (size_t i = 0; i + 5 <= len; i++) {
        if (memcmp(s + i, "file:", 5) != 0)
            continue;
        for (size_t k = i + 5; k < len && s[k] != '}'; k++)
            if (!name_char(s[k], k == i + 5) || k - i > 64)
                return false;
    }
    return true;
}

/* Reads the scalars as the loader will (same parser, same bytes) up to the
 * end or the first syntax error. *has_marker: a scalar holds a secret. */
static bool input_is_fenced(const uint8_t *data, size_t size, bool *has_marker)
{
    yaml_parser_t parser;
    FUZZ_ASSERT(yaml_parser_initialize(&parser), "out of memory");
    yaml_parser_set_input_string(&parser, data, size);
    bool ok = true, done = false;
    *has_marker = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        if (ev.type == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            size_t len = ev.data.scalar.length;
            ok = file_refs_ok(v, len);
            *has_marker |= memmem(v, len, "hunter2", 7) != NULL;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool has_marker;
    if (!input_is_fenced(data, size, &has_marker))
        return -1;
    has_marker |= memmem(data, size, "hunter2", 7) != NULL;
    write_file("fnbridge.yaml", data, size);
    struct br_errors errs = {0};
    struct br_config *cfg = br_config_load(config_path, &errs);
    FUZZ_ASSERT(!cfg == (errs.n > 0), "config %p with %zu errors", (void *)cfg, errs.n);
    for (size_t i = 0; i < errs.n && !has_marker; i++)
        FUZZ_ASSERT(!strstr(errs.v[i].message, "hunter2") && !strstr(errs.v[i].path, "hunter2"),
                    "an error echoes a secret: %s: %s", errs.v[i].path, errs.v[i].message);
    br_errors_print(&errs, devnull);
    br_config_free(cfg);
    br_errors_free(&errs);
    return 0;
}
