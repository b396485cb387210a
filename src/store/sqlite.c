/* SQLite backend.
 *
 * One writer thread owns the only read-write connection. Handlers queue a
 * write operation (a function and its argument) and sleep; the writer takes
 * every queued operation at once, runs each inside its own savepoint of one
 * transaction, commits (fsync with synchronous=FULL) and wakes them all. So
 * concurrent writes share one fsync (group commit), writes are serialised
 * (idempotency checks and id order need no further locking), and an operation
 * that fails is rolled back alone without touching its batch mates.
 *
 * Reads use a small pool of connections; WAL lets them run beside the writer
 * and see only committed data. */
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/backend.h"

struct sq;

struct wop {
    enum store_result (*fn)(struct sq *, void *); /* runs on the writer thread */
    void *arg;
    enum store_result result;
    bool done;
    struct wop *next;
};

struct sq {
    struct store base;
    sqlite3 *wdb;            /* the writer's connection; writer thread only */
    struct uuid7_gen idgen;  /* writer thread only: ids increase in commit order */
    pthread_t writer;
    pthread_mutex_t mu;      /* guards the queue, stopping and the reader stack */
    pthread_cond_t work;     /* writer waits for operations */
    pthread_cond_t done;     /* submitters wait for their batch */
    pthread_cond_t reader_free;
    struct wop *head, *tail; /* queued, not yet taken by the writer */
    bool stopping;
    sqlite3 **readers;       /* idle read connections (a stack) */
    size_t nreaders, nfree;
};

static const char *const migrations[] = {
    /* 1: sites and jobs */
    "CREATE TABLE sites ("
    " id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL,"
    " identity TEXT, serial_number TEXT, model TEXT, board_name TEXT,"
    " architecture_name TEXT, software_version TEXT, uptime INTEGER,"
    " last_seen_at INTEGER, last_seen_from TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
    "CREATE INDEX sites_team ON sites(team, id);"
    "CREATE TABLE jobs ("
    " id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id),"
    " token TEXT NOT NULL UNIQUE, idempotency_key TEXT NOT NULL,"
    " description TEXT NOT NULL, script TEXT NOT NULL, notify_url TEXT,"
    " associated_backup TEXT, express_execute INTEGER NOT NULL,"
    " needs_ack INTEGER NOT NULL, should_backup INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, delivered_at INTEGER, started_at INTEGER,"
    " completed_at INTEGER, failed_at INTEGER, cancelled_at INTEGER,"
    " UNIQUE (site_id, idempotency_key));"
    "CREATE INDEX jobs_site ON jobs(site_id, id);",
};

#define JOB_COLS                                                                             \
    "id, token, site_id, idempotency_key, description, script, notify_url,"                  \
    " associated_backup, express_execute, needs_ack, should_backup, created_at,"             \
    " delivered_at, started_at, completed_at, failed_at"

#define SITE_COLS                                                                            \
    "id, team, name, identity, serial_number, model, board_name, architecture_name,"         \
    " software_version, uptime, last_seen_at, last_seen_from, created_at, updated_at,"       \
    " deleted_at"

/* Status filters, by enum job_status. */
static const char *const status_sql[JOB_STATUS_COUNT_] = {
    " AND delivered_at IS NULL AND started_at IS NULL AND completed_at IS NULL"
    " AND failed_at IS NULL",
    " AND delivered_at IS NOT NULL AND started_at IS NULL AND completed_at IS NULL"
    " AND failed_at IS NULL",
    " AND started_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL",
    " AND completed_at IS NOT NULL AND failed_at IS NULL",
    " AND failed_at IS NOT NULL",
};

static char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void row_to_job(sqlite3_stmt *s, struct job *j)
{
    memset(j, 0, sizeof *j);
    col_copy(s, 0, j->id, sizeof j->id);
    col_copy(s, 1, j->token, sizeof j->token);
    col_copy(s, 2, j->site_id, sizeof j->site_id);
    col_copy(s, 3, j->idempotency_key, sizeof j->idempotency_key);
    j->description = col_str(s, 4);
    j->script = col_str(s, 5);
    j->notify_url = col_str(s, 6);
    j->associated_backup = col_str(s, 7);
    j->express_execute = sqlite3_column_int(s, 8);
    j->needs_acknowledgement = sqlite3_column_int(s, 9);
    j->should_backup = sqlite3_column_int(s, 10);
    j->created_at = sqlite3_column_int64(s, 11);
    j->delivered_at = sqlite3_column_int64(s, 12);
    j->started_at = sqlite3_column_int64(s, 13);
    j->completed_at = sqlite3_column_int64(s, 14);
    j->failed_at = sqlite3_column_int64(s, 15);
}

