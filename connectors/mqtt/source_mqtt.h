/* source_mqtt.h - options of the MQTT source (its ctx starts with this). */
#ifndef BR_SOURCE_MQTT_H
#define BR_SOURCE_MQTT_H

#include "bridge/connector.h"

enum mqtt_protocol { MQTT_PROTO_5, MQTT_PROTO_311 };

/* The largest packet MQTT can carry: a remaining length of 268,435,455
 * bytes after at most 5 bytes of fixed header. */
#define MQTT_MAX_PACKET 268435460LL

struct mqtt_options {
    char *url;                   /* mqtt[s]://[user[:password]@]host[:port] */
    char *client_id;             /* default: fnbridge-<pipeline> */
    struct br_strlist topics;    /* filters, + and # wildcards */
    int64_t qos;                 /* 0 | 1 */
    enum mqtt_protocol protocol;
    char *shared_group;          /* subscribe $share/<group>/<filter> */
    int64_t session_expiry_ms;   /* 0: clean session */
    char *username;
    char *password;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    bool tls_insecure;
    int64_t keepalive_ms;
    bool reply;                  /* publish the function's body to the
                                    message's v5 response topic */
    int64_t max_message_size;    /* bytes of a PUBLISH packet; 0: default
                                    (4 x the function's max_payload) */
    int64_t spool_max_records;
    int64_t spool_max_bytes;
    bool spool_sync;             /* sync commits to disk before PUBACKs */
};

extern const struct br_opt mqtt_source_opts[];
/* The `tls` section (offsets into struct mqtt_options): the sink's too. */
extern const struct br_opt mqtt_tls_opts[];
/* Splits mqtt[s]://[user[:password]@]host[:port][/] into host (host_size
 * bytes), port (1883 / 8883 by default) and tls; *user and *password as
 * mqtt_url_userinfo. Errors quote the url: the log sinks mask its
 * userinfo (config/secrets.h). Returns 0, or -1 with err filled. */
int mqtt_split_url(const char *url, char *host, size_t host_size, int *port, bool *tls,
                   char **user, char **password, char *err, size_t errlen);
/* NULL if s is a usable url, else why not. */
const char *mqtt_check_url(const char *s);
/* Splits the url's "user[:password]@" off: *user and *password become new
 * strings (percent-decoded; NULL when absent; the caller frees them) and
 * the host part follows at the returned pointer (into url). Returns NULL
 * when out of memory. The password is registered as a secret. */
const char *mqtt_url_userinfo(const char *url, char **user, char **password);

#endif
