/* The device API: adoption, poll (with held polls), job reports, backup
 * uploads and the teardown confirmation. Routers speak RouterOS: answers are
 * text/plain scripts that end with ROS_END_MARK. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

char *api_bootstrap(struct http_req *req, const char *adoption_token)
{
    return ros_render_bootstrap(http_base_url(req->srv), adoption_token);
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

/* Finds the site of the request's device token; answers 401 when none. */
static int device_auth(struct http_req *req, struct site *site)
{
    struct app *app = req->app;
    const char *h = http_header(req, "Authorization");
    const char *tok = h && !strncasecmp(h, "Bearer ", 7) ? h + 7 : NULL;
    memset(site, 0, sizeof *site);
    if (!tok || strlen(tok) != JP_DEVICE_TOKEN_LEN) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "A device token is required.");
        return -1;
    }
    char hash[JP_SIG_HEX + 1];
    token_hash(tok, hash);
    enum store_result r = store_site_by_device(app->store, hash, site);
    if (r == STORE_NOT_FOUND) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "Unknown or revoked device token.");
        return -1;
    }
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return -1;
    }
    return 0;
}

void api_device_adopt(struct http_req *req)
{
    struct app *app = req->app;
    const char *tok = req->params[0];
    if (!tok || strlen(tok) != JP_ADOPTION_TOKEN_LEN ||
        strspn(tok, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
            JP_ADOPTION_TOKEN_LEN) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "Unknown or used adoption token.");
        return;
    }
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
    enum store_result r = store_site_adopt(app->store, hash, dhash, &f, &site);
    if (r == STORE_NOT_FOUND) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "Unknown or used adoption token.");
        return;
    }
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    log_info("site %s adopted from %s (RouterOS %s)", site.id, ip,
             hb.version ? hb.version : "unknown");
    struct ros_poll_params p = {
        .base_url = http_base_url(req->srv),
        .device_token = device,
        .site_id = site.id,
        .interval = app->poll_interval,
        .wait = app->poll_wait,
        .version = ros_version(hb.version),
    };
    reply_script(req, ros_render_adoption(&p));
    site_clear(&site);
}

static char *render_job(struct http_req *req, const struct job *j, long remaining, int version)
{
    struct app *app = req->app;
    int64_t expires = now_s() + app->url_ttl;
    char busy[JP_SIG_HEX + 1], done[JP_SIG_HEX + 1], fail[JP_SIG_HEX + 1], bak[JP_SIG_HEX + 1];
    sign_make(&app->sign, j->id, "busy", expires, busy);
    sign_make(&app->sign, j->id, "done", expires, done);
    sign_make(&app->sign, j->id, "fail", expires, fail);
    sign_make(&app->sign, j->id, "backup", expires, bak);
    struct ros_job_params p = {
        .base_url = http_base_url(req->srv),
        .job_id = j->id,
        .token = j->token,
        .site_id = j->site_id,
        .payload = j->script,
        .sig_busy = busy,
        .sig_done = done,
        .sig_fail = fail,
        .sig_backup = bak,
        .expires = expires,
        .remaining = remaining,
        .should_backup = j->should_backup,
        .version = version,
    };
    return ros_render_wrapper(&p);
}

/* A poll waiting for its dispatch to commit (the request is deferred
 * meanwhile): the handler's locals, moved here. */
struct poll_wait {
    struct store_async as;
    struct site site;
    long wait;
    bool registered;
    struct job j;
    long remaining;
};

static void poll_wait_free(void *p)
{
    struct poll_wait *pw = p;
    site_clear(&pw->site);
    job_clear(&pw->j);
    free(pw);
}

/* A poll's first part: the device, ?wait, and (on the first run) the
 * heartbeat or the teardown. 0 with site filled; otherwise it answered (and
 * site is the caller's to clear). */
