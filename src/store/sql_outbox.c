/* The transactional outbox: events are written in the transaction of the
 * change that causes them (out_job, out_emit), as one delivery row per
 * destination; the deliverer (api/deliver.c) claims due deliveries, sends
 * them and records every attempt here.
 *
 * Tables (migration 3, times in milliseconds): deliveries (event id
 * "msg_{uuid7}", the webhook-id, shared by the event's destinations; for a
 * job event the job's state at the event, its payload rendered when sent;
 * state, tries since queued, next_at; the lease; the last attempt), outbox
 * (the payload of a site or backup event, once), delivery_attempts (the
 * attempts before the last). On PostgreSQL a lease is (lease_owner: the
 * node, lease_until): a claim skips rows another node holds (SKIP LOCKED) or
 * leased until later, so one node at a time sends a delivery, and a node
 * that died leaves it to another once the lease ends. One process owns a
 * SQLite database: its leases are the deliverer's memory, and a claim is a
 * read. The common delivery then costs the writer an insert (with the
 * change) and an update (its result). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "lib/log.h"
#include "store/engine.h"

/* Queues deliveries of event ev to every endpoint of the site's team
 * subscribed to e, and to notify (NULL: none), in one statement. A job
 * event carries the job's state at the event (snap) instead of a payload:
 * the deliverer renders it from the job's row, off the writer. Returns 1
 * when something may have been queued, 0 when nothing was, -1 on failure.
 * On PostgreSQL the result is not waited for (it travels with the batch's
 * next statement): "may have". */
static int queue(struct store *s, enum whk_event e, const char *site_id, const char *notify,
                 const char *ev, int64_t ms, const struct job *snap)
{
    if (!notify && s->hooks == 0)
        return 0; /* SQLite, no webhook enabled: nobody to queue for */
    char origin[JP_UUID_LEN + 64] = "";
    if (notify) { /* notify_urls of one origin share its limit of transfers */
        const char *host = strstr(notify, "://");
        host = host ? host + 3 : notify;
        snprintf(origin, sizeof origin, "%.*s", (int)(host - notify + strcspn(host, "/?#")),
                 notify);
    }
    struct job none = {0};
    const struct job *j = snap ? snap : &none;
    struct db_arg args[] = {DB_TEXT(ev),
                            DB_TEXT(whk_events[e].name),
                            DB_INT(ms),
                            DB_TEXT(site_id),
                            DB_INT((int64_t)1 << e),
                            DB_TEXT(origin),
                            DB_TEXT(notify),
                            DB_TEXT(snap ? j->id : NULL),
                            DB_NUM(j->delivered_at ? j->delivered_at : -1),
                            DB_NUM(j->started_at ? j->started_at : -1),
                            DB_NUM(j->completed_at ? j->completed_at : -1),
                            DB_NUM(j->failed_at ? j->failed_at : -1),
                            DB_TEXT(j->associated_backup)};
    const char *sql =
        "INSERT INTO deliveries (event_id, type, team, webhook_id, dest, url, next_at,"
        " created_at, updated_at, job_id, s_delivered, s_started, s_completed, s_failed,"
        " s_backup) SELECT ?1, ?2, w.team, w.id, w.id, NULL, ?3, ?3, ?3, ?8, ?9, ?10, ?11, ?12,"
        " ?13 FROM webhooks w WHERE w.team=(SELECT team FROM sites WHERE id=?4)"
        " AND w.disabled_at IS NULL AND (w.events & ?5) <> 0"
        " UNION ALL SELECT ?1, ?2, team, NULL, ?6, ?7, ?3, ?3, ?3, ?8, ?9, ?10, ?11, ?12, ?13"
        " FROM sites WHERE id=?4 AND ?7 IS NOT NULL";
    if (PG(s))
        return eng_later(s, sql, args, 13) == DB_OK ? 1 : -1;
    if (s->drv->run(eng_wdb(s), sql, args, 13, NULL) != DB_OK)
        return -1;
    return s->drv->changes(eng_wdb(s)) > 0;
}

