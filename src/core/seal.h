/* Sensitive backups at rest: AES-256-GCM through OpenSSL, with a key the
 * operator keeps in a file (--backup-key-file). A sealed blob is "JPS1", a
 * 12-byte nonce, the ciphertext and the 16-byte tag; the magic and the
 * nonce are authenticated with it. Pure: the nonce is an input. */
#ifndef JP_CORE_SEAL_H
#define JP_CORE_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 12
#define SEAL_OVERHEAD (4 + SEAL_NONCE_LEN + 16)

struct seal_key {
    unsigned char k[SEAL_KEY_LEN];
};

/* The key from a key file's contents: 64 hex digits (surrounding white
 * space ignored) or exactly 32 raw bytes. -1 when it is neither. */
int seal_key_parse(const char *text, size_t n, struct seal_key *key);

/* Seals in[0..n) into out (n + SEAL_OVERHEAD bytes). 0, or -1. */
int seal(const struct seal_key *key, const unsigned char nonce[SEAL_NONCE_LEN], const void *in,
         size_t n, unsigned char *out);

/* Opens a sealed blob into out (n - SEAL_OVERHEAD bytes, NUL-terminated: out
 * has room for n - SEAL_OVERHEAD + 1); the plaintext's length in *len. -1
 * when it is not a blob this key sealed (wrong key, changed bytes). */
int seal_open(const struct seal_key *key, const unsigned char *in, size_t n, char *out,
              size_t *len);

/* The keyed hex digest that names a sealed content (HMAC-SHA256 under a key
 * derived from the sealing key): equal contents dedupe, and the stored name
 * tells nothing of the plaintext to whoever lacks the key. */
void seal_digest(const struct seal_key *key, const void *data, size_t n, char out[65]);

#endif
