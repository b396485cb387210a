/* GET /metrics: Prometheus text format 0.0.4. Counters are per-thread
 * shards (lib/metrics.h) summed here; gauges are read at the scrape (held
 * polls from the HTTP server, sites and jobs from the store). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/sbuf.h"
#include "lib/metrics.h"

#define ROUTES_MAX API_METRICS_ROUTES_MAX

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,      2.5,   5,    10,    30,   60};

static struct {
    struct met_hist latency[ROUTES_MAX];
    unsigned codes;   /* ROUTES_MAX x 5: answers 1xx..5xx per route */
    unsigned polls;   /* POLL_ANSWER_COUNT_ */
    unsigned wakes;   /* 2: held polls woken by a job queued here, or by the database's
                       * notice of a job (PostgreSQL: queued by any node) */
    unsigned reports; /* JOB_REPORT_COUNT_ */
    time_t started;
} M;
/* Slots are numbered before main: every caller, the unit tests' servers too,
 * counts into its own. */
__attribute__((constructor)) static void init(void)
{
    for (size_t i = 0; i < ROUTES_MAX; i++)
        met_hist_init(&M.latency[i], latency_bounds,
                      sizeof latency_bounds / sizeof *latency_bounds);
    M.codes = met_alloc(ROUTES_MAX * 5);
    M.polls = met_alloc(POLL_ANSWER_COUNT_);
    M.wakes = met_alloc(2);
    M.reports = met_alloc(JOB_REPORT_COUNT_);
    M.started = time(NULL);
}

void api_request_done(struct http_req *req, double seconds)
{
    size_t i = api_nroutes; /* no route of the table (or another server's) */
    if (api_nroutes >= ROUTES_MAX)
        return; /* a table grown past ROUTES_MAX: test_routes fails on it */
    if (req->route >= api_routes && req->route < api_routes + api_nroutes)
        i = (size_t)(req->route - api_routes);
    met_observe(&M.latency[i], seconds);
    int st = req->resp.status;
    if (st >= 100 && st < 600)
        met_add(M.codes + (unsigned)i * 5 + (unsigned)(st / 100 - 1), 1);
}

void api_count_poll(enum poll_answer a)
{
    met_add(M.polls + a, 1);
}

void api_count_wakes(unsigned woken, bool from_database)
{
    if (woken)
        met_add(M.wakes + from_database, woken);
}

void api_count_report(enum job_report r)
{
    met_add(M.reports + r, 1);
}

/* ---- the text format ---------------------------------------------------- */

static void head(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped. */
static void label(struct sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_add(b, "\\", 1);
        if (*v == '\n')
            sbuf_add(b, "\\n", 2);
        else
            sbuf_add(b, v, 1);
    }
}

/* The series of one histogram; labels: "" or `name="value",` (the comma
 * last). */
static void hist(struct sbuf *b, const char *name, const char *labels, const struct met_hist *h)
{
    uint64_t cum = 0;
    for (unsigned i = 0; i <= h->nbounds; i++) {
        cum += met_sum(h->base + i);
        if (i < h->nbounds)
            sbuf_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->bounds[i],
                        (unsigned long long)cum);
        else
            sbuf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                        (unsigned long long)cum);
    }
    size_t n = strlen(labels);
    sbuf_printf(b, "%s_sum%s%.*s%s %.6f\n", name, n ? "{" : "", n ? (int)n - 1 : 0, labels,
                n ? "}" : "", (double)met_sum(h->base + h->nbounds + 1) / 1e6);
    sbuf_printf(b, "%s_count%s%.*s%s %llu\n", name, n ? "{" : "", n ? (int)n - 1 : 0, labels,
                n ? "}" : "", (unsigned long long)cum);
}

static uint64_t hist_count(const struct met_hist *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= h->nbounds; i++)
        n += met_sum(h->base + i);
    return n;
}

static void route_name(struct sbuf *b, size_t i)
{
    if (i < api_nroutes) {
        label(b, api_routes[i].method);
        sbuf_add(b, " ", 1);
        label(b, api_routes[i].pattern);
    } else {
        sbuf_puts(b, "none");
    }
}

static void http_series(struct sbuf *b)
{
    if (api_nroutes >= ROUTES_MAX)
        return;
    head(b, "jobplane_http_requests_total", "counter",
         "HTTP requests answered, by route and status class.");
    for (size_t i = 0; i <= api_nroutes; i++)
        for (unsigned c = 0; c < 5; c++) {
            uint64_t v = met_sum(M.codes + (unsigned)i * 5 + c);
            if (!v)
                continue;
            sbuf_puts(b, "jobplane_http_requests_total{route=\"");
            route_name(b, i);
            sbuf_printf(b, "\",code=\"%uxx\"} %llu\n", c + 1, (unsigned long long)v);
        }
    head(b, "jobplane_http_request_duration_seconds", "histogram",
         "Seconds from a request's headers to its end (held polls included), by route.");
    for (size_t i = 0; i <= api_nroutes; i++) {
        if (!hist_count(&M.latency[i]))
            continue;
        struct sbuf l;
        sbuf_init(&l, 512);
        sbuf_puts(&l, "route=\"");
        route_name(&l, i);
        sbuf_puts(&l, "\",");
        if (!l.failed)
            hist(b, "jobplane_http_request_duration_seconds", l.p, &M.latency[i]);
        sbuf_free(&l);
    }
}

