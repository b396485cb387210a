/* The operator client's common parts: configuration, arguments, HTTP
 * (libcurl, one handle) and errors (see op.h); output and files are in
 * op_out.c. */
#include "cli/op.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/text.h"
#include "lib/opts.h"

#define BODY_MAX (64u << 20) /* the largest answer read (a backup is at most 16 MiB) */

/* ---- configuration ---------------------------------------------------- */

static int config_path(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n = xdg && *xdg ? snprintf(out, cap, "%s/jobplane/config", xdg)
            : home      ? snprintf(out, cap, "%s/.config/jobplane/config", home)
                        : -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Fills what is still unset of url and token from the config file: lines
 * "url = ..." and "token = ..."; # starts a comment. */
static void config_read(struct op *o)
{
    char path[4096], line[8192];
    if (config_path(path, sizeof path))
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *k = line + strspn(line, " \t"), *eq = strchr(k, '=');
        if (*k == '#' || !eq)
            continue;
        char *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        char *v = eq + 1 + strspn(eq + 1, " \t");
        v[strcspn(v, "\r\n")] = '\0';
        size_t vn = strlen(v);
        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
            v[--vn] = '\0';
        size_t kn = (size_t)(ke - k);
        if (kn == 3 && !strncmp(k, "url", 3) && !o->url)
            o->url = strdup(v);
        else if (kn == 5 && !strncmp(k, "token", 5) && !o->token)
            o->token = strdup(v);
    }
    fclose(f);
}

/* `jobplane config [--url U] [--token T]`: writes what is given into the
 * config file (mode 600), then shows what applies, the token masked. */
static int config_cmd(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", 1, 0, 'u'}, {"token", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *url = NULL, *token = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'u')
            url = optarg;
        else if (c == 't')
            token = optarg;
        else {
            FILE *f = c == 'h' ? stdout : stderr;
            fprintf(f, "usage: jobplane config [--url URL] [--token TOKEN]\n"
                       "Writes the given values to ~/.config/jobplane/config (mode 600) and\n"
                       "shows the configuration that applies: --url/--token, then\n"
                       "JP_URL/JP_TOKEN, then that file.\n");
            return c == 'h' ? OP_OK : OP_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "jobplane config: unexpected argument '%s'\n", argv[optind]);
        return OP_USAGE;
    }
    char path[4096];
    if (config_path(path, sizeof path)) {
        fprintf(stderr, "jobplane config: neither XDG_CONFIG_HOME nor HOME is set\n");
        return OP_USAGE;
    }
    struct op o = {0};
    if (url || token) {
        config_read(&o); /* keeps what is not replaced */
        if (url) {
            free(o.url);
            o.url = strdup(url);
        }
        if (token) {
            free(o.token);
            o.token = strdup(token);
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            mkdir(dir, 0700);
            *s = '/';
        }
        mode_t old = umask(077);
        FILE *f = fopen(path, "w");
        umask(old);
        if (!f || fprintf(f, "# jobplane's operator client (jobplane config)\n") < 0 ||
            (o.url && fprintf(f, "url = %s\n", o.url) < 0) ||
            (o.token && fprintf(f, "token = %s\n", o.token) < 0) || fclose(f)) {
            fprintf(stderr, "jobplane config: cannot write %s: %s\n", path, strerror(errno));
            free(o.url);
            free(o.token);
            return OP_API;
        }
        free(o.url);
        free(o.token);
        o.url = o.token = NULL;
        printf("wrote %s\n", path);
    }
    const char *eu = getenv("JP_URL"), *et = getenv("JP_TOKEN");
    o.url = eu && *eu ? strdup(eu) : NULL;
    o.token = et && *et ? strdup(et) : NULL;
    config_read(&o);
    const char *t = o.token ? o.token : "";
    printf("url   = %s\ntoken = %.8s%s\nfile  = %s\n",
           o.url ? o.url : "http://127.0.0.1:8080 (default)", t,
           strlen(t) > 8 ? "... (masked)"
           : *t          ? ""
                         : "(none)",
           path);
    free(o.url);
    free(o.token);
    return OP_OK;
}

/* ---- arguments -------------------------------------------------------- */

