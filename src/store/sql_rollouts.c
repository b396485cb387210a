/* Rollouts (the seed's scheduled scripts): their rows, their target sites
 * and the steps that launch them, queue their jobs wave by wave and end
 * them. Tables (migration 7): rollouts, rollout_sites (one per target, in
 * the order given: its wave, its state, its job), rollout_events.
 *
 * Every step is one write operation: what it queues and the targets it
 * marks commit together, and each job's idempotency key is derived from the
 * rollout and the site, so a step run again (a crash, a batch retried,
 * another node) never queues a site twice. On PostgreSQL a step locks its
 * rollout's row (SKIP LOCKED): one node steps a rollout at a time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "lib/log.h"
#include "store/engine.h"

#define ROLLOUT_COLS                                                                               \
    "id, team, created_by, test_site_id, template_id, make_backup, abort_if_offline,"              \
    " description, script, notify, status, authorized_at, authorized_by, cancelled_at,"            \
    " launch_at, started_at, finished_at, wave_size, wave_percent, wave_interval,"                 \
    " max_failures, max_failures_pct, win, wave, waves, created_at, updated_at"

/* An open job of a rollout: the predicate of the index jobs_rollout_open. */
#define OPEN_JOB "completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL"

void rollout_list_clear(struct rollout_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rollout_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void parse_window(const char *text, struct rollout *r)
{
    json_t *w = text ? json_loads(text, 0, NULL) : NULL;
    char err[160];
    r->has_window = w && rollout_window_parse(w, &r->window, err, sizeof err) == 0;
    json_decref(w);
}

static void row_to_rollout(const struct db_res *res, size_t i, struct rollout *r)
{
    memset(r, 0, sizeof *r);
    eng_copy_cell(res, i, 0, r->id, sizeof r->id);
    eng_copy_cell(res, i, 1, r->team, sizeof r->team);
    eng_copy_cell(res, i, 2, r->created_by, sizeof r->created_by);
    eng_copy_cell(res, i, 3, r->test_site_id, sizeof r->test_site_id);
    eng_copy_cell(res, i, 4, r->template_id, sizeof r->template_id);
    r->make_backup = db_int(res, i, 5, 0);
    r->abort_if_offline = db_int(res, i, 6, 0);
    r->description = db_dup(res, i, 7);
    r->script = db_dup(res, i, 8);
    r->notify = db_dup(res, i, 9);
    r->status = (enum rollout_status)db_int(res, i, 10, 0);
    r->authorized_at = db_int(res, i, 11, 0);
    eng_copy_cell(res, i, 12, r->authorized_by, sizeof r->authorized_by);
    r->cancelled_at = db_int(res, i, 13, 0);
    r->launch_at = db_int(res, i, 14, 0);
    r->started_at = db_int(res, i, 15, 0);
    r->finished_at = db_int(res, i, 16, 0);
    r->wave_size = db_int(res, i, 17, 0);
    r->wave_percent = db_int(res, i, 18, 0);
    r->wave_interval = db_int(res, i, 19, 0);
    r->max_failures.value = db_int(res, i, 20, 0);
    r->max_failures.percent = db_int(res, i, 21, 0);
    parse_window(db_text(res, i, 22), r);
    r->wave = db_int(res, i, 23, 0);
    r->waves = db_int(res, i, 24, 0);
    r->created_at = db_int(res, i, 25, 0);
    r->updated_at = db_int(res, i, 26, 0);
}

/* The rollout's targets with their outcomes now, on connection c. 0 or -1. */
static int load_targets(struct store *s, struct db *c, struct rollout *r)
{
    struct db_res *res = NULL;
    if (RUN(s, c,
            "SELECT rs.site_id, rs.state, j.completed_at, j.failed_at, j.cancelled_at"
            " FROM rollout_sites rs LEFT JOIN jobs j ON j.id=rs.job_id"
            " WHERE rs.rollout_id=?1 ORDER BY rs.seq",
            &res, DB_TEXT(r->id)) != DB_OK)
        return -1;
    r->targets = calloc(res->rows ? res->rows : 1, sizeof *r->targets);
    if (!r->targets) {
        db_res_free(res);
        return -1;
    }
    for (size_t i = 0; i < res->rows; i++) {
        struct rollout_target *t = &r->targets[i];
        eng_copy_cell(res, i, 0, t->site_id, sizeof t->site_id);
        t->state = (int)db_int(res, i, 1, 0);
        if (t->state == RS_QUEUED)
            t->state = !db_null(res, i, 2)   ? RS_COMPLETED
                       : !db_null(res, i, 3) ? RS_FAILED
                       : !db_null(res, i, 4) ? RS_CANCELLED
                                             : RS_QUEUED;
    }
    r->ntargets = res->rows;
    db_res_free(res);
    return 0;
}

/* The team's rollout id, with its targets, read on connection c. */
static enum store_result load_rollout(struct store *s, struct db *c, const char *team,
                                      const char *id, struct rollout *out)
{
    memset(out, 0, sizeof *out);
    struct db_res *res = NULL;
    if (RUN(s, c, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE id=?1 AND team=?2", &res,
            DB_TEXT(id), DB_TEXT(team)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result rc = STORE_NOT_FOUND;
    if (res->rows) {
        row_to_rollout(res, 0, out);
        rc = load_targets(s, c, out) ? STORE_UNAVAILABLE : STORE_OK;
    }
    db_res_free(res);
    if (rc != STORE_OK)
        rollout_clear(out);
    return rc;
}

/* The status of the team's rollout id, its row locked on PostgreSQL until
 * the commit (writer thread). */
static enum store_result lock_status(struct store *s, const char *team, const char *id,
                                     enum rollout_status *st)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            PG(s) ? "SELECT status FROM rollouts WHERE id=?1 AND team=?2 FOR UPDATE"
                  : "SELECT status FROM rollouts WHERE id=?1 AND team=?2",
            &r, DB_TEXT(id), DB_TEXT(team)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result rc = r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (r->rows)
        *st = (enum rollout_status)db_int(r, 0, 0, 0);
    db_res_free(r);
    return rc;
}

static int ro_event(struct store *s, const char *id, int64_t ts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ro_event(struct store *s, const char *id, int64_t ts, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return LATER(s, "INSERT INTO rollout_events (rollout_id, ts, message) VALUES (?1,?2,?3)",
                 DB_TEXT(id), DB_INT(ts), DB_TEXT(msg)) == DB_OK
               ? 0
               : -1;
}

/* ---- create and update ------------------------------------------------- */

struct spec_arg {
    const char *team, *by, *id; /* by: who creates or updates; id: an update's */
    const struct rollout_spec *spec;
    struct rollout *out;
    char *missing;
};

/* Writes the targets of spec for rollout id with their waves (one
 * statement over the ids as a JSON array), and returns the last wave (-1 on
 * error). */
static int64_t write_targets(struct store *s, const char *id, const struct rollout_spec *sp)
{
    int64_t ci = -1; /* the canary's index */
    for (size_t i = 0; sp->test_site_id && i < sp->nsites && ci < 0; i++)
        if (!strcmp(sp->sites[i], sp->test_site_id))
            ci = (int64_t)i;
    int64_t rest = (int64_t)sp->nsites - (ci >= 0 ? 1 : 0);
    int64_t len = rollout_wave_len(sp->wave_size, sp->wave_percent, rest);
    size_t cap = sp->nsites * (JP_UUID_LEN + 3) + 3, off = 0;
    char *ids = malloc(cap);
    if (!ids)
        return -1;
    ids[off++] = '[';
    for (size_t i = 0; i < sp->nsites; i++)
        off += (size_t)snprintf(ids + off, cap - off, "%s\"%s\"", i ? "," : "", sp->sites[i]);
    snprintf(ids + off, cap - off, "]");
    /* the wave of index k: 0 for the canary, else 1 + its rank among the others / len */
#define WAVE_OF(k)                                                                                 \
    "CASE WHEN " k "=?3 THEN 0 ELSE 1 + (" k " - CASE WHEN ?3 >= 0 AND " k                         \
    " > ?3 THEN 1 ELSE 0 END) / ?4 END"
    const char *sql =
        PG(s) ? "INSERT INTO rollout_sites (rollout_id, seq, site_id, wave) SELECT ?1, t.o - 1,"
                " t.v, " WAVE_OF("(t.o - 1)") " FROM json_array_elements_text(CAST(?2 AS json))"
                                              " WITH ORDINALITY AS t(v, o)"
              : "INSERT INTO rollout_sites (rollout_id, seq, site_id, wave) SELECT ?1, key,"
                " value, " WAVE_OF("key") " FROM json_each(?2)";
#undef WAVE_OF
    enum db_status rc =
        RUN(s, eng_wdb(s), sql, NULL, DB_TEXT(id), DB_TEXT(ids), DB_INT(ci), DB_INT(len));
    free(ids);
    if (rc != DB_OK)
        return -1;
    return rest > 0 ? 1 + (rest - 1) / len : 0;
}

/* STORE_OK when every target is a site of the team, not deleted; else
 * STORE_NOT_FOUND with the first other one in missing. */
static enum store_result targets_owned(struct store *s, const char *id, const char *team,
                                       char *missing)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT rs.site_id FROM rollout_sites rs LEFT JOIN sites st ON st.id=rs.site_id AND"
            " st.team=?2 AND st.deleted_at IS NULL WHERE rs.rollout_id=?1 AND st.id IS NULL"
            " ORDER BY rs.seq LIMIT 1",
            &r, DB_TEXT(id), DB_TEXT(team)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result rc = r->rows ? STORE_NOT_FOUND : STORE_OK;
    if (r->rows)
        eng_copy_cell(r, 0, 0, missing, JP_UUID_LEN + 1);
    db_res_free(r);
    return rc;
}

static char *window_text(const struct rollout_window *w)
{
    if (!w)
        return NULL;
    json_t *j = rollout_window_json(w);
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return t;
}

static enum store_result op_rollout_write(struct store *s, void *p)
{
    struct spec_arg *a = p;
    const struct rollout_spec *sp = a->spec;
    rollout_clear(a->out);
    a->missing[0] = '\0';
    int64_t now = eng_now();
    char id[JP_UUID_LEN + 1];
    if (a->id) {
        enum rollout_status st;
        enum store_result rc = lock_status(s, a->team, a->id, &st);
        if (rc != STORE_OK)
            return rc;
        if (st != RO_UNAUTHORIZED && st != RO_SCHEDULED)
            return STORE_STARTED;
        snprintf(id, sizeof id, "%s", a->id);
        if (RUN(s, eng_wdb(s), "DELETE FROM rollout_sites WHERE rollout_id=?1", NULL,
                DB_TEXT(id)) != DB_OK)
            return STORE_UNAVAILABLE;
    } else if (eng_new_id(s, id)) {
        return STORE_UNAVAILABLE;
    }
    int64_t waves = write_targets(s, id, sp);
    if (waves < 0)
        return STORE_UNAVAILABLE;
    enum store_result owned = targets_owned(s, id, a->team, a->missing);
    if (owned != STORE_OK) {
        /* a refusal keeps what it wrote: take the targets back */
        if (RUN(s, eng_wdb(s), "DELETE FROM rollout_sites WHERE rollout_id=?1", NULL,
                DB_TEXT(id)) != DB_OK)
            return STORE_UNAVAILABLE;
        return owned;
    }
    char *win = window_text(sp->window), launch[JP_RFC3339_LEN + 1];
    rfc3339_format(sp->launch_at, launch);
    struct db_arg args[] = {
        DB_TEXT(id),
        DB_TEXT(a->team),
        DB_TEXT(a->by),
        DB_TEXT(sp->test_site_id),
        DB_TEXT(sp->template_id),
        DB_INT(sp->make_backup),
        DB_INT(sp->abort_if_offline),
        DB_TEXT(sp->description),
        DB_TEXT(sp->script),
        DB_TEXT(sp->notify ? sp->notify : "[]"),
        DB_INT(sp->launch_at),
        DB_INT(sp->wave_size),
        DB_INT(sp->wave_percent),
        DB_INT(sp->wave_interval),
        DB_INT(sp->max_failures.value),
        DB_INT(sp->max_failures.percent),
        DB_TEXT(win),
        DB_INT(waves),
        DB_INT(now),
    };
    const char *sql =
        a->id ? "UPDATE rollouts SET test_site_id=?4, template_id=?5, make_backup=?6,"
                " abort_if_offline=?7, description=?8, script=?9, notify=?10, launch_at=?11,"
                " wave_size=?12, wave_percent=?13, wave_interval=?14, max_failures=?15,"
                " max_failures_pct=?16, win=?17, waves=?18, updated_at=?19, status=0,"
                " authorized_at=NULL, authorized_by=NULL WHERE id=?1 AND team=?2 AND (?3 IS NULL "
                "OR ?3 IS NOT NULL)"
              : "INSERT INTO rollouts (id, team, created_by, test_site_id, template_id,"
                " make_backup, abort_if_offline, description, script, notify, status,"
                " launch_at, wave_size, wave_percent, wave_interval, max_failures,"
                " max_failures_pct, win, waves, created_at, updated_at) VALUES "
                "(?1,?2,coalesce(?3,''),?4,"
                "?5,?6,?7,?8,?9,?10,0,?11,?12,?13,?14,?15,?16,?17,?18,?19,?19)";
    enum db_status rc =
        s->drv->run(eng_wdb(s), sql, args, (int)(sizeof args / sizeof args[0]), NULL);
    free(win);
    if (rc != DB_OK ||
        ro_event(s, id, now,
                 a->id ? "Updated by %s: %zu sites, launch at %s; it needs approval again"
                       : "Created by %s: %zu sites, launch at %s",
                 a->by && *a->by ? a->by : "an anonymous caller", sp->nsites, launch))
        return STORE_UNAVAILABLE;
    enum store_result lr = load_rollout(s, eng_wdb(s), a->team, id, a->out);
    if (lr != STORE_OK)
        return lr == STORE_NOT_FOUND ? STORE_UNAVAILABLE : lr;
    return a->id ? STORE_OK : STORE_CREATED;
}

static void rollout_post(void *p, enum store_result r)
{
    struct spec_arg *a = p;
    if (r != STORE_OK && r != STORE_CREATED)
        rollout_clear(a->out);
}

enum store_result store_rollout_create(struct store *s, const char *team, const char *created_by,
                                       const struct rollout_spec *spec, struct rollout *out,
                                       char missing[JP_UUID_LEN + 1])
{
    memset(out, 0, sizeof *out);
    struct spec_arg a = {team, created_by, NULL, spec, out, missing};
    return eng_run_op(s, op_rollout_write, &a, sizeof a, rollout_post, NULL);
}

enum store_result store_rollout_update(struct store *s, const char *team, const char *id,
                                       const char *by, const struct rollout_spec *spec,
                                       struct rollout *out, char missing[JP_UUID_LEN + 1])
{
    memset(out, 0, sizeof *out);
    struct spec_arg a = {team, by, id, spec, out, missing};
    return eng_run_op(s, op_rollout_write, &a, sizeof a, rollout_post, NULL);
}

/* ---- reads --------------------------------------------------------------- */

enum store_result store_rollout_get(struct store *s, const char *team, const char *id,
                                    struct rollout *out)
{
    memset(out, 0, sizeof *out);
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result rc = STORE_UNAVAILABLE;
    if (!eng_exec(s, c, "BEGIN")) {
        rc = load_rollout(s, c, team, id, out);
        eng_exec(s, c, "ROLLBACK");
    }
    eng_reader_put(s, c);
    return rc;
}

enum store_result store_rollout_list(struct store *s, const char *team, struct rollout_list *out)
{
    memset(out, 0, sizeof *out);
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result rc = STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    if (eng_exec(s, c, "BEGIN"))
        goto out;
    if (RUN(s, c, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE team=?1 ORDER BY id", &r,
            DB_TEXT(team)) != DB_OK ||
        !(out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items)))
        goto rollback;
    rc = STORE_OK;
    for (; out->n < r->rows && rc == STORE_OK; out->n++) {
        row_to_rollout(r, out->n, &out->items[out->n]);
        if (load_targets(s, c, &out->items[out->n]))
            rc = STORE_UNAVAILABLE;
    }
rollback:
    db_res_free(r);
    eng_exec(s, c, "ROLLBACK");
out:
    eng_reader_put(s, c);
    if (rc != STORE_OK)
        rollout_list_clear(out);
    return rc;
}

static void fill_event(const struct db_res *r, size_t i, void *out)
{
    struct log_entry *e = out;
    e->timestamp = db_int(r, i, 0, 0);
    e->message = db_dup(r, i, 1);
}

enum store_result store_rollout_events(struct store *s, const char *team, const char *id,
                                       struct log_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(id), DB_TEXT(team)};
    void *items = NULL;
    enum store_result rc = eng_read_all(
        s,
        "SELECT e.ts, e.message FROM rollout_events e WHERE e.rollout_id=?1 AND EXISTS (SELECT 1"
        " FROM rollouts r WHERE r.id=?1 AND r.team=?2) ORDER BY e.id",
        args, 2, sizeof(struct log_entry), fill_event, &items, &out->n);
    out->items = items;
    if (rc == STORE_OK && !out->n) {
        /* no events: is there such a rollout? (every rollout has its creation's) */
        log_list_clear(out);
        return STORE_NOT_FOUND;
    }
    return rc;
}

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

