/* Unit tests for the store, through store.h only: on a temporary SQLite file
 * and, when JP_TEST_PG names a database of the test cluster (tests/run.sh
 * creates one), on PostgreSQL. One job in flight per site, terminal reports
 * change nothing, idempotency outcomes, chunk continuity of backups, team
 * scoping. Every test makes sites of its own, so one database serves all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <semaphore.h>

#include <libpq-fe.h>

#include "core/sign.h"
#include "core/webhook.h"
#include "store/store.h"

struct fixture {
    struct store *s;
    char dir[64];
    unsigned seq;        /* makes names and keys unique within a run */
    bool pg;             /* several nodes may share the database: leases are in it */
    int64_t inflight[4]; /* what the caller is sending (SQLite's leases) */
    size_t ninflight;
};

/* ---- helpers ---------------------------------------------------------- */

static void posted(void *sem)
{
    sem_post(sem);
}

/* The asynchronous calls, waited for. */
static enum store_result dispatch(struct store *s, const char *site, int64_t now, int64_t timeout,
                                  struct job *out, long *remaining)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    struct store_async as = {.done = posted, .ctx = &sem};
    store_dispatch_async(s, site, now, timeout, out, remaining, &as);
    sem_wait(&sem);
    sem_destroy(&sem);
    return as.res;
}

static enum store_result report(struct store *s, const char *job, enum job_report r, int64_t now,
                                struct job *out)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    struct store_async as = {.done = posted, .ctx = &sem};
    struct job_report_req rr = {.job_id = job, .report = r, .now = now};
    const char *why;
    store_job_report_async(s, &rr, out, &why, &as);
    sem_wait(&sem);
    sem_destroy(&sem);
    return as.res;
}

static void key_of(struct fixture *fx, char key[JP_UUID_LEN + 1])
{
    snprintf(key, JP_UUID_LEN + 1, "00000000-0000-4000-8000-%012x", fx->seq++);
}

/* A new site of team; its id in id. */
static void new_site(struct fixture *fx, const char *team, char id[JP_UUID_LEN + 1])
{
    char name[32], hash[JP_SIG_HEX + 1];
    snprintf(name, sizeof name, "site-%u", fx->seq);
    snprintf(hash, sizeof hash, "%064x", fx->seq++ + (unsigned)getpid() * 1000u);
    struct site st;
    struct adoption_line line = {hash, INT64_MAX / 2};
    assert_int_equal(store_site_create(fx->s, team, name, NULL, &line, &st), STORE_CREATED);
    memcpy(id, st.id, JP_UUID_LEN + 1);
    site_clear(&st);
}

static struct job_request request(const char *site, const char *key, const char *script)
{
    return (struct job_request){.site_id = site,
                                .idempotency_key = key,
                                .description = "unit test",
                                .script = script,
                                .needs_acknowledgement = true};
}

/* Creates a job; its id in id. */
static void new_job(struct fixture *fx, const char *team, const char *site, bool backup,
                    char id[JP_UUID_LEN + 1])
{
    char key[JP_UUID_LEN + 1];
    key_of(fx, key);
    struct job_request jr = request(site, key, ":put 1");
    jr.should_backup = backup;
    struct job j;
    assert_int_equal(store_job_create(fx->s, team, &jr, &j), STORE_CREATED);
    memcpy(id, j.id, JP_UUID_LEN + 1);
    job_clear(&j);
}

/* ---- the tests -------------------------------------------------------- */

static int64_t ms_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Claims what is due for node at now; returns how many (items cleared). */
static size_t claim(struct fixture *fx, const char *node, int64_t now, int64_t until,
                    struct outbox_item *items, size_t max)
{
    size_t n = 0;
    assert_int_equal(store_outbox_claim(fx->s, node, now, until, NULL, 0, fx->inflight,
                                        fx->ninflight, items, max, &n),
                     STORE_OK);
    return n;
}

/* The outbox: a state change queues its event for the team's subscribed
 * endpoints only; a lease keeps other nodes off until it ends or its node
 * takes it back; a retry waits for its time; every attempt is recorded. */
