/* What the metrics endpoint reads from the database: sites online and
 * offline, live jobs by state. Each count is answered by an index (the
 * partial indexes of pending and in-flight jobs) or one pass over sites. */
#include <string.h>

#include "store/engine.h"

static void fill_gauges(const struct db_res *r, size_t i, void *p)
{
    struct store_gauges *g = p;
    g->sites_online = db_int(r, i, 0, 0);
    g->sites_offline = db_int(r, i, 1, 0) - g->sites_online;
    g->jobs_pending = db_int(r, i, 2, 0);
    g->jobs_running = db_int(r, i, 4, 0);
    g->jobs_delivered = db_int(r, i, 3, 0) - g->jobs_running;
}

enum store_result store_gauges(struct store *s, int64_t seen_since, struct store_gauges *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_INT(seen_since)};
    return eng_read_one(
        s,
        "SELECT o.online, o.sites, p.n, f.n, f.started FROM"
        " (SELECT count(*) FILTER (WHERE last_seen_at >= ?1) AS online, count(*) AS sites"
        "  FROM sites WHERE deleted_at IS NULL) o,"
        " (SELECT count(*) AS n FROM jobs WHERE delivered_at IS NULL AND cancelled_at IS NULL) p,"
        " (SELECT count(*) AS n, count(started_at) AS started FROM jobs"
        "  WHERE delivered_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"
        "  AND cancelled_at IS NULL) f",
        args, 1, fill_gauges, out);
}
