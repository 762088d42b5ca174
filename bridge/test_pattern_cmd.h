/* test_pattern_cmd.h - `fnbridge test-pattern PATTERN EVENT`. */
#ifndef BR_TEST_PATTERN_CMD_H
#define BR_TEST_PATTERN_CMD_H

extern const char br_test_pattern_usage[];

/* argv[0] is "test-pattern". Returns the exit code: 0 match, 1 no match,
 * 2 usage, or a pattern or event that is not valid. */
int br_test_pattern_main(int argc, char **argv);

#endif
