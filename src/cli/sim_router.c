/* What one simulated router does: its HTTP requests, its adoption, the job
 * a poll brings (reports, backup upload), and the records of what was
 * delivered, from which duplicates, losses and express wakes are counted. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/sim.h"
#include "core/routeros.h"

void sim_sample(struct samples *v, double ms)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4096;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        if (!v->v)
            abort();
    }
    v->v[v->n++] = ms;
}

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

size_t sim_on_data(char *d, size_t sz, size_t nm, void *u)
{
    struct buf *b = u;
    size_t n = sz * nm;
    if (b->n + n + 1 > 4u * 1024 * 1024)
        return 0;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* One HTTP request; returns the status (0 on a transport error), body in out. */
long sim_http(CURL *c, const char *method, const char *url, const char *auth, const char *ctype,
              const char *body, size_t len, long timeout, struct buf *out)
{
    struct curl_slist *h = NULL;
    char line[600];
    if (auth) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth);
        h = curl_slist_append(h, line);
    }
    if (ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    out->n = 0;
    if (out->p)
        out->p[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static bool ours(struct sim *s, const char *url)
{
    for (int i = 0; url && i < s->nurls; i++)
        if (!strncmp(url, s->urls[i], strlen(s->urls[i])))
            return true;
    return false;
}

void sim_install(struct sim *s, struct router *r, const char *src)
{
    /* one copy per distinct script: a fleet installs one or two */
    pthread_mutex_lock(&s->scripts_mu);
    struct script_copy *c = s->scripts;
    while (c && strcmp(c->text, src))
        c = c->next;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->text = strdup(src)))
            abort();
        c->next = s->scripts;
        s->scripts = c;
    }
    pthread_mutex_unlock(&s->scripts_mu);
    r->script = c->text;
    char *rev = ros_find_local(src, "jpRev");
    snprintf(r->rev, sizeof r->rev, "%s", rev ? rev : "");
    free(rev);
    char *carried = ros_find_local(src, "jpTok");
    if (carried && *carried)
        snprintf(r->token, sizeof r->token, "%s", carried);
    else if (strstr(src, "[/file get \"" ROS_TOKEN_FILE "\" contents]"))
        snprintf(r->token, sizeof r->token, "%s", r->file_token);
    else
        r->token[0] = '\0';
    free(carried);
}

bool sim_compiles(const char *src, int version)
{
    if (version >= ROS_V_IDLE_TIMEOUT)
        return true;
    for (const char *at = strstr(src, "idle-timeout="); at; at = strstr(at + 1, "idle-timeout=")) {
        const char *line = at;
        while (line > src && line[-1] != '\n')
            line--;
        const char *parse = strstr(line, "[:parse \"");
        if (!parse || parse > at)
            return false;
    }
    return true;
}

