/* The operator client: `jobplane site|job|backup|webhook|key|rollout|template|config ...`.
 * It talks HTTP to a server like any user (libcurl), never to a database.
 *
 * Exit codes: 0 ok; 1 an API error (its code and message printed, a wrong
 * token too), a server that cannot be reached, or `job wait --timeout`
 * passing; 2 usage (a bad option, a script file that cannot be read or is
 * not UTF-8); 3 not found (404); 4 `job wait`: a job failed or was
 * cancelled. */
#ifndef JP_CLI_OP_H
#define JP_CLI_OP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum { OP_OK = 0, OP_API = 1, OP_USAGE = 2, OP_NOT_FOUND = 3, OP_JOB_FAILED = 4 };

struct op {
    char *url, *token; /* owned: the server's base URL (no trailing /), the credentials */
    const char *team;  /* --team, or NULL: from the token */
    bool json, quiet, utc;
    void *curl; /* one handle: connections are reused */
};

struct op_resp {
    long status;
    char *body; /* owned, NUL-terminated */
    size_t len;
    char *next; /* owned: the path of a Link rel="next", or NULL */
};
void op_resp_clear(struct op_resp *r);

/* One request: path is relative to the base URL ("/sites?limit=10"); body
 * NULL for none; headers a NULL-terminated list of "Name: value" or NULL.
 * 0 with the answer in r (any status); -1 after printing why the server
 * could not be reached. */
int op_request(struct op *o, const char *method, const char *path, const char *content_type,
               const char *body, size_t len, const char *const *headers, struct op_resp *r);
/* The exit code of an answer that is not the expected 2xx, after printing
 * the API's error (code and message), or the status and body. */
int op_fail(const struct op_resp *r);
/* GET path as JSON, expecting 200: 0 with *out, or an exit code. */
int op_get_json(struct op *o, const char *path, json_t **out);
/* A request with a JSON body (or none) expecting status want: 0 with the
 * answer's JSON in *out (NULL when it has no body), or an exit code. */
int op_call(struct op *o, const char *method, const char *path, const char *json_body, long want,
            json_t **out);
/* obj as compact JSON text for a request body (caller frees); takes obj over. */
char *op_dump(json_t *obj);
/* GET every page of a list (following Link rel="next"): one array. */
int op_get_all(struct op *o, const char *path, json_t **out);

/* A list of at most limit items (0: all) from an endpoint that pages by at
 * most page items: one page when limit <= page, else every page, cut. path
 * may hold a query already. */
int op_list(struct op *o, const char *path, long limit, long page, json_t **out);
/* A path segment percent-encoded into out; -1 when it does not fit. */
int op_escape(const char *s, char *out, size_t cap);

/* The whole of path ("-": standard input), at most max bytes of UTF-8
 * text, NUL-terminated (caller frees); NULL after printing why, prefixed by
 * who ("jobplane job create"). */
char *op_read_text(const char *who, const char *path, size_t max, size_t *len);
/* What a script file may hold (the server takes 10,000 characters). */
#define OP_SCRIPT_MAX (1 << 20)

/* ---- output ----------------------------------------------------------- */

/* An API time (RFC 3339) in local time, or UTC with --utc; "-" for null. */
void op_time(const struct op *o, const json_t *v, char *out, size_t cap);
/* A value for a table cell or a show line: strings as they are, times as
 * op_time (for keys ending in _at), null as "-". */
void op_cell(const struct op *o, const char *key, const json_t *v, char *out, size_t cap);
/* Prints rows of cells aligned in columns under a header: cols names, then
 * for each object of arr the values of keys (op_cell). */
void op_table(const struct op *o, json_t *arr, const char *const *cols, const char *const *keys,
              size_t ncols);
/* Prints an object as "key: value" lines, in its order. */
void op_show(const struct op *o, json_t *obj);
/* --json output: the API's value, indented, on stdout. */
void op_print_json(json_t *v);
/* An answer as the flags ask: --json the API's value, -q the id_key of the
 * object (of each object of a list), else op_show or op_table. */
void op_print_one(const struct op *o, json_t *obj, const char *id_key);
void op_print_list(const struct op *o, json_t *arr, const char *id_key, const char *const *cols,
                   const char *const *keys, size_t ncols);

/* The resources (op_sites.c, op_jobs.c, op_backups.c, op_teams.c). Each
 * takes the arguments after its verb (argv[0] is the verb). */
int op_site(struct op *o, int argc, char **argv);
int op_job(struct op *o, int argc, char **argv);
int op_backup(struct op *o, int argc, char **argv);
int op_webhook(struct op *o, int argc, char **argv);
int op_key(struct op *o, int argc, char **argv);
int op_rollout(struct op *o, int argc, char **argv);
int op_template(struct op *o, int argc, char **argv);

/* `jobplane RESOURCE VERB ...` (main.c): configuration, then the resource. */
int op_main(const char *res, int argc, char **argv);

/* ---- arguments -------------------------------------------------------- */

/* A verb's options beyond the common ones: getopt_long entries and their
 * help, parsed by op_parse. */
struct op_verb {
    const char *name, *args, *help; /* "ls", "SITE", one line */
    const char *opts;               /* the option names it takes, "description backup ..." */
};
/* The values of every option a verb may take. */
struct op_args {
    const char *description, *key, *status, *search, *version, *output, *serial, *name, *events,
        *scopes, *expires, *sites, *launch_at, *canary, *max_failures, *template_id;
    int backup, express, no_ack, online; /* online: -1 any, 0 offline, 1 online */
    int dry_run, expects_reboot, capture_output, backup_sensitive;
    int abort_if_offline;
    long limit, timeout, interval, wave_size, wave_percent, wave_interval,
        confirm_within; /* -1: not given */
    int pos;            /* the first positional argument after options */
    char **argv;        /* permuted: positionals from pos */
    int argc;
};
/* The verb argv[0] names among verbs (argv[0] the verb): its options parsed,
 * the common ones into o, the verb's into a, and its positionals counted
 * against its args ("SITE [FILE|-]": 1 or 2; "SITE JOB...": 2 or more). The
 * verb, or NULL with the exit code in *rc after printing (-1 after --help). */
const struct op_verb *op_begin(struct op *o, const char *res, const struct op_verb *verbs, size_t n,
                               int argc, char **argv, struct op_args *a, int *rc);
/* The team the credentials belong to: --team, else the JWT's "team" claim,
 * else an API key's middle part. NULL after printing why. */
const char *op_team(struct op *o, char *buf, size_t cap);

#endif