static void test_outbox(void **state)
{
    struct fixture *fx = *state;
    char team[32], other[32], site[JP_UUID_LEN + 1], job[JP_UUID_LEN + 1], n1[48], n2[48];
    snprintf(team, sizeof team, "hooks-%u-%d", fx->seq++, getpid());
    snprintf(other, sizeof other, "other-%u-%d", fx->seq++, getpid());
    snprintf(n1, sizeof n1, "n1-%s", team);
    snprintf(n2, sizeof n2, "n2-%s", team);
    struct webhook w, wo;
    assert_int_equal(store_webhook_create(fx->s, team, "http://127.0.0.1:9/", NULL,
                                          1u << EV_JOB_DELIVERED,
                                          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &w),
                     STORE_CREATED);
    assert_int_equal(store_webhook_create(fx->s, other, "http://127.0.0.1:9/", NULL, WHK_EVENTS_ALL,
                                          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &wo),
                     STORE_CREATED);
    new_site(fx, team, site);
    new_job(fx, team, site, false, job);
    struct outbox_item it[4];
    int64_t now = ms_now() + 1000;
    /* the create is not subscribed: nothing for anyone yet */
    size_t n = claim(fx, n1, now, now + 30000, it, 4);
    for (size_t i = 0; i < n; i++) /* other tests' events are not this endpoint's */
        assert_string_not_equal(it[i].dest, w.id);
    for (size_t i = 0; i < n; i++)
        outbox_item_clear(&it[i]);
    struct job j;
    long left;
    assert_int_equal(dispatch(fx->s, site, now / 1000, 600, &j, &left), STORE_OK);
    job_clear(&j);
    now = ms_now() + 1000;
    n = claim(fx, n1, now, now + 30000, it, 4);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].dest, w.id);
    assert_true(it[0].endpoint);
    assert_int_equal(it[0].tries, 0);
    assert_string_equal(it[0].url, "http://127.0.0.1:9/");
    assert_non_null(strstr(it[0].body, "\"type\":\"job.delivered\""));
    assert_non_null(strstr(it[0].body, job));
    assert_memory_equal(it[0].event_id, "msg_", 4);
    /* leased (in the database, or in the sender's memory on SQLite): no
     * other claim gets it */
    fx->inflight[0] = it[0].id;
    fx->ninflight = 1;
    struct outbox_item none[2];
    assert_int_equal(claim(fx, n2, now + 1, now + 30001, none, 2), 0);
    /* a failed attempt: tried again at its time, not before */
    struct delivery_result r = {.item = &it[0],
                                .outcome = OUTCOME_RETRY,
                                .at_ms = now,
                                .duration_ms = 12,
                                .next_at_ms = now + 5000,
                                .status = 500,
                                .excerpt = "oops"};
    assert_int_equal(store_outbox_record(fx->s, n1, &r, 1), STORE_OK);
    fx->ninflight = 0;
    char event[48];
    memcpy(event, it[0].event_id, sizeof event);
    outbox_item_clear(&it[0]);
    assert_int_equal(claim(fx, n2, now + 4000, now + 34000, it, 4), 0);
    assert_int_equal(claim(fx, n2, now + 5000, now + 35000, it, 4), 1);
    assert_string_equal(it[0].event_id, event); /* one webhook-id for every try */
    assert_int_equal(it[0].tries, 1);
    if (fx->pg) {
        /* n2 dies holding it: after its lease another node takes it */
        outbox_item_clear(&it[0]);
        assert_int_equal(claim(fx, n1, now + 6000, now + 36000, it, 4), 0);
        assert_int_equal(claim(fx, n1, now + 35001, now + 65001, it, 4), 1);
        /* n1 restarts: it takes its own lease back at once */
        outbox_item_clear(&it[0]);
        assert_int_equal(store_outbox_reclaim(fx->s, n1), STORE_OK);
        assert_int_equal(claim(fx, n2, now + 35002, now + 65002, it, 4), 1);
    }
    r = (struct delivery_result){.item = &it[0],
                                 .outcome = OUTCOME_DELIVERED,
                                 .at_ms = now + 35002,
                                 .duration_ms = 3,
                                 .status = 204};
    assert_int_equal(store_outbox_record(fx->s, n2, &r, 1), STORE_OK);
    outbox_item_clear(&it[0]);
    assert_int_equal(claim(fx, n1, now + 100000, now + 130000, it, 4), 0);
    struct delivery_list l;
    assert_int_equal(store_deliveries_list(fx->s, team, w.id, -1, 0, 10, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].state, DELIVERY_DELIVERED);
    assert_string_equal(l.items[0].type, "job.delivered");
    assert_int_equal(l.items[0].nattempts, 2);
    assert_int_equal(l.items[0].attempts[0].status, 500);
    assert_string_equal(l.items[0].attempts[0].excerpt, "oops");
    assert_int_equal(l.items[0].attempts[1].status, 204);
    int64_t did = l.items[0].id;
    delivery_list_clear(&l);
    /* team scoping: the other team sees neither the deliveries nor can redeliver */
    assert_int_equal(store_deliveries_list(fx->s, other, w.id, -1, 0, 10, &l), STORE_NOT_FOUND);
    assert_int_equal(store_delivery_redeliver(fx->s, other, did), STORE_NOT_FOUND);
    assert_int_equal(store_delivery_redeliver(fx->s, team, did), STORE_OK);
    now = ms_now() + 1000;
    assert_int_equal(claim(fx, n1, now, now + 30000, it, 4), 1);
    assert_int_equal(it[0].tries, 0); /* the whole schedule again */
    r = (struct delivery_result){
        .item = &it[0], .outcome = OUTCOME_GONE, .at_ms = now, .status = 410};
    assert_int_equal(store_outbox_record(fx->s, n1, &r, 1), STORE_OK);
    outbox_item_clear(&it[0]);
    struct webhook g;
    assert_int_equal(store_webhook_get(fx->s, team, w.id, &g), STORE_OK);
    assert_true(g.disabled_at > 0);
    assert_non_null(strstr(g.disabled_reason, "410"));
    webhook_clear(&g);
    webhook_clear(&w);
    webhook_clear(&wo);
}

