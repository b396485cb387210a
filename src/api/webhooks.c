/* Operator side of webhooks: a team's endpoints (create, list, read,
 * change, delete, rotate the secret, send a ping), their deliveries with
 * every attempt, redelivery, and the team's notify_url secret. Delivery
 * itself is deliver.c's. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "core/webhook.h"
#include "lib/log.h"

#define WEBHOOK_DESCRIPTION_MAX 500
#define ROTATION_OVERLAP (24 * 3600) /* the previous secret keeps signing this long */

static json_t *events_json(unsigned bits)
{
    json_t *a = json_array();
    for (int e = 0; e < EV_PING; e++)
        if (bits & (1u << e))
            json_array_append_new(a, json_string(whk_events[e].name));
    return a;
}

static json_t *webhook_json(const struct webhook *w)
{
    int64_t now = (int64_t)time(NULL);
    return json_pack("{s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o}", "id", w->id, "url",
                     w->url, "description", str_json(w->description), "events",
                     events_json(w->events), "enabled", !w->disabled_at, "disabled_at",
                     time_json(w->disabled_at), "disabled_reason", str_json(w->disabled_reason),
                     "previous_secret_valid_until",
                     time_json(w->old_secret_until > now ? w->old_secret_until : 0), "created_at",
                     time_json(w->created_at), "updated_at", time_json(w->updated_at));
}

/* A new "whsec_..." secret; -1 when the RNG fails (after answering 500). */
static int new_secret(struct http_req *req, char out[WHK_SECRET_LEN + 1])
{
    unsigned char raw[WHK_SECRET_RAW];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return -1;
    }
    whk_secret_format(raw, out);
    return 0;
}

/* Reads the fields a create or a change may carry. -1 after answering. */
static int read_fields(struct http_req *req, json_t *body, bool create, struct webhook_change *c)
{
    *c = (struct webhook_change){.events = -1, .enabled = -1};
    char msg[200];
    json_t *url = json_object_get(body, "url");
    if (url || create) {
        const char *why = !url || json_is_null(url) ? "The 'url' parameter is required."
                          : !json_is_string(url)
                              ? "The 'url' parameter must be a string."
                              : whk_url_check(json_string_value(url), json_string_length(url));
        if (why) {
            http_reply_error(req,
                             !url || json_is_null(url) ? JP_ERR_PARAMETER_MISSING
                                                       : JP_ERR_PARAMETER_INVALID,
                             why);
            return -1;
        }
        c->url = json_string_value(url);
    }
    json_t *ev = json_object_get(body, "events");
    if (ev || create) {
        if (!ev || !json_is_array(ev) || !json_array_size(ev)) {
            http_reply_error(req, ev ? JP_ERR_PARAMETER_INVALID : JP_ERR_PARAMETER_MISSING,
                             "'events' must be a non-empty array of event names.");
            return -1;
        }
        unsigned bits = 0;
        size_t i;
        json_t *v;
        json_array_foreach(ev, i, v)
        {
            int e = json_is_string(v) ? whk_event_parse(json_string_value(v)) : -1;
            if (e < 0) {
                snprintf(msg, sizeof msg, "Unknown event '%.60s' in 'events'.",
                         json_is_string(v) ? json_string_value(v) : "(not a string)");
                http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
                return -1;
            }
            bits |= 1u << e;
        }
        c->events = bits;
    }
    json_t *d = json_object_get(body, "description");
    if (d && !json_is_null(d)) {
        long chars =
            json_is_string(d) ? utf8_length(json_string_value(d), json_string_length(d)) : -1;
        if (chars < 0 || chars > WEBHOOK_DESCRIPTION_MAX) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             "'description' must be a string of at most 500 characters.");
            return -1;
        }
        c->description = json_string_value(d);
    }
    json_t *en = json_object_get(body, "enabled");
    if (en) {
        if (create || !json_is_boolean(en)) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                             create ? "'enabled' can only be changed (PATCH)."
                                    : "'enabled' must be true or false.");
            return -1;
        }
        c->enabled = json_is_true(en);
    }
    return 0;
}

void api_webhooks_create(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    struct webhook_change c;
    char secret[WHK_SECRET_LEN + 1];
    if (read_fields(req, body, true, &c) == 0 && new_secret(req, secret) == 0) {
        struct webhook w;
        enum store_result r = store_webhook_create(app->store, who->team, c.url, c.description,
                                                   (unsigned)c.events, secret, &w);
        if (r == STORE_CREATED) {
            log_info("webhook %s created for %s", w.id, w.url);
            json_t *j = webhook_json(&w);
            json_object_set_new(j, "secret", json_string(secret)); /* shown this once */
            http_reply_json(req, 201, j);
        } else {
            api_reply_store_error(req, r);
        }
        webhook_clear(&w);
    }
    json_decref(body);
}

void api_webhooks_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    struct webhook_list l;
    enum store_result r = store_webhook_list(app->store, who->team, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, webhook_json(&l.items[i]));
    webhook_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_webhooks_get(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "webhook", id))
        return;
    struct webhook w;
    enum store_result r = store_webhook_get(app->store, who->team, id, &w);
    if (r == STORE_OK)
        http_reply_json(req, 200, webhook_json(&w));
    else
        api_reply_store_error(req, r);
    webhook_clear(&w);
}

