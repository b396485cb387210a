#include "api/serve.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/deliver.h"
#include "api/scheduler.h"
#include "core/seal.h"
#include "lib/log.h"
#include "lib/opts.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: jobplane serve [options]\n"
        "  --config FILE           read options from FILE first, one 'key = value' per line\n"
        "                          (the option's name; 'key = true' for one without a value;\n"
        "                          '#' comments); the command line's come after\n"
        "  --listen HOST:PORT      address to listen on (default 127.0.0.1:8080; [::1]:8080"
        " for IPv6; port 0 picks a free one)\n"
        "  --db PATH|URL           SQLite database file (default ./jobplane.db), or\n"
        "                          postgres://user@host:port/db for PostgreSQL\n"
        "  --db-pool N             read connections to the database (default: threads, at\n"
        "                          most 64)\n"
        "  --db-writers N          PostgreSQL: write connections, each committing its own\n"
        "                          batches (default 4; SQLite always has one)\n"
        "  --secret S              operator JWT secret (or JOBPLANE_SECRET, or --secret-file)\n"
        "  --secret-file PATH      read the secret from a file\n"
        "  --base-url URL          public base URL, used in error doc_url (default"
        " http://HOST:PORT)\n"
        "  --threads N             HTTP worker threads (default 16)\n"
        "  --max-connections N     concurrent connections; beyond, requests answer 503 with\n"
        "                          Retry-After (default 4096)\n"
        "  --idle-timeout S        close idle connections after S seconds (default 30)\n"
        "  --max-body BYTES        largest request body (default 65536)\n"
        "  --poll-interval S       router poll interval (scheduler and has_pulse; default"
        " 30)\n"
        "  --poll-wait S           held-poll seconds of the poll script, used by RouterOS"
        " 7.15+ (0-60, default 20)\n"
        "  --run-timeout S         a delivered job without a final report fails after S"
        " seconds (default 600)\n"
        "  --url-ttl S             lifetime of signed report and backup URLs (default:"
        " run timeout + 3600)\n"
        "  --output-max BYTES      what a job's output may hold (X-Capture-Output; 1024 to\n"
        "                          1048576, default 65536): the router cuts it there\n"
        "  --jwt-issuer ISS        require this iss claim\n"
        "  --jwt-audience AUD      require this aud claim\n"
        "  --jwt-leeway S          tolerated clock skew for exp/nbf (default 0)\n"
        "  --jwt-public-key FILE   verify RS256/ES256 tokens with this PEM public key or\n"
        "                          certificate (repeatable; re-read on SIGHUP)\n"
        "  --jwks FILE             verify RS256/ES256 tokens with the keys of this JWKS\n"
        "                          document, chosen by kid (re-read on SIGHUP)\n"
        "  --api-key-rate-limit N  requests per minute per API key; beyond: 429 with\n"
        "                          Retry-After (default 60; 0: off)\n"
        "  --adoption-ttl T        bootstrap lines expire after T (seconds, or with a unit:\n"
        "                          15m, 24h, 7d; 1s to 30d; default 24h)\n"
        "  --adoption-fail-limit N failed adoptions per minute per client address (IPv6:\n"
        "                          per /64); beyond: 429 with Retry-After (default 10; 0:"
        " off)\n"
        "  --tls-cert FILE         serve HTTPS with this PEM certificate (chain), and\n"
        "  --tls-key FILE          this PEM private key (both re-read on SIGHUP)\n"
        "  --tls-ca FILE           the PEM CA certificate that issued it: served at\n"
        "                          /ca.pem, and pinned by its SHA-256 in bootstrap lines\n"
        "                          of an https base URL (routers before 7.19 trust no CA)\n"
        "  --backup-key-file FILE  the AES-256 key (64 hex digits, or 32 bytes) that seals\n"
        "                          backups taken with X-Backup-Sensitive (openssl rand\n"
        "                          -hex 32 > FILE); without it they are refused\n"
        "  --relaxed-durability    commit without fsync (faster; a crash may lose the last"
        " second of acknowledged writes)\n"
        "  --port-file PATH        write the bound port to PATH once listening\n"
        "  --trusted-proxy IP      take the client address from X-Forwarded-For when the\n"
        "                          peer is this address (a load balancer in front)\n"
        "  --max-held N            polls held at once at most; more answer 503 (default"
        " 20000)\n"
        "  --rate-limit N          JWT requests per minute per team; beyond: 429\n"
        "                          with Retry-After (default 0: off)\n"
        "  --node NAME             this node's name in webhook leases (default HOSTNAME:PORT;\n"
        "                          keep it across restarts: a node takes back its own)\n"
        "  --webhook-retry-schedule LIST  delays before each try, e.g. the default\n"
        "                          0,5s,5m,30m,2h,5h,10h,10h (ms, s, m, h; at most 16)\n"
        "  --webhook-concurrency N deliveries in flight at once (default 64)\n"
        "  --webhook-retention D   days delivered deliveries are kept (default 7)\n"
        "  --webhook-dead-retention D  days dead letters are kept (default 30)\n"
        "  --stats-interval T      a site's raw stats samples at most once per T (default 5m;\n"
        "                          0: every heartbeat)\n"
        "  --stats-raw-hours N     raw samples are kept N hours (default 48), then\n"
        "  --stats-hourly-days N   hourly roll-ups N days (default 30), then\n"
        "  --stats-daily-days N    daily roll-ups N days (default 400)\n"
        "  --job-retention-days N  finished jobs and their events, and site events, are kept\n"
        "                          N days (default 90; 0: for ever)\n"
        "  --backup-keep N         backups kept per site, the newest (default 30; 0: all)\n"
        "  --auto-backup daily|off a backup job for every online site once a day (default\n"
        "                          daily), beginning at --auto-backup-hour H (UTC, default 3)\n"
        "                          and spread over --auto-backup-spread T (default 1h)\n"
        "  --log-format plain|json one line per event: plain text (default), or a JSON\n"
        "                          object with time, level, event, request_id, site_id, job\n"
        "  --metrics-listen HOST:PORT  serve GET /metrics (and /healthz) here without\n"
        "                          credentials; on the main address it needs metrics:read\n"
        "  --webhook-allow-private deliver to loopback and private addresses too (labs, tests)\n");
}

