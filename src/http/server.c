#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/parse.h"
#include "http/tls.h"
#include "lib/log.h"

#define HOLD_BUCKETS 4096

/* Every open connection, for the header deadline: a client must complete each
 * request's headers within the idle timeout of the connection's start or of
 * its previous request, or it is cut off (a slow client that trickles a byte
 * a second never trips libmicrohttpd's inactivity timeout). */
struct conn_track {
    int fd;
    long long deadline_ms; /* 0 while a request is being handled */
    struct conn_track *prev, *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_config cfg;
    char *base_url;       /* owned copy */
    struct http_tls *tls; /* NULL: plain HTTP */
    unsigned port;
    atomic_int in_flight;   /* requests between first call and completion */
    atomic_int connections; /* open connections (our soft limit; MHD's is above it) */
    /* held requests, hashed by key */
    pthread_mutex_t hold_mu;
    struct http_req *holds[HOLD_BUCKETS];
    unsigned nheld; /* suspended right now */
    bool stopping;
    pthread_t timer;          /* deadlines and gone clients */
    struct conn_track *conns; /* open connections */
    pthread_mutex_t conn_mu;  /* guards conns; never held with hold_mu or by MHD calls */
    pthread_cond_t timer_cond;
    unsigned rid_prefix; /* random: request ids of two processes differ */
};

/* ---- responses: reply.c builds them; sending them is here -------------- */

static enum MHD_Result send_resp(struct http_req *req)
{
    struct http_resp *r = &req->resp;
    struct MHD_Response *m =
        r->body ? MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!m)
        return MHD_NO;
    r->body = NULL; /* now owned by the response */
    if (r->content_type)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(m, "X-Request-Id", req->request_id);
    for (int i = 0; i < r->nheaders; i++)
        if (r->headers[i][0] && r->headers[i][1])
            MHD_add_response_header(m, r->headers[i][0], r->headers[i][1]);
    MHD_add_response_header(m, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)r->status, m);
    MHD_destroy_response(m);
    req->answered = true;
    return ret;
}

/* ---- request ids ---------------------------------------------------- */

/* The client's X-Request-Id when it is 1-64 characters of [A-Za-z0-9._:-];
 * else this process's prefix, the thread's number and its count, in hex:
 * unique within the process, no shared counter touched per request. */
static void request_id(const struct http_server *srv, struct MHD_Connection *conn,
                       char out[HTTP_REQUEST_ID_MAX + 1])
{
    static atomic_uint threads;
    static _Thread_local unsigned thread_no;
    static _Thread_local unsigned long long seq;
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = v ? strlen(v) : 0;
    if (n && n <= HTTP_REQUEST_ID_MAX &&
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n) {
        memcpy(out, v, n + 1);
        return;
    }
    if (!thread_no)
        thread_no = atomic_fetch_add(&threads, 1) + 1;
    snprintf(out, HTTP_REQUEST_ID_MAX + 1, "%08x%04x%08llx", srv->rid_prefix, thread_no & 0xffff,
             ++seq);
}

/* ---- held requests ---------------------------------------------------- */

static long long mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_ms(void)
{
    return mono_us() / 1000;
}

static unsigned bucket(const char *key)
{
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % HOLD_BUCKETS;
}

/* Unlinks req from its bucket; hold_mu held. */
static void hold_unlink(struct http_server *srv, struct http_req *req)
{
    if (!req->hold_registered)
        return;
    if (req->hold_prev)
        req->hold_prev->hold_next = req->hold_next;
    else
        srv->holds[bucket(req->hold_key)] = req->hold_next;
    if (req->hold_next)
        req->hold_next->hold_prev = req->hold_prev;
    req->hold_prev = req->hold_next = NULL;
    req->hold_registered = false;
}

/* Resumes a suspended request with the given reason; hold_mu held. */
static void hold_release(struct http_server *srv, struct http_req *req, enum http_hold_state why)
{
    hold_unlink(srv, req);
    req->hold_state = why;
    if (req->hold_suspended) {
        req->hold_suspended = false;
        srv->nheld--;
        MHD_resume_connection(req->conn);
    }
}

