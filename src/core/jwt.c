#include "core/jwt.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct jp_scope_info jp_scopes[JP_SCOPE_COUNT] = {
    {"jobs:read", JP_SCOPE_JOBS_READ},
    {"jobs:write", JP_SCOPE_JOBS_WRITE},
    {"sites:read", JP_SCOPE_SITES_READ},
    {"sites:write", JP_SCOPE_SITES_WRITE},
    {"backups:read", JP_SCOPE_BACKUPS_READ},
    {"webhooks:read", JP_SCOPE_WEBHOOKS_READ},
    {"webhooks:write", JP_SCOPE_WEBHOOKS_WRITE},
    {"keys:write", JP_SCOPE_KEYS_WRITE},
    {"metrics:read", JP_SCOPE_METRICS_READ},
    {"scripts:read", JP_SCOPE_SCRIPTS_READ},
    {"scripts:write", JP_SCOPE_SCRIPTS_WRITE},
    {"scripts:approve", JP_SCOPE_SCRIPTS_APPROVE},
    {"backups:read-sensitive", JP_SCOPE_BACKUPS_READ_SENSITIVE},
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

/* ---- public keys ------------------------------------------------------ */

enum key_type { KEY_RSA = 1, KEY_EC };

#define KID_MAX 128

struct jwt_key {
    EVP_PKEY *pkey;
    enum key_type type;
    bool has_kid;
    char kid[KID_MAX + 1];
};

struct jwt_keyset {
    size_t n;
    struct jwt_key k[JWT_KEYS_MAX];
};

struct jwt_keyset *jwt_keyset_new(void)
{
    return calloc(1, sizeof(struct jwt_keyset));
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        EVP_PKEY_free(ks->k[i].pkey);
    free(ks);
}

size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
    return ks ? ks->n : 0;
}

/* The key's type when it is one we verify with: RSA of 2048 bits or more,
 * or EC on P-256; 0 (reason in err) otherwise. */
static enum key_type key_type(EVP_PKEY *k, char *err, size_t cap)
{
    if (EVP_PKEY_is_a(k, "RSA")) {
        if (EVP_PKEY_get_bits(k) >= 2048)
            return KEY_RSA;
        snprintf(err, cap, "an RSA key of %d bits (at least 2048 are needed)",
                 EVP_PKEY_get_bits(k));
        return 0;
    }
    char group[64] = "";
    if (EVP_PKEY_is_a(k, "EC") &&
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) &&
        !strcmp(group, "prime256v1"))
        return KEY_EC;
    snprintf(err, cap, "not an RSA or EC P-256 public key%s%s", group[0] ? ": curve " : "", group);
    return 0;
}

/* Takes over pkey (freed on failure). */
static int add_key(struct jwt_keyset *ks, EVP_PKEY *pkey, const char *kid, char *err, size_t cap)
{
    enum key_type t = key_type(pkey, err, cap);
    if (t && ks->n == JWT_KEYS_MAX) {
        snprintf(err, cap, "more than %d keys", JWT_KEYS_MAX);
        t = 0;
    }
    for (size_t i = 0; t && kid && i < ks->n; i++)
        if (ks->k[i].has_kid && !strcmp(ks->k[i].kid, kid)) {
            snprintf(err, cap, "the kid '%.64s' is given twice", kid);
            t = 0;
        }
    if (!t) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    struct jwt_key *k = &ks->k[ks->n++];
    k->pkey = pkey;
    k->type = t;
    k->has_kid = kid != NULL;
    snprintf(k->kid, sizeof k->kid, "%s", kid ? kid : "");
    return 0;
}

int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *pem, size_t len, char *err, size_t cap)
{
    if (len > JWT_JWKS_MAX) { /* (also keeps the int of BIO_new_mem_buf in range) */
        snprintf(err, cap, "larger than %d bytes", JWT_JWKS_MAX);
        return -1;
    }
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    if (!pkey && b && strstr(pem, "-----BEGIN CERTIFICATE-----")) {
        BIO_free(b);
        b = BIO_new_mem_buf(pem, (int)len);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        pkey = x ? X509_get_pubkey(x) : NULL;
        X509_free(x);
    }
    BIO_free(b);
    if (!pkey) {
        snprintf(err, cap, "no PEM public key or certificate in it");
        return -1;
    }
    return add_key(ks, pkey, NULL, err, cap);
}

/* A base64url member of a JWK, decoded into buf (cap bytes); its length or
 * -1. */
