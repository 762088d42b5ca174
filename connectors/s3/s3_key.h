/* s3_key.h - object keys as S3 writes them in event notifications, and the
 * sequencer's text form. */
#ifndef S3_KEY_H
#define S3_KEY_H

#include <inttypes.h>
#include <stddef.h>

/* Sequencers are 16 uppercase hex digits: they compare as strings. */
#define BR_S3_SEQUENCER_FMT "%016" PRIX64
#define BR_S3_SEQUENCER_LEN 16

/* URL-encodes key as S3 event notifications do: unreserved characters
 * (A-Z a-z 0-9 - _ . ~) and '/' stay, a space becomes '+', every other
 * byte %XX. Writes at most n - 1 bytes and a NUL to out (when n > 0);
 * returns the full encoded length. */
size_t br_s3_key_encode(const char *key, size_t len, char *out, size_t n);

/* The encoded length of key, without writing it. */
size_t br_s3_key_encoded_len(const char *key, size_t len);

#endif