/* Splits HOST:PORT or [V6]:PORT. */
static int parse_listen(const char *s, char *host, size_t cap, unsigned *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= cap)
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= cap)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    long p;
    if (opt_long(colon + 1, 0, 65535, &p))
        return -1;
    *port = (unsigned)p;
    return 0;
}

/* The files of the public keys that verify RS256/ES256 tokens. */
#define KEY_FILES_MAX 8
struct key_files {
    const char *pem[KEY_FILES_MAX];
    size_t npem;
    const char *jwks;
};

/* The keys of the files, or NULL with the reason in err. */
static struct jwt_keyset *load_keys(const struct key_files *kf, char *err, size_t cap)
{
    struct jwt_keyset *ks = jwt_keyset_new();
    char why[200] = "out of memory";
    err[0] = '\0';
    for (size_t i = 0; ks && i <= kf->npem; i++) {
        const char *path = i < kf->npem ? kf->pem[i] : kf->jwks;
        size_t len = 0;
        char *text = path ? opt_read_file(path, JWT_JWKS_MAX, &len, why, sizeof why) : NULL;
        if (path &&
            (!text || (i < kf->npem ? jwt_keyset_add_pem(ks, text, len, why, sizeof why)
                                    : jwt_keyset_add_jwks(ks, text, len, why, sizeof why)))) {
            snprintf(err, cap, "%s %s: %s", i < kf->npem ? "--jwt-public-key" : "--jwks", path,
                     why);
            jwt_keyset_free(ks);
            ks = NULL;
        }
        free(text);
    }
    if (!ks && !err[0])
        snprintf(err, cap, "%s", why);
    return ks;
}

