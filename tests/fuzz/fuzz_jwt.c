/* JWT verification on anything: no crash; an accepted token has a team. A
 * token signed by us over a fuzzed payload verifies exactly when the payload
 * carries valid claims. The input read as a JWKS or PEM document: no crash,
 * and a refusal always says why. */
#include "core/jwt.h"
#include "fuzz.h"

static const unsigned char KEY[] = "fuzz-secret-0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = fuzz_str(d, n);
    if (!s)
        return 0;
    struct jwt_claims c;
    struct jwt_expect e = {.issuer = "iss", .audience = "aud", .leeway = 5};
    if (jwt_verify_hs256(s, KEY, sizeof KEY - 1, 1700000000, &e, &c) == JWT_OK)
        MUST(c.team[0] != '\0');
    char *tok = jwt_sign_hs256_alloc(s, KEY, sizeof KEY - 1);
    if (tok) {
        enum jwt_result r = jwt_verify_hs256(tok, KEY, sizeof KEY - 1, 1700000000, NULL, &c);
        MUST(r != JWT_BAD_SIGNATURE && r != JWT_BAD_ALG); /* our own signature always holds */
        free(tok);
    }
    struct jwt_keyset *ks = jwt_keyset_new();
    char err[200] = "";
    if (ks && jwt_keyset_add_jwks(ks, s, strlen(s), err, sizeof err))
        MUST(err[0] != '\0');
    err[0] = '\0';
    if (ks && jwt_keyset_add_pem(ks, s, strlen(s), err, sizeof err))
        MUST(err[0] != '\0');
    struct jwt_verifier v = {KEY, sizeof KEY - 1, ks};
    if (jwt_verify(s, &v, 1700000000, &e, &c) == JWT_OK)
        MUST(c.team[0] != '\0');
    jwt_keyset_free(ks);
    free(s);
    return 0;
}
