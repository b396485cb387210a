/* api/: where HTTP, the core and the store meet. Each handler parses and
 * validates its input, calls core and store, and answers. */
#ifndef JP_API_API_H
#define JP_API_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/ratelimit.h"
#include "core/jobreq.h"
#include "core/jwt.h"
#include "core/model.h"
#include "core/routeros.h"
#include "core/shape.h"
#include "core/sign.h"
#include "http/server.h"
#include "store/store.h"

struct key_uses; /* when API keys were last used, not yet written (keys.c) */

struct app {
    struct store *store;
    struct http_server *srv;     /* the API's server (its held polls are the metrics') */
    const unsigned char *secret; /* operator JWT secret (HS256) */
    size_t secret_len;
    /* RS256/ES256 public keys (NULL: none), replaced on SIGHUP: read under
     * keys_lock */
    struct jwt_keyset *keys;
    pthread_rwlock_t keys_lock;
    struct jwt_expect jwt;  /* issuer/audience/leeway */
    unsigned poll_interval; /* seconds between router polls; has_pulse uses it */
    unsigned poll_wait;     /* held-poll seconds rendered into poll scripts (used on 7.15+) */
    char poll_rev[ROS_REV_LEN + 1]; /* the revision of the poll script this server renders */
    const char *ca_pem;             /* --tls-ca: the PEM served at /ca.pem (NULL: none) */
    char ca_fingerprint[65];        /* its SHA-256 (DER, lower hex), pinned by bootstraps */
    int64_t run_timeout;            /* seconds a delivered job may run before it fails */
    struct sign_key sign;           /* for signed device URLs */
    int64_t url_ttl;                /* seconds a signed device URL stays valid */
    int64_t output_max; /* bytes of a job's output a router uploads; past it: cut, marked */
    const unsigned char *backup_key; /* --backup-key-file: the AES-256 key of sensitive backups */
    struct ratelimit *rate;          /* per-team limits of JWTs; NULL: off */
    struct ratelimit *key_rate;      /* per-key limits of API keys; NULL: off */
    struct key_uses *uses;
    int64_t adoption_ttl;          /* seconds a bootstrap line stays valid */
    struct ratelimit *adopt_fails; /* failed adoptions per client address; NULL: off */
    struct adopt_counts {          /* this process's adoptions, for /healthz */
        atomic_long ok, refused, limited;
    } adopt;
};

/* A confirmation window ends at least this many seconds before the run
 * timeout (a job waiting for its confirmation is in flight). */
#define CONFIRM_MARGIN 60

/* Fills out with len random base62 characters; -1 when the RNG fails. */
int api_random_token(char *out, size_t len);
/* A new bootstrap line: its adoption token, the token's hash (what the store
 * keeps) and its expiry (now + --adoption-ttl). -1 when the RNG fails. */
struct bootstrap {
    char token[JP_ADOPTION_TOKEN_LEN + 1], hash[JP_SIG_HEX + 1];
    struct adoption_line line;
};
int api_bootstrap_new(const struct app *app, struct bootstrap *b);
/* The bootstrap line's fields of an answer: bootstrap (the RouterOS command)
 * and bootstrap_expires_at. */
void api_bootstrap_json(struct http_req *req, const struct bootstrap *b, json_t *j);
/* Adoptions: whether the client's address may try again (false: answered
 * 429), and the record of a failed try. */
bool api_adoption_allowed(struct http_req *req);
/* Monotonic seconds, the clock of the rate limits; and their 429 answer. */
double api_mono_s(void);
void api_reply_rate_limited(struct http_req *req, unsigned wait, const char *message);
void api_adoption_failed(struct http_req *req);

/* Who may call a route: the caller column of the routing table (routes.c).
 * api_authenticate checks it before the handler runs and fills a struct
 * caller, which the handler reads at req->caller. */
enum caller_kind {
    CALLER_UNSET = 0,     /* no route has it: a row without a kind is a mistake */
    CALLER_PUBLIC,        /* anyone */
    CALLER_OPERATOR,      /* Bearer JWT or API key holding the route's scope: team and
                             scopes */
    CALLER_DEVICE,        /* Bearer device token: the site it belongs to */
    CALLER_ADOPTION,      /* a one-time adoption token in the path ({token}); the
                             handler's store operation consumes it */
    CALLER_SIGNED_REPORT, /* a signed report URL: {job} and ?status= (a report kind) */
    CALLER_SIGNED_UPLOAD, /* a signed backup upload URL: ?job= and the action "backup" */
    CALLER_KIND_COUNT_
};

