/* mqtt_options.c - the option table of the MQTT source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "source_mqtt.h"

static const char *const protocol_names[] = {
    [MQTT_PROTO_5] = "5", [MQTT_PROTO_311] = "3.1.1", [MQTT_PROTO_311 + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct mqtt_options, protocol);

const char *mqtt_check_url(const char *s)
{
    const char *host = !strncmp(s, "mqtt://", 7) ? s + 7
                     : !strncmp(s, "mqtts://", 8) ? s + 8 : NULL;
    if (!host)
        return "must start with mqtt:// or mqtts://, as in mqtt://127.0.0.1:1883";
    if (!*host || *host == ':' || *host == '/')
        return "names no host, as in mqtt://127.0.0.1:1883";
    return NULL;
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* s[0..n) with %XX decoded, as a new string. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; out && i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            *o++ = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    if (out)
        *o = '\0';
    return out;
}

const char *mqtt_url_userinfo(const char *url, char **user, char **password)
{
    const char *host = url + (strncmp(url, "mqtts://", 8) ? 7 : 8);
    const char *end = host + strcspn(host, "/"), *at = NULL;
    *user = *password = NULL;
    for (const char *c = host; c < end; c++)
        if (*c == '@')
            at = c;
    if (!at)
        return host;
    const char *colon = memchr(host, ':', (size_t)(at - host));
    *user = pct_decode(host, (size_t)((colon ? colon : at) - host));
    if (colon)
        *password = pct_decode(colon + 1, (size_t)(at - colon - 1));
    if (!*user || (colon && !*password)) {
        free(*user);
        free(*password);
        *user = *password = NULL;
        return NULL;
    }
    if (*password)
        br_secrets_add(*password, strlen(*password), NULL);
    return at + 1;
}

int mqtt_split_url(const char *url, char *host_out, size_t host_size, int *port_out,
                   bool *tls, char **user, char **password, char *err, size_t errlen)
{
    *tls = !strncmp(url, "mqtts://", 8);
    const char *host = mqtt_url_userinfo(url, user, password);
    if (!host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t host_len = strcspn(host, ":/");
    if (host_len == 0 || host_len >= host_size) {
        snprintf(err, errlen, "url '%s' names no usable host", url);
        return -1;
    }
    memcpy(host_out, host, host_len);
    host_out[host_len] = '\0';
    *port_out = *tls ? 8883 : 1883;
    const char *rest = host + host_len;
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535 || (*end && strcmp(end, "/"))) {
            snprintf(err, errlen, "url '%s' has a bad port (1-65535)", url);
            return -1;
        }
        *port_out = (int)port;
    } else if (*rest && strcmp(rest, "/")) {
        snprintf(err, errlen, "url '%s' must not have a path", url);
        return -1;
    }
    return 0;
}

#define O(field) offsetof(struct mqtt_options, field)
const struct br_opt mqtt_tls_opts[] = {
    {.name = "ca", .type = BR_OPT_STR, .offset = O(tls_ca),
     .def_doc = "the system's CAs",
     .help = "CA file (PEM) the broker's certificate must chain to"},
    {.name = "cert", .type = BR_OPT_STR, .offset = O(tls_cert),
     .help = "client certificate (PEM), for brokers that ask for one"},
    {.name = "key", .type = BR_OPT_STR, .offset = O(tls_key),
     .help = "the client certificate's private key (PEM)"},
    {.name = "insecure", .type = BR_OPT_BOOL, .def = "false", .offset = O(tls_insecure),
     .help = "skip the check that the certificate names the host (testing "
             "only)"},
    {0},
};

static const struct br_opt spool_opts[] = {
    {.name = "max_records", .type = BR_OPT_INT, .def = "100000",
     .offset = O(spool_max_records), .min = 1, .max = 100000000,
     .help = "when the spool holds this many messages fnbridge stops reading "
             "from the broker, which holds the rest; nothing is dropped"},
    {.name = "max_bytes", .type = BR_OPT_SIZE, .def = "256MiB",
     .offset = O(spool_max_bytes), .min = 1048576, .max = 68719476736LL,
     .help = "the same, in bytes"},
    {.name = "sync", .type = BR_OPT_BOOL, .def = "true", .offset = O(spool_sync),
     .help = "sync each batch of the spool to disk before its PUBACKs leave. "
             "`false` writes it to the page cache only: safe when fnbridge "
             "crashes or is killed, not when the machine does (a power cut can "
             "lose or damage the spool), and, measured here, about 2 ms less at "
             "p99"},
    {0},
};

const struct br_opt mqtt_source_opts[] = {
    {.name = "url", .type = BR_OPT_STR, .offset = O(url),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY, .check = mqtt_check_url,
     .help = "`mqtt://host:port`, or `mqtts://host:port` for TLS (ports default "
             "to 1883 and 8883); `mqtt://user:password@host` (percent-encoded) "
             "instead of `username` and `password`"},
    {.name = "client_id", .type = BR_OPT_STR, .offset = O(client_id),
     .flags = BR_OPT_NONEMPTY,
     .def_doc = "`fnbridge-<pipeline>`",
     .help = "the broker keeps our session (subscriptions, QoS 1 messages) "
             "under it; every replica and pipeline needs its own: fnbridge "
             "refuses a client id whose spool another pipeline or process "
             "holds"},
    {.name = "topics", .type = BR_OPT_STRLIST, .offset = O(topics),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "topic filters, `+` and `#` wildcards allowed"},
    {.name = "qos", .type = BR_OPT_INT, .def = "1", .offset = O(qos), .min = 0, .max = 1,
     .help = "`1`: at least once (spooled before PUBACK); `0`: at most once"},
    {.name = "protocol", .type = BR_OPT_ENUM, .def = "5", .offset = O(protocol),
     .enum_values = protocol_names, .help = "the MQTT version"},
    {.name = "shared_group", .type = BR_OPT_STR, .offset = O(shared_group),
     .flags = BR_OPT_NONEMPTY,
     .help = "subscribe as `$share/<group>/<filter>`: replicas with one group "
             "split the messages"},
    {.name = "session_expiry", .type = BR_OPT_DURATION, .def = "1d",
     .offset = O(session_expiry_ms), .min = 0, .max = 4294967000LL * 1000,
     .help = "how long the broker keeps our session, and queues QoS 1 "
             "messages, while fnbridge is down; `0` for a clean session"},
    {.name = "username", .type = BR_OPT_STR, .offset = O(username),
     .help = "the user name to log in with"},
    {.name = "password", .type = BR_OPT_STR, .offset = O(password),
     .help = "its password (`password: ${env:MQTT_PASSWORD}` keeps it out of "
             "the file)"},
    {.name = "tls", .type = BR_OPT_SECTION, .section = mqtt_tls_opts,
     .help = "TLS settings for `mqtts://`"},
    {.name = "keepalive", .type = BR_OPT_DURATION, .def = "30s", .offset = O(keepalive_ms),
     .min = 5000, .max = 65535000, .help = "the MQTT keepalive interval"},
    {.name = "reply", .type = BR_OPT_BOOL, .def = "false", .offset = O(reply),
     .help = "when a message carries an MQTT 5 response topic and the function "
             "returns a body, publish the body there with the message's "
             "correlation data (request/response for devices; use "
             "`batch.max_records: 1` so each request gets its own answer)"},
    {.name = "max_message_size", .type = BR_OPT_SIZE, .offset = O(max_message_size),
     .min = 1024, .max = MQTT_MAX_PACKET,
     .def_doc = "4 x the function's `max_payload` (24 MiB for the default "
                "6 MiB), at most 256 MiB",
     .help = "the largest message fnbridge takes, counted as the broker does: "
             "the whole PUBLISH packet. With MQTT 5 it is sent to the broker as "
             "the Maximum Packet Size, and the broker then never sends a bigger "
             "message to fnbridge (see Large messages in the README). With 3.1.1 "
             "fnbridge checks it itself, and dead-letters bigger ones"},
    {.name = "spool", .type = BR_OPT_SECTION, .section = spool_opts,
     .help = "the on-disk spool of received messages (LMDB, under "
             "`state_dir/mqtt/<client_id>`)"},
    {0},
};
