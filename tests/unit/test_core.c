/* Unit tests for core/: ids, text rules, JWT, the error table, job states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/error.h"
#include "core/ids.h"
#include "core/jwt.h"
#include "core/model.h"
#include "core/seal.h"
#include "core/sign.h"
#include "core/text.h"

/* ---- ids -------------------------------------------------------------- */

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void test_uuid7_monotonic_same_ms(void **state)
{
    (void)state;
    struct uuid7_gen g = {0};
    char prev[JP_UUID_LEN + 1] = "", cur[JP_UUID_LEN + 1];
    unsigned char rnd[JP_UUID7_RANDOM_BYTES];
    for (unsigned i = 0; i < 10000; i++) {
        fill(rnd, sizeof rnd, i); /* random bytes that do not increase */
        uuid7_next(&g, 1761739510000ull, rnd, cur);
        assert_int_equal(strlen(cur), JP_UUID_LEN);
        assert_int_equal(cur[14], '7');           /* version */
        assert_non_null(strchr("89ab", cur[19])); /* variant */
        if (i)
            assert_true(strcmp(prev, cur) < 0);
        memcpy(prev, cur, sizeof cur);
    }
}

static void test_uuid7_clock_and_millis(void **state)
{
    (void)state;
    struct uuid7_gen g = {0};
    char a[JP_UUID_LEN + 1], b[JP_UUID_LEN + 1], c[JP_UUID_LEN + 1];
    unsigned char hi[JP_UUID7_RANDOM_BYTES], lo[JP_UUID7_RANDOM_BYTES];
    memset(hi, 0xff, sizeof hi);
    memset(lo, 0x00, sizeof lo);
    uuid7_next(&g, 1000, hi, a);
    assert_int_equal(uuid7_millis(a), 1000);
    /* The counter is all ones: the next id carries into the timestamp. */
    uuid7_next(&g, 1000, lo, b);
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(uuid7_millis(b), 1001);
    /* A clock that goes backwards never produces a smaller id. */
    uuid7_next(&g, 5, lo, c);
    assert_true(strcmp(b, c) < 0);
    uuid7_next(&g, 2000, lo, c);
    assert_int_equal(uuid7_millis(c), 2000);
}

static void test_uuid_parse(void **state)
{
    (void)state;
    char out[JP_UUID_LEN + 1];
    assert_int_equal(uuid_parse("0192F1A0-8E3B-7C4D-9E5F-0A1B2C3D4E5F", out), 0);
    assert_string_equal(out, "0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f");
    assert_int_equal(uuid_parse("0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5", out), -1);
    assert_int_equal(uuid_parse("0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f0", out), -1);
    assert_int_equal(uuid_parse("0192f1a08e3b-7c4d-9e5f-0a1b2c3d4e5f-", out), -1);
    assert_int_equal(uuid_parse("0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5g", out), -1);
    assert_int_equal(uuid_parse("", out), -1);
    assert_int_equal(uuid_parse(NULL, out), -1);
    unsigned char rnd[16];
    fill(rnd, sizeof rnd, 7);
    uuid4_format(rnd, out);
    assert_int_equal(out[14], '4');
    char again[JP_UUID_LEN + 1];
    assert_int_equal(uuid_parse(out, again), 0);
    assert_string_equal(out, again);
}

static void test_token_base62(void **state)
{
    (void)state;
    char tok[JP_TOKEN_LEN + 1];
    unsigned char rnd[32];
    for (unsigned i = 0; i < 1000; i++) {
        fill(rnd, sizeof rnd, i);
        assert_int_equal(token_base62(rnd, sizeof rnd, tok), 0);
        assert_int_equal(strlen(tok), JP_TOKEN_LEN);
        for (int k = 0; k < JP_TOKEN_LEN; k++)
            assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz",
                                   tok[k]));
    }
    /* Bytes 248..255 are rejected (they would bias the alphabet). */
    memset(rnd, 250, sizeof rnd);
    assert_int_equal(token_base62(rnd, sizeof rnd, tok), -1);
    unsigned char known[10] = {0, 1, 61, 62, 123, 247, 10, 36, 35, 9};
    assert_int_equal(token_base62(known, sizeof known, tok), 0);
    assert_string_equal(tok, "01z0zzAaZ9");
}