static void test_one_job_in_flight(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], a[JP_UUID_LEN + 1], b[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    new_job(fx, "t1", site, false, a);
    new_job(fx, "t1", site, false, b);
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 1);
    struct job j;
    long remaining = -1;
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_OK);
    assert_string_equal(j.id, a); /* the oldest first */
    assert_int_equal(remaining, 1);
    assert_int_equal(job_status_of(&j), JOB_DELIVERED);
    job_clear(&j);
    /* a is in flight: nothing more for this site, even when asked */
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 0);
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_NOT_FOUND);
    assert_int_equal(report(fx->s, a, REPORT_BUSY, now, &j), STORE_OK);
    job_clear(&j);
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_NOT_FOUND);
    /* a finishes: b is next */
    assert_int_equal(report(fx->s, a, REPORT_DONE, now, &j), STORE_OK);
    assert_int_equal(job_status_of(&j), JOB_COMPLETED);
    job_clear(&j);
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_OK);
    assert_string_equal(j.id, b);
    assert_int_equal(remaining, 0);
    job_clear(&j);
    /* b passes its run timeout: the next dispatch fails it, frees the site */
    char c[JP_UUID_LEN + 1];
    new_job(fx, "t1", site, false, c);
    assert_int_equal(dispatch(fx->s, site, now + 599, 600, &j, &remaining), STORE_NOT_FOUND);
    assert_int_equal(dispatch(fx->s, site, now + 600, 600, &j, &remaining), STORE_OK);
    assert_string_equal(j.id, c);
    job_clear(&j);
    assert_int_equal(store_job_get(fx->s, "t1", site, b, &j), STORE_OK);
    assert_int_equal(job_status_of(&j), JOB_FAILED);
    job_clear(&j);
}

/* The pending set (pending.c) never hides a job this store queued: a site
 * drops out only once no pending job is left, and is back with the next. */
/* Adopts a new site of team with a device hash of its own (in dev). */
static void adopted_site(struct fixture *fx, const char *team, char id[JP_UUID_LEN + 1],
                         char dev[JP_SIG_HEX + 1])
{
    char adopt[JP_SIG_HEX + 1];
    new_site(fx, team, id);
    /* new_site's adoption hash was the one before fx->seq */
    snprintf(adopt, sizeof adopt, "%064x", fx->seq - 1 + (unsigned)getpid() * 1000u);
    snprintf(dev, JP_SIG_HEX + 1, "d%063x", fx->seq++ + (unsigned)getpid() * 1000u);
    struct device_facts f = {.software_version = "7.16 (stable)",
                             .uptime = -1,
                             .cpu_load = -1,
                             .memory_free = -1,
                             .disk_free = -1};
    struct site st;
    enum adopt_refusal why;
    assert_int_equal(store_site_adopt(fx->s, adopt, dev, &f, &st, &why), STORE_OK);
    site_clear(&st);
}

/* A device token is answered from memory once seen, and every change of it
 * (rotation, deletion, teardown) is seen by the next lookup. */
static void test_device_tokens(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], dev[JP_SIG_HEX + 1], adopt[JP_SIG_HEX + 1];
    adopted_site(fx, "t1", site, dev);
    struct device_site d;
    for (int i = 0; i < 3; i++) { /* the first read fills the memory, the next use it */
        assert_int_equal(store_site_by_device(fx->s, dev, &d), STORE_OK);
        assert_string_equal(d.site_id, site);
        assert_string_equal(d.version, "7.16 (stable)");
        assert_int_equal(d.deleted_at, 0);
    }
    snprintf(adopt, sizeof adopt, "%064x", fx->seq++ + (unsigned)getpid() * 1000u);
    struct adoption_line line = {adopt, INT64_MAX / 2};
    assert_int_equal(store_site_rotate_device(fx->s, "t1", site, &line), STORE_OK);
    assert_int_equal(store_site_by_device(fx->s, dev, &d), STORE_NOT_FOUND);
    /* adopted again: the new token works, the old one stays refused */
    char dev2[JP_SIG_HEX + 1];
    snprintf(dev2, sizeof dev2, "e%063x", fx->seq++ + (unsigned)getpid() * 1000u);
    struct device_facts f = {.uptime = -1, .cpu_load = -1, .memory_free = -1, .disk_free = -1};
    struct site st;
    enum adopt_refusal why;
    assert_int_equal(store_site_adopt(fx->s, adopt, dev2, &f, &st, &why), STORE_OK);
    site_clear(&st);
    assert_int_equal(store_site_by_device(fx->s, dev, &d), STORE_NOT_FOUND);
    assert_int_equal(store_site_by_device(fx->s, dev2, &d), STORE_OK);
    assert_int_equal(store_site_by_device(fx->s, dev2, &d), STORE_OK);
    assert_int_equal(d.deleted_at, 0);
    assert_int_equal(store_site_delete(fx->s, "t1", site), STORE_OK);
    assert_int_equal(store_site_by_device(fx->s, dev2, &d), STORE_OK);
    assert_true(d.deleted_at > 0);
    assert_int_equal(store_site_by_device(fx->s, dev2, &d), STORE_OK);
    assert_true(d.deleted_at > 0);
    assert_int_equal(store_site_teardown_done(fx->s, site), STORE_OK);
    assert_int_equal(store_site_by_device(fx->s, dev2, &d), STORE_NOT_FOUND);
}