static void row_to_site(sqlite3_stmt *s, struct site *st)
{
    memset(st, 0, sizeof *st);
    col_copy(s, 0, st->id, sizeof st->id);
    col_copy(s, 1, st->team, sizeof st->team);
    st->name = col_str(s, 2);
    st->identity = col_str(s, 3);
    st->serial_number = col_str(s, 4);
    st->model = col_str(s, 5);
    st->board_name = col_str(s, 6);
    st->architecture_name = col_str(s, 7);
    st->software_version = col_str(s, 8);
    st->uptime = sqlite3_column_type(s, 9) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 9);
    st->last_seen_at = sqlite3_column_int64(s, 10);
    st->last_seen_from = col_str(s, 11);
    st->created_at = sqlite3_column_int64(s, 12);
    st->updated_at = sqlite3_column_int64(s, 13);
    st->deleted_at = sqlite3_column_int64(s, 14);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("sqlite: prepare failed: %s", sqlite3_errmsg(db));
        return NULL;
    }
    return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* ---- the writer ------------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct sq *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->work, &q->mu);
        struct wop *batch = q->head;
        q->head = q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        if (!batch)
            break; /* stopping with nothing queued */

        bool ok = exec(q->wdb, "BEGIN IMMEDIATE") == SQLITE_OK;
        for (struct wop *w = batch; w; w = w->next) {
            if (!ok || exec(q->wdb, "SAVEPOINT op") != SQLITE_OK) {
                w->result = STORE_UNAVAILABLE;
                continue;
            }
            w->result = w->fn(q, w->arg);
            if (w->result != STORE_OK && w->result != STORE_CREATED)
                exec(q->wdb, "ROLLBACK TO op");
            exec(q->wdb, "RELEASE op");
        }
        if (ok && exec(q->wdb, "COMMIT") != SQLITE_OK) {
            ok = false;
            exec(q->wdb, "ROLLBACK");
        }
        pthread_mutex_lock(&q->mu);
        for (struct wop *w = batch; w; w = w->next) {
            if (!ok)
                w->result = STORE_UNAVAILABLE;
            w->done = true;
        }
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static enum store_result submit(struct sq *q, enum store_result (*fn)(struct sq *, void *),
                                void *arg)
{
    struct wop w = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        return STORE_UNAVAILABLE;
    }
    if (q->tail)
        q->tail->next = &w;
    else
        q->head = &w;
    q->tail = &w;
    pthread_cond_signal(&q->work);
    while (!w.done)
        pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return w.result;
}

/* ---- the reader pool -------------------------------------------------- */

static sqlite3 *reader_get(struct sq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->nfree == 0)
        pthread_cond_wait(&q->reader_free, &q->mu);
    sqlite3 *db = q->readers[--q->nfree];
    pthread_mutex_unlock(&q->mu);
    return db;
}

static void reader_put(struct sq *q, sqlite3 *db)
{
    pthread_mutex_lock(&q->mu);
    q->readers[q->nfree++] = db;
    pthread_cond_signal(&q->reader_free);
    pthread_mutex_unlock(&q->mu);
}

/* 1 when the site exists, is not deleted and belongs to team; 0 when not; -1 on error. */
static int site_owned(sqlite3 *db, const char *team, const char *site_id)
{
    sqlite3_stmt *s = prep(db, "SELECT 1 FROM sites WHERE id=?1 AND team=?2 AND deleted_at IS NULL");
    if (!s)
        return -1;
    bind_text(s, 1, site_id);
    bind_text(s, 2, team);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int random_bytes(unsigned char *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* ---- sites ------------------------------------------------------------ */

struct site_create_arg {
    const char *team, *name;
    struct site *out;
};

static enum store_result op_site_create(struct sq *q, void *p)
{
    struct site_create_arg *a = p;
    unsigned char rnd[JP_UUID7_RANDOM_BYTES];
    char id[JP_UUID_LEN + 1];
    if (random_bytes(rnd, sizeof rnd))
        return STORE_UNAVAILABLE;
    uint64_t ms = now_ms();
    uuid7_next(&q->idgen, ms, rnd, id);
    int64_t now = (int64_t)(uuid7_millis(id) / 1000);
    sqlite3_stmt *s = prep(q->wdb, "INSERT INTO sites (id, team, name, created_at, updated_at)"
                                   " VALUES (?1, ?2, ?3, ?4, ?4) RETURNING " SITE_COLS);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, id);
    bind_text(s, 2, a->team);
    bind_text(s, 3, a->name);
    sqlite3_bind_int64(s, 4, now);
    enum store_result r = STORE_UNAVAILABLE;
    if (sqlite3_step(s) == SQLITE_ROW) {
        row_to_site(s, a->out);
        r = STORE_CREATED;
    } else {
        log_error("sqlite: site insert failed: %s", sqlite3_errmsg(q->wdb));
    }
    sqlite3_finalize(s);
    return r;
}

static enum store_result sq_site_create(struct store *st, const char *team, const char *name,
                                        struct site *out)
{
    struct site_create_arg a = {team, name, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct sq *)st, op_site_create, &a);
    if (r != STORE_CREATED)
        site_clear(out);
    return r;
}

