/* A rollout (the seed's "scheduled script"): one RouterOS script fanned out
 * over many sites, each site's outcome an ordinary job. Its states, its
 * parts (canary, waves, abort threshold, maintenance window) and its JSON
 * shape. No I/O: the scheduler (api/scheduler.c) and the store
 * (store/sql_rollouts.c) drive it. */
#ifndef JP_CORE_ROLLOUT_H
#define JP_CORE_ROLLOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"
#include "core/jwt.h"

/* The seed's four, then the extensions. Stored as these numbers. */
enum rollout_status {
    RO_UNAUTHORIZED = 0, /* created or changed: waits for approval */
    RO_SCHEDULED,        /* approved: launches at launch_at */
    RO_LAUNCHED,         /* queueing and running its jobs */
    RO_CANCELLED,        /* deleted before launch */
    RO_PAUSED,           /* launched, queueing nothing until resumed */
    RO_COMPLETED,        /* every outcome finished, none failed */
    RO_FAILED,           /* the canary failed, or some outcome did */
    RO_ABORTED,          /* stopped: by the abort threshold, abort or delete */
    RO_STATUS_COUNT_
};
const char *rollout_status_name(enum rollout_status s);
/* No further change: cancelled, completed, failed, aborted. */
bool rollout_status_final(enum rollout_status s);

/* A site's outcome (rollout_sites.state). Queued: its job exists; while it
 * runs the outcome is the job's, settled here when the rollout ends. */
enum rollout_site_state {
    RS_WAITING = 0, /* its wave has not come */
    RS_QUEUED,      /* its job was queued */
    RS_SKIPPED,     /* offline at launch (abort_if_offline), or deleted */
    RS_CANCELLED,   /* never queued, or its job cancelled: the rollout stopped */
    RS_COMPLETED,
    RS_FAILED,
};

/* Maintenance window: jobs are queued only on these days (bit 0 Monday ..
 * bit 6 Sunday) from start to end (minutes after local midnight; end before
 * start: the window runs past midnight, into the next day) in time zone tz
 * (an IANA name such as "Europe/Berlin"; "UTC"). */
struct rollout_window {
    unsigned days;
    int start, end;
    char tz[64];
};
/* Parses {days: ["mon", ...], start: "HH:MM", end: "HH:MM", tz}. 0, or -1
 * with the reason in err. The time zone's existence is the caller's check. */
int rollout_window_parse(json_t *j, struct rollout_window *w, char *err, size_t cap);
json_t *rollout_window_json(const struct rollout_window *w);
/* Whether the window is open at local time (unix seconds plus the zone's
 * offset). */
bool rollout_window_open(const struct rollout_window *w, int64_t local);

/* Abort threshold: a count of failures, or a percent of the sites ("10%").
 * Zero: none. */
struct rollout_threshold {
    int64_t value;
    bool percent;
};
/* An integer >= 1 or a string "N%" (1..100). 0 or -1. */
int rollout_threshold_parse(json_t *j, struct rollout_threshold *t);
json_t *rollout_threshold_json(const struct rollout_threshold *t);
/* The failures that abort a rollout over nsites sites (0: never). */
int64_t rollout_threshold_failures(const struct rollout_threshold *t, int64_t nsites);

/* The wave of each site: the canary is wave 0, the others waves 1.. of
 * wave_len sites each (wave_size, or wave_percent of them rounded up; 0
 * for both: one wave). rollout_wave_len returns that length for n sites. */
int64_t rollout_wave_len(int64_t wave_size, int64_t wave_percent, int64_t n);

/* The idempotency key of the rollout's job for a site: derived, so that a
 * step run twice (a crash, another node) creates the job once. */
void rollout_job_key(const char *rollout_id, const char *site_id, char out[JP_UUID_LEN + 1]);

struct rollout_target {
    char site_id[JP_UUID_LEN + 1];
    int state; /* enum rollout_site_state, a queued job's as it is now */
};

struct rollout {
    char id[JP_UUID_LEN + 1];
    char team[JP_TEAM_MAX + 1];
    char created_by[JP_SUBJECT_MAX + 1], authorized_by[JP_SUBJECT_MAX + 1];
    char test_site_id[JP_UUID_LEN + 1]; /* "" when none */
    char template_id[JP_UUID_LEN + 1];  /* "" when the script was given */
    char *description, *script;         /* owned */
    char *notify;                       /* owned: a JSON array of strings */
    bool make_backup, abort_if_offline;
    enum rollout_status status;
    int64_t authorized_at, cancelled_at, launch_at, started_at, finished_at, created_at, updated_at;
    int64_t wave_size, wave_percent, wave_interval; /* 0: not set */
    int64_t wave, waves; /* the wave now (0: the canary), and the last one */
    struct rollout_threshold max_failures;
    bool has_window;
    struct rollout_window window;
    struct rollout_target *targets; /* owned, in the order given */
    size_t ntargets;
};
void rollout_clear(struct rollout *r);

/* The API's shape (API.md), countdown t_minus taken at now. */
json_t *rollout_json(const struct rollout *r, int64_t now);
/* progress: {completed, failed, pending, skipped, cancelled} site ids. */
json_t *rollout_progress_json(const struct rollout *r);

#endif
