/* event_json.c - the shared pieces of event shapes (event_json.h). */
#include "event_json.h"
#include "json_check.h"

int br_ev_payload(struct br_buf *out, const char *name, const unsigned char *p, size_t n)
{
    if (!p)
        return 0;
    bool is_json = br_json_valid(p, n);
    if (BR_EV_LIT(out, ",\"") < 0 || br_ev_puts(out, name) < 0 ||
        BR_EV_LIT(out, "\":") < 0)
        return -1;
    if (is_json ? br_ev_put(out, p, n) < 0
                : (br_ev_putc(out, '"') < 0 || br_buf_put_base64(out, p, n) < 0 ||
                   br_ev_putc(out, '"') < 0))
        return -1;
    if (BR_EV_LIT(out, ",\"") < 0 || br_ev_puts(out, name) < 0 ||
        BR_EV_LIT(out, "Encoding\":\"") < 0 ||
        br_ev_puts(out, is_json ? "json\"" : "base64\"") < 0)
        return -1;
    return 0;
}

/* A publisher's content type goes into an HTTP header only if it looks
 * like one: "type/subtype[; params]", printable ASCII, not too long. */
bool br_ev_usable_content_type(const char *ct)
{
    size_t n = 0;
    bool slash = false;
    for (; ct[n]; n++) {
        unsigned char c = (unsigned char)ct[n];
        if (c < 0x20 || c > 0x7e || n >= 128)
            return false;
        slash = slash || c == '/';
    }
    return slash && ct[0] != '/';
}
