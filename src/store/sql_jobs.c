/* The store's operations on jobs: create (idempotent), read, list, cancel,
 * dispatch to a poll, device reports, run timeouts. The states and report
 * kinds, with their SQL predicates, are the tables of core/model.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "lib/log.h"
#include "store/engine.h"

void job_list_clear(struct job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void sql_row_to_job_at(const struct db_res *r, size_t i, size_t c, struct job *j)
{
    memset(j, 0, sizeof *j);
    eng_copy_cell(r, i, c + 0, j->id, sizeof j->id);
    eng_copy_cell(r, i, c + 1, j->token, sizeof j->token);
    eng_copy_cell(r, i, c + 2, j->site_id, sizeof j->site_id);
    eng_copy_cell(r, i, c + 3, j->idempotency_key, sizeof j->idempotency_key);
    j->description = db_dup(r, i, c + 4);
    j->script = db_dup(r, i, c + 5);
    j->notify_url = db_dup(r, i, c + 6);
    j->associated_backup = db_dup(r, i, c + 7);
    j->express_execute = db_int(r, i, c + 8, 0);
    j->needs_acknowledgement = db_int(r, i, c + 9, 0);
    j->should_backup = db_int(r, i, c + 10, 0);
    j->created_at = db_int(r, i, c + 11, 0);
    j->delivered_at = db_int(r, i, c + 12, 0);
    j->started_at = db_int(r, i, c + 13, 0);
    j->completed_at = db_int(r, i, c + 14, 0);
    j->failed_at = db_int(r, i, c + 15, 0);
    eng_copy_cell(r, i, c + 16, j->rollout_id, sizeof j->rollout_id);
    j->dry_run = db_int(r, i, c + 17, 0);
    j->expects_reboot = db_int(r, i, c + 18, 0);
    j->capture_output = db_int(r, i, c + 19, 0);
}

void sql_row_to_job(const struct db_res *r, size_t i, struct job *j)
{
    sql_row_to_job_at(r, i, 0, j);
}

static void fill_job(const struct db_res *r, size_t i, void *out)
{
    sql_row_to_job(r, i, out);
}

struct job_create_arg {
    struct store *s;
    const char *team;
    const struct job_request *req;
    struct job *out;
};

/* STORE_CREATED when the key is new; else the replay's answer. */
static enum store_result job_replay(struct store *s, const struct job_request *req, struct job *out)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT " JOB_COLS ", cancelled_at FROM jobs WHERE site_id=?1 AND idempotency_key=?2",
            &r, DB_TEXT(req->site_id), DB_TEXT(req->idempotency_key)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_CREATED;
    if (r->rows) {
        sql_row_to_job(r, 0, out);
        if (!db_null(r, 0, JOB_NCOLS))
            res = STORE_KEY_CANCELLED;
        else if (strcmp(out->script, req->script) || out->express_execute != req->express_execute ||
                 out->needs_acknowledgement != req->needs_acknowledgement ||
                 out->should_backup != req->should_backup || out->dry_run != req->dry_run ||
                 out->expects_reboot != req->expects_reboot ||
                 out->capture_output != req->capture_output)
            res = STORE_CONFLICT;
        else
            res = STORE_OK;
        if (res != STORE_OK)
            job_clear(out);
    }
    db_res_free(r);
    return res;
}

