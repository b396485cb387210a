#include "core/jobreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/text.h"
#include "core/webhook.h"

static enum jp_err fail(enum jp_err e, char *msg, size_t msglen, const char *text)
{
    snprintf(msg, msglen, "%s", text);
    return e;
}

static enum jp_err check_key(const char *key, struct job_fields *out, char *msg, size_t msglen)
{
    out->idempotency_key[0] = '\0';
    if (!key || !*key)
        return JP_OK;
    if (uuid_parse(key, out->idempotency_key))
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen, "X-Idempotency-Key must be a UUID.");
    return JP_OK;
}

static enum jp_err check_description(const char *d, size_t n, char *msg, size_t msglen)
{
    long chars = utf8_length(d, n);
    if (chars < 0)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "The description must be UTF-8 without NUL characters.");
    if (chars < JP_DESCRIPTION_MIN_CHARS || chars > JP_DESCRIPTION_MAX_CHARS)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "The description must be 3 to 100 characters long.");
    return JP_OK;
}

static enum jp_err check_script(const char *s, size_t n, char *msg, size_t msglen)
{
    long chars = utf8_length(s, n);
    if (chars < 0)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "The script must be UTF-8 text without NUL characters.");
    if (chars == 0)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen, "The script is empty.");
    if (chars > JP_SCRIPT_MAX_CHARS)
        return fail(JP_ERR_PAYLOAD_TOO_LARGE, msg, msglen,
                    "The script must be at most 10000 characters long.");
    return JP_OK;
}

static enum jp_err header_flag(const char *name, const char *v, bool def, bool *out, char *msg,
                               size_t msglen)
{
    if (!v) {
        *out = def;
        return JP_OK;
    }
    int b = parse_bool(v);
    if (b < 0) {
        snprintf(msg, msglen, "The %s header must be true, false, 1 or 0.", name);
        return JP_ERR_PARAMETER_INVALID;
    }
    *out = b;
    return JP_OK;
}

enum jp_err jobreq_from_headers(const char *key, const char *description, const char *needs_ack,
                                const char *backup, const char *express, const char *body,
                                size_t len, struct job_fields *out, char *msg, size_t msglen)
{
    enum jp_err e;
    memset(out, 0, sizeof *out);
    if (!key || !*key)
        return fail(JP_ERR_PARAMETER_MISSING, msg, msglen,
                    "The X-Idempotency-Key header is required.");
    if ((e = check_key(key, out, msg, msglen)))
        return e;
    if (!description || !*description)
        return fail(JP_ERR_PARAMETER_MISSING, msg, msglen, "The X-Description header is required.");
    if ((e = check_description(description, strlen(description), msg, msglen)) ||
        (e = header_flag("X-Needs-Ack", needs_ack, true, &out->needs_acknowledgement, msg,
                         msglen)) ||
        (e = header_flag("X-Backup", backup, false, &out->should_backup, msg, msglen)) ||
        (e = header_flag("X-Express-Execute", express, false, &out->express_execute, msg, msglen)))
        return e;
    if (!body || !len)
        return fail(JP_ERR_PARAMETER_MISSING, msg, msglen,
                    "The request body (the RouterOS script) is required.");
    if ((e = check_script(body, len, msg, msglen)))
        return e;
    out->description = description;
    out->script = body;
    return JP_OK;
}

/* The rules of the router-side options, for both forms; ack_explicit: the
 * request said needs_acknowledgement itself. */
static enum jp_err check_options(struct job_fields *f, bool ack_explicit, char *msg, size_t msglen)
{
    if (f->dry_run &&
        (f->should_backup || f->expects_reboot || f->capture_output || f->confirm_within))
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "A dry run runs nothing: it takes no backup, expects no reboot, prints"
                    " nothing and waits for no confirmation.");
    if (f->expects_reboot && f->capture_output)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "A job that restarts the router cannot upload what it printed.");
    if (f->confirm_within && (f->expects_reboot || f->capture_output))
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "A job that waits for a confirmation can neither expect a reboot nor"
                    " upload what it printed.");
    if (f->backup_sensitive && !f->should_backup)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "A sensitive backup is a backup: it needs X-Backup (make_backup) too.");
    bool reports = f->dry_run || f->expects_reboot || f->capture_output || f->confirm_within;
    if (reports && ack_explicit && !f->needs_acknowledgement)
        return fail(JP_ERR_PARAMETER_INVALID, msg, msglen,
                    "A dry run, a job that expects a reboot, one whose output is captured or one"
                    " that waits for a confirmation reports its outcome: it needs an"
                    " acknowledgement.");
    if (reports)
        f->needs_acknowledgement = true;
    return JP_OK;
}

static enum jp_err confirm_range(long v, char *msg, size_t msglen, const char *name)
{
    if (v < JOB_CONFIRM_MIN || v > JOB_CONFIRM_MAX) {
        snprintf(msg, msglen, "%s must be %d to %d seconds.", name, JOB_CONFIRM_MIN,
                 JOB_CONFIRM_MAX);
        return JP_ERR_PARAMETER_INVALID;
    }
    return JP_OK;
}