int sim_setup_router(struct worker *w, long i)
{
    struct sim *s = w->s;
    struct router *r = &s->r[i];
    struct buf b = {0};
    char url[512], body[256];
    snprintf(r->name, sizeof r->name, "sim-%05ld", i);
    snprintf(url, sizeof url, "%s/sites", s->url);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", r->name);
    int ok = -1;
    char *poll = NULL, *tok = NULL;
    if (sim_http(w->c, "POST", url, s->op_token, "application/json", body, strlen(body), 30, &b) !=
        201)
        goto out;
    json_t *j = json_loads(b.p, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *boot = json_string_value(json_object_get(j, "bootstrap"));
    const char *at = boot ? strstr(boot, "/adopt/") : NULL;
    if (!id || !at) {
        json_decref(j);
        goto out;
    }
    snprintf(r->site_id, sizeof r->site_id, "%s", id);
    snprintf(url, sizeof url, "%s/adopt/%.22s", s->url, at + 7);
    json_decref(j);
    snprintf(body, sizeof body,
             "name=%s;version=%s;board-name=CHR;architecture-name=x86_64;uptime=00:00:%02ld",
             r->name, "7.16 (stable)", i % 60);
    r->version = 71600;
    r->boot_at = sim_now() - 3600 - (double)(i % 600);
    if (sim_http(w->c, "POST", url, NULL, "text/plain", body, strlen(body), 30, &b) != 200)
        goto out;
    /* The answer, as the router runs it: the token file, then the script. */
    const char *file = strstr(b.p, "/file add name=$jpTf contents=");
    const char *src = strstr(b.p, "/system script add name=\"jobplane-poll\" ");
    src = src ? strstr(src, " source=") : NULL;
    if (!file || !src)
        goto out;
    file += strlen("/file add name=$jpTf contents=");
    src += strlen(" source=");
    tok = ros_unquote(&file, NULL);
    poll = ros_unquote(&src, NULL);
    if (!tok || !poll || strlen(tok) >= sizeof r->file_token)
        goto out;
    snprintf(r->file_token, sizeof r->file_token, "%s", tok);
    sim_install(s, r, poll);
    ok = r->token[0] ? 0 : -1;
out:
    free(poll);
    free(tok);
    free(b.p);
    return ok;
}

void sim_record(struct sim *s, const char *site, const char *job, const char *what)
{
    if (!s->rec)
        return;
    pthread_mutex_lock(&s->rec_mu);
    fprintf(s->rec, "%s %s %s\n", what, site, job);
    fflush(s->rec);
    pthread_mutex_unlock(&s->rec_mu);
}

struct jid *sim_id_in(const struct idlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->id[i].id, id))
            return &l->id[i];
    return NULL;
}

void sim_id_add(struct idlist *l, const char *id, double a, double b)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void *p = realloc(l->id, cap * sizeof *l->id);
        if (!p)
            abort();
        l->id = p;
        l->cap = cap;
    }
    struct jid *j = &l->id[l->n++];
    snprintf(j->id, sizeof j->id, "%s", id);
    j->a = a;
    j->b = b;
}

/* An express wake: the poll that brought a queued job was open before the
 * job's create answered (t201); its wrapper arrived at t1. A wrapper that
 * arrived before the create's answer was read counts as no wait at all. */
void sim_woke(struct sim *s, double t0, double t1, double t201)
{
    if (t0 < t201)
        sim_sample(&s->wake, t1 > t201 ? (t1 - t201) * 1000 : 0);
}

/* Remembers a job delivered to r by the poll of t0 (answered at t1); returns
 * true when it was delivered before. A job belongs to one site, so a
 * per-router list finds every duplicate. */
static bool sim_seen_before(struct sim *s, struct router *r, const char *job, double t0, double t1)
{
    pthread_mutex_lock(&s->queue_mu); /* a queuer may look at r->seen */
    bool again = sim_id_in(&r->seen, job) != NULL;
    if (!again) {
        sim_id_add(&r->seen, job, t0, t1);
        struct jid *q = sim_id_in(&r->queued, job);
        if (q) {
            atomic_fetch_add(&s->delivered_queued, 1);
            atomic_fetch_sub(&r->undelivered, 1);
            s->t_delivered = sim_now();
            sim_woke(s, t0, t1, q->a);
        }
    }
    pthread_mutex_unlock(&s->queue_mu);
    return again;
}

/* A report, as the wrapper sends it: GET, or POST with the router's message
 * (msg not NULL). A refused one (409: its delivery is over) is counted. */
static bool report_msg(struct worker *w, const char *url, const char *msg)
{
    struct buf b = {0};
    long st = 0;
    if (ours(w->s, url))
        st = msg ? sim_http(w->c, "POST", url, NULL, "text/plain", msg, strlen(msg), 30, &b)
                 : sim_http(w->c, "GET", url, NULL, NULL, NULL, 0, 30, &b);
    else
        atomic_fetch_add(&w->s->foreign_urls, 1);
    if (st == 409)
        atomic_fetch_add(&w->s->refused, 1);
    free(b.p);
    return st == 200;
}

static bool report(struct worker *w, const char *url)
{
    return report_msg(w, url, NULL);
}

/* What a payload "prints": the text of each `:put "..."` in it, a line
 * each. */