static enum store_result sq_site_get(struct store *st, const char *team, const char *site_id,
                                     struct site *out)
{
    struct sq *q = (struct sq *)st;
    memset(out, 0, sizeof *out);
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    sqlite3_stmt *s = prep(db, "SELECT " SITE_COLS " FROM sites WHERE id=?1 AND team=?2");
    if (s) {
        bind_text(s, 1, site_id);
        bind_text(s, 2, team);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            row_to_site(s, out);
            r = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            r = STORE_NOT_FOUND;
        }
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    return r;
}

static enum store_result sq_site_list(struct store *st, const char *team, struct site_list *out)
{
    struct sq *q = (struct sq *)st;
    memset(out, 0, sizeof *out);
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    size_t cap = 0;
    sqlite3_stmt *s = prep(db, "SELECT " SITE_COLS " FROM sites WHERE team=?1 ORDER BY id");
    if (s) {
        bind_text(s, 1, team);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (out->n == cap) {
                cap = cap ? cap * 2 : 16;
                struct site *n = realloc(out->items, cap * sizeof *n);
                if (!n)
                    break;
                out->items = n;
            }
            row_to_site(s, &out->items[out->n++]);
        }
        if (rc == SQLITE_DONE)
            r = STORE_OK;
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    if (r != STORE_OK)
        site_list_clear(out);
    return r;
}

/* ---- jobs ------------------------------------------------------------- */

struct job_create_arg {
    const char *team;
    const struct job_request *req;
    struct job *out;
};

static enum store_result job_replay(struct sq *q, const struct job_request *req, struct job *out)
{
    sqlite3_stmt *s = prep(q->wdb, "SELECT " JOB_COLS ", cancelled_at FROM jobs"
                                   " WHERE site_id=?1 AND idempotency_key=?2");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, req->site_id);
    bind_text(s, 2, req->idempotency_key);
    int rc = sqlite3_step(s);
    enum store_result r = STORE_UNAVAILABLE;
    if (rc == SQLITE_DONE) {
        r = STORE_CREATED; /* meaning: not seen, go ahead */
    } else if (rc == SQLITE_ROW) {
        row_to_job(s, out);
        if (sqlite3_column_type(s, 16) != SQLITE_NULL)
            r = STORE_KEY_CANCELLED;
        else if (strcmp(out->script, req->script) ||
                 out->express_execute != req->express_execute ||
                 out->needs_acknowledgement != req->needs_acknowledgement ||
                 out->should_backup != req->should_backup)
            r = STORE_CONFLICT;
        else
            r = STORE_OK;
        if (r != STORE_OK)
            job_clear(out);
    }
    sqlite3_finalize(s);
    return r;
}

static enum store_result op_job_create(struct sq *q, void *p)
{
    struct job_create_arg *a = p;
    const struct job_request *req = a->req;
    int owned = site_owned(q->wdb, a->team, req->site_id);
    if (owned <= 0)
        return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
    enum store_result r = job_replay(q, req, a->out);
    if (r != STORE_CREATED)
        return r;

