/* invoke_cmd.h - `fnbridge invoke`: one event through a pipeline's function. */
#ifndef BR_INVOKE_CMD_H
#define BR_INVOKE_CMD_H

#include "config.h"

/* Exit codes, as README: Running it gives them. */
#define BR_INVOKE_OK 0
#define BR_INVOKE_FAILED 1     /* function error, or retries exhausted */
#define BR_INVOKE_USAGE 2      /* no such pipeline, bad event, bad config */

/* Sends the JSON event read from event_path ("-": stdin; NULL: "{}") through
 * the named pipeline's target and retry policy; prints the function's
 * response on stdout and a summary on stderr. Returns an exit code. */
int br_cmd_invoke(struct br_config *cfg, const char *pipeline, const char *event_path);

/* For make bench: sends event count times, one after the other, and
 * stores each invocation's time from emit to settle (microseconds) in
 * latency_us[0..count). Returns 0 if every one succeeded, else -1 (the
 * reason on stderr). Nothing is printed on success. */
int br_invoke_timed(struct br_config *cfg, const char *pipeline, const char *event,
                    size_t event_len, size_t count, int64_t *latency_us);

#endif
