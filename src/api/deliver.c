/* The webhook deliverer: one thread per node that leases due deliveries
 * from the outbox (store/sql_outbox.c), signs them the Standard Webhooks
 * way, POSTs them (http/client.c), and records every attempt and what comes
 * next: delivered, another try after the retry schedule's delay (or the
 * answer's Retry-After), or a dead letter after the last one.
 *
 * Bounded: at most `concurrency` transfers at once, and at most
 * PER_DEST_MAX to one destination (an endpoint, or a notify_url's origin),
 * so a receiver that never answers holds some slots, not all of them. While
 * destinations are at their limit, a claim that found nothing else waits
 * for a transfer to end (or SATURATED_MS): each claim reads past their
 * backlog.
 * Woken by the store after a commit that queued deliveries (here or, on
 * PostgreSQL, on another node), and at least once a second for retries. */
#include "api/deliver.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/text.h"
#include "http/client.h"
#include "lib/log.h"

#define CLAIM_MAX 8     /* deliveries leased at once */
#define PER_DEST_MAX 16 /* transfers to one destination at once */
#define LEASE_MS 30000  /* a node that died leaves its deliveries to others after this */
#define IDLE_MS 1000    /* the outbox is looked at this often without a wake */
#define PRUNE_EVERY_MS 10000
#define PRUNE_BATCH 1000
#define PRUNE_BATCHES 100 /* per round at most: 10,000 a second */
#define CLAIM_GAP_MS 5    /* wakes closer together share one claim: bigger batches, fewer writes */
#define SATURATED_MS 250

struct slot {
    bool used;
    struct outbox_item it;
};

struct deliverer {
    struct store *store;
    struct deliver_options o;
    struct hc *hc;
    pthread_t thread;
    atomic_bool stopping, woken;
    struct slot *slots; /* o.concurrency of them */
    struct delivery_result *results;
    char (*excerpts)[HC_EXCERPT_MAX + 1], (*errors)[256];
    size_t nresults;
    int64_t last_lease;      /* every claim's lease_until differs */
    int64_t saturated_until; /* no claim before, unless a transfer ends */
};

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static unsigned dest_count(const struct deliverer *d, const char *dest)
{
    unsigned n = 0;
    for (unsigned i = 0; i < d->o.concurrency; i++)
        n += d->slots[i].used && !strcmp(d->slots[i].it.dest, dest);
    return n;
}

/* Signs and starts one delivery; false when it could not start. */
static bool start(struct deliverer *d, struct slot *sl)
{
    struct outbox_item *it = &sl->it;
    int64_t ts = wall_ms() / 1000;
    char sig[WHK_SIGNATURE_LEN + 1], old[WHK_SIGNATURE_LEN + 1];
    char h_id[80], h_ts[48], h_sig[2 * WHK_SIGNATURE_LEN + 40];
    if (whk_sign(it->secret, it->event_id, ts, it->body, it->body_len, sig))
        return false;
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    /* during a rotation both secrets sign: receivers with either verify */
    if (it->old_secret && !whk_sign(it->old_secret, it->event_id, ts, it->body, it->body_len, old))
        snprintf(h_sig + strlen(h_sig), sizeof h_sig - strlen(h_sig), " %s", old);
    snprintf(h_id, sizeof h_id, "webhook-id: %s", it->event_id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", (long long)ts);
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts, h_sig};
    return hc_post(d->hc, it->url, headers, 4, it->body, it->body_len, sl) == 0;
}

