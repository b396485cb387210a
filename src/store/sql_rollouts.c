/* Rollouts (the seed's scheduled scripts): their rows and target sites,
 * created, updated, read, and what operators do to them (approve, pause,
 * resume, abort, cancel). Tables (migration 7): rollouts, rollout_sites (one
 * per target, in the order given: its wave, its state, its job),
 * rollout_events. The scheduler's steps and the end of a rollout are in
 * sql_rollout_steps.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "lib/log.h"
#include "store/engine.h"

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

int sql_rollout_event(struct store *s, const char *id, int64_t ts, const char *fmt, ...)
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
        sql_rollout_event(s, id, now,
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

/* the rollouts the scheduler steps now (approved and due, or launched) */
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
              sql_rollout_event(s, a->id, a->now, "Approved by %s", who);
        break;
    case RA_PAUSE:
    case RA_RESUME:
        if (st != (a->action == RA_PAUSE ? RO_LAUNCHED : RO_PAUSED))
            return STORE_CONFLICT;
        err = LATER(s, "UPDATE rollouts SET status=?2, updated_at=?3 WHERE id=?1", DB_TEXT(a->id),
                    DB_INT(a->action == RA_PAUSE ? RO_PAUSED : RO_LAUNCHED),
                    DB_INT(a->now)) != DB_OK ||
              sql_rollout_event(s, a->id, a->now, "%s by %s",
                                a->action == RA_PAUSE ? "Paused" : "Resumed", who);
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
                  sql_rollout_event(s, a->id, a->now, "Cancelled by %s", who);
            break;
        }
        if (st != RO_LAUNCHED && st != RO_PAUSED)
            return STORE_CONFLICT;
        char why[200];
        snprintf(why, sizeof why, "aborted by %s", who);
        err = sql_rollout_finish(s, a->id, RO_ABORTED, a->now, why);
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
