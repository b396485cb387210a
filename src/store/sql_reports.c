/* Device reports of jobs (store.h): busy, done and fail through the signed
 * URLs, fenced by delivery and the run timeout; the chunks of a job's
 * output that come with its final report, and reading them; the word of a
 * restart a heartbeat brings for a job that expected one, and of a job's
 * revert, armed or done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "store/engine.h"

struct report_arg {
    struct job_report_req req;
    struct job *out;
    const char **why;
    char message[512]; /* a copy of req.message, sanitised ("" when none) */
    char *chunk;       /* a sanitised copy of req.chunk (owned; freed by the post) */
    bool partial;
};

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
    char sql[1024];
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
    if (was == JOB_COMPLETED || was == JOB_FAILED || was == JOB_REVERTED)
        return eng_job_event(s, j->site_id, j->id, a->req.now,
                             "Job %s: report '%s' ignored, the job already %s", j->token, rep->name,
                             job_states[was].name)
                   ? STORE_UNAVAILABLE
                   : STORE_CONFLICT;
    if (a->req.run_timeout && j->delivered_at &&
        a->req.now > j->delivered_at + a->req.run_timeout) {
        /* past the deadline, not yet swept: the timeout fails it first */
        long n = 0;
        if (sql_fail_timed_out(s, j->site_id, a->req.now, a->req.run_timeout, &n))
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
        text_sanitize(a.chunk, req->chunk_len, true);
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

/* The site's job with this token (not cancelled), as the writer sees it. */
static enum store_result job_by_token(struct store *s, const char *site_id, const char *token,
                                      struct job *j)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND token=?2 AND cancelled_at IS NULL",
            &r, DB_TEXT(site_id), DB_TEXT(token)) != DB_OK)
        return STORE_UNAVAILABLE;
    bool found = r->rows > 0;
    if (found)
        sql_row_to_job(r, 0, j);
    db_res_free(r);
    return found ? STORE_OK : STORE_NOT_FOUND;
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
    enum store_result res = job_by_token(s, a->site_id, a->token, j);
    if (res != STORE_OK || !j->expects_reboot || !j->delivered_at)
        return res == STORE_UNAVAILABLE ? res : STORE_NOT_FOUND;
    enum job_status was = job_status_of(j);
    if (was == JOB_COMPLETED || was == JOB_FAILED || was == JOB_REVERTED) {
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
    res = op_job_report(s, &ra);
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

struct revert_arg {
    const char *site_id;
    char token[JP_TOKEN_LEN + 1];
    bool reverted;
    int64_t now;
    struct job *out;
    const char **why;
};

/* Armed: the router reached the server after the job (a log line; the
 * answer disarms it). Reverted: the job becomes reverted (failed_at too, if
 * the run timeout did not set it first) unless the router confirmed it. */
static enum store_result op_job_revert(struct store *s, void *p)
{
    struct revert_arg *a = p;
    struct job *j = a->out;
    job_clear(j);
    enum store_result res = job_by_token(s, a->site_id, a->token, j);
    if (res != STORE_OK || !j->confirm_within || !j->delivered_at)
        return res == STORE_UNAVAILABLE ? res : STORE_NOT_FOUND;
    enum job_status was = job_status_of(j);
    if (!a->reverted)
        return eng_job_event(s, j->site_id, j->id, a->now,
                             "Job %s: the router reached the server after it ran: its revert is"
                             " disarmed%s",
                             j->token, was == JOB_FAILED ? " (the job failed)" : "")
                   ? STORE_UNAVAILABLE
                   : STORE_OK;
    if (was == JOB_REVERTED || was == JOB_COMPLETED) {
        *a->why = was == JOB_REVERTED ? "the job is already reverted" : "the job was confirmed";
        return STORE_CONFLICT;
    }
    if (RUN(s, eng_wdb(s),
            "UPDATE jobs SET reverted_at=?2, failed_at=coalesce(failed_at, ?2),"
            " started_at=coalesce(started_at, ?2) WHERE id=?1 AND reverted_at IS NULL"
            " AND completed_at IS NULL",
            NULL, DB_TEXT(j->id), DB_INT(a->now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(eng_wdb(s)) == 0) {
        *a->why = "the job changed meanwhile";
        return STORE_CONFLICT;
    }
    j->reverted_at = a->now;
    if (!j->failed_at)
        j->failed_at = a->now;
    if (!j->started_at)
        j->started_at = a->now;
    return eng_job_event(s, j->site_id, j->id, a->now,
                         "Job %s reverted: no confirmation reached the router within %llds; it"
                         " restored the configuration saved before the job",
                         j->token, (long long)j->confirm_within) ||
                   out_job(s, EV_JOB_REVERTED, j)
               ? STORE_UNAVAILABLE
               : STORE_OK;
}

static void revert_post(void *p, enum store_result r)
{
    if (r != STORE_OK && r != STORE_CONFLICT)
        job_clear(((struct revert_arg *)p)->out);
}

void store_job_revert_async(struct store *s, const char *site_id, const char *token, bool reverted,
                            int64_t now, struct job *out, const char **why, struct store_async *as)
{
    struct revert_arg a = {
        .site_id = site_id, .reverted = reverted, .now = now, .out = out, .why = why};
    snprintf(a.token, sizeof a.token, "%s", token);
    memset(out, 0, sizeof *out);
    *why = NULL;
    eng_run_op(s, op_job_revert, &a, sizeof a, revert_post, as);
}
