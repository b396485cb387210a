/* Rollouts: states, waves, thresholds, windows and the JSON shape
 * (rollout.h). */
#include "core/rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/shape.h"
#include "core/sign.h"

static const char *const status_names[RO_STATUS_COUNT_] = {
    [RO_UNAUTHORIZED] = "unauthorized",
    [RO_SCHEDULED] = "scheduled",
    [RO_LAUNCHED] = "launched",
    [RO_CANCELLED] = "cancelled",
    [RO_PAUSED] = "paused",
    [RO_COMPLETED] = "completed",
    [RO_FAILED] = "failed",
    [RO_ABORTED] = "aborted",
};

const char *rollout_status_name(enum rollout_status s)
{
    return (unsigned)s < RO_STATUS_COUNT_ ? status_names[s] : "unauthorized";
}

bool rollout_status_final(enum rollout_status s)
{
    return s == RO_CANCELLED || s == RO_COMPLETED || s == RO_FAILED || s == RO_ABORTED;
}

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* "HH:MM" into minutes after midnight; -1 when not that. */
static int hhmm(const char *s)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

int rollout_window_parse(json_t *j, struct rollout_window *w, char *err, size_t cap)
{
    memset(w, 0, sizeof *w);
    json_t *days = json_object_get(j, "days"), *tz = json_object_get(j, "tz");
    const char *start = json_string_value(json_object_get(j, "start"));
    const char *end = json_string_value(json_object_get(j, "end"));
    if (!json_is_object(j) || json_object_size(j) != 4 || !json_is_array(days) ||
        !json_array_size(days) || !json_is_string(tz)) {
        snprintf(err, cap,
                 "window must be {\"days\": [\"mon\", ...], \"start\": \"HH:MM\","
                 " \"end\": \"HH:MM\", \"tz\": \"Europe/Berlin\"}.");
        return -1;
    }
    size_t i;
    json_t *d;
    json_array_foreach(days, i, d)
    {
        const char *name = json_string_value(d);
        int k = 0;
        while (k < 7 && (!name || strcmp(name, day_names[k])))
            k++;
        if (k == 7) {
            snprintf(err, cap, "window.days holds mon, tue, wed, thu, fri, sat or sun.");
            return -1;
        }
        w->days |= 1u << k;
    }
    w->start = hhmm(start);
    w->end = hhmm(end);
    if (w->start < 0 || w->end < 0 || w->start == w->end) {
        snprintf(err, cap, "window.start and window.end are two different times, \"HH:MM\".");
        return -1;
    }
    const char *z = json_string_value(tz);
    if (!*z || strlen(z) >= sizeof w->tz) {
        snprintf(err, cap, "window.tz is a time zone name such as \"Europe/Berlin\" or \"UTC\".");
        return -1;
    }
    snprintf(w->tz, sizeof w->tz, "%s", z);
    return 0;
}

json_t *rollout_window_json(const struct rollout_window *w)
{
    json_t *days = json_array();
    for (int k = 0; k < 7; k++)
        if (w->days & (1u << k))
            json_array_append_new(days, json_string(day_names[k]));
    char start[8], end[8];
    snprintf(start, sizeof start, "%02d:%02d", (w->start / 60) % 100, w->start % 60);
    snprintf(end, sizeof end, "%02d:%02d", (w->end / 60) % 100, w->end % 60);
    return json_pack("{s:o, s:s, s:s, s:s}", "days", days, "start", start, "end", end, "tz", w->tz);
}

bool rollout_window_open(const struct rollout_window *w, int64_t local)
{
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int minute = (int)((local - day * 86400) / 60);
    int dow = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    if (w->start < w->end)
        return (w->days & (1u << dow)) && minute >= w->start && minute < w->end;
    /* past midnight: the evening of a listed day, or the morning after it */
    if (minute >= w->start)
        return w->days & (1u << dow);
    return minute < w->end && (w->days & (1u << ((dow + 6) % 7)));
}

int rollout_threshold_parse(json_t *j, struct rollout_threshold *t)
{
    memset(t, 0, sizeof *t);
    if (json_is_integer(j)) {
        t->value = json_integer_value(j);
        return t->value >= 1 && t->value <= 10000000 ? 0 : -1;
    }
    const char *s = json_string_value(j);
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 4 || s[n - 1] != '%' || strspn(s, "0123456789") != n - 1)
        return -1;
    t->value = strtol(s, NULL, 10);
    t->percent = true;
    return t->value >= 1 && t->value <= 100 ? 0 : -1;
}

json_t *rollout_threshold_json(const struct rollout_threshold *t)
{
    if (!t->value)
        return json_null();
    if (!t->percent)
        return json_integer(t->value);
    char buf[8];
    snprintf(buf, sizeof buf, "%d%%", (int)t->value);
    return json_string(buf);
}

