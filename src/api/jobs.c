#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/jobreq.h"
#include "core/text.h"
#include "lib/log.h"

/* Logs a new job and wakes the site's held polls: a queued job ends a held
 * poll at once (for express jobs that is the point; for others it costs
 * nothing and delivers sooner). */
static void created(struct http_req *req, const struct job *j)
{
    log_ev(LOG_INFO, "job.created", req->request_id, j->site_id, j->token,
           "job %s created site=%s id=%s backup=%d ack=%d", j->token, j->site_id, j->id,
           j->should_backup, j->needs_acknowledgement);
    unsigned woken = http_wake(req->srv, j->site_id);
    api_count_wakes(woken, false);
    if (j->express_execute)
        log_ev(LOG_INFO, "job.express", req->request_id, j->site_id, j->token,
               "job %s express execution requested: %u held poll(s) woken", j->token, woken);
}

/* A create waiting for its commit (the request is deferred meanwhile). */
struct create_wait {
    struct api_wait w;
    struct job_request jr;
    struct job j;
    char team[JP_TEAM_MAX + 1], site[JP_UUID_LEN + 1], key[JP_UUID_LEN + 1];
    json_t *doc; /* the JSON form: its fields point into it */
    void (*answer)(struct http_req *, enum store_result, const struct job *);
};

static void create_wait_clear(void *p)
{
    struct create_wait *c = p;
    job_clear(&c->j);
    json_decref(c->doc);
}

/* The create committed (or failed): answer. */
static void create_done(struct http_req *req)
{
    struct create_wait *c = req->cont;
    enum store_result r = c->w.as.res;
    if (r == STORE_CREATED)
        created(req, &c->j);
    if (r == STORE_CREATED || r == STORE_OK)
        c->answer(req, r, &c->j);
    else
        api_reply_store_error(req, r);
    api_wait_end(req);
}

void api_job_create(struct http_req *req, const char *site, const struct job_fields *f, json_t *doc,
                    void (*answer)(struct http_req *, enum store_result, const struct job *))
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char msg[256];
    if (f->backup_sensitive && !app->backup_key) {
        json_decref(doc);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "This server keeps no key for sensitive backups: start it with"
                         " --backup-key-file.");
        return;
    }
    /* the window lies within the run timeout: the job runs, waits for the
     * poll that confirms it, or is reverted and reported back, before it */
    if (f->confirm_within && f->confirm_within + CONFIRM_MARGIN > app->run_timeout) {
        json_decref(doc);
        snprintf(msg, sizeof msg,
                 "The confirmation window must end %d s before the run timeout: at most %lld"
                 " seconds on this server (serve --run-timeout %lld).",
                 CONFIRM_MARGIN, (long long)(app->run_timeout - CONFIRM_MARGIN),
                 (long long)app->run_timeout);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return;
    }
    struct create_wait *c = api_wait_start(req, sizeof *c, create_wait_clear);
    unsigned char rnd[16];
    if (!c) {
        json_decref(doc);
        return;
    }
    c->doc = doc;
    if (f->idempotency_key[0]) {
        memcpy(c->key, f->idempotency_key, sizeof c->key);
    } else if (RAND_bytes(rnd, sizeof rnd) == 1) { /* no client key: a key of our own */
        uuid4_format(rnd, c->key);
    } else {
        api_wait_end(req);
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    snprintf(c->team, sizeof c->team, "%s", who->team);
    snprintf(c->site, sizeof c->site, "%s", site);
    c->jr = (struct job_request){
        .site_id = c->site,
        .idempotency_key = c->key,
        .description = f->description,
        .script = f->script,
        .notify_url = f->notify_url,
        .express_execute = f->express_execute,
        .needs_acknowledgement = f->needs_acknowledgement,
        .should_backup = f->should_backup,
        .dry_run = f->dry_run,
        .expects_reboot = f->expects_reboot,
        .capture_output = f->capture_output,
        .backup_sensitive = f->backup_sensitive,
        .confirm_within = f->confirm_within,
    };
    c->answer = answer;
    store_job_create_async(app->store, c->team, &c->jr, &c->j, &c->w.as);
    http_defer(req, create_done);
}

static void answer_job(struct http_req *req, enum store_result r, const struct job *j)
{
    http_reply_json(req, r == STORE_CREATED ? 201 : 200, job_json(j));
}

