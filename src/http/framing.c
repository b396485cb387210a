#include "http/framing.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
