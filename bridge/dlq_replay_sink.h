/* dlq_replay_sink.h - where `fnbridge dlq replay --from FILE` writes a
 * letter that fails again when the pipeline's dead-letter sink is not a
 * file (kafka, mqtt, http): that sink, through dlq_sink.h, with the line
 * it would have appended to a file (replayCount raised). Letters past the
 * replay limit still go to the parked file beside the input. */
#ifndef BR_DLQ_REPLAY_SINK_H
#define BR_DLQ_REPLAY_SINK_H

#include <stddef.h>

#include "config.h"
#include "dlq_input.h"

/* Opens the sink of conf (conf->dlq_ops, not the file sink) for write
 * backs: its init runs here, its connection at the first write; parked
 * letters go to the file parked (copied). Returns 0, or -1 with a
 * sentence in err. */
int br_dlq_sink_output_open(struct br_dlq_output *out, const struct br_config *cfg,
                            const struct br_pipeline_conf *conf, const char *parked,
                            char *err, size_t errlen);

/* Where letters written back go, for the summary: "kafka topic T at B"
 * (masked). */
const char *br_dlq_sink_output_where(const struct br_dlq_output *out);

#endif
