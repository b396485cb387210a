/* Data that stays bounded: a thread of its own rolls raw stats samples up
 * into hourly and daily roll-ups as hours and days close, and deletes what is
 * past its age (struct retention), in small operations (a bounded number of
 * rows each, one transaction each, with pauses between them), so that a
 * backlog never holds up the writes of polls.
 *
 * Roll-ups go forward from a watermark (table rollups: every period before
 * upto is rolled up, and within the period at upto every site up to cursor),
 * a chunk of sites at a time, the rows and the watermark in one transaction:
 * a crash repeats at most a chunk, and the insert ignores rows already there.
 * Raw samples are deleted only once rolled up, hourly roll-ups only once in
 * their day. Nothing scans a whole table: samples are found by time (index
 * stats_ts), a site's by site and time, jobs by id (UUIDv7: creation time). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/engine.h"

#define CHUNK_SITES 500     /* sites per roll-up or backup operation */
#define PRUNE_ROWS 500      /* rows per delete operation */
#define JOB_ROWS 200        /* jobs per delete operation (with their events) */
#define CLOSE_MARGIN 300    /* an hour is rolled up this long after it ended */
#define IDLE_S 5            /* between two rounds that found nothing due */
#define VACUUM_PAGES 2048   /* as in op_vacuum's pragma */
#define BACKUP_SWEEP_S 3600 /* a pass over every site's backups at most this often */

/* ---- roll-ups --------------------------------------------------------- */

struct rollup {
    const char *name, *table;
    int64_t period;
    /* the rows of one period [?1, ?2) for the sites after ?3 (at most ?4) */
    const char *select;
    const char *source; /* the table rolled up */
};

#define ROLLUP_INSERT(table)                                                                       \
    "INSERT INTO " table " (k, ts, samples, cpu_sum, cpu_n, cpu_min, cpu_max, mem_sum,"            \
    " mem_n, mem_min, mem_max, disk_sum, disk_n, disk_min, disk_max, uptime) "
#define CHUNK "(SELECT stats_key FROM sites WHERE id > ?3 ORDER BY id LIMIT ?4) x"
#define FROM_RAW                                                                                   \
    "SELECT st.k, ?1, count(*), sum(cpu_load), count(cpu_load), min(cpu_load),"                    \
    " max(cpu_load), sum(memory_free), count(memory_free), min(memory_free), max(memory_free),"    \
    " sum(disk_free), count(disk_free), min(disk_free), max(disk_free), max(uptime) FROM " CHUNK   \
    " JOIN stats st ON "
#define FROM_HOURLY                                                                                \
    "SELECT st.k, ?1, sum(samples), sum(cpu_sum), sum(cpu_n), min(cpu_min), max(cpu_max),"         \
    " sum(mem_sum), sum(mem_n), min(mem_min), max(mem_max), sum(disk_sum), sum(disk_n),"           \
    " min(disk_min), max(disk_max), max(uptime) FROM " CHUNK " JOIN stats_hourly st ON "
#define REST                                                                                       \
    " st.k=x.stats_key AND st.ts >= ?1 AND st.ts < ?2 WHERE true GROUP BY st.k"                    \
    " ON CONFLICT (k, ts) DO NOTHING"

static const struct rollup hourly = {
    "hourly", "stats_hourly", 3600, ROLLUP_INSERT("stats_hourly") FROM_RAW REST, "stats",
};
static const struct rollup daily = {
    "daily", "stats_daily", 86400, ROLLUP_INSERT("stats_daily") FROM_HOURLY REST, "stats_hourly",
};

struct step {
    int64_t now;
    long done;    /* chunks done (0: nothing was due) */
    long rows;    /* roll-up rows written, over every step */
    int64_t upto; /* the watermark after the step */
};

/* The watermark of a roll-up; on PostgreSQL locked for this transaction, or
 * skipped (0) while another node holds it. 1, 0 or -1. */
static int watermark(struct store *s, const char *name, int64_t *upto, char cursor[JP_UUID_LEN + 1])
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            PG(s) ? "SELECT upto, cursor FROM rollups WHERE name=?1 FOR UPDATE SKIP LOCKED"
                  : "SELECT upto, cursor FROM rollups WHERE name=?1",
            &r, DB_TEXT(name)) != DB_OK)
        return -1;
    int found = r->rows > 0;
    if (found) {
        *upto = db_int(r, 0, 0, 0);
        eng_copy_cell(r, 0, 1, cursor, JP_UUID_LEN + 1);
    }
    db_res_free(r);
    return found;
}

/* The ids of the sites after cursor, at most CHUNK_SITES, in order; NULL on
 * error. */