static void test_pending_set(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], a[JP_UUID_LEN + 1], b[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 0);
    new_job(fx, "t1", site, false, a);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 1);
    struct job j;
    long remaining = -1;
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_OK);
    assert_int_equal(remaining, 0);
    job_clear(&j);
    assert_int_equal(report(fx->s, a, REPORT_DONE, now, &j), STORE_OK);
    job_clear(&j);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 0);
    new_job(fx, "t1", site, false, b);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 1);
    char token[JP_TOKEN_LEN + 1];
    assert_int_equal(store_job_cancel(fx->s, "t1", site, b, token), STORE_OK);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 0);
    new_job(fx, "t1", site, false, a);
    assert_int_equal(store_dispatch_wanted(fx->s, site, now, 600), 1);
}

static void test_terminal_reports_change_nothing(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], a[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    new_job(fx, "t1", site, false, a);
    int64_t now = (int64_t)time(NULL);
    struct job j;
    long remaining;
    assert_int_equal(dispatch(fx->s, site, now, 600, &j, &remaining), STORE_OK);
    job_clear(&j);
    assert_int_equal(report(fx->s, a, REPORT_FAIL, now + 5, &j), STORE_OK);
    assert_int_equal(j.failed_at, now + 5);
    job_clear(&j);
    for (int r = 0; r < JOB_REPORT_COUNT_; r++) {
        assert_int_equal(report(fx->s, a, (enum job_report)r, now + 9, &j), STORE_CONFLICT);
        job_clear(&j);
    }
    assert_int_equal(store_job_get(fx->s, "t1", site, a, &j), STORE_OK);
    assert_int_equal(job_status_of(&j), JOB_FAILED);
    assert_int_equal(j.failed_at, now + 5);
    assert_int_equal(j.completed_at, 0);
    job_clear(&j);
    /* a repeated busy of a running job changes nothing either */
    char b[JP_UUID_LEN + 1];
    new_job(fx, "t1", site, false, b);
    assert_int_equal(report(fx->s, b, REPORT_BUSY, now + 1, &j), STORE_OK);
    job_clear(&j);
    assert_int_equal(report(fx->s, b, REPORT_BUSY, now + 2, &j), STORE_OK);
    assert_int_equal(j.started_at, now + 1);
    job_clear(&j);
    assert_int_equal(report(fx->s, b, REPORT_DONE, now + 3, &j), STORE_OK);
    job_clear(&j);
    assert_int_equal(report(fx->s, b, REPORT_FAIL, now + 4, &j), STORE_CONFLICT);
    job_clear(&j);
    assert_int_equal(store_job_get(fx->s, "t1", site, b, &j), STORE_OK);
    assert_int_equal(job_status_of(&j), JOB_COMPLETED);
    assert_int_equal(j.completed_at, now + 3);
    job_clear(&j);
    char none[] = "01890000-0000-7000-8000-000000000000";
    assert_int_equal(report(fx->s, none, REPORT_DONE, now, &j), STORE_NOT_FOUND);
    job_clear(&j);
}

