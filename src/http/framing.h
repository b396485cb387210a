/* Requests whose framing or headers could be read two ways are refused
 * before any handler sees them (http/ internal). */
#ifndef JP_HTTP_FRAMING_H
#define JP_HTTP_FRAMING_H

#include <stddef.h>

struct MHD_Connection;

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

#endif
