/* The store's operations on sites and the device plane: create, read, list,
 * adopt, find by device token, rotate the device token, delete, teardown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/text.h"
#include "store/engine.h"

void site_list_clear(struct site_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        site_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void sql_row_to_site(const struct db_res *r, size_t i, struct site *out)
{
    memset(out, 0, sizeof *out);
    eng_copy_cell(r, i, 0, out->id, sizeof out->id);
    eng_copy_cell(r, i, 1, out->team, sizeof out->team);
    out->name = db_dup(r, i, 2);
    out->identity = db_dup(r, i, 3);
    out->serial_number = db_dup(r, i, 4);
    out->model = db_dup(r, i, 5);
    out->board_name = db_dup(r, i, 6);
    out->architecture_name = db_dup(r, i, 7);
    out->software_version = db_dup(r, i, 8);
    out->uptime = db_int(r, i, 9, -1);
    out->last_seen_at = db_int(r, i, 10, 0);
    out->last_seen_from = db_dup(r, i, 11);
    out->created_at = db_int(r, i, 12, 0);
    out->updated_at = db_int(r, i, 13, 0);
    out->deleted_at = db_int(r, i, 14, 0);
    out->adopted_at = db_int(r, i, 15, 0);
    out->adopted_from = db_dup(r, i, 16);
    out->expected_serial = db_dup(r, i, 17);
    out->adoption_expires_at = db_int(r, i, 18, 0);
}

static void fill_site(const struct db_res *r, size_t i, void *out)
{
    sql_row_to_site(r, i, out);
}

/* SITE_COLS, the last job's id, then its created_at .. failed_at, reverted_at */
static void fill_site_last_job(const struct db_res *r, size_t i, void *out)
{
    struct site *site = out;
    sql_row_to_site(r, i, site);
    enum { C = SITE_NCOLS };
    if (!db_text(r, i, C))
        return;
    eng_copy_cell(r, i, C, site->last_job_id, sizeof site->last_job_id);
    struct job j = {.created_at = db_int(r, i, C + 1, 0),
                    .delivered_at = db_int(r, i, C + 2, 0),
                    .started_at = db_int(r, i, C + 3, 0),
                    .completed_at = db_int(r, i, C + 4, 0),
                    .failed_at = db_int(r, i, C + 5, 0),
                    .reverted_at = db_int(r, i, C + 6, 0)};
    site->last_job_status = (int)job_status_of(&j);
    site->last_job_at = j.created_at;
}

struct site_create_arg {
    const char *team, *name, *expected_serial;
    const struct adoption_line *line;
    struct site *out;
};

static enum store_result op_site_create(struct store *s, void *p)
{
    struct site_create_arg *a = p;
    site_clear(a->out); /* a batch that is run again runs its operations again */
    char id[JP_UUID_LEN + 1];
    if (eng_new_id(s, id))
        return STORE_UNAVAILABLE;
    int64_t now = (int64_t)(uuid7_millis(id) / 1000);
    struct db_res *r = NULL;
    enum store_result res = STORE_UNAVAILABLE;
    if (RUN(s, eng_wdb(s),
            PG(s) ? "INSERT INTO sites (id, team, name, created_at, updated_at, adoption_hash,"
                    " adoption_expires_at, expected_serial) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)"
                    " RETURNING " SITE_COLS
                  : /* stats_key: the next number (one writer) */
                "INSERT INTO sites (id, team, name, created_at, updated_at, adoption_hash,"
                " adoption_expires_at, expected_serial, stats_key) VALUES (?1, ?2, ?3, ?4, ?4, ?5,"
                " ?6, ?7, (SELECT coalesce(max(stats_key), 0) + 1 FROM sites)) "
                "RETURNING " SITE_COLS,
            &r, DB_TEXT(id), DB_TEXT(a->team), DB_TEXT(a->name), DB_INT(now),
            DB_TEXT(a->line->hash), DB_INT(a->line->expires_at),
            DB_TEXT(a->expected_serial)) == DB_OK &&
        r->rows) {
        sql_row_to_site(r, 0, a->out);
        res = eng_event(s, id, now, "Site created") ? STORE_UNAVAILABLE : STORE_CREATED;
    }
    db_res_free(r);
    return res;
}

