/* `jobplane sim`: a simulated fleet. Creates and adopts N sites through the
 * real endpoints, then polls each at its interval (with jitter), reads every
 * answer as a router would (the wrapper's signed URLs and payload are decoded
 * from their RouterOS literals), reports busy, uploads a backup when asked,
 * then done or fail, and prints what it saw. It talks only to --url: a URL in
 * a script that points elsewhere is refused and counted. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/routeros.h"
#include "lib/opts.h"

struct idlist {
    char (*id)[37];
    size_t n, cap;
};

struct router {
    char site_id[64];
    char token[64]; /* device token */
    char name[32];
    double next;          /* monotonic seconds of the next poll */
    bool gone;            /* torn down */
    unsigned seq;         /* backups uploaded */
    struct idlist seen;   /* jobs delivered to it (its worker's only) */
    struct idlist queued; /* jobs --queue-rate created for it (under queue_mu) */
};

#define SIM_MAX_URLS 8

struct sim {
    const char *url;                /* the first --url: sites are created there */
    const char *urls[SIM_MAX_URLS]; /* every --url (nodes of one fleet); polls pick one at random */
    int nurls;
    const char *op_token, *record, *tokens_out;
    long routers, interval, wait, duration, threads, queue_rate;
    double fail_rate;
    struct router *r;
    FILE *rec;
    pthread_mutex_t rec_mu;
    atomic_long polls, poll_errors, jobs, done, failed, backups, backup_errors, duplicates,
        report_errors, foreign_urls, teardowns, setup_errors;
    pthread_mutex_t lat_mu;
    double *lat; /* poll latencies, ms */
    size_t nlat, caplat;
    double t_end;
    /* --queue-rate: jobs are queued from the moment every router is adopted
     * (t_run) for --duration seconds; routers then poll on until every queued
     * job was delivered, or until 3 intervals pass without a delivery of one
     * (a router with a backlog takes one job per poll: it keeps progressing). */
    atomic_long ready, queued, queue_errors, delivered_queued;
    atomic_bool queue_done;
    pthread_mutex_t queue_mu;
    _Atomic double t_run, t_delivered; /* 0 until the run starts; the last delivery */
};

struct worker {
    struct sim *s;
    long first, step; /* routers first, first+step, ... */
    unsigned seed;
    CURL *c;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *u)
{
    struct buf *b = u;
    size_t n = sz * nm;
    if (b->n + n + 1 > 4u * 1024 * 1024)
        return 0;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* One HTTP request; returns the status (0 on a transport error), body in out. */
static long http(CURL *c, const char *method, const char *url, const char *auth, const char *ctype,
                 const char *body, size_t len, long timeout, struct buf *out)
{
    struct curl_slist *h = NULL;
    char line[600];
    if (auth) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth);
        h = curl_slist_append(h, line);
    }
    if (ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    out->n = 0;
    if (out->p)
        out->p[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static bool ours(struct sim *s, const char *url)
{
    for (int i = 0; url && i < s->nurls; i++)
        if (!strncmp(url, s->urls[i], strlen(s->urls[i])))
            return true;
    return false;
}

static int setup_router(struct worker *w, long i)
{
    struct sim *s = w->s;
    struct router *r = &s->r[i];
    struct buf b = {0};
    char url[512], body[256];
    snprintf(r->name, sizeof r->name, "sim-%05ld", i);
    snprintf(url, sizeof url, "%s/sites", s->url);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", r->name);
    int ok = -1;
    char *adopt = NULL, *poll = NULL, *tok = NULL;
    if (http(w->c, "POST", url, s->op_token, "application/json", body, strlen(body), 30, &b) != 201)
        goto out;
    json_t *j = json_loads(b.p, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *boot = json_string_value(json_object_get(j, "bootstrap"));
    const char *at = boot ? strstr(boot, "/adopt/") : NULL;
    if (!id || !at) {
        json_decref(j);
        goto out;
    }
    snprintf(r->site_id, sizeof r->site_id, "%s", id);
    snprintf(url, sizeof url, "%s/adopt/%.22s", s->url, at + 7);
    json_decref(j);
    snprintf(body, sizeof body,
             "name=%s;version=%s;board-name=CHR;architecture-name=x86_64;uptime=00:00:%02ld",
             r->name, s->wait ? "7.16 (stable)" : "7.12 (stable)", i % 60);
    if (http(w->c, "POST", url, NULL, "text/plain", body, strlen(body), 30, &b) != 200)
        goto out;
    /* the device token sits in the poll script, inside the adoption answer */
    const char *src = strstr(b.p, " source=");
    if (!src)
        goto out;
    src += 8;
    poll = ros_unquote(&src, NULL);
    tok = poll ? ros_find_local(poll, "jpTok") : NULL;
    if (!tok || strlen(tok) >= sizeof r->token)
        goto out;
    snprintf(r->token, sizeof r->token, "%s", tok);
    ok = 0;
out:
    free(adopt);
    free(poll);
    free(tok);
    free(b.p);
    return ok;
}

static void record(struct sim *s, const char *site, const char *job, const char *what)
{
    if (!s->rec)
        return;
    pthread_mutex_lock(&s->rec_mu);
    fprintf(s->rec, "%s %s %s\n", what, site, job);
    fflush(s->rec);
    pthread_mutex_unlock(&s->rec_mu);
}

static bool id_in(const struct idlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->id[i], id))
            return true;
    return false;
}

static void id_add(struct idlist *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void *p = realloc(l->id, cap * sizeof *l->id);
        if (!p)
            abort();
        l->id = p;
        l->cap = cap;
    }
    snprintf(l->id[l->n++], sizeof *l->id, "%s", id);
}

