#include "core/error.h"

static const struct jp_err_info table[JP_ERR_COUNT_] = {
    [JP_OK] = {200, "", "", ""},
    [JP_ERR_PARAMETER_MISSING] = {400, "invalid_request_error", "parameter_missing",
                                  "A required parameter is missing."},
    [JP_ERR_REQUEST_MALFORMED] = {400, "invalid_request_error", "request_malformed",
                                  "The request's framing or headers are ambiguous."},
    [JP_ERR_UNAUTHENTICATED] = {401, "authentication_error", "unauthenticated",
                                "Missing, malformed, expired or wrongly signed credentials."},
    [JP_ERR_FORBIDDEN] = {403, "permission_error", "forbidden",
                          "These credentials lack the scope this request needs."},
    [JP_ERR_RESOURCE_MISSING] = {404, "invalid_request_error", "resource_missing",
                                 "No such resource."},
    [JP_ERR_METHOD_NOT_ALLOWED] = {405, "invalid_request_error", "method_not_allowed",
                                   "This method is not allowed on this resource."},
    [JP_ERR_JOB_ALREADY_STARTED] = {409, "invalid_request_error", "job_already_started",
                                    "Cannot delete a job that has already started."},
    [JP_ERR_IDEMPOTENCY_KEY_REUSED] = {409, "invalid_request_error", "idempotency_key_reused",
                                       "This idempotency key was used with a different request."},
    [JP_ERR_INVALID_STATE] = {409, "invalid_request_error", "invalid_state",
                              "The scheduled script's status does not allow this."},
    [JP_ERR_PAYLOAD_TOO_LARGE] = {413, "invalid_request_error", "payload_too_large",
                                  "The request body is too large."},
    [JP_ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "invalid_request_error", "unsupported_media_type",
                                       "Unsupported Content-Type."},
    [JP_ERR_PARAMETER_INVALID] = {422, "invalid_request_error", "parameter_invalid",
                                  "A parameter is invalid."},
    [JP_ERR_RATE_LIMITED] = {429, "rate_limit_error", "rate_limited", "Too many requests."},
    [JP_ERR_INTERNAL] = {500, "api_error", "internal_error",
                         "An internal server error occurred. Please try again later."},
    [JP_ERR_OVERLOADED] = {503, "api_error", "overloaded",
                           "The server is at its connection or held-poll limit. Retry later."},
    [JP_ERR_STORE_UNAVAILABLE] = {503, "api_error", "store_unavailable",
                                  "The job store is unavailable. Please try again later."},
};

const struct jp_err_info *jp_err_info(enum jp_err err)
{
    if ((int)err <= 0 || err >= JP_ERR_COUNT_)
        return &table[JP_ERR_INTERNAL];
    return &table[err];
}
