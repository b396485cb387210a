/* jobplane backup ls|get|diff|request */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/op.h"

static const struct op_verb verbs[] = {
    {"ls", "SITE", "the site's backups, newest first", "limit"},
    {"get", "SITE FILE", "a backup's text (--json: the API's object)", "output"},
    {"diff", "SITE FROM TO", "unified diff of two backups", "output"},
    {"request", "SITE", "queue a backup job", ""},
};
#define NVERBS (sizeof verbs / sizeof *verbs)

static const char *const cols[] = {"FILENAME", "SIZE", "CREATED", "UNCHANGED"};
static const char *const keys[] = {"filename", "size", "created_at", "unchanged"};

/* Writes text to --output or standard output. */
static int emit(const char *out, const char *text, size_t len)
{
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f || fwrite(text, 1, len, f) != len || (out && fclose(f))) {
        fprintf(stderr, "jobplane backup: cannot write %s: %s\n", out ? out : "standard output",
                strerror(errno));
        return OP_API;
    }
    return OP_OK;
}

int op_backup(struct op *o, int argc, char **argv)
{
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "backup", verbs, NVERBS, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    int n = a.argc - a.pos;
    char e[3][512], path[2048];
    for (int i = 0; i < n; i++)
        if (op_escape(a.argv[a.pos + i], e[i], sizeof e[i])) {
            fprintf(stderr, "jobplane backup %s: an argument is too long\n", name);
            return OP_USAGE;
        }
    json_t *j = NULL;
    if (!strcmp(name, "ls")) {
        snprintf(path, sizeof path, "/backup/%s", e[0]);
        if ((rc = op_get_json(o, path, &j)) == OP_OK) {
            while (a.limit && json_array_size(j) > (size_t)a.limit) /* the list is not paged */
                json_array_remove(j, json_array_size(j) - 1);
            op_print_list(o, j, "filename", cols, keys, sizeof cols / sizeof *cols);
        }
    } else if (!strcmp(name, "request")) {
        snprintf(path, sizeof path, "/backup/%s", e[0]);
        if ((rc = op_call(o, "POST", path, NULL, 202, &j)) == OP_OK) {
            if (o->json || o->quiet)
                op_print_one(o, j, "job_id");
            else
                printf("backup job %s queued for site %s\n",
                       json_string_value(json_object_get(j, "job_id")), a.argv[a.pos]);
        }
    } else if (!strcmp(name, "get") && o->json) {
        snprintf(path, sizeof path, "/backup/%s/%s", e[0], e[1]);
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_json(j);
    } else { /* text: get, diff */
        if (!strcmp(name, "get"))
            snprintf(path, sizeof path, "/backup/%s/%s", e[0], e[1]);
        else
            snprintf(path, sizeof path, "/sites/%s/backups/%s/diff/%s", e[0], e[1], e[2]);
        const char *const view[] = {"X-View: true", NULL};
        struct op_resp r;
        if (op_request(o, "GET", path, NULL, NULL, 0, view, &r))
            return OP_API;
        rc = r.status == 200 ? emit(a.output, r.body, r.len) : op_fail(&r);
        op_resp_clear(&r);
    }
    json_decref(j);
    return rc;
}
