/* What the store's files share and no handler sees: struct store, the write
 * engine's calls, the reader pool, and the SQL helpers every domain uses.
 *
 * Files of store/ and what calls what (no circles):
 *   engine.c       writer threads, group commit, savepoints, reader pool,
 *                  heartbeat buffer, open and close; team scoping and events
 *   sql_sites.c    sites and the device plane          -> engine
 *   sql_jobs.c     jobs, dispatch, run timeouts        -> engine
 *   sql_reports.c  device reports, output, restarts    -> engine
 *   sql_backups.c  backups (content addressed), logs    -> engine, sql_jobs
 *   sql_stats.c    a site's stats at every resolution   -> engine
 *   heartbeats.c   the heartbeat buffer and its flusher -> engine, sql_sites
 *   retention.c    roll-ups and pruning, a thread       -> engine
 *   pending.c      the sites with pending jobs, in memory (no SQL)
 *   devices.c      the device tokens seen, in memory (no SQL)
 *   db.c           results, for every driver
 *   sql_rollouts.c rollouts (scheduled scripts) and their steps -> engine, sql_jobs
 *   sql_templates.c script templates                   -> engine
 *   sqlite.c, postgres.c  the db.h drivers (sqlite.c and pg_schema.c: the migrations)
 *
 * An operation is a function run on a writer thread inside the batch's
 * transaction: it returns a store_result, and STORE_UNAVAILABLE undoes what
 * it wrote (and only that: see run_batch). Refusals (NOT_FOUND, CONFLICT,
 * ...) keep what they wrote (a log line at most). An operation may run twice
 * (a batch run again): it clears its outputs first. */
#ifndef JP_STORE_ENGINE_H
#define JP_STORE_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/ids.h"
#include "core/seal.h"
#include "core/shape.h"
#include "core/webhook.h"
#include "store/db.h"
#include "store/store.h"

struct wop;    /* a queued write operation (engine.c) */
struct hb_rec; /* a buffered heartbeat (heartbeats.c) */

/* A writer thread and what only it touches. */
struct writer {
    struct store *s;
    pthread_t thread;
    struct db *db; /* its read-write connection */
    char *notify;  /* the ids to announce at this commit, ','-separated */
    size_t notify_len, notify_cap;
    bool outbox_new;    /* the batch queued deliveries: wake the deliverer after the commit */
    bool hooks_changed; /* the batch changed webhooks: count them after the commit */
};

struct store {
    const struct db_driver *drv;
    /* One writer on SQLite (the database has one write lock); several on
     * PostgreSQL, each with its own connection: while one waits for the
     * server, the next runs (docs/design.md). */
    struct writer *writers;
    size_t nwriters, nstarted;
    pthread_mutex_t mu; /* guards the queue, stopping and the reader stack */
    /* One generator for every writer: ids increase within the node, so a job
     * created after another one was acknowledged sorts (and runs) after it. */
    pthread_mutex_t id_mu;
    struct uuid7_gen idgen;
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
    /* what is kept, and the pruner thread (retention.c) */
    struct retention ret;
    pthread_t pruner;
    bool pruning;          /* the pruner thread runs */
    pthread_mutex_t pr_mu; /* guards what follows */
    pthread_cond_t pr_cond;
    bool pr_stopping;
    struct retention_status pr_status;
    char *url;      /* for the listener's own connection */
    void *listener; /* cross-process job announcements, when watched */
    void (*watch_fn)(void *ctx, const char *site_id);
    void *watch_ctx;
    struct pending *pending; /* the sites with pending jobs (pending.c) */
    struct devices *devices; /* the device tokens seen (devices.c) */
    /* SQLite: the enabled webhooks, -1 while unknown; read and written by
     * the one writer thread only. With none (and no notify_url), a job
     * event costs no statement. */
    long hooks;
    /* Called after a commit that queued deliveries (store_watch_outbox). */
    void (*_Atomic outbox_fn)(void *ctx);
    void *outbox_ctx;
    /* the key of sensitive backups (store_set_backup_key); set before use */
    struct seal_key backup_key;
    bool has_backup_key;
};

typedef enum store_result (*store_op)(struct store *s, void *arg);

#define PG(s) ((s)->drv->dialect == DB_POSTGRES)

#define NARGS(...) ((int)(sizeof((struct db_arg[]){__VA_ARGS__}) / sizeof(struct db_arg)))
/* RUN(s, conn, sql, &res or NULL, args...): one statement with ?N arguments. */
#define RUN(s, c, sql, res, ...)                                                                   \
    (s)->drv->run((c), (sql), (struct db_arg[]){__VA_ARGS__}, NARGS(__VA_ARGS__), (res))
/* LATER(s, sql, args...): a writer statement whose result the operation does
 * not read; the driver may send it without waiting (db.h run_later). */
#define LATER(s, sql, ...) eng_later((s), (sql), (struct db_arg[]){__VA_ARGS__}, NARGS(__VA_ARGS__))

/* ---- the write engine (engine.c) -------------------------------------- */

/* The connection of the writer running the current operation (writer
 * threads only). */
struct db *eng_wdb(struct store *s);

