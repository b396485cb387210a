/* What the handlers share: who calls (the authenticate hook), waiting for an
 * asynchronous store write, request parsing helpers, the JSON shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "core/routeros.h"
#include "core/text.h"

double api_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void api_reply_rate_limited(struct http_req *req, unsigned wait, const char *message)
{
    char after[16];
    snprintf(after, sizeof after, "%u", wait);
    http_reply_error(req, JP_ERR_RATE_LIMITED, message);
    http_add_header(req, "Retry-After", after);
}

/* Takes a request of credential `key` from limiter rl: true, or false
 * after answering 429 with Retry-After. */
static bool within_rate(struct http_req *req, struct ratelimit *rl, const char *key)
{
    unsigned wait = rl ? ratelimit_take(rl, key, api_mono_s()) : 0;
    if (wait)
        api_reply_rate_limited(req, wait, NULL);
    return !wait;
}

/* An operator: a JWT (HS256 with the server secret, RS256/ES256 with a
 * configured public key) or an API key, of a team holding the route's
 * scope. */
static bool operator_auth(struct http_req *req, struct caller *who)
{
    struct app *app = req->app;
    const char *h = http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7]) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED,
                         "An 'Authorization: Bearer <token>' header is required.");
        http_add_header(req, "WWW-Authenticate", "Bearer");
        return false;
    }
    const char *tok = h + 7;
    if (strchr(tok, ':') && !strchr(tok, '.')) { /* {tokenId}:{teamId}:{secret} */
        if (api_key_auth(req, tok, who)) {
            http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            return false;
        }
        if (!within_rate(req, app->key_rate, who->subject))
            return false;
    } else {
        struct jwt_claims claims;
        pthread_rwlock_rdlock(&app->keys_lock);
        struct jwt_verifier v = {app->secret, app->secret_len, app->keys};
        enum jwt_result r = jwt_verify(tok, &v, (int64_t)time(NULL), &app->jwt, &claims);
        pthread_rwlock_unlock(&app->keys_lock);
        if (r != JWT_OK) {
            char msg[128];
            snprintf(msg, sizeof msg, "Invalid bearer token: %s.", jwt_result_str(r));
            http_reply_error(req, JP_ERR_UNAUTHENTICATED, msg);
            http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            return false;
        }
        if (!within_rate(req, app->rate, claims.team))
            return false;
        memcpy(who->team, claims.team, sizeof who->team);
        memcpy(who->subject, claims.sub, sizeof who->subject);
        who->scopes = claims.scopes;
    }
    unsigned need = req->route->scope;
    if ((who->scopes & need) != need) {
        http_reply_error(req, JP_ERR_FORBIDDEN,
                         "The credentials lack the scope this request needs.");
        return false;
    }
    return true;
}

/* A router: the site of its device token (also while its deletion is
 * pending: the teardown needs it). */
static bool device_auth(struct http_req *req, struct caller *who)
{
    struct app *app = req->app;
    const char *h = http_header(req, "Authorization");
    const char *tok = h && !strncasecmp(h, "Bearer ", 7) ? h + 7 : NULL;
    if (!tok || strlen(tok) != JP_DEVICE_TOKEN_LEN) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "A device token is required.");
        return false;
    }
    char hash[JP_SIG_HEX + 1];
    token_hash(tok, hash);
    struct device_site site;
    enum store_result r = store_site_by_device(app->store, hash, &site);
    if (r == STORE_OK) {
        memcpy(who->site_id, site.site_id, sizeof who->site_id);
        who->deleted_at = site.deleted_at;
        who->ros_version = ros_version(site.version);
    } else if (r == STORE_NOT_FOUND) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "Unknown or revoked device token.");
    } else {
        api_reply_store_error(req, r);
    }
    return r == STORE_OK;
}

/* An adoption token has the form of one; whether it is live is the store's
 * to say when it consumes it. */
