/*
 * pubcache: the published objects a worker serves unchanged — the JWKS,
 * the CRLs and the stored (pre-signed) OCSP answers — kept in memory and
 * dropped when the store says what they were built from changed.
 *
 * Before each use, pubcache_sync asks the store whether anything was
 * committed since it last looked (SQLite's data_version: a cheap read that
 * sees every process's commits); only then does it read what the objects
 * are built from (store_pub_version: the revocation feed, the token keys,
 * the CRL numbers) and drops what changed. A revocation committed and
 * acknowledged by any worker is therefore seen by the next request of
 * every worker. sync hands out a generation; an object read from the store
 * after it (or an OCSP answer signed from a lookup after it, once stored)
 * is put back with that generation, and refused if the cache was dropped
 * meanwhile, so an answer read before a revocation never outlives it. Sizes are bounded: one JWKS, one CRL per shard, PUBCACHE_OCSP_SLOTS
 * OCSP answers (a direct-mapped table: a new serial takes its slot over).
 * Every function accepts a NULL cache: nothing is kept, every get misses.
 */
#ifndef TESSERA_CA_PUBCACHE_H
#define TESSERA_CA_PUBCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct pubcache;
struct store;

/* Stored OCSP answers kept per worker (about 0.5 KiB each). */
#define PUBCACHE_OCSP_SLOTS 8192

/* An empty cache; the caller frees it with pubcache_free. */
enum status pubcache_new(struct pubcache **out) MUST_CHECK;
/* NULL accepted. */
void pubcache_free(struct pubcache *c);

/*
 * Drop what changed in store since the last sync; *gen is the generation
 * to put back what the caller reads from the store after this call.
 */
void pubcache_sync(struct pubcache *c, struct store *store, uint64_t *gen);

/*
 * 1 when nothing was committed to store since the last sync (what the
 * cache holds is current and may be served), 0 when a sync is due. Never
 * reads the store itself (on SQLite one atomic load; PostgreSQL: always
 * 0): for a caller that must not wait.
 */
int pubcache_is_fresh(struct pubcache *c, struct store *store);

/* Counters for tests and metrics: hits, misses, drops (of everything). */
void pubcache_stats(
    struct pubcache *c, uint64_t *hits, uint64_t *misses, uint64_t *drops);

/*
 * The cached JWKS while now < its valid_until: 1 and *json (the caller
 * frees it), or 0 (*json NULL, also when out of memory).
 */
int pubcache_jwks_get(struct pubcache *c, int64_t now, char **json);
/* Keep json (copied) until valid_until (a retired key leaves then). */
void pubcache_jwks_put(
    struct pubcache *c, uint64_t gen, const char *json, int64_t valid_until);

/* The cached CRL of shard: 1 and a copy in *der (the caller frees), or 0. */
int pubcache_crl_get(struct pubcache *c, int shard, uint8_t **der, size_t *len,
    int64_t *this_update, int64_t *next_update, int64_t *number);
void pubcache_crl_put(struct pubcache *c, uint64_t gen, int shard,
    const uint8_t *der, size_t len, int64_t this_update, int64_t next_update,
    int64_t number);

/* The cached answer for serial: 1 and a copy in *der, or 0. */
int pubcache_ocsp_get(struct pubcache *c, const char *serial, uint8_t **der,
    size_t *len, int64_t *next_update);
void pubcache_ocsp_put(struct pubcache *c, uint64_t gen, const char *serial,
    const uint8_t *der, size_t len, int64_t next_update);

#endif
