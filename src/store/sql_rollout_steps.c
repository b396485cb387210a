/* The scheduler's steps over rollouts (store_rollout_step) and the end of a rollout
 * (sql_rollout_finish): launch, skip, queue at most a step's jobs, start a wave, end.
 *
 * Every step is one write operation: what it queues and the targets it
 * marks commit together, and each job's idempotency key is derived from the
 * rollout and the site, so a step run again (a crash, a batch retried,
 * another node) never queues a site twice. On PostgreSQL a step locks its
 * rollout's row (SKIP LOCKED): one node steps a rollout at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "lib/log.h"
#include "store/engine.h"

/* An open job of a rollout: the predicate of the index jobs_rollout_open. */
#define OPEN_JOB "completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL"

/* ---- ending: cancel what is pending, settle the outcomes --------------- */

/* Cancels the rollout's jobs not yet delivered and the targets never
 * queued (writer thread). 0 or -1. */
static int cancel_pending(struct store *s, const char *id, int64_t now)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "UPDATE jobs SET cancelled_at=?2 WHERE rollout_id=?1 AND delivered_at IS NULL AND"
            " cancelled_at IS NULL RETURNING " JOB_COLS,
            &r, DB_TEXT(id), DB_INT(now)) != DB_OK)
        return -1;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++) {
        struct job j;
        sql_row_to_job(r, i, &j);
        err = eng_job_event(s, j.site_id, j.id, now, "Job %s cancelled: its rollout stopped",
                            j.token) ||
              out_job(s, EV_JOB_CANCELLED, &j);
        job_clear(&j);
    }
    db_res_free(r);
    return err || LATER(s, "UPDATE rollout_sites SET state=3 WHERE rollout_id=?1 AND state=0",
                        DB_TEXT(id)) != DB_OK
               ? -1
               : 0;
}

/* Copies the finished jobs' outcomes into the targets: they outlive the
 * jobs' retention. 0 or -1. */
static int settle(struct store *s, const char *id)
{
    return LATER(s,
                 "UPDATE rollout_sites SET state=CASE"
                 " WHEN (SELECT completed_at FROM jobs WHERE id=job_id) IS NOT NULL THEN 4"
                 " WHEN (SELECT failed_at FROM jobs WHERE id=job_id) IS NOT NULL THEN 5"
                 " WHEN (SELECT cancelled_at FROM jobs WHERE id=job_id) IS NOT NULL THEN 3"
                 " ELSE 1 END WHERE rollout_id=?1 AND state=1",
                 DB_TEXT(id)) == DB_OK
               ? 0
               : -1;
}

int sql_rollout_finish(struct store *s, const char *id, enum rollout_status st, int64_t now,
                       const char *why)
{
    if ((st != RO_COMPLETED && cancel_pending(s, id, now)) || settle(s, id) ||
        LATER(s, "UPDATE rollouts SET status=?2, finished_at=?3, updated_at=?3 WHERE id=?1",
              DB_TEXT(id), DB_INT(st), DB_INT(now)) != DB_OK ||
        sql_rollout_event(s, id, now, "%s: %s", rollout_status_name(st), why))
        return -1;
    log_ev(st == RO_COMPLETED ? LOG_INFO : LOG_WARN, "rollout.finished", NULL, NULL, NULL,
           "rollout %s %s: %s", id, rollout_status_name(st), why);
    return 0;
}

/* ---- the scheduler's steps ---------------------------------------------- */

struct step_arg {
    struct store *s;
    const char *id;
    int64_t now, seen_since;
    bool window_open;
    char (*queued)[JP_UUID_LEN + 1];
    size_t max, *nqueued;
    bool *more;
};

/* One value of the first row, or fallback. */
static int64_t scalar(struct store *s, const char *sql, const char *id, int64_t fallback, bool *ok)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s), sql, &r, DB_TEXT(id)) != DB_OK) {
        *ok = false;
        return fallback;
    }
    int64_t v = r->rows ? db_int(r, 0, 0, fallback) : fallback;
    db_res_free(r);
    return v;
}

