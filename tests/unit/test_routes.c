/* Walks the routing table itself (api_routes): a real server (http/ with the
 * api/ hook and handlers, on a temporary SQLite store, on 127.0.0.1) answers
 * every route over HTTP. Every route has a caller kind; every operator route
 * refuses a missing token (401), a token without its scope (403) and another
 * team's ids (404, and no other team's ids in any answer) while its own team
 * gets past authentication; every device route refuses an operator token;
 * public routes answer without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "api/api.h"
#include "core/sign.h"

#define SECRET "unit-secret-0123456789abcdef"

struct world {
    struct app app;
    struct store *store;
    struct http_server *srv;
    char dir[64], base[64];
    CURL *curl;
    unsigned seq;
};

/* The objects a route's path names, all of team "owner". */
struct objects {
    char site[JP_UUID_LEN + 1], job[JP_UUID_LEN + 1], file[64], webhook[JP_UUID_LEN + 1];
    char delivery[24];
    char apikey[JP_UUID_LEN + 1];
    char rollout[JP_UUID_LEN + 1], tmpl[JP_UUID_LEN + 1];
};

struct answer {
    long status;
    char body[8192];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t take = size * n;
    if (take > sizeof a->body - 1 - a->len)
        take = sizeof a->body - 1 - a->len;
    memcpy(a->body + a->len, p, take);
    a->len += take;
    a->body[a->len] = '\0';
    return size * n;
}

/* A JWT of team holding the scopes in bits, of the subject "walker" (not
 * the creator of the seeded rollout: it may approve it). */
static char *token(const char *team, unsigned bits)
{
    char scope[256] = "", payload[512];
    for (size_t i = 0; i < JP_SCOPE_COUNT; i++)
        if (bits & jp_scopes[i].bit)
            snprintf(scope + strlen(scope), sizeof scope - strlen(scope), "%s%s",
                     scope[0] ? " " : "", jp_scopes[i].name);
    snprintf(payload, sizeof payload,
             "{\"team\":\"%s\",\"sub\":\"walker\",\"scope\":\"%s\",\"exp\":%lld}", team, scope,
             (long long)time(NULL) + 3600);
    return jwt_sign_hs256_alloc(payload, (const unsigned char *)SECRET, strlen(SECRET));
}

static unsigned all_scopes(void)
{
    unsigned bits = 0;
    for (size_t i = 0; i < JP_SCOPE_COUNT; i++)
        bits |= jp_scopes[i].bit;
    return bits;
}

/* Fresh objects of team "owner": a site, a pending backup job, a backup, a
 * webhook endpoint and a delivery to it. */
static void seed(struct world *w, struct objects *o)
{
    char name[32], hash[JP_SIG_HEX + 1], key[JP_UUID_LEN + 1];
    snprintf(name, sizeof name, "walk-%u", w->seq);
    snprintf(hash, sizeof hash, "%064x", w->seq++);
    struct site s;
    struct adoption_line line = {hash, INT64_MAX / 2};
    assert_int_equal(store_site_create(w->store, "owner", name, NULL, &line, &s), STORE_CREATED);
    memcpy(o->site, s.id, sizeof o->site);
    site_clear(&s);
    snprintf(key, sizeof key, "00000000-0000-4000-8000-%012x", w->seq++);
    struct job_request jr = {.site_id = o->site,
                             .idempotency_key = key,
                             .description = "walked",
                             .script = ":put 1",
                             .needs_acknowledgement = true,
                             .should_backup = true};
    struct job j;
    assert_int_equal(store_job_create(w->store, "owner", &jr, &j), STORE_CREATED);
    memcpy(o->job, j.id, sizeof o->job);
    job_clear(&j);
    assert_int_equal(
        store_backup_chunk(w->store, o->site, o->job, 0, 4, "abc\n", 4, 1700000000, o->file, NULL),
        STORE_CREATED);
    struct webhook wh;
    assert_int_equal(store_webhook_create(w->store, "owner", "https://hooks.example/", NULL, 1,
                                          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &wh),
                     STORE_CREATED);
    memcpy(o->webhook, wh.id, sizeof o->webhook);
    webhook_clear(&wh);
    char event[48];
    int64_t delivery = 0;
    assert_int_equal(store_webhook_ping(w->store, "owner", o->webhook, event, &delivery), STORE_OK);
    snprintf(o->delivery, sizeof o->delivery, "%lld", (long long)delivery);
    struct api_key k;
    snprintf(hash, sizeof hash, "%064x", w->seq++);
    assert_int_equal(
        store_api_key_create(w->store, "owner", "walked", JP_SCOPE_SITES_READ, 0, hash, "seed", &k),
        STORE_CREATED);
    memcpy(o->apikey, k.id, sizeof o->apikey);
    struct script_template t;
    assert_int_equal(store_template_create(w->store, "owner", "seed", "walked", "", ":put 1", &t),
                     STORE_CREATED);
    memcpy(o->tmpl, t.id, sizeof o->tmpl);
    script_template_clear(&t);
    char sites[1][JP_UUID_LEN + 1];
    memcpy(sites[0], o->site, sizeof sites[0]);
    struct rollout_spec sp = {.description = "walked",
                              .script = ":put 1",
                              .launch_at = INT64_MAX / 4,
                              .sites = (const char(*)[JP_UUID_LEN + 1]) sites,
                              .nsites = 1};
    struct rollout ro;
    char missing[JP_UUID_LEN + 1];
    assert_int_equal(store_rollout_create(w->store, "owner", "seed", &sp, &ro, missing),
                     STORE_CREATED);
    memcpy(o->rollout, ro.id, sizeof o->rollout);
    rollout_clear(&ro);
}