static char *sim_output(const char *src)
{
    struct sbuf b;
    sbuf_init(&b, 256);
    for (const char *p = strstr(src, ":put \""); p; p = strstr(p, ":put \"")) {
        p += 5;
        char *v = ros_unquote(&p, NULL);
        if (!v)
            break;
        sbuf_printf(&b, "%s\n", v);
        free(v);
    }
    return sbuf_take(&b, NULL);
}

/* The final report of a job whose output is captured: the output (and the
 * failure's message) in 32 KiB chunks to the report's URL, as the wrapper
 * sends it. */
static bool report_output(struct worker *w, const char *url, const char *out)
{
    size_t len = strlen(out);
    if (!len)
        return report(w, url);
    if (!ours(w->s, url)) {
        atomic_fetch_add(&w->s->foreign_urls, 1);
        return false;
    }
    struct buf b = {0};
    bool ok = true;
    for (size_t off = 0; ok && off < len; off += 32768) {
        size_t n = len - off < 32768 ? len - off : 32768;
        char u[1100];
        snprintf(u, sizeof u, "%s&offset=%zu&total=%zu", url, off, len);
        long st = sim_http(w->c, "POST", u, NULL, "text/plain", out + off, n, 30, &b);
        if (st == 409)
            atomic_fetch_add(&w->s->refused, 1);
        ok = st == 200;
    }
    free(b.p);
    return ok;
}

/* Whether RouterOS would parse the payload, roughly: brackets, braces and
 * parentheses balance and every string is closed. */
static bool sim_parses(const char *src)
{
    int depth = 0;
    bool str = false;
    for (const char *c = src; *c; c++) {
        if (str) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '"')
                str = false;
            continue;
        }
        if (*c == '"')
            str = true;
        else if (*c == '{' || *c == '[' || *c == '(')
            depth++;
        else if ((*c == '}' || *c == ']' || *c == ')') && --depth < 0)
            return false;
    }
    return !str && depth == 0;
}

#define SIM_POLICIES "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon"

/* Uploads an export in 32 KiB chunks, as the wrapper's backup block does:
 * made-up configuration, and the installed poll script. */
static bool upload_backup(struct worker *w, struct router *r, const char *bak)
{
    struct sim *s = w->s;
    if (!ours(s, bak)) {
        atomic_fetch_add(&s->foreign_urls, 1);
        return false;
    }
    struct sbuf e;
    sbuf_init(&e, 1 << 20);
    /* the first line is the export's time, as RouterOS 7 writes it */
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&now, &tm));
    sbuf_printf(&e, "# %s by RouterOS 7.16\n# software id = SIM\n/system identity set name=%s\n",
                when, r->name);
    for (int i = 0; i < 1200; i++)
        sbuf_printf(&e, "/ip firewall address-list add address=10.%d.%d.%u list=sim-%u\n", i / 250,
                    i % 250, r->seq % 250, i % 7);
    /* /export writes every script's source, as /export terse prints it */
    sbuf_printf(&e,
                "/system scheduler add interval=%lds name=jobplane-poll on-event=\"/system script"
                " run jobplane-poll\" policy=" SIM_POLICIES " start-time=startup\n",
                s->interval);
    if (r->script) {
        sbuf_puts(&e, "/system script add dont-require-permissions=no name=jobplane-poll"
                      " owner=admin policy=" SIM_POLICIES " source=");
        ros_quote(&e, r->script, strlen(r->script));
        sbuf_puts(&e, "\n");
    }
    size_t len;
    char *text = sbuf_take(&e, &len);
    bool ok = text != NULL;
    struct buf b = {0};
    for (size_t off = 0; ok && off < len; off += 32768) {
        size_t n = len - off < 32768 ? len - off : 32768;
        char url[1024];
        snprintf(url, sizeof url, "%s&offset=%zu&total=%zu", bak, off, len);
        long st = sim_http(w->c, "POST", url, NULL, "text/plain", text + off, n, 30, &b);
        ok = st == 200 || st == 201;
    }
    free(b.p);
    free(text);
    return ok;
}