void api_webhooks_update(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "webhook", id))
        return;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    struct webhook_change c;
    if (read_fields(req, body, false, &c) == 0) {
        struct webhook w;
        enum store_result r = store_webhook_update(app->store, who->team, id, &c, &w);
        if (r == STORE_OK)
            http_reply_json(req, 200, webhook_json(&w));
        else
            api_reply_store_error(req, r);
        webhook_clear(&w);
    }
    json_decref(body);
}

void api_webhooks_delete(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "webhook", id))
        return;
    enum store_result r = store_webhook_delete(app->store, who->team, id);
    if (r == STORE_OK) {
        log_info("webhook %s deleted", id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}

static void reply_secret(struct http_req *req, int status, const char *secret, int64_t old_until)
{
    http_reply_json(req, status,
                    json_pack("{s:s, s:o}", "secret", secret, "previous_secret_valid_until",
                              time_json(old_until)));
}

void api_webhooks_rotate(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1], secret[WHK_SECRET_LEN + 1];
    if (api_uuid_param(req, "webhook", id) || new_secret(req, secret))
        return;
    int64_t until = (int64_t)time(NULL) + ROTATION_OVERLAP;
    enum store_result r = store_webhook_rotate(app->store, who->team, id, secret, until);
    if (r == STORE_OK)
        reply_secret(req, 200, secret, until);
    else
        api_reply_store_error(req, r);
}

void api_webhooks_notify_secret(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char secret[WHK_SECRET_LEN + 1];
    if (new_secret(req, secret))
        return;
    int64_t until = (int64_t)time(NULL) + ROTATION_OVERLAP;
    enum store_result r = store_notify_secret_set(app->store, who->team, secret, until);
    if (r == STORE_OK)
        reply_secret(req, 201, secret, until);
    else
        api_reply_store_error(req, r);
}

void api_webhooks_test(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1], event[48];
    int64_t delivery = 0;
    if (api_uuid_param(req, "webhook", id))
        return;
    enum store_result r = store_webhook_ping(app->store, who->team, id, event, &delivery);
    if (r == STORE_OK)
        http_reply_json(req, 202,
                        json_pack("{s:s, s:s, s:I}", "type", whk_events[EV_PING].name, "event_id",
                                  event, "delivery_id", (json_int_t)delivery));
    else
        api_reply_store_error(req, r);
}

static const char *const delivery_states[] = {"pending", "delivered", "failed"};

static json_t *delivery_json(const struct delivery *d)
{
    json_t *att = json_array();
    for (size_t i = 0; i < d->nattempts; i++) {
        const struct delivery_attempt *a = &d->attempts[i];
        json_array_append_new(att, json_pack("{s:o, s:o, s:I, s:o, s:o}", "at",
                                             time_json(a->at_ms / 1000), "status_code",
                                             a->status ? json_integer(a->status) : json_null(),
                                             "duration_ms", (json_int_t)a->duration_ms, "error",
                                             str_json(a->error), "response", str_json(a->excerpt)));
    }
    return json_pack(
        "{s:I, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)d->id, "event_id",
        d->event_id, "type", d->type, "webhook_id", str_json(d->webhook_id), "status",
        delivery_states[d->state < 0 || d->state > 2 ? 0 : d->state], "next_attempt_at",
        d->state == DELIVERY_PENDING ? time_json(d->next_at_ms / 1000) : json_null(), "created_at",
        time_json(d->created_at_ms / 1000), "updated_at", time_json(d->updated_at_ms / 1000),
        "attempts", att);
}

/* A positive decimal no longer than 18 digits, or -1. */
static int64_t parse_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return -1;
    int64_t v = strtoll(s, NULL, 10);
    return v > 0 ? v : -1;
}

void api_webhooks_deliveries(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "webhook", id))
        return;
    const char *st = http_query(req, "status"), *lim = http_query(req, "limit"),
               *bef = http_query(req, "before");
    int state = -1;
    for (int i = 0; st && i < 3; i++)
        if (!strcmp(st, delivery_states[i]))
            state = i;
    int64_t limit = lim ? parse_id(lim) : 50, before = bef ? parse_id(bef) : 0;
    if (st && state < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "status must be pending, delivered or failed.");
        return;
    }
    if (limit < 1 || limit > 500 || before < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         limit < 1 || limit > 500 ? "limit must be an integer from 1 to 500."
                                                  : "before must be a delivery id.");
        return;
    }
    struct delivery_list l;
    enum store_result r =
        store_deliveries_list(app->store, who->team, id, state, before, (unsigned)limit, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, delivery_json(&l.items[i]));
    if (l.more && l.n) {
        char link[256];
        snprintf(link, sizeof link, "<%s?limit=%lld&before=%lld%s%s>; rel=\"next\"", req->path,
                 (long long)limit, (long long)l.items[l.n - 1].id, st ? "&status=" : "",
                 st ? st : "");
        http_add_header(req, "Link", link);
    }
    delivery_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_webhooks_redeliver(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    int64_t id = parse_id(http_param(req, "delivery"));
    if (id < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "The delivery id in the path is not one.");
        return;
    }
    enum store_result r = store_delivery_redeliver(app->store, who->team, id);
    if (r == STORE_OK)
        http_reply_json(req, 202,
                        json_pack("{s:I, s:s}", "id", (json_int_t)id, "status",
                                  delivery_states[DELIVERY_PENDING]));
    else
        api_reply_store_error(req, r);
}
