/* paths.h - would `run` be able to create and write this directory or
 * file? Answered without creating anything, so `check` refuses what `run`
 * would refuse (state_dir, dead-letter files, connectors' state
 * directories) and `run` refuses it with the same located message before
 * it starts anything. */
#ifndef BR_PATHS_H
#define BR_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* 0 if dir is a directory we may write in, or if it can be created: its
 * nearest existing ancestor is a directory we may write in and search.
 * Else -1 with a sentence in why, naming the path at fault unless
 * show_paths is false (the path came from a secret). */
int br_path_check_dir(const char *dir, bool show_paths, char *why, size_t len);

/* 0 if file is a regular file we may write, or if it can be created (its
 * directory passes br_path_check_dir). Else -1 with a sentence in why. */
int br_path_check_file(const char *file, bool show_paths, char *why,
                       size_t len);

#endif
