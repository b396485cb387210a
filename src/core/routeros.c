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

/* Replaces bytes that are not valid UTF-8, and control characters, with '?'. */
static void sanitize(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            s[i++] = '?';
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (i + len <= n && utf8_length(s + i, len) == 1) {
            i += len;
            continue;
        }
        s[i++] = '?';
    }
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
    sanitize(body, n);
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
    }
    return HB_OK;
}

/* ---- scripts ---------------------------------------------------------- */

#define SCRIPT_MAX (56 * 1024) /* far below fetch's 64 KB output=user limit */
#define POLICIES "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon"

static void local_str(struct sbuf *b, const char *name, const char *value)
{
    sbuf_printf(b, ":local %s ", name);
    ros_quote(b, value, strlen(value));
    sbuf_puts(b, "\n");
}

char *ros_render_bootstrap(const char *base_url, const char *adoption_token)
{
    struct sbuf b, url;
    sbuf_init(&b, 4096);
    sbuf_init(&url, 1024);
    sbuf_printf(&url, "%s/adopt/%s", base_url, adoption_token);
    /* /system routerboard is absent on CHR and x86: read through :parse, its
     * absence is a run-time error caught here, not a syntax error of the line */
    sbuf_puts(&b,
              "{:local s \"\"; :do {:set s [[:parse \"/system routerboard get serial-number\"]]}"
              " on-error={}; :local r [/tool fetch url=");
    ros_quote(&b, url.p ? url.p : "", url.len);
    sbuf_free(&url);
    sbuf_puts(&b,
              " http-method=post http-header-field=\"Content-Type:text/plain\" http-data=(\"name=\""
              " . [/system identity get name] . \";version=\" . [/system resource get version] ."
              " \";board-name=\" . [/system resource get board-name] . \";architecture-name=\" ."
              " [/system resource get architecture-name] . \";serial-number=\" . $s ."
              " \";uptime=\" . [/system resource get uptime]) check-certificate=yes-without-crl"
              " output=user as-value]; :local f [:parse ($r->\"data\")]; $f}");
    return sbuf_take(&b, NULL);
}

/* Reads the device token from its file (flash/ first: on devices that have
 * it, files elsewhere live in RAM); polls only with a token of the right
 * length, and says once per boot when there is none. */
#define READ_TOKEN                                                                                 \
    ":local jpTok \"\"\n"                                                                          \
    ":do { :set jpTok [/file get \"flash/" ROS_TOKEN_FILE "\" contents] } on-error={\n"            \
    "  :do { :set jpTok [/file get \"" ROS_TOKEN_FILE "\" contents] } on-error={}\n"               \
    "}\n"

char *ros_render_poll_script(const struct ros_poll_params *p)
{
    bool hold = p->wait > 0 && p->version >= ROS_V_IDLE_TIMEOUT;
    struct sbuf b, url;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_init(&url, 1024);
    if (hold)
        sbuf_printf(&url, "%s/poll?wait=%u", p->base_url, p->wait);
    else
        sbuf_printf(&url, "%s/poll", p->base_url);
    sbuf_puts(&b, "# jobplane-poll: heartbeat, then run what the server answers\n");
    local_str(&b, "jpUrl", url.p ? url.p : "");
    sbuf_free(&url);
    sbuf_puts(&b, READ_TOKEN);
    sbuf_printf(
        &b,
        ":local jpGo true\n"
        ":if ([:len $jpTok] != %zu) do={\n"
        "  :set jpGo false\n"
        "  :global jpNoToken\n"
        "  :if ($jpNoToken != true) do={ :set jpNoToken true; :log error \"jobplane: no device"
        " token in " ROS_TOKEN_FILE "; adopt this router again\" }\n"
        "}\n",
        strlen(p->device_token));
    sbuf_puts(
        &b, ":if ([:len [/system script job find where script=\"jobplane-poll\"]] > 1) do={ :set"
            " jpGo false }\n"
            ":if ([:typeof [:find [/system clock get date] \"1970\"]] = \"num\") do={ :set jpGo"
            " false }\n"
            ":if ($jpGo) do={\n"
            "  :local jpClean do={\n"
            "    :local s [:tostr $1]\n"
            "    :local o \"\"\n"
            "    :for i from=0 to=([:len $s] - 1) do={\n"
            "      :local c [:pick $s $i]\n"
            "      :if ($c = \";\" || $c = \"\\r\" || $c = \"\\n\") do={ :set c \",\" }\n"
            "      :set o ($o . $c)\n"
            "    }\n"
            "    :return $o\n"
            "  }\n"
            "  :local res [/system resource get]\n"
            "  :local lic [/system license get]\n"
            "  :local rb [:toarray \"\"]\n"
            "  :do { :set rb [[:parse \"/system routerboard get\"]] } on-error={}\n"
            "  :local lvl [:tostr ($lic->\"nlevel\")]\n"
            "  :if ($lvl = \"\") do={ :set lvl [:tostr ($lic->\"level\")] }\n"
            "  :local body (\"name=\" . [$jpClean [/system identity get name]] . \";version=\" ."
            " ($res->\"version\") . \";uptime=\" . [:tostr ($res->\"uptime\")] . \";cpu-load=\" ."
            " ($res->\"cpu-load\") . \";free-memory=\" . ($res->\"free-memory\") ."
            " \";free-hdd-space=\" . ($res->\"free-hdd-space\") . \";board-name=\" . [$jpClean"
            " ($res->\"board-name\")] . \";architecture-name=\" . ($res->\"architecture-name\") ."
            " \";serial-number=\" . ($rb->\"serial-number\") . \";model=\" . [$jpClean"
            " ($rb->\"model\")] . \";level=\" . $lvl)\n"
            "  :do {\n"
            "    :local r [/tool fetch url=$jpUrl http-method=post http-data=$body"
            " http-header-field=(\"Authorization:Bearer \" . $jpTok . \",Content-Type:text/plain\")"
            " check-certificate=yes-without-crl output=user as-value");
    if (hold)
        sbuf_printf(&b, " idle-timeout=%us", p->wait + 15);
    sbuf_puts(&b, "]\n"
                  "    :local code ($r->\"data\")\n"
                  "    :local mark \"" ROS_END_MARK "\"\n"
                  "    :if ((($r->\"status\") = \"finished\") && ([:pick $code ([:len $code] -"
                  " [:len $mark]) [:len $code]] = $mark)) do={\n"
                  "      :local f [:parse $code]\n"
                  "      :execute script=$code\n"
                  "    }\n"
                  "  } on-error={ :log warning \"jobplane: poll failed\" }\n"
                  "}\n");
    return sbuf_take(&b, NULL);
}

