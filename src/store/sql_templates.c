/* Script templates (migration 7): a team's named RouterOS scripts, usable
 * as a rollout's script. */
#include <stdlib.h>
#include <string.h>

#include "store/engine.h"

#define TEMPLATE_COLS "id, created_by, name, description, content, created_at, updated_at"

void script_template_clear(struct script_template *t)
{
    free(t->name);
    free(t->description);
    free(t->content);
    memset(t, 0, sizeof *t);
}

void template_list_clear(struct template_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        script_template_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void fill_template(const struct db_res *r, size_t i, void *out)
{
    struct script_template *t = out;
    memset(t, 0, sizeof *t);
    eng_copy_cell(r, i, 0, t->id, sizeof t->id);
    eng_copy_cell(r, i, 1, t->created_by, sizeof t->created_by);
    t->name = db_dup(r, i, 2);
    t->description = db_dup(r, i, 3);
    t->content = db_dup(r, i, 4);
    t->created_at = db_int(r, i, 5, 0);
    t->updated_at = db_int(r, i, 6, 0);
}

struct tpl_arg {
    const char *team, *id, *by, *name, *description, *content;
    struct script_template *out;
};

/* Create (id NULL) or update. */
static enum store_result op_template_write(struct store *s, void *p)
{
    struct tpl_arg *a = p;
    script_template_clear(a->out);
    int64_t now = eng_now();
    char id[JP_UUID_LEN + 1];
    struct db_res *r = NULL;
    enum db_status rc;
    if (a->id) {
        rc = RUN(s, eng_wdb(s),
                 "UPDATE templates SET name=?3, description=?4, content=?5, updated_at=?6"
                 " WHERE id=?1 AND team=?2 RETURNING " TEMPLATE_COLS,
                 &r, DB_TEXT(a->id), DB_TEXT(a->team), DB_TEXT(a->name), DB_TEXT(a->description),
                 DB_TEXT(a->content), DB_INT(now));
    } else {
        if (eng_new_id(s, id))
            return STORE_UNAVAILABLE;
        rc = RUN(
            s, eng_wdb(s),
            "INSERT INTO templates (id, team, name, description, content, created_by,"
            " created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?7,?6,?6) RETURNING " TEMPLATE_COLS,
            &r, DB_TEXT(id), DB_TEXT(a->team), DB_TEXT(a->name), DB_TEXT(a->description),
            DB_TEXT(a->content), DB_INT(now), DB_TEXT(a->by ? a->by : ""));
    }
    if (rc != DB_OK)
        return STORE_UNAVAILABLE;
    enum store_result res = r->rows ? (a->id ? STORE_OK : STORE_CREATED) : STORE_NOT_FOUND;
    if (r->rows)
        fill_template(r, 0, a->out);
    db_res_free(r);
    return res;
}

static void template_post(void *p, enum store_result r)
{
    struct tpl_arg *a = p;
    if (r != STORE_OK && r != STORE_CREATED)
        script_template_clear(a->out);
}

enum store_result store_template_create(struct store *s, const char *team, const char *created_by,
                                        const char *name, const char *description,
                                        const char *content, struct script_template *out)
{
    memset(out, 0, sizeof *out);
    struct tpl_arg a = {team, NULL, created_by, name, description, content, out};
    return eng_run_op(s, op_template_write, &a, sizeof a, template_post, NULL);
}

enum store_result store_template_update(struct store *s, const char *team, const char *id,
                                        const char *name, const char *description,
                                        const char *content, struct script_template *out)
{
    memset(out, 0, sizeof *out);
    struct tpl_arg a = {team, id, NULL, name, description, content, out};
    return eng_run_op(s, op_template_write, &a, sizeof a, template_post, NULL);
}

enum store_result store_template_get(struct store *s, const char *team, const char *id,
                                     struct script_template *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(id), DB_TEXT(team)};
    return eng_read_one(s, "SELECT " TEMPLATE_COLS " FROM templates WHERE id=?1 AND team=?2", args,
                        2, fill_template, out);
}

enum store_result store_template_list(struct store *s, const char *team, struct template_list *out)
{
    memset(out, 0, sizeof *out);
    struct db_arg args[] = {DB_TEXT(team)};
    void *items = NULL;
    enum store_result rc =
        eng_read_all(s, "SELECT " TEMPLATE_COLS " FROM templates WHERE team=?1 ORDER BY id", args,
                     1, sizeof(struct script_template), fill_template, &items, &out->n);
    out->items = items;
    return rc;
}

struct tpl_del {
    const char *team, *id;
};

static enum store_result op_template_delete(struct store *s, void *p)
{
    struct tpl_del *a = p;
    if (RUN(s, eng_wdb(s), "DELETE FROM templates WHERE id=?1 AND team=?2", NULL, DB_TEXT(a->id),
            DB_TEXT(a->team)) != DB_OK)
        return STORE_UNAVAILABLE;
    return s->drv->changes(eng_wdb(s)) ? STORE_OK : STORE_NOT_FOUND;
}

enum store_result store_template_delete(struct store *s, const char *team, const char *id)
{
    struct tpl_del a = {team, id};
    return eng_submit(s, op_template_delete, &a);
}