enum store_result sql_job_insert(struct store *s, const char *team, const struct job_request *req,
                                 const char *rollout_id, struct job *out)
{
    job_clear(out);
    unsigned char rnd_tok[32];
    char id[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1];
    if (eng_new_id(s, id))
        return STORE_UNAVAILABLE;
    int64_t created = (int64_t)(uuid7_millis(id) / 1000);
    /* One statement in the common case: the insert checks that the team owns
     * the site. The token is unique across all jobs: draw again on a
     * collision. The key is unique per site: a create with a key seen before
     * (or a concurrent one on another node that won the race) becomes its
     * replay. ON CONFLICT DO NOTHING leaves the transaction usable on both
     * drivers, so no savepoint is needed. When nothing was inserted, the
     * reads say why. */
    for (int attempt = 0; attempt < 4; attempt++) {
        if (eng_random(rnd_tok, sizeof rnd_tok) || token_base62(rnd_tok, sizeof rnd_tok, token))
            continue;
        if (RUN(s, eng_wdb(s),
                "INSERT INTO jobs (id, site_id, token, idempotency_key, description, script,"
                " notify_url, express_execute, needs_ack, should_backup, created_at, rollout_id,"
                " dry_run, expects_reboot, capture_output)"
                " SELECT ?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?13,?14,?15,?16 WHERE EXISTS (SELECT 1 "
                "FROM"
                " sites WHERE id=?2 AND team=?12 AND deleted_at IS NULL) ON CONFLICT DO NOTHING",
                NULL, DB_TEXT(id), DB_TEXT(req->site_id), DB_TEXT(token),
                DB_TEXT(req->idempotency_key), DB_TEXT(req->description), DB_TEXT(req->script),
                DB_TEXT(req->notify_url), DB_INT(req->express_execute),
                DB_INT(req->needs_acknowledgement), DB_INT(req->should_backup), DB_INT(created),
                DB_TEXT(team), DB_TEXT(rollout_id), DB_INT(req->dry_run),
                DB_INT(req->expects_reboot), DB_INT(req->capture_output)) != DB_OK)
            return STORE_UNAVAILABLE;
        if (s->drv->changes(eng_wdb(s)) == 0) {
            int owned = eng_site_owned(s, eng_wdb(s), team, req->site_id, false);
            if (owned <= 0)
                return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
            enum store_result res = job_replay(s, req, out); /* the key, or the token */
            if (res != STORE_CREATED)
                return res;
            continue;
        }
        struct job *j = out;
        snprintf(j->id, sizeof j->id, "%s", id);
        snprintf(j->token, sizeof j->token, "%s", token);
        snprintf(j->site_id, sizeof j->site_id, "%s", req->site_id);
        snprintf(j->idempotency_key, sizeof j->idempotency_key, "%s", req->idempotency_key);
        snprintf(j->rollout_id, sizeof j->rollout_id, "%s", rollout_id ? rollout_id : "");
        j->description = req->description ? strdup(req->description) : NULL;
        j->script = strdup(req->script);
        j->notify_url = req->notify_url ? strdup(req->notify_url) : NULL;
        j->express_execute = req->express_execute;
        j->needs_acknowledgement = req->needs_acknowledgement;
        j->should_backup = req->should_backup;
        j->dry_run = req->dry_run;
        j->expects_reboot = req->expects_reboot;
        j->capture_output = req->capture_output;
        j->created_at = created;
        if ((req->description && !j->description) || !j->script ||
            (req->notify_url && !j->notify_url) ||
            eng_job_event(s, req->site_id, id, created, "Job %s created: %s", token,
                          req->description) ||
            (req->express_execute && eng_job_event(s, req->site_id, id, created,
                                                   "Job %s express execution requested", token)) ||
            eng_notify(s, req->site_id))
            return STORE_UNAVAILABLE;
        return STORE_CREATED;
    }
    return STORE_UNAVAILABLE;
}

static enum store_result op_job_create(struct store *s, void *p)
{
    struct job_create_arg *a = p;
    return sql_job_insert(s, a->team, a->req, NULL, a->out);
}

static void job_create_post(void *p, enum store_result r)
{
    struct job_create_arg *a = p;
    if (r == STORE_CREATED) /* committed; the answer is not out yet */
        pending_add(a->s->pending, a->req->site_id);
    if (r != STORE_CREATED && r != STORE_OK)
        job_clear(a->out);
}

static enum store_result job_create(struct store *s, const char *team,
                                    const struct job_request *req, struct job *out,
                                    struct store_async *as)
{
    struct job_create_arg a = {s, team, req, out};
    memset(out, 0, sizeof *out);
    return eng_run_op(s, op_job_create, &a, sizeof a, job_create_post, as);
}

enum store_result store_job_create(struct store *s, const char *team, const struct job_request *req,
                                   struct job *out)
{
    return job_create(s, team, req, out, NULL);
}

void store_job_create_async(struct store *s, const char *team, const struct job_request *req,
                            struct job *out, struct store_async *as)
{
    job_create(s, team, req, out, as);
}

enum store_result store_job_get(struct store *s, const char *team, const char *site_id,
                                const char *job_id, struct job *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(job_id), DB_TEXT(site_id), DB_TEXT(team)};
    return eng_read_one(
        s,
        "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND site_id=?2 AND cancelled_at IS"
        " NULL AND EXISTS (SELECT 1 FROM sites WHERE sites.id=?2 AND sites.team=?3)",
        args, 3, fill_job, out);
}

