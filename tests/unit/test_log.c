/* test_log.c - what br_log writes: every line is well-formed UTF-8 (a byte
 * that is not becomes \ufffd, in logfmt and JSON alike), a JSON line is
 * one JSON object, quotes, backslashes and control bytes are escaped, a
 * message too long for a line is cut without splitting a character, and
 * each line names its pipeline and connector. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/json_check.h"
#include "bridge/log.h"
#include "bridge/utf8.h"
#include "unit.h"

/* Runs one br_log call with stderr sent to a temporary file; returns what
 * it wrote (the caller frees). */
static char *logged(enum br_log_format format, const char *scope, const char *msg)
{
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    br_log_setup(BR_LOG_INFO, format);
    br_log(BR_LOG_WARN, scope, "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = calloc(1, 16384);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, text, 16383);
    text[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    return text;
}

static int is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t len = br_utf8_len(p, left);
        if (!len)
            return 0;
        p += len;
        left -= len;
    }
    return 1;
}

static int one_json_line(const char *line)
{
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
        return 0;
    return br_json_valid((const unsigned char *)line, n - 1);
}

static void test_bad_bytes_become_replacement(void)
{
    /* a lone continuation byte, an overlong, a surrogate, a cut sequence */
    const char *hostile = "err \x80 \xC0\xAF \xED\xA0\x80 \xE2\x82";
    for (int f = 0; f < 2; f++) {
        char *line = logged(f ? BR_LOG_JSON : BR_LOG_LOGFMT, "orders/kafka", hostile);
        CHECK_MSG(is_utf8(line), "format %d: %s", f, line);
        CHECK(strstr(line, "\\ufffd") != NULL);
        if (f)
            CHECK_MSG(one_json_line(line), "not one JSON line: %s", line);
        free(line);
    }
}

static void test_text_kept(void)
{
    char *line = logged(BR_LOG_JSON, "orders/kafka", "caf\xC3\xA9 \"q\" back\\slash\n\x01 \xF0\x9F\x98\x80");
    CHECK(one_json_line(line));
    CHECK(strstr(line, "caf\xC3\xA9 \\\"q\\\" back\\\\slash\\n\\u0001 \xF0\x9F\x98\x80") != NULL);
    CHECK(strstr(line, "\"pipeline\":\"orders\",\"connector\":\"kafka\"") != NULL);
    free(line);
    line = logged(BR_LOG_LOGFMT, "orders", "plain");
    CHECK(strstr(line, " pipeline=orders connector=core msg=\"plain\"\n") != NULL);
    free(line);
}

static void test_long_message_cut_whole(void)
{
    /* 3-byte characters past the message's 2048 bytes: the cut must not
     * leave half a character, and the line stays one JSON object. */
    char msg[6001];
    for (int i = 0; i < 6000; i += 3)
        memcpy(msg + i, "\xE2\x82\xAC", 3);
    msg[6000] = '\0';
    char *line = logged(BR_LOG_JSON, NULL, msg);
    CHECK(one_json_line(line));
    CHECK_MSG(!strstr(line, "\\ufffd"), "a character cut in two: %.80s", line);
    size_t n = strlen(line);
    CHECK(n > 6 && memcmp(line + n - 6, "\xE2\x82\xAC\"}\n", 6) == 0);
    CHECK(strstr(line, "\"pipeline\":\"-\",\"connector\":\"fnbridge\"") != NULL);
    free(line);
}

int main(void)
{
    test_bad_bytes_become_replacement();
    test_text_kept();
    test_long_message_cut_whole();
    return UNIT_DONE("log");
}
