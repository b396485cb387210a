/* The device API: adoption, poll (with held polls), job reports, backup
 * uploads and the teardown confirmation. Routers speak RouterOS: answers are
 * text/plain scripts that end with ROS_END_MARK. */
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/routeros.h"
#include "core/text.h"
#include "lib/log.h"

int api_random_token(char *out, size_t len)
{
    unsigned char rnd[128];
    for (int attempt = 0; attempt < 4; attempt++) {
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return -1;
        if (base62_random(rnd, sizeof rnd, out, len) == 0)
            return 0;
    }
    return -1;
}

int api_bootstrap_new(const struct app *app, struct bootstrap *b)
{
    if (api_random_token(b->token, JP_ADOPTION_TOKEN_LEN))
        return -1;
    token_hash(b->token, b->hash);
    b->line.hash = b->hash;
    b->line.expires_at = (int64_t)time(NULL) + app->adoption_ttl;
    return 0;
}

void api_bootstrap_json(struct http_req *req, const struct bootstrap *b, json_t *j)
{
    const struct app *app = req->app;
    const char *base = http_base_url(req->srv);
    char url[1024];
    snprintf(url, sizeof url, "%s/ca.pem", base);
    struct ros_ca_pin pin = {.fingerprint = app->ca_fingerprint, .url = url};
    /* the CA is pinned where the router checks the server's certificate */
    bool pinned = app->ca_pem && !strncmp(base, "https://", 8);
    char *boot = ros_render_bootstrap(base, b->token, pinned ? &pin : NULL);
    char at[JP_RFC3339_LEN + 1];
    rfc3339_format(b->line.expires_at, at);
    json_object_set_new(j, "bootstrap", boot ? json_string(boot) : json_null());
    json_object_set_new(j, "bootstrap_expires_at", json_string(at));
    free(boot);
}

/* Failed adoptions are limited per client address; an IPv6 client by its
 * /64, which one host usually has to itself. */
static const char *adopter_key(struct http_req *req, char *buf, size_t cap)
{
    char ip[64];
    http_client_ip(req, ip, sizeof ip);
    unsigned char a[16];
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, a) == 1) {
        memset(a + 8, 0, 8);
        char net[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a, net, sizeof net);
        snprintf(buf, cap, "%s/64", net);
    } else {
        snprintf(buf, cap, "%s", ip);
    }
    return buf;
}

bool api_adoption_allowed(struct http_req *req)
{
    struct app *app = req->app;
    char key[80];
    unsigned wait =
        app->adopt_fails
            ? ratelimit_wait(app->adopt_fails, adopter_key(req, key, sizeof key), api_mono_s())
            : 0;
    if (wait) {
        atomic_fetch_add(&app->adopt.limited, 1);
        api_reply_rate_limited(req, wait, "Too many failed adoptions from this address.");
    }
    return !wait;
}

void api_adoption_failed(struct http_req *req)
{
    struct app *app = req->app;
    char key[80];
    atomic_fetch_add(&app->adopt.refused, 1);
    if (app->adopt_fails)
        ratelimit_take(app->adopt_fails, adopter_key(req, key, sizeof key), api_mono_s());
}

static void reply_script(struct http_req *req, char *text)
{
    if (!text) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    http_reply(req, 200, "text/plain; charset=utf-8", text, strlen(text));
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Heartbeat facts from a parsed body and the client address. */
static void facts_of(const struct heartbeat *hb, const char *from, struct device_facts *f)
{
    *f = (struct device_facts){
        .identity = hb->name,
        .software_version = hb->version,
        .serial_number = hb->serial_number && *hb->serial_number ? hb->serial_number : NULL,
        .model = hb->model && *hb->model ? hb->model : NULL,
        .board_name = hb->board_name,
        .architecture_name = hb->architecture_name,
        .from = from,
        .uptime = hb->uptime,
        .cpu_load = hb->cpu_load,
        .memory_free = hb->free_memory,
        .disk_free = hb->free_hdd,
    };
}

/* Parses the heartbeat body in place; answers 413/422 and returns -1 when bad. */
static int parse_heartbeat(struct http_req *req, struct heartbeat *hb)
{
    char empty[1] = "";
    enum hb_result r = req->body ? hb_parse(req->body, req->body_len, hb) : hb_parse(empty, 0, hb);
    if (r == HB_TOO_LARGE) {
        http_reply_error(req, JP_ERR_PAYLOAD_TOO_LARGE, "The heartbeat body is too large.");
        return -1;
    }
    if (r == HB_TOO_MANY_KEYS) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "The heartbeat has too many keys.");
        return -1;
    }
    return 0;
}

