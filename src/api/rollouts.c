/* Operator side of rollouts (the seed's scheduled scripts): create, list,
 * read, update, cancel, approve (a second person), pause, resume, abort,
 * progress and events. The scheduler (scheduler.c) launches them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/tz.h"

#define ROLLOUT_SITES_MAX 100000
#define NOTIFY_MAX 50
#define WAVE_INTERVAL_MAX (7 * 86400)

/* The fields of a rollout's JSON form: what create and PUT read, and the
 * read-only ones a client may send back from a GET (ignored). */
static const char *const writable[] = {
    "description",  "script",        "template_id",      "launch_at", "sites",
    "test_site_id", "make_backup",   "abort_if_offline", "notify",    "wave_size",
    "wave_percent", "wave_interval", "max_failures",     "window",    NULL,
};
static const char *const readonly[] = {
    "id",           "created_by", "summary",    "status",   "authorized_at", "authorized_by",
    "cancelled_at", "t_minus",    "started_at", "progress", "created_at",    "updated_at",
    "finished_at",  "wave",       "waves",      NULL,
};

static bool listed(const char *const *names, const char *k)
{
    for (; *names; names++)
        if (!strcmp(*names, k))
            return true;
    return false;
}

/* What a parsed body holds; its strings point into the body (or tpl). */
struct spec_buf {
    struct rollout_spec spec;
    struct rollout_window window;
    char (*sites)[JP_UUID_LEN + 1];
    char test_site[JP_UUID_LEN + 1], template_id[JP_UUID_LEN + 1];
    char *notify;
    struct script_template tpl;
};

static void spec_buf_clear(struct spec_buf *b)
{
    free(b->sites);
    free(b->notify);
    script_template_clear(&b->tpl);
}

static int bad(struct http_req *req, enum jp_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct http_req *req, enum jp_err e, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_reply_error(req, e, msg);
    return -1;
}

static int opt_bool(struct http_req *req, json_t *body, const char *name, bool *out)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v)) {
        *out = false;
        return 0;
    }
    if (!json_is_boolean(v))
        return bad(req, JP_ERR_PARAMETER_INVALID, "'%s' must be true or false.", name);
    *out = json_is_true(v);
    return 0;
}

