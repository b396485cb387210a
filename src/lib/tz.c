/* A reader of TZif files (RFC 8536): the transitions and their offsets. */
#include "lib/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Names as tzdata has them: letters, digits, '_', '-', '+', and '/' between
 * parts (never "..", never a leading '/'). */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (!len || len > 63 || n[0] == '/' || strstr(n, ".."))
        return 0;
    return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/") == len;
}

int tz_offset(const char *name, int64_t t, int *offset)
{
    if (!name || !name_ok(name))
        return -1;
    const char *dir = getenv("JP_ZONEINFO");
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n < 44 || memcmp(buf, "TZif", 4))
        return -1;
    size_t at = 0, tsize = 4;
    uint32_t c[6];
    for (;;) {
        for (int i = 0; i < 6; i++)
            c[i] = be32(buf + at + 20 + 4 * i);
        /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
        size_t body = (size_t)c[3] * (tsize + 1) + (size_t)c[4] * 6 + c[5] +
                      (size_t)c[2] * (tsize + 4) + c[1] + c[0];
        if (at + 44 + body > n || !c[4])
            return -1;
        if (tsize == 4 && buf[4] >= '2') { /* the 64-bit block follows */
            at += 44 + body;
            tsize = 8;
            if (at + 44 > n || memcmp(buf + at, "TZif", 4))
                return -1;
            continue;
        }
        break;
    }
    const unsigned char *times = buf + at + 44, *idx = times + (size_t)c[3] * tsize,
                        *types = idx + c[3];
    size_t type = 0;
    for (uint32_t i = 0; i < c[3]; i++) {
        int64_t tt = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (tt > t)
            break;
        type = idx[i];
    }
    if (type >= c[4])
        return -1;
    *offset = (int32_t)be32(types + 6 * type);
    return 0;
}
