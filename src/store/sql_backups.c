/* The store's operations on backups (chunked uploads, list, read) and the
 * event log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sign.h"
#include "lib/log.h"
#include "store/engine.h"

void backup_list_clear(struct backup_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].content);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void log_list_clear(struct log_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].message);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Backups arrive in chunks; the last one assembles the file. */
struct chunk_arg {
    const char *site_id, *job_id, *data;
    int64_t offset, total, now;
    size_t len;
    char *filename;
    size_t *redacted;
    char sha[JP_SIG_HEX + 1]; /* of the stored content */
    bool unchanged;
    bool sensitive; /* the job's backup keeps secrets: sealed before it is stored */
};

void store_set_backup_key(struct store *s, const unsigned char key[32])
{
    memcpy(s->backup_key.k, key, sizeof s->backup_key.k);
    s->has_backup_key = true;
}

/* Overwrites the site's current device token wherever it appears in the
 * backup (a router adopted before the token moved to a file carries it in
 * its poll script, which /export writes out). */
static int redact(struct store *s, struct chunk_arg *a, char *content)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s), "SELECT device_hash FROM sites WHERE id=?1", &r, DB_TEXT(a->site_id)) !=
        DB_OK)
        return -1;
    const char *hash = r->rows ? db_text(r, 0, 0) : NULL;
    *a->redacted = hash && strlen(hash) == JP_SIG_HEX
                       ? token_redact(content, (size_t)a->total, JP_DEVICE_TOKEN_LEN, hash)
                       : 0;
    db_res_free(r);
    return 0;
}

/* The length of the export's first line when it is its time stamp
 * ("# 2024-05-01 10:00:00 by RouterOS 7.16"), which differs in every export
 * of the same configuration; else 0. */
static size_t head_len(const char *text, size_t n)
{
    const char *nl = memchr(text, '\n', n);
    size_t len = nl ? (size_t)(nl - text) + 1 : 0;
    if (len < 2 || text[0] != '#' || len > 200)
        return 0;
    char line[201];
    memcpy(line, text, len);
    line[len] = '\0';
    return strstr(line, " by RouterOS ") ? len : 0;
}

/* Stores a backup: the content after its time stamp once per site and
 * SHA-256, the row (unchanged when the site's previous backup has the same
 * content), then trims the site (sql_backups_trim). 0 or -1. */
static int store_content(struct store *s, struct chunk_arg *a, const char *content)
{
    size_t n = (size_t)a->total, head = head_len(content, n);
    char *sha = a->sha, *head_text = strndup(content, head);
    const char *body = content + head;
    size_t body_len = n - head;
    unsigned char *sealed = NULL;
    if (a->sensitive) {
        /* sealed under the server's key, named by a keyed digest */
        unsigned char nonce[SEAL_NONCE_LEN];
        seal_digest(&s->backup_key, body, body_len, sha);
        sealed = malloc(body_len + SEAL_OVERHEAD);
        if (!sealed || eng_random(nonce, sizeof nonce) ||
            seal(&s->backup_key, nonce, body, body_len, sealed)) {
            free(sealed);
            free(head_text);
            return -1;
        }
        body = (const char *)sealed;
        body_len += SEAL_OVERHEAD;
    } else {
        sha256_hex(body, body_len, sha);
    }
    struct db_res *r = NULL;
    bool unchanged = a->unchanged = false;
    int err =
        !head_text || RUN(s, eng_wdb(s),
                          "SELECT sha256 FROM backups WHERE site_id=?1 ORDER BY created_at DESC,"
                          " filename DESC LIMIT 1",
                          &r, DB_TEXT(a->site_id)) != DB_OK;
    if (!err)
        unchanged = a->unchanged = r->rows && !strcmp(db_text(r, 0, 0), sha);
    db_res_free(r);
    err = err ||
          LATER(s,
                "INSERT INTO backup_contents (site_id, sha256, content) VALUES (?1,?2,?3)"
                " ON CONFLICT DO NOTHING",
                DB_TEXT(a->site_id), DB_TEXT(sha), DB_BLOB(body, body_len)) != DB_OK ||
          LATER(s,
                "INSERT INTO backups (site_id, filename, job_id, size, created_at, sha256, head,"
                " unchanged, sensitive) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                DB_TEXT(a->site_id), DB_TEXT(a->filename), DB_TEXT(a->job_id), DB_INT(a->total),
                DB_INT(a->now), DB_TEXT(sha), DB_TEXT(head_text), DB_INT(unchanged),
                DB_INT(a->sensitive)) != DB_OK;
    free(head_text);
    free(sealed);
    return err ? -1 : sql_backups_trim(s, a->site_id);
}

