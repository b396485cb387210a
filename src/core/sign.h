/* Signed device URLs: HMAC-SHA256 over the job id, the action (busy, done,
 * fail, backup) and the expiry, keyed with a key derived from the server
 * secret (so a URL signature is never a valid JWT signature and vice versa). */
#ifndef JP_CORE_SIGN_H
#define JP_CORE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define JP_SIG_HEX 64

struct sign_key {
    unsigned char k[32];
};

void sign_key_derive(struct sign_key *key, const unsigned char *secret, size_t len);
void sign_make(const struct sign_key *key, const char *job_id, const char *action, int64_t expires,
               char out[JP_SIG_HEX + 1]);

/* What a report URL signs as its action: the report, and the delivery it
 * belongs to when it names one ("done@1733500000"; delivery 0: "done"). */
#define SIGN_ACTION_MAX 48
void sign_action(const char *report, int64_t delivery, char out[SIGN_ACTION_MAX]);

enum sign_result { SIGN_OK = 0, SIGN_BAD, SIGN_EXPIRED };
/* Checks sig (hex) in constant time, then the expiry against now. */
enum sign_result sign_verify(const struct sign_key *key, const char *job_id, const char *action,
                             int64_t expires, int64_t now, const char *sig);

/* Hex SHA-256 of a bearer token: what the store keeps instead of the token. */
void token_hash(const char *token, char out[JP_SIG_HEX + 1]);
/* The hex SHA-256 of n bytes. */
void sha256_hex(const void *data, size_t n, char out[JP_SIG_HEX + 1]);

/* The SHA-256 of the first certificate of a PEM text, over its DER form, as
 * lower-case hex (what RouterOS shows as a certificate's fingerprint).
 * -1 when the text holds no certificate. */
int pem_cert_fingerprint(const char *pem, size_t n, char out[JP_SIG_HEX + 1]);

/* Overwrites, in text[0..n), every run of exactly len base62 characters
 * (bounded by non-base62 bytes or the ends) whose token_hash is hash with
 * JP_REDACTED, cut or padded with '_' to len bytes, so the text keeps its
 * size. How the server keeps a device token out of a stored backup without
 * ever holding the token itself. Returns the number of runs replaced. */
size_t token_redact(char *text, size_t n, size_t len, const char *hash);
#define JP_REDACTED "REDACTED_JOBPLANE_DEVICE_TOKEN"

#endif