/* An API key of team with the scopes in bits, as its owner would hold it. */
static char *api_key(struct world *w, const char *team, unsigned bits)
{
    static const char secret[] = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHIJ01";
    char hash[JP_SIG_HEX + 1], *full = NULL;
    token_hash(secret, hash);
    struct api_key k;
    assert_int_equal(store_api_key_create(w->store, team, "route walk", bits, 0, hash, "test", &k),
                     STORE_CREATED);
    assert_true(asprintf(&full, "%s:%s:%s", k.id, team, secret) > 0);
    return full;
}

/* The route's path with its {names} filled from o, and a query that carries
 * what any route requires (ignored by the others). */
static void url_of(const struct world *w, const struct http_route *r, const struct objects *o,
                   char *url, size_t cap)
{
    int n = snprintf(url, cap, "%s", w->base);
    for (const char *p = r->pattern; *p && (size_t)n < cap;) {
        if (*p != '{') {
            url[n++] = *p++;
            url[n] = '\0';
            continue;
        }
        const char *end = strchr(p, '}');
        size_t len = (size_t)(end - p - 1);
        const char *v = "x";
        if (len == 4 && !strncmp(p + 1, "site", 4))
            v = o->site;
        else if (len == 3 && !strncmp(p + 1, "job", 3))
            v = o->job;
        else if ((len == 8 && !strncmp(p + 1, "filename", 8)) ||
                 (len == 4 && !strncmp(p + 1, "from", 4)) || (len == 2 && !strncmp(p + 1, "to", 2)))
            v = o->file;
        else if (len == 5 && !strncmp(p + 1, "token", 5))
            v = "AAAAAAAAAAAAAAAAAAAAAA"; /* the form of an adoption token, never issued */
        else if (len == 4 && !strncmp(p + 1, "code", 4))
            v = "resource_missing";
        else if (len == 7 && !strncmp(p + 1, "webhook", 7))
            v = o->webhook;
        else if (len == 8 && !strncmp(p + 1, "delivery", 8))
            v = o->delivery;
        else if (len == 4 && !strncmp(p + 1, "team", 4))
            v = "owner";
        else if (len == 3 && !strncmp(p + 1, "key", 3))
            v = o->apikey;
        else if (len == 7 && !strncmp(p + 1, "rollout", 7))
            v = o->rollout;
        else if (len == 8 && !strncmp(p + 1, "template", 8))
            v = o->tmpl;
        else if (len == 4 && !strncmp(p + 1, "file", 4))
            v = "app.js"; /* a file of the web console */
        else
            fail_msg("route %s %s: no value for %.*s", r->method, r->pattern, (int)len, p + 1);
        n += snprintf(url + n, cap - (size_t)n, "%s", v);
        p = end + 1;
    }
    if (r->caller == CALLER_OPERATOR)
        snprintf(url + n, cap - (size_t)n,
                 "?group=sites&streams=%s&start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
                 "&start_date=2000-01-01&end_date=2100-01-01",
                 o->site);
    else if (r->caller == CALLER_SIGNED_REPORT)
        snprintf(url + n, cap - (size_t)n, "?status=busy&expires=%lld&signature=%064d",
                 (long long)time(NULL) + 600, 0);
    else if (r->caller == CALLER_SIGNED_UPLOAD)
        snprintf(url + n, cap - (size_t)n, "?job=%s&offset=0&total=4&expires=%lld&signature=%064d",
                 o->job, (long long)time(NULL) + 600, 0);
}