static void test_idempotency(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], other[JP_UUID_LEN + 1], key[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    new_site(fx, "t2", other);
    key_of(fx, key);
    struct job_request jr = request(site, key, ":put same");
    struct job first, j;
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &first), STORE_CREATED);
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &j), STORE_OK); /* a replay */
    assert_string_equal(j.id, first.id);
    assert_string_equal(j.token, first.token);
    job_clear(&j);
    jr.script = ":put other";
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &j), STORE_CONFLICT);
    jr.script = ":put same";
    jr.should_backup = true;
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &j), STORE_CONFLICT);
    jr.should_backup = false;
    jr.express_execute = true;
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &j), STORE_CONFLICT);
    jr.express_execute = false;
    /* the same key on another site is another job */
    char site2[JP_UUID_LEN + 1];
    new_site(fx, "t1", site2);
    struct job_request jr2 = request(site2, key, ":put same");
    assert_int_equal(store_job_create(fx->s, "t1", &jr2, &j), STORE_CREATED);
    assert_string_not_equal(j.id, first.id);
    job_clear(&j);
    /* a cancelled job's key stays taken */
    char token[JP_TOKEN_LEN + 1];
    assert_int_equal(store_job_cancel(fx->s, "t1", site, first.id, token), STORE_OK);
    assert_string_equal(token, first.token);
    assert_int_equal(store_job_create(fx->s, "t1", &jr, &j), STORE_KEY_CANCELLED);
    assert_int_equal(store_job_get(fx->s, "t1", site, first.id, &j), STORE_NOT_FOUND);
    job_clear(&first);
    /* another team's site does not take jobs from this one */
    key_of(fx, key);
    struct job_request foreign = request(other, key, ":put x");
    assert_int_equal(store_job_create(fx->s, "t1", &foreign, &j), STORE_NOT_FOUND);
    /* a started job cannot be cancelled */
    char a[JP_UUID_LEN + 1];
    new_job(fx, "t1", site2, false, a);
    long remaining;
    struct job d;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(dispatch(fx->s, site2, now, 600, &d, &remaining), STORE_OK);
    job_clear(&d);
    assert_int_equal(dispatch(fx->s, site2, now, 600, &d, &remaining), STORE_NOT_FOUND);
    /* the first job of site2 was delivered; a is still pending: cancellable */
    assert_int_equal(store_job_cancel(fx->s, "t1", site2, a, token), STORE_OK);
    struct job_list l;
    struct job_query q = {.site_id = site2, .status = JOB_DELIVERED};
    assert_int_equal(store_job_list(fx->s, "t1", &q, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    char delivered[JP_UUID_LEN + 1];
    memcpy(delivered, l.items[0].id, sizeof delivered);
    job_list_clear(&l);
    assert_int_equal(store_job_cancel(fx->s, "t1", site2, delivered, token), STORE_STARTED);
}

static void test_backup_chunks(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], other[JP_UUID_LEN + 1], job[JP_UUID_LEN + 1],
        plain[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    new_site(fx, "t1", other);
    new_job(fx, "t1", site, true, job);
    new_job(fx, "t1", site, false, plain);
    const char data[] = "/ip address\nadd address=10.0.0.1/24 interface=ether1\n";
    int64_t total = (int64_t)strlen(data), now = 1700000000;
    char file[64];
    /* a first chunk must start at 0 */
    assert_int_equal(store_backup_chunk(fx->s, site, job, 10, total, data, 10, now, file, NULL),
                     STORE_CONFLICT);
    assert_int_equal(store_backup_chunk(fx->s, site, job, 0, total, data, 10, now, file, NULL),
                     STORE_OK);
    /* a gap, a repeat, and a changed total are refused */
    assert_int_equal(
        store_backup_chunk(fx->s, site, job, 20, total, data + 20, 10, now, file, NULL),
        STORE_CONFLICT);
    assert_int_equal(store_backup_chunk(fx->s, site, job, 0, total, data, 10, now, file, NULL),
                     STORE_CONFLICT);
    assert_int_equal(
        store_backup_chunk(fx->s, site, job, 10, total + 1, data + 10, 10, now, file, NULL),
        STORE_CONFLICT);
    /* a chunk past the total is refused */
    assert_int_equal(
        store_backup_chunk(fx->s, site, job, 10, total, data + 10, (size_t)total, now, file, NULL),
        STORE_CONFLICT);
    /* not a backup job, or not this site's */
    assert_int_equal(store_backup_chunk(fx->s, site, plain, 0, total, data, 10, now, file, NULL),
                     STORE_NOT_FOUND);
    assert_int_equal(
        store_backup_chunk(fx->s, other, job, 10, total, data + 10, 10, now, file, NULL),
        STORE_NOT_FOUND);
    /* the rest, in order: the last chunk assembles the file */
    assert_int_equal(store_backup_chunk(fx->s, site, job, 10, total, data + 10, (size_t)total - 10,
                                        now, file, NULL),
                     STORE_CREATED);
    assert_string_equal(file, "1700000000.rsc");
    struct backup_info b;
    assert_int_equal(store_backup_get(fx->s, "t1", site, file, &b), STORE_OK);
    assert_int_equal(b.size, total);
    assert_memory_equal(b.content, data, (size_t)total);
    free(b.content);
    struct job j;
    assert_int_equal(store_job_get(fx->s, "t1", site, job, &j), STORE_OK);
    char assoc[128];
    snprintf(assoc, sizeof assoc, "%s/%s", site, file);
    assert_string_equal(j.associated_backup, assoc);
    job_clear(&j);
    /* the job has its backup: no second one */
    assert_int_equal(store_backup_chunk(fx->s, site, job, 0, total, data, 10, now, file, NULL),
                     STORE_NOT_FOUND);
    /* a second backup in the same second takes the next free name */
    char job2[JP_UUID_LEN + 1];
    new_job(fx, "t1", site, true, job2);
    assert_int_equal(store_backup_chunk(fx->s, site, job2, 0, 3, "abc", 3, now, file, NULL),
                     STORE_CREATED);
    assert_string_equal(file, "1700000001.rsc");
    struct backup_list l;
    assert_int_equal(store_backup_list(fx->s, "t1", site, &l), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].filename, "1700000001.rsc"); /* newest first */
    backup_list_clear(&l);
}

/* The number of a site's events that contain text. */
static size_t events_with(struct fixture *fx, const char *team, const char *site, const char *text)
{
    struct log_list ll;
    assert_int_equal(store_logs(fx->s, team, site, 0, INT64_MAX / 2, text, &ll), STORE_OK);
    size_t n = ll.n;
    log_list_clear(&ll);
    return n;
}

/* Refused adoptions (expired, wrong serial, used, unknown) leave the line as
 * it was and are recorded; the right router then adopts; its device token
 * is redacted from a backup even when it straddles two chunks. */
