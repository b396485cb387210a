#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/log.h"

#define MSG_MAX 192

/* Logs a new job and wakes the site's held polls: a queued job ends a held
 * poll at once (for express jobs that is the point; for others it costs
 * nothing and delivers sooner). */
static void created(struct http_req *req, const struct job *j)
{
    log_info("job %s created site=%s id=%s backup=%d ack=%d", j->token, j->site_id, j->id,
             j->should_backup, j->needs_acknowledgement);
    unsigned woken = http_wake(req->srv, j->site_id);
    if (j->express_execute)
        log_info("job %s express execution requested: %u held poll(s) woken", j->token, woken);
}

/* Reads boolean header `name` (default def). Returns 0/1, or -1 after answering 422. */
static int bool_header(struct http_req *req, const char *name, int def)
{
    const char *v = http_header(req, name);
    if (!v)
        return def;
    int b = parse_bool(v);
    if (b < 0) {
        char msg[MSG_MAX];
        snprintf(msg, sizeof msg, "The %s header must be true, false, 1 or 0.", name);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
    }
    return b;
}

/* The description rule, shared by both create forms: 3..100 characters of UTF-8. */
static int check_description(struct http_req *req, const char *d)
{
    long chars = utf8_length(d, strlen(d));
    if (chars < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "X-Description must be valid UTF-8.");
        return -1;
    }
    if (chars < JP_DESCRIPTION_MIN_CHARS || chars > JP_DESCRIPTION_MAX_CHARS) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "The description must be 3 to 100 characters long.");
        return -1;
    }
    return 0;
}

/* Reads an optional X-Idempotency-Key into key; when absent and generate is
 * set, makes a random one. Returns -1 after answering. */
static int idempotency_key(struct http_req *req, bool generate, char key[JP_UUID_LEN + 1])
{
    const char *k = http_header(req, "X-Idempotency-Key");
    if (k && !*k)
        k = NULL; /* an empty header is a missing one */
    if (!k) {
        unsigned char rnd[16];
        if (generate && RAND_bytes(rnd, sizeof rnd) == 1) {
            uuid4_format(rnd, key);
            return 0;
        }
        http_reply_error(req, generate ? JP_ERR_INTERNAL : JP_ERR_PARAMETER_MISSING,
                         generate ? NULL : "The X-Idempotency-Key header is required.");
        return -1;
    }
    if (uuid_parse(k, key)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "X-Idempotency-Key must be a UUID.");
        return -1;
    }
    return 0;
}

void api_jobs_create(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    char site[JP_UUID_LEN + 1], key[JP_UUID_LEN + 1];
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", site))
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
    if (idempotency_key(req, false, key))
        return;
    const char *desc = http_header(req, "X-Description");
    if (!desc) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING, "The X-Description header is required.");
        return;
    }
    if (check_description(req, desc))
        return;
    int ack = bool_header(req, "X-Needs-Ack", 1);
    int backup = ack < 0 ? -1 : bool_header(req, "X-Backup", 0);
    int express = backup < 0 ? -1 : bool_header(req, "X-Express-Execute", 0);
    if (express < 0)
        return;
    if (!req->body_len) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING,
                         "The request body (the RouterOS script) is required.");
        return;
    }
    long chars = utf8_length(req->body, req->body_len);
    if (chars < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "The script must be UTF-8 text without NUL characters.");
        return;
    }
    if (chars > JP_SCRIPT_MAX_CHARS) {
        http_reply_error(req, JP_ERR_PAYLOAD_TOO_LARGE,
                         "The script must be at most 10000 characters long.");
        return;
    }
    struct job_request jr = {
        .site_id = site,
        .idempotency_key = key,
        .description = desc,
        .script = req->body,
        .express_execute = express,
        .needs_acknowledgement = ack,
        .should_backup = backup,
    };
    struct job j;
    enum store_result r = store_job_create(app->store, who.team, &jr, &j);
    if (r == STORE_CREATED || r == STORE_OK) {
        if (r == STORE_CREATED)
            created(req, &j);
        http_reply_json(req, r == STORE_CREATED ? 201 : 200, api_job_json(&j));
    } else {
        api_reply_store_error(req, r);
    }
    job_clear(&j);
}

/* A JSON boolean field: absent or null gives def; -1 after answering 422. */
static int json_flag(struct http_req *req, json_t *body, const char *name, int def)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return def;
    if (json_is_boolean(v))
        return json_is_true(v);
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "The '%s' parameter must be a boolean.", name);
    http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
    return -1;
}