int sql_backups_trim(struct store *s, const char *site_id)
{
    if (!s->ret.backup_keep)
        return 0;
    return LATER(s,
                 "DELETE FROM backups WHERE site_id=?1 AND filename IN (SELECT filename FROM"
                 " backups WHERE site_id=?1 ORDER BY created_at DESC, filename DESC LIMIT"
                 " 1000000000 OFFSET ?2)",
                 DB_TEXT(site_id), DB_INT(s->ret.backup_keep)) != DB_OK ||
                   LATER(s,
                         "DELETE FROM backup_contents WHERE site_id=?1 AND NOT EXISTS (SELECT 1"
                         " FROM backups b WHERE b.site_id=?1 AND b.sha256=backup_contents.sha256)",
                         DB_TEXT(site_id)) != DB_OK
               ? -1
               : 0;
}

static enum store_result assemble(struct store *s, struct chunk_arg *a, const char *token)
{
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s), "SELECT data FROM backup_chunks WHERE job_id=?1 ORDER BY chunk_offset",
            &r, DB_TEXT(a->job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    char *content = malloc((size_t)a->total + 1);
    size_t at = 0;
    for (size_t i = 0; content && i < r->rows; i++) {
        size_t n = db_len(r, i, 0);
        if (at + n > (size_t)a->total)
            break;
        memcpy(content + at, db_text(r, i, 0), n);
        at += n;
    }
    db_res_free(r);
    if (!content || at != (size_t)a->total || redact(s, a, content)) {
        free(content);
        return STORE_UNAVAILABLE;
    }
    /* {unix}.rsc, the next free second when two backups arrive in one */
    enum store_result res = STORE_UNAVAILABLE;
    for (int64_t ts = a->now;; ts++) {
        snprintf(a->filename, 64, "%lld.rsc", (long long)ts);
        enum db_status rc =
            RUN(s, eng_wdb(s), "SELECT 1 FROM backups WHERE site_id=?1 AND filename=?2", &r,
                DB_TEXT(a->site_id), DB_TEXT(a->filename));
        bool taken = rc == DB_OK && r->rows;
        db_res_free(r);
        r = NULL;
        if (rc != DB_OK)
            goto out;
        if (!taken)
            break;
    }
    char assoc[JP_UUID_LEN + 72];
    snprintf(assoc, sizeof assoc, "%s/%s", a->site_id, a->filename);
    if (store_content(s, a, content) ||
        RUN(s, eng_wdb(s), "DELETE FROM backup_chunks WHERE job_id=?1", NULL, DB_TEXT(a->job_id)) !=
            DB_OK ||
        RUN(s, eng_wdb(s), "UPDATE jobs SET associated_backup=?2 WHERE id=?1", NULL,
            DB_TEXT(a->job_id), DB_TEXT(assoc)) != DB_OK ||
        eng_job_event(s, a->site_id, a->job_id, a->now, "Job %s backup stored as %s (%lld bytes)",
                      token, assoc, (long long)a->total) ||
        (*a->redacted &&
         eng_job_event(
             s, a->site_id, a->job_id, a->now,
             "Job %s backup held the site's device token (%zu times): redacted before it"
             " was stored; adopt the router again so its poll script no longer carries it",
             token, *a->redacted)))
        goto out;
    json_t *data = backup_json(a->filename, a->total, a->now, a->sha, a->unchanged, a->sensitive);
    if (data) {
        json_object_set_new(data, "site_id", json_string(a->site_id));
        json_object_set_new(data, "job_id", json_string(a->job_id));
    }
    if (out_emit(s, EV_BACKUP_CREATED, a->site_id, data))
        goto out;
    res = STORE_CREATED;
out:
    free(content);
    return res;
}