void api_device_adopt(struct http_req *req)
{
    struct app *app = req->app;
    const char *tok = http_param(req, "token"); /* its form was checked by api_authenticate */
    struct heartbeat hb;
    if (parse_heartbeat(req, &hb))
        return;
    char ip[64], hash[JP_SIG_HEX + 1], device[JP_DEVICE_TOKEN_LEN + 1], dhash[JP_SIG_HEX + 1];
    struct device_facts f;
    facts_of(&hb, http_client_ip(req, ip, sizeof ip), &f);
    token_hash(tok, hash);
    if (api_random_token(device, JP_DEVICE_TOKEN_LEN)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    token_hash(device, dhash);
    struct site site;
    enum adopt_refusal why;
    enum store_result r = store_site_adopt(app->store, hash, dhash, &f, &site, &why);
    if (r == STORE_NOT_FOUND) {
        api_adoption_failed(req);
        const char *serial = f.serial_number ? f.serial_number : "none";
        if (why == ADOPT_UNKNOWN)
            log_ev(LOG_WARN, "adoption.refused", req->request_id, NULL, NULL,
                   "adoption refused from %s: unknown bootstrap line", ip);
        else
            log_ev(LOG_WARN, "adoption.refused", req->request_id, site.id, NULL,
                   "site %s: adoption refused from %s (%s; serial %s)", site.id, ip,
                   adopt_refusals[why], serial);
        if (why == ADOPT_WRONG_SERIAL)
            http_reply_error(req, JP_ERR_FORBIDDEN,
                             "This site accepts only the router with its expected serial number.");
        else /* used and expired lines answer as unknown ones */
            http_reply_error(req, JP_ERR_RESOURCE_MISSING,
                             "Unknown, used or expired adoption token.");
        site_clear(&site);
        return;
    }
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    atomic_fetch_add(&app->adopt.ok, 1);
    log_ev(LOG_INFO, "site.adopted", req->request_id, site.id, NULL,
           "site %s adopted from %s (RouterOS %s, serial %s)", site.id, ip,
           hb.version ? hb.version : "unknown", f.serial_number ? f.serial_number : "none");
    struct ros_poll_params p = {
        .base_url = http_base_url(req->srv),
        .device_token = device,
        .site_id = site.id,
        .interval = app->poll_interval,
        .wait = app->poll_wait,
    };
    reply_script(req, ros_render_adoption(&p));
    site_clear(&site);
}

/* The signed report URLs of a job's delivery. */
struct job_sigs {
    char busy[JP_SIG_HEX + 1], done[JP_SIG_HEX + 1], fail[JP_SIG_HEX + 1], bak[JP_SIG_HEX + 1];
};

static struct ros_job_params job_params(struct http_req *req, const struct job *j,
                                        struct job_sigs *g)
{
    struct app *app = req->app;
    int64_t expires = now_s() + app->url_ttl;
    char action[SIGN_ACTION_MAX];
    /* the reports name their delivery: one of an earlier delivery is refused */
    sign_action("busy", j->delivered_at, action);
    sign_make(&app->sign, j->id, action, expires, g->busy);
    sign_action("done", j->delivered_at, action);
    sign_make(&app->sign, j->id, action, expires, g->done);
    sign_action("fail", j->delivered_at, action);
    sign_make(&app->sign, j->id, action, expires, g->fail);
    sign_make(&app->sign, j->id, "backup", expires, g->bak);
    return (struct ros_job_params){
        .base_url = http_base_url(req->srv),
        .job_id = j->id,
        .token = j->token,
        .site_id = j->site_id,
        .payload = j->script,
        .sig_busy = g->busy,
        .sig_done = g->done,
        .sig_fail = g->fail,
        .sig_backup = g->bak,
        .expires = expires,
        .delivery = j->delivered_at,
        .should_backup = j->should_backup,
        .dry_run = j->dry_run,
        .expects_reboot = j->expects_reboot,
        .capture_output = j->capture_output,
        .backup_sensitive = j->backup_sensitive,
        .confirm_within = (long)j->confirm_within,
        .output_max = (long)app->output_max,
    };
}

static char *render_job(struct http_req *req, const struct job *j, long remaining, int version)
{
    struct job_sigs g;
    struct ros_job_params p = job_params(req, j, &g);
    p.remaining = remaining;
    p.version = version;
    return ros_render_wrapper(&p);
}

/* j: the job (NULL when this server does not know the token) */
static char *render_disarm(struct http_req *req, const struct job *j, const char *token)
{
    if (!j) {
        struct ros_job_params p = {.token = token};
        return ros_render_disarm(&p, false);
    }
    struct job_sigs g;
    struct ros_job_params p = job_params(req, j, &g);
    enum job_status st = job_status_of(j);
    return ros_render_disarm(&p, st == JOB_DELIVERED || st == JOB_RUNNING);
}

/* ---- the poll ----------------------------------------------------------
 *
 * A poll runs as these steps, each a function below:
 *   api_device_poll   every run of the handler: its first, and each after a
 *                     held wait ends (woken, deadline, client gone); the
 *                     device token was checked (api_authenticate) just before
 *   poll_begin        first run only: ?wait, the teardown of a deleted site,
 *                     the heartbeat
 *   poll_look         is there a job to hand out? (a read)
 *   poll_claim        yes: the dispatch, a write the request waits for
 *                     without a thread (poll_claimed runs once it committed)
 *   poll_deliver      the job's wrapper is the answer
 *   poll_hold         no job: answer idle, or hold the request until a job
 *                     is queued for the site or ?wait seconds pass
 * The state between runs is the request's: its hold deadline (0 without
 * ?wait), whether it is registered under its site, and why it runs again. */

static void poll_look(struct http_req *req);

/* A poll waiting for its dispatch to commit. */
struct poll_wait {
    struct api_wait w;
    struct job j;
    long remaining;
};

static void poll_wait_clear(void *p)
{
    job_clear(&((struct poll_wait *)p)->j);
}

/* Answers the poll: a store error, or the idle script. */
static void poll_finish(struct http_req *req, enum store_result r)
{
    if (req->hold_registered)
        http_hold_end(req);
    api_count_poll(r == STORE_NOT_FOUND ? POLL_IDLE : POLL_REFUSED);
    if (r == STORE_NOT_FOUND)
        reply_script(req, ros_render_idle());
    else
        api_reply_store_error(req, r);
}

static void poll_deliver(struct http_req *req, const struct job *j, long remaining)
{
    const struct caller *who = req->caller;
    if (req->hold_registered)
        http_hold_end(req);
    log_ev(LOG_INFO, "job.delivered", req->request_id, who->site_id, j->token,
           "job %s delivered site=%s id=%s remaining=%ld", j->token, who->site_id, j->id,
           remaining);
    api_count_poll(POLL_JOB);
    reply_script(req, render_job(req, j, remaining, who->ros_version));
}

/* No job to hand out: answer idle, or hold. A hold registers first and looks
 * once more before it suspends, so a job queued in between is not missed. */
static void poll_hold(struct http_req *req)
{
    const struct caller *who = req->caller;
    long long left = req->hold_deadline_ms - mono_ms();
    if (!req->hold_deadline_ms || left <= 0 || req->hold_state == HTTP_HOLD_TIMEOUT ||
        req->hold_state == HTTP_HOLD_GONE) {
        poll_finish(req, STORE_NOT_FOUND);
        return;
    }
    if (!req->hold_registered) {
        if (http_hold_full(req->srv)) {
            api_count_poll(POLL_REFUSED);
            http_reply_error(req, JP_ERR_OVERLOADED, "Too many polls are held; retry later.");
            http_add_header(req, "Retry-After", "5");
            return;
        }
        http_hold_begin(req, who->site_id);
        poll_look(req);
        return;
    }
    if (!http_hold_commit(req, (unsigned)left))
        poll_look(req); /* a wake came in between: look again (unregistered now) */
    /* else suspended: api_device_poll runs again when woken or at the deadline */
}

static void poll_claimed(struct http_req *req)
{
    struct poll_wait *pw = req->cont;
    enum store_result r = pw->w.as.res;
    if (r == STORE_OK)
        poll_deliver(req, &pw->j, pw->remaining);
    api_wait_end(req);
    if (r == STORE_NOT_FOUND)
        poll_hold(req); /* another poll or node took it, or a cancel won */
    else if (r != STORE_OK)
        poll_finish(req, r);
}

static void poll_claim(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct poll_wait *pw = api_wait_start(req, sizeof *pw, poll_wait_clear);
    if (!pw) {
        if (req->hold_registered)
            http_hold_end(req);
        return;
    }
    store_dispatch_async(app->store, who->site_id, now_s(), app->run_timeout, &pw->j,
                         &pw->remaining, &pw->w.as);
    http_defer(req, poll_claimed);
}

static void poll_look(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    if (req->hold_state == HTTP_HOLD_GONE) { /* hand out nothing when nobody reads it */
        poll_finish(req, STORE_NOT_FOUND);
        return;
    }
    int want = store_dispatch_wanted(app->store, who->site_id, now_s(), app->run_timeout);
    if (want > 0)
        poll_claim(req);
    else if (want == 0)
        poll_hold(req);
    else
        poll_finish(req, STORE_UNAVAILABLE);
}

/* After the heartbeat: replace a poll script that is not this server's, or
 * look for a job (holding the poll when it asked to wait). */
static void poll_go(struct http_req *req, bool script_current, long wait)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    if (!script_current) {
        /* the router runs another poll script than this server renders (an
         * older one, or none that says): this answer replaces it, and the
         * next poll, one interval later, takes jobs */
        struct ros_poll_params p = {.base_url = http_base_url(req->srv),
                                    .site_id = who->site_id,
                                    .interval = app->poll_interval,
                                    .wait = app->poll_wait};
        api_count_poll(POLL_UPDATE);
        reply_script(req, ros_render_update(&p));
        return;
    }
    if (wait)
        req->hold_deadline_ms = mono_ms() + wait * 1000;
    poll_look(req);
}

