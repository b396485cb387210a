#include "lib/opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int opt_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int opt_seconds(const char *s, long min, long max, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    long unit = 1;
    switch (*end) {
    case '\0': break;
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return -1;
    }
    if (errno || (*end && end[1]) || v > max / unit || v * unit < min)
        return -1;
    *out = v * unit;
    return 0;
}

char *opt_secret(const char *flag_value, const char *file, char *err, size_t errlen)
{
    char *secret = NULL;
    const char *env = getenv("JOBPLANE_SECRET");
    if (flag_value && *flag_value) {
        secret = strdup(flag_value);
    } else if (env && *env) {
        secret = strdup(env);
    } else if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(err, errlen, "cannot read the secret file %s: %s", file, strerror(errno));
            return NULL;
        }
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        buf[n] = '\0';
        secret = strdup(buf);
    } else {
        snprintf(err, errlen, "no secret: pass --secret, set JOBPLANE_SECRET or use --secret-file");
        return NULL;
    }
    if (secret && strlen(secret) < JP_SECRET_MIN) {
        snprintf(err, errlen, "the secret must be at least %d characters long", JP_SECRET_MIN);
        free(secret);
        return NULL;
    }
    return secret;
}

char *opt_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 2);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed || n > max) {
        snprintf(err, errlen, failed ? "cannot read %s" : "%s is larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