static enum store_result op_backup_chunk(struct store *s, void *p)
{
    struct chunk_arg *a = p;
    struct job j = {0};
    enum store_result res = sql_load_job(s, a->job_id, &j);
    if (res != STORE_OK)
        return res;
    bool ok = !strcmp(j.site_id, a->site_id) && j.should_backup && !j.associated_backup;
    char token[JP_TOKEN_LEN + 1];
    memcpy(token, j.token, sizeof token);
    a->sensitive = j.backup_sensitive;
    job_clear(&j);
    if (!ok)
        return STORE_NOT_FOUND;
    if (a->sensitive && !s->has_backup_key)
        return eng_job_event(s, a->site_id, a->job_id, a->now,
                             "Job %s backup refused: it keeps secrets, and this server has no"
                             " --backup-key-file to seal it",
                             token)
                   ? STORE_UNAVAILABLE
                   : STORE_STALE;
    /* What arrived so far must end exactly at this chunk's offset. */
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "SELECT coalesce(sum(length(data)),0), min(total), max(total) FROM backup_chunks"
            " WHERE job_id=?1",
            &r, DB_TEXT(a->job_id)) != DB_OK)
        return STORE_UNAVAILABLE;
    int64_t have = db_int(r, 0, 0, 0), tmin = db_int(r, 0, 1, 0), tmax = db_int(r, 0, 2, 0);
    db_res_free(r);
    if (have != a->offset || (have > 0 && (tmin != a->total || tmax != a->total)) ||
        a->offset + (int64_t)a->len > a->total)
        return STORE_CONFLICT;
    if (RUN(s, eng_wdb(s),
            "INSERT INTO backup_chunks (job_id, site_id, chunk_offset, total, data)"
            " VALUES (?1,?2,?3,?4,?5)",
            NULL, DB_TEXT(a->job_id), DB_TEXT(a->site_id), DB_INT(a->offset), DB_INT(a->total),
            DB_BLOB(a->data, a->len)) != DB_OK)
        return STORE_UNAVAILABLE;
    if (a->offset + (int64_t)a->len < a->total)
        return STORE_OK;
    return assemble(s, a, token);
}

enum store_result store_backup_chunk(struct store *s, const char *site_id, const char *job_id,
                                     int64_t offset, int64_t total, const char *data, size_t len,
                                     int64_t now, char filename[64], size_t *redacted)
{
    size_t none = 0;
    struct chunk_arg a = {.site_id = site_id,
                          .job_id = job_id,
                          .data = data,
                          .offset = offset,
                          .total = total,
                          .now = now,
                          .len = len,
                          .filename = filename,
                          .redacted = redacted ? redacted : &none};
    *a.redacted = 0;
    filename[0] = '\0';
    return eng_submit(s, op_backup_chunk, &a);
}

static enum store_result backups(struct store *s, const char *team, const char *site_id,
                                 const char *filename, struct backup_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_res *r;
    struct db_arg args[] = {DB_TEXT(site_id), DB_TEXT(filename)};
    enum store_result res = eng_read_site_rows(
        s, team, site_id,
        filename ? "SELECT b.filename, b.size, b.created_at, b.sha256, b.unchanged, b.head,"
                   " c.content, b.sensitive FROM backups b JOIN backup_contents c ON"
                   " c.site_id=b.site_id AND c.sha256=b.sha256 WHERE b.site_id=?1 AND b.filename=?2"
                 : "SELECT filename, size, created_at, sha256, unchanged, NULL, NULL, sensitive"
                   " FROM backups WHERE site_id=?1 AND ?2 IS NULL ORDER BY created_at DESC,"
                   " filename DESC",
        args, 2, &r);
    if (res != STORE_OK)
        return res;
    out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
    for (; out->items && out->n < r->rows; out->n++) {
        struct backup_info *b = &out->items[out->n];
        size_t i = out->n;
        eng_copy_cell(r, i, 0, b->filename, sizeof b->filename);
        b->size = db_int(r, i, 1, 0);
        b->created_at = db_int(r, i, 2, 0);
        eng_copy_cell(r, i, 3, b->sha256, sizeof b->sha256);
        b->unchanged = db_int(r, i, 4, 0) != 0;
        b->sensitive = db_int(r, i, 7, 0) != 0;
        if (filename && (b->content = malloc(db_len(r, i, 5) + db_len(r, i, 6) + 1))) {
            size_t h = db_len(r, i, 5), n = db_len(r, i, 6), m = n;
            memcpy(b->content, db_text(r, i, 5), h);
            if (!b->sensitive)
                memcpy(b->content + h, db_text(r, i, 6), n);
            else if (!s->has_backup_key ||
                     seal_open(&s->backup_key, (const unsigned char *)db_text(r, i, 6), n,
                               b->content + h, &m)) {
                b->unreadable = true;
                m = 0;
            }
            b->content[h + m] = '\0';
            if (b->unreadable) {
                free(b->content);
                b->content = NULL;
            }
        }
    }
    db_res_free(r);
    if (!out->items)
        return STORE_UNAVAILABLE;
    return STORE_OK;
}

