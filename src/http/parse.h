/* What a request says before any handler sees it (http/ internal): whether
 * its framing or headers could be read two ways, and its route. */
#ifndef JP_HTTP_PARSE_H
#define JP_HTTP_PARSE_H

#include <stddef.h>

struct MHD_Connection;
struct http_req;
struct http_route;

/* Writes why the request's headers are ambiguous into msg and returns 1, or
 * returns 0 when they are not:
 *   - both Content-Length and Transfer-Encoding (RFC 9112 6.1: a proxy in
 *     front may frame the body differently, a request-smuggling risk);
 *   - a Transfer-Encoding other than exactly "chunked";
 *   - a header that must appear once given twice: Content-Length,
 *     Transfer-Encoding, Host, Authorization, Content-Type, and every X-
 *     header but X-Forwarded-For (the job options: which of two would be
 *     used is a guess). */
int http_framing_conflict(struct MHD_Connection *conn, char *msg, size_t cap);

/* Sets req->route and req->params to the first route of the table whose
 * method and pattern match req->path, and lists the methods of every route
 * of the path in req->allow (for a 405). */
void http_route_match(const struct http_route *routes, size_t nroutes, struct http_req *req);

#endif