/* A new event id ("msg_" and a UUIDv7) and its millisecond. */
static int new_event(struct store *s, char ev[48], int64_t *ms)
{
    char id[JP_UUID_LEN + 1];
    if (eng_new_id(s, id))
        return -1;
    snprintf(ev, 48, "msg_%s", id);
    *ms = (int64_t)uuid7_millis(id);
    return 0;
}

int out_emit(struct store *s, enum whk_event e, const char *site_id, json_t *data)
{
    char ev[48], ts[JP_RFC3339_LEN + 1];
    int64_t ms;
    if (!data || new_event(s, ev, &ms)) {
        json_decref(data);
        return -1;
    }
    rfc3339_format(ms / 1000, ts);
    json_t *doc =
        json_pack("{s:s, s:s, s:o}", "type", whk_events[e].name, "timestamp", ts, "data", data);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body)
        return -1;
    int queued = queue(s, e, site_id, NULL, ev, ms, NULL);
    /* the payload once, when anyone is to receive it */
    if (queued > 0 &&
        (PG(s) ? LATER(s,
                       "INSERT INTO outbox (id, body) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM"
                       " webhooks w WHERE w.team=(SELECT team FROM sites WHERE id=?3) AND"
                       " w.disabled_at IS NULL AND (w.events & ?4) <> 0)",
                       DB_TEXT(ev), DB_TEXT(body), DB_TEXT(site_id), DB_INT((int64_t)1 << e))
               : RUN(s, eng_wdb(s), "INSERT INTO outbox (id, body) VALUES (?1, ?2)", NULL,
                     DB_TEXT(ev), DB_TEXT(body))) != DB_OK)
        queued = -1;
    free(body);
    return queued < 0 ? -1 : queued ? eng_outbox_queued(s) : 0;
}

int out_job(struct store *s, enum whk_event e, const struct job *j)
{
    char ev[48];
    int64_t ms;
    if (new_event(s, ev, &ms))
        return -1;
    int queued = queue(s, e, j->site_id, j->notify_url, ev, ms, j);
    return queued < 0 ? -1 : queued ? eng_outbox_queued(s) : 0;
}

/* The payload of a job event: the job as its row says, in the state the
 * event left it (the snapshot's timestamps and backup), as the jobs API
 * shows it; job.cancelled says "cancelled". NULL on failure. */
static char *render_job(const char *type, int64_t ms, struct job *j)
{
    char ts[JP_RFC3339_LEN + 1];
    rfc3339_format(ms / 1000, ts);
    json_t *data = job_json(j);
    if (data && !strcmp(type, whk_events[EV_JOB_CANCELLED].name))
        json_object_set_new(data, "status", json_string("cancelled"));
    json_t *doc =
        data ? json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", ts, "data", data) : NULL;
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return body;
}

void outbox_item_clear(struct outbox_item *it)
{
    if (it->_job)
        job_clear(it->_job);
    free(it->_job);
    free(it->url);
    free(it->body);
    free(it->secret);
    free(it->old_secret);
    memset(it, 0, sizeof *it);
}

/* ---- claiming --------------------------------------------------------- */

struct claim_arg {
    const char *node;
    const char *inflight; /* SQLite: the ids this node is sending, a JSON array */
    bool reader;          /* SQLite: on a reader; a row that needs a write ends the pass */
    int64_t now;
    const char *const *busy;
    size_t nbusy;
    struct outbox_item *items;
    size_t max, *n;
    int64_t lease_until;
};

/* A notify_url delivery of a team without a notify secret yet: one is
 * made (the operator sees a secret only by POST /webhooks/notify-secret,
 * which rotates it; the deliveries signed before cannot be checked). */
static int notify_secret_ensure(struct store *s, const char *team)
{
    unsigned char raw[WHK_SECRET_RAW];
    char secret[WHK_SECRET_LEN + 1];
    if (eng_random(raw, sizeof raw))
        return -1;
    whk_secret_format(raw, secret);
    return RUN(s, eng_wdb(s),
               "INSERT INTO notify_secrets (team, secret, updated_at) VALUES (?1, ?2, ?3)"
               " ON CONFLICT (team) DO NOTHING",
               NULL, DB_TEXT(team), DB_TEXT(secret), DB_INT(eng_now())) == DB_OK
               ? 0
               : -1;
}