/* Queues the waiting targets of the waves begun, up to the room left. */
static enum store_result queue_targets(struct store *s, struct step_arg *a, const struct db_res *ro)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT seq, site_id FROM rollout_sites WHERE rollout_id=?1 AND state=0 AND wave <= ?2"
            " ORDER BY seq LIMIT ?3",
            &r, DB_TEXT(a->id), DB_INT(db_int(ro, 0, 23, 0)), DB_INT((int64_t)a->max)) != DB_OK)
        return STORE_UNAVAILABLE;
    char *desc = db_dup(ro, 0, 7), *script = db_dup(ro, 0, 8);
    char team[JP_TEAM_MAX + 1];
    eng_copy_cell(ro, 0, 1, team, sizeof team);
    enum store_result rc = desc && script ? STORE_OK : STORE_UNAVAILABLE;
    for (size_t i = 0; i < r->rows && rc == STORE_OK; i++) {
        char site[JP_UUID_LEN + 1], key[JP_UUID_LEN + 1];
        eng_copy_cell(r, i, 1, site, sizeof site);
        rollout_job_key(a->id, site, key);
        struct job_request req = {
            .site_id = site,
            .idempotency_key = key,
            .description = desc,
            .script = script,
            .needs_acknowledgement = true,
            .should_backup = db_int(ro, 0, 5, 0),
        };
        struct job j = {0};
        enum store_result jr = sql_job_insert(s, team, &req, a->id, &j);
        if (jr == STORE_CREATED || jr == STORE_OK) {
            if (LATER(s,
                      "UPDATE rollout_sites SET state=1, job_id=?3 WHERE rollout_id=?1 AND seq=?2",
                      DB_TEXT(a->id), DB_INT(db_int(r, i, 0, 0)), DB_TEXT(j.id)) != DB_OK)
                rc = STORE_UNAVAILABLE;
            else if (jr == STORE_CREATED)
                snprintf(a->queued[(*a->nqueued)++], JP_UUID_LEN + 1, "%s", site);
        } else if (jr == STORE_UNAVAILABLE) {
            rc = jr;
        } else { /* deleted since, or its key taken: it gets no job */
            if (LATER(s, "UPDATE rollout_sites SET state=2 WHERE rollout_id=?1 AND seq=?2",
                      DB_TEXT(a->id), DB_INT(db_int(r, i, 0, 0))) != DB_OK ||
                sql_rollout_event(s, a->id, a->now, "Site %s skipped: no longer a site of the team",
                                  site))
                rc = STORE_UNAVAILABLE;
        }
        job_clear(&j);
    }
    if (rc == STORE_OK && r->rows == a->max)
        *a->more = true;
    free(desc);
    free(script);
    db_res_free(r);
    return rc;
}