static bool adoption_auth(struct http_req *req)
{
    if (!api_adoption_allowed(req))
        return false;
    const char *tok = http_param(req, "token");
    if (!tok || strlen(tok) != JP_ADOPTION_TOKEN_LEN ||
        strspn(tok, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
            JP_ADOPTION_TOKEN_LEN) {
        api_adoption_failed(req);
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "Unknown, used or expired adoption token.");
        return false;
    }
    return true;
}

/* A signed URL: the subject (job id and action) is well-formed, the
 * signature is good and unexpired. 404 for a bad signature of a job that
 * does not exist, 403 for one that does. */
static bool signed_auth(struct http_req *req, struct caller *who)
{
    struct app *app = req->app;
    if (req->route->caller == CALLER_SIGNED_REPORT) {
        if (api_uuid_param(req, "job", who->job_id))
            return false;
        int rep = job_report_parse(http_query(req, "status"));
        if (rep < 0) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "status must be busy, done or fail.");
            return false;
        }
        who->action = job_reports[rep].name;
        const char *d = http_query(req, "delivery");
        if (d && (!*d || strlen(d) > 12 || strspn(d, "0123456789") != strlen(d))) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "delivery must be a Unix time.");
            return false;
        }
        who->delivery = d ? strtoll(d, NULL, 10) : 0;
    } else {
        char site[JP_UUID_LEN + 1];
        if (api_uuid_param(req, "site", site))
            return false;
        const char *j = http_query(req, "job");
        if (!j || uuid_parse(j, who->job_id)) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "job must be a job id.");
            return false;
        }
        who->action = "backup";
    }
    const char *e = http_query(req, "expires"), *sig = http_query(req, "signature");
    long long expires = 0;
    if (e && *e && strlen(e) <= 12 && strspn(e, "0123456789") == strlen(e))
        expires = strtoll(e, NULL, 10);
    char action[SIGN_ACTION_MAX];
    sign_action(who->action, who->delivery, action);
    enum sign_result r =
        e ? sign_verify(&app->sign, who->job_id, action, expires, (int64_t)time(NULL), sig)
          : SIGN_BAD;
    if (r == SIGN_OK)
        return true;
    char site[JP_UUID_LEN + 1];
    if (store_job_site(app->store, who->job_id, site) == STORE_NOT_FOUND)
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such job.");
    else
        http_reply_error(req, JP_ERR_FORBIDDEN,
                         r == SIGN_EXPIRED ? "This signed URL has expired."
                                           : "Bad signature for this URL.");
    return false;
}

bool api_authenticate(struct http_req *req)
{
    struct caller *who = req->caller;
    who->kind = (enum caller_kind)req->route->caller;
    switch (who->kind) {
    case CALLER_PUBLIC: return true;
    case CALLER_OPERATOR: return operator_auth(req, who);
    case CALLER_DEVICE: return device_auth(req, who);
    case CALLER_ADOPTION: return adoption_auth(req);
    case CALLER_SIGNED_REPORT:
    case CALLER_SIGNED_UPLOAD: return signed_auth(req, who);
    case CALLER_UNSET:
    case CALLER_KIND_COUNT_: break;
    }
    http_reply_error(req, JP_ERR_INTERNAL, NULL); /* a route without a caller kind */
    return false;
}

static void wait_free(void *state)
{
    struct api_wait *w = state;
    if (w->clear)
        w->clear(w);
    free(w);
}

static void wait_resume(void *req)
{
    http_resume(req);
}

void *api_wait_start(struct http_req *req, size_t size, void (*clear)(void *state))
{
    struct api_wait *w = calloc(1, size);
    if (!w) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return NULL;
    }
    w->as = (struct store_async){.done = wait_resume, .ctx = req};
    w->clear = clear;
    req->cont = w;
    req->cont_free = wait_free;
    return w;
}

void api_wait_end(struct http_req *req)
{
    void *w = req->cont;
    req->cont = NULL;
    if (w)
        wait_free(w);
}

