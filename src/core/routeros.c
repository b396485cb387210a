#include "core/routeros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

/* ---- strings ---------------------------------------------------------- */

void ros_quote(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    sbuf_add(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hx[4];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '$': esc = "\\$"; break;
        case '?': esc = "\\3F"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                hx[0] = '\\';
                hx[1] = hex[c >> 4];
                hx[2] = hex[c & 15];
                hx[3] = '\0';
                esc = hx;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        sbuf_add(b, s + i - run, run);
        run = 0;
        sbuf_puts(b, esc);
    }
    sbuf_add(b, s + n - run, run);
    sbuf_add(b, "\"", 1);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *ros_unquote(const char **sp, size_t *len)
{
    const char *s = *sp;
    if (*s != '"')
        return NULL;
    s++;
    size_t cap = strlen(s) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    for (;;) {
        char c = *s++;
        if (c == '\0')
            goto bad;
        if (c == '"')
            break;
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        c = *s++;
        if (c == '\0') /* a backslash ends the text: nothing follows to decode */
            goto bad;
        switch (c) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '$': out[o++] = '$'; break;
        case '?': out[o++] = '?'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case '_': out[o++] = ' '; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'v': out[o++] = '\v'; break;
        default: {
            int hi = hexv(c), lo = hexv(*s);
            if (hi < 0 || lo < 0)
                goto bad;
            s++;
            out[o++] = (char)(hi * 16 + lo);
        }
        }
    }
    out[o] = '\0';
    *sp = s;
    if (len)
        *len = o;
    return out;
bad:
    free(out);
    return NULL;
}

char *ros_find_local(const char *script, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, ":local %s \"", name);
    const char *p = strstr(script, pat);
    if (!p)
        return NULL;
    p += strlen(pat) - 1;
    return ros_unquote(&p, NULL);
}

/* ---- durations and versions ------------------------------------------- */

#define ROS_DURATION_MAX (1000LL * 365 * 86400) /* a thousand years */

int64_t ros_duration(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t total = 0, num = 0;
    bool have = false, clock = false;
    const char *p = s;
    while (*p) {
        if (*p >= '0' && *p <= '9') {
            if (num > 1000000000000LL)
                return -1;
            num = num * 10 + (*p - '0');
            have = true;
            p++;
            continue;
        }
        if (!have)
            return -1;
        int64_t unit;
        switch (*p) {
        case 'w': unit = 604800; break;
        case 'd': unit = 86400; break;
        case 'h': unit = 3600; break;
        case 'm': unit = 60; break;
        case 's': unit = 1; break;
        case ':': {
            /* HH:MM:SS[.frac] closes the value */
            if (num > 1000000)
                return -1;
            int hh = (int)num, mm, ss;
            if (strlen(p) < 6 || p[0] != ':' || p[3] != ':' || p[1] < '0' || p[1] > '5' ||
                p[2] < '0' || p[2] > '9' || p[4] < '0' || p[4] > '5' || p[5] < '0' || p[5] > '9')
                return -1;
            mm = (p[1] - '0') * 10 + (p[2] - '0');
            ss = (p[4] - '0') * 10 + (p[5] - '0');
            p += 6;
            if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9')
                    p++;
            }
            if (*p)
                return -1;
            total += (int64_t)hh * 3600 + mm * 60 + ss;
            clock = true;
            have = false;
            continue;
        }
        default: return -1;
        }
        total += num * unit;
        if (total > ROS_DURATION_MAX) /* found by fuzzing: sums of huge units overflowed */
            return -1;
        num = 0;
        have = false;
        p++;
    }
    if (have && !clock)
        return -1; /* a number without a unit */
    return total > ROS_DURATION_MAX ? -1 : total;
}

int ros_version(const char *s)
{
    int part[3] = {0, 0, 0}, i = 0;
    if (!s || *s < '0' || *s > '9')
        return 0;
    while (i < 3) {
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9') {
            part[i] = part[i] * 10 + (*s - '0');
            if (part[i] > 99)
                return 0;
            s++;
        }
        i++;
        if (*s != '.')
            break;
        s++;
    }
    return part[0] * 10000 + part[1] * 100 + part[2];
}

