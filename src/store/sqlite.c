/* The SQLite driver: WAL mode, synchronous=FULL (every commit is fsync'd)
 * unless relaxed, prepared statements kept per connection, schema versions in
 * PRAGMA user_version. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sign.h"
#include "lib/log.h"
#include "store/db.h"

#define STMT_CACHE 128

struct db {
    sqlite3 *h;
    long changes;
    struct {
        char *sql;
        sqlite3_stmt *st;
    } cache[STMT_CACHE]; /* prepared statements, by SQL text */
    unsigned next;       /* the slot the next miss replaces */
    int wal_frames;      /* frames in the log after the last commit (writer) */
    unsigned wal_cycle;  /* restarts of the log seen (writer) */
    struct ckpt *ck;     /* the writer's checkpointer (NULL: the writer checkpoints) */
};

/* The log is checkpointed from 50,000 frames on (about 50 MiB of 1 KiB pages);
 * the writer copies the rest itself once at most 1,000 are left to copy, or
 * when the log reaches 250,000 frames (the checkpointer cannot keep up). */
#define CHECKPOINT_FRAMES 50000
#define CATCH_UP_FRAMES 1000
#define LOG_MAX_FRAMES 250000

static int exec_script(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* Copying the log into the database is random writes and an fsync of the
 * database file: 5 to 300 ms (55 on average) for 10,000 frames of the
 * 100,000-router fleet's database. Done by the writer (SQLite's automatic
 * checkpoint, inside a COMMIT), it stalls every write queued behind it, so a
 * thread of its own, on its own connection, does it beside the writer. A log restarts from its
 * start (instead of growing) only when a write transaction begins with every frame copied, and the
 * writer keeps adding frames: so the checkpointer copies the bulk, pass after pass, and the writer
 * copies the small rest itself, between two batches. */
struct ckpt {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqlite3 *h;
    bool busy, stopping; /* busy: a pass is asked for or running */
    unsigned cycle;      /* the log's cycle (restarts) the last pass was asked in */
    int copied;          /* frames of the log copied when that pass ended */
};