/* A non-negative integer field, 0 when absent or null; -1 after answering. */
static int opt_int(struct http_req *req, json_t *body, const char *name, int64_t min, int64_t max,
                   int64_t *out)
{
    json_t *v = json_object_get(body, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return bad(req, JP_ERR_PARAMETER_INVALID, "'%s' must be an integer from %lld to %lld.",
                   name, (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int parse_sites(struct http_req *req, json_t *body, struct spec_buf *b)
{
    json_t *sites = json_object_get(body, "sites");
    if (!sites || json_is_null(sites))
        return bad(req, JP_ERR_PARAMETER_MISSING, "The 'sites' parameter is required.");
    size_t n = json_is_array(sites) ? json_array_size(sites) : 0;
    if (!n || n > ROLLOUT_SITES_MAX)
        return bad(req, JP_ERR_PARAMETER_INVALID, "'sites' must be an array of 1 to %d site ids.",
                   ROLLOUT_SITES_MAX);
    if (!(b->sites = calloc(n, sizeof *b->sites))) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(json_array_get(sites, i));
        if (!v || uuid_parse(v, b->sites[i]))
            return bad(req, JP_ERR_PARAMETER_INVALID, "sites[%zu] is not a site id (a UUID).", i);
    }
    /* each site once: sort a copy of the indexes by id */
    char(*sorted)[JP_UUID_LEN + 1] = malloc(n * sizeof *sorted);
    if (!sorted) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return -1;
    }
    memcpy(sorted, b->sites, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(sorted[i], sorted[i - 1])) {
            int r = bad(req, JP_ERR_PARAMETER_INVALID, "Site %s is listed twice in 'sites'.",
                        sorted[i]);
            free(sorted);
            return r;
        }
    free(sorted);
    b->spec.sites = (const char(*)[JP_UUID_LEN + 1]) b->sites;
    b->spec.nsites = n;
    return 0;
}

/* Reads and checks a create's or a PUT's body into b. -1 after answering. */
static int parse_spec(struct http_req *req, json_t *body, struct spec_buf *b)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    memset(b, 0, sizeof *b);
    struct rollout_spec *sp = &b->spec;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (!listed(writable, k) && !listed(readonly, k))
            return bad(req, JP_ERR_PARAMETER_INVALID, "Unknown parameter '%s'.", k);
    }
    if (!(sp->description = api_json_string(req, body, "description", JP_DESCRIPTION_MIN_CHARS,
                                            JP_DESCRIPTION_MAX_CHARS, JP_ERR_PARAMETER_INVALID)))
        return -1;
    json_t *tid = json_object_get(body, "template_id"), *script = json_object_get(body, "script");
    if (tid && !json_is_null(tid)) {
        if (script && !json_is_null(script))
            return bad(req, JP_ERR_PARAMETER_INVALID,
                       "Give either 'script' or 'template_id', not both.");
        if (!json_is_string(tid) || uuid_parse(json_string_value(tid), b->template_id))
            return bad(req, JP_ERR_PARAMETER_INVALID, "'template_id' is not a template id.");
        enum store_result r = store_template_get(app->store, who->team, b->template_id, &b->tpl);
        if (r != STORE_OK)
            return r == STORE_NOT_FOUND
                       ? bad(req, JP_ERR_RESOURCE_MISSING, "No such template: %s.", b->template_id)
                       : (api_reply_store_error(req, r), -1);
        sp->script = b->tpl.content;
        sp->template_id = b->template_id;
    } else if (!(sp->script = api_json_string(req, body, "script", 1, JP_SCRIPT_MAX_CHARS,
                                              JP_ERR_PAYLOAD_TOO_LARGE))) {
        return -1;
    }
    json_t *la = json_object_get(body, "launch_at");
    if (!la || json_is_null(la))
        return bad(req, JP_ERR_PARAMETER_MISSING, "The 'launch_at' parameter is required.");
    if (!json_is_string(la) || rfc3339_parse(json_string_value(la), &sp->launch_at))
        return bad(req, JP_ERR_PARAMETER_INVALID,
                   "'launch_at' must be an RFC 3339 time such as 2026-12-24T03:00:00Z.");
    if (sp->launch_at <= (int64_t)time(NULL))
        return bad(req, JP_ERR_PARAMETER_INVALID, "'launch_at' must be in the future.");
    if (parse_sites(req, body, b))
        return -1;
    json_t *test = json_object_get(body, "test_site_id");
    if (test && !json_is_null(test)) {
        if (!json_is_string(test) || uuid_parse(json_string_value(test), b->test_site))
            return bad(req, JP_ERR_PARAMETER_INVALID, "'test_site_id' is not a site id.");
        size_t i = 0;
        while (i < sp->nsites && strcmp(b->sites[i], b->test_site))
            i++;
        if (i == sp->nsites)
            return bad(req, JP_ERR_PARAMETER_INVALID,
                       "'test_site_id' must be one of 'sites' (the canary runs first).");
        sp->test_site_id = b->test_site;
    }
    if (opt_bool(req, body, "make_backup", &sp->make_backup) ||
        opt_bool(req, body, "abort_if_offline", &sp->abort_if_offline))
        return -1;
    json_t *notify = json_object_get(body, "notify");
    if (notify && !json_is_null(notify)) {
        bool ok = json_is_array(notify) && json_array_size(notify) <= NOTIFY_MAX;
        size_t i;
        json_t *e;
        json_array_foreach(notify, i, e)
        {
            ok = ok && json_is_string(e) && json_string_length(e) >= 1 &&
                 json_string_length(e) <= JP_SUBJECT_MAX;
        }
        if (!ok)
            return bad(req, JP_ERR_PARAMETER_INVALID,
                       "'notify' must be an array of at most %d user ids.", NOTIFY_MAX);
        b->notify = json_dumps(notify, JSON_COMPACT);
        sp->notify = b->notify;
    }
    int64_t rest = (int64_t)sp->nsites - (sp->test_site_id ? 1 : 0);
    if (opt_int(req, body, "wave_size", 1, ROLLOUT_SITES_MAX, &sp->wave_size) ||
        opt_int(req, body, "wave_percent", 1, 100, &sp->wave_percent) ||
        opt_int(req, body, "wave_interval", 0, WAVE_INTERVAL_MAX, &sp->wave_interval))
        return -1;
    if (sp->wave_size && sp->wave_percent)
        return bad(req, JP_ERR_PARAMETER_INVALID, "Give 'wave_size' or 'wave_percent', not both.");
    if (sp->wave_size > rest)
        return bad(req, JP_ERR_PARAMETER_INVALID,
                   "'wave_size' (%lld) is larger than the %lld sites after the canary.",
                   (long long)sp->wave_size, (long long)rest);
    if (sp->wave_interval && !sp->wave_size && !sp->wave_percent && !sp->test_site_id)
        return bad(req, JP_ERR_PARAMETER_INVALID,
                   "'wave_interval' separates waves: give 'wave_size', 'wave_percent' or a"
                   " 'test_site_id' too.");
    json_t *mf = json_object_get(body, "max_failures");
    if (mf && !json_is_null(mf)) {
        if (rollout_threshold_parse(mf, &sp->max_failures))
            return bad(req, JP_ERR_PARAMETER_INVALID,
                       "'max_failures' is a count (1 or more) or a percent such as \"10%%\".");
        if (!sp->max_failures.percent && sp->max_failures.value > (int64_t)sp->nsites)
            return bad(req, JP_ERR_PARAMETER_INVALID,
                       "'max_failures' (%lld) is more than the %zu sites.",
                       (long long)sp->max_failures.value, sp->nsites);
    }
    json_t *win = json_object_get(body, "window");
    if (win && !json_is_null(win)) {
        char err[200];
        int off;
        if (rollout_window_parse(win, &b->window, err, sizeof err))
            return bad(req, JP_ERR_PARAMETER_INVALID, "%s", err);
        if (tz_offset(b->window.tz, (int64_t)time(NULL), &off))
            return bad(req, JP_ERR_PARAMETER_INVALID, "window.tz: unknown time zone '%s'.",
                       b->window.tz);
        sp->window = &b->window;
    }
    return 0;
}

