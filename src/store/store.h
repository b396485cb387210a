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

#include "core/jwt.h"
#include "core/model.h"
#include "core/rollout.h"
#include "core/sign.h"

enum store_result {
    STORE_OK = 0,        /* done; for job_create: an idempotent replay */
    STORE_CREATED,       /* job_create/site_create made a new object */
    STORE_NOT_FOUND,     /* no such object for this team */
    STORE_CONFLICT,      /* job_create: the key was used with another script or flags */
    STORE_KEY_CANCELLED, /* job_create: the key belongs to a job that was cancelled */
    STORE_STARTED,       /* job_cancel: the job was already delivered */
    STORE_UNAVAILABLE,   /* the database failed; nothing was changed */
    STORE_STALE,         /* job_report: the report's delivery is over (another delivery, or
                            the run timeout passed): refused, nothing changed */
};

struct store;

/* What the store keeps, and how long (store/retention.c). Ages are in
 * seconds; 0 keeps for ever. */
struct retention {
    int64_t stats_interval; /* a site's raw samples are at least this far apart (0: every one) */
    int64_t raw, hourly, daily; /* raw samples, hourly and daily roll-ups */
    int64_t jobs;               /* finished jobs with their events, and the sites' events */
    int64_t backup_keep;        /* backups kept per site, the newest first (0: all) */
    int64_t clock_offset;       /* added to the pruner's clock (tests that backdate data) */
};

struct store_options {
    const char *url;  /* file path, sqlite:PATH */
    unsigned readers; /* read connections (default 4) */
    unsigned writers; /* PostgreSQL: write connections, one thread each (default 4) */
    bool relaxed;     /* commit without fsync (documented fast mode) */
    struct retention retention;
    bool prune; /* run the pruner thread: roll-ups and retention */
};

/* Opens the store and applies migrations. Returns NULL and writes a message
 * into err on failure. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
bool store_is_postgres(const struct store *s);
/* Waits for queued writes, then closes. NULL is fine. */
void store_close(struct store *s);

struct site_list {
    struct site *items; /* in id order */
    size_t n;
    bool more; /* with a limit: further sites remain after the last item */
};
void site_list_clear(struct site_list *l);

/* A new bootstrap line: the hex SHA-256 of its one-time adoption token (the
 * store never sees tokens, only their hashes) and when it expires. */
struct adoption_line {
    const char *hash;
    int64_t expires_at;
};
/* expected_serial: the serial number an adoption must report, or NULL. */
enum store_result store_site_create(struct store *s, const char *team, const char *name,
                                    const char *expected_serial, const struct adoption_line *line,
                                    struct site *out);
/* A partial update: name when not NULL, expected_serial when set_serial
 * (NULL: any serial). STORE_NOT_FOUND for a deleted site. */
struct site_update {
    const char *name, *expected_serial;
    bool set_serial;
};
enum store_result store_site_update(struct store *s, const char *team, const char *site_id,
                                    const struct site_update *u, struct site *out);
enum store_result store_site_get(struct store *s, const char *team, const char *site_id,
                                 struct site *out);
/* Which sites a list holds; every field is optional (zero: no filter). */
struct site_query {
    const char *after_id; /* keyset: only sites with a greater id */
    unsigned limit;       /* 0: all */
    int online;           /* 1: seen at or after seen_since, 0: not, -1: any */
    int64_t seen_since;
    const char *q;       /* substring of the name or identity, any case (ASCII) */
    const char *version; /* software_version is this, or begins with it and a '.' or ' ' */
    bool last_job;       /* fill each site's last_job_* */
};
enum store_result store_site_list(struct store *s, const char *team, const struct site_query *q,
                                  struct site_list *out);

/* ---- the device plane ------------------------------------------------ */

/* Facts a router reports (adoption or poll). Strings may be NULL. */
struct device_facts {
    const char *identity, *software_version, *serial_number, *model, *board_name,
        *architecture_name, *from;                    /* from: the client address */
    int64_t uptime, cpu_load, memory_free, disk_free; /* -1 when unknown */
};

/* Consumes a one-time adoption token: stores device_hash as the site's device
 * token (the previous one, if any, stops working at once) and the facts.
 * STORE_NOT_FOUND when refused, with the reason in *why; for every reason but
 * ADOPT_UNKNOWN (no such line, or a deleted site's) out holds the site, and
 * the refusal was recorded (an event and the site.adoption_refused webhook). */
