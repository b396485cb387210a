/* RouterOS text: string escaping, heartbeat bodies, durations, versions, and
 * the scripts jobplane sends to routers (bootstrap line, adoption answer with
 * the poll script, job wrapper, idle answer, teardown). docs/routeros.md
 * explains every line that runs on the router. Pure functions: no I/O. */
#ifndef JP_CORE_ROUTEROS_H
#define JP_CORE_ROUTEROS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"

/* Appends s[0..n) as a RouterOS string literal with its quotes: " \ $ ? and
 * control characters escaped (? as \3F, valid on v6 and v7); bytes >= 0x80
 * stay raw. */
void ros_quote(struct sbuf *b, const char *s, size_t n);

/* Decodes the literal that starts at *s (a '"'). Returns a malloc'ed string
 * (its length in *len) and moves *s past the closing quote; NULL when the
 * literal is malformed. The inverse of ros_quote. */
char *ros_unquote(const char **s, size_t *len);

/* The decoded value of the first `:local NAME "..."` in script (malloc'ed),
 * or NULL. How a reader of our scripts (the simulator, the tests) finds a
 * wrapper's URLs and payload. */
char *ros_find_local(const char *script, const char *name);

/* Seconds in a RouterOS duration: 1w2d3h4m5s, 1w2d03:04:05, 00:06:48.5.
 * -1 when empty or malformed. */
int64_t ros_duration(const char *s);

/* A version such as "7.12.1 (stable)" as major*10000 + minor*100 + patch;
 * 0 when unknown. */
int ros_version(const char *s);

#define ROS_V_IDLE_TIMEOUT 71500 /* fetch idle-timeout= exists (held polls) */
#define ROS_V_FILE_READ 71300    /* /file read exists (chunked backup upload) */
#define ROS_V_ONERROR 71300      /* :onerror exists (the message of an error) */

#define HB_MAX_KEYS 64
#define HB_MAX_BYTES 8192

/* Facts from a heartbeat body. Strings point into the parsed body; NULL when
 * absent. Numbers are -1 when absent or malformed. */
struct heartbeat {
    const char *name, *version, *serial_number, *model, *board_name, *architecture_name;
    const char *script_rev;   /* jobplane-script: the installed poll script's revision */
    const char *reboot_token; /* jobplane-reboot: the job whose restart the router reports */
    const char *armed_token;  /* jobplane-armed: the job whose revert waits for its confirmation */
    const char *reverted_token; /* jobplane-reverted: the job the router reverted */
    int64_t uptime, cpu_load, free_memory, free_hdd;
    unsigned nkeys;
};

enum hb_result { HB_OK = 0, HB_TOO_MANY_KEYS, HB_TOO_LARGE };

/* Parses "key=value;key=value" in place (body[n] must be writable). Values
 * may be empty or hold spaces, '/', ':' and '='; a segment that does not start
 * with a known key continues the previous value (an identity with ';').
 * Bytes that are not valid UTF-8 and control characters become '?'. */
enum hb_result hb_parse(char *body, size_t n, struct heartbeat *hb);

/* Every answer ends with this line; the poll script runs an answer only when
 * it ends with it (a truncated fetch is never run). */
#define ROS_END_MARK "#jobplane-end"

/* The file on the router that holds its device token (in flash/ where the
 * device has it). The poll script reads it at every run, so the token is in
 * no script source, and /export, which writes every script's source, never
 * writes it out. */
#define ROS_TOKEN_FILE "jobplane-token.txt"

/* The poll script's name, and its scheduler's: distinct, so that the
 * overlap guard, which counts `/system script job` entries of the script,
 * counts runs of the script and nothing else. */
#define ROS_SCRIPT "jobplane-poll"
#define ROS_SCHEDULER "jobplane-schedule"
/* The file where the job wrapper remembers the jobs it ran (at most once on
 * the router too), next to the token file. */
#define ROS_RAN_FILE "jobplane-jobs.txt"
#define ROS_RAN_KEEP 200 /* entries kept: TOKEN=S\n, 13 bytes each */
/* The file where a job that expects a reboot leaves its token for the poll
 * script's first heartbeat after the restart. */
#define ROS_REBOOT_FILE "jobplane-reboot.txt"

/* Confirm-or-revert: the scheduler that restores the configuration saved
 * before the job (the binary backup ROS_REVERT_NAME.backup) unless the
 * server disarms it first, and the file that names the job (TOKEN=r while
 * the payload runs, TOKEN=w once it waits for the confirmation). The poll
 * script reports the job as armed (file and scheduler) or reverted (the
 * file survived a restore that took the scheduler with it). */
#define ROS_REVERT_NAME "jobplane-revert"
#define ROS_REVERT_FILE "jobplane-revert.txt"

#define ROS_REV_LEN 12 /* hex digits of a poll script's revision */

struct ros_poll_params {
    const char *base_url;     /* http(s)://host[:port], no trailing slash */
    const char *device_token; /* base62, no comma: the token file's contents */
    const char *site_id;
    unsigned interval; /* seconds between polls */
    unsigned wait;     /* held-poll seconds (0: none); used by routers whose fetch has
                          idle-timeout (7.15+), which they find out themselves */
};

/* Pinning the server's CA at adoption: the SHA-256 of its DER form (64 lower
 * hex digits) and where the bootstrap fetches its PEM. */
struct ros_ca_pin {
    const char *fingerprint;
    const char *url;
};

struct ros_job_params {
    const char *base_url;
    const char *job_id, *token, *site_id;
    const char *payload;
    const char *sig_busy, *sig_done, *sig_fail, *sig_backup;
    int64_t expires;
    int64_t delivery; /* when this delivery began: the reports name it (0: they do not) */
    long remaining;   /* jobs still pending after this one */
    bool should_backup, dry_run, expects_reboot, capture_output;
    bool backup_sensitive; /* the export shows what it hides by default */
    long confirm_within;   /* seconds until the router reverts unless confirmed (0: no revert) */
    long output_max;       /* with capture_output: the output is cut past this many bytes */
    int version;
};

/* The revision of the poll script p renders: the first ROS_REV_LEN hex
 * digits of the SHA-256 of the script (with the base URL left out, so that
 * nodes of one fleet reached at different addresses agree) and the
 * scheduler's interval. The script sends it in every heartbeat; the server
 * replaces a script whose revision is not the one it renders. */
void ros_poll_revision(const struct ros_poll_params *p, char out[ROS_REV_LEN + 1]);

/* All return malloc'ed text (caller frees), NULL on allocation failure.
 * ca: NULL, or the CA the bootstrap makes the router trust first. */
char *ros_render_bootstrap(const char *base_url, const char *adoption_token,
                           const struct ros_ca_pin *ca);
char *ros_render_poll_script(const struct ros_poll_params *p);
char *ros_render_adoption(const struct ros_poll_params *p);
/* The answer that replaces an installed poll script (and its scheduler). */
char *ros_render_update(const struct ros_poll_params *p);
char *ros_render_wrapper(const struct ros_job_params *p);
/* The poll answer that disarms a job's revert (the router reached the
 * server after the job); with confirm, it then reports the job done. */
char *ros_render_disarm(const struct ros_job_params *p, bool confirm);
char *ros_render_idle(void);
char *ros_render_teardown(const char *base_url, const char *device_token, const char *site_id);

#endif