/* What sending a delivery takes, for both dialects (d: the delivery): the
 * endpoint's URL (it may have changed since), the payload or, for a job
 * event, the snapshot and the job's row, and the secrets of the endpoint or,
 * for a notify_url, of the team (the previous one too while a rotation
 * overlaps; ?3: now, in seconds). */
#define CLAIM_COLS                                                                                 \
    "d.id, d.event_id, d.dest, d.tries, coalesce(w.url, d.url), o.body,"                           \
    " CASE WHEN d.webhook_id IS NULL THEN n.secret ELSE w.secret END,"                             \
    " CASE WHEN d.webhook_id IS NULL THEN CASE WHEN n.old_until > ?3 THEN n.old_secret END"        \
    " ELSE CASE WHEN w.old_until > ?3 THEN w.old_secret END END,"                                  \
    " d.webhook_id, d.team, d.last_at, d.type, d.created_at, d.job_id, d.s_delivered,"             \
    " d.s_started, d.s_completed, d.s_failed, d.s_backup, j.id, j.token, j.site_id,"               \
    " j.idempotency_key, j.description, j.script, j.notify_url, j.associated_backup,"              \
    " j.express_execute, j.needs_ack, j.should_backup, j.created_at, j.delivered_at,"              \
    " j.started_at, j.completed_at, j.failed_at, j.rollout_id, j.dry_run, j.expects_reboot,"       \
    " j.capture_output, j.confirm_within, j.backup_sensitive, j.reverted_at"
#define CLAIM_JOB_COL 19 /* where the job's columns (JOB_COLS) begin */
#define CLAIM_JOINS                                                                                \
    " LEFT JOIN outbox o ON o.id=d.event_id LEFT JOIN webhooks w ON w.id=d.webhook_id"             \
    " LEFT JOIN notify_secrets n ON n.team=d.team AND d.webhook_id IS NULL"                        \
    " LEFT JOIN jobs j ON j.id=d.job_id"
#define CLAIM_DUE "state=0 AND next_at <= ?4 AND (lease_until IS NULL OR lease_until < ?4)"

/* Fills the item from a claimed row; NULL, or why it cannot be sent. The
 * payload of a job event is rendered later, off the writer (_job). */
static const char *claimed(const struct db_res *r, size_t i, struct outbox_item *it)
{
    it->id = db_int(r, i, 0, 0);
    eng_copy_cell(r, i, 1, it->event_id, sizeof it->event_id);
    eng_copy_cell(r, i, 2, it->dest, sizeof it->dest);
    it->tries = (unsigned)db_int(r, i, 3, 0);
    it->url = db_dup(r, i, 4);
    it->secret = db_dup(r, i, 6);
    it->old_secret = db_dup(r, i, 7);
    it->endpoint = !db_null(r, i, 8);
    it->has_last = !db_null(r, i, 10);
    eng_copy_cell(r, i, 11, it->_type, sizeof it->_type);
    it->_ms = db_int(r, i, 12, 0);
    if (!it->url || (it->endpoint && !it->secret))
        return "the endpoint was deleted";
    if (db_null(r, i, 13)) {
        it->body = db_dup(r, i, 5);
        it->body_len = db_len(r, i, 5);
        return it->body ? NULL : "the event is past its retention";
    }
    if (db_null(r, i, CLAIM_JOB_COL))
        return "the job is gone";
    struct job *j = it->_job = malloc(sizeof *j);
    if (!j)
        return "out of memory";
    sql_row_to_job_at(r, i, CLAIM_JOB_COL, j);
    /* the job as the event left it */
    j->delivered_at = db_int(r, i, 14, 0);
    j->started_at = db_int(r, i, 15, 0);
    j->completed_at = db_int(r, i, 16, 0);
    j->failed_at = db_int(r, i, 17, 0);
    /* a revert is a failure undone: its event names it, the snapshot has failed_at */
    j->reverted_at = strcmp(it->_type, whk_events[EV_JOB_REVERTED].name) ? 0 : j->failed_at;
    free(j->associated_backup);
    j->associated_backup = db_dup(r, i, 18);
    return NULL;
}

