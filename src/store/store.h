/* store.h: the one interface every handler uses to read and change state.
 *
 * Durability: every function that changes state returns only after the change
 * is committed and fsync'd (unless the store was opened in relaxed mode).
 * Concurrent writers share commits: backends batch them (group commit).
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
    STORE_OK = 0,      /* done; for job_create: an idempotent replay */
    STORE_CREATED,     /* job_create/site_create made a new object */
    STORE_NOT_FOUND,   /* no such object for this team */
    STORE_CONFLICT,    /* job_create: the key was used with another script or flags */
    STORE_KEY_CANCELLED, /* job_create: the key belongs to a job that was cancelled */
    STORE_STARTED,     /* job_cancel: the job was already delivered */
    STORE_UNAVAILABLE, /* the database failed; nothing was changed */
};

struct store;

struct store_options {
    const char *url;      /* file path, sqlite:PATH */
    unsigned readers;     /* read connections (default 4) */
    bool relaxed;         /* commit without fsync (documented fast mode) */
};

/* Opens the store and applies migrations. Returns NULL and writes a message
 * into err on failure. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* Waits for queued writes, then closes. NULL is fine. */
void store_close(struct store *st);

struct site_list {
    struct site *items;
    size_t n;
};
void site_list_clear(struct site_list *l);

enum store_result store_site_create(struct store *st, const char *team, const char *name,
                                    struct site *out);
enum store_result store_site_get(struct store *st, const char *team, const char *site_id,
                                 struct site *out);
enum store_result store_site_list(struct store *st, const char *team, struct site_list *out);

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
enum store_result store_job_create(struct store *st, const char *team,
                                   const struct job_request *req, struct job *out);
enum store_result store_job_get(struct store *st, const char *team, const char *site_id,
                                const char *job_id, struct job *out);

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

enum store_result store_job_list(struct store *st, const char *team, const struct job_query *q,
                                 struct job_list *out);
/* STORE_OK when it was pending and is now cancelled (token set, for the
 * log); STORE_STARTED when it was delivered or later. */
enum store_result store_job_cancel(struct store *st, const char *team, const char *site_id,
                                   const char *job_id, char token[JP_TOKEN_LEN + 1]);

#endif
