/* `jobplane sim`'s parts: the fleet's state (struct sim), what one router
 * does (sim_router.c: HTTP, adoption, running a job, the delivery records),
 * the event loop that runs every poll (sim_loop.c), and the command with
 * its queueing, its options and its report (sim.c). */
#ifndef JP_CLI_SIM_H
#define JP_CLI_SIM_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A job id and when: for a queued job, a = when its create's answer
 * arrived; for a delivered one, a = when the poll that brought it started and
 * b = when its answer arrived. */
struct jid {
    char id[37];
    double a, b;
};

struct idlist {
    struct jid *id;
    size_t n, cap;
};

struct buf {
    char *p;
    size_t n, cap;
};

struct router {
    char site_id[64];
    char token[64];        /* the device token its installed poll script sends ("": none) */
    char file_token[64];   /* its token file (what the adoption answer wrote there) */
    const char *script;    /* its installed poll script (shared: sim_install) */
    char rev[16];          /* that script's revision, which its heartbeats send */
    int version;           /* the RouterOS it runs (ros_version) */
    struct idlist ran;     /* job tokens it ran: a = 1 done, 0 failed (its jobplane-jobs.txt) */
    double boot_at;        /* monotonic seconds of its last start: its uptime counts from here */
    char reboot_token[16]; /* its jobplane-reboot.txt: sent in heartbeats until a poll succeeds */
    char revert_token[16]; /* its jobplane-revert.txt ("": none) */
    char revert_state;     /* in that file: 'r' the payload runs, 'w' it waits for confirmation */
    bool revert_armed;     /* its jobplane-revert scheduler exists */
    double revert_at;      /* monotonic seconds when that scheduler restores the backup */
    char name[32];
    double next;            /* monotonic seconds of the next poll */
    bool gone;              /* torn down */
    unsigned seq;           /* configuration changes (jobs that add, set or remove) */
    struct idlist seen;     /* jobs delivered to it (under queue_mu) */
    struct idlist queued;   /* jobs --queue-rate created for it (under queue_mu) */
    atomic_int undelivered; /* of those, not delivered yet */
    /* the poll in flight (the event loop's) */
    CURL *easy;
    struct curl_slist *hdr;
    struct buf in;
    double t0;    /* when it started */
    bool backlog; /* a queued job was waiting when it started: its answer is not held */
    int node;     /* which --url */
};

/* A poll's answer that carries work (a job, a teardown), for a job thread. */
struct task {
    long r;
    char *answer;
    double t0, t1; /* the poll's start, its answer's arrival */
    struct task *next;
};

#define SIM_MAX_URLS 8

struct sim {
    const char *url;                /* the first --url: sites are created there */
    const char *urls[SIM_MAX_URLS]; /* every --url (nodes of one fleet); polls pick one at random */
    int nurls;
    const char *op_token, *record, *tokens_out;
    long routers, interval, wait, duration, threads, queue_rate, sources;
    bool fresh;           /* --fresh-connections */
    bool restore;         /* --restore: apply each backup taken, as restoring it would */
    long downgrade_after; /* --downgrade-after S: then every router runs RouterOS 7.12 (0: never) */
    double t_start;
    double fail_rate;
    struct router *r;
    FILE *rec;
    pthread_mutex_t rec_mu;
    atomic_long
        poll_causes[CURL_LAST + 2]; /* poll errors by CURLcode; then HTTP status, truncated */
    atomic_long polls, poll_errors, jobs, done, failed, backups, backup_errors, duplicates,
        report_errors, foreign_urls, teardowns, setup_errors, restores, restore_errors, updates,
        stopped, remembered, downgraded, dry_runs, reboots, refused, confirmed, reverts, cut_offs;
    double cut_off_rate; /* --cut-off-rate: a job with a confirmation window cuts the router off */
    /* the distinct poll scripts routers have installed (scripts_mu) */
    pthread_mutex_t scripts_mu;
    struct script_copy {
        char *text;
        struct script_copy *next;
    } * scripts;
    pthread_mutex_t lat_mu;
    struct samples {
        double *v;
        size_t n, cap;
    } lat, wake; /* poll latencies (lat_mu); express wakes (queue_mu), ms */
    double t_end;
    /* hand-offs: routers to (re)schedule, to the event loop (hand_mu, with a
     * write to efd); tasks to the job threads (hand_mu, task_cv) */
    pthread_mutex_t hand_mu;
    pthread_cond_t task_cv;
    int efd;
    long *back;
    size_t nback, capback;
    struct task *tasks, *tasks_tail;
    bool stop;
    atomic_long busy; /* tasks not yet handed back */
    long max_in_flight;
    /* --queue-rate: jobs are queued from the moment every router is adopted
     * (t_run) for --duration seconds; routers then poll on until every queued
     * job was delivered, or until 3 intervals pass without a delivery of one
     * (a router with a backlog takes one job per poll: it keeps progressing). */
    atomic_long ready, queued, queue_errors, delivered_queued;
    atomic_long queuers; /* still queueing */
    pthread_mutex_t queue_mu;
    _Atomic double t_run, t_delivered; /* 0 until the run starts; the last delivery */
};

struct worker {
    struct sim *s;
    long first, step; /* adopts routers first, first+step, ... */
    unsigned seed;
    CURL *c;
};

/* ---- sim_router.c: one router --------------------------------------------- */

double sim_now(void); /* monotonic seconds */
void sim_sample(struct samples *v, double ms);
/* libcurl's write callback into a struct buf (at most 4 MiB). */
size_t sim_on_data(char *d, size_t sz, size_t nm, void *u);
/* One HTTP request; returns the status (0 on a transport error), body in out. */
long sim_http(CURL *c, const char *method, const char *url, const char *auth, const char *ctype,
              const char *body, size_t len, long timeout, struct buf *out);
/* Creates and adopts router i; 0 or -1. */
int sim_setup_router(struct worker *w, long i);
/* Installs poll script src on r as /system script add does, and derives the
 * token it polls with: one it carries, or the token file's when it reads
 * the file; none otherwise. */
void sim_install(struct sim *s, struct router *r, const char *src);
/* Whether RouterOS `version` compiles poll script src: a script that names
 * fetch's idle-timeout= outside code compiled at run time ([:parse "..."])
 * does not compile before 7.15, and then the router polls no more. */
bool sim_compiles(const char *src, int version);
/* Appends "WHAT SITE ID" to --record's file. */
void sim_record(struct sim *s, const char *site, const char *id, const char *what);
struct jid *sim_id_in(const struct idlist *l, const char *id);
void sim_id_add(struct idlist *l, const char *id, double a, double b);
/* An express wake (under queue_mu): see sim_router.c. */
void sim_woke(struct sim *s, double t0, double t1, double t201);
/* Runs the job a poll of t0 brought (its answer arrived at t1): reports,
 * backup, records. */
void sim_run_job(struct worker *w, struct router *r, const char *script, double t0, double t1);
void sim_disarm(struct worker *w, struct router *r, const char *answer);

/* ---- sim_loop.c: the polls ------------------------------------------------- */

/* Runs every poll until the run is over and nothing is in flight. */
void sim_loop_run(struct sim *s);
/* Threads: adopt their share of the routers; run the jobs polls bring. */
void *sim_adopter_main(void *arg);
void *sim_jobber_main(void *arg);

/* ---- sim.c ------------------------------------------------------------------- */

/* Whether the run is over at time t. */
bool sim_finished(struct sim *s, double t);

#endif