enum {
    O_URL = 1000,
    O_TOKEN,
    O_TEAM,
    O_UTC,
    O_KEY,
    O_STATUS,
    O_SEARCH,
    O_VERSION,
    O_SERIAL,
    O_NAME,
    O_EVENTS,
    O_SCOPES,
    O_EXPIRES,
    O_BACKUP,
    O_EXPRESS,
    O_NO_ACK,
    O_DRY_RUN,
    O_EXPECTS_REBOOT,
    O_CAPTURE_OUTPUT,
    O_CONFIRM_WITHIN,
    O_BACKUP_SENSITIVE,
    O_ONLINE,
    O_OFFLINE,
    O_LIMIT,
    O_TIMEOUT,
    O_INTERVAL,
    O_SITES,
    O_LAUNCH_AT,
    O_CANARY,
    O_WAVE_SIZE,
    O_WAVE_PERCENT,
    O_WAVE_INTERVAL,
    O_MAX_FAILURES,
    O_ABORT_IF_OFFLINE,
    O_TEMPLATE
};

static const struct option options[] = {
    {"url", 1, 0, O_URL},
    {"token", 1, 0, O_TOKEN},
    {"team", 1, 0, O_TEAM},
    {"json", 0, 0, 'j'},
    {"quiet", 0, 0, 'q'},
    {"utc", 0, 0, O_UTC},
    {"help", 0, 0, 'h'},
    {"description", 1, 0, 'd'},
    {"key", 1, 0, O_KEY},
    {"status", 1, 0, O_STATUS},
    {"search", 1, 0, O_SEARCH},
    {"version", 1, 0, O_VERSION},
    {"output", 1, 0, 'o'},
    {"serial", 1, 0, O_SERIAL},
    {"name", 1, 0, O_NAME},
    {"events", 1, 0, O_EVENTS},
    {"scopes", 1, 0, O_SCOPES},
    {"expires", 1, 0, O_EXPIRES},
    {"backup", 0, 0, O_BACKUP},
    {"express", 0, 0, O_EXPRESS},
    {"no-ack", 0, 0, O_NO_ACK},
    {"dry-run", 0, 0, O_DRY_RUN},
    {"expects-reboot", 0, 0, O_EXPECTS_REBOOT},
    {"capture-output", 0, 0, O_CAPTURE_OUTPUT},
    {"confirm-within", 1, 0, O_CONFIRM_WITHIN},
    {"backup-sensitive", 0, 0, O_BACKUP_SENSITIVE},
    {"online", 0, 0, O_ONLINE},
    {"offline", 0, 0, O_OFFLINE},
    {"limit", 1, 0, O_LIMIT},
    {"timeout", 1, 0, O_TIMEOUT},
    {"interval", 1, 0, O_INTERVAL},
    {"sites", 1, 0, O_SITES},
    {"launch-at", 1, 0, O_LAUNCH_AT},
    {"canary", 1, 0, O_CANARY},
    {"wave-size", 1, 0, O_WAVE_SIZE},
    {"wave-percent", 1, 0, O_WAVE_PERCENT},
    {"wave-interval", 1, 0, O_WAVE_INTERVAL},
    {"max-failures", 1, 0, O_MAX_FAILURES},
    {"abort-if-offline", 0, 0, O_ABORT_IF_OFFLINE},
    {"template", 1, 0, O_TEMPLATE},
    {0, 0, 0, 0},
};

