#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/log.h"

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
            snprintf(msg, sizeof msg, "The request body is not valid JSON: %s (line %d).",
                     e.text, e.line);
        json_decref(j);
        http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
        return NULL;
    }
    return j;
}

/* Reads the string field `name` of JSON object j with a length in characters
 * within [min, max]. Answers and returns NULL when it is absent or invalid. */
const char *api_json_string(struct http_req *req, json_t *j, const char *name, long min,
                            long max, enum jp_err too_long)
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

void api_sites_create(struct http_req *req)
{
    struct app *app = req->app;
    struct principal who;
    if (api_authenticate(req, &who))
        return;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *name = api_json_string(req, body, "name", 1, JP_SITE_NAME_MAX_CHARS,
                                       JP_ERR_PARAMETER_INVALID);
    if (name) {
        struct site s;
        enum store_result r = store_site_create(app->store, who.team, name, &s);
        if (r == STORE_CREATED) {
            log_info("site %s created", s.id);
            http_reply_json(req, 201, api_site_json(app, &s));
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
    struct principal who;
    if (api_authenticate(req, &who))
        return;
    struct site_list l;
    enum store_result r = store_site_list(app->store, who.team, &l);
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
    struct principal who;
    char id[JP_UUID_LEN + 1];
    if (api_authenticate(req, &who) || api_uuid_param(req, 0, "site id", id))
        return;
    struct site s;
    enum store_result r = store_site_get(app->store, who.team, id, &s);
    if (r == STORE_OK)
        http_reply_json(req, 200, api_site_json(app, &s));
    else
        api_reply_store_error(req, r);
    site_clear(&s);
}