enum adopt_refusal { ADOPT_UNKNOWN = 0, ADOPT_USED, ADOPT_EXPIRED, ADOPT_WRONG_SERIAL };
extern const char *const adopt_refusals[]; /* their names: "unknown", "used", ... */
enum store_result store_site_adopt(struct store *s, const char *adoption_hash,
                                   const char *device_hash, const struct device_facts *f,
                                   struct site *out, enum adopt_refusal *why);
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
                                           const struct adoption_line *line);
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

/* A device report (enum job_report: core/model.h) of the delivery that
 * began at `delivery` (0: the report names none, as wrappers before
 * delivery fencing did), and the router's message, if it sent one. */
struct job_report_req {
    const char *job_id;
    enum job_report report;
    int64_t delivery;
    const char *message; /* NULL: none; else logged with the job (sanitised, at most 500 bytes) */
    int64_t now, run_timeout;
    /* A chunk of what the payload printed (total > 0): it must continue what
     * arrived (offset); the report applies with the last one, and *partial
     * says when more is expected. */
    const char *chunk;
    size_t chunk_len;
    int64_t offset, total;
    bool *partial;
};
/* Applies a report. STORE_OK when it changed the job; STORE_CONFLICT when the
 * job had already finished by an earlier report (nothing changes; it is
 * logged); STORE_STALE when the report's delivery is over: it names another
 * delivery, or the run timeout passed first (the job then fails, if it has
 * not yet); *why says which. STORE_NOT_FOUND for an unknown job. out gets the
 * job as it is afterwards. */
void store_job_report_async(struct store *s, const struct job_report_req *req, struct job *out,
                            const char **why, struct store_async *as);
/* What a job's payload printed, as the router uploaded it (malloc'ed, NUL
 * terminated; *text NULL when nothing arrived). STORE_NOT_FOUND for a job
 * that is not the team's. */
enum store_result store_job_output(struct store *s, const char *team, const char *site_id,
                                   const char *job_id, char **text, int64_t *size);
/* A heartbeat that carries the token of a job expecting a reboot
 * (jobplane-reboot=TOKEN) and the router's uptime: the job completes when it
 * is the site's, delivered and unfinished, the uptime began after the
 * delivery and the run timeout has not passed. STORE_OK when it completed;
 * STORE_CONFLICT when it did not (why: the reason, also in the job's log);
 * STORE_NOT_FOUND for no such job. */
void store_job_rebooted_async(struct store *s, const char *site_id, const char *token,
                              int64_t uptime, int64_t now, int64_t run_timeout, struct job *out,
                              const char **why, struct store_async *as);
/* A heartbeat naming a job of the site with a confirmation window: armed
 * (jobplane-armed=TOKEN: the router reached the server after the job;
 * STORE_OK with the job, logged) or reverted (jobplane-reverted=TOKEN: the
 * job becomes reverted; STORE_OK, or STORE_CONFLICT with why when it was
 * confirmed or reverted before). STORE_NOT_FOUND: no such job. */
void store_job_revert_async(struct store *s, const char *site_id, const char *token, bool reverted,
                            int64_t now, struct job *out, const char **why, struct store_async *as);
/* Fails every delivered or running job older than run_timeout; returns how many. */
long store_sweep_timeouts(struct store *s, int64_t now, int64_t run_timeout);

/* Backups arrive in chunks at increasing offsets. STORE_OK: chunk stored, more
 * expected; STORE_CREATED: the backup is complete, stored as filename and set
 * as the job's associated_backup; STORE_CONFLICT: offset or total do not fit
 * what arrived before; STORE_NOT_FOUND: not a backup job of this site. The
 * site's current device token never reaches the stored backup: each copy is
 * overwritten (token_redact) and counted in *redacted. A backup's content
 * (after its first line, when that is the export's time stamp) is stored
 * once per site and SHA-256; beyond the retention's backup_keep, the
 * site's oldest backups go. */
#define JP_BACKUP_MAX (16 * 1024 * 1024)
/* The AES-256 key (32 bytes) that seals the backups of jobs with
 * backup_sensitive; call before serving. Without one, such a backup is
 * refused (STORE_STALE) and a sealed one cannot be read (unreadable). */
void store_set_backup_key(struct store *s, const unsigned char key[32]);
enum store_result store_backup_chunk(struct store *s, const char *site_id, const char *job_id,
                                     int64_t offset, int64_t total, const char *data, size_t len,
                                     int64_t now, char filename[64], size_t *redacted);

