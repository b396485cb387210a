/* The concepts of jobplane, each defined once: a site (one router) and a job
 * (one RouterOS script for one site). Timestamps are unix seconds; 0 = unset. */
#ifndef JP_CORE_MODEL_H
#define JP_CORE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"
#include "core/jwt.h"

#define JP_SCRIPT_MAX_CHARS 10000
#define JP_DESCRIPTION_MIN_CHARS 3
#define JP_DESCRIPTION_MAX_CHARS 100
#define JP_SITE_NAME_MAX_CHARS 100
#define JP_SERIAL_MAX_CHARS 64 /* expected_serial */
#define JP_NOTIFY_URL_MAX 2048
/* A backup job's payload: the wrapper takes the backup before it. */
#define JP_BACKUP_SCRIPT ":log info \"jobplane: configuration backup taken\""

/* Job states, in the order of precedence: a job is in the last state whose
 * timestamp is set. Adding one: a value here and a row in job_states
 * (model.c). */
enum job_status {
    JOB_PENDING = 0, /* queued, never handed to the router: the only cancellable state */
    JOB_DELIVERED,   /* put in a poll answer, no report yet */
    JOB_RUNNING,     /* the router reported busy */
    JOB_COMPLETED,   /* the router reported done (or delivery, without acknowledgement) */
    JOB_FAILED,      /* the router reported fail, or the run timeout passed */
    JOB_REVERTED,    /* no confirmation came in time: the router restored its configuration */
    JOB_STATUS_COUNT_
};

struct job_state_info {
    const char *name;  /* the API's status value (?status= filter, the status field) */
    const char *where; /* SQL predicate on the jobs table's timestamp columns */
    size_t stamp;      /* offset in struct job of the timestamp that marks it; 0: none */
};
/* Indexed by enum job_status. */
extern const struct job_state_info job_states[JOB_STATUS_COUNT_];

const char *job_status_name(enum job_status s);
/* Returns the status for a name, or -1. */
int job_status_parse(const char *name);
/* Writes "pending, delivered, running, completed or failed" (the names, for
 * messages) into buf. */
void job_status_list(char *buf, size_t cap);

/* What a router reports about a job it runs. Adding one: a value here and a
 * row in job_reports (model.c); the signed URLs and the store read the row. */
enum job_report { REPORT_BUSY, REPORT_DONE, REPORT_FAIL, JOB_REPORT_COUNT_ };

struct job_report_info {
    const char *name;   /* ?status= of /job/{id}/update, and the signed action */
    enum job_status to; /* the state the report moves an unfinished job to */
    const char *set;    /* SQL SET clause (?2 = now) */
    const char *event;  /* event text after "Job {token} " */
};
/* Indexed by enum job_report. */
extern const struct job_report_info job_reports[JOB_REPORT_COUNT_];
/* Returns the report for a name, or -1. */
int job_report_parse(const char *name);

struct site {
    char id[JP_UUID_LEN + 1];
    char team[JP_TEAM_MAX + 1]; /* owner; never shown to other teams */
    char *name;                 /* operator's label, owned */
    /* Device facts from the last heartbeat; NULL until the router reports them. */
    char *identity, *serial_number, *model, *board_name, *architecture_name, *software_version,
        *last_seen_from;
    int64_t uptime;       /* seconds, -1 when unknown */
    int64_t last_seen_at; /* last heartbeat */
    int64_t created_at, updated_at, deleted_at;
    /* Adoption: the last one (when, from which address), the serial number
     * an adoption must report (NULL: any), and when the pending bootstrap
     * line expires (0: none pending). */
    int64_t adopted_at, adoption_expires_at;
    char *adopted_from, *expected_serial;
    /* GET /sites?include=last_job: the newest job not cancelled, its state
     * and creation (last_job_id "" when none, or when not asked for). */
    char last_job_id[JP_UUID_LEN + 1];
    int last_job_status; /* enum job_status */
    int64_t last_job_at;
};

struct job {
    char id[JP_UUID_LEN + 1];
    char token[JP_TOKEN_LEN + 1]; /* in every log line about the job */
    char site_id[JP_UUID_LEN + 1];
    char idempotency_key[JP_UUID_LEN + 1];
    char rollout_id[JP_UUID_LEN + 1]; /* "" unless a rollout queued it */
    char *description;                /* owned */
    char *script;                     /* owned; the operator's RouterOS payload */
    char *notify_url;                 /* owned, NULL when none */
    char *associated_backup;          /* owned, "{site_id}/{unix}.rsc" once the backup arrived */
    bool express_execute, needs_acknowledgement, should_backup;
    bool dry_run;          /* the router parses the payload and runs nothing */
    bool expects_reboot;   /* completed when the router comes back restarted */
    bool capture_output;   /* the router uploads what the payload printed */
    bool backup_sensitive; /* the backup keeps secrets, and is stored encrypted */
    int64_t
        confirm_within; /* seconds the router waits for a confirmation, then reverts (0: none) */
    int64_t created_at, delivered_at, started_at, completed_at, failed_at;
    int64_t reverted_at; /* set with failed_at: reverted is a failure that was undone */
};

/* The state, read off the timestamps (there is no stored status column). */
enum job_status job_status_of(const struct job *j);
/* Applies report r at time now to an unfinished job, as job_reports[r].set
 * does to its row. */
void job_apply_report(struct job *j, enum job_report r, int64_t now);

/* Free the owned strings (not the struct itself). Safe on zeroed structs. */
void job_clear(struct job *j);
void site_clear(struct site *s);

#endif
