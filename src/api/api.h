/* api/: where HTTP, the core and the store meet. Each handler parses and
 * validates its input, calls core and store, and answers. */
#ifndef JP_API_API_H
#define JP_API_API_H

#include <jansson.h>
#include <stddef.h>

#include "api/ratelimit.h"
#include "core/jwt.h"
#include "core/model.h"
#include "core/sign.h"
#include "http/server.h"
#include "store/store.h"

struct app {
    struct store *store;
    const unsigned char *secret; /* operator JWT secret */
    size_t secret_len;
    struct jwt_expect jwt;  /* issuer/audience/leeway */
    unsigned poll_interval; /* seconds between router polls; has_pulse uses it */
    unsigned poll_wait;     /* held-poll seconds rendered into 7.15+ poll scripts */
    int64_t run_timeout;    /* seconds a delivered job may run before it fails */
    struct sign_key sign;   /* for signed device URLs */
    int64_t url_ttl;        /* seconds a signed device URL stays valid */
    struct ratelimit *rate; /* per-credential limits; NULL: off */
};

#define JP_ADOPTION_TOKEN_LEN 22
#define JP_DEVICE_TOKEN_LEN 32

/* Fills out with len random base62 characters; -1 when the RNG fails. */
int api_random_token(char *out, size_t len);
/* The bootstrap line for an adoption token (malloc'ed). */
char *api_bootstrap(struct http_req *req, const char *adoption_token);

/* The caller of an operator request, once authenticated. */
struct principal {
    char team[JP_TEAM_MAX + 1];
    unsigned scopes;
};

/* The routing table: every endpoint, its handler, scope and body limit. */
extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* Authenticates req as an operator holding the route's scope. On failure it
 * has already answered (401/403) and returns -1. */
int api_authenticate(struct http_req *req, struct principal *who);

/* Answers with the error a store result means (never for OK/CREATED). */
void api_reply_store_error(struct http_req *req, enum store_result r);
/* A store_async done callback: resumes the deferred request ctx. */
void api_resume(void *req);

/* Parses path parameter i as a UUID into out; answers 422 and returns -1 if not. */
int api_uuid_param(struct http_req *req, int i, const char *what, char out[JP_UUID_LEN + 1]);

/* 1 when the Content-Type names this media type (parameters allowed). */
int api_content_type_is(struct http_req *req, const char *want);
/* The body as a JSON object, or NULL after answering 415/400/422. */
json_t *api_json_body(struct http_req *req);
/* String field with a length in characters in [min, max]; NULL after answering
 * (400 when absent, 422 when invalid, too_long when over max). */
const char *api_json_string(struct http_req *req, json_t *j, const char *name, long min, long max,
                            enum jp_err too_long);

/* JSON shapes (new references). */
json_t *api_job_json(const struct job *j);
json_t *api_site_json(const struct app *app, const struct site *s);

/* Handlers. */
void api_healthz(struct http_req *req);
void api_sites_create(struct http_req *req);
void api_sites_list(struct http_req *req);
void api_sites_get(struct http_req *req);
void api_jobs_create(struct http_req *req);
void api_jobs_create_json(struct http_req *req);
void api_jobs_list(struct http_req *req);
void api_jobs_get(struct http_req *req);
void api_jobs_cancel(struct http_req *req);
void api_error_doc(struct http_req *req);
void api_sites_delete(struct http_req *req);
void api_sites_rotate(struct http_req *req);
void api_sites_stats(struct http_req *req);
void api_logs(struct http_req *req);
void api_backups_list(struct http_req *req);
void api_backups_get(struct http_req *req);
void api_backups_request(struct http_req *req);
void api_backups_diff(struct http_req *req);
void api_device_adopt(struct http_req *req);
void api_device_poll(struct http_req *req);
void api_device_report(struct http_req *req);
void api_device_backup(struct http_req *req);
void api_device_notify_delete(struct http_req *req);

#endif