static int poll_start(struct http_req *req, struct site *site, long *wait)
{
    struct app *app = req->app;
    if (device_auth(req, site))
        return -1;
    const char *w = http_query(req, "wait");
    if (w && (strspn(w, "0123456789") != strlen(w) || !*w || strlen(w) > 2 ||
              (*wait = strtol(w, NULL, 10)) > 60)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "wait must be 0 to 60 seconds.");
        return -1;
    }
    if (req->hold_state == HTTP_HOLD_NONE) { /* first run: the heartbeat */
        if (site->deleted_at) {
            /* The token in the teardown is the one this request carried. */
            reply_script(req, ros_render_teardown(http_base_url(req->srv),
                                                  http_header(req, "Authorization") + 7, site->id));
            log_info("site %s: teardown script sent", site->id);
            return -1;
        }
        struct heartbeat hb;
        if (parse_heartbeat(req, &hb))
            return -1;
        char ip[64];
        struct device_facts f;
        facts_of(&hb, http_client_ip(req, ip, sizeof ip), &f);
        store_heartbeat(app->store, site->id, &f, now_s());
        if (*wait)
            req->hold_deadline_ms = mono_ms() + *wait * 1000;
    }
    return 0;
}

void api_device_poll(struct http_req *req)
{
    struct app *app = req->app;
    struct poll_wait *pw = req->cont; /* set when resumed: the dispatch answered */
    struct site site;
    long wait = 0;
    bool registered = false;
    if (pw) { /* the locals come back from where the deferred run left them */
        site = pw->site;
        memset(&pw->site, 0, sizeof pw->site);
        wait = pw->wait;
        registered = pw->registered;
    } else if (poll_start(req, &site, &wait)) {
        site_clear(&site);
        return;
    }
    for (;;) {
        struct job j = {0};
        long remaining = 0;
        enum store_result r = STORE_NOT_FOUND; /* hand out nothing when nobody reads it */
        int want;
        if (pw) { /* the dispatch committed */
            r = pw->as.res;
            j = pw->j;
            remaining = pw->remaining;
            memset(&pw->j, 0, sizeof pw->j);
            req->cont = NULL;
            poll_wait_free(pw);
            pw = NULL;
        } else if (req->hold_state != HTTP_HOLD_GONE &&
                   (want = store_dispatch_wanted(app->store, site.id, now_s(), app->run_timeout)) !=
                       0) {
            r = STORE_UNAVAILABLE;
            if (want > 0 && (pw = calloc(1, sizeof *pw))) { /* a write: wait without a thread */
                *pw = (struct poll_wait){.site = site, .wait = wait, .registered = registered};
                pw->as = (struct store_async){.done = api_resume, .ctx = req};
                req->cont = pw;
                req->cont_free = poll_wait_free;
                store_dispatch_async(app->store, pw->site.id, now_s(), app->run_timeout, &pw->j,
                                     &pw->remaining, &pw->as);
                if (http_defer(req))
                    return; /* site is pw's until the handler runs again */
                memset(&pw->site, 0, sizeof pw->site);
                continue; /* already committed */
            }
        }
        if (r == STORE_OK) {
            if (registered)
                http_hold_end(req);
            log_info("job %s delivered site=%s id=%s remaining=%ld", j.token, site.id, j.id,
                     remaining);
            reply_script(req, render_job(req, &j, remaining, ros_version(site.software_version)));
            job_clear(&j);
            break;
        }
        long long left = req->hold_deadline_ms - mono_ms();
        if (r != STORE_NOT_FOUND || !wait || left <= 0 || req->hold_state == HTTP_HOLD_TIMEOUT ||
            req->hold_state == HTTP_HOLD_GONE) {
            if (registered)
                http_hold_end(req);
            if (r == STORE_NOT_FOUND)
                reply_script(req, ros_render_idle());
            else
                api_reply_store_error(req, r);
            break;
        }
        if (!registered && http_hold_full(req->srv)) {
            http_reply_error(req, JP_ERR_OVERLOADED, "Too many polls are held; retry later.");
            http_add_header(req, "Retry-After", "5");
            break;
        }
        if (!registered) { /* register, then look once more before sleeping */
            http_hold_begin(req, site.id);
            registered = true;
            continue;
        }
        if (http_hold_commit(req, (unsigned)left))
            break;          /* suspended: this handler runs again when woken or at the deadline */
        registered = false; /* a wake came in between: look again */
    }
    site_clear(&site);
}

static const char *const report_names[] = {"busy", "done", "fail"};

