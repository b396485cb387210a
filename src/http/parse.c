#include "http/parse.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server.h"

#define SEEN_MAX 64 /* distinct single-use headers remembered per request */

struct scan {
    const char *seen[SEEN_MAX];
    int nseen;
    const char *repeated; /* the first header given twice */
    const char *te;       /* Transfer-Encoding's value */
    int has_cl;
};

static int single_use(const char *name)
{
    static const char *const once[] = {"Content-Length", "Transfer-Encoding", "Host",
                                       "Authorization", "Content-Type"};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        if (!strcasecmp(name, once[i]))
            return 1;
    /* X-Forwarded-For is a list: proxies in a chain may each add a line
     * (http_client_ip reads the last) */
    return !strncasecmp(name, "X-", 2) && strcasecmp(name, "X-Forwarded-For");
}

static enum MHD_Result each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct scan *s = cls;
    if (!key)
        return MHD_YES;
    if (!strcasecmp(key, "Content-Length"))
        s->has_cl = 1;
    else if (!strcasecmp(key, "Transfer-Encoding"))
        s->te = value ? value : "";
    if (s->repeated || !single_use(key))
        return MHD_YES;
    for (int i = 0; i < s->nseen; i++)
        if (!strcasecmp(s->seen[i], key)) {
            s->repeated = key;
            return MHD_YES;
        }
    if (s->nseen < SEEN_MAX)
        s->seen[s->nseen++] = key;
    return MHD_YES;
}

int http_framing_conflict(struct MHD_Connection *conn, char *msg, size_t cap)
{
    struct scan s = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, each, &s);
    if (s.repeated)
        snprintf(msg, cap, "The header '%s' is given more than once.", s.repeated);
    else if (s.te && s.has_cl)
        snprintf(msg, cap,
                 "Content-Length and Transfer-Encoding together are refused"
                 " (RFC 9112 6.1).");
    else if (s.te && strcasecmp(s.te, "chunked"))
        snprintf(msg, cap, "Transfer-Encoding '%.60s' is not supported (only chunked).", s.te);
    else
        return 0;
    return 1;
}

/* ---- routing ---------------------------------------------------------- */

/* Matches path against pattern; on success fills params (pointing into the
 * copy buf, which is modified) and returns 1. */
static int match(const char *pattern, char *buf, char **params)
{
    int n = 0;
    char *p = buf;
    const char *q = pattern;
    while (*q && *p) {
        if (*q != '/' || *p != '/')
            return 0;
        q++;
        p++;
        const char *qend = strchr(q, '/');
        size_t qlen = qend ? (size_t)(qend - q) : strlen(q);
        char *pend = strchr(p, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        if (qlen >= 2 && q[0] == '{' && q[qlen - 1] == '}') {
            if (plen == 0 || n == HTTP_MAX_PARAMS)
                return 0;
            params[n++] = p;
        } else if (qlen != plen || strncmp(q, p, plen)) {
            return 0;
        }
        q += qlen;
        p += plen;
    }
    if (*q || *p)
        return 0;
    /* Terminate the captured segments in place. */
    for (int i = 0; i < n; i++) {
        char *slash = strchr(params[i], '/');
        if (slash)
            *slash = '\0';
    }
    return 1;
}

void http_route_match(const struct http_route *routes, size_t nroutes, struct http_req *req)
{
    size_t len = strlen(req->path);
    char *scratch = malloc(len + 1);
    if (!scratch)
        return;
    for (size_t i = 0; i < nroutes; i++) {
        const struct http_route *r = &routes[i];
        memcpy(scratch, req->path, len + 1);
        char *params[HTTP_MAX_PARAMS] = {0};
        if (!match(r->pattern, scratch, params))
            continue;
        if (!strcmp(r->method, req->method) && !req->route) {
            req->route = r;
            memcpy(req->params, params, sizeof params);
            req->segments = scratch; /* the params point into it */
            scratch = malloc(len + 1);
            if (!scratch)
                return;
        }
        if (!strstr(req->allow, r->method)) {
            size_t used = strlen(req->allow);
            snprintf(req->allow + used, sizeof req->allow - used, "%s%s", used ? ", " : "",
                     r->method);
        }
    }
    free(scratch);
}

const char *http_param(struct http_req *req, const char *name)
{
    if (!req->route)
        return NULL;
    size_t n = strlen(name);
    int i = 0;
    for (const char *p = strchr(req->route->pattern, '{'); p && i < HTTP_MAX_PARAMS;
         p = strchr(p + 1, '{'), i++)
        if (!strncmp(p + 1, name, n) && p[n + 1] == '}')
            return req->params[i];
    return NULL;
}
