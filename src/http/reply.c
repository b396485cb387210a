/* What a handler answers: status, type, body and headers, kept in the
 * request until server.c sends them; the error shape of every failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"

void http_resp_clear(struct http_resp *r)
{
    free(r->body);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i][0]);
        free(r->headers[i][1]);
    }
    memset(r, 0, sizeof *r);
}

void http_reply(struct http_req *req, int status, const char *content_type, char *body, size_t len)
{
    free(req->resp.body);
    req->resp.status = status;
    req->resp.content_type = content_type;
    req->resp.body = body;
    req->resp.len = len;
}

void http_reply_json(struct http_req *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    http_reply(req, status, "application/json", text, strlen(text));
}

void http_reply_error(struct http_req *req, enum jp_err err, const char *message)
{
    const struct jp_err_info *e = jp_err_info(err);
    char doc[512];
    snprintf(doc, sizeof doc, "%s/errors/%s", http_base_url(req->srv), e->code);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "type", e->type, "code", e->code, "message",
                          message ? message : e->message, "doc_url", doc);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) { /* out of memory: a fixed body still says what happened */
        static const char fallback[] = "{\"type\":\"api_error\",\"code\":\"internal_error\"}";
        text = strdup(fallback);
    }
    http_reply(req, e->status, "application/json", text, text ? strlen(text) : 0);
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    struct http_resp *r = &req->resp;
    if (r->nheaders == HTTP_MAX_RESP_HEADERS)
        return;
    r->headers[r->nheaders][0] = strdup(name);
    r->headers[r->nheaders][1] = strdup(value);
    r->nheaders++;
}