static void test_adoption(void **state)
{
    struct fixture *fx = *state;
    char name[32], line_hash[JP_SIG_HEX + 1], dev_hash[JP_SIG_HEX + 1], tok[64];
    snprintf(tok, sizeof tok, "Adopt%017u", fx->seq++ + (unsigned)getpid() * 1000u);
    token_hash(tok, line_hash);
    snprintf(name, sizeof name, "bound-%u", fx->seq++);
    int64_t now = (int64_t)time(NULL);
    struct adoption_line line = {line_hash, now - 1}; /* already expired */
    struct site st;
    assert_int_equal(store_site_create(fx->s, "t1", name, "HEX0A1B2C", &line, &st), STORE_CREATED);
    char site[JP_UUID_LEN + 1];
    memcpy(site, st.id, sizeof site);
    assert_string_equal(st.expected_serial, "HEX0A1B2C");
    assert_int_equal(st.adoption_expires_at, now - 1);
    site_clear(&st);
    const char device[] = "D3v1c3T0k3nD3v1c3T0k3nD3v1c3T0k3";
    assert_int_equal(strlen(device), JP_DEVICE_TOKEN_LEN);
    token_hash(device, dev_hash);
    struct device_facts f = {.serial_number = "hex0a1b2c", /* the case does not matter */
                             .from = "192.0.2.7",
                             .identity = "core-1",
                             .uptime = -1,
                             .cpu_load = -1,
                             .memory_free = -1,
                             .disk_free = -1};
    enum adopt_refusal why;
    assert_int_equal(store_site_adopt(fx->s, line_hash, dev_hash, &f, &st, &why), STORE_NOT_FOUND);
    assert_int_equal(why, ADOPT_EXPIRED);
    assert_string_equal(st.id, site);
    site_clear(&st);
    /* a new line; the wrong serial is refused and the line stays usable */
    line.expires_at = now + 3600;
    assert_int_equal(store_site_rotate_device(fx->s, "t1", site, &line), STORE_OK);
    f.serial_number = "OTHER";
    assert_int_equal(store_site_adopt(fx->s, line_hash, dev_hash, &f, &st, &why), STORE_NOT_FOUND);
    assert_int_equal(why, ADOPT_WRONG_SERIAL);
    site_clear(&st);
    f.serial_number = NULL; /* no serial at all is another serial */
    assert_int_equal(store_site_adopt(fx->s, line_hash, dev_hash, &f, &st, &why), STORE_NOT_FOUND);
    assert_int_equal(why, ADOPT_WRONG_SERIAL);
    site_clear(&st);
    f.serial_number = "hex0a1b2c";
    assert_int_equal(store_site_adopt(fx->s, line_hash, dev_hash, &f, &st, &why), STORE_OK);
    assert_true(st.adopted_at >= now);
    assert_string_equal(st.adopted_from, "192.0.2.7");
    assert_int_equal(st.adoption_expires_at, 0);
    site_clear(&st);
    /* used once: refused as used, and the site tells */
    assert_int_equal(store_site_adopt(fx->s, line_hash, "e0", &f, &st, &why), STORE_NOT_FOUND);
    assert_int_equal(why, ADOPT_USED);
    site_clear(&st);
    assert_int_equal(store_site_adopt(fx->s, "f00d", "e0", &f, &st, &why), STORE_NOT_FOUND);
    assert_int_equal(why, ADOPT_UNKNOWN);
    site_clear(&st);
    assert_int_equal(events_with(fx, "t1", site, "Adoption refused (expired) from 192.0.2.7"), 1);
    assert_int_equal(events_with(fx, "t1", site, "Adoption refused (wrong_serial)"), 2);
    assert_int_equal(events_with(fx, "t1", site, "Adoption refused (used)"), 1);
    assert_int_equal(events_with(fx, "t1", site, "Site adopted from 192.0.2.7 (serial hex0a1b2c"),
                     1);
    struct device_site d;
    assert_int_equal(store_site_by_device(fx->s, dev_hash, &d), STORE_OK);
    /* the binding can be lifted (and set) by an update */
    struct site_update u = {.set_serial = true, .expected_serial = NULL};
    assert_int_equal(store_site_update(fx->s, "t1", site, &u, &st), STORE_OK);
    assert_null(st.expected_serial);
    assert_string_equal(st.name, name);
    site_clear(&st);
    /* a backup that holds the device token twice, once across two chunks */
    char job[JP_UUID_LEN + 1], file[64], data[256];
    new_job(fx, "t1", site, true, job);
    int n = snprintf(data, sizeof data, "source=\":local jpTok \\\"%s\\\"\"\n# %s\nkeep=%sX\n",
                     device, device, device);
    size_t redacted = 99, cut = 30; /* inside the first copy */
    assert_int_equal(store_backup_chunk(fx->s, site, job, 0, n, data, cut, now, file, &redacted),
                     STORE_OK);
    assert_int_equal(store_backup_chunk(fx->s, site, job, (int64_t)cut, n, data + cut,
                                        (size_t)n - cut, now, file, &redacted),
                     STORE_CREATED);
    assert_int_equal(redacted, 2); /* not the third: it runs on into "X" */
    struct backup_info b;
    assert_int_equal(store_backup_get(fx->s, "t1", site, file, &b), STORE_OK);
    assert_int_equal(b.size, n);
    char want[256];
    snprintf(want, sizeof want, "source=\":local jpTok \\\"%s__\\\"\"\n# %s__\nkeep=%sX\n",
             JP_REDACTED, JP_REDACTED, device);
    assert_memory_equal(b.content, want, (size_t)n);
    free(b.content);
    assert_int_equal(events_with(fx, "t1", site, "held the site's device token (2 times)"), 1);
}