/* Reads expires and signature and checks them for (job, action). Answers 403. */
static int check_signature(struct http_req *req, const char *job_id, const char *action)
{
    struct app *app = req->app;
    const char *e = http_query(req, "expires"), *sig = http_query(req, "signature");
    long long expires = 0;
    if (e && *e && strlen(e) <= 12 && strspn(e, "0123456789") == strlen(e))
        expires = strtoll(e, NULL, 10);
    enum sign_result r =
        e ? sign_verify(&app->sign, job_id, action, expires, now_s(), sig) : SIGN_BAD;
    char site[JP_UUID_LEN + 1];
    if (r != SIGN_OK && store_job_site(app->store, job_id, site) == STORE_NOT_FOUND) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such job.");
        return -1;
    }
    if (r != SIGN_OK) {
        http_reply_error(req, JP_ERR_FORBIDDEN,
                         r == SIGN_EXPIRED ? "This signed URL has expired."
                                           : "Bad signature for this URL.");
        return -1;
    }
    return 0;
}

/* A report waiting for its commit (the request is deferred meanwhile). */
struct report_wait {
    struct store_async as;
    struct job j;
    char id[JP_UUID_LEN + 1];
    int rep;
};

static void report_wait_free(void *p)
{
    struct report_wait *w = p;
    job_clear(&w->j);
    free(w);
}

static void report_done(struct http_req *req)
{
    struct report_wait *w = req->cont;
    enum store_result r = w->as.res;
    const char *status = report_names[w->rep];
    if (r == STORE_OK || r == STORE_CONFLICT) {
        if (r == STORE_OK)
            log_info("job %s reported %s site=%s", w->j.token, status, w->j.site_id);
        else
            log_info("job %s: report %s ignored, the job already finished", w->j.token, status);
        http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
    } else {
        api_reply_store_error(req, r);
    }
    req->cont = NULL;
    report_wait_free(w);
}

void api_device_report(struct http_req *req)
{
    struct app *app = req->app;
    char id[JP_UUID_LEN + 1];
    if (req->cont) { /* resumed: the report committed */
        report_done(req);
        return;
    }
    if (api_uuid_param(req, 0, "job id", id))
        return;
    const char *status = http_query(req, "status");
    int rep = -1;
    for (int i = 0; status && i < 3; i++)
        if (!strcmp(status, report_names[i]))
            rep = i;
    if (rep < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "status must be busy, done or fail.");
        return;
    }
    if (check_signature(req, id, status))
        return;
    struct report_wait *w = calloc(1, sizeof *w);
    if (!w) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    memcpy(w->id, id, sizeof w->id);
    w->rep = rep;
    w->as = (struct store_async){.done = api_resume, .ctx = req};
    req->cont = w;
    req->cont_free = report_wait_free;
    store_job_report_async(app->store, w->id, (enum job_report)rep, now_s(), &w->j, &w->as);
    if (!http_defer(req))
        report_done(req); /* already committed */
}

void api_device_backup(struct http_req *req)
{
    struct app *app = req->app;
    char site[JP_UUID_LEN + 1], job[JP_UUID_LEN + 1];
    if (api_uuid_param(req, 0, "site id", site))
        return;
    const char *j = http_query(req, "job");
    if (!j || uuid_parse(j, job)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "job must be a job id.");
        return;
    }
    if (check_signature(req, job, "backup"))
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
    enum store_result r = store_backup_chunk(app->store, site, job, offset, total, req->body,
                                             req->body_len, now_s(), filename);
    if (r == STORE_OK) {
        http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
    } else if (r == STORE_CREATED) {
        log_info("backup %s/%s stored for job %s", site, filename, job);
        http_reply(req, 201, "text/plain; charset=utf-8", strdup("stored\n"), 7);
    } else if (r == STORE_CONFLICT) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "This chunk does not continue what arrived before.");
    } else {
        api_reply_store_error(req, r);
    }
}

void api_device_notify_delete(struct http_req *req)
{
    struct app *app = req->app;
    struct site site;
    if (device_auth(req, &site))
        return;
    if (!site.deleted_at) {
        http_reply_error(req, JP_ERR_FORBIDDEN, "This site is not being deleted.");
    } else {
        enum store_result r = store_site_teardown_done(app->store, site.id);
        if (r == STORE_OK) {
            log_info("site %s: teardown confirmed, device token revoked", site.id);
            http_reply(req, 200, "text/plain; charset=utf-8", strdup("ok\n"), 3);
        } else {
            api_reply_store_error(req, r);
        }
    }
    site_clear(&site);
}
