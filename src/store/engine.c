/* The store's write engine, written once for every SQL driver (db.h).
 *
 * Writes: writer threads own the read-write connections (one on SQLite,
 * whose database has one write lock; several on PostgreSQL). Handlers queue
 * a write operation (a function and its argument) and wait, or go on
 * (store_async); a free writer takes every queued operation at once, runs
 * them in one transaction, commits (fsync) and answers them all. Concurrent
 * writes share one commit (group commit). A batch first runs without
 * savepoints; if an operation fails, the batch is rolled back and run again
 * with each operation in its own savepoint, so the failed one is undone
 * alone (run_batch). On SQLite writes are serialised, so an idempotency
 * check-then-insert needs no more locking; across PostgreSQL writers and
 * nodes, unique indexes, guarded updates and locks keep the same guarantees
 * (sql_jobs.c).
 *
 * Reads use a small pool of connections and see committed data only.
 *
 * Heartbeats are buffered in memory and written by a flusher thread once a
 * second (heartbeats.c). */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "store/engine.h"

struct wop {
    store_op fn; /* runs on the writer thread */
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

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t eng_now(void)
{
    return (int64_t)time(NULL);
}

int eng_random(unsigned char *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* The writer this thread is (NULL on every other thread). */
static __thread struct writer *self;

struct db *eng_wdb(struct store *s)
{
    (void)s;
    return self->db;
}

int eng_new_id(struct store *s, char id[JP_UUID_LEN + 1])
{
    unsigned char rnd[JP_UUID7_RANDOM_BYTES];
    if (eng_random(rnd, sizeof rnd))
        return -1;
    pthread_mutex_lock(&s->id_mu);
    uuid7_next(&s->idgen, now_ms(), rnd, id);
    pthread_mutex_unlock(&s->id_mu);
    return 0;
}

int eng_exec(struct store *s, struct db *c, const char *sql)
{
    return s->drv->run(c, sql, NULL, 0, NULL) == DB_OK ? 0 : -1;
}

enum db_status eng_later(struct store *s, const char *sql, const struct db_arg *args, int n)
{
    return s->drv->run_later ? s->drv->run_later(self->db, sql, args, n)
                             : s->drv->run(self->db, sql, args, n, NULL);
}

/* Adds an id to the commit's notes: "ID" a job queued for the site, "-ID"
 * the site's device tokens to forget. */
static int note(const char *prefix, const char *site_id)
{
    struct writer *w = self;
    size_t n = strlen(site_id) + strlen(prefix);
    if (w->notify_len + n + 2 > w->notify_cap) {
        size_t cap = w->notify_cap ? w->notify_cap * 2 : 1024;
        char *p = realloc(w->notify, cap);
        if (!p)
            return -1;
        w->notify = p;
        w->notify_cap = cap;
    }
    if (w->notify_len)
        w->notify[w->notify_len++] = ',';
    snprintf(w->notify + w->notify_len, n + 1, "%s%s", prefix, site_id);
    w->notify_len += n;
    return 0;
}

int eng_notify(struct store *s, const char *site_id)
{
    return s->drv->notify_sql ? note("", site_id) : 0;
}

int eng_outbox_queued(struct store *s)
{
    if (self->outbox_new)
        return 0;
    self->outbox_new = true;
    return s->drv->notify_sql ? note("*", "") : 0;
}

void eng_webhooks_changed(struct store *s)
{
    if (PG(s))
        return; /* several writers and nodes: always queued as if there were some */
    s->hooks = -1;
    self->hooks_changed = true;
}

/* The number of enabled webhooks (on connection c), or -1. */
static long count_webhooks(struct store *s, struct db *c)
{
    struct db_res *r = NULL;
    enum db_status rc =
        s->drv->run(c, "SELECT count(*) FROM webhooks WHERE disabled_at IS NULL", NULL, 0, &r);
    long n = rc == DB_OK && r && r->rows ? (long)db_int(r, 0, 0, -1) : -1;
    db_res_free(r);
    return n;
}

int eng_forget_device(struct store *s, const char *site_id)
{
    (void)s;
    return note("-", site_id);
}

/* Forgets the device tokens of the sites the batch named, whether or not it
 * committed: a commit whose answer was lost may have happened. */
static void forget_devices(struct store *s)
{
    struct writer *w = self;
    for (size_t at = 0; at < w->notify_len;) {
        size_t n = strcspn(w->notify + at, ",");
        if (w->notify[at] == '-') {
            char id[JP_UUID_LEN + 1];
            snprintf(id, sizeof id, "%.*s", (int)(n - 1), w->notify + at + 1);
            devices_drop(s->devices, id);
        }
        at += n + 1;
    }
}

/* The NOTIFYs of a commit: the ids in payloads under PostgreSQL's limit of
 * 8000 bytes, split at commas. */
static int notify_all(struct store *s)
{
    enum { PAYLOAD_MAX = 7900 };
    struct writer *w = self;
    for (size_t at = 0; s->drv->notify_sql && at < w->notify_len;) {
        size_t n = w->notify_len - at;
        if (n > PAYLOAD_MAX) {
            n = PAYLOAD_MAX;
            while (n && w->notify[at + n] != ',')
                n--;
        }
        char save = w->notify[at + n];
        w->notify[at + n] = '\0';
        enum db_status rc = LATER(s, s->drv->notify_sql, DB_TEXT(w->notify + at));
        w->notify[at + n] = save;
        if (rc != DB_OK)
            return -1;
        at += n + 1;
    }
    return 0;
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
static void finish(struct store *s, struct wop *batch, bool ok)
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

/* Runs a batch in one transaction; true when it committed. With savepoints,
 * each operation runs inside its own and one that fails is undone alone.
 * Without, the batch costs no round trips for them, and one failure fails
 * the whole attempt: the writer then runs the batch again with savepoints
 * (each operation starts by clearing its outputs, so it can run twice). */
static bool run_batch(struct store *s, struct wop *batch, bool savepoints)
{
    struct db *c = self->db;
    bool began = s->drv->check(c) == 0 && eng_exec(s, c, s->drv->begin_write) == 0;
    bool ok = began;
    self->notify_len = 0;
    self->outbox_new = false;
    for (struct wop *w = batch; w; w = w->next) {
        if (!ok || (savepoints && LATER(s, "SAVEPOINT op") != DB_OK)) {
            ok = false;
            w->result = STORE_UNAVAILABLE;
            continue;
        }
        size_t announced = self->notify_len;
        w->result = w->fn(s, w->arg);
        if (!savepoints) {
            ok = w->result != STORE_UNAVAILABLE;
            continue;
        }
        /* Refusals wrote nothing, or a log line, and are kept. A failed
         * operation is undone; so is one whose savepoint cannot be released
         * (a statement failed under it unnoticed, or a queued one failed).
         * When even that fails, the whole batch fails rather than commit a
         * part. */
        if (w->result == STORE_UNAVAILABLE || eng_exec(s, c, "RELEASE SAVEPOINT op")) {
            w->result = STORE_UNAVAILABLE;
            self->notify_len = announced;
            if (eng_exec(s, c, "ROLLBACK TO SAVEPOINT op") ||
                eng_exec(s, c, "RELEASE SAVEPOINT op"))
                ok = false;
        }
    }
    if (ok && notify_all(s))
        ok = false;
    if (began && (!ok || eng_exec(s, c, "COMMIT"))) {
        ok = false;
        eng_exec(s, c, "ROLLBACK");
    }
    forget_devices(s); /* before any answer: a revoked token is refused from then on */
    return ok;
}

/* ---- metrics: every store of the process counts into the same slots ---- */

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};
static struct met_hist batch_hist, commit_hist;
static pthread_once_t hists_once = PTHREAD_ONCE_INIT;

static void hists_init(void)
{
    met_hist_init(&batch_hist, batch_bounds, sizeof batch_bounds / sizeof *batch_bounds);
    met_hist_init(&commit_hist, commit_bounds, sizeof commit_bounds / sizeof *commit_bounds);
}

const struct met_hist *store_batch_hist(void)
{
    pthread_once(&hists_once, hists_init);
    return &batch_hist;
}

const struct met_hist *store_commit_hist(void)
{
    pthread_once(&hists_once, hists_init);
    return &commit_hist;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer_main(void *arg)
{
    self = arg;
    struct store *s = self->s;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work, &s->mu);
        struct wop *batch = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        if (!batch)
            break; /* stopping with nothing queued */
        /* Alone, an operation's failure is the batch's: no second attempt. */
        double t0 = mono_seconds();
        bool ok = run_batch(s, batch, false) || (batch->next && run_batch(s, batch, true));
        if (ok) {
            unsigned ops = 0;
            for (struct wop *w = batch; w; w = w->next)
                ops++;
            met_observe(store_batch_hist(), ops);
            met_observe(store_commit_hist(), mono_seconds() - t0);
        }
        bool woke = ok && self->outbox_new;
        if (self->hooks_changed && !PG(s)) { /* committed or not: what the database holds */
            self->hooks_changed = false;
            s->hooks = count_webhooks(s, self->db);
        }
        finish(s, batch, ok);
        void (*outbox_fn)(void *) = s->outbox_fn;
        if (woke && outbox_fn)
            outbox_fn(s->outbox_ctx);
        if (s->drv->after_commit)
            s->drv->after_commit(self->db);
    }
    return NULL;
}

/* Queues w for the writer; false when the store is stopping. */
static bool enqueue(struct store *s, struct wop *w)
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

enum store_result eng_submit(struct store *s, store_op fn, void *arg)
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

enum store_result eng_run_op(struct store *s, store_op fn, void *arg, size_t size,
                             void (*post)(void *, enum store_result), struct store_async *as)
{
    if (!as) {
        enum store_result r = eng_submit(s, fn, arg);
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

struct db *eng_reader(struct store *s)
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

void eng_reader_put(struct store *s, struct db *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->mu);
    s->readers[s->nfree++] = c;
    pthread_cond_signal(&s->reader_free);
    pthread_mutex_unlock(&s->mu);
}

int eng_site_owned(struct store *s, struct db *c, const char *team, const char *site_id,
                   bool deleted_ok)
{
    struct db_res *r = NULL;
    enum db_status rc =
        RUN(s, c,
            deleted_ok ? "SELECT 1 FROM sites WHERE id=?1 AND team=?2"
                       : "SELECT 1 FROM sites WHERE id=?1 AND team=?2 AND deleted_at IS NULL",
            &r, DB_TEXT(site_id), DB_TEXT(team));
    int owned = rc != DB_OK ? -1 : r->rows > 0;
    db_res_free(r);
    return owned;
}

static int event(struct store *s, const char *site_id, const char *job_id, int64_t ts,
                 const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return LATER(s, "INSERT INTO events (site_id, ts, message, job_id) VALUES (?1,?2,?3,?4)",
                 DB_TEXT(site_id), DB_INT(ts), DB_TEXT(msg), DB_TEXT(job_id)) == DB_OK
               ? 0
               : -1;
}

int eng_event(struct store *s, const char *site_id, int64_t ts, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = event(s, site_id, NULL, ts, fmt, ap);
    va_end(ap);
    return rc;
}

int eng_job_event(struct store *s, const char *site_id, const char *job_id, int64_t ts,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = event(s, site_id, job_id, ts, fmt, ap);
    va_end(ap);
    return rc;
}

enum store_result eng_read_one(struct store *s, const char *sql, const struct db_arg *args, int n,
                               void (*fn)(const struct db_res *, size_t, void *), void *out)
{
    struct db *c = eng_reader(s);
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
    eng_reader_put(s, c);
    return res;
}

enum store_result eng_read_all(struct store *s, const char *sql, const struct db_arg *args, int n,
                               size_t size, void (*fill)(const struct db_res *, size_t, void *),
                               void **items, size_t *count)
{
    *items = NULL;
    *count = 0;
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    enum store_result res = STORE_UNAVAILABLE;
    if (s->drv->run(c, sql, args, n, &r) == DB_OK &&
        (*items = calloc(r->rows ? r->rows : 1, size))) {
        for (; *count < r->rows; ++*count)
            fill(r, *count, (char *)*items + *count * size);
        res = STORE_OK;
    }
    db_res_free(r);
    eng_reader_put(s, c);
    return res;
}

enum store_result eng_read_site_rows(struct store *s, const char *team, const char *site_id,
                                     const char *sql, const struct db_arg *args, int n,
                                     struct db_res **res)
{
    *res = NULL;
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result out = STORE_UNAVAILABLE;
    if (eng_exec(s, c, "BEGIN") == 0) {
        int owned = eng_site_owned(s, c, team, site_id, true);
        if (owned == 0)
            out = STORE_NOT_FOUND;
        else if (owned > 0 && s->drv->run(c, sql, args, n, res) == DB_OK)
            out = STORE_OK;
        eng_exec(s, c, "ROLLBACK");
    }
    eng_reader_put(s, c);
    if (out != STORE_OK) {
        db_res_free(*res);
        *res = NULL;
    }
    return out;
}

/* ---- open and close --------------------------------------------------- */

/* Rebuilds the pending set from the database, and trusts it; 0 or -1.
 * Emptied first: a create that commits while the read runs adds its site
 * after that, and is kept. */
static int load_pending(struct store *s)
{
    pending_reset(s->pending);
    struct db *c = eng_reader(s);
    if (!c)
        return -1;
    struct db_res *r = NULL;
    enum db_status rc = RUN(s, c,
                            "SELECT DISTINCT site_id FROM jobs WHERE delivered_at IS NULL AND"
                            " cancelled_at IS NULL",
                            &r);
    eng_reader_put(s, c);
    if (rc == DB_OK) {
        for (size_t i = 0; i < r->rows; i++)
            pending_add(s->pending, db_text(r, i, 0));
        pending_trust(s->pending);
    }
    db_res_free(r);
    return rc == DB_OK ? 0 : -1;
}

/* Another process queued jobs for the site (the listener's thread). */
static void announced(void *arg, const char *site_id)
{
    struct store *s = arg;
    if (site_id[0] == '*') { /* another node queued deliveries */
        void (*outbox_fn)(void *) = s->outbox_fn;
        if (outbox_fn)
            outbox_fn(s->outbox_ctx);
        return;
    }
    if (site_id[0] == '-') { /* another node changed the site's device token */
        devices_drop(s->devices, site_id + 1);
        return;
    }
    pending_add(s->pending, site_id); /* before the wake: the woken poll must see it */
    s->watch_fn(s->watch_ctx, site_id);
}

static void listening(void *arg, bool up)
{
    struct store *s = arg;
    devices_trust(s->devices, up);
    if (!up)
        pending_reset(s->pending);
    else if (load_pending(s))
        log_warn("store: cannot read the sites with pending jobs; every poll reads them");
}

void store_watch_jobs(struct store *s, void (*fn)(void *, const char *), void *ctx)
{
    if (!s->drv->listen_start || s->listener)
        return;
    s->watch_fn = fn;
    s->watch_ctx = ctx;
    s->listener = s->drv->listen_start(s->url, announced, listening, s);
}

void store_watch_outbox(struct store *s, void (*fn)(void *), void *ctx)
{
    s->outbox_ctx = ctx;
    s->outbox_fn = fn;
}

/* Stops the writers once the queue is empty, and joins them. */
static void writers_stop(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->nstarted; i++)
        pthread_join(s->writers[i].thread, NULL);
    s->nstarted = 0;
}

static void free_all(struct store *s)
{
    for (size_t i = 0; i < s->nfree; i++)
        s->drv->close(s->readers[i]);
    free(s->readers);
    for (size_t i = 0; s->writers && i < s->nwriters; i++) {
        if (s->writers[i].db)
            s->drv->close(s->writers[i].db);
        free(s->writers[i].notify);
    }
    free(s->writers);
    pending_free(s->pending);
    devices_free(s->devices);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->id_mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->reader_free);
    pthread_mutex_destroy(&s->hb_mu);
    pthread_cond_destroy(&s->hb_cond);
    pthread_mutex_destroy(&s->pr_mu);
    pthread_cond_destroy(&s->pr_cond);
    free(s->url);
    free(s);
}