static void test_team_scoping(void **state)
{
    struct fixture *fx = *state;
    char site[JP_UUID_LEN + 1], job[JP_UUID_LEN + 1], file[64];
    new_site(fx, "owner", site);
    new_job(fx, "owner", site, true, job);
    assert_int_equal(store_backup_chunk(fx->s, site, job, 0, 3, "abc", 3, 1700000000, file, NULL),
                     STORE_CREATED);
    const char *thief = "thief";
    struct site st;
    struct job j;
    assert_int_equal(store_site_get(fx->s, thief, site, &st), STORE_NOT_FOUND);
    assert_int_equal(store_site_get(fx->s, "owner", site, &st), STORE_OK);
    site_clear(&st);
    struct site_list sl;
    struct site_query sq = {.online = -1};
    assert_int_equal(store_site_list(fx->s, thief, &sq, &sl), STORE_OK);
    for (size_t i = 0; i < sl.n; i++)
        assert_string_not_equal(sl.items[i].id, site);
    site_list_clear(&sl);
    assert_int_equal(store_job_get(fx->s, thief, site, job, &j), STORE_NOT_FOUND);
    struct job_list jl;
    struct job_query q = {.site_id = site, .status = -1};
    assert_int_equal(store_job_list(fx->s, thief, &q, &jl), STORE_NOT_FOUND);
    assert_int_equal(store_job_list(fx->s, "owner", &q, &jl), STORE_OK);
    assert_int_equal(jl.n, 1);
    job_list_clear(&jl);
    char token[JP_TOKEN_LEN + 1];
    assert_int_equal(store_job_cancel(fx->s, thief, site, job, token), STORE_NOT_FOUND);
    char key[JP_UUID_LEN + 1];
    key_of(fx, key);
    struct job_request jr = request(site, key, ":put 1");
    assert_int_equal(store_job_create(fx->s, thief, &jr, &j), STORE_NOT_FOUND);
    struct backup_list bl;
    struct backup_info b;
    assert_int_equal(store_backup_list(fx->s, thief, site, &bl), STORE_NOT_FOUND);
    assert_int_equal(store_backup_get(fx->s, thief, site, file, &b), STORE_NOT_FOUND);
    struct stat_list stl;
    assert_int_equal(store_stats(fx->s, thief, site, 0, INT64_MAX / 2, false, 0, &stl),
                     STORE_NOT_FOUND);
    struct log_list ll;
    assert_int_equal(store_logs(fx->s, thief, site, 0, INT64_MAX / 2, NULL, &ll), STORE_NOT_FOUND);
    assert_int_equal(store_logs(fx->s, "owner", site, 0, INT64_MAX / 2, NULL, &ll), STORE_OK);
    assert_true(ll.n >= 2); /* site created, job created, backup stored */
    log_list_clear(&ll);
    struct adoption_line line = {"ab", INT64_MAX / 2};
    assert_int_equal(store_site_rotate_device(fx->s, thief, site, &line), STORE_NOT_FOUND);
    struct site_update u = {.name = "stolen", .set_serial = true, .expected_serial = "X"};
    assert_int_equal(store_site_update(fx->s, thief, site, &u, &st), STORE_NOT_FOUND);
    assert_int_equal(store_site_delete(fx->s, thief, site), STORE_NOT_FOUND);
    assert_int_equal(store_site_get(fx->s, "owner", site, &st), STORE_OK);
    assert_int_equal(st.deleted_at, 0);
    site_clear(&st);
}

/* ---- fixtures --------------------------------------------------------- */

