/* lmdb_open.h - opening an LMDB environment with its named databases, as
 * the MQTT spool and the S3 state keep theirs. */
#ifndef BR_LMDB_OPEN_H
#define BR_LMDB_OPEN_H

#include <lmdb.h>
#include <stddef.h>

/* Opens (creating) the environment in dir with room for map bytes and the
 * n databases names[i] into dbis[i]. Returns 0, or an LMDB error code
 * (*env is then whatever was created, for the caller to close). */
int br_lmdb_open(MDB_env **env, const char *dir, size_t map, unsigned flags,
                 const char *const *names, MDB_dbi *dbis, int n);

#endif
