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
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/routeros.h"
#include "lib/opts.h"

/* A job id and when: for a queued job, a = when its create's answer
 * arrived; for a delivered one, a = when the poll that brought it started and
 * b = when its answer arrived. */
struct jid {
    char id[37];
    double a, b;
};

struct idlist {
    struct jid *id;
    size_t n, cap;
};

struct buf {
    char *p;
    size_t n, cap;
};

struct router {
    char site_id[64];
    char token[64]; /* device token */
    char name[32];
    double next;            /* monotonic seconds of the next poll */
    bool gone;              /* torn down */
    unsigned seq;           /* backups uploaded */
    struct idlist seen;     /* jobs delivered to it (under queue_mu) */
    struct idlist queued;   /* jobs --queue-rate created for it (under queue_mu) */
    atomic_int undelivered; /* of those, not delivered yet */
    /* the poll in flight (the event loop's) */
    CURL *easy;
    struct curl_slist *hdr;
    struct buf in;
    double t0;    /* when it started */
    bool backlog; /* a queued job was waiting when it started: its answer is not held */
    int node;     /* which --url */
};

/* A poll's answer that carries work (a job, a teardown), for a job thread. */
struct task {
    long r;
    char *answer;
    double t0, t1; /* the poll's start, its answer's arrival */
    struct task *next;
};

#define SIM_MAX_URLS 8

struct sim {
    const char *url;                /* the first --url: sites are created there */
    const char *urls[SIM_MAX_URLS]; /* every --url (nodes of one fleet); polls pick one at random */
    int nurls;
    const char *op_token, *record, *tokens_out;
    long routers, interval, wait, duration, threads, queue_rate, sources;
    bool fresh; /* --fresh-connections */
    double fail_rate;
    struct router *r;
    FILE *rec;
    pthread_mutex_t rec_mu;
    atomic_long
        poll_causes[CURL_LAST + 2]; /* poll errors by CURLcode; then HTTP status, truncated */
    atomic_long polls, poll_errors, jobs, done, failed, backups, backup_errors, duplicates,
        report_errors, foreign_urls, teardowns, setup_errors;
    pthread_mutex_t lat_mu;
    struct samples {
        double *v;
        size_t n, cap;
    } lat, wake; /* poll latencies (lat_mu); express wakes (queue_mu), ms */
    double t_end;
    /* hand-offs: routers to (re)schedule, to the event loop (hand_mu, with a
     * write to efd); tasks to the job threads (hand_mu, task_cv) */
    pthread_mutex_t hand_mu;
    pthread_cond_t task_cv;
    int efd;
    long *back;
    size_t nback, capback;
    struct task *tasks, *tasks_tail;
    bool stop;
    atomic_long busy; /* tasks not yet handed back */
    long max_in_flight;
    /* --queue-rate: jobs are queued from the moment every router is adopted
     * (t_run) for --duration seconds; routers then poll on until every queued
     * job was delivered, or until 3 intervals pass without a delivery of one
     * (a router with a backlog takes one job per poll: it keeps progressing). */
    atomic_long ready, queued, queue_errors, delivered_queued;
    atomic_long queuers; /* still queueing */
    pthread_mutex_t queue_mu;
    _Atomic double t_run, t_delivered; /* 0 until the run starts; the last delivery */
};

struct worker {
    struct sim *s;
    long first, step; /* adopts routers first, first+step, ... */
    unsigned seed;
    CURL *c;
};

static void sample(struct samples *v, double ms)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4096;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        if (!v->v)
            abort();
    }
    v->v[v->n++] = ms;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

static struct jid *id_in(const struct idlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->id[i].id, id))
            return &l->id[i];
    return NULL;
}

static void id_add(struct idlist *l, const char *id, double a, double b)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void *p = realloc(l->id, cap * sizeof *l->id);
        if (!p)
            abort();
        l->id = p;
        l->cap = cap;
    }
    struct jid *j = &l->id[l->n++];
    snprintf(j->id, sizeof j->id, "%s", id);
    j->a = a;
    j->b = b;
}

/* An express wake: the poll that brought a queued job was open before the
 * job's create answered (t201); its wrapper arrived at t1. A wrapper that
 * arrived before the create's answer was read counts as no wait at all. */
static void woke(struct sim *s, double t0, double t1, double t201)
{
    if (t0 < t201)
        sample(&s->wake, t1 > t201 ? (t1 - t201) * 1000 : 0);
}

