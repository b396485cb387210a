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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/backend.h"

struct sq;
struct hb_rec;

struct wop {
    enum store_result (*fn)(struct sq *, void *); /* runs on the writer thread */
    void *arg;
    enum store_result result;
    bool done;
    struct wop *next;
};

struct sq {
    struct store base;
    sqlite3 *wdb;           /* the writer's connection; writer thread only */
    struct uuid7_gen idgen; /* writer thread only: ids increase in commit order */
    pthread_t writer;
    pthread_mutex_t mu;  /* guards the queue, stopping and the reader stack */
    pthread_cond_t work; /* writer waits for operations */
    pthread_cond_t done; /* submitters wait for their batch */
    pthread_cond_t reader_free;
    struct wop *head, *tail; /* queued, not yet taken by the writer */
    bool stopping;
    sqlite3 **readers; /* idle read connections (a stack) */
    size_t nreaders, nfree;
    /* heartbeats waiting for the flusher, oldest first */
    pthread_t flusher;
    pthread_mutex_t hb_mu;
    pthread_cond_t hb_cond;
    struct hb_rec *hb_head, *hb_tail;
    size_t hb_count;
    unsigned long hb_dropped;
    bool hb_stopping;
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
    /* 2: the device plane */
    "ALTER TABLE sites ADD COLUMN adoption_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN device_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN adopted_at INTEGER;"
    "CREATE UNIQUE INDEX sites_adoption ON sites(adoption_hash) WHERE adoption_hash IS NOT NULL;"
    "CREATE UNIQUE INDEX sites_device ON sites(device_hash) WHERE device_hash IS NOT NULL;"
    "CREATE INDEX jobs_pending ON jobs(site_id, id)"
    " WHERE delivered_at IS NULL AND cancelled_at IS NULL;"
    "CREATE INDEX jobs_inflight ON jobs(site_id, delivered_at) WHERE delivered_at IS NOT NULL"
    " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, ts INTEGER NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX events_site_ts ON events(site_id, ts);"
    "CREATE TABLE stats (site_id TEXT NOT NULL, ts INTEGER NOT NULL, cpu_load INTEGER,"
    " memory_free INTEGER, disk_free INTEGER, uptime INTEGER);"
    "CREATE INDEX stats_site_ts ON stats(site_id, ts);"
    "CREATE TABLE backups (site_id TEXT NOT NULL, filename TEXT NOT NULL, job_id TEXT,"
    " size INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL,"
    " PRIMARY KEY (site_id, filename));"
    "CREATE TABLE backup_chunks (job_id TEXT NOT NULL, site_id TEXT NOT NULL,"
    " offset INTEGER NOT NULL, total INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (job_id, offset));",
};

#define JOB_COLS                                                                                   \
    "id, token, site_id, idempotency_key, description, script, notify_url,"                        \
    " associated_backup, express_execute, needs_ack, should_backup, created_at,"                   \
    " delivered_at, started_at, completed_at, failed_at"

#define SITE_COLS                                                                                  \
    "id, team, name, identity, serial_number, model, board_name, architecture_name,"               \
    " software_version, uptime, last_seen_at, last_seen_from, created_at, updated_at,"             \
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

