/* fuzz.h - what the libFuzzer targets in tests/fuzz share: the entry point
 * libFuzzer calls, and FUZZ_ASSERT, which stops the run with a message
 * when a property the target checks does not hold (libFuzzer then saves
 * the input as a crash artifact). */
#ifndef BR_FUZZ_H
#define BR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond, ...)                                               \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__,        \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

#endif