/* 1 when the Content-Type header names media type `want` (parameters allowed). */
int api_content_type_is(struct http_req *req, const char *want)
{
    const char *ct = http_header(req, "Content-Type");
    size_t n = strlen(want);
    if (!ct || strncasecmp(ct, want, n))
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parses the body as a JSON object; answers and returns NULL when it is not. */
json_t *api_json_body(struct http_req *req)
{
    if (!api_content_type_is(req, "application/json")) {
        http_reply_error(req, JP_ERR_UNSUPPORTED_MEDIA_TYPE,
                         "Content-Type must be application/json.");
        return NULL;
    }
    if (!req->body_len) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING, "A JSON request body is required.");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j || !json_is_object(j)) {
        char msg[256];
        if (j)
            snprintf(msg, sizeof msg, "The request body must be a JSON object.");
        else
            snprintf(msg, sizeof msg, "The request body is not valid JSON: %s (line %d).", e.text,
                     e.line);
        json_decref(j);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return NULL;
    }
    return j;
}

/* Reads the string field `name` of JSON object j with a length in characters
 * within [min, max]. Answers and returns NULL when it is absent or invalid. */
const char *api_json_string(struct http_req *req, json_t *j, const char *name, long min, long max,
                            enum jp_err too_long)
{
    char msg[160];
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) {
        snprintf(msg, sizeof msg, "The '%s' parameter is required for this request.", name);
        http_reply_error(req, JP_ERR_PARAMETER_MISSING, msg);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(msg, sizeof msg, "The '%s' parameter must be a string.", name);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return NULL;
    }
    long chars = utf8_length(json_string_value(v), json_string_length(v));
    if (chars < 0) {
        snprintf(msg, sizeof msg, "The '%s' parameter must not contain NUL characters.", name);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return NULL;
    }
    if (chars < min || chars > max) {
        snprintf(msg, sizeof msg, "The '%s' parameter must be %ld to %ld characters long.", name,
                 min, max);
        http_reply_error(req, chars > max ? too_long : JP_ERR_PARAMETER_INVALID, msg);
        return NULL;
    }
    return json_string_value(v);
}

void api_reply_store_error(struct http_req *req, enum store_result r)
{
    switch (r) {
    case STORE_NOT_FOUND: http_reply_error(req, JP_ERR_RESOURCE_MISSING, NULL); break;
    case STORE_CONFLICT: http_reply_error(req, JP_ERR_IDEMPOTENCY_KEY_REUSED, NULL); break;
    case STORE_KEY_CANCELLED:
        http_reply_error(req, JP_ERR_IDEMPOTENCY_KEY_REUSED,
                         "This idempotency key belonged to a job that was cancelled.");
        break;
    case STORE_STARTED: http_reply_error(req, JP_ERR_JOB_ALREADY_STARTED, NULL); break;
    case STORE_STALE:
        http_reply_error(req, JP_ERR_INVALID_STATE, "This report's delivery of the job is over.");
        break;
    case STORE_UNAVAILABLE:
        http_reply_error(req, JP_ERR_STORE_UNAVAILABLE, NULL);
        http_add_header(req, "Retry-After", "1");
        break;
    case STORE_OK:
    case STORE_CREATED: http_reply_error(req, JP_ERR_INTERNAL, NULL); break;
    }
}

int api_uuid_param(struct http_req *req, const char *name, char out[JP_UUID_LEN + 1])
{
    const char *v = http_param(req, name);
    if (v && uuid_parse(v, out) == 0)
        return 0;
    char msg[96];
    snprintf(msg, sizeof msg, "The %s id in the path is not a UUID.", name);
    http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
    return -1;
}