static const char *const poll_answers[POLL_ANSWER_COUNT_] = {
    [POLL_JOB] = "job",         [POLL_IDLE] = "idle",     [POLL_TEARDOWN] = "teardown",
    [POLL_REFUSED] = "refused", [POLL_UPDATE] = "update", [POLL_DISARM] = "disarm",
};

void api_metrics(struct http_req *req)
{
    struct app *app = req->app;
    struct sbuf b;
    sbuf_init(&b, 4 << 20);
    head(&b, "jobplane_build_info", "gauge", "The running build: 1, with its version and store.");
    sbuf_printf(&b, "jobplane_build_info{version=\"%s\",store=\"%s\"} 1\n", JOBPLANE_VERSION,
                store_is_postgres(app->store) ? "postgresql" : "sqlite");
    head(&b, "process_start_time_seconds", "gauge", "Start time of the process (Unix seconds).");
    sbuf_printf(&b, "process_start_time_seconds %lld\n", (long long)M.started);

    head(&b, "jobplane_polls_total", "counter", "Router polls answered, by answer.");
    for (int a = 0; a < POLL_ANSWER_COUNT_; a++)
        sbuf_printf(&b, "jobplane_polls_total{answer=\"%s\"} %llu\n", poll_answers[a],
                    (unsigned long long)met_sum(M.polls + (unsigned)a));
    head(&b, "jobplane_held_polls", "gauge", "Polls held open right now, waiting for a job.");
    sbuf_printf(&b, "jobplane_held_polls %u\n", http_held(app->srv ? app->srv : req->srv));
    head(&b, "jobplane_express_wakes_total", "counter",
         "Held polls woken by a job queued for their site: by this node, or by the database's "
         "notice.");
    sbuf_printf(&b, "jobplane_express_wakes_total{origin=\"local\"} %llu\n",
                (unsigned long long)met_sum(M.wakes));
    sbuf_printf(&b, "jobplane_express_wakes_total{origin=\"database\"} %llu\n",
                (unsigned long long)met_sum(M.wakes + 1));
    head(&b, "jobplane_job_reports_total", "counter", "Job reports applied, by status.");
    for (int r = 0; r < JOB_REPORT_COUNT_; r++)
        sbuf_printf(&b, "jobplane_job_reports_total{status=\"%s\"} %llu\n", job_reports[r].name,
                    (unsigned long long)met_sum(M.reports + (unsigned)r));

    struct store_gauges g;
    int64_t seen_since = pulse_since((int64_t)time(NULL), app->poll_interval);
    if (store_gauges(app->store, seen_since, &g) == STORE_OK) {
        head(&b, "jobplane_sites", "gauge", "Sites (not deleted), by whether they have a pulse.");
        sbuf_printf(&b, "jobplane_sites{state=\"online\"} %lld\n", (long long)g.sites_online);
        sbuf_printf(&b, "jobplane_sites{state=\"offline\"} %lld\n", (long long)g.sites_offline);
        head(&b, "jobplane_jobs", "gauge", "Jobs not finished, by state.");
        sbuf_printf(&b, "jobplane_jobs{state=\"pending\"} %lld\n", (long long)g.jobs_pending);
        sbuf_printf(&b, "jobplane_jobs{state=\"delivered\"} %lld\n", (long long)g.jobs_delivered);
        sbuf_printf(&b, "jobplane_jobs{state=\"running\"} %lld\n", (long long)g.jobs_running);
    }
    struct outbox_health h;
    if (store_outbox_health(app->store, (int64_t)time(NULL) * 1000, &h) == STORE_OK) {
        head(&b, "jobplane_webhook_deliveries", "gauge",
             "Webhook deliveries in the outbox: waiting, or dead after the last try.");
        sbuf_printf(&b, "jobplane_webhook_deliveries{state=\"pending\"} %ld\n", h.depth);
        sbuf_printf(&b, "jobplane_webhook_deliveries{state=\"dead\"} %ld\n", h.dead);
        head(&b, "jobplane_webhook_oldest_pending_age_seconds", "gauge",
             "Age of the oldest waiting delivery (0: none).");
        sbuf_printf(&b, "jobplane_webhook_oldest_pending_age_seconds %lld\n",
                    (long long)(h.oldest_age_ms / 1000));
    }
    head(&b, "jobplane_store_batch_operations", "histogram",
         "Write operations committed together (group commit).");
    hist(&b, "jobplane_store_batch_operations", "", store_batch_hist());
    head(&b, "jobplane_store_commit_duration_seconds", "histogram",
         "Seconds of a write batch, from BEGIN to the end of COMMIT.");
    hist(&b, "jobplane_store_commit_duration_seconds", "", store_commit_hist());
    head(&b, "jobplane_adoptions_total", "counter", "Adoptions, by result.");
    sbuf_printf(&b, "jobplane_adoptions_total{result=\"adopted\"} %ld\n",
                atomic_load(&app->adopt.ok));
    sbuf_printf(&b, "jobplane_adoptions_total{result=\"refused\"} %ld\n",
                atomic_load(&app->adopt.refused));
    sbuf_printf(&b, "jobplane_adoptions_total{result=\"rate_limited\"} %ld\n",
                atomic_load(&app->adopt.limited));
    http_series(&b);

    size_t len;
    char *text = sbuf_take(&b, &len);
    if (!text) {
        http_reply_error(req, JP_ERR_INTERNAL, NULL);
        return;
    }
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