enum store_result store_job_list(struct store *s, const char *team, const struct job_query *qr,
                                 struct job_list *out)
{
    memset(out, 0, sizeof *out);
    char sql[768];
    bool filtered = qr->status >= 0 && qr->status < JOB_STATUS_COUNT_;
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND cancelled_at IS NULL"
             " AND id < ?2%s%s AND (CAST(?4 AS TEXT) IS NULL OR rollout_id=?4)"
             " ORDER BY id DESC LIMIT ?3",
             filtered ? " AND " : "", filtered ? job_states[qr->status].where : "");
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    /* One read transaction: the ownership check and the rows see one snapshot. */
    if (eng_exec(s, c, "BEGIN"))
        goto out;
    int owned = eng_site_owned(s, c, team, qr->site_id, true);
    if (owned <= 0) {
        res = owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
        goto rollback;
    }
    /* "g" sorts after every id (lower-case hex): no bound. */
    if (RUN(s, c, sql, &r, DB_TEXT(qr->site_id), DB_TEXT(qr->before_id ? qr->before_id : "g"),
            DB_INT(qr->limit ? (int64_t)qr->limit + 1 : INT64_MAX),
            DB_TEXT(qr->rollout_id)) != DB_OK)
        goto rollback;
    size_t n = r->rows;
    if (qr->limit && n > qr->limit) {
        out->more = true;
        n = qr->limit;
    }
    out->items = calloc(n ? n : 1, sizeof *out->items);
    if (out->items) {
        for (; out->n < n; out->n++)
            sql_row_to_job(r, out->n, &out->items[out->n]);
        res = STORE_OK;
    }
rollback:
    db_res_free(r);
    eng_exec(s, c, "ROLLBACK");
out:
    eng_reader_put(s, c);
    if (res != STORE_OK)
        job_list_clear(out);
    return res;
}

struct job_cancel_arg {
    const char *team, *site_id, *job_id;
    char *token;
};

static enum store_result op_job_cancel(struct store *s, void *p)
{
    struct job_cancel_arg *a = p;
    int owned = eng_site_owned(s, eng_wdb(s), a->team, a->site_id, true);
    if (owned <= 0)
        return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND site_id=?2 AND cancelled_at IS NULL", &r,
            DB_TEXT(a->job_id), DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    struct job j = {0};
    if (r->rows)
        sql_row_to_job(r, 0, &j);
    db_res_free(r);
    enum store_result res = !j.id[0]                           ? STORE_NOT_FOUND
                            : job_status_of(&j) == JOB_PENDING ? STORE_OK
                                                               : STORE_STARTED;
    memcpy(a->token, j.token, JP_TOKEN_LEN + 1);
    int64_t now = eng_now();
    if (res == STORE_OK &&
        (RUN(s, eng_wdb(s), "UPDATE jobs SET cancelled_at=?2 WHERE id=?1", NULL, DB_TEXT(a->job_id),
             DB_INT(now)) != DB_OK ||
         eng_job_event(s, a->site_id, a->job_id, now, "Job %s cancelled", a->token) ||
         out_job(s, EV_JOB_CANCELLED, &j)))
        res = STORE_UNAVAILABLE;
    job_clear(&j);
    return res;
}

enum store_result store_job_cancel(struct store *s, const char *team, const char *site_id,
                                   const char *job_id, char token[JP_TOKEN_LEN + 1])
{
    struct job_cancel_arg a = {team, site_id, job_id, token};
    return eng_submit(s, op_job_cancel, &a);
}

static void fill_site_id(const struct db_res *r, size_t i, void *out)
{
    eng_copy_cell(r, i, 0, out, JP_UUID_LEN + 1);
}

enum store_result store_job_site(struct store *s, const char *job_id, char site_id[JP_UUID_LEN + 1])
{
    struct db_arg args[] = {DB_TEXT(job_id)};
    return eng_read_one(s, "SELECT site_id FROM jobs WHERE id=?1 AND cancelled_at IS NULL", args, 1,
                        fill_site_id, site_id);
}

/* Fails delivered jobs past the run timeout (of one site, or all when
 * site_id is NULL); writes their events. Rows another node is changing right
 * now are skipped (it times them out, or the next sweep does). */
static int fail_timed_out(struct store *s, const char *site_id, int64_t now, int64_t run_timeout,
                          long *count)
{
    struct db_res *r = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET failed_at=?2 WHERE id IN (SELECT id FROM jobs WHERE " IN_FLIGHT
             " AND delivered_at <= ?2 - ?3 AND (?1 IS NULL OR site_id=?1)%s)"
             " RETURNING " JOB_COLS,
             PG(s) ? " FOR UPDATE SKIP LOCKED" : "");
    if (RUN(s, eng_wdb(s), sql, &r, DB_TEXT(site_id), DB_INT(now), DB_INT(run_timeout)) != DB_OK)
        return -1;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++) {
        struct job j;
        sql_row_to_job(r, i, &j);
        err = eng_job_event(s, j.site_id, j.id, now,
                            "Job %s failed: no report within the run timeout of %llds", j.token,
                            (long long)run_timeout) ||
              out_job(s, EV_JOB_FAILED, &j);
        log_ev(LOG_WARN, "job.timed_out", NULL, j.site_id, j.token,
               "job %s failed: no report within the run timeout of %llds", j.token,
               (long long)run_timeout);
        job_clear(&j);
    }
    *count = (long)r->rows;
    db_res_free(r);
    return err ? -1 : 0;
}