/* Runs sql with ?1..?3 bound to texts and ?4 to an integer. 0 or -1. */
static int exec_bound(sqlite3 *db, const char *sql, const char *t1, const char *t2, const char *t3,
                      int64_t n4)
{
    sqlite3_stmt *s = prep(db, sql);
    if (!s)
        return -1;
    bind_text(s, 1, t1);
    bind_text(s, 2, t2);
    bind_text(s, 3, t3);
    sqlite3_bind_int64(s, 4, n4);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        log_error("sqlite: %s", sqlite3_errmsg(db));
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
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
            if (w->result == STORE_UNAVAILABLE) /* semantic refusals wrote nothing, or a log line */
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

/* 1 when the site exists and belongs to team (and, unless deleted_ok, is not
 * deleted); 0 when not; -1 on error. */
static int site_owned(sqlite3 *db, const char *team, const char *site_id, bool deleted_ok)
{
    sqlite3_stmt *s = prep(db, deleted_ok ? "SELECT 1 FROM sites WHERE id=?1 AND team=?2"
                                          : "SELECT 1 FROM sites WHERE id=?1 AND team=?2"
                                            " AND deleted_at IS NULL");
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

/* Appends a line to a site's event log (writer thread), in the transaction
 * of the change it describes. */
static int event(struct sq *q, const char *site_id, int64_t ts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int event(struct sq *q, const char *site_id, int64_t ts, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sqlite3_stmt *s = prep(q->wdb, "INSERT INTO events (site_id, ts, message) VALUES (?1,?2,?3)");
    if (!s)
        return -1;
    bind_text(s, 1, site_id);
    sqlite3_bind_int64(s, 2, ts);
    bind_text(s, 3, msg);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- sites ------------------------------------------------------------ */

struct site_create_arg {
    const char *team, *name, *adoption_hash;
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
    sqlite3_stmt *s =
        prep(q->wdb, "INSERT INTO sites (id, team, name, created_at, updated_at,"
                     " adoption_hash) VALUES (?1, ?2, ?3, ?4, ?4, ?5) RETURNING " SITE_COLS);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, id);
    bind_text(s, 2, a->team);
    bind_text(s, 3, a->name);
    sqlite3_bind_int64(s, 4, now);
    bind_text(s, 5, a->adoption_hash);
    enum store_result r = STORE_UNAVAILABLE;
    if (sqlite3_step(s) == SQLITE_ROW) {
        row_to_site(s, a->out);
        r = event(q, id, now, "Site created") ? STORE_UNAVAILABLE : STORE_CREATED;
    } else {
        log_error("sqlite: site insert failed: %s", sqlite3_errmsg(q->wdb));
    }
    sqlite3_finalize(s);
    return r;
}

static enum store_result sq_site_create(struct store *st, const char *team, const char *name,
                                        const char *adoption_hash, struct site *out)
{
    struct site_create_arg a = {team, name, adoption_hash, out};
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
        else if (strcmp(out->script, req->script) || out->express_execute != req->express_execute ||
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
    int owned = site_owned(q->wdb, a->team, req->site_id, false);
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
    sqlite3_stmt *s =
        prep(q->wdb, "INSERT INTO jobs (id, site_id, token, idempotency_key, description,"
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
            if (event(q, req->site_id, created, "Job %s created: %s", token, req->description) ||
                (req->express_execute &&
                 event(q, req->site_id, created, "Job %s express execution requested", token)))
                r = STORE_UNAVAILABLE;
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
    int owned = site_owned(db, team, qr->site_id, true);
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
    int owned = site_owned(q->wdb, a->team, a->site_id, true);
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
    enum store_result r = rc == SQLITE_DONE          ? STORE_NOT_FOUND
                          : rc != SQLITE_ROW         ? STORE_UNAVAILABLE
                          : sqlite3_column_int(s, 0) ? STORE_OK
                                                     : STORE_STARTED;
    if (r == STORE_OK)
        col_copy(s, 1, a->token, JP_TOKEN_LEN + 1);
    sqlite3_finalize(s);
    if (r != STORE_OK)
        return r;
    s = prep(q->wdb, "UPDATE jobs SET cancelled_at=?2 WHERE id=?1");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    sqlite3_bind_int64(s, 2, now_s());
    r = sqlite3_step(s) == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
    sqlite3_finalize(s);
    if (r == STORE_OK && event(q, a->site_id, now_s(), "Job %s cancelled", a->token))
        r = STORE_UNAVAILABLE;
    return r;
}

static enum store_result sq_job_cancel(struct store *st, const char *team, const char *site_id,
                                       const char *job_id, char *token)
{
    struct job_cancel_arg a = {team, site_id, job_id, token};
    return submit((struct sq *)st, op_job_cancel, &a);
}

/* ---- the device plane ------------------------------------------------- */

struct adopt_arg {
    const char *adoption_hash, *device_hash;
    const struct device_facts *f;
    struct site *out;
};

static enum store_result op_site_adopt(struct sq *q, void *p)
{
    struct adopt_arg *a = p;
    const struct device_facts *f = a->f;
    int64_t now = now_s();
    sqlite3_stmt *s =
        prep(q->wdb, "UPDATE sites SET adoption_hash=NULL, device_hash=?2, adopted_at=?3,"
                     " last_seen_at=?3, last_seen_from=?4, identity=?5, software_version=?6,"
                     " serial_number=?7, model=?8, board_name=?9, architecture_name=?10, uptime=?11"
                     " WHERE adoption_hash=?1 AND deleted_at IS NULL RETURNING " SITE_COLS);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->adoption_hash);
    bind_text(s, 2, a->device_hash);
    sqlite3_bind_int64(s, 3, now);
    bind_text(s, 4, f->from);
    bind_text(s, 5, f->identity);
    bind_text(s, 6, f->software_version);
    bind_text(s, 7, f->serial_number);
    bind_text(s, 8, f->model);
    bind_text(s, 9, f->board_name);
    bind_text(s, 10, f->architecture_name);
    if (f->uptime >= 0)
        sqlite3_bind_int64(s, 11, f->uptime);
    else
        sqlite3_bind_null(s, 11);
    int rc = sqlite3_step(s);
    enum store_result r = rc == SQLITE_ROW    ? STORE_OK
                          : rc == SQLITE_DONE ? STORE_NOT_FOUND
                                              : STORE_UNAVAILABLE;
    if (r == STORE_OK)
        row_to_site(s, a->out);
    sqlite3_finalize(s);
    if (r == STORE_OK &&
        event(q, a->out->id, now, "Site adopted from %s (identity %s, RouterOS %s)",
              f->from ? f->from : "?", f->identity ? f->identity : "?",
              f->software_version ? f->software_version : "?"))
        r = STORE_UNAVAILABLE;
    return r;
}

static enum store_result sq_site_adopt(struct store *st, const char *adoption_hash,
                                       const char *device_hash, const struct device_facts *f,
                                       struct site *out)
{
    struct adopt_arg a = {adoption_hash, device_hash, f, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct sq *)st, op_site_adopt, &a);
    if (r != STORE_OK)
        site_clear(out);
    return r;
}

/* One row of the sites table into out, by a query with one text parameter. */
static enum store_result read_site(struct sq *q, const char *sql, const char *param,
                                   struct site *out)
{
    memset(out, 0, sizeof *out);
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    sqlite3_stmt *s = prep(db, sql);
    if (s) {
        bind_text(s, 1, param);
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

static enum store_result sq_job_site(struct store *st, const char *job_id, char *site_id)
{
    struct sq *q = (struct sq *)st;
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    sqlite3_stmt *s = prep(db, "SELECT site_id FROM jobs WHERE id=?1 AND cancelled_at IS NULL");
    if (s) {
        bind_text(s, 1, job_id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            col_copy(s, 0, site_id, JP_UUID_LEN + 1);
        r = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    return r;
}

static enum store_result sq_site_by_device(struct store *st, const char *device_hash,
                                           struct site *out)
{
    return read_site((struct sq *)st, "SELECT " SITE_COLS " FROM sites WHERE device_hash=?1",
                     device_hash, out);
}

/* A one-statement site change: sql binds ?1 site id, ?2 team, ?3 value, ?4 now. */
struct site_change_arg {
    const char *sql, *site_id, *team, *value, *message;
};

static enum store_result op_site_change(struct sq *q, void *p)
{
    struct site_change_arg *a = p;
    int64_t now = now_s();
    sqlite3_stmt *s = prep(q->wdb, a->sql);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->site_id);
    bind_text(s, 2, a->team);
    bind_text(s, 3, a->value);
    sqlite3_bind_int64(s, 4, now);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return STORE_UNAVAILABLE;
    if (sqlite3_changes(q->wdb) == 0)
        return STORE_NOT_FOUND;
    return event(q, a->site_id, now, "%s", a->message) ? STORE_UNAVAILABLE : STORE_OK;
}

static enum store_result site_change(struct store *st, const char *sql, const char *site_id,
                                     const char *team, const char *value, const char *message)
{
    struct site_change_arg a = {sql, site_id, team, value, message};
    return submit((struct sq *)st, op_site_change, &a);
}

static enum store_result sq_site_rotate_device(struct store *st, const char *team,
                                               const char *site_id, const char *adoption_hash)
{
    return site_change(st,
                       "UPDATE sites SET device_hash=NULL, adoption_hash=?3, updated_at=?4"
                       " WHERE id=?1 AND team=?2 AND deleted_at IS NULL",
                       site_id, team, adoption_hash,
                       "Device token revoked; a new bootstrap line was issued");
}

static enum store_result sq_site_delete(struct store *st, const char *team, const char *site_id)
{
    return site_change(st,
                       "UPDATE sites SET deleted_at=?4, updated_at=?4, adoption_hash=NULL"
                       " WHERE id=?1 AND team=?2 AND deleted_at IS NULL AND ?3 IS NULL",
                       site_id, team, NULL, "Site deleted; the router gets a teardown script");
}

static enum store_result sq_site_teardown_done(struct store *st, const char *site_id)
{
    return site_change(st,
                       "UPDATE sites SET device_hash=NULL WHERE id=?1 AND deleted_at IS NOT NULL"
                       " AND ?2 IS NULL AND ?3 IS NULL",
                       site_id, NULL, NULL,
                       "Teardown confirmed by the router; its device token is revoked");
}

/* Heartbeats: buffered, flushed by the flusher thread once a second. */
struct hb_rec {
    struct hb_rec *next;
    char site_id[JP_UUID_LEN + 1];
    char *identity, *software_version, *serial_number, *model, *board_name, *architecture_name,
        *from;
    int64_t uptime, cpu_load, memory_free, disk_free, ts;
};

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

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

#define HB_BUFFER_MAX 200000 /* records between two flushes; more are dropped */

static void sq_heartbeat(struct store *st, const char *site_id, const struct device_facts *f,
                         int64_t now)
{
    struct sq *q = (struct sq *)st;
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
    pthread_mutex_lock(&q->hb_mu);
    if (q->hb_count >= HB_BUFFER_MAX) {
        q->hb_dropped++;
        pthread_mutex_unlock(&q->hb_mu);
        hb_free(h);
        return;
    }
    /* arrival order: a later heartbeat's facts are applied after an earlier one's */
    if (q->hb_tail)
        q->hb_tail->next = h;
    else
        q->hb_head = h;
    q->hb_tail = h;
    q->hb_count++;
    pthread_mutex_unlock(&q->hb_mu);
}

static void bind_num(sqlite3_stmt *s, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static enum store_result op_heartbeats(struct sq *q, void *p)
{
    sqlite3_stmt *u = prep(q->wdb, "UPDATE sites SET last_seen_at=max(coalesce(last_seen_at,0),?2),"
                                   " last_seen_from=coalesce(?3,last_seen_from),"
                                   " identity=coalesce(?4,identity),"
                                   " software_version=coalesce(?5,software_version),"
                                   " serial_number=coalesce(?6,serial_number),"
                                   " model=coalesce(?7,model), board_name=coalesce(?8,board_name),"
                                   " architecture_name=coalesce(?9,architecture_name),"
                                   " uptime=coalesce(?10,uptime) WHERE id=?1");
    sqlite3_stmt *i = prep(q->wdb, "INSERT INTO stats (site_id, ts, cpu_load, memory_free,"
                                   " disk_free, uptime) VALUES (?1,?2,?3,?4,?5,?6)");
    enum store_result r = (u && i) ? STORE_OK : STORE_UNAVAILABLE;
    for (struct hb_rec *h = p; h && r == STORE_OK; h = h->next) {
        sqlite3_reset(u);
        bind_text(u, 1, h->site_id);
        sqlite3_bind_int64(u, 2, h->ts);
        bind_text(u, 3, h->from);
        bind_text(u, 4, h->identity);
        bind_text(u, 5, h->software_version);
        bind_text(u, 6, h->serial_number);
        bind_text(u, 7, h->model);
        bind_text(u, 8, h->board_name);
        bind_text(u, 9, h->architecture_name);
        bind_num(u, 10, h->uptime);
        sqlite3_reset(i);
        bind_text(i, 1, h->site_id);
        sqlite3_bind_int64(i, 2, h->ts);
        bind_num(i, 3, h->cpu_load);
        bind_num(i, 4, h->memory_free);
        bind_num(i, 5, h->disk_free);
        bind_num(i, 6, h->uptime);
        if (sqlite3_step(u) != SQLITE_DONE || sqlite3_step(i) != SQLITE_DONE)
            r = STORE_UNAVAILABLE;
    }
    sqlite3_finalize(u);
    sqlite3_finalize(i);
    return r;
}

static void hb_flush(struct sq *q)
{
    pthread_mutex_lock(&q->hb_mu);
    struct hb_rec *batch = q->hb_head;
    unsigned long dropped = q->hb_dropped;
    q->hb_head = q->hb_tail = NULL;
    q->hb_count = 0;
    q->hb_dropped = 0;
    pthread_mutex_unlock(&q->hb_mu);
    if (dropped)
        log_warn("sqlite: %lu heartbeats dropped (buffer full)", dropped);
    if (!batch)
        return;
    if (submit(q, op_heartbeats, batch) != STORE_OK)
        log_warn("sqlite: a batch of heartbeats could not be written");
    hb_free(batch);
}

static void *flusher_main(void *arg)
{
    struct sq *q = arg;
    pthread_mutex_lock(&q->hb_mu);
    while (!q->hb_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&q->hb_cond, &q->hb_mu, &until);
        pthread_mutex_unlock(&q->hb_mu);
        hb_flush(q);
        pthread_mutex_lock(&q->hb_mu);
    }
    pthread_mutex_unlock(&q->hb_mu);
    hb_flush(q); /* the last second, before the writer stops */
    return NULL;
}

/* Dispatch: fails an in-flight job past its timeout, then claims the oldest
 * pending one. Runs on the writer thread, so two polls never get one job. */
struct dispatch_arg {
    const char *site_id;
    int64_t now, run_timeout;
    struct job *out;
    long remaining;
};

static int fail_timed_out(struct sq *q, const char *site_id, int64_t now, int64_t run_timeout,
                          long *count)
{
    sqlite3_stmt *s =
        prep(q->wdb, "UPDATE jobs SET failed_at=?2 WHERE delivered_at IS NOT NULL"
                     " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL"
                     " AND delivered_at <= ?2 - ?3 AND (?1 IS NULL OR site_id=?1)"
                     " RETURNING site_id, token");
    if (!s)
        return -1;
    bind_text(s, 1, site_id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, run_timeout);
    int rc;
    struct {
        char site[JP_UUID_LEN + 1], token[JP_TOKEN_LEN + 1];
    } done[64];
    int n = 0, err = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n < 64) {
            col_copy(s, 0, done[n].site, sizeof done[n].site);
            col_copy(s, 1, done[n].token, sizeof done[n].token);
        }
        n++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return -1;
    if (n > 64) { /* events are written for the first 64; the next sweep sees no more */
        log_warn("sqlite: %d jobs timed out at once; %d without an event line", n, n - 64);
    }
    for (int i = 0; i < n && i < 64 && !err; i++) {
        err =
            event(q, done[i].site, now, "Job %s failed: no report within the run timeout of %llds",
                  done[i].token, (long long)run_timeout);
        log_warn("job %s failed: no report within the run timeout of %llds", done[i].token,
                 (long long)run_timeout);
    }
    *count = n;
    return err ? -1 : 0;
}

static enum store_result op_dispatch(struct sq *q, void *p)
{
    struct dispatch_arg *a = p;
    long timed_out = 0;
    if (fail_timed_out(q, a->site_id, a->now, a->run_timeout, &timed_out))
        return STORE_UNAVAILABLE;
    sqlite3_stmt *s = prep(q->wdb, "SELECT 1 FROM jobs WHERE site_id=?1 AND delivered_at IS NOT"
                                   " NULL AND completed_at IS NULL AND failed_at IS NULL"
                                   " AND cancelled_at IS NULL LIMIT 1");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->site_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return STORE_NOT_FOUND; /* one job at a time per site */
    if (rc != SQLITE_DONE)
        return STORE_UNAVAILABLE;
    s = prep(q->wdb, "UPDATE jobs SET delivered_at=?2,"
                     " started_at=CASE WHEN needs_ack THEN NULL ELSE ?2 END,"
                     " completed_at=CASE WHEN needs_ack THEN NULL ELSE ?2 END"
                     " WHERE id=(SELECT id FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
                     " AND cancelled_at IS NULL ORDER BY id LIMIT 1) RETURNING " JOB_COLS);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->site_id);
    sqlite3_bind_int64(s, 2, a->now);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        row_to_job(s, a->out);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return STORE_UNAVAILABLE;
    s = prep(q->wdb, "SELECT count(*) FROM jobs WHERE site_id=?1 AND delivered_at IS NULL"
                     " AND cancelled_at IS NULL");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->site_id);
    a->remaining = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    const struct job *j = a->out;
    if (event(q, j->site_id, a->now, "Job %s delivered (%ld more pending)", j->token,
              a->remaining) ||
        (!j->needs_acknowledgement &&
         event(q, j->site_id, a->now, "Job %s completed at delivery (no acknowledgement needed)",
               j->token)))
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

static enum store_result sq_dispatch(struct store *st, const char *site_id, int64_t now,
                                     int64_t run_timeout, struct job *out, long *remaining)
{
    struct sq *q = (struct sq *)st;
    memset(out, 0, sizeof *out);
    /* The common case, nothing to hand out, is answered by a reader: no write. */
    sqlite3 *db = reader_get(q);
    sqlite3_stmt *s = prep(db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE site_id=?1 AND"
                               " delivered_at IS NULL AND cancelled_at IS NULL) AND NOT EXISTS"
                               " (SELECT 1 FROM jobs WHERE site_id=?1 AND delivered_at IS NOT NULL"
                               " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at"
                               " IS NULL AND delivered_at > ?2 - ?3)");
    int rc = SQLITE_ERROR, work = 0;
    if (s) {
        bind_text(s, 1, site_id);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, run_timeout);
        rc = sqlite3_step(s);
        work = rc == SQLITE_ROW && sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    if (rc != SQLITE_ROW)
        return STORE_UNAVAILABLE;
    if (!work)
        return STORE_NOT_FOUND;
    struct dispatch_arg a = {site_id, now, run_timeout, out, 0};
    enum store_result r = submit(q, op_dispatch, &a);
    if (r != STORE_OK)
        job_clear(out);
    *remaining = a.remaining;
    return r;
}

struct report_arg {
    const char *job_id;
    enum job_report report;
    int64_t now;
    struct job *out;
};

static enum store_result load_job(struct sq *q, const char *job_id, struct job *out)
{
    sqlite3_stmt *s = prep(q->wdb, "SELECT " JOB_COLS " FROM jobs WHERE id=?1 AND cancelled_at"
                                   " IS NULL");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, job_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        row_to_job(s, out);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
}

static enum store_result op_job_report(struct sq *q, void *p)
{
    static const char *const names[] = {"busy", "done", "fail"};
    struct report_arg a_ = *(struct report_arg *)p, *a = &a_;
    struct job *j = a->out;
    enum store_result r = load_job(q, a->job_id, j);
    if (r != STORE_OK)
        return r;
    enum job_status was = job_status_of(j);
    if (was == JOB_COMPLETED || was == JOB_FAILED) {
        return event(q, j->site_id, a->now, "Job %s: report '%s' ignored, the job already %s",
                     j->token, names[a->report], was == JOB_COMPLETED ? "completed" : "failed")
                   ? STORE_UNAVAILABLE
                   : STORE_CONFLICT;
    }
    if (a->report == REPORT_BUSY && was == JOB_RUNNING)
        return STORE_OK; /* repeated busy: nothing changes */
    static const char *const sql[] = {
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=?2 WHERE id=?1",
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=coalesce(started_at,"
        "?2), completed_at=?2 WHERE id=?1",
        "UPDATE jobs SET delivered_at=coalesce(delivered_at,?2), started_at=coalesce(started_at,"
        "?2), failed_at=?2 WHERE id=?1",
    };
    static const char *const what[] = {"started (busy)", "completed (done)", "failed (fail)"};
    sqlite3_stmt *s = prep(q->wdb, sql[a->report]);
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    sqlite3_bind_int64(s, 2, a->now);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE || event(q, j->site_id, a->now, "Job %s %s", j->token, what[a->report]))
        return STORE_UNAVAILABLE;
    job_clear(j);
    return load_job(q, a->job_id, j);
}

static enum store_result sq_job_report(struct store *st, const char *job_id, enum job_report rep,
                                       int64_t now, struct job *out)
{
    struct report_arg a = {job_id, rep, now, out};
    memset(out, 0, sizeof *out);
    enum store_result r = submit((struct sq *)st, op_job_report, &a);
    if (r != STORE_OK && r != STORE_CONFLICT)
        job_clear(out);
    return r;
}

struct sweep_arg {
    int64_t now, run_timeout;
    long count;
};

static enum store_result op_sweep(struct sq *q, void *p)
{
    struct sweep_arg *a = p;
    return fail_timed_out(q, NULL, a->now, a->run_timeout, &a->count) ? STORE_UNAVAILABLE
                                                                      : STORE_OK;
}

static long sq_sweep_timeouts(struct store *st, int64_t now, int64_t run_timeout)
{
    struct sq *q = (struct sq *)st;
    sqlite3 *db = reader_get(q);
    sqlite3_stmt *s = prep(db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE delivered_at IS NOT NULL"
                               " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at"
                               " IS NULL AND delivered_at <= ?1 - ?2)");
    int due = 0;
    if (s) {
        sqlite3_bind_int64(s, 1, now);
        sqlite3_bind_int64(s, 2, run_timeout);
        due = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    reader_put(q, db);
    if (!due)
        return 0;
    struct sweep_arg a = {now, run_timeout, 0};
    return submit(q, op_sweep, &a) == STORE_OK ? a.count : 0;
}

struct chunk_arg {
    const char *site_id, *job_id, *data;
    int64_t offset, total, now;
    size_t len;
    char *filename;
};

static enum store_result op_backup_chunk(struct sq *q, void *p)
{
    struct chunk_arg *a = p;
    struct job j;
    enum store_result r = load_job(q, a->job_id, &j);
    if (r != STORE_OK)
        return r;
    bool ok = !strcmp(j.site_id, a->site_id) && j.should_backup && !j.associated_backup;
    char token[JP_TOKEN_LEN + 1];
    memcpy(token, j.token, sizeof token);
    job_clear(&j);
    if (!ok)
        return STORE_NOT_FOUND;
    /* What arrived so far must end exactly at this chunk's offset. */
    sqlite3_stmt *s = prep(q->wdb, "SELECT coalesce(sum(length(data)),0), min(total),"
                                   " max(total) FROM backup_chunks WHERE job_id=?1");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    int64_t have = -1, tmin = 0, tmax = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        have = sqlite3_column_int64(s, 0);
        tmin = sqlite3_column_int64(s, 1);
        tmax = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    if (have < 0)
        return STORE_UNAVAILABLE;
    if (have != a->offset || (have > 0 && (tmin != a->total || tmax != a->total)) ||
        a->offset + (int64_t)a->len > a->total)
        return STORE_CONFLICT;
    s = prep(q->wdb, "INSERT INTO backup_chunks (job_id, site_id, offset, total, data)"
                     " VALUES (?1,?2,?3,?4,?5)");
    if (!s)
        return STORE_UNAVAILABLE;
    bind_text(s, 1, a->job_id);
    bind_text(s, 2, a->site_id);
    sqlite3_bind_int64(s, 3, a->offset);
    sqlite3_bind_int64(s, 4, a->total);
    sqlite3_bind_blob(s, 5, a->data, (int)a->len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return STORE_UNAVAILABLE;
    if (a->offset + (int64_t)a->len < a->total)
        return STORE_OK;
    /* Complete: assemble, store as {unix}.rsc (the next free second), link the job. */
    int64_t ts = a->now;
    for (;; ts++) {
        snprintf(a->filename, 64, "%lld.rsc", (long long)ts);
        s = prep(q->wdb, "SELECT 1 FROM backups WHERE site_id=?1 AND filename=?2");
        if (!s)
            return STORE_UNAVAILABLE;
        bind_text(s, 1, a->site_id);
        bind_text(s, 2, a->filename);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return STORE_UNAVAILABLE;
    }
    char assoc[JP_UUID_LEN + 72];
    snprintf(assoc, sizeof assoc, "%s/%s", a->site_id, a->filename);
    if (exec_bound(q->wdb,
                   "INSERT INTO backups (site_id, filename, job_id, size, created_at, content)"
                   " SELECT ?1, ?2, ?3, sum(length(data)), ?4, CAST(group_concat(data, '') AS BLOB)"
                   " FROM (SELECT data FROM backup_chunks WHERE job_id=?3 ORDER BY offset)",
                   a->site_id, a->filename, a->job_id, ts) ||
        exec_bound(q->wdb,
                   "DELETE FROM backup_chunks WHERE job_id=?3 AND ?1 IS NOT NULL AND ?2"
                   " IS NOT NULL AND ?4 IS NOT NULL",
                   a->site_id, a->filename, a->job_id, ts) ||
        exec_bound(q->wdb,
                   "UPDATE jobs SET associated_backup=?2 WHERE id=?3 AND ?1 IS NOT NULL"
                   " AND ?4 IS NOT NULL",
                   a->site_id, assoc, a->job_id, ts) ||
        event(q, a->site_id, a->now, "Job %s backup stored as %s (%lld bytes)", token, assoc,
              (long long)a->total))
        return STORE_UNAVAILABLE;
    return STORE_CREATED;
}

static enum store_result sq_backup_chunk(struct store *st, const char *site_id, const char *job_id,
                                         int64_t offset, int64_t total, const char *data,
                                         size_t len, int64_t now, char filename[64])
{
    struct chunk_arg a = {site_id, job_id, data, offset, total, now, len, filename};
    filename[0] = '\0';
    return submit((struct sq *)st, op_backup_chunk, &a);
}

/* Site-scoped reads for operators: ownership and rows in one snapshot. The
 * row callback copies one row into the growing array. */
typedef int (*row_fn)(sqlite3_stmt *s, void *items, size_t i);

static enum store_result read_rows(struct sq *q, const char *team, const char *site_id,
                                   sqlite3_stmt *(*build)(sqlite3 *, void *), void *ctx,
                                   size_t item_size, row_fn fn, void **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    size_t cap = 0;
    sqlite3 *db = reader_get(q);
    enum store_result r = STORE_UNAVAILABLE;
    if (exec(db, "BEGIN") != SQLITE_OK)
        goto out;
    int owned = site_owned(db, team, site_id, true);
    if (owned <= 0) {
        r = owned < 0 ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
        goto rollback;
    }
    sqlite3_stmt *s = build(db, ctx);
    if (!s)
        goto rollback;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            void *grown = realloc(*items, cap * item_size);
            if (!grown)
                break;
            *items = grown;
        }
        if (fn(s, *items, (*n)++))
            break;
    }
    if (rc == SQLITE_DONE)
        r = STORE_OK;
    sqlite3_finalize(s);
rollback:
    exec(db, "ROLLBACK");
out:
    reader_put(q, db);
    return r;
}

struct backup_query {
    const char *site_id, *filename;
};

static sqlite3_stmt *build_backups(sqlite3 *db, void *ctx)
{
    struct backup_query *bq = ctx;
    sqlite3_stmt *s =
        prep(db, bq->filename ? "SELECT filename, size, created_at, content FROM backups"
                                " WHERE site_id=?1 AND filename=?2"
                              : "SELECT filename, size, created_at, NULL FROM backups"
                                " WHERE site_id=?1 ORDER BY created_at DESC, filename DESC");
    if (s) {
        bind_text(s, 1, bq->site_id);
        if (bq->filename)
            bind_text(s, 2, bq->filename);
    }
    return s;
}

static int row_backup(sqlite3_stmt *s, void *items, size_t i)
{
    struct backup_info *b = (struct backup_info *)items + i;
    memset(b, 0, sizeof *b);
    col_copy(s, 0, b->filename, sizeof b->filename);
    b->size = sqlite3_column_int64(s, 1);
    b->created_at = sqlite3_column_int64(s, 2);
    if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
        int len = sqlite3_column_bytes(s, 3);
        b->content = malloc((size_t)len + 1);
        if (!b->content)
            return -1;
        memcpy(b->content, sqlite3_column_blob(s, 3), (size_t)len);
        b->content[len] = '\0';
    }
    return 0;
}

static enum store_result sq_backup_list(struct store *st, const char *team, const char *site_id,
                                        struct backup_list *out)
{
    struct backup_query bq = {site_id, NULL};
    void *items;
    enum store_result r = read_rows((struct sq *)st, team, site_id, build_backups, &bq,
                                    sizeof(struct backup_info), row_backup, &items, &out->n);
    out->items = items;
    if (r != STORE_OK)
        backup_list_clear(out);
    return r;
}

static enum store_result sq_backup_get(struct store *st, const char *team, const char *site_id,
                                       const char *filename, struct backup_info *out)
{
    struct backup_query bq = {site_id, filename};
    struct backup_list l;
    void *items;
    memset(out, 0, sizeof *out);
    enum store_result r = read_rows((struct sq *)st, team, site_id, build_backups, &bq,
                                    sizeof(struct backup_info), row_backup, &items, &l.n);
    l.items = items;
    if (r == STORE_OK && l.n == 0)
        r = STORE_NOT_FOUND;
    if (r == STORE_OK) {
        *out = l.items[0];
        l.items[0].content = NULL;
    }
    backup_list_clear(&l);
    return r;
}

struct stats_query {
    const char *site_id;
    int64_t from, to;
    bool hourly;
};

static sqlite3_stmt *build_stats(sqlite3 *db, void *ctx)
{
    struct stats_query *sq = ctx;
    sqlite3_stmt *s =
        prep(db, sq->hourly ? "SELECT (ts/3600)*3600 AS h, CAST(avg(cpu_load) AS INTEGER),"
                              " CAST(avg(memory_free) AS INTEGER), CAST(avg(disk_free) AS INTEGER),"
                              " max(uptime) FROM stats WHERE site_id=?1 AND ts>=?2 AND ts<?3"
                              " GROUP BY h ORDER BY h"
                            : "SELECT ts, cpu_load, memory_free, disk_free, uptime FROM stats"
                              " WHERE site_id=?1 AND ts>=?2 AND ts<?3 ORDER BY ts LIMIT 100000");
    if (s) {
        bind_text(s, 1, sq->site_id);
        sqlite3_bind_int64(s, 2, sq->from);
        sqlite3_bind_int64(s, 3, sq->to);
    }
    return s;
}

static int64_t col_num(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

static int row_stat(sqlite3_stmt *s, void *items, size_t i)
{
    struct stat_point *p = (struct stat_point *)items + i;
    p->created_at = sqlite3_column_int64(s, 0);
    p->cpu_load = col_num(s, 1);
    p->memory_free = col_num(s, 2);
    p->disk_free = col_num(s, 3);
    p->uptime = col_num(s, 4);
    return 0;
}

static enum store_result sq_stats(struct store *st, const char *team, const char *site_id,
                                  int64_t from, int64_t to, bool hourly, struct stat_list *out)
{
    struct stats_query sq = {site_id, from, to, hourly};
    void *items;
    enum store_result r = read_rows((struct sq *)st, team, site_id, build_stats, &sq,
                                    sizeof(struct stat_point), row_stat, &items, &out->n);
    out->items = items;
    if (r != STORE_OK) {
        free(out->items);
        out->items = NULL;
        out->n = 0;
    }
    return r;
}

struct logs_query {
    const char *site_id, *text;
    int64_t from, to;
};

static sqlite3_stmt *build_logs(sqlite3 *db, void *ctx)
{
    struct logs_query *lq = ctx;
    sqlite3_stmt *s = prep(db, "SELECT ts, message FROM events WHERE site_id=?1 AND ts>=?2"
                               " AND ts<=?3 AND (?4 IS NULL OR instr(message, ?4) > 0)"
                               " ORDER BY id LIMIT 10000");
    if (s) {
        bind_text(s, 1, lq->site_id);
        sqlite3_bind_int64(s, 2, lq->from);
        sqlite3_bind_int64(s, 3, lq->to);
        bind_text(s, 4, lq->text);
    }
    return s;
}

static int row_log(sqlite3_stmt *s, void *items, size_t i)
{
    struct log_entry *e = (struct log_entry *)items + i;
    e->timestamp = sqlite3_column_int64(s, 0);
    e->message = col_str(s, 1);
    return e->message ? 0 : -1;
}

static enum store_result sq_logs(struct store *st, const char *team, const char *site_id,
                                 int64_t from, int64_t to, const char *text, struct log_list *out)
{
    struct logs_query lq = {site_id, text, from, to};
    void *items;
    enum store_result r = read_rows((struct sq *)st, team, site_id, build_logs, &lq,
                                    sizeof(struct log_entry), row_log, &items, &out->n);
    out->items = items;
    if (r != STORE_OK)
        log_list_clear(out);
    return r;
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
        snprintf(err, errlen, "cannot open %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
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
    pthread_mutex_lock(&q->hb_mu); /* the flusher writes the last heartbeats first */
    q->hb_stopping = true;
    pthread_cond_signal(&q->hb_cond);
    pthread_mutex_unlock(&q->hb_mu);
    pthread_join(q->flusher, NULL);
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
    pthread_mutex_destroy(&q->hb_mu);
    pthread_cond_destroy(&q->hb_cond);
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
    .job_site = sq_job_site,
    .site_adopt = sq_site_adopt,
    .site_by_device = sq_site_by_device,
    .site_rotate_device = sq_site_rotate_device,
    .site_delete = sq_site_delete,
    .site_teardown_done = sq_site_teardown_done,
    .heartbeat = sq_heartbeat,
    .dispatch = sq_dispatch,
    .job_report = sq_job_report,
    .sweep_timeouts = sq_sweep_timeouts,
    .backup_chunk = sq_backup_chunk,
    .backup_list = sq_backup_list,
    .backup_get = sq_backup_get,
    .stats = sq_stats,
    .logs = sq_logs,
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
    pthread_mutex_init(&q->hb_mu, NULL);
    pthread_cond_init(&q->hb_cond, NULL);
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
    if (pthread_create(&q->flusher, NULL, flusher_main, q)) {
        pthread_mutex_lock(&q->mu);
        q->stopping = true;
        pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->writer, NULL);
        snprintf(err, errlen, "cannot start the heartbeat flusher");
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