    unsigned char rnd_id[JP_UUID7_RANDOM_BYTES], rnd_tok[32];
    char id[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1];
    if (random_bytes(rnd_id, sizeof rnd_id))
        return STORE_UNAVAILABLE;
    uuid7_next(&q->idgen, now_ms(), rnd_id, id);
    int64_t created = (int64_t)(uuid7_millis(id) / 1000);
    sqlite3_stmt *s = prep(q->wdb,
                           "INSERT INTO jobs (id, site_id, token, idempotency_key, description,"
                           " script, notify_url, express_execute, needs_ack, should_backup,"
                           " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
                           " RETURNING " JOB_COLS);
    if (!s)
        return STORE_UNAVAILABLE;
    r = STORE_UNAVAILABLE;
    /* The token is unique across all jobs: draw again on a collision. */
    for (int attempt = 0; attempt < 4; attempt++) {
        if (random_bytes(rnd_tok, sizeof rnd_tok) || token_base62(rnd_tok, sizeof rnd_tok, token))
            continue;
        sqlite3_reset(s);
        bind_text(s, 1, id);
        bind_text(s, 2, req->site_id);
        bind_text(s, 3, token);
        bind_text(s, 4, req->idempotency_key);
        bind_text(s, 5, req->description);
        bind_text(s, 6, req->script);
        bind_text(s, 7, req->notify_url);
        sqlite3_bind_int(s, 8, req->express_execute);
        sqlite3_bind_int(s, 9, req->needs_acknowledgement);
        sqlite3_bind_int(s, 10, req->should_backup);
        sqlite3_bind_int64(s, 11, created);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            row_to_job(s, a->out);
            r = STORE_CREATED;
            break;
        }
        if (sqlite3_extended_errcode(q->wdb) != SQLITE_CONSTRAINT_UNIQUE) {
            log_error("sqlite: job insert failed: %s", sqlite3_errmsg(q->wdb));
            break;
        }
    }
    sqlite3_finalize(s);
    return r;
}

static enum store_result sq_job_create(struct store *st, const char *team,
                                       const struct job_request *req, struct job *out)
{
    struct job_create_arg a = {team, req, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct sq *)st, op_job_create, &a);
    if (r != STORE_CREATED && r != STORE_OK)
        job_clear(out);
    return r;
}

static enum store_result sq_job_get(struct store *st, const char *team, const char *site_id,
                                    const char *job_id, struct job *out)
{
    struct sq *q = (struct sq *)st;
    memset(out, 0, sizeof *out);
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    sqlite3_stmt *s = prep(db, "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND site_id=?2"
                               " AND cancelled_at IS NULL AND EXISTS (SELECT 1 FROM sites"
                               " WHERE sites.id=?2 AND sites.team=?3)");
    if (s) {
        bind_text(s, 1, job_id);
        bind_text(s, 2, site_id);
        bind_text(s, 3, team);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            row_to_job(s, out);
            r = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            r = STORE_NOT_FOUND;
        }
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    return r;
}

static enum store_result sq_job_list(struct store *st, const char *team, const struct job_query *qr,
                                     struct job_list *out)
{
    struct sq *q = (struct sq *)st;
    memset(out, 0, sizeof *out);
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE site_id=?1 AND cancelled_at IS NULL%s%s"
             " ORDER BY id DESC%s",
             qr->before_id ? " AND id < ?2" : "",
             qr->status >= 0 && qr->status < JOB_STATUS_COUNT_ ? status_sql[qr->status] : "",
             qr->limit ? " LIMIT ?3" : "");
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    size_t cap = 0;
    /* One read transaction: the ownership check and the rows see one snapshot. */
    if (exec(db, "BEGIN") != SQLITE_OK)
        goto out;
    int owned = site_owned(db, team, qr->site_id);
    if (owned <= 0) {
        r = owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
        goto rollback;
    }
    sqlite3_stmt *s = prep(db, sql);
    if (!s)
        goto rollback;
    bind_text(s, 1, qr->site_id);
    if (qr->before_id)
        bind_text(s, 2, qr->before_id);
    if (qr->limit)
        sqlite3_bind_int64(s, 3, (sqlite3_int64)qr->limit + 1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (qr->limit && out->n == qr->limit) {
            out->more = true;
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            struct job *n = realloc(out->items, cap * sizeof *n);
            if (!n)
                break;
            out->items = n;
        }
        row_to_job(s, &out->items[out->n++]);
    }
    if (rc == SQLITE_DONE)
        r = STORE_OK;
    sqlite3_finalize(s);
rollback:
    exec(db, "ROLLBACK");
out:
    reader_put(q, db);
    if (r != STORE_OK)
        job_list_clear(out);
    return r;
}

struct job_cancel_arg {
    const char *team, *site_id, *job_id;
    char *token;
};

