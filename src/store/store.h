/* store.h: the one interface every handler uses to read and change state.
 *
 * Durability: every function that changes state returns only after the change
 * is committed and fsync'd (unless the store was opened in relaxed mode).
 * Concurrent writers share commits: the writer batches them (group commit).
 *
 * Ownership: structs filled through an out parameter own their strings; the
 * caller releases them with job_clear/site_clear or the *_list_clear helpers,
 * also after an error (they are then zeroed). Team scoping happens here: an
 * object of another team is STORE_NOT_FOUND, exactly like a missing one. */
#ifndef JP_STORE_STORE_H
#define JP_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/model.h"

enum store_result {
    STORE_OK = 0,        /* done; for job_create: an idempotent replay */
    STORE_CREATED,       /* job_create/site_create made a new object */
    STORE_NOT_FOUND,     /* no such object for this team */
    STORE_CONFLICT,      /* job_create: the key was used with another script or flags */
    STORE_KEY_CANCELLED, /* job_create: the key belongs to a job that was cancelled */
    STORE_STARTED,       /* job_cancel: the job was already delivered */
    STORE_UNAVAILABLE,   /* the database failed; nothing was changed */
};

struct store;

struct store_options {
    const char *url;  /* file path, sqlite:PATH */
    unsigned readers; /* read connections (default 4) */
    unsigned writers; /* PostgreSQL: write connections, one thread each (default 4) */
    bool relaxed;     /* commit without fsync (documented fast mode) */
};

/* Opens the store and applies migrations. Returns NULL and writes a message
 * into err on failure. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* Waits for queued writes, then closes. NULL is fine. */
void store_close(struct store *s);

struct site_list {
    struct site *items;
    size_t n;
};
void site_list_clear(struct site_list *l);

/* adoption_hash: hex SHA-256 of the one-time adoption token (the store never
 * sees tokens, only their hashes). */
enum store_result store_site_create(struct store *s, const char *team, const char *name,
                                    const char *adoption_hash, struct site *out);
enum store_result store_site_get(struct store *s, const char *team, const char *site_id,
                                 struct site *out);
enum store_result store_site_list(struct store *s, const char *team, struct site_list *out);

/* ---- the device plane ------------------------------------------------ */

/* Facts a router reports (adoption or poll). Strings may be NULL. */
struct device_facts {
    const char *identity, *software_version, *serial_number, *model, *board_name,
        *architecture_name, *from;                    /* from: the client address */
    int64_t uptime, cpu_load, memory_free, disk_free; /* -1 when unknown */
};

/* Consumes a one-time adoption token: stores device_hash as the site's device
 * token and the facts. STORE_NOT_FOUND for an unknown, used or deleted token. */
enum store_result store_site_adopt(struct store *s, const char *adoption_hash,
                                   const char *device_hash, const struct device_facts *f,
                                   struct site *out);
/* The site a device token belongs to (also while its deletion is pending):
 * what a device request needs of it. Answered from memory when the token
 * was seen before and nothing changed it since (store/devices.c). */
struct device_site {
    char site_id[JP_UUID_LEN + 1];
    int64_t deleted_at; /* 0 unless deleted */
    char version[32];   /* RouterOS version as last stored ("" unknown) */
};
enum store_result store_site_by_device(struct store *s, const char *device_hash,
                                       struct device_site *out);
/* Revokes the device token at once and sets a new one-time adoption token:
 * the router is adopted again with the new bootstrap line. */
enum store_result store_site_rotate_device(struct store *s, const char *team, const char *site_id,
                                           const char *adoption_hash);
/* Marks the site deleted: its next poll gets the teardown script. */
enum store_result store_site_delete(struct store *s, const char *team, const char *site_id);
/* The router confirmed the teardown: the device token stops working. */
enum store_result store_site_teardown_done(struct store *s, const char *site_id);

/* Calls fn(ctx, site id), from a thread of the store, whenever any process
 * sharing the database queues a job (PostgreSQL: LISTEN/NOTIFY, reconnecting
 * after a database restart). A no-op where one process owns the database. */
void store_watch_jobs(struct store *s, void (*fn)(void *ctx, const char *site_id), void *ctx);

/* Records a heartbeat. Buffered in memory and flushed at least once a second:
 * losing up to a second of heartbeats on a crash is accepted, nothing else. */
void store_heartbeat(struct store *s, const char *site_id, const struct device_facts *f,
                     int64_t now);

/* Asynchronous writes, for callers that must not block (http/ handlers run
 * on an event loop): the call queues the write and returns at once; later,
 * once the write is committed (durable) or has failed, the outputs are filled,
 * res is set and done(ctx) runs, on a store thread or, when the store is
 * stopping, before the call returns. Everything passed, as included, must stay
 * valid until done runs. */
struct store_async {
    void (*done)(void *ctx);
    void *ctx;
    enum store_result res;
};

/* Whether the site has a job to hand out (1), not (0), or -1 on error: a read,
 * so that the common empty poll costs no write. */