/* What an attempt's answer means for the delivery. */
static void on_done(void *arg, const struct hc_result *r)
{
    struct deliverer *d = arg;
    struct slot *sl = r->ctx;
    size_t k = d->nresults++;
    struct delivery_result *res = &d->results[k];
    int64_t now = wall_ms();
    memset(res, 0, sizeof *res);
    res->item = &sl->it;
    res->at_ms = now - r->duration_ms;
    res->duration_ms = r->duration_ms;
    res->status = (int)r->status;
    snprintf(d->excerpts[k], sizeof d->excerpts[k], "%s", r->excerpt);
    if (utf8_length(d->excerpts[k], strlen(d->excerpts[k])) < 0) /* binary, or cut in a character */
        for (char *c = d->excerpts[k]; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    snprintf(d->errors[k], sizeof d->errors[k], "%s", r->error);
    res->excerpt = r->status ? d->excerpts[k] : NULL;
    res->error = r->error[0] ? d->errors[k] : NULL;
    if (r->status >= 200 && r->status < 300) {
        res->outcome = OUTCOME_DELIVERED;
        return;
    }
    if (r->status == 410) {
        res->outcome = OUTCOME_GONE;
        return;
    }
    bool honour = r->status == 429 || r->status >= 500;
    int64_t delay =
        whk_next_delay(&d->o.schedule, sl->it.tries + 1, honour ? r->retry_after_ms : -1);
    if (delay < 0) {
        res->outcome = OUTCOME_FAILED;
        return;
    }
    res->outcome = OUTCOME_RETRY;
    res->next_at_ms = now + delay;
}

/* Records what ended and frees its slots; true when there was any. */
static bool flush_results(struct deliverer *d)
{
    if (!d->nresults)
        return false;
    if (store_outbox_record(d->store, d->o.node, d->results, d->nresults) != STORE_OK)
        log_warn("webhooks: %zu attempts could not be recorded; they are sent again once their"
                 " lease ends",
                 d->nresults);
    for (size_t i = 0; i < d->nresults; i++) {
        struct slot *sl = (struct slot *)((char *)d->results[i].item - offsetof(struct slot, it));
        outbox_item_clear(&sl->it);
        sl->used = false;
    }
    d->nresults = 0;
    return true;
}

/* Leases what is due and starts it; returns when to look again. */
static int64_t claim(struct deliverer *d, int64_t now)
{
    unsigned free_slots = d->o.concurrency - hc_active(d->hc);
    if (!free_slots)
        return now + IDLE_MS; /* an ending transfer wakes the loop */
    const char *busy[9];
    size_t nbusy = 0;
    for (unsigned i = 0; i < d->o.concurrency && nbusy < 9; i++) {
        const struct slot *sl = &d->slots[i];
        /* a claim may take CLAIM_MAX of one destination: with what is in
         * flight, never more than PER_DEST_MAX */
        if (!sl->used || dest_count(d, sl->it.dest) + CLAIM_MAX <= PER_DEST_MAX)
            continue;
        bool seen = false;
        for (size_t k = 0; k < nbusy; k++)
            seen |= !strcmp(busy[k], sl->it.dest);
        if (!seen)
            busy[nbusy++] = sl->it.dest;
    }
    size_t want = free_slots < CLAIM_MAX ? free_slots : CLAIM_MAX;
    struct outbox_item items[CLAIM_MAX];
    int64_t inflight[d->o.concurrency > 0 ? d->o.concurrency : 1];
    size_t ninflight = 0;
    for (unsigned i = 0; i < d->o.concurrency; i++)
        if (d->slots[i].used)
            inflight[ninflight++] = d->slots[i].it.id;
    size_t n = 0;
    int64_t lease = now + LEASE_MS;
    if (lease <= d->last_lease)
        lease = d->last_lease + 1;
    d->last_lease = lease;
    if (store_outbox_claim(d->store, d->o.node, now, lease, busy, nbusy, inflight, ninflight, items,
                           want, &n) != STORE_OK)
        return now + IDLE_MS; /* the database is away: try again in a second */
    size_t started = 0;
    for (size_t i = 0, at = 0; i < n; i++) {
        while (d->slots[at].used)
            at++;
        struct slot *sl = &d->slots[at];
        sl->it = items[i];
        sl->used = true;
        if (start(d, sl)) {
            started++;
            continue;
        }
        /* not startable (a broken secret, out of memory): a failed attempt */
        struct hc_result r = {.ctx = sl, .retry_after_ms = -1};
        snprintf(r.error, sizeof r.error, "the delivery could not be started");
        on_done(d, &r);
    }
    if (n == want && started)
        return now; /* more may be due */
    if (n)
        return now + 50; /* busy: look again soon (wakes come sooner) */
    if (nbusy) {         /* what is due waits for a busy destination */
        d->saturated_until = now + SATURATED_MS;
        return d->saturated_until;
    }
    /* nothing due now: sleep until the next retry (a read) */
    int64_t next_due = store_outbox_next_due(d->store, now);
    if (next_due && next_due < now + IDLE_MS)
        return next_due > now ? next_due : now + 50;
    return now + IDLE_MS;
}

static void *deliver_main(void *arg)
{
    struct deliverer *d = arg;
    if (store_outbox_reclaim(d->store, d->o.node) != STORE_OK)
        log_warn("webhooks: cannot take back this node's leases; they end within %d s",
                 LEASE_MS / 1000);
    int64_t next = 0, pruned = 0, claimed = 0;
    while (!atomic_load(&d->stopping)) {
        int64_t now = wall_ms();
        if (atomic_load(&d->woken) && next > claimed + CLAIM_GAP_MS && now >= d->saturated_until)
            next = claimed + CLAIM_GAP_MS;
        if (now >= next) {
            atomic_store(&d->woken, false);
            claimed = now;
            next = claim(d, now);
        }
        if (now - pruned >= PRUNE_EVERY_MS) {
            pruned = now;
            int64_t span = 0; /* an event stays while a delivery of it may be retried */
            for (unsigned i = 0; i < d->o.schedule.n; i++)
                span += d->o.schedule.delay_ms[i];
            int64_t kept = d->o.retention_ms > d->o.dead_retention_ms ? d->o.retention_ms
                                                                      : d->o.dead_retention_ms;
            /* small batches, each its own commit, until one is not full */
            long n = PRUNE_BATCH;
            for (int b = 0; b < PRUNE_BATCHES && n >= PRUNE_BATCH; b++)
                if ((n = store_outbox_prune(d->store, now - d->o.retention_ms,
                                            now - d->o.dead_retention_ms, now - kept - span,
                                            PRUNE_BATCH)) < 0)
                    log_warn("webhooks: cannot prune finished deliveries");
        }
        flush_results(d);
        int64_t wait = next - wall_ms();
        hc_run(d->hc, wait < 0 ? 0 : wait > IDLE_MS ? IDLE_MS : (int)wait, on_done, d);
        if (flush_results(d) && d->saturated_until > now) /* a slot is free again */
            d->saturated_until = next = 0;
    }
    return NULL;
}

void deliver_wake(void *arg)
{
    struct deliverer *d = arg;
    atomic_store(&d->woken, true);
    hc_wakeup(d->hc);
}

struct deliverer *deliver_start(struct store *s, const struct deliver_options *o)
{
    struct deliverer *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->store = s;
    d->o = *o;
    struct hc_options ho = {.connect_ms = 5000,
                            .total_ms = 15000,
                            .allow_private = o->allow_private,
                            .user_agent = "jobplane-webhooks/" JOBPLANE_VERSION};
    d->hc = hc_new(&ho);
    d->slots = calloc(o->concurrency, sizeof *d->slots);
    d->results = calloc(o->concurrency, sizeof *d->results);
    d->excerpts = calloc(o->concurrency, sizeof *d->excerpts);
    d->errors = calloc(o->concurrency, sizeof *d->errors);
    if (!d->hc || !d->slots || !d->results || !d->excerpts || !d->errors ||
        pthread_create(&d->thread, NULL, deliver_main, d)) {
        hc_free(d->hc);
        free(d->slots);
        free(d->results);
        free(d->excerpts);
        free(d->errors);
        free(d);
        return NULL;
    }
    store_watch_outbox(s, deliver_wake, d);
    return d;
}

void deliver_stop(struct deliverer *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    hc_wakeup(d->hc);
    pthread_join(d->thread, NULL);
}

void deliver_free(struct deliverer *d)
{
    if (!d)
        return;
    /* transfers in flight are abandoned: their leases end, and another
     * node, or this one when it starts again, sends them */
    hc_free(d->hc);
    for (unsigned i = 0; i < d->o.concurrency; i++)
        outbox_item_clear(&d->slots[i].it);
    free(d->slots);
    free(d->results);
    free(d->excerpts);
    free(d->errors);
    free(d);
}