static long jwk_bytes(json_t *jwk, const char *name, unsigned char *buf, size_t cap)
{
    json_t *v = json_object_get(jwk, name);
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (!n || n / 4 * 3 + 3 > cap)
        return -1;
    return b64url_decode(json_string_value(v), n, buf);
}

static EVP_PKEY *jwk_key(json_t *jwk, const char *kty, char *err, size_t cap)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char a[1024], b[1024], pt[65] = {4}; /* pt: the point, uncompressed */
    long la, lb;
    bool rsa = !strcmp(kty, "RSA");
    if (!bld)
        goto done;
    if (rsa) {
        if ((la = jwk_bytes(jwk, "n", a, sizeof a)) <= 0 ||
            (lb = jwk_bytes(jwk, "e", b, sizeof b)) <= 0) {
            snprintf(err, cap, "an RSA key without valid n and e");
            goto done;
        }
        n = BN_bin2bn(a, (int)la, NULL);
        e = BN_bin2bn(b, (int)lb, NULL);
        if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto done;
    } else {
        /* (the builder keeps pointers to pt until OSSL_PARAM_BLD_to_param) */
        json_t *crv = json_object_get(jwk, "crv");
        if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256")) {
            snprintf(err, cap, "an EC key on a curve other than P-256");
            goto done;
        }
        if (jwk_bytes(jwk, "x", a, sizeof a) != 32 || jwk_bytes(jwk, "y", b, sizeof b) != 32) {
            snprintf(err, cap, "an EC key without 32-byte x and y");
            goto done;
        }
        memcpy(pt + 1, a, 32);
        memcpy(pt + 33, b, 32);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt))
            goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL) : NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        snprintf(err, cap, "an %s key OpenSSL does not accept", kty);
        pkey = NULL;
    }
done:
    if (!pkey && !err[0])
        snprintf(err, cap, "out of memory");
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *text, size_t len, char *err, size_t cap)
{
    if (len > JWT_JWKS_MAX) {
        snprintf(err, cap, "larger than %d bytes", JWT_JWKS_MAX);
        return -1;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, cap, "not a JWKS document (an object with a \"keys\" array)");
        json_decref(doc);
        return -1;
    }
    size_t i, added = 0;
    json_t *jwk;
    int rc = 0;
    json_array_foreach(keys, i, jwk)
    {
        json_t *kty = json_object_get(jwk, "kty"), *use = json_object_get(jwk, "use"),
               *alg = json_object_get(jwk, "alg"), *kid = json_object_get(jwk, "kid");
        const char *t = json_string_value(kty), *a = json_string_value(alg);
        if (!t || (strcmp(t, "RSA") && strcmp(t, "EC")))
            continue; /* oct, OKP, ...: not ours */
        if ((use && (!json_is_string(use) || strcmp(json_string_value(use), "sig"))) ||
            (alg && (!a || strcmp(a, strcmp(t, "RSA") ? "ES256" : "RS256"))))
            continue; /* for encryption, or for an algorithm we do not verify */
        if (kid && (!json_is_string(kid) || json_string_length(kid) > KID_MAX ||
                    !json_string_length(kid))) {
            snprintf(err, cap, "key %zu: kid is not a string of 1 to %d bytes", i, KID_MAX);
            rc = -1;
            break;
        }
        char why[128] = "";
        EVP_PKEY *pkey = jwk_key(jwk, t, why, sizeof why);
        if (!pkey || add_key(ks, pkey, kid ? json_string_value(kid) : NULL, why, sizeof why)) {
            snprintf(err, cap, "key %zu: %s", i, why);
            rc = -1;
            break;
        }
        added++;
    }
    if (!rc && !added) {
        snprintf(err, cap, "no RS256 or ES256 signing key in it");
        rc = -1;
    }
    json_decref(doc);
    return rc;
}

/* The key a token's alg and kid name; NULL with the reason in *why. */
static const struct jwt_key *pick_key(const struct jwt_keyset *ks, enum key_type t, json_t *kid,
                                      enum jwt_result *why)
{
    const struct jwt_key *found = NULL;
    size_t of_type = 0;
    for (size_t i = 0; ks && i < ks->n; i++) {
        const struct jwt_key *k = &ks->k[i];
        if (kid) {
            if (k->has_kid && !strcmp(k->kid, json_string_value(kid))) {
                *why = JWT_BAD_ALG; /* a key of that kid, of another type */
                return k->type == t ? k : NULL;
            }
        } else if (k->type == t) {
            found = k;
            of_type++;
        }
    }
    *why = JWT_UNKNOWN_KEY;
    return of_type == 1 ? found : NULL;
}

