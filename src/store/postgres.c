/* The PostgreSQL driver (libpq). Several jobplane processes share one
 * database: migrations run under an advisory lock, ids compare byte-wise
 * (COLLATE "C", so keyset paging and UUIDv7 order agree), a job queued by any
 * process is announced with NOTIFY, and a listener thread per process turns
 * those into wakes of its held polls. A broken connection is re-established
 * on its next use; until then requests answer 503. */
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "store/db.h"

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define MAX_ARGS 24
#define NOTIFY_CHANNEL "jobplane_jobs"

#define STMT_CACHE 128
#define PEND_MAX 256 /* queued statements before the writer reads their results */

/* A statement prepared on this connection (parsed and planned once). */
struct stmt {
    char *sql; /* the translated text: the key */
    int n;
    Oid types[MAX_ARGS];
};

/* The writer's connection runs in pipeline mode: statements whose result
 * nobody reads (run_later: SAVEPOINT, event lines, heartbeats, NOTIFY) are
 * sent and not waited for; the next statement whose result is read carries
 * them to the server, and their results are read before its own. A queued
 * statement that fails makes that statement fail too (the server skips
 * everything after an error until the next Sync), so no failure goes
 * unnoticed; the engine then undoes the operation (engine.c). */
struct pend {
    short slot; /* PREPARE of this cache slot, or -1: a queued statement */
};

struct db {
    PGconn *c;
    bool relaxed, writer;
    bool pipe;  /* in pipeline mode (the writer, once migrated) */
    bool in_tx; /* pipe: between BEGIN and COMMIT or ROLLBACK */
    long changes;
    struct stmt cache[STMT_CACHE]; /* slot i is the prepared statement "s<i>" */
    unsigned next;                 /* the slot the next miss replaces */
    struct pend pend[PEND_MAX];    /* pipe: results not read yet, in order */
    int npend;
    bool failed; /* pipe: a queued statement failed; the next read statement fails */
};

/* Forgets every prepared statement (a new session has none). */
static void cache_clear(struct db *d)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        free(d->cache[i].sql);
        d->cache[i].sql = NULL;
    }
}

static void pend_add(struct db *d, int slot)
{
    d->pend[d->npend++].slot = (short)slot;
}

/* The name of q prepared with these types, preparing it on a miss; NULL when
 * it cannot be (then the statement runs unprepared, or *failed is the failed
 * PREPARE's result: the statement is wrong). In pipeline mode the PREPARE is
 * queued: its failure shows when its result is read (pipe_read). */
static const char *prepared(struct db *d, const char *q, int n, const Oid *types, char name[16],
                            PGresult **failed)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        struct stmt *st = &d->cache[i];
        if (st->sql && st->n == n && !memcmp(st->types, types, sizeof *types * (size_t)n) &&
            !strcmp(st->sql, q)) {
            snprintf(name, 16, "s%d", i);
            return name;
        }
    }
    if (!d->pipe && PQtransactionStatus(d->c) == PQTRANS_INERROR)
        return NULL;
    char *copy = strdup(q);
    if (!copy)
        return NULL;
    int slot = (int)(d->next++ % STMT_CACHE);
    struct stmt *st = &d->cache[slot];
    snprintf(name, 16, "s%d", slot);
    if (st->sql) { /* evict: the name is reused */
        char sql[32];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
        if (!d->pipe)
            PQclear(PQexec(d->c, sql));
        else if (PQsendQueryParams(d->c, sql, 0, NULL, NULL, NULL, NULL, 0))
            pend_add(d, -1);
        free(st->sql);
        st->sql = NULL;
    }
    if (d->pipe) {
        if (!PQsendPrepare(d->c, name, q, n, types)) {
            free(copy);
            return NULL;
        }
        pend_add(d, slot);
    } else {
        PGresult *r = PQprepare(d->c, name, q, n, types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            *failed = r;
            free(copy);
            return NULL;
        }
        PQclear(r);
    }
    st->sql = copy;
    st->n = n;
    memcpy(st->types, types, sizeof *types * (size_t)n);
    return name;
}

/* Runs q (prepared when it has parameters: statements without any are
 * transaction control and schema changes). */
