/* Operator credentials: our own JWT signer (HS256) and verifier (HS256,
 * RS256, ES256) on OpenSSL 3. Debian's libjwt checks no claims and accepts
 * alg "none"; this code accepts exactly these three, requires exp, honours
 * nbf, and checks iss/aud when asked.
 *
 * Which key verifies a token is decided by its alg and kid, never by the
 * key's text: HS256 only ever with the server secret (a public key is never
 * an HMAC secret), RS256 only with an RSA key (2048 bits or more), ES256 only
 * with a P-256 key, its signature the raw 64-byte r||s of RFC 7518 (DER is
 * refused). A token with a kid needs the key of that kid; one without uses
 * the only key of its type, and is refused when there are several. */
#ifndef JP_CORE_JWT_H
#define JP_CORE_JWT_H

#include <stddef.h>
#include <stdint.h>

enum jp_scope {
    JP_SCOPE_JOBS_READ = 1 << 0,
    JP_SCOPE_JOBS_WRITE = 1 << 1,
    JP_SCOPE_SITES_READ = 1 << 2,
    JP_SCOPE_SITES_WRITE = 1 << 3,
    JP_SCOPE_BACKUPS_READ = 1 << 4,
    JP_SCOPE_WEBHOOKS_READ = 1 << 5,
    JP_SCOPE_WEBHOOKS_WRITE = 1 << 6,
    JP_SCOPE_KEYS_WRITE = 1 << 7,
    JP_SCOPE_METRICS_READ = 1 << 8,
    JP_SCOPE_SCRIPTS_READ = 1 << 9,
    JP_SCOPE_SCRIPTS_WRITE = 1 << 10,
    JP_SCOPE_SCRIPTS_APPROVE = 1 << 11,
    JP_SCOPE_BACKUPS_READ_SENSITIVE = 1 << 12, /* backups that keep secrets */
};

#define JP_SCOPE_COUNT 13
#define JP_SCOPES_ALL ((1u << JP_SCOPE_COUNT) - 1)
/* Every scope's name, in the order of the bits. */
struct jp_scope_info {
    const char *name; /* in the token's space-separated scope claim */
    unsigned bit;
};
extern const struct jp_scope_info jp_scopes[JP_SCOPE_COUNT];

/* Parses a space-separated scope list; unknown words are ignored. */
unsigned jp_scope_parse(const char *s);

#define JP_TEAM_MAX 64 /* longest team id accepted, in bytes */

enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not three base64url parts of JSON objects */
    JWT_BAD_ALG,       /* alg is not HS256, RS256 or ES256, or not its key's type */
    JWT_UNKNOWN_KEY,   /* no key of the token's kid, or several of its type and no kid */
    JWT_BAD_SIGNATURE, /* the signature does not verify */
    JWT_EXPIRED,       /* exp missing, not a number, or in the past */
    JWT_NOT_YET_VALID, /* nbf in the future */
    JWT_BAD_ISSUER,    /* iss configured and different */
    JWT_BAD_AUDIENCE,  /* aud configured and absent from the token */
    JWT_BAD_TEAM,      /* team claim missing, not a string, empty or too long */
};

struct jwt_expect {
    const char *issuer;   /* NULL: not checked */
    const char *audience; /* NULL: not checked */
    int64_t leeway;       /* seconds of clock skew tolerated on exp and nbf */
};

#define JP_SUBJECT_MAX 128 /* longest sub claim kept, in bytes (longer: cut) */

struct jwt_claims {
    char team[JP_TEAM_MAX + 1];
    char sub[JP_SUBJECT_MAX + 1]; /* "" when absent */
    unsigned scopes;              /* enum jp_scope bits */
    int64_t exp;
};

#define JWT_MAX_LEN 8192

/* Public keys for RS256 and ES256, each with its kid (or none). Immutable
 * once built: any number of threads may verify with one set. */
struct jwt_keyset;
#define JWT_KEYS_MAX 64           /* keys in one set */
#define JWT_JWKS_MAX (256 * 1024) /* bytes of a JWKS document */

struct jwt_keyset *jwt_keyset_new(void);
void jwt_keyset_free(struct jwt_keyset *ks);
size_t jwt_keyset_count(const struct jwt_keyset *ks);
/* Adds the key of a PEM text (a public key or a certificate), without kid.
 * 0, or -1 with the reason in err. */
int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *pem, size_t len, char *err, size_t cap);
/* Adds the signing keys of a JWKS document (RFC 7517: RSA, and EC on P-256;
 * keys for encryption or of other types are skipped). 0, or -1 with the
 * reason in err (not JSON, no usable key, a repeated kid, too many keys). */
int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *json, size_t len, char *err, size_t cap);

/* What verifies: the server's HS256 secret and the public keys (NULL: none). */
struct jwt_verifier {
    const unsigned char *secret;
    size_t secret_len;
    const struct jwt_keyset *keys;
};

enum jwt_result jwt_verify(const char *token, const struct jwt_verifier *v, int64_t now,
                           const struct jwt_expect *expect, struct jwt_claims *out);
/* jwt_verify with the secret alone. */
enum jwt_result jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                                 int64_t now, const struct jwt_expect *expect,
                                 struct jwt_claims *out);

/* Signs payload (a JSON object text) with HS256. Returns a malloc'ed token
 * (caller frees), or NULL on allocation failure. */
char *jwt_sign_hs256_alloc(const char *payload_json, const unsigned char *secret,
                           size_t secret_len);

const char *jwt_result_str(enum jwt_result r);

#endif
