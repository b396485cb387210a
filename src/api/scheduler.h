/* The scheduler thread (scheduler.c): rollouts and automatic backups. */
#ifndef JP_API_SCHEDULER_H
#define JP_API_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

struct scheduler_options {
    bool auto_backup;      /* --auto-backup daily */
    int64_t backup_hour;   /* UTC hour the day's pass begins */
    int64_t backup_spread; /* seconds it is spread over */
};

struct scheduler;
/* NULL when the thread cannot start. */
struct scheduler *scheduler_start(struct app *app, const struct scheduler_options *opt);
/* Stops the thread (it uses the HTTP server: before http_stop); kicks
 * after it are harmless until scheduler_free. */
void scheduler_stop(struct scheduler *sc);
void scheduler_free(struct scheduler *sc);

#endif