/* The authenticated caller of a request: fixed-size, no heap (a held poll
 * keeps it while it waits). */
struct caller {
    enum caller_kind kind;
    char team[JP_TEAM_MAX + 1];       /* operator */
    unsigned scopes;                  /* operator */
    char subject[JP_SUBJECT_MAX + 1]; /* operator: the JWT's sub ("" when none), or the key id */
    bool api_key;                     /* operator: authenticated by an API key */
    char site_id[JP_UUID_LEN + 1];    /* device: its site, as read at authentication */
    int64_t deleted_at;               /* device: the site's, 0 unless a teardown is due */
    int ros_version;                  /* device: RouterOS version last reported (ros_version) */
    char job_id[JP_UUID_LEN + 1];     /* signed: the job the URL was signed for */
    const char *action;               /* signed: what it was signed for ("busy", "backup") */
    int64_t delivery;                 /* signed report: the delivery it names (0: none) */
};

/* The routing table: every endpoint, who may call it, its handler, scope and
 * body limit. */
extern const struct http_route api_routes[];
extern const size_t api_nroutes;
/* --metrics-listen: GET /metrics without credentials, and /healthz. */
extern const struct http_route api_metrics_routes[];
extern const size_t api_metrics_nroutes;
const char *api_caller_name(enum caller_kind k);

/* Metrics (metrics.c): the http/ hook http_config.on_done; counts of the
 * device plane. */
#define API_METRICS_ROUTES_MAX 96 /* api_routes and one more: requests that matched none */
enum poll_answer {
    POLL_JOB,
    POLL_IDLE,
    POLL_TEARDOWN,
    POLL_REFUSED,
    POLL_UPDATE,
    POLL_DISARM, /* a job's revert disarmed (and the job confirmed) */
    POLL_ANSWER_COUNT_
};
void api_request_done(struct http_req *req, double seconds);
void api_count_poll(enum poll_answer a);
void api_count_wakes(unsigned woken, bool from_database);
void api_count_report(enum job_report r);

/* The http/ hook (http_config.authenticate): checks the route's caller kind
 * and fills req->caller; false after answering 401, 403, 404, 422 or 429. */
bool api_authenticate(struct http_req *req);

/* A handler waiting for an asynchronous store write keeps its state in a
 * struct that begins with struct api_wait: api_wait_start allocates it
 * (zeroed, size bytes) as req->cont, with as.done resuming the request and
 * clear (may be NULL) releasing what it holds when the request ends; the
 * handler queues the write with &w->as and calls http_defer(req, then); then
 * reads req->cont and calls api_wait_end. NULL after answering 500. */
struct api_wait {
    struct store_async as;
    void (*clear)(void *state);
};
void *api_wait_start(struct http_req *req, size_t size, void (*clear)(void *state));
void api_wait_end(struct http_req *req);

/* Answers with the error a store result means (never for OK/CREATED). */
void api_reply_store_error(struct http_req *req, enum store_result r);

/* Parses the path parameter {name} as a UUID into out; answers 422 ("The
 * site id in the path is not a UUID.") and returns -1 if it is not. */
int api_uuid_param(struct http_req *req, const char *name, char out[JP_UUID_LEN + 1]);
/* Keyset paging: ?limit= (digits, 1..1000; 0 when absent) and the cursor
 * ?NAME= (the id of a WHAT, a UUID: "site", "job"; *cursor NULL when absent,
 * else buf). 0; -1 after answering 422. */
int api_page_params(struct http_req *req, const char *name, const char *what, unsigned *limit,
                    char buf[JP_UUID_LEN + 1], const char **cursor);

/* 1 when the Content-Type names this media type (parameters allowed). */
int api_content_type_is(struct http_req *req, const char *want);
/* The body as a JSON object, or NULL after answering 415/400/422. */
json_t *api_json_body(struct http_req *req);
/* String field with a length in characters in [min, max]; NULL after answering
 * (400 when absent, 422 when invalid, too_long when over max). */