int api_page_params(struct http_req *req, const char *name, const char *what, unsigned *limit,
                    char buf[JP_UUID_LEN + 1], const char **cursor)
{
    const char *s = http_query(req, "limit"), *c = http_query(req, name);
    size_t n = s ? strlen(s) : 0;
    long v = n && n <= 4 && strspn(s, "0123456789") == n ? strtol(s, NULL, 10) : 0;
    char msg[96];
    *limit = 0;
    *cursor = NULL;
    if (s && (v < 1 || v > 1000)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "limit must be an integer from 1 to 1000.");
        return -1;
    }
    if (c && uuid_parse(c, buf)) {
        snprintf(msg, sizeof msg, "%s must be a %s id (UUID).", name, what);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return -1;
    }
    *limit = (unsigned)v;
    *cursor = c ? buf : NULL;
    return 0;
}

json_t *api_site_json(const struct app *app, const struct site *s)
{
    return site_json(s, site_has_pulse(s, (int64_t)time(NULL), app->poll_interval));
}

void api_healthz(struct http_req *req)
{
    struct app *app = req->app;
    json_t *j = json_pack("{s:s, s:i, s:{s:I, s:I, s:I}}", "status", "ok", "held_polls",
                          (int)http_held(app->srv ? app->srv : req->srv), "adoptions", "adopted",
                          (json_int_t)atomic_load(&app->adopt.ok), "refused",
                          (json_int_t)atomic_load(&app->adopt.refused), "rate_limited",
                          (json_int_t)atomic_load(&app->adopt.limited));
    /* the poll script routers are brought to */
    json_object_set_new(j, "poll_script_revision", json_string(app->poll_rev));
    struct outbox_health h;
    /* the webhook outbox: what waits, since when, and what failed for good */
    if (store_outbox_health(app->store, (int64_t)time(NULL) * 1000, &h) == STORE_OK)
        json_object_set_new(j, "outbox",
                            json_pack("{s:I, s:I, s:I}", "depth", (json_int_t)h.depth,
                                      "oldest_age_seconds", (json_int_t)(h.oldest_age_ms / 1000),
                                      "dead_letters", (json_int_t)h.dead));
    /* the pruner: how far the roll-ups got, what it removed since the start */
    struct retention_status rs;
    store_retention_status(app->store, &rs);
    char hu[JP_RFC3339_LEN + 1], du[JP_RFC3339_LEN + 1];
    rfc3339_format(rs.hourly_upto, hu);
    rfc3339_format(rs.daily_upto, du);
    json_object_set_new(j, "retention",
                        json_pack("{s:b, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I}}", "idle", rs.idle,
                                  "hourly_upto", hu, "daily_upto", du, "rolled_up",
                                  (json_int_t)rs.rolled, "removed", "stats", (json_int_t)rs.stats,
                                  "rollups", (json_int_t)rs.rollups, "jobs", (json_int_t)rs.jobs,
                                  "events", (json_int_t)rs.events));
    http_reply_json(req, 200, j);
}

void api_ca_pem(struct http_req *req)
{
    const struct app *app = req->app;
    char *pem = app->ca_pem ? strdup(app->ca_pem) : NULL;
    if (!app->ca_pem)
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "This server has no --tls-ca.");
    else if (!pem)
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
    else
        http_reply(req, 200, "application/x-pem-file", pem, strlen(pem));
}

/* docs/openapi.json, compiled in by the Makefile */
extern const char api_openapi_json[];

void api_openapi(struct http_req *req)
{
    char *doc = strdup(api_openapi_json);
    if (!doc)
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
    else
        http_reply(req, 200, "application/json", doc, strlen(doc));
}

void api_error_doc(struct http_req *req)
{
    for (int e = 1; e < JP_ERR_COUNT_; e++) {
        const struct jp_err_info *i = jp_err_info((enum jp_err)e);
        const char *code = http_param(req, "code");
        if (code && !strcmp(code, i->code)) {
            http_reply_json(req, 200,
                            json_pack("{s:s, s:s, s:i, s:s}", "code", i->code, "type", i->type,
                                      "status", i->status, "message", i->message));
            return;
        }
    }
    http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such error code.");
}
