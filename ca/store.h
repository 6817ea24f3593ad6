/*
 * store: the authority's state in SQLite (WAL, synchronous=FULL). Only the
 * store's own files (ca/store*.c, ca/store_internal.h) include sqlite3.h.
 *
 * Writes of one struct store are folded into one transaction at a time
 * (group commit: many rows per fsync): a caller of store_write that finds
 * nobody committing runs the queue on its own thread, its job and what
 * queued before it; the callers that come meanwhile queue, and the next of
 * them runs them all in the next transaction. A writer thread runs what
 * store_write_async queued and nobody waits for. Each job runs inside its
 * own savepoint, so a job that fails is rolled back alone. store_write returns only after the transaction holding the job is
 * durably committed: nothing is handed to a client before that.
 * The writers of all processes on one file take turns through a lock on
 * path-writer, and each takes its batch only once it has its turn, so the
 * jobs that queued meanwhile share its one fsync.
 *
 * Reads go through a separate read connection.
 */
#ifndef TESSERA_CA_STORE_H
#define TESSERA_CA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
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
	int reason; /* RFC 5280 CRLReason, -1 when none (see below) */
	uint8_t *der;
	size_t der_len;
	int64_t created;
	int shard; /* CRL shard, fixed at issuance (0 when unsharded) */
	int64_t supersede_at; /* renewed: revoked as superseded then; 0 */
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
 * the writer. path is a SQLite file, created with mode 0600, or a
 * PostgreSQL URL (postgresql://USER@HOST/DB; see store_target_check). The
 * caller frees *out with store_close.
 */
enum status store_open(const char *path, struct store **out) MUST_CHECK;

/* 1 when target is a PostgreSQL URL rather than a SQLite file. */
int store_target_is_url(const char *target);

/*
 * Whether target may name a store, without connecting: a PostgreSQL URL
 * must not hold a password (ST_MALFORMED), and the password file libpq
 * would read (the URL's passfile=, else PGPASSFILE) must be readable by
 * its owner only (ST_DENIED). A file path passes.
 */
enum status store_target_check(const char *target) MUST_CHECK;

/*
 * Whether this process runs the scheduled work that must run once for the
 * whole store (CRL builds, OCSP refresh, superseding, audit checkpoints).
 * SQLite: always (one machine; its caller already runs one scheduler).
 * PostgreSQL: the one session that holds an advisory lock on the store's
 * database; the lock goes with its session, so when that node dies or is
 * cut off another one takes it at its next call (once a second). Logs
 * when this process gains or loses it.
 */
int store_leader_check(struct store *store);

struct store_copy_counts {
	int64_t rows; /* of every table */
	int64_t certs;
	int64_t audit;
};

/*
 * Copy the store at from (migrated to this binary's schema first) into
 * the store at to, which must hold no certificate: every row of every
 * table as it is (the audit chain, secrets' state, the revocation feed's
 * seq), read in one snapshot and written in one transaction. Nothing may
 * write to from meanwhile.
 */
enum status store_copy(const char *from, const char *to,
    struct store_copy_counts *counts) MUST_CHECK;

/*
 * Delete every row of every table that store_copy copies (the schema
 * stays), in one transaction: what a failed `init` wrote into the
 * database it found empty. Never for a store in use.
 */
enum status store_empty(struct store *store) MUST_CHECK;

/* Stop the writer after the jobs already queued, close. NULL accepted. */
void store_close(struct store *store);

struct sandbox;

/* Allow in sb the files the store's connections open from now on. */
enum status
store_sandbox_allow(struct store *store, struct sandbox *sb) MUST_CHECK;

/*
 * Restrict the store's writer thread to sb (which must hold every rule
 * by now): Landlock binds only the thread that enters, so each thread
 * that exists already enters for itself.
 */
enum status
store_sandbox_enter(struct store *store, struct sandbox *sb) MUST_CHECK;

/* The schema version this build writes. */
int store_schema_version(void);

/*
 * Copy the database at path into dest, a new file (ST_CONFLICT if it
 * exists) of mode 0600, as one consistent snapshot: SQLite's online backup
 * API in a single step, one read transaction, while writers (WAL) go on.
 * dest is fsynced; on failure it is removed.
 */
enum status store_backup(const char *path, const char *dest) MUST_CHECK;

/*
 * Check that path is a tessera store SQLite can read whole (PRAGMA
 * integrity_check) and of a schema this build can open. Opens it read-only.
 */
enum status store_check(const char *path) MUST_CHECK;

typedef enum status (*store_txn_fn)(struct store_txn *txn, void *arg);

/* What store_write_async calls once the job's transaction has ended. */
typedef void (*store_done_fn)(enum status st, const char *detail, void *arg);

/*
 * Run fn(txn, arg) in the writer's next transaction and wait until that
 * transaction is durably committed. fn's failure rolls back fn's changes
 * only and is returned (with its detail); a commit failure returns
 * ST_STORE. fn runs on whichever thread commits (this one when nobody
 * else is committing, else the thread that runs the batch it joined, or
 * the writer thread): it must not call store_write, nor rely on
 * thread-local state.
 */
enum status
store_write(struct store *store, store_txn_fn fn, void *arg) MUST_CHECK;

/*
 * store_write without waiting: queue fn(txn, arg) and return. Once its
 * transaction is durably committed (or has failed), done(st, detail,
 * done_arg) runs on the thread that committed it (the writer thread, or
 * a caller of store_write that ran the batch): st and detail as store_write would
 * return them. arg and done_arg stay the caller's and must live until
 * done; done must be short and must not call store_write. When this
 * returns an error, neither fn nor done will run. store_close runs every
 * job queued before it.
 */
enum status store_write_async(struct store *store, store_txn_fn fn, void *arg,
    store_done_fn done, void *done_arg) MUST_CHECK;

/* Insert a certificate row; ST_CONFLICT if the serial exists. */
enum status store_txn_cert_insert(
    struct store_txn *txn, const struct store_cert *cert) MUST_CHECK;

/* Insert the device as active if it is not known yet. */
enum status store_txn_device_ensure(
    struct store_txn *txn, const char *device_id, int64_t now) MUST_CHECK;

/*
 * What a device id is bound to: the profile family that holds it and the
 * authenticator that first enrolled it ("" when not recorded: a device of
 * an earlier schema, or blocked before it enrolled).
 */
struct store_device_binding {
	int is_known; /* 0: no row, the rest is zero */
	int is_blocked;
	char family[LIMIT_LABEL_LEN + 1];
	char authenticator[LIMIT_NAME_LEN + 1];
};

/* Read device_id's binding (is_known 0 when there is no row). */
enum status store_txn_device_binding_get(struct store_txn *txn,
    const char *device_id, struct store_device_binding *out) MUST_CHECK;

/*
 * Insert device_id as active bound to family and authenticator (NULL:
 * unknown), or fill those of an existing row where they are not recorded
 * yet (a recorded binding is never changed here: the caller checks it
 * first).
 */
enum status store_txn_device_bind(struct store_txn *txn, const char *device_id,
    const char *family, const char *authenticator, int64_t now) MUST_CHECK;

/*
 * Block device_id, inserting it (with no family) when it has not enrolled
 * yet, so that a block can precede the enrollment it forbids.
 */
enum status store_txn_device_block(
    struct store_txn *txn, const char *device_id, int64_t now) MUST_CHECK;

/* Who minted a secret: "operator" or "cert", the id, the serial or NULL. */
struct store_minter {
	const char *kind;
	const char *id;
	const char *serial; /* the minting certificate; NULL for operator */
};

/* Store a new enrollment secret (its SHA-256 only) and who minted it. */
enum status store_txn_secret_insert(struct store_txn *txn,
    const char *device_id, const char *profile, const uint8_t hash[32],
    int64_t expires, int64_t now, const struct store_minter *minter) MUST_CHECK;

/* The rowid the transaction's last INSERT gave (a new secret's id). */
int64_t store_txn_last_id(struct store_txn *txn);

/* A secret row as listed: never its hash. Strings borrow the row. */
struct store_secret {
	int64_t id;
	const char *device_id;
	const char *profile;
	const char *minter_kind; /* NULL: minted before minters were kept */
	const char *minter_id;
	const char *minter_serial; /* NULL when not a certificate */
	int64_t created;
	int64_t expires;
	int64_t consumed_at; /* 0: not used */
	const char *consumed_serial; /* NULL: not used */
	int64_t cancelled_at; /* 0: not cancelled */
	const char *cancelled_by; /* the audit actor that cancelled it */
};

/* Which secrets: NULL fields match any. */
struct store_secret_filter {
	const char *minter_kind; /* "operator", "cert" */
	const char *minter_serial; /* uppercase hex */
	const char *device_id;
	const char *profile;
	int is_outstanding; /* only unused, uncancelled, unexpired at now */
	int64_t now;
	int64_t after_id; /* the cursor: ids above it */
	size_t limit; /* 1..STORE_LIST_LIMIT_MAX (listing only) */
};

typedef int (*store_secret_fn)(const struct store_secret *s, void *arg);

/*
 * Call fn for at most f->limit secrets matching f, in id order after
 * f->after_id. s is valid during the call only; fn must not call store
 * read functions.
 */
enum status
store_secret_list(struct store *store, const struct store_secret_filter *f,
    store_secret_fn fn, void *arg) MUST_CHECK;

/*
 * Cancel secret id: ST_NOTFOUND when there is none, ST_CONFLICT when it
 * was used or cancelled already. by is the audit actor recorded with it.
 */
enum status store_txn_secret_cancel(
    struct store_txn *txn, int64_t id, int64_t now, const char *by) MUST_CHECK;

/*
 * Cancel every unused, uncancelled secret matching f's minter and device
 * fields (f->limit, after_id and is_outstanding are ignored; at least one
 * of minter_kind, minter_serial, device_id must be set); *count gets how
 * many. Expired ones are cancelled too: their state then says so.
 */
enum status store_txn_secrets_cancel(struct store_txn *txn,
    const struct store_secret_filter *f, int64_t now, const char *by,
    size_t *count) MUST_CHECK;

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
 * store_txn_secret_consume that also gives the secret row's id (for the
 * audit). serial may be NULL: the secret is then reserved, used up, and
 * store_txn_secret_attach records the certificate later.
 */
