#include "core/model.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct job_state_info job_states[JOB_STATUS_COUNT_] = {
    [JOB_PENDING] = {.name = "pending",
                     .where = "delivered_at IS NULL AND started_at IS NULL AND completed_at IS NULL"
                              " AND failed_at IS NULL"},
    [JOB_DELIVERED] = {.name = "delivered",
                       .where = "delivered_at IS NOT NULL AND started_at IS NULL"
                                " AND completed_at IS NULL AND failed_at IS NULL",
                       .stamp = offsetof(struct job, delivered_at)},
    [JOB_RUNNING] = {.name = "running",
                     .where =
                         "started_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL",
                     .stamp = offsetof(struct job, started_at)},
    [JOB_COMPLETED] = {.name = "completed",
                       .where = "completed_at IS NOT NULL AND failed_at IS NULL",
                       .stamp = offsetof(struct job, completed_at)},
    [JOB_FAILED] = {.name = "failed",
                    .where = "failed_at IS NOT NULL AND reverted_at IS NULL",
                    .stamp = offsetof(struct job, failed_at)},
    [JOB_REVERTED] = {.name = "reverted",
                      .where = "reverted_at IS NOT NULL",
                      .stamp = offsetof(struct job, reverted_at)},
};

const struct job_report_info job_reports[JOB_REPORT_COUNT_] = {
    [REPORT_BUSY] = {.name = "busy",
                     .to = JOB_RUNNING,
                     .set = "delivered_at=coalesce(delivered_at,?2), started_at=?2",
                     .event = "started (busy)"},
    [REPORT_DONE] = {.name = "done",
                     .to = JOB_COMPLETED,
                     .set = "delivered_at=coalesce(delivered_at,?2),"
                            " started_at=coalesce(started_at,?2), completed_at=?2",
                     .event = "completed (done)"},
    [REPORT_FAIL] = {.name = "fail",
                     .to = JOB_FAILED,
                     .set = "delivered_at=coalesce(delivered_at,?2),"
                            " started_at=coalesce(started_at,?2), failed_at=?2",
                     .event = "failed (fail)"},
};

const char *job_status_name(enum job_status s)
{
    return (s >= 0 && s < JOB_STATUS_COUNT_) ? job_states[s].name : "unknown";
}

int job_status_parse(const char *name)
{
    for (int i = 0; name && i < JOB_STATUS_COUNT_; i++)
        if (!strcmp(name, job_states[i].name))
            return i;
    return -1;
}

void job_status_list(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < JOB_STATUS_COUNT_ && used < cap; i++) {
        const char *sep = i == 0 ? "" : i == JOB_STATUS_COUNT_ - 1 ? " or " : ", ";
        int n = snprintf(buf + used, cap - used, "%s%s", sep, job_states[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

int job_report_parse(const char *name)
{
    for (int i = 0; name && i < JOB_REPORT_COUNT_; i++)
        if (!strcmp(name, job_reports[i].name))
            return i;
    return -1;
}

enum job_status job_status_of(const struct job *j)
{
    for (int i = JOB_STATUS_COUNT_ - 1; i > 0; i--) {
        int64_t t;
        memcpy(&t, (const char *)j + job_states[i].stamp, sizeof t);
        if (t)
            return (enum job_status)i;
    }
    return JOB_PENDING;
}

void job_apply_report(struct job *j, enum job_report r, int64_t now)
{
    if (!j->delivered_at)
        j->delivered_at = now;
    if (job_reports[r].to == JOB_RUNNING || !j->started_at)
        j->started_at = now;
    if (job_reports[r].to == JOB_COMPLETED)
        j->completed_at = now;
    else if (job_reports[r].to == JOB_FAILED)
        j->failed_at = now;
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
    free(s->adopted_from);
    free(s->expected_serial);
    memset(s, 0, sizeof *s);
}
