/* The device tokens this node has seen, in memory: a poll whose token is
 * here is authenticated without reading the database.
 *
 * An entry maps a token's hash to its site (id, deleted_at, RouterOS
 * version). It is only ever a copy of what the database said, and it is
 * dropped whenever that may have changed: every operation that changes a
 * site's device hash or deletes the site names the site (eng_forget_device),
 * and the site's entries are dropped once that commits, here and, through
 * the NOTIFY stream, on every other node (milliseconds after the commit). A
 * read that began before a drop does not put what it read (the stamp), so a
 * revoked token is never put back.
 *
 * It is used on SQLite from the start (one process owns the database), and
 * on PostgreSQL while the listener is connected: it is emptied when the
 * listener goes down and not used until it is back, so drops missed meanwhile
 * cost reads, never a revoked token that works. The version is the one read
 * with the token; polls render with the version their heartbeat reports. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/sign.h"
#include "store/engine.h"

#define BUCKETS 65536
#define MAX_ENTRIES 1000000 /* beyond: emptied, and filled again by reads */

struct dev {
    struct dev *next_hash, *next_site; /* chains: by token hash, by site */
    struct device_site d;
    char hash[JP_SIG_HEX + 1];
};

struct devices {
    pthread_mutex_t mu;
    bool trusted;
    uint64_t seq; /* counts drops and resets */
    size_t n;
    struct dev *by_hash[BUCKETS], *by_site[BUCKETS];
};

static unsigned hash(const char *s)
{
    return eng_hash(s) % BUCKETS;
}

struct devices *devices_new(void)
{
    struct devices *d = calloc(1, sizeof *d);
    if (d)
        pthread_mutex_init(&d->mu, NULL);
    return d;
}

static void clear_locked(struct devices *d)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct dev *e = d->by_hash[i], *n; e; e = n) {
            n = e->next_hash;
            free(e);
        }
    memset(d->by_hash, 0, sizeof d->by_hash);
    memset(d->by_site, 0, sizeof d->by_site);
    d->n = 0;
    d->seq++;
}

void devices_free(struct devices *d)
{
    if (!d)
        return;
    clear_locked(d);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int devices_get(struct devices *d, const char *token_hash, struct device_site *out, uint64_t *stamp)
{
    pthread_mutex_lock(&d->mu);
    int r = -1;
    if (d->trusted) {
        r = 0;
        for (struct dev *e = d->by_hash[hash(token_hash)]; e; e = e->next_hash)
            if (!strcmp(e->hash, token_hash)) {
                *out = e->d;
                r = 1;
                break;
            }
    }
    *stamp = d->seq;
    pthread_mutex_unlock(&d->mu);
    return r;
}

void devices_put(struct devices *d, const char *token_hash, const struct device_site *site,
                 uint64_t stamp)
{
    pthread_mutex_lock(&d->mu);
    if (d->trusted && d->seq == stamp && strlen(token_hash) == JP_SIG_HEX) {
        if (d->n >= MAX_ENTRIES)
            clear_locked(d); /* (seq moves: this put is dropped too) */
        struct dev *e = d->seq == stamp ? calloc(1, sizeof *e) : NULL;
        if (e) {
            memcpy(e->hash, token_hash, sizeof e->hash);
            e->d = *site;
            unsigned h = hash(e->hash), s = hash(e->d.site_id);
            e->next_hash = d->by_hash[h];
            d->by_hash[h] = e;
            e->next_site = d->by_site[s];
            d->by_site[s] = e;
            d->n++;
        }
    }
    pthread_mutex_unlock(&d->mu);
}

void devices_drop(struct devices *d, const char *site_id)
{
    pthread_mutex_lock(&d->mu);
    d->seq++;
    for (struct dev **e = &d->by_site[hash(site_id)]; *e;) {
        struct dev *gone = *e;
        if (strcmp(gone->d.site_id, site_id)) {
            e = &gone->next_site;
            continue;
        }
        *e = gone->next_site;
        struct dev **h = &d->by_hash[hash(gone->hash)];
        while (*h != gone)
            h = &(*h)->next_hash;
        *h = gone->next_hash;
        free(gone);
        d->n--;
    }
    pthread_mutex_unlock(&d->mu);
}

void devices_trust(struct devices *d, bool trusted)
{
    pthread_mutex_lock(&d->mu);
    clear_locked(d);
    d->trusted = trusted;
    pthread_mutex_unlock(&d->mu);
}