/* Claims on connection c (the writer's, or on SQLite a reader's). */
static enum store_result claim_on(struct store *s, struct db *c, struct claim_arg *a)
{
    for (size_t i = 0; i < *a->n; i++)
        outbox_item_clear(&a->items[i]);
    *a->n = 0;
    /* ?7.. : the destinations at their limit of transfers in flight */
    char sql[4096], notin[256] = "";
    size_t nb = a->nbusy > 9 ? 9 : a->nbusy;
    for (size_t i = 0; i < nb; i++)
        snprintf(notin + strlen(notin), sizeof notin - strlen(notin), "%s?%zu", i ? "," : "",
                 i + 7);
    /* On PostgreSQL one statement leases the rows (skipping those another
     * node holds) and reads what sending them takes. One process owns a
     * SQLite database: its leases are the deliverer's memory (?6, the ids
     * in flight), and a claim is a read. */
    if (PG(s))
        snprintf(sql, sizeof sql,
                 "WITH d AS (UPDATE deliveries SET lease_owner=?1, lease_until=?2 WHERE id IN"
                 " (SELECT id FROM deliveries WHERE " CLAIM_DUE "%s%s%s ORDER BY next_at"
                 " LIMIT ?5 FOR UPDATE SKIP LOCKED) RETURNING *) SELECT " CLAIM_COLS
                 " FROM d" CLAIM_JOINS " WHERE ?6::text IS NULL ORDER BY d.next_at",
                 nb ? " AND dest NOT IN (" : "", notin, nb ? ")" : "");
    else
        snprintf(sql, sizeof sql,
                 "SELECT " CLAIM_COLS " FROM deliveries d" CLAIM_JOINS " WHERE d." CLAIM_DUE
                 " AND d.id NOT IN (SELECT value FROM json_each(?6))%s%s%s"
                 " ORDER BY d.next_at LIMIT ?5",
                 nb ? " AND d.dest NOT IN (" : "", notin, nb ? ")" : "");
    struct db_arg args[16] = {DB_TEXT(a->node),        DB_INT(a->lease_until),
                              DB_INT(a->now / 1000),   DB_INT(a->now),
                              DB_INT((int64_t)a->max), DB_TEXT(PG(s) ? NULL : a->inflight)};
    for (size_t i = 0; i < nb; i++)
        args[6 + i] = DB_TEXT(a->busy[i]);
    struct db_res *r = NULL;
    if (s->drv->run(c, sql, args, (int)(6 + nb), &r) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_OK;
    for (size_t i = 0; i < r->rows && *a->n < a->max && res == STORE_OK; i++) {
        struct outbox_item *it = &a->items[*a->n];
        memset(it, 0, sizeof *it);
        it->lease_until = a->lease_until;
        const char *why = claimed(r, i, it);
        bool no_secret = !why && !it->endpoint && !it->secret;
        if ((why || no_secret) && a->reader) {
            outbox_item_clear(it);
            res = STORE_CONFLICT; /* this round goes to the writer */
            break;
        }
        if (no_secret) { /* a team without a notify secret yet */
            struct db_res *k = NULL;
            if (notify_secret_ensure(s, db_text(r, i, 9)) ||
                RUN(s, c, "SELECT secret FROM notify_secrets WHERE team=?1", &k,
                    DB_TEXT(db_text(r, i, 9))) != DB_OK ||
                !k->rows)
                res = STORE_UNAVAILABLE;
            else
                it->secret = db_dup(k, 0, 0);
            db_res_free(k);
        }
        if (why) { /* failed, not sent */
            int64_t id = it->id;
            outbox_item_clear(it);
            if (RUN(s, c,
                    "UPDATE deliveries SET state=2, last_error=?3, lease_owner=NULL,"
                    " lease_until=NULL, updated_at=?2 WHERE id=?1",
                    NULL, DB_INT(id), DB_INT(a->now), DB_TEXT(why)) != DB_OK)
                res = STORE_UNAVAILABLE;
            continue;
        }
        if (res == STORE_OK)
            (*a->n)++;
        else
            outbox_item_clear(it);
    }
    db_res_free(r);
    if (res != STORE_OK) {
        for (size_t i = 0; i < *a->n; i++)
            outbox_item_clear(&a->items[i]);
        *a->n = 0;
    }
    return res;
}

static enum store_result op_claim(struct store *s, void *p)
{
    return claim_on(s, eng_wdb(s), p);
}

static void fill_due(const struct db_res *r, size_t i, void *out)
{
    *(int64_t *)out = db_int(r, i, 0, 0);
}

int64_t store_outbox_next_due(struct store *s, int64_t now_ms)
{
    int64_t due = 0;
    struct db_arg args[] = {DB_INT(now_ms)};
    eng_read_one(s,
                 "SELECT min(next_at) FROM deliveries WHERE state=0 AND (lease_until IS NULL OR"
                 " lease_until < ?1)",
                 args, 1, fill_due, &due);
    return due;
}

enum store_result store_outbox_claim(struct store *s, const char *node, int64_t now_ms,
                                     int64_t lease_until, const char *const *busy, size_t nbusy,
                                     const int64_t *inflight, size_t ninflight,
                                     struct outbox_item *items, size_t max, size_t *n)
{
    *n = 0;
    char *list = NULL; /* SQLite: "[id,id,...]" */
    if (!PG(s)) {
        list = malloc(ninflight * 21 + 3);
        if (!list)
            return STORE_UNAVAILABLE;
        size_t at = 0;
        list[at++] = '[';
        for (size_t i = 0; i < ninflight; i++)
            at += (size_t)sprintf(list + at, "%s%lld", i ? "," : "", (long long)inflight[i]);
        list[at++] = ']';
        list[at] = '\0';
    }
    struct claim_arg a = {node, list, !PG(s), now_ms, busy, nbusy, items, max, n, lease_until};
    enum store_result r = STORE_CONFLICT;
    if (PG(s)) { /* a read first: when nothing is due, no write transaction */
        int64_t due = store_outbox_next_due(s, now_ms);
        if (!due || due > now_ms)
            r = STORE_OK;
    }
    if (a.reader) { /* the common claim costs the writer nothing */
        struct db *c = eng_reader(s);
        r = c ? claim_on(s, c, &a) : STORE_UNAVAILABLE;
        if (c)
            eng_reader_put(s, c);
        a.reader = false;
    }
    if (r == STORE_CONFLICT)
        r = eng_submit(s, op_claim, &a);
    free(list);
    /* job payloads are rendered here, on the deliverer's thread; one that
     * cannot be (out of memory) stays leased and is sent after its lease */
    size_t kept = 0;
    for (size_t i = 0; r == STORE_OK && i < *n; i++) {
        struct outbox_item *it = &items[i];
        if (it->_job) {
            it->body = render_job(it->_type, it->_ms, it->_job);
            it->body_len = it->body ? strlen(it->body) : 0;
            job_clear(it->_job);
            free(it->_job);
            it->_job = NULL;
        }
        if (it->body)
            items[kept++] = *it;
        else
            outbox_item_clear(it);
    }
    if (r == STORE_OK)
        *n = kept;
    if (r != STORE_OK) {
        for (size_t i = 0; i < *n; i++)
            outbox_item_clear(&items[i]);
        *n = 0;
    }
    return r;
}

/* ---- results ---------------------------------------------------------- */

struct record_arg {
    const char *node;
    const struct delivery_result *r;
    size_t n;
};

/* The endpoint answered 410, or a delivery to it failed for good with no
 * success since it was queued: it is disabled, and what it still had
 * queued fails with it. */
static int disable_endpoint(struct store *s, const struct outbox_item *it, int64_t at,
                            const char *reason)
{
    eng_webhooks_changed(s);
    if (RUN(s, eng_wdb(s),
            "UPDATE webhooks SET disabled_at=?2, disabled_reason=?3, updated_at=?2"
            " WHERE id=?1 AND disabled_at IS NULL",
            NULL, DB_TEXT(it->dest), DB_INT(at / 1000), DB_TEXT(reason)) != DB_OK)
        return -1;
    if (s->drv->changes(eng_wdb(s)))
        log_warn("webhook %s disabled: %s", it->dest, reason);
    return RUN(s, eng_wdb(s),
               "UPDATE deliveries SET state=2, last_error='the endpoint is disabled',"
               " lease_owner=NULL, lease_until=NULL, updated_at=?2"
               " WHERE webhook_id=?1 AND state=0 AND id<>?3",
               NULL, DB_TEXT(it->dest), DB_INT(at), DB_INT(it->id)) == DB_OK
               ? 0
               : -1;
}

static int record_one(struct store *s, const char *node, const struct delivery_result *d)
{
    const struct outbox_item *it = d->item;
    /* The row keeps the last attempt; an earlier one moves to the attempts
     * table first. Both only while the lease is ours: past it, another node
     * may have taken the delivery. */
    /* (SQLite: one process, no leases in the database) */
    const char *ours = PG(s) ? "lease_owner=?2 AND lease_until=?3" : "?2 = ?2 AND ?3 = ?3";
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO delivery_attempts (delivery_id, at, status, duration_ms, error, excerpt,"
             " node) SELECT id, last_at, last_status, last_duration_ms, last_error, last_excerpt,"
             " last_node FROM deliveries WHERE id=?1 AND %s AND last_at IS NOT NULL",
             ours);
    if (it->has_last &&
        LATER(s, sql, DB_INT(it->id), DB_TEXT(node), DB_INT(it->lease_until)) != DB_OK)
        return -1;
    int state = d->outcome == OUTCOME_DELIVERED ? DELIVERY_DELIVERED
                : d->outcome == OUTCOME_RETRY   ? DELIVERY_PENDING
                                                : DELIVERY_FAILED;
    snprintf(sql, sizeof sql,
             "UPDATE deliveries SET state=?4, tries=tries+1, next_at=?5, lease_owner=NULL,"
             " lease_until=NULL, last_at=?6, last_status=?7, last_duration_ms=?8, last_error=?9,"
             " last_excerpt=?10, last_node=?2, updated_at=?11 WHERE id=?1 AND %s AND state=0",
             ours);
    struct db_arg args[] = {DB_INT(it->id),
                            DB_TEXT(node),
                            DB_INT(it->lease_until),
                            DB_INT(state),
                            DB_INT(d->outcome == OUTCOME_RETRY ? d->next_at_ms : d->at_ms),
                            DB_INT(d->at_ms),
                            DB_NUM(d->status ? d->status : -1),
                            DB_INT(d->duration_ms),
                            DB_TEXT(d->error),
                            DB_TEXT(d->excerpt),
                            DB_INT(d->at_ms + d->duration_ms)};
    bool final = it->endpoint && (d->outcome == OUTCOME_GONE || d->outcome == OUTCOME_FAILED);
    if (!final) /* nothing more depends on it: not waited for on PostgreSQL */
        return eng_later(s, sql, args, 11) == DB_OK ? 0 : -1;
    if (s->drv->run(eng_wdb(s), sql, args, 11, NULL) != DB_OK)
        return -1;
    if (!s->drv->changes(eng_wdb(s)))
        return 0;
    if (d->outcome == OUTCOME_GONE)
        return disable_endpoint(s, it, d->at_ms, "the endpoint answered 410 Gone");
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT EXISTS (SELECT 1 FROM deliveries WHERE webhook_id=?1 AND state=1 AND"
            " updated_at >= (SELECT created_at FROM deliveries WHERE id=?2))",
            &r, DB_TEXT(it->dest), DB_INT(it->id)) != DB_OK)
        return -1;
    bool since = r->rows && db_int(r, 0, 0, 0);
    db_res_free(r);
    return since ? 0
                 : disable_endpoint(s, it, d->at_ms,
                                    "every attempt failed, over the whole retry schedule");
}