struct backup_info {
    char filename[64]; /* "{unix}.rsc" */
    int64_t size, created_at;
    char sha256[65]; /* of the content after the export's time stamp line */
    bool unchanged;  /* the same content as the site's previous backup */
    bool sensitive;  /* it keeps secrets: stored sealed; sha256 is then a keyed digest */
    bool unreadable; /* sealed, and this server's key does not open it (content NULL) */
    char *content;   /* owned; only from store_backup_get */
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

/* A metric of a stats point: the sample, or over a period the rounded
 * average, the minimum and the maximum; -1 unknown. */
struct stat_metric {
    int64_t avg, min, max;
};
struct stat_point {
    int64_t created_at; /* the sample's time, or the period's start */
    int64_t period;     /* 0 (a raw sample), 3600 or 86400 */
    int64_t samples;    /* raw samples the point stands for */
    struct stat_metric cpu_load, memory_free, disk_free;
    int64_t uptime; /* the largest; -1 unknown */
};
struct stat_list {
    struct stat_point *items;
    size_t n;
};
/* The points of [from, to), oldest first, each period at the finest
 * resolution still kept (raw samples, then hourly, then daily roll-ups, by
 * their age at now); raw samples come as hourly points when hourly is set. */
enum store_result store_stats(struct store *s, const char *team, const char *site_id, int64_t from,
                              int64_t to, bool hourly, int64_t now, struct stat_list *out);

/* What the pruner did since the start (store/retention.c). */
struct retention_status {
    int64_t hourly_upto, daily_upto;        /* roll-ups are complete before these times */
    long long stats, rollups, jobs, events; /* rows removed (jobs: with their events) */
    long long rolled;                       /* roll-up rows written */
    bool idle;                              /* its last round found nothing due */
};
void store_retention_status(struct store *s, struct retention_status *out);

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
    bool express_execute, needs_acknowledgement, should_backup, dry_run, expects_reboot,
        capture_output, backup_sensitive;
    int64_t confirm_within; /* seconds (0: none) */
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
    const char *before_id;  /* keyset: only jobs older than this id; NULL: from the newest */
    unsigned limit;         /* 0: all */
    int status;             /* enum job_status, or -1 for any */
    const char *rollout_id; /* only the jobs this rollout queued; NULL: any */
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

/* ---- webhooks and the outbox (sql_webhooks.c, sql_outbox.c) ----------- */

/* A team's endpoint. events: bits of enum whk_event (core/webhook.h). */
struct webhook {
    char id[JP_UUID_LEN + 1];
    char *url, *description; /* owned; description may be NULL */
    unsigned events;
    int64_t created_at, updated_at;
    int64_t disabled_at;      /* 0 while enabled */
    char *disabled_reason;    /* owned, NULL while enabled */
    int64_t old_secret_until; /* the previous secret signs too until then (0: none) */
};
void webhook_clear(struct webhook *w);
struct webhook_list {
    struct webhook *items;
    size_t n;
};
void webhook_list_clear(struct webhook_list *l);

/* secret: the endpoint's "whsec_..." (the caller draws it). */
enum store_result store_webhook_create(struct store *s, const char *team, const char *url,
                                       const char *description, unsigned events, const char *secret,
                                       struct webhook *out);
enum store_result store_webhook_get(struct store *s, const char *team, const char *id,
                                    struct webhook *out);
enum store_result store_webhook_list(struct store *s, const char *team, struct webhook_list *out);
/* What PATCH changes: NULL / -1 keep a field; enabled 1 enables again (and
 * clears the reason), 0 disables. */
struct webhook_change {
    const char *url, *description;
    long events;
    int enabled;
};
enum store_result store_webhook_update(struct store *s, const char *team, const char *id,
                                       const struct webhook_change *c, struct webhook *out);
/* Deletes the endpoint; its undelivered events are failed. */
enum store_result store_webhook_delete(struct store *s, const char *team, const char *id);
/* A new secret; the previous one keeps signing until old_until (seconds). */
enum store_result store_webhook_rotate(struct store *s, const char *team, const char *id,
                                       const char *secret, int64_t old_until);
/* The team's notify_url secret: created, or rotated like an endpoint's. */
enum store_result store_notify_secret_set(struct store *s, const char *team, const char *secret,
                                          int64_t old_until);
/* Queues a ping event to that endpoint alone; event_id gets its id. */
enum store_result store_webhook_ping(struct store *s, const char *team, const char *id,
                                     char event_id[48], int64_t *delivery_id);

enum delivery_state { DELIVERY_PENDING = 0, DELIVERY_DELIVERED = 1, DELIVERY_FAILED = 2 };
struct delivery_attempt {
    int64_t at_ms, duration_ms;
    int status;    /* HTTP status; 0 when no answer */
    char *error;   /* owned; NULL after an answer */
    char *excerpt; /* owned: the start of the answer's body */
};
struct delivery {
    int64_t id;
    char event_id[48], type[32];
    char *webhook_id; /* owned */
    int state;        /* enum delivery_state */
    int64_t next_at_ms, created_at_ms, updated_at_ms;
    struct delivery_attempt *attempts; /* oldest first */
    size_t nattempts;
};
struct delivery_list {
    struct delivery *items; /* newest first */
    size_t n;
    bool more;
};
void delivery_list_clear(struct delivery_list *l);
/* An endpoint's deliveries, newest first, older than before_id (0: from the
 * newest), in one state (-1: any). */
enum store_result store_deliveries_list(struct store *s, const char *team, const char *webhook_id,
                                        int state, int64_t before_id, unsigned limit,
                                        struct delivery_list *out);
/* Queues a delivery again, now, with the whole retry schedule ahead. */
enum store_result store_delivery_redeliver(struct store *s, const char *team, int64_t id);

/* ---- API keys (sql_keys.c) ------------------------------------------- */

/* A team's API key. The store keeps the SHA-256 of its secret, never the
 * secret. scopes: enum jp_scope bits (core/jwt.h). */
struct api_key {
    char id[JP_UUID_LEN + 1];
    char team[JP_TEAM_MAX + 1];
    char name[404]; /* at most 100 characters of UTF-8 */
    unsigned scopes;
    int64_t expires_at;   /* 0: never */
    int64_t last_used_at; /* 0: never */
    int64_t created_at, updated_at;
    char secret_hash[JP_SIG_HEX + 1]; /* store_api_key_auth only */
};
struct api_key_list {
    struct api_key *items; /* oldest first */
    size_t n;
};
void api_key_list_clear(struct api_key_list *l);
/* created_by: who created it (a JWT sub or a key id), for the record. */
enum store_result store_api_key_create(struct store *s, const char *team, const char *name,
                                       unsigned scopes, int64_t expires_at, const char *secret_hash,
                                       const char *created_by, struct api_key *out);
enum store_result store_api_key_list(struct store *s, const char *team, struct api_key_list *out);
/* Deletes (revokes) the key: every node refuses it from the commit on. */
enum store_result store_api_key_delete(struct store *s, const char *team, const char *id);
/* The key of an id, whatever its team (with secret_hash): for
 * authentication. A read. */
enum store_result store_api_key_auth(struct store *s, const char *id, struct api_key *out);
/* Records when keys were last used (n of them, ids[i] at when[i]), never
 * moving a time back. */
enum store_result store_api_keys_used(struct store *s, const char (*ids)[JP_UUID_LEN + 1],
                                      const int64_t *when, size_t n);

/* For the metrics endpoint (sql_gauges.c): sites not deleted, online when
 * seen at or after seen_since; jobs not finished, by state. */
struct store_gauges {
    int64_t sites_online, sites_offline;
    int64_t jobs_pending, jobs_delivered, jobs_running;
};
enum store_result store_gauges(struct store *s, int64_t seen_since, struct store_gauges *out);

/* A team's fleet at a glance (GET /overview): its sites not deleted, online
 * when seen at or after seen_since, never adopted; its jobs not finished by
 * state, those delivered before stuck_before and unfinished (stuck), those
 * failed at or after failed_since; the newest failures and the oldest stuck
 * jobs (at most lists_max each), each with its site's name; the rollouts
 * that run (launched or paused) with their targets counted by state. */
struct overview_job {
    struct job job;
    char *site_name;
};
struct overview_rollout {
    char id[JP_UUID_LEN + 1];
    char *description;
    int status; /* enum rollout_status: launched or paused */
    int64_t wave, waves;
    int64_t targets, waiting, queued, completed, failed, skipped, cancelled; /* by target state */
};
struct store_overview {
    int64_t sites, sites_online, sites_unadopted;
    int64_t jobs_pending, jobs_delivered, jobs_running, jobs_stuck, jobs_failed;
    struct overview_job *failures, *stuck; /* failures newest first, stuck oldest first */
    size_t nfailures, nstuck;
    struct overview_rollout *rollouts; /* launched or paused, oldest first */
    size_t nrollouts;
};
struct overview_query {
    int64_t seen_since, stuck_before, failed_since;
    unsigned lists_max;
    bool rollouts; /* read the running rollouts too */
};
enum store_result store_overview(struct store *s, const char *team, const struct overview_query *q,
                                 struct store_overview *out);
void store_overview_clear(struct store_overview *o);
/* The writer's batches (every store of the process): operations per commit,
 * and seconds from BEGIN to the end of COMMIT. */
struct met_hist;
const struct met_hist *store_batch_hist(void);
const struct met_hist *store_commit_hist(void);

struct outbox_health {
    long depth;            /* deliveries not yet done */
    int64_t oldest_age_ms; /* of the oldest of them (0: none) */
    long dead;             /* failed after the last try */
};
enum store_result store_outbox_health(struct store *s, int64_t now_ms, struct outbox_health *out);

/* The delivery side (api/deliver.c). A claimed delivery is leased to this
 * node until lease_until: no other node takes it before. */
struct outbox_item {
    int64_t id, lease_until;
    char event_id[48];
    char dest[JP_UUID_LEN + 64];            /* the endpoint id, or the notify_url's origin */
    char *url, *body, *secret, *old_secret; /* owned; old_secret NULL unless rotating */
    size_t body_len;
    unsigned tries;   /* attempts made since queued (or redelivered) */
    bool endpoint;    /* a team endpoint's (not a notify_url's) */
    bool has_last;    /* an earlier attempt is recorded in its row */
    struct job *_job; /* the store's, while it renders a job event's payload */
    char _type[32];
    int64_t _ms;
};
void outbox_item_clear(struct outbox_item *it);
/* Leases up to max due deliveries whose destination is not one of busy[]
 * (nbusy of them, at most 9 are looked at) until lease_until. inflight[]:
 * the deliveries this node is sending (SQLite keeps its leases there). */
enum store_result store_outbox_claim(struct store *s, const char *node, int64_t now_ms,
                                     int64_t lease_until, const char *const *busy, size_t nbusy,
                                     const int64_t *inflight, size_t ninflight,
                                     struct outbox_item *items, size_t max, size_t *n);
/* When the next delivery not leased now is due (0: none queued); a read. */
int64_t store_outbox_next_due(struct store *s, int64_t now_ms);
enum delivery_outcome {
    OUTCOME_DELIVERED, /* a 2xx answer */
    OUTCOME_RETRY,     /* try again at next_at_ms */
    OUTCOME_FAILED,    /* the last try failed: dead letter */
    OUTCOME_GONE,      /* 410: the endpoint is disabled (a notify_url: failed) */
};
struct delivery_result {
    const struct outbox_item *item;
    enum delivery_outcome outcome;
    int64_t at_ms, duration_ms, next_at_ms;
    int status;
    const char *error, *excerpt; /* NULL when none */
};
/* Records attempts (one transaction for all). */
enum store_result store_outbox_record(struct store *s, const char *node,
                                      const struct delivery_result *r, size_t n);
/* At start: the deliveries this node had leased are free again. */
enum store_result store_outbox_reclaim(struct store *s, const char *node);
/* Deletes delivered deliveries (and their attempts) last changed before
 * delivered_before_ms, dead letters before dead_before_ms, and events older
 * than events_before_ms (none may be pending then: the caller adds the retry
 * schedule's length), at most limit of each; returns how many, -1 on error. */
long store_outbox_prune(struct store *s, int64_t delivered_before_ms, int64_t dead_before_ms,
                        int64_t events_before_ms, unsigned limit);
/* Calls fn(ctx) from a store thread after a commit that queued deliveries
 * (here or, on PostgreSQL, on another node). */
void store_watch_outbox(struct store *s, void (*fn)(void *ctx), void *ctx);
/* Marks sites that stopped polling for window seconds offline (their
 * site.offline events); returns how many. */
long store_sweep_offline(struct store *s, int64_t now, int64_t window);

/* ---- rollouts and script templates (sql_rollouts.c, sql_templates.c) -- */

/* What a create or a full update (PUT) gives; validated by the caller. */
struct rollout_spec {
    const char *description, *script, *notify; /* notify: a JSON array of strings */
    const char *test_site_id, *template_id;    /* NULL: none */
    bool make_backup, abort_if_offline;
    int64_t launch_at, wave_size, wave_percent, wave_interval;
    struct rollout_threshold max_failures;
    const struct rollout_window *window; /* NULL: none */
    const char (*sites)[JP_UUID_LEN + 1];
    size_t nsites;
};
/* STORE_CREATED with the rollout (unauthorized); STORE_NOT_FOUND when a
 * site is not one of the team's (its id in missing; nothing is created).
 * created_by: the JWT sub or the API key id. */
enum store_result store_rollout_create(struct store *s, const char *team, const char *created_by,
                                       const struct rollout_spec *spec, struct rollout *out,
                                       char missing[JP_UUID_LEN + 1]);
/* A full update, before launch only (STORE_STARTED after it): the status
 * goes back to unauthorized. */
enum store_result store_rollout_update(struct store *s, const char *team, const char *id,
                                       const char *by, const struct rollout_spec *spec,
                                       struct rollout *out, char missing[JP_UUID_LEN + 1]);
enum store_result store_rollout_get(struct store *s, const char *team, const char *id,
                                    struct rollout *out);
struct rollout_list {
    struct rollout *items; /* oldest first */
    size_t n;
};
void rollout_list_clear(struct rollout_list *l);
enum store_result store_rollout_list(struct store *s, const char *team, struct rollout_list *out);
/* What an operator does to a rollout. STORE_CONFLICT when its status does
 * not allow it (nothing changes). */
enum rollout_action {
    RA_APPROVE, /* unauthorized -> scheduled (by: the approver) */
    RA_PAUSE,   /* launched -> paused */
    RA_RESUME,  /* paused -> launched */
    RA_ABORT,   /* launched or paused -> aborted: nothing more queued, pending jobs cancelled */
    RA_DELETE,  /* before launch: cancelled; after: aborted */
};
enum store_result store_rollout_act(struct store *s, const char *team, const char *id,
                                    enum rollout_action a, const char *by, int64_t now,
                                    struct rollout *out);
/* A rollout's events, oldest first. */
enum store_result store_rollout_events(struct store *s, const char *team, const char *id,
                                       struct log_list *out);

/* The scheduler's side (api/scheduler.c). The rollouts with something to
 * do: scheduled and due by now, or launched; with their windows. */
struct rollout_due {
    char id[JP_UUID_LEN + 1];
    bool has_window;
    struct rollout_window window;
};
enum store_result store_rollouts_due(struct store *s, int64_t now, struct rollout_due **items,
                                     size_t *n);
/* One step of one rollout (a write of its own; on PostgreSQL, a rollout
 * another node is stepping is skipped): launches it when due; ends it when
 * its canary failed, its failures reached the threshold, or its last wave
 * finished; starts the next wave when the previous one finished and the
 * interval passed; queues up to max jobs of the waves begun (when
 * window_open). The sites that got a job go to queued[] (*nqueued of them);
 * *more is set when another step has work at once. */
enum store_result store_rollout_step(struct store *s, const char *id, int64_t now, bool window_open,
                                     int64_t seen_since, char (*queued)[JP_UUID_LEN + 1],
                                     size_t max, size_t *nqueued, bool *more);

/* Automatic backups: a pass over every online site once a day, beginning at
 * start (unix seconds) and spread over spread seconds; each step queues the
 * backup jobs due by now (at most max; their sites in queued[]), each with a
 * key of its site and day, so no site gets two. *more when more are due. */
enum store_result store_auto_backup_step(struct store *s, int64_t day, int64_t start,
                                         int64_t spread, int64_t now, int64_t seen_since,
                                         char (*queued)[JP_UUID_LEN + 1], size_t max,
                                         size_t *nqueued, bool *more);

struct script_template {
    char id[JP_UUID_LEN + 1];
    char created_by[JP_SUBJECT_MAX + 1];
    char *name, *description, *content; /* owned */
    int64_t created_at, updated_at;
};
void script_template_clear(struct script_template *t);
struct template_list {
    struct script_template *items; /* oldest first */
    size_t n;
};
void template_list_clear(struct template_list *l);
enum store_result store_template_create(struct store *s, const char *team, const char *created_by,
                                        const char *name, const char *description,
                                        const char *content, struct script_template *out);
/* STORE_OK; STORE_NOT_FOUND for another team's or none. */
enum store_result store_template_get(struct store *s, const char *team, const char *id,
                                     struct script_template *out);
enum store_result store_template_list(struct store *s, const char *team, struct template_list *out);
enum store_result store_template_update(struct store *s, const char *team, const char *id,
                                        const char *name, const char *description,
                                        const char *content, struct script_template *out);
enum store_result store_template_delete(struct store *s, const char *team, const char *id);

#endif