/* ---- text ------------------------------------------------------------- */

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(utf8_length("abc", 3), 3);
    assert_int_equal(utf8_length("", 0), 0);
    assert_int_equal(utf8_length("caf\xc3\xa9", 5), 4);
    assert_int_equal(utf8_length("\xe6\x97\xa5\xe6\x9c\xac", 6), 2);
    assert_int_equal(utf8_length("\xf0\x9f\x98\x80!", 5), 2);
    assert_int_equal(utf8_length("\xc0\x80", 2), -1);         /* overlong NUL */
    assert_int_equal(utf8_length("\xe0\x80\xaf", 3), -1);     /* overlong '/' */
    assert_int_equal(utf8_length("\xed\xa0\x80", 3), -1);     /* surrogate */
    assert_int_equal(utf8_length("\xf4\x90\x80\x80", 4), -1); /* > U+10FFFF */
    assert_int_equal(utf8_length("\xf5\x80\x80\x80", 4), -1);
    assert_int_equal(utf8_length("\xc3", 1), -1); /* truncated */
    assert_int_equal(utf8_length("\xe6\x97", 2), -1);
    assert_int_equal(utf8_length("a\x80", 2), -1); /* lone continuation */
    assert_int_equal(utf8_length("a\0b", 3), -1);  /* NUL */
    assert_int_equal(utf8_length("\xff", 1), -1);
}

static void test_parse_bool(void **state)
{
    (void)state;
    assert_int_equal(parse_bool("true"), 1);
    assert_int_equal(parse_bool("TRUE"), 1);
    assert_int_equal(parse_bool("True"), 1);
    assert_int_equal(parse_bool("1"), 1);
    assert_int_equal(parse_bool("false"), 0);
    assert_int_equal(parse_bool("FaLsE"), 0);
    assert_int_equal(parse_bool("0"), 0);
    assert_int_equal(parse_bool("yes"), -1);
    assert_int_equal(parse_bool(""), -1);
    assert_int_equal(parse_bool("01"), -1);
    assert_int_equal(parse_bool("true "), -1);
    assert_int_equal(parse_bool(NULL), -1);
}

static void test_rfc3339(void **state)
{
    (void)state;
    char buf[JP_RFC3339_LEN + 1];
    rfc3339_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    rfc3339_format(1761739510, buf);
    assert_string_equal(buf, "2025-10-29T12:05:10Z");
    rfc3339_format(INT64_MAX / 2, buf); /* found by ASan: strftime left it unterminated */
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    int64_t t;
    assert_int_equal(rfc3339_parse("2025-10-29T12:05:10Z", &t), 0);
    assert_int_equal(t, 1761739510);
    assert_int_equal(rfc3339_parse("2025-10-29T14:05:10+02:00", &t), 0);
    assert_int_equal(t, 1761739510);
    assert_int_equal(rfc3339_parse("2025-10-29T12:05:10.123456Z", &t), 0);
    assert_int_equal(t, 1761739510);
    assert_int_equal(rfc3339_parse("2024-02-29T00:00:00Z", &t), 0);
    assert_int_equal(rfc3339_parse("2025-02-29T00:00:00Z", &t), -1);
    assert_int_equal(rfc3339_parse("2025-13-01T00:00:00Z", &t), -1);
    assert_int_equal(rfc3339_parse("2025-10-29 12:05:10Z", &t), -1);
    assert_int_equal(rfc3339_parse("2025-10-29T12:05:10", &t), -1);
    assert_int_equal(rfc3339_parse("2025-10-29T12:05:10Zx", &t), -1);
    for (int64_t v = 0; v < 4000000000LL; v += 86399 * 37) {
        rfc3339_format(v, buf);
        assert_int_equal(rfc3339_parse(buf, &t), 0);
        assert_int_equal(t, v);
    }
}

