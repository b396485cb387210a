/* The store's operations on jobs: create (idempotent), read, list, cancel,
 * dispatch to a poll, run timeouts (device reports: sql_reports.c). The states and report
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
    j->confirm_within = db_int(r, i, c + 20, 0);
    j->backup_sensitive = db_int(r, i, c + 21, 0);
    j->reverted_at = db_int(r, i, c + 22, 0);
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
                 out->capture_output != req->capture_output ||
                 out->backup_sensitive != req->backup_sensitive ||
                 out->confirm_within != req->confirm_within)
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
                " dry_run, expects_reboot, capture_output, backup_sensitive, confirm_within)"
                " SELECT ?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?13,?14,?15,?16,?17,?18 WHERE EXISTS"
                " (SELECT 1 FROM sites WHERE id=?2 AND team=?12 AND deleted_at IS NULL)"
                " ON CONFLICT DO NOTHING",
                NULL, DB_TEXT(id), DB_TEXT(req->site_id), DB_TEXT(token),
                DB_TEXT(req->idempotency_key), DB_TEXT(req->description), DB_TEXT(req->script),
                DB_TEXT(req->notify_url), DB_INT(req->express_execute),
                DB_INT(req->needs_acknowledgement), DB_INT(req->should_backup), DB_INT(created),
                DB_TEXT(team), DB_TEXT(rollout_id), DB_INT(req->dry_run),
                DB_INT(req->expects_reboot), DB_INT(req->capture_output),
                DB_INT(req->backup_sensitive), DB_INT(req->confirm_within)) != DB_OK)
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
        j->backup_sensitive = req->backup_sensitive;
        j->confirm_within = req->confirm_within;
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
int sql_fail_timed_out(struct store *s, const char *site_id, int64_t now, int64_t run_timeout,
                       long *count)
{
    struct db_res *r = NULL;
    char sql[1024];
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
        if (sql_fail_timed_out(s, a->site_id, a->now, a->run_timeout, &timed_out))
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
    if (expired && sql_fail_timed_out(s, a->site_id, a->now, a->run_timeout, &timed_out))
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

struct sweep_arg {
    int64_t now, run_timeout;
    long count;
};

static enum store_result op_sweep(struct store *s, void *p)
{
    struct sweep_arg *a = p;
    return sql_fail_timed_out(s, NULL, a->now, a->run_timeout, &a->count) ? STORE_UNAVAILABLE
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