/* --restore: reads the job's backup back as the server stored it and
 * applies it as restoring it would: the export's poll script replaces the
 * installed one (the router's files stay as they are). */
static bool restore_backup(struct worker *w, struct router *r, const char *job)
{
    struct sim *s = w->s;
    struct buf b = {0};
    char url[512];
    bool ok = false;
    char *src = NULL;
    snprintf(url, sizeof url, "%s/site/%s/job/%s", s->url, r->site_id, job);
    json_t *j = sim_http(w->c, "GET", url, s->op_token, NULL, NULL, 0, 30, &b) == 200
                    ? json_loads(b.p, 0, NULL)
                    : NULL;
    const char *assoc = json_string_value(json_object_get(j, "associated_backup"));
    if (assoc) {
        snprintf(url, sizeof url, "%s/backup/%s", s->url, assoc);
        json_decref(j);
        j = sim_http(w->c, "GET", url, s->op_token, NULL, NULL, 0, 30, &b) == 200
                ? json_loads(b.p, 0, NULL)
                : NULL;
        const char *text = json_string_value(json_object_get(j, "content"));
        const char *line = text ? strstr(text, "\n/system script add ") : NULL;
        const char *at = line ? strstr(line, " name=jobplane-poll ") : NULL;
        at = at ? strstr(at, " source=") : NULL;
        if (at) {
            at += strlen(" source=");
            src = ros_unquote(&at, NULL);
        }
    }
    if (src) {
        sim_install(s, r, src);
        curl_slist_free_all(r->hdr); /* the next poll sends what the restored script sends */
        r->hdr = NULL;
        ok = true;
    }
    free(src);
    json_decref(j);
    free(b.p);
    return ok;
}

