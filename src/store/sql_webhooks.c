/* The store's operations on a team's webhook endpoints, its notify secret,
 * and what operators see of deliveries: create, read, list, change, delete,
 * rotate a secret, ping, list deliveries with their attempts, redeliver.
 * Endpoints of another team are STORE_NOT_FOUND, like missing ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "store/engine.h"

#define WEBHOOK_COLS                                                                               \
    "id, url, description, events, created_at, updated_at, disabled_at, disabled_reason,"          \
    " old_until"

void webhook_clear(struct webhook *w)
{
    free(w->url);
    free(w->description);
    free(w->disabled_reason);
    memset(w, 0, sizeof *w);
}

void webhook_list_clear(struct webhook_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        webhook_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void row_to_webhook(const struct db_res *r, size_t i, struct webhook *w)
{
    memset(w, 0, sizeof *w);
    eng_copy_cell(r, i, 0, w->id, sizeof w->id);
    w->url = db_dup(r, i, 1);
    w->description = db_dup(r, i, 2);
    w->events = (unsigned)db_int(r, i, 3, 0);
    w->created_at = db_int(r, i, 4, 0);
    w->updated_at = db_int(r, i, 5, 0);
    w->disabled_at = db_int(r, i, 6, 0);
    w->disabled_reason = db_dup(r, i, 7);
    w->old_secret_until = db_int(r, i, 8, 0);
}

static void fill_webhook(const struct db_res *r, size_t i, void *out)
{
    row_to_webhook(r, i, out);
}

/* Runs sql (a statement ending in RETURNING WEBHOOK_COLS) on the writer
 * and fills out from its row: STORE_NOT_FOUND when none. */
static enum store_result returning(struct store *s, const char *sql, const struct db_arg *args,
                                   int n, struct webhook *out)
{
    struct db_res *r = NULL;
    if (s->drv->run(eng_wdb(s), sql, args, n, &r) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (r->rows && out)
        row_to_webhook(r, 0, out);
    db_res_free(r);
    return res;
}

struct webhook_arg {
    const char *team, *id, *url, *description, *secret;
    unsigned events;
    const struct webhook_change *change;
    int64_t old_until;
    struct webhook *out;
};

static enum store_result op_webhook_create(struct store *s, void *p)
{
    eng_webhooks_changed(s);
    struct webhook_arg *a = p;
    webhook_clear(a->out);
    char id[JP_UUID_LEN + 1];
    if (eng_new_id(s, id))
        return STORE_UNAVAILABLE;
    struct db_arg args[] = {
        DB_TEXT(id),       DB_TEXT(a->team),   DB_TEXT(a->url),  DB_TEXT(a->description),
        DB_INT(a->events), DB_TEXT(a->secret), DB_INT(eng_now())};
    enum store_result r = returning(s,
                                    "INSERT INTO webhooks (id, team, url, description, events,"
                                    " secret, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,"
                                    "?7,?7) RETURNING " WEBHOOK_COLS,
                                    args, 7, a->out);
    return r == STORE_OK ? STORE_CREATED : r == STORE_NOT_FOUND ? STORE_UNAVAILABLE : r;
}

enum store_result store_webhook_create(struct store *s, const char *team, const char *url,
                                       const char *description, unsigned events, const char *secret,
                                       struct webhook *out)
{
    memset(out, 0, sizeof *out);
    struct webhook_arg a = {.team = team,
                            .url = url,
                            .description = description,
                            .secret = secret,
                            .events = events,
                            .out = out};
    enum store_result r = eng_submit(s, op_webhook_create, &a);
    if (r != STORE_CREATED)
        webhook_clear(out);
    return r;
}

enum store_result store_webhook_get(struct store *s, const char *team, const char *id,
                                    struct webhook *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(id), DB_TEXT(team)};
    return eng_read_one(s, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id=?1 AND team=?2", args, 2,
                        fill_webhook, out);
}

enum store_result store_webhook_list(struct store *s, const char *team, struct webhook_list *out)
{
    struct db_arg args[] = {DB_TEXT(team)};
    void *items = NULL;
    enum store_result r =
        eng_read_all(s, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE team=?1 ORDER BY id", args, 1,
                     sizeof *out->items, fill_webhook, &items, &out->n);
    out->items = items;
    return r;
}

