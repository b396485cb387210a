/* What the metrics endpoint reads from the database: sites online and
 * offline, live jobs by state; and a team's overview for the console. Each
 * count is answered by an index (the partial indexes of pending, in-flight
 * and failed jobs) or one pass over the sites. */
#include <stdlib.h>
#include <string.h>

#include "core/rollout.h"
#include "store/engine.h"

/* the numbers the overview's SQL names */
_Static_assert(RS_WAITING == 0 && RS_QUEUED == 1 && RS_SKIPPED == 2 && RS_CANCELLED == 3 &&
                   RS_COMPLETED == 4 && RS_FAILED == 5 && RO_LAUNCHED == 2 && RO_PAUSED == 4,
               "the target states and rollout statuses of store_overview's SQL");

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
        "  WHERE " IN_FLIGHT ") f",
        args, 1, fill_gauges, out);
}

static void fill_overview(const struct db_res *r, size_t i, void *p)
{
    struct store_overview *o = p;
    o->sites = db_int(r, i, 0, 0);
    o->sites_online = db_int(r, i, 1, 0);
    o->sites_unadopted = db_int(r, i, 2, 0);
    o->jobs_pending = db_int(r, i, 3, 0);
    o->jobs_running = db_int(r, i, 5, 0);
    o->jobs_delivered = db_int(r, i, 4, 0) - o->jobs_running;
    o->jobs_stuck = db_int(r, i, 6, 0);
    o->jobs_failed = db_int(r, i, 7, 0);
}

static void fill_overview_job(const struct db_res *r, size_t i, void *p)
{
    struct overview_job *o = p;
    sql_row_to_job(r, i, &o->job);
    const char *name = db_text(r, i, JOB_NCOLS);
    o->site_name = strdup(name ? name : "");
}

static void fill_overview_rollout(const struct db_res *r, size_t i, void *p)
{
    struct overview_rollout *o = p;
    eng_copy_cell(r, i, 0, o->id, sizeof o->id);
    const char *d = db_text(r, i, 1);
    o->description = strdup(d ? d : "");
    o->status = (int)db_int(r, i, 2, 0);
    o->wave = db_int(r, i, 3, 0);
    o->waves = db_int(r, i, 4, 0);
    int64_t *counts[] = {&o->targets, &o->waiting, &o->queued,   &o->completed,
                         &o->failed,  &o->skipped, &o->cancelled};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
        *counts[c] = db_int(r, i, 5 + c, 0);
}

/* the team's jobs of live sites: the site checked per job (its primary
 * key), so that the job's own partial index drives the statement, never a
 * pass over every job of every site of the team */
#define TEAM_JOBS                                                                                  \
    " FROM jobs WHERE EXISTS (SELECT 1 FROM sites s WHERE s.id=jobs.site_id AND s.team=?1"         \
    " AND s.deleted_at IS NULL)"

enum store_result store_overview(struct store *s, const char *team, const struct overview_query *q,
                                 struct store_overview *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg counts[] = {DB_TEXT(team), DB_INT(q->seen_since), DB_INT(q->stuck_before),
                              DB_INT(q->failed_since)};
    enum store_result r = eng_read_one(
        s,
        "SELECT o.sites, o.online, o.unadopted, p.n, f.n, f.started, f.stuck, x.n FROM"
        " (SELECT count(*) AS sites, count(*) FILTER (WHERE last_seen_at >= ?2) AS online,"
        "  count(*) FILTER (WHERE adopted_at IS NULL) AS unadopted"
        "  FROM sites WHERE team=?1 AND deleted_at IS NULL) o,"
        " (SELECT count(*) AS n" TEAM_JOBS " AND delivered_at IS NULL AND cancelled_at IS NULL) p,"
        " (SELECT count(*) AS n, count(started_at) AS started,"
        "  count(*) FILTER (WHERE delivered_at < ?3) AS stuck" TEAM_JOBS " AND " IN_FLIGHT ") f,"
        " (SELECT count(*) AS n" TEAM_JOBS " AND failed_at >= ?4) x",
        counts, 4, fill_overview, out);
    void *items = NULL;
    struct db_arg failures[] = {DB_TEXT(team), DB_INT(q->lists_max)};
    if (r == STORE_OK)
        r = eng_read_all(s,
                         "SELECT " JOB_COLS ", (SELECT name FROM sites WHERE id=site_id)" TEAM_JOBS
                         " AND failed_at IS NOT NULL ORDER BY failed_at DESC, id DESC LIMIT ?2",
                         failures, 2, sizeof *out->failures, fill_overview_job, &items,
                         &out->nfailures);
    out->failures = items;
    items = NULL;
    struct db_arg stuck[] = {DB_TEXT(team), DB_INT(q->stuck_before), DB_INT(q->lists_max)};
    if (r == STORE_OK)
        r = eng_read_all(s,
                         "SELECT " JOB_COLS ", (SELECT name FROM sites WHERE id=site_id)" TEAM_JOBS
                         " AND " IN_FLIGHT
                         " AND delivered_at < ?2 ORDER BY delivered_at, id LIMIT ?3",
                         stuck, 3, sizeof *out->stuck, fill_overview_job, &items, &out->nstuck);
    out->stuck = items;
    items = NULL;
    if (r == STORE_OK && q->rollouts)
        r = eng_read_all(
            s,
            "SELECT r.id, r.description, r.status, r.wave, r.waves, count(*),"
            " count(*) FILTER (WHERE t.state=0), count(*) FILTER (WHERE t.state=1),"
            " count(*) FILTER (WHERE t.state=4), count(*) FILTER (WHERE t.state=5),"
            " count(*) FILTER (WHERE t.state=2), count(*) FILTER (WHERE t.state=3)"
            " FROM rollouts r JOIN rollout_sites t ON t.rollout_id=r.id"
            " WHERE r.team=?1 AND r.status IN (2, 4)"
            " GROUP BY r.id, r.description, r.status, r.wave, r.waves ORDER BY r.id LIMIT 50",
            counts, 1, sizeof *out->rollouts, fill_overview_rollout, &items, &out->nrollouts);
    out->rollouts = items;
    if (r != STORE_OK)
        store_overview_clear(out);
    return r;
}

void store_overview_clear(struct store_overview *o)
{
    struct overview_job *lists[] = {o->failures, o->stuck};
    size_t ns[] = {o->nfailures, o->nstuck};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < ns[l]; i++) {
            job_clear(&lists[l][i].job);
            free(lists[l][i].site_name);
        }
        free(lists[l]);
    }
    for (size_t i = 0; i < o->nrollouts; i++)
        free(o->rollouts[i].description);
    free(o->rollouts);
    memset(o, 0, sizeof *o);
}
