/* Reading a site's stats: raw samples, and the hourly and daily roll-ups
 * that retention.c writes, each period at the finest resolution still
 * kept. */
#include <stdlib.h>
#include <string.h>

#include "store/engine.h"

#define POINT_COLS                                                                                 \
    "samples, cpu_sum, cpu_n, cpu_min, cpu_max, mem_sum, mem_n, mem_min, mem_max, disk_sum,"       \
    " disk_n, disk_min, disk_max, uptime"
#define AGGREGATES                                                                                 \
    "sum(cpu_load), count(cpu_load), min(cpu_load), max(cpu_load), sum(memory_free),"              \
    " count(memory_free), min(memory_free), max(memory_free), sum(disk_free), count(disk_free),"   \
    " min(disk_free), max(disk_free), max(uptime)"
#define ONE(c) c ", CASE WHEN " c " IS NULL THEN 0 ELSE 1 END, " c ", " c

static const char *const zone_sql[] = {
    /* raw samples */
    "SELECT ts, 0, 1, " ONE("cpu_load") ", " ONE("memory_free") ", " ONE(
        "disk_free") ", uptime FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id=?1) AND "
                     "ts>=?2 AND ts<?3 ORDER BY ts"
                     " LIMIT 100000",
    /* raw samples by hour */
    "SELECT (ts/3600)*3600 AS h, 3600, count(*), " AGGREGATES
    " FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id=?1) AND"
    " ts>=?2 AND ts<?3 GROUP BY h ORDER BY h",
    "SELECT ts, 3600, " POINT_COLS
    " FROM stats_hourly WHERE k=(SELECT stats_key FROM sites WHERE id=?1) AND ts>=?2 AND ts<?3"
    " ORDER BY ts",
    "SELECT ts, 86400, " POINT_COLS
    " FROM stats_daily WHERE k=(SELECT stats_key FROM sites WHERE id=?1) AND ts>=?2 AND ts<?3"
    " ORDER BY ts",
};
enum { Z_RAW, Z_RAW_HOURLY, Z_HOURLY, Z_DAILY };

static struct stat_metric metric(const struct db_res *r, size_t i, size_t c)
{
    int64_t sum = db_int(r, i, c, 0), n = db_int(r, i, c + 1, 0);
    return (struct stat_metric){
        .avg = n > 0 ? (2 * sum + n) / (2 * n) : -1, /* rounded half up; values are >= 0 */
        .min = db_int(r, i, c + 2, -1),
        .max = db_int(r, i, c + 3, -1),
    };
}

/* Appends the rows of one zone [from, to) to out. */
static int read_zone(struct store *s, struct db *c, int zone, const char *site_id, int64_t from,
                     int64_t to, struct stat_list *out, size_t *cap)
{
    if (from >= to)
        return 0;
    struct db_res *r = NULL;
    if (RUN(s, c, zone_sql[zone], &r, DB_TEXT(site_id), DB_INT(from), DB_INT(to)) != DB_OK)
        return -1;
    if (out->n + r->rows > *cap) {
        size_t want = out->n + r->rows;
        struct stat_point *p = realloc(out->items, (want ? want : 1) * sizeof *p);
        if (!p) {
            db_res_free(r);
            return -1;
        }
        out->items = p;
        *cap = want;
    }
    for (size_t i = 0; i < r->rows; i++)
        out->items[out->n++] = (struct stat_point){
            .created_at = db_int(r, i, 0, 0),
            .period = db_int(r, i, 1, 0),
            .samples = db_int(r, i, 2, 0),
            .cpu_load = metric(r, i, 3),
            .memory_free = metric(r, i, 7),
            .disk_free = metric(r, i, 11),
            .uptime = db_int(r, i, 15, -1),
        };
    db_res_free(r);
    return 0;
}

static int64_t ceil_to(int64_t t, int64_t period)
{
    int64_t f = eng_floor(t, period);
    return f == t ? t : f + period;
}

static int64_t min2(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max2(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Where each resolution begins: raw samples are complete from *raw_from on
 * (kept by age, and never pruned before rolled up), hourly roll-ups from
 * *hourly_from to there, daily ones before. */
static int boundaries(struct store *s, struct db *c, int64_t now, int64_t *raw_from,
                      int64_t *hourly_from)
{
    struct db_res *r = NULL;
    if (s->drv->run(c,
                    "SELECT (SELECT upto FROM rollups WHERE name='hourly'), (SELECT upto FROM"
                    " rollups WHERE name='daily')",
                    NULL, 0, &r) != DB_OK)
        return -1;
    int64_t hourly_upto = db_int(r, 0, 0, 0), daily_upto = db_int(r, 0, 1, 0);
    db_res_free(r);
    const struct retention *rt = &s->ret;
    *raw_from = rt->raw ? min2(ceil_to(now - rt->raw, 3600), hourly_upto) : 0;
    *hourly_from = rt->hourly ? min2(min2(ceil_to(now - rt->hourly, 86400), daily_upto),
                                     eng_floor(*raw_from, 86400))
                              : 0;
    return 0;
}

enum store_result store_stats(struct store *s, const char *team, const char *site_id, int64_t from,
                              int64_t to, bool hourly, int64_t now, struct stat_list *out)
{
    memset(out, 0, sizeof *out);
    struct db *c = eng_reader(s);
    if (!c)
        return STORE_UNAVAILABLE;
    enum store_result res = STORE_UNAVAILABLE;
    size_t cap = 0;
    int64_t raw_from, hourly_from;
    if (eng_exec(s, c, "BEGIN") == 0) { /* one snapshot: the zones neither overlap nor gap */
        int owned = eng_site_owned(s, c, team, site_id, true);
        if (owned == 0)
            res = STORE_NOT_FOUND;
        else if (owned > 0 && boundaries(s, c, now, &raw_from, &hourly_from) == 0 &&
                 read_zone(s, c, Z_DAILY, site_id, from, min2(to, hourly_from), out, &cap) == 0 &&
                 read_zone(s, c, Z_HOURLY, site_id, max2(from, hourly_from), min2(to, raw_from),
                           out, &cap) == 0 &&
                 read_zone(s, c, hourly ? Z_RAW_HOURLY : Z_RAW, site_id, max2(from, raw_from), to,
                           out, &cap) == 0)
            res = STORE_OK;
        eng_exec(s, c, "ROLLBACK");
    }
    eng_reader_put(s, c);
    if (res != STORE_OK) {
        free(out->items);
        memset(out, 0, sizeof *out);
    } else if (!out->items && !(out->items = calloc(1, sizeof *out->items))) {
        res = STORE_UNAVAILABLE;
    }
    return res;
}
