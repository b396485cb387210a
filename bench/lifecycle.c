/* Durable job lifecycles against a running jobplane: CONNS keep-alive
 * connections, each with its own adopted site, loop create -> poll -> busy ->
 * done for SECONDS and count complete lifecycles. Each step is an HTTP request
 * that waits for its commit; the next step is sent when the previous answer
 * has arrived. One thread drives every connection with epoll (as wrk does),
 * so the client takes as little of the machine as it can.
 * Usage: lifecycle URL OPERATOR_TOKEN TOKENS_FILE CONNS SECONDS
 * (TOKENS_FILE: "site_id device_token" lines, e.g. from jobplane sim --tokens) */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "core/routeros.h"
#include "wire.h"

enum step { CREATE, POLL, BUSY, DONE };

struct conn {
    int fd;
    enum step step;
    char site[64], token[64];
    char busy[512], done[512]; /* paths of the signed report URLs */
    char in[65536];
    size_t got;
    char job[40]; /* the id of the job just created */
    double t0;    /* start of this lifecycle */
    unsigned long n;
};

static const char *optoken;
static char host[128];
static struct sockaddr_in addr;
static long cycles, errors, duplicates, lost;
static double *lat;
static size_t nlat, caplat;

/* Sends the request for c's current step. */
static int send_step(struct conn *c)
{
    char req[2048];
    int n = 0;
    switch (c->step) {
    case CREATE:
        n = snprintf(req, sizeof req,
                     "POST /site/%s/job HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: text/plain\r\nX-Description: bench lifecycle\r\n"
                     "X-Idempotency-Key: %08lx-0000-4000-8000-%012lx\r\n"
                     "Content-Length: 22\r\n\r\n/system identity print",
                     c->site, host, optoken, (unsigned long)c->fd, c->n++);
        break;
    case POLL:
        n = snprintf(req, sizeof req,
                     "POST /poll HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nname=bench",
                     host, c->token);
        break;
    case BUSY:
    case DONE:
        n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                     c->step == BUSY ? c->busy : c->done, host);
        break;
    }
    return write(c->fd, req, (size_t)n) == n ? 0 : -1;
}

/* The path of a local's URL in a wrapper script. */
static bool url_path(const char *script, const char *name, char *dst, size_t cap)
{
    char *url = ros_find_local(script, name);
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? strchr(p + 3, '/') : NULL;
    bool ok = p && strlen(p) < cap;
    if (ok)
        strcpy(dst, p);
    free(url);
    return ok;
}

/* 1 when a whole answer is in c->in (status in *code, body at *body), 0 when
 * more must arrive, -1 when it cannot be read. */
static int answer(struct conn *c, int *code, char **body)
{
    long len = answer_length(c->in);
    if (len == 0)
        return c->got < sizeof c->in - 1 ? 0 : -1;
    if (len < 0 || (size_t)len >= sizeof c->in)
        return -1;
    if (c->got < (size_t)len)
        return 0;
    *code = atoi(c->in + 9);
    *body = strstr(c->in, "\r\n\r\n") + 4;
    return 1;
}

static void record(double ms)
{
    if (nlat == caplat) {
        size_t cap = caplat ? caplat * 2 : 4096;
        double *grown = realloc(lat, cap * sizeof *lat);
        if (!grown)
            return; /* a sample fewer rather than a crash */
        lat = grown;
        caplat = cap;
    }
    lat[nlat++] = ms;
}

/* Handles a complete answer and moves c to its next step. */
static void advance(struct conn *c, int code, char *body)
{
    static const int want[] = {201, 200, 200, 200};
    bool ok = code == want[c->step];
    const char *id = ok && c->step == CREATE ? strstr(body, "\"id\":\"") : NULL;
    if (id)
        snprintf(c->job, sizeof c->job, "%.36s", id + 6);
    if (ok && c->step == POLL) {
        ok = url_path(body, "jpBusy", c->busy, sizeof c->busy) &&
             url_path(body, "jpDone", c->done, sizeof c->done);
        /* each connection has a site of its own and one job at a time: the
         * poll must bring the job just created, and no other */
        const char *got = ok ? strstr(c->busy, "/job/") : NULL;
        if (!ok)
            lost++;
        else if (!got || strncmp(got + 5, c->job, 36))
            duplicates++;
    }
    if (!ok) {
        if (errors++ == 0) /* say why, once */
            fprintf(stderr, "lifecycle: step %d answered %d: %.200s\n", c->step, code, body);
        c->step = CREATE;
        c->t0 = now();
        return;
    }
    if (c->step == DONE) {
        cycles++;
        double t = now();
        record((t - c->t0) * 1000);
        c->t0 = t;
        c->step = CREATE;
    } else {
        c->step++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: lifecycle URL OPERATOR_TOKEN TOKENS_FILE CONNS SECONDS\n");
        return 2;
    }
    if (wire_target(argv[1], &addr, host)) {
        fprintf(stderr, "lifecycle: URL must be http://IPV4:PORT\n");
        return 2;
    }
    optoken = argv[2];
    int nc = atoi(argv[4]);
    double secs = atof(argv[5]);
    FILE *f = fopen(argv[3], "r");
    struct conn *cs = calloc((size_t)nc, sizeof *cs);
    int ep = epoll_create1(0);
    double t0 = now(), deadline = t0 + secs;
    for (int i = 0; i < nc; i++) {
        struct conn *c = &cs[i];
        if (!f || fscanf(f, "%63s %63s", c->site, c->token) != 2 || (c->fd = dial(&addr)) < 0) {
            fprintf(stderr, "lifecycle: cannot set up connection %d\n", i);
            return 1;
        }
        c->t0 = t0;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd,
                  &(struct epoll_event){.events = EPOLLIN, .data.ptr = c});
        send_step(c);
    }
    fclose(f);
    struct epoll_event ev[256];
    while (now() < deadline) {
        int n = epoll_wait(ep, ev, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            ssize_t r = read(c->fd, c->in + c->got, sizeof c->in - 1 - c->got);
            if (r <= 0) {
                fprintf(stderr, "lifecycle: connection closed by the server\n");
                return 1;
            }
            c->got += (size_t)r;
            c->in[c->got] = '\0';
            int code;
            char *body;
            int a = answer(c, &code, &body);
            if (a == 0)
                continue;
            if (a < 0) {
                fprintf(stderr, "lifecycle: unreadable answer: %.200s\n", c->in);
                return 1;
            }
            advance(c, code, body);
            c->got = 0; /* one request in flight per connection: nothing follows */
            if (send_step(c)) {
                fprintf(stderr, "lifecycle: cannot send: %s\n", strerror(errno));
                return 1;
            }
        }
    }
    double el = now() - t0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    printf("lifecycles %ld in %.1fs = %.0f/s errors %ld p50 %.1fms p99 %.1fms duplicates %ld lost "
           "%ld\n",
           cycles, el, cycles / el, errors, nlat ? lat[nlat / 2] : 0,
           nlat ? lat[(size_t)(nlat * 0.99)] : 0, duplicates, lost);
    for (int i = 0; i < nc; i++)
        close(cs[i].fd);
    free(lat);
    free(cs);
    return 0;
}