static PGresult *exec(struct db *d, const char *q, int n, const Oid *types,
                      const char *const *values, const int *lengths, const int *formats)
{
    char name[16];
    PGresult *failed = NULL;
    if (n > 0 && prepared(d, q, n, types, name, &failed))
        return PQexecPrepared(d->c, name, n, values, lengths, formats, 0);
    if (failed)
        return failed;
    return PQexecParams(d->c, q, n, types, values, lengths, formats, 0);
}

/* ---- pipeline mode (the writer) --------------------------------------- */

static void log_result_error(const PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage(r) : "no result";
    log_error("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Sends q without waiting; 0 or -1 (the connection is broken). */
static int pipe_send(struct db *d, const char *q, int n, const Oid *types,
                     const char *const *values, const int *lengths, const int *formats)
{
    char name[16];
    PGresult *failed = NULL;
    const char *nm = n > 0 ? prepared(d, q, n, types, name, &failed) : NULL;
    return (nm ? PQsendQueryPrepared(d->c, nm, n, values, lengths, formats, 0)
               : PQsendQueryParams(d->c, q, n, types, values, lengths, formats, 0))
               ? 0
               : -1;
}

/* One command's result, and the NULL that ends it. */
static PGresult *pipe_result(struct db *d)
{
    PGresult *r = PQgetResult(d->c), *more;
    while (r && (more = PQgetResult(d->c)) != NULL)
        PQclear(more);
    return r;
}

/* Reads the results of the queued statements (a flush or a Sync must have
 * been sent after them); false when one failed (logged). A failed PREPARE
 * leaves its cache slot empty. */
static bool pipe_read(struct db *d)
{
    bool ok = true;
    for (int i = 0; i < d->npend; i++) {
        PGresult *r = pipe_result(d);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (st != PGRES_PIPELINE_ABORTED)
                log_result_error(r);
            if (d->pend[i].slot >= 0) {
                free(d->cache[d->pend[i].slot].sql);
                d->cache[d->pend[i].slot].sql = NULL;
            }
            ok = false;
        }
        PQclear(r);
    }
    d->npend = 0;
    return ok;
}

/* Reads up to the result of a Sync already sent: the server accepts
 * commands again after an error. */
static void pipe_synced(struct db *d)
{
    for (;;) {
        PGresult *r = PQgetResult(d->c);
        if (!r) {
            if (PQstatus(d->c) != CONNECTION_OK)
                return;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            return;
    }
}

/* After an error the server skips every command up to the next Sync. */
static void pipe_recover(struct db *d)
{
    if (PQpipelineSync(d->c) == 1)
        pipe_synced(d);
}

/* Leaves pipeline mode's state as a new connection has it. */
static void pipe_reset(struct db *d)
{
    d->pipe = d->in_tx = d->failed = false;
    d->npend = 0;
}

/* The schema: pg_schema.c. */
extern const char *const pg_migrations[JP_SCHEMA_VERSION];

static void quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res; /* NOTICEs (e.g. "relation exists") are not errors */
}

static int session_setup(struct db *d)
{
    PGresult *r =
        PQexec(d->c, d->relaxed && d->writer ? "SET synchronous_commit = off" : "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static struct db *pg_connect(const char *url, bool writer, bool relaxed, char *err, size_t errlen)
{
    struct db *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->writer = writer;
    d->relaxed = relaxed;
    d->c = PQconnectdb(url);
    if (PQstatus(d->c) != CONNECTION_OK || session_setup(d)) {
        /* libpq's message may name host and user, never the password */
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 d->c ? PQerrorMessage(d->c) : "out of memory");
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n'))
            err[--n] = '\0';
        PQfinish(d->c);
        free(d);
        return NULL;
    }
    PQsetNoticeReceiver(d->c, quiet, NULL);
    return d;
}

static void pg_close(struct db *d)
{
    cache_clear(d);
    PQfinish(d->c);
    free(d);
}

static int pg_check(struct db *d)
{
    if (PQstatus(d->c) == CONNECTION_OK)
        return 0;
    PQreset(d->c);
    cache_clear(d);
    pipe_reset(d);
    if (PQstatus(d->c) != CONNECTION_OK || session_setup(d))
        return -1;
    log_info("postgres: reconnected");
    return 0;
}

/* ?N placeholders become $N. Returns a malloc'ed string. */
static char *translate(const char *sql)
{
    char *out = strdup(sql);
    for (char *p = out; p && *p; p++)
        if (*p == '?' && p[1] >= '1' && p[1] <= '9')
            *p = '$';
    return out;
}

struct params {
    Oid types[MAX_ARGS];
    const char *values[MAX_ARGS];
    int lengths[MAX_ARGS], formats[MAX_ARGS];
    char nums[MAX_ARGS][24];
};

static void params_of(const struct db_arg *args, int n, struct params *p)
{
    for (int i = 0; i < n; i++) {
        const struct db_arg *a = &args[i];
        p->lengths[i] = 0;
        p->formats[i] = 0;
        p->values[i] = NULL;
        switch (a->kind) {
        case DB_ARG_TEXT:
            p->types[i] = OID_TEXT;
            p->values[i] = a->p;
            break;
        case DB_ARG_INT:
            p->types[i] = OID_INT8;
            snprintf(p->nums[i], sizeof p->nums[i], "%lld", (long long)a->i);
            p->values[i] = p->nums[i];
            break;
        case DB_ARG_BLOB:
            p->types[i] = OID_BYTEA;
            p->values[i] = a->p;
            p->lengths[i] = (int)a->len;
            p->formats[i] = 1;
            break;
        case DB_ARG_NULL_INT: p->types[i] = OID_INT8; break;
        default: p->types[i] = OID_TEXT;
        }
    }
}

static bool result_ok(const PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

/* Pipeline mode: sends q, then reads the queued statements' results and its
 * own. *queued_ok is false when a queued one failed (q then failed too). A
 * statement outside a transaction, COMMIT and ROLLBACK end with a Sync (that
 * is what commits an implicit transaction); others only ask the server to
 * flush its answers. */
static PGresult *pipe_exec(struct db *d, const char *sql, const char *q, int n,
                           const struct params *p, bool *queued_ok)
{
    bool begin = !strcmp(sql, "BEGIN");
    bool end = !strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK");
    bool sync = end || (!d->in_tx && !begin);
    *queued_ok = false;
    if (pipe_send(d, q, n, p->types, p->values, p->lengths, p->formats) ||
        (sync ? PQpipelineSync(d->c) != 1 : !PQsendFlushRequest(d->c) || PQflush(d->c))) {
        pipe_reset(d); /* broken: nothing more comes back */
        return NULL;
    }
    *queued_ok = pipe_read(d) && !d->failed;
    d->failed = false;
    PGresult *r = pipe_result(d);
    bool ok = result_ok(r);
    if (sync)
        pipe_synced(d);
    else if (!ok)
        pipe_recover(d);
    if (begin)
        d->in_tx = ok;
    if (end)
        d->in_tx = false;
    return r;
}

/* One statement, prepared: through the pipeline on the writer. */
static PGresult *run_one(struct db *d, const char *sql, const char *q, int n,
                         const struct params *p, bool *queued_ok)
{
    *queued_ok = true;
    if (d->writer && !d->pipe && PQenterPipelineMode(d->c))
        d->pipe = true;
    if (d->pipe)
        return pipe_exec(d, sql, q, n, p, queued_ok);
    return exec(d, q, n, p->types, p->values, p->lengths, p->formats);
}

static enum db_status pg_run(struct db *d, const char *sql, const struct db_arg *args, int n,
                             struct db_res **res)
{
    if (res)
        *res = NULL;
    if (n > MAX_ARGS)
        return DB_ERROR;
    struct params p;
    params_of(args, n, &p);
    char *q = translate(sql);
    if (!q)
        return DB_ERROR;
    /* libpq notices a dead connection (a database restart) only when a
     * statement fails on it. Outside a transaction nothing was lost: reconnect
     * and run the statement once more, so a restart costs no failed request. */
    bool idle = d->pipe ? !d->in_tx : PQtransactionStatus(d->c) == PQTRANS_IDLE;
    bool queued_ok;
    PGresult *r = run_one(d, sql, q, n, &p, &queued_ok);
    if (!result_ok(r) && idle && PQstatus(d->c) != CONNECTION_OK && pg_check(d) == 0) {
        PQclear(r);
        r = run_one(d, sql, q, n, &p, &queued_ok);
    }
    free(q);
    enum db_status status = DB_OK;
    if (!result_ok(r) || !queued_ok) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        status = queued_ok && state && !strcmp(state, "23505") ? DB_UNIQUE : DB_ERROR;
        if (status == DB_ERROR && (!r || PQresultStatus(r) != PGRES_PIPELINE_ABORTED))
            log_result_error(r);
    }
    /* COMMIT of a transaction a statement failed in succeeds, as a ROLLBACK:
     * that is a failed commit. */
    if (status == DB_OK && !strcmp(sql, "COMMIT") && strcmp(PQcmdStatus(r), "COMMIT")) {
        log_error("postgres: COMMIT answered %s", PQcmdStatus(r));
        status = DB_ERROR;
    }
    d->changes = status == DB_OK ? atol(PQcmdTuples(r)) : 0;
    if (status == DB_OK && res) {
        int rows = PQntuples(r), cols = PQnfields(r);
        struct db_res *out = db_res_new((size_t)cols);
        for (int i = 0; out && i < rows; i++)
            for (int c = 0; c < cols; c++) {
                bool null = PQgetisnull(r, i, c);
                const char *v = PQgetvalue(r, i, c);
                size_t len = (size_t)PQgetlength(r, i, c);
                unsigned char *raw = NULL;
                if (!null && PQftype(r, c) == OID_BYTEA) { /* text form is hex: decode */
                    raw = PQunescapeBytea((const unsigned char *)v, &len);
                    v = (const char *)raw;
                }
                if (db_res_add(out, v, len, null))
                    status = DB_ERROR;
                PQfreemem(raw);
            }
        if (!out)
            status = DB_ERROR;
        if (status == DB_OK)
            *res = out;
        else
            db_res_free(out);
    }
    PQclear(r);
    return status;
}

/* A statement whose result nobody reads (pipeline mode, in a transaction):
 * queued; a failure fails the next statement that is read. Elsewhere it runs
 * at once. */
static enum db_status pg_run_later(struct db *d, const char *sql, const struct db_arg *args, int n)
{
    if (!d->pipe || !d->in_tx)
        return pg_run(d, sql, args, n, NULL);
    if (n > MAX_ARGS)
        return DB_ERROR;
    if (d->npend + 3 > PEND_MAX) { /* a DEALLOCATE, a PREPARE and the statement must fit */
        if (!PQsendFlushRequest(d->c) || PQflush(d->c)) {
            pipe_reset(d);
            return DB_ERROR;
        }
        if (!pipe_read(d)) {
            d->failed = true;
            pipe_recover(d);
        }
    }
    struct params p;
    params_of(args, n, &p);
    char *q = translate(sql);
    if (!q)
        return DB_ERROR;
    int rc = pipe_send(d, q, n, p.types, p.values, p.lengths, p.formats);
    free(q);
    if (rc) {
        pipe_reset(d);
        return DB_ERROR;
    }
    pend_add(d, -1);
    return DB_OK;
}

static long pg_changes(struct db *d)
{
    return d->changes;
}

static int simple(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        const char *msg = PQresultErrorMessage(r);
        log_error("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int pg_migrate(struct db *d, char *err, size_t errlen)
{
    const int latest = JP_SCHEMA_VERSION;
    /* One node migrates at a time; the others wait and then find it done. */
    if (simple(d->c, "SELECT pg_advisory_lock(7277001)") ||
        simple(d->c, "CREATE TABLE IF NOT EXISTS jobplane_schema (version INTEGER NOT NULL)")) {
        snprintf(err, errlen, "cannot prepare migrations: %s", PQerrorMessage(d->c));
        return -1;
    }
    int rc = 0;
    PGresult *r = PQexec(d->c, "SELECT coalesce(max(version), 0) FROM jobplane_schema");
    int version = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    if (version < 0 || version > latest) {
        snprintf(err, errlen, "database schema version %d is unknown to this jobplane (latest %d)",
                 version, latest);
        rc = -1;
    }
    for (int v = version; rc == 0 && v < latest; v++) {
        char record[96];
        snprintf(record, sizeof record, "INSERT INTO jobplane_schema VALUES (%d)", v + 1);
        if (simple(d->c, "BEGIN") || simple(d->c, pg_migrations[v]) || simple(d->c, record) ||
            simple(d->c, "COMMIT")) {
            simple(d->c, "ROLLBACK");
            snprintf(err, errlen, "migration %d failed", v + 1);
            rc = -1;
        } else {
            log_info("postgres: applied migration %d", v + 1);
        }
    }
    simple(d->c, "SELECT pg_advisory_unlock(7277001)");
    return rc;
}

/* ---- the listener ----------------------------------------------------- */

struct listener {
    char *url;
    void (*fn)(void *, const char *);
    void (*up)(void *, bool);
    void *ctx;
    pthread_t thread;
    int stop_pipe[2]; /* a byte here stops the thread */
};

static void *listener_main(void *arg)
{
    struct listener *l = arg;
    PGconn *c = NULL;
    bool warned = false;
    /* A peer that vanishes without closing is noticed within about 10 s
     * (TCP keepalives and a user timeout), not the system's two hours. */
    const char *const keys[] = {"dbname",           "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", NULL};
    const char *const values[] = {l->url, "4", "2", "3", "10000", NULL};
    for (;;) {
        if (c && PQstatus(c) != CONNECTION_OK) {
            l->up(l->ctx, false);
            PQfinish(c);
            c = NULL;
        }
        if (!c) {
            c = PQconnectdbParams(keys, values, 1);
            if (PQstatus(c) != CONNECTION_OK || simple(c, "LISTEN " NOTIFY_CHANNEL)) {
                if (!warned)
                    log_warn("postgres: listener cannot connect; retrying every second");
                warned = true;
                PQfinish(c);
                c = NULL;
            } else {
                if (warned)
                    log_info("postgres: listener connected again");
                warned = false;
                l->up(l->ctx, true); /* from here on no announcement is missed */
            }
        }
        struct pollfd p[2] = {{l->stop_pipe[0], POLLIN, 0}, {c ? PQsocket(c) : -1, POLLIN, 0}};
        int n = poll(p, c ? 2 : 1, 1000);
        if (n > 0 && p[0].revents)
            break;
        if (!c || n <= 0)
            continue;
        if (!PQconsumeInput(c)) {
            l->up(l->ctx, false); /* broken: reconnect on the next turn */
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *note;
        while ((note = PQnotifies(c)) != NULL) {
            /* the ids of one commit, comma-separated (engine.c notify_all) */
            for (char *id = note->extra, *end; *id; id = *end ? end + 1 : end) {
                end = id + strcspn(id, ",");
                char save = *end;
                *end = '\0';
                if (*id)
                    l->fn(l->ctx, id);
                *end = save;
            }
            PQfreemem(note);
        }
    }
    PQfinish(c);
    return NULL;
}

static void *pg_listen_start(const char *url, void (*fn)(void *, const char *),
                             void (*up)(void *, bool), void *ctx)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l || !(l->url = strdup(url)) || pipe(l->stop_pipe)) {
        if (l)
            free(l->url);
        free(l);
        return NULL;
    }
    l->fn = fn;
    l->up = up;
    l->ctx = ctx;
    if (pthread_create(&l->thread, NULL, listener_main, l)) {
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        free(l->url);
        free(l);
        return NULL;
    }
    return l;
}

static void pg_listen_stop(void *arg)
{
    struct listener *l = arg;
    if (!l)
        return;
    if (write(l->stop_pipe[1], "x", 1) != 1)
        log_warn("postgres: cannot signal the listener");
    pthread_join(l->thread, NULL);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l->url);
    free(l);
}

const struct db_driver db_postgres = {
    .dialect = DB_POSTGRES,
    .connect = pg_connect,
    .close = pg_close,
    .check = pg_check,
    .run = pg_run,
    .run_later = pg_run_later,
    .changes = pg_changes,
    .migrate = pg_migrate,
    .begin_write = "BEGIN",
    .notify_sql = "SELECT pg_notify('" NOTIFY_CHANNEL "', ?1)",
    .listen_start = pg_listen_start,
    .listen_stop = pg_listen_stop,
};