/* Remembers a job delivered to r; returns true when it was delivered before.
 * A job belongs to one site, so a per-router list finds every duplicate. */
static bool seen_before(struct sim *s, struct router *r, const char *job)
{
    pthread_mutex_lock(&s->queue_mu); /* a queuer may look at r->seen */
    bool again = id_in(&r->seen, job);
    if (!again) {
        id_add(&r->seen, job);
        if (id_in(&r->queued, job)) {
            atomic_fetch_add(&s->delivered_queued, 1);
            s->t_delivered = now_mono();
        }
    }
    pthread_mutex_unlock(&s->queue_mu);
    return again;
}

/* Whether the run is over at time t. */
static bool finished(struct sim *s, double t)
{
    if (!s->queue_rate)
        return t >= s->t_end;
    if (!s->t_run || !atomic_load(&s->queue_done))
        return false; /* routers are still being adopted, or jobs queued */
    double since = s->t_run + (double)s->duration;
    if (s->t_delivered > since)
        since = s->t_delivered;
    return atomic_load(&s->delivered_queued) >= atomic_load(&s->queued) ||
           t >= since + 3.0 * (double)s->interval;
}

/* --queue-rate: creates jobs at random adopted routers through the operator
 * API, paced to its share of the rate, from t_run for --duration seconds. */
struct queuer {
    struct sim *s;
    double rate; /* this thread's jobs per second */
    unsigned seed;
};

static void *queuer_main(void *arg)
{
    struct queuer *q = arg;
    struct sim *s = q->s;
    CURL *c = curl_easy_init();
    struct buf b = {0};
    while (!s->t_run)
        usleep(20000);
    double t = s->t_run, end = s->t_run + (double)s->duration;
    while (t < end) {
        double now = now_mono();
        if (t > now)
            usleep((useconds_t)((t - now) * 1e6));
        t += 1.0 / q->rate;
        struct router *r = &s->r[rand_r(&q->seed) % (unsigned)s->routers];
        if (!r->token[0] || r->gone)
            continue;
        char url[512];
        snprintf(url, sizeof url, "%s/api/asynchronous/%s", s->url, r->site_id);
        static const char body[] = "{\"description\":\"sim fleet\",\"script\":\":put sim\"}";
        long st =
            http(c, "POST", url, s->op_token, "application/json", body, sizeof body - 1, 30, &b);
        json_t *j = st == 200 ? json_loads(b.p, 0, NULL) : NULL; /* this API answers 200 */
        const char *id =
            json_string_value(json_object_get(json_object_get(j, "data"), "request_id"));
        if (!id || strlen(id) != 36) {
            atomic_fetch_add(&s->queue_errors, 1);
        } else {
            pthread_mutex_lock(&s->queue_mu);
            id_add(&r->queued, id);
            atomic_fetch_add(&s->queued, 1);
            if (id_in(&r->seen, id)) /* delivered before this answer was read */
                atomic_fetch_add(&s->delivered_queued, 1);
            pthread_mutex_unlock(&s->queue_mu);
        }
        json_decref(j);
    }
    free(b.p);
    curl_easy_cleanup(c);
    return NULL;
}