/* A heartbeat that names a job (expecting a reboot, or waiting for its
 * confirmation, or reverted), waiting for its commit. */
enum job_word { WORD_NONE = -1, WORD_REBOOTED, WORD_ARMED, WORD_REVERTED };
struct word_wait {
    struct api_wait w;
    struct job j;
    const char *why;
    enum job_word word;
    char token[JP_TOKEN_LEN + 1];
    bool script_current;
    long wait;
};

static void word_wait_clear(void *p)
{
    job_clear(&((struct word_wait *)p)->j);
}

static void poll_word(struct http_req *req)
{
    struct word_wait *ww = req->cont;
    enum store_result r = ww->w.as.res;
    bool current = ww->script_current;
    long wait = ww->wait;
    const struct job *j = &ww->j;
    if (ww->word == WORD_REBOOTED && r == STORE_OK)
        log_ev(LOG_INFO, "job.reported", req->request_id, j->site_id, j->token,
               "job %s reported done site=%s (the router came back restarted)", j->token,
               j->site_id);
    else if (ww->word == WORD_REVERTED && r == STORE_OK)
        log_ev(LOG_WARN, "job.reverted", req->request_id, j->site_id, j->token,
               "job %s reverted site=%s: no confirmation reached the router in time", j->token,
               j->site_id);
    else if (r == STORE_CONFLICT && j->token[0])
        log_ev(LOG_INFO, "job.word_ignored", req->request_id, j->site_id, j->token,
               "job %s: the router's word of it is not taken: %s", j->token, ww->why);
    if (ww->word == WORD_ARMED && (r == STORE_OK || r == STORE_NOT_FOUND)) {
        /* the router reached the server after the job: its revert goes,
         * and a job that did not fail is confirmed */
        char *script = render_disarm(req, r == STORE_OK ? j : NULL, ww->token);
        api_wait_end(req);
        api_count_poll(POLL_DISARM);
        reply_script(req, script);
        return;
    }
    api_wait_end(req);
    if (r == STORE_UNAVAILABLE)
        poll_finish(req, r);
    else
        poll_go(req, current, wait);
}