/* Runs op(arg) on the writer and waits for its commit. */
enum store_result eng_submit(struct store *s, store_op op, void *arg);
/* An operation with outputs: without as, runs it like eng_submit, then
 * post(arg, result), and returns the result; with as, queues a copy of arg
 * (size bytes) and returns STORE_OK at once: once the batch is committed,
 * post fills the caller's outputs and as->done runs (store_async). */
enum store_result eng_run_op(struct store *s, store_op op, void *arg, size_t size,
                             void (*post)(void *arg, enum store_result r), struct store_async *as);
/* Runs sql without arguments on c; 0 or -1. */
int eng_exec(struct store *s, struct db *c, const char *sql);
enum db_status eng_later(struct store *s, const char *sql, const struct db_arg *args, int n);
/* Announces, at the commit, that the operation queued a job for the site
 * (writer thread): one NOTIFY per commit for every site (db.h notify_sql).
 * 0 or -1. */
int eng_notify(struct store *s, const char *site_id);
/* The operation changes what a device token of the site says (its device
 * hash, its deletion) (writer thread): once it commits, the site's tokens
 * are forgotten here and, through the same NOTIFY, on every node. 0 or -1. */
int eng_forget_device(struct store *s, const char *site_id);

/* The operation queued deliveries (writer thread): once it commits, the
 * deliverer of this node and, through the NOTIFY, of every node is woken.
 * 0 or -1. */
int eng_outbox_queued(struct store *s);

/* The operation adds, changes or removes webhooks (writer thread): from
 * now on events are queued as if there were some, until the count after
 * the commit. */
void eng_webhooks_changed(struct store *s);

/* A read connection (NULL when the database is unreachable), and back. */
struct db *eng_reader(struct store *s);
void eng_reader_put(struct store *s, struct db *c);
/* The heartbeat flusher thread (heartbeats.c): flushes once a second, and a
 * last time once hb_stopping is set. */
void *eng_flusher_main(void *arg);
/* The pruner thread (retention.c): roll-ups, then retention, in small
 * operations, until stopping is set. */
void *eng_pruner_main(void *arg);
void eng_pruner_stop(struct store *s);
/* One row read by a reader: fills out through fill; STORE_NOT_FOUND when none. */
enum store_result eng_read_one(struct store *s, const char *sql, const struct db_arg *args, int n,
                               void (*fill)(const struct db_res *, size_t, void *), void *out);
/* Every row a reader finds, each filled through fill into a new array of
 * size-byte items (*items, freed by the caller; *n of them). */
enum store_result eng_read_all(struct store *s, const char *sql, const struct db_arg *args, int n,
                               size_t size, void (*fill)(const struct db_res *, size_t, void *),
                               void **items, size_t *count);
/* Site-scoped reads for operators: the ownership check and the rows in one
 * snapshot; *res holds the rows on STORE_OK. */
enum store_result eng_read_site_rows(struct store *s, const char *team, const char *site_id,
                                     const char *sql, const struct db_arg *args, int n,
                                     struct db_res **res);

/* Team scoping: 1 when the site exists and belongs to team (and, unless
 * deleted_ok, is not deleted); 0 when not; -1 on error. */
int eng_site_owned(struct store *s, struct db *c, const char *team, const char *site_id,
                   bool deleted_ok);
/* Appends a line to a site's event log (writer thread), in the transaction of
 * the change it describes. 0 or -1. */
