/* unit.h - a tiny assertion kit for the C unit tests.
 *
 * CHECK(cond) records a pass or a failure (with file:line and the
 * expression) and carries on, so one run reports every broken case.
 * UNIT_DONE() prints "NAME: N passed, M failed" and returns the exit code. */
#ifndef BR_UNIT_H
#define BR_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond) CHECK_MSG(cond, "%s", #cond)
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (cond) {                                                          \
            unit_passed++;                                                   \
        } else {                                                             \
            unit_failed++;                                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)
#define CHECK_STR(got, want)                                                 \
    CHECK_MSG((got) && strcmp((got), (want)) == 0, "got \"%s\", want \"%s\"", \
              (got) ? (got) : "(null)", (want))
#define CHECK_INT(got, want)                                                 \
    CHECK_MSG((long long)(got) == (long long)(want), "%s: got %lld, want %lld", \
              #got, (long long)(got), (long long)(want))

#define UNIT_DONE(name)                                                      \
    (printf("unit %s: %d passed, %d failed\n", name, unit_passed,             \
            unit_failed),                                                    \
     unit_failed ? 1 : 0)

#endif
