/* Webhooks, the pure part: the event types, Standard Webhooks secrets and
 * signatures, the retry schedule, and which peer addresses a delivery may
 * connect to. No I/O: randomness and time are inputs. */
#ifndef JP_CORE_WEBHOOK_H
#define JP_CORE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an endpoint can subscribe to. Adding one: a value here, a row in
 * whk_events (webhook.c), and the operation that emits it (store/). The
 * stored subscription is a bit mask of these, so the order is fixed. */
enum whk_event {
    EV_JOB_DELIVERED = 0,
    EV_JOB_STARTED,
    EV_JOB_COMPLETED,
    EV_JOB_FAILED, /* the router reported fail, or the run timeout passed */
    EV_JOB_CANCELLED,
    EV_SITE_ADOPTED,
    EV_SITE_OFFLINE, /* no poll for 10 intervals */
    EV_SITE_ONLINE,  /* polling again after being offline */
    EV_SITE_DELETED,
    EV_BACKUP_CREATED,
    EV_SITE_ADOPTION_REFUSED, /* a bootstrap line used again, expired, or the wrong serial */
    EV_JOB_REVERTED,          /* no confirmation in time: the router restored its configuration */
    EV_PING, /* POST /webhooks/{id}/test: to that endpoint only, never subscribed */
    WHK_EVENT_COUNT_
};

struct whk_event_info {
    const char *name; /* the payload's "type" */
    bool job;         /* a job event: also sent to the job's notify_url */
};
extern const struct whk_event_info whk_events[WHK_EVENT_COUNT_];
/* The subscribable events (every one but ping). */
#define WHK_EVENTS_ALL ((1u << EV_PING) - 1)
/* The event for a name, or -1 (ping is not subscribable: -1). */
int whk_event_parse(const char *name);

/* A secret: "whsec_" and the base64 of 24 random bytes. */
#define WHK_SECRET_RAW 24
#define WHK_SECRET_LEN 38
void whk_secret_format(const unsigned char raw[WHK_SECRET_RAW], char out[WHK_SECRET_LEN + 1]);

/* "v1," and the base64 HMAC-SHA256 of "msg_id.timestamp.body", keyed with
 * the base64-decoded part of the secret after "whsec_" (the Standard
 * Webhooks signature). -1 when the secret is not one. */
#define WHK_SIGNATURE_LEN 47
int whk_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
             size_t len, char out[WHK_SIGNATURE_LEN + 1]);

/* The retry schedule: delay[i] is the wait before attempt i + 1 after the
 * failure of attempt i (delay[0], before the first, is 0 in the default). */
#define WHK_SCHEDULE_MAX 16
struct whk_schedule {
    unsigned n;
    int64_t delay_ms[WHK_SCHEDULE_MAX];
};
/* Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Standard Webhooks'). */
extern const struct whk_schedule whk_default_schedule;
/* Parses "0,5s,5m,30m,2h,5h,10h,10h" (a plain number is seconds; ms, s, m,
 * h suffixes; 1 to 16 steps, each at most 24 h). 0 or -1. */
int whk_schedule_parse(const char *text, struct whk_schedule *out);
/* Milliseconds to wait after attempt number tried (1 = the first) failed,
 * or -1 when that was the last. retry_after_ms (-1: none) replaces the
 * scheduled delay, capped at the schedule's longest step. */
int64_t whk_next_delay(const struct whk_schedule *s, unsigned tried, int64_t retry_after_ms);

/* NULL when url can receive webhooks: http:// or https://, a host, at
 * most WHK_URL_MAX bytes, no credentials, spaces or control characters;
 * else why not (a sentence for the API's error). */
#define WHK_URL_MAX 2048
const char *whk_url_check(const char *url, size_t len);

/* Whether a delivery may connect to this peer address (family AF_INET with
 * 4 bytes, AF_INET6 with 16): NULL when it may, else why not ("loopback",
 * "private", "link-local", "multicast", ...). IPv4-mapped IPv6 addresses are
 * judged as IPv4. */
const char *whk_address_refused(int family, const unsigned char *addr);

#endif
