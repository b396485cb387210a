#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "store/backend.h"

struct store *store_open(const struct store_options *opt, char *err, size_t errlen)
{
    const char *url = opt->url;
    if (!url || !*url) {
        snprintf(err, errlen, "no database given");
        return NULL;
    }
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
        snprintf(err, errlen, "the PostgreSQL store is not built into this version");
        return NULL;
    }
    return store_sqlite_open(opt, url, err, errlen);
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
                                    struct site *out)
{
    return st->ops->site_create(st, team, name, out);
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
    return st->ops->job_create(st, team, req, out);
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