void http_hold_begin(struct http_req *req, const char *key)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&srv->hold_mu);
    hold_unlink(srv, req);
    snprintf(req->hold_key, sizeof req->hold_key, "%s", key);
    req->hold_woken = false;
    unsigned b = bucket(req->hold_key);
    req->hold_prev = NULL;
    req->hold_next = srv->holds[b];
    if (req->hold_next)
        req->hold_next->hold_prev = req;
    srv->holds[b] = req;
    req->hold_registered = true;
    pthread_mutex_unlock(&srv->hold_mu);
}

bool http_hold_commit(struct http_req *req, unsigned timeout_ms)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&srv->hold_mu);
    if (req->hold_woken || srv->stopping) {
        hold_unlink(srv, req);
        pthread_mutex_unlock(&srv->hold_mu);
        return false;
    }
    req->hold_deadline_ms = mono_ms() + timeout_ms;
    req->hold_suspended = true;
    srv->nheld++;
    MHD_suspend_connection(req->conn);
    pthread_mutex_unlock(&srv->hold_mu);
    return true;
}

void http_hold_end(struct http_req *req)
{
    pthread_mutex_lock(&req->srv->hold_mu);
    hold_unlink(req->srv, req);
    pthread_mutex_unlock(&req->srv->hold_mu);
}

unsigned http_wake(struct http_server *srv, const char *key)
{
    unsigned n = 0;
    pthread_mutex_lock(&srv->hold_mu);
    struct http_req *r = srv->holds[bucket(key)];
    while (r) {
        struct http_req *next = r->hold_next;
        if (!strcmp(r->hold_key, key)) {
            r->hold_woken = true;
            if (r->hold_suspended)
                hold_release(srv, r, HTTP_HOLD_WOKEN);
            n++;
        }
        r = next;
    }
    pthread_mutex_unlock(&srv->hold_mu);
    return n;
}

bool http_hold_full(struct http_server *srv)
{
    return srv->cfg.max_held && http_held(srv) >= srv->cfg.max_held;
}

unsigned http_held(struct http_server *srv)
{
    pthread_mutex_lock(&srv->hold_mu);
    unsigned n = srv->nheld;
    pthread_mutex_unlock(&srv->hold_mu);
    return n;
}

enum { DEFER_NONE, DEFER_WAITING, DEFER_RESUMED };

void http_defer(struct http_req *req, http_handler then)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&srv->hold_mu);
    bool wait = req->defer_state != DEFER_RESUMED;
    if (wait) {
        req->defer_state = DEFER_WAITING;
        req->then = then;
        MHD_suspend_connection(req->conn);
    } else {
        req->defer_state = DEFER_NONE;
    }
    pthread_mutex_unlock(&srv->hold_mu);
    req->deferred = wait;
    if (!wait)
        then(req); /* already resumed: answer now */
}

void http_resume(struct http_req *req)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&srv->hold_mu);
    if (req->defer_state == DEFER_WAITING) {
        req->defer_state = DEFER_NONE;
        MHD_resume_connection(req->conn);
    } else {
        req->defer_state = DEFER_RESUMED; /* http_defer has not run yet */
    }
    pthread_mutex_unlock(&srv->hold_mu);
}

/* 1 when the peer closed its side (nothing is read: MSG_PEEK). */
static int client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Every 100 ms: release held requests whose deadline passed; every second,
 * also those whose client went away. */
