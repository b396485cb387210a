/* jobplane job create|ls|get|cancel|log|wait */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli/op.h"
#include "core/text.h"

static const struct op_verb verbs[] = {
    {"create", "SITE [FILE|-]",
     "queue a script (from FILE, or standard input) for the site's router",
     "description key backup express no-ack dry-run expects-reboot capture-output"
     " confirm-within backup-sensitive"},
    {"ls", "SITE", "list the site's jobs, newest first", "status limit"},
    {"get", "SITE JOB", "one job", ""},
    {"cancel", "SITE JOB", "cancel a pending job", ""},
    {"log", "SITE JOB", "the job's events", ""},
    {"output", "SITE JOB", "what the job printed on the router (--capture-output)", ""},
    {"wait", "SITE JOB...", "wait until the jobs finish (exit 4 if one failed)",
     "timeout interval"},
};
#define NVERBS (sizeof verbs / sizeof *verbs)

static const char *const cols[] = {"ID", "STATUS", "CREATED", "DESCRIPTION"};
static const char *const keys[] = {"id", "status", "created_at", "description"};

static int job_path(const char *site, const char *job, char *out, size_t cap)
{
    char es[512], ej[512];
    if (op_escape(site, es, sizeof es) || (job && op_escape(job, ej, sizeof ej))) {
        fprintf(stderr, "jobplane: an id is too long\n");
        return -1;
    }
    snprintf(out, cap, "/site/%s/job%s%s", es, job ? "/" : "", job ? ej : "");
    return 0;
}

static void new_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != sizeof b) /* not secret: a key for retries */
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(rand() ^ (int)time(NULL));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int create(struct op *o, const struct op_args *a)
{
    const char *site = a->argv[a->pos];
    const char *file = a->argc - a->pos > 1 ? a->argv[a->pos + 1] : "-";
    if (!a->description) {
        fprintf(stderr, "jobplane job create: -d DESCRIPTION is required\n");
        return OP_USAGE;
    }
    if (!strcmp(file, "-") && a->argc - a->pos == 1 && isatty(0)) {
        fprintf(stderr, "jobplane job create: no script: give a FILE, or - and the script on"
                        " standard input\n");
        return OP_USAGE;
    }
    size_t len;
    char *script = op_read_text("jobplane job create", file, OP_SCRIPT_MAX, &len), path[1200];
    if (!script)
        return OP_USAGE;
    char key[37], hk[128], hd[400], hc[64] = "X-Confirm-Within: 0";
    if (a->key)
        snprintf(key, sizeof key, "%s", a->key);
    else
        new_uuid(key);
    snprintf(hk, sizeof hk, "X-Idempotency-Key: %s", key);
    snprintf(hd, sizeof hd, "X-Description: %s", a->description);
    snprintf(hc, sizeof hc, "X-Confirm-Within: %ld", a->confirm_within);
    const char *headers[] = {
        hk,
        hd,
        a->backup ? "X-Backup: true" : "X-Backup: false",
        a->express ? "X-Express-Execute: true" : "X-Express-Execute: false",
        a->no_ack ? "X-Needs-Ack: false" : "X-Needs-Ack: true",
        a->dry_run ? "X-Dry-Run: true" : "X-Dry-Run: false",
        a->expects_reboot ? "X-Expects-Reboot: true" : "X-Expects-Reboot: false",
        a->capture_output ? "X-Capture-Output: true" : "X-Capture-Output: false",
        a->backup_sensitive ? "X-Backup-Sensitive: true" : "X-Backup-Sensitive: false",
        a->confirm_within > 0 ? hc : NULL,
        NULL};
    struct op_resp r;
    int rc = OP_API;
    if (job_path(site, NULL, path, sizeof path)) {
        free(script);
        return OP_USAGE;
    }
    if (op_request(o, "POST", path, "text/plain; charset=utf-8", script, len, headers, &r) == 0) {
        json_t *j = r.status == 201 || r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        if (!j) {
            rc = op_fail(&r);
        } else {
            rc = OP_OK;
            if (o->json)
                op_print_json(j);
            else if (o->quiet)
                printf("%s\n", json_string_value(json_object_get(j, "id")));
            else
                printf("job %s %s for site %s (%s; idempotency key %s)\n",
                       json_string_value(json_object_get(j, "id")),
                       r.status == 201 ? "queued" : "already queued with this key", site,
                       json_string_value(json_object_get(j, "status")), key);
        }
        json_decref(j);
        op_resp_clear(&r);
    }
    free(script);
    return rc;
}