static void *ckpt_main(void *arg)
{
    struct ckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->busy && !k->stopping)
            pthread_cond_wait(&k->cv, &k->mu);
        if (k->stopping)
            break;
        pthread_mutex_unlock(&k->mu);
        int ncopied = 0;
        int rc = sqlite3_wal_checkpoint_v2(k->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, &ncopied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("sqlite: checkpoint: %s", sqlite3_errmsg(k->h));
        pthread_mutex_lock(&k->mu);
        k->busy = false;
        k->copied = rc == SQLITE_OK ? ncopied : 0;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static struct ckpt *ckpt_start(const char *path)
{
    struct ckpt *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    if (sqlite3_open_v2(path, &k->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(k->h, 5000) != SQLITE_OK ||
        exec_script(k->h, "PRAGMA journal_mode=WAL") != SQLITE_OK) /* reads the mode in */
        goto fail;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    if (pthread_create(&k->tid, NULL, ckpt_main, k) == 0)
        return k;
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
fail:
    sqlite3_close(k->h);
    free(k);
    return NULL;
}

static void ckpt_stop(struct ckpt *k)
{
    pthread_mutex_lock(&k->mu);
    k->stopping = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->tid, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    sqlite3_close(k->h);
    free(k);
}

/* The schema, one entry per version: see JP_SCHEMA_VERSION (db.h). */
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
    " chunk_offset INTEGER NOT NULL, total INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (job_id, chunk_offset));",
    /* 3: webhooks and the transactional outbox (store/sql_outbox.c): one
     * row per event (its payload, written once) and one delivery per event
     * and destination (small, updated by every claim and attempt), its last
     * attempt in its row, the earlier ones in delivery_attempts; sites remember whether they were
     * announced online (2: came online, not yet announced). Times of the
     * outbox tables are in milliseconds. */
    "ALTER TABLE sites ADD COLUMN online INTEGER NOT NULL DEFAULT 0;"
    "UPDATE sites SET online=1 WHERE device_hash IS NOT NULL AND deleted_at IS NULL;"
    "CREATE INDEX sites_came_online ON sites(id) WHERE online=2;"
    "CREATE TABLE webhooks (id TEXT PRIMARY KEY, team TEXT NOT NULL, url TEXT NOT NULL,"
    " description TEXT, events INTEGER NOT NULL, secret TEXT NOT NULL, old_secret TEXT,"
    " old_until INTEGER, disabled_at INTEGER, disabled_reason TEXT, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX webhooks_team ON webhooks(team, id);"
    "CREATE TABLE notify_secrets (team TEXT PRIMARY KEY, secret TEXT NOT NULL,"
    " old_secret TEXT, old_until INTEGER, updated_at INTEGER NOT NULL);"
    "CREATE TABLE outbox (id TEXT PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL,"
    " type TEXT NOT NULL, team TEXT NOT NULL, webhook_id TEXT, dest TEXT NOT NULL, url TEXT,"
    " state INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER, last_at INTEGER,"
    " last_status INTEGER, last_duration_ms INTEGER, last_error TEXT, last_excerpt TEXT,"
    " last_node TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " job_id TEXT, s_delivered INTEGER, s_started INTEGER, s_completed INTEGER, s_failed INTEGER, "
    "s_backup TEXT);"
    "CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state=0;"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);"
    "CREATE INDEX deliveries_dead ON deliveries(id) WHERE state=2;"
    "CREATE TABLE delivery_attempts (delivery_id INTEGER NOT NULL, at INTEGER NOT NULL,"
    " status INTEGER, duration_ms INTEGER, error TEXT, excerpt TEXT, node TEXT);"
    "CREATE INDEX delivery_attempts_d ON delivery_attempts(delivery_id, at);",
    /* 4: API keys (store/sql_keys.c): the SHA-256 of the secret, never the
     * secret; scopes as enum jp_scope bits; times in seconds. */
    "CREATE TABLE api_keys (id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL,"
    " scopes INTEGER NOT NULL, secret_hash TEXT NOT NULL, expires_at INTEGER, last_used_at INTEGER,"
    " created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX api_keys_team ON api_keys(team, id);",
    /* 5: device credentials (store/sql_sites.c): a bootstrap line expires
     * (lines issued before this version get 24 hours from the upgrade); the
     * hash of the line that adopted the site tells a used line from an
     * unknown one; an adoption may be bound to a serial number. */
    "ALTER TABLE sites ADD COLUMN adoption_expires_at INTEGER;"
    "ALTER TABLE sites ADD COLUMN adoption_used_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN adopted_from TEXT;"
    "ALTER TABLE sites ADD COLUMN expected_serial TEXT;"
    "UPDATE sites SET adoption_expires_at=CAST(strftime('%s','now') AS INTEGER) + 86400 WHERE "
    "adoption_hash IS NOT NULL;"
    "CREATE INDEX sites_adoption_used ON sites(adoption_used_hash)"
    " WHERE adoption_used_hash IS NOT NULL;",
    /* 6: data that stays bounded (store/retention.c): a site's samples are
     * keyed by a small number of the site (stats_key) and clustered by it and
     * their time (45 bytes a sample instead of 140), and found by time too
     * (the roll-ups and pruning walk them so); hourly and daily roll-ups
     * (sums, counts, minimums and maximums per metric, so a daily average is
     * exact), how far each roll-up got; events know their job, and go with
     * it; backups are content addressed per site (store/sql_backups.c): the
     * export's first line (its time stamp) in the row, the rest stored once
     * per SHA-256. */
    "ALTER TABLE sites ADD COLUMN stats_key INTEGER;"
    "UPDATE sites SET stats_key=rowid;"
    "CREATE UNIQUE INDEX sites_stats_key ON sites(stats_key);"
    "CREATE TABLE stats6 (k INTEGER NOT NULL, ts INTEGER NOT NULL, cpu_load INTEGER,"
    " memory_free INTEGER, disk_free INTEGER, uptime INTEGER, PRIMARY KEY (k, ts)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO stats6 SELECT s.stats_key, st.ts, st.cpu_load, st.memory_free,"
    " st.disk_free, st.uptime FROM stats st JOIN sites s ON s.id=st.site_id;"
    "DROP TABLE stats;"
    "ALTER TABLE stats6 RENAME TO stats;"
    "CREATE INDEX stats_ts ON stats(ts);"
    "CREATE TABLE stats_hourly (" JP_ROLLUP_COLS_V6 ") WITHOUT ROWID;"
    "CREATE INDEX stats_hourly_ts ON stats_hourly(ts);"
    "CREATE TABLE stats_daily (" JP_ROLLUP_COLS_V6 ") WITHOUT ROWID;"
    "CREATE INDEX stats_daily_ts ON stats_daily(ts);"
    "CREATE TABLE rollups (name TEXT PRIMARY KEY, upto INTEGER NOT NULL, cursor TEXT NOT NULL);"
    "INSERT INTO rollups VALUES ('hourly', 0, ''), ('daily', 0, '');"
    "ALTER TABLE events ADD COLUMN job_id TEXT;"
    "UPDATE events SET job_id=(SELECT j.id FROM jobs j WHERE j.token=substr(events.message, 5, 10))"
    " WHERE message LIKE 'Job %';"
    "CREATE INDEX events_job ON events(job_id) WHERE job_id IS NOT NULL;"
    "CREATE INDEX events_site_only ON events(ts) WHERE job_id IS NULL;"
    "CREATE TABLE backup_contents (site_id TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " content BLOB NOT NULL, PRIMARY KEY (site_id, sha256));"
    "INSERT OR IGNORE INTO backup_contents SELECT site_id, jp_sha256(content), content"
    " FROM backups;"
    "CREATE TABLE backups6 (site_id TEXT NOT NULL, filename TEXT NOT NULL, job_id TEXT,"
    " size INTEGER NOT NULL, created_at INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    " head TEXT NOT NULL, unchanged INTEGER NOT NULL, PRIMARY KEY (site_id, filename));"
    "INSERT INTO backups6 SELECT site_id, filename, job_id, size, created_at, jp_sha256(content),"
    " '', 0 FROM backups;"
    "DROP TABLE backups;"
    "ALTER TABLE backups6 RENAME TO backups;"
    "UPDATE backups SET unchanged=1 WHERE sha256=(SELECT b.sha256 FROM backups b WHERE"
    " b.site_id=backups.site_id AND (b.created_at, b.filename) < (backups.created_at,"
    " backups.filename) ORDER BY b.created_at DESC, b.filename DESC LIMIT 1);",
    /* 7: rollouts (store/sql_rollouts.c): the seed's scheduled scripts, one
     * row each, and a row per target site in the order given (its wave, its
     * outcome, its job); their events; script templates; the automatic
     * backups' daily pass; each job knows the rollout that queued it. */
    "ALTER TABLE jobs ADD COLUMN rollout_id TEXT;"
    "CREATE INDEX jobs_rollout_open ON jobs(rollout_id) WHERE rollout_id IS NOT NULL"
    " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;"
    "CREATE INDEX jobs_rollout_failed ON jobs(rollout_id) WHERE rollout_id IS NOT NULL"
    " AND failed_at IS NOT NULL;"
    "CREATE TABLE rollouts (id TEXT PRIMARY KEY, team TEXT NOT NULL, created_by TEXT NOT NULL,"
    " test_site_id TEXT, template_id TEXT, make_backup INTEGER NOT NULL,"
    " abort_if_offline INTEGER NOT NULL, description TEXT NOT NULL, script TEXT NOT NULL,"
    " notify TEXT NOT NULL, status INTEGER NOT NULL, authorized_at INTEGER, authorized_by TEXT,"
    " cancelled_at INTEGER, launch_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
    " wave_size INTEGER NOT NULL, wave_percent INTEGER NOT NULL, wave_interval INTEGER NOT NULL,"
    " max_failures INTEGER NOT NULL, max_failures_pct INTEGER NOT NULL, win TEXT,"
    " wave INTEGER NOT NULL DEFAULT 0, waves INTEGER NOT NULL, wave_done_at INTEGER,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX rollouts_team ON rollouts(team, id);"
    "CREATE INDEX rollouts_active ON rollouts(launch_at) WHERE status IN (1, 2);"
    "CREATE TABLE rollout_sites (rollout_id TEXT NOT NULL, seq INTEGER NOT NULL, site_id TEXT NOT "
    "NULL,"
    " wave INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0, job_id TEXT,"
    " PRIMARY KEY (rollout_id, seq));"
    "CREATE INDEX rollout_sites_waiting ON rollout_sites(rollout_id, seq) WHERE state=0;"
    "CREATE TABLE rollout_events (id INTEGER PRIMARY KEY, rollout_id TEXT NOT NULL, ts INTEGER NOT "
    "NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX rollout_events_r ON rollout_events(rollout_id, ts);"
    "CREATE TABLE templates (id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL,"
    " description TEXT NOT NULL, content TEXT NOT NULL, created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX templates_team ON templates(team, id);"
    "CREATE TABLE auto_backups (name TEXT PRIMARY KEY, day INTEGER NOT NULL, cursor TEXT NOT NULL,"
    " total INTEGER NOT NULL, queued INTEGER NOT NULL, started_at INTEGER NOT NULL);"
    "INSERT INTO auto_backups VALUES ('daily', 0, '', 0, 0, 0);",
    /* 8: the console's overview (store/sql_gauges.c): a team's newest
     * failures and its failures of the last day, without a pass over jobs. */
    "CREATE INDEX jobs_failed ON jobs(failed_at) WHERE failed_at IS NOT NULL;",
    /* 9: router-side options of a job: a dry run (the router parses the
     * payload and runs nothing), a job that restarts the router (completed
     * when it comes back restarted), and one whose output the router
     * uploads (output: what arrived, output_size its bytes). */
    "ALTER TABLE jobs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN expects_reboot INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN capture_output INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN output TEXT;"
    "ALTER TABLE jobs ADD COLUMN output_size INTEGER;",
    /* 10: confirm-or-revert (the router undoes a change no poll confirmed:
     * reverted_at, set with failed_at) and backups that keep secrets,
     * stored encrypted (backups.sensitive). */
    "ALTER TABLE jobs ADD COLUMN confirm_within INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN backup_sensitive INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN reverted_at INTEGER;"
    "ALTER TABLE backups ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == JP_SCHEMA_VERSION,
               "one migration per schema version, the same in both drivers (db.h)");