/* Removes the token file wherever an earlier adoption put it. */
#define REMOVE_TOKEN                                                                               \
    "/file remove [find where name=\"" ROS_TOKEN_FILE "\"]\n"                                      \
    "/file remove [find where name=\"flash/" ROS_TOKEN_FILE "\"]\n"

char *ros_render_adoption(const struct ros_poll_params *p)
{
    char *poll = ros_render_poll_script(p);
    if (!poll)
        return NULL;
    struct sbuf b;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_printf(&b, "# jobplane adoption answer, site %s\n", p->site_id);
    sbuf_puts(
        &b,
        "/system scheduler remove [find where name=\"jobplane-poll\"]\n"
        "/system script remove [find where name=\"jobplane-poll\"]\n"
        ":local jpTf \"" ROS_TOKEN_FILE "\"\n"
        ":if ([:len [/file find where name=\"flash\"]] > 0) do={ :set jpTf \"flash/" ROS_TOKEN_FILE
        "\" }\n" REMOVE_TOKEN "/file add name=$jpTf contents=");
    ros_quote(&b, p->device_token, strlen(p->device_token));
    sbuf_puts(&b, "\n"
                  ":local jpN 0\n"
                  ":while (([:len [/file find where name=$jpTf]] = 0) && ($jpN < 40)) do={ :delay"
                  " 250ms; :set jpN ($jpN + 1) }\n"
                  "/system script add name=\"jobplane-poll\" policy=" POLICIES " source=");
    ros_quote(&b, poll, strlen(poll));
    free(poll);
    sbuf_printf(&b,
                "\n/system scheduler add name=\"jobplane-poll\" interval=%us start-time=startup"
                " policy=" POLICIES " on-event=\"/system script run jobplane-poll\"\n"
                ":log info \"jobplane: adopted as site %s\"\n"
                ":put \"jobplane: adopted, polling every %us\"\n" ROS_END_MARK,
                p->interval, p->site_id, p->interval);
    return sbuf_take(&b, NULL);
}

static void signed_url(struct sbuf *b, const char *name, const struct ros_job_params *p,
                       const char *status, const char *sig)
{
    struct sbuf u;
    sbuf_init(&u, 1024);
    sbuf_printf(&u, "%s/job/%s/update?status=%s&expires=%lld&signature=%s", p->base_url, p->job_id,
                status, (long long)p->expires, sig);
    local_str(b, name, u.p ? u.p : "");
    sbuf_free(&u);
}

#define FETCH_OPTS "output=none check-certificate=yes-without-crl"