static bool finished(const char *status)
{
    return status && (!strcmp(status, "completed") || !strcmp(status, "failed") ||
                      !strcmp(status, "reverted"));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Follows the jobs until each is completed, failed, or gone (cancelled):
 * a progress line on a terminal, then one line per job. */
static int wait_jobs(struct op *o, const struct op_args *a)
{
    const char *site = a->argv[a->pos];
    size_t n = (size_t)(a->argc - a->pos - 1);
    json_t *last = json_array(); /* the latest answer of each job (null: gone) */
    char **status = calloc(n, sizeof *status);
    bool tty = isatty(2) && !o->quiet;
    double deadline = a->timeout ? now_s() + (double)a->timeout : 0;
    int rc = OP_OK;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(last, json_null());
    for (bool first = true;; first = false) {
        size_t done = 0, failed = 0;
        for (size_t i = 0; i < n && rc == OP_OK; i++) {
            if (finished(status[i]) || (status[i] && !strcmp(status[i], "cancelled"))) {
                done++;
                failed += strcmp(status[i], "completed") != 0;
                continue;
            }
            char path[1200];
            if (job_path(site, a->argv[a->pos + 1 + i], path, sizeof path)) {
                rc = OP_USAGE;
                break;
            }
            struct op_resp r;
            if (op_request(o, "GET", path, NULL, NULL, 0, NULL, &r)) {
                rc = OP_API;
                break;
            }
            json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
            if (r.status == 404 && !first) { /* it existed: cancelled since */
                free(status[i]);
                status[i] = strdup("cancelled");
            } else if (!j) {
                rc = op_fail(&r);
            } else {
                free(status[i]);
                status[i] = strdup(json_string_value(json_object_get(j, "status")));
                json_array_set(last, i, j);
            }
            json_decref(j);
            op_resp_clear(&r);
            if (rc == OP_OK && (finished(status[i]) || !strcmp(status[i], "cancelled"))) {
                done++;
                failed += strcmp(status[i], "completed") != 0;
            }
        }
        if (rc != OP_OK)
            break;
        if (tty)
            fprintf(stderr, "\r%zu of %zu finished (%zu completed, %zu failed or cancelled) ", done,
                    n, done - failed, failed);
        if (done == n) {
            rc = failed ? OP_JOB_FAILED : OP_OK;
            break;
        }
        if (deadline && now_s() >= deadline) {
            if (tty)
                fprintf(stderr, "\n");
            fprintf(stderr, "jobplane job wait: %zu of %zu jobs still unfinished after %ld s\n",
                    n - done, n, a->timeout);
            rc = OP_API;
            break;
        }
        struct timespec ts = {(time_t)a->interval, 0};
        nanosleep(&ts, NULL);
    }
    if (tty)
        fprintf(stderr, "\n");
    if (rc == OP_OK || rc == OP_JOB_FAILED || rc == OP_API) {
        if (o->json)
            op_print_json(last);
        else if (!o->quiet)
            for (size_t i = 0; i < n; i++)
                if (status[i])
                    printf("%s %s\n", a->argv[a->pos + 1 + i], status[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(status[i]);
    free(status);
    json_decref(last);
    return rc;
}

static int show_log(struct op *o, const char *path)
{
    json_t *j = NULL, *events = NULL;
    int rc = op_get_json(o, path, &j);
    const char *log = json_string_value(json_object_get(j, "log_url"));
    if (rc == OP_OK && log) {
        char lp[2048];
        snprintf(lp, sizeof lp, "/%s", log);
        rc = op_get_json(o, lp, &events);
    }
    if (rc == OP_OK) {
        if (o->json)
            op_print_json(events);
        else
            for (size_t i = 0; i < json_array_size(events); i++) {
                json_t *e = json_array_get(events, i);
                char t[64];
                op_time(o, json_object_get(e, "timestamp"), t, sizeof t);
                printf("%s  %s\n", t, json_string_value(json_object_get(e, "message")));
            }
    }
    json_decref(j);
    json_decref(events);
    return rc;
}

int op_job(struct op *o, int argc, char **argv)
{
    int rc = OP_OK;
    struct op_args a;
    const struct op_verb *v = op_begin(o, "job", verbs, NVERBS, argc, argv, &a, &rc);
    if (!v)
        return rc;
    const char *name = v->name;
    if (!strcmp(name, "create"))
        return create(o, &a);
    if (!strcmp(name, "wait"))
        return wait_jobs(o, &a);
    char path[1200];
    if (job_path(a.argv[a.pos], !strcmp(name, "ls") ? NULL : a.argv[a.pos + 1], path, sizeof path))
        return OP_USAGE;
    if (!strcmp(name, "log"))
        return show_log(o, path);
    if (!strcmp(name, "output")) { /* the text as it is, to standard output */
        struct op_resp r;
        snprintf(path + strlen(path), sizeof path - strlen(path), "/output");
        if (op_request(o, "GET", path, NULL, NULL, 0, NULL, &r))
            return OP_API;
        rc = r.status == 200 ? OP_OK : op_fail(&r);
        if (rc == OP_OK)
            fwrite(r.body, 1, r.len, stdout);
        op_resp_clear(&r);
        return rc;
    }
    json_t *j = NULL;
    if (!strcmp(name, "ls")) {
        char q[1400], enc[128];
        snprintf(q, sizeof q, "%s", path);
        if (a.status && !op_escape(a.status, enc, sizeof enc))
            snprintf(q + strlen(q), sizeof q - strlen(q), "?status=%s", enc);
        if ((rc = op_list(o, q, a.limit, 1000, &j)) == OP_OK)
            op_print_list(o, j, "id", cols, keys, sizeof cols / sizeof *cols);
    } else if (!strcmp(name, "get")) {
        if ((rc = op_get_json(o, path, &j)) == OP_OK)
            op_print_one(o, j, "id");
    } else { /* cancel */
        if ((rc = op_call(o, "DELETE", path, NULL, 204, &j)) == OP_OK && !o->json && !o->quiet)
            printf("job %s cancelled\n", a.argv[a.pos + 1]);
    }
    json_decref(j);
    return rc;
}