/* jp_sha256(x): the hex SHA-256 of a blob or text (migration 6). */
static void sql_sha256(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    char hex[JP_SIG_HEX + 1];
    sha256_hex(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), hex);
    sqlite3_result_text(ctx, hex, -1, SQLITE_TRANSIENT);
}

static int wal_committed(void *arg, sqlite3 *h, const char *name, int frames)
{
    (void)h;
    (void)name;
    struct db *c = arg;
    if (frames < c->wal_frames)
        c->wal_cycle++; /* the log restarted from its start */
    c->wal_frames = frames;
    return SQLITE_OK;
}

/* After each batch: hands the bulk of a long log to the checkpointer, or
 * copies a short rest itself (see struct ckpt). */
static void sq_after_commit(struct db *c)
{
    if (c->wal_frames < CHECKPOINT_FRAMES)
        return;
    if (c->ck) {
        struct ckpt *k = c->ck;
        pthread_mutex_lock(&k->mu);
        bool busy = k->busy;
        int left = c->wal_frames - (k->cycle == c->wal_cycle ? k->copied : 0);
        bool delegate = !busy && left > CATCH_UP_FRAMES && c->wal_frames < LOG_MAX_FRAMES;
        if (delegate) {
            k->busy = true;
            k->cycle = c->wal_cycle;
            pthread_cond_signal(&k->cv);
        }
        pthread_mutex_unlock(&k->mu);
        if (busy || delegate)
            return;
    }
    int rc = sqlite3_wal_checkpoint_v2(c->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("sqlite: checkpoint: %s", sqlite3_errmsg(c->h));
}

static struct db *sq_connect(const char *path, bool writer, bool relaxed, char *err, size_t errlen)
{
    struct db *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &c->h, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 c->h ? sqlite3_errmsg(c->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->h, 5000);
    /* Durable writes are bound by the bytes each commit writes and fsyncs: a
     * job's lifecycle changes about twenty B-tree pages (the row, its indexes,
     * four events). 1 KiB pages (for a new database; an existing one keeps its
     * size) and a long log (checkpoints from 10,000 frames on, now 50,000)
     * write 28 KB per lifecycle instead of 66 KB with SQLite's defaults of
     * 4 KiB and 1000 frames, and run about 1.3 times as many (BENCHMARKS.md).
     * The log is checkpointed beside the writer (struct ckpt): the hook
     * replaces SQLite's automatic checkpoint. */
    /* A new database frees space page by page (incremental vacuum: the
     * pruner gives the file's free pages back, store/retention.c). */
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=1024; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
             " PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;%s",
             relaxed ? "NORMAL" : "FULL", writer ? "" : " PRAGMA query_only=1;");
    if (exec_script(c->h, pragmas) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(c->h));
        goto fail;
    }
    if (writer) {
        sqlite3_create_function(c->h, "jp_sha256", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_sha256, NULL, NULL);
        sqlite3_wal_hook(c->h, wal_committed, c);
        c->ck = ckpt_start(path); /* without one, the writer checkpoints */
    }
    return c;
