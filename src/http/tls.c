#include "http/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_MAX 8

/* One reading of the files. Handshakes may use a generation while a reload
 * installs the next, so generations are freed with the server, not before. */
struct gen {
    gnutls_pcert_st chain[CHAIN_MAX];
    unsigned n;
    gnutls_privkey_t key;
    struct gen *older;
};

struct http_tls {
    char *cert_path, *key_path;
    pthread_mutex_t mu; /* serialises reloads */
    struct gen *gens;   /* newest first */
};

static _Atomic(struct gen *) current;

static void gen_free(struct gen *g)
{
    for (unsigned i = 0; i < g->n; i++)
        gnutls_pcert_deinit(&g->chain[i]);
    if (g->key)
        gnutls_privkey_deinit(g->key);
    free(g);
}

static struct gen *gen_load(const char *cert_path, const char *key_path, char *err, size_t cap)
{
    gnutls_datum_t cd = {0}, kd = {0};
    gnutls_certificate_credentials_t check = NULL;
    struct gen *g = calloc(1, sizeof *g);
    int rc;
    const char *what = "";
    if (!g) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    if ((rc = gnutls_load_file(cert_path, &cd)) < 0) {
        what = cert_path;
        goto fail;
    }
    if ((rc = gnutls_load_file(key_path, &kd)) < 0) {
        what = key_path;
        goto fail;
    }
    /* a credentials structure checks that the key is the certificate's */
    what = "the certificate and key";
    if ((rc = gnutls_certificate_allocate_credentials(&check)) < 0 ||
        (rc = gnutls_certificate_set_x509_key_mem2(check, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) <
            0)
        goto fail;
    g->n = CHAIN_MAX;
    what = cert_path;
    if ((rc = gnutls_pcert_list_import_x509_raw(g->chain, &g->n, &cd, GNUTLS_X509_FMT_PEM, 0)) <
        0) {
        g->n = 0;
        goto fail;
    }
    what = key_path;
    if ((rc = gnutls_privkey_init(&g->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(g->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
        goto fail;
    gnutls_certificate_free_credentials(check);
    gnutls_free(cd.data);
    gnutls_free(kd.data);
    return g;
fail:
    snprintf(err, cap, "%s: %s", what, gnutls_strerror(rc));
    if (check)
        gnutls_certificate_free_credentials(check);
    gnutls_free(cd.data);
    gnutls_free(kd.data);
    gen_free(g);
    return NULL;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct gen *g = atomic_load(&current);
    if (!g)
        return -1;
    *pcert = g->chain;
    *pcert_length = g->n;
    *pkey = g->key;
    return 0;
}

void *tls_cert_callback(void)
{
    return (void *)&retrieve;
}

struct http_tls *tls_new(const char *cert_path, const char *key_path, char *err, size_t cap)
{
    struct http_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    if (!(t->cert_path = strdup(cert_path)) || !(t->key_path = strdup(key_path))) {
        snprintf(err, cap, "out of memory");
        tls_free(t);
        return NULL;
    }
    if (tls_reload(t, err, cap)) {
        tls_free(t);
        return NULL;
    }
    return t;
}

int tls_reload(struct http_tls *t, char *err, size_t cap)
{
    struct gen *g = gen_load(t->cert_path, t->key_path, err, cap);
    if (!g)
        return -1;
    pthread_mutex_lock(&t->mu);
    g->older = t->gens;
    t->gens = g;
    atomic_store(&current, g);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

void tls_free(struct http_tls *t)
{
    if (!t)
        return;
    if (t->gens)
        atomic_store(&current, NULL);
    pthread_mutex_destroy(&t->mu);
    for (struct gen *g = t->gens, *n; g; g = n) {
        n = g->older;
        gen_free(g);
    }
    free(t->cert_path);
    free(t->key_path);
    free(t);
}
