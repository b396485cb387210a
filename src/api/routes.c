/* Every endpoint of jobplane in one table: method, path, handler, body limit
 * (bytes, capped by --max-body) and the operator scope it needs. */
#include "api/api.h"

#define BODY (64 * 1024)
#define SMALL_BODY (4 * 1024)
#define HB_BODY 8192 /* core/routeros.h HB_MAX_BYTES */

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, 0},
    {"GET", "/errors/{}", api_error_doc, 0, 0},

    {"POST", "/sites", api_sites_create, SMALL_BODY, JP_SCOPE_SITES_WRITE},
    {"GET", "/sites", api_sites_list, 0, JP_SCOPE_SITES_READ},
    {"GET", "/sites/{}", api_sites_get, 0, JP_SCOPE_SITES_READ},
    {"DELETE", "/sites/{}", api_sites_delete, 0, JP_SCOPE_SITES_WRITE},
    {"POST", "/sites/{}/device-token", api_sites_rotate, 0, JP_SCOPE_SITES_WRITE},
    {"GET", "/sites/{}/mikrotik-stats", api_sites_stats, 0, JP_SCOPE_SITES_READ},

    {"POST", "/site/{}/job", api_jobs_create, BODY, JP_SCOPE_JOBS_WRITE},
    {"GET", "/site/{}/job", api_jobs_list, 0, JP_SCOPE_JOBS_READ},
    {"GET", "/site/{}/job/{}", api_jobs_get, 0, JP_SCOPE_JOBS_READ},
    {"DELETE", "/site/{}/job/{}", api_jobs_cancel, 0, JP_SCOPE_JOBS_WRITE},
    /* the older plural paths */
    {"POST", "/sites/{}/jobs", api_jobs_create, BODY, JP_SCOPE_JOBS_WRITE},
    {"GET", "/sites/{}/jobs", api_jobs_list, 0, JP_SCOPE_JOBS_READ},
    {"GET", "/sites/{}/jobs/{}", api_jobs_get, 0, JP_SCOPE_JOBS_READ},
    {"DELETE", "/sites/{}/jobs/{}", api_jobs_cancel, 0, JP_SCOPE_JOBS_WRITE},
    /* the JSON ("asynchronous") API */
    {"POST", "/api/asynchronous/{}", api_jobs_create_json, BODY, JP_SCOPE_JOBS_WRITE},
    {"GET", "/api/routers/{}/jobs", api_jobs_list, 0, JP_SCOPE_JOBS_READ},

    /* backups and logs */
    {"GET", "/backup/{}", api_backups_list, 0, JP_SCOPE_BACKUPS_READ},
    {"POST", "/backup/{}", api_backups_request, 0, JP_SCOPE_JOBS_WRITE},
    {"GET", "/backup/{}/{}", api_backups_get, 0, JP_SCOPE_BACKUPS_READ},
    {"GET", "/sites/{}/backups/{}/diff/{}", api_backups_diff, 0, JP_SCOPE_BACKUPS_READ},
    {"GET", "/logs", api_logs, 0, JP_SCOPE_JOBS_READ},

    /* the device API: device tokens and signed URLs, no operator scope */
    {"POST", "/adopt/{}", api_device_adopt, HB_BODY, 0},
    {"POST", "/poll", api_device_poll, HB_BODY, 0},
    {"GET", "/job/{}/update", api_device_report, 0, 0},
    {"POST", "/job/{}/update", api_device_report, SMALL_BODY, 0},
    {"POST", "/backup/{}/upload", api_device_backup, BODY, 0},
    {"POST", "/notify/delete", api_device_notify_delete, SMALL_BODY, 0},
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