bool store_is_postgres(const struct store *s)
{
    return PG(s);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->listener)
        s->drv->listen_stop(s->listener);
    eng_pruner_stop(s);
    pthread_mutex_lock(&s->hb_mu); /* the flusher writes the last heartbeats first */
    s->hb_stopping = true;
    pthread_cond_signal(&s->hb_cond);
    pthread_mutex_unlock(&s->hb_mu);
    pthread_join(s->flusher, NULL);
    writers_stop(s);
    free_all(s);
}

struct store *store_open(const struct store_options *opt, char *err, size_t errlen)
{
    const char *url = opt->url;
    if (!url || !*url) {
        snprintf(err, errlen, "no database given");
        return NULL;
    }
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    const struct db_driver *drv =
        !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13) ? &db_postgres
                                                                               : &db_sqlite;
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->drv = drv;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->id_mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->reader_free, NULL);
    pthread_mutex_init(&s->hb_mu, NULL);
    pthread_cond_init(&s->hb_cond, NULL);
    pthread_mutex_init(&s->pr_mu, NULL);
    pthread_cond_init(&s->pr_cond, NULL);
    s->ret = opt->retention;
    s->nreaders = opt->readers ? opt->readers : 4;
    s->nwriters = drv->dialect == DB_SQLITE ? 1 : opt->writers ? opt->writers : 4;
    s->url = strdup(url);
    s->readers = calloc(s->nreaders, sizeof *s->readers);
    s->writers = calloc(s->nwriters, sizeof *s->writers);
    s->pending = pending_new();
    s->devices = devices_new();
    if (!s->url || !s->readers || !s->writers || !s->pending || !s->devices) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < s->nwriters; i++) {
        s->writers[i].s = s;
        if (!(s->writers[i].db = drv->connect(url, true, opt->relaxed, err, errlen)) ||
            (i == 0 && drv->migrate(s->writers[0].db, err, errlen)))
            goto fail;
    }
    for (; s->nfree < s->nreaders; s->nfree++) {
        s->readers[s->nfree] = drv->connect(url, false, opt->relaxed, err, errlen);
        if (!s->readers[s->nfree])
            goto fail;
    }
    /* One process owns a SQLite database: the pending set and the device
     * tokens are trusted from the start. On PostgreSQL they are once the
     * listener listens (store_watch_jobs). */
    if (drv->dialect == DB_SQLITE && load_pending(s)) {
        snprintf(err, errlen, "cannot read the sites with pending jobs");
        goto fail;
    }
    devices_trust(s->devices, drv->dialect == DB_SQLITE);
    s->hooks = drv->dialect == DB_SQLITE ? count_webhooks(s, s->writers[0].db) : -1;
    for (; s->nstarted < s->nwriters; s->nstarted++)
        if (pthread_create(&s->writers[s->nstarted].thread, NULL, writer_main,
                           &s->writers[s->nstarted])) {
            snprintf(err, errlen, "cannot start the writer threads");
            goto fail;
        }
    if (pthread_create(&s->flusher, NULL, eng_flusher_main, s)) {
        snprintf(err, errlen, "cannot start the heartbeat flusher");
        goto fail;
    }
    if (opt->prune && !(s->pruning = pthread_create(&s->pruner, NULL, eng_pruner_main, s) == 0))
        log_error("store: cannot start the pruner: nothing is rolled up or pruned");
    return s;
fail:
    writers_stop(s);
    free_all(s);
    return NULL;
}
