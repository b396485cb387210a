#include "api/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jwt.h"

#define SLOTS 4096
#define PROBE 8

struct bucket {
    char key[JP_TEAM_MAX + 1]; /* "" = free */
    double tokens, t;          /* tokens left at time t */
};

struct ratelimit {
    pthread_mutex_t mu;
    double per_second, burst;
    struct bucket b[SLOTS];
};

struct ratelimit *ratelimit_new(unsigned per_minute)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->per_second = per_minute / 60.0;
    rl->burst = per_minute;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* The key's bucket refilled to now (rl->mu held): the key's, a free one, or
 * (all taken) the longest idle one. */
static struct bucket *bucket_at(struct ratelimit *rl, const char *key, double now)
{
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    struct bucket *b = NULL, *free_slot = NULL, *oldest = NULL;
    for (unsigned i = 0; i < PROBE && !b; i++) {
        struct bucket *c = &rl->b[(h + i) % SLOTS];
        if (!strcmp(c->key, key))
            b = c;
        else if (!c->key[0] && !free_slot)
            free_slot = c;
        else if (c->key[0] && (!oldest || c->t < oldest->t))
            oldest = c;
    }
    if (!b) {
        b = free_slot ? free_slot : oldest;
        snprintf(b->key, sizeof b->key, "%s", key);
        b->tokens = rl->burst;
        b->t = now;
    }
    b->tokens += (now - b->t) * rl->per_second;
    if (b->tokens > rl->burst)
        b->tokens = rl->burst;
    b->t = now;
    return b;
}

static unsigned bucket_wait(const struct ratelimit *rl, const struct bucket *b)
{
    return b->tokens >= 1 ? 0 : (unsigned)((1 - b->tokens) / rl->per_second) + 1;
}

unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now)
{
    pthread_mutex_lock(&rl->mu);
    struct bucket *b = bucket_at(rl, key, now);
    unsigned wait = bucket_wait(rl, b);
    if (!wait)
        b->tokens -= 1;
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

unsigned ratelimit_wait(struct ratelimit *rl, const char *key, double now)
{
    pthread_mutex_lock(&rl->mu);
    unsigned wait = bucket_wait(rl, bucket_at(rl, key, now));
    pthread_mutex_unlock(&rl->mu);
    return wait;
}