/* A job token as the poll script sends it (base62, JP_TOKEN_LEN). */
static bool token_ok(const char *t)
{
    if (!t || strlen(t) != JP_TOKEN_LEN)
        return false;
    for (const char *c = t; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    return true;
}

/* The first run: ?wait, the teardown, the heartbeat (and the word of a job
 * it may carry: a restart, a revert armed or done); it then answers, or goes
 * on with poll_go. */
static void poll_begin(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    const char *w = http_query(req, "wait");
    long wait = 0;
    if (w && (strspn(w, "0123456789") != strlen(w) || !*w || strlen(w) > 2 ||
              (wait = strtol(w, NULL, 10)) > 60)) {
        api_count_poll(POLL_REFUSED);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "wait must be 0 to 60 seconds.");
        return;
    }
    if (who->deleted_at) {
        /* The token in the teardown is the one this request carried. */
        reply_script(req, ros_render_teardown(http_base_url(req->srv),
                                              http_header(req, "Authorization") + 7, who->site_id));
        log_ev(LOG_INFO, "site.teardown_sent", req->request_id, who->site_id, NULL,
               "site %s: teardown script sent", who->site_id);
        api_count_poll(POLL_TEARDOWN);
        return;
    }
    struct heartbeat hb;
    if (parse_heartbeat(req, &hb)) {
        api_count_poll(POLL_REFUSED);
        return;
    }
    int now_runs = ros_version(hb.version); /* what it runs now, not what was stored */
    if (now_runs)
        ((struct caller *)req->caller)->ros_version = now_runs;
    char ip[64];
    struct device_facts f;
    facts_of(&hb, http_client_ip(req, ip, sizeof ip), &f);
    store_heartbeat(app->store, who->site_id, &f, now_s());
    bool current = hb.script_rev && !strcmp(hb.script_rev, app->poll_rev);
    if (!current)
        log_ev(LOG_INFO, "site.script_updated", req->request_id, who->site_id, NULL,
               "site %s: poll script %s replaced by revision %s", who->site_id,
               hb.script_rev ? hb.script_rev : "(without a revision)", app->poll_rev);
    /* at most one word per poll: a restart, a revert, an armed revert */
    enum job_word word = token_ok(hb.reboot_token)     ? WORD_REBOOTED
                         : token_ok(hb.reverted_token) ? WORD_REVERTED
                         : token_ok(hb.armed_token)    ? WORD_ARMED
                                                       : WORD_NONE;
    if (word != WORD_NONE) {
        struct word_wait *ww = api_wait_start(req, sizeof *ww, word_wait_clear);
        if (!ww)
            return;
        ww->script_current = current;
        ww->wait = wait;
        ww->word = word;
        const char *tok = word == WORD_REBOOTED   ? hb.reboot_token
                          : word == WORD_REVERTED ? hb.reverted_token
                                                  : hb.armed_token;
        memcpy(ww->token, tok, sizeof ww->token);
        if (word == WORD_REBOOTED)
            store_job_rebooted_async(app->store, who->site_id, tok, hb.uptime, now_s(),
                                     app->run_timeout, &ww->j, &ww->why, &ww->w.as);
        else
            store_job_revert_async(app->store, who->site_id, tok, word == WORD_REVERTED, now_s(),
                                   &ww->j, &ww->why, &ww->w.as);
        http_defer(req, poll_word);
        return;
    }
    poll_go(req, current, wait);
}

