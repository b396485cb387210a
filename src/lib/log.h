/* Logging to stderr, one line per event. Generic: it knows nothing of jobs.
 * Secrets are never passed here.
 *
 * Plain (the default): time, level, message. JSON (log_set_json): one object
 * per line, {"time","level","event","msg"} and, when known, "request_id",
 * "site_id", "job" (the job's token). A line without tags takes its event
 * from a "word: " prefix of its message ("sqlite: ..." is "sqlite"), else
 * "message". */
#ifndef JP_LIB_LOG_H
#define JP_LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_tags {
    const char *event;   /* a dotted name: "job.delivered" */
    const char *request; /* the request id, or NULL */
    const char *site;    /* a site id, or NULL */
    const char *job;     /* a job token, or NULL */
};

void log_set_json(bool on);
void log_tagged(enum log_level level, const struct log_tags *tags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_msg(level, ...) log_tagged(level, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
/* A tagged line: log_ev(LOG_INFO, "job.created", req_id, site, token, fmt, ...);
 * request, site and job may be NULL. */
void log_ev(enum log_level level, const char *event, const char *request, const char *site,
            const char *job, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