static void test_url_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(url_encode("{$.message=*Ab9*}", out, sizeof out), 29);
    assert_string_equal(out, "%7B%24.message%3D%2AAb9%2A%7D");
    assert_int_equal(url_encode("a-b_c.d~e", out, sizeof out), 9);
    assert_string_equal(out, "a-b_c.d~e");
    assert_int_equal(url_encode("2025-10-29T12:05:10Z", out, sizeof out), 24);
    assert_int_equal(url_encode("abcdef", out, 4), -1);
}

/* ---- JWT -------------------------------------------------------------- */

static const unsigned char SECRET[] = "0123456789abcdef0123456789abcdef";
#define SLEN (sizeof SECRET - 1)
#define NOW 1761739510

static char *mint(const char *payload)
{
    return jwt_sign_hs256_alloc(payload, SECRET, SLEN);
}

static enum jwt_result verify(const char *tok, const struct jwt_expect *e, struct jwt_claims *c)
{
    return jwt_verify_hs256(tok, SECRET, SLEN, NOW, e, c);
}

static void test_jwt_valid(void **state)
{
    (void)state;
    char *t =
        mint("{\"team\":\"t1\",\"scope\":\"jobs:read sites:write bogus\",\"exp\":1761743110}");
    struct jwt_claims c;
    assert_int_equal(verify(t, NULL, &c), JWT_OK);
    assert_string_equal(c.team, "t1");
    assert_int_equal(c.scopes, JP_SCOPE_JOBS_READ | JP_SCOPE_SITES_WRITE);
    assert_int_equal(c.exp, 1761743110);
    free(t);
}

static void test_jwt_time_claims(void **state)
{
    (void)state;
    struct jwt_claims c;
    char *t = mint("{\"team\":\"t1\",\"exp\":1761739509}");
    assert_int_equal(verify(t, NULL, &c), JWT_EXPIRED);
    struct jwt_expect lee = {.leeway = 5};
    assert_int_equal(verify(t, &lee, &c), JWT_OK);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761739510}"); /* exp == now: expired */
    assert_int_equal(verify(t, NULL, &c), JWT_EXPIRED);
    free(t);
    t = mint("{\"team\":\"t1\"}");
    assert_int_equal(verify(t, NULL, &c), JWT_EXPIRED);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":\"tomorrow\"}");
    assert_int_equal(verify(t, NULL, &c), JWT_EXPIRED);
    free(t);
    /* found by fuzzing: a huge real exp was converted to int64 (undefined) */
    t = mint("{\"team\":\"t1\",\"exp\":1e300}");
    assert_int_equal(verify(t, NULL, &c), JWT_EXPIRED);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110,\"nbf\":-1e300}");
    assert_int_equal(verify(t, NULL, &c), JWT_NOT_YET_VALID);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110.5}");
    assert_int_equal(verify(t, NULL, &c), JWT_OK);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110,\"nbf\":1761739600}");
    assert_int_equal(verify(t, NULL, &c), JWT_NOT_YET_VALID);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110,\"nbf\":1761739510}");
    assert_int_equal(verify(t, NULL, &c), JWT_OK);
    free(t);
}

static void test_jwt_alg_none_and_others(void **state)
{
    (void)state;
    struct jwt_claims c;
    /* {"alg":"none","typ":"JWT"} . {"team":"t1","exp":1761743110} . (empty) */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                       "eyJ0ZWFtIjoidDEiLCJleHAiOjE3NjE3NDMxMTB9.";
    assert_int_equal(verify(none, NULL, &c), JWT_BAD_ALG);
    /* {"alg":"RS256"} with an HMAC made from the secret (algorithm confusion):
     * without public keys there is no key to verify it with */
    const char *rs = "eyJhbGciOiJSUzI1NiJ9.eyJ0ZWFtIjoidDEiLCJleHAiOjE3NjE3NDMxMTB9."
                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(verify(rs, NULL, &c), JWT_UNKNOWN_KEY);
    /* {"alg":"HS512"} */
    const char *hs512 = "eyJhbGciOiJIUzUxMiJ9.eyJ0ZWFtIjoidDEiLCJleHAiOjE3NjE3NDMxMTB9.AAAA";
    assert_int_equal(verify(hs512, NULL, &c), JWT_BAD_ALG);
    /* {"alg":"hs256"}: case matters */
    const char *lower = "eyJhbGciOiJoczI1NiJ9.eyJ0ZWFtIjoidDEiLCJleHAiOjE3NjE3NDMxMTB9.AAAA";
    assert_int_equal(verify(lower, NULL, &c), JWT_BAD_ALG);
}