static void *timer_main(void *arg)
{
    struct http_server *srv = arg;
    unsigned tick = 0;
    pthread_mutex_lock(&srv->hold_mu);
    while (!srv->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&srv->timer_cond, &srv->hold_mu, &until);
        if (srv->stopping)
            continue;
        long long now = mono_ms();
        bool check_gone = ++tick % 10 == 0;
        if (check_gone && srv->cfg.idle_timeout) {
            pthread_mutex_unlock(&srv->hold_mu); /* the two locks are never nested */
            pthread_mutex_lock(&srv->conn_mu);
            for (struct conn_track *t = srv->conns; t; t = t->next)
                if (t->deadline_ms && now > t->deadline_ms) {
                    shutdown(t->fd, SHUT_RDWR); /* libmicrohttpd then closes it */
                    t->deadline_ms = 0;
                }
            pthread_mutex_unlock(&srv->conn_mu);
            pthread_mutex_lock(&srv->hold_mu);
            if (srv->stopping)
                continue;
        }
        if (srv->nheld == 0)
            continue;
        for (unsigned b = 0; b < HOLD_BUCKETS; b++) {
            struct http_req *r = srv->holds[b];
            while (r) {
                struct http_req *next = r->hold_next;
                if (r->hold_suspended && now >= r->hold_deadline_ms)
                    hold_release(srv, r, HTTP_HOLD_TIMEOUT);
                else if (r->hold_suspended && check_gone && client_gone(r->conn))
                    hold_release(srv, r, HTTP_HOLD_GONE);
                r = next;
            }
        }
    }
    /* stopping: every held request gets its answer now */
    for (unsigned b = 0; b < HOLD_BUCKETS; b++)
        while (srv->holds[b])
            hold_release(srv, srv->holds[b], HTTP_HOLD_TIMEOUT);
    pthread_mutex_unlock(&srv->hold_mu);
    return NULL;
}

/* ---- request lifecycle ------------------------------------------------ */

const char *http_header(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    if (key && value && !strcasecmp(key, "X-Forwarded-For"))
        *(const char **)cls = value;
    return MHD_YES;
}

const char *http_client_ip(struct http_req *req, char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)cap);
    const char *proxy = req->srv->cfg.trusted_proxy;
    const char *xff = NULL;
    if (proxy && !strcmp(buf, proxy)) /* its last line: the one the trusted proxy added */
        MHD_get_connection_values(req->conn, MHD_HEADER_KIND, last_xff, &xff);
    if (xff) { /* the last hop is the one the trusted proxy saw */
        const char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ')
            last++;
        unsigned char tmp[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, last, tmp) == 1 || inet_pton(AF_INET6, last, tmp) == 1)
            snprintf(buf, cap, "%s", last);
    }
    return buf;
}

static void req_free(struct http_req *req)
{
    if (req->cont && req->cont_free)
        req->cont_free(req->cont);
    http_resp_clear(&req->resp);
    free(req->path);
    free(req->segments);
    free(req->body);
    free(req);
}

/* A route's own limit, capped by the configured maximum body size unless
 * the route says otherwise. */
static size_t route_limit(const struct http_server *srv, const struct http_route *r)
{
    return srv->cfg.max_body && r->body_limit > srv->cfg.max_body && !r->own_limit
               ? srv->cfg.max_body
               : r->body_limit;
}

static enum MHD_Result reply_now(struct http_req *req, enum jp_err err, const char *msg)
{
    http_reply_error(req, err, msg);
    return send_resp(req);
}

/* A request arrived whole (deadline off) or was answered (deadline on: the
 * next one must arrive, headers and body, within the idle timeout). */
