#include "core/seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const unsigned char MAGIC[4] = {'J', 'P', 'S', '1'};

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int seal_key_parse(const char *text, size_t n, struct seal_key *key)
{
    size_t a = 0, b = n;
    while (a < b && strchr(" \t\r\n", text[a]) && text[a])
        a++;
    while (b > a && strchr(" \t\r\n", text[b - 1]) && text[b - 1])
        b--;
    if (b - a == 2 * SEAL_KEY_LEN) {
        int ok = 1;
        for (size_t i = 0; i < SEAL_KEY_LEN && ok; i++) {
            int hi = hexval(text[a + 2 * i]), lo = hexval(text[a + 2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                key->k[i] = (unsigned char)(hi << 4 | lo);
        }
        if (ok)
            return 0;
    }
    if (n == SEAL_KEY_LEN) {
        memcpy(key->k, text, SEAL_KEY_LEN);
        return 0;
    }
    return -1;
}

static int gcm(bool enc, const struct seal_key *key, const unsigned char *nonce,
               const unsigned char *in, size_t n, unsigned char *out, unsigned char tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c && n <= 0x7fffffff &&
                      (enc ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->k, nonce)
                           : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->k, nonce)) == 1;
    /* the magic and the nonce are authenticated too */
    ok = ok && EVP_CipherUpdate(c, NULL, &len, MAGIC, sizeof MAGIC) == 1 &&
         EVP_CipherUpdate(c, NULL, &len, nonce, SEAL_NONCE_LEN) == 1;
    ok = ok && (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + (n ? len : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int seal(const struct seal_key *key, const unsigned char nonce[SEAL_NONCE_LEN], const void *in,
         size_t n, unsigned char *out)
{
    memcpy(out, MAGIC, sizeof MAGIC);
    memcpy(out + 4, nonce, SEAL_NONCE_LEN);
    return gcm(true, key, nonce, in, n, out + 4 + SEAL_NONCE_LEN, out + 4 + SEAL_NONCE_LEN + n);
}

int seal_open(const struct seal_key *key, const unsigned char *in, size_t n, char *out, size_t *len)
{
    *len = 0;
    if (n < SEAL_OVERHEAD || memcmp(in, MAGIC, sizeof MAGIC))
        return -1;
    size_t m = n - SEAL_OVERHEAD;
    unsigned char tag[16];
    memcpy(tag, in + n - 16, 16);
    if (gcm(false, key, in + 4, in + 4 + SEAL_NONCE_LEN, m, (unsigned char *)out, tag)) {
        OPENSSL_cleanse(out, m);
        return -1;
    }
    out[m] = '\0';
    *len = m;
    return 0;
}

void seal_digest(const struct seal_key *key, const void *data, size_t n, char out[65])
{
    /* a key of its own for the digest, derived from the sealing key */
    static const char label[] = "jobplane backup digest";
    unsigned char dk[32], mac[32];
    unsigned int l = 0;
    HMAC(EVP_sha256(), key->k, sizeof key->k, (const unsigned char *)label, sizeof label - 1, dk,
         &l);
    HMAC(EVP_sha256(), dk, sizeof dk, data, n, mac, &l);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
    out[64] = '\0';
    OPENSSL_cleanse(dk, sizeof dk);
}