void sim_run_job(struct worker *w, struct router *r, const char *script, double t0, double t1)
{
    struct sim *s = w->s;
    char *id = NULL, *busy = ros_find_local(script, "jpBusy"),
         *done = ros_find_local(script, "jpDone"), *fail = ros_find_local(script, "jpFail"),
         *src = ros_find_local(script, "jpSrc"), *bak = ros_find_local(script, "jpBak");
    const char *p = busy ? strstr(busy, "/job/") : NULL;
    if (p)
        id = strndup(p + 5, 36);
    if (!id || !done || !fail || !src) {
        atomic_fetch_add(&s->report_errors, 1);
        goto out;
    }
    atomic_fetch_add(&s->jobs, 1);
    char *tok = ros_find_local(script, "jpTok");
    struct jid *ran = tok ? sim_id_in(&r->ran, tok) : NULL;
    if (ran) { /* the wrapper finds the token in jobplane-jobs.txt: it reports what it remembers */
        atomic_fetch_add(&s->remembered, 1);
        sim_record(s, r->site_id, id, "remembered");
        if (!report(w, ran->a > 0 ? done : fail))
            atomic_fetch_add(&s->report_errors, 1);
        free(tok);
        goto out;
    }
    if (sim_seen_before(s, r, id, t0, t1)) {
        atomic_fetch_add(&s->duplicates, 1);
        sim_record(s, r->site_id, id, "DUPLICATE");
    }
    sim_record(s, r->site_id, id, "delivered");
    if (!report(w, busy))
        atomic_fetch_add(&s->report_errors, 1);
    bool ok = true;
    if (bak) {
        ok = upload_backup(w, r, bak);
        atomic_fetch_add(ok ? &s->backups : &s->backup_errors, 1);
        if (ok && s->restore)
            atomic_fetch_add(restore_backup(w, r, id) ? &s->restores : &s->restore_errors, 1);
    }
    /* The payload is parsed, then "runs" (unless this is a dry run): it
     * fails when it raises an error, or by --fail-rate; one that adds, sets
     * or removes anything changes the configuration; one that expects a
     * reboot leaves its token for the heartbeats, and /system reboot
     * restarts the router (it polls again 2 s later, its uptime from 0). */
    const char *msg = NULL;
    bool dry = strstr(script, ": dry run: ") != NULL,
         later = strstr(script, "contents=$jpTok") != NULL;
    const char *cw = strstr(script, "[:timestamp] + "); /* a confirmation window */
    if (ok && !sim_parses(src)) {
        ok = false;
        msg = "the payload does not parse: syntax error (simulated)";
    }
    if (dry && ok)
        atomic_fetch_add(&s->dry_runs, 1);
    if (cw && !dry && ok && tok) {
        snprintf(r->revert_token, sizeof r->revert_token, "%s", tok);
        r->revert_state = 'r';
        r->revert_armed = true;
        r->revert_at = sim_now() + (double)strtol(cw + strlen("[:timestamp] + "), NULL, 10);
    }
    if (!dry && ok &&
        (strstr(src, ":error") || (double)rand_r(&w->seed) / RAND_MAX < s->fail_rate)) {
        ok = false;
        msg = "the payload failed: an error (simulated)";
    }
    if (!dry && ok && (strstr(src, " add ") || strstr(src, " set ") || strstr(src, " remove ")))
        r->seq++;
    if (tok)
        sim_id_add(&r->ran, tok, ok ? 1 : 0, 0);
    /* confirm-or-revert: armed before the payload runs, waiting after it;
     * --cut-off-rate: the change cut the router off, which polls no more
     * until its revert restores the configuration */
    if (cw && !dry && tok && r->revert_state == 'r') {
        r->revert_state = 'w';
        if (ok) {
            sim_record(s, r->site_id, id, "ran");
            atomic_fetch_add(&s->done, 1);
            if ((double)rand_r(&w->seed) / RAND_MAX < s->cut_off_rate) {
                atomic_fetch_add(&s->cut_offs, 1);
                r->next = r->revert_at + 0.5;
            }
            free(tok);
            goto out;
        }
    }
    if (later && ok) {
        snprintf(r->reboot_token, sizeof r->reboot_token, "%s", tok ? tok : "");
        if (strstr(src, "/system reboot")) {
            r->boot_at = sim_now();
            r->next = r->boot_at + 2;
            atomic_fetch_add(&s->reboots, 1);
        }
        sim_record(s, r->site_id, id, "ran");
        free(tok);
        atomic_fetch_add(&s->done, 1);
        goto out;
    }
    free(tok);
    bool captured = strstr(script, ":execute script=") != NULL;
    bool reported;
    if (captured) {
        char *out = sim_output(src);
        struct sbuf o;
        sbuf_init(&o, 256);
        sbuf_puts(&o, out ? out : "");
        if (!ok)
            sbuf_printf(&o, "[jobplane: %s]\n", msg ? msg : "");
        char *text = sbuf_take(&o, NULL);
        reported = text && report_output(w, ok ? done : fail, text);
        free(text);
        free(out);
    } else {
        reported = report_msg(w, ok ? done : fail, ok ? NULL : msg ? msg : "");
    }
    if (!reported)
        atomic_fetch_add(&s->report_errors, 1);
    else
        sim_record(s, r->site_id, id, ok ? (dry ? "dry-run" : "done") : "fail");
    atomic_fetch_add(ok ? &s->done : &s->failed, 1);
out:
    free(id);
    free(busy);
    free(done);
    free(fail);
    free(src);
    free(bak);
}

/* The answer that disarms a revert: the scheduler and the file go, and a
 * job that did not fail is confirmed by its done report. */
void sim_disarm(struct worker *w, struct router *r, const char *answer)
{
    struct sim *s = w->s;
    r->revert_token[0] = '\0';
    r->revert_state = 0;
    r->revert_armed = false;
    char *done = ros_find_local(answer, "jpDone");
    if (done) {
        if (!ours(s, done))
            atomic_fetch_add(&s->foreign_urls, 1);
        else if (report(w, done))
            atomic_fetch_add(&s->confirmed, 1);
        else
            atomic_fetch_add(&s->report_errors, 1);
    }
    free(done);
}
