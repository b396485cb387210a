/* The event loop of `jobplane sim`: every poll of every router, and the
 * threads that adopt the routers and run the jobs. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cli/sim.h"
#include "core/routeros.h"

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
static void sim_hand_back(struct sim *s, long r)
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
    m->timer_at = ms < 0 ? 0 : sim_now() + (double)ms / 1000;
    return 0;
}

static void poll_start(struct loop *L, long i)
{
    struct sim *s = L->s;
    struct router *r = &s->r[i];
    if (!r->hdr) {
        char line[128];
        snprintf(line, sizeof line, "Authorization: Bearer %s", r->token);
        r->hdr = curl_slist_append(curl_slist_append(NULL, line), "Content-Type: text/plain");
    }
    if (!r->easy)
        r->easy = curl_easy_init();
    char url[512], body[640];
    double now = sim_now();
    if (r->revert_armed && now >= r->revert_at) {
        /* its revert scheduler fires: the configuration from before the
         * job comes back (without the scheduler), and the router restarts */
        r->revert_armed = false;
        r->boot_at = now;
        if (r->seq)
            r->seq--;
        atomic_fetch_add(&s->reverts, 1);
    }
    const char *armed = r->revert_armed && r->revert_state == 'w' ? r->revert_token : "",
               *undone = r->revert_armed ? "" : r->revert_token;
    r->node = s->nurls > 1 ? (int)(rand_r(&L->seed) % (unsigned)s->nurls) : 0;
    /* the poll script holds its polls where fetch has idle-timeout= (7.15+) */
    bool hold = s->wait && r->version >= ROS_V_IDLE_TIMEOUT;
    snprintf(url, sizeof url, hold ? "%s/poll?wait=%ld" : "%s/poll", s->urls[r->node], s->wait);
    snprintf(body, sizeof body,
             "name=%s;version=%d.%d (stable);uptime=%lds;cpu-load=%u;free-memory=%u;"
             "free-hdd-space=%u;board-name=CHR;architecture-name=x86_64;jobplane-script=%s;"
             "jobplane-reboot=%s;jobplane-armed=%s;jobplane-reverted=%s",
             r->name, r->version / 10000, r->version / 100 % 100, (long)(sim_now() - r->boot_at),
             rand_r(&L->seed) % 100, 500000000u + rand_r(&L->seed) % 1000000, 80000000u, r->rev,
             r->reboot_token, armed, undone);
    CURL *c = r->easy;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_on_data);
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
    r->t0 = sim_now();
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

/* --downgrade-after: the router now runs RouterOS 7.12, and its scheduler
 * runs its poll script only if that compiles there. false: it polls no more. */
static bool downgrade(struct sim *s, struct router *r, double now)
{
    if (!s->downgrade_after || r->version < ROS_V_IDLE_TIMEOUT ||
        now < s->t_start + (double)s->downgrade_after)
        return true;
    r->version = 71200;
    atomic_fetch_add(&s->downgraded, 1);
    if (sim_compiles(r->script, r->version))
        return true;
    r->gone = true;
    atomic_fetch_add(&s->stopped, 1);
    return false;
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
    double t1 = sim_now();
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
        sim_sample(&s->lat, (t1 - r->t0) * 1000);
        pthread_mutex_unlock(&s->lat_mu);
    }
    r->reboot_token[0] = '\0';                    /* the poll got through: the file goes */
    if (!r->revert_armed && r->revert_token[0]) { /* and the word of a revert */
        sim_record(s, r->site_id, r->revert_token, "reverted");
        r->revert_token[0] = '\0';
        r->revert_state = 0;
    }
    if (!strncmp(a, "# jobplane poll script update", 29)) {
        /* the answer replaces the poll script; the next tick runs the new one */
        char *src = ros_find_local(a, "jpPoll");
        if (src && sim_compiles(src, r->version)) {
            sim_install(s, r, src);
            atomic_fetch_add(&s->updates, 1);
            sim_record(s, r->site_id, r->rev, "updated");
        }
        free(src);
    }
    if (!strstr(a, "# jobplane job ") && !strstr(a, "# jobplane teardown") &&
        !strstr(a, "its revert is disarmed")) {
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
void sim_loop_run(struct sim *s)
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
        double now = sim_now();
        bool over = sim_finished(s, now);
        while (!over && L.nheap && s->r[L.heap[0]].next <= now &&
               (s->queue_rate || s->r[L.heap[0]].next <= s->t_end)) {
            long i = heap_pop(&L);
            if (downgrade(s, &s->r[i], now))
                poll_start(&L, i);
        }
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
        now = sim_now();
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
void *sim_jobber_main(void *arg)
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
            sim_run_job(w, r, t->answer, t->t0, t->t1);
        } else if (strstr(t->answer, "its revert is disarmed")) {
            sim_disarm(w, r, t->answer);
        } else { /* teardown: the router says so, and stops polling */
            char url[512];
            struct buf b = {0};
            snprintf(url, sizeof url, "%s/notify/delete", s->urls[r->node]);
            sim_http(w->c, "POST", url, r->token, "text/plain", "", 0, 30, &b);
            free(b.p);
            r->gone = true;
            atomic_fetch_add(&s->teardowns, 1);
        }
        long i = t->r;
        free(t->answer);
        free(t);
        sim_hand_back(s, i);
        atomic_fetch_sub(&s->busy, 1);
    }
    curl_easy_cleanup(w->c);
    return NULL;
}

/* An adoption thread: adopts its share of the routers, handing each to the
 * event loop as it is adopted, its first poll at a random point of one
 * interval. */
void *sim_adopter_main(void *arg)
{
    struct worker *w = arg;
    struct sim *s = w->s;
    w->c = curl_easy_init();
    for (long i = w->first; i < s->routers; i += w->step) {
        if (sim_setup_router(w, i)) {
            atomic_fetch_add(&s->setup_errors, 1);
            s->r[i].gone = true;
        }
        s->r[i].next = sim_now() + (double)(rand_r(&w->seed) % 1000) / 1000.0 * s->interval;
        sim_hand_back(s, i);
        if (atomic_fetch_add(&s->ready, 1) + 1 == s->routers && s->queue_rate) {
            s->t_run = sim_now(); /* the last router is adopted: the run starts */
        }
    }
    curl_easy_cleanup(w->c);
    return NULL;
}
