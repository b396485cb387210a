/* Outbound HTTP on libcurl's multi interface (client.h). */
#include "http/client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/webhook.h"

#define BODY_READ_MAX (64 * 1024) /* an answer's body is read this far, then dropped */

struct transfer {
    CURL *e;
    struct curl_slist *headers;
    char *body;
    void *ctx;
    int64_t started_ms;
    size_t got;
    bool too_big;
    char refused[160];
    char excerpt[HC_EXCERPT_MAX + 1];
    const struct hc *h;
    struct transfer *prev, *next; /* in hc.all */
};

struct hc {
    CURLM *m;
    struct hc_options o;
    unsigned active;
    struct transfer *all; /* the transfers in flight */
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct hc *hc_new(const struct hc_options *o)
{
    struct hc *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->o = *o;
    h->m = curl_multi_init();
    if (!h->m) {
        free(h);
        return NULL;
    }
    return h;
}

static void transfer_free(struct transfer *t)
{
    curl_easy_cleanup(t->e);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

void hc_free(struct hc *h)
{
    if (!h)
        return;
    for (struct transfer *t = h->all, *next; t; t = next) {
        next = t->next;
        curl_multi_remove_handle(h->m, t->e);
        transfer_free(t);
    }
    curl_multi_cleanup(h->m);
    free(h);
}

/* Every socket a transfer opens passes here: its peer address is checked
 * before the connect. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct transfer *t = arg;
    (void)purpose;
    if (!t->h->o.allow_private) {
        const unsigned char *bytes = NULL;
        char text[INET6_ADDRSTRLEN] = "?";
        if (a->family == AF_INET) {
            bytes = (const unsigned char *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
            inet_ntop(AF_INET, bytes, text, sizeof text);
        } else if (a->family == AF_INET6) {
            bytes = (const unsigned char *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
            inet_ntop(AF_INET6, bytes, text, sizeof text);
        }
        const char *why = bytes ? whk_address_refused(a->family, bytes) : "not an IP address";
        if (why) {
            snprintf(t->refused, sizeof t->refused,
                     "refused to connect to %s: a %s address (--webhook-allow-private allows it)",
                     text, why);
            return CURL_SOCKET_BAD;
        }
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    if (t->got < HC_EXCERPT_MAX) {
        size_t k = len < HC_EXCERPT_MAX - t->got ? len : HC_EXCERPT_MAX - t->got;
        memcpy(t->excerpt + t->got, p, k);
        t->excerpt[t->got + k] = '\0';
    }
    t->got += len;
    if (t->got > BODY_READ_MAX) {
        t->too_big = true;
        return 0; /* ends the transfer: the status is known already */
    }
    return len;
}

int hc_post(struct hc *h, const char *url, const char *const *headers, size_t nheaders,
            const char *body, size_t len, void *ctx)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->h = h;
    t->ctx = ctx;
    t->e = curl_easy_init();
    t->body = malloc(len ? len : 1);
    if (!t->e || !t->body)
        goto fail;
    memcpy(t->body, body, len);
    for (size_t i = 0; i < nheaders; i++) {
        struct curl_slist *l = curl_slist_append(t->headers, headers[i]);
        if (!l)
            goto fail;
        t->headers = l;
    }
    struct curl_slist *l = curl_slist_append(t->headers, "Expect:"); /* no 100-continue wait */
    if (!l)
        goto fail;
    t->headers = l;
    CURL *e = t->e;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->o.total_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->o.user_agent);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->started_ms = mono_ms();
    if (curl_multi_add_handle(h->m, e) != CURLM_OK)
        goto fail;
    h->active++;
    t->next = h->all;
    if (h->all)
        h->all->prev = t;
    h->all = t;
    return 0;
fail:
    transfer_free(t);
    return -1;
}

unsigned hc_active(const struct hc *h)
{
    return h->active;
}

static void report(struct hc *h, CURLMsg *msg, void (*done)(void *arg, const struct hc_result *r),
                   void *arg)
{
    struct transfer *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    struct hc_result r = {.ctx = t->ctx, .retry_after_ms = -1};
    r.duration_ms = mono_ms() - t->started_ms;
    CURLcode rc = msg->data.result;
    curl_easy_getinfo(t->e, CURLINFO_RESPONSE_CODE, &r.status);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t->too_big && r.status)) {
        curl_off_t after = -1;
        if (curl_easy_getinfo(t->e, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            r.retry_after_ms = (int64_t)after * 1000;
        snprintf(r.excerpt, sizeof r.excerpt, "%s", t->excerpt);
    } else {
        r.status = 0;
        snprintf(r.error, sizeof r.error, "%s",
                 t->refused[0]                    ? t->refused
                 : rc == CURLE_OPERATION_TIMEDOUT ? "timed out"
                                                  : curl_easy_strerror(rc));
        if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(r.error, sizeof r.error, "timed out after %lld ms", (long long)r.duration_ms);
    }
    curl_multi_remove_handle(h->m, t->e);
    h->active--;
    if (t->prev)
        t->prev->next = t->next;
    else
        h->all = t->next;
    if (t->next)
        t->next->prev = t->prev;
    transfer_free(t);
    done(arg, &r);
}

void hc_run(struct hc *h, int timeout_ms, void (*done)(void *arg, const struct hc_result *r),
            void *arg)
{
    int running = 0;
    curl_multi_perform(h->m, &running);
    curl_multi_poll(h->m, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(h->m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->m, &left)))
        if (msg->msg == CURLMSG_DONE)
            report(h, msg, done, arg);
}

void hc_wakeup(struct hc *h)
{
    curl_multi_wakeup(h->m);
}
