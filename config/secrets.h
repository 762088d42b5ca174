/* secrets.h - what fnbridge may print of its configuration: the one mask
 * every output goes through (README, Config reference, "What is never
 * printed").
 *
 * The registry holds secret texts, each with what is printed instead:
 *   - every piece of text an interpolation produced, shown as the
 *     interpolation was written (`${env:PW}`, `${file:pw.txt}`; a default
 *     after `:-` is not shown), registered by interp.c while loading;
 *   - the values of keys whose name says secret (br_secret_key_name), and
 *     secrets a connector reads itself (a password file, credentials from
 *     the environment), shown as `***`.
 * br_secrets_mask() rewrites a text about to be printed: every registered
 * secret in it is replaced (the longest first; one shorter than
 * BR_SECRET_MIN_LEN only when it is the whole text), then every URL in it
 * loses its userinfo and its query, each printed as ***.
 *
 * Sinks call it: the logger, config and command errors, the names a dead
 * letter or an event carries. Connectors need not: they print what they
 * like and the sink masks it. Thread-safe (one lock); registering is for
 * start-up, masking for any thread. */
#ifndef BR_SECRETS_H
#define BR_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

/* Shorter secrets would mask ordinary words ("on", "eu") inside other text. */
#define BR_SECRET_MIN_LEN 4

/* Registers value[0..len) as secret, printed as `shown` (copied; NULL
 * means "***"), and each item of a comma-separated list (brokers) too. An
 * empty value is ignored. Out of memory is reported on
 * stderr once: a secret that cannot be remembered cannot be masked. */
void br_secrets_add(const char *value, size_t len, const char *shown);
/* Registers what the interpolation `written` (from "${" to "}") produced. */
void br_secrets_add_expansion(const char *written, size_t written_len, const char *value,
                              size_t value_len);
/* True when a key of this name holds a secret: its name contains
 * password, passwd, secret, token, authorization, cookie, api-key, api_key,
 * apikey, credential or private (any case), or ends in key.pem; but not
 * one ending in _file (a path: password_file). */
bool br_secret_key_name(const char *key);

/* text masked into out (always NUL-terminated, cut to outlen - 1 bytes);
 * returns out. */
char *br_secrets_mask(const char *text, char *out, size_t outlen);
/* text masked, as a new string the caller frees; NULL only when out of
 * memory (or text is NULL). */
char *br_secrets_mask_dup(const char *text);

/* Forgets every secret (tests). */
void br_secrets_clear(void);

#endif