enum store_result store_site_create(struct store *s, const char *team, const char *name,
                                    const char *expected_serial, const struct adoption_line *line,
                                    struct site *out)
{
    struct site_create_arg a = {team, name, expected_serial, line, out};
    memset(out, 0, sizeof *out);
    enum store_result r = eng_submit(s, op_site_create, &a);
    if (r != STORE_CREATED)
        site_clear(out);
    return r;
}

enum store_result store_site_get(struct store *s, const char *team, const char *site_id,
                                 struct site *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(site_id), DB_TEXT(team)};
    return eng_read_one(s, "SELECT " SITE_COLS " FROM sites WHERE id=?1 AND team=?2", args, 2,
                        fill_site, out);
}

/* a LIKE pattern matching s anywhere, with % _ and \\ escaped (ESCAPE '\\') */
static char *like_anywhere(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(2 * n + 3), *o = p;
    if (!p)
        return NULL;
    *o++ = '%';
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

enum store_result store_site_list(struct store *s, const char *team, const struct site_query *q,
                                  struct site_list *out)
{
    memset(out, 0, sizeof *out);
    char *like = q->q ? like_anywhere(q->q) : NULL, *v_dot = NULL, *v_sp = NULL;
    if (q->version && asprintf(&v_dot, "%s.", q->version) < 0)
        v_dot = NULL; /* asprintf leaves it undefined on failure */
    if (q->version && asprintf(&v_sp, "%s ", q->version) < 0)
        v_sp = NULL;
    enum store_result r = STORE_UNAVAILABLE;
    if ((q->q && !like) || (q->version && (!v_dot || !v_sp)))
        goto out;
    /* One statement for every combination: an absent filter is a NULL
     * parameter. "" sorts before every id: no lower bound. A version is
     * compared as text, never as a pattern: "7.15" is 7.15, 7.15.x and
     * "7.15 (stable)". */
    struct db_arg args[] = {
        DB_TEXT(team),
        DB_TEXT(q->after_id ? q->after_id : ""),
        DB_INT(q->online),
        DB_INT(q->seen_since),
        DB_TEXT(like),
        DB_TEXT(q->version),
        DB_TEXT(v_dot),
        DB_TEXT(v_sp),
        DB_INT(q->limit ? (int64_t)q->limit + 1 : INT64_MAX),
    };
    void *items = NULL;
#define SITES_WHERE                                                                                \
    " FROM sites WHERE team=?1 AND id > ?2"                                                        \
    " AND (?3 < 0 OR (?3 = 1) = (last_seen_at IS NOT NULL AND last_seen_at >= ?4))"                \
    " AND (CAST(?5 AS TEXT) IS NULL OR lower(name) LIKE lower(CAST(?5 AS TEXT)) ESCAPE '\\'"       \
    "      OR lower(identity) LIKE lower(CAST(?5 AS TEXT)) ESCAPE '\\')"                           \
    " AND (CAST(?6 AS TEXT) IS NULL OR software_version = ?6"                                      \
    "      OR substr(software_version, 1, length(CAST(?7 AS TEXT))) = ?7"                          \
    "      OR substr(software_version, 1, length(CAST(?8 AS TEXT))) = ?8)"                         \
    " ORDER BY id LIMIT ?9"
    /* With the last job: the page first, then each site's newest job not
     * cancelled (jobs_site, backwards from its last id) and its stamps. */
    r = eng_read_all(s,
                     q->last_job ? "SELECT p.*, j.created_at, j.delivered_at, j.started_at,"
                                   " j.completed_at, j.failed_at, j.reverted_at FROM (SELECT"
                                   " " SITE_COLS ","
                                   " (SELECT id FROM jobs WHERE site_id=sites.id AND cancelled_at"
                                   " IS NULL ORDER BY id DESC LIMIT 1) AS lj" SITES_WHERE ") p"
                                   " LEFT JOIN jobs j ON j.id=p.lj ORDER BY p.id"
                                 : "SELECT " SITE_COLS SITES_WHERE,
                     args, (int)(sizeof args / sizeof args[0]), sizeof *out->items,
                     q->last_job ? fill_site_last_job : fill_site, &items, &out->n);
#undef SITES_WHERE
    out->items = items;
    if (r == STORE_OK && q->limit && out->n > q->limit) {
        site_clear(&out->items[--out->n]);
        out->more = true;
    }
out:
    free(like);
    free(v_dot);
    free(v_sp);
    return r;
}

/* ---- the device plane ------------------------------------------------- */

struct adopt_arg {
    const char *adoption_hash, *device_hash;
    const struct device_facts *f;
    struct site *out;
    enum adopt_refusal *why;
};

static const char *or_q(const char *v)
{
    return v && *v ? v : "?";
}

/* Records a refused adoption of a's site (read into a->out): an event with
 * what the router reported, and the site.adoption_refused webhook. */
static int adopt_refused(struct store *s, struct adopt_arg *a, int64_t now, const char *reason,
                         const char *detail)
{
    const struct device_facts *f = a->f;
    json_t *data = site_json(a->out, false);
    if (data)
        json_object_set_new(data, "refusal",
                            json_pack("{s:s, s:s?, s:s?, s:s?}", "reason", reason, "from", f->from,
                                      "serial_number", f->serial_number, "identity", f->identity));
    return eng_event(s, a->out->id, now,
                     "Adoption refused (%s) from %s (serial %s, identity %s, RouterOS %s): %s",
                     reason, or_q(f->from), or_q(f->serial_number), or_q(f->identity),
                     or_q(f->software_version), detail) ||
           out_emit(s, EV_SITE_ADOPTION_REFUSED, a->out->id, data);
}

/* The adoption itself: one statement whose WHERE re-checks everything, so
 * of two nodes adopting with one line at once, one wins. */
static enum store_result adopt_update(struct store *s, struct adopt_arg *a, int64_t now)
{
    const struct device_facts *f = a->f;
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "UPDATE sites SET adoption_hash=NULL, adoption_used_hash=?1, adoption_expires_at=NULL,"
            " device_hash=?2, adopted_at=?3, adopted_from=?4, online=1, last_seen_at=?3,"
            " last_seen_from=?4, identity=?5, software_version=?6, serial_number=?7, model=?8,"
            " board_name=?9, architecture_name=?10, uptime=?11, updated_at=?3"
            " WHERE adoption_hash=?1 AND deleted_at IS NULL AND adoption_expires_at > ?3"
            " AND (expected_serial IS NULL OR upper(expected_serial) = upper(?7))"
            " RETURNING " SITE_COLS,
            &r, DB_TEXT(a->adoption_hash), DB_TEXT(a->device_hash), DB_INT(now), DB_TEXT(f->from),
            DB_TEXT(f->identity), DB_TEXT(f->software_version), DB_TEXT(f->serial_number),
            DB_TEXT(f->model), DB_TEXT(f->board_name), DB_TEXT(f->architecture_name),
            DB_NUM(f->uptime)) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_NOT_FOUND;
    if (r->rows) {
        site_clear(a->out);
        sql_row_to_site(r, 0, a->out);
        res = STORE_OK;
    }
    db_res_free(r);
    return res;
}

