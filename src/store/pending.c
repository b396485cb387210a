/* The sites with pending jobs, as this node knows them: an empty poll of a
 * site not in the set is answered without reading the database.
 *
 * The set is a superset of the truth whenever it is authoritative. Every
 * local create adds its site once it committed, before its answer; on
 * PostgreSQL, every other node's creates arrive through the NOTIFY stream
 * (milliseconds after their commit). A site leaves the set only when a read
 * or a dispatch found no pending job and nothing was added for it since that
 * read began (the stamp). Cancels and deliveries leave sites in the set: a
 * false "maybe" costs one read, which then drops the site.
 *
 * It is authoritative on SQLite from the start (one process owns the
 * database), and on PostgreSQL while the listener is connected: it is
 * emptied and reloaded each time the listener (re)connects, and not trusted
 * while the listener is down, so announcements missed meanwhile cost reads,
 * never a job. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "store/engine.h"

#define BUCKETS 65536

struct pend_site {
    struct pend_site *next;
    uint64_t seq; /* the stamp of its last add */
    char id[JP_UUID_LEN + 1];
};

struct pending {
    pthread_mutex_t mu;
    bool trusted;
    uint64_t seq; /* counts adds */
    struct pend_site *bucket[BUCKETS];
};

static unsigned hash(const char *id)
{
    return eng_hash(id) % BUCKETS;
}

struct pending *pending_new(void)
{
    struct pending *p = calloc(1, sizeof *p);
    if (p)
        pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void clear_locked(struct pending *p)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct pend_site *e = p->bucket[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    memset(p->bucket, 0, sizeof p->bucket);
}

void pending_free(struct pending *p)
{
    if (!p)
        return;
    clear_locked(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static struct pend_site **find(struct pending *p, const char *id)
{
    struct pend_site **e = &p->bucket[hash(id)];
    while (*e && strcmp((*e)->id, id))
        e = &(*e)->next;
    return e;
}

void pending_add(struct pending *p, const char *site_id)
{
    pthread_mutex_lock(&p->mu);
    p->seq++;
    struct pend_site **e = find(p, site_id);
    if (!*e && (*e = calloc(1, sizeof **e)) != NULL)
        snprintf((*e)->id, sizeof(*e)->id, "%s", site_id);
    if (*e)
        (*e)->seq = p->seq;
    else
        p->trusted = false; /* out of memory: a site would be missing */
    pthread_mutex_unlock(&p->mu);
}

uint64_t pending_stamp(struct pending *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t s = p->seq;
    pthread_mutex_unlock(&p->mu);
    return s;
}

void pending_drop(struct pending *p, const char *site_id, uint64_t stamp)
{
    pthread_mutex_lock(&p->mu);
    struct pend_site **e = find(p, site_id);
    if (*e && (*e)->seq <= stamp) {
        struct pend_site *gone = *e;
        *e = gone->next;
        free(gone);
    }
    pthread_mutex_unlock(&p->mu);
}

int pending_has(struct pending *p, const char *site_id, uint64_t *stamp)
{
    pthread_mutex_lock(&p->mu);
    int r = !p->trusted ? -1 : *find(p, site_id) != NULL;
    *stamp = p->seq;
    pthread_mutex_unlock(&p->mu);
    return r;
}

void pending_reset(struct pending *p)
{
    pthread_mutex_lock(&p->mu);
    p->trusted = false;
    clear_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void pending_trust(struct pending *p)
{
    pthread_mutex_lock(&p->mu);
    p->trusted = true;
    pthread_mutex_unlock(&p->mu);
}
