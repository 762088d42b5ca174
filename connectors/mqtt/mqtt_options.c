/* mqtt_options.c - the option table of the MQTT source. */
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

#define O(field) offsetof(struct mqtt_options, field)
static const struct br_opt tls_opts[] = {
    {.name = "ca", .type = BR_OPT_STR, .offset = O(tls_ca),
     .help = "CA certificate file (PEM) the broker's certificate must chain to"},
    {.name = "cert", .type = BR_OPT_STR, .offset = O(tls_cert),
     .help = "client certificate file (PEM), for brokers that require one"},
    {.name = "key", .type = BR_OPT_STR, .offset = O(tls_key),
     .help = "the client certificate's private key (PEM)"},
    {.name = "insecure", .type = BR_OPT_BOOL, .def = "false", .offset = O(tls_insecure),
     .help = "skip the check that the certificate names the broker's host"},
    {0},
};

static const struct br_opt spool_opts[] = {
    {.name = "max_records", .type = BR_OPT_INT, .def = "100000",
     .offset = O(spool_max_records), .min = 1, .max = 100000000,
     .help = "messages held on disk; then fnbridge stops reading from the broker"},
    {.name = "max_bytes", .type = BR_OPT_SIZE, .def = "256MiB",
     .offset = O(spool_max_bytes), .min = 1048576, .max = 68719476736LL,
     .help = "bytes held on disk; then fnbridge stops reading from the broker"},
    {.name = "sync", .type = BR_OPT_BOOL, .def = "true", .offset = O(spool_sync),
     .help = "sync the spool to disk before acknowledging (false: safe from a "
             "crash of fnbridge, not from a power cut)"},
    {0},
};

const struct br_opt mqtt_source_opts[] = {
    {.name = "url", .type = BR_OPT_STR, .offset = O(url),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY, .check = mqtt_check_url,
     .help = "broker: mqtt://host:port, or mqtts://host:port for TLS"},
    {.name = "client_id", .type = BR_OPT_STR, .offset = O(client_id),
     .flags = BR_OPT_NONEMPTY,
     .help = "client id; the broker keeps the session under it (default "
             "fnbridge-<pipeline>)"},
    {.name = "topics", .type = BR_OPT_STRLIST, .offset = O(topics),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "topic filters to subscribe to (+ and # wildcards)"},
    {.name = "qos", .type = BR_OPT_INT, .def = "1", .offset = O(qos), .min = 0, .max = 1,
     .help = "0 (at most once) or 1 (at least once: spooled before PUBACK)"},
    {.name = "protocol", .type = BR_OPT_ENUM, .def = "5", .offset = O(protocol),
     .enum_values = protocol_names, .help = "MQTT version: 5 or 3.1.1"},
    {.name = "shared_group", .type = BR_OPT_STR, .offset = O(shared_group),
     .flags = BR_OPT_NONEMPTY,
     .help = "subscribe as $share/<group>/<filter>: replicas split the messages"},
    {.name = "session_expiry", .type = BR_OPT_DURATION, .def = "1d",
     .offset = O(session_expiry_ms), .min = 0, .max = 4294967000LL * 1000,
     .help = "how long the broker keeps our session (and QoS 1 messages) "
             "while we are away; 0 for a clean session"},
    {.name = "username", .type = BR_OPT_STR, .offset = O(username)},
    {.name = "password", .type = BR_OPT_STR, .offset = O(password)},
    {.name = "tls", .type = BR_OPT_SECTION, .section = tls_opts,
     .help = "TLS settings for mqtts:// (ca, cert, key, insecure)"},
    {.name = "keepalive", .type = BR_OPT_DURATION, .def = "30s", .offset = O(keepalive_ms),
     .min = 5000, .max = 65535000, .help = "MQTT keepalive interval"},
    {.name = "reply", .type = BR_OPT_BOOL, .def = "false", .offset = O(reply),
     .help = "publish the function's response body to the message's v5 "
             "response topic, with its correlation data"},
    {.name = "max_message_size", .type = BR_OPT_SIZE, .offset = O(max_message_size),
     .min = 1024, .max = MQTT_MAX_PACKET,
     .help = "largest message taken (a whole PUBLISH packet); MQTT 5 tells the "
             "broker, which then drops bigger ones for us; bigger ones that still "
             "arrive are dead-lettered (default: 4 x the function's max_payload, "
             "at most 256 MiB)"},
    {.name = "spool", .type = BR_OPT_SECTION, .section = spool_opts,
     .help = "the on-disk spool of received messages (max_records, max_bytes, sync)"},
    {0},
};