/* One line of help per verb option, by name. */
static const struct {
    const char *name, *help;
} option_help[] = {
    {"description", "-d, --description TEXT  what it does (a job's: 3-100 characters)"},
    {"key", "--key UUID           idempotency key (default: a new one)"},
    {"status", "--status STATE       only jobs in STATE (pending, delivered, running, completed,\n"
               "                       failed, reverted)"},
    {"search", "--search TEXT        name or identity contains TEXT"},
    {"version", "--version V          RouterOS version V, V.x or \"V (channel)\""},
    {"output", "-o, --output FILE    write to FILE instead of standard output"},
    {"serial", "--serial SERIAL      only a router with this serial number may adopt it"},
    {"name", "--name NAME          a new name"},
    {"events", "--events LIST        comma-separated events (default: every event)"},
    {"scopes", "--scopes LIST        comma- or space-separated scopes (default: yours)"},
    {"expires", "--expires WHEN       RFC 3339 time or YYYY-MM-DD (default: never)"},
    {"backup", "--backup             take a configuration backup before the script runs"},
    {"express", "--express            wake a held poll of the router at once"},
    {"no-ack", "--no-ack             completed at delivery, no report expected"},
    {"dry-run", "--dry-run            the router parses the script and runs nothing"},
    {"expects-reboot", "--expects-reboot     the script restarts the router: done when it is back"},
    {"capture-output", "--capture-output     the router uploads what the script printed (7.13+)"},
    {"confirm-within",
     "--confirm-within S   the router restores its configuration unless it reaches\n"
     "                       the server within S seconds after the script (30-3600)"},
    {"backup-sensitive",
     "--backup-sensitive   the backup keeps passwords and keys (stored encrypted)"},
    {"online", "--online             only sites with a pulse"},
    {"offline", "--offline            only sites without a pulse"},
    {"limit", "--limit N            at most N (default: all)"},
    {"timeout", "--timeout S          give up after S seconds (exit 1; default: never)"},
    {"interval", "--interval S         seconds between looks (default 2)"},
    {"sites", "--sites LIST|@FILE|-  the site ids: comma-separated, or one a line in FILE or\n"
              "                       on standard input (jobplane site ls -q)"},
    {"launch-at", "--launch-at WHEN     RFC 3339 time, or +N[smhd] from now"},
    {"canary", "--canary SITE        run on this site first, alone; the rest only if it completes"},
    {"wave-size", "--wave-size N        then waves of N sites (default: all at once)"},
    {"wave-percent", "--wave-percent P     then waves of P % of the sites"},
    {"wave-interval", "--wave-interval S    seconds between the end of a wave and the next"},
    {"max-failures", "--max-failures N|P%  abort when this many jobs failed"},
    {"abort-if-offline", "--abort-if-offline   skip the sites offline at launch"},
    {"template", "--template ID        the script of a template instead of FILE"},
};

static bool takes(const struct op_verb *v, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = v->opts ? strstr(v->opts, name) : NULL; s; s = strstr(s + 1, name))
        if ((s == v->opts || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
            return true;
    return false;
}

static void verb_usage(FILE *f, const char *res, const struct op_verb *v)
{
    fprintf(f, "usage: jobplane %s %s%s%s [options]\n  %s\n", res, v->name, *v->args ? " " : "",
            v->args, v->help);
    for (size_t i = 0; i < sizeof option_help / sizeof *option_help; i++)
        if (takes(v, option_help[i].name))
            fprintf(f, "  %s\n", option_help[i].help);
    fprintf(f, "common options:\n"
               "  --url URL --token TOKEN  the server and credentials (default: JP_URL and\n"
               "                       JP_TOKEN, then ~/.config/jobplane/config)\n"
               "  --json               the API's JSON   -q, --quiet  ids only\n"
               "  --utc                times in UTC (default: local time)\n");
}

static void op_usage(FILE *f, const char *res, const struct op_verb *verbs, size_t n)
{
    fprintf(f, "usage: jobplane %s <command> [options]\n", res);
    for (size_t i = 0; i < n; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", verbs[i].name, verbs[i].args);
        fprintf(f, "  %-26s %s\n", head, verbs[i].help);
    }
    fprintf(f, "jobplane %s <command> --help: its options\n", res);
}

static const struct op_verb *verb_find(const char *res, const struct op_verb *verbs, size_t n,
                                       int argc, char **argv, int *rc)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") ||
        !strcmp(argv[0], "help")) {
        op_usage(argc < 1 ? stderr : stdout, res, verbs, n);
        *rc = argc < 1 ? OP_USAGE : OP_OK;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(verbs[i].name, argv[0]))
            return &verbs[i];
    fprintf(stderr, "jobplane %s: unknown command '%s'\n", res, argv[0]);
    op_usage(stderr, res, verbs, n);
    *rc = OP_USAGE;
    return NULL;
}