static void test_jwt_bad_signature_and_garbage(void **state)
{
    (void)state;
    struct jwt_claims c;
    char *t = mint("{\"team\":\"t1\",\"exp\":1761743110}");
    size_t n = strlen(t);
    /* flip one signature character */
    char orig = t[n - 2];
    t[n - 2] = orig == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t, NULL, &c), JWT_BAD_SIGNATURE);
    t[n - 2] = orig;
    assert_int_equal(verify(t, NULL, &c), JWT_OK);
    /* another secret */
    assert_int_equal(
        jwt_verify_hs256(t, (const unsigned char *)"another-secret-value", 20, NOW, NULL, &c),
        JWT_BAD_SIGNATURE);
    /* truncated: every prefix is refused */
    for (size_t k = 0; k < n; k++) {
        char *p = strndup(t, k);
        assert_int_not_equal(verify(p, NULL, &c), JWT_OK);
        free(p);
    }
    /* a changed payload with the old signature */
    char *dot = strchr(t, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e';
    assert_int_not_equal(verify(t, NULL, &c), JWT_OK);
    free(t);
    const char *garbage[] = {
        "",       ".", "..", "...", "a.b.c", "abc", "eyJ.eyJ.eyJ", "e30.e30.", "\xff\xfe.\x01.\x02",
        "a.b.c.d"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        assert_int_not_equal(verify(garbage[i], NULL, &c), JWT_OK);
    assert_int_equal(verify(NULL, NULL, &c), JWT_MALFORMED);
    char *huge = malloc(JWT_MAX_LEN + 10);
    memset(huge, 'a', JWT_MAX_LEN + 9);
    huge[JWT_MAX_LEN + 9] = '\0';
    assert_int_equal(verify(huge, NULL, &c), JWT_MALFORMED);
    free(huge);
}

static void test_jwt_claims_checked(void **state)
{
    (void)state;
    struct jwt_claims c;
    struct jwt_expect e = {.issuer = "jobplane", .audience = "ops"};
    char *t =
        mint("{\"team\":\"t1\",\"exp\":1761743110,\"iss\":\"jobplane\",\"aud\":[\"x\",\"ops\"]}");
    assert_int_equal(verify(t, &e, &c), JWT_OK);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110,\"iss\":\"evil\",\"aud\":\"ops\"}");
    assert_int_equal(verify(t, &e, &c), JWT_BAD_ISSUER);
    free(t);
    t = mint("{\"team\":\"t1\",\"exp\":1761743110,\"iss\":\"jobplane\",\"aud\":\"x\"}");
    assert_int_equal(verify(t, &e, &c), JWT_BAD_AUDIENCE);
    free(t);
    t = mint("{\"exp\":1761743110}");
    assert_int_equal(verify(t, NULL, &c), JWT_BAD_TEAM);
    free(t);
    t = mint("{\"team\":42,\"exp\":1761743110}");
    assert_int_equal(verify(t, NULL, &c), JWT_BAD_TEAM);
    free(t);
    t = mint("{\"team\":\"\",\"exp\":1761743110}");
    assert_int_equal(verify(t, NULL, &c), JWT_BAD_TEAM);
    free(t);
    t = mint("{\"team\":\"a\\u0000b\",\"exp\":1761743110}"); /* jansson refuses \u0000 */
    assert_int_equal(verify(t, NULL, &c), JWT_MALFORMED);
    free(t);
    t = mint("{\"team\":\"t1\",\"team\":\"t2\",\"exp\":1761743110}"); /* duplicate keys */
    assert_int_equal(verify(t, NULL, &c), JWT_MALFORMED);
    free(t);
    t = mint("[1,2,3]");
    assert_int_equal(verify(t, NULL, &c), JWT_MALFORMED);
    free(t);
}

