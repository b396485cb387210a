#include "core/jwt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

const struct jp_scope_info jp_scopes[JP_SCOPE_COUNT] = {
    {"jobs:read", JP_SCOPE_JOBS_READ},           {"jobs:write", JP_SCOPE_JOBS_WRITE},
    {"sites:read", JP_SCOPE_SITES_READ},         {"sites:write", JP_SCOPE_SITES_WRITE},
    {"backups:read", JP_SCOPE_BACKUPS_READ},     {"webhooks:read", JP_SCOPE_WEBHOOKS_READ},
    {"webhooks:write", JP_SCOPE_WEBHOOKS_WRITE},
};

unsigned jp_scope_parse(const char *s)
{
    const struct jp_scope_info *names = jp_scopes;
    unsigned bits = 0;
    while (s && *s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        for (size_t i = 0; i < JP_SCOPE_COUNT; i++)
            if (n == strlen(names[i].name) && !strncmp(s, names[i].name, n))
                bits |= names[i].bit;
        s += n;
    }
    return bits;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(unsigned char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes unpadded base64url s[0..n) into out (capacity at least n). Returns
 * the decoded length or -1. Non-canonical trailing bits are refused. */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)o;
}

static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

/* Decodes one base64url part into a JSON object; NULL when it is not one. */
static json_t *decode_part(const char *s, size_t n)
{
    unsigned char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    long len = b64url_decode(s, n, buf);
    json_t *j = NULL;
    if (len > 0)
        j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static int claim_time(json_t *payload, const char *name, int64_t *out)
{
    json_t *v = json_object_get(payload, name);
    if (!v)
        return 0;
    if (json_is_integer(v))
        *out = (int64_t)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) > -9.2e18 && json_real_value(v) < 9.2e18)
        *out = (int64_t)json_real_value(v); /* in range: the conversion is defined */
    else
        return -1;
    return 1;
}

static int audience_has(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), want);
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                          !strcmp(json_string_value(v), want)) return 1;
    }
    return 0;
}

enum jwt_result jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                                 int64_t now, const struct jwt_expect *expect,
                                 struct jwt_claims *out)
{
    enum jwt_result result = JWT_MALFORMED;
    json_t *header = NULL, *payload = NULL;
    size_t len = token ? strnlen(token, JWT_MAX_LEN + 1) : 0;
    if (len == 0 || len > JWT_MAX_LEN)
        return JWT_MALFORMED;
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return JWT_MALFORMED;

    header = decode_part(token, (size_t)(d1 - token));
    if (!header)
        goto done;
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256")) {
        result = JWT_BAD_ALG;
        goto done;
    }
    /* Signature before claims: nothing of an unsigned payload is trusted. */
    unsigned char sig[64], mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    size_t sig_b64 = strlen(d2 + 1);
    if (sig_b64 != 43 || b64url_decode(d2 + 1, sig_b64, sig) != 32) {
        result = JWT_BAD_SIGNATURE;
        goto done;
    }
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token,
              (size_t)(d2 - token), mac, &mac_len) ||
        mac_len != 32 || CRYPTO_memcmp(sig, mac, 32) != 0) {
        result = JWT_BAD_SIGNATURE;
        goto done;
    }
    payload = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!payload)
        goto done;

    int64_t exp = 0, nbf = 0, leeway = expect ? expect->leeway : 0;
    if (claim_time(payload, "exp", &exp) != 1 || now >= exp + leeway) {
        result = JWT_EXPIRED;
        goto done;
    }
    int has_nbf = claim_time(payload, "nbf", &nbf);
    if (has_nbf < 0 || (has_nbf && now + leeway < nbf)) {
        result = JWT_NOT_YET_VALID;
        goto done;
    }
    if (expect && expect->issuer) {
        json_t *iss = json_object_get(payload, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), expect->issuer)) {
            result = JWT_BAD_ISSUER;
            goto done;
        }
    }
    if (expect && expect->audience &&
        !audience_has(json_object_get(payload, "aud"), expect->audience)) {
        result = JWT_BAD_AUDIENCE;
        goto done;
    }
    json_t *team = json_object_get(payload, "team");
    const char *t = json_is_string(team) ? json_string_value(team) : NULL;
    if (!t || !*t || json_string_length(team) > JP_TEAM_MAX) {
        result = JWT_BAD_TEAM;
        goto done;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->team, t, json_string_length(team));
    json_t *scope = json_object_get(payload, "scope");
    out->scopes = json_is_string(scope) ? jp_scope_parse(json_string_value(scope)) : 0;
    out->exp = exp;
    result = JWT_OK;
done:
    json_decref(header);
    json_decref(payload);
    return result;
}

char *jwt_sign_hs256_alloc(const char *payload_json, const unsigned char *secret, size_t secret_len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t plen = strlen(payload_json);
    size_t cap = (sizeof header + plen) * 4 / 3 + 64 + 8;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = b64url_encode((const unsigned char *)header, sizeof header - 1, out);
    out[o++] = '.';
    o += b64url_encode((const unsigned char *)payload_json, plen, out + o);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out, o, mac,
              &mac_len)) {
        free(out);
        return NULL;
    }
    out[o++] = '.';
    b64url_encode(mac, mac_len, out + o);
    return out;
}

const char *jwt_result_str(enum jwt_result r)
{
    switch (r) {
    case JWT_OK: return "ok";
    case JWT_MALFORMED: return "malformed token";
    case JWT_BAD_ALG: return "algorithm must be HS256";
    case JWT_BAD_SIGNATURE: return "bad signature";
    case JWT_EXPIRED: return "token expired or without exp";
    case JWT_NOT_YET_VALID: return "token not yet valid";
    case JWT_BAD_ISSUER: return "wrong issuer";
    case JWT_BAD_AUDIENCE: return "wrong audience";
    case JWT_BAD_TEAM: return "missing or invalid team claim";
    }
    return "invalid token";
}
