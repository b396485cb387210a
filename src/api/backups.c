/* Operator side of configuration backups, and the event log (GET /logs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/diff.h"
#include "core/highlight.h"
#include "core/text.h"
#include "lib/log.h"

/* Backup file names are "{unix}.rsc": anything else is not found. */
static int backup_name_ok(const char *f)
{
    size_t n = f ? strlen(f) : 0;
    return n > 4 && n < 24 && !strcmp(f + n - 4, ".rsc") && strspn(f, "0123456789") == n - 4;
}

void api_backups_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    struct backup_list l;
    enum store_result r = store_backup_list(app->store, who->team, id, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, backup_json(l.items[i].filename, l.items[i].size,
                                               l.items[i].created_at, l.items[i].sha256,
                                               l.items[i].unchanged, l.items[i].sensitive));
    backup_list_clear(&l);
    http_reply_json(req, 200, arr);
}

/* Loads backup `name` of site `id`; answers and returns -1 when it cannot. */
static int load_backup(struct http_req *req, const char *id, const char *name,
                       struct backup_info *b)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    memset(b, 0, sizeof *b);
    if (!backup_name_ok(name)) {
        http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such backup.");
        return -1;
    }
    enum store_result r = store_backup_get(app->store, who->team, id, name, b);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return -1;
    }
    if (b->sensitive && !(who->scopes & JP_SCOPE_BACKUPS_READ_SENSITIVE)) {
        free(b->content);
        http_reply_error(req, JP_ERR_FORBIDDEN,
                         "This backup keeps secrets: reading it needs the scope"
                         " backups:read-sensitive.");
        return -1;
    }
    if (b->unreadable) {
        http_reply_error(req, JP_ERR_INVALID_STATE,
                         "This backup is sealed, and this server has no key that opens it"
                         " (--backup-key-file).");
        return -1;
    }
    if (b->sensitive)
        log_ev(LOG_INFO, "backup.read_sensitive", req->request_id, id, NULL,
               "backup %s/%s (sensitive) read by %s", id, b->filename,
               who->subject[0] ? who->subject : who->team);
    return 0;
}

void api_backups_get(struct http_req *req)
{
    char id[JP_UUID_LEN + 1];
    struct backup_info b;
    if (api_uuid_param(req, "site", id) || load_backup(req, id, http_param(req, "filename"), &b))
        return;
    const char *view = http_header(req, "X-View"), *dl = http_header(req, "X-Download"),
               *hl = http_header(req, "X-Highlight");
    if (dl && parse_bool(dl) == 1) {
        char cd[128];
        snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", b.filename);
        http_add_header(req, "Content-Disposition", cd);
        http_reply(req, 200, "application/octet-stream", b.content, (size_t)b.size);
        return;
    }
    if (hl && parse_bool(hl) == 1) {
        size_t len = 0;
        char *html = ros_highlight(b.content, (size_t)b.size, &len);
        free(b.content);
        if (!html) {
            http_reply_error(req, JP_ERR_INTERNAL, NULL);
            return;
        }
        http_reply(req, 200, "text/html; charset=utf-8", html, len);
        return;
    }
    if (view && parse_bool(view) == 1) {
        size_t len = (size_t)b.size;
        http_reply(req, 200, "text/plain; charset=utf-8", b.content, len);
        return;
    }
    json_t *j = backup_json(b.filename, b.size, b.created_at, b.sha256, b.unchanged, b.sensitive);
    /* RouterOS exports are ASCII (it escapes other bytes); anything else is
     * served raw only (X-View), never as invalid JSON. */
    json_t *c = json_stringn(b.content, (size_t)b.size);
    json_object_set_new(j, "content", c ? c : json_null());
    free(b.content);
    http_reply_json(req, 200, j);
}

static void answer_backup(struct http_req *req, enum store_result r, const struct job *j)
{
    (void)r; /* always a new job: the key is ours */
    http_reply_json(req, 202,
                    json_pack("{s:s, s:s, s:s}", "message", "Backup requested", "job_id", j->id,
                              "token", j->token));
}

void api_backups_request(struct http_req *req)
{
    char id[JP_UUID_LEN + 1];
    if (api_uuid_param(req, "site", id))
        return;
    struct job_fields f = {
        .description = "Configuration backup",
        .script = JP_BACKUP_SCRIPT,
        .needs_acknowledgement = true,
        .should_backup = true,
    }; /* no idempotency key: the create draws one */
    const char *sens = http_header(req, "X-Backup-Sensitive");
    int b = sens ? parse_bool(sens) : 0;
    if (b < 0) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "X-Backup-Sensitive must be true or false.");
        return;
    }
    f.backup_sensitive = b == 1;
    api_job_create(req, id, &f, NULL, answer_backup);
}

void api_backups_diff(struct http_req *req)
{
    char id[JP_UUID_LEN + 1];
    struct backup_info a, b;
    if (api_uuid_param(req, "site", id) || load_backup(req, id, http_param(req, "from"), &a))
        return;
    if (load_backup(req, id, http_param(req, "to"), &b)) {
        free(a.content);
        return;
    }
    size_t len = 0;
    char *d = diff_unified(a.content, (size_t)a.size, b.content, (size_t)b.size, a.filename,
                           b.filename, 64u * 1024 * 1024);
    free(a.content);
    free(b.content);
    if (!d) {
        http_reply_error(req, JP_ERR_INTERNAL, "The diff is too large.");
        return;
    }
    len = strlen(d);
    http_reply(req, 200, "text/plain; charset=utf-8", d, len);
}

void api_logs(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    const char *group = http_query(req, "group"), *streams = http_query(req, "streams"),
               *start = http_query(req, "start"), *end = http_query(req, "end"),
               *filter = http_query(req, "filter");
    if (!group || !streams || !start || !end) {
        http_reply_error(req, JP_ERR_PARAMETER_MISSING,
                         "group, streams, start and end are required.");
        return;
    }
    int64_t from, to;
    if (strcmp(group, "sites") || uuid_parse(streams, id) || rfc3339_parse(start, &from) ||
        rfc3339_parse(end, &to)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "group must be sites, streams a site id, start and end RFC 3339 times.");
        return;
    }
    /* filter: {$.message=*TEXT*} */
    char text[128] = "";
    if (filter) {
        size_t n = strlen(filter);
        const char *pre = "{$.message=*";
        if (n < strlen(pre) + 2 || strncmp(filter, pre, strlen(pre)) ||
            strcmp(filter + n - 2, "*}") || n - strlen(pre) - 2 >= sizeof text) {
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, "filter must be {$.message=*TEXT*}.");
            return;
        }
        memcpy(text, filter + strlen(pre), n - strlen(pre) - 2);
        text[n - strlen(pre) - 2] = '\0';
    }
    struct log_list l;
    enum store_result r = store_logs(app->store, who->team, id, from, to, *text ? text : NULL, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    char ts[JP_RFC3339_LEN + 1];
    for (size_t i = 0; i < l.n; i++) {
        rfc3339_format(l.items[i].timestamp, ts);
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "timestamp", ts, "message", l.items[i].message));
    }
    log_list_clear(&l);
    http_reply_json(req, 200, arr);
}
