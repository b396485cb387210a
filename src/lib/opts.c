#include "lib/opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
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

static int push(struct opt_argv *a, const char *s, size_t n)
{
    char **v = realloc(a->argv, (size_t)(a->argc + 2) * sizeof *v);
    if (!v)
        return -1;
    a->argv = v;
    if (!(v[a->argc] = strndup(s, n)))
        return -1;
    v[++a->argc] = NULL;
    return 0;
}

void opt_argv_free(struct opt_argv *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    memset(a, 0, sizeof *a);
}

static char *trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The file's lines as options, appended to out. */
static int config_lines(const char *path, const struct option *longopts, struct opt_argv *out,
                        char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int no = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        no++;
        char *k = trim(line), *eq = strchr(k, '=');
        if (!*k || *k == '#')
            continue;
        if (!eq) {
            snprintf(err, errlen, "%s:%d: not a 'key = value' line", path, no);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *v = trim(eq + 1);
        k = trim(k);
        size_t vn = strlen(v);
        if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
            v[vn - 1] = '\0';
            v++;
        }
        const struct option *o = longopts;
        while (o->name && strcmp(o->name, k))
            o++;
        if (!o->name || !strcmp(k, "config") || !strcmp(k, "help")) {
            snprintf(err, errlen, "%s:%d: unknown option '%s'", path, no, k);
            rc = -1;
            break;
        }
        char opt[256];
        snprintf(opt, sizeof opt, "--%s", k);
        if (o->has_arg == no_argument) {
            bool on = !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on");
            if (!on && strcmp(v, "false") && strcmp(v, "no") && strcmp(v, "off")) {
                snprintf(err, errlen, "%s:%d: %s takes true or false, not '%s'", path, no, k, v);
                rc = -1;
            } else if (on) {
                rc = push(out, opt, strlen(opt));
            }
        } else {
            rc = push(out, opt, strlen(opt)) || push(out, v, strlen(v)) ? -1 : 0;
        }
    }
    if (rc == 0 && !feof(f)) {
        snprintf(err, errlen, "%s: a line is over %zu bytes, or the file cannot be read", path,
                 sizeof line - 1);
        rc = -1;
    }
    fclose(f);
    return rc;
}

int opt_config_expand(int argc, char **argv, const struct option *longopts, struct opt_argv *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *path = NULL;
    int at = -1, used = 0;
    for (int i = 1; i < argc && !path; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a file");
                return -1;
            }
            path = argv[i + 1];
            at = i;
            used = 2;
        } else if (!strncmp(argv[i], "--config=", 9)) {
            path = argv[i] + 9;
            at = i;
            used = 1;
        }
    }
    if (push(out, argv[0], strlen(argv[0])) ||
        (path && config_lines(path, longopts, out, err, errlen))) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        opt_argv_free(out);
        return -1;
    }
    for (int i = 1; i < argc; i++)
        if ((i < at || i >= at + used) && push(out, argv[i], strlen(argv[i]))) {
            snprintf(err, errlen, "out of memory");
            opt_argv_free(out);
            return -1;
        }
    return 0;
}