fail:
    sqlite3_close(c->h);
    free(c);
    return NULL;
}

static void sq_close(struct db *c)
{
    if (c->ck)
        ckpt_stop(c->ck);
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->h);
    free(c);
}

static int sq_check(struct db *c)
{
    (void)c;
    return 0;
}

static sqlite3_stmt *prepared(struct db *c, const char *sql)
{
    for (int i = 0; i < STMT_CACHE; i++)
        if (c->cache[i].sql && !strcmp(c->cache[i].sql, sql))
            return c->cache[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("sqlite: prepare failed: %s", sqlite3_errmsg(c->h));
        return NULL;
    }
    unsigned slot = c->next++ % STMT_CACHE;
    sqlite3_finalize(c->cache[slot].st);
    free(c->cache[slot].sql);
    c->cache[slot].sql = strdup(sql);
    c->cache[slot].st = c->cache[slot].sql ? st : NULL;
    if (!c->cache[slot].sql) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static enum db_status sq_run(struct db *c, const char *sql, const struct db_arg *args, int n,
                             struct db_res **res)
{
    if (res)
        *res = NULL;
    sqlite3_stmt *st = prepared(c, sql);
    if (!st)
        return DB_ERROR;
    for (int i = 0; i < n; i++) {
        const struct db_arg *a = &args[i];
        switch (a->kind) {
        case DB_ARG_TEXT: sqlite3_bind_text(st, i + 1, a->p, -1, SQLITE_STATIC); break;
        case DB_ARG_INT: sqlite3_bind_int64(st, i + 1, a->i); break;
        case DB_ARG_BLOB: sqlite3_bind_blob64(st, i + 1, a->p, a->len, SQLITE_STATIC); break;
        default: sqlite3_bind_null(st, i + 1);
        }
    }
    struct db_res *r = res ? db_res_new((size_t)sqlite3_column_count(st)) : NULL;
    enum db_status status = DB_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int col = 0; r && col < (int)r->cols; col++) {
            int null = sqlite3_column_type(st, col) == SQLITE_NULL;
            const void *p = sqlite3_column_type(st, col) == SQLITE_BLOB
                                ? sqlite3_column_blob(st, col)
                                : (const void *)sqlite3_column_text(st, col);
            if (db_res_add(r, p, (size_t)sqlite3_column_bytes(st, col), null))
                status = DB_ERROR;
        }
    }
    if (rc != SQLITE_DONE) {
        int ext = sqlite3_extended_errcode(c->h);
        status = ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ? DB_UNIQUE
                                                                                        : DB_ERROR;
        if (status == DB_ERROR)
            log_error("sqlite: %s", sqlite3_errmsg(c->h));
    }
    c->changes = sqlite3_changes(c->h);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status != DB_OK || !res) {
        db_res_free(r);
        return status;
    }
    *res = r;
    return r ? DB_OK : DB_ERROR;
}