/* SIGHUP: the public keys and the TLS certificate are read again; what
 * cannot be read keeps what was there (and says why). */
static void reload(struct app *app, const struct key_files *kf, struct http_server *srv)
{
    char err[300] = "";
    if (kf->npem || kf->jwks) {
        struct jwt_keyset *ks = load_keys(kf, err, sizeof err);
        if (ks) {
            pthread_rwlock_wrlock(&app->keys_lock);
            struct jwt_keyset *old = app->keys;
            app->keys = ks;
            pthread_rwlock_unlock(&app->keys_lock);
            jwt_keyset_free(old);
            log_info("SIGHUP: %zu public keys loaded", jwt_keyset_count(ks));
        } else {
            log_error("SIGHUP: keeping the previous public keys: %s", err);
        }
    }
    if (http_tls_reload(srv, err, sizeof err) == 0)
        log_info("SIGHUP: TLS certificate loaded");
    else if (err[0])
        log_error("SIGHUP: keeping the previous TLS certificate: %s", err);
}

/* Once a second, fails delivered jobs that passed the run timeout (polls do it
 * too for their own site; this catches sites that stopped polling); every
 * five seconds, marks sites that missed 10 polls offline; every ten, writes
 * when API keys were last used. */
struct sweeper {
    struct app *app;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
};

static void *sweeper_main(void *arg)
{
    struct sweeper *sw = arg;
    unsigned tick = 0;
    pthread_mutex_lock(&sw->mu);
    while (!sw->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&sw->cond, &sw->mu, &until);
        if (sw->stopping)
            break;
        pthread_mutex_unlock(&sw->mu);
        store_sweep_timeouts(sw->app->store, (int64_t)time(NULL), sw->app->run_timeout);
        if (tick % 5 == 0)
            store_sweep_offline(sw->app->store, (int64_t)time(NULL),
                                JP_PULSE_INTERVALS * (int64_t)sw->app->poll_interval);
        if (tick++ % 10 == 0)
            api_keys_flush(sw->app);
        pthread_mutex_lock(&sw->mu);
    }
    pthread_mutex_unlock(&sw->mu);
    return NULL;
}

/* A job was queued by some node: wake this node's held polls of the site. */
static void wake_site(void *srv, const char *site_id)
{
    api_count_wakes(http_wake(srv, site_id), true);
}

/* JP_TEST_CLOCK_OFFSET=SECONDS moves the pruner's clock (only it), for tests
 * that backdate data and let days pass (docs/design.md). */
