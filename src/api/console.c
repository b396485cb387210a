/* The web console: its files (ui/, compiled in by the Makefile as
 * gen/ui.c), served with strict headers, and the one read it needs beyond
 * the per-site endpoints, GET /overview: a team's fleet at a glance. The
 * console itself is a client of the public API and has no other endpoint. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/rollout.h"

static const char *media_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

static void serve_file(struct http_req *req, const char *name)
{
    const struct ui_file *f = NULL;
    for (size_t i = 0; i < ui_nfiles && !f; i++)
        if (!strcmp(ui_files[i].name, name))
            f = &ui_files[i];
    if (!f) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such file of the console.");
        return;
    }
    char *body = malloc(f->len ? f->len : 1);
    if (!body) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    memcpy(body, f->data, f->len);
    /* scripts, styles and requests from this server only, nothing inline,
     * never framed, no referrer to carry a site id elsewhere */
    http_add_header(req, "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
                    " connect-src 'self'; base-uri 'none'; form-action 'none';"
                    " frame-ancestors 'none'");
    http_add_header(req, "X-Frame-Options", "DENY");
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_reply(req, 200, media_type(f->name), body, f->len);
}

void api_ui_index(struct http_req *req)
{
    serve_file(req, "index.html");
}

void api_ui_file(struct http_req *req)
{
    serve_file(req, http_param(req, "file"));
}

static json_t *overview_jobs_json(const struct overview_job *l, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = job_json(&l[i].job);
        json_object_set_new(j, "site_name", json_string(l[i].site_name));
        json_array_append_new(a, j);
    }
    return a;
}

static json_t *overview_rollouts_json(const struct overview_rollout *l, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "id",
                         l[i].id, "description", l[i].description, "status",
                         rollout_status_name((enum rollout_status)l[i].status), "wave",
                         (json_int_t)l[i].wave, "waves", (json_int_t)l[i].waves, "targets", "total",
                         (json_int_t)l[i].targets, "waiting", (json_int_t)l[i].waiting, "queued",
                         (json_int_t)l[i].queued, "completed", (json_int_t)l[i].completed, "failed",
                         (json_int_t)l[i].failed, "skipped", (json_int_t)l[i].skipped, "cancelled",
                         (json_int_t)l[i].cancelled));
    return a;
}

#define STUCK_AFTER_DEFAULT 300
#define OVERVIEW_LIST_MAX 10

void api_overview(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    long stuck_after = STUCK_AFTER_DEFAULT;
    const char *v = http_query(req, "stuck_after");
    if (v) {
        char *end;
        stuck_after = strtol(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || stuck_after < 1 || stuck_after > 7 * 86400) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             "stuck_after must be a number of seconds, 1 to 604800.");
            return;
        }
    }
    int64_t now = (int64_t)time(NULL);
    struct overview_query q = {
        .seen_since = pulse_since(now, app->poll_interval),
        .stuck_before = now - stuck_after,
        .failed_since = now - 86400,
        .lists_max = OVERVIEW_LIST_MAX,
        /* the running rollouts, for a caller who may read them */
        .rollouts = (who->scopes & JP_SCOPE_SCRIPTS_READ) != 0,
    };
    struct store_overview o;
    enum store_result r = store_overview(app->store, who->team, &q, &o);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *j = json_pack(
        "{s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, s:i, s:o, s:o}", "generated_at",
        time_json(now), "sites", "total", (json_int_t)o.sites, "online", (json_int_t)o.sites_online,
        "offline", (json_int_t)(o.sites - o.sites_online), "unadopted",
        (json_int_t)o.sites_unadopted, "jobs", "pending", (json_int_t)o.jobs_pending, "delivered",
        (json_int_t)o.jobs_delivered, "running", (json_int_t)o.jobs_running, "stuck",
        (json_int_t)o.jobs_stuck, "failed_24h", (json_int_t)o.jobs_failed, "stuck_after",
        (int)stuck_after, "failures", overview_jobs_json(o.failures, o.nfailures), "stuck",
        overview_jobs_json(o.stuck, o.nstuck));
    json_object_set_new(j, "rollouts",
                        q.rollouts ? overview_rollouts_json(o.rollouts, o.nrollouts) : json_null());
    store_overview_clear(&o);
    http_reply_json(req, 200, j);
}
