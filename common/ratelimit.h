/*
 * ratelimit: per-address token buckets shared by every worker process.
 * The table lives in one anonymous shared mapping that the supervisor
 * makes before it forks the workers (a documented pool: the only state
 * the processes share besides the store). A fixed number of slots; when
 * they are full the stalest bucket is reused, so memory stays bounded
 * whatever the number of addresses.
 */
#ifndef TESSERA_COMMON_RATELIMIT_H
#define TESSERA_COMMON_RATELIMIT_H

#include <stdint.h>

#include "common/status.h"

struct ratelimit;

/* Map a new table (MAP_SHARED, inherited across fork). */
enum status ratelimit_new(struct ratelimit **out) MUST_CHECK;

/* Unmap it (in each process that holds it). NULL is accepted. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Take one request for (kind, address) from a bucket that refills at
 * per_second and holds at most burst, at now_ms (a monotonic clock).
 * Returns 0 when allowed, else the milliseconds until the next request
 * would be (the bucket is left as it was).
 */
int64_t ratelimit_take(struct ratelimit *rl, int kind, const char *address,
    int64_t per_second, int64_t burst, int64_t now_ms);

/*
 * As ratelimit_take, but only look: 0 when (kind, address) has a request
 * left, else the milliseconds until it would. Takes nothing; for limits
 * charged after the answer (refusals), checked before the work.
 */
int64_t ratelimit_check(struct ratelimit *rl, int kind, const char *address,
    int64_t per_second, int64_t burst, int64_t now_ms);

#endif