static enum store_result op_rollout_step(struct store *s, void *p)
{
    struct step_arg *a = p;
    *a->nqueued = 0;
    *a->more = false;
    struct db_res *ro = NULL;
    if (RUN(s, eng_wdb(s),
            PG(s) ? "SELECT " ROLLOUT_COLS ", wave_done_at FROM rollouts WHERE id=?1"
                    " FOR UPDATE SKIP LOCKED"
                  : "SELECT " ROLLOUT_COLS ", wave_done_at FROM rollouts WHERE id=?1",
            &ro, DB_TEXT(a->id)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result rc = STORE_OK;
    bool ok = true;
    if (!ro->rows) /* gone, or another node steps it now */
        goto out;
    int64_t now = a->now;
    enum rollout_status st = (enum rollout_status)db_int(ro, 0, 10, 0);
    int64_t wave = db_int(ro, 0, 23, 0), waves = db_int(ro, 0, 24, 0);
    bool canary = !db_null(ro, 0, 3);
    if (st == RO_SCHEDULED && db_int(ro, 0, 14, 0) <= now) {
        /* launch: deleted sites are skipped, and offline ones when asked */
        const char *skip =
            db_int(ro, 0, 6, 0)
                ? "UPDATE rollout_sites SET state=2 WHERE rollout_id=?1 AND state=0 AND site_id"
                  " IN (SELECT id FROM sites WHERE deleted_at IS NOT NULL OR last_seen_at IS NULL"
                  " OR last_seen_at < ?2)"
                : "UPDATE rollout_sites SET state=2 WHERE rollout_id=?1 AND state=0 AND site_id"
                  " IN (SELECT id FROM sites WHERE deleted_at IS NOT NULL) AND ?2=?2";
        if (RUN(s, eng_wdb(s), skip, NULL, DB_TEXT(a->id), DB_INT(a->seen_since)) != DB_OK) {
            rc = STORE_UNAVAILABLE;
            goto out;
        }
        long skipped = s->drv->changes(eng_wdb(s));
        if (LATER(s,
                  "UPDATE rollouts SET status=2, started_at=?2, wave=?3, updated_at=?2"
                  " WHERE id=?1",
                  DB_TEXT(a->id), DB_INT(now), DB_INT(canary ? 0 : 1)) != DB_OK ||
            sql_rollout_event(s, a->id, now, "Launched%s; %ld offline or deleted sites skipped",
                              canary ? ": the canary first" : "", skipped))
            rc = STORE_UNAVAILABLE;
        log_ev(LOG_INFO, "rollout.launched", NULL, NULL, NULL, "rollout %s launched", a->id);
        *a->more = true;
        goto out;
    }
    if (st != RO_LAUNCHED)
        goto out;
    /* a failed canary stops everything */
    if (canary && wave == 0) {
        struct db_res *c = NULL;
        if (RUN(s, eng_wdb(s),
                "SELECT j.failed_at, j.cancelled_at, rs.state FROM rollout_sites rs LEFT JOIN"
                " jobs j ON j.id=rs.job_id WHERE rs.rollout_id=?1 AND rs.wave=0",
                &c, DB_TEXT(a->id)) != DB_OK) {
            rc = STORE_UNAVAILABLE;
            goto out;
        }
        bool bad =
            c->rows && (!db_null(c, 0, 0) || !db_null(c, 0, 1) || db_int(c, 0, 2, 0) == RS_SKIPPED);
        db_res_free(c);
        if (bad) {
            rc = sql_rollout_finish(
                     s, a->id, RO_FAILED, now,
                     "the canary failed (or was cancelled or offline); nothing else queued")
                     ? STORE_UNAVAILABLE
                     : STORE_OK;
            goto out;
        }
    }
    int64_t failures =
        scalar(s, "SELECT count(*) FROM jobs WHERE rollout_id=?1 AND failed_at IS NOT NULL", a->id,
               0, &ok);
    struct rollout_threshold th = {db_int(ro, 0, 20, 0), db_int(ro, 0, 21, 0)};
    int64_t nsites = th.percent ? scalar(s,
                                         "SELECT count(*) FROM rollout_sites WHERE"
                                         " rollout_id=?1",
                                         a->id, 0, &ok)
                                : 0; /* only a percent needs it */
    int64_t limit = rollout_threshold_failures(&th, nsites);
    if (!ok) {
        rc = STORE_UNAVAILABLE;
        goto out;
    }
    if (limit && failures >= limit) {
        char why[160];
        snprintf(why, sizeof why, "%lld failures reached max_failures (%lld)", (long long)failures,
                 (long long)limit);
        rc = sql_rollout_finish(s, a->id, RO_ABORTED, now, why) ? STORE_UNAVAILABLE : STORE_OK;
        goto out;
    }
    if (a->window_open) {
        rc = queue_targets(s, a, ro);
        if (rc != STORE_OK || *a->nqueued || *a->more)
            goto out;
    }
    /* the waves begun: anything still waiting (outside the window), or open? */
    int64_t waiting = scalar(s,
                             "SELECT 1 FROM rollout_sites WHERE rollout_id=?1 AND state=0 AND"
                             " wave <= (SELECT wave FROM rollouts WHERE id=?1) LIMIT 1",
                             a->id, 0, &ok);
    int64_t open =
        scalar(s, "SELECT 1 FROM jobs WHERE rollout_id=?1 AND " OPEN_JOB " LIMIT 1", a->id, 0, &ok);
    if (!ok) {
        rc = STORE_UNAVAILABLE;
        goto out;
    }
    if (waiting || open)
        goto out;
    if (wave >= waves) {
        char why[160];
        snprintf(why, sizeof why, "every wave finished, %lld failed", (long long)failures);
        rc = sql_rollout_finish(s, a->id, failures ? RO_FAILED : RO_COMPLETED, now, why)
                 ? STORE_UNAVAILABLE
                 : STORE_OK;
        goto out;
    }
    int64_t done_at = db_int(ro, 0, 27, 0);
    if (!done_at) {
        done_at = now;
        if (LATER(s, "UPDATE rollouts SET wave_done_at=?2 WHERE id=?1", DB_TEXT(a->id),
                  DB_INT(now)) != DB_OK) {
            rc = STORE_UNAVAILABLE;
            goto out;
        }
    }
    if (now >= done_at + db_int(ro, 0, 19, 0)) {
        if (LATER(s,
                  "UPDATE rollouts SET wave=wave+1, wave_done_at=NULL, updated_at=?2 WHERE id=?1",
                  DB_TEXT(a->id), DB_INT(now)) != DB_OK ||
            sql_rollout_event(s, a->id, now, "Wave %lld of %lld started", (long long)wave + 1,
                              (long long)waves))
            rc = STORE_UNAVAILABLE;
        *a->more = true;
    }
out:
    db_res_free(ro);
    return rc;
}

static void step_post(void *p, enum store_result r)
{
    struct step_arg *a = p;
    if (r != STORE_OK) {
        *a->nqueued = 0;
        return;
    }
    for (size_t i = 0; i < *a->nqueued; i++) /* committed: the polls may find them */
        pending_add(a->s->pending, a->queued[i]);
}

enum store_result store_rollout_step(struct store *s, const char *id, int64_t now, bool window_open,
                                     int64_t seen_since, char (*queued)[JP_UUID_LEN + 1],
                                     size_t max, size_t *nqueued, bool *more)
{
    struct step_arg a = {s, id, now, seen_since, window_open, queued, max, nqueued, more};
    *nqueued = 0;
    *more = false;
    return eng_run_op(s, op_rollout_step, &a, sizeof a, step_post, NULL);
}