static enum store_result op_record(struct store *s, void *p)
{
    struct record_arg *a = p;
    for (size_t i = 0; i < a->n; i++)
        if (record_one(s, a->node, &a->r[i]))
            return STORE_UNAVAILABLE;
    return STORE_OK;
}

enum store_result store_outbox_record(struct store *s, const char *node,
                                      const struct delivery_result *r, size_t n)
{
    struct record_arg a = {node, r, n};
    return n ? eng_submit(s, op_record, &a) : STORE_OK;
}

static enum store_result op_reclaim(struct store *s, void *p)
{
    return RUN(s, eng_wdb(s),
               "UPDATE deliveries SET lease_owner=NULL, lease_until=NULL"
               " WHERE lease_owner=?1 AND state=0",
               NULL, DB_TEXT((const char *)p)) == DB_OK
               ? STORE_OK
               : STORE_UNAVAILABLE;
}

enum store_result store_outbox_reclaim(struct store *s, const char *node)
{
    return eng_submit(s, op_reclaim, (void *)node);
}

/* ---- retention and health --------------------------------------------- */

struct prune_arg {
    int64_t before, dead_before, events_before;
    unsigned limit;
    long count;
};

/* Delivered deliveries older than before, dead letters older than
 * dead_before, with their attempts; events older than events_before (by
 * their ids, which begin with their time). */