static long sq_changes(struct db *c)
{
    return c->changes;
}

static int64_t pragma_int(struct db *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(c->h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A database made before incremental vacuum (auto_vacuum 0) keeps the
 * space that pruning frees for new rows, but never gives it back: turning
 * it on takes a VACUUM, which rewrites the file. Done at start up to 1 GiB;
 * a larger file is left as it is, with the commands in the log. */
#define VACUUM_AT_START_MAX (1LL << 30)

static void incremental_vacuum_on(struct db *c)
{
    if (pragma_int(c, "PRAGMA auto_vacuum") != 0)
        return;
    int64_t bytes = pragma_int(c, "PRAGMA page_count") * pragma_int(c, "PRAGMA page_size");
    if (bytes > VACUUM_AT_START_MAX) {
        log_warn("sqlite: the database (%lld MiB) does not give freed space back to the file"
                 " system; with jobplane stopped, run: sqlite3 FILE 'PRAGMA"
                 " auto_vacuum=INCREMENTAL; VACUUM'",
                 (long long)(bytes >> 20));
        return;
    }
    log_info("sqlite: turning on incremental vacuum (one VACUUM of %lld KiB)",
             (long long)(bytes >> 10));
    exec_script(c->h, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM");
}

static int sq_migrate(struct db *c, char *err, size_t errlen)
{
    const int latest = JP_SCHEMA_VERSION;
    if (exec_script(c->h, "BEGIN IMMEDIATE") != SQLITE_OK) {
        snprintf(err, errlen, "cannot lock the database: %s", sqlite3_errmsg(c->h));
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(c->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0 || version > latest) {
        snprintf(err, errlen, "database schema version %d is unknown to this jobplane (latest %d)",
                 version, latest);
        exec_script(c->h, "ROLLBACK");
        return -1;
    }
    for (int v = version; v < latest; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (exec_script(c->h, migrations[v]) != SQLITE_OK ||
            exec_script(c->h, pragma) != SQLITE_OK) {
            snprintf(err, errlen, "migration %d failed: %s", v + 1, sqlite3_errmsg(c->h));
            exec_script(c->h, "ROLLBACK");
            return -1;
        }
        log_info("sqlite: applied migration %d", v + 1);
    }
    if (exec_script(c->h, "COMMIT") != SQLITE_OK) {
        snprintf(err, errlen, "cannot commit migrations: %s", sqlite3_errmsg(c->h));
        return -1;
    }
    incremental_vacuum_on(c);
    return 0;
}

const struct db_driver db_sqlite = {
    .dialect = DB_SQLITE,
    .connect = sq_connect,
    .close = sq_close,
    .check = sq_check,
    .run = sq_run,
    .changes = sq_changes,
    .migrate = sq_migrate,
    .begin_write = "BEGIN IMMEDIATE",
    .after_commit = sq_after_commit,
};