enum store_result store_backup_list(struct store *s, const char *team, const char *site_id,
                                    struct backup_list *out)
{
    return backups(s, team, site_id, NULL, out);
}

enum store_result store_backup_get(struct store *s, const char *team, const char *site_id,
                                   const char *filename, struct backup_info *out)
{
    struct backup_list l;
    memset(out, 0, sizeof *out);
    enum store_result r = backups(s, team, site_id, filename, &l);
    if (r == STORE_OK && l.n == 0)
        r = STORE_NOT_FOUND;
    if (r == STORE_OK) {
        *out = l.items[0];
        l.items[0].content = NULL;
    }
    backup_list_clear(&l);
    return r;
}

enum store_result store_logs(struct store *s, const char *team, const char *site_id, int64_t from,
                             int64_t to, const char *text, struct log_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_res *r;
    struct db_arg args[] = {DB_TEXT(site_id), DB_INT(from), DB_INT(to), DB_TEXT(text)};
    enum store_result res = eng_read_site_rows(
        s, team, site_id,
        PG(s) ? "SELECT ts, message FROM events WHERE site_id=?1 AND ts>=?2 AND ts<=?3"
                " AND (?4::text IS NULL OR strpos(message, ?4) > 0) ORDER BY id LIMIT 10000"
              : "SELECT ts, message FROM events WHERE site_id=?1 AND ts>=?2 AND ts<=?3"
                " AND (?4 IS NULL OR instr(message, ?4) > 0) ORDER BY id LIMIT 10000",
        args, 4, &r);
    if (res != STORE_OK)
        return res;
    out->items = calloc(r->rows ? r->rows : 1, sizeof *out->items);
    for (; out->items && out->n < r->rows; out->n++) {
        out->items[out->n].timestamp = db_int(r, out->n, 0, 0);
        out->items[out->n].message = db_dup(r, out->n, 1);
    }
    db_res_free(r);
    return out->items ? STORE_OK : STORE_UNAVAILABLE;
}

/* ---- automatic backups: one pass over the online sites a day ----------- */

struct auto_arg {
    struct store *s;
    int64_t day, start, spread, now, seen_since;
    char (*queued)[JP_UUID_LEN + 1];
    size_t max, *nqueued;
    bool *more;
};

#define ONLINE_SITE "deleted_at IS NULL AND device_hash IS NOT NULL AND last_seen_at >= ?1"