const char *api_json_string(struct http_req *req, json_t *j, const char *name, long min, long max,
                            enum jp_err too_long);

/* Creates the job the validated fields describe for site (their strings
 * point into the request, or into doc, which this takes over), wakes the
 * site's held polls, and answers through answer once it is committed: the
 * one path of every job create. */
void api_job_create(struct http_req *req, const char *site, const struct job_fields *f, json_t *doc,
                    void (*answer)(struct http_req *, enum store_result, const struct job *));

/* A site's JSON shape, online or not by the configured poll interval. */
json_t *api_site_json(const struct app *app, const struct site *s);

/* API keys (keys.c). A Bearer credential of the key form: fills who, or
 * answers 401 and returns -1. */
int api_key_auth(struct http_req *req, const char *tok, struct caller *who);
struct key_uses *key_uses_new(void);
void key_uses_free(struct key_uses *u);
/* Writes when keys were last used (the sweeper, a listing, the shutdown). */
void api_keys_flush(struct app *app);

/* Handlers. */
void api_keys_create(struct http_req *req);
void api_keys_list(struct http_req *req);
void api_keys_delete(struct http_req *req);
void api_healthz(struct http_req *req);
/* --tls-ca's certificate, which bootstrap lines fetch and pin. */
void api_ca_pem(struct http_req *req);
void api_metrics(struct http_req *req);
void api_openapi(struct http_req *req);
/* The web console's files (ui/), compiled in by scripts/embed-ui.sh as
 * gen/ui.c: console.c serves them by name. */
struct ui_file {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct ui_file ui_files[];
extern const size_t ui_nfiles;
void api_ui_index(struct http_req *req);
void api_ui_file(struct http_req *req);
void api_overview(struct http_req *req);
void api_sites_create(struct http_req *req);
void api_sites_list(struct http_req *req);
void api_sites_get(struct http_req *req);
void api_sites_update(struct http_req *req);
void api_jobs_create(struct http_req *req);
void api_jobs_create_json(struct http_req *req);
void api_jobs_list(struct http_req *req);
void api_jobs_get(struct http_req *req);
void api_jobs_cancel(struct http_req *req);
void api_jobs_output(struct http_req *req);
void api_error_doc(struct http_req *req);
void api_sites_delete(struct http_req *req);
void api_sites_rotate(struct http_req *req);
void api_sites_stats(struct http_req *req);
void api_logs(struct http_req *req);
void api_backups_list(struct http_req *req);
void api_backups_get(struct http_req *req);
void api_backups_request(struct http_req *req);
void api_backups_diff(struct http_req *req);
void api_device_adopt(struct http_req *req);
void api_device_poll(struct http_req *req);
void api_device_report(struct http_req *req);
void api_device_backup(struct http_req *req);
void api_device_notify_delete(struct http_req *req);
void api_webhooks_create(struct http_req *req);
void api_webhooks_list(struct http_req *req);
void api_webhooks_get(struct http_req *req);
void api_webhooks_update(struct http_req *req);
void api_webhooks_delete(struct http_req *req);
void api_webhooks_rotate(struct http_req *req);
void api_webhooks_test(struct http_req *req);
void api_webhooks_deliveries(struct http_req *req);
void api_webhooks_redeliver(struct http_req *req);
void api_webhooks_notify_secret(struct http_req *req);
void api_rollouts_create(struct http_req *req);
void api_rollouts_list(struct http_req *req);
void api_rollouts_get(struct http_req *req);
void api_rollouts_update(struct http_req *req);
void api_rollouts_delete(struct http_req *req);
void api_rollouts_authorize(struct http_req *req);
void api_rollouts_approve(struct http_req *req);
void api_rollouts_progress(struct http_req *req);
void api_rollouts_pause(struct http_req *req);
void api_rollouts_resume(struct http_req *req);
void api_rollouts_abort(struct http_req *req);
void api_rollouts_events(struct http_req *req);
void api_templates_create(struct http_req *req);
void api_templates_list(struct http_req *req);
void api_templates_get(struct http_req *req);
void api_templates_update(struct http_req *req);
void api_templates_delete(struct http_req *req);

/* Wakes the scheduler (scheduler.c) now: a rollout became due or resumed. */
void api_scheduler_kick(void);

#endif
