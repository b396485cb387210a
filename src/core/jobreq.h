/* What makes a job request valid, for both create forms: the header form
 * (script as body, metadata in headers) and the JSON form. Pure functions:
 * the handlers feed them what arrived and answer with what they return. */
#ifndef JP_CORE_JOBREQ_H
#define JP_CORE_JOBREQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/ids.h"

struct job_fields {
    const char *description, *script, *notify_url; /* borrowed; notify_url may be NULL */
    bool should_backup, express_execute, needs_acknowledgement, dry_run, expects_reboot,
        capture_output, backup_sensitive;
    long confirm_within;                   /* seconds, JOB_CONFIRM_MIN..JOB_CONFIRM_MAX (0: none) */
    char idempotency_key[JP_UUID_LEN + 1]; /* canonical; "" when none was given */
};

/* The header form. Each header value is NULL when absent; body[0..len) is the
 * script and must stay alive while out is used. Returns JP_OK or the error,
 * with a message in msg. */
enum jp_err jobreq_from_headers(const char *key, const char *description, const char *needs_ack,
                                const char *backup, const char *express, const char *body,
                                size_t len, struct job_fields *out, char *msg, size_t msglen);

#define JOB_CONFIRM_MIN 30
#define JOB_CONFIRM_MAX 3600

/* The router-side options of the header form (each NULL when absent). */
struct job_option_headers {
    const char *dry_run, *expects_reboot, *capture_output, *confirm_within, *backup_sensitive;
    const char *needs_ack; /* X-Needs-Ack, to tell whether it was given */
};

/* The router-side options of the header form, after jobreq_from_headers:
 * X-Dry-Run, X-Expects-Reboot, X-Capture-Output, X-Confirm-Within and
 * X-Backup-Sensitive. A dry run runs nothing, so it takes no backup, expects
 * no reboot, prints nothing and waits for no confirmation; every one of them
 * reports an outcome, so none goes with X-Needs-Ack: false. */
enum jp_err jobreq_options(const struct job_option_headers *h, struct job_fields *out, char *msg,
                           size_t msglen);

/* The JSON form {description, script, make_backup?, express_execute?,
 * needs_acknowledgement?, notify_url?, dry_run?, expects_reboot?, capture_output?,
 * confirm_within?, backup_sensitive?}
 * (needs_acknowledgement defaults to false here, and to true with dry_run or
 * expects_reboot). key is the optional X-Idempotency-Key. On JP_OK *doc owns the
 * strings of out (json_decref it); on an error *doc is NULL. */
enum jp_err jobreq_from_json(const char *body, size_t len, const char *key, json_t **doc,
                             struct job_fields *out, char *msg, size_t msglen);

#endif