static int64_t test_clock_offset(void)
{
    const char *v = getenv("JP_TEST_CLOCK_OFFSET");
    long off = 0;
    if (!v || opt_long(v, -100L * 365 * 86400, 100L * 365 * 86400, &off))
        return 0;
    log_warn("JP_TEST_CLOCK_OFFSET: the pruner's clock is %ld s off (for tests only)", off);
    return off;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int serve_main(int argc, char **argv)
{
    enum {
        O_LISTEN = 1,
        O_DB,
        O_SECRET,
        O_SECRET_FILE,
        O_BASE,
        O_THREADS,
        O_MAXCONN,
        O_IDLE,
        O_MAXBODY,
        O_POLL,
        O_ISS,
        O_AUD,
        O_LEEWAY,
        O_RELAXED,
        O_PORTFILE,
        O_HELP,
        O_WAIT,
        O_RUNTIMEOUT,
        O_URLTTL,
        O_OUTPUT_MAX,
        O_POOL,
        O_PROXY,
        O_MAXHELD,
        O_RATE,
        O_WRITERS,
        O_NODE,
        O_WH_SCHEDULE,
        O_WH_CONC,
        O_WH_RETENTION,
        O_WH_PRIVATE,
        O_JWT_PUBKEY,
        O_JWKS,
        O_KEY_RATE,
        O_TLS_CERT,
        O_TLS_KEY,
        O_TLS_CA,
        O_BACKUP_KEY,
        O_ADOPT_TTL,
        O_ADOPT_FAILS,
        O_STATS_INTERVAL,
        O_STATS_RAW,
        O_STATS_HOURLY,
        O_STATS_DAILY,
        O_JOB_RETENTION,
        O_BACKUP_KEEP,
        O_WH_DEAD,
        O_METRICS_LISTEN,
        O_LOG_FORMAT,
        O_AUTO_BACKUP,
        O_AUTO_HOUR,
        O_AUTO_SPREAD
    };
    static const struct option longopts[] = {
        {"listen", 1, 0, O_LISTEN},
        {"db", 1, 0, O_DB},
        {"secret", 1, 0, O_SECRET},
        {"secret-file", 1, 0, O_SECRET_FILE},
        {"base-url", 1, 0, O_BASE},
        {"threads", 1, 0, O_THREADS},
        {"max-connections", 1, 0, O_MAXCONN},
        {"idle-timeout", 1, 0, O_IDLE},
        {"max-body", 1, 0, O_MAXBODY},
        {"poll-interval", 1, 0, O_POLL},
        {"jwt-issuer", 1, 0, O_ISS},
        {"jwt-audience", 1, 0, O_AUD},
        {"jwt-leeway", 1, 0, O_LEEWAY},
        {"relaxed-durability", 0, 0, O_RELAXED},
        {"port-file", 1, 0, O_PORTFILE},
        {"help", 0, 0, O_HELP},
        {"poll-wait", 1, 0, O_WAIT},
        {"run-timeout", 1, 0, O_RUNTIMEOUT},
        {"url-ttl", 1, 0, O_URLTTL},
        {"output-max", 1, 0, O_OUTPUT_MAX},
        {"db-pool", 1, 0, O_POOL},
        {"trusted-proxy", 1, 0, O_PROXY},
        {"max-held", 1, 0, O_MAXHELD},
        {"rate-limit", 1, 0, O_RATE},
        {"db-writers", 1, 0, O_WRITERS},
        {"node", 1, 0, O_NODE},
        {"webhook-retry-schedule", 1, 0, O_WH_SCHEDULE},
        {"webhook-concurrency", 1, 0, O_WH_CONC},
        {"webhook-retention", 1, 0, O_WH_RETENTION},
        {"webhook-allow-private", 0, 0, O_WH_PRIVATE},
        {"jwt-public-key", 1, 0, O_JWT_PUBKEY},
        {"jwks", 1, 0, O_JWKS},
        {"api-key-rate-limit", 1, 0, O_KEY_RATE},
        {"tls-cert", 1, 0, O_TLS_CERT},
        {"tls-key", 1, 0, O_TLS_KEY},
        {"tls-ca", 1, 0, O_TLS_CA},
        {"backup-key-file", 1, 0, O_BACKUP_KEY},
        {"adoption-ttl", 1, 0, O_ADOPT_TTL},
        {"adoption-fail-limit", 1, 0, O_ADOPT_FAILS},
        {"stats-interval", 1, 0, O_STATS_INTERVAL},
        {"stats-raw-hours", 1, 0, O_STATS_RAW},
        {"stats-hourly-days", 1, 0, O_STATS_HOURLY},
        {"stats-daily-days", 1, 0, O_STATS_DAILY},
        {"job-retention-days", 1, 0, O_JOB_RETENTION},
        {"backup-keep", 1, 0, O_BACKUP_KEEP},
        {"webhook-dead-retention", 1, 0, O_WH_DEAD},
        {"metrics-listen", 1, 0, O_METRICS_LISTEN},
        {"log-format", 1, 0, O_LOG_FORMAT},
        {"auto-backup", 1, 0, O_AUTO_BACKUP},
        {"auto-backup-hour", 1, 0, O_AUTO_HOUR},
        {"auto-backup-spread", 1, 0, O_AUTO_SPREAD},
        {0, 0, 0, 0},
    };
    const char *listen = "127.0.0.1:8080", *db = "./jobplane.db", *secret_flag = NULL,
               *secret_file = NULL, *base_url = NULL, *port_file = NULL, *proxy = NULL,
               *metrics_listen = NULL;
    long threads = 16, maxconn = 4096, idle = 30, maxbody = 65536, poll = 30, leeway = 0, wait = 20,
         run_timeout = 600, url_ttl = -1, output_max = 65536, pool = 0, max_held = 20000, rate = 0,
         writers = 0, wh_conc = 64, wh_retention = 7, key_rate = 60, adopt_ttl = 86400,
         adopt_fails = 10, stats_interval = 300, raw_hours = 48, hourly_days = 30, daily_days = 400,
         job_days = 90, backup_keep = 30, wh_dead = 30;
    struct key_files kf = {0};
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL, *backup_key_file = NULL;
    const char *node = NULL;
    struct deliver_options dopt = {.schedule = whk_default_schedule};
    struct scheduler_options schopt = {
        .auto_backup = true, .backup_hour = 3, .backup_spread = 3600};
    long auto_spread = 3600, auto_hour = 3;
    struct app app = {0};
    struct store_options sopt = {0};
    /* --config FILE: its lines first, then the rest of the command line (kept
     * for the process's life: the options point into it) */
    static struct opt_argv expanded;
    char cerr[512] = "";
    opt_argv_free(&expanded);
    if (opt_config_expand(argc, argv, longopts, &expanded, cerr, sizeof cerr)) {
        fprintf(stderr, "jobplane serve: %s\n", cerr);
        return 2;
    }
    argc = expanded.argc;
    argv = expanded.argv;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_LISTEN: listen = optarg; break;
        case O_DB: db = optarg; break;
        case O_SECRET: secret_flag = optarg; break;
        case O_SECRET_FILE: secret_file = optarg; break;
        case O_BASE: base_url = optarg; break;
        case O_THREADS: bad = opt_long(optarg, 1, 1024, &threads); break;
        case O_MAXCONN: bad = opt_long(optarg, 16, 1000000, &maxconn); break;
        case O_IDLE: bad = opt_long(optarg, 1, 3600, &idle); break;
        case O_MAXBODY: bad = opt_long(optarg, 1024, 64 * 1024 * 1024, &maxbody); break;
        case O_POLL: bad = opt_long(optarg, 1, 3600, &poll); break;
        case O_ISS: app.jwt.issuer = optarg; break;
        case O_AUD: app.jwt.audience = optarg; break;
        case O_LEEWAY: bad = opt_long(optarg, 0, 3600, &leeway); break;
        case O_RELAXED: sopt.relaxed = true; break;
        case O_PORTFILE: port_file = optarg; break;
        case O_WAIT: bad = opt_long(optarg, 0, 60, &wait); break;
        case O_RUNTIMEOUT: bad = opt_long(optarg, 1, 7 * 86400, &run_timeout); break;
        case O_URLTTL: bad = opt_long(optarg, 1, 30 * 86400, &url_ttl); break;
        case O_OUTPUT_MAX: bad = opt_long(optarg, 1024, 1024 * 1024, &output_max); break;
        case O_POOL: bad = opt_long(optarg, 1, 256, &pool); break;
        case O_PROXY: proxy = optarg; break;
        case O_MAXHELD: bad = opt_long(optarg, 1, 1000000, &max_held); break;
        case O_RATE: bad = opt_long(optarg, 0, 1000000, &rate); break;
        case O_WRITERS: bad = opt_long(optarg, 1, 64, &writers); break;
        case O_NODE:
            node = optarg;
            bad = !*optarg || strlen(optarg) > 200;
            break;
        case O_WH_SCHEDULE: bad = whk_schedule_parse(optarg, &dopt.schedule); break;
        case O_WH_CONC: bad = opt_long(optarg, 1, 1024, &wh_conc); break;
        case O_WH_RETENTION: bad = opt_long(optarg, 1, 3650, &wh_retention); break;
        case O_WH_PRIVATE: dopt.allow_private = true; break;
        case O_JWT_PUBKEY:
            bad = kf.npem == KEY_FILES_MAX;
            if (!bad)
                kf.pem[kf.npem++] = optarg;
            break;
        case O_JWKS: kf.jwks = optarg; break;
        case O_KEY_RATE: bad = opt_long(optarg, 0, 1000000, &key_rate); break;
        case O_TLS_CERT: tls_cert = optarg; break;
        case O_TLS_KEY: tls_key = optarg; break;
        case O_TLS_CA: tls_ca = optarg; break;
        case O_BACKUP_KEY: backup_key_file = optarg; break;
        case O_ADOPT_TTL: bad = opt_seconds(optarg, 1, 30 * 86400, &adopt_ttl); break;
        case O_ADOPT_FAILS: bad = opt_long(optarg, 0, 1000000, &adopt_fails); break;
        case O_STATS_INTERVAL: bad = opt_seconds(optarg, 0, 3600, &stats_interval); break;
        case O_STATS_RAW: bad = opt_long(optarg, 1, 10 * 8760, &raw_hours); break;
        case O_STATS_HOURLY: bad = opt_long(optarg, 1, 3650, &hourly_days); break;
        case O_STATS_DAILY: bad = opt_long(optarg, 1, 36500, &daily_days); break;
        case O_JOB_RETENTION: bad = opt_long(optarg, 0, 36500, &job_days); break;
        case O_BACKUP_KEEP: bad = opt_long(optarg, 0, 1000000, &backup_keep); break;
        case O_WH_DEAD: bad = opt_long(optarg, 1, 3650, &wh_dead); break;
        case O_METRICS_LISTEN: metrics_listen = optarg; break;
        case O_LOG_FORMAT:
            bad = strcmp(optarg, "plain") && strcmp(optarg, "json");
            log_set_json(!strcmp(optarg, "json"));
            break;
        case O_AUTO_BACKUP:
            bad = strcmp(optarg, "daily") && strcmp(optarg, "off");
            schopt.auto_backup = !strcmp(optarg, "daily");
            break;
        case O_AUTO_HOUR: bad = opt_long(optarg, 0, 23, &auto_hour); break;
        case O_AUTO_SPREAD: bad = opt_seconds(optarg, 0, 86400 - 1, &auto_spread); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "jobplane serve: invalid value '%s' for --%s\n", optarg,
                    longopts[c - 1].name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "jobplane serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char host[128], mhost[128], err[256];
    unsigned port, mport = 0;
    if (parse_listen(listen, host, sizeof host, &port) ||
        (metrics_listen && parse_listen(metrics_listen, mhost, sizeof mhost, &mport))) {
        fprintf(stderr, "jobplane serve: --%slisten wants HOST:PORT or [IPv6]:PORT, not '%s'\n",
                metrics_listen ? "metrics-" : "", metrics_listen ? metrics_listen : listen);
        return 2;
    }
    if (raw_hours > hourly_days * 24 || hourly_days > daily_days) {
        fprintf(stderr,
                "jobplane serve: raw samples cannot outlive the hourly roll-ups, nor those the"
                " daily ones: --stats-raw-hours %ld, --stats-hourly-days %ld, --stats-daily-days"
                " %ld\n",
                raw_hours, hourly_days, daily_days);
        return 2;
    }
    if (!tls_cert != !tls_key) {
        fprintf(stderr, "jobplane serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    struct seal_key backup_key;
    if (backup_key_file) {
        size_t len = 0;
        char *text = opt_read_file(backup_key_file, 4096, &len, err, sizeof err);
        int bad_key = !text || seal_key_parse(text, len, &backup_key);
        if (text)
            OPENSSL_cleanse(text, len);
        free(text);
        if (bad_key) {
            fprintf(stderr, "jobplane serve: --backup-key-file %s: %s\n", backup_key_file,
                    text ? "not a key: 64 hex digits (openssl rand -hex 32) or 32 bytes" : err);
            return 2;
        }
        app.backup_key = backup_key.k;
    }
    char *ca_pem = NULL;
    if (tls_ca) {
        size_t len = 0;
        if (!(ca_pem = opt_read_file(tls_ca, 64 * 1024, &len, err, sizeof err)) ||
            pem_cert_fingerprint(ca_pem, len, app.ca_fingerprint)) {
            fprintf(stderr, "jobplane serve: --tls-ca %s: %s\n", tls_ca,
                    ca_pem ? "no PEM certificate in it" : err);
            free(ca_pem);
            return 2;
        }
        app.ca_pem = ca_pem;
    }
    struct jwt_keyset *keys = NULL;
    if ((kf.npem || kf.jwks) && !(keys = load_keys(&kf, err, sizeof err))) {
        fprintf(stderr, "jobplane serve: %s\n", err);
        free(ca_pem);
        return 2;
    }
    char *secret = opt_secret(secret_flag, secret_file, err, sizeof err);
    if (!secret) {
        fprintf(stderr, "jobplane serve: %s\n", err);
        jwt_keyset_free(keys);
        free(ca_pem);
        return 2;
    }
    app.secret = (const unsigned char *)secret;
    app.keys = keys;
    /* a SIGHUP's swap must not wait behind an endless stream of verifications */
    pthread_rwlockattr_t rwa;
    pthread_rwlockattr_init(&rwa);
    pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&app.keys_lock, &rwa);
    pthread_rwlockattr_destroy(&rwa);
    app.key_rate = key_rate ? ratelimit_new((unsigned)key_rate) : NULL;
    app.uses = key_uses_new();
    app.secret_len = strlen(secret);
    app.jwt.leeway = leeway;
    app.poll_interval = (unsigned)poll;
    app.poll_wait = (unsigned)wait;
    ros_poll_revision(
        &(struct ros_poll_params){.interval = app.poll_interval, .wait = app.poll_wait},
        app.poll_rev);
    app.run_timeout = run_timeout;
    app.url_ttl = url_ttl > 0 ? url_ttl : run_timeout + 3600;
    app.output_max = output_max;
    app.rate = rate ? ratelimit_new((unsigned)rate) : NULL;
    app.adoption_ttl = adopt_ttl;
    app.adopt_fails = adopt_fails ? ratelimit_new((unsigned)adopt_fails) : NULL;
    sign_key_derive(&app.sign, app.secret, app.secret_len);

    /* Signals are taken by sigwait below; every thread started from here on
     * inherits the block. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    int status = 1;
    struct deliverer *deliverer = NULL;
    sopt.url = db;
    sopt.readers = (unsigned)(pool ? pool : threads < 64 ? threads : 64);
    sopt.writers = (unsigned)writers;
    sopt.prune = true;
    sopt.retention = (struct retention){
        .stats_interval = stats_interval,
        .raw = raw_hours * 3600,
        .hourly = hourly_days * 86400,
        .daily = daily_days * 86400,
        .jobs = job_days * 86400,
        .backup_keep = backup_keep,
        .clock_offset = test_clock_offset(),
    };
    app.store = store_open(&sopt, err, sizeof err);
    if (!app.store) {
        fprintf(stderr, "jobplane serve: %s\n", err);
        goto out;
    }
    if (app.backup_key)
        store_set_backup_key(app.store, app.backup_key);
    struct http_config hc = {
        .host = host,
        .port = port,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)maxconn,
        .idle_timeout = (unsigned)idle,
        .conn_memory_limit = 8192,
        .max_body = (size_t)maxbody,
        .base_url = base_url,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
        .trusted_proxy = proxy,
        .max_held = (unsigned)max_held,
        .routes = api_routes,
        .nroutes = api_nroutes,
        .app = &app,
        .authenticate = api_authenticate,
        .caller_size = sizeof(struct caller),
        .on_done = api_request_done,
    };
    struct http_server *srv = http_start(&hc, err, sizeof err), *msrv = NULL;
    if (!srv) {
        fprintf(stderr, "jobplane serve: %s\n", err);
        goto out;
    }
    app.srv = srv;
    if (metrics_listen) {
        struct http_config mc = hc;
        mc.host = mhost;
        mc.port = mport;
        mc.threads = 2;
        mc.max_connections = 64;
        mc.base_url = NULL;
        mc.tls_cert = mc.tls_key = NULL;
        mc.routes = api_metrics_routes;
        mc.nroutes = api_metrics_nroutes;
        mc.on_done = NULL;
        if (!(msrv = http_start(&mc, err, sizeof err))) {
            fprintf(stderr, "jobplane serve: --metrics-listen: %s\n", err);
            http_stop(srv, 0);
            goto out;
        }
        log_info("metrics on http://%s:%u/metrics", mhost, http_port(msrv));
    }
    store_watch_jobs(app.store, wake_site, srv);
    char node_name[300];
    if (!node) {
        char hn[200] = "localhost";
        gethostname(hn, sizeof hn - 1);
        snprintf(node_name, sizeof node_name, "%s:%u", hn, http_port(srv));
        node = node_name;
    }
    dopt.node = node;
    dopt.concurrency = (unsigned)wh_conc;
    dopt.retention_ms = wh_retention * 86400 * 1000LL;
    dopt.dead_retention_ms = wh_dead * 86400 * 1000LL;
    deliverer = deliver_start(app.store, &dopt);
    if (!deliverer) {
        fprintf(stderr, "jobplane serve: cannot start the webhook deliverer\n");
        http_stop(srv, 0);
        if (msrv)
            http_stop(msrv, 0);
        goto out;
    }
    log_info("jobplane listening on %s:%u (%s store, %s durability)", host, http_port(srv),
             strncmp(db, "postgres", 8) ? "SQLite" : "PostgreSQL",
             sopt.relaxed ? "relaxed" : "full");
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%u\n", http_port(srv));
            fclose(f);
        }
    }
    schopt.backup_spread = auto_spread;
    schopt.backup_hour = auto_hour;
    struct scheduler *sched = scheduler_start(&app, &schopt);
    if (!sched)
        log_error("cannot start the scheduler: rollouts and automatic backups stay idle");
    struct sweeper sw = {.app = &app};
    pthread_mutex_init(&sw.mu, NULL);
    pthread_cond_init(&sw.cond, NULL);
    pthread_t sweeper_thread;
    bool sweeping = pthread_create(&sweeper_thread, NULL, sweeper_main, &sw) == 0;
    if (!sweeping)
        log_error("cannot start the run-timeout sweeper");
    int sig = 0;
    while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
        reload(&app, &kf, srv);
    log_info("signal %d: finishing requests in flight", sig);
    scheduler_stop(sched);
    http_stop(srv, 10);
    if (msrv)
        http_stop(msrv, 0);
    deliver_stop(deliverer);
    if (sweeping) {
        pthread_mutex_lock(&sw.mu);
        sw.stopping = true;
        pthread_cond_signal(&sw.cond);
        pthread_mutex_unlock(&sw.mu);
        pthread_join(sweeper_thread, NULL);
    }
    pthread_mutex_destroy(&sw.mu);
    pthread_cond_destroy(&sw.cond);
    scheduler_free(sched);
    status = 0;
out:
    if (app.store)
        api_keys_flush(&app);
    store_close(app.store);
    deliver_free(deliverer); /* after the store: it may wake the deliverer until closed */
    if (status == 0)
        log_info("jobplane stopped");
    ratelimit_free(app.rate);
    ratelimit_free(app.key_rate);
    ratelimit_free(app.adopt_fails);
    key_uses_free(app.uses);
    jwt_keyset_free(app.keys);
    pthread_rwlock_destroy(&app.keys_lock);
    free(secret);
    free(ca_pem);
    OPENSSL_cleanse(&backup_key, sizeof backup_key);
    return status;
}
