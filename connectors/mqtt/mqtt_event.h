/* mqtt_event.h - the record kind of MQTT messages (mqtt_event.c) and the
 * metadata each MQTT record carries in its kind's block. */
#ifndef MQTT_EVENT_H
#define MQTT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/record_kind.h"

/* MQTT message metadata; v5 properties are NULL when absent. User
 * properties travel as the record's headers (UTF-8 name and value). In a
 * record the strings live in its allocation; in br_record_init.meta they
 * are borrowed and copied in. */
struct br_mqtt_meta {
    uint8_t qos;
    bool retain;
    const char *content_type;
    const char *response_topic;
    const unsigned char *correlation;
    size_t correlation_len;
};

extern const struct br_record_kind br_kind_mqtt;

/* The document a filter sees of rec (mqtt_doc.c); the contract of struct
 * br_record_kind's doc. */
int mqtt_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec);

/* rec's metadata (rec of br_kind_mqtt); all zero when it has none. */
static inline const struct br_mqtt_meta *br_mqtt_meta_of(const struct br_record *rec)
{
    static const struct br_mqtt_meta none;
    return rec->meta ? (const struct br_mqtt_meta *)rec->meta : &none;
}

#endif