/* ---- RS256 and ES256 ---------------------------------------------------- */

static size_t b64u(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[o++] = a[(acc >> (bits - 6)) & 63];
    }
    if (bits)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

/* A token of header and payload (JSON texts) signed with k: RS256 or ES256
 * by its type, the ES256 signature raw (r||s) unless der. */
static char *sign_with(const char *header, const char *payload, EVP_PKEY *k, int der)
{
    char *t = malloc(4096);
    size_t o = b64u((const unsigned char *)header, strlen(header), t);
    t[o++] = '.';
    o += b64u((const unsigned char *)payload, strlen(payload), t + o);
    unsigned char sig[600], raw[64];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)t, o), 1);
    EVP_MD_CTX_free(ctx);
    const unsigned char *out = sig;
    if (EVP_PKEY_is_a(k, "EC") && !der) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        out = raw;
        sig_len = 64;
    }
    t[o++] = '.';
    b64u(out, sig_len, t + o);
    return t;
}

static char *pub_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *copy = strndup(data, (size_t)n);
    BIO_free(b);
    return copy;
}

#define CLAIMS "{\"team\":\"t1\",\"sub\":\"alice\",\"exp\":1761743110}"

static void test_jwt_public_keys(void **state)
{
    (void)state;
    EVP_PKEY *ec = EVP_EC_gen("P-256"), *ec2 = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
    assert_non_null(ec);
    assert_non_null(rsa);
    char err[200], *ec_pem = pub_pem(ec), *ec2_pem = pub_pem(ec2), *rsa_pem = pub_pem(rsa);
    struct jwt_keyset *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_pem(ks, ec_pem, strlen(ec_pem), err, sizeof err), 0);
    assert_int_equal(jwt_keyset_add_pem(ks, rsa_pem, strlen(rsa_pem), err, sizeof err), 0);
    struct jwt_verifier v = {SECRET, SLEN, ks};
    struct jwt_claims c;
    char *t = sign_with("{\"alg\":\"ES256\"}", CLAIMS, ec, 0);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.team, "t1");
    assert_string_equal(c.sub, "alice");
    free(t);
    t = sign_with("{\"alg\":\"ES256\"}", CLAIMS, ec, 1);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_BAD_SIGNATURE); /* DER */
    free(t);
    t = sign_with("{\"alg\":\"ES256\"}", CLAIMS, ec2, 0);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_BAD_SIGNATURE); /* another key */
    free(t);
    t = sign_with("{\"alg\":\"RS256\"}", CLAIMS, rsa, 0);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_OK);
    t[strlen(t) - 3] = '\0';
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_BAD_SIGNATURE); /* truncated */
    free(t);
    /* a kid nobody has; a token without keys to verify it */
    t = sign_with("{\"alg\":\"RS256\",\"kid\":\"k1\"}", CLAIMS, rsa, 0);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_UNKNOWN_KEY);
    free(t);
    struct jwt_verifier bare = {SECRET, SLEN, NULL};
    t = sign_with("{\"alg\":\"RS256\"}", CLAIMS, rsa, 0);
    assert_int_equal(jwt_verify(t, &bare, NOW, NULL, &c), JWT_UNKNOWN_KEY);
    free(t);
    /* HS256 keyed with a public key's PEM text is never verified with that key */
    char hs[1024], mac_b64[64];
    const char *h = "eyJhbGciOiJIUzI1NiJ9"; /* {"alg":"HS256"} */
    size_t o = (size_t)snprintf(hs, sizeof hs, "%s.", h);
    o += b64u((const unsigned char *)CLAIMS, strlen(CLAIMS), hs + o);
    unsigned char mac[32];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), ec_pem, (int)strlen(ec_pem), (unsigned char *)hs, o, mac, &mac_len);
    b64u(mac, mac_len, mac_b64);
    snprintf(hs + o, sizeof hs - o, ".%s", mac_b64);
    assert_int_equal(jwt_verify(hs, &v, NOW, NULL, &c), JWT_BAD_SIGNATURE);
    /* two EC keys without kid: a token without kid is not guessed */
    assert_int_equal(jwt_keyset_add_pem(ks, ec2_pem, strlen(ec2_pem), err, sizeof err), 0);
    t = sign_with("{\"alg\":\"ES256\"}", CLAIMS, ec, 0);
    assert_int_equal(jwt_verify(t, &v, NOW, NULL, &c), JWT_UNKNOWN_KEY);
    free(t);
    assert_int_equal(jwt_keyset_count(ks), 3);
    jwt_keyset_free(ks);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(rsa);
    free(ec_pem);
    free(ec2_pem);
    free(rsa_pem);
}

