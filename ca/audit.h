/*
 * audit: an append-only log of the authority's decisions, kept in the store
 * as a hash chain. Each entry's hash covers the previous entry's hash and
 * its own content, so changing or removing an entry in the middle breaks
 * the chain. Removing the newest entries does not: signed checkpoints of
 * the last hash (later) cover that.
 */
#ifndef TESSERA_CA_AUDIT_H
#define TESSERA_CA_AUDIT_H

#include <stdint.h>

#include "ca/store.h"
#include "common/status.h"

/*
 * Append an entry inside the caller's store_write job, so that it commits
 * or rolls back with the action it records. NULL strings are stored as "";
 * detail is cut to LIMIT_AUDIT_DETAIL bytes (on a UTF-8 boundary).
 */
enum status audit_append(struct store_txn *txn, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail) MUST_CHECK;

/*
 * The hash of e: SHA-256 over e->prev_hash, then seq and time as 8-byte
 * big-endian integers, then actor, action, object and detail each as an
 * 8-byte big-endian length and its bytes (NULL as ""). e->hash is not read.
 * 32 zero bytes if OpenSSL fails (which matches no real entry).
 */
void audit_entry_hash(const struct store_audit *e, uint8_t out[32]);

/*
 * Walk the whole log: seq contiguous from 1, each prev_hash the previous
 * entry's hash, each hash recomputed. ST_OK and *count = entries; on the
 * first bad entry ST_CONFLICT, a detail naming it and *first_bad = its seq.
 * Either pointer may be NULL.
 */
enum status audit_verify(
    struct store *store, int64_t *count, int64_t *first_bad) MUST_CHECK;

#endif
