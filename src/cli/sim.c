/* `jobplane sim`: a simulated fleet. Creates and adopts N sites through the
 * real endpoints, then polls each at its interval (with jitter), reads every
 * answer as a router would (the wrapper's signed URLs and payload are decoded
 * from their RouterOS literals), reports busy, uploads a backup when asked,
 * then done or fail, and prints what it saw. It talks only to --url: a URL in
 * a script that points elsewhere is refused and counted.
 *
 * Threads: --threads adopt the routers, then run the jobs their polls bring
 * (blocking requests, as a router runs its job before its next poll). The
 * polls themselves all run on one event loop (libcurl's multi interface on
 * epoll), so a fleet can hold as many polls open at once as file
 * descriptors allow; with --fresh-connections each on a connection of its
 * own, as RouterOS's /tool fetch opens one. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sim.h"
#include "lib/opts.h"

/* Whether the run is over at time t. */
/* SIGTERM or SIGINT: the run ends as if its time were up (the report is
 * printed). */
static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
    (void)sig;
    stop_asked = 1;
}

bool sim_finished(struct sim *s, double t)
{
    if (stop_asked)
        return true;
    if (!s->queue_rate)
        return t >= s->t_end;
    if (!s->t_run || atomic_load(&s->queuers))
        return false; /* routers are still being adopted, or jobs queued */
    double since = s->t_run + (double)s->duration;
    if (s->t_delivered > since)
        since = s->t_delivered;
    return atomic_load(&s->delivered_queued) >= atomic_load(&s->queued) ||
           t >= since + 3.0 * (double)s->interval;
}