static int op_parse(struct op *o, const char *res, const struct op_verb *v, int argc, char **argv,
                    struct op_args *a)
{
    memset(a, 0, sizeof *a);
    a->online = -1;
    a->interval = 2;
    a->wave_interval = -1;
    a->confirm_within = -1;
    int c, idx;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":jqhd:o:", options, &idx)) != -1) {
        const char *name = NULL;
        for (const struct option *p = options; p->name; p++)
            if (p->val == c)
                name = p->name;
        if (c == '?' || c == ':') {
            fprintf(stderr, "jobplane %s %s: %s '%s'\n", res, v->name,
                    c == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return OP_USAGE;
        }
        if (c == 'h') {
            verb_usage(stdout, res, v);
            return -1;
        }
        bool common = c == 'j' || c == 'q' || (c >= O_URL && c <= O_UTC);
        if (!common && !takes(v, name)) {
            fprintf(stderr, "jobplane %s %s: --%s does not apply here\n", res, v->name, name);
            return OP_USAGE;
        }
        int bad = 0;
        switch (c) {
        case O_URL:
            free(o->url);
            o->url = strdup(optarg);
            break;
        case O_TOKEN:
            free(o->token);
            o->token = strdup(optarg);
            break;
        case O_TEAM: o->team = optarg; break;
        case 'j': o->json = true; break;
        case 'q': o->quiet = true; break;
        case O_UTC: o->utc = true; break;
        case 'd': a->description = optarg; break;
        case O_KEY: a->key = optarg; break;
        case O_STATUS: a->status = optarg; break;
        case O_SEARCH: a->search = optarg; break;
        case O_VERSION: a->version = optarg; break;
        case 'o': a->output = optarg; break;
        case O_SERIAL: a->serial = optarg; break;
        case O_NAME: a->name = optarg; break;
        case O_EVENTS: a->events = optarg; break;
        case O_SCOPES: a->scopes = optarg; break;
        case O_EXPIRES: a->expires = optarg; break;
        case O_BACKUP: a->backup = 1; break;
        case O_EXPRESS: a->express = 1; break;
        case O_NO_ACK: a->no_ack = 1; break;
        case O_DRY_RUN: a->dry_run = 1; break;
        case O_EXPECTS_REBOOT: a->expects_reboot = 1; break;
        case O_CAPTURE_OUTPUT: a->capture_output = 1; break;
        case O_CONFIRM_WITHIN: bad = opt_long(optarg, 30, 3600, &a->confirm_within); break;
        case O_BACKUP_SENSITIVE: a->backup_sensitive = 1; break;
        case O_ONLINE: a->online = 1; break;
        case O_OFFLINE: a->online = 0; break;
        case O_LIMIT: bad = opt_long(optarg, 1, 1000000000, &a->limit); break;
        case O_TIMEOUT: bad = opt_seconds(optarg, 1, 30L * 86400, &a->timeout); break;
        case O_INTERVAL: bad = opt_long(optarg, 1, 3600, &a->interval); break;
        case O_SITES: a->sites = optarg; break;
        case O_LAUNCH_AT: a->launch_at = optarg; break;
        case O_CANARY: a->canary = optarg; break;
        case O_WAVE_SIZE: bad = opt_long(optarg, 1, 10000000, &a->wave_size); break;
        case O_WAVE_PERCENT: bad = opt_long(optarg, 1, 100, &a->wave_percent); break;
        case O_WAVE_INTERVAL: bad = opt_seconds(optarg, 0, 30L * 86400, &a->wave_interval); break;
        case O_MAX_FAILURES: a->max_failures = optarg; break;
        case O_ABORT_IF_OFFLINE: a->abort_if_offline = 1; break;
        case O_TEMPLATE: a->template_id = optarg; break;
        }
        if (bad) {
            fprintf(stderr, "jobplane %s %s: invalid value '%s' for --%s\n", res, v->name, optarg,
                    name);
            return OP_USAGE;
        }
    }
    a->argv = argv;
    a->argc = argc;
    a->pos = optind;
    /* then the environment, then the file */
    const char *eu = getenv("JP_URL"), *et = getenv("JP_TOKEN");
    if (!o->url && eu && *eu)
        o->url = strdup(eu);
    if (!o->token && et && *et)
        o->token = strdup(et);
    config_read(o);
    if (!o->url)
        o->url = strdup("http://127.0.0.1:8080");
    if (!o->url || !o->token) {
        fprintf(stderr,
                "jobplane %s %s: no token: pass --token, set JP_TOKEN, or run jobplane"
                " config --token TOKEN\n",
                res, v->name);
        return OP_USAGE;
    }
    size_t n = strlen(o->url);
    while (n && o->url[n - 1] == '/')
        o->url[--n] = '\0';
    return OP_OK;
}

