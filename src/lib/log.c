#include "lib/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_bool json_lines;

void log_set_json(bool on)
{
    atomic_store(&json_lines, on);
}

/* "sqlite" of "sqlite: applied ...": a lower-case word and ": " */
static void prefix_event(const char *msg, char *out, size_t cap)
{
    size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
    if (n && n < cap && msg[n] == ':' && msg[n + 1] == ' ')
        snprintf(out, cap, "%.*s", (int)n, msg);
    else
        snprintf(out, cap, "message");
}

static void vlog(enum log_level level, const struct log_tags *tags, const char *fmt, va_list ap)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char stamp[40], msg[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* one write per line: lines of threads never mix */
    if (!atomic_load(&json_lines)) {
        fprintf(stderr, "%s %s %s\n", stamp, names[level], msg);
        return;
    }
    char ev[32];
    if (!tags || !tags->event)
        prefix_event(msg, ev, sizeof ev);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s*, s:s*, s:s*, s:s}", "time", stamp, "level",
                          names[level], "event", tags && tags->event ? tags->event : ev,
                          "request_id", tags ? tags->request : NULL, "site_id",
                          tags ? tags->site : NULL, "job", tags ? tags->job : NULL, "msg", msg);
    /* a message cut inside a UTF-8 sequence is not a JSON string: say so plainly */
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
    else
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"log.unprintable\"}\n", stamp,
                names[level]);
    free(line);
    json_decref(j);
}

void log_tagged(enum log_level level, const struct log_tags *tags, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, tags, fmt, ap);
    va_end(ap);
}

void log_ev(enum log_level level, const char *event, const char *request, const char *site,
            const char *job, const char *fmt, ...)
{
    struct log_tags t = {event, request, site, job};
    va_list ap;
    va_start(ap, fmt);
    vlog(level, &t, fmt, ap);
    va_end(ap);
}