static bool verify_pub(const struct jwt_key *k, const unsigned char *tbs, size_t tbs_len,
                       const unsigned char *sig, size_t sig_len)
{
    unsigned char der[80], *p = der;
    if (k->type == KEY_EC) { /* raw r||s (RFC 7518 3.4) to the DER OpenSSL verifies */
        ECDSA_SIG *es = sig_len == 64 ? ECDSA_SIG_new() : NULL;
        BIGNUM *r = es ? BN_bin2bn(sig, 32, NULL) : NULL,
               *s = es ? BN_bin2bn(sig + 32, 32, NULL) : NULL;
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return false;
        }
        int n = i2d_ECDSA_SIG(es, NULL) <= (int)sizeof der ? i2d_ECDSA_SIG(es, &p) : -1;
        ECDSA_SIG_free(es);
        if (n <= 0)
            return false;
        sig = der;
        sig_len = (size_t)n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, tbs, tbs_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ---- verification ----------------------------------------------------- */

#define SIG_MAX 1024 /* bytes: RSA up to 8192 bits */

enum jwt_result jwt_verify(const char *token, const struct jwt_verifier *v, int64_t now,
                           const struct jwt_expect *expect, struct jwt_claims *out)
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
    const char *alg = json_string_value(json_object_get(header, "alg"));
    json_t *kid = json_object_get(header, "kid");
    enum key_type type = 0;
    if (alg && !strcmp(alg, "RS256"))
        type = KEY_RSA;
    else if (alg && !strcmp(alg, "ES256"))
        type = KEY_EC;
    else if (!alg || strcmp(alg, "HS256")) {
        result = JWT_BAD_ALG;
        goto done;
    }
    if (kid && (!json_is_string(kid) || json_string_length(kid) > KID_MAX))
        goto done;
    /* Signature before claims: nothing of an unsigned payload is trusted. */
    unsigned char sig[SIG_MAX + 3];
    size_t sig_b64 = strlen(d2 + 1);
    long sig_len =
        sig_b64 && sig_b64 <= SIG_MAX * 4 / 3 + 2 ? b64url_decode(d2 + 1, sig_b64, sig) : -1;
    const unsigned char *tbs = (const unsigned char *)token;
    size_t tbs_len = (size_t)(d2 - token);
    if (!type) { /* HS256: the server secret, and nothing else */
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (sig_len != 32 ||
            !HMAC(EVP_sha256(), v->secret, (int)v->secret_len, tbs, tbs_len, mac, &mac_len) ||
            mac_len != 32 || CRYPTO_memcmp(sig, mac, 32) != 0) {
            result = JWT_BAD_SIGNATURE;
            goto done;
        }
    } else {
        const struct jwt_key *k = pick_key(v->keys, type, kid, &result);
        if (!k)
            goto done;
        if (sig_len <= 0 || !verify_pub(k, tbs, tbs_len, sig, (size_t)sig_len)) {
            result = JWT_BAD_SIGNATURE;
            goto done;
        }
    }
    payload = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!payload) {
        result = JWT_MALFORMED;
        goto done;
    }
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
    const char *sub = json_string_value(json_object_get(payload, "sub"));
    snprintf(out->sub, sizeof out->sub, "%s", sub ? sub : "");
    json_t *scope = json_object_get(payload, "scope");
    out->scopes = json_is_string(scope) ? jp_scope_parse(json_string_value(scope)) : 0;
    out->exp = exp;
    result = JWT_OK;
done:
    json_decref(header);
    json_decref(payload);
    return result;
}

enum jwt_result jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                                 int64_t now, const struct jwt_expect *expect,
                                 struct jwt_claims *out)
{
    struct jwt_verifier v = {.secret = secret, .secret_len = secret_len};
    return jwt_verify(token, &v, now, expect, out);
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
    case JWT_BAD_ALG: return "algorithm must be HS256, RS256 or ES256, and its key's";
    case JWT_UNKNOWN_KEY: return "no key for this kid, or several and no kid";
    case JWT_BAD_SIGNATURE: return "bad signature";
    case JWT_EXPIRED: return "token expired or without exp";
    case JWT_NOT_YET_VALID: return "token not yet valid";
    case JWT_BAD_ISSUER: return "wrong issuer";
    case JWT_BAD_AUDIENCE: return "wrong audience";
    case JWT_BAD_TEAM: return "missing or invalid team claim";
    }
    return "invalid token";
}
