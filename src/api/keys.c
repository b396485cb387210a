/* API keys: creating, listing and revoking them, and authenticating a
 * request that carries one ({tokenId}:{teamId}:{secret}, the seed system's
 * format). The store keeps a SHA-256 of the secret; when a key was last used
 * is kept here and written in batches (api_keys_flush), not per request. */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/text.h"
#include "lib/log.h"

#define SECRET_LEN 62
#define NAME_MAX_CHARS 100

/* ---- when keys were last used ----------------------------------------- */

struct key_uses {
    pthread_mutex_t mu;
    pthread_mutex_t flushing; /* held through a flush: a list's flush waits for one under way */
    char (*ids)[JP_UUID_LEN + 1];
    int64_t *when;
    size_t n, cap;
};

struct key_uses *key_uses_new(void)
{
    struct key_uses *u = calloc(1, sizeof *u);
    if (u) {
        pthread_mutex_init(&u->mu, NULL);
        pthread_mutex_init(&u->flushing, NULL);
    }
    return u;
}

void key_uses_free(struct key_uses *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->mu);
    pthread_mutex_destroy(&u->flushing);
    free(u->ids);
    free(u->when);
    free(u);
}

static void key_used(struct key_uses *u, const char *id, int64_t now)
{
    pthread_mutex_lock(&u->mu);
    size_t i = 0;
    while (i < u->n && strcmp(u->ids[i], id))
        i++;
    if (i == u->n && u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        void *ids = realloc(u->ids, cap * sizeof *u->ids);
        if (ids)
            u->ids = ids;
        void *when = ids ? realloc(u->when, cap * sizeof *u->when) : NULL;
        if (when) {
            u->when = when;
            u->cap = cap;
        }
    }
    if (i < u->cap) {
        if (i == u->n)
            memcpy(u->ids[u->n++], id, JP_UUID_LEN + 1);
        u->when[i] = now;
    }
    pthread_mutex_unlock(&u->mu);
}

void api_keys_flush(struct app *app)
{
    struct key_uses *u = app->uses, taken;
    pthread_mutex_lock(&u->flushing);
    pthread_mutex_lock(&u->mu);
    taken = *u;
    u->ids = NULL;
    u->when = NULL;
    u->n = u->cap = 0;
    pthread_mutex_unlock(&u->mu);
    if (taken.n && store_api_keys_used(app->store, taken.ids, taken.when, taken.n) != STORE_OK) {
        for (size_t i = 0; i < taken.n; i++) /* kept for the next flush */
            key_used(u, taken.ids[i], taken.when[i]);
    }
    pthread_mutex_unlock(&u->flushing);
    free(taken.ids);
    free(taken.when);
}

/* ---- authentication --------------------------------------------------- */

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int api_key_auth(struct http_req *req, const char *tok, struct caller *who)
{
    struct app *app = req->app;
    size_t len = strlen(tok);
    char id[JP_UUID_LEN + 1], team[JP_TEAM_MAX + 1];
    const char *secret = len > SECRET_LEN ? tok + len - SECRET_LEN : "";
    size_t team_len = len > JP_UUID_LEN + SECRET_LEN + 2 ? len - JP_UUID_LEN - SECRET_LEN - 2 : 0;
    char first[JP_UUID_LEN + 1] = "";
    if (len > JP_UUID_LEN)
        memcpy(first, tok, JP_UUID_LEN);
    if (!team_len || team_len > JP_TEAM_MAX || tok[JP_UUID_LEN] != ':' || secret[-1] != ':' ||
        uuid_parse(first, id) || strspn(secret, base62) != SECRET_LEN) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED,
                         "Invalid API key: the form is {tokenId}:{teamId}:{secret}.");
        return -1;
    }
    memcpy(team, tok + JP_UUID_LEN + 1, team_len);
    team[team_len] = '\0';
    struct api_key k;
    enum store_result r = store_api_key_auth(app->store, id, &k);
    if (r == STORE_UNAVAILABLE) {
        api_reply_store_error(req, r);
        return -1;
    }
    char hash[JP_SIG_HEX + 1];
    token_hash(secret, hash);
    /* one answer for an unknown key, another team's and a wrong secret */
    if (r != STORE_OK || strcmp(k.team, team) ||
        CRYPTO_memcmp(hash, k.secret_hash, JP_SIG_HEX) != 0) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "Invalid API key: unknown or revoked.");
        return -1;
    }
    int64_t now = (int64_t)time(NULL);
    if (k.expires_at && now >= k.expires_at) {
        http_reply_error(req, JP_ERR_UNAUTHENTICATED, "Invalid API key: it has expired.");
        return -1;
    }
    key_used(app->uses, k.id, now);
    memcpy(who->team, k.team, sizeof who->team);
    memcpy(who->subject, k.id, sizeof k.id);
    who->scopes = k.scopes;
    who->api_key = true;
    return 0;
}

/* ---- the endpoints ----------------------------------------------------- */

static json_t *scopes_json(unsigned bits)
{
    json_t *a = json_array();
    for (size_t i = 0; i < JP_SCOPE_COUNT; i++)
        if (bits & jp_scopes[i].bit)
            json_array_append_new(a, json_string(jp_scopes[i].name));
    return a;
}

