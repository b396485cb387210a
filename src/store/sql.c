/* The store, written once for every SQL driver (db.h).
 *
 * Writes: one writer thread owns the only read-write connection. Handlers
 * queue a write operation (a function and its argument, on their own stack)
 * and sleep; the writer takes every queued operation at once, runs each inside
 * its own savepoint of one transaction, commits (fsync) and wakes them all.
 * Concurrent writes share one commit (group commit); writes are serialised
 * within a process, so an idempotency check-then-insert needs no more locking;
 * an operation that fails is rolled back alone. Across processes (PostgreSQL)
 * unique indexes and row locks (FOR UPDATE SKIP LOCKED) keep the same
 * guarantees.
 *
 * Reads use a small pool of connections and see committed data only.
 *
 * Heartbeats are buffered in memory and written by a flusher thread once a
 * second, in arrival order, as one write operation. */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/backend.h"
#include "store/db.h"

struct ss;

struct wop {
    enum store_result (*fn)(struct ss *, void *); /* runs on the writer thread */
    void *arg;
    enum store_result result;
    bool done;
    pthread_cond_t cv; /* signalled when done: each waiter is woken alone */
    struct wop *next;
    /* Asynchronous operations (store_async): nobody waits on cv; once the
     * batch is committed, post(arg, result) fills the caller's outputs and
     * as->done runs. The wop and a copy of arg live on the heap until then. */
    struct store_async *as;
    void (*post)(void *arg, enum store_result r);
};

struct hb_rec {
    struct hb_rec *next;
    char site_id[JP_UUID_LEN + 1];
    char *identity, *software_version, *serial_number, *model, *board_name, *architecture_name,
        *from;
    int64_t uptime, cpu_load, memory_free, disk_free, ts;
};

struct ss {
    struct store base;
    const struct db_driver *drv;
    struct db *w;           /* the writer's connection; writer thread only */
    struct uuid7_gen idgen; /* writer thread only: ids increase in commit order */
    pthread_t writer;
    pthread_mutex_t mu; /* guards the queue, stopping and the reader stack */
    pthread_cond_t work;
    pthread_cond_t reader_free;
    struct wop *head, *tail;
    bool stopping;
    struct db **readers; /* idle read connections (a stack) */
    size_t nreaders, nfree;
    /* heartbeats waiting for the flusher, oldest first */
    pthread_t flusher;
    pthread_mutex_t hb_mu;
    pthread_cond_t hb_cond;
    struct hb_rec *hb_head, *hb_tail;
    size_t hb_count;
    unsigned long hb_dropped;
    bool hb_stopping;
    char *url;      /* for the listener's own connection */
    void *listener; /* cross-process job announcements, when watched */
};

#define PG(s) ((s)->drv->dialect == DB_POSTGRES)

#define NARGS(...) ((int)(sizeof((struct db_arg[]){__VA_ARGS__}) / sizeof(struct db_arg)))
#define RUN(s, c, sql, res, ...)                                                                   \
    (s)->drv->run((c), (sql), (struct db_arg[]){__VA_ARGS__}, NARGS(__VA_ARGS__), (res))

#define JOB_COLS                                                                                   \
    "id, token, site_id, idempotency_key, description, script, notify_url,"                        \
    " associated_backup, express_execute, needs_ack, should_backup, created_at,"                   \
    " delivered_at, started_at, completed_at, failed_at"

#define SITE_COLS                                                                                  \
    "id, team, name, identity, serial_number, model, board_name, architecture_name,"               \
    " software_version, uptime, last_seen_at, last_seen_from, created_at, updated_at,"             \
    " deleted_at"

#define IN_FLIGHT                                                                                  \
    "delivered_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"                      \
    " AND cancelled_at IS NULL"

static const char *const status_sql[JOB_STATUS_COUNT_] = {
    " AND delivered_at IS NULL AND started_at IS NULL AND completed_at IS NULL"
    " AND failed_at IS NULL",
    " AND delivered_at IS NOT NULL AND started_at IS NULL AND completed_at IS NULL"
    " AND failed_at IS NULL",
    " AND started_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL",
    " AND completed_at IS NOT NULL AND failed_at IS NULL",
    " AND failed_at IS NOT NULL",
};

static void copy_cell(const struct db_res *r, size_t row, size_t col, char *dst, size_t cap)
{
    const char *t = db_text(r, row, col);
    snprintf(dst, cap, "%s", t ? t : "");
}

static void row_to_job(const struct db_res *r, size_t i, struct job *j)
{
    memset(j, 0, sizeof *j);
    copy_cell(r, i, 0, j->id, sizeof j->id);
    copy_cell(r, i, 1, j->token, sizeof j->token);
    copy_cell(r, i, 2, j->site_id, sizeof j->site_id);
    copy_cell(r, i, 3, j->idempotency_key, sizeof j->idempotency_key);
    j->description = db_dup(r, i, 4);
    j->script = db_dup(r, i, 5);
    j->notify_url = db_dup(r, i, 6);
    j->associated_backup = db_dup(r, i, 7);
    j->express_execute = db_int(r, i, 8, 0);
    j->needs_acknowledgement = db_int(r, i, 9, 0);
    j->should_backup = db_int(r, i, 10, 0);
    j->created_at = db_int(r, i, 11, 0);
    j->delivered_at = db_int(r, i, 12, 0);
    j->started_at = db_int(r, i, 13, 0);
    j->completed_at = db_int(r, i, 14, 0);
    j->failed_at = db_int(r, i, 15, 0);
}