static void test_jwks_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not json",
        "{}",
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", /* a 17-bit modulus */
        "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"use\":\"enc\",\"crv\":\"P-256\"}]}",
    };
    char err[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jwt_keyset *ks = jwt_keyset_new();
        err[0] = '\0';
        if (jwt_keyset_add_jwks(ks, bad[i], strlen(bad[i]), err, sizeof err) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_int_equal(jwt_keyset_count(ks), 0);
        jwt_keyset_free(ks);
    }
    struct jwt_keyset *ks = jwt_keyset_new();
    assert_int_equal(
        jwt_keyset_add_pem(ks, "-----BEGIN PUBLIC KEY-----\nAAAA\n", 32, err, sizeof err), -1);
    jwt_keyset_free(ks);
}

static void test_scope_parse(void **state)
{
    (void)state;
    assert_int_equal(jp_scope_parse(""), 0);
    assert_int_equal(jp_scope_parse(NULL), 0);
    assert_int_equal(jp_scope_parse("jobs:read"), JP_SCOPE_JOBS_READ);
    assert_int_equal(jp_scope_parse("  jobs:write   sites:read "),
                     JP_SCOPE_JOBS_WRITE | JP_SCOPE_SITES_READ);
    assert_int_equal(jp_scope_parse("jobs:readx jobs: read"), 0);
    assert_int_equal(jp_scope_parse("backups:read backups:read-sensitive"),
                     JP_SCOPE_BACKUPS_READ | JP_SCOPE_BACKUPS_READ_SENSITIVE);
    assert_int_equal(jp_scope_parse("backups:read-sensitiv"), 0);
}

/* ---- errors and states ------------------------------------------------ */

static void test_error_table(void **state)
{
    (void)state;
    for (int a = 1; a < JP_ERR_COUNT_; a++) {
        const struct jp_err_info *i = jp_err_info((enum jp_err)a);
        assert_true(i->status >= 400 && i->status <= 599);
        assert_true(strlen(i->code) > 0 && strlen(i->type) > 0 && strlen(i->message) > 0);
        for (int b = a + 1; b < JP_ERR_COUNT_; b++)
            assert_string_not_equal(i->code, jp_err_info((enum jp_err)b)->code);
    }
    assert_int_equal(jp_err_info(JP_ERR_JOB_ALREADY_STARTED)->status, 409);
    assert_string_equal(jp_err_info(JP_ERR_JOB_ALREADY_STARTED)->type, "invalid_request_error");
    assert_int_equal(jp_err_info((enum jp_err)999)->status, 500);
}

