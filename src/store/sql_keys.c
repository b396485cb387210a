/* The store's operations on API keys: create, list, delete, the read that
 * authenticates, and the batched record of when keys were last used. Keys
 * of another team are STORE_NOT_FOUND, like missing ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/engine.h"

#define KEY_COLS "id, team, name, scopes, expires_at, last_used_at, created_at, updated_at"

void api_key_list_clear(struct api_key_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void row_to_key(const struct db_res *r, size_t i, struct api_key *k)
{
    memset(k, 0, sizeof *k);
    eng_copy_cell(r, i, 0, k->id, sizeof k->id);
    eng_copy_cell(r, i, 1, k->team, sizeof k->team);
    eng_copy_cell(r, i, 2, k->name, sizeof k->name);
    k->scopes = (unsigned)db_int(r, i, 3, 0);
    k->expires_at = db_int(r, i, 4, 0);
    k->last_used_at = db_int(r, i, 5, 0);
    k->created_at = db_int(r, i, 6, 0);
    k->updated_at = db_int(r, i, 7, 0);
    if (r->cols > 8)
        eng_copy_cell(r, i, 8, k->secret_hash, sizeof k->secret_hash);
}

static void fill_key(const struct db_res *r, size_t i, void *out)
{
    row_to_key(r, i, out);
}

struct key_arg {
    const char *team, *id, *name, *hash, *by;
    unsigned scopes;
    int64_t expires_at;
    const char (*ids)[JP_UUID_LEN + 1];
    const int64_t *when;
    size_t n;
    struct api_key *out;
};

static enum store_result op_key_create(struct store *s, void *p)
{
    struct key_arg *a = p;
    memset(a->out, 0, sizeof *a->out);
    char id[JP_UUID_LEN + 1];
    if (eng_new_id(s, id))
        return STORE_UNAVAILABLE;
    struct db_res *r = NULL;
    if (RUN(s, eng_wdb(s),
            "INSERT INTO api_keys (id, team, name, scopes, secret_hash, expires_at, created_by,"
            " created_at, updated_at) VALUES (?1,?2,?3,?4,?5,CAST(?6 AS BIGINT),?7,?8,?8)"
            " RETURNING " KEY_COLS,
            &r, DB_TEXT(id), DB_TEXT(a->team), DB_TEXT(a->name), DB_INT(a->scopes),
            DB_TEXT(a->hash), a->expires_at ? DB_INT(a->expires_at) : DB_NULLV, DB_TEXT(a->by),
            DB_INT(eng_now())) != DB_OK) {
        db_res_free(r);
        return STORE_UNAVAILABLE;
    }
    enum store_result res = r->rows ? STORE_CREATED : STORE_UNAVAILABLE;
    if (r->rows)
        row_to_key(r, 0, a->out);
    db_res_free(r);
    return res;
}

enum store_result store_api_key_create(struct store *s, const char *team, const char *name,
                                       unsigned scopes, int64_t expires_at, const char *secret_hash,
                                       const char *created_by, struct api_key *out)
{
    struct key_arg a = {.team = team,
                        .name = name,
                        .hash = secret_hash,
                        .by = created_by,
                        .scopes = scopes,
                        .expires_at = expires_at,
                        .out = out};
    enum store_result r = eng_submit(s, op_key_create, &a);
    if (r != STORE_CREATED)
        memset(out, 0, sizeof *out);
    return r;
}

enum store_result store_api_key_list(struct store *s, const char *team, struct api_key_list *out)
{
    struct db_arg args[] = {DB_TEXT(team)};
    void *items = NULL;
    enum store_result r =
        eng_read_all(s, "SELECT " KEY_COLS " FROM api_keys WHERE team=?1 ORDER BY id", args, 1,
                     sizeof *out->items, fill_key, &items, &out->n);
    out->items = items;
    return r;
}

static enum store_result op_key_delete(struct store *s, void *p)
{
    struct key_arg *a = p;
    if (RUN(s, eng_wdb(s), "DELETE FROM api_keys WHERE id=?1 AND team=?2", NULL, DB_TEXT(a->id),
            DB_TEXT(a->team)) != DB_OK)
        return STORE_UNAVAILABLE;
    return s->drv->changes(eng_wdb(s)) ? STORE_OK : STORE_NOT_FOUND;
}

enum store_result store_api_key_delete(struct store *s, const char *team, const char *id)
{
    struct key_arg a = {.team = team, .id = id};
    return eng_submit(s, op_key_delete, &a);
}

enum store_result store_api_key_auth(struct store *s, const char *id, struct api_key *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(id)};
    return eng_read_one(s, "SELECT " KEY_COLS ", secret_hash FROM api_keys WHERE id=?1", args, 1,
                        fill_key, out);
}

static enum store_result op_keys_used(struct store *s, void *p)
{
    struct key_arg *a = p;
    for (size_t i = 0; i < a->n; i++)
        if (LATER(s,
                  "UPDATE api_keys SET last_used_at=?2 WHERE id=?1 AND"
                  " (last_used_at IS NULL OR last_used_at<?2)",
                  DB_TEXT(a->ids[i]), DB_INT(a->when[i])) != DB_OK)
            return STORE_UNAVAILABLE;
    return STORE_OK;
}

enum store_result store_api_keys_used(struct store *s, const char (*ids)[JP_UUID_LEN + 1],
                                      const int64_t *when, size_t n)
{
    struct key_arg a = {.ids = ids, .when = when, .n = n};
    return n ? eng_submit(s, op_keys_used, &a) : STORE_OK;
}