static enum store_result op_auto_backup(struct store *s, void *p)
{
    struct auto_arg *a = p;
    *a->nqueued = 0;
    *a->more = false;
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            PG(s) ? "SELECT day, cursor, total, queued, started_at FROM auto_backups WHERE name=?1"
                    " FOR UPDATE SKIP LOCKED"
                  : "SELECT day, cursor, total, queued, started_at FROM auto_backups WHERE name=?1",
            &r, DB_TEXT("daily")) != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result rc = STORE_OK;
    if (!r->rows) /* another node is at it */
        goto out;
    char cursor[JP_UUID_LEN + 1];
    eng_copy_cell(r, 0, 1, cursor, sizeof cursor);
    int64_t total = db_int(r, 0, 2, 0), queued = db_int(r, 0, 3, 0);
    int64_t start = db_int(r, 0, 4, 0);
    bool new_day = db_int(r, 0, 0, 0) < a->day;
    if (new_day) { /* a new day's pass: count the sites it covers */
        /* begun late (the server was down at the hour): spread from now */
        start = a->now > a->start ? a->now : a->start;
        db_res_free(r);
        r = NULL;
        if (RUN(s, eng_wdb(s), "SELECT count(*) FROM sites WHERE " ONLINE_SITE, &r,
                DB_INT(a->seen_since)) != DB_OK) {
            rc = STORE_UNAVAILABLE;
            goto out;
        }
        total = db_int(r, 0, 0, 0);
        queued = 0;
        cursor[0] = '\0';
        log_info("automatic backups: day %lld, %lld online sites over %llds", (long long)a->day,
                 (long long)total, (long long)a->spread);
    }
    int64_t elapsed = a->now - start;
    int64_t due = a->spread <= 0 || elapsed >= a->spread
                      ? total
                      : (total * (elapsed < 0 ? 0 : elapsed)) / a->spread + 1;
    if (due > total)
        due = total;
    int64_t n = due - queued;
    if (n > (int64_t)a->max) {
        n = (int64_t)a->max;
        *a->more = true;
    }
    db_res_free(r);
    r = NULL;
    if (n > 0) {
        if (RUN(s, eng_wdb(s),
                "SELECT id, team FROM sites WHERE " ONLINE_SITE " AND id > ?2 ORDER BY id LIMIT ?3",
                &r, DB_INT(a->seen_since), DB_TEXT(cursor), DB_INT(n)) != DB_OK) {
            rc = STORE_UNAVAILABLE;
            goto out;
        }
        char day[32];
        snprintf(day, sizeof day, "auto-backup-%lld", (long long)a->day);
        for (size_t i = 0; i < r->rows && rc == STORE_OK; i++) {
            char site[JP_UUID_LEN + 1], team[JP_TEAM_MAX + 1], key[JP_UUID_LEN + 1];
            eng_copy_cell(r, i, 0, site, sizeof site);
            eng_copy_cell(r, i, 1, team, sizeof team);
            rollout_job_key(day, site, key);
            struct job_request req = {
                .site_id = site,
                .idempotency_key = key,
                .description = "Automatic daily backup",
                .script = JP_BACKUP_SCRIPT,
                .needs_acknowledgement = true,
                .should_backup = true,
            };
            struct job j = {0};
            enum store_result jr = sql_job_insert(s, team, &req, NULL, &j);
            job_clear(&j);
            if (jr == STORE_UNAVAILABLE)
                rc = jr;
            else if (jr == STORE_CREATED)
                snprintf(a->queued[(*a->nqueued)++], JP_UUID_LEN + 1, "%s", site);
            snprintf(cursor, sizeof cursor, "%s", site);
        }
        /* fewer than asked: the rest went offline or away; the pass is done */
        queued = (int64_t)r->rows < n ? total : queued + n;
    }
    if (rc == STORE_OK && (new_day || n > 0) && /* nothing changed: no write */
        LATER(s,
              "UPDATE auto_backups SET day=?1, cursor=?2, total=?3, queued=?4, started_at=?5"
              " WHERE name='daily'",
              DB_INT(a->day), DB_TEXT(cursor), DB_INT(total), DB_INT(queued),
              DB_INT(start)) != DB_OK)
        rc = STORE_UNAVAILABLE;
out:
    db_res_free(r);
    return rc;
}

static void auto_post(void *p, enum store_result r)
{
    struct auto_arg *a = p;
    if (r != STORE_OK)
        *a->nqueued = 0;
    for (size_t i = 0; i < *a->nqueued; i++)
        pending_add(a->s->pending, a->queued[i]);
}

enum store_result store_auto_backup_step(struct store *s, int64_t day, int64_t start,
                                         int64_t spread, int64_t now, int64_t seen_since,
                                         char (*queued)[JP_UUID_LEN + 1], size_t max,
                                         size_t *nqueued, bool *more)
{
    struct auto_arg a = {s, day, start, spread, now, seen_since, queued, max, nqueued, more};
    *nqueued = 0;
    *more = false;
    return eng_run_op(s, op_auto_backup, &a, sizeof a, auto_post, NULL);
}