static enum store_result op_webhook_update(struct store *s, void *p)
{
    eng_webhooks_changed(s);
    struct webhook_arg *a = p;
    const struct webhook_change *c = a->change;
    webhook_clear(a->out);
    /* enabled: -1 keeps, 1 clears disabled_at and the reason, 0 sets them */
    struct db_arg args[] = {
        DB_TEXT(a->id),    DB_TEXT(a->team),   DB_TEXT(c->url),   DB_TEXT(c->description),
        DB_NUM(c->events), DB_INT(c->enabled), DB_INT(eng_now()), DB_INT(c->description != NULL)};
    return returning(
        s,
        "UPDATE webhooks SET url=coalesce(?3, url),"
        " description=CASE WHEN ?8=1 THEN ?4 ELSE description END,"
        " events=coalesce(?5, events),"
        " disabled_at=CASE WHEN ?6=1 THEN NULL WHEN ?6=0 THEN coalesce(disabled_at, ?7)"
        " ELSE disabled_at END,"
        " disabled_reason=CASE WHEN ?6=1 THEN NULL WHEN ?6=0 THEN"
        " coalesce(disabled_reason, 'disabled by an operator') ELSE disabled_reason END,"
        " updated_at=?7 WHERE id=?1 AND team=?2 RETURNING " WEBHOOK_COLS,
        args, 8, a->out);
}

enum store_result store_webhook_update(struct store *s, const char *team, const char *id,
                                       const struct webhook_change *c, struct webhook *out)
{
    memset(out, 0, sizeof *out);
    struct webhook_arg a = {.team = team, .id = id, .change = c, .out = out};
    enum store_result r = eng_submit(s, op_webhook_update, &a);
    if (r != STORE_OK)
        webhook_clear(out);
    return r;
}

