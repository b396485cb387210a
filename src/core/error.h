/* The one table of errors: every failure that reaches a client is one of these
 * values, and error.c maps each to its HTTP status, type and code exactly once. */
#ifndef JP_CORE_ERROR_H
#define JP_CORE_ERROR_H

enum jp_err {
    JP_OK = 0,
    JP_ERR_PARAMETER_MISSING,
    JP_ERR_UNAUTHENTICATED,
    JP_ERR_FORBIDDEN,
    JP_ERR_RESOURCE_MISSING,
    JP_ERR_METHOD_NOT_ALLOWED,
    JP_ERR_JOB_ALREADY_STARTED,
    JP_ERR_IDEMPOTENCY_KEY_REUSED,
    JP_ERR_PAYLOAD_TOO_LARGE,
    JP_ERR_UNSUPPORTED_MEDIA_TYPE,
    JP_ERR_PARAMETER_INVALID,
    JP_ERR_RATE_LIMITED,
    JP_ERR_INTERNAL,
    JP_ERR_STORE_UNAVAILABLE,
    JP_ERR_OVERLOADED,
    JP_ERR_REQUEST_MALFORMED,
    JP_ERR_INVALID_STATE,
    JP_ERR_COUNT_
};

struct jp_err_info {
    int status;          /* HTTP status */
    const char *type;    /* error "type" field */
    const char *code;    /* error "code" field, also the doc_url leaf */
    const char *message; /* default message when the caller has no better one */
};

/* Never NULL; unknown values map to internal_error. */
const struct jp_err_info *jp_err_info(enum jp_err err);

#endif