/* Ends the rollout in status st (writer thread). 0 or -1. */
static int finish(struct store *s, const char *id, enum rollout_status st, int64_t now,
                  const char *why)
{
    if ((st != RO_COMPLETED && cancel_pending(s, id, now)) || settle(s, id) ||
        LATER(s, "UPDATE rollouts SET status=?2, finished_at=?3, updated_at=?3 WHERE id=?1",
              DB_TEXT(id), DB_INT(st), DB_INT(now)) != DB_OK ||
        ro_event(s, id, now, "%s: %s", rollout_status_name(st), why))
        return -1;
    log_ev(st == RO_COMPLETED ? LOG_INFO : LOG_WARN, "rollout.finished", NULL, NULL, NULL,
           "rollout %s %s: %s", id, rollout_status_name(st), why);
    return 0;
}

/* ---- what operators do --------------------------------------------------- */

struct act_arg {
    const char *team, *id, *by;
    enum rollout_action action;
    int64_t now;
    struct rollout *out;
};

static enum store_result op_rollout_act(struct store *s, void *p)
{
    struct act_arg *a = p;
    rollout_clear(a->out);
    enum rollout_status st;
    enum store_result rc = lock_status(s, a->team, a->id, &st);
    if (rc != STORE_OK)
        return rc;
    const char *who = a->by && *a->by ? a->by : "an anonymous caller";
    int err = 0;
    switch (a->action) {
    case RA_APPROVE:
        if (st != RO_UNAUTHORIZED)
            return STORE_CONFLICT;
        err = LATER(s,
                    "UPDATE rollouts SET status=1, authorized_at=?2, authorized_by=?3,"
                    " updated_at=?2 WHERE id=?1",
                    DB_TEXT(a->id), DB_INT(a->now), DB_TEXT(a->by)) != DB_OK ||
              ro_event(s, a->id, a->now, "Approved by %s", who);
        break;
    case RA_PAUSE:
    case RA_RESUME:
        if (st != (a->action == RA_PAUSE ? RO_LAUNCHED : RO_PAUSED))
            return STORE_CONFLICT;
        err = LATER(s, "UPDATE rollouts SET status=?2, updated_at=?3 WHERE id=?1", DB_TEXT(a->id),
                    DB_INT(a->action == RA_PAUSE ? RO_PAUSED : RO_LAUNCHED),
                    DB_INT(a->now)) != DB_OK ||
              ro_event(s, a->id, a->now, "%s by %s", a->action == RA_PAUSE ? "Paused" : "Resumed",
                       who);
        break;
    case RA_ABORT:
    case RA_DELETE:
        if (a->action == RA_DELETE && (st == RO_UNAUTHORIZED || st == RO_SCHEDULED)) {
            err = LATER(s,
                        "UPDATE rollouts SET status=3, cancelled_at=?2, finished_at=?2,"
                        " updated_at=?2 WHERE id=?1",
                        DB_TEXT(a->id), DB_INT(a->now)) != DB_OK ||
                  LATER(s, "UPDATE rollout_sites SET state=3 WHERE rollout_id=?1",
                        DB_TEXT(a->id)) != DB_OK ||
                  ro_event(s, a->id, a->now, "Cancelled by %s", who);
            break;
        }
        if (st != RO_LAUNCHED && st != RO_PAUSED)
            return STORE_CONFLICT;
        char why[200];
        snprintf(why, sizeof why, "aborted by %s", who);
        err = finish(s, a->id, RO_ABORTED, a->now, why);
        break;
    }
    if (err)
        return STORE_UNAVAILABLE;
    rc = load_rollout(s, eng_wdb(s), a->team, a->id, a->out);
    return rc == STORE_NOT_FOUND ? STORE_UNAVAILABLE : rc;
}