static enum store_result op_webhook_delete(struct store *s, void *p)
{
    eng_webhooks_changed(s);
    struct webhook_arg *a = p;
    if (RUN(s, eng_wdb(s), "DELETE FROM webhooks WHERE id=?1 AND team=?2", NULL, DB_TEXT(a->id),
            DB_TEXT(a->team)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(eng_wdb(s)) == 0)
        return STORE_NOT_FOUND;
    int64_t now_ms = eng_now() * 1000;
    return RUN(s, eng_wdb(s),
               "UPDATE deliveries SET state=2, last_error='the endpoint was deleted',"
               " lease_owner=NULL, lease_until=NULL, updated_at=?2 WHERE webhook_id=?1 AND state=0",
               NULL, DB_TEXT(a->id), DB_INT(now_ms)) == DB_OK
               ? STORE_OK
               : STORE_UNAVAILABLE;
}

enum store_result store_webhook_delete(struct store *s, const char *team, const char *id)
{
    struct webhook_arg a = {.team = team, .id = id};
    return eng_submit(s, op_webhook_delete, &a);
}

static enum store_result op_webhook_rotate(struct store *s, void *p)
{
    struct webhook_arg *a = p;
    struct db_arg args[] = {DB_TEXT(a->id), DB_TEXT(a->team), DB_TEXT(a->secret),
                            DB_INT(a->old_until), DB_INT(eng_now())};
    return returning(s,
                     "UPDATE webhooks SET old_secret=secret, secret=?3, old_until=?4, updated_at=?5"
                     " WHERE id=?1 AND team=?2 RETURNING " WEBHOOK_COLS,
                     args, 5, NULL);
}

enum store_result store_webhook_rotate(struct store *s, const char *team, const char *id,
                                       const char *secret, int64_t old_until)
{
    struct webhook_arg a = {.team = team, .id = id, .secret = secret, .old_until = old_until};
    return eng_submit(s, op_webhook_rotate, &a);
}

static enum store_result op_notify_secret(struct store *s, void *p)
{
    struct webhook_arg *a = p;
    return RUN(s, eng_wdb(s),
               "INSERT INTO notify_secrets (team, secret, updated_at) VALUES (?1, ?2, ?4)"
               " ON CONFLICT (team) DO UPDATE SET old_secret=notify_secrets.secret,"
               " secret=excluded.secret, old_until=?3, updated_at=?4",
               NULL, DB_TEXT(a->team), DB_TEXT(a->secret), DB_INT(a->old_until),
               DB_INT(eng_now())) == DB_OK
               ? STORE_OK
               : STORE_UNAVAILABLE;
}

enum store_result store_notify_secret_set(struct store *s, const char *team, const char *secret,
                                          int64_t old_until)
{
    struct webhook_arg a = {.team = team, .secret = secret, .old_until = old_until};
    return eng_submit(s, op_notify_secret, &a);
}

struct ping_arg {
    const char *team, *id;
    char *event_id;
    int64_t *delivery_id;
};

static enum store_result op_webhook_ping(struct store *s, void *p)
{
    struct ping_arg *a = p;
    char id[JP_UUID_LEN + 1], ts[JP_RFC3339_LEN + 1];
    if (eng_new_id(s, id))
        return STORE_UNAVAILABLE;
    snprintf(a->event_id, 48, "msg_%s", id);
    int64_t ms = (int64_t)uuid7_millis(id);
    rfc3339_format(ms / 1000, ts);
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}}", "type", whk_events[EV_PING].name, "timestamp",
                            ts, "data", "webhook_id", a->id);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body)
        return STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    enum db_status rc =
        RUN(s, eng_wdb(s),
            "INSERT INTO deliveries (event_id, type, team, webhook_id, dest, next_at,"
            " created_at, updated_at) SELECT ?1, ?5, team, id, id, ?2, ?2, ?2 FROM webhooks"
            " WHERE id=?3 AND team=?4 RETURNING id",
            &r, DB_TEXT(a->event_id), DB_INT(ms), DB_TEXT(a->id), DB_TEXT(a->team),
            DB_TEXT(whk_events[EV_PING].name));
    enum store_result res = rc != DB_OK ? STORE_UNAVAILABLE : r->rows ? STORE_OK : STORE_NOT_FOUND;
    if (res == STORE_OK)
        *a->delivery_id = db_int(r, 0, 0, 0);
    db_res_free(r);
    if (res == STORE_OK && (RUN(s, eng_wdb(s), "INSERT INTO outbox (id, body) VALUES (?1, ?2)",
                                NULL, DB_TEXT(a->event_id), DB_TEXT(body)) != DB_OK ||
                            eng_outbox_queued(s)))
        res = STORE_UNAVAILABLE;
    free(body);
    return res;
}

enum store_result store_webhook_ping(struct store *s, const char *team, const char *id,
                                     char event_id[48], int64_t *delivery_id)
{
    struct ping_arg a = {team, id, event_id, delivery_id};
    return eng_submit(s, op_webhook_ping, &a);
}

/* ---- deliveries, as operators see them -------------------------------- */