/* --queue-rate: creates jobs at random adopted routers through the operator
 * API, paced to its share of the rate, from t_run for --duration seconds.
 * With --wait the jobs ask for express execution. */
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
    const char *body = s->wait ? "{\"description\":\"sim fleet\",\"script\":\":put sim\","
                                 "\"express_execute\":true}"
                               : "{\"description\":\"sim fleet\",\"script\":\":put sim\"}";
    while (t < end) {
        double now = sim_now();
        if (t > now)
            usleep((useconds_t)((t - now) * 1e6));
        t += 1.0 / q->rate;
        struct router *r = &s->r[rand_r(&q->seed) % (unsigned)s->routers];
        if (!r->token[0] || r->gone)
            continue;
        char url[512];
        snprintf(url, sizeof url, "%s/api/asynchronous/%s", s->url, r->site_id);
        long st =
            sim_http(c, "POST", url, s->op_token, "application/json", body, strlen(body), 30, &b);
        double t201 = sim_now();
        json_t *j = st == 200 ? json_loads(b.p, 0, NULL) : NULL; /* this API answers 200 */
        const char *id =
            json_string_value(json_object_get(json_object_get(j, "data"), "request_id"));
        if (!id || strlen(id) != 36) {
            atomic_fetch_add(&s->queue_errors, 1);
        } else {
            pthread_mutex_lock(&s->queue_mu);
            sim_id_add(&r->queued, id, t201, 0);
            atomic_fetch_add(&s->queued, 1);
            struct jid *seen = sim_id_in(&r->seen, id);
            if (seen) { /* delivered before this answer was read */
                atomic_fetch_add(&s->delivered_queued, 1);
                sim_woke(s, seen->a, seen->b, t201);
            } else {
                atomic_fetch_add(&r->undelivered, 1);
            }
            pthread_mutex_unlock(&s->queue_mu);
        }
        json_decref(j);
    }
    free(b.p);
    curl_easy_cleanup(c);
    atomic_fetch_sub(&s->queuers, 1);
    return NULL;
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
            const char *id = r->queued.id[k].id;
            if (sim_id_in(&r->seen, id))
                continue;
            char url[512];
            snprintf(url, sizeof url, "%s/site/%s/job/%s", s->url, r->site_id, id);
            long st = sim_http(c, "GET", url, s->op_token, NULL, NULL, 0, 30, &b);
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
    fprintf(f,
            "usage: jobplane sim --url URL [--url URL2 ...] --token OPERATOR_TOKEN --routers N\n"
            "                    --interval S\n"
            "                    [--fail-rate P] [--wait N] [--duration S] [--threads T]\n"
            "                    [--record FILE] [--tokens FILE] [--queue-rate N] [--sources N]\n"
            "                    [--fresh-connections] [--restore] [--downgrade-after S]\n"
            "                    [--cut-off-rate P]\n"
            "Creates and adopts N sites, polls each every S seconds (+-10%% jitter) for\n"
            "--duration seconds (default 60), runs every job handed out, then prints what\n"
            "it saw. --record appends 'delivered|done|fail|DUPLICATE SITE JOB' lines.\n"
            "Several --url (nodes on one database): each poll goes to one at random.\n"
            "--tokens FILE writes 'SITE_ID DEVICE_TOKEN' per adopted router at the end.\n"
            "--queue-rate N queues N jobs/s at random routers through the operator API\n"
            "for --duration seconds once every router is adopted; routers then poll on\n"
            "until each queued job was delivered (or 3 intervals pass without a delivery),\n"
            "and the jobs never delivered are printed as lost, with what the server\n"
            "says of each. With --wait N each poll asks the server to hold it up to N\n"
            "seconds; the jobs queued ask for express execution, and the time from a\n"
            "create's answer to the wrapper reaching a router already waiting is printed\n"
            "(express wake); poll latency then counts only answers that were not held.\n"
            "Polls reuse idle connections (up to 64 kept per 1024 routers); with\n"
            "--fresh-connections each poll opens one of its own, as RouterOS's /tool\n"
            "fetch does. --sources N\n"
            "spreads them over the loopback addresses 127.0.0.2 .. 127.0.0.N+1 (one\n"
            "address has about 28,000 ports toward one server port). --threads T (default\n"
            "64) adopt the routers and run the jobs. A backup's export holds the\n"
            "router's installed scripts, as RouterOS's does; with --restore each router\n"
            "reads its backup back from the server and applies it (the poll script of the\n"
            "backup replaces its own) and polls on with whatever token that script sends.\n"
            "Routers run the poll script the server installed: they send its revision,\n"
            "install the replacement a poll answers with, and remember the jobs they ran\n"
            "(a job handed out again reports its remembered outcome and runs nothing).\n"
            "--downgrade-after S: S seconds in, every router runs RouterOS 7.12 from its\n"
            "next poll on; one whose poll script does not compile there stops polling.\n"
            "A job with a confirmation window arms the router's revert; the server's\n"
            "answer to the next poll disarms it (and confirms the job). --cut-off-rate P:\n"
            "that share of them cut the router off, which then polls no more until its\n"
            "revert restores the configuration, and reports the job reverted.\n");
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
        {"sources", 1, 0, 's'},
        {"fresh-connections", 0, 0, 'F'},
        {"restore", 0, 0, 'R'},
        {"downgrade-after", 1, 0, 'D'},
        {"cut-off-rate", 1, 0, 'C'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct sim s = {.routers = 10, .interval = 30, .duration = 60};
    const char *fail = NULL, *cut = NULL;
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
        case 'C': cut = optarg; break;
        case 'r': s.record = optarg; break;
        case 'k': s.tokens_out = optarg; break;
        case 'q': bad |= opt_long(optarg, 0, 100000, &s.queue_rate); break;
        case 's': bad |= opt_long(optarg, 0, 250, &s.sources); break;
        case 'F': s.fresh = true; break;
        case 'R': s.restore = true; break;
        case 'D': bad |= opt_long(optarg, 1, 7 * 86400, &s.downgrade_after); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (fail) {
        char *end;
        s.fail_rate = strtod(fail, &end);
        bad |= *end || s.fail_rate < 0 || s.fail_rate > 1;
    }
    if (cut) {
        char *end;
        s.cut_off_rate = strtod(cut, &end);
        bad |= *end || s.cut_off_rate < 0 || s.cut_off_rate > 1;
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
        } else if (s.sources && strncmp(s.urls[i], "http://127.", 11)) {
            fprintf(stderr, "jobplane sim: --sources needs --url http://127.x.x.x (loopback)\n");
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
        s.threads = s.routers < 64 ? s.routers : 64;
    s.r = calloc((size_t)s.routers, sizeof *s.r);
    pthread_mutex_init(&s.rec_mu, NULL);
    pthread_mutex_init(&s.lat_mu, NULL);
    pthread_mutex_init(&s.queue_mu, NULL);
    pthread_mutex_init(&s.hand_mu, NULL);
    pthread_mutex_init(&s.scripts_mu, NULL);
    pthread_cond_init(&s.task_cv, NULL);
    s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double t0 = sim_now();
    s.t_end = t0 + (double)s.duration;
    s.t_start = t0;
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    long nq = s.queue_rate ? (s.queue_rate + 49) / 50 : 0; /* ~50 creates/s each */
    if (nq > 32)
        nq = 32;
    atomic_store(&s.queuers, nq);
    /* adopters (each its share of the routers), then as many job threads */
    struct worker *w = calloc((size_t)s.threads * 2, sizeof *w);
    pthread_t *tid = calloc((size_t)s.threads * 2, sizeof *tid);
    for (long i = 0; i < s.threads * 2; i++) {
        w[i] = (struct worker){.s = &s, .first = i, .step = s.threads, .seed = (unsigned)(i + 1)};
        pthread_create(&tid[i], NULL, i < s.threads ? sim_adopter_main : sim_jobber_main, &w[i]);
    }
    struct queuer *q = calloc((size_t)nq + 1, sizeof *q);
    pthread_t *qid = calloc((size_t)nq + 1, sizeof *qid);
    for (long i = 0; i < nq; i++) {
        q[i] = (struct queuer){
            .s = &s, .rate = (double)s.queue_rate / (double)nq, .seed = (unsigned)(1000 + i)};
        pthread_create(&qid[i], NULL, queuer_main, &q[i]);
    }
    sim_loop_run(&s);
    for (long i = 0; i < s.threads; i++)
        pthread_join(tid[i], NULL);
    for (long i = 0; i < nq; i++)
        pthread_join(qid[i], NULL);
    pthread_mutex_lock(&s.hand_mu);
    s.stop = true;
    pthread_cond_broadcast(&s.task_cv);
    pthread_mutex_unlock(&s.hand_mu);
    for (long i = s.threads; i < s.threads * 2; i++)
        pthread_join(tid[i], NULL);
    double elapsed = sim_now() - t0;
    if (s.tokens_out) { /* "site_id device_token" per adopted router (for load tools) */
        FILE *f = fopen(s.tokens_out, "w");
        for (long i = 0; f && i < s.routers; i++)
            if (s.r[i].token[0])
                fprintf(f, "%s %s\n", s.r[i].site_id, s.r[i].token);
        if (f)
            fclose(f);
    }
    if (s.lat.n)
        qsort(s.lat.v, s.lat.n, sizeof *s.lat.v, cmp_double);
    if (s.wake.n)
        qsort(s.wake.v, s.wake.n, sizeof *s.wake.v, cmp_double);
    printf("routers:          %ld (setup errors %ld)\n", s.routers, atomic_load(&s.setup_errors));
    printf("interval:         %lds, wait %lds, %.0fs run, %ld threads\n", s.interval, s.wait,
           elapsed, s.threads);
    printf("polls:            %ld (%.1f/s), errors %ld\n", atomic_load(&s.polls),
           (double)atomic_load(&s.polls) / elapsed, atomic_load(&s.poll_errors));
    for (int i = 0; i < CURL_LAST + 2; i++)
        if (atomic_load(&s.poll_causes[i]))
            printf("  poll errors:    %ld %s\n", atomic_load(&s.poll_causes[i]),
                   i < CURL_LAST    ? curl_easy_strerror((CURLcode)i)
                   : i == CURL_LAST ? "HTTP status not 200"
                                    : "answer without its end line");
    printf("poll latency ms:  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%zu answers%s)\n",
           pct(s.lat.v, s.lat.n, 0.5), pct(s.lat.v, s.lat.n, 0.9), pct(s.lat.v, s.lat.n, 0.99),
           s.lat.n ? s.lat.v[s.lat.n - 1] : 0, s.lat.n, s.wait ? " not held" : "");
    printf("in flight:        at most %ld polls at once\n", s.max_in_flight);
    if (s.wait && s.queue_rate)
        printf("express wake ms:  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%zu jobs)\n",
               pct(s.wake.v, s.wake.n, 0.5), pct(s.wake.v, s.wake.n, 0.9),
               pct(s.wake.v, s.wake.n, 0.99), s.wake.n ? s.wake.v[s.wake.n - 1] : 0, s.wake.n);
    printf("jobs run:         %ld (done %ld, failed %ld)\n", atomic_load(&s.jobs),
           atomic_load(&s.done), atomic_load(&s.failed));
    printf("backups:          %ld uploaded, %ld failed\n", atomic_load(&s.backups),
           atomic_load(&s.backup_errors));
    printf("report errors:    %ld\n", atomic_load(&s.report_errors));
    if (s.restore)
        printf("restores:         %ld applied, %ld failed\n", atomic_load(&s.restores),
               atomic_load(&s.restore_errors));
    printf("teardowns:        %ld\n", atomic_load(&s.teardowns));
    printf("script updates:   %ld\n", atomic_load(&s.updates));
    printf("dry runs:         %ld (parsed, nothing ran)\n", atomic_load(&s.dry_runs));
    printf("reboots:          %ld (jobs that restarted the router)\n", atomic_load(&s.reboots));
    long armed = 0;
    for (long i = 0; i < s.routers; i++)
        armed += s.r[i].revert_armed;
    printf("confirm-or-revert: %ld confirmed, %ld reverted (%ld cut off), %ld still armed\n",
           atomic_load(&s.confirmed), atomic_load(&s.reverts), atomic_load(&s.cut_offs), armed);
    printf("refused reports:  %ld (409: their delivery was over)\n", atomic_load(&s.refused));
    printf("remembered jobs:  %ld (handed out again, reported, not run)\n",
           atomic_load(&s.remembered));
    if (s.downgrade_after)
        printf("downgraded:       %ld to 7.12, %ld stopped polling (script did not compile)\n",
               atomic_load(&s.downgraded), atomic_load(&s.stopped));
    printf("foreign URLs:     %ld\n", atomic_load(&s.foreign_urls));
    printf("duplicates:       %ld\n", atomic_load(&s.duplicates));
    long lost = atomic_load(&s.queued) - atomic_load(&s.delivered_queued);
    if (s.queue_rate) {
        printf("setup:            %.0fs (adopting every router)\n", s.t_run - t0);
        printf("queued:           %ld in %lds (%.1f/s), errors %ld\n", atomic_load(&s.queued),
               s.duration, (double)atomic_load(&s.queued) / (double)s.duration,
               atomic_load(&s.queue_errors));
        printf("delivered:        %ld of them, drained %.0fs after queueing stopped\n",
               atomic_load(&s.delivered_queued), sim_now() - s.t_run - (double)s.duration);
        printf("lost:             %ld\n", lost);
        if (lost)
            print_lost(&s);
    }
    if (s.rec)
        fclose(s.rec);
    free(s.lat.v);
    free(s.wake.v);
    for (long i = 0; i < s.routers; i++) {
        free(s.r[i].seen.id);
        free(s.r[i].ran.id);
        free(s.r[i].queued.id);
        free(s.r[i].in.p);
        curl_slist_free_all(s.r[i].hdr);
        if (s.r[i].easy)
            curl_easy_cleanup(s.r[i].easy);
    }
    free(s.back);
    close(s.efd);
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
    pthread_mutex_destroy(&s.hand_mu);
    pthread_mutex_destroy(&s.scripts_mu);
    for (struct script_copy *k = s.scripts, *next; k; k = next) {
        next = k->next;
        free(k->text);
        free(k);
    }
    pthread_cond_destroy(&s.task_cv);
    curl_global_cleanup();
    return atomic_load(&s.duplicates) || atomic_load(&s.setup_errors) || lost ? 1 : 0;
}
