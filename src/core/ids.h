/* Identifiers: UUIDv7 (RFC 9562, monotonic within a generator), UUID parsing,
 * and the 10-character base62 job token. Randomness is an input, never fetched
 * here, so everything is deterministic under test. */
#ifndef JP_CORE_IDS_H
#define JP_CORE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define JP_UUID_LEN 36           /* canonical text form, without NUL */
#define JP_TOKEN_LEN 10          /* base62 job token, without NUL */
#define JP_ADOPTION_TOKEN_LEN 22 /* base62, in the bootstrap line */
#define JP_DEVICE_TOKEN_LEN 32   /* base62, a router's bearer token */
#define JP_UUID7_RANDOM_BYTES 10

/* State of a UUIDv7 generator. Callers serialise access. */
struct uuid7_gen {
    uint64_t last_ms;       /* timestamp of the last id handed out */
    unsigned char last[16]; /* the last id, incremented when the clock stands still */
};

/* Writes the next UUIDv7 into out (37 bytes, NUL-terminated). Ids strictly
 * increase: when now_ms is not past the last id's time, the last id plus one
 * is used (RFC 9562 method 2, 74-bit counter), which carries into the time. */
void uuid7_next(struct uuid7_gen *gen, uint64_t now_ms,
                const unsigned char rnd[JP_UUID7_RANDOM_BYTES], char out[JP_UUID_LEN + 1]);

/* The unix time in milliseconds carried by a UUIDv7 in canonical form. */
uint64_t uuid7_millis(const char *uuid);
/* The first 13 characters of a UUIDv7 of millisecond ms ("xxxxxxxx-xxxx"):
 * every id made before ms sorts before it, every later one after. */
void uuid7_floor(uint64_t ms, char out[14]);

/* Accepts a UUID in canonical 8-4-4-4-12 form, any case; writes it lower-case.
 * Returns 0 on success, -1 when s is not a UUID. */
int uuid_parse(const char *s, char out[JP_UUID_LEN + 1]);

/* Formats 16 random bytes as a version-4 UUID. */
void uuid4_format(const unsigned char rnd[16], char out[JP_UUID_LEN + 1]);

/* Makes a base62 token of JP_TOKEN_LEN characters from random bytes by
 * rejection sampling (uniform). Returns 0, or -1 when rnd ran out (retry with
 * fresh bytes; with 32 bytes this happens with negligible probability). */
int token_base62(const unsigned char *rnd, size_t n, char out[JP_TOKEN_LEN + 1]);
/* The same for len characters (out has len + 1 bytes). */
int base62_random(const unsigned char *rnd, size_t n, char *out, size_t len);

#endif