char *ros_render_wrapper(const struct ros_job_params *p)
{
    struct sbuf b;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_printf(&b, "# jobplane job %s\n", p->token);
    local_str(&b, "jpTok", p->token);
    signed_url(&b, "jpBusy", p, "busy", p->sig_busy);
    signed_url(&b, "jpDone", p, "done", p->sig_done);
    signed_url(&b, "jpFail", p, "fail", p->sig_fail);
    local_str(&b, "jpSrc", p->payload);
    sbuf_puts(&b, ":local jpOk true\n"
                  ":local jpCode\n"
                  ":do { /tool fetch url=$jpBusy " FETCH_OPTS " } on-error={}\n");
    if (p->should_backup && p->version && p->version < ROS_V_FILE_READ) {
        sbuf_puts(&b,
                  ":set jpOk false\n"
                  ":log error (\"Job \" . $jpTok . \": a backup needs RouterOS 7.13 or later\")\n");
    } else if (p->should_backup) {
        struct sbuf u;
        sbuf_init(&u, 1024);
        sbuf_printf(&u, "%s/backup/%s/upload?job=%s&expires=%lld&signature=%s", p->base_url,
                    p->site_id, p->job_id, (long long)p->expires, p->sig_backup);
        local_str(&b, "jpBak", u.p ? u.p : "");
        sbuf_free(&u);
        sbuf_puts(&b,
                  ":do {\n"
                  "  :local fn \"jobplane-backup.rsc\"\n"
                  "  /file remove [find where name=$fn]\n"
                  "  /export terse file=\"jobplane-backup\"\n"
                  "  :local n 0\n"
                  "  :while (([:len [/file find where name=$fn]] = 0) && ($n < 40)) do={ :delay"
                  " 250ms; :set n ($n + 1) }\n"
                  "  :local sz -1\n"
                  "  :while ($sz != [/file get $fn size]) do={ :set sz [/file get $fn size]; :delay"
                  " 1s }\n"
                  "  :local off 0\n"
                  "  :while ($off < $sz) do={\n"
                  "    :local chunk ([/file read file=$fn offset=$off chunk-size=32768"
                  " as-value]->\"data\")\n"
                  "    :if ([:len $chunk] = 0) do={ :error \"short read\" }\n"
                  "    /tool fetch url=($jpBak . \"&offset=\" . $off . \"&total=\" . $sz)"
                  " http-method=post http-data=$chunk "
                  "http-header-field=\"Content-Type:text/plain\" " FETCH_OPTS "\n"
                  "    :set off ($off + [:len $chunk])\n"
                  "  }\n"
                  "  /file remove $fn\n"
                  "} on-error={ :set jpOk false; :log error (\"Job \" . $jpTok . \": backup upload"
                  " failed\") }\n");
    }
    sbuf_printf(&b,
                ":if ($jpOk) do={\n"
                "  :do { :set jpCode [:parse $jpSrc] } on-error={ :set jpOk false; :log error"
                " (\"Job \" . $jpTok . \": payload does not parse\") }\n"
                "}\n"
                ":if ($jpOk) do={ :do { $jpCode } on-error={ :set jpOk false } }\n"
                ":if ($jpOk) do={\n"
                "  :do { /tool fetch url=$jpDone " FETCH_OPTS " } on-error={}\n"
                "} else={\n"
                "  :do { /tool fetch url=$jpFail " FETCH_OPTS " } on-error={}\n"
                "}\n"
                ":log info (\"Job \" . $jpTok . \" finished. Remaining: %ld\")\n" ROS_END_MARK,
                p->remaining);
    return sbuf_take(&b, NULL);
}

char *ros_render_idle(void)
{
    return strdup("# jobplane: nothing to do\n" ROS_END_MARK);
}

char *ros_render_teardown(const char *base_url, const char *device_token, const char *site_id)
{
    struct sbuf b, s;
    sbuf_init(&b, 8192);
    sbuf_init(&s, 1024);
    sbuf_printf(&b, "# jobplane teardown, site %s\n", site_id);
    sbuf_puts(&b, "/system scheduler remove [find where name=\"jobplane-poll\"]\n"
                  ":do { /tool fetch url=");
    sbuf_printf(&s, "%s/notify/delete", base_url);
    ros_quote(&b, s.p ? s.p : "", s.len);
    sbuf_free(&s);
    sbuf_printf(&s, "Authorization:Bearer %s", device_token);
    sbuf_puts(&b, " http-method=post http-header-field=");
    ros_quote(&b, s.p ? s.p : "", s.len);
    sbuf_free(&s);
    sbuf_puts(&b, " " FETCH_OPTS " } on-error={}\n"
                  ":log info \"jobplane: site removed, poll scheduler deleted\"\n" REMOVE_TOKEN
                  "/system script remove [find where name=\"jobplane-poll\"]\n" ROS_END_MARK);
    return sbuf_take(&b, NULL);
}