static void act_post(void *p, enum store_result r)
{
    struct act_arg *a = p;
    if (r != STORE_OK)
        rollout_clear(a->out);
}

enum store_result store_rollout_act(struct store *s, const char *team, const char *id,
                                    enum rollout_action action, const char *by, int64_t now,
                                    struct rollout *out)
{
    memset(out, 0, sizeof *out);
    struct act_arg a = {team, id, by, action, now, out};
    return eng_run_op(s, op_rollout_act, &a, sizeof a, act_post, NULL);
}

/* ---- the scheduler's steps ---------------------------------------------- */

static void fill_due(const struct db_res *r, size_t i, void *out)
{
    struct rollout_due *d = out;
    eng_copy_cell(r, i, 0, d->id, sizeof d->id);
    struct rollout tmp = {0};
    parse_window(db_text(r, i, 1), &tmp);
    d->has_window = tmp.has_window;
    d->window = tmp.window;
}

enum store_result store_rollouts_due(struct store *s, int64_t now, struct rollout_due **items,
                                     size_t *n)
{
    struct db_arg args[] = {DB_INT(now)};
    void *v = NULL;
    enum store_result rc = eng_read_all(
        s,
        "SELECT id, win FROM rollouts WHERE status IN (1, 2) AND (status=2 OR launch_at <= ?1)"
        " ORDER BY launch_at, id",
        args, 1, sizeof(struct rollout_due), fill_due, &v, n);
    *items = v;
    return rc;
}

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
                ro_event(s, a->id, a->now, "Site %s skipped: no longer a site of the team", site))
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
            ro_event(s, a->id, now, "Launched%s; %ld offline or deleted sites skipped",
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
            rc = finish(s, a->id, RO_FAILED, now,
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
        rc = finish(s, a->id, RO_ABORTED, now, why) ? STORE_UNAVAILABLE : STORE_OK;
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
        rc = finish(s, a->id, failures ? RO_FAILED : RO_COMPLETED, now, why) ? STORE_UNAVAILABLE
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
            ro_event(s, a->id, now, "Wave %lld of %lld started", (long long)wave + 1,
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