static void conn_deadline(struct http_server *srv, struct MHD_Connection *conn, bool on)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&srv->conn_mu);
    t->deadline_ms = on ? mono_ms() + 1000LL * srv->cfg.idle_timeout : 0;
    pthread_mutex_unlock(&srv->conn_mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct http_req *req = *con_cls;

    if (!req) {
        /* the caller's bytes follow the request, aligned */
        size_t head = (sizeof *req + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
        req = calloc(1, head + srv->cfg.caller_size);
        if (!req)
            return MHD_NO;
        if (srv->cfg.caller_size)
            req->caller = (char *)req + head;
        req->srv = srv;
        req->conn = conn;
        req->app = srv->cfg.app;
        req->method = method;
        req->started_us = mono_us();
        request_id(srv, conn, req->request_id);
        req->path = strdup(url);
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        if (!req->path)
            return MHD_NO;
        http_route_match(srv->cfg.routes, srv->cfg.nroutes, req);
        /* Past the soft connection limit: a clear 503 rather than a silent close. */
        if (srv->cfg.max_connections &&
            (unsigned)atomic_load(&srv->connections) > srv->cfg.max_connections) {
            http_reply_error(req, JP_ERR_OVERLOADED, NULL);
            http_add_header(req, "Retry-After", "5");
            http_add_header(req, "Connection", "close");
            return send_resp(req);
        }
        /* Framing a proxy could read otherwise, or a header given twice: 400,
         * and the connection closes (what follows cannot be trusted). */
        char why[128];
        if (http_framing_conflict(conn, why, sizeof why)) {
            http_reply_error(req, JP_ERR_REQUEST_MALFORMED, why);
            http_add_header(req, "Connection", "close");
            return send_resp(req);
        }
        /* An announced body over the limit is refused before it is sent. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && req->route && strtoull(cl, NULL, 10) > route_limit(srv, req->route)) {
            req->too_large = true;
            return reply_now(req, JP_ERR_PAYLOAD_TOO_LARGE, NULL);
        }
        req->announced = cl ? (size_t)strtoull(cl, NULL, 10) : 0;
        return MHD_YES;
    }
    if (req->answered) { /* discard what a refused client still sends */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t limit = req->route ? route_limit(srv, req->route) : 0;
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->route) /* the 404/405 answer follows; the body is not needed */
            return MHD_YES;
        if (req->too_large || req->body_len + n > limit) {
            /* libmicrohttpd takes no answer in the middle of a body: drop the
             * rest and answer 413 at its end, or close a client that keeps
             * sending far past the limit. */
            req->too_large = true;
            req->discarded += n;
            return req->discarded > 16 * (limit + 1024) ? MHD_NO : MHD_YES;
        }
        if (req->body_len + n > req->body_cap) { /* grows to the limit, not allocated at it */
            size_t cap = req->body_cap ? req->body_cap * 2 : req->announced;
            if (cap < req->body_len + n)
                cap = req->body_len + n;
            if (cap > limit)
                cap = limit;
            char *p = realloc(req->body, cap + 1);
            if (!p)
                return MHD_NO;
            req->body = p;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        return MHD_YES;
    }
    /* The whole request is here (within its deadline): answer it. */
    conn_deadline(srv, conn, false);
    if (!req->route) {
        if (req->allow[0]) {
            http_reply_error(req, JP_ERR_METHOD_NOT_ALLOWED, NULL);
            http_add_header(req, "Allow", req->allow);
        } else {
            http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such endpoint.");
        }
        return send_resp(req);
    }
    if (req->too_large) {
        http_reply_error(req, JP_ERR_PAYLOAD_TOO_LARGE, NULL);
        return send_resp(req);
    }
    if (req->body)
        req->body[req->body_len] = '\0';
    http_handler run = req->then; /* a deferred answer's continuation keeps its caller */
    req->then = NULL;
    req->deferred = false;
    if (!run) {
        run = req->route->fn;
        if (srv->cfg.authenticate) {
            if (req->caller)
                memset(req->caller, 0, srv->cfg.caller_size);
            if (!srv->cfg.authenticate(req)) {
                if (!req->resp.status)
                    http_reply_error(req, JP_ERR_INTERNAL, NULL);
                return send_resp(req);
            }
        }
    }
    run(req);
    if (req->hold_suspended || req->deferred)
        return MHD_YES; /* answered when resumed */
    if (!req->resp.status)
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
    return send_resp(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct http_server *srv = cls;
    struct http_req *req = *con_cls;
    if (!req)
        return;
    if (req->hold_registered)
        http_hold_end(req);
    conn_deadline(srv, conn, true); /* the next request's headers have a deadline too */
    if (srv->cfg.on_done)
        srv->cfg.on_done(req, (double)(mono_us() - req->started_us) / 1e6);
    req_free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv->connections, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_track *t = calloc(1, sizeof *t);
        if (!t || !ci) {
            free(t);
            return;
        }
        t->fd = ci->connect_fd;
        pthread_mutex_lock(&srv->conn_mu);
        t->deadline_ms = mono_ms() + 1000LL * srv->cfg.idle_timeout;
        t->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = t;
        srv->conns = t;
        pthread_mutex_unlock(&srv->conn_mu);
        *socket_ctx = t;
    } else {
        atomic_fetch_sub(&srv->connections, 1);
        struct conn_track *t = *socket_ctx;
        if (!t)
            return;
        pthread_mutex_lock(&srv->conn_mu);
        if (t->prev)
            t->prev->next = t->next;
        else
            srv->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&srv->conn_mu);
        free(t);
        *socket_ctx = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("http: %s", line);
}

struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->cfg = *cfg;
    if (getrandom(&srv->rid_prefix, sizeof srv->rid_prefix, 0) != sizeof srv->rid_prefix)
        srv->rid_prefix = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    pthread_mutex_init(&srv->hold_mu, NULL);
    pthread_mutex_init(&srv->conn_mu, NULL);
    pthread_cond_init(&srv->timer_cond, NULL);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    const char *host = cfg->host && *cfg->host ? cfg->host : "0.0.0.0";
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen address '%s' is not a numeric IPv4 or IPv6 address", host);
        goto fail;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, tls_cert_callback()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    if (cfg->tls_cert) {
        char why[300];
        if (!(srv->tls = tls_new(cfg->tls_cert, cfg->tls_key, why, sizeof why))) {
            snprintf(err, errlen, "TLS: %s", why);
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(cfg->threads ? cfg->threads : 4), MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        srv, MHD_OPTION_CONNECTION_LIMIT,
        /* the hard limit sits above ours, so the excess hears a 503 first */
        (unsigned)(cfg->max_connections ? cfg->max_connections + 64 + cfg->max_connections / 8
                                        : 1000),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(cfg->conn_memory_limit ? cfg->conn_memory_limit : 8192),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_STRICT_FOR_CLIENT, 1, /* e.g. HTTP/1.1 without Host is refused */
        MHD_OPTION_ARRAY, srv->tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %u (in use, or not allowed?)", host,
                 cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    if (cfg->base_url) {
        srv->base_url = strdup(cfg->base_url);
    } else { /* http(s)://HOST:PORT with the port actually bound */
        char base[160];
        int v6 = strchr(host, ':') != NULL;
        int any = !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
        snprintf(base, sizeof base, "%s://%s%s%s:%u", srv->tls ? "https" : "http",
                 v6 && !any ? "[" : "", any ? "127.0.0.1" : host, v6 && !any ? "]" : "", srv->port);
        srv->base_url = strdup(base);
    }
    if (!srv->base_url || pthread_create(&srv->timer, NULL, timer_main, srv)) {
        MHD_stop_daemon(srv->daemon);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return srv;
fail:
    tls_free(srv->tls);
    free(srv->base_url);
    pthread_mutex_destroy(&srv->hold_mu);
    pthread_mutex_destroy(&srv->conn_mu);
    pthread_cond_destroy(&srv->timer_cond);
    free(srv);
    return NULL;
}

unsigned http_port(const struct http_server *srv)
{
    return srv->port;
}

const char *http_base_url(const struct http_server *srv)
{
    return srv->base_url;
}

int http_tls_reload(struct http_server *srv, char *err, size_t cap)
{
    if (!srv->tls) {
        if (cap)
            err[0] = '\0';
        return -1;
    }
    return tls_reload(srv->tls, err, cap);
}

void http_stop(struct http_server *srv, unsigned grace)
{
    if (!srv)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Held requests are answered now (their handlers see HTTP_HOLD_TIMEOUT). */
    pthread_mutex_lock(&srv->hold_mu);
    srv->stopping = true;
    pthread_cond_signal(&srv->timer_cond);
    pthread_mutex_unlock(&srv->hold_mu);
    pthread_join(srv->timer, NULL);
    /* Requests already being handled finish; idle keep-alive connections do not count. */
    struct timespec step = {0, 20 * 1000 * 1000};
    for (unsigned waited = 0; atomic_load(&srv->in_flight) > 0 && waited < grace * 50; waited++)
        nanosleep(&step, NULL);
    MHD_stop_daemon(srv->daemon);
    tls_free(srv->tls);
    free(srv->base_url);
    pthread_mutex_destroy(&srv->hold_mu);
    pthread_mutex_destroy(&srv->conn_mu);
    pthread_cond_destroy(&srv->timer_cond);
    free(srv);
}
