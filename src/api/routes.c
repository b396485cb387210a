/* Every endpoint of jobplane in one table: method, path, handler, body limit
 * (bytes, capped by --max-body) and the operator scope it needs. */
#include "api/api.h"

#define BODY (64 * 1024)
#define SMALL_BODY (4 * 1024)

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, 0},
    {"GET", "/errors/{}", api_error_doc, 0, 0},

    {"POST", "/sites", api_sites_create, SMALL_BODY, JP_SCOPE_SITES_WRITE},
    {"GET", "/sites", api_sites_list, 0, JP_SCOPE_SITES_READ},
    {"GET", "/sites/{}", api_sites_get, 0, JP_SCOPE_SITES_READ},

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
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
