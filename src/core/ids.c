#include "core/ids.h"

#include <stdio.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";
static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void uuid_format(const unsigned char b[16], char out[JP_UUID_LEN + 1])
{
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexdig[b[i] >> 4];
        out[o++] = hexdig[b[i] & 15];
    }
    out[o] = '\0';
}

static void put_ms(unsigned char b[16], uint64_t ms)
{
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (8 * (5 - i)));
}

/* Adds one to the 74 bits of rand_a and rand_b, skipping the version and
 * variant bits. Returns 1 on overflow of those bits. */
static int increment_counter(unsigned char b[16])
{
    for (int i = 15; i >= 6; i--) {
        unsigned mask = 0xff, fixed = 0;
        if (i == 6) {
            mask = 0x0f;
            fixed = 0x70;
        }
        if (i == 8) {
            mask = 0x3f;
            fixed = 0x80;
        }
        unsigned v = (b[i] & mask) + 1;
        if (v <= mask) {
            b[i] = (unsigned char)(fixed | v);
            return 0;
        }
        b[i] = (unsigned char)fixed;
    }
    return 1;
}

void uuid7_next(struct uuid7_gen *gen, uint64_t now_ms,
                const unsigned char rnd[JP_UUID7_RANDOM_BYTES], char out[JP_UUID_LEN + 1])
{
    unsigned char b[16];
    if (now_ms > gen->last_ms) {
        put_ms(b, now_ms);
        memcpy(b + 6, rnd, JP_UUID7_RANDOM_BYTES);
        b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
        b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
        gen->last_ms = now_ms;
    } else {
        memcpy(b, gen->last, 16);
        if (increment_counter(b)) {
            gen->last_ms++;
            put_ms(b, gen->last_ms);
        }
    }
    memcpy(gen->last, b, 16);
    uuid_format(b, out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void uuid7_floor(uint64_t ms, char out[14])
{
    snprintf(out, 14, "%08llx-%04llx", (unsigned long long)(ms >> 16) & 0xffffffffULL,
             (unsigned long long)(ms & 0xffff));
}

uint64_t uuid7_millis(const char *uuid)
{
    uint64_t ms = 0;
    for (int i = 0, n = 0; n < 12 && uuid[i]; i++) {
        if (uuid[i] == '-')
            continue;
        int v = hexval(uuid[i]);
        if (v < 0)
            return 0;
        ms = (ms << 4) | (uint64_t)v;
        n++;
    }
    return ms;
}

int uuid_parse(const char *s, char out[JP_UUID_LEN + 1])
{
    if (!s || strlen(s) != JP_UUID_LEN)
        return -1;
    for (int i = 0; i < JP_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            out[i] = '-';
        } else {
            int v = hexval(s[i]);
            if (v < 0)
                return -1;
            out[i] = hexdig[v];
        }
    }
    out[JP_UUID_LEN] = '\0';
    return 0;
}

void uuid4_format(const unsigned char rnd[16], char out[JP_UUID_LEN + 1])
{
    unsigned char b[16];
    memcpy(b, rnd, 16);
    b[6] = (unsigned char)(0x40 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    uuid_format(b, out);
}

int base62_random(const unsigned char *rnd, size_t n, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < len; i++) {
        if (rnd[i] < 248) /* 248 = 4 * 62: keeps the choice uniform */
            out[o++] = b62[rnd[i] % 62];
    }
    out[o] = '\0';
    return o == len ? 0 : -1;
}

int token_base62(const unsigned char *rnd, size_t n, char out[JP_TOKEN_LEN + 1])
{
    return base62_random(rnd, n, out, JP_TOKEN_LEN);
}