/* Sends the route's request with bearer (NULL: none). A body that every
 * create form accepts: JSON, or the script as text/plain when the route
 * answers 415 to JSON. */
static void call(struct world *w, const struct http_route *r, const struct objects *o,
                 const char *bearer, struct answer *a)
{
    char url[1024], auth[2048], key[80];
    url_of(w, r, o, url, sizeof url);
    for (int plain = 0; plain < 2; plain++) {
        memset(a, 0, sizeof *a);
        struct curl_slist *h = NULL;
        if (bearer) {
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
            h = curl_slist_append(h, auth);
        }
        snprintf(key, sizeof key, "X-Idempotency-Key: 00000000-0000-4000-8000-%012x", w->seq++);
        h = curl_slist_append(h, key);
        h = curl_slist_append(h, "X-Description: walked route");
        h = curl_slist_append(h, plain ? "Content-Type: text/plain"
                                       : "Content-Type: application/json");
        curl_easy_reset(w->curl);
        curl_easy_setopt(w->curl, CURLOPT_URL, url);
        curl_easy_setopt(w->curl, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, a);
        if (r->body_limit)
            curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS,
                             plain ? ":put 1"
                                   : "{\"name\":\"walked\",\"description\":\"walked route\","
                                     "\"script\":\":put 1\"}");
        CURLcode rc = curl_easy_perform(w->curl);
        curl_slist_free_all(h);
        assert_int_equal(rc, CURLE_OK);
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &a->status);
        if (a->status != 415)
            return;
    }
}

static bool has_params(const struct http_route *r)
{
    return strchr(r->pattern, '{') != NULL;
}

#define ROUTE_FAIL(r, a, what)                                                                     \
    fail_msg("%s %s: %s (answered %ld: %.300s)", (r)->method, (r)->pattern, what, (a)->status,     \
             (a)->body)

static void test_every_route_has_a_caller(void **state)
{
    (void)state;
    assert_true(api_nroutes > 0);
    assert_true(api_nroutes < API_METRICS_ROUTES_MAX); /* room for their metrics */
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *r = &api_routes[i];
        if (r->caller == CALLER_UNSET || r->caller >= CALLER_KIND_COUNT_)
            fail_msg("%s %s has no caller kind", r->method, r->pattern);
        if (r->caller == CALLER_OPERATOR && r->scope == 0)
            fail_msg("%s %s: an operator route without a scope", r->method, r->pattern);
        if (r->caller != CALLER_OPERATOR && r->scope != 0)
            fail_msg("%s %s: a scope on a route for %s", r->method, r->pattern,
                     api_caller_name((enum caller_kind)r->caller));
    }
}

static void test_operator_routes(void **state)
{
    struct world *w = *state;
    char *thief = token("thief", all_scopes()), *owner = token("owner", all_scopes());
    /* API keys are Bearer credentials like JWTs: the same refusals and passes */
    char *thief_key = api_key(w, "thief", all_scopes()),
         *owner_key = api_key(w, "owner", all_scopes());
    size_t checked = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *r = &api_routes[i];
        if (r->caller != CALLER_OPERATOR)
            continue;
        struct objects o;
        struct answer a;
        seed(w, &o);
        call(w, r, &o, NULL, &a);
        if (a.status != 401 || !strstr(a.body, "\"unauthenticated\""))
            ROUTE_FAIL(r, &a, "no token is not 401 unauthenticated");
        call(w, r, &o, "not-a-jwt", &a);
        if (a.status != 401)
            ROUTE_FAIL(r, &a, "a malformed token is not 401");
        char *lacking = token("owner", all_scopes() & ~r->scope);
        call(w, r, &o, lacking, &a);
        free(lacking);
        if (a.status != 403 || !strstr(a.body, "\"forbidden\""))
            ROUTE_FAIL(r, &a, "a token without the route's scope is not 403 forbidden");
        for (int k = 0; k < 2; k++) {
            call(w, r, &o, k ? thief_key : thief, &a);
            if (has_params(r) || strstr(r->pattern, "/logs")) {
                if (a.status != 404 || !strstr(a.body, "\"resource_missing\""))
                    ROUTE_FAIL(r, &a, "another team's ids are not 404 resource_missing");
            } else if (a.status >= 500) {
                ROUTE_FAIL(r, &a, "another team's call failed");
            }
            if (strstr(a.body, o.site) || strstr(a.body, o.job) || strstr(a.body, o.webhook) ||
                strstr(a.body, o.apikey))
                ROUTE_FAIL(r, &a, "another team's answer names the owner's objects");
        }
        /* the owner gets past authentication and team scoping (a JWT, a key) */
        call(w, r, &o, owner, &a);
        if (a.status == 401 || a.status == 403 || a.status == 404 || a.status >= 500)
            ROUTE_FAIL(r, &a, "the owner, with every scope, is refused");
        seed(w, &o); /* the JWT's call may have deleted what the key's names */
        call(w, r, &o, owner_key, &a);
        if (a.status == 401 || a.status == 403 || a.status == 404 || a.status >= 500)
            ROUTE_FAIL(r, &a, "the owner's API key, with every scope, is refused");
        checked++;
    }
    assert_true(checked >= 20);
    free(thief);
    free(owner);
    free(thief_key);
    free(owner_key);
}