static bool report(struct worker *w, const char *url)
{
    struct buf b = {0};
    bool ok = ours(w->s, url) && http(w->c, "GET", url, NULL, NULL, NULL, 0, 30, &b) == 200;
    if (!ours(w->s, url))
        atomic_fetch_add(&w->s->foreign_urls, 1);
    free(b.p);
    return ok;
}

/* Uploads a made-up export in 32 KiB chunks, as the wrapper's backup block does. */
static bool upload_backup(struct worker *w, struct router *r, const char *bak)
{
    struct sim *s = w->s;
    if (!ours(s, bak)) {
        atomic_fetch_add(&s->foreign_urls, 1);
        return false;
    }
    struct sbuf e;
    sbuf_init(&e, 1 << 20);
    sbuf_printf(&e, "# %s by RouterOS 7.16\n# software id = SIM\n/system identity\nset name=%s\n",
                r->name, r->name);
    r->seq++;
    for (int i = 0; i < 1200; i++)
        sbuf_printf(&e, "/ip firewall address-list add address=10.%d.%d.%u list=sim-%u\n", i / 250,
                    i % 250, r->seq % 250, i % 7);
    size_t len;
    char *text = sbuf_take(&e, &len);
    bool ok = text != NULL;
    struct buf b = {0};
    for (size_t off = 0; ok && off < len; off += 32768) {
        size_t n = len - off < 32768 ? len - off : 32768;
        char url[1024];
        snprintf(url, sizeof url, "%s&offset=%zu&total=%zu", bak, off, len);
        long st = http(w->c, "POST", url, NULL, "text/plain", text + off, n, 30, &b);
        ok = st == 200 || st == 201;
    }
    free(b.p);
    free(text);
    return ok;
}

static void run_job(struct worker *w, struct router *r, const char *script)
{
    struct sim *s = w->s;
    char *id = NULL, *busy = ros_find_local(script, "jpBusy"),
         *done = ros_find_local(script, "jpDone"), *fail = ros_find_local(script, "jpFail"),
         *src = ros_find_local(script, "jpSrc"), *bak = ros_find_local(script, "jpBak");
    const char *p = busy ? strstr(busy, "/job/") : NULL;
    if (p)
        id = strndup(p + 5, 36);
    if (!id || !done || !fail || !src) {
        atomic_fetch_add(&s->report_errors, 1);
        goto out;
    }
    atomic_fetch_add(&s->jobs, 1);
    if (seen_before(s, r, id)) {
        atomic_fetch_add(&s->duplicates, 1);
        record(s, r->site_id, id, "DUPLICATE");
    }
    record(s, r->site_id, id, "delivered");
    if (!report(w, busy))
        atomic_fetch_add(&s->report_errors, 1);
    bool ok = true;
    if (bak) {
        ok = upload_backup(w, r, bak);
        atomic_fetch_add(ok ? &s->backups : &s->backup_errors, 1);
    }
    /* The payload "runs": it fails when it raises an error, or by --fail-rate. */
    if (ok && (strstr(src, ":error") || (double)rand_r(&w->seed) / RAND_MAX < s->fail_rate))
        ok = false;
    if (!report(w, ok ? done : fail))
        atomic_fetch_add(&s->report_errors, 1);
    else
        record(s, r->site_id, id, ok ? "done" : "fail");
    atomic_fetch_add(ok ? &s->done : &s->failed, 1);
out:
    free(id);
    free(busy);
    free(done);
    free(fail);
    free(src);
    free(bak);
}

