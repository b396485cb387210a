/* Fleet changes: jobplane rollout ... (scheduled scripts over many sites)
 * and jobplane template ... (scripts kept by name). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/op.h"
#include "lib/opts.h"

#define SITES_READ_MAX (8 << 20)      /* 100,000 ids and more */
#define TEMPLATE_READ_MAX (64 * 1024) /* the server takes 5,000 characters */

/* ---- rollouts --------------------------------------------------------------- */

static const struct op_verb rollout_verbs[] = {
    {"ls", "", "the team's rollouts (scheduled scripts)", ""},
    {"show", "ID", "one rollout, its sites and progress counted", ""},
    {"create", "[FILE|-]",
     "schedule a script (FILE, standard input, or --template) over many sites; it launches"
     " once another person approves it",
     "description sites launch-at canary wave-size wave-percent wave-interval max-failures backup"
     " abort-if-offline template"},
    {"approve", "ID", "approve a rollout (scripts:approve; not its creator)", ""},
    {"pause", "ID", "queue no more of a launched rollout's sites", ""},
    {"resume", "ID", "queue again", ""},
    {"abort", "ID", "stop for good: its pending jobs are cancelled", ""},
    {"rm", "ID", "cancel a rollout not launched yet, abort a launched one", ""},
    {"progress", "ID", "how many sites completed, failed, are pending, skipped, cancelled", ""},
    {"events", "ID", "what happened to it, oldest first", ""},
};

static const char *const states[] = {"completed", "failed", "pending", "skipped", "cancelled"};
#define NSTATES (sizeof states / sizeof *states)

/* "12/1/87" of a progress object: completed/failed/pending */
static json_t *progress_cell(const json_t *p)
{
    char s[96];
    snprintf(s, sizeof s, "%zu/%zu/%zu", json_array_size(json_object_get(p, "completed")),
             json_array_size(json_object_get(p, "failed")),
             json_array_size(json_object_get(p, "pending")));
    return json_string(s);
}

/* A copy of a rollout for people: the sites and progress lists counted. */
static json_t *summary(const json_t *r)
{
    json_t *c = json_deep_copy(r);
    json_object_set_new(c, "sites",
                        json_integer((json_int_t)json_array_size(json_object_get(r, "sites"))));
    json_t *p = json_object_get(r, "progress");
    if (json_is_object(p)) {
        char s[256] = "";
        size_t off = 0;
        for (size_t i = 0; i < NSTATES; i++) {
            json_t *l = json_object_get(p, states[i]);
            if (l)
                off += (size_t)snprintf(s + off, sizeof s - off, "%s%s %zu", off ? ", " : "",
                                        states[i], json_array_size(l));
        }
        json_object_set_new(c, "progress", json_string(s));
    }
    return c;
}

/* The value of --sites as a JSON array: "a,b", "@FILE" or "-" (one id a
 * line, or separated by spaces or commas); NULL after printing why. */