static void row_to_site(const struct db_res *r, size_t i, struct site *st)
{
    memset(st, 0, sizeof *st);
    copy_cell(r, i, 0, st->id, sizeof st->id);
    copy_cell(r, i, 1, st->team, sizeof st->team);
    st->name = db_dup(r, i, 2);
    st->identity = db_dup(r, i, 3);
    st->serial_number = db_dup(r, i, 4);
    st->model = db_dup(r, i, 5);
    st->board_name = db_dup(r, i, 6);
    st->architecture_name = db_dup(r, i, 7);
    st->software_version = db_dup(r, i, 8);
    st->uptime = db_int(r, i, 9, -1);
    st->last_seen_at = db_int(r, i, 10, 0);
    st->last_seen_from = db_dup(r, i, 11);
    st->created_at = db_int(r, i, 12, 0);
    st->updated_at = db_int(r, i, 13, 0);
    st->deleted_at = db_int(r, i, 14, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int random_bytes(unsigned char *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* Runs sql without arguments; 0 or -1. */
static int exec0(struct ss *s, struct db *c, const char *sql)
{
    return s->drv->run(c, sql, NULL, 0, NULL) == DB_OK ? 0 : -1;
}

/* ---- the writer ------------------------------------------------------- */

/* Completes an asynchronous operation (any thread; not under s->mu). */
static void complete(struct wop *w)
{
    if (w->post)
        w->post(w->arg, w->result);
    w->as->res = w->result;
    w->as->done(w->as->ctx);
    free(w);
}

/* Answers every operation of a committed (or failed) batch: waiters are
 * woken, asynchronous operations completed, in queue order. */
static void finish(struct ss *s, struct wop *batch, bool ok)
{
    struct wop *async = NULL, **tail = &async;
    pthread_mutex_lock(&s->mu);
    for (struct wop *w = batch, *next; w; w = next) {
        next = w->next; /* a waiter's w lives on its stack: gone once done */
        if (!ok)
            w->result = STORE_UNAVAILABLE;
        if (w->as) {
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        } else {
            w->done = true;
            pthread_cond_signal(&w->cv);
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (struct wop *w = async, *next; w; w = next) {
        next = w->next;
        complete(w);
    }
}

static void *writer_main(void *arg)
{
    struct ss *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work, &s->mu);
        struct wop *batch = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        if (!batch)
            break; /* stopping with nothing queued */

        bool began = s->drv->check(s->w) == 0 && exec0(s, s->w, s->drv->begin_write) == 0;
        bool ok = began;
        for (struct wop *w = batch; w; w = w->next) {
            if (!ok || exec0(s, s->w, "SAVEPOINT op")) {
                ok = false;
                w->result = STORE_UNAVAILABLE;
                continue;
            }
            w->result = w->fn(s, w->arg);
            /* Refusals wrote nothing, or a log line, and are kept. A failed
             * operation is undone; so is one whose savepoint cannot be
             * released (a statement failed under it unnoticed). When even
             * that fails, the whole batch fails rather than commit a part. */
            if (w->result == STORE_UNAVAILABLE || exec0(s, s->w, "RELEASE SAVEPOINT op")) {
                w->result = STORE_UNAVAILABLE;
                if (exec0(s, s->w, "ROLLBACK TO SAVEPOINT op") ||
                    exec0(s, s->w, "RELEASE SAVEPOINT op"))
                    ok = false;
            }
        }
        if (began && (!ok || exec0(s, s->w, "COMMIT"))) {
            ok = false;
            exec0(s, s->w, "ROLLBACK");
        }
        finish(s, batch, ok);
        if (s->drv->after_commit)
            s->drv->after_commit(s->w);
    }
    return NULL;
}

/* Queues w for the writer; false when the store is stopping. */
static bool enqueue(struct ss *s, struct wop *w)
{
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* Runs fn(arg) on the writer and waits for its commit. */
static enum store_result submit(struct ss *s, enum store_result (*fn)(struct ss *, void *),
                                void *arg)
{
    struct wop w = {.fn = fn, .arg = arg};
    pthread_cond_init(&w.cv, NULL);
    if (!enqueue(s, &w)) {
        pthread_cond_destroy(&w.cv);
        return STORE_UNAVAILABLE;
    }
    pthread_mutex_lock(&s->mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&w.cv);
    return w.result;
}

/* An operation with outputs: without as, runs it like submit and then post;
 * with as, queues a copy of arg (size bytes) and returns at once (see struct
 * wop). Returns the result, or STORE_OK for a queued asynchronous one. */
static enum store_result run_op(struct ss *s, enum store_result (*fn)(struct ss *, void *),
                                void *arg, size_t size, void (*post)(void *, enum store_result),
                                struct store_async *as)
{
    if (!as) {
        enum store_result r = submit(s, fn, arg);
        post(arg, r);
        return r;
    }
    struct wop *w = calloc(1, sizeof *w + size);
    if (!w) {
        post(arg, STORE_UNAVAILABLE);
        as->res = STORE_UNAVAILABLE;
        as->done(as->ctx);
        return STORE_OK;
    }
    *w = (struct wop){.fn = fn, .arg = w + 1, .as = as, .post = post};
    memcpy(w + 1, arg, size);
    if (!enqueue(s, w)) {
        w->result = STORE_UNAVAILABLE;
        complete(w);
    }
    return STORE_OK;
}

/* ---- the reader pool -------------------------------------------------- */

static struct db *reader_get(struct ss *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->nfree == 0)
        pthread_cond_wait(&s->reader_free, &s->mu);
    struct db *c = s->readers[--s->nfree];
    pthread_mutex_unlock(&s->mu);
    if (s->drv->check(c)) { /* unreachable database: give it back, fail this read */
        pthread_mutex_lock(&s->mu);
        s->readers[s->nfree++] = c;
        pthread_cond_signal(&s->reader_free);
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    return c;
}

static void reader_put(struct ss *s, struct db *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->mu);
    s->readers[s->nfree++] = c;
    pthread_cond_signal(&s->reader_free);
    pthread_mutex_unlock(&s->mu);
}

/* 1 when the site exists and belongs to team (and, unless deleted_ok, is not
 * deleted); 0 when not; -1 on error. */
static int site_owned(struct ss *s, struct db *c, const char *team, const char *site_id,
                      bool deleted_ok)
{
    struct db_res *r = NULL;
    enum db_status st =
        RUN(s, c,
            deleted_ok ? "SELECT 1 FROM sites WHERE id=?1 AND team=?2"
                       : "SELECT 1 FROM sites WHERE id=?1 AND team=?2 AND deleted_at IS NULL",
            &r, DB_TEXT(site_id), DB_TEXT(team));
    int owned = st != DB_OK ? -1 : r->rows > 0;
    db_res_free(r);
    return owned;
}

/* Appends a line to a site's event log (writer thread), in the transaction of
 * the change it describes. 0 or -1. */
static int event(struct ss *s, const char *site_id, int64_t ts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int event(struct ss *s, const char *site_id, int64_t ts, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return RUN(s, s->w, "INSERT INTO events (site_id, ts, message) VALUES (?1,?2,?3)", NULL,
               DB_TEXT(site_id), DB_INT(ts), DB_TEXT(msg)) == DB_OK
               ? 0
               : -1;
}

/* One row read by a reader: fills out through fn; NOT_FOUND when no row. */
static enum store_result read_one(struct ss *s, const char *sql, const struct db_arg *args, int n,
                                  void (*fn)(const struct db_res *, size_t, void *), void *out)
{
    struct db *c = reader_get(s);
    if (!c)
        return STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    enum store_result res = STORE_UNAVAILABLE;
    if (s->drv->run(c, sql, args, n, &r) == DB_OK) {
        res = r->rows ? STORE_OK : STORE_NOT_FOUND;
        if (r->rows)
            fn(r, 0, out);
    }
    db_res_free(r);
    reader_put(s, c);
    return res;
}

static void fill_site(const struct db_res *r, size_t i, void *out)
{
    row_to_site(r, i, out);
}

static void fill_job(const struct db_res *r, size_t i, void *out)
{
    row_to_job(r, i, out);
}

/* ---- sites ------------------------------------------------------------ */

struct site_create_arg {
    const char *team, *name, *adoption_hash;
    struct site *out;
};

static enum store_result op_site_create(struct ss *s, void *p)
{
    struct site_create_arg *a = p;
    unsigned char rnd[JP_UUID7_RANDOM_BYTES];
    char id[JP_UUID_LEN + 1];
    if (random_bytes(rnd, sizeof rnd))
        return STORE_UNAVAILABLE;
    uuid7_next(&s->idgen, now_ms(), rnd, id);
    int64_t now = (int64_t)(uuid7_millis(id) / 1000);
    struct db_res *r = NULL;
    enum store_result res = STORE_UNAVAILABLE;
    if (RUN(s, s->w,
            "INSERT INTO sites (id, team, name, created_at, updated_at, adoption_hash)"
            " VALUES (?1, ?2, ?3, ?4, ?4, ?5) RETURNING " SITE_COLS,
            &r, DB_TEXT(id), DB_TEXT(a->team), DB_TEXT(a->name), DB_INT(now),
            DB_TEXT(a->adoption_hash)) == DB_OK &&
        r->rows) {
        row_to_site(r, 0, a->out);
        res = event(s, id, now, "Site created") ? STORE_UNAVAILABLE : STORE_CREATED;
    }
    db_res_free(r);
    return res;
}

static enum store_result ss_site_create(struct store *st, const char *team, const char *name,
                                        const char *adoption_hash, struct site *out)
{
    struct site_create_arg a = {team, name, adoption_hash, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct ss *)st, op_site_create, &a);
    if (r != STORE_CREATED)
        site_clear(out);
    return r;
}

static enum store_result ss_site_get(struct store *st, const char *team, const char *site_id,
                                     struct site *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(site_id), DB_TEXT(team)};
    return read_one((struct ss *)st, "SELECT " SITE_COLS " FROM sites WHERE id=?1 AND team=?2",
                    args, 2, fill_site, out);
}

static enum store_result ss_site_list(struct store *st, const char *team, struct site_list *out)
{
    struct ss *s = (struct ss *)st;
    memset(out, 0, sizeof *out);
    struct db *c = reader_get(s);
    if (!c)
        return STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    enum store_result res = STORE_UNAVAILABLE;
    if (RUN(s, c, "SELECT " SITE_COLS " FROM sites WHERE team=?1 ORDER BY id", &r, DB_TEXT(team)) ==
        DB_OK) {
        out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
        if (out->items) {
            for (; out->n < r->rows; out->n++)
                row_to_site(r, out->n, &out->items[out->n]);
            res = STORE_OK;
        }
    }
    db_res_free(r);
    reader_put(s, c);
    return res;
}

/* ---- jobs ------------------------------------------------------------- */

struct job_create_arg {
    const char *team;
    const struct job_request *req;
    struct job *out;
};

/* STORE_CREATED when the key is new; else the replay's answer. */
static enum store_result job_replay(struct ss *s, const struct job_request *req, struct job *out)
{
    struct db_res *r = NULL;
    if (RUN(s, s->w,
            "SELECT " JOB_COLS ", cancelled_at FROM jobs WHERE site_id=?1 AND idempotency_key=?2",
            &r, DB_TEXT(req->site_id), DB_TEXT(req->idempotency_key)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_CREATED;
    if (r->rows) {
        row_to_job(r, 0, out);
        if (!db_null(r, 0, 16))
            res = STORE_KEY_CANCELLED;
        else if (strcmp(out->script, req->script) || out->express_execute != req->express_execute ||
                 out->needs_acknowledgement != req->needs_acknowledgement ||
                 out->should_backup != req->should_backup)
            res = STORE_CONFLICT;
        else
            res = STORE_OK;
        if (res != STORE_OK)
            job_clear(out);
    }
    db_res_free(r);
    return res;
}

static enum store_result op_job_create(struct ss *s, void *p)
{
    struct job_create_arg *a = p;
    const struct job_request *req = a->req;
    job_clear(a->out);
    int owned = site_owned(s, s->w, a->team, req->site_id, false);
    if (owned <= 0)
        return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
    enum store_result res = job_replay(s, req, a->out);
    if (res != STORE_CREATED)
        return res;
    unsigned char rnd_id[JP_UUID7_RANDOM_BYTES], rnd_tok[32];
    char id[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1];
    if (random_bytes(rnd_id, sizeof rnd_id))
        return STORE_UNAVAILABLE;
    uuid7_next(&s->idgen, now_ms(), rnd_id, id);
    int64_t created = (int64_t)(uuid7_millis(id) / 1000);
    /* The token is unique across all jobs: draw again on a collision. The key
     * is unique per site: a concurrent create on another node wins the race
     * and this one becomes its replay. ON CONFLICT DO NOTHING leaves the
     * transaction usable on both drivers, so no savepoint is needed. */
    for (int attempt = 0; attempt < 4; attempt++) {
        if (random_bytes(rnd_tok, sizeof rnd_tok) || token_base62(rnd_tok, sizeof rnd_tok, token))
            continue;
        if (RUN(s, s->w,
                "INSERT INTO jobs (id, site_id, token, idempotency_key, description, script,"
                " notify_url, express_execute, needs_ack, should_backup, created_at)"
                " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) ON CONFLICT DO NOTHING",
                NULL, DB_TEXT(id), DB_TEXT(req->site_id), DB_TEXT(token),
                DB_TEXT(req->idempotency_key), DB_TEXT(req->description), DB_TEXT(req->script),
                DB_TEXT(req->notify_url), DB_INT(req->express_execute),
                DB_INT(req->needs_acknowledgement), DB_INT(req->should_backup),
                DB_INT(created)) != DB_OK)
            return STORE_UNAVAILABLE;
        if (s->drv->changes(s->w) == 0) {
            res = job_replay(s, req, a->out); /* the key, or (rarely) the token, was taken */
            if (res != STORE_CREATED)
                return res;
            continue;
        }
        struct job *j = a->out;
        snprintf(j->id, sizeof j->id, "%s", id);
        snprintf(j->token, sizeof j->token, "%s", token);
        snprintf(j->site_id, sizeof j->site_id, "%s", req->site_id);
        snprintf(j->idempotency_key, sizeof j->idempotency_key, "%s", req->idempotency_key);
        j->description = req->description ? strdup(req->description) : NULL;
        j->script = strdup(req->script);
        j->notify_url = req->notify_url ? strdup(req->notify_url) : NULL;
        j->express_execute = req->express_execute;
        j->needs_acknowledgement = req->needs_acknowledgement;
        j->should_backup = req->should_backup;
        j->created_at = created;
        if ((req->description && !j->description) || !j->script ||
            (req->notify_url && !j->notify_url) ||
            event(s, req->site_id, created, "Job %s created: %s", token, req->description) ||
            (req->express_execute &&
             event(s, req->site_id, created, "Job %s express execution requested", token)) ||
            (s->drv->notify_sql &&
             RUN(s, s->w, s->drv->notify_sql, NULL, DB_TEXT(req->site_id)) != DB_OK))
            return STORE_UNAVAILABLE;
        return STORE_CREATED;
    }
    return STORE_UNAVAILABLE;
}

static void job_create_post(void *p, enum store_result r)
{
    if (r != STORE_CREATED && r != STORE_OK)
        job_clear(((struct job_create_arg *)p)->out);
}

static enum store_result ss_job_create(struct store *st, const char *team,
                                       const struct job_request *req, struct job *out,
                                       struct store_async *as)
{
    struct job_create_arg a = {team, req, out};
    memset(out, 0, sizeof *out);
    return run_op((struct ss *)st, op_job_create, &a, sizeof a, job_create_post, as);
}

static enum store_result ss_job_get(struct store *st, const char *team, const char *site_id,
                                    const char *job_id, struct job *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(job_id), DB_TEXT(site_id), DB_TEXT(team)};
    return read_one((struct ss *)st,
                    "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND site_id=?2 AND cancelled_at IS"
                    " NULL AND EXISTS (SELECT 1 FROM sites WHERE sites.id=?2 AND sites.team=?3)",
                    args, 3, fill_job, out);
}

static enum store_result ss_job_list(struct store *st, const char *team, const struct job_query *qr,
                                     struct job_list *out)
{
    struct ss *s = (struct ss *)st;
    memset(out, 0, sizeof *out);
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND cancelled_at IS NULL"
             " AND id < ?2%s ORDER BY id DESC LIMIT ?3",
             qr->status >= 0 && qr->status < JOB_STATUS_COUNT_ ? status_sql[qr->status] : "");
    struct db *c = reader_get(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    /* One read transaction: the ownership check and the rows see one snapshot. */
    if (exec0(s, c, "BEGIN"))
        goto out;
    int owned = site_owned(s, c, team, qr->site_id, true);
    if (owned <= 0) {
        res = owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
        goto rollback;
    }
    /* "g" sorts after every id (lower-case hex): no bound. */
    if (RUN(s, c, sql, &r, DB_TEXT(qr->site_id), DB_TEXT(qr->before_id ? qr->before_id : "g"),
            DB_INT(qr->limit ? (int64_t)qr->limit + 1 : INT64_MAX)) != DB_OK)
        goto rollback;
    size_t n = r->rows;
    if (qr->limit && n > qr->limit) {
        out->more = true;
        n = qr->limit;
    }
    out->items = calloc(n ? n : 1, sizeof *out->items);
    if (out->items) {
        for (; out->n < n; out->n++)
            row_to_job(r, out->n, &out->items[out->n]);
        res = STORE_OK;
    }
rollback:
    db_res_free(r);
    exec0(s, c, "ROLLBACK");
out:
    reader_put(s, c);
    if (res != STORE_OK)
        job_list_clear(out);
    return res;
}

struct job_cancel_arg {
    const char *team, *site_id, *job_id;
    char *token;
};

static enum store_result op_job_cancel(struct ss *s, void *p)
{
    struct job_cancel_arg *a = p;
    int owned = site_owned(s, s->w, a->team, a->site_id, true);
    if (owned <= 0)
        return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
    struct db_res *r = NULL;
    if (RUN(s, s->w,
            "SELECT CASE WHEN delivered_at IS NULL AND started_at IS NULL AND completed_at IS NULL"
            " AND failed_at IS NULL THEN 1 ELSE 0 END, token FROM jobs"
            " WHERE id=?1 AND site_id=?2 AND cancelled_at IS NULL",
            &r, DB_TEXT(a->job_id), DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = !r->rows             ? STORE_NOT_FOUND
                            : db_int(r, 0, 0, 0) ? STORE_OK
                                                 : STORE_STARTED;
    if (res == STORE_OK)
        copy_cell(r, 0, 1, a->token, JP_TOKEN_LEN + 1);
    db_res_free(r);
    if (res != STORE_OK)
        return res;
    int64_t now = now_s();
    if (RUN(s, s->w, "UPDATE jobs SET cancelled_at=?2 WHERE id=?1", NULL, DB_TEXT(a->job_id),
            DB_INT(now)) != DB_OK ||
        event(s, a->site_id, now, "Job %s cancelled", a->token))
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

static enum store_result ss_job_cancel(struct store *st, const char *team, const char *site_id,
                                       const char *job_id, char *token)
{
    struct job_cancel_arg a = {team, site_id, job_id, token};
    return submit((struct ss *)st, op_job_cancel, &a);
}

static void fill_site_id(const struct db_res *r, size_t i, void *out)
{
    copy_cell(r, i, 0, out, JP_UUID_LEN + 1);
}

static enum store_result ss_job_site(struct store *st, const char *job_id, char *site_id)
{
    struct db_arg args[] = {DB_TEXT(job_id)};
    return read_one((struct ss *)st,
                    "SELECT site_id FROM jobs WHERE id=?1 AND cancelled_at IS NULL", args, 1,
                    fill_site_id, site_id);
}

/* ---- the device plane ------------------------------------------------- */

struct adopt_arg {
    const char *adoption_hash, *device_hash;
    const struct device_facts *f;
    struct site *out;
};

static enum store_result op_site_adopt(struct ss *s, void *p)
{
    struct adopt_arg *a = p;
    const struct device_facts *f = a->f;
    int64_t now = now_s();
    struct db_res *r = NULL;
    site_clear(a->out);
    if (RUN(s, s->w,
            "UPDATE sites SET adoption_hash=NULL, device_hash=?2, adopted_at=?3,"
            " last_seen_at=?3, last_seen_from=?4, identity=?5, software_version=?6,"
            " serial_number=?7, model=?8, board_name=?9, architecture_name=?10, uptime=?11"
            " WHERE adoption_hash=?1 AND deleted_at IS NULL RETURNING " SITE_COLS,
            &r, DB_TEXT(a->adoption_hash), DB_TEXT(a->device_hash), DB_INT(now), DB_TEXT(f->from),
            DB_TEXT(f->identity), DB_TEXT(f->software_version), DB_TEXT(f->serial_number),
            DB_TEXT(f->model), DB_TEXT(f->board_name), DB_TEXT(f->architecture_name),
            DB_NUM(f->uptime)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (r->rows)
        row_to_site(r, 0, a->out);
    db_res_free(r);
    if (res == STORE_OK &&
        event(s, a->out->id, now, "Site adopted from %s (identity %s, RouterOS %s)",
              f->from ? f->from : "?", f->identity ? f->identity : "?",
              f->software_version ? f->software_version : "?"))
        res = STORE_UNAVAILABLE;
    return res;
}

static enum store_result ss_site_adopt(struct store *st, const char *adoption_hash,
                                       const char *device_hash, const struct device_facts *f,
                                       struct site *out)
{
    struct adopt_arg a = {adoption_hash, device_hash, f, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct ss *)st, op_site_adopt, &a);
    if (r != STORE_OK)
        site_clear(out);
    return r;
}

static enum store_result ss_site_by_device(struct store *st, const char *device_hash,
                                           struct site *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(device_hash)};
    return read_one((struct ss *)st, "SELECT " SITE_COLS " FROM sites WHERE device_hash=?1", args,
                    1, fill_site, out);
}

/* A one-statement site change: sql binds ?1 site id, ?2 team, ?3 value, ?4 now. */
struct site_change_arg {
    const char *sql, *site_id, *team, *value, *message;
};

static enum store_result op_site_change(struct ss *s, void *p)
{
    struct site_change_arg *a = p;
    int64_t now = now_s();
    if (RUN(s, s->w, a->sql, NULL, DB_TEXT(a->site_id), DB_TEXT(a->team), DB_TEXT(a->value),
            DB_INT(now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(s->w) == 0)
        return STORE_NOT_FOUND;
    return event(s, a->site_id, now, "%s", a->message) ? STORE_UNAVAILABLE : STORE_OK;
}

static enum store_result site_change(struct store *st, const char *sql, const char *site_id,
                                     const char *team, const char *value, const char *message)
{
    struct site_change_arg a = {sql, site_id, team, value, message};
    return submit((struct ss *)st, op_site_change, &a);
}

static enum store_result ss_site_rotate_device(struct store *st, const char *team,
                                               const char *site_id, const char *adoption_hash)
{
    return site_change(st,
                       "UPDATE sites SET device_hash=NULL, adoption_hash=?3, updated_at=?4"
                       " WHERE id=?1 AND team=?2 AND deleted_at IS NULL",
                       site_id, team, adoption_hash,
                       "Device token revoked; a new bootstrap line was issued");
}

static enum store_result ss_site_delete(struct store *st, const char *team, const char *site_id)
{
    return site_change(st,
                       "UPDATE sites SET deleted_at=?4, updated_at=?4, adoption_hash=NULL"
                       " WHERE id=?1 AND team=?2 AND deleted_at IS NULL AND ?3 IS NULL",
                       site_id, team, NULL, "Site deleted; the router gets a teardown script");
}

static enum store_result ss_site_teardown_done(struct store *st, const char *site_id)
{
    return site_change(st,
                       "UPDATE sites SET device_hash=NULL WHERE id=?1 AND deleted_at IS NOT NULL"
                       " AND ?2 IS NULL AND ?3 IS NULL AND ?4 > 0",
                       site_id, NULL, NULL,
                       "Teardown confirmed by the router; its device token is revoked");
}

/* Heartbeats. */

static void hb_free(struct hb_rec *h)
{
    while (h) {
        struct hb_rec *n = h->next;
        free(h->identity);
        free(h->software_version);
        free(h->serial_number);
        free(h->model);
        free(h->board_name);
        free(h->architecture_name);
        free(h->from);
        free(h);
        h = n;
    }
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

#define HB_BUFFER_MAX 200000 /* records between two flushes; more are dropped */

static void ss_heartbeat(struct store *st, const char *site_id, const struct device_facts *f,
                         int64_t now)
{
    struct ss *s = (struct ss *)st;
    struct hb_rec *h = calloc(1, sizeof *h);
    if (!h)
        return;
    snprintf(h->site_id, sizeof h->site_id, "%s", site_id);
    h->identity = dup_or_null(f->identity);
    h->software_version = dup_or_null(f->software_version);
    h->serial_number = dup_or_null(f->serial_number);
    h->model = dup_or_null(f->model);
    h->board_name = dup_or_null(f->board_name);
    h->architecture_name = dup_or_null(f->architecture_name);
    h->from = dup_or_null(f->from);
    h->uptime = f->uptime;
    h->cpu_load = f->cpu_load;
    h->memory_free = f->memory_free;
    h->disk_free = f->disk_free;
    h->ts = now;
    pthread_mutex_lock(&s->hb_mu);
    if (s->hb_count >= HB_BUFFER_MAX) {
        s->hb_dropped++;
        pthread_mutex_unlock(&s->hb_mu);
        hb_free(h);
        return;
    }
    /* arrival order: a later heartbeat's facts are applied after an earlier one's */
    if (s->hb_tail)
        s->hb_tail->next = h;
    else
        s->hb_head = h;
    s->hb_tail = h;
    s->hb_count++;
    pthread_mutex_unlock(&s->hb_mu);
}

static enum store_result op_heartbeats(struct ss *s, void *p)
{
    for (struct hb_rec *h = p; h; h = h->next) {
        if (RUN(s, s->w,
                "UPDATE sites SET last_seen_at=CASE WHEN coalesce(last_seen_at,0) > ?2 THEN"
                " last_seen_at ELSE ?2 END, last_seen_from=coalesce(?3,last_seen_from),"
                " identity=coalesce(?4,identity), software_version=coalesce(?5,software_version),"
                " serial_number=coalesce(?6,serial_number), model=coalesce(?7,model),"
                " board_name=coalesce(?8,board_name),"
                " architecture_name=coalesce(?9,architecture_name), uptime=coalesce(?10,uptime)"
                " WHERE id=?1",
                NULL, DB_TEXT(h->site_id), DB_INT(h->ts), DB_TEXT(h->from), DB_TEXT(h->identity),
                DB_TEXT(h->software_version), DB_TEXT(h->serial_number), DB_TEXT(h->model),
                DB_TEXT(h->board_name), DB_TEXT(h->architecture_name),
                DB_NUM(h->uptime)) != DB_OK ||
            RUN(s, s->w,
                "INSERT INTO stats (site_id, ts, cpu_load, memory_free, disk_free, uptime)"
                " VALUES (?1,?2,?3,?4,?5,?6)",
                NULL, DB_TEXT(h->site_id), DB_INT(h->ts), DB_NUM(h->cpu_load),
                DB_NUM(h->memory_free), DB_NUM(h->disk_free), DB_NUM(h->uptime)) != DB_OK)
            return STORE_UNAVAILABLE;
    }
    return STORE_OK;
}

static void hb_flush(struct ss *s)
{
    pthread_mutex_lock(&s->hb_mu);
    struct hb_rec *batch = s->hb_head;
    unsigned long dropped = s->hb_dropped;
    s->hb_head = s->hb_tail = NULL;
    s->hb_count = 0;
    s->hb_dropped = 0;
    pthread_mutex_unlock(&s->hb_mu);
    if (dropped)
        log_warn("store: %lu heartbeats dropped (buffer full)", dropped);
    if (!batch)
        return;
    if (submit(s, op_heartbeats, batch) != STORE_OK)
        log_warn("store: a batch of heartbeats could not be written");
    hb_free(batch);
}

static void *flusher_main(void *arg)
{
    struct ss *s = arg;
    pthread_mutex_lock(&s->hb_mu);
    while (!s->hb_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->hb_cond, &s->hb_mu, &until);
        pthread_mutex_unlock(&s->hb_mu);
        hb_flush(s);
        pthread_mutex_lock(&s->hb_mu);
    }
    pthread_mutex_unlock(&s->hb_mu);
    hb_flush(s); /* the last second, before the writer stops */
    return NULL;
}

/* Fails delivered jobs past the run timeout (of one site, or all when
 * site_id is NULL); writes their events. Rows another node is changing right
 * now are skipped (it times them out, or the next sweep does). */
static int fail_timed_out(struct ss *s, const char *site_id, int64_t now, int64_t run_timeout,
                          long *count)
{
    struct db_res *r = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET failed_at=?2 WHERE id IN (SELECT id FROM jobs WHERE " IN_FLIGHT
             " AND delivered_at <= ?2 - ?3 AND (?1 IS NULL OR site_id=?1)%s)"
             " RETURNING site_id, token",
             PG(s) ? " FOR UPDATE SKIP LOCKED" : "");
    if (RUN(s, s->w, sql, &r, DB_TEXT(site_id), DB_INT(now), DB_INT(run_timeout)) != DB_OK)
        return -1;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++) {
        err = event(s, db_text(r, i, 0), now,
                    "Job %s failed: no report within the run timeout of %llds", db_text(r, i, 1),
                    (long long)run_timeout);
        log_warn("job %s failed: no report within the run timeout of %llds", db_text(r, i, 1),
                 (long long)run_timeout);
    }
    *count = (long)r->rows;
    db_res_free(r);
    return err ? -1 : 0;
}

/* Dispatch: fails an in-flight job past its timeout, then claims the oldest
 * pending one. Two polls never get one job: within a process the writer runs
 * one operation at a time; across processes the site row is locked (a node
 * that finds it locked hands out nothing this time). */
struct dispatch_arg {
    const char *site_id;
    int64_t now, run_timeout;
    struct job *out;
    long *remaining;
};

static enum store_result op_dispatch(struct ss *s, void *p)
{
    struct dispatch_arg *a = p;
    struct db_res *r = NULL;
    job_clear(a->out);
    if (PG(s)) {
        if (RUN(s, s->w, "SELECT 1 FROM sites WHERE id=?1 FOR UPDATE SKIP LOCKED", &r,
                DB_TEXT(a->site_id)) != DB_OK)
            return STORE_UNAVAILABLE;
        bool locked = r->rows == 0;
        db_res_free(r);
        r = NULL;
        if (locked)
            return STORE_NOT_FOUND; /* another node is dispatching for this site */
    }
    /* One job at a time per site: a job in flight past its run timeout fails
     * here rather than at the next sweep, so the site is free at once. */
    if (RUN(s, s->w, "SELECT delivered_at FROM jobs WHERE site_id=?1 AND " IN_FLIGHT, &r,
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
    if (RUN(s, s->w,
            "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL ORDER BY id LIMIT 1",
            &r, DB_TEXT(a->site_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    bool got = r->rows > 0;
    if (got)
        row_to_job(r, 0, a->out);
    db_res_free(r);
    r = NULL;
    if (!got)
        return STORE_NOT_FOUND;
    struct job *j = a->out;
    j->delivered_at = a->now;
    if (!j->needs_acknowledgement)
        j->started_at = j->completed_at = a->now;
    /* Guarded: a cancel committed on another node since the SELECT wins. */
    if (RUN(s, s->w,
            "UPDATE jobs SET delivered_at=?2, started_at=?3, completed_at=?3 WHERE id=?1"
            " AND delivered_at IS NULL AND cancelled_at IS NULL",
            NULL, DB_TEXT(j->id), DB_INT(a->now),
            DB_NUM(j->needs_acknowledgement ? -1 : a->now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(s->w) == 0) {
        job_clear(j);
        return STORE_NOT_FOUND;
    }
    if (RUN(s, s->w,
            "SELECT count(*) FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL",
            &r, DB_TEXT(a->site_id)) != DB_OK) {
        db_res_free(r);
        return STORE_UNAVAILABLE;
    }
    *a->remaining = (long)db_int(r, 0, 0, 0);
    db_res_free(r);
    if (event(s, j->site_id, a->now, "Job %s delivered (%ld more pending)", j->token,
              *a->remaining) ||
        (!j->needs_acknowledgement &&
         event(s, j->site_id, a->now, "Job %s completed at delivery (no acknowledgement needed)",
               j->token)))
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

/* The common case, nothing to hand out, is answered by a reader: no write. */
static int ss_dispatch_wanted(struct store *st, const char *site_id, int64_t now,
                              int64_t run_timeout)
{
    struct ss *s = (struct ss *)st;
    struct db *c = reader_get(s);
    if (!c)
        return -1;
    struct db_res *r = NULL;
    enum db_status st_ =
        RUN(s, c,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
            " AND cancelled_at IS NULL) AND NOT EXISTS (SELECT 1 FROM jobs WHERE site_id=?1 "
            "AND " IN_FLIGHT " AND delivered_at > ?2 - ?3) THEN 1 ELSE 0 END",
            &r, DB_TEXT(site_id), DB_INT(now), DB_INT(run_timeout));
    bool work = st_ == DB_OK && r->rows && db_int(r, 0, 0, 0);
    db_res_free(r);
    reader_put(s, c);
    return st_ != DB_OK ? -1 : work;
}

static void dispatch_post(void *p, enum store_result r)
{
    if (r != STORE_OK)
        job_clear(((struct dispatch_arg *)p)->out);
}

static void ss_dispatch(struct store *st, const char *site_id, int64_t now, int64_t run_timeout,
                        struct job *out, long *remaining, struct store_async *as)
{
    struct dispatch_arg a = {site_id, now, run_timeout, out, remaining};
    memset(out, 0, sizeof *out);
    *remaining = 0;
    run_op((struct ss *)st, op_dispatch, &a, sizeof a, dispatch_post, as);
}

struct report_arg {
    const char *job_id;
    enum job_report report;
    int64_t now;
    struct job *out;
};

static enum store_result load_job(struct ss *s, const char *job_id, struct job *out)
{
    struct db_res *r = NULL;
    if (RUN(s, s->w, "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND cancelled_at IS NULL", &r,
            DB_TEXT(job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (r->rows)
        row_to_job(r, 0, out);
    db_res_free(r);
    return res;
}

static enum store_result op_job_report(struct ss *s, void *p)
{
    static const char *const names[] = {"busy", "done", "fail"};
    static const char *const sql[] = {
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=?2 WHERE id=?1",
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=coalesce(started_at,"
        "?2), completed_at=?2 WHERE id=?1",
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=coalesce(started_at,"
        "?2), failed_at=?2 WHERE id=?1",
    };
    static const char *const what[] = {"started (busy)", "completed (done)", "failed (fail)"};
    struct report_arg *a = p;
    struct job *j = a->out;
    job_clear(j);
    enum store_result res = load_job(s, a->job_id, j);
    if (res != STORE_OK)
        return res;
    enum job_status was = job_status_of(j);
    if (was == JOB_COMPLETED || was == JOB_FAILED)
        return event(s, j->site_id, a->now, "Job %s: report '%s' ignored, the job already %s",
                     j->token, names[a->report], was == JOB_COMPLETED ? "completed" : "failed")
                   ? STORE_UNAVAILABLE
                   : STORE_CONFLICT;
    if (a->report == REPORT_BUSY && was == JOB_RUNNING)
        return STORE_OK; /* a repeated busy changes nothing */
    /* The row is changed only if it is still unfinished: a report racing on
     * another node cannot overwrite the first final one. */
    char guarded[256];
    snprintf(guarded, sizeof guarded, "%s AND completed_at IS NULL AND failed_at IS NULL",
             sql[a->report]);
    if (RUN(s, s->w, guarded, NULL, DB_TEXT(a->job_id), DB_INT(a->now)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(s->w) == 0) {
        job_clear(j);
        res = load_job(s, a->job_id, j);
        return res == STORE_OK ? STORE_CONFLICT : res;
    }
    if (event(s, j->site_id, a->now, "Job %s %s", j->token, what[a->report]))
        return STORE_UNAVAILABLE;
    /* What the UPDATE above wrote, without reading the row again. */
    if (!j->delivered_at)
        j->delivered_at = a->now;
    if (a->report == REPORT_BUSY || !j->started_at)
        j->started_at = a->now;
    if (a->report == REPORT_DONE)
        j->completed_at = a->now;
    else if (a->report == REPORT_FAIL)
        j->failed_at = a->now;
    return STORE_OK;
}

static void job_report_post(void *p, enum store_result r)
{
    if (r != STORE_OK && r != STORE_CONFLICT)
        job_clear(((struct report_arg *)p)->out);
}

static void ss_job_report(struct store *st, const char *job_id, enum job_report rep, int64_t now,
                          struct job *out, struct store_async *as)
{
    struct report_arg a = {job_id, rep, now, out};
    memset(out, 0, sizeof *out);
    run_op((struct ss *)st, op_job_report, &a, sizeof a, job_report_post, as);
}

struct sweep_arg {
    int64_t now, run_timeout;
    long count;
};

static enum store_result op_sweep(struct ss *s, void *p)
{
    struct sweep_arg *a = p;
    return fail_timed_out(s, NULL, a->now, a->run_timeout, &a->count) ? STORE_UNAVAILABLE
                                                                      : STORE_OK;
}

static long ss_sweep_timeouts(struct store *st, int64_t now, int64_t run_timeout)
{
    struct ss *s = (struct ss *)st;
    struct db *c = reader_get(s);
    if (!c)
        return 0;
    struct db_res *r = NULL;
    bool due = RUN(s, c,
                   "SELECT CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE " IN_FLIGHT
                   " AND delivered_at <= ?1 - ?2) THEN 1 ELSE 0 END",
                   &r, DB_INT(now), DB_INT(run_timeout)) == DB_OK &&
               r->rows && db_int(r, 0, 0, 0);
    db_res_free(r);
    reader_put(s, c);
    if (!due)
        return 0;
    struct sweep_arg a = {now, run_timeout, 0};
    return submit(s, op_sweep, &a) == STORE_OK ? a.count : 0;
}

/* Backups arrive in chunks; the last one assembles the file. */
struct chunk_arg {
    const char *site_id, *job_id, *data;
    int64_t offset, total, now;
    size_t len;
    char *filename;
};

static enum store_result store_backup(struct ss *s, struct chunk_arg *a, const char *token)
{
    struct db_res *r = NULL;
    if (RUN(s, s->w, "SELECT data FROM backup_chunks WHERE job_id=?1 ORDER BY chunk_offset", &r,
            DB_TEXT(a->job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    char *content = malloc((size_t)a->total + 1);
    size_t at = 0;
    for (size_t i = 0; content && i < r->rows; i++) {
        size_t n = db_len(r, i, 0);
        if (at + n > (size_t)a->total)
            break;
        memcpy(content + at, db_text(r, i, 0), n);
        at += n;
    }
    db_res_free(r);
    if (!content || at != (size_t)a->total) {
        free(content);
        return STORE_UNAVAILABLE;
    }
    /* {unix}.rsc, the next free second when two backups arrive in one */
    enum store_result res = STORE_UNAVAILABLE;
    for (int64_t ts = a->now;; ts++) {
        snprintf(a->filename, 64, "%lld.rsc", (long long)ts);
        enum db_status st = RUN(s, s->w, "SELECT 1 FROM backups WHERE site_id=?1 AND filename=?2",
                                &r, DB_TEXT(a->site_id), DB_TEXT(a->filename));
        bool taken = st == DB_OK && r->rows;
        db_res_free(r);
        r = NULL;
        if (st != DB_OK)
            goto out;
        if (!taken)
            break;
    }
    char assoc[JP_UUID_LEN + 72];
    snprintf(assoc, sizeof assoc, "%s/%s", a->site_id, a->filename);
    if (RUN(s, s->w,
            "INSERT INTO backups (site_id, filename, job_id, size, created_at, content)"
            " VALUES (?1,?2,?3,?4,?5,?6)",
            NULL, DB_TEXT(a->site_id), DB_TEXT(a->filename), DB_TEXT(a->job_id), DB_INT(a->total),
            DB_INT(a->now), DB_BLOB(content, (size_t)a->total)) != DB_OK ||
        RUN(s, s->w, "DELETE FROM backup_chunks WHERE job_id=?1", NULL, DB_TEXT(a->job_id)) !=
            DB_OK ||
        RUN(s, s->w, "UPDATE jobs SET associated_backup=?2 WHERE id=?1", NULL, DB_TEXT(a->job_id),
            DB_TEXT(assoc)) != DB_OK ||
        event(s, a->site_id, a->now, "Job %s backup stored as %s (%lld bytes)", token, assoc,
              (long long)a->total))
        goto out;
    res = STORE_CREATED;
out:
    free(content);
    return res;
}

static enum store_result op_backup_chunk(struct ss *s, void *p)
{
    struct chunk_arg *a = p;
    struct job j = {0};
    enum store_result res = load_job(s, a->job_id, &j);
    if (res != STORE_OK)
        return res;
    bool ok = !strcmp(j.site_id, a->site_id) && j.should_backup && !j.associated_backup;
    char token[JP_TOKEN_LEN + 1];
    memcpy(token, j.token, sizeof token);
    job_clear(&j);
    if (!ok)
        return STORE_NOT_FOUND;
    /* What arrived so far must end exactly at this chunk's offset. */
    struct db_res *r = NULL;
    if (RUN(s, s->w,
            "SELECT coalesce(sum(length(data)),0), min(total), max(total) FROM backup_chunks"
            " WHERE job_id=?1",
            &r, DB_TEXT(a->job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    int64_t have = db_int(r, 0, 0, 0), tmin = db_int(r, 0, 1, 0), tmax = db_int(r, 0, 2, 0);
    db_res_free(r);
    if (have != a->offset || (have > 0 && (tmin != a->total || tmax != a->total)) ||
        a->offset + (int64_t)a->len > a->total)
        return STORE_CONFLICT;
    if (RUN(s, s->w,
            "INSERT INTO backup_chunks (job_id, site_id, chunk_offset, total, data)"
            " VALUES (?1,?2,?3,?4,?5)",
            NULL, DB_TEXT(a->job_id), DB_TEXT(a->site_id), DB_INT(a->offset), DB_INT(a->total),
            DB_BLOB(a->data, a->len)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (a->offset + (int64_t)a->len < a->total)
        return STORE_OK;
    return store_backup(s, a, token);
}

static enum store_result ss_backup_chunk(struct store *st, const char *site_id, const char *job_id,
                                         int64_t offset, int64_t total, const char *data,
                                         size_t len, int64_t now, char filename[64])
{
    struct chunk_arg a = {site_id, job_id, data, offset, total, now, len, filename};
    filename[0] = '\0';
    return submit((struct ss *)st, op_backup_chunk, &a);
}

/* Site-scoped reads for operators: the ownership check and the rows in one
 * snapshot; *res holds the rows on STORE_OK. */
static enum store_result read_site_rows(struct ss *s, const char *team, const char *site_id,
                                        const char *sql, const struct db_arg *args, int n,
                                        struct db_res **res)
{
    *res = NULL;
    struct db *c = reader_get(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result out = STORE_UNAVAILABLE;
    if (exec0(s, c, "BEGIN") == 0) {
        int owned = site_owned(s, c, team, site_id, true);
        if (owned == 0)
            out = STORE_NOT_FOUND;
        else if (owned > 0 && s->drv->run(c, sql, args, n, res) == DB_OK)
            out = STORE_OK;
        exec0(s, c, "ROLLBACK");
    }
    reader_put(s, c);
    if (out != STORE_OK) {
        db_res_free(*res);
        *res = NULL;
    }
    return out;
}

static enum store_result backups(struct ss *s, const char *team, const char *site_id,
                                 const char *filename, struct backup_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_res *r;
    struct db_arg args[] = {DB_TEXT(site_id), DB_TEXT(filename)};
    enum store_result res = read_site_rows(
        s, team, site_id,
        filename ? "SELECT filename, size, created_at, content FROM backups WHERE site_id=?1"
                   " AND filename=?2"
                 : "SELECT filename, size, created_at, NULL FROM backups WHERE site_id=?1"
                   " AND ?2 IS NULL ORDER BY created_at DESC, filename DESC",
        args, 2, &r);
    if (res != STORE_OK)
        return res;
    out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
    for (; out->items && out->n < r->rows; out->n++) {
        struct backup_info *b = &out->items[out->n];
        copy_cell(r, out->n, 0, b->filename, sizeof b->filename);
        b->size = db_int(r, out->n, 1, 0);
        b->created_at = db_int(r, out->n, 2, 0);
        b->content = db_dup(r, out->n, 3);
    }
    db_res_free(r);
    if (!out->items)
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

static enum store_result ss_backup_list(struct store *st, const char *team, const char *site_id,
                                        struct backup_list *out)
{
    return backups((struct ss *)st, team, site_id, NULL, out);
}

static enum store_result ss_backup_get(struct store *st, const char *team, const char *site_id,
                                       const char *filename, struct backup_info *out)
{
    struct backup_list l;
    memset(out, 0, sizeof *out);
    enum store_result r = backups((struct ss *)st, team, site_id, filename, &l);
    if (r == STORE_OK && l.n == 0)
        r = STORE_NOT_FOUND;
    if (r == STORE_OK) {
        *out = l.items[0];
        l.items[0].content = NULL;
    }
    backup_list_clear(&l);
    return r;
}

static enum store_result ss_stats(struct store *st, const char *team, const char *site_id,
                                  int64_t from, int64_t to, bool hourly, struct stat_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_res *r;
    struct db_arg args[] = {DB_TEXT(site_id), DB_INT(from), DB_INT(to)};
    enum store_result res = read_site_rows(
        (struct ss *)st, team, site_id,
        hourly ? "SELECT (ts/3600)*3600 AS h, CAST(avg(cpu_load) AS BIGINT),"
                 " CAST(avg(memory_free) AS BIGINT), CAST(avg(disk_free) AS BIGINT), max(uptime)"
                 " FROM stats WHERE site_id=?1 AND ts>=?2 AND ts<?3 GROUP BY h ORDER BY h"
               : "SELECT ts, cpu_load, memory_free, disk_free, uptime FROM stats"
                 " WHERE site_id=?1 AND ts>=?2 AND ts<?3 ORDER BY ts LIMIT 100000",
        args, 3, &r);
    if (res != STORE_OK)
        return res;
    out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
    for (; out->items && out->n < r->rows; out->n++) {
        struct stat_point *p = &out->items[out->n];
        p->created_at = db_int(r, out->n, 0, 0);
        p->cpu_load = db_int(r, out->n, 1, -1);
        p->memory_free = db_int(r, out->n, 2, -1);
        p->disk_free = db_int(r, out->n, 3, -1);
        p->uptime = db_int(r, out->n, 4, -1);
    }
    db_res_free(r);
    return out->items ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_result ss_logs(struct store *st, const char *team, const char *site_id,
                                 int64_t from, int64_t to, const char *text, struct log_list *out)
{
    struct ss *s = (struct ss *)st;
    memset(out, 0, sizeof *out);
    struct db_res *r;
    struct db_arg args[] = {DB_TEXT(site_id), DB_INT(from), DB_INT(to), DB_TEXT(text)};
    enum store_result res = read_site_rows(
        s, team, site_id,
        PG(s) ? "SELECT ts, message FROM events WHERE site_id=?1 AND ts>=?2 AND ts<=?3"
                " AND (?4::text IS NULL OR strpos(message, ?4) > 0) ORDER BY id LIMIT 10000"
              : "SELECT ts, message FROM events WHERE site_id=?1 AND ts>=?2 AND ts<=?3"
                " AND (?4 IS NULL OR instr(message, ?4) > 0) ORDER BY id LIMIT 10000",
        args, 4, &r);
    if (res != STORE_OK)
        return res;
    out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
    for (; out->items && out->n < r->rows; out->n++) {
        out->items[out->n].timestamp = db_int(r, out->n, 0, 0);
        out->items[out->n].message = db_dup(r, out->n, 1);
    }
    db_res_free(r);
    return out->items ? STORE_OK : STORE_UNAVAILABLE;
}

/* ---- open and close --------------------------------------------------- */

static void ss_watch_jobs(struct store *st, void (*fn)(void *, const char *), void *ctx)
{
    struct ss *s = (struct ss *)st;
    if (s->drv->listen_start && !s->listener)
        s->listener = s->drv->listen_start(s->url, fn, ctx);
}

static void ss_close(struct store *st)
{
    struct ss *s = (struct ss *)st;
    if (s->listener)
        s->drv->listen_stop(s->listener);
    pthread_mutex_lock(&s->hb_mu); /* the flusher writes the last heartbeats first */
    s->hb_stopping = true;
    pthread_cond_signal(&s->hb_cond);
    pthread_mutex_unlock(&s->hb_mu);
    pthread_join(s->flusher, NULL);
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    for (size_t i = 0; i < s->nfree; i++)
        s->drv->close(s->readers[i]);
    free(s->readers);
    s->drv->close(s->w);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->reader_free);
    pthread_mutex_destroy(&s->hb_mu);
    pthread_cond_destroy(&s->hb_cond);
    free(s->url);
    free(s);
}

static const struct store_ops sql_ops = {
    .close = ss_close,
    .site_create = ss_site_create,
    .site_get = ss_site_get,
    .site_list = ss_site_list,
    .job_create = ss_job_create,
    .job_get = ss_job_get,
    .job_list = ss_job_list,
    .job_cancel = ss_job_cancel,
    .job_site = ss_job_site,
    .site_adopt = ss_site_adopt,
    .site_by_device = ss_site_by_device,
    .site_rotate_device = ss_site_rotate_device,
    .site_delete = ss_site_delete,
    .site_teardown_done = ss_site_teardown_done,
    .watch_jobs = ss_watch_jobs,
    .heartbeat = ss_heartbeat,
    .dispatch_wanted = ss_dispatch_wanted,
    .dispatch = ss_dispatch,
    .job_report = ss_job_report,
    .sweep_timeouts = ss_sweep_timeouts,
    .backup_chunk = ss_backup_chunk,
    .backup_list = ss_backup_list,
    .backup_get = ss_backup_get,
    .stats = ss_stats,
    .logs = ss_logs,
};

struct store *store_sql_open(const struct db_driver *drv, const struct store_options *opt,
                             const char *url, char *err, size_t errlen)
{
    struct ss *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &sql_ops;
    s->drv = drv;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->reader_free, NULL);
    pthread_mutex_init(&s->hb_mu, NULL);
    pthread_cond_init(&s->hb_cond, NULL);
    s->nreaders = opt->readers ? opt->readers : 4;
    s->url = strdup(url);
    s->readers = calloc(s->nreaders, sizeof *s->readers);
    s->w = drv->connect(url, true, opt->relaxed, err, errlen);
    if (!s->readers || !s->w || drv->migrate(s->w, err, errlen))
        goto fail;
    for (; s->nfree < s->nreaders; s->nfree++) {
        s->readers[s->nfree] = drv->connect(url, false, opt->relaxed, err, errlen);
        if (!s->readers[s->nfree])
            goto fail;
    }
    if (pthread_create(&s->writer, NULL, writer_main, s)) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail;
    }
    if (pthread_create(&s->flusher, NULL, flusher_main, s)) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
        snprintf(err, errlen, "cannot start the heartbeat flusher");
        goto fail;
    }
    return &s->base;
fail:
    for (size_t i = 0; i < s->nfree; i++)
        drv->close(s->readers[i]);
    free(s->readers);
    if (s->w)
        drv->close(s->w);
    free(s->url);
    free(s);
    return NULL;
}
