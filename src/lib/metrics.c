/* Per-thread counter shards, summed on scrape (see metrics.h). */
#include "lib/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct shard {
    _Atomic uint64_t v[MET_SLOTS]; /* written by its thread only; read by scrapes */
    struct shard *next;
};

static atomic_uint next_slot;
static pthread_mutex_t shards_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shard *shards; /* every shard ever made: read under shards_mu */
static _Thread_local struct shard *mine;

unsigned met_alloc(unsigned n)
{
    unsigned base = atomic_fetch_add(&next_slot, n);
    if (base + n > MET_SLOTS) {
        fprintf(stderr, "metrics: more than %d slots\n", MET_SLOTS);
        abort();
    }
    return base;
}

void met_add(unsigned slot, uint64_t n)
{
    struct shard *s = mine;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return; /* a count lost rather than a request failed */
        pthread_mutex_lock(&shards_mu);
        s->next = shards;
        shards = s;
        pthread_mutex_unlock(&shards_mu);
        mine = s;
    }
    /* one writer per shard: a plain load and store, no locked instruction */
    uint64_t v = atomic_load_explicit(&s->v[slot], memory_order_relaxed);
    atomic_store_explicit(&s->v[slot], v + n, memory_order_relaxed);
}

uint64_t met_sum(unsigned slot)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&shards_mu);
    for (struct shard *s = shards; s; s = s->next)
        sum += atomic_load_explicit(&s->v[slot], memory_order_relaxed);
    pthread_mutex_unlock(&shards_mu);
    return sum;
}

void met_hist_init(struct met_hist *h, const double *bounds, unsigned nbounds)
{
    h->bounds = bounds;
    h->nbounds = nbounds;
    h->base = met_alloc(nbounds + 2);
}

void met_observe(const struct met_hist *h, double v)
{
    unsigned i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    met_add(h->base + i, 1);
    met_add(h->base + h->nbounds + 1, v > 0 ? (uint64_t)(v * 1e6 + 0.5) : 0);
}
