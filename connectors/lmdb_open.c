/* lmdb_open.c - an LMDB environment and its two named databases. */
#include "lmdb_open.h"

int br_lmdb_open(MDB_env **env, const char *dir, size_t map, unsigned flags,
                 const char *first, MDB_dbi *first_dbi, const char *second,
                 MDB_dbi *second_dbi)
{
    int rc = mdb_env_create(env);
    if (!rc)
        rc = mdb_env_set_mapsize(*env, map);
    if (!rc)
        rc = mdb_env_set_maxdbs(*env, 2);
    if (!rc)
        rc = mdb_env_open(*env, dir, flags, 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(*env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, first, MDB_CREATE, first_dbi);
    if (!rc)
        rc = mdb_dbi_open(txn, second, MDB_CREATE, second_dbi);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}