void delivery_list_clear(struct delivery_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct delivery *d = &l->items[i];
        free(d->webhook_id);
        for (size_t k = 0; k < d->nattempts; k++) {
            free(d->attempts[k].error);
            free(d->attempts[k].excerpt);
        }
        free(d->attempts);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* The attempts of each delivery listed, oldest first. */
static int load_attempts(struct store *s, struct db *c, struct delivery *d)
{
    struct db_res *r = NULL;
    if (RUN(s, c,
            "SELECT at, status, duration_ms, error, excerpt FROM delivery_attempts"
            " WHERE delivery_id=?1 ORDER BY at",
            &r, DB_INT(d->id)) != DB_OK)
        return -1;
    d->attempts = calloc(r->rows + 1, sizeof *d->attempts); /* and the last, in the row */
    if (!d->attempts) {
        db_res_free(r);
        return -1;
    }
    for (; d->nattempts < r->rows; d->nattempts++) { /* the earlier ones */
        struct delivery_attempt *at = &d->attempts[d->nattempts];
        size_t i = d->nattempts;
        at->at_ms = db_int(r, i, 0, 0);
        at->status = (int)db_int(r, i, 1, 0);
        at->duration_ms = db_int(r, i, 2, 0);
        at->error = db_dup(r, i, 3);
        at->excerpt = db_dup(r, i, 4);
    }
    db_res_free(r);
    return 0;
}

enum store_result store_deliveries_list(struct store *s, const char *team, const char *webhook_id,
                                        int state, int64_t before_id, unsigned limit,
                                        struct delivery_list *out)
{
    memset(out, 0, sizeof *out);
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    if (eng_exec(s, c, "BEGIN"))
        goto out;
    if (RUN(s, c, "SELECT 1 FROM webhooks WHERE id=?1 AND team=?2", &r, DB_TEXT(webhook_id),
            DB_TEXT(team)) != DB_OK)
        goto rollback;
    if (!r->rows) {
        res = STORE_NOT_FOUND;
        goto rollback;
    }
    db_res_free(r);
    r = NULL;
    if (RUN(s, c,
            "SELECT id, event_id, type, webhook_id, state, next_at, created_at, updated_at,"
            " last_at, last_status, last_duration_ms, last_error, last_excerpt FROM deliveries"
            " WHERE webhook_id=?1 AND team=?2 AND id < ?3 AND (?4 < 0 OR state=?4)"
            " ORDER BY id DESC LIMIT ?5",
            &r, DB_TEXT(webhook_id), DB_TEXT(team), DB_INT(before_id > 0 ? before_id : INT64_MAX),
            DB_INT(state), DB_INT((int64_t)limit + 1)) != DB_OK)
        goto rollback;
    size_t n = r->rows;
    if (n > limit) {
        out->more = true;
        n = limit;
    }
    out->items = calloc(n ? n : 1, sizeof *out->items);
    if (!out->items)
        goto rollback;
    for (; out->n < n; out->n++) {
        struct delivery *d = &out->items[out->n];
        size_t i = out->n;
        d->id = db_int(r, i, 0, 0);
        eng_copy_cell(r, i, 1, d->event_id, sizeof d->event_id);
        eng_copy_cell(r, i, 2, d->type, sizeof d->type);
        d->webhook_id = db_dup(r, i, 3);
        d->state = (int)db_int(r, i, 4, 0);
        d->next_at_ms = db_int(r, i, 5, 0);
        d->created_at_ms = db_int(r, i, 6, 0);
        d->updated_at_ms = db_int(r, i, 7, 0);
    }
    res = STORE_OK;
    for (size_t i = 0; i < out->n && res == STORE_OK; i++) {
        struct delivery *d = &out->items[i];
        if (load_attempts(s, c, d)) {
            res = STORE_UNAVAILABLE;
            break;
        }
        if (db_null(r, i, 8))
            continue;
        struct delivery_attempt *at = &d->attempts[d->nattempts++];
        at->at_ms = db_int(r, i, 8, 0);
        at->status = (int)db_int(r, i, 9, 0);
        at->duration_ms = db_int(r, i, 10, 0);
        at->error = db_dup(r, i, 11);
        at->excerpt = db_dup(r, i, 12);
    }
rollback:
    db_res_free(r);
    eng_exec(s, c, "ROLLBACK");
out:
    eng_reader_put(s, c);
    if (res != STORE_OK)
        delivery_list_clear(out);
    return res;
}

struct redeliver_arg {
    const char *team;
    int64_t id;
};

static enum store_result op_redeliver(struct store *s, void *p)
{
    struct redeliver_arg *a = p;
    int64_t now_ms = eng_now() * 1000;
    if (RUN(s, eng_wdb(s),
            "UPDATE deliveries SET state=0, tries=0, next_at=?3, updated_at=?3"
            " WHERE id=?1 AND team=?2",
            NULL, DB_INT(a->id), DB_TEXT(a->team), DB_INT(now_ms)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (s->drv->changes(eng_wdb(s)) == 0)
        return STORE_NOT_FOUND;
    return eng_outbox_queued(s) ? STORE_UNAVAILABLE : STORE_OK;
}

enum store_result store_delivery_redeliver(struct store *s, const char *team, int64_t id)
{
    struct redeliver_arg a = {team, id};
    return eng_submit(s, op_redeliver, &a);
}
