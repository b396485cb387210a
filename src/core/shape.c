/* The JSON shapes (shape.h). */
#include "core/shape.h"

#include <stdio.h>
#include <time.h>

#include "core/text.h"

json_t *time_json(int64_t t)
{
    char buf[JP_RFC3339_LEN + 1];
    if (!t)
        return json_null();
    rfc3339_format(t, buf);
    return json_string(buf);
}

json_t *str_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *job_json(const struct job *j)
{
    char start[JP_RFC3339_LEN + 1], end[JP_RFC3339_LEN + 1], filter[64];
    char e_site[128], e_start[64], e_end[64], e_filter[128], log_url[512];
    rfc3339_format(j->created_at, start);
    rfc3339_format(j->created_at + 30 * 60, end);
    snprintf(filter, sizeof filter, "{$.message=*%s*}", j->token);
    url_encode(j->site_id, e_site, sizeof e_site);
    url_encode(start, e_start, sizeof e_start);
    url_encode(end, e_end, sizeof e_end);
    url_encode(filter, e_filter, sizeof e_filter);
    snprintf(log_url, sizeof log_url, "logs?group=sites&streams=%s&start=%s&end=%s&filter=%s",
             e_site, e_start, e_end, e_filter);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:s,"
                     " s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:o, s:o}",
                     "id", j->id, "token", j->token, "site_id", j->site_id, "idempotency_key",
                     j->idempotency_key, "description", j->description, "express_execute",
                     j->express_execute, "needs_acknowledgement", j->needs_acknowledgement,
                     "should_backup", j->should_backup, "associated_backup",
                     str_json(j->associated_backup), "started_at", time_json(j->started_at),
                     "completed_at", time_json(j->completed_at), "failed_at",
                     time_json(j->failed_at), "created_at", time_json(j->created_at), "log_url",
                     log_url, "script", j->script, "status", job_status_name(job_status_of(j)),
                     "rollout_id", str_json(j->rollout_id[0] ? j->rollout_id : NULL), "dry_run",
                     j->dry_run, "expects_reboot", j->expects_reboot, "capture_output",
                     j->capture_output, "backup_sensitive", j->backup_sensitive, "confirm_within",
                     j->confirm_within ? json_integer(j->confirm_within) : json_null(),
                     "reverted_at", time_json(j->reverted_at));
}

int64_t pulse_since(int64_t now, unsigned poll_interval)
{
    return now - JP_PULSE_INTERVALS * (int64_t)poll_interval + 1;
}

bool site_has_pulse(const struct site *s, int64_t now, unsigned poll_interval)
{
    return s->last_seen_at && s->last_seen_at >= pulse_since(now, poll_interval);
}

json_t *site_json(const struct site *s, bool has_pulse)
{
    return json_pack(
        "{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o}",
        "id", s->id, "name", s->name, "has_pulse", (int)has_pulse, "last_seen_at",
        time_json(s->last_seen_at), "last_seen_from", str_json(s->last_seen_from), "identity",
        str_json(s->identity), "serial_number", str_json(s->serial_number), "model",
        str_json(s->model), "board_name", str_json(s->board_name), "architecture_name",
        str_json(s->architecture_name), "software_version", str_json(s->software_version), "uptime",
        s->uptime >= 0 ? json_integer(s->uptime) : json_null(), "created_at",
        time_json(s->created_at), "updated_at", time_json(s->updated_at), "deleted_at",
        time_json(s->deleted_at), "adopted_at", time_json(s->adopted_at), "adopted_from",
        str_json(s->adopted_from), "expected_serial", str_json(s->expected_serial),
        "bootstrap_expires_at", time_json(s->adoption_expires_at));
}

void size_human(int64_t bytes, char out[16])
{
    static const char *const units[] = {"B", "KB", "MB", "GB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 16, "%lldB", (long long)bytes);
    else
        snprintf(out, 16, "%.1f%s", v, units[u]);
}

json_t *backup_json(const char *filename, int64_t size, int64_t created_at, const char *sha256,
                    bool unchanged, bool sensitive)
{
    char human[16], date[16], tm[16];
    size_human(size, human);
    time_t t = (time_t)created_at;
    struct tm g;
    gmtime_r(&t, &g);
    strftime(date, sizeof date, "%d/%m/%Y", &g);
    strftime(tm, sizeof tm, "%H:%M:%S", &g);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:b, s:b}", "filename", filename, "size",
                     human, "size_bytes", (json_int_t)size, "date", date, "time", tm, "created_at",
                     time_json(created_at), "sha256", sha256, "unchanged", unchanged, "sensitive",
                     sensitive);
}