void api_device_poll(struct http_req *req)
{
    if (req->hold_state == HTTP_HOLD_NONE)
        poll_begin(req);
    else
        poll_look(req);
}

/* ---- reports ------------------------------------------------------------ */

/* A report waiting for its commit. */
struct report_wait {
    struct api_wait w;
    struct job j;
    enum job_report rep;
    const char *why;
    bool partial; /* a chunk of the output stored; the report waits for the last */
};

static void report_wait_clear(void *p)
{
    job_clear(&((struct report_wait *)p)->j);
}

static void report_done(struct http_req *req)
{
    struct report_wait *rw = req->cont;
    enum store_result r = rw->w.as.res;
    const char *status = job_reports[rw->rep].name;
    if (r == STORE_OK && rw->partial) {
        http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
    } else if (r == STORE_OK || r == STORE_CONFLICT) {
        if (r == STORE_OK) {
            log_ev(LOG_INFO, "job.reported", req->request_id, rw->j.site_id, rw->j.token,
                   "job %s reported %s site=%s", rw->j.token, status, rw->j.site_id);
            api_count_report(rw->rep);
        } else
            log_ev(LOG_INFO, "job.report_ignored", req->request_id, rw->j.site_id, rw->j.token,
                   "job %s: report %s ignored, the job already finished", rw->j.token, status);
        http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
    } else if (r == STORE_STALE) {
        log_ev(LOG_WARN, "job.report_refused", req->request_id, rw->j.site_id, rw->j.token,
               "job %s: report %s refused: %s", rw->j.token, status, rw->why);
        char msg[160];
        snprintf(msg, sizeof msg, "This report was refused: %s.", rw->why);
        http_reply_error(req, JP_ERR_INVALID_STATE, msg);
    } else {
        api_reply_store_error(req, r);
    }
    api_wait_end(req);
}