/* The positionals a verb's args name: "SITE [FILE|-]" is 1 or 2, "SITE
 * JOB..." 2 or more (max -1). */
static void arity(const char *args, int *min, int *max)
{
    *min = *max = 0;
    for (const char *s = args; *s;) {
        s += strspn(s, " ");
        size_t n = strcspn(s, " ");
        if (!n)
            break;
        if (*s != '[')
            ++*min;
        *max = *max < 0 || (n > 3 && !strncmp(s + n - 3, "...", 3)) ? -1 : *max + 1;
        s += n;
    }
}

static int positionals(const char *res, const struct op_verb *v, const struct op_args *a)
{
    int n = a->argc - a->pos, min, max;
    arity(v->args, &min, &max);
    if (n >= min && (max < 0 || n <= max))
        return OP_OK;
    fprintf(stderr, "jobplane %s %s: %s\n", res, v->name,
            n < min ? "missing arguments" : "too many arguments");
    verb_usage(stderr, res, v);
    return OP_USAGE;
}

const struct op_verb *op_begin(struct op *o, const char *res, const struct op_verb *verbs, size_t n,
                               int argc, char **argv, struct op_args *a, int *rc)
{
    const struct op_verb *v = verb_find(res, verbs, n, argc, argv, rc);
    if (v && ((*rc = op_parse(o, res, v, argc, argv, a)) || (*rc = positionals(res, v, a))))
        v = NULL;
    return v;
}

/* ---- HTTP --------------------------------------------------------------- */

void op_resp_clear(struct op_resp *r)
{
    free(r->body);
    free(r->next);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct op_resp *r = ctx;
    size_t add = size * n;
    if (r->len + add > BODY_MAX)
        return 0;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, add);
    r->body = b;
    r->len += add;
    b[r->len] = '\0';
    return add;
}

/* Link: <PATH>; rel="next" (the server's links are paths) */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct op_resp *r = ctx;
    size_t len = size * n;
    if (len > 6 && !strncasecmp(p, "Link:", 5)) {
        const char *lt = memchr(p, '<', len),
                   *gt = lt ? memchr(lt, '>', len - (size_t)(lt - p)) : NULL;
        if (gt && memmem(gt, len - (size_t)(gt - p), "rel=\"next\"", 10)) {
            free(r->next);
            r->next = strndup(lt + 1, (size_t)(gt - lt - 1));
        }
    }
    return len;
}

int op_request(struct op *o, const char *method, const char *path, const char *content_type,
               const char *body, size_t len, const char *const *headers, struct op_resp *r)
{
    memset(r, 0, sizeof *r);
    if (!o->curl && !(o->curl = curl_easy_init())) {
        fprintf(stderr, "jobplane: cannot start libcurl\n");
        return -1;
    }
    CURL *c = o->curl;
    curl_easy_reset(c);
    size_t ulen = strlen(o->url) + strlen(path) + 1;
    char *url = malloc(ulen), auth[8192], ct[256];
    if (!url)
        return -1;
    snprintf(url, ulen, "%s%s", o->url, path);
    struct curl_slist *h = NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
    h = curl_slist_append(h, auth);
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "jobplane-cli/" JOBPLANE_VERSION);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "jobplane: cannot reach %s: %s\n", o->url, curl_easy_strerror(rc));
        free(url);
        op_resp_clear(r);
        return -1;
    }
    free(url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body && !(r->body = calloc(1, 1)))
        return -1;
    return 0;
}

int op_fail(const struct op_resp *r)
{
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (code)
        fprintf(stderr, "jobplane: %s: %s (HTTP %ld)\n", code, msg ? msg : "", r->status);
    else
        fprintf(stderr, "jobplane: HTTP %ld: %.200s\n", r->status, r->body ? r->body : "");
    json_decref(j);
    return r->status == 404 ? OP_NOT_FOUND : OP_API;
}

int op_get_json(struct op *o, const char *path, json_t **out)
{
    return op_call(o, "GET", path, NULL, 200, out);
}