static struct db_res *chunk(struct store *s, const char *cursor)
{
    struct db_res *r = NULL;
    return RUN(s, eng_wdb(s), "SELECT id FROM sites WHERE id > ?1 ORDER BY id LIMIT ?2", &r,
               DB_TEXT(cursor), DB_INT(CHUNK_SITES)) == DB_OK
               ? r
               : NULL;
}

/* The watermark of a roll-up, unlocked; -1 on error. */
static int64_t upto_of(struct store *s, const char *name)
{
    struct db_res *r = NULL;
    int64_t upto = -1;
    if (RUN(s, eng_wdb(s), "SELECT upto FROM rollups WHERE name=?1", &r, DB_TEXT(name)) == DB_OK &&
        r->rows)
        upto = db_int(r, 0, 0, -1);
    db_res_free(r);
    return upto;
}

static int set_watermark(struct store *s, const char *name, int64_t upto, const char *cursor)
{
    return LATER(s, "UPDATE rollups SET upto=?2, cursor=?3 WHERE name=?1", DB_TEXT(name),
                 DB_INT(upto), DB_TEXT(cursor)) == DB_OK
               ? 0
               : -1;
}

/* One chunk of the roll-up of the period at the watermark, once it closed
 * (before closed_before). At the start of a period, skips to the first
 * period with rows (a watermark stays where it is while there are none:
 * samples of a database filled before, or restored, are rolled up from their
 * first one). */
static enum store_result rollup_step(struct store *s, const struct rollup *ru,
                                     int64_t closed_before, struct step *st)
{
    int64_t upto = 0;
    char cursor[JP_UUID_LEN + 1] = "";
    int got = watermark(s, ru->name, &upto, cursor);
    st->upto = upto;
    if (got <= 0)
        return got < 0 ? STORE_UNAVAILABLE : STORE_OK;
    if (!cursor[0]) { /* a new period: the first one with rows, if closed */
        struct db_res *r = NULL;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT min(ts) FROM %s WHERE ts >= ?1", ru->source);
        if (RUN(s, eng_wdb(s), sql, &r, DB_INT(upto)) != DB_OK)
            return STORE_UNAVAILABLE;
        bool none = db_null(r, 0, 0);
        int64_t first = eng_floor(db_int(r, 0, 0, 0), ru->period);
        db_res_free(r);
        if (none)
            return STORE_OK;
        int64_t open = eng_floor(closed_before, ru->period); /* the first period not closed */
        int64_t next = first > open ? open : first;
        if (next > upto) {
            upto = st->upto = next;
            if (set_watermark(s, ru->name, upto, ""))
                return STORE_UNAVAILABLE;
        }
    }
    if (upto + ru->period > closed_before)
        return STORE_OK; /* the period is not closed yet */
    if (RUN(s, eng_wdb(s), ru->select, NULL, DB_INT(upto), DB_INT(upto + ru->period),
            DB_TEXT(cursor), DB_INT(CHUNK_SITES)) != DB_OK)
        return STORE_UNAVAILABLE;
    st->rows += s->drv->changes(eng_wdb(s));
    struct db_res *r = chunk(s, cursor);
    if (!r)
        return STORE_UNAVAILABLE;
    bool last = r->rows < CHUNK_SITES;
    char next[JP_UUID_LEN + 1] = "";
    if (!last)
        eng_copy_cell(r, r->rows - 1, 0, next, sizeof next);
    db_res_free(r);
    if (last)
        upto += ru->period;
    st->upto = upto;
    st->done = 1;
    return set_watermark(s, ru->name, upto, next) ? STORE_UNAVAILABLE : STORE_OK;
}

static enum store_result op_rollup_hourly(struct store *s, void *p)
{
    struct step *st = p;
    st->done = 0;
    return rollup_step(s, &hourly, st->now - CLOSE_MARGIN, st);
}

static enum store_result op_rollup_daily(struct store *s, void *p)
{
    struct step *st = p;
    st->done = 0;
    int64_t hourly_upto = upto_of(s, hourly.name);
    return hourly_upto < 0 ? STORE_UNAVAILABLE : rollup_step(s, &daily, hourly_upto, st);
}

/* ---- retention -------------------------------------------------------- */

struct prune {
    int64_t now;
    long done;
};

/* Deletes at most PRUNE_ROWS rows of a stats table with ts before cut, the
 * oldest first (on PostgreSQL by their place, skipping rows another node is
 * deleting). */