static enum store_result op_job_cancel(struct sq *q, void *p)
{
    struct job_cancel_arg *a = p;
    int owned = site_owned(q->wdb, a->team, a->site_id);
    if (owned <= 0)
        return owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
    sqlite3_stmt *s = prep(q->wdb, "SELECT delivered_at IS NULL AND started_at IS NULL AND"
                                   " completed_at IS NULL AND failed_at IS NULL, token FROM jobs"
                                   " WHERE id=?1 AND site_id=?2 AND cancelled_at IS NULL");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    bind_text(s, 2, a->site_id);
    int rc = sqlite3_step(s);
    enum store_result r = rc == SQLITE_DONE ? STORE_NOT_FOUND
                          : rc != SQLITE_ROW ? STORE_UNAVAILABLE
                          : sqlite3_column_int(s, 0) ? STORE_OK : STORE_STARTED;
    if (r == STORE_OK)
        col_copy(s, 1, a->token, JP_TOKEN_LEN + 1);
    sqlite3_finalize(s);
    if (r != STORE_OK)
        return r;
    s = prep(q->wdb, "UPDATE jobs SET cancelled_at=?2 WHERE id=?1");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
    r = sqlite3_step(s) == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
    sqlite3_finalize(s);
    return r;
}

static enum store_result sq_job_cancel(struct store *st, const char *team, const char *site_id,
                                       const char *job_id, char *token)
{
    struct job_cancel_arg a = {team, site_id, job_id, token};
    return submit((struct sq *)st, op_job_cancel, &a);
}

/* ---- open and close --------------------------------------------------- */

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    const int latest = (int)(sizeof migrations / sizeof migrations[0]);
    if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        snprintf(err, errlen, "cannot lock the database: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_stmt *s = prep(db, "PRAGMA user_version");
    int version = (s && sqlite3_step(s) == SQLITE_ROW) ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (version < 0 || version > latest) {
        snprintf(err, errlen, "database schema version %d is unknown to this jobplane (latest %d)",
                 version, latest);
        exec(db, "ROLLBACK");
        return -1;
    }
    for (int v = version; v < latest; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (exec(db, migrations[v]) != SQLITE_OK || exec(db, pragma) != SQLITE_OK) {
            snprintf(err, errlen, "migration %d failed: %s", v + 1, sqlite3_errmsg(db));
            exec(db, "ROLLBACK");
            return -1;
        }
        log_info("sqlite: applied migration %d", v + 1);
    }
    if (exec(db, "COMMIT") != SQLITE_OK) {
        snprintf(err, errlen, "cannot commit migrations: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static sqlite3 *open_conn(const char *path, bool writer, bool relaxed, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;%s",
             relaxed ? "NORMAL" : "FULL", writer ? "" : " PRAGMA query_only=1;");
    if (exec(db, pragmas) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void sq_close(struct store *st)
{
    struct sq *q = (struct sq *)st;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->writer, NULL);
    for (size_t i = 0; i < q->nfree; i++)
        sqlite3_close(q->readers[i]);
    free(q->readers);
    sqlite3_close(q->wdb);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_cond_destroy(&q->reader_free);
    free(q);
}

static const struct store_ops sqlite_ops = {
    .close = sq_close,
    .site_create = sq_site_create,
    .site_get = sq_site_get,
    .site_list = sq_site_list,
    .job_create = sq_job_create,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_cancel = sq_job_cancel,
};

struct store *store_sqlite_open(const struct store_options *opt, const char *path, char *err,
                                size_t errlen)
{
    struct sq *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->base.ops = &sqlite_ops;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    pthread_cond_init(&q->reader_free, NULL);
    q->nreaders = opt->readers ? opt->readers : 4;
    q->readers = calloc(q->nreaders, sizeof *q->readers);
    q->wdb = open_conn(path, true, opt->relaxed, err, errlen);
    if (!q->readers || !q->wdb || migrate(q->wdb, err, errlen))
        goto fail;
    for (; q->nfree < q->nreaders; q->nfree++) {
        q->readers[q->nfree] = open_conn(path, false, opt->relaxed, err, errlen);
        if (!q->readers[q->nfree])
            goto fail;
    }
    if (pthread_create(&q->writer, NULL, writer_main, q)) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail;
    }
    return &q->base;
fail:
    for (size_t i = 0; i < q->nfree; i++)
        sqlite3_close(q->readers[i]);
    free(q->readers);
    sqlite3_close(q->wdb);
    free(q);
    return NULL;
}