static enum store_result op_prune(struct store *s, void *p)
{
    struct prune_arg *a = p;
    struct db_res *r = NULL;
    a->count = 0;
    if (RUN(s, eng_wdb(s),
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE (state=1 AND"
            " updated_at < ?1) OR (state=2 AND updated_at < ?3) ORDER BY id LIMIT ?2) RETURNING id",
            &r, DB_INT(a->before), DB_INT(a->limit), DB_INT(a->dead_before)) != DB_OK)
        return STORE_UNAVAILABLE;
    for (size_t i = 0; i < r->rows; i++)
        if (LATER(s, "DELETE FROM delivery_attempts WHERE delivery_id=?1",
                  DB_INT(db_int(r, i, 0, 0))) != DB_OK) {
            db_res_free(r);
            return STORE_UNAVAILABLE;
        }
    a->count = (long)r->rows;
    db_res_free(r);
    char floor[14], cutoff[32]; /* "msg_" and the millisecond of a UUIDv7 */
    uuid7_floor((uint64_t)(a->events_before > 0 ? a->events_before : 0), floor);
    snprintf(cutoff, sizeof cutoff, "msg_%s", floor);
    if (RUN(s, eng_wdb(s),
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE id < ?1 ORDER BY id"
            " LIMIT ?2)",
            NULL, DB_TEXT(cutoff), DB_INT(a->limit)) != DB_OK)
        return STORE_UNAVAILABLE;
    a->count += s->drv->changes(eng_wdb(s));
    return STORE_OK;
}

long store_outbox_prune(struct store *s, int64_t delivered_before_ms, int64_t dead_before_ms,
                        int64_t events_before_ms, unsigned limit)
{
    struct prune_arg a = {delivered_before_ms, dead_before_ms, events_before_ms, limit, 0};
    return eng_submit(s, op_prune, &a) == STORE_OK ? a.count : -1;
}

static void fill_health(const struct db_res *r, size_t i, void *out)
{
    struct outbox_health *h = out;
    h->depth = (long)db_int(r, i, 0, 0);
    h->oldest_age_ms = db_null(r, i, 1) ? 0 : db_int(r, i, 1, 0);
    h->dead = (long)db_int(r, i, 2, 0);
}

enum store_result store_outbox_health(struct store *s, int64_t now_ms, struct outbox_health *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_INT(now_ms)};
    return eng_read_one(s,
                        "SELECT (SELECT count(*) FROM deliveries WHERE state=0),"
                        " ?1 - (SELECT min(created_at) FROM deliveries WHERE state=0),"
                        " (SELECT count(*) FROM deliveries WHERE state=2)",
                        args, 1, fill_health, out);
}