static void test_job_status(void **state)
{
    (void)state;
    struct job j = {0};
    assert_int_equal(job_status_of(&j), JOB_PENDING);
    j.delivered_at = 1;
    assert_int_equal(job_status_of(&j), JOB_DELIVERED);
    j.started_at = 2;
    assert_int_equal(job_status_of(&j), JOB_RUNNING);
    j.completed_at = 3;
    assert_int_equal(job_status_of(&j), JOB_COMPLETED);
    j.failed_at = 4;
    assert_int_equal(job_status_of(&j), JOB_FAILED);
    j.reverted_at = 5; /* a revert is a failure undone: both stamps */
    assert_int_equal(job_status_of(&j), JOB_REVERTED);
    assert_string_equal(job_status_name(JOB_REVERTED), "reverted");
    for (int s = 0; s < JOB_STATUS_COUNT_; s++)
        assert_int_equal(job_status_parse(job_status_name((enum job_status)s)), s);
    assert_int_equal(job_status_parse("cancelled"), -1);
    assert_int_equal(job_status_parse(NULL), -1);
}

/* ---- sealed backups --------------------------------------------------- */

static void test_seal(void **state)
{
    (void)state;
    struct seal_key k, k2;
    assert_int_equal(
        seal_key_parse(" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 66,
                       &k),
        0);
    assert_int_equal(k.k[0], 0);
    assert_int_equal(k.k[31], 0x1f);
    assert_int_equal(seal_key_parse("not a key", 9, &k2), -1);
    assert_int_equal(
        seal_key_parse("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64, &k2),
        -1);
    assert_int_equal(seal_key_parse("0123456789abcdef0123456789abcdef", 32, &k2), 0); /* raw */
    const char msg[] = "/ip ipsec identity add secret=IpsecSharedSecret42\n";
    size_t n = sizeof msg - 1, len = 0;
    unsigned char nonce[SEAL_NONCE_LEN] = {1, 2, 3}, blob[sizeof msg + SEAL_OVERHEAD];
    char out[sizeof msg + 1];
    assert_int_equal(seal(&k, nonce, msg, n, blob), 0);
    assert_memory_equal(blob, "JPS1", 4);
    assert_null(memmem(blob, n + SEAL_OVERHEAD, "Ipsec", 5)); /* no plaintext in it */
    assert_int_equal(seal_open(&k, blob, n + SEAL_OVERHEAD, out, &len), 0);
    assert_int_equal(len, n);
    assert_string_equal(out, msg);
    assert_int_equal(seal_open(&k2, blob, n + SEAL_OVERHEAD, out, &len), -1); /* another key */
    for (size_t i = 0; i < n + SEAL_OVERHEAD; i++) { /* any changed byte: refused */
        blob[i] ^= 0x40;
        assert_int_equal(seal_open(&k, blob, n + SEAL_OVERHEAD, out, &len), -1);
        blob[i] ^= 0x40;
    }
    assert_int_equal(seal_open(&k, blob, SEAL_OVERHEAD - 1, out, &len), -1);
    assert_int_equal(seal(&k, nonce, "", 0, blob), 0); /* empty */
    assert_int_equal(seal_open(&k, blob, SEAL_OVERHEAD, out, &len), 0);
    assert_int_equal(len, 0);
    char d1[65], d2[65], d3[65];
    seal_digest(&k, msg, n, d1);
    seal_digest(&k, msg, n, d2);
    seal_digest(&k2, msg, n, d3);
    assert_string_equal(d1, d2);
    assert_string_not_equal(d1, d3);
    char plain[65];
    sha256_hex(msg, n, plain);
    assert_string_not_equal(d1, plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid7_monotonic_same_ms),
        cmocka_unit_test(test_uuid7_clock_and_millis),
        cmocka_unit_test(test_uuid_parse),
        cmocka_unit_test(test_token_base62),
        cmocka_unit_test(test_utf8_length),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_url_encode),
        cmocka_unit_test(test_jwt_valid),
        cmocka_unit_test(test_jwt_time_claims),
        cmocka_unit_test(test_jwt_alg_none_and_others),
        cmocka_unit_test(test_jwt_bad_signature_and_garbage),
        cmocka_unit_test(test_jwt_claims_checked),
        cmocka_unit_test(test_jwt_public_keys),
        cmocka_unit_test(test_jwks_refused),
        cmocka_unit_test(test_scope_parse),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_job_status),
        cmocka_unit_test(test_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
