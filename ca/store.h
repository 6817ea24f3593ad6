/*
 * store: the authority's state in SQLite (WAL, synchronous=FULL). The only
 * file in tessera that includes sqlite3.h is store.c.
 *
 * Writes go through one writer thread per struct store that folds the jobs
 * waiting for it into one transaction (group commit: many rows per fsync).
 * Each job runs inside its own savepoint, so a job that fails is rolled back
 * alone. store_write returns only after the transaction holding the job is
 * durably committed: nothing is handed to a client before that.
 *
 * Reads go through a separate read connection.
 */
#ifndef TESSERA_CA_STORE_H
#define TESSERA_CA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct store;
struct store_txn;

enum store_cert_status {
	STORE_CERT_VALID,
	STORE_CERT_REVOKED,
	STORE_CERT_STATUS_MAX
};

/* Serials are stored as uppercase hex without separators. */
#define STORE_SERIAL_HEX_CAP 41

struct store_cert {
	char serial[STORE_SERIAL_HEX_CAP];
	char *issuer; /* RFC 2253 string of the issuer DN */
	char *subject; /* RFC 2253 string of the subject DN */
	char *device_id; /* may be NULL for CA and service certs */
	char *profile;
	int64_t not_before; /* Unix seconds */
	int64_t not_after;
	enum store_cert_status status;
	int64_t revoked_at; /* 0 when valid */
	int reason; /* RFC 5280 CRLReason, -1 when none */
	uint8_t *der;
	size_t der_len;
	int64_t created;
};

struct store_audit {
	int64_t seq;
	int64_t time;
	char *actor;
	char *action;
	char *object;
	char *detail;
	uint8_t prev_hash[32];
	uint8_t hash[32];
};

/*
 * Open (creating if needed) the database at path, apply migrations, start
 * the writer. The file is created with mode 0600. The caller frees *out
 * with store_close.
 */
enum status store_open(const char *path, struct store **out) MUST_CHECK;

/* Stop the writer after the jobs already queued, close. NULL accepted. */
void store_close(struct store *store);

/* The schema version this build writes. */
int store_schema_version(void);

typedef enum status (*store_txn_fn)(struct store_txn *txn, void *arg);

/*
 * Run fn(txn, arg) in the writer's next transaction and wait until that
 * transaction is durably committed. fn's failure rolls back fn's changes
 * only and is returned (with its detail); a commit failure returns
 * ST_STORE. fn runs on the writer thread: it must not call store_write.
 */
enum status
store_write(struct store *store, store_txn_fn fn, void *arg) MUST_CHECK;

/* Insert a certificate row; ST_CONFLICT if the serial exists. */
enum status store_txn_cert_insert(
    struct store_txn *txn, const struct store_cert *cert) MUST_CHECK;

/* Insert the device as active if it is not known yet. */
enum status store_txn_device_ensure(
    struct store_txn *txn, const char *device_id, int64_t now) MUST_CHECK;

/* Store a new enrollment secret (its SHA-256 only). */
enum status store_txn_secret_insert(struct store_txn *txn,
    const char *device_id, const char *profile, const uint8_t hash[32],
    int64_t expires, int64_t now) MUST_CHECK;

/*
 * Consume the unexpired, unused secret of device_id whose hash equals hash
 * (constant-time compare) and whose profile equals profile, recording the
 * serial it was used for. ST_UNAUTHENTICATED when there is none (wrong,
 * used or expired: the detail says which).
 */
enum status store_txn_secret_consume(struct store_txn *txn,
    const char *device_id, const char *profile, const uint8_t hash[32],
    int64_t now, const char *serial) MUST_CHECK;

/*
 * The same check as store_txn_secret_consume, read-only, so that a wrong
 * secret is refused before anything is signed. Consumption stays atomic
 * with the issuance: only store_txn_secret_consume decides.
 */
enum status store_secret_check(struct store *store, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now) MUST_CHECK;

/* The last audit entry's seq and hash (0 and 32 zero bytes when empty). */
enum status store_txn_audit_last(
    struct store_txn *txn, int64_t *seq, uint8_t hash[32]) MUST_CHECK;

/* Append an audit row exactly as given (the caller computed seq and hash). */
enum status store_txn_audit_insert(
    struct store_txn *txn, const struct store_audit *entry) MUST_CHECK;

/* 1 if a certificate with this serial exists, 0 if not; <0 on failure. */
int store_cert_exists(struct store *store, const char *serial);

/* Read one certificate; ST_NOTFOUND. The caller frees with store_cert_free. */
enum status store_cert_get(struct store *store, const char *serial,
    struct store_cert **out) MUST_CHECK;

void store_cert_free(struct store_cert *cert);

/*
 * Call fn for each audit entry with seq > since, in order, until fn returns
 * non-zero. The entry is valid only during the call.
 */
enum status store_audit_foreach(struct store *store, int64_t since,
    int (*fn)(const struct store_audit *entry, void *arg),
    void *arg) MUST_CHECK;

/* Number of certificate rows (for tests and status output). */
enum status store_cert_count(struct store *store, int64_t *count) MUST_CHECK;

/* PRAGMA integrity_check: ST_OK, or ST_STORE with SQLite's first complaint. */
enum status store_integrity_check(struct store *store) MUST_CHECK;

/*
 * Group-commit counters since store_open: transactions the writer ran and
 * jobs it ran in them (jobs / commits is the average batch size).
 */
void store_stats(struct store *store, uint64_t *commits, uint64_t *jobs);

#endif
