/* The scheduler thread: launches rollouts at launch_at and steps them wave
 * by wave (store_rollout_step), and runs the daily automatic backups
 * (store_auto_backup_step). Once a second, or at once when kicked (an
 * approval, a resume). Each step is one small write; between steps it
 * pauses as long as the step took, so a launch over 100,000 sites leaves
 * the writer to the polls at least half the time. Jobs it queues wake
 * their sites' held polls here; on PostgreSQL the other nodes' polls are
 * woken by the store's NOTIFY. */
#include "api/scheduler.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/tz.h"

#define STEP_JOBS 100 /* jobs a step queues at most */

struct scheduler {
    struct app *app;
    struct scheduler_options opt;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping, kicked;
    int64_t started;
    char (*queued)[JP_UUID_LEN + 1];
};

static struct scheduler *the; /* the process's one, for api_scheduler_kick */

void api_scheduler_kick(void)
{
    struct scheduler *sc = the;
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->kicked = true;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->mu);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps s seconds; false when stopping. */
static bool pause_for(struct scheduler *sc, double s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(s * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stopping && !sc->kicked && pthread_cond_timedwait(&sc->cond, &sc->mu, &until) == 0)
        ;
    sc->kicked = false;
    bool go = !sc->stopping;
    pthread_mutex_unlock(&sc->mu);
    return go;
}

static bool stopping(struct scheduler *sc)
{
    pthread_mutex_lock(&sc->mu);
    bool s = sc->stopping;
    pthread_mutex_unlock(&sc->mu);
    return s;
}

static void wake(struct scheduler *sc, size_t n)
{
    unsigned woken = 0;
    for (size_t i = 0; i < n; i++)
        woken += http_wake(sc->app->srv, sc->queued[i]);
    api_count_wakes(woken, false);
}

/* Whether the rollout may queue now: no window, or inside it. */
static bool window_open(const struct rollout_due *d, int64_t now)
{
    if (!d->has_window)
        return true;
    int off;
    if (tz_offset(d->window.tz, now, &off)) {
        log_warn("rollout %s: unknown time zone '%s': its window stays closed", d->id,
                 d->window.tz);
        return false;
    }
    return rollout_window_open(&d->window, now + off);
}

/* Steps each due rollout until it has nothing more to do at once, each
 * step followed by a pause as long as it took. */
static void rollouts(struct scheduler *sc, int64_t seen_since)
{
    struct rollout_due *due = NULL;
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    if (store_rollouts_due(sc->app->store, now, &due, &n) != STORE_OK)
        return;
    for (size_t i = 0; i < n && !stopping(sc); i++) {
        bool more = true;
        while (more && !stopping(sc)) {
            now = (int64_t)time(NULL);
            size_t q = 0;
            double t0 = mono();
            if (store_rollout_step(sc->app->store, due[i].id, now, window_open(&due[i], now),
                                   seen_since, sc->queued, STEP_JOBS, &q, &more) != STORE_OK)
                break;
            wake(sc, q);
            double took = mono() - t0;
            if (more && took > 0.0005) {
                struct timespec ts = {0, (long)(took * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    free(due);
}

static void auto_backups(struct scheduler *sc, int64_t seen_since)
{
    int64_t now = (int64_t)time(NULL);
    /* routers polled at least thrice since the start: who is online is known */
    if (!sc->opt.auto_backup || now - sc->started < 3 * (int64_t)sc->app->poll_interval)
        return;
    int64_t day = now / 86400, start = day * 86400 + sc->opt.backup_hour * 3600;
    if (now < start) { /* before today's hour: yesterday's pass may still run */
        day--;
        start -= 86400;
    }
    bool more = true;
    while (more && !stopping(sc)) {
        size_t q = 0;
        double t0 = mono();
        if (store_auto_backup_step(sc->app->store, day, start, sc->opt.backup_spread,
                                   (int64_t)time(NULL), seen_since, sc->queued, STEP_JOBS, &q,
                                   &more) != STORE_OK)
            break;
        wake(sc, q);
        double took = mono() - t0;
        if (more) {
            struct timespec ts = {0, (long)(took * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
}

static void *scheduler_main(void *arg)
{
    struct scheduler *sc = arg;
    while (pause_for(sc, 1.0)) {
        int64_t since = pulse_since((int64_t)time(NULL), sc->app->poll_interval);
        rollouts(sc, since);
        auto_backups(sc, since);
    }
    return NULL;
}

struct scheduler *scheduler_start(struct app *app, const struct scheduler_options *opt)
{
    struct scheduler *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->queued = calloc(STEP_JOBS, sizeof *sc->queued))) {
        free(sc);
        return NULL;
    }
    sc->app = app;
    sc->opt = *opt;
    sc->started = (int64_t)time(NULL);
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cond, NULL);
    if (pthread_create(&sc->thread, NULL, scheduler_main, sc)) {
        free(sc->queued);
        free(sc);
        return NULL;
    }
    the = sc;
    return sc;
}

void scheduler_stop(struct scheduler *sc)
{
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->stopping = true;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->thread, NULL);
}

void scheduler_free(struct scheduler *sc)
{
    if (!sc)
        return;
    the = NULL;
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cond);
    free(sc->queued);
    free(sc);
}