/* The signed URL (job id and status) was checked by api_authenticate. */
void api_device_report(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct report_wait *rw = api_wait_start(req, sizeof *rw, report_wait_clear);
    if (!rw)
        return;
    rw->rep = (enum job_report)job_report_parse(who->action);
    /* the final report may come as chunks of what the payload printed */
    const char *o = http_query(req, "offset"), *t = http_query(req, "total");
    long long offset = 0, total = 0;
    if (o || t) {
        if (!o || !t || !*o || !*t || strlen(o) > 9 || strlen(t) > 9 ||
            strspn(o, "0123456789") != strlen(o) || strspn(t, "0123456789") != strlen(t) ||
            rw->rep == REPORT_BUSY || (total = strtoll(t, NULL, 10)) < 1 ||
            (offset = strtoll(o, NULL, 10)) + (long long)req->body_len > total || !req->body_len) {
            api_wait_end(req);
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             "offset and total (byte counts) go with a non-empty chunk of a done or"
                             " fail report's output.");
            return;
        }
        if (total > app->output_max + 512) { /* the router's cut adds a line */
            api_wait_end(req);
            http_reply_error(req, JP_ERR_PAYLOAD_TOO_LARGE,
                             "The output is larger than --output-max.");
            return;
        }
    }
    /* a POSTed report may carry the router's message (why it failed) */
    char *msg = NULL;
    if (req->body_len && !total) {
        size_t n = req->body_len < 500 ? req->body_len : 500;
        if ((msg = malloc(n + 1))) {
            memcpy(msg, req->body, n);
            msg[n] = '\0';
        }
    }
    struct job_report_req rr = {.job_id = who->job_id,
                                .report = rw->rep,
                                .delivery = who->delivery,
                                .message = msg && *msg ? msg : NULL,
                                .now = now_s(),
                                .run_timeout = app->run_timeout,
                                .chunk = req->body,
                                .chunk_len = total ? req->body_len : 0,
                                .offset = offset,
                                .total = total,
                                .partial = &rw->partial};
    store_job_report_async(app->store, &rr, &rw->j, &rw->why, &rw->w.as);
    free(msg);
    http_defer(req, report_done);
}

/* The signed URL (job id) was checked by api_authenticate. */
void api_device_backup(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    const char *job = who->job_id;
    char site[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", site))
        return;
    const char *o = http_query(req, "offset"), *t = http_query(req, "total");
    if (!o || !t || !*o || !*t || strlen(o) > 15 || strlen(t) > 15 ||
        strspn(o, "0123456789") != strlen(o) || strspn(t, "0123456789") != strlen(t)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "offset and total must be byte counts.");
        return;
    }
    long long offset = strtoll(o, NULL, 10), total = strtoll(t, NULL, 10);
    if (total > JP_BACKUP_MAX) {
        http_reply_error(req, JP_ERR_PAYLOAD_TOO_LARGE, "The backup is larger than 16 MiB.");
        return;
    }
    if (!req->body_len || total < 1) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING, "The chunk body is empty.");
        return;
    }
    char filename[64];
    size_t redacted;
    enum store_result r = store_backup_chunk(app->store, site, job, offset, total, req->body,
                                             req->body_len, now_s(), filename, &redacted);
    if (r == STORE_OK) {
        http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
    } else if (r == STORE_CREATED) {
        if (redacted)
            log_ev(LOG_WARN, "backup.redacted", req->request_id, site, NULL,
                   "backup %s/%s for job %s held the site's device token (%zu times): redacted;"
                   " adopt the router again so its poll script no longer carries it",
                   site, filename, job, redacted);
        log_ev(LOG_INFO, "backup.stored", req->request_id, site, NULL,
               "backup %s/%s stored for job %s", site, filename, job);
        http_reply(req, 201, "text/plain; charset=utf-8", strdup("stored\n"), 7);
    } else if (r == STORE_CONFLICT) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "This chunk does not continue what arrived before.");
    } else if (r == STORE_STALE) {
        http_reply_error(req, JP_ERR_INVALID_STATE,
                         "This backup keeps secrets, and this server has no --backup-key-file to"
                         " seal it: it is not stored.");
    } else {
        api_reply_store_error(req, r);
    }
}

void api_device_notify_delete(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    if (!who->deleted_at) {
        http_reply_error(req, JP_ERR_FORBIDDEN, "This site is not being deleted.");
    } else {
        enum store_result r = store_site_teardown_done(app->store, who->site_id);
        if (r == STORE_OK) {
            log_ev(LOG_INFO, "site.teardown_confirmed", req->request_id, who->site_id, NULL,
                   "site %s: teardown confirmed, device token revoked", who->site_id);
            http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
        } else {
            api_reply_store_error(req, r);
        }
    }
}
