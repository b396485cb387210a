/* What a team has besides sites: jobplane webhook ..., jobplane key ... */
#include <stdlib.h>
#include <string.h>

#include "cli/op.h"
#include "core/webhook.h"

/* a comma- or space-separated list as a JSON array of strings */
static json_t *word_list(const char *s)
{
    json_t *arr = json_array();
    while (s && *s) {
        s += strspn(s, ", ");
        size_t n = strcspn(s, ", ");
        if (n)
            json_array_append_new(arr, json_stringn(s, n));
        s += n;
    }
    return arr;
}

/* ---- webhooks ------------------------------------------------------------- */

static const struct op_verb hook_verbs[] = {
    {"add", "URL", "subscribe an endpoint (prints its signing secret, once)", "events description"},
    {"ls", "", "the team's endpoints", ""},
    {"show", "ID", "one endpoint", ""},
    {"rm", "ID", "delete an endpoint", ""},
    {"enable", "ID", "deliver to a disabled endpoint again", ""},
    {"rotate", "ID", "a new signing secret (the old one signs 24 h more)", ""},
    {"test", "ID", "send a ping", ""},
    {"deliveries", "ID", "deliveries with every attempt, newest first", "status limit"},
    {"redeliver", "DELIVERY", "send a delivery again", ""},
};

int op_webhook(struct op *o, int argc, char **argv)
{
    size_t nv = sizeof hook_verbs / sizeof *hook_verbs;
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "webhook", hook_verbs, nv, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    char id[512] = "", path[1024];
    if (a.argv[a.pos] && op_escape(a.argv[a.pos], id, sizeof id)) {
        fprintf(stderr, "jobplane webhook %s: the argument is too long\n", name);
        return OP_USAGE;
    }
    json_t *j = NULL;
    if (!strcmp(name, "add")) {
        json_t *events = a.events ? word_list(a.events) : json_array();
        for (int e = 0; !a.events && e < EV_PING; e++)
            json_array_append_new(events, json_string(whk_events[e].name));
        json_t *b = json_pack("{s:s, s:o}", "url", a.argv[a.pos], "events", events);
        if (a.description)
            json_object_set_new(b, "description", json_string(a.description));
        char *body = op_dump(b);
        rc = op_call(o, "POST", "/webhooks", body, 201, &j);
        free(body);
        if (rc == OP_OK)
            op_print_one(o, j, "id");
    } else if (!strcmp(name, "ls")) {
        static const char *const cols[] = {"ID", "URL", "ENABLED", "EVENTS"};
        static const char *const keys[] = {"id", "url", "enabled", "events"};
        if ((rc = op_get_json(o, "/webhooks", &j)) == OP_OK)
            op_print_list(o, j, "id", cols, keys, 4);
    } else if (!strcmp(name, "deliveries")) {
        static const char *const cols[] = {"ID", "TYPE", "STATUS", "CREATED", "NEXT ATTEMPT"};
        static const char *const keys[] = {"id", "type", "status", "created_at", "next_attempt_at"};
        char enc[64] = "";
        snprintf(path, sizeof path, "/webhooks/%s/deliveries", id);
        if (a.status && !op_escape(a.status, enc, sizeof enc))
            snprintf(path + strlen(path), sizeof path - strlen(path), "?status=%s", enc);
        if ((rc = op_list(o, path, a.limit, 500, &j)) == OP_OK) /* this list pages by 500 */
            op_print_list(o, j, "id", cols, keys, 5);
    } else {
        static const struct {
            const char *verb, *method, *tail, *body;
            long want;
        } calls[] = {
            {"show", "GET", "", NULL, 200},
            {"rm", "DELETE", "", NULL, 204},
            {"enable", "PATCH", "", "{\"enabled\":true}", 200},
            {"rotate", "POST", "/rotate-secret", NULL, 200},
            {"test", "POST", "/test", NULL, 202},
            {"redeliver", "POST", "/redeliver", NULL, 202},
        };
        for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
            if (strcmp(calls[i].verb, name))
                continue;
            snprintf(path, sizeof path, "/webhooks/%s%s%s",
                     !strcmp(name, "redeliver") ? "deliveries/" : "", id, calls[i].tail);
            if ((rc = op_call(o, calls[i].method, path, calls[i].body, calls[i].want, &j)) != OP_OK)
                break;
            if (j)
                op_print_one(o, j, !strcmp(name, "test") ? "delivery_id" : "id");
            else if (!o->json && !o->quiet)
                printf("webhook %s deleted\n", a.argv[a.pos]);
        }
    }
    json_decref(j);
    return rc;
}

/* ---- API keys ------------------------------------------------------------- */

static const struct op_verb key_verbs[] = {
    {"add", "NAME", "create an API key (printed once)", "scopes expires"},
    {"ls", "", "the team's API keys", ""},
    {"rm", "ID", "revoke an API key", ""},
};

int op_key(struct op *o, int argc, char **argv)
{
    size_t nv = sizeof key_verbs / sizeof *key_verbs;
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "key", key_verbs, nv, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    char tb[128], team[400], id[512] = "", path[1024];
    const char *t = op_team(o, tb, sizeof tb);
    if (!t)
        return OP_USAGE;
    if (op_escape(t, team, sizeof team) ||
        (!strcmp(name, "rm") && op_escape(a.argv[a.pos], id, sizeof id))) {
        fprintf(stderr, "jobplane key %s: an argument is too long\n", name);
        return OP_USAGE;
    }
    snprintf(path, sizeof path, "/teams/%s/api-credentials%s%s", team, *id ? "/" : "", id);
    json_t *j = NULL;
    if (!strcmp(name, "add")) {
        json_t *b = json_pack("{s:s}", "name", a.argv[a.pos]);
        if (a.scopes)
            json_object_set_new(b, "scopes", word_list(a.scopes));
        if (a.expires)
            json_object_set_new(b, "expires_at", json_string(a.expires));
        char *body = op_dump(b);
        rc = op_call(o, "POST", path, body, 201, &j);
        free(body);
        if (rc == OP_OK) {
            if (o->quiet) /* the key itself: what a script needs */
                printf("%s\n", json_string_value(json_object_get(j, "api_key")));
            else
                op_print_one(o, j, "id");
        }
    } else if (!strcmp(name, "ls")) {
        static const char *const cols[] = {"ID", "NAME", "SCOPES", "EXPIRES", "LAST USED"};
        static const char *const keys[] = {"id", "name", "abilities", "expires_at", "last_used_at"};
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_list(o, j, "id", cols, keys, 5);
    } else if ((rc = op_call(o, "DELETE", path, NULL, 204, &j)) == OP_OK && !o->json && !o->quiet) {
        printf("API key %s revoked\n", a.argv[a.pos]);
    }
    json_decref(j);
    return rc;
}