/* Dispatch: fails an in-flight job past its timeout, then claims the oldest
 * pending one. Two polls never get one job: on SQLite the one writer runs
 * one operation at a time; on PostgreSQL (several writers, several nodes) a
 * transaction-scoped advisory lock per site is taken first, and a writer
 * that finds it taken hands out nothing this time. */
struct dispatch_arg {
    struct store *s;
    const char *site_id;
    int64_t now, run_timeout;
    struct job *out;
    long *remaining;
    uint64_t stamp; /* of the pending set, when the operation began */
    bool none_left; /* it found no pending job, or took the last one */
};

/* The delivery's log lines and events. */
static enum store_result delivered(struct store *s, const struct dispatch_arg *a)
{
    const struct job *j = a->out;
    return eng_job_event(s, j->site_id, j->id, a->now, "Job %s delivered (%ld more pending)",
                         j->token, *a->remaining) ||
                   out_job(s, EV_JOB_DELIVERED, j) ||
                   (!j->needs_acknowledgement &&
                    (eng_job_event(s, j->site_id, j->id, a->now,
                                   "Job %s completed at delivery (no acknowledgement needed)",
                                   j->token) ||
                     out_job(s, EV_JOB_COMPLETED, j)))
               ? STORE_UNAVAILABLE
               : STORE_OK;
}

/* PostgreSQL, in one round trip. The site's dispatch (not its row: heartbeats
 * and other writers update the row all the time) is locked by a
 * transaction-scoped advisory lock, taken by a statement that is not waited
 * for and that keeps its outcome in a setting of the transaction. The
 * statement after it reads that setting, and its snapshot is taken after
 * the lock was granted, so it sees every dispatch committed before: it
 * claims the oldest pending job unless one is in flight, and reports what
 * is in flight and how many were pending. */
