/* Counters for the metrics endpoint, cheap enough for the poll path: no
 * lock and no shared cache line per event. Each thread adds to a shard of its
 * own (allocated on its first add, kept until the process exits, so a thread
 * that ends keeps its counts); a scrape sums the shards.
 *
 * Slots are plain numbers handed out by met_alloc before the threads that
 * add start (at start-up). A histogram is a run of slots: one per bound
 * (counts of values at or below it, not cumulative), one for values above
 * every bound, the sum of the values, in millionths. Generic: names and
 * labels belong to the caller. */
#ifndef JP_LIB_METRICS_H
#define JP_LIB_METRICS_H

#include <stdint.h>

#define MET_SLOTS 4096

/* n consecutive slots, counting from 0 (the value returned). A failure to
 * fit is a programming error: the process aborts. */
unsigned met_alloc(unsigned n);
void met_add(unsigned slot, uint64_t n);
/* The sum over every thread. */
uint64_t met_sum(unsigned slot);

struct met_hist {
    unsigned base;        /* nbounds + 2 slots */
    const double *bounds; /* ascending upper bounds */
    unsigned nbounds;
};
void met_hist_init(struct met_hist *h, const double *bounds, unsigned nbounds);
void met_observe(const struct met_hist *h, double v);

#endif
