/* The webhook deliverer (deliver.c): a thread that sends what the outbox
 * holds, retries it, and records every attempt. */
#ifndef JP_API_DELIVER_H
#define JP_API_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/webhook.h"
#include "store/store.h"

struct deliver_options {
    const char *node; /* this node's name: its leases carry it */
    struct whk_schedule schedule;
    unsigned concurrency;      /* transfers at once */
    bool allow_private;        /* lab mode: loopback and private addresses too */
    int64_t retention_ms;      /* delivered deliveries are kept this long */
    int64_t dead_retention_ms; /* and dead letters this long */
};

struct deliverer;
/* Starts the thread; NULL when it cannot. */
struct deliverer *deliver_start(struct store *s, const struct deliver_options *o);
/* Stops the thread (transfers in flight are abandoned: their leases end).
 * The store may still call deliver_wake until it is closed; deliver_free
 * after store_close. */
void deliver_stop(struct deliverer *d);
void deliver_free(struct deliverer *d);
/* store_watch_outbox's callback: something is due. */
void deliver_wake(void *deliverer);

#endif
