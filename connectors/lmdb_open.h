/* lmdb_open.h - opening an LMDB environment with its two named databases,
 * as the MQTT spool and the S3 state both keep theirs. */
#ifndef BR_LMDB_OPEN_H
#define BR_LMDB_OPEN_H

#include <lmdb.h>
#include <stddef.h>

/* Opens (creating) the environment in dir with room for map bytes and the
 * databases first and second. Returns 0, or an LMDB error code (*env is
 * then whatever was created, for the caller to close). */
int br_lmdb_open(MDB_env **env, const char *dir, size_t map, unsigned flags,
                 const char *first, MDB_dbi *first_dbi, const char *second,
                 MDB_dbi *second_dbi);

#endif
