/* Signed URLs: a fuzzed signature never verifies unless it is the real one;
 * the real one always does. Input: job id, action, expiry, signature, one a
 * line. Then token_redact over the whole input as a backup: the size stays,
 * the token planted in it is gone, and nothing but base62 runs changes. */
#include "core/sign.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = fuzz_str(d, n);
    if (!s)
        return 0;
    char *f[4] = {"", "", "0", ""};
    char *p = s;
    for (int i = 0; i < 4 && p; i++) {
        f[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    struct sign_key k;
    sign_key_derive(&k, (const unsigned char *)"fuzz-secret-0123456789", 22);
    long long exp = strtoll(f[2], NULL, 10);
    char real[JP_SIG_HEX + 1];
    sign_make(&k, f[0], f[1], exp, real);
    enum sign_result r = sign_verify(&k, f[0], f[1], exp, exp - 1, f[3]);
    if (r == SIGN_OK)
        MUST(strcasecmp(f[3], real) == 0);
    MUST(sign_verify(&k, f[0], f[1], exp, exp, real) == SIGN_OK);
    char h[JP_SIG_HEX + 1];
    token_hash(s, h);
    MUST(strlen(h) == JP_SIG_HEX);
    free(s);
    /* the input with a token planted in its middle, as a backup */
    static const char tok[] = "Fuzz0Tok3nFuzz0Tok3nFuzz0Tok3n99";
    size_t half = n / 2, len = n + 2 + sizeof tok - 1;
    char *b = malloc(len), *orig = malloc(len);
    if (!b || !orig)
        abort();
    memcpy(b, d, half);
    b[half] = ' ';
    memcpy(b + half + 1, tok, sizeof tok - 1);
    b[half + sizeof tok] = ' ';
    memcpy(b + half + sizeof tok + 1, d + half, n - half);
    memcpy(orig, b, len);
    char th[JP_SIG_HEX + 1];
    token_hash(tok, th);
    size_t found = token_redact(b, len, sizeof tok - 1, th);
    MUST(found >= 1);
    MUST(memcmp(b + half + 1, tok, sizeof tok - 1) != 0); /* the planted copy is gone */
    for (size_t i = 0; i < len; i++)
        MUST(b[i] == orig[i] || (b[i] == '_' || (b[i] >= 'A' && b[i] <= 'Z')));
    free(b);
    free(orig);
    return 0;
}