static void test_device_routes_refuse_operators(void **state)
{
    struct world *w = *state;
    char *owner = token("owner", all_scopes());
    size_t checked = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *r = &api_routes[i];
        if (r->caller == CALLER_PUBLIC || r->caller == CALLER_OPERATOR)
            continue;
        struct objects o;
        struct answer a;
        seed(w, &o);
        call(w, r, &o, owner, &a);
        long want = r->caller == CALLER_DEVICE     ? 401
                    : r->caller == CALLER_ADOPTION ? 404
                                                   : 403; /* signed: the job exists */
        if (a.status != want)
            ROUTE_FAIL(r, &a, "an operator token is not refused as it should be");
        checked++;
    }
    assert_true(checked >= 5);
    free(owner);
}

static void test_public_routes(void **state)
{
    struct world *w = *state;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *r = &api_routes[i];
        if (r->caller != CALLER_PUBLIC)
            continue;
        struct objects o;
        memset(&o, 0, sizeof o);
        struct answer a;
        call(w, r, &o, NULL, &a);
        if (a.status != 200)
            ROUTE_FAIL(r, &a, "a public route refuses a caller without credentials");
    }
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    *state = w;
    snprintf(w->dir, sizeof w->dir, "/tmp/jobplane-routes.XXXXXX");
    if (!mkdtemp(w->dir))
        return -1;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/routes.db", w->dir);
    struct store_options so = {.url = path, .readers = 4};
    w->store = store_open(&so, err, sizeof err);
    if (!w->store) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    w->app = (struct app){.store = w->store,
                          .secret = (const unsigned char *)SECRET,
                          .secret_len = strlen(SECRET),
                          .poll_interval = 30,
                          .run_timeout = 600,
                          .url_ttl = 3600,
                          .ca_pem = "-----BEGIN CERTIFICATE-----\n(the CA)\n",
                          .uses = key_uses_new()};
    pthread_rwlock_init(&w->app.keys_lock, NULL);
    sign_key_derive(&w->app.sign, w->app.secret, w->app.secret_len);
    struct http_config hc = {.host = "127.0.0.1",
                             .threads = 2,
                             .max_connections = 64,
                             .idle_timeout = 10,
                             .max_body = 65536,
                             .routes = api_routes,
                             .nroutes = api_nroutes,
                             .app = &w->app,
                             .authenticate = api_authenticate,
                             .caller_size = sizeof(struct caller)};
    w->srv = http_start(&hc, err, sizeof err);
    if (!w->srv) {
        fprintf(stderr, "http_start: %s\n", err);
        return -1;
    }
    snprintf(w->base, sizeof w->base, "http://127.0.0.1:%u", http_port(w->srv));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w->curl = curl_easy_init();
    return w->curl ? 0 : -1;
}

static int teardown(void **state)
{
    struct world *w = *state;
    curl_easy_cleanup(w->curl);
    curl_global_cleanup();
    http_stop(w->srv, 2);
    api_keys_flush(&w->app);
    store_close(w->store);
    key_uses_free(w->app.uses);
    pthread_rwlock_destroy(&w->app.keys_lock);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    int rc = system(cmd);
    free(w);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_has_a_caller),
        cmocka_unit_test(test_operator_routes),
        cmocka_unit_test(test_device_routes_refuse_operators),
        cmocka_unit_test(test_public_routes),
    };
    return cmocka_run_group_tests_name("the routing table", tests, setup, teardown);
}
