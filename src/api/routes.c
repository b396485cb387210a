/* Every endpoint of jobplane in one table, and who may call it.
 *
 * A row: method, path ({name} captures one segment; handlers read it by
 * name), handler, body limit (bytes, capped by --max-body), the caller kind
 * and, for operators, the scope the credentials must hold. The caller is
 * checked by api_authenticate (common.c) before the handler runs, so a
 * handler only ever sees a caller of its row's kind:
 *   PUBLIC         anyone
 *   OPERATOR       Bearer JWT or API key of a team, holding the scope (401,
 *                  403, 429)
 *   DEVICE         Bearer device token of a site (401)
 *   ADOPTION       one-time adoption token in the path (404 when malformed;
 *                  the handler's store operation consumes it)
 *   SIGNED_REPORT  signed URL of a job report: {job}, ?status=, ?expires=,
 *                  ?signature= (422, 403, 404)
 *   SIGNED_UPLOAD  signed URL of a backup upload: ?job= and "backup"
 * tests/unit/test_routes.c walks this table: every operator route refuses a
 * missing token, a wrong scope and another team's ids; every device route
 * refuses an operator token. */
#include "api/api.h"

#define BODY (64 * 1024)
#define SMALL_BODY (4 * 1024)
#define HB_BODY 8192 /* core/routeros.h HB_MAX_BYTES */
/* a rollout's site list: 100,000 ids; its own limit, above --max-body */
#define ROLLOUT_BODY (8 * 1024 * 1024)

