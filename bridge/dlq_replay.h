/* dlq_replay.h - `fnbridge dlq replay`: dead letters re-driven through a
 * pipeline's function (README: Replaying dead letters). */
#ifndef BR_DLQ_REPLAY_H
#define BR_DLQ_REPLAY_H

/* Exit codes. */
#define BR_DLQ_EXIT_OK 0          /* every letter replayed succeeded */
#define BR_DLQ_EXIT_FAILED 1      /* some failed again or were kept aside */
#define BR_DLQ_EXIT_USAGE 2       /* usage, config, unreadable lines, locked */

/* `fnbridge help dlq`. */
extern const char br_dlq_usage[];

/* The command line after `fnbridge`: argv[0] is "dlq". Returns the exit
 * code. */
int br_dlq_main(int argc, char **argv);

#endif