enum status store_txn_secret_use(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial, int64_t *id) MUST_CHECK;

/* Record serial on the reserved secret id; ST_CONFLICT when it is not. */
enum status store_txn_secret_attach(
    struct store_txn *txn, int64_t id, const char *serial) MUST_CHECK;

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

/*
 * store_cert_get for a thread that must not wait: SQLite only, and only
 * when no other thread holds the read connection; ST_UNAVAILABLE at once
 * otherwise (the caller then asks from a thread that may wait).
 */
enum status store_cert_get_nowait(struct store *store, const char *serial,
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
 * Revocation state (schema v2).
 *
 * Reasons are RFC 5280 CRLReason codes (§5.3.1): 1..6, 9, 10. "None" is
 * -1 everywhere (the certificates row, the revocations feed, the C API)
 * and means the CRL entry and OCSP response carry no reasonCode; 0
 * (unspecified) is never stored, RFC 5280 says to omit it instead, and 8
 * (removeFromCRL) belongs to delta CRLs only. Other codes are ST_MALFORMED.
 */

/* The most rows one list or feed call returns (cursor paging). */
#define STORE_LIST_LIMIT_MAX 1000
/*
 * A certificate's shard names the CRL its distribution point names, fixed
 * at issuance: K >= 0 the shard CRL issuing-K.crl; STORE_CRL_SHARD_FULL
 * the full issuing.crl (also for certificates without a CDP);
 * STORE_CRL_SHARD_ROOT the root's CRL (the CAs the root issued). The crls
 * table keeps each CRL under the same number.
 */
#define STORE_CRL_SHARD_ROOT (-1)
#define STORE_CRL_SHARD_FULL (-2)
/*
 * The issuing CA of generation G >= 1 (after G rollovers; the issuers
 * table) has the shards G * STORE_SHARD_GEN_STRIDE + K for its CRL K and
 * G * STORE_SHARD_GEN_STRIDE + STORE_SHARD_GEN_STRIDE - 1 for its full
 * CRL; generation 0 keeps the numbers above, so rows written before
 * rollovers existed need no change. store_shard_make and store_shard_split
 * convert: "index" is K >= 0, STORE_CRL_SHARD_FULL or (generation -1)
 * STORE_CRL_SHARD_ROOT.
 */
#define STORE_SHARD_GEN_STRIDE 1000
#define STORE_ISSUER_GEN_MAX 1000000

int store_shard_make(int gen, int index);
void store_shard_split(int shard, int *gen, int *index);

/* 1 if reason may be stored (-1, 1..6, 9, 10), else 0. */
int store_reason_is_valid(int reason);

/*
 * Revoke the valid certificate serial at time with reason, and append its
 * row to the revocations feed. ST_NOTFOUND for an unknown serial,
 * ST_CONFLICT when it is revoked already. When device_id_out is not NULL
 * it gets the certificate's device id (NULL when none; caller frees).
 */
enum status store_txn_cert_revoke(struct store_txn *txn, const char *serial,
    int reason, int64_t time, char **device_id_out) MUST_CHECK;

/* Called inside the transaction for each certificate just revoked. */
typedef enum status (*store_txn_revoked_fn)(
    struct store_txn *txn, const char *serial, void *arg);

/*
 * Revoke every valid certificate of device_id (in serial order, each with
 * a feed row); *count gets how many. fn (may be NULL) runs after each one,
 * in the same transaction; its failure stops and is returned. A device
 * without valid certificates is ST_OK with *count = 0.
 */
enum status store_txn_device_certs_revoke_each(struct store_txn *txn,
    const char *device_id, int reason, int64_t time, store_txn_revoked_fn fn,
    void *arg, size_t *count) MUST_CHECK;

/* The same without a per-certificate call. */
enum status store_txn_device_certs_revoke(struct store_txn *txn,
    const char *device_id, int reason, int64_t time, size_t *count) MUST_CHECK;

/*
 * Renewal: the valid certificate serial is to be revoked as superseded at
 * at (store_superseded_due finds it then). ST_CONFLICT when it is revoked
 * or scheduled already: a certificate is renewed once.
 */
enum status store_txn_cert_supersede(
    struct store_txn *txn, const char *serial, int64_t at) MUST_CHECK;

/* The same for every valid, unscheduled certificate of device_id. */
enum status store_txn_device_supersede(struct store_txn *txn,
    const char *device_id, int64_t at, size_t *count) MUST_CHECK;

/*
 * A certificate device_id holds now (valid, unexpired at now, not
 * superseded) into serial; ST_NOTFOUND (no detail) when there is none.
 */
enum status
store_txn_device_current(struct store_txn *txn, const char *device_id,
    int64_t now, char serial[STORE_SERIAL_HEX_CAP]) MUST_CHECK;

/*
 * Call fn for at most limit (1..STORE_LIST_LIMIT_MAX) valid certificates
 * whose supersede_at <= now, soonest first, until fn returns non-zero.
 * serial is valid only during the call; fn must not call store read
 * functions (it may call store_write).
 */
enum status store_superseded_due(struct store *store, int64_t now, size_t limit,
    int (*fn)(const char *serial, int64_t at, void *arg), void *arg) MUST_CHECK;

/*
 * Block (is_blocked 1) or unblock (0) device_id, recording time as its
 * update. ST_NOTFOUND when the device is unknown. Blocking alone revokes
 * nothing.
 */
enum status store_txn_device_set_status(struct store_txn *txn,
    const char *device_id, int is_blocked, int64_t time) MUST_CHECK;

/*
 * *blocked = 1 if device_id is known and blocked, 0 otherwise (an unknown
 * device is not blocked: it has never enrolled). For the issuance check.
 */
enum status store_txn_device_is_blocked(
    struct store_txn *txn, const char *device_id, int *blocked) MUST_CHECK;

/* Called for each revoked certificate; non-zero stops the walk. */
typedef int (*store_revoked_fn)(
    const char *serial, int64_t revoked_at, int reason, void *arg);

/*
 * Call fn for every revoked certificate of shard whose not_after >= now
 * (expired ones leave the CRL); a full CRL's shard (store_shard_make(G,
 * STORE_CRL_SHARD_FULL)) walks every shard of generation G (the full
 * CRL's scope is all that issuing CA issued). In
 * no particular order, until fn returns
 * non-zero. serial is valid only during the call. Runs on a private
 * read-only connection (one snapshot, one SELECT, no allocation per row),
 * so a long walk does not hold up the store's other readers; fn may call
 * other store functions.
 */
enum status store_revoked_foreach(struct store *store, int shard, int64_t now,
    store_revoked_fn fn, void *arg) MUST_CHECK;

/*
 * *not_after = the latest notAfter of the certificates in shard (revoked
 * ones too), 0 when there are none: until then its CRL is published.
 */
enum status store_shard_last_expiry(
    struct store *store, int shard, int64_t *not_after) MUST_CHECK;

/*
 * *not_after = the latest notAfter of every certificate the issuing CA
 * of generation gen issued (every shard of it, revoked ones too), 0 when
 * there are none: until then it signs their CRLs and OCSP answers.
 */
enum status store_gen_last_expiry(
    struct store *store, int gen, int64_t *not_after) MUST_CHECK;

/* An issuing CA as the issuers table records it (schema v7). */
struct store_issuer {
	int gen;
	char serial[STORE_SERIAL_HEX_CAP];
	char key_uri[512];
	int64_t not_after;
	int64_t created;
	int64_t retired; /* 0 while it signs */
};

/* Record issuer (its gen unused so far: ST_CONFLICT otherwise). */
enum status store_txn_issuer_add(
    struct store_txn *txn, const struct store_issuer *issuer) MUST_CHECK;

/* *gen = the highest generation recorded, -1 when there is none. */
enum status
store_txn_issuer_max_gen(struct store_txn *txn, int *gen) MUST_CHECK;

/* Mark generation gen retired at when (ST_NOTFOUND: no such row or
 * retired already). */
enum status store_txn_issuer_retire(
    struct store_txn *txn, int gen, int64_t when) MUST_CHECK;

/* The issuer whose certificate has serial; ST_NOTFOUND when none. */
enum status store_issuer_find(struct store *store, const char *serial,
    struct store_issuer *out) MUST_CHECK;

/*
 * Inside a transaction: *revoked_at = when serial was revoked, or -1 when
 * it is valid or unknown (what the issuance gate asks of its CA).
 */
enum status store_txn_cert_revoked_at(
    struct store_txn *txn, const char *serial, int64_t *revoked_at) MUST_CHECK;

/* One row of the revocations feed; strings valid only during the call. */
struct store_revocation {
	int64_t seq; /* increasing, never reused */
	const char *serial;
	const char *device_id; /* NULL when the certificate has none */
	int reason; /* -1 when none */
	int64_t time;
};

typedef int (*store_revocation_fn)(const struct store_revocation *r, void *arg);

/*
 * Call fn for at most limit (1..STORE_LIST_LIMIT_MAX, else ST_MALFORMED)
 * feed rows with seq > since_seq, in seq order, until fn returns non-zero.
 * The read lock is held: fn must not call store read functions.
 */
enum status store_revocations_since(struct store *store, int64_t since_seq,
    size_t limit, store_revocation_fn fn, void *arg) MUST_CHECK;

/* A token-signing key as the store keeps it. */
struct store_token_key {
	const char *label; /* the key's label in the token */
	const char *kid; /* its RFC 7638 thumbprint */
	const char *jwk; /* its public JWK, JSON */
	int64_t created;
	int64_t retired; /* 0 while it signs */
};

/*
 * Record a token-signing key (its label in the token, its JWK thumbprint
 * and public JWK) as the one that signs from now; every other key is
 * retired at now. A label known already changes nothing.
 */
enum status store_txn_token_key_add(struct store_txn *txn, const char *label,
    const char *kid, const char *jwk, int64_t now) MUST_CHECK;

/*
 * Call fn for each token key still current or retired after
 * retired_after, oldest first, until fn returns non-zero. The read lock
 * is held: fn must not call store read functions; the strings are
 * borrowed for the call.
 */
enum status store_token_keys(struct store *store, int64_t retired_after,
    int (*fn)(const struct store_token_key *key, void *arg),
    void *arg) MUST_CHECK;

/* The newest feed row's seq (0 when there is none). */
enum status
store_revocations_last_seq(struct store *store, int64_t *seq) MUST_CHECK;

/* What store_cert_list returns; NULL, -1 and 0 mean "any". */
struct store_cert_filter {
	const char *device_id; /* NULL: any */
	int status; /* STORE_CERT_VALID, STORE_CERT_REVOKED, or -1 */
	const char *profile; /* NULL: any */
	int64_t expiring_before; /* 0: any; else not_after < this */
	const char *cursor; /* NULL or "": first page; else serial > cursor */
	size_t limit; /* 1..STORE_LIST_LIMIT_MAX */
};

/* Called for each listed certificate; non-zero stops the listing. */
typedef int (*store_cert_fn)(const struct store_cert *cert, void *arg);

/*
 * Call fn for at most f->limit certificates matching f, ordered by serial
 * and starting after f->cursor. cert and its strings and DER are valid only
 * during the call. The next page's cursor is the last serial seen; when
 * fewer than f->limit rows came there is no next page. ST_MALFORMED for a
 * bad limit, status or cursor. fn must not call store read functions.
 */
enum status store_cert_list(struct store *store,
    const struct store_cert_filter *f, store_cert_fn fn, void *arg) MUST_CHECK;

struct store_device {
	int is_blocked;
	char family[LIMIT_LABEL_LEN + 1]; /* "" when none is recorded */
	char authenticator[LIMIT_NAME_LEN + 1]; /* "" when none is recorded */
	int64_t created;
	int64_t updated;
	int64_t cert_count; /* certificates ever issued to it */
	int64_t valid_count; /* of those, not revoked (expired included) */
};

/* Read device_id's row and certificate counts; ST_NOTFOUND when unknown. */
enum status store_device_get(struct store *store, const char *device_id,
    struct store_device *out) MUST_CHECK;

/*
 * Insert or replace the pre-signed (nonce-less) OCSP response for serial,
 * signed for status signed_for by the responder whose certificate is
 * signer: only while the certificate has that status and signer is not
 * revoked in this transaction, so that an answer signed before a
 * revocation never replaces the revoked one, nothing a revoked responder
 * signed is kept, and a serial that is no certificate of ours gets no row.
 * ST_CONFLICT (nothing written) otherwise. der is copied. ST_MALFORMED for
 * a bad serial or an empty response.
 */
enum status store_txn_ocsp_put(struct store_txn *txn, const char *serial,
    enum store_cert_status signed_for, const char *signer, const uint8_t *der,
    size_t len, int64_t this_update, int64_t next_update) MUST_CHECK;

/* Forget every pre-signed response (their responder was revoked). */
enum status store_txn_ocsp_delete_all(struct store_txn *txn) MUST_CHECK;

/* Forget serial's pre-signed response (none is fine). */
enum status
store_txn_ocsp_delete(struct store_txn *txn, const char *serial) MUST_CHECK;

/*
 * The stored OCSP response for serial: *der (caller frees with free()),
 * *len and *next_update. ST_NOTFOUND when there is none. next_update may
 * be NULL.
 */
enum status store_ocsp_get(struct store *store, const char *serial,
    uint8_t **der, size_t *len, int64_t *next_update) MUST_CHECK;

typedef int (*store_ocsp_due_fn)(
    const char *serial, int64_t next_update, void *arg);

/*
 * Call fn for each stored OCSP response whose next_update < before, soonest
 * first, until fn returns non-zero: the refresh job's work list. serial is
 * valid only during the call; fn must not call store read functions (it
 * may call store_write).
 */
enum status store_ocsp_due(struct store *store, int64_t before,
    store_ocsp_due_fn fn, void *arg) MUST_CHECK;

/*
 * For audit verification, every row as it stands: fn gets each device
 * (id, blocked or not) or each enrollment secret (its id, device, whether
 * it was used and for which serial, NULL when none), in key order, until
 * it returns non-zero. The strings are valid during the call only; fn must
 * not call store read functions.
 */
typedef int (*store_device_state_fn)(
    const char *device_id, int is_blocked, void *arg);
typedef int (*store_secret_state_fn)(int64_t id, const char *device_id,
    int is_consumed, const char *consumed_serial, void *arg);
enum status store_devices_foreach(
    struct store *store, store_device_state_fn fn, void *arg) MUST_CHECK;
enum status store_secrets_foreach(
    struct store *store, store_secret_state_fn fn, void *arg) MUST_CHECK;

/* A stored CRL (one per shard; the root CA's is STORE_CRL_SHARD_ROOT). */
struct store_crl {
	int shard;
	int64_t number; /* crlNumber */
	int64_t this_update;
	int64_t next_update;
	uint8_t *der;
	size_t der_len;
};

/*
 * Store the current CRL of shard (>= STORE_CRL_SHARD_ROOT), replacing the
 * previous one. der is copied. ST_CONFLICT unless number is above the
 * stored one (crlNumber is monotonic, RFC 5280 §5.2.3).
 */
enum status store_txn_crl_put(struct store_txn *txn, int shard, int64_t number,
    int64_t this_update, int64_t next_update, const uint8_t *der,
    size_t len) MUST_CHECK;

/* *number = the stored crlNumber of shard + 1, or 1 when there is none. */
enum status store_txn_crl_next_number(
    struct store_txn *txn, int shard, int64_t *number) MUST_CHECK;

/*
 * Read the current CRL of shard; ST_NOTFOUND when none was stored. The
 * caller frees *out with store_crl_free.
 */
enum status store_crl_get(
    struct store *store, int shard, struct store_crl **out) MUST_CHECK;

/* NULL accepted. */
void store_crl_free(struct store_crl *crl);

/*
 * Group-commit counters since store_open, for metrics. jobs / commits is
 * the average group; commit_us_total / commits the average transaction
 * (BEGIN to durable COMMIT); job_us_total / jobs what a write waits
 * (queued to committed, the other processes' turns included).
 */
struct store_stats {
	uint64_t commits; /* transactions the writer ran */
	uint64_t jobs; /* store_write calls in them */
	uint64_t group_last; /* jobs in the latest transaction */
	uint64_t group_max; /* the most jobs in one transaction */
	uint64_t commit_us_last; /* the latest transaction, microseconds */
	uint64_t commit_us_max;
	uint64_t commit_us_total;
	uint64_t lock_wait_us_total; /* waiting for other processes' turns */
	uint64_t job_us_total; /* queued to committed, over all jobs */
	uint64_t queued; /* jobs waiting now */
};

/*
 * Whether anything may have been committed to the store, by any process,
 * since *seen was filled (start with 0); updates *seen. A cheap read
 * (SQLite's data_version); always 1 on PostgreSQL.
 */
int store_data_changed(struct store *store, uint64_t *seen);

/*
 * What the served publications are built from, compared by value: equal
 * versions mean the same revocations (and so OCSP answers), token keys and
 * CRLs.
 */
struct store_pub_version {
	int64_t feed; /* the revocation feed's last seq */
	int64_t token_keys[3]; /* count, latest created, latest retired */
	int64_t crls[2]; /* count, sum of crlNumbers */
};

enum status store_pub_version(
    struct store *store, struct store_pub_version *out) MUST_CHECK;

/* Fill *out with the store's counters now. */
void store_stats(struct store *store, struct store_stats *out);

struct metrics;

/*
 * Record every transaction's commit time and group size in m (borrowed,
 * the service's shared pool; NULL: none). Call before the first write.
 */
void store_set_metrics(struct store *store, struct metrics *m);

#endif
