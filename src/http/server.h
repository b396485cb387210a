/* The HTTP server glue on libmicrohttpd: request lifecycle, route matching,
 * body limits and JSON error responses. It knows nothing of jobs: handlers and
 * the route table come from the caller.
 *
 * Lifecycle of a request: the first access-handler call only allocates the
 * request and matches the route (answering here would make libmicrohttpd
 * 0.9.75 close keep-alive connections); body chunks are copied into a buffer
 * bounded by the route's body limit; the final call runs the handler, which
 * fills req->resp; the completion callback frees everything. */
#ifndef JP_HTTP_SERVER_H
#define JP_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

struct MHD_Connection;
struct http_req;

typedef void (*http_handler)(struct http_req *req);

struct http_route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *pattern; /* "/site/{site}/job/{job}": {name} captures one path segment */
    http_handler fn;
    size_t body_limit; /* bytes (capped by http_config.max_body); 0 = no body */
    unsigned caller;   /* opaque to http/: who may call (read by the authenticate hook) */
    unsigned scope;    /* opaque to http/: what that caller must hold */
    bool own_limit;    /* body_limit is not capped by max_body (bulk bodies) */
};

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_RESP_HEADERS 4
#define HTTP_REQUEST_ID_MAX 64

struct http_resp {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc'ed, owned */
    size_t len;
    char *headers[HTTP_MAX_RESP_HEADERS][2]; /* malloc'ed name/value pairs */
    int nheaders;
};

struct http_server;

/* Why a held request's handler runs again. */
enum http_hold_state {
    HTTP_HOLD_NONE = 0, /* first run */
    HTTP_HOLD_WOKEN,    /* http_wake named its key */
    HTTP_HOLD_TIMEOUT,  /* its deadline passed, or the server is stopping */
    HTTP_HOLD_GONE,     /* the client went away; the answer will not be read */
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    void *app; /* the caller's context, from http_config */
    const char *method;
    char *path;                     /* owned copy of the decoded path */
    char *segments;                 /* owned; the params point into it */
    const struct http_route *route; /* NULL: no route for this path/method */
    char *params[HTTP_MAX_PARAMS];  /* captured segments, NUL-terminated */
    char *body;                     /* owned, NUL-terminated */
    size_t body_len, body_cap;      /* body_cap: allocated, less the NUL */
    size_t announced;               /* the Content-Length, 0 when none */
    bool too_large;                 /* body exceeded the route's limit */
    size_t discarded;               /* bytes dropped after exceeding it */
    bool answered;                  /* a response was queued */
    char allow[64];                 /* methods of the path, for 405 */
    struct http_resp resp;
    /* held requests (long polls): see http_hold_begin */
    enum http_hold_state hold_state; /* why the handler runs (again) */
    char hold_key[48];
    bool hold_registered, hold_woken, hold_suspended;
    long long hold_deadline_ms;
    struct http_req *hold_prev, *hold_next; /* bucket list of the key */
    /* the authenticated caller: http_config.caller_size bytes, filled by
     * http_config.authenticate before the handler runs */
    void *caller;
    /* deferred answers: see http_defer */
    void *cont;                /* the handler's state while it waits; NULL otherwise */
    void (*cont_free)(void *); /* frees cont if the request ends without the handler */
    http_handler then;         /* runs when a deferred request is resumed */
    int defer_state;           /* guarded by the server: none, waiting, resumed early */
    bool deferred;             /* the handler's last run deferred (the MHD thread's) */
    long long started_us;      /* monotonic, when its headers were read */
    char request_id[HTTP_REQUEST_ID_MAX + 1]; /* the client's X-Request-Id, or a new one; echoed */
};

