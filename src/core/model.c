#include "core/model.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[JOB_STATUS_COUNT_] = {
    "pending", "delivered", "running", "completed", "failed",
};

const char *job_status_name(enum job_status s)
{
    return (s >= 0 && s < JOB_STATUS_COUNT_) ? status_names[s] : "unknown";
}

int job_status_parse(const char *name)
{
    for (int i = 0; name && i < JOB_STATUS_COUNT_; i++)
        if (!strcmp(name, status_names[i]))
            return i;
    return -1;
}

enum job_status job_status_of(const struct job *j)
{
    if (j->failed_at)
        return JOB_FAILED;
    if (j->completed_at)
        return JOB_COMPLETED;
    if (j->started_at)
        return JOB_RUNNING;
    if (j->delivered_at)
        return JOB_DELIVERED;
    return JOB_PENDING;
}

void job_clear(struct job *j)
{
    free(j->description);
    free(j->script);
    free(j->notify_url);
    free(j->associated_backup);
    memset(j, 0, sizeof *j);
}

void site_clear(struct site *s)
{
    free(s->name);
    free(s->identity);
    free(s->serial_number);
    free(s->model);
    free(s->board_name);
    free(s->architecture_name);
    free(s->software_version);
    free(s->last_seen_from);
    memset(s, 0, sizeof *s);
}