void api_jobs_create(struct http_req *req)
{
    char site[JP_UUID_LEN + 1], msg[192];
    if (api_uuid_param(req, "site", site))
        return;
    const char *ct = http_header(req, "Content-Type");
    if (ct && !api_content_type_is(req, "text/plain")) {
        http_reply_error(req, JP_ERR_UNSUPPORTED_MEDIA_TYPE,
                         "The script is sent as the body with Content-Type: text/plain.");
        return;
    }
    if (ct && strstr(ct, "charset") && !strcasestr(ct, "charset=utf-8") &&
        !strcasestr(ct, "charset=\"utf-8\"")) {
        http_reply_error(req, JP_ERR_UNSUPPORTED_MEDIA_TYPE, "The script must be UTF-8.");
        return;
    }
    struct job_fields f;
    enum jp_err e = jobreq_from_headers(
        http_header(req, "X-Idempotency-Key"), http_header(req, "X-Description"),
        http_header(req, "X-Needs-Ack"), http_header(req, "X-Backup"),
        http_header(req, "X-Express-Execute"), req->body, req->body_len, &f, msg, sizeof msg);
    if (!e)
        e = jobreq_options(
            &(struct job_option_headers){.dry_run = http_header(req, "X-Dry-Run"),
                                         .expects_reboot = http_header(req, "X-Expects-Reboot"),
                                         .capture_output = http_header(req, "X-Capture-Output"),
                                         .confirm_within = http_header(req, "X-Confirm-Within"),
                                         .backup_sensitive = http_header(req, "X-Backup-Sensitive"),
                                         .needs_ack = http_header(req, "X-Needs-Ack")},
            &f, msg, sizeof msg);
    if (e)
        http_reply_error(req, e, msg);
    else
        api_job_create(req, site, &f, NULL, answer_job);
}

static void answer_async(struct http_req *req, enum store_result r, const struct job *j)
{
    (void)r; /* a replay answers the same as the first time */
    char date[JP_RFC3339_LEN + 1];
    rfc3339_format((int64_t)time(NULL), date);
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:o, s:s}", "idempotency_key", j->idempotency_key, "request_id",
                  j->id, "target", j->site_id, "notify_url",
                  j->notify_url ? json_string(j->notify_url) : json_null(), "date", date);
    http_reply_json(req, 200, json_pack("{s:s, s:o}", "status", "success", "data", data));
}

void api_jobs_create_json(struct http_req *req)
{
    char site[JP_UUID_LEN + 1], msg[192];
    if (api_uuid_param(req, "site", site))
        return;
    if (!api_content_type_is(req, "application/json")) {
        http_reply_error(req, JP_ERR_UNSUPPORTED_MEDIA_TYPE,
                         "Content-Type must be application/json.");
        return;
    }
    json_t *doc;
    struct job_fields f;
    enum jp_err e = jobreq_from_json(
        req->body, req->body_len, http_header(req, "X-Idempotency-Key"), &doc, &f, msg, sizeof msg);
    if (e) {
        http_reply_error(req, e, msg);
        return;
    }
    api_job_create(req, site, &f, doc, answer_async);
}

void api_jobs_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char site[JP_UUID_LEN + 1], before[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", site))
        return;
    struct job_query q = {.site_id = site, .status = -1};
    if (api_page_params(req, "before", "job", &q.limit, before, &q.before_id))
        return;
    const char *status = http_query(req, "status");
    if (status && (q.status = job_status_parse(status)) < 0) {
        char names[96], msg[128];
        job_status_list(names, sizeof names);
        snprintf(msg, sizeof msg, "status must be %s.", names);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return;
    }
    const char *rollout = http_query(req, "rollout");
    char rid[JP_UUID_LEN + 1];
    if (rollout) {
        if (uuid_parse(rollout, rid)) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             "rollout must be a scheduled script's id (a UUID).");
            return;
        }
        q.rollout_id = rid;
    }
    struct job_list l;
    enum store_result r = store_job_list(app->store, who->team, &q, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, job_json(&l.items[i]));
    if (l.more && l.n) {
        char link[512];
        snprintf(link, sizeof link, "<%s?limit=%u&before=%s%s%s%s%s>; rel=\"next\"", req->path,
                 q.limit, l.items[l.n - 1].id, status ? "&status=" : "", status ? status : "",
                 rollout ? "&rollout=" : "", rollout ? rid : "");
        http_add_header(req, "Link", link);
    }
    job_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_jobs_get(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char site[JP_UUID_LEN + 1], id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", site) || api_uuid_param(req, "job", id))
        return;
    struct job j;
    enum store_result r = store_job_get(app->store, who->team, site, id, &j);
    if (r == STORE_OK)
        http_reply_json(req, 200, job_json(&j));
    else
        api_reply_store_error(req, r);
    job_clear(&j);
}

void api_jobs_output(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char site[JP_UUID_LEN + 1], id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", site) || api_uuid_param(req, "job", id))
        return;
    char *text = NULL;
    int64_t size = 0;
    enum store_result r = store_job_output(app->store, who->team, site, id, &text, &size);
    if (r == STORE_OK && !text) /* the job is there; nothing it printed arrived (yet) */
        http_reply(req, 204, NULL, NULL, 0);
    else if (r == STORE_OK)
        http_reply(req, 200, "text/plain; charset=utf-8", text, strlen(text));
    else
        api_reply_store_error(req, r);
}

void api_jobs_cancel(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char site[JP_UUID_LEN + 1], id[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1] = "";
    if (api_uuid_param(req, "site", site) || api_uuid_param(req, "job", id))
        return;
    enum store_result r = store_job_cancel(app->store, who->team, site, id, token);
    if (r == STORE_OK) {
        log_ev(LOG_INFO, "job.cancelled", req->request_id, site, token,
               "job %s cancelled site=%s id=%s", token, site, id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}