/* A store on url, or NULL (the reason on stderr). */
static struct store *open_url(const char *url, unsigned readers)
{
    char err[256];
    struct store_options o = {.url = url, .readers = readers};
    struct store *s = store_open(&o, err, sizeof err);
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static int open_sqlite(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    *state = fx;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/jobplane-unit.XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/store.db", fx->dir);
    return (fx->s = open_url(path, 4)) ? 0 : -1;
}

static int open_postgres(void **state)
{
    const char *url = getenv("JP_TEST_PG");
    if (!url || !*url)
        return -1;
    struct fixture *fx = calloc(1, sizeof *fx);
    *state = fx;
    fx->pg = true;
    return (fx->s = open_url(url, 4)) ? 0 : -1;
}

static int close_store(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->s);
    if (fx->dir[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            return -1;
    }
    free(fx);
    return 0;
}

static void ignore_wake(void *ctx, const char *site_id)
{
    (void)ctx;
    (void)site_id;
}

/* A pending job written behind the stores' backs: no NOTIFY. */
static void unannounced(PGconn *c, const char *site, bool add)
{
    const char *v[] = {site};
    PGresult *r = PQexecParams(
        c,
        add ? "INSERT INTO jobs (id, site_id, token, idempotency_key, description, script,"
              " express_execute, needs_ack, should_backup, created_at) VALUES"
              " ('ffffffff-ffff-7fff-bfff-ffffffffffff', $1, 'unannounced', 'k', 'd', ':put 1',"
              " 0, 1, 0, 0)"
            : "DELETE FROM jobs WHERE token='unannounced' AND site_id=$1",
        1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

/* PostgreSQL, two stores on one database (two nodes). Once its listener
 * listens, the watching store b trusts its pending set: a pending row that
 * nobody announced is not seen (empty polls are answered from memory), while
 * the unwatching store reads it; a job the other store queued is seen as soon
 * as its NOTIFY arrives. */
/* A token revoked through one node is refused by another that had it in
 * memory, once the NOTIFY arrives; while that node's listener is not yet
 * listening it reads every token. */
static void test_device_tokens_across_nodes(void **state)
{
    struct fixture *fx = *state;
    fx->seq += 200000;
    struct store *b = open_url(getenv("JP_TEST_PG"), 2);
    assert_non_null(b);
    store_watch_jobs(b, ignore_wake, NULL);
    char site[JP_UUID_LEN + 1], dev[JP_SIG_HEX + 1], adopt[JP_SIG_HEX + 1];
    adopted_site(fx, "t1", site, dev);
    struct device_site d;
    /* b answers from memory once its listener listens: shown by a token
     * removed behind its back (no NOTIFY) that it still accepts */
    PGconn *c = PQconnectdb(getenv("JP_TEST_PG"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *clear[] = {site}, *restore[] = {site, dev};
    enum store_result r = STORE_NOT_FOUND;
    for (int i = 0; i < 250 && r != STORE_OK; i++) {
        assert_int_equal(store_site_by_device(b, dev, &d), STORE_OK);
        PQclear(PQexecParams(c, "UPDATE sites SET device_hash=NULL WHERE id=$1", 1, NULL, clear,
                             NULL, NULL, 0));
        r = store_site_by_device(b, dev, &d);
        PQclear(PQexecParams(c, "UPDATE sites SET device_hash=$2 WHERE id=$1", 2, NULL, restore,
                             NULL, NULL, 0));
        if (r != STORE_OK)
            usleep(20000);
    }
    assert_int_equal(r, STORE_OK);
    PQfinish(c);
    snprintf(adopt, sizeof adopt, "%064x", fx->seq++ + (unsigned)getpid() * 1000u);
    struct adoption_line line = {adopt, INT64_MAX / 2};
    assert_int_equal(store_site_rotate_device(fx->s, "t1", site, &line), STORE_OK);
    assert_int_equal(store_site_by_device(fx->s, dev, &d), STORE_NOT_FOUND);
    for (int i = 0; i < 200 && (r = store_site_by_device(b, dev, &d)) == STORE_OK; i++)
        usleep(10000);
    assert_int_equal(r, STORE_NOT_FOUND);
    store_close(b);
}

static void test_pending_across_nodes(void **state)
{
    struct fixture *fx = *state;
    fx->seq += 100000; /* names and adoption hashes of their own in this database */
    struct store *b = open_url(getenv("JP_TEST_PG"), 2);
    assert_non_null(b);
    store_watch_jobs(b, ignore_wake, NULL);
    PGconn *c = PQconnectdb(getenv("JP_TEST_PG"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char site[JP_UUID_LEN + 1], a[JP_UUID_LEN + 1];
    new_site(fx, "t1", site);
    int64_t now = (int64_t)time(NULL);
    /* Until the listener listens and loaded the set, b reads (and sees the
     * row); the row is removed after each probe, so the load never has it. */
    int b_saw = 1, a_saw = 0;
    for (int i = 0; i < 250 && b_saw; i++) {
        unannounced(c, site, true);
        b_saw = store_dispatch_wanted(b, site, now, 600);
        a_saw = store_dispatch_wanted(fx->s, site, now, 600);
        unannounced(c, site, false);
        assert_int_equal(store_dispatch_wanted(b, site, now, 600), 0);
        if (b_saw)
            usleep(20000);
    }
    assert_int_equal(b_saw, 0);
    assert_int_equal(a_saw, 1);
    PQfinish(c);
    new_job(fx, "t1", site, false, a);
    int seen = 0;
    for (int i = 0; i < 200 && !(seen = store_dispatch_wanted(b, site, now, 600)); i++)
        usleep(10000);
    assert_int_equal(seen, 1);
    struct job j;
    long remaining;
    assert_int_equal(dispatch(b, site, now, 600, &j, &remaining), STORE_OK);
    assert_string_equal(j.id, a);
    job_clear(&j);
    assert_int_equal(store_dispatch_wanted(b, site, now, 600), 0);
    store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_set),
        cmocka_unit_test(test_device_tokens),
        cmocka_unit_test(test_one_job_in_flight),
        cmocka_unit_test(test_terminal_reports_change_nothing),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_backup_chunks),
        cmocka_unit_test(test_adoption),
        cmocka_unit_test(test_team_scoping),
        cmocka_unit_test(test_outbox),
    };
    int failed = cmocka_run_group_tests_name("store on SQLite", tests, open_sqlite, close_store);
    const char *pg = getenv("JP_TEST_PG");
    const struct CMUnitTest pg_only[] = {
        cmocka_unit_test(test_pending_across_nodes),
        cmocka_unit_test(test_device_tokens_across_nodes),
    };
    if (pg && *pg) {
        failed +=
            cmocka_run_group_tests_name("store on PostgreSQL", tests, open_postgres, close_store);
        failed += cmocka_run_group_tests_name("two stores on PostgreSQL", pg_only, open_postgres,
                                              close_store);
    } else
        printf("# store on PostgreSQL: skipped (JP_TEST_PG is not set)\n");
    return failed;
}
