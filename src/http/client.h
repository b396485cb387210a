/* Outbound HTTP: POSTs on libcurl's multi interface, driven by the thread
 * that calls hc_run (the webhook deliverer). Knows nothing of webhooks: a
 * transfer is a URL, headers and a body, and its result.
 *
 * Safety: only http and https, no redirects, no proxy from the environment,
 * TLS verified against the system's CA store, and, unless allow_private,
 * no connection to loopback, private, link-local, multicast or reserved
 * addresses: the address is checked when the socket is opened, after DNS,
 * so a name that resolves there (or is rebound to it) is refused too. */
#ifndef JP_HTTP_CLIENT_H
#define JP_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_EXCERPT_MAX 512 /* bytes of an answer's body kept */

struct hc_options {
    long connect_ms, total_ms;
    bool allow_private;
    const char *user_agent;
};

struct hc_result {
    void *ctx;                        /* hc_post's */
    long status;                      /* HTTP status; 0 when there was no answer */
    int64_t duration_ms;              /* from start to the end of the answer or the failure */
    int64_t retry_after_ms;           /* the answer's Retry-After, -1 when none */
    char error[256];                  /* why there was no answer ("" when there was one) */
    char excerpt[HC_EXCERPT_MAX + 1]; /* the start of the body, NUL-terminated */
};

struct hc;
struct hc *hc_new(const struct hc_options *o);
void hc_free(struct hc *h); /* abandons transfers in flight */

/* Starts a POST; url, headers ("Name: value") and body are copied. -1 when
 * it cannot start (no result will come). */
int hc_post(struct hc *h, const char *url, const char *const *headers, size_t nheaders,
            const char *body, size_t len, void *ctx);
unsigned hc_active(const struct hc *h);
/* Runs transfers for up to timeout_ms, or until hc_wakeup, and reports each
 * one that ended through done (on this thread). */
void hc_run(struct hc *h, int timeout_ms, void (*done)(void *arg, const struct hc_result *r),
            void *arg);
/* Makes hc_run return early (any thread). */
void hc_wakeup(struct hc *h);

#endif