static json_t *site_list(const char *v)
{
    size_t len;
    char *text = !strcmp(v, "-") || *v == '@'
                     ? op_read_text("jobplane rollout create: --sites", *v == '@' ? v + 1 : v,
                                    SITES_READ_MAX, &len)
                     : strdup(v);
    if (!text)
        return NULL;
    json_t *arr = json_array();
    for (char *s = text; *s;) {
        s += strspn(s, ", \t\r\n");
        size_t n = strcspn(s, ", \t\r\n");
        if (n)
            json_array_append_new(arr, json_stringn(s, n));
        s += n;
    }
    free(text);
    if (!json_array_size(arr)) {
        fprintf(stderr, "jobplane rollout create: --sites names no site\n");
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* --launch-at: RFC 3339 as given, or +N[smhd] from now in UTC */
static int launch_time(const char *v, char *out, size_t cap)
{
    if (*v != '+') {
        snprintf(out, cap, "%s", v);
        return 0;
    }
    long secs;
    if (opt_seconds(v + 1, 1, 366L * 86400, &secs))
        return -1;
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

static int create(struct op *o, const struct op_args *a)
{
    const char *file = a->argc > a->pos ? a->argv[a->pos] : NULL;
    const char *why = !a->description          ? "-d DESCRIPTION is required"
                      : !a->sites              ? "--sites is required"
                      : !a->launch_at          ? "--launch-at is required"
                      : file && a->template_id ? "give a FILE or --template, not both"
                      : file && !strcmp(file, "-") && !strcmp(a->sites, "-")
                          ? "the script and --sites cannot both come from standard input"
                      : a->wave_size && a->wave_percent ? "--wave-size or --wave-percent, not both"
                                                        : NULL;
    if (!why && !file && !a->template_id && (isatty(0) || !strcmp(a->sites, "-")))
        why = "no script: give a FILE, - and the script on standard input, or --template";
    char launch[64];
    if (!why && launch_time(a->launch_at, launch, sizeof launch))
        why = "--launch-at is an RFC 3339 time or +N[smhd]";
    if (why) {
        fprintf(stderr, "jobplane rollout create: %s\n", why);
        return OP_USAGE;
    }
    json_t *sites = site_list(a->sites);
    if (!sites)
        return OP_USAGE;
    json_t *b = json_pack("{s:s, s:s, s:o, s:b, s:b}", "description", a->description, "launch_at",
                          launch, "sites", sites, "make_backup", a->backup, "abort_if_offline",
                          a->abort_if_offline);
    if (a->template_id) {
        json_object_set_new(b, "template_id", json_string(a->template_id));
    } else {
        size_t len;
        char *script =
            op_read_text("jobplane rollout create", file ? file : "-", OP_SCRIPT_MAX, &len);
        if (!script) {
            json_decref(b);
            return OP_USAGE;
        }
        json_object_set_new(b, "script", json_stringn(script, len));
        free(script);
    }
    if (a->canary)
        json_object_set_new(b, "test_site_id", json_string(a->canary));
    if (a->wave_size)
        json_object_set_new(b, "wave_size", json_integer(a->wave_size));
    if (a->wave_percent)
        json_object_set_new(b, "wave_percent", json_integer(a->wave_percent));
    if (a->wave_interval >= 0)
        json_object_set_new(b, "wave_interval", json_integer(a->wave_interval));
    if (a->max_failures) {
        char *end;
        long n = strtol(a->max_failures, &end, 10);
        /* a count is a JSON integer, a percent the string "10%" */
        json_object_set_new(b, "max_failures",
                            *end || end == a->max_failures ? json_string(a->max_failures)
                                                           : json_integer(n));
    }
    char *body = op_dump(b);
    json_t *j = NULL;
    int rc = op_call(o, "POST", "/scripts/scheduled", body, 201, &j);
    free(body);
    if (rc == OP_OK) {
        if (o->json || o->quiet) {
            op_print_one(o, j, "id");
        } else {
            json_t *c = summary(j);
            op_show(o, c);
            json_decref(c);
            printf("it launches once another person approves it: jobplane rollout approve %s\n",
                   json_string_value(json_object_get(j, "id")));
        }
    }
    json_decref(j);
    return rc;
}

static int progress(struct op *o, const char *path)
{
    json_t *j = NULL;
    int rc = op_get_json(o, path, &j);
    if (rc != OP_OK)
        return rc;
    if (o->json) {
        op_print_json(j);
    } else {
        for (size_t i = 0; i < NSTATES; i++) {
            json_t *l = json_object_get(j, states[i]);
            if (!l)
                continue;
            if (o->quiet) { /* the failed sites' ids: what a script retries */
                if (!strcmp(states[i], "failed"))
                    for (size_t k = 0; k < json_array_size(l); k++)
                        printf("%s\n", json_string_value(json_array_get(l, k)));
                continue;
            }
            printf("%-10s %zu\n", states[i], json_array_size(l));
        }
        json_t *failed = json_object_get(j, "failed");
        if (!o->quiet && json_array_size(failed)) {
            printf("failed sites:\n");
            for (size_t k = 0; k < json_array_size(failed); k++)
                printf("  %s\n", json_string_value(json_array_get(failed, k)));
        }
    }
    json_decref(j);
    return OP_OK;
}

/* path: base, or base/ID (escaped) when id is given; -1 after saying that
 * the id is too long */
static int id_path(const char *cmd, const char *verb, const char *id, const char *base,
                   char path[1024])
{
    char esc[512] = "";
    if (id && op_escape(id, esc, sizeof esc)) {
        fprintf(stderr, "jobplane %s %s: the id is too long\n", cmd, verb);
        return -1;
    }
    snprintf(path, 1024, "%s%s%s", base, *esc ? "/" : "", esc);
    return 0;
}

int op_rollout(struct op *o, int argc, char **argv)
{
    size_t nv = sizeof rollout_verbs / sizeof *rollout_verbs;
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "rollout", rollout_verbs, nv, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    if (!strcmp(name, "create"))
        return create(o, &a);
    char path[1024];
    if (id_path("rollout", name, a.argc > a.pos ? a.argv[a.pos] : NULL, "/scripts/scheduled", path))
        return OP_USAGE;
    json_t *j = NULL;
    if (!strcmp(name, "ls")) {
        static const char *const cols[] = {"ID",    "STATUS",         "LAUNCH AT",
                                           "SITES", "DONE/FAIL/PEND", "DESCRIPTION"};
        static const char *const keys[] = {"id",    "status",   "launch_at",
                                           "sites", "progress", "description"};
        if ((rc = op_get_json(o, path, &j)) == OP_OK) {
            if (o->json || o->quiet) {
                op_print_list(o, j, "id", cols, keys, 6);
            } else {
                json_t *rows = json_array();
                size_t i;
                json_t *r;
                json_array_foreach(j, i, r)
                {
                    json_t *row = json_pack(
                        "{s:O, s:O, s:O, s:I, s:o, s:O}", "id", json_object_get(r, "id"), "status",
                        json_object_get(r, "status"), "launch_at", json_object_get(r, "launch_at"),
                        "sites", (json_int_t)json_array_size(json_object_get(r, "sites")),
                        "progress", progress_cell(json_object_get(r, "progress")), "description",
                        json_object_get(r, "description"));
                    json_array_append_new(rows, row);
                }
                op_table(o, rows, cols, keys, 6);
                json_decref(rows);
            }
        }
    } else if (!strcmp(name, "show")) {
        if ((rc = op_get_json(o, path, &j)) == OP_OK) {
            if (o->json || o->quiet) {
                op_print_one(o, j, "id");
            } else {
                json_t *c = summary(j);
                op_show(o, c);
                json_decref(c);
            }
        }
    } else if (!strcmp(name, "progress")) {
        strncat(path, "/progress", sizeof path - strlen(path) - 1);
        rc = progress(o, path);
    } else if (!strcmp(name, "events")) {
        static const char *const cols[] = {"TIME", "MESSAGE"};
        static const char *const keys[] = {"timestamp", "message"};
        strncat(path, "/events", sizeof path - strlen(path) - 1);
        if ((rc = op_get_json(o, path, &j)) == OP_OK) {
            if (o->json)
                op_print_json(j);
            else
                op_table(o, j, cols, keys, 2);
        }
    } else {
        static const struct {
            const char *verb, *method, *tail, *done;
        } calls[] = {
            {"approve", "POST", "/approve", "approved"},
            {"pause", "POST", "/pause", "paused"},
            {"resume", "POST", "/resume", "resumed"},
            {"abort", "POST", "/abort", "aborted"},
            {"rm", "DELETE", "", NULL},
        };
        for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
            if (strcmp(calls[i].verb, name))
                continue;
            strncat(path, calls[i].tail, sizeof path - strlen(path) - 1);
            if ((rc = op_call(o, calls[i].method, path, NULL, 200, &j)) != OP_OK)
                break;
            if (o->json || o->quiet)
                op_print_one(o, j, "id");
            else
                printf("rollout %s %s\n", a.argv[a.pos],
                       calls[i].done ? calls[i].done
                                     : json_string_value(json_object_get(j, "status")));
        }
    }
    json_decref(j);
    return rc;
}

/* ---- templates --------------------------------------------------------------- */

static const struct op_verb template_verbs[] = {
    {"ls", "", "the team's script templates", ""},
    {"show", "ID", "one template", ""},
    {"add", "NAME [FILE|-]", "a template of the script in FILE or on standard input",
     "description"},
    {"rm", "ID", "delete a template", ""},
};

int op_template(struct op *o, int argc, char **argv)
{
    size_t nv = sizeof template_verbs / sizeof *template_verbs;
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "template", template_verbs, nv, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    char path[1024];
    if (id_path("template", name, strcmp(name, "add") && a.argc > a.pos ? a.argv[a.pos] : NULL,
                "/scripts/templates", path))
        return OP_USAGE;
    json_t *j = NULL;
    if (!strcmp(name, "add")) {
        const char *file = a.argc - a.pos > 1 ? a.argv[a.pos + 1] : "-";
        if (!strcmp(file, "-") && isatty(0)) {
            fprintf(stderr, "jobplane template add: no script: give a FILE, or - and the script"
                            " on standard input\n");
            return OP_USAGE;
        }
        size_t len;
        char *content = op_read_text("jobplane template add", file, TEMPLATE_READ_MAX, &len);
        if (!content)
            return OP_USAGE;
        json_t *b = json_pack("{s:s, s:s%}", "name", a.argv[a.pos], "content", content, len);
        free(content);
        if (a.description)
            json_object_set_new(b, "description", json_string(a.description));
        char *body = op_dump(b);
        rc = op_call(o, "POST", path, body, 201, &j);
        free(body);
        if (rc == OP_OK)
            op_print_one(o, j, "id");
    } else if (!strcmp(name, "ls")) {
        static const char *const cols[] = {"ID", "NAME", "UPDATED", "DESCRIPTION"};
        static const char *const keys[] = {"id", "name", "updated_at", "description"};
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_list(o, j, "id", cols, keys, 4);
    } else if (!strcmp(name, "show")) {
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_one(o, j, "id");
    } else if ((rc = op_call(o, "DELETE", path, NULL, 204, &j)) == OP_OK && !o->json && !o->quiet) {
        printf("template %s deleted\n", a.argv[a.pos]);
    }
    json_decref(j);
    return rc;
}