/* notify_url: absent/null, or an http(s) URL without spaces or controls. */
static int notify_url(struct http_req *req, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "notify_url");
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    const char *u = json_is_string(v) ? json_string_value(v) : NULL;
    int ok = u && json_string_length(v) <= JP_NOTIFY_URL_MAX &&
             strlen(u) == json_string_length(v) &&
             (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7));
    for (const unsigned char *p = (const unsigned char *)u; ok && *p; p++)
        ok = *p > 0x20 && *p != 0x7f;
    if (!ok) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "notify_url must be an http:// or https:// URL of at most 2048 bytes.");
        return -1;
    }
    *out = u;
    return 0;
}

void api_jobs_create_json(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    char site[JP_UUID_LEN + 1], key[JP_UUID_LEN + 1];
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", site))
        return;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *desc, *script, *url = NULL;
    int backup = -1, express = -1, ack = -1;
    if ((desc = api_json_string(req, body, "description", JP_DESCRIPTION_MIN_CHARS,
                                JP_DESCRIPTION_MAX_CHARS, JP_ERR_PARAMETER_INVALID)) &&
        (script = api_json_string(req, body, "script", 1, JP_SCRIPT_MAX_CHARS,
                                  JP_ERR_PAYLOAD_TOO_LARGE)) &&
        (backup = json_flag(req, body, "make_backup", 0)) >= 0 &&
        (express = json_flag(req, body, "express_execute", 0)) >= 0 &&
        (ack = json_flag(req, body, "needs_acknowledgement", 0)) >= 0 &&
        notify_url(req, body, &url) == 0 && idempotency_key(req, true, key) == 0) {
        struct job_request jr = {
            .site_id = site,
            .idempotency_key = key,
            .description = desc,
            .script = script,
            .notify_url = url,
            .express_execute = express,
            .needs_acknowledgement = ack,
            .should_backup = backup,
        };
        struct job j;
        enum store_result r = store_job_create(app->store, who.team, &jr, &j);
        if (r == STORE_CREATED || r == STORE_OK) {
            if (r == STORE_CREATED)
                created(req, &j);
            char date[JP_RFC3339_LEN + 1];
            rfc3339_format((int64_t)time(NULL), date);
            json_t *data =
                json_pack("{s:s, s:s, s:s, s:o, s:s}", "idempotency_key", j.idempotency_key,
                          "request_id", j.id, "target", j.site_id, "notify_url",
                          j.notify_url ? json_string(j.notify_url) : json_null(), "date", date);
            http_reply_json(req, 200, json_pack("{s:s, s:o}", "status", "success", "data", data));
        } else {
            api_reply_store_error(req, r);
        }
        job_clear(&j);
    }
    json_decref(body);
}

/* Parses limit: digits only, 1..1000. Returns 0 (absent), the value, or -1. */
static long parse_limit(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 4 || strspn(s, "0123456789") != n)
        return -1;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 1000 ? v : -1;
}

void api_jobs_list(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    char site[JP_UUID_LEN + 1], before[JP_UUID_LEN + 1];
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", site))
        return;
    struct job_query q = {.site_id = site, .status = -1};
    long limit = parse_limit(http_query(req, "limit"));
    if (limit < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, "limit must be an integer from 1 to 1000.");
        return;
    }
    q.limit = (unsigned)limit;
    const char *b = http_query(req, "before");
    if (b) {
        if (uuid_parse(b, before)) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "before must be a job id (UUID).");
            return;
        }
        q.before_id = before;
    }
    const char *status = http_query(req, "status");
    if (status && (q.status = job_status_parse(status)) < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "status must be pending, delivered, running, completed or failed.");
        return;
    }
    struct job_list l;
    enum store_result r = store_job_list(app->store, who.team, &q, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, api_job_json(&l.items[i]));
    if (l.more && l.n) {
        char link[512];
        snprintf(link, sizeof link, "<%s?limit=%u&before=%s%s%s>; rel=\"next\"", req->path, q.limit,
                 l.items[l.n - 1].id, status ? "&status=" : "", status ? status : "");
        http_add_header(req, "Link", link);
    }
    job_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_jobs_get(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    char site[JP_UUID_LEN + 1], id[JP_UUID_LEN + 1];
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", site) ||
        api_uuid_param(req, 1, "job id", id))
        return;
    struct job j;
    enum store_result r = store_job_get(app->store, who.team, site, id, &j);
    if (r == STORE_OK)
        http_reply_json(req, 200, api_job_json(&j));
    else
        api_reply_store_error(req, r);
    job_clear(&j);
}

void api_jobs_cancel(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    char site[JP_UUID_LEN + 1], id[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1] = "";
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", site) ||
        api_uuid_param(req, 1, "job id", id))
        return;
    enum store_result r = store_job_cancel(app->store, who.team, site, id, token);
    if (r == STORE_OK) {
        log_info("job %s cancelled site=%s id=%s", token, site, id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}
