#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/db.h"

struct store *store_open(const struct store_options *opt, char *err, size_t errlen)
{
    const char *url = opt->url;
    if (!url || !*url) {
        snprintf(err, errlen, "no database given");
        return NULL;
    }
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return store_sql_open(&db_postgres, opt, url, err, errlen);
    return store_sql_open(&db_sqlite, opt, url, err, errlen);
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

void site_list_clear(struct site_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        site_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void job_list_clear(struct job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

enum store_result store_site_create(struct store *st, const char *team, const char *name,
                                    const char *adoption_hash, struct site *out)
{
    return st->ops->site_create(st, team, name, adoption_hash, out);
}

enum store_result store_site_get(struct store *st, const char *team, const char *site_id,
                                 struct site *out)
{
    return st->ops->site_get(st, team, site_id, out);
}

enum store_result store_site_list(struct store *st, const char *team, struct site_list *out)
{
    return st->ops->site_list(st, team, out);
}

enum store_result store_job_create(struct store *st, const char *team,
                                   const struct job_request *req, struct job *out)
{
    return st->ops->job_create(st, team, req, out, NULL);
}

void store_job_create_async(struct store *st, const char *team, const struct job_request *req,
                            struct job *out, struct store_async *as)
{
    st->ops->job_create(st, team, req, out, as);
}

enum store_result store_job_get(struct store *st, const char *team, const char *site_id,
                                const char *job_id, struct job *out)
{
    return st->ops->job_get(st, team, site_id, job_id, out);
}

enum store_result store_job_list(struct store *st, const char *team, const struct job_query *q,
                                 struct job_list *out)
{
    return st->ops->job_list(st, team, q, out);
}

enum store_result store_job_cancel(struct store *st, const char *team, const char *site_id,
                                   const char *job_id, char token[JP_TOKEN_LEN + 1])
{
    return st->ops->job_cancel(st, team, site_id, job_id, token);
}

void backup_list_clear(struct backup_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].content);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void log_list_clear(struct log_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].message);
    free(l->items);
    memset(l, 0, sizeof *l);
}

enum store_result store_site_adopt(struct store *st, const char *adoption_hash,
                                   const char *device_hash, const struct device_facts *f,
                                   struct site *out)
{
    return st->ops->site_adopt(st, adoption_hash, device_hash, f, out);
}

enum store_result store_site_by_device(struct store *st, const char *device_hash, struct site *out)
{
    return st->ops->site_by_device(st, device_hash, out);
}

enum store_result store_site_rotate_device(struct store *st, const char *team, const char *site_id,
                                           const char *adoption_hash)
{
    return st->ops->site_rotate_device(st, team, site_id, adoption_hash);
}

enum store_result store_site_delete(struct store *st, const char *team, const char *site_id)
{
    return st->ops->site_delete(st, team, site_id);
}

enum store_result store_site_teardown_done(struct store *st, const char *site_id)
{
    return st->ops->site_teardown_done(st, site_id);
}

void store_heartbeat(struct store *st, const char *site_id, const struct device_facts *f,
                     int64_t now)
{
    st->ops->heartbeat(st, site_id, f, now);
}

int store_dispatch_wanted(struct store *st, const char *site_id, int64_t now, int64_t run_timeout)
{
    return st->ops->dispatch_wanted(st, site_id, now, run_timeout);
}

void store_dispatch_async(struct store *st, const char *site_id, int64_t now, int64_t run_timeout,
                          struct job *out, long *remaining, struct store_async *as)
{
    st->ops->dispatch(st, site_id, now, run_timeout, out, remaining, as);
}

void store_job_report_async(struct store *st, const char *job_id, enum job_report r, int64_t now,
                            struct job *out, struct store_async *as)
{
    st->ops->job_report(st, job_id, r, now, out, as);
}

long store_sweep_timeouts(struct store *st, int64_t now, int64_t run_timeout)
{
    return st->ops->sweep_timeouts(st, now, run_timeout);
}

enum store_result store_backup_chunk(struct store *st, const char *site_id, const char *job_id,
                                     int64_t offset, int64_t total, const char *data, size_t len,
                                     int64_t now, char filename[64])
{
    return st->ops->backup_chunk(st, site_id, job_id, offset, total, data, len, now, filename);
}

enum store_result store_backup_list(struct store *st, const char *team, const char *site_id,
                                    struct backup_list *out)
{
    return st->ops->backup_list(st, team, site_id, out);
}

enum store_result store_backup_get(struct store *st, const char *team, const char *site_id,
                                   const char *filename, struct backup_info *out)
{
    return st->ops->backup_get(st, team, site_id, filename, out);
}

enum store_result store_stats(struct store *st, const char *team, const char *site_id, int64_t from,
                              int64_t to, bool hourly, struct stat_list *out)
{
    return st->ops->stats(st, team, site_id, from, to, hourly, out);
}

enum store_result store_logs(struct store *st, const char *team, const char *site_id, int64_t from,
                             int64_t to, const char *text, struct log_list *out)
{
    return st->ops->logs(st, team, site_id, from, to, text, out);
}

enum store_result store_job_site(struct store *st, const char *job_id,
                                 char site_id[JP_UUID_LEN + 1])
{
    return st->ops->job_site(st, job_id, site_id);
}

void store_watch_jobs(struct store *st, void (*fn)(void *ctx, const char *site_id), void *ctx)
{
    st->ops->watch_jobs(st, fn, ctx);
}