static void reply_rollout(struct http_req *req, int status, struct rollout *r)
{
    http_reply_json(req, status, rollout_json(r, (int64_t)time(NULL)));
    rollout_clear(r);
}

/* The rollout id of the path; -1 after answering. */
static int rollout_id(struct http_req *req, char id[JP_UUID_LEN + 1])
{
    if (uuid_parse(http_param(req, "rollout"), id)) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such scheduled script.");
        return -1;
    }
    return 0;
}

static void reply_refused(struct http_req *req, enum store_result r, const char *missing)
{
    if (r == STORE_NOT_FOUND && missing && *missing)
        bad(req, JP_ERR_RESOURCE_MISSING, "No such site: %s (nothing was changed).", missing);
    else if (r == STORE_NOT_FOUND)
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such scheduled script.");
    else if (r == STORE_STARTED)
        http_reply_error(req, JP_ERR_INVALID_STATE,
                         "The scheduled script was launched or has ended: it can no longer be"
                         " changed.");
    else
        api_reply_store_error(req, r);
}

static void write_rollout(struct http_req *req, bool create)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1], missing[JP_UUID_LEN + 1] = "";
    if (!create && rollout_id(req, id))
        return;
    if (!create) { /* another team's, or none: 404 before the body is looked at */
        struct rollout cur;
        enum store_result rc = store_rollout_get(app->store, who->team, id, &cur);
        rollout_clear(&cur);
        if (rc != STORE_OK) {
            reply_refused(req, rc, NULL);
            return;
        }
    }
    json_t *body = api_json_body(req);
    if (!body)
        return;
    struct spec_buf b;
    if (parse_spec(req, body, &b) == 0) {
        struct rollout r;
        enum store_result rc =
            create ? store_rollout_create(app->store, who->team, who->subject, &b.spec, &r, missing)
                   : store_rollout_update(app->store, who->team, id, who->subject, &b.spec, &r,
                                          missing);
        if (rc == STORE_CREATED || rc == STORE_OK)
            reply_rollout(req, create ? 201 : 200, &r);
        else
            reply_refused(req, rc, missing);
    }
    spec_buf_clear(&b);
    json_decref(body);
}

void api_rollouts_create(struct http_req *req)
{
    write_rollout(req, true);
}

