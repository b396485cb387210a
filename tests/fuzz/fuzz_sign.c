/* Signed URLs: a fuzzed signature never verifies unless it is the real one;
 * the real one always does. Input: job id, action, expiry, signature, one a
 * line. */
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
    return 0;
}