int64_t rollout_threshold_failures(const struct rollout_threshold *t, int64_t nsites)
{
    if (!t->value)
        return 0;
    if (!t->percent)
        return t->value;
    int64_t f = (nsites * t->value + 99) / 100;
    return f < 1 ? 1 : f;
}

int64_t rollout_wave_len(int64_t wave_size, int64_t wave_percent, int64_t n)
{
    if (wave_size > 0)
        return wave_size;
    if (wave_percent > 0) {
        int64_t len = (n * wave_percent + 99) / 100;
        return len < 1 ? 1 : len;
    }
    return n < 1 ? 1 : n;
}

void rollout_job_key(const char *rollout_id, const char *site_id, char out[JP_UUID_LEN + 1])
{
    char in[2 * JP_UUID_LEN + 16], hex[JP_SIG_HEX + 1];
    snprintf(in, sizeof in, "rollout %s %s", rollout_id, site_id);
    sha256_hex(in, strlen(in), hex);
    unsigned char raw[16];
    for (int i = 0; i < 16; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        raw[i] = (unsigned char)v;
    }
    uuid4_format(raw, out);
}

void rollout_clear(struct rollout *r)
{
    free(r->description);
    free(r->script);
    free(r->notify);
    free(r->targets);
    memset(r, 0, sizeof *r);
}

/* "in 2 h 5 min" until launch_at, "now" when due; null once launched. */
static json_t *t_minus(const struct rollout *r, int64_t now)
{
    if (r->status != RO_UNAUTHORIZED && r->status != RO_SCHEDULED)
        return json_null();
    int64_t d = r->launch_at - now;
    char buf[64];
    if (d <= 0)
        snprintf(buf, sizeof buf, "now");
    else if (d < 60)
        snprintf(buf, sizeof buf, "in %d s", (int)d);
    else if (d < 3600)
        snprintf(buf, sizeof buf, "in %d min", (int)(d / 60));
    else if (d < 86400)
        snprintf(buf, sizeof buf, "in %d h %d min", (int)(d / 3600), (int)(d % 3600 / 60));
    else
        snprintf(buf, sizeof buf, "in %d d %d h", (int)(d / 86400), (int)(d % 86400 / 3600));
    return json_string(buf);
}

json_t *rollout_progress_json(const struct rollout *r)
{
    json_t *c = json_array(), *f = json_array(), *p = json_array(), *sk = json_array(),
           *ca = json_array();
    for (size_t i = 0; i < r->ntargets; i++) {
        json_t *to = p;
        switch (r->targets[i].state) {
        case RS_COMPLETED: to = c; break;
        case RS_FAILED: to = f; break;
        case RS_SKIPPED: to = sk; break;
        case RS_CANCELLED: to = ca; break;
        default: break;
        }
        json_array_append_new(to, json_string(r->targets[i].site_id));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "completed", c, "failed", f, "pending", p,
                     "skipped", sk, "cancelled", ca);
}

json_t *rollout_json(const struct rollout *r, int64_t now)
{
    json_t *sites = json_array();
    for (size_t i = 0; i < r->ntargets; i++)
        json_array_append_new(sites, json_string(r->targets[i].site_id));
    json_t *notify = r->notify ? json_loads(r->notify, 0, NULL) : NULL;
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:b, s:b, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o, s:o}",
        "id", r->id, "created_by", r->created_by, "test_site_id",
        str_json(r->test_site_id[0] ? r->test_site_id : NULL), "make_backup", r->make_backup,
        "abort_if_offline", r->abort_if_offline, "description", r->description, "summary",
        json_null(), "script", r->script, "status", rollout_status_name(r->status), "authorized_at",
        time_json(r->authorized_at), "cancelled_at", time_json(r->cancelled_at), "launch_at",
        time_json(r->launch_at), "t_minus", t_minus(r, now), "started_at", time_json(r->started_at),
        "sites", sites, "notify", notify ? notify : json_array(), "progress",
        rollout_progress_json(r), "created_at", time_json(r->created_at), "updated_at",
        time_json(r->updated_at), "authorized_by",
        str_json(r->authorized_by[0] ? r->authorized_by : NULL));
    /* the extensions */
    json_object_set_new(j, "finished_at", time_json(r->finished_at));
    json_object_set_new(j, "template_id", str_json(r->template_id[0] ? r->template_id : NULL));
    json_object_set_new(j, "wave_size", r->wave_size ? json_integer(r->wave_size) : json_null());
    json_object_set_new(j, "wave_percent",
                        r->wave_percent ? json_integer(r->wave_percent) : json_null());
    json_object_set_new(j, "wave_interval", json_integer(r->wave_interval));
    json_object_set_new(j, "wave", json_integer(r->wave));
    json_object_set_new(j, "waves", json_integer(r->waves));
    json_object_set_new(j, "max_failures", rollout_threshold_json(&r->max_failures));
    json_object_set_new(j, "window", r->has_window ? rollout_window_json(&r->window) : json_null());
    return j;
}