int op_call(struct op *o, const char *method, const char *path, const char *json_body, long want,
            json_t **out)
{
    struct op_resp r;
    *out = NULL;
    if (op_request(o, method, path, json_body ? "application/json" : NULL, json_body,
                   json_body ? strlen(json_body) : 0, NULL, &r))
        return OP_API;
    int rc = OP_OK;
    if (r.status != want)
        rc = op_fail(&r);
    else if (r.len && !(*out = json_loads(r.body, 0, NULL))) {
        fprintf(stderr, "jobplane: the answer to %s %s is not JSON\n", method, path);
        rc = OP_API;
    }
    op_resp_clear(&r);
    return rc;
}

int op_get_all(struct op *o, const char *path, json_t **out)
{
    *out = json_array();
    char *next = strdup(path);
    int rc = OP_OK;
    while (next && rc == OP_OK) {
        struct op_resp r;
        if (op_request(o, "GET", next, NULL, NULL, 0, NULL, &r)) {
            rc = OP_API;
            break;
        }
        free(next);
        next = NULL;
        json_t *page = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        if (r.status != 200)
            rc = op_fail(&r);
        else if (!json_is_array(page)) {
            fprintf(stderr, "jobplane: the answer to GET %s is not a JSON array\n", path);
            rc = OP_API;
        } else {
            json_array_extend(*out, page);
            next = r.next;
            r.next = NULL;
        }
        json_decref(page);
        op_resp_clear(&r);
    }
    free(next);
    if (rc != OP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int op_list(struct op *o, const char *path, long limit, long page, json_t **out)
{
    size_t n = strlen(path) + 32;
    char *p = malloc(n);
    if (!p)
        return OP_API;
    bool one = limit && limit <= page;
    snprintf(p, n, "%s%climit=%ld", path, strchr(path, '?') ? '&' : '?', one ? limit : page);
    int rc = one ? op_get_json(o, p, out) : op_get_all(o, p, out);
    free(p);
    while (rc == OP_OK && limit && json_array_size(*out) > (size_t)limit)
        json_array_remove(*out, json_array_size(*out) - 1);
    return rc;
}

int op_escape(const char *s, char *out, size_t cap)
{
    return url_encode(s, out, cap) < 0 ? -1 : 0;
}

/* ---- the team of the credentials ------------------------------------------ */

static int b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(a, s[i], 64);
        if (!p || !s[i])
            return -1;
        acc = acc << 6 | (unsigned)(p - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    out[o] = '\0';
    return (int)o;
}

const char *op_team(struct op *o, char *buf, size_t cap)
{
    if (o->team)
        return o->team;
    const char *t = o->token, *d1 = strchr(t, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2) { /* a JWT: the claims, unverified (the server verifies) */
        unsigned char claims[4096];
        json_t *j = NULL;
        if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), claims, sizeof claims) > 0)
            j = json_loads((const char *)claims, 0, NULL);
        const char *team = json_string_value(json_object_get(j, "team"));
        if (team && strlen(team) < cap)
            snprintf(buf, cap, "%s", team);
        json_decref(j);
        if (team)
            return buf;
    } else if (d1 == NULL && (d1 = strchr(t, ':')) && (d2 = strchr(d1 + 1, ':')) &&
               (size_t)(d2 - d1 - 1) < cap && d2 > d1 + 1) { /* an API key: id:team:secret */
        snprintf(buf, cap, "%.*s", (int)(d2 - d1 - 1), d1 + 1);
        return buf;
    }
    fprintf(stderr, "jobplane: cannot tell the team from the token: pass --team TEAM\n");
    return NULL;
}

/* ---- dispatch --------------------------------------------------------------- */

int op_main(const char *res, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct op *, int, char **);
    } resources[] = {{"site", op_site},        {"job", op_job}, {"backup", op_backup},
                     {"webhook", op_webhook},  {"key", op_key}, {"rollout", op_rollout},
                     {"template", op_template}};
    if (!strcmp(res, "config"))
        return config_cmd(argc, argv);
    for (size_t i = 0; i < sizeof resources / sizeof *resources; i++) {
        if (strcmp(resources[i].name, res))
            continue;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct op o = {0};
        int rc = resources[i].fn(&o, argc - 1, argv + 1);
        if (o.curl)
            curl_easy_cleanup(o.curl);
        free(o.url);
        free(o.token);
        curl_global_cleanup();
        return rc < 0 ? OP_OK : rc;
    }
    return OP_USAGE;
}