static enum store_result dispatch_pg(struct store *s, struct dispatch_arg *a)
{
    if (LATER(s,
              "SELECT set_config('jobplane.locked',"
              " pg_try_advisory_xact_lock(hashtextextended(?1, 7277002))::text, true)",
              DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    for (int round = 0; round < 2; round++) {
        struct db_res *r = NULL;
        if (RUN(s, eng_wdb(s),
                "WITH f AS (SELECT min(delivered_at) AS mn, max(delivered_at) AS mx FROM jobs"
                " WHERE site_id=?1 AND " IN_FLIGHT "),"
                " k AS (SELECT coalesce(current_setting('jobplane.locked', true) = 'true', false)"
                " AS locked),"
                " u AS (UPDATE jobs SET delivered_at=?2,"
                " started_at=CASE WHEN needs_ack=0 THEN ?2 END,"
                " completed_at=CASE WHEN needs_ack=0 THEN ?2 END"
                " WHERE id=(SELECT id FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
                " AND cancelled_at IS NULL ORDER BY id LIMIT 1)"
                " AND delivered_at IS NULL AND cancelled_at IS NULL"
                " AND (SELECT locked FROM k) AND (SELECT mn FROM f) IS NULL"
                " RETURNING " JOB_COLS ")"
                " SELECT u.*, (SELECT locked FROM k), f.mn, f.mx, (SELECT count(*) FROM jobs"
                " WHERE site_id=?1 AND delivered_at IS NULL AND cancelled_at IS NULL)"
                " FROM f LEFT JOIN u ON true",
                &r, DB_TEXT(a->site_id), DB_INT(a->now)) != DB_OK)
            return STORE_UNAVAILABLE;
        bool got = r->rows && db_text(r, 0, 0),
             locked = r->rows && db_text(r, 0, JOB_NCOLS) && !strcmp(db_text(r, 0, JOB_NCOLS), "t");
        int64_t mn = r->rows ? db_int(r, 0, JOB_NCOLS + 1, 0) : 0,
                mx = r->rows ? db_int(r, 0, JOB_NCOLS + 2, 0) : 0;
        long pending = r->rows ? (long)db_int(r, 0, JOB_NCOLS + 3, 0) : 0;
        if (got)
            sql_row_to_job(r, 0, a->out);
        db_res_free(r);
        if (got) {
            *a->remaining = pending - 1; /* the count saw the job still pending */
            a->none_left = *a->remaining == 0;
            return delivered(s, a);
        }
        if (!locked)
            return STORE_NOT_FOUND; /* another writer or node is dispatching for this site */
        if (!mn) {
            a->none_left = pending == 0;
            return STORE_NOT_FOUND; /* nothing pending (or a cancel just won) */
        }
        long timed_out = 0;
        if (mx > a->now - a->run_timeout || round)
            return STORE_NOT_FOUND; /* a job is in flight */
        if (fail_timed_out(s, a->site_id, a->now, a->run_timeout, &timed_out))
            return STORE_UNAVAILABLE;
        /* the site is free again: claim once more */
    }
    return STORE_NOT_FOUND;
}

static enum store_result op_dispatch(struct store *s, void *p)
{
    struct dispatch_arg *a = p;
    struct db_res *r = NULL;
    job_clear(a->out);
    a->none_left = false;
    a->stamp = pending_stamp(s->pending);
    if (PG(s))
        return dispatch_pg(s, a);
    /* One job at a time per site: a job in flight past its run timeout fails
     * here rather than at the next sweep, so the site is free at once. */
    if (RUN(s, eng_wdb(s), "SELECT delivered_at FROM jobs WHERE site_id=?1 AND " IN_FLIGHT, &r,
            DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    bool busy = false, expired = false;
    for (size_t i = 0; i < r->rows; i++)
        if (db_int(r, i, 0, 0) <= a->now - a->run_timeout)
            expired = true;
        else
            busy = true;
    db_res_free(r);
    r = NULL;
    long timed_out = 0;
    if (expired && fail_timed_out(s, a->site_id, a->now, a->run_timeout, &timed_out))
        return STORE_UNAVAILABLE;
    if (busy)
        return STORE_NOT_FOUND;
    if (RUN(s, eng_wdb(s),
            "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL ORDER BY id LIMIT 1",
            &r, DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    bool got = r->rows > 0;
    if (got)
        sql_row_to_job(r, 0, a->out);
    db_res_free(r);
    r = NULL;
    if (!got) {
        a->none_left = true;
        return STORE_NOT_FOUND;
    }
    struct job *j = a->out;
    j->delivered_at = a->now;
    if (!j->needs_acknowledgement)
        j->started_at = j->completed_at = a->now;
    /* Guarded: a cancel committed on another node since the SELECT wins. */
    if (RUN(s, eng_wdb(s),
            "UPDATE jobs SET delivered_at=?2, started_at=?3, completed_at=?3 WHERE id=?1"
            " AND delivered_at IS NULL AND cancelled_at IS NULL",
            NULL, DB_TEXT(j->id), DB_INT(a->now),
            DB_NUM(j->needs_acknowledgement ? -1 : a->now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(eng_wdb(s)) == 0) {
        job_clear(j);
        return STORE_NOT_FOUND;
    }
    if (RUN(s, eng_wdb(s),
            "SELECT count(*) FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL",
            &r, DB_TEXT(a->site_id)) != DB_OK) {
        db_res_free(r);
        return STORE_UNAVAILABLE;
    }
    *a->remaining = (long)db_int(r, 0, 0, 0);
    a->none_left = *a->remaining == 0;
    db_res_free(r);
    return delivered(s, a);
}

/* The common case, nothing to hand out, is answered from the pending set
 * (pending.c) or by a reader: no write. */
int store_dispatch_wanted(struct store *s, const char *site_id, int64_t now, int64_t run_timeout)
{
    uint64_t stamp;
    if (pending_has(s->pending, site_id, &stamp) == 0)
        return 0;
    struct db *c = eng_reader(s);
    if (!c)
        return -1;
    struct db_res *r = NULL;
    enum db_status rc =
        RUN(s, c,
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL), NOT EXISTS (SELECT 1 FROM jobs WHERE site_id=?1 "
            "AND " IN_FLIGHT " AND delivered_at > ?2 - ?3)",
            &r, DB_TEXT(site_id), DB_INT(now), DB_INT(run_timeout));
    bool pending = rc == DB_OK && r->rows && db_int(r, 0, 0, 0);
    bool work = pending && db_int(r, 0, 1, 0);
    db_res_free(r);
    eng_reader_put(s, c);
    if (rc == DB_OK && !pending)
        pending_drop(s->pending, site_id, stamp);
    return rc != DB_OK ? -1 : work;
}

static void dispatch_post(void *p, enum store_result r)
{
    struct dispatch_arg *a = p;
    if ((r == STORE_OK || r == STORE_NOT_FOUND) && a->none_left)
        pending_drop(a->s->pending, a->site_id, a->stamp);
    if (r != STORE_OK)
        job_clear(a->out);
}

void store_dispatch_async(struct store *s, const char *site_id, int64_t now, int64_t run_timeout,
                          struct job *out, long *remaining, struct store_async *as)
{
    struct dispatch_arg a = {s, site_id, now, run_timeout, out, remaining, 0, false};
    memset(out, 0, sizeof *out);
    *remaining = 0;
    eng_run_op(s, op_dispatch, &a, sizeof a, dispatch_post, as);
}

struct report_arg {
    struct job_report_req req;
    struct job *out;
    const char **why;
    char message[512]; /* a copy of req.message, sanitised ("" when none) */
    char *chunk;       /* a sanitised copy of req.chunk (owned; freed by the post) */
    bool partial;
};

enum store_result sql_load_job(struct store *s, const char *job_id, struct job *out)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s), "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND cancelled_at IS NULL", &r,
            DB_TEXT(job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (r->rows)
        sql_row_to_job(r, 0, out);
    db_res_free(r);
    return res;
}

/* The event of a report that changed the job. */
static int report_emit(struct store *s, const struct report_arg *a, const struct job *j)
{
    static const enum whk_event of[JOB_STATUS_COUNT_] = {[JOB_RUNNING] = EV_JOB_STARTED,
                                                         [JOB_COMPLETED] = EV_JOB_COMPLETED,
                                                         [JOB_FAILED] = EV_JOB_FAILED};
    const struct job_report_info *rep = &job_reports[a->req.report];
    if (a->message[0] && eng_job_event(s, j->site_id, j->id, a->req.now,
                                       "Job %s: the router says: %s", j->token, a->message))
        return -1;
    return eng_job_event(s, j->site_id, j->id, a->req.now, "Job %s %s", j->token, rep->event) ||
           out_job(s, of[rep->to], j);
}

/* PostgreSQL: the common report (the first busy, the final one of the
 * current delivery, within the run timeout) in one round trip, the row
 * changed and read back by one guarded statement. 1 when it changed the row;
 * 0 when the guard held it back (the caller then reads why); -1 on failure. */
static int report_pg(struct store *s, const struct report_arg *a)
{
    const struct job_report_info *rep = &job_reports[a->req.report];
    char sql[640];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET %s WHERE id=?1 AND cancelled_at IS NULL AND completed_at IS NULL"
             " AND failed_at IS NULL AND (?3 = 0 OR delivered_at = ?3)"
             " AND (?4 = 0 OR delivered_at >= ?2 - ?4)%s RETURNING " JOB_COLS,
             rep->set, rep->to == JOB_RUNNING ? " AND started_at IS NULL" : "");
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s), sql, &r, DB_TEXT(a->req.job_id), DB_INT(a->req.now),
            DB_INT(a->req.delivery), DB_INT(a->req.run_timeout)) != DB_OK)
        return -1;
    bool changed = r->rows > 0;
    if (changed)
        sql_row_to_job(r, 0, a->out);
    db_res_free(r);
    if (changed && report_emit(s, a, a->out))
        return -1;
    return changed;
}

/* Refuses a report whose delivery is over: logged with the job, never applied. */
static enum store_result stale(struct store *s, const struct report_arg *a, const struct job *j,
                               const char *why)
{
    *a->why = why;
    return eng_job_event(s, j->site_id, j->id, a->req.now, "Job %s: report '%s' refused: %s",
                         j->token, job_reports[a->req.report].name, why)
               ? STORE_UNAVAILABLE
               : STORE_STALE;
}

static const char WHY_OTHER_DELIVERY[] = "it is for an earlier delivery of the job";
static const char WHY_TIMED_OUT[] = "the run timeout passed before it, and failed the job";

/* Whether the run timeout failed the job (its deadline came before any
 * final report: a report after it is refused, so a failure at or past the
 * deadline is the timeout's). */
static bool timed_out(const struct job *j, int64_t run_timeout)
{
    return run_timeout && j->failed_at && j->delivered_at &&
           j->failed_at >= j->delivered_at + run_timeout;
}

static enum store_result op_job_report(struct store *s, void *p)
{
    struct report_arg *a = p;
    const struct job_report_info *rep = &job_reports[a->req.report];
    struct job *j = a->out;
    job_clear(j);
    int fast = PG(s) && !a->req.total ? report_pg(s, a) : 0;
    if (fast)
        return fast > 0 ? STORE_OK : STORE_UNAVAILABLE;
    enum store_result res = sql_load_job(s, a->req.job_id, j);
    if (res != STORE_OK)
        return res;
    if (a->req.delivery && j->delivered_at != a->req.delivery)
        return stale(s, a, j, WHY_OTHER_DELIVERY);
    enum job_status was = job_status_of(j);
    if (timed_out(j, a->req.run_timeout))
        return stale(s, a, j, WHY_TIMED_OUT);
    if (was == JOB_COMPLETED || was == JOB_FAILED)
        return eng_job_event(s, j->site_id, j->id, a->req.now,
                             "Job %s: report '%s' ignored, the job already %s", j->token, rep->name,
                             job_states[was].name)
                   ? STORE_UNAVAILABLE
                   : STORE_CONFLICT;
    if (a->req.run_timeout && j->delivered_at &&
        a->req.now > j->delivered_at + a->req.run_timeout) {
        /* past the deadline, not yet swept: the timeout fails it first */
        long n = 0;
        if (fail_timed_out(s, j->site_id, a->req.now, a->req.run_timeout, &n))
            return STORE_UNAVAILABLE;
        return stale(s, a, j, WHY_TIMED_OUT);
    }
    if (a->req.total) {
        /* a chunk of the output: it continues what arrived, or is refused */
        if (RUN(s, eng_wdb(s),
                "UPDATE jobs SET output=coalesce(output, '') || ?2,"
                " output_size=coalesce(output_size, 0) + ?3 WHERE id=?1"
                " AND coalesce(output_size, 0)=?4 AND completed_at IS NULL AND failed_at IS NULL",
                NULL, DB_TEXT(a->req.job_id), DB_TEXT(a->chunk), DB_INT((int64_t)a->req.chunk_len),
                DB_INT(a->req.offset)) != DB_OK)
            return STORE_UNAVAILABLE;
        if (s->drv->changes(eng_wdb(s)) == 0) {
            *a->why = "the chunk does not continue the output that arrived";
            return STORE_STALE;
        }
        if (a->req.offset + (int64_t)a->req.chunk_len < a->req.total) {
            a->partial = true;
            return STORE_OK;
        }
        if (eng_job_event(s, j->site_id, j->id, a->req.now,
                          "Job %s: the router uploaded what it printed (%lld bytes): GET"
                          " /site/%s/job/%s/output",
                          j->token, (long long)a->req.total, j->site_id, j->id))
            return STORE_UNAVAILABLE;
    }
    if (rep->to == JOB_RUNNING && was == JOB_RUNNING)
        return STORE_OK; /* a repeated busy changes nothing */
    /* The row is changed only if it is still unfinished: a report racing on
     * another node cannot overwrite the first final one. */
    char guarded[256];
    snprintf(guarded, sizeof guarded,
             "UPDATE jobs SET %s WHERE id=?1 AND completed_at IS NULL AND failed_at IS NULL",
             rep->set);
    if (RUN(s, eng_wdb(s), guarded, NULL, DB_TEXT(a->req.job_id), DB_INT(a->req.now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(eng_wdb(s)) == 0) {
        job_clear(j);
        res = sql_load_job(s, a->req.job_id, j);
        return res == STORE_OK ? STORE_CONFLICT : res;
    }
    job_apply_report(j, a->req.report,
                     a->req.now); /* what the UPDATE wrote, without reading it again */
    return report_emit(s, a, j) ? STORE_UNAVAILABLE : STORE_OK;
}

static void job_report_post(void *p, enum store_result r)
{
    struct report_arg *a = p;
    if (r != STORE_OK && r != STORE_CONFLICT && r != STORE_STALE)
        job_clear(a->out);
    if (a->req.partial)
        *a->req.partial = a->partial;
    free(a->chunk);
}

/* Keeps a router's message printable: control characters and invalid UTF-8
 * become '?', and it is cut (on a character) to fit. */
static void clean_message(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c && n + 5 < cap;) {
        size_t len = *c < 0x80 ? 1 : *c >= 0xf0 ? 4 : *c >= 0xe0 ? 3 : 2;
        if (*c < 0x20 || *c == 0x7f || utf8_length((const char *)c, len) != 1) {
            out[n++] = *c == '\n' || *c == '\t' ? ' ' : '?';
            c++;
            continue;
        }
        memcpy(out + n, c, len);
        n += len;
        c += len;
    }
    out[n] = '\0';
}

void store_job_report_async(struct store *s, const struct job_report_req *req, struct job *out,
                            const char **why, struct store_async *as)
{
    struct report_arg a = {.req = *req, .out = out, .why = why};
    a.req.message = NULL;
    if (req->message)
        clean_message(req->message, a.message, sizeof a.message);
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (req->partial)
        *req->partial = false;
    if (req->total) {
        /* text the database keeps: NUL, control characters (but newlines and
         * tabs) and bytes that are not UTF-8 become '?', so sizes stay */
        if (!(a.chunk = malloc(req->chunk_len + 1))) {
            as->res = STORE_UNAVAILABLE;
            as->done(as->ctx);
            return;
        }
        memcpy(a.chunk, req->chunk, req->chunk_len);
        a.chunk[req->chunk_len] = '\0';
        text_sanitize(a.chunk, req->chunk_len);
    }
    eng_run_op(s, op_job_report, &a, sizeof a, job_report_post, as);
}

struct output_read {
    char **text;
    int64_t *size;
};

static void fill_output(const struct db_res *r, size_t i, void *p)
{
    struct output_read *o = p;
    *o->text = db_null(r, i, 0) ? NULL : db_dup(r, i, 0);
    *o->size = db_int(r, i, 1, 0);
}

enum store_result store_job_output(struct store *s, const char *team, const char *site_id,
                                   const char *job_id, char **text, int64_t *size)
{
    *text = NULL;
    *size = 0;
    struct output_read o = {text, size};
    struct db_arg args[] = {DB_TEXT(job_id), DB_TEXT(site_id), DB_TEXT(team)};
    return eng_read_one(s,
                        "SELECT output, output_size FROM jobs WHERE id=?1 AND site_id=?2 AND"
                        " cancelled_at IS NULL AND EXISTS (SELECT 1 FROM sites WHERE"
                        " sites.id=?2 AND sites.team=?3)",
                        args, 3, fill_output, &o);
}

struct rebooted_arg {
    const char *site_id;
    char token[JP_TOKEN_LEN + 1];
    int64_t uptime, now, run_timeout;
    struct job *out;
    const char **why;
};

static enum store_result op_job_rebooted(struct store *s, void *p)
{
    struct rebooted_arg *a = p;
    struct job *j = a->out;
    job_clear(j);
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND token=?2 AND cancelled_at IS NULL",
            &r, DB_TEXT(a->site_id), DB_TEXT(a->token)) != DB_OK)
        return STORE_UNAVAILABLE;
    bool found = r->rows > 0;
    if (found)
        sql_row_to_job(r, 0, j);
    db_res_free(r);
    if (!found || !j->expects_reboot || !j->delivered_at)
        return STORE_NOT_FOUND;
    enum job_status was = job_status_of(j);
    if (was == JOB_COMPLETED || was == JOB_FAILED) {
        *a->why = "the job already finished";
        return STORE_CONFLICT; /* the router says so until its next poll: not logged again */
    }
    char id[JP_UUID_LEN + 1]; /* op_job_report clears j before it reads the job again */
    memcpy(id, j->id, sizeof id);
    struct report_arg ra = {.req = {.job_id = id,
                                    .report = REPORT_DONE,
                                    .delivery = j->delivered_at,
                                    .now = a->now,
                                    .run_timeout = a->run_timeout},
                            .out = j,
                            .why = a->why};
    /* whole seconds on both sides: an uptime equal to the time since the
     * delivery counts as a restart after it */
    if (a->uptime < 0 || a->uptime > a->now - j->delivered_at) {
        *a->why = "the router has not restarted since the job was delivered";
        return eng_job_event(s, j->site_id, j->id, a->now,
                             "Job %s: the router reports it, but has not restarted since its"
                             " delivery (uptime %llds)",
                             j->token, (long long)a->uptime)
                   ? STORE_UNAVAILABLE
                   : STORE_CONFLICT;
    }
    snprintf(ra.message, sizeof ra.message, "back after a restart (uptime %llds)",
             (long long)a->uptime);
    enum store_result res = op_job_report(s, &ra);
    return res == STORE_STALE ? STORE_CONFLICT : res;
}

static void rebooted_post(void *p, enum store_result r)
{
    if (r != STORE_OK && r != STORE_CONFLICT)
        job_clear(((struct rebooted_arg *)p)->out);
}

void store_job_rebooted_async(struct store *s, const char *site_id, const char *token,
                              int64_t uptime, int64_t now, int64_t run_timeout, struct job *out,
                              const char **why, struct store_async *as)
{
    struct rebooted_arg a = {site_id, "", uptime, now, run_timeout, out, why};
    snprintf(a.token, sizeof a.token, "%s", token);
    memset(out, 0, sizeof *out);
    *why = NULL;
    eng_run_op(s, op_job_rebooted, &a, sizeof a, rebooted_post, as);
}

struct sweep_arg {
    int64_t now, run_timeout;
    long count;
};

static enum store_result op_sweep(struct store *s, void *p)
{
    struct sweep_arg *a = p;
    return fail_timed_out(s, NULL, a->now, a->run_timeout, &a->count) ? STORE_UNAVAILABLE
                                                                      : STORE_OK;
}

long store_sweep_timeouts(struct store *s, int64_t now, int64_t run_timeout)
{
    struct db *c = eng_reader(s);
    if (!c)
        return 0;
    struct db_res *r = NULL;
    bool due = RUN(s, c,
                   "SELECT CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE " IN_FLIGHT
                   " AND delivered_at <= ?1 - ?2) THEN 1 ELSE 0 END",
                   &r, DB_INT(now), DB_INT(run_timeout)) == DB_OK &&
               r->rows && db_int(r, 0, 0, 0);
    db_res_free(r);
    eng_reader_put(s, c);
    if (!due)
        return 0;
    struct sweep_arg a = {now, run_timeout, 0};
    return eng_submit(s, op_sweep, &a) == STORE_OK ? a.count : 0;
}
