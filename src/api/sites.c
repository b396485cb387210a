/* Operator side of sites: create (with its bootstrap line), list, read,
 * delete, rotate the device token, heartbeat stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/log.h"

/* expected_serial of a body: absent (0), a serial or null (1), or answered 422 (-1). */
static int serial_param(struct http_req *req, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "expected_serial");
    *out = NULL;
    if (!v)
        return 0;
    if (json_is_null(v))
        return 1;
    const char *serial = api_json_string(req, body, "expected_serial", 1, JP_SERIAL_MAX_CHARS,
                                         JP_ERR_PARAMETER_INVALID);
    if (!serial)
        return -1;
    /* printable ASCII, as serial numbers are: compared without case the same
     * way in C and in SQL */
    for (const unsigned char *c = (const unsigned char *)serial; *c; c++)
        if (*c < 0x20 || *c > 0x7e) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             "The 'expected_serial' parameter must be printable ASCII (no control"
                             " characters).");
            return -1;
        }
    *out = serial;
    return 1;
}

void api_sites_create(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *name =
        api_json_string(req, body, "name", 1, JP_SITE_NAME_MAX_CHARS, JP_ERR_PARAMETER_INVALID);
    const char *serial = NULL;
    struct bootstrap b;
    if (name && serial_param(req, body, &serial) < 0)
        name = NULL;
    if (name && api_bootstrap_new(app, &b)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        name = NULL;
    }
    if (name) {
        struct site s;
        enum store_result r = store_site_create(app->store, who->team, name, serial, &b.line, &s);
        if (r == STORE_CREATED) {
            log_ev(LOG_INFO, "site.created", req->request_id, s.id, NULL, "site %s created", s.id);
            json_t *j = api_site_json(app, &s);
            api_bootstrap_json(req, &b, j);
            http_reply_json(req, 201, j);
        } else {
            api_reply_store_error(req, r);
        }
        site_clear(&s);
    }
    json_decref(body);
}

/* The filters of GET /sites as they came, for the next page's link. */
static const char *const site_filters[] = {"has_pulse", "q", "version", "include"};

/* Appends &name=value (percent-encoded) to link; -1 when it does not fit. */
static int link_param(char *link, size_t cap, const char *name, const char *value)
{
    char enc[3 * 256 + 1];
    size_t n = strlen(link);
    if (url_encode(value, enc, sizeof enc) < 0)
        return -1;
    int w = snprintf(link + n, cap - n, "&%s=%s", name, enc);
    return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}

void api_sites_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct site_query q = {.online = -1};
    char after[JP_UUID_LEN + 1];
    if (api_page_params(req, "after", "site", &q.limit, after, &q.after_id))
        return;
    const char *v;
    if ((v = http_query(req, "has_pulse"))) {
        if (strcmp(v, "true") && strcmp(v, "false")) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "has_pulse must be true or false.");
            return;
        }
        q.online = !strcmp(v, "true");
        q.seen_since = pulse_since((int64_t)time(NULL), app->poll_interval);
    }
    q.q = http_query(req, "q");
    q.version = http_query(req, "version");
    if ((v = http_query(req, "include"))) {
        if (strcmp(v, "last_job")) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "include must be last_job.");
            return;
        }
        q.last_job = true;
    }
    long qn = q.q ? utf8_length(q.q, strlen(q.q)) : 1;
    if (qn < 1 || qn > JP_SITE_NAME_MAX_CHARS) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "q must be 1 to 100 characters (UTF-8).");
        return;
    }
    if (q.version && (!*q.version || strlen(q.version) > 64)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "version must be 1 to 64 characters.");
        return;
    }
    struct site_list l;
    enum store_result r = store_site_list(app->store, who->team, &q, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const struct site *si = &l.items[i];
        json_t *j = api_site_json(app, si);
        if (q.last_job)
            json_object_set_new(
                j, "last_job",
                *si->last_job_id ? json_pack("{s:s, s:s, s:o}", "id", si->last_job_id, "status",
                                             job_status_name((enum job_status)si->last_job_status),
                                             "created_at", time_json(si->last_job_at))
                                 : json_null());
        json_array_append_new(arr, j);
    }
    if (l.more && l.n) {
        char link[1536];
        int bad = snprintf(link, sizeof link, "<%s?limit=%u&after=%s", req->path, q.limit,
                           l.items[l.n - 1].id) >= (int)sizeof link;
        for (size_t i = 0; i < sizeof site_filters / sizeof *site_filters && !bad; i++)
            if ((v = http_query(req, site_filters[i])))
                bad = link_param(link, sizeof link, site_filters[i], v);
        size_t n = strlen(link);
        if (!bad && n + 16 < sizeof link) {
            memcpy(link + n, ">; rel=\"next\"", 14);
            http_add_header(req, "Link", link);
        }
    }
    site_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_sites_get(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    struct site s;
    enum store_result r = store_site_get(app->store, who->team, id, &s);
    if (r == STORE_OK)
        http_reply_json(req, 200, api_site_json(app, &s));
    else
        api_reply_store_error(req, r);
    site_clear(&s);
}

