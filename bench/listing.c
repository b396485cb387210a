/* Listing a big site: fills SITE with N jobs (THREADS clients), then times
 * GET requests. Usage:
 *   listing fill URL OPERATOR_TOKEN SITE N THREADS
 *   listing time URL OPERATOR_TOKEN PATH COUNT   -> p50/p99 of COUNT GETs */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire.h"

static const char *base, *tok, *site;
static atomic_long next_job, made;
static long total;

static size_t drop(char *d, size_t s, size_t n, void *u)
{
    (void)d, (void)u;
    return s * n;
}

static CURL *client(struct curl_slist **h, const char *extra)
{
    char line[1024];
    CURL *c = curl_easy_init();
    snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
    *h = curl_slist_append(NULL, line);
    if (extra)
        *h = curl_slist_append(*h, extra);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    return c;
}

static void *fill(void *arg)
{
    (void)arg;
    struct curl_slist *h;
    CURL *c = client(&h, "Content-Type: text/plain");
    h = curl_slist_append(h, "X-Description: listing bench");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    char url[512], key[80];
    snprintf(url, sizeof url, "%s/site/%s/job", base, site);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, ":put listing");
    long i;
    while ((i = atomic_fetch_add(&next_job, 1)) < total) {
        snprintf(key, sizeof key, "X-Idempotency-Key: 00000000-0000-4000-8000-%012ld", i);
        struct curl_slist *hk = curl_slist_append(NULL, key);
        for (struct curl_slist *x = h; x; x = x->next)
            hk = curl_slist_append(hk, x->data);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hk);
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code == 201)
            atomic_fetch_add(&made, 1);
        curl_slist_free_all(hk);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    base = argv[2];
    tok = argv[3];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(argv[1], "fill") && argc >= 7) {
        site = argv[4];
        total = atol(argv[5]);
        int n = atoi(argv[6]);
        pthread_t *t = calloc((size_t)n, sizeof *t);
        for (int i = 0; i < n; i++)
            pthread_create(&t[i], NULL, fill, NULL);
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        printf("created %ld\n", atomic_load(&made));
        free(t);
        return atomic_load(&made) == total ? 0 : 1;
    }
    int count = atoi(argv[5]);
    struct curl_slist *h;
    CURL *c = client(&h, NULL);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, argv[4]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    double *ms = calloc((size_t)count, sizeof *ms);
    curl_easy_perform(c); /* warm: connection and caches */
    for (int i = 0; i < count; i++) {
        curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &ms[i]);
        ms[i] *= 1000;
    }
    qsort(ms, (size_t)count, sizeof *ms, cmp_double);
    printf("p50 %.2fms p99 %.2fms\n", ms[count / 2], ms[(size_t)(count * 0.99)]);
    free(ms);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return 0;
}