static enum store_result delete_before(struct store *s, const char *table, int64_t cut,
                                       struct prune *a)
{
    char sql[256];
    if (PG(s))
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %s WHERE ts < ?1"
                 " ORDER BY ts LIMIT ?2 FOR UPDATE SKIP LOCKED))",
                 table, table);
    else
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s WHERE (k, ts) IN (SELECT k, ts FROM %s WHERE ts < ?1 ORDER BY ts"
                 " LIMIT ?2)",
                 table, table);
    if (RUN(s, eng_wdb(s), sql, NULL, DB_INT(cut), DB_INT(PRUNE_ROWS)) != DB_OK)
        return STORE_UNAVAILABLE;
    a->done = s->drv->changes(eng_wdb(s));
    return STORE_OK;
}

/* The rows of a stats table past their age, once rolled up into the next
 * (until: that roll-up's name; NULL for the daily roll-ups, the last). */
static enum store_result prune_stats(struct store *s, struct prune *a, const char *table,
                                     int64_t age, const char *until)
{
    a->done = 0;
    int64_t cut = a->now - age;
    if (until) {
        int64_t upto = upto_of(s, until);
        if (upto < 0)
            return STORE_UNAVAILABLE;
        cut = upto < cut ? upto : cut;
    }
    return delete_before(s, table, cut, a);
}

static enum store_result op_prune_raw(struct store *s, void *p)
{
    return prune_stats(s, p, "stats", s->ret.raw, hourly.name);
}

static enum store_result op_prune_hourly(struct store *s, void *p)
{
    return prune_stats(s, p, "stats_hourly", s->ret.hourly, daily.name);
}

static enum store_result op_prune_daily(struct store *s, void *p)
{
    return prune_stats(s, p, "stats_daily", s->ret.daily, NULL);
}

/* Jobs that finished before the cut, with their events and any chunks of a
 * backup never completed; pending and delivered ones stay, however old.
 * Ids begin with their creation time: only jobs made before the cut are
 * looked at. */
static enum store_result op_prune_jobs(struct store *s, void *p)
{
    struct prune *a = p;
    a->done = 0;
    int64_t cut = a->now - s->ret.jobs;
    char floor[14];
    uuid7_floor(cut > 0 ? (uint64_t)cut * 1000 : 0, floor);
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT id FROM jobs WHERE id < ?1 AND (completed_at < ?2 OR failed_at < ?2 OR"
            " cancelled_at < ?2) ORDER BY id LIMIT ?3",
            &r, DB_TEXT(floor), DB_INT(cut), DB_INT(JOB_ROWS)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_OK;
    for (size_t i = 0; i < r->rows && res == STORE_OK; i++) {
        const char *id = db_text(r, i, 0);
        if (LATER(s, "DELETE FROM events WHERE job_id=?1", DB_TEXT(id)) != DB_OK ||
            LATER(s, "DELETE FROM backup_chunks WHERE job_id=?1", DB_TEXT(id)) != DB_OK ||
            LATER(s, "DELETE FROM jobs WHERE id=?1", DB_TEXT(id)) != DB_OK)
            res = STORE_UNAVAILABLE;
    }
    a->done = (long)r->rows;
    db_res_free(r);
    return res;
}

/* The sites' own events (online, offline, adopted, ...) past the jobs' age. */
static enum store_result op_prune_events(struct store *s, void *p)
{
    struct prune *a = p;
    a->done = 0;
    if (RUN(s, eng_wdb(s),
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE job_id IS NULL AND"
            " ts < ?1 ORDER BY ts LIMIT ?2)",
            NULL, DB_INT(a->now - s->ret.jobs), DB_INT(PRUNE_ROWS)) != DB_OK)
        return STORE_UNAVAILABLE;
    a->done = s->drv->changes(eng_wdb(s));
    return STORE_OK;
}

/* Trims the backups of a chunk of sites after the cursor (each backup also
 * trims its site: this catches a lowered backup_keep). Sets done to the
 * sites looked at, the cursor to the last one. */
struct backup_sweep {
    long done;
    char cursor[JP_UUID_LEN + 1];
};

static enum store_result op_prune_backups(struct store *s, void *p)
{
    struct backup_sweep *a = p;
    a->done = 0;
    struct db_res *r = chunk(s, a->cursor);
    if (!r)
        return STORE_UNAVAILABLE;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++)
        err = sql_backups_trim(s, db_text(r, i, 0));
    if (!err && r->rows) {
        a->done = (long)r->rows;
        eng_copy_cell(r, r->rows - 1, 0, a->cursor, sizeof a->cursor);
    }
    db_res_free(r);
    return err ? STORE_UNAVAILABLE : STORE_OK;
}

/* SQLite: gives free pages back to the file system once more than an
 * eighth of the file (and 2 MiB) is free; the rest is kept for new rows. */