static void poll_once(struct worker *w, struct router *r)
{
    struct sim *s = w->s;
    char url[512], body[512];
    const char *base = s->urls[s->nurls > 1 ? rand_r(&w->seed) % (unsigned)s->nurls : 0];
    snprintf(url, sizeof url, s->wait ? "%s/poll?wait=%ld" : "%s/poll", base, s->wait);
    snprintf(body, sizeof body,
             "name=%s;version=7.16 (stable);uptime=%ldm;cpu-load=%u;free-memory=%u;"
             "free-hdd-space=%u;board-name=CHR;architecture-name=x86_64",
             r->name, (long)now_mono() / 60 % 100000, rand_r(&w->seed) % 100,
             500000000u + rand_r(&w->seed) % 1000000, 80000000u);
    struct buf b = {0};
    double t0 = now_mono();
    long st = http(w->c, "POST", url, r->token, "text/plain", body, strlen(body), s->wait + 30, &b);
    double ms = (now_mono() - t0) * 1000;
    atomic_fetch_add(&s->polls, 1);
    if (st != 200 || !b.p) {
        atomic_fetch_add(&s->poll_errors, 1);
        free(b.p);
        return;
    }
    /* Held polls that got a job are not latency; with --queue-rate, only the
     * polls of the run itself count (not those while routers are adopted). */
    if ((!s->wait || !strstr(b.p, "# jobplane job ")) &&
        (!s->queue_rate || (s->t_run && t0 >= s->t_run))) {
        pthread_mutex_lock(&s->lat_mu);
        if (s->nlat == s->caplat) {
            s->caplat = s->caplat ? s->caplat * 2 : 4096;
            s->lat = realloc(s->lat, s->caplat * sizeof *s->lat);
        }
        s->lat[s->nlat++] = ms;
        pthread_mutex_unlock(&s->lat_mu);
    }
    size_t n = strlen(b.p), m = strlen(ROS_END_MARK);
    if (n < m || strcmp(b.p + n - m, ROS_END_MARK)) {
        atomic_fetch_add(&s->poll_errors, 1); /* a router would not run a truncated answer */
    } else if (strstr(b.p, "# jobplane job ")) {
        run_job(w, r, b.p);
    } else if (strstr(b.p, "# jobplane teardown")) {
        snprintf(url, sizeof url, "%s/notify/delete", base);
        http(w->c, "POST", url, r->token, "text/plain", "", 0, 30, &b);
        r->gone = true;
        atomic_fetch_add(&s->teardowns, 1);
    }
    free(b.p);
}

/* Prints what the server says of each queued job the fleet never received
 * (the first ten): still pending means it was not handed out, anything else
 * that it was handed out and its answer never reached the router. */