enum jp_err jobreq_options(const struct job_option_headers *h, struct job_fields *out, char *msg,
                           size_t msglen)
{
    enum jp_err e;
    if ((e = header_flag("X-Dry-Run", h->dry_run, false, &out->dry_run, msg, msglen)) ||
        (e = header_flag("X-Expects-Reboot", h->expects_reboot, false, &out->expects_reboot, msg,
                         msglen)) ||
        (e = header_flag("X-Capture-Output", h->capture_output, false, &out->capture_output, msg,
                         msglen)) ||
        (e = header_flag("X-Backup-Sensitive", h->backup_sensitive, false, &out->backup_sensitive,
                         msg, msglen)))
        return e;
    out->confirm_within = 0;
    if (h->confirm_within) {
        const char *v = h->confirm_within;
        if (!*v || strlen(v) > 5 || strspn(v, "0123456789") != strlen(v))
            return confirm_range(-1, msg, msglen, "X-Confirm-Within");
        out->confirm_within = strtol(v, NULL, 10);
        if ((e = confirm_range(out->confirm_within, msg, msglen, "X-Confirm-Within")))
            return e;
    }
    return check_options(out, h->needs_ack != NULL, msg, msglen);
}

/* A string field of obj; NULL (with the error set) when absent or not one. */
static const char *json_text(json_t *obj, const char *name, enum jp_err *e, char *msg,
                             size_t msglen)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        snprintf(msg, msglen, "The '%s' parameter is required for this request.", name);
        *e = JP_ERR_PARAMETER_MISSING;
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(msg, msglen, "The '%s' parameter must be a string.", name);
        *e = JP_ERR_PARAMETER_INVALID;
        return NULL;
    }
    return json_string_value(v);
}

static enum jp_err json_flag(json_t *obj, const char *name, bool def, bool *out, char *msg,
                             size_t msglen)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        *out = def;
        return JP_OK;
    }
    if (!json_is_boolean(v)) {
        snprintf(msg, msglen, "The '%s' parameter must be a boolean.", name);
        return JP_ERR_PARAMETER_INVALID;
    }
    *out = json_is_true(v);
    return JP_OK;
}

static enum jp_err json_confirm(json_t *obj, long *out, char *msg, size_t msglen)
{
    json_t *v = json_object_get(obj, "confirm_within");
    *out = 0;
    if (!v || json_is_null(v))
        return JP_OK;
    if (!json_is_integer(v))
        return confirm_range(-1, msg, msglen, "confirm_within");
    json_int_t n = json_integer_value(v);
    *out = n < 0 || n > JOB_CONFIRM_MAX ? -1 : (long)n;
    return confirm_range(*out, msg, msglen, "confirm_within");
}

static enum jp_err check_notify_url(json_t *obj, const char **out, char *msg, size_t msglen)
{
    json_t *v = json_object_get(obj, "notify_url");
    *out = NULL;
    if (!v || json_is_null(v))
        return JP_OK;
    const char *u = json_is_string(v) ? json_string_value(v) : NULL;
    const char *why = u ? whk_url_check(u, json_string_length(v)) : "It must be a string.";
    if (why) {
        snprintf(msg, msglen, "notify_url: %s", why);
        return JP_ERR_PARAMETER_INVALID;
    }
    *out = u;
    return JP_OK;
}

enum jp_err jobreq_from_json(const char *body, size_t len, const char *key, json_t **doc,
                             struct job_fields *out, char *msg, size_t msglen)
{
    enum jp_err e = JP_OK;
    memset(out, 0, sizeof *out);
    *doc = NULL;
    if (!body || !len)
        return fail(JP_ERR_PARAMETER_MISSING, msg, msglen, "A JSON request body is required.");
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(msg, msglen, "The request body is not valid JSON: %s (line %d).", je.text,
                 je.line);
        return JP_ERR_PARAMETER_INVALID;
    }
    if (!json_is_object(j)) {
        e = fail(JP_ERR_PARAMETER_INVALID, msg, msglen, "The request body must be a JSON object.");
        goto out;
    }
    const char *d = json_text(j, "description", &e, msg, msglen);
    if (!d || (e = check_description(d, json_string_length(json_object_get(j, "description")), msg,
                                     msglen)))
        goto out;
    const char *s = json_text(j, "script", &e, msg, msglen);
    if (!s || (e = check_script(s, json_string_length(json_object_get(j, "script")), msg, msglen)))
        goto out;
    if ((e = json_flag(j, "make_backup", false, &out->should_backup, msg, msglen)) ||
        (e = json_flag(j, "express_execute", false, &out->express_execute, msg, msglen)) ||
        (e = json_flag(j, "needs_acknowledgement", false, &out->needs_acknowledgement, msg,
                       msglen)) ||
        (e = json_flag(j, "dry_run", false, &out->dry_run, msg, msglen)) ||
        (e = json_flag(j, "expects_reboot", false, &out->expects_reboot, msg, msglen)) ||
        (e = json_flag(j, "capture_output", false, &out->capture_output, msg, msglen)) ||
        (e = json_flag(j, "backup_sensitive", false, &out->backup_sensitive, msg, msglen)) ||
        (e = json_confirm(j, &out->confirm_within, msg, msglen)) ||
        (e = check_options(out, json_is_boolean(json_object_get(j, "needs_acknowledgement")), msg,
                           msglen)) ||
        (e = check_notify_url(j, &out->notify_url, msg, msglen)) ||
        (e = check_key(key, out, msg, msglen)))
        goto out;
    out->description = d;
    out->script = s;
    *doc = j;
    return JP_OK;
out:
    json_decref(j);
    memset(out, 0, sizeof *out);
    return e;
}