int eng_event(struct store *s, const char *site_id, int64_t ts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for a line about a job: it goes with the job (retention.c). */
int eng_job_event(struct store *s, const char *site_id, const char *job_id, int64_t ts,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A new id from the writer's generator (writer thread); -1 when the RNG fails. */
int eng_new_id(struct store *s, char id[JP_UUID_LEN + 1]);
/* Random bytes for ids and tokens; 0 or -1. */
int eng_random(unsigned char *buf, size_t n);
int64_t eng_now(void);

static inline void eng_copy_cell(const struct db_res *r, size_t row, size_t col, char *dst,
                                 size_t cap)
{
    const char *t = db_text(r, row, col);
    snprintf(dst, cap, "%s", t ? t : "");
}

/* FNV-1a of a string, for the in-memory maps below. */
static inline unsigned eng_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- the sites with pending jobs (pending.c) --------------------------- */

struct pending *pending_new(void);
void pending_free(struct pending *p);
/* A job was queued for the site (after its commit). */
void pending_add(struct pending *p, const char *site_id);
/* Taken before a read that may find no pending job; then pending_drop drops
 * the site unless it was added since. */
uint64_t pending_stamp(struct pending *p);
void pending_drop(struct pending *p, const char *site_id, uint64_t stamp);
/* 0: no pending job; 1: maybe; -1: not known (the set is not trusted now).
 * *stamp is pending_stamp's, taken with it. */
int pending_has(struct pending *p, const char *site_id, uint64_t *stamp);
/* Empties the set and stops trusting it (announcements may be missed from
 * now on); pending_trust trusts it again, once refilled (engine.c
 * load_pending). */
void pending_reset(struct pending *p);
void pending_trust(struct pending *p);

/* ---- the device tokens seen (devices.c) -------------------------------- */

struct devices *devices_new(void);
void devices_free(struct devices *d);
/* 1: known (out filled); 0: not known; -1: not used now. *stamp is for a
 * devices_put of what a read then finds. */
int devices_get(struct devices *d, const char *token_hash, struct device_site *out,
                uint64_t *stamp);
/* Remembers what a read found, unless anything was dropped since the stamp. */
void devices_put(struct devices *d, const char *token_hash, const struct device_site *site,
                 uint64_t stamp);
/* Forgets the site's tokens. */
void devices_drop(struct devices *d, const char *site_id);
/* Empties the map, and uses it from now on (trusted) or not. */
void devices_trust(struct devices *d, bool trusted);

/* ---- the outbox (sql_outbox.c) ----------------------------------------- */

/* Queues event e about a site for delivery (writer thread), in the
 * transaction of the change that causes it: a delivery to every endpoint of
 * the site's team subscribed to e, with data (the object, core/shape.h;
 * taken over) as its payload. Nothing is written when nobody is subscribed.
 * 0 or -1. */
int out_emit(struct store *s, enum whk_event e, const char *site_id, json_t *data);
/* The same for a job event, also to the job's notify_url: the job's state
 * now is kept with it, and its payload rendered when it is sent. */
int out_job(struct store *s, enum whk_event e, const struct job *j);
/* sql_sites.c: announces the sites whose heartbeats just marked them as
 * online again (writer thread, in the heartbeats' transaction). 0 or -1. */
int sql_sites_came_online(struct store *s, int64_t now);

/* ---- rows shared by the operation files ------------------------------- */

/* Delivered, not finished, not cancelled: the predicate of the partial index
 * jobs_inflight (the same text, so the planner uses it). */
#define IN_FLIGHT                                                                                  \
    "delivered_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"                      \
    " AND cancelled_at IS NULL"

#define JOB_COLS                                                                                   \
    "id, token, site_id, idempotency_key, description, script, notify_url,"                        \
    " associated_backup, express_execute, needs_ack, should_backup, created_at,"                   \
    " delivered_at, started_at, completed_at, failed_at, rollout_id, dry_run, expects_reboot,"     \
    " capture_output, confirm_within, backup_sensitive, reverted_at"
#define JOB_NCOLS 23 /* the columns of JOB_COLS: what a query reads after them begins here */

#define SITE_COLS                                                                                  \
    "id, team, name, identity, serial_number, model, board_name, architecture_name,"               \
    " software_version, uptime, last_seen_at, last_seen_from, created_at, updated_at,"             \
    " deleted_at, adopted_at, adopted_from, expected_serial, adoption_expires_at"
#define SITE_NCOLS 19

/* sql_backups.c: drops the site's oldest backups beyond backup_keep and the
 * contents no backup refers to any more (writer thread). 0 or -1. */
int sql_backups_trim(struct store *s, const char *site_id);

/* t rounded down to a multiple of period (t may be negative). */
static inline int64_t eng_floor(int64_t t, int64_t period)
{
    return t - ((t % period) + period) % period;
}

/* sql_sites.c: a row of SITE_COLS. */
void sql_row_to_site(const struct db_res *r, size_t i, struct site *out);
/* sql_rollouts.c and sql_rollout_steps.c: the columns of a rollout's row;
 * a line of the rollout's events (writer thread, not waited for; 0 or -1);
 * the end of a rollout in status st, its pending jobs cancelled unless it
 * completed and its targets' outcomes settled (writer thread; 0 or -1). */
#define ROLLOUT_COLS                                                                               \
    "id, team, created_by, test_site_id, template_id, make_backup, abort_if_offline,"              \
    " description, script, notify, status, authorized_at, authorized_by, cancelled_at,"            \
    " launch_at, started_at, finished_at, wave_size, wave_percent, wave_interval,"                 \
    " max_failures, max_failures_pct, win, wave, waves, created_at, updated_at"
int sql_rollout_event(struct store *s, const char *id, int64_t ts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sql_rollout_finish(struct store *s, const char *id, enum rollout_status st, int64_t now,
                       const char *why);
/* sql_jobs.c: a row of JOB_COLS, and the job of an id (writer thread). */
void sql_row_to_job(const struct db_res *r, size_t i, struct job *out);
/* The same, from column c on. */
void sql_row_to_job_at(const struct db_res *r, size_t i, size_t c, struct job *out);
enum store_result sql_load_job(struct store *s, const char *job_id, struct job *out);
/* Fails the delivered or running jobs of a site (NULL: of all) past the run
 * timeout, with their events; how many in *count. 0 or -1 (sql_jobs.c). */
int sql_fail_timed_out(struct store *s, const char *site_id, int64_t now, int64_t run_timeout,
                       long *count);
/* Queues a job (writer thread) for a site of team, of a rollout (NULL:
 * none): store_job_create's results; the caller adds the site to the
 * pending set after the commit. */
enum store_result sql_job_insert(struct store *s, const char *team, const struct job_request *req,
                                 const char *rollout_id, struct job *out);

#endif