void api_rollouts_update(struct http_req *req)
{
    write_rollout(req, false);
}

void api_rollouts_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct rollout_list l;
    enum store_result r = store_rollout_list(app->store, who->team, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, rollout_json(&l.items[i], now));
    rollout_list_clear(&l);
    http_reply_json(req, 200, arr);
}

/* Loads the rollout of the path; -1 after answering. */
static int load(struct http_req *req, struct rollout *r)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    memset(r, 0, sizeof *r);
    if (rollout_id(req, id))
        return -1;
    enum store_result rc = store_rollout_get(app->store, who->team, id, r);
    if (rc != STORE_OK) {
        reply_refused(req, rc, NULL);
        return -1;
    }
    return 0;
}

void api_rollouts_get(struct http_req *req)
{
    struct rollout r;
    if (load(req, &r) == 0)
        reply_rollout(req, 200, &r);
}

void api_rollouts_progress(struct http_req *req)
{
    struct rollout r;
    if (load(req, &r))
        return;
    http_reply_json(req, 200, rollout_progress_json(&r));
    rollout_clear(&r);
}

void api_rollouts_authorize(struct http_req *req)
{
    struct rollout r;
    if (load(req, &r))
        return;
    char url[200];
    snprintf(url, sizeof url, "/scripts/scheduled/%s/approve", r.id);
    const char *msg =
        r.status == RO_UNAUTHORIZED
            ? "Approve with POST to approve_url, with the scope scripts:approve, as a caller"
              " other than its creator."
            : "This scheduled script needs no approval now: see status.";
    http_reply_json(req, 200,
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "message", msg, "status",
                              rollout_status_name(r.status), "approve_url", url, "method", "POST",
                              "scope", "scripts:approve", "created_by", r.created_by, "launch_at",
                              time_json(r.launch_at)));
    rollout_clear(&r);
}

static void act(struct http_req *req, enum rollout_action a)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (rollout_id(req, id))
        return;
    int64_t now = (int64_t)time(NULL);
    if (a == RA_APPROVE) {
        struct rollout cur;
        enum store_result rc = store_rollout_get(app->store, who->team, id, &cur);
        if (rc != STORE_OK) {
            reply_refused(req, rc, NULL);
            return;
        }
        bool mine = !strcmp(cur.created_by, who->subject);
        int64_t launch_at = cur.launch_at;
        rollout_clear(&cur);
        if (!who->subject[0]) {
            http_reply_error(req, JP_ERR_FORBIDDEN,
                             "Approval needs an identified caller: a token with a 'sub' claim, or"
                             " an API key.");
            return;
        }
        if (mine) {
            http_reply_error(req, JP_ERR_FORBIDDEN,
                             "Two-person rule: the creator of a scheduled script cannot approve"
                             " it.");
            return;
        }
        if (launch_at <= now) {
            http_reply_error(req, JP_ERR_INVALID_STATE,
                             "launch_at has passed: update the scheduled script with a new"
                             " launch_at, then approve it.");
            return;
        }
    }
    struct rollout r;
    enum store_result rc = store_rollout_act(app->store, who->team, id, a, who->subject, now, &r);
    if (rc == STORE_OK) {
        if (a == RA_APPROVE || a == RA_RESUME)
            api_scheduler_kick();
        if (a == RA_DELETE) {
            http_reply_json(req, 200,
                            json_pack("{s:s, s:s}", "message",
                                      r.status == RO_CANCELLED ? "The script was successfully"
                                                                 " cancelled."
                                                               : "The script was aborted.",
                                      "status", rollout_status_name(r.status)));
            rollout_clear(&r);
            return;
        }
        reply_rollout(req, 200, &r);
        return;
    }
    if (rc == STORE_CONFLICT) {
        static const char *const why[] = {
            [RA_APPROVE] = "Only an unauthorized scheduled script can be approved.",
            [RA_PAUSE] = "Only a launched scheduled script can be paused.",
            [RA_RESUME] = "Only a paused scheduled script can be resumed.",
            [RA_ABORT] = "Only a launched or paused scheduled script can be aborted.",
            [RA_DELETE] = "The scheduled script has ended already.",
        };
        http_reply_error(req, JP_ERR_INVALID_STATE, why[a]);
        return;
    }
    reply_refused(req, rc, NULL);
}

