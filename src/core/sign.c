#include "core/sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void sign_key_derive(struct sign_key *key, const unsigned char *secret, size_t len)
{
    static const char label[] = "jobplane signed device URLs v1";
    unsigned n = 0;
    HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)label, sizeof label - 1, key->k,
         &n);
}

static void mac(const struct sign_key *key, const char *job_id, const char *action, int64_t expires,
                unsigned char out[32])
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%lld", job_id, action, (long long)expires);
    unsigned len = 0;
    HMAC(EVP_sha256(), key->k, sizeof key->k, (const unsigned char *)msg,
         (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1), out, &len);
}

void sign_make(const struct sign_key *key, const char *job_id, const char *action, int64_t expires,
               char out[JP_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char m[32];
    mac(key, job_id, action, expires, m);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[m[i] >> 4];
        out[2 * i + 1] = hex[m[i] & 15];
    }
    out[JP_SIG_HEX] = '\0';
}

void token_hash(const char *token, char out[JP_SIG_HEX + 1])
{
    sha256_hex(token, strlen(token), out);
}

enum sign_result sign_verify(const struct sign_key *key, const char *job_id, const char *action,
                             int64_t expires, int64_t now, const char *sig)
{
    char want[JP_SIG_HEX + 1];
    if (!sig || strlen(sig) != JP_SIG_HEX)
        return SIGN_BAD;
    sign_make(key, job_id, action, expires, want);
    char lower[JP_SIG_HEX + 1];
    for (int i = 0; i <= JP_SIG_HEX; i++)
        lower[i] = (char)((sig[i] >= 'A' && sig[i] <= 'F') ? sig[i] + 32 : sig[i]);
    if (CRYPTO_memcmp(want, lower, JP_SIG_HEX) != 0)
        return SIGN_BAD;
    return now > expires ? SIGN_EXPIRED : SIGN_OK;
}

void sha256_hex(const void *data, size_t n, char out[JP_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];
    unsigned len = 0;
    EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[JP_SIG_HEX] = '\0';
}

static bool base62(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

size_t token_redact(char *text, size_t n, size_t len, const char *hash)
{
    size_t found = 0;
    char tok[128], h[JP_SIG_HEX + 1];
    if (!len || len >= sizeof tok)
        return 0;
    for (size_t i = 0; i < n;) {
        if (!base62((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && base62((unsigned char)text[j]))
            j++;
        if (j - i == len) {
            memcpy(tok, text + i, len);
            tok[len] = '\0';
            token_hash(tok, h);
            if (CRYPTO_memcmp(h, hash, JP_SIG_HEX) == 0) {
                for (size_t k = 0; k < len; k++)
                    text[i + k] = k < sizeof JP_REDACTED - 1 ? JP_REDACTED[k] : '_';
                found++;
            }
        }
        i = j;
    }
    return found;
}

int pem_cert_fingerprint(const char *pem, size_t n, char out[JP_SIG_HEX + 1])
{
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    int ok = x && X509_digest(x, EVP_sha256(), md, &len) == 1 && len == 32;
    X509_free(x);
    BIO_free(bio);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void sign_action(const char *report, int64_t delivery, char out[SIGN_ACTION_MAX])
{
    if (delivery)
        snprintf(out, SIGN_ACTION_MAX, "%s@%lld", report, (long long)delivery);
    else
        snprintf(out, SIGN_ACTION_MAX, "%s", report);
}
