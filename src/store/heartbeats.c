/* Heartbeats: buffered in memory as they arrive, and written by the flusher
 * thread once a second, in arrival order, as one write operation (the site's
 * current facts, a stats row unless the site has one from the last
 * stats_interval, and the sites that came online). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/engine.h"

struct hb_rec {
    struct hb_rec *next;
    char site_id[JP_UUID_LEN + 1];
    char *identity, *software_version, *serial_number, *model, *board_name, *architecture_name,
        *from;
    int64_t uptime, cpu_load, memory_free, disk_free, ts;
};

static void hb_free(struct hb_rec *h)
{
    while (h) {
        struct hb_rec *n = h->next;
        free(h->identity);
        free(h->software_version);
        free(h->serial_number);
        free(h->model);
        free(h->board_name);
        free(h->architecture_name);
        free(h->from);
        free(h);
        h = n;
    }
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

#define HB_BUFFER_MAX 200000 /* records between two flushes; more are dropped */

void store_heartbeat(struct store *s, const char *site_id, const struct device_facts *f,
                     int64_t now)
{
    struct hb_rec *h = calloc(1, sizeof *h);
    if (!h)
        return;
    snprintf(h->site_id, sizeof h->site_id, "%s", site_id);
    h->identity = dup_or_null(f->identity);
    h->software_version = dup_or_null(f->software_version);
    h->serial_number = dup_or_null(f->serial_number);
    h->model = dup_or_null(f->model);
    h->board_name = dup_or_null(f->board_name);
    h->architecture_name = dup_or_null(f->architecture_name);
    h->from = dup_or_null(f->from);
    h->uptime = f->uptime;
    h->cpu_load = f->cpu_load;
    h->memory_free = f->memory_free;
    h->disk_free = f->disk_free;
    h->ts = now;
    pthread_mutex_lock(&s->hb_mu);
    if (s->hb_count >= HB_BUFFER_MAX) {
        s->hb_dropped++;
        pthread_mutex_unlock(&s->hb_mu);
        hb_free(h);
        return;
    }
    /* arrival order: a later heartbeat's facts are applied after an earlier one's */
    if (s->hb_tail)
        s->hb_tail->next = h;
    else
        s->hb_head = h;
    s->hb_tail = h;
    s->hb_count++;
    pthread_mutex_unlock(&s->hb_mu);
}

static enum store_result op_heartbeats(struct store *s, void *p)
{
    for (struct hb_rec *h = p; h; h = h->next) {
        if (LATER(s,
                  "UPDATE sites SET last_seen_at=CASE WHEN coalesce(last_seen_at,0) > ?2 THEN"
                  " last_seen_at ELSE ?2 END, last_seen_from=coalesce(?3,last_seen_from),"
                  " identity=coalesce(?4,identity), software_version=coalesce(?5,software_version),"
                  " serial_number=coalesce(?6,serial_number), model=coalesce(?7,model),"
                  " board_name=coalesce(?8,board_name),"
                  " architecture_name=coalesce(?9,architecture_name), uptime=coalesce(?10,uptime),"
                  " online=CASE WHEN online=0 AND deleted_at IS NULL THEN 2 ELSE online END"
                  " WHERE id=?1",
                  DB_TEXT(h->site_id), DB_INT(h->ts), DB_TEXT(h->from), DB_TEXT(h->identity),
                  DB_TEXT(h->software_version), DB_TEXT(h->serial_number), DB_TEXT(h->model),
                  DB_TEXT(h->board_name), DB_TEXT(h->architecture_name),
                  DB_NUM(h->uptime)) != DB_OK ||
            LATER(s,
                  "INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)"
                  " SELECT stats_key,?2,?3,?4,?5,?6 FROM sites WHERE id=?1 AND NOT EXISTS (SELECT"
                  " 1 FROM stats WHERE k=sites.stats_key AND ts > ?2 - ?7) ON CONFLICT (k, ts) DO "
                  "UPDATE"
                  " SET cpu_load=excluded.cpu_load, memory_free=excluded.memory_free,"
                  " disk_free=excluded.disk_free, uptime=excluded.uptime",
                  DB_TEXT(h->site_id), DB_INT(h->ts), DB_NUM(h->cpu_load), DB_NUM(h->memory_free),
                  DB_NUM(h->disk_free), DB_NUM(h->uptime), DB_INT(s->ret.stats_interval)) != DB_OK)
            return STORE_UNAVAILABLE;
    }
    return sql_sites_came_online(s, eng_now()) ? STORE_UNAVAILABLE : STORE_OK;
}

static void hb_flush(struct store *s)
{
    pthread_mutex_lock(&s->hb_mu);
    struct hb_rec *batch = s->hb_head;
    unsigned long dropped = s->hb_dropped;
    s->hb_head = s->hb_tail = NULL;
    s->hb_count = 0;
    s->hb_dropped = 0;
    pthread_mutex_unlock(&s->hb_mu);
    if (dropped)
        log_warn("store: %lu heartbeats dropped (buffer full)", dropped);
    if (!batch)
        return;
    if (eng_submit(s, op_heartbeats, batch) != STORE_OK)
        log_warn("store: a batch of heartbeats could not be written");
    hb_free(batch);
}

void *eng_flusher_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->hb_mu);
    while (!s->hb_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->hb_cond, &s->hb_mu, &until);
        pthread_mutex_unlock(&s->hb_mu);
        hb_flush(s);
        pthread_mutex_lock(&s->hb_mu);
    }
    pthread_mutex_unlock(&s->hb_mu);
    hb_flush(s); /* the last second, before the writer stops */
    return NULL;
}