static enum store_result op_vacuum(struct store *s, void *p)
{
    struct prune *a = p;
    a->done = 0;
    struct db_res *r = NULL;
    if (s->drv->run(eng_wdb(s), "SELECT * FROM pragma_freelist_count, pragma_page_count", NULL, 0,
                    &r) != DB_OK)
        return STORE_UNAVAILABLE;
    int64_t free_pages = db_int(r, 0, 0, 0), pages = db_int(r, 0, 1, 0);
    db_res_free(r);
    if (free_pages <= VACUUM_PAGES || free_pages <= pages / 8)
        return STORE_OK;
    if (eng_exec(s, eng_wdb(s), "PRAGMA incremental_vacuum(2048)"))
        return STORE_UNAVAILABLE;
    a->done = VACUUM_PAGES;
    return STORE_OK;
}

/* ---- the thread ------------------------------------------------------- */

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Sleeps up to seconds, or until stopping; false when stopping. */
static bool pause_for(struct store *s, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(seconds * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&s->pr_mu);
    if (!s->pr_stopping)
        pthread_cond_timedwait(&s->pr_cond, &s->pr_mu, &until);
    bool go = !s->pr_stopping;
    pthread_mutex_unlock(&s->pr_mu);
    return go;
}

/* Runs op until it finds nothing more to do (or a bounded number of times),
 * pausing after each twice as long as it took: at most a third of the
 * writer's time. */
static long drain(struct store *s, store_op op, void *arg, long *done, long long *total)
{
    long sum = 0;
    for (int i = 0; i < 1000; i++) {
        double t0 = mono();
        if (eng_submit(s, op, arg) != STORE_OK) {
            log_warn("store: a pruning step failed; trying again later");
            break;
        }
        if (*done <= 0)
            break;
        sum += *done;
        pthread_mutex_lock(&s->pr_mu);
        *total += *done;
        pthread_mutex_unlock(&s->pr_mu);
        double took = mono() - t0;
        if (!pause_for(s, took > 0.001 ? 2 * took : 0.002))
            break;
    }
    return sum;
}

void *eng_pruner_main(void *arg)
{
    struct store *s = arg;
    const struct retention *rt = &s->ret;
    struct retention_status *ps = &s->pr_status;
    double swept = -BACKUP_SWEEP_S;
    for (;;) {
        int64_t now = eng_now() + rt->clock_offset;
        struct step hs = {.now = now}, ds = {.now = now};
        struct prune pr = {.now = now};
        long long chunks = 0;
        long did = drain(s, op_rollup_hourly, &hs, &hs.done, &chunks) +
                   drain(s, op_rollup_daily, &ds, &ds.done, &chunks);
        if (rt->raw)
            did += drain(s, op_prune_raw, &pr, &pr.done, &ps->stats);
        if (rt->hourly)
            did += drain(s, op_prune_hourly, &pr, &pr.done, &ps->rollups);
        if (rt->daily)
            did += drain(s, op_prune_daily, &pr, &pr.done, &ps->rollups);
        if (rt->jobs)
            did += drain(s, op_prune_jobs, &pr, &pr.done, &ps->jobs) +
                   drain(s, op_prune_events, &pr, &pr.done, &ps->events);
        if (rt->backup_keep && mono() - swept >= BACKUP_SWEEP_S) {
            struct backup_sweep bs = {0};
            drain(s, op_prune_backups, &bs, &bs.done, &(long long){0});
            swept = mono(); /* not counted as work: the pass ends when the sites do */
        }
        if (!PG(s))
            did += drain(s, op_vacuum, &pr, &pr.done, &(long long){0});
        pthread_mutex_lock(&s->pr_mu);
        ps->rolled += hs.rows + ds.rows;
        if (hs.upto) /* 0: another node held the watermark */
            ps->hourly_upto = hs.upto;
        if (ds.upto)
            ps->daily_upto = ds.upto;
        ps->idle = did == 0;
        bool stopping = s->pr_stopping;
        pthread_mutex_unlock(&s->pr_mu);
        if (stopping || (!did && !pause_for(s, IDLE_S)))
            break;
    }
    return NULL;
}

void eng_pruner_stop(struct store *s)
{
    if (!s->pruning)
        return;
    pthread_mutex_lock(&s->pr_mu);
    s->pr_stopping = true;
    pthread_cond_broadcast(&s->pr_cond);
    pthread_mutex_unlock(&s->pr_mu);
    pthread_join(s->pruner, NULL);
    s->pruning = false;
}

void store_retention_status(struct store *s, struct retention_status *out)
{
    pthread_mutex_lock(&s->pr_mu);
    *out = s->pr_status;
    pthread_mutex_unlock(&s->pr_mu);
}