/* ---- heartbeat -------------------------------------------------------- */

static const char *const known_keys[] = {
    "name",
    "serial-number",
    "architecture-name",
    "routerboard",
    "platform",
    "model",
    "board-name",
    "revision",
    "cpu",
    "cpu-count",
    "cpu-frequency",
    "cpu-load",
    "total-memory",
    "free-memory",
    "total-hdd-space",
    "free-hdd-space",
    "software-id",
    "build-time",
    "level",
    "nlevel",
    "version",
    "factory-software",
    "factory-firmware",
    "current-firmware",
    "upgrade-firmware",
    "firmware-type",
    "uptime",
    "identity",
    "bad-blocks",
    "jobplane-script",
    "jobplane-reboot",
    "jobplane-armed",
    "jobplane-reverted",
};

static int known_key(const char *seg, size_t keylen)
{
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (strlen(known_keys[i]) == keylen && !memcmp(known_keys[i], seg, keylen))
            return 1;
    return 0;
}

static int64_t num_or_minus(const char *v)
{
    if (!v || !*v || strlen(v) > 18 || strspn(v, "0123456789") != strlen(v))
        return -1;
    return strtoll(v, NULL, 10);
}

enum hb_result hb_parse(char *body, size_t n, struct heartbeat *hb)
{
    memset(hb, 0, sizeof *hb);
    hb->uptime = hb->cpu_load = hb->free_memory = hb->free_hdd = -1;
    if (n > HB_MAX_BYTES)
        return HB_TOO_LARGE;
    while (n && (body[n - 1] == '\n' || body[n - 1] == '\r'))
        n--;
    body[n] = '\0';
    text_sanitize(body, n, false);
    /* First pass: cut the body at the ';' before each known key. */
    const char *keys[HB_MAX_KEYS];
    char *vals[HB_MAX_KEYS];
    unsigned nk = 0;
    char *seg = body;
    char *prev_sep = NULL;
    for (;;) {
        char *sep = strchr(seg, ';');
        size_t seglen = sep ? (size_t)(sep - seg) : strlen(seg);
        char *eq = memchr(seg, '=', seglen);
        if (eq && known_key(seg, (size_t)(eq - seg))) {
            if (nk == HB_MAX_KEYS)
                return HB_TOO_MANY_KEYS;
            if (prev_sep)
                *prev_sep = '\0';
            *eq = '\0';
            keys[nk] = seg;
            vals[nk] = eq + 1;
            nk++;
        } else if (seglen && ++hb->nkeys > 4 * HB_MAX_KEYS) {
            return HB_TOO_MANY_KEYS; /* a flood of unknown segments */
        }
        if (!sep)
            break;
        prev_sep = sep;
        seg = sep + 1;
    }
    hb->nkeys = nk;
    for (unsigned i = 0; i < nk; i++) {
        const char *k = keys[i], *v = vals[i];
        if (!strcmp(k, "name") || !strcmp(k, "identity"))
            hb->name = v;
        else if (!strcmp(k, "version"))
            hb->version = v;
        else if (!strcmp(k, "serial-number"))
            hb->serial_number = v;
        else if (!strcmp(k, "model"))
            hb->model = v;
        else if (!strcmp(k, "board-name"))
            hb->board_name = v;
        else if (!strcmp(k, "architecture-name"))
            hb->architecture_name = v;
        else if (!strcmp(k, "uptime"))
            hb->uptime = ros_duration(v);
        else if (!strcmp(k, "cpu-load"))
            hb->cpu_load = num_or_minus(v);
        else if (!strcmp(k, "free-memory"))
            hb->free_memory = num_or_minus(v);
        else if (!strcmp(k, "free-hdd-space"))
            hb->free_hdd = num_or_minus(v);
        else if (!strcmp(k, "jobplane-script"))
            hb->script_rev = v;
        else if (!strcmp(k, "jobplane-reboot"))
            hb->reboot_token = v;
        else if (!strcmp(k, "jobplane-armed"))
            hb->armed_token = v;
        else if (!strcmp(k, "jobplane-reverted"))
            hb->reverted_token = v;
    }
    return HB_OK;
}
