/* Operator side of sites: create (with its bootstrap line), list, read,
 * delete, rotate the device token, heartbeat stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/log.h"

void api_sites_create(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *name =
        api_json_string(req, body, "name", 1, JP_SITE_NAME_MAX_CHARS, JP_ERR_PARAMETER_INVALID);
    char adoption[JP_ADOPTION_TOKEN_LEN + 1], hash[JP_SIG_HEX + 1];
    if (name && api_random_token(adoption, JP_ADOPTION_TOKEN_LEN)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        name = NULL;
    }
    if (name) {
        struct site s;
        token_hash(adoption, hash);
        enum store_result r = store_site_create(app->store, who->team, name, hash, &s);
        if (r == STORE_CREATED) {
            log_info("site %s created", s.id);
            json_t *j = api_site_json(app, &s);
            char *boot = api_bootstrap(req, adoption);
            json_object_set_new(j, "bootstrap", boot ? json_string(boot) : json_null());
            free(boot);
            http_reply_json(req, 201, j);
        } else {
            api_reply_store_error(req, r);
        }
        site_clear(&s);
    }
    json_decref(body);
}

void api_sites_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct site_list l;
    enum store_result r = store_site_list(app->store, who->team, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, api_site_json(app, &l.items[i]));
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
        log_info("site %s deleted; teardown on its next poll", id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}

void api_sites_rotate(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1], adoption[JP_ADOPTION_TOKEN_LEN + 1], hash[JP_SIG_HEX + 1];
    if (api_uuid_param(req, "site", id))
        return;
    if (api_random_token(adoption, JP_ADOPTION_TOKEN_LEN)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    token_hash(adoption, hash);
    enum store_result r = store_site_rotate_device(app->store, who->team, id, hash);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    log_info("site %s: device token revoked, new bootstrap issued", id);
    char *boot = api_bootstrap(req, adoption);
    http_reply_json(req, 200,
                    json_pack("{s:s, s:o}", "site_id", id, "bootstrap",
                              boot ? json_string(boot) : json_null()));
    free(boot);
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
    enum store_result r =
        store_stats(app->store, who->team, id, from, to, to - from > 48 * 3600, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    char ts[JP_RFC3339_LEN + 1];
    for (size_t i = 0; i < l.n; i++) {
        rfc3339_format(l.items[i].created_at, ts);
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o, s:o}", "created_at", ts,
                                             "cpu_load", num_json(l.items[i].cpu_load),
                                             "memory_free", num_json(l.items[i].memory_free),
                                             "disk_free", num_json(l.items[i].disk_free), "uptime",
                                             num_json(l.items[i].uptime)));
    }
    free(l.items);
    http_reply_json(req, 200, arr);
}