static json_t *key_json(const struct api_key *k)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", k->id, "name", k->name,
                     "team_id", k->team, "abilities", scopes_json(k->scopes), "expires_at",
                     time_json(k->expires_at), "last_used_at", time_json(k->last_used_at),
                     "created_at", time_json(k->created_at), "updated_at",
                     time_json(k->updated_at));
}

/* The path's team is the caller's: 0; another team's: 404 (like its objects). */
static int own_team(struct http_req *req)
{
    const struct caller *who = req->caller;
    const char *team = http_param(req, "team");
    if (team && !strcmp(team, who->team))
        return 0;
    http_reply_error(req, JP_ERR_RESOURCE_MISSING, "No such team.");
    return -1;
}

/* expires_at: absent or null (never), or an RFC 3339 time or a date at least
 * 24 hours ahead. 0 with *out set, or -1 after answering. */
static int parse_expiry(struct http_req *req, json_t *v, int64_t *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    char full[40];
    if (s && strlen(s) == 10) { /* YYYY-MM-DD: its start, UTC */
        snprintf(full, sizeof full, "%sT00:00:00Z", s);
        s = full;
    }
    if (!s || rfc3339_parse(s, out)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "expires_at must be null, an RFC 3339 time or a date (YYYY-MM-DD).");
        return -1;
    }
    if (*out < (int64_t)time(NULL) + 86400) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "expires_at must be at least 24 hours ahead.");
        return -1;
    }
    return 0;
}

/* scopes: absent (the creator's), or a non-empty array of scope names, none
 * beyond the creator's. 0 with *out set, or -1 after answering. */
static int parse_scopes(struct http_req *req, json_t *v, unsigned *out)
{
    const struct caller *who = req->caller;
    *out = who->scopes;
    if (!v)
        return 0;
    if (!json_is_array(v) || !json_array_size(v)) {
        http_reply_error(req, JP_ERR_PARAMETER_INVALID,
                         "scopes must be a non-empty array of scope names.");
        return -1;
    }
    size_t i;
    json_t *e;
    *out = 0;
    json_array_foreach(v, i, e)
    {
        const char *name = json_string_value(e);
        unsigned bit = name && !strchr(name, ' ') ? jp_scope_parse(name) : 0;
        char msg[160];
        if (!bit) {
            snprintf(msg, sizeof msg, "Unknown scope '%.60s'.", name ? name : "(not a string)");
            http_reply_error(req, JP_ERR_PARAMETER_INVALID, msg);
            return -1;
        }
        if (!(who->scopes & bit)) {
            snprintf(msg, sizeof msg, "A key cannot hold the scope '%s': its creator lacks it.",
                     name);
            http_reply_error(req, JP_ERR_FORBIDDEN, msg);
            return -1;
        }
        *out |= bit;
    }
    return 0;
}

void api_keys_create(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    if (own_team(req))
        return;
    json_t *body = api_json_body(req);
    if (!body)
        return;
    const char *name =
        api_json_string(req, body, "name", 1, NAME_MAX_CHARS, JP_ERR_PARAMETER_INVALID);
    int64_t expires = 0;
    unsigned scopes = 0;
    char secret[SECRET_LEN + 1], hash[JP_SIG_HEX + 1];
    if (!name || parse_expiry(req, json_object_get(body, "expires_at"), &expires) ||
        parse_scopes(req, json_object_get(body, "scopes"), &scopes)) {
        json_decref(body);
        return;
    }
    if (api_random_token(secret, SECRET_LEN)) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        json_decref(body);
        return;
    }
    token_hash(secret, hash);
    struct api_key k;
    enum store_result r = store_api_key_create(app->store, who->team, name, scopes, expires, hash,
                                               who->subject[0] ? who->subject : "-", &k);
    json_decref(body);
    if (r != STORE_CREATED) {
        api_reply_store_error(req, r);
        return;
    }
    log_info("API key %s created for team %s", k.id, k.team);
    char *full = NULL;
    json_t *j = key_json(&k);
    if (asprintf(&full, "%s:%s:%s", k.id, k.team, secret) < 0 || !j) {
        json_decref(j);
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    json_object_set_new(j, "api_key", json_string(full));
    OPENSSL_cleanse(full, strlen(full));
    OPENSSL_cleanse(secret, sizeof secret);
    free(full);
    http_reply_json(req, 201, j);
}

void api_keys_list(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    if (own_team(req))
        return;
    api_keys_flush(app); /* last_used_at as this node knows it */
    struct api_key_list l;
    enum store_result r = store_api_key_list(app->store, who->team, &l);
    if (r != STORE_OK) {
        api_reply_store_error(req, r);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, key_json(&l.items[i]));
    api_key_list_clear(&l);
    http_reply_json(req, 200, arr);
}

void api_keys_delete(struct http_req *req)
{
    struct app *app = req->app;
    const struct caller *who = req->caller;
    char id[JP_UUID_LEN + 1];
    if (own_team(req) || api_uuid_param(req, "key", id))
        return;
    enum store_result r = store_api_key_delete(app->store, who->team, id);
    if (r == STORE_OK) {
        log_info("API key %s revoked", id);
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        api_reply_store_error(req, r);
    }
}
