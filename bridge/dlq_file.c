/* dlq_file.c - the file sink behind the dead-letter sink interface: the
 * default, a JSON lines file written and fsynced per failed batch
 * (deadletter.c). Its option (`dead_letter.file.path`) is in the
 * pipeline's table (config.c), so its ctx is unused. */
#include <stdio.h>

#include "deadletter.h"
#include "dlq_sink.h"
#include "pipeline.h"

static int file_init(struct br_sink *sk, char *err, size_t errlen)
{
    char fallback[4096];
    const char *path = sk->pl->conf->dlq_file_path;
    if (!path) {
        /* STATE_DIR/dlq/NAME.jsonl, as br_config_default_dlq says */
        snprintf(fallback, sizeof(fallback), "%s/dlq/%s.jsonl", sk->pl->cfg->state_dir,
                 sk->pl->conf->name);
        path = fallback;
    }
    struct br_deadletter *dl = br_deadletter_open(path, sk->pl->scope, err, errlen);
    if (!dl)
        return -1;
    sk->ctx = dl;
    sk->where = br_deadletter_path(dl);
    return 0;
}

static int file_write(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                      size_t errlen)
{
    struct br_deadletter *dl = sk->ctx;
    int rc = item->alone
             ? br_deadletter_write_record(dl, sk->pl, item->recs[0], item->condition)
             : br_deadletter_write(dl, item->batch, item->condition);
    if (rc < 0)
        snprintf(err, errlen, "%s", br_deadletter_error(dl));
    return rc;
}

static void file_destroy(struct br_sink *sk)
{
    br_deadletter_close(sk->ctx);
    sk->ctx = NULL;
}

const struct br_sink_ops br_sink_file = {
    .name = "file",
    .init = file_init,
    .write = file_write,
    .destroy = file_destroy,
};
