/* jobplane site add|ls|show|rm|bootstrap|rotate */
#include <stdlib.h>
#include <string.h>

#include "cli/op.h"

static const struct op_verb verbs[] = {
    {"add", "NAME", "create a site and print its bootstrap line", "serial"},
    {"ls", "", "list sites (every page)", "online offline search version limit"},
    {"show", "SITE", "one site", ""},
    {"rm", "SITE", "delete a site (its router gets a teardown script)", ""},
    {"bootstrap", "SITE", "a new bootstrap line for a site not adopted yet", ""},
    {"rotate", "SITE", "revoke the device token and print a new bootstrap line", ""},
};
#define NVERBS (sizeof verbs / sizeof *verbs)

static const char *const cols[] = {"ID", "NAME", "PULSE", "IDENTITY", "VERSION", "LAST SEEN"};
static const char *const keys[] = {
    "id", "name", "has_pulse", "identity", "software_version", "last_seen_at"};

/* A site with a bootstrap line: the line, or the site (--json, -q). */
static void print_bootstrap(const struct op *o, json_t *j)
{
    /* a new site answers its "id", a rotation its "site_id" */
    const char *id_key = json_object_get(j, "site_id") ? "site_id" : "id";
    if (o->json || o->quiet) {
        op_print_one(o, j, id_key);
        return;
    }
    char exp[64];
    op_time(o, json_object_get(j, "bootstrap_expires_at"), exp, sizeof exp);
    printf("site %s\npaste into the router's terminal (valid until %s):\n\n%s\n",
           json_string_value(json_object_get(j, id_key)), exp,
           json_string_value(json_object_get(j, "bootstrap")));
}

static int site_path(const char *id, const char *tail, char *out, size_t cap)
{
    char enc[512];
    if (op_escape(id, enc, sizeof enc)) {
        fprintf(stderr, "jobplane: the site id is too long\n");
        return -1;
    }
    snprintf(out, cap, "/sites/%s%s", enc, tail);
    return 0;
}

int op_site(struct op *o, int argc, char **argv)
{
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "site", verbs, NVERBS, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name, *arg = a.argv[a.pos]; /* NULL for ls */
    json_t *j = NULL;
    char path[1024];
    if (!strcmp(name, "add")) {
        json_t *b = json_pack("{s:s}", "name", arg);
        if (a.serial)
            json_object_set_new(b, "expected_serial", json_string(a.serial));
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        rc = body ? op_call(o, "POST", "/sites", body, 201, &j) : OP_API;
        free(body);
        if (rc == OP_OK)
            print_bootstrap(o, j);
    } else if (!strcmp(name, "ls")) {
        char q[1024] = "/sites?", enc[512];
        size_t n = strlen(q);
        if (a.online >= 0)
            n +=
                (size_t)snprintf(q + n, sizeof q - n, "has_pulse=%s&", a.online ? "true" : "false");
        if (a.search && !op_escape(a.search, enc, sizeof enc))
            n += (size_t)snprintf(q + n, sizeof q - n, "q=%s&", enc);
        if (a.version && !op_escape(a.version, enc, sizeof enc))
            n += (size_t)snprintf(q + n, sizeof q - n, "version=%s&", enc);
        q[n - 1] = '\0'; /* the last & or the ? */
        if ((rc = op_list(o, q, a.limit, 1000, &j)) == OP_OK)
            op_print_list(o, j, "id", cols, keys, sizeof cols / sizeof *cols);
    } else if (site_path(arg, "", path, sizeof path)) {
        rc = OP_USAGE;
    } else if (!strcmp(name, "show")) {
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_one(o, j, "id");
    } else if (!strcmp(name, "rm")) {
        if ((rc = op_call(o, "DELETE", path, NULL, 204, &j)) == OP_OK && !o->json && !o->quiet)
            printf("site %s deleted: its router removes jobplane on its next poll\n", arg);
    } else { /* bootstrap, rotate */
        if (!strcmp(name, "bootstrap")) {
            if ((rc = op_get_json(o, path, &j)))
                return rc;
            bool adopted = !json_is_null(json_object_get(j, "adopted_at"));
            json_decref(j);
            j = NULL;
            if (adopted) {
                fprintf(stderr,
                        "jobplane site bootstrap: site %s is adopted; `jobplane site rotate %s`"
                        " revokes its device token and prints a new line\n",
                        arg, arg);
                return OP_USAGE;
            }
        }
        site_path(arg, "/device-token", path, sizeof path);
        if ((rc = op_call(o, "POST", path, NULL, 200, &j)) == OP_OK)
            print_bootstrap(o, j);
    }
    json_decref(j);
    return rc;
}