#define PUBLIC CALLER_PUBLIC, 0, false
#define OPERATOR(scope) CALLER_OPERATOR, JP_SCOPE_##scope, false
/* an operator route that needs two scopes */
#define OPERATOR2(a, b) CALLER_OPERATOR, JP_SCOPE_##a | JP_SCOPE_##b, false
/* an operator route whose body limit is its own, above --max-body */
#define OPERATOR_BULK(scope) CALLER_OPERATOR, JP_SCOPE_##scope, true
#define DEVICE CALLER_DEVICE, 0, false
#define ADOPTION CALLER_ADOPTION, 0, false
#define SIGNED_REPORT CALLER_SIGNED_REPORT, 0, false
#define SIGNED_UPLOAD CALLER_SIGNED_UPLOAD, 0, false

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, PUBLIC},
    {"GET", "/errors/{code}", api_error_doc, 0, PUBLIC},
    {"GET", "/metrics", api_metrics, 0, OPERATOR(METRICS_READ)},
    {"GET", "/openapi.json", api_openapi, 0, PUBLIC},
    {"GET", "/ca.pem", api_ca_pem, 0, PUBLIC},

    /* the web console (console.c): its files, and the fleet at a glance */
    {"GET", "/", api_ui_index, 0, PUBLIC},
    {"GET", "/ui/{file}", api_ui_file, 0, PUBLIC},
    {"GET", "/overview", api_overview, 0, OPERATOR2(SITES_READ, JOBS_READ)},

    {"POST", "/sites", api_sites_create, SMALL_BODY, OPERATOR(SITES_WRITE)},
    {"GET", "/sites", api_sites_list, 0, OPERATOR(SITES_READ)},
    {"GET", "/sites/{site}", api_sites_get, 0, OPERATOR(SITES_READ)},
    {"PATCH", "/sites/{site}", api_sites_update, SMALL_BODY, OPERATOR(SITES_WRITE)},
    {"DELETE", "/sites/{site}", api_sites_delete, 0, OPERATOR(SITES_WRITE)},
    {"POST", "/sites/{site}/device-token", api_sites_rotate, 0, OPERATOR(SITES_WRITE)},
    {"GET", "/sites/{site}/mikrotik-stats", api_sites_stats, 0, OPERATOR(SITES_READ)},

    {"POST", "/site/{site}/job", api_jobs_create, BODY, OPERATOR(JOBS_WRITE)},
    {"GET", "/site/{site}/job", api_jobs_list, 0, OPERATOR(JOBS_READ)},
    {"GET", "/site/{site}/job/{job}", api_jobs_get, 0, OPERATOR(JOBS_READ)},
    {"GET", "/site/{site}/job/{job}/output", api_jobs_output, 0, OPERATOR(JOBS_READ)},
    {"DELETE", "/site/{site}/job/{job}", api_jobs_cancel, 0, OPERATOR(JOBS_WRITE)},
    /* the older plural paths */
    {"POST", "/sites/{site}/jobs", api_jobs_create, BODY, OPERATOR(JOBS_WRITE)},
    {"GET", "/sites/{site}/jobs", api_jobs_list, 0, OPERATOR(JOBS_READ)},
    {"GET", "/sites/{site}/jobs/{job}", api_jobs_get, 0, OPERATOR(JOBS_READ)},
    {"GET", "/sites/{site}/jobs/{job}/output", api_jobs_output, 0, OPERATOR(JOBS_READ)},
    {"DELETE", "/sites/{site}/jobs/{job}", api_jobs_cancel, 0, OPERATOR(JOBS_WRITE)},
    /* the JSON ("asynchronous") API */
    {"POST", "/api/asynchronous/{site}", api_jobs_create_json, BODY, OPERATOR(JOBS_WRITE)},
    {"GET", "/api/routers/{site}/jobs", api_jobs_list, 0, OPERATOR(JOBS_READ)},

    /* backups and logs */
    {"GET", "/backup/{site}", api_backups_list, 0, OPERATOR(BACKUPS_READ)},
    {"POST", "/backup/{site}", api_backups_request, 0, OPERATOR(JOBS_WRITE)},
    {"GET", "/backup/{site}/{filename}", api_backups_get, 0, OPERATOR(BACKUPS_READ)},
    {"GET", "/sites/{site}/backups/{from}/diff/{to}", api_backups_diff, 0, OPERATOR(BACKUPS_READ)},
    {"GET", "/logs", api_logs, 0, OPERATOR(JOBS_READ)},

    /* scheduled scripts (rollouts) and their templates; the older /scheduled paths */
    {"GET", "/scripts/scheduled", api_rollouts_list, 0, OPERATOR(SCRIPTS_READ)},
    {"POST", "/scripts/scheduled", api_rollouts_create, ROLLOUT_BODY, OPERATOR_BULK(SCRIPTS_WRITE)},
    {"GET", "/scripts/scheduled/{rollout}", api_rollouts_get, 0, OPERATOR(SCRIPTS_READ)},
    {"PUT", "/scripts/scheduled/{rollout}", api_rollouts_update, ROLLOUT_BODY,
     OPERATOR_BULK(SCRIPTS_WRITE)},
    {"DELETE", "/scripts/scheduled/{rollout}", api_rollouts_delete, 0, OPERATOR(SCRIPTS_WRITE)},
    {"GET", "/scripts/scheduled/{rollout}/authorize", api_rollouts_authorize, 0,
     OPERATOR(SCRIPTS_READ)},
    {"POST", "/scripts/scheduled/{rollout}/approve", api_rollouts_approve, 0,
     OPERATOR(SCRIPTS_APPROVE)},
    {"GET", "/scripts/scheduled/{rollout}/progress", api_rollouts_progress, 0,
     OPERATOR(SCRIPTS_READ)},
    {"POST", "/scripts/scheduled/{rollout}/pause", api_rollouts_pause, 0, OPERATOR(SCRIPTS_WRITE)},
    {"POST", "/scripts/scheduled/{rollout}/resume", api_rollouts_resume, 0,
     OPERATOR(SCRIPTS_WRITE)},
    {"POST", "/scripts/scheduled/{rollout}/abort", api_rollouts_abort, 0, OPERATOR(SCRIPTS_WRITE)},
    {"GET", "/scripts/scheduled/{rollout}/events", api_rollouts_events, 0, OPERATOR(SCRIPTS_READ)},
    /* the older paths */
    {"GET", "/scheduled", api_rollouts_list, 0, OPERATOR(SCRIPTS_READ)},
    {"POST", "/scheduled", api_rollouts_create, ROLLOUT_BODY, OPERATOR_BULK(SCRIPTS_WRITE)},
    {"GET", "/scheduled/{rollout}", api_rollouts_get, 0, OPERATOR(SCRIPTS_READ)},
    {"PUT", "/scheduled/{rollout}", api_rollouts_update, ROLLOUT_BODY,
     OPERATOR_BULK(SCRIPTS_WRITE)},
    {"DELETE", "/scheduled/{rollout}", api_rollouts_delete, 0, OPERATOR(SCRIPTS_WRITE)},
    {"GET", "/scheduled/{rollout}/authorize", api_rollouts_authorize, 0, OPERATOR(SCRIPTS_READ)},
    {"POST", "/scheduled/{rollout}/approve", api_rollouts_approve, 0, OPERATOR(SCRIPTS_APPROVE)},
    {"GET", "/scheduled/{rollout}/progress", api_rollouts_progress, 0, OPERATOR(SCRIPTS_READ)},
    {"POST", "/scheduled/{rollout}/pause", api_rollouts_pause, 0, OPERATOR(SCRIPTS_WRITE)},
    {"POST", "/scheduled/{rollout}/resume", api_rollouts_resume, 0, OPERATOR(SCRIPTS_WRITE)},
    {"POST", "/scheduled/{rollout}/abort", api_rollouts_abort, 0, OPERATOR(SCRIPTS_WRITE)},
    {"GET", "/scheduled/{rollout}/events", api_rollouts_events, 0, OPERATOR(SCRIPTS_READ)},
    {"POST", "/scripts/templates", api_templates_create, BODY, OPERATOR(SCRIPTS_WRITE)},
    {"GET", "/scripts/templates", api_templates_list, 0, OPERATOR(SCRIPTS_READ)},
    {"GET", "/scripts/templates/{template}", api_templates_get, 0, OPERATOR(SCRIPTS_READ)},
    {"PUT", "/scripts/templates/{template}", api_templates_update, BODY, OPERATOR(SCRIPTS_WRITE)},
    {"DELETE", "/scripts/templates/{template}", api_templates_delete, 0, OPERATOR(SCRIPTS_WRITE)},

    /* webhooks */
    {"POST", "/webhooks", api_webhooks_create, SMALL_BODY, OPERATOR(WEBHOOKS_WRITE)},
    {"GET", "/webhooks", api_webhooks_list, 0, OPERATOR(WEBHOOKS_READ)},
    {"POST", "/webhooks/notify-secret", api_webhooks_notify_secret, 0, OPERATOR(WEBHOOKS_WRITE)},
    {"POST", "/webhooks/deliveries/{delivery}/redeliver", api_webhooks_redeliver, 0,
     OPERATOR(WEBHOOKS_WRITE)},
    {"GET", "/webhooks/{webhook}", api_webhooks_get, 0, OPERATOR(WEBHOOKS_READ)},
    {"PATCH", "/webhooks/{webhook}", api_webhooks_update, SMALL_BODY, OPERATOR(WEBHOOKS_WRITE)},
    {"DELETE", "/webhooks/{webhook}", api_webhooks_delete, 0, OPERATOR(WEBHOOKS_WRITE)},
    {"POST", "/webhooks/{webhook}/rotate-secret", api_webhooks_rotate, 0, OPERATOR(WEBHOOKS_WRITE)},
    {"POST", "/webhooks/{webhook}/test", api_webhooks_test, 0, OPERATOR(WEBHOOKS_WRITE)},
    {"GET", "/webhooks/{webhook}/deliveries", api_webhooks_deliveries, 0, OPERATOR(WEBHOOKS_READ)},

    /* API keys */
    {"POST", "/teams/{team}/api-credentials", api_keys_create, SMALL_BODY, OPERATOR(KEYS_WRITE)},
    {"GET", "/teams/{team}/api-credentials", api_keys_list, 0, OPERATOR(KEYS_WRITE)},
    {"DELETE", "/teams/{team}/api-credentials/{key}", api_keys_delete, 0, OPERATOR(KEYS_WRITE)},

    /* the device API */
    {"POST", "/adopt/{token}", api_device_adopt, HB_BODY, ADOPTION},
    {"POST", "/poll", api_device_poll, HB_BODY, DEVICE},
    {"GET", "/job/{job}/update", api_device_report, 0, SIGNED_REPORT},
    {"POST", "/job/{job}/update", api_device_report, SMALL_BODY, SIGNED_REPORT},
    {"POST", "/backup/{site}/upload", api_device_backup, BODY, SIGNED_UPLOAD},
    {"POST", "/notify/delete", api_device_notify_delete, SMALL_BODY, DEVICE},
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];

const struct http_route api_metrics_routes[] = {
    {"GET", "/metrics", api_metrics, 0, PUBLIC},
    {"GET", "/healthz", api_healthz, 0, PUBLIC},
};

const size_t api_metrics_nroutes = sizeof api_metrics_routes / sizeof api_metrics_routes[0];

const char *api_caller_name(enum caller_kind k)
{
    static const char *const names[CALLER_KIND_COUNT_] = {
        [CALLER_UNSET] = "unset",
        [CALLER_PUBLIC] = "public",
        [CALLER_OPERATOR] = "operator",
        [CALLER_DEVICE] = "device token",
        [CALLER_ADOPTION] = "adoption token",
        [CALLER_SIGNED_REPORT] = "signed URL",
        [CALLER_SIGNED_UPLOAD] = "signed URL",
    };
    return k < CALLER_KIND_COUNT_ ? names[k] : "unset";
}