int store_dispatch_wanted(struct store *s, const char *site_id, int64_t now, int64_t run_timeout);
/* Hands out the oldest pending job of the site, unless one is delivered and
 * unfinished (one that passed run_timeout is failed first). STORE_OK with the
 * job, now delivered (and completed when it needs no acknowledgement), and the
 * number still pending; STORE_NOT_FOUND when there is nothing to hand out. */
void store_dispatch_async(struct store *s, const char *site_id, int64_t now, int64_t run_timeout,
                          struct job *out, long *remaining, struct store_async *as);

/* Applies a device report (enum job_report: core/model.h). STORE_OK when it changed the job,
 * STORE_CONFLICT when the job had already finished (nothing changes; it is logged), STORE_NOT_FOUND
 * for an unknown job. out gets the job as it is afterwards. */
void store_job_report_async(struct store *s, const char *job_id, enum job_report r, int64_t now,
                            struct job *out, struct store_async *as);
/* Fails every delivered or running job older than run_timeout; returns how many. */
long store_sweep_timeouts(struct store *s, int64_t now, int64_t run_timeout);

/* Backups arrive in chunks at increasing offsets. STORE_OK: chunk stored, more
 * expected; STORE_CREATED: the backup is complete, stored as filename and set
 * as the job's associated_backup; STORE_CONFLICT: offset or total do not fit
 * what arrived before; STORE_NOT_FOUND: not a backup job of this site. */
#define JP_BACKUP_MAX (16 * 1024 * 1024)
enum store_result store_backup_chunk(struct store *s, const char *site_id, const char *job_id,
                                     int64_t offset, int64_t total, const char *data, size_t len,
                                     int64_t now, char filename[64]);

struct backup_info {
    char filename[64]; /* "{unix}.rsc" */
    int64_t size, created_at;
    char *content; /* owned; only from store_backup_get */
};
struct backup_list {
    struct backup_info *items; /* newest first */
    size_t n;
};
void backup_list_clear(struct backup_list *l);
enum store_result store_backup_list(struct store *s, const char *team, const char *site_id,
                                    struct backup_list *out);
enum store_result store_backup_get(struct store *s, const char *team, const char *site_id,
                                   const char *filename, struct backup_info *out);

struct stat_point {
    int64_t created_at, cpu_load, memory_free, disk_free, uptime; /* -1 unknown */
};
struct stat_list {
    struct stat_point *items;
    size_t n;
};
/* Samples in [from, to), oldest first; hourly averages when hourly is set. */
enum store_result store_stats(struct store *s, const char *team, const char *site_id, int64_t from,
                              int64_t to, bool hourly, struct stat_list *out);

struct log_entry {
    int64_t timestamp;
    char *message; /* owned */
};
struct log_list {
    struct log_entry *items;
    size_t n;
};
void log_list_clear(struct log_list *l);
/* Events of a site in [from, to] whose message contains text (NULL: all). */
enum store_result store_logs(struct store *s, const char *team, const char *site_id, int64_t from,
                             int64_t to, const char *text, struct log_list *out);

struct job_request {
    const char *site_id;         /* canonical UUID */
    const char *idempotency_key; /* canonical UUID */
    const char *description;
    const char *script;
    const char *notify_url; /* NULL when none */
    bool express_execute, needs_acknowledgement, should_backup;
};

/* STORE_CREATED with the new job; STORE_OK with the original job when the key
 * was seen with the same script and flags; STORE_CONFLICT when it was seen
 * with others; STORE_KEY_CANCELLED; STORE_NOT_FOUND for a foreign site. */
enum store_result store_job_create(struct store *s, const char *team, const struct job_request *req,
                                   struct job *out);
void store_job_create_async(struct store *s, const char *team, const struct job_request *req,
                            struct job *out, struct store_async *as);
enum store_result store_job_get(struct store *s, const char *team, const char *site_id,
                                const char *job_id, struct job *out);
/* Device side, no team: STORE_OK when the job exists (site_id set). */
enum store_result store_job_site(struct store *s, const char *job_id,
                                 char site_id[JP_UUID_LEN + 1]);

struct job_query {
    const char *site_id;
    const char *before_id; /* keyset: only jobs older than this id; NULL: from the newest */
    unsigned limit;        /* 0: all */
    int status;            /* enum job_status, or -1 for any */
};
struct job_list {
    struct job *items; /* newest first */
    size_t n;
    bool more; /* with a limit: further jobs remain after the last item */
};
void job_list_clear(struct job_list *l);

enum store_result store_job_list(struct store *s, const char *team, const struct job_query *q,
                                 struct job_list *out);
/* STORE_OK when it was pending and is now cancelled (token set, for the
 * log); STORE_STARTED when it was delivered or later. */
enum store_result store_job_cancel(struct store *s, const char *team, const char *site_id,
                                   const char *job_id, char token[JP_TOKEN_LEN + 1]);

#endif