struct http_config {
    const char *host; /* numeric address; NULL or "" = any */
    unsigned port;
    unsigned threads;
    unsigned max_connections;  /* beyond this, requests answer 503 overloaded (Retry-After) */
    unsigned max_held;         /* held requests at most; http_hold_commit refuses beyond */
    unsigned idle_timeout;     /* seconds */
    size_t conn_memory_limit;  /* bytes per connection for headers and buffers */
    size_t max_body;           /* caps every route's body limit; 0 = routes decide */
    const char *trusted_proxy; /* a peer whose X-Forwarded-For names the client; NULL: none */
    const char *base_url;      /* public base URL, for doc_url; NULL: http(s)://HOST:PORT */
    const char *tls_cert;      /* PEM certificate chain: serve HTTPS (with tls_key); NULL: HTTP */
    const char *tls_key;       /* PEM private key of tls_cert */
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    /* Who calls: runs before each run of a route's handler (not before the
     * continuation of a deferred answer, which keeps the caller it had) with
     * req->caller zeroed. Returns false after answering (401, 403, 429, ...):
     * the handler does not run. NULL: every route is public. */
    bool (*authenticate)(struct http_req *req);
    size_t caller_size; /* bytes at req->caller: plain data, freed with the request */
    /* Runs when a request ends (answered, or its client gone) with the
     * seconds since its headers were read; req->route and req->resp.status
     * (0 when nothing was answered) say what it was. NULL: nothing. */
    void (*on_done)(struct http_req *req, double seconds);
};

struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen);
/* Stops accepting, lets requests in flight finish (up to grace seconds), closes. */
void http_stop(struct http_server *srv, unsigned grace);
/* The port actually bound (useful with port 0). */
unsigned http_port(const struct http_server *srv);
/* The public base URL (from the config, or http(s)://HOST:PORT). */
const char *http_base_url(const struct http_server *srv);
/* Reads the TLS certificate and key again (SIGHUP): new connections use
 * them, open ones keep theirs. 0; -1 with the reason in err (the previous
 * pair stays), or with err empty when the server has no TLS. */
int http_tls_reload(struct http_server *srv, char *err, size_t cap);

/* Held requests cost no thread: the connection is suspended until woken.
 * 1. http_hold_begin(req, key): from now on http_wake(key) reaches req.
 * 2. The handler looks once more for what it waits for (closing the race with
 *    a wake that came just before step 1); if found: http_hold_end, answer.
 * 3. http_hold_commit(req, ms): suspends, returning true; the handler returns
 *    without answering. It returns false when a wake already came: look again.
 * The handler then runs again with req->hold_state saying why (woken, the
 * deadline passed or the server stops, the client went away), and must answer
 * or hold again. */
void http_hold_begin(struct http_req *req, const char *key);
bool http_hold_commit(struct http_req *req, unsigned timeout_ms);
/* True when max_held requests are held: a caller should answer 503 instead. */
bool http_hold_full(struct http_server *srv);
void http_hold_end(struct http_req *req);
/* Wakes every request held under key; returns how many. Any thread. */
unsigned http_wake(struct http_server *srv, const char *key);
/* Requests held right now. */
unsigned http_held(struct http_server *srv);

/* Deferred answers cost no thread either. A handler that started work which
 * completes on another thread (an asynchronous store write) keeps its state
 * in req->cont (and cont_free), then calls http_defer(req, then) and returns:
 * the connection is suspended until http_resume(req), after which then(req)
 * runs on an HTTP thread, with the same caller, to answer (or to defer or
 * hold again). When http_resume came first, then(req) runs at once, inside
 * http_defer. http_resume may be called from any thread, once per
 * http_defer. */
void http_defer(struct http_req *req, http_handler then);
void http_resume(struct http_req *req);

/* Request accessors. Returned strings live as long as the request. */
/* The path segment captured by {name} of the route's pattern; NULL if none. */
const char *http_param(struct http_req *req, const char *name);
const char *http_header(struct http_req *req, const char *name);
const char *http_query(struct http_req *req, const char *name);
/* The client's address: the peer, or, when the peer is the trusted proxy, the
 * last address of its X-Forwarded-For. */
const char *http_client_ip(struct http_req *req, char *buf, size_t cap);

/* Responses: each replaces what was set before. Body memory is taken over. */
void http_reply(struct http_req *req, int status, const char *content_type, char *body, size_t len);
/* Serialises j compactly and takes over (decrefs) it. */
void http_reply_json(struct http_req *req, int status, json_t *j);
void http_reply_error(struct http_req *req, enum jp_err err, const char *message);
void http_add_header(struct http_req *req, const char *name, const char *value);
/* http/ only (reply.c): frees what a response holds. */
void http_resp_clear(struct http_resp *r);

#endif