static enum store_result op_site_adopt(struct store *s, void *p)
{
    struct adopt_arg *a = p;
    const struct device_facts *f = a->f;
    int64_t now = eng_now();
    struct db_res *r = NULL;
    site_clear(a->out);
    *a->why = ADOPT_UNKNOWN;
    /* the site of the line: pending, or the one it adopted */
    if (RUN(s, eng_wdb(s),
            "SELECT " SITE_COLS ", CASE WHEN adoption_hash=?1 THEN 1 ELSE 0 END,"
            " CASE WHEN device_hash IS NULL THEN 0 ELSE 1 END FROM sites"
            " WHERE (adoption_hash=?1 OR adoption_used_hash=?1) AND deleted_at IS NULL",
            &r, DB_TEXT(a->adoption_hash)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (!r->rows) {
        db_res_free(r);
        return STORE_NOT_FOUND;
    }
    sql_row_to_site(r, 0, a->out);
    bool pending = db_int(r, 0, 19, 0), had_device = db_int(r, 0, 20, 0);
    db_res_free(r);
    struct site *site = a->out;
    int64_t before_at = site->adopted_at;
    char before_from[64], when[JP_RFC3339_LEN + 1];
    snprintf(before_from, sizeof before_from, "%s", or_q(site->adopted_from));
    const char *serial = f->serial_number ? f->serial_number : "";
    enum store_result res = STORE_NOT_FOUND;
    if (!pending) {
        *a->why = ADOPT_USED;
    } else if (site->adoption_expires_at <= now) {
        *a->why = ADOPT_EXPIRED;
    } else if (site->expected_serial && strcasecmp(site->expected_serial, serial)) {
        *a->why = ADOPT_WRONG_SERIAL;
    } else {
        res = adopt_update(s, a, now);
        if (res == STORE_NOT_FOUND) /* another node's adoption came first */
            *a->why = ADOPT_USED;
    }
    if (res == STORE_UNAVAILABLE)
        return res;
    if (res == STORE_NOT_FOUND) {
        char detail[256];
        switch (*a->why) {
        case ADOPT_EXPIRED:
            rfc3339_format(site->adoption_expires_at, when);
            snprintf(detail, sizeof detail,
                     "the bootstrap line expired at %s; POST /sites/{id}/device-token issues a"
                     " new one",
                     when);
            break;
        case ADOPT_WRONG_SERIAL:
            snprintf(detail, sizeof detail, "the site expects serial %s; the line stays usable",
                     site->expected_serial);
            break;
        default:
            rfc3339_format(before_at, when);
            snprintf(detail, sizeof detail,
                     "the bootstrap line was used at %s from %s; if that was not this site's"
                     " router, rotate its device token",
                     when, before_from);
        }
        return adopt_refused(s, a, now, adopt_refusals[*a->why], detail) ? STORE_UNAVAILABLE
                                                                         : STORE_NOT_FOUND;
    }
    char prev[200] = "";
    if (before_at) {
        rfc3339_format(before_at, when);
        snprintf(prev, sizeof prev, "; re-adoption (adopted before at %s from %s%s)", when,
                 before_from,
                 had_device ? "; that adoption's device token stops working now"
                            : "; its device token was revoked by the rotation");
    }
    if (eng_forget_device(s, site->id) ||
        eng_event(s, site->id, now, "Site adopted from %s (serial %s, identity %s, RouterOS %s)%s",
                  or_q(f->from), or_q(f->serial_number), or_q(f->identity),
                  or_q(f->software_version), prev) ||
        out_emit(s, EV_SITE_ADOPTED, site->id, site_json(site, true)))
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

const char *const adopt_refusals[] = {
    [ADOPT_UNKNOWN] = "unknown",
    [ADOPT_USED] = "used",
    [ADOPT_EXPIRED] = "expired",
    [ADOPT_WRONG_SERIAL] = "wrong_serial",
};

enum store_result store_site_adopt(struct store *s, const char *adoption_hash,
                                   const char *device_hash, const struct device_facts *f,
                                   struct site *out, enum adopt_refusal *why)
{
    struct adopt_arg a = {adoption_hash, device_hash, f, out, why};
    memset(out, 0, sizeof *out);
    enum store_result r = eng_submit(s, op_site_adopt, &a);
    if (r != STORE_OK && r != STORE_NOT_FOUND)
        site_clear(out);
    return r;
}

static void fill_device_site(const struct db_res *r, size_t i, void *out)
{
    struct device_site *d = out;
    snprintf(d->site_id, sizeof d->site_id, "%s", db_text(r, i, 0) ? db_text(r, i, 0) : "");
    d->deleted_at = db_int(r, i, 1, 0);
    snprintf(d->version, sizeof d->version, "%s", db_text(r, i, 2) ? db_text(r, i, 2) : "");
}

enum store_result store_site_by_device(struct store *s, const char *device_hash,
                                       struct device_site *out)
{
    memset(out, 0, sizeof *out);
    uint64_t stamp;
    int known = devices_get(s->devices, device_hash, out, &stamp);
    if (known > 0)
        return STORE_OK;
    struct db_arg args[] = {DB_TEXT(device_hash)};
    enum store_result r =
        eng_read_one(s, "SELECT id, deleted_at, software_version FROM sites WHERE device_hash=?1",
                     args, 1, fill_device_site, out);
    if (r == STORE_OK && known == 0)
        devices_put(s->devices, device_hash, out, stamp);
    return r;
}

/* A one-statement change of a site: sql binds ?1 the site id, ?2 now, then
 * args (?3 on). The changed site is copied to out when out is not NULL. */
#define SITE_CHANGE_ARGS 4
struct site_change_arg {
    const char *sql, *site_id, *message;
    struct db_arg args[SITE_CHANGE_ARGS];
    int nargs;
    int event; /* enum whk_event to emit, or -1 */
    struct site *out;
};

static enum store_result op_site_change(struct store *s, void *p)
{
    struct site_change_arg *a = p;
    int64_t now = eng_now();
    char sql[512];
    snprintf(sql, sizeof sql, "%s RETURNING " SITE_COLS, a->sql);
    struct db_arg args[2 + SITE_CHANGE_ARGS] = {DB_TEXT(a->site_id), DB_INT(now)};
    memcpy(args + 2, a->args, (size_t)a->nargs * sizeof *args);
    struct db_res *r = NULL;
    if (s->drv->run(eng_wdb(s), sql, args, 2 + a->nargs, &r) != DB_OK)
        return STORE_UNAVAILABLE;
    struct site site = {0};
    if (r->rows)
        sql_row_to_site(r, 0, &site);
    bool found = r->rows > 0;
    db_res_free(r);
    if (!found)
        return STORE_NOT_FOUND;
    int err = eng_forget_device(s, a->site_id) || eng_event(s, a->site_id, now, "%s", a->message) ||
              (a->event >= 0 &&
               out_emit(s, (enum whk_event)a->event, a->site_id, site_json(&site, false)));
    if (a->out && !err) {
        site_clear(a->out);
        *a->out = site;
    } else {
        site_clear(&site);
    }
    return err ? STORE_UNAVAILABLE : STORE_OK;
}

static enum store_result site_change(struct store *s, struct site_change_arg *a)
{
    if (a->out)
        memset(a->out, 0, sizeof *a->out);
    enum store_result r = eng_submit(s, op_site_change, a);
    if (r != STORE_OK && a->out)
        site_clear(a->out);
    return r;
}

enum store_result store_site_rotate_device(struct store *s, const char *team, const char *site_id,
                                           const struct adoption_line *line)
{
    struct site_change_arg a = {
        .sql = "UPDATE sites SET device_hash=NULL, adoption_hash=?4, adoption_expires_at=?5,"
               " updated_at=?2 WHERE id=?1 AND team=?3 AND deleted_at IS NULL",
        .site_id = site_id,
        .message = "Device token and any pending bootstrap line revoked; a new bootstrap line"
                   " was issued",
        .args = {DB_TEXT(team), DB_TEXT(line->hash), DB_INT(line->expires_at)},
        .nargs = 3,
        .event = -1,
    };
    return site_change(s, &a);
}

enum store_result store_site_update(struct store *s, const char *team, const char *site_id,
                                    const struct site_update *u, struct site *out)
{
    char msg[JP_SITE_NAME_MAX_CHARS * 4 + JP_SERIAL_MAX_CHARS * 4 + 64] = "Site updated:";
    size_t n = strlen(msg);
    if (u->name)
        n += (size_t)snprintf(msg + n, sizeof msg - n, " name \"%s\"", u->name);
    if (u->set_serial && n < sizeof msg)
        snprintf(msg + n, sizeof msg - n, " expected serial %s",
                 u->expected_serial ? u->expected_serial : "(any)");
    struct site_change_arg a = {
        .sql = "UPDATE sites SET name=coalesce(?4, name), expected_serial=CASE WHEN ?5=1 THEN ?6"
               " ELSE expected_serial END, updated_at=?2 WHERE id=?1 AND team=?3"
               " AND deleted_at IS NULL",
        .site_id = site_id,
        .message = msg,
        .args = {DB_TEXT(team), DB_TEXT(u->name), DB_INT(u->set_serial),
                 DB_TEXT(u->expected_serial)},
        .nargs = 4,
        .event = -1,
        .out = out,
    };
    return site_change(s, &a);
}

enum store_result store_site_delete(struct store *s, const char *team, const char *site_id)
{
    struct site_change_arg a = {
        .sql = "UPDATE sites SET deleted_at=?2, updated_at=?2, adoption_hash=NULL,"
               " adoption_expires_at=NULL WHERE id=?1 AND team=?3 AND deleted_at IS NULL",
        .site_id = site_id,
        .message = "Site deleted; the router gets a teardown script",
        .args = {DB_TEXT(team)},
        .nargs = 1,
        .event = EV_SITE_DELETED,
    };
    return site_change(s, &a);
}

enum store_result store_site_teardown_done(struct store *s, const char *site_id)
{
    struct site_change_arg a = {
        .sql = "UPDATE sites SET device_hash=NULL, updated_at=?2 WHERE id=?1"
               " AND deleted_at IS NOT NULL",
        .site_id = site_id,
        .message = "Teardown confirmed by the router; its device token is revoked",
        .event = -1,
    };
    return site_change(s, &a);
}

/* ---- online and offline ----------------------------------------------- */

/* A site's pulse as announced: online 0 (offline, or never seen), 1
 * (online), 2 (a heartbeat arrived while it was 0: to announce). The
 * heartbeats set 2 (engine.c op_heartbeats); this turns 2 into 1 with the
 * site.online event, in the same transaction. */
int sql_sites_came_online(struct store *s, int64_t now)
{
    struct db_res *r = NULL;
    if (s->drv->run(eng_wdb(s), "UPDATE sites SET online=1 WHERE online=2 RETURNING " SITE_COLS,
                    NULL, 0, &r) != DB_OK)
        return -1;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++) {
        struct site site;
        sql_row_to_site(r, i, &site);
        err = eng_event(s, site.id, now, "Site online again (polling)") ||
              out_emit(s, EV_SITE_ONLINE, site.id, site_json(&site, true));
        site_clear(&site);
    }
    db_res_free(r);
    return err;
}

struct offline_arg {
    int64_t now, window;
    long count;
};

static enum store_result op_offline(struct store *s, void *p)
{
    struct offline_arg *a = p;
    struct db_res *r = NULL;
    a->count = 0;
    if (RUN(s, eng_wdb(s),
            "UPDATE sites SET online=0 WHERE online=1 AND deleted_at IS NULL AND"
            " coalesce(last_seen_at, 0) <= ?1 - ?2 RETURNING " SITE_COLS,
            &r, DB_INT(a->now), DB_INT(a->window)) != DB_OK)
        return STORE_UNAVAILABLE;
    int err = 0;
    for (size_t i = 0; i < r->rows && !err; i++) {
        struct site site;
        sql_row_to_site(r, i, &site);
        err = eng_event(s, site.id, a->now, "Site offline: no poll for %llds",
                        (long long)a->window) ||
              out_emit(s, EV_SITE_OFFLINE, site.id, site_json(&site, false));
        site_clear(&site);
    }
    a->count = (long)r->rows;
    db_res_free(r);
    return err ? STORE_UNAVAILABLE : STORE_OK;
}

long store_sweep_offline(struct store *s, int64_t now, int64_t window)
{
    struct db *c = eng_reader(s);
    if (!c)
        return 0;
    struct db_res *r = NULL;
    bool due = RUN(s, c,
                   "SELECT CASE WHEN EXISTS (SELECT 1 FROM sites WHERE online=1 AND deleted_at IS"
                   " NULL AND coalesce(last_seen_at, 0) <= ?1 - ?2) THEN 1 ELSE 0 END",
                   &r, DB_INT(now), DB_INT(window)) == DB_OK &&
               r->rows && db_int(r, 0, 0, 0);
    db_res_free(r);
    eng_reader_put(s, c);
    if (!due)
        return 0;
    struct offline_arg a = {now, window, 0};
    return eng_submit(s, op_offline, &a) == STORE_OK ? a.count : 0;
}
