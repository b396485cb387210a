/* Rate limits: a token bucket per key (a team, an API key, a client
 * address), refilled at `per_minute` a minute, holding at most `per_minute`. */
#ifndef JP_API_RATELIMIT_H
#define JP_API_RATELIMIT_H

struct ratelimit;

struct ratelimit *ratelimit_new(unsigned per_minute);
void ratelimit_free(struct ratelimit *rl);
/* Takes one request for key at time now (seconds). Returns 0, or the seconds
 * to wait before the next request is allowed. */
unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now);
/* The same answer, without taking: for limits on failures, which are taken
 * only once a request failed. */
unsigned ratelimit_wait(struct ratelimit *rl, const char *key, double now);

#endif
