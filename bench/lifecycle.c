/* Durable job lifecycles against a running jobplane: THREADS clients, each
 * with its own adopted site, loop create -> poll -> busy -> done for SECONDS
 * and count complete lifecycles. Each step is an HTTP request that waits for
 * its commit. Usage: lifecycle URL OPERATOR_TOKEN TOKENS_FILE THREADS SECONDS
 * (TOKENS_FILE: "site_id device_token" lines, e.g. from jobplane sim --tokens) */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/routeros.h"

struct buf {
    char *p;
    size_t n;
};
static const char *base, *optoken;
static double deadline;
static atomic_long done_count, errors;
static double *lat; /* per-lifecycle latency, ms */
static size_t nlat, caplat;
static pthread_mutex_t lat_mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t take(char *d, size_t s, size_t n, void *u)
{
    struct buf *b = u;
    char *p = realloc(b->p, b->n + s * n + 1);
    if (!p)
        return 0;
    b->p = p;
    memcpy(b->p + b->n, d, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static long req(CURL *c, const char *method, const char *url, struct curl_slist *h,
                const char *body, struct buf *out)
{
    out->n = 0;
    if (out->p)
        out->p[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

struct worker {
    char site[64], token[64];
};

static void *run(void *arg)
{
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    struct buf b = {0};
    char url[512], line[1024];
    struct curl_slist *op = NULL, *dev = NULL;
    snprintf(line, sizeof line, "Authorization: Bearer %s", optoken);
    op = curl_slist_append(op, line);
    op = curl_slist_append(op, "Content-Type: text/plain");
    op = curl_slist_append(op, "X-Description: bench lifecycle");
    snprintf(line, sizeof line, "Authorization: Bearer %s", w->token);
    dev = curl_slist_append(dev, line);
    dev = curl_slist_append(dev, "Content-Type: text/plain");
    unsigned long n = 0;
    while (now() < deadline) {
        double t0 = now();
        char key[80];
        snprintf(key, sizeof key, "X-Idempotency-Key: %08lx-0000-4000-8000-%012lx",
                 (unsigned long)rand(), n++);
        struct curl_slist *h = curl_slist_append(NULL, key);
        for (struct curl_slist *i = op; i; i = i->next)
            h = curl_slist_append(h, i->data);
        snprintf(url, sizeof url, "%s/site/%s/job", base, w->site);
        long code = req(c, "POST", url, h, "/system identity print", &b);
        curl_slist_free_all(h);
        snprintf(url, sizeof url, "%s/poll", base);
        if (code != 201 || req(c, "POST", url, dev, "name=bench", &b) != 200 || !b.p) {
            if (atomic_fetch_add(&errors, 0) == 0) /* say why, once */
                fprintf(stderr, "lifecycle: create answered %ld: %.200s\n", code, b.p ? b.p : "");
            atomic_fetch_add(&errors, 1);
            continue;
        }
        char *busy = ros_find_local(b.p, "jpBusy"), *fin = ros_find_local(b.p, "jpDone");
        bool ok = busy && fin && req(c, "GET", busy, NULL, NULL, &b) == 200 &&
                  req(c, "GET", fin, NULL, NULL, &b) == 200;
        free(busy);
        free(fin);
        if (!ok) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        atomic_fetch_add(&done_count, 1);
        double ms = (now() - t0) * 1000;
        pthread_mutex_lock(&lat_mu);
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 4096;
            lat = realloc(lat, caplat * sizeof *lat);
        }
        lat[nlat++] = ms;
        pthread_mutex_unlock(&lat_mu);
    }
    curl_slist_free_all(op);
    curl_slist_free_all(dev);
    free(b.p);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: lifecycle URL OPERATOR_TOKEN TOKENS_FILE THREADS SECONDS\n");
        return 2;
    }
    base = argv[1];
    optoken = argv[2];
    int threads = atoi(argv[4]);
    double secs = atof(argv[5]);
    FILE *f = fopen(argv[3], "r");
    struct worker *w = calloc((size_t)threads, sizeof *w);
    for (int i = 0; f && i < threads; i++)
        if (fscanf(f, "%63s %63s", w[i].site, w[i].token) != 2)
            return 1;
    if (f)
        fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    double t0 = now();
    deadline = t0 + secs;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, &w[i]);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = now() - t0;
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("lifecycles %ld in %.1fs = %.0f/s errors %ld p50 %.1fms p99 %.1fms\n",
           atomic_load(&done_count), el, atomic_load(&done_count) / el, atomic_load(&errors),
           nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)(nlat * 0.99)] : 0);
    free(lat);
    free(w);
    free(t);
    return 0;
}
