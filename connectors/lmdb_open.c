/* lmdb_open.c - an LMDB environment and its named databases. */
#include "lmdb_open.h"

int br_lmdb_open(MDB_env **env, const char *dir, size_t map, unsigned flags,
                 const char *const *names, MDB_dbi *dbis, int n)
{
    int rc = mdb_env_create(env);
    if (!rc)
        rc = mdb_env_set_mapsize(*env, map);
    if (!rc)
        rc = mdb_env_set_maxdbs(*env, (MDB_dbi)n);
    if (!rc)
        rc = mdb_env_open(*env, dir, flags, 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(*env, NULL, 0, &txn);
    for (int i = 0; !rc && i < n; i++)
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &dbis[i]);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}