/* Remembers a job delivered to r by the poll of t0 (answered at t1); returns
 * true when it was delivered before. A job belongs to one site, so a
 * per-router list finds every duplicate. */
static bool seen_before(struct sim *s, struct router *r, const char *job, double t0, double t1)
{
    pthread_mutex_lock(&s->queue_mu); /* a queuer may look at r->seen */
    bool again = id_in(&r->seen, job) != NULL;
    if (!again) {
        id_add(&r->seen, job, t0, t1);
        struct jid *q = id_in(&r->queued, job);
        if (q) {
            atomic_fetch_add(&s->delivered_queued, 1);
            atomic_fetch_sub(&r->undelivered, 1);
            s->t_delivered = now_mono();
            woke(s, t0, t1, q->a);
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
        double now = now_mono();
        if (t > now)
            usleep((useconds_t)((t - now) * 1e6));
        t += 1.0 / q->rate;
        struct router *r = &s->r[rand_r(&q->seed) % (unsigned)s->routers];
        if (!r->token[0] || r->gone)
            continue;
        char url[512];
        snprintf(url, sizeof url, "%s/api/asynchronous/%s", s->url, r->site_id);
        long st = http(c, "POST", url, s->op_token, "application/json", body, strlen(body), 30, &b);
        double t201 = now_mono();
        json_t *j = st == 200 ? json_loads(b.p, 0, NULL) : NULL; /* this API answers 200 */
        const char *id =
            json_string_value(json_object_get(json_object_get(j, "data"), "request_id"));
        if (!id || strlen(id) != 36) {
            atomic_fetch_add(&s->queue_errors, 1);
        } else {
            pthread_mutex_lock(&s->queue_mu);
            id_add(&r->queued, id, t201, 0);
            atomic_fetch_add(&s->queued, 1);
            struct jid *seen = id_in(&r->seen, id);
            if (seen) { /* delivered before this answer was read */
                atomic_fetch_add(&s->delivered_queued, 1);
                woke(s, seen->a, seen->b, t201);
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

static void run_job(struct worker *w, struct router *r, const char *script, double t0, double t1)
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
    if (seen_before(s, r, id, t0, t1)) {
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

/* The event loop: every poll in flight, driven by libcurl's multi socket
 * interface on epoll, and the routers due next in a heap by time. The
 * routers are spread over several multi handles (router i on multi i % nm):
 * libcurl keeps one list of connections per host in each, and finding a
 * finished connection in it takes time in its length. */
#define ROUTERS_PER_MULTI 1024

struct multi {
    struct loop *L;
    CURLM *m;
    double timer_at; /* libcurl's next timeout; 0: none */
};

struct loop {
    struct sim *s;
    struct multi *m;
    int nm, ep;
    long *heap; /* router indices, the soonest next first */
    size_t nheap, capheap;
    long in_flight;
    unsigned seed;
};

static bool sooner(struct loop *L, size_t i, size_t j)
{
    return L->s->r[L->heap[i]].next < L->s->r[L->heap[j]].next;
}

static void heap_swap(struct loop *L, size_t i, size_t j)
{
    long t = L->heap[i];
    L->heap[i] = L->heap[j];
    L->heap[j] = t;
}

static void heap_push(struct loop *L, long r)
{
    if (L->nheap == L->capheap) {
        L->capheap = L->capheap ? L->capheap * 2 : 1024;
        L->heap = realloc(L->heap, L->capheap * sizeof *L->heap);
        if (!L->heap)
            abort();
    }
    size_t i = L->nheap++;
    L->heap[i] = r;
    for (; i && sooner(L, i, (i - 1) / 2); i = (i - 1) / 2)
        heap_swap(L, i, (i - 1) / 2);
}

static long heap_pop(struct loop *L)
{
    long top = L->heap[0];
    L->heap[0] = L->heap[--L->nheap];
    for (size_t i = 0;;) {
        size_t k = i, l = 2 * i + 1, r = l + 1;
        if (l < L->nheap && sooner(L, l, k))
            k = l;
        if (r < L->nheap && sooner(L, r, k))
            k = r;
        if (k == i)
            break;
        heap_swap(L, i, k);
        i = k;
    }
    return top;
}

/* A router goes (back) to the event loop: adopted, or its job run. */
static void hand_back(struct sim *s, long r)
{
    pthread_mutex_lock(&s->hand_mu);
    if (s->nback == s->capback) {
        s->capback = s->capback ? s->capback * 2 : 1024;
        s->back = realloc(s->back, s->capback * sizeof *s->back);
        if (!s->back)
            abort();
    }
    s->back[s->nback++] = r;
    pthread_mutex_unlock(&s->hand_mu);
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0) { /* the counter is full: the loop is awake */
    }
}

/* epoll's word for a socket: its multi (+1: 0 is the eventfd) and its fd. */
static uint64_t ev_key(const struct multi *m, int fd)
{
    return (uint64_t)(m - m->L->m + 1) << 32 | (uint32_t)fd;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *up, void *sockp)
{
    (void)e;
    (void)sockp;
    struct multi *m = up;
    struct loop *L = m->L;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(L->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.u64 = ev_key(m, fd)};
    if (epoll_ctl(L->ep, EPOLL_CTL_MOD, fd, &ev) && errno == ENOENT)
        epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *cm, long ms, void *up)
{
    (void)cm;
    struct multi *m = up;
    m->timer_at = ms < 0 ? 0 : now_mono() + (double)ms / 1000;
    return 0;
}

static void poll_start(struct loop *L, long i)
{
    struct sim *s = L->s;
    struct router *r = &s->r[i];
    if (!r->easy) {
        char line[128];
        snprintf(line, sizeof line, "Authorization: Bearer %s", r->token);
        r->hdr = curl_slist_append(curl_slist_append(NULL, line), "Content-Type: text/plain");
        r->easy = curl_easy_init();
    }
    char url[512], body[512];
    r->node = s->nurls > 1 ? (int)(rand_r(&L->seed) % (unsigned)s->nurls) : 0;
    snprintf(url, sizeof url, s->wait ? "%s/poll?wait=%ld" : "%s/poll", s->urls[r->node], s->wait);
    snprintf(body, sizeof body,
             "name=%s;version=7.16 (stable);uptime=%ldm;cpu-load=%u;free-memory=%u;"
             "free-hdd-space=%u;board-name=CHR;architecture-name=x86_64",
             r->name, (long)now_mono() / 60 % 100000, rand_r(&L->seed) % 100,
             500000000u + rand_r(&L->seed) % 1000000, 80000000u);
    CURL *c = r->easy;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->in);
    curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, s->wait + 30);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (s->fresh) { /* as /tool fetch: a connection per request */
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (s->sources) {
        char src[48];
        snprintf(src, sizeof src, "host!127.0.0.%ld", 2 + i % s->sources);
        curl_easy_setopt(c, CURLOPT_INTERFACE, src);
    }
    r->in.n = 0;
    r->t0 = now_mono();
    r->backlog = atomic_load(&r->undelivered) > 0;
    if (curl_multi_add_handle(L->m[i % L->nm].m, c) != CURLM_OK) {
        atomic_fetch_add(&s->polls, 1);
        atomic_fetch_add(&s->poll_errors, 1);
        r->next = r->t0 + (double)s->interval;
        heap_push(L, i);
        return;
    }
    if (++L->in_flight > s->max_in_flight)
        s->max_in_flight = L->in_flight;
}

/* A poll's answer: counted, timed, and its job (or teardown) handed to a job
 * thread; otherwise the router's next poll is scheduled, one interval (+-10%
 * jitter) after this one started, as RouterOS's scheduler starts them. */
static void poll_done(struct loop *L, CURL *c, CURLcode rc)
{
    struct sim *s = L->s;
    struct router *r = NULL;
    curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&r);
    curl_multi_remove_handle(L->m[(r - s->r) % L->nm].m, c);
    L->in_flight--;
    long st = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    double t1 = now_mono();
    double jitter = ((double)(rand_r(&L->seed) % 2001) / 1000.0 - 1.0) * 0.1;
    r->next = r->t0 + (double)s->interval * (1.0 + jitter);
    atomic_fetch_add(&s->polls, 1);
    const char *a = r->in.n ? r->in.p : NULL;
    size_t n = a ? strlen(a) : 0, m = strlen(ROS_END_MARK);
    if (st != 200 || !a || n < m || strcmp(a + n - m, ROS_END_MARK)) {
        /* a router would not run a truncated answer */
        atomic_fetch_add(&s->poll_errors, 1);
        atomic_fetch_add(&s->poll_causes[rc != CURLE_OK ? (int)rc
                                         : st != 200    ? CURL_LAST
                                                        : CURL_LAST + 1],
                         1);
        heap_push(L, r - s->r);
        return;
    }
    /* With --wait, only answers that are not held (a job was waiting when
     * the poll started) are latency; with --queue-rate, only the polls of the
     * run itself count (not those while routers are adopted). */
    if ((!s->wait || r->backlog) && (!s->queue_rate || (s->t_run && r->t0 >= s->t_run))) {
        pthread_mutex_lock(&s->lat_mu);
        sample(&s->lat, (t1 - r->t0) * 1000);
        pthread_mutex_unlock(&s->lat_mu);
    }
    if (!strstr(a, "# jobplane job ") && !strstr(a, "# jobplane teardown")) {
        heap_push(L, r - s->r);
        return;
    }
    struct task *t = malloc(sizeof *t);
    if (!t)
        abort();
    *t = (struct task){.r = r - s->r, .answer = r->in.p, .t0 = r->t0, .t1 = t1};
    r->in = (struct buf){0};
    atomic_fetch_add(&s->busy, 1);
    pthread_mutex_lock(&s->hand_mu);
    if (s->tasks_tail)
        s->tasks_tail->next = t;
    else
        s->tasks = t;
    s->tasks_tail = t;
    pthread_cond_signal(&s->task_cv);
    pthread_mutex_unlock(&s->hand_mu);
}

/* Runs until the run is over and nothing is in flight: no poll, no job. */
static void loop_run(struct sim *s)
{
    struct loop L = {.s = s, .ep = epoll_create1(EPOLL_CLOEXEC), .seed = 7};
    L.nm = (int)(s->routers / ROUTERS_PER_MULTI + 1);
    L.m = calloc((size_t)L.nm, sizeof *L.m);
    if (!L.m)
        abort();
    for (int i = 0; i < L.nm; i++) {
        L.m[i] = (struct multi){.L = &L, .m = curl_multi_init()};
        curl_multi_setopt(L.m[i].m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(L.m[i].m, CURLMOPT_SOCKETDATA, &L.m[i]);
        curl_multi_setopt(L.m[i].m, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(L.m[i].m, CURLMOPT_TIMERDATA, &L.m[i]);
        curl_multi_setopt(L.m[i].m, CURLMOPT_MAXCONNECTS, 64L); /* idle ones kept for reuse */
    }
    epoll_ctl(L.ep, EPOLL_CTL_ADD, s->efd, &(struct epoll_event){.events = EPOLLIN, .data.u64 = 0});
    struct epoll_event ev[256];
    int running = 0;
    for (;;) {
        /* read before the hand-offs are taken: an adopter hands a router back
         * before it counts it ready, a job thread before it counts it done */
        long ready = atomic_load(&s->ready), busy = atomic_load(&s->busy);
        pthread_mutex_lock(&s->hand_mu);
        for (size_t k = 0; k < s->nback; k++)
            if (!s->r[s->back[k]].gone)
                heap_push(&L, s->back[k]);
        s->nback = 0;
        pthread_mutex_unlock(&s->hand_mu);
        double now = now_mono();
        bool over = finished(s, now);
        while (!over && L.nheap && s->r[L.heap[0]].next <= now &&
               (s->queue_rate || s->r[L.heap[0]].next <= s->t_end))
            poll_start(&L, heap_pop(&L));
        bool more = !over && (ready < s->routers ||
                              (L.nheap && (s->queue_rate || s->r[L.heap[0]].next <= s->t_end)));
        if (!more && !L.in_flight && !busy)
            break;
        double until = now + 0.25; /* short naps: the end may come from elsewhere */
        if (L.nheap && s->r[L.heap[0]].next < until)
            until = s->r[L.heap[0]].next;
        for (int i = 0; i < L.nm; i++)
            if (L.m[i].timer_at && L.m[i].timer_at < until)
                until = L.m[i].timer_at;
        int ms = until > now ? (int)((until - now) * 1000) + 1 : 0;
        int k = epoll_wait(L.ep, ev, 256, ms);
        for (int e = 0; e < k; e++) {
            uint64_t key = ev[e].data.u64;
            if (!key) {
                uint64_t v;
                if (read(s->efd, &v, sizeof v) < 0) { /* nothing to read: fine */
                }
                continue;
            }
            int flags = (ev[e].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (ev[e].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (ev[e].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(L.m[(key >> 32) - 1].m, (curl_socket_t)(uint32_t)key, flags,
                                     &running);
        }
        now = now_mono();
        for (int i = 0; i < L.nm; i++) {
            if (L.m[i].timer_at && now >= L.m[i].timer_at) {
                L.m[i].timer_at = 0;
                curl_multi_socket_action(L.m[i].m, CURL_SOCKET_TIMEOUT, 0, &running);
            }
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(L.m[i].m, &left)))
                if (msg->msg == CURLMSG_DONE)
                    poll_done(&L, msg->easy_handle, msg->data.result);
        }
    }
    for (int i = 0; i < L.nm; i++)
        curl_multi_cleanup(L.m[i].m);
    free(L.m);
    close(L.ep);
    free(L.heap);
}

/* A job thread: runs the jobs (and teardowns) the polls bring, one at a time. */
static void *jobber_main(void *arg)
{
    struct worker *w = arg;
    struct sim *s = w->s;
    w->c = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&s->hand_mu);
        while (!s->tasks && !s->stop)
            pthread_cond_wait(&s->task_cv, &s->hand_mu);
        struct task *t = s->tasks;
        if (t && !(s->tasks = t->next))
            s->tasks_tail = NULL;
        pthread_mutex_unlock(&s->hand_mu);
        if (!t)
            break;
        struct router *r = &s->r[t->r];
        if (strstr(t->answer, "# jobplane job ")) {
            run_job(w, r, t->answer, t->t0, t->t1);
        } else { /* teardown: the router says so, and stops polling */
            char url[512];
            struct buf b = {0};
            snprintf(url, sizeof url, "%s/notify/delete", s->urls[r->node]);
            http(w->c, "POST", url, r->token, "text/plain", "", 0, 30, &b);
            free(b.p);
            r->gone = true;
            atomic_fetch_add(&s->teardowns, 1);
        }
        long i = t->r;
        free(t->answer);
        free(t);
        hand_back(s, i);
        atomic_fetch_sub(&s->busy, 1);
    }
    curl_easy_cleanup(w->c);
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

/* An adoption thread: adopts its share of the routers, handing each to the
 * event loop as it is adopted, its first poll at a random point of one
 * interval. */
static void *adopter_main(void *arg)
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
        hand_back(s, i);
        if (atomic_fetch_add(&s->ready, 1) + 1 == s->routers && s->queue_rate) {
            s->t_run = now_mono(); /* the last router is adopted: the run starts */
        }
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
    fprintf(f,
            "usage: jobplane sim --url URL [--url URL2 ...] --token OPERATOR_TOKEN --routers N\n"
            "                    --interval S\n"
            "                    [--fail-rate P] [--wait N] [--duration S] [--threads T]\n"
            "                    [--record FILE] [--tokens FILE] [--queue-rate N] [--sources N]\n"
            "                    [--fresh-connections]\n"
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
            "64) adopt the routers and run the jobs.\n");
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
        case 's': bad |= opt_long(optarg, 0, 250, &s.sources); break;
        case 'F': s.fresh = true; break;
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
    pthread_cond_init(&s.task_cv, NULL);
    s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double t0 = now_mono();
    s.t_end = t0 + (double)s.duration;
    long nq = s.queue_rate ? (s.queue_rate + 49) / 50 : 0; /* ~50 creates/s each */
    if (nq > 32)
        nq = 32;
    atomic_store(&s.queuers, nq);
    /* adopters (each its share of the routers), then as many job threads */
    struct worker *w = calloc((size_t)s.threads * 2, sizeof *w);
    pthread_t *tid = calloc((size_t)s.threads * 2, sizeof *tid);
    for (long i = 0; i < s.threads * 2; i++) {
        w[i] = (struct worker){.s = &s, .first = i, .step = s.threads, .seed = (unsigned)(i + 1)};
        pthread_create(&tid[i], NULL, i < s.threads ? adopter_main : jobber_main, &w[i]);
    }
    struct queuer *q = calloc((size_t)nq + 1, sizeof *q);
    pthread_t *qid = calloc((size_t)nq + 1, sizeof *qid);
    for (long i = 0; i < nq; i++) {
        q[i] = (struct queuer){
            .s = &s, .rate = (double)s.queue_rate / (double)nq, .seed = (unsigned)(1000 + i)};
        pthread_create(&qid[i], NULL, queuer_main, &q[i]);
    }
    loop_run(&s);
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
    double elapsed = now_mono() - t0;
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
    free(s.lat.v);
    free(s.wake.v);
    for (long i = 0; i < s.routers; i++) {
        free(s.r[i].seen.id);
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
    pthread_cond_destroy(&s.task_cv);
    curl_global_cleanup();
    return atomic_load(&s.duplicates) || atomic_load(&s.setup_errors) || lost ? 1 : 0;
}