void api_rollouts_delete(struct http_req *req)
{
    act(req, RA_DELETE);
}

void api_rollouts_approve(struct http_req *req)
{
    act(req, RA_APPROVE);
}

void api_rollouts_pause(struct http_req *req)
{
    act(req, RA_PAUSE);
}

void api_rollouts_resume(struct http_req *req)
{
    act(req, RA_RESUME);
}

void api_rollouts_abort(struct http_req *req)
{
    act(req, RA_ABORT);
}

void api_rollouts_events(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (rollout_id(req, id))
        return;
    struct log_list l;
    enum store_result rc = store_rollout_events(app->store, who->team, id, &l);
    if (rc != STORE_OK) {
        reply_refused(req, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr,
                              json_pack("{s:o, s:s}", "timestamp", time_json(l.items[i].timestamp),
                                        "message", l.items[i].message ? l.items[i].message : ""));
    log_list_clear(&l);
    http_reply_json(req, 200, arr);
}

/* ---- script templates ---------------------------------------------------- */

#define TEMPLATE_NAME_MAX 100
#define TEMPLATE_DESCRIPTION_MAX 200
#define TEMPLATE_CONTENT_MAX 5000

static json_t *template_json(const struct script_template *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", t->id, "name", t->name,
                     "description", t->description ? t->description : "", "content", t->content,
                     "created_by", t->created_by, "created_at", time_json(t->created_at),
                     "updated_at", time_json(t->updated_at));
}

static int template_id(struct http_req *req, char id[JP_UUID_LEN + 1])
{
    if (uuid_parse(http_param(req, "template"), id)) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such template.");
        return -1;
    }
    return 0;
}

static void reply_template(struct http_req *req, enum store_result rc, int status,
                           struct script_template *t)
{
    if (rc == STORE_OK || rc == STORE_CREATED)
        http_reply_json(req, status, template_json(t));
    else if (rc == STORE_NOT_FOUND)
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such template.");
    else
        api_reply_store_error(req, rc);
    script_template_clear(t);
}

static void write_template(struct http_req *req, bool create)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (!create && template_id(req, id))
        return;
    if (!create) {
        struct script_template cur;
        enum store_result rc = store_template_get(app->store, who->team, id, &cur);
        script_template_clear(&cur);
        if (rc != STORE_OK) {
            reply_template(req, rc, 200, &cur);
            return;
        }
    }
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *name, *desc = "", *content;
    json_t *d = json_object_get(body, "description");
    if ((name =
             api_json_string(req, body, "name", 1, TEMPLATE_NAME_MAX, JP_ERR_PARAMETER_INVALID)) &&
        (!d || json_is_null(d) ||
         (desc = api_json_string(req, body, "description", 0, TEMPLATE_DESCRIPTION_MAX,
                                 JP_ERR_PARAMETER_INVALID))) &&
        (content = api_json_string(req, body, "content", 1, TEMPLATE_CONTENT_MAX,
                                   JP_ERR_PAYLOAD_TOO_LARGE))) {
        struct script_template t;
        enum store_result rc =
            create ? store_template_create(app->store, who->team, who->subject, name, desc, content,
                                           &t)
                   : store_template_update(app->store, who->team, id, name, desc, content, &t);
        reply_template(req, rc, create ? 201 : 200, &t);
    }
    json_decref(body);
}

void api_templates_create(struct http_req *req)
{
    write_template(req, true);
}

void api_templates_update(struct http_req *req)
{
    write_template(req, false);
}

void api_templates_get(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (template_id(req, id))
        return;
    struct script_template t;
    reply_template(req, store_template_get(app->store, who->team, id, &t), 200, &t);
}

void api_templates_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct template_list l;
    enum store_result rc = store_template_list(app->store, who->team, &l);
    if (rc != STORE_OK) {
        api_reply_store_error(req, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, template_json(&l.items[i]));
    template_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_templates_delete(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (template_id(req, id))
        return;
    enum store_result rc = store_template_delete(app->store, who->team, id);
    if (rc == STORE_OK)
        http_reply(req, 204, NULL, NULL, 0);
    else if (rc == STORE_NOT_FOUND)
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such template.");
    else
        api_reply_store_error(req, rc);
}
