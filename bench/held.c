/* Held polls against a running jobplane: N routers each hold a poll open with
 * ?wait=60 (one keep-alive connection each, all driven from one epoll
 * thread). Measures the server's resident memory before and after, then, for
 * JOBS of those routers one after another, creates an express job and times
 * the gap from the create's 201 arriving to the held poll's wrapper arriving.
 * Usage: held URL OPERATOR_TOKEN TOKENS_FILE N JOBS SERVER_PID */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "wire.h"

struct conn {
    int fd;
    char site[64], token[64];
    char in[16384];
    size_t got;
    bool answered;
};

static struct sockaddr_in addr;
static char host[128];

/* Whether buf (got bytes) holds a whole HTTP answer. */
static bool whole(const char *buf, size_t got)
{
    long len = answer_length(buf);
    return len > 0 && got >= (size_t)len;
}

/* One request on a fresh connection; the status, the answer in out. */
static int once(const char *req, char *out, size_t cap)
{
    int fd = dial(&addr);
    if (fd < 0)
        return 0;
    size_t n = strlen(req), got = 0;
    if (write(fd, req, n) != (ssize_t)n) {
        close(fd);
        return 0;
    }
    out[0] = '\0';
    while (got < cap - 1 && !whole(out, got)) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
    }
    close(fd);
    return got > 12 ? atoi(out + 9) : 0;
}

static long rss_kib(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static long held_now(void)
{
    char req[256], out[4096];
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             host);
    if (once(req, out, sizeof out) != 200)
        return -1;
    const char *h = strstr(out, "\"held_polls\":");
    return h ? atol(h + 13) : -1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: held URL OPERATOR_TOKEN TOKENS_FILE N JOBS SERVER_PID\n");
        return 2;
    }
    if (wire_target(argv[1], &addr, host)) {
        fprintf(stderr, "held: URL must be http://IPV4:PORT\n");
        return 2;
    }
    const char *optoken = argv[2], *pid = argv[6];
    int n = atoi(argv[4]), jobs = atoi(argv[5]);
    if (jobs > n)
        jobs = n;
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    FILE *f = fopen(argv[3], "r");
    for (int i = 0; i < n; i++)
        if (!f || fscanf(f, "%63s %63s", cs[i].site, cs[i].token) != 2) {
            fprintf(stderr, "held: the tokens file has fewer than %d routers\n", n);
            return 1;
        }
    fclose(f);

    long rss0 = rss_kib(pid);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        char req[1024];
        int len = snprintf(req, sizeof req,
                           "POST /poll?wait=60 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                           "Content-Type: text/plain\r\nContent-Length: 37\r\n\r\n"
                           "name=held-bench;version=7.16 (stable)",
                           host, c->token);
        if ((c->fd = dial(&addr)) < 0 || write(c->fd, req, (size_t)len) != len) {
            fprintf(stderr, "held: cannot open poll %d: %s\n", i, strerror(errno));
            return 1;
        }
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd,
                  &(struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)i});
    }
    long held = 0;
    for (double until = now() + 30; now() < until && (held = held_now()) < n;)
        usleep(100000);
    usleep(500000); /* let the server settle before measuring */
    long rss1 = rss_kib(pid);
    printf("held %ld of %d polls; server RSS %ld KiB before, %ld KiB after: %.0f bytes per held "
           "poll\n",
           held, n, rss0, rss1, held > 0 ? (double)(rss1 - rss0) * 1024 / (double)held : 0);

    double *lat = calloc((size_t)jobs + 1, sizeof *lat);
    int nlat = 0, errors = 0;
    struct epoll_event ev[64];
    for (int j = 0; j < jobs; j++) {
        struct conn *c = &cs[j];
        char req[1024], out[8192];
        snprintf(req, sizeof req,
                 "POST /site/%s/job HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: text/plain\r\nX-Description: held bench\r\n"
                 "X-Express-Execute: true\r\nX-Idempotency-Key: 00000000-0000-4000-8000-%012x\r\n"
                 "Connection: close\r\nContent-Length: 22\r\n\r\n/system identity print",
                 c->site, host, optoken, (unsigned)j);
        if (once(req, out, sizeof out) != 201) {
            if (errors++ == 0)
                fprintf(stderr, "held: create answered: %.300s\n", out);
            continue;
        }
        double t201 = now(), deadline = t201 + 5;
        while (!c->answered && now() < deadline) {
            int k = epoll_wait(ep, ev, 64, 100);
            for (int e = 0; e < k; e++) {
                struct conn *r = &cs[ev[e].data.u32];
                ssize_t got = read(r->fd, r->in + r->got, sizeof r->in - 1 - r->got);
                if (got <= 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
                    r->answered = true; /* closed: not a wrapper */
                    continue;
                }
                r->got += (size_t)got;
                r->in[r->got] = '\0';
                if (whole(r->in, r->got)) {
                    r->answered = true;
                    epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
                    if (r == c && strstr(r->in, "# jobplane job "))
                        lat[nlat++] = (now() - t201) * 1000;
                    else if (r != c)
                        errors++; /* another router's poll ended early */
                }
            }
        }
        if (!c->answered || !strstr(c->in, "# jobplane job "))
            errors++;
    }
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_double);
    printf("express wake, 201 to wrapper: %d jobs, p50 %.2fms p99 %.2fms max %.2fms, errors %d\n",
           nlat, nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)(nlat * 0.99)] : 0,
           nlat ? lat[nlat - 1] : 0, errors);
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    free(lat);
    free(cs);
    return errors || held < n ? 1 : 0;
}