static void print_lost(struct sim *s)
{
    CURL *c = curl_easy_init();
    struct buf b = {0};
    long shown = 0;
    for (long i = 0; i < s->routers && shown < 10; i++) {
        struct router *r = &s->r[i];
        for (size_t k = 0; k < r->queued.n && shown < 10; k++) {
            const char *id = r->queued.id[k];
            if (id_in(&r->seen, id))
                continue;
            char url[512];
            snprintf(url, sizeof url, "%s/site/%s/job/%s", s->url, r->site_id, id);
            long st = http(c, "GET", url, s->op_token, NULL, NULL, 0, 30, &b);
            json_t *j = st == 200 ? json_loads(b.p, 0, NULL) : NULL;
            const char *status = json_string_value(json_object_get(j, "status"));
            printf("  lost job %s at site %s: %s%s (HTTP %ld)\n", id, r->site_id,
                   status ? "status " : "", status ? status : "not found", st);
            json_decref(j);
            shown++;
        }
    }
    free(b.p);
    curl_easy_cleanup(c);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sim *s = w->s;
    w->c = curl_easy_init();
    for (long i = w->first; i < s->routers; i += w->step) {
        if (setup_router(w, i)) {
            atomic_fetch_add(&s->setup_errors, 1);
            s->r[i].gone = true;
        }
        s->r[i].next = now_mono() + (double)(rand_r(&w->seed) % 1000) / 1000.0 * s->interval;
        if (atomic_fetch_add(&s->ready, 1) + 1 == s->routers && s->queue_rate) {
            s->t_run = now_mono(); /* the last router is adopted: the run starts */
        }
    }
    for (;;) {
        struct router *due = NULL;
        for (long i = w->first; i < s->routers; i += w->step)
            if (!s->r[i].gone && (!due || s->r[i].next < due->next))
                due = &s->r[i];
        if (!due)
            break;
        double now = now_mono();
        if (finished(s, now) || (!s->queue_rate && due->next > s->t_end))
            break;
        if (due->next > now) { /* short naps: the end may come from elsewhere */
            double nap = due->next - now;
            usleep((useconds_t)((nap < 0.25 ? nap : 0.25) * 1e6));
            continue;
        }
        poll_once(w, due);
        /* the next poll: the interval with +-10% jitter */
        double jitter = ((double)(rand_r(&w->seed) % 2001) / 1000.0 - 1.0) * 0.1;
        due->next = now_mono() + s->interval * (1.0 + jitter);
    }
    curl_easy_cleanup(w->c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void usage(FILE *f)
{
    fprintf(f, "usage: jobplane sim --url URL [--url URL2 ...] --token OPERATOR_TOKEN --routers N\n"
               "                    --interval S\n"
               "                    [--fail-rate P] [--wait N] [--duration S] [--threads T]\n"
               "                    [--record FILE] [--tokens FILE] [--queue-rate N]\n"
               "Creates and adopts N sites, polls each every S seconds (+-10%% jitter) for\n"
               "--duration seconds (default 60), runs every job handed out, then prints what\n"
               "it saw. --record appends 'delivered|done|fail|DUPLICATE SITE JOB' lines.\n"
               "Several --url (nodes on one database): each poll goes to one at random.\n"
               "--tokens FILE writes 'SITE_ID DEVICE_TOKEN' per adopted router at the end.\n"
               "--queue-rate N queues N jobs/s at random routers through the operator API\n"
               "for --duration seconds once every router is adopted; routers then poll on\n"
               "until each queued job was delivered (or 3 intervals pass without a delivery),\n"
               "and the jobs never delivered are printed as lost, with what the server\n"
               "says of each.\n");
}

int sim_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", 1, 0, 'u'},
        {"token", 1, 0, 't'},
        {"routers", 1, 0, 'n'},
        {"interval", 1, 0, 'i'},
        {"fail-rate", 1, 0, 'f'},
        {"wait", 1, 0, 'w'},
        {"duration", 1, 0, 'd'},
        {"threads", 1, 0, 'T'},
        {"record", 1, 0, 'r'},
        {"tokens", 1, 0, 'k'},
        {"queue-rate", 1, 0, 'q'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct sim s = {.routers = 10, .interval = 30, .duration = 60};
    const char *fail = NULL;
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            if (s.nurls == SIM_MAX_URLS) {
                fprintf(stderr, "jobplane sim: at most %d --url\n", SIM_MAX_URLS);
                return 2;
            }
            s.urls[s.nurls++] = optarg;
            break;
        case 't': s.op_token = optarg; break;
        case 'n': bad |= opt_long(optarg, 1, 1000000, &s.routers); break;
        case 'i': bad |= opt_long(optarg, 1, 3600, &s.interval); break;
        case 'w': bad |= opt_long(optarg, 0, 60, &s.wait); break;
        case 'd': bad |= opt_long(optarg, 1, 7 * 86400, &s.duration); break;
        case 'T': bad |= opt_long(optarg, 1, 4096, &s.threads); break;
        case 'f': fail = optarg; break;
        case 'r': s.record = optarg; break;
        case 'k': s.tokens_out = optarg; break;
        case 'q': bad |= opt_long(optarg, 0, 100000, &s.queue_rate); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (fail) {
        char *end;
        s.fail_rate = strtod(fail, &end);
        bad |= *end || s.fail_rate < 0 || s.fail_rate > 1;
    }
    if (bad || !s.nurls || !s.op_token) {
        fprintf(stderr, "jobplane sim: --url and --token are required; numbers must be in range\n");
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < s.nurls; i++)
        if (strncmp(s.urls[i], "http://", 7) && strncmp(s.urls[i], "https://", 8)) {
            fprintf(stderr, "jobplane sim: --url must be http:// or https://\n");
            return 2;
        }
    if (s.record && !(s.rec = fopen(s.record, "a"))) {
        fprintf(stderr, "jobplane sim: cannot open %s\n", s.record);
        return 2;
    }
    char *owned[SIM_MAX_URLS] = {0};
    for (int i = 0; i < s.nurls; i++) {
        owned[i] = strdup(s.urls[i]);
        size_t ul = strlen(owned[i]);
        if (ul && owned[i][ul - 1] == '/')
            owned[i][ul - 1] = '\0';
        s.urls[i] = owned[i];
    }
    s.url = s.urls[0];
    if (!s.threads)
        s.threads = s.routers < (s.wait ? 512 : 64) ? s.routers : (s.wait ? 512 : 64);
    s.r = calloc((size_t)s.routers, sizeof *s.r);
    pthread_mutex_init(&s.rec_mu, NULL);
    pthread_mutex_init(&s.lat_mu, NULL);
    pthread_mutex_init(&s.queue_mu, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double t0 = now_mono();
    s.t_end = t0 + (double)s.duration;
    struct worker *w = calloc((size_t)s.threads, sizeof *w);
    pthread_t *tid = calloc((size_t)s.threads, sizeof *tid);
    for (long i = 0; i < s.threads; i++) {
        w[i] = (struct worker){.s = &s, .first = i, .step = s.threads, .seed = (unsigned)(i + 1)};
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    long nq = s.queue_rate ? (s.queue_rate + 49) / 50 : 0; /* ~50 creates/s each */
    if (nq > 32)
        nq = 32;
    struct queuer *q = calloc((size_t)nq + 1, sizeof *q);
    pthread_t *qid = calloc((size_t)nq + 1, sizeof *qid);
    for (long i = 0; i < nq; i++) {
        q[i] = (struct queuer){
            .s = &s, .rate = (double)s.queue_rate / (double)nq, .seed = (unsigned)(1000 + i)};
        pthread_create(&qid[i], NULL, queuer_main, &q[i]);
    }
    for (long i = 0; i < nq; i++)
        pthread_join(qid[i], NULL);
    atomic_store(&s.queue_done, true);
    for (long i = 0; i < s.threads; i++)
        pthread_join(tid[i], NULL);
    double elapsed = now_mono() - t0;
    if (s.tokens_out) { /* "site_id device_token" per adopted router (for load tools) */
        FILE *f = fopen(s.tokens_out, "w");
        for (long i = 0; f && i < s.routers; i++)
            if (s.r[i].token[0])
                fprintf(f, "%s %s\n", s.r[i].site_id, s.r[i].token);
        if (f)
            fclose(f);
    }
    qsort(s.lat, s.nlat, sizeof *s.lat, cmp_double);
    printf("routers:          %ld (setup errors %ld)\n", s.routers, atomic_load(&s.setup_errors));
    printf("interval:         %lds, wait %lds, %.0fs run, %ld threads\n", s.interval, s.wait,
           elapsed, s.threads);
    printf("polls:            %ld (%.1f/s), errors %ld\n", atomic_load(&s.polls),
           (double)atomic_load(&s.polls) / elapsed, atomic_load(&s.poll_errors));
    printf("poll latency ms:  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct(s.lat, s.nlat, 0.5),
           pct(s.lat, s.nlat, 0.9), pct(s.lat, s.nlat, 0.99), s.nlat ? s.lat[s.nlat - 1] : 0);
    printf("jobs run:         %ld (done %ld, failed %ld)\n", atomic_load(&s.jobs),
           atomic_load(&s.done), atomic_load(&s.failed));
    printf("backups:          %ld uploaded, %ld failed\n", atomic_load(&s.backups),
           atomic_load(&s.backup_errors));
    printf("report errors:    %ld\n", atomic_load(&s.report_errors));
    printf("teardowns:        %ld\n", atomic_load(&s.teardowns));
    printf("foreign URLs:     %ld\n", atomic_load(&s.foreign_urls));
    printf("duplicates:       %ld\n", atomic_load(&s.duplicates));
    long lost = atomic_load(&s.queued) - atomic_load(&s.delivered_queued);
    if (s.queue_rate) {
        printf("setup:            %.0fs (adopting every router)\n", s.t_run - t0);
        printf("queued:           %ld in %lds (%.1f/s), errors %ld\n", atomic_load(&s.queued),
               s.duration, (double)atomic_load(&s.queued) / (double)s.duration,
               atomic_load(&s.queue_errors));
        printf("delivered:        %ld of them, drained %.0fs after queueing stopped\n",
               atomic_load(&s.delivered_queued), now_mono() - s.t_run - (double)s.duration);
        printf("lost:             %ld\n", lost);
        if (lost)
            print_lost(&s);
    }
    if (s.rec)
        fclose(s.rec);
    free(s.lat);
    for (long i = 0; i < s.routers; i++) {
        free(s.r[i].seen.id);
        free(s.r[i].queued.id);
    }
    free(s.r);
    free(q);
    free(qid);
    free(w);
    free(tid);
    for (int i = 0; i < s.nurls; i++)
        free(owned[i]);
    pthread_mutex_destroy(&s.rec_mu);
    pthread_mutex_destroy(&s.lat_mu);
    pthread_mutex_destroy(&s.queue_mu);
    curl_global_cleanup();
    return atomic_load(&s.duplicates) || atomic_load(&s.setup_errors) || lost ? 1 : 0;
}