void api_sites_delete(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    enum store_result r = store_site_delete(app->store, who->team, id);
    if (r == STORE_OK) {
        log_ev(LOG_INFO, "site.deleted", req->request_id, id, NULL,
               "site %s deleted; teardown on its next poll", id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}

void api_sites_update(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    struct site_update u = {0};
    int set = serial_param(req, body, &u.expected_serial);
    bool ok = set >= 0;
    u.set_serial = set > 0;
    if (ok && json_object_get(body, "name")) {
        u.name =
            api_json_string(req, body, "name", 1, JP_SITE_NAME_MAX_CHARS, JP_ERR_PARAMETER_INVALID);
        ok = u.name != NULL;
    }
    if (ok) {
        struct site s;
        enum store_result r = store_site_update(app->store, who->team, id, &u, &s);
        if (r == STORE_OK)
            http_reply_json(req, 200, api_site_json(app, &s));
        else
            api_reply_store_error(req, r);
        site_clear(&s);
    }
    json_decref(body);
}

void api_sites_rotate(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    struct bootstrap b;
    if (api_bootstrap_new(app, &b)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    enum store_result r = store_site_rotate_device(app->store, who->team, id, &b.line);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    log_ev(LOG_INFO, "site.rotated", req->request_id, id, NULL,
           "site %s: device token revoked, new bootstrap issued", id);
    json_t *j = json_pack("{s:s}", "site_id", id);
    api_bootstrap_json(req, &b, j);
    http_reply_json(req, 200, j);
}

/* YYYY-MM-DD as unix seconds at 00:00:00Z; -1 when malformed. */
static int64_t parse_date(const char *s)
{
    char buf[32];
    int64_t t;
    if (!s || strlen(s) != 10)
        return -1;
    snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
    return rfc3339_parse(buf, &t) ? -1 : t;
}

static json_t *num_json(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

void api_sites_stats(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    const char *sd = http_query(req, "start_date"), *ed = http_query(req, "end_date");
    if (!sd || !ed) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING, "start_date and end_date are required.");
        return;
    }
    int64_t from = parse_date(sd), to = parse_date(ed);
    if (from < 0 || to < 0 || to < from) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "Dates are YYYY-MM-DD, and end_date is not before start_date.");
        return;
    }
    to += 86400; /* inclusive end date */
    struct stat_list l;
    enum store_result r = store_stats(app->store, who->team, id, from, to, to - from > 48 * 3600,
                                      (int64_t)time(NULL), &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    char ts[JP_RFC3339_LEN + 1];
    for (size_t i = 0; i < l.n; i++) {
        const struct stat_point *p = &l.items[i];
        rfc3339_format(p->created_at, ts);
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s}", "created_at", ts, "cpu_load",
                              num_json(p->cpu_load.avg), "memory_free",
                              num_json(p->memory_free.avg), "disk_free", num_json(p->disk_free.avg),
                              "uptime", num_json(p->uptime), "resolution",
                              p->period == 0      ? "raw"
                              : p->period == 3600 ? "hour"
                                                  : "day");
        if (p->period) { /* an aggregate: averages above, and these */
            json_object_set_new(o, "samples", json_integer(p->samples));
            json_object_set_new(o, "cpu_load_min", num_json(p->cpu_load.min));
            json_object_set_new(o, "cpu_load_max", num_json(p->cpu_load.max));
            json_object_set_new(o, "memory_free_min", num_json(p->memory_free.min));
            json_object_set_new(o, "memory_free_max", num_json(p->memory_free.max));
            json_object_set_new(o, "disk_free_min", num_json(p->disk_free.min));
            json_object_set_new(o, "disk_free_max", num_json(p->disk_free.max));
        }
        json_array_append_new(arr, o);
    }
    free(l.items);
    http_reply_json(req, 200, arr);
}
