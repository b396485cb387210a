/* Operator credentials: our own HS256 JWT signer and verifier on OpenSSL 3.
 * Debian's libjwt checks no claims and accepts alg "none"; this code accepts
 * exactly HS256, requires exp, honours nbf, and checks iss/aud when asked. */
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
};

#define JP_SCOPE_COUNT 7
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
    JWT_BAD_ALG,       /* alg is not HS256 (none, RS256, ...) */
    JWT_BAD_SIGNATURE, /* HMAC does not match */
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

struct jwt_claims {
    char team[JP_TEAM_MAX + 1];
    unsigned scopes; /* enum jp_scope bits */
    int64_t exp;
};

#define JWT_MAX_LEN 8192

enum jwt_result jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                                 int64_t now, const struct jwt_expect *expect,
                                 struct jwt_claims *out);

/* Signs payload (a JSON object text) with HS256. Returns a malloc'ed token
 * (caller frees), or NULL on allocation failure. */
char *jwt_sign_hs256_alloc(const char *payload_json, const unsigned char *secret,
                           size_t secret_len);

const char *jwt_result_str(enum jwt_result r);

#endif
