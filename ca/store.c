/*
 * store: SQLite in WAL mode with synchronous=FULL. One writer thread per
 * struct store owns the write connection and folds the queued jobs into one
 * transaction (group commit); each job runs in its own savepoint. Reads go
 * through a separate read-only connection behind a mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "ca/store.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"

#define SCHEMA_VERSION 6
/* Other worker processes share the file; wait this long for their locks. */
#define BUSY_TIMEOUT_MS 5000
/* BEGIN/COMMIT still busy after a full busy timeout: tries in all. */
#define BUSY_TRIES 3
/* The same capacity as the thread-local detail line in common/status.c. */
#define JOB_DETAIL_CAP 512
#define HASH_LEN 32

/*
 * Schema migrations: migrations[v] takes the schema from version v to v + 1.
 * They run in one transaction at open; never edit a released step, append.
 */
static const char *const migrations[] = {
    /* v0 -> v1 */
    "CREATE TABLE certificates ("
    " serial TEXT PRIMARY KEY,"
    " issuer TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " device_id TEXT,"
    " profile TEXT NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
    " revoked_at INTEGER,"
    " reason INTEGER,"
    " der BLOB NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX certificates_device_id ON certificates(device_id);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE TABLE devices ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),"
    " created INTEGER,"
    " updated INTEGER);"
    "CREATE TABLE enrollment_secrets ("
    " id INTEGER PRIMARY KEY,"
    " device_id TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " hash BLOB NOT NULL CHECK (length(hash) = 32),"
    " created INTEGER,"
    " expires INTEGER NOT NULL,"
    " consumed_at INTEGER,"
    " consumed_serial TEXT);"
    "CREATE INDEX enrollment_secrets_device_id"
    " ON enrollment_secrets(device_id);"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " object TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32));",
    /*
     * v1 -> v2: revocation. A certificate's CRL shard is fixed at issuance
     * (rows of v1 are in shard 0); revocations is the gateways' incremental
     * feed; ocsp_responses holds the pre-signed nonce-less responses every
     * worker serves; crls the current CRL and crlNumber of each shard (the
     * root CA's as shard -1). The partial index covers the CRL walk, so a
     * CRL of 1M entries never touches the certificate rows themselves
     * (status is in it because SQLite 3.40 counts a column of the index's
     * WHERE as covered only when it is also an index column).
     */
    "ALTER TABLE certificates ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX certificates_status_not_after"
    " ON certificates(status, not_after);"
    "CREATE INDEX certificates_revoked"
    " ON certificates(shard, not_after, serial, revoked_at, reason, status)"
    " WHERE status = 'revoked';"
    "CREATE TABLE revocations ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " serial TEXT NOT NULL,"
    " device_id TEXT,"
    " reason INTEGER NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE TABLE ocsp_responses ("
    " serial TEXT PRIMARY KEY,"
    " der BLOB NOT NULL,"
    " this_update INTEGER NOT NULL,"
    " next_update INTEGER NOT NULL);"
    "CREATE INDEX ocsp_responses_next_update"
    " ON ocsp_responses(next_update);"
    "CREATE TABLE crls ("
    " shard INTEGER PRIMARY KEY,"
    " number INTEGER NOT NULL,"
    " this_update INTEGER NOT NULL,"
    " next_update INTEGER NOT NULL,"
    " der BLOB NOT NULL);",
    /* v2 -> v3: the token-signing keys, for rotation and the JWKS. */
    "CREATE TABLE token_keys ("
    " label TEXT PRIMARY KEY,"
    " kid TEXT NOT NULL,"
    " jwk TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " retired INTEGER);",
    /*
     * v3 -> v4: a certificate's shard names the CRL its distribution point
     * names, whatever the policy says today: K >= 0 issuing-K.crl, -2 the
     * full issuing.crl (and no CDP at all), -1 the root's CRL (the CAs
     * the root issued). Rows of v3 in shard 0 name issuing-0.crl only when
     * their DER says so. A stored full CRL (shard 0 without an IDP,
     * 06 03 55 1D 1C) keeps its crlNumber as -2. The index answers "does
     * a valid certificate still name this CRL" without a scan.
     */
    "UPDATE certificates SET shard = -1"
    " WHERE profile IN ('root-ca', 'issuing-ca');"
    "UPDATE certificates SET shard = -2 WHERE shard = 0"
    " AND instr(der, CAST('/crl/issuing-0.crl' AS BLOB)) = 0;"
    "UPDATE crls SET shard = -2 WHERE shard = 0"
    " AND instr(der, X'0603551d1c') = 0;"
    "CREATE INDEX certificates_shard_not_after"
    " ON certificates(shard, not_after);",
    /*
     * v4 -> v5: renewal supersedes. supersede_at is when a renewed (or
     * reprovisioned) certificate is to be revoked as superseded; from the
     * renewal on it authenticates nobody. The partial index holds only
     * the ones still waiting, so the scheduled walk stays small.
     */
    "ALTER TABLE certificates ADD COLUMN supersede_at INTEGER;"
    "CREATE INDEX certificates_supersede ON certificates(supersede_at)"
    " WHERE supersede_at IS NOT NULL AND status = 'valid';",
    /*
     * v5 -> v6: delegation and bindings. A secret records who minted it
     * (kind, id, certificate serial) and whether it was cancelled; a
     * device id records the profile family that holds it and the
     * authenticator that first enrolled it. Devices of v5 take the
     * family of their first certificate; their authenticator is unknown
     * (NULL), and so are the minters of v5 secrets.
     */
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_kind TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_id TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_serial TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN cancelled_at INTEGER;"
    "ALTER TABLE enrollment_secrets ADD COLUMN cancelled_by TEXT;"
    "CREATE INDEX enrollment_secrets_minter_serial"
    " ON enrollment_secrets(minter_serial);"
    "ALTER TABLE devices ADD COLUMN family TEXT;"
    "ALTER TABLE devices ADD COLUMN authenticator TEXT;"
    "UPDATE devices SET family = (SELECT profile FROM certificates c"
    " WHERE c.device_id = devices.id ORDER BY c.created, c.serial LIMIT 1);",
};

/* The certificate columns in the order cert_row() reads them. */
#define CERT_COLUMNS                                                           \
	"serial, issuer, subject, device_id, profile, not_before, not_after,"  \
	" status, revoked_at, reason, der, created, shard, supersede_at"

/*
 * A device's enrollment-secret rows in the columns secret_find() reads;
 * the writer consumes with it, the read connection checks with it.
 */
#define SECRET_SELECT_SQL                                                      \
	"SELECT id, profile, hash, expires, consumed_at IS NOT NULL,"          \
	" cancelled_at IS NOT NULL FROM enrollment_secrets WHERE device_id = " \
	"?"

/*
 * The secrets a filter names (store_secret_filter): ?1 minter_kind, ?2
 * minter_serial, ?3 device_id, ?4 profile; for a listing ?5 outstanding
 * only at ?6, ?7 after id, ?8 limit.
 */
#define SECRET_MATCH_SQL                                                       \
	" (?1 IS NULL OR minter_kind = ?1)"                                    \
	" AND (?2 IS NULL OR minter_serial = ?2)"                              \
	" AND (?3 IS NULL OR device_id = ?3)"                                  \
	" AND (?4 IS NULL OR profile = ?4)"

/* Statements of the write connection, prepared once and kept. */
enum wstmt {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_SAVEPOINT,
	W_RELEASE,
	W_ROLLBACK_TO,
	W_CERT_INSERT,
	W_DEVICE_ENSURE,
	W_SECRET_INSERT,
	W_SECRET_SELECT,
	W_SECRET_CONSUME,
	W_AUDIT_LAST,
	W_AUDIT_INSERT,
	W_CERT_STATUS,
	W_CERT_REVOKE,
	W_FEED_INSERT,
	W_DEVICE_VALID,
	W_DEVICE_STATUS,
	W_DEVICE_SET,
	W_OCSP_PUT,
	W_OCSP_DELETE,
	W_OCSP_DELETE_ALL,
	W_TOKEN_KEY_ADD,
	W_TOKEN_KEY_RETIRE,
	W_CRL_PUT,
	W_CRL_NEXT,
	W_CERT_REVOKED_AT,
	W_SECRET_ATTACH,
	W_CERT_SUPERSEDE,
	W_DEVICE_SUPERSEDE,
	W_DEVICE_CURRENT,
	W_DEVICE_BINDING,
	W_DEVICE_BIND,
	W_DEVICE_BLOCK,
	W_SECRET_CANCEL,
	W_SECRET_SELECT_ID,
	W_SECRETS_CANCEL,
	W_MAX
};

static const char *const wsql[W_MAX] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVEPOINT] = "SAVEPOINT job",
    [W_RELEASE] = "RELEASE job",
    [W_ROLLBACK_TO] = "ROLLBACK TO job",
    [W_CERT_INSERT] = "INSERT INTO certificates (serial, issuer, subject,"
                      " device_id, profile, not_before, not_after, status,"
                      " revoked_at, reason, der, created, shard)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [W_DEVICE_ENSURE] = "INSERT INTO devices (id, status, created, updated)"
                        " VALUES (?, 'active', ?, ?)"
                        " ON CONFLICT (id) DO NOTHING",
    [W_SECRET_INSERT] = "INSERT INTO enrollment_secrets (device_id,"
                        " profile, hash, created, expires, minter_kind,"
                        " minter_id, minter_serial)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [W_SECRET_SELECT] = SECRET_SELECT_SQL,
    [W_SECRET_CONSUME] = "UPDATE enrollment_secrets"
                         " SET consumed_at = ?, consumed_serial = ?"
                         " WHERE id = ? AND consumed_at IS NULL"
                         " AND cancelled_at IS NULL",
    [W_AUDIT_LAST] = "SELECT seq, hash FROM audit"
                     " ORDER BY seq DESC LIMIT 1",
    [W_AUDIT_INSERT] = "INSERT INTO audit (seq, time, actor, action,"
                       " object, detail, prev_hash, hash)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [W_CERT_STATUS] = "SELECT status, device_id FROM certificates"
                      " WHERE serial = ?",
    [W_CERT_REVOKE] = "UPDATE certificates SET status = 'revoked',"
                      " revoked_at = ?, reason = ?"
                      " WHERE serial = ? AND status = 'valid'",
    [W_FEED_INSERT] = "INSERT INTO revocations (serial, device_id, reason,"
                      " time) VALUES (?, ?, ?, ?)",
    [W_DEVICE_VALID] = "SELECT serial FROM certificates"
                       " WHERE device_id = ? AND status = 'valid'"
                       " ORDER BY serial",
    [W_DEVICE_STATUS] = "SELECT status FROM devices WHERE id = ?",
    [W_DEVICE_SET] = "UPDATE devices SET status = ?, updated = ?"
                     " WHERE id = ?",
    [W_TOKEN_KEY_ADD] = "INSERT INTO token_keys (label, kid, jwk, created)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (label) DO NOTHING",
    [W_TOKEN_KEY_RETIRE] = "UPDATE token_keys SET retired = ?"
                           " WHERE retired IS NULL AND label <> ?",
    [W_OCSP_DELETE] = "DELETE FROM ocsp_responses WHERE serial = ?",
    [W_OCSP_DELETE_ALL] = "DELETE FROM ocsp_responses",
    /* Only for the status it was signed for: an answer signed before a
     * revocation never replaces the revoked one (monotonic). */
    [W_OCSP_PUT] = "INSERT OR REPLACE INTO ocsp_responses (serial, der,"
                   " this_update, next_update) SELECT ?1, ?2, ?3, ?4"
                   " WHERE EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?1 AND status = ?5)"
                   " AND NOT EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?6 AND status = 'revoked')",
    /* Only a higher number replaces: crlNumber never goes back. */
    [W_CRL_PUT] = "INSERT INTO crls (shard, number, this_update,"
                  " next_update, der) VALUES (?, ?, ?, ?, ?)"
                  " ON CONFLICT (shard) DO UPDATE SET"
                  " number = excluded.number,"
                  " this_update = excluded.this_update,"
                  " next_update = excluded.next_update,"
                  " der = excluded.der"
                  " WHERE excluded.number > crls.number",
    [W_CRL_NEXT] = "SELECT coalesce(max(number), 0) + 1 FROM crls"
                   " WHERE shard = ?",
    [W_CERT_REVOKED_AT] = "SELECT revoked_at FROM certificates"
                          " WHERE serial = ? AND status = 'revoked'",
    [W_SECRET_ATTACH] = "UPDATE enrollment_secrets SET consumed_serial = ?"
                        " WHERE id = ? AND consumed_at IS NOT NULL"
                        " AND consumed_serial IS NULL",
    [W_CERT_SUPERSEDE] = "UPDATE certificates SET supersede_at = ?"
                         " WHERE serial = ? AND status = 'valid'"
                         " AND supersede_at IS NULL",
    [W_DEVICE_SUPERSEDE] = "UPDATE certificates SET supersede_at = ?"
                           " WHERE device_id = ? AND status = 'valid'"
                           " AND supersede_at IS NULL",
    [W_DEVICE_CURRENT] = "SELECT serial FROM certificates"
                         " WHERE device_id = ? AND status = 'valid'"
                         " AND supersede_at IS NULL AND not_after > ?"
                         " ORDER BY serial LIMIT 1",
    [W_DEVICE_BINDING] = "SELECT status, family, authenticator FROM devices"
                         " WHERE id = ?",
    [W_DEVICE_BIND] = "INSERT INTO devices (id, status, created, updated,"
                      " family, authenticator)"
                      " VALUES (?1, 'active', ?2, ?2, ?3, ?4)"
                      " ON CONFLICT (id) DO UPDATE SET"
                      " family = coalesce(family, excluded.family),"
                      " authenticator = coalesce(authenticator,"
                      " excluded.authenticator)",
    [W_DEVICE_BLOCK] = "INSERT INTO devices (id, status, created, updated)"
                       " VALUES (?1, 'blocked', ?2, ?2)"
                       " ON CONFLICT (id) DO UPDATE SET status = 'blocked',"
                       " updated = excluded.updated",
    [W_SECRET_CANCEL] = "UPDATE enrollment_secrets SET cancelled_at = ?1,"
                        " cancelled_by = ?2 WHERE id = ?3"
                        " AND consumed_at IS NULL AND cancelled_at IS NULL",
    [W_SECRET_SELECT_ID] = "SELECT consumed_at IS NOT NULL,"
                           " cancelled_at IS NOT NULL"
                           " FROM enrollment_secrets WHERE id = ?",
    [W_SECRETS_CANCEL] =
        "UPDATE enrollment_secrets SET cancelled_at = ?6,"
        " cancelled_by = ?7 WHERE" SECRET_MATCH_SQL " AND consumed_at IS NULL"
        " AND cancelled_at IS NULL",
};

/* Statements of the read connection. */
enum rstmt {
	R_CERT_EXISTS,
	R_CERT_GET,
	R_CERT_COUNT,
	R_AUDIT,
	R_SECRET_SELECT,
	R_FEED_LAST,
	R_TOKEN_KEYS,
	R_FEED,
	R_CERT_LIST,
	R_CERT_LIST_DEVICE,
	R_DEVICE_GET,
	R_OCSP_GET,
	R_OCSP_DUE,
	R_CRL_GET,
	R_SHARD_LAST,
	R_SUPERSEDE_DUE,
	R_SECRET_LIST,
	R_DEVICES,
	R_MAX
};

static const char *const rsql[R_MAX] = {
    [R_CERT_EXISTS] = "SELECT 1 FROM certificates WHERE serial = ?",
    [R_CERT_GET] = "SELECT " CERT_COLUMNS " FROM certificates"
                   " WHERE serial = ?",
    [R_CERT_COUNT] = "SELECT count(*) FROM certificates",
    [R_TOKEN_KEYS] = "SELECT label, kid, jwk, created, retired"
                     " FROM token_keys"
                     " WHERE retired IS NULL OR retired > ?"
                     " ORDER BY created, label",
    [R_FEED_LAST] = "SELECT coalesce(max(seq), 0) FROM revocations",
    [R_SECRET_SELECT] = SECRET_SELECT_SQL,
    [R_AUDIT] = "SELECT seq, time, actor, action, object, detail,"
                " prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq",
    [R_FEED] = "SELECT seq, serial, device_id, reason, time"
               " FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?",
    /*
     * Two shapes, so that a device's listing uses the device_id index and
     * the others walk the primary key in serial order up to the limit.
     */
    [R_CERT_LIST] = "SELECT " CERT_COLUMNS " FROM certificates"
                    " WHERE serial > ?1"
                    " AND (?3 IS NULL OR status = ?3)"
                    " AND (?4 IS NULL OR profile = ?4)"
                    " AND (?5 IS NULL OR not_after < ?5)"
                    " ORDER BY serial LIMIT ?6",
    [R_CERT_LIST_DEVICE] = "SELECT " CERT_COLUMNS " FROM certificates"
                           " WHERE serial > ?1 AND device_id = ?2"
                           " AND (?3 IS NULL OR status = ?3)"
                           " AND (?4 IS NULL OR profile = ?4)"
                           " AND (?5 IS NULL OR not_after < ?5)"
                           " ORDER BY serial LIMIT ?6",
    [R_DEVICE_GET] = "SELECT status, created, updated,"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1),"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1 AND status = 'valid'),"
                     " family, authenticator"
                     " FROM devices WHERE id = ?1",
    [R_OCSP_GET] = "SELECT der, next_update FROM ocsp_responses"
                   " WHERE serial = ?",
    [R_OCSP_DUE] = "SELECT serial, next_update FROM ocsp_responses"
                   " WHERE next_update < ? ORDER BY next_update",
    [R_CRL_GET] = "SELECT number, this_update, next_update, der FROM crls"
                  " WHERE shard = ?",
    [R_SHARD_LAST] = "SELECT coalesce(max(not_after), 0) FROM certificates"
                     " WHERE shard = ?",
    [R_DEVICES] = "SELECT id, status FROM devices ORDER BY id",
    [R_SUPERSEDE_DUE] = "SELECT serial, supersede_at FROM certificates"
                        " WHERE supersede_at IS NOT NULL"
                        " AND status = 'valid' AND supersede_at <= ?"
                        " ORDER BY supersede_at LIMIT ?",
    /* Never the hash: a listing shows who, what and when only. */
    [R_SECRET_LIST] =
        "SELECT id, device_id, profile, minter_kind,"
        " minter_id, minter_serial, created, expires,"
        " consumed_at, consumed_serial, cancelled_at,"
        " cancelled_by FROM enrollment_secrets"
        " WHERE" SECRET_MATCH_SQL " AND (?5 = 0 OR (consumed_at IS NULL"
        "  AND cancelled_at IS NULL AND expires > ?6))"
        " AND id > ?7 ORDER BY id LIMIT ?8",
};

/* The CRL walk; run on a private connection (store_revoked_foreach). */
static const char revoked_sql[] =
    "SELECT serial, revoked_at, reason FROM certificates"
    " WHERE status = 'revoked' AND shard = ? AND not_after >= ?";
/* The full CRL: every shard of the issuing CA (not the root's, -1). */
static const char revoked_full_sql[] =
    "SELECT serial, revoked_at, reason FROM certificates"
    " WHERE status = 'revoked' AND shard <> ? AND not_after >= ?";

/* The writer's connection as handed to job functions. */
struct store_txn {
	sqlite3 *db;
	sqlite3_stmt *stmt[W_MAX];
};

/* One store_write call; lives on the caller's stack until done is set. */
struct job {
	store_txn_fn fn;
	void *arg;
	enum status st;
	int is_done;
	char detail[JOB_DETAIL_CAP];
	struct job *next;
};

struct store {
	struct store_txn txn; /* the writer thread's only */
	char *path; /* for private read connections */

	pthread_mutex_t read_lock; /* guards rdb and rstmt */
	sqlite3 *rdb;
	sqlite3_stmt *rstmt[R_MAX];

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake; /* jobs queued, or closing */
	pthread_cond_t done; /* a batch finished */
	struct job *head, *tail;
	int is_closing;
	int waiters; /* threads inside store_write */
	uint64_t commits, jobs;

	pthread_t writer;
	int has_writer;
};

int
store_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* Record a SQLite failure on db as ST_STORE "store: what: message". */
static enum status
db_fail(sqlite3 *db, const char *what)
{
	return status_fail(ST_STORE, "store: %s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

/* Run SQL without results (pragmas, migrations). */
static enum status
db_exec(sqlite3 *db, const char *sql, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, what);
	return ST_OK;
}

/* The writer's statement s, prepared on first use; NULL after a failure. */
static sqlite3_stmt *
wstmt(struct store_txn *txn, enum wstmt s)
{
	if (txn->stmt[s] == NULL &&
	    sqlite3_prepare_v3(txn->db, wsql[s], -1, SQLITE_PREPARE_PERSISTENT,
	        &txn->stmt[s], NULL) != SQLITE_OK) {
		txn->stmt[s] = NULL;
		return NULL;
	}
	return txn->stmt[s];
}

static sqlite3_stmt *
rstmt(struct store *store, enum rstmt s)
{
	if (store->rstmt[s] == NULL &&
	    sqlite3_prepare_v3(store->rdb, rsql[s], -1,
	        SQLITE_PREPARE_PERSISTENT, &store->rstmt[s],
	        NULL) != SQLITE_OK) {
		store->rstmt[s] = NULL;
		return NULL;
	}
	return store->rstmt[s];
}

/*
 * Step a statement without rows (or whose rows are not wanted) once,
 * retrying SQLITE_BUSY for BEGIN and COMMIT beyond the busy handler, which
 * already waited BUSY_TIMEOUT_MS. Returns the SQLite result code; the
 * statement is reset.
 */
static int
step_done(sqlite3_stmt *stmt)
{
	int rc, tries = 0;

	do {
		rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
	} while (rc == SQLITE_BUSY && ++tries < BUSY_TRIES);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	return rc;
}

/* Run one of the writer's control statements (BEGIN, SAVEPOINT, ...). */
static enum status
txn_control(struct store_txn *txn, enum wstmt s)
{
	sqlite3_stmt *stmt;

	if ((stmt = wstmt(txn, s)) == NULL)
		return db_fail(txn->db, wsql[s]);
	if (step_done(stmt) != SQLITE_DONE)
		return db_fail(txn->db, wsql[s]);
	return ST_OK;
}

/* Serials are uppercase hex without separators, at most 40 digits. */
static int
serial_is_valid(const char *serial)
{
	size_t i, len;

	if (serial == NULL)
		return 0;
	len = strlen(serial);
	if (len == 0 || len >= STORE_SERIAL_HEX_CAP)
		return 0;
	for (i = 0; i < len; i++)
		if (!((serial[i] >= '0' && serial[i] <= '9') ||
		        (serial[i] >= 'A' && serial[i] <= 'F')))
			return 0;
	return 1;
}

static enum status
check_serial(const char *serial)
{
	if (!serial_is_valid(serial))
		return status_fail(ST_MALFORMED,
		    "certificate serial is not 1 to 40 uppercase hex digits");
	return ST_OK;
}

/* Bind text or NULL; the statement is reset before the string goes away. */
static int
bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, i);
	return sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
}

/* Bind v, or NULL when there is no value. */
static int
bind_opt_int64(sqlite3_stmt *stmt, int i, int has_value, int64_t v)
{
	if (!has_value)
		return sqlite3_bind_null(stmt, i);
	return sqlite3_bind_int64(stmt, i, v);
}

/* A copy of a text column, NULL for SQL NULL; *is_oom on failure. */
static char *
column_strdup(sqlite3_stmt *stmt, int i, int *is_oom)
{
	const unsigned char *s;
	char *copy;

	if ((s = sqlite3_column_text(stmt, i)) == NULL) {
		if (sqlite3_column_type(stmt, i) != SQLITE_NULL)
			*is_oom = 1;
		return NULL;
	}
	if ((copy = strdup((const char *)s)) == NULL)
		*is_oom = 1;
	return copy;
}

/* Copy text column i into out (cap bytes), "" for NULL. */
static void
column_copy(sqlite3_stmt *stmt, int i, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(stmt, i);

	snprintf(out, cap, "%s", s != NULL ? (const char *)s : "");
}

/* Done with stmt: reset it and drop its bindings. NULL accepted. */
static void
stmt_reset(sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/*
 * Run a statement without rows whose parameters were bound (is_bound), then
 * reset it. The detail is taken before the reset; sqlite3_changes() still
 * counts the rows it changed.
 */
static enum status
stmt_run(sqlite3 *db, sqlite3_stmt *stmt, int is_bound, const char *what)
{
	enum status st = ST_OK;

	if (!is_bound || sqlite3_step(stmt) != SQLITE_DONE)
		st = db_fail(db, what);
	stmt_reset(stmt);
	return st;
}

/*
 * Step a lookup whose parameters were bound (is_bound) to its row: ST_OK
 * with the row current, ST_NOTFOUND when there is none (no detail: the
 * caller names what is missing), ST_STORE "store: what: ..." on failure.
 * The caller resets the statement.
 */
static enum status
step_row(sqlite3 *db, sqlite3_stmt *stmt, int is_bound, const char *what)
{
	int rc;

	if (!is_bound)
		return db_fail(db, what);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		return ST_OK;
	if (rc == SQLITE_DONE)
		return ST_NOTFOUND;
	return db_fail(db, what);
}

enum status
store_txn_cert_insert(struct store_txn *txn, const struct store_cert *cert)
{
	sqlite3_stmt *stmt;
	enum status st;
	int rc, ok, is_revoked;

	if ((st = check_serial(cert->serial)) != ST_OK)
		return st;
	if (cert->der == NULL || cert->der_len == 0 ||
	    cert->der_len > INT32_MAX)
		return status_fail(
		    ST_MALFORMED, "certificate %s has no DER", cert->serial);
	if ((unsigned)cert->status >= STORE_CERT_STATUS_MAX)
		return status_fail(ST_INTERNAL, "certificate %s has status %d",
		    cert->serial, cert->status);
	if (cert->shard < STORE_CRL_SHARD_FULL)
		return status_fail(ST_INTERNAL, "certificate %s has shard %d",
		    cert->serial, cert->shard);
	if ((stmt = wstmt(txn, W_CERT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert certificate");
	is_revoked = cert->status == STORE_CERT_REVOKED;
	ok = bind_text(stmt, 1, cert->serial) == SQLITE_OK &&
	    bind_text(stmt, 2, cert->issuer) == SQLITE_OK &&
	    bind_text(stmt, 3, cert->subject) == SQLITE_OK &&
	    bind_text(stmt, 4, cert->device_id) == SQLITE_OK &&
	    bind_text(stmt, 5, cert->profile) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 6, cert->not_before) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 7, cert->not_after) == SQLITE_OK &&
	    bind_text(stmt, 8, is_revoked ? "revoked" : "valid") == SQLITE_OK &&
	    bind_opt_int64(stmt, 9, is_revoked, cert->revoked_at) ==
	        SQLITE_OK &&
	    bind_opt_int64(stmt, 10, cert->reason >= 0, cert->reason) ==
	        SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 11, cert->der, (int)cert->der_len,
	        SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 12, cert->created) == SQLITE_OK &&
	    sqlite3_bind_int(stmt, 13, cert->shard) == SQLITE_OK;
	rc = ok ? sqlite3_step(stmt) : SQLITE_ERROR;
	if (rc == SQLITE_DONE)
		st = ST_OK;
	else if (sqlite3_extended_errcode(txn->db) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY)
		st = status_fail(ST_CONFLICT,
		    "certificate serial %s exists already", cert->serial);
	else
		st = db_fail(txn->db, "insert certificate");
	stmt_reset(stmt);
	return st;
}

enum status
store_txn_device_ensure(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	sqlite3_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_DEVICE_ENSURE)) == NULL)
		return db_fail(txn->db, "prepare insert device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 3, now) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "insert device");
}

enum status
store_txn_secret_insert(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t expires, int64_t now,
    const struct store_minter *minter)
{
	sqlite3_stmt *stmt;
	int ok;

	if (minter == NULL || minter->kind == NULL || minter->id == NULL)
		return status_fail(ST_INTERNAL, "a secret needs its minter");
	if (minter->serial != NULL && !serial_is_valid(minter->serial))
		return check_serial(minter->serial);
	if ((stmt = wstmt(txn, W_SECRET_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert enrollment secret");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    bind_text(stmt, 2, profile) == SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 3, hash, HASH_LEN, SQLITE_STATIC) ==
	        SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 4, now) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 5, expires) == SQLITE_OK &&
	    bind_text(stmt, 6, minter->kind) == SQLITE_OK &&
	    bind_text(stmt, 7, minter->id) == SQLITE_OK &&
	    bind_text(stmt, 8, minter->serial) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "insert enrollment secret");
}

/* How good a secret row whose hash matched is; the best one is used. */
enum secret_fit {
	FIT_NONE,
	FIT_CANCELLED,
	FIT_USED,
	FIT_EXPIRED,
	FIT_PROFILE,
	FIT_OK
};

/*
 * The enrollment-secret check, the one place it is made: run sel (the
 * secret rows of device_id) and find the unused, unexpired row of profile
 * whose hash equals hash. Its id goes to *id. db is for error messages.
 */
static enum status
secret_find(sqlite3 *db, sqlite3_stmt *sel, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now, int64_t *id)
{
	const void *row_hash;
	const char *row_profile;
	char best_profile[LIMIT_NAME_LEN + 1] = "";
	enum secret_fit fit, best = FIT_NONE;
	int64_t best_id = 0;
	int rc, rows = 0, is_match;
	enum status st = ST_OK;

	*id = 0;
	if (device_id == NULL)
		return status_fail(ST_UNAUTHENTICATED, "no device id");
	if (bind_text(sel, 1, device_id) != SQLITE_OK) {
		st = db_fail(db, "select enrollment secret");
		goto out;
	}
	/*
	 * Every candidate is compared in constant time and the loop does not
	 * stop at the first match, so timing does not tell how many rows
	 * precede the matching one.
	 */
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		rows++;
		row_hash = sqlite3_column_blob(sel, 2);
		is_match = row_hash != NULL &&
		    sqlite3_column_bytes(sel, 2) == HASH_LEN &&
		    CRYPTO_memcmp(row_hash, hash, HASH_LEN) == 0;
		if (!is_match)
			continue;
		row_profile = (const char *)sqlite3_column_text(sel, 1);
		if (row_profile == NULL)
			row_profile = "";
		if (sqlite3_column_int(sel, 5) != 0)
			fit = FIT_CANCELLED;
		else if (sqlite3_column_int(sel, 4) != 0)
			fit = FIT_USED;
		else if (now >= sqlite3_column_int64(sel, 3))
			fit = FIT_EXPIRED;
		else if (profile == NULL || strcmp(row_profile, profile) != 0)
			fit = FIT_PROFILE;
		else
			fit = FIT_OK;
		if (fit > best) {
			best = fit;
			best_id = sqlite3_column_int64(sel, 0);
			snprintf(best_profile, sizeof(best_profile), "%s",
			    row_profile);
		}
	}
	if (rc != SQLITE_DONE) {
		st = db_fail(db, "select enrollment secret");
		goto out;
	}
	if (rows == 0) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "no enrollment secret for device %s", device_id);
		goto out;
	}
	switch (best) {
	case FIT_NONE:
		st = status_fail(ST_UNAUTHENTICATED,
		    "wrong enrollment secret for device %s", device_id);
		goto out;
	case FIT_CANCELLED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was cancelled", device_id);
		goto out;
	case FIT_USED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was already used",
		    device_id);
		goto out;
	case FIT_EXPIRED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s expired", device_id);
		goto out;
	case FIT_PROFILE:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret is for profile %s, not %s", best_profile,
		    profile != NULL ? profile : "(none)");
		goto out;
	case FIT_OK:
		break;
	}
	*id = best_id;
out:
	stmt_reset(sel);
	return st;
}

enum status
store_txn_secret_use(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial, int64_t *id)
{
	sqlite3_stmt *sel, *upd;
	int64_t best_id;
	enum status st;
	int ok;

	*id = 0;
	if ((sel = wstmt(txn, W_SECRET_SELECT)) == NULL ||
	    (upd = wstmt(txn, W_SECRET_CONSUME)) == NULL)
		return db_fail(txn->db, "prepare consume enrollment secret");
	if ((st = secret_find(txn->db, sel, device_id, profile, hash, now,
	         &best_id)) != ST_OK)
		return st;
	/*
	 * Conditional on consumed_at IS NULL: of two jobs that both saw the
	 * row unused, only one changes it.
	 */
	ok = sqlite3_bind_int64(upd, 1, now) == SQLITE_OK &&
	    bind_text(upd, 2, serial) == SQLITE_OK &&
	    sqlite3_bind_int64(upd, 3, best_id) == SQLITE_OK;
	/* A cancellation committed meanwhile wins, as a use would. */
	if ((st = stmt_run(txn->db, upd, ok, "consume enrollment secret")) !=
	    ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was already used",
		    device_id);
	*id = best_id;
	return ST_OK;
}

enum status
store_txn_secret_consume(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial)
{
	int64_t id;

	return store_txn_secret_use(
	    txn, device_id, profile, hash, now, serial, &id);
}

enum status
store_txn_secret_attach(struct store_txn *txn, int64_t id, const char *serial)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((upd = wstmt(txn, W_SECRET_ATTACH)) == NULL)
		return db_fail(txn->db, "prepare attach enrollment secret");
	ok = bind_text(upd, 1, serial) == SQLITE_OK &&
	    sqlite3_bind_int64(upd, 2, id) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "attach enrollment secret")) !=
	    ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "enrollment secret %lld is not reserved for a "
		    "certificate",
		    (long long)id);
	return ST_OK;
}

enum status
store_secret_check(struct store *store, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now)
{
	sqlite3_stmt *sel;
	int64_t id;
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	if ((sel = rstmt(store, R_SECRET_SELECT)) == NULL)
		st = db_fail(store->rdb, "prepare select enrollment secret");
	else
		st = secret_find(
		    store->rdb, sel, device_id, profile, hash, now, &id);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_txn_audit_last(struct store_txn *txn, int64_t *seq, uint8_t hash[32])
{
	sqlite3_stmt *stmt;
	const void *h;
	int64_t last = 0;
	uint8_t last_hash[HASH_LEN] = {0};
	enum status st = ST_OK;
	int rc;

	*seq = 0;
	memset(hash, 0, HASH_LEN);
	if ((stmt = wstmt(txn, W_AUDIT_LAST)) == NULL)
		return db_fail(txn->db, "prepare select last audit entry");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		last = sqlite3_column_int64(stmt, 0);
		h = sqlite3_column_blob(stmt, 1);
		if (h == NULL || sqlite3_column_bytes(stmt, 1) != HASH_LEN)
			st = status_fail(ST_STORE,
			    "store: audit entry %lld has no 32-byte hash",
			    (long long)last);
		else
			memcpy(last_hash, h, HASH_LEN);
	} else if (rc != SQLITE_DONE) {
		st = db_fail(txn->db, "select last audit entry");
	}
	sqlite3_reset(stmt);
	if (st != ST_OK)
		return st;
	*seq = last;
	memcpy(hash, last_hash, HASH_LEN);
	return ST_OK;
}

enum status
store_txn_audit_insert(struct store_txn *txn, const struct store_audit *entry)
{
	sqlite3_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_AUDIT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert audit entry");
	ok = sqlite3_bind_int64(stmt, 1, entry->seq) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, entry->time) == SQLITE_OK &&
	    bind_text(stmt, 3, entry->actor ? entry->actor : "") == SQLITE_OK &&
	    bind_text(stmt, 4, entry->action ? entry->action : "") ==
	        SQLITE_OK &&
	    bind_text(stmt, 5, entry->object ? entry->object : "") ==
	        SQLITE_OK &&
	    bind_text(stmt, 6, entry->detail ? entry->detail : "") ==
	        SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 7, entry->prev_hash, HASH_LEN,
	        SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 8, entry->hash, HASH_LEN, SQLITE_STATIC) ==
	        SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "insert audit entry");
}

int
store_reason_is_valid(int reason)
{
	/* RFC 5280 §5.3.1: 7 is unused, 0 is omitted, 8 is for deltas. */
	return reason == -1 || (reason >= 1 && reason <= 6) || reason == 9 ||
	    reason == 10;
}

static enum status
check_reason(int reason)
{
	if (!store_reason_is_valid(reason))
		return status_fail(ST_MALFORMED,
		    "revocation reason %d cannot be stored: -1 for none, "
		    "or an RFC 5280 §5.3.1 CRLReason 1..6, 9, 10",
		    reason);
	return ST_OK;
}

/* A copy of a text column of a writer statement, or NULL for SQL NULL. */
static enum status
column_dup_opt(sqlite3_stmt *stmt, int i, char **out)
{
	int is_oom = 0;

	*out = column_strdup(stmt, i, &is_oom);
	if (is_oom)
		return status_fail(ST_NOMEM, "store: out of memory");
	return ST_OK;
}

enum status
store_txn_cert_revoke(struct store_txn *txn, const char *serial, int reason,
    int64_t time, char **device_id_out)
{
	sqlite3_stmt *sel, *upd, *ins;
	const unsigned char *status;
	char *device_id = NULL;
	enum status st = ST_OK;
	int ok;

	if (device_id_out != NULL)
		*device_id_out = NULL;
	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((st = check_reason(reason)) != ST_OK)
		return st;
	if ((sel = wstmt(txn, W_CERT_STATUS)) == NULL ||
	    (upd = wstmt(txn, W_CERT_REVOKE)) == NULL ||
	    (ins = wstmt(txn, W_FEED_INSERT)) == NULL)
		return db_fail(txn->db, "prepare revoke certificate");
	st = step_row(txn->db, sel, bind_text(sel, 1, serial) == SQLITE_OK,
	    "select certificate");
	if (st == ST_NOTFOUND)
		st = status_fail(
		    ST_NOTFOUND, "no certificate with serial %s", serial);
	if (st != ST_OK)
		goto out;
	status = sqlite3_column_text(sel, 0);
	if (status == NULL || strcmp((const char *)status, "valid") != 0) {
		st = status_fail(
		    ST_CONFLICT, "certificate %s is already revoked", serial);
		goto out;
	}
	if ((st = column_dup_opt(sel, 1, &device_id)) != ST_OK)
		goto out;
	stmt_reset(sel);
	/* The stored reason is -1 for none, as in the feed. */
	ok = sqlite3_bind_int64(upd, 1, time) == SQLITE_OK &&
	    sqlite3_bind_int(upd, 2, reason) == SQLITE_OK &&
	    bind_text(upd, 3, serial) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "revoke certificate")) != ST_OK)
		goto out;
	if (sqlite3_changes(txn->db) != 1) {
		st = status_fail(
		    ST_CONFLICT, "certificate %s is already revoked", serial);
		goto out;
	}
	ok = bind_text(ins, 1, serial) == SQLITE_OK &&
	    bind_text(ins, 2, device_id) == SQLITE_OK &&
	    sqlite3_bind_int(ins, 3, reason) == SQLITE_OK &&
	    sqlite3_bind_int64(ins, 4, time) == SQLITE_OK;
	if ((st = stmt_run(
	         txn->db, ins, ok, "append to the revocations feed")) != ST_OK)
		goto out;
	if (device_id_out != NULL) {
		*device_id_out = device_id;
		device_id = NULL;
	}
out:
	stmt_reset(sel);
	free(device_id);
	return st;
}

struct serial {
	char hex[STORE_SERIAL_HEX_CAP];
};

/* The serials of device_id's valid certificates, in serial order. */
static enum status
device_valid_serials(struct store_txn *txn, const char *device_id,
    struct serial **out, size_t *count)
{
	struct serial *serials = NULL, *grown;
	sqlite3_stmt *sel;
	const unsigned char *serial;
	size_t n = 0, cap = 0;
	enum status st = ST_OK;
	int rc;

	*out = NULL;
	*count = 0;
	if ((sel = wstmt(txn, W_DEVICE_VALID)) == NULL)
		return db_fail(txn->db, "prepare select device certificates");
	if (bind_text(sel, 1, device_id) != SQLITE_OK) {
		st = db_fail(txn->db, "select device certificates");
		goto out;
	}
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((grown = reallocarray(
			         serials, cap, sizeof(*serials))) == NULL) {
				st = status_fail(
				    ST_NOMEM, "store: out of memory");
				goto out;
			}
			serials = grown;
		}
		serial = sqlite3_column_text(sel, 0);
		snprintf(serials[n++].hex, sizeof(serials[0].hex), "%s",
		    serial != NULL ? (const char *)serial : "");
	}
	if (rc != SQLITE_DONE) {
		st = db_fail(txn->db, "select device certificates");
		goto out;
	}
	*out = serials;
	*count = n;
	serials = NULL;
out:
	stmt_reset(sel);
	free(serials);
	return st;
}

enum status
store_txn_device_certs_revoke_each(struct store_txn *txn, const char *device_id,
    int reason, int64_t time, store_txn_revoked_fn fn, void *arg, size_t *count)
{
	struct serial *serials = NULL;
	size_t i, n = 0;
	enum status st;

	*count = 0;
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((st = check_reason(reason)) != ST_OK)
		return st;
	/*
	 * Collected first: updating certificates while a SELECT over them is
	 * still being stepped is not something to rely on.
	 */
	if ((st = device_valid_serials(txn, device_id, &serials, &n)) != ST_OK)
		return st;
	for (i = 0; i < n; i++) {
		if ((st = store_txn_cert_revoke(
		         txn, serials[i].hex, reason, time, NULL)) != ST_OK)
			goto out;
		if (fn != NULL && (st = fn(txn, serials[i].hex, arg)) != ST_OK)
			goto out;
	}
	*count = n;
out:
	free(serials);
	return st;
}

enum status
store_txn_device_certs_revoke(struct store_txn *txn, const char *device_id,
    int reason, int64_t time, size_t *count)
{
	return store_txn_device_certs_revoke_each(
	    txn, device_id, reason, time, NULL, NULL, count);
}

/* The device's status: 1 blocked, 0 active; ST_NOTFOUND when unknown. */
static enum status
device_status(struct store_txn *txn, const char *device_id, int *blocked)
{
	sqlite3_stmt *sel;
	const unsigned char *status;
	enum status st;

	*blocked = 0;
	if ((sel = wstmt(txn, W_DEVICE_STATUS)) == NULL)
		return db_fail(txn->db, "prepare select device");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == SQLITE_OK,
	    "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s",
		    device_id != NULL ? device_id : "(null)");
	if (st == ST_OK) {
		status = sqlite3_column_text(sel, 0);
		*blocked = status != NULL &&
		    strcmp((const char *)status, "blocked") == 0;
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_cert_supersede(struct store_txn *txn, const char *serial, int64_t at)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((upd = wstmt(txn, W_CERT_SUPERSEDE)) == NULL)
		return db_fail(txn->db, "prepare supersede certificate");
	ok = sqlite3_bind_int64(upd, 1, at) == SQLITE_OK &&
	    bind_text(upd, 2, serial) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "supersede certificate")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "certificate %s is revoked or was renewed already", serial);
	return ST_OK;
}

enum status
store_txn_device_supersede(
    struct store_txn *txn, const char *device_id, int64_t at, size_t *count)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	*count = 0;
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SUPERSEDE)) == NULL)
		return db_fail(
		    txn->db, "prepare supersede device certificates");
	ok = sqlite3_bind_int64(upd, 1, at) == SQLITE_OK &&
	    bind_text(upd, 2, device_id) == SQLITE_OK;
	if ((st = stmt_run(
	         txn->db, upd, ok, "supersede device certificates")) != ST_OK)
		return st;
	*count = (size_t)sqlite3_changes(txn->db);
	return ST_OK;
}

enum status
store_txn_device_current(struct store_txn *txn, const char *device_id,
    int64_t now, char serial[STORE_SERIAL_HEX_CAP])
{
	sqlite3_stmt *sel;
	const unsigned char *s;
	enum status st;
	int ok;

	serial[0] = '\0';
	if (device_id == NULL)
		return ST_NOTFOUND;
	if ((sel = wstmt(txn, W_DEVICE_CURRENT)) == NULL)
		return db_fail(txn->db, "prepare select current certificate");
	ok = bind_text(sel, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(sel, 2, now) == SQLITE_OK;
	st = step_row(txn->db, sel, ok, "select current certificate");
	if (st == ST_OK) {
		s = sqlite3_column_text(sel, 0);
		snprintf(serial, STORE_SERIAL_HEX_CAP, "%s",
		    s != NULL ? (const char *)s : "");
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_device_set_status(
    struct store_txn *txn, const char *device_id, int is_blocked, int64_t time)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SET)) == NULL)
		return db_fail(txn->db, "prepare update device");
	ok =
	    bind_text(upd, 1, is_blocked ? "blocked" : "active") == SQLITE_OK &&
	    sqlite3_bind_int64(upd, 2, time) == SQLITE_OK &&
	    bind_text(upd, 3, device_id) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "update device")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_NOTFOUND, "no device %s", device_id);
	return ST_OK;
}

enum status
store_txn_device_is_blocked(
    struct store_txn *txn, const char *device_id, int *blocked)
{
	enum status st;
	int b = 0;

	*blocked = 0;
	st = device_status(txn, device_id, &b);
	if (st == ST_NOTFOUND) {
		/* Not enrolled yet: nothing blocks it. */
		status_clear();
		return ST_OK;
	}
	if (st != ST_OK)
		return st;
	*blocked = b;
	return ST_OK;
}

enum status
store_txn_device_binding_get(struct store_txn *txn, const char *device_id,
    struct store_device_binding *out)
{
	sqlite3_stmt *sel;
	const unsigned char *status;
	enum status st;

	memset(out, 0, sizeof(*out));
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((sel = wstmt(txn, W_DEVICE_BINDING)) == NULL)
		return db_fail(txn->db, "prepare select device binding");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == SQLITE_OK,
	    "select device binding");
	if (st == ST_OK) {
		out->is_known = 1;
		status = sqlite3_column_text(sel, 0);
		out->is_blocked = status != NULL &&
		    strcmp((const char *)status, "blocked") == 0;
		column_copy(sel, 1, out->family, sizeof(out->family));
		column_copy(
		    sel, 2, out->authenticator, sizeof(out->authenticator));
	} else if (st == ST_NOTFOUND) {
		st = ST_OK;
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_device_bind(struct store_txn *txn, const char *device_id,
    const char *family, const char *authenticator, int64_t now)
{
	sqlite3_stmt *stmt;
	int ok;

	if (device_id == NULL || family == NULL)
		return status_fail(ST_MALFORMED, "no device id or family");
	if ((stmt = wstmt(txn, W_DEVICE_BIND)) == NULL)
		return db_fail(txn->db, "prepare bind device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK &&
	    bind_text(stmt, 3, family) == SQLITE_OK &&
	    bind_text(stmt, 4, authenticator) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "bind device");
}

enum status
store_txn_device_block(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	sqlite3_stmt *stmt;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((stmt = wstmt(txn, W_DEVICE_BLOCK)) == NULL)
		return db_fail(txn->db, "prepare block device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "block device");
}

int64_t
store_txn_last_id(struct store_txn *txn)
{
	return (int64_t)sqlite3_last_insert_rowid(txn->db);
}

/* Bind a filter's four match parameters (?1..?4, SECRET_MATCH_SQL). */
static int
secret_match_bind(sqlite3_stmt *stmt, const struct store_secret_filter *f)
{
	return bind_text(stmt, 1, f->minter_kind) == SQLITE_OK &&
	    bind_text(stmt, 2, f->minter_serial) == SQLITE_OK &&
	    bind_text(stmt, 3, f->device_id) == SQLITE_OK &&
	    bind_text(stmt, 4, f->profile) == SQLITE_OK;
}

enum status
store_txn_secret_cancel(
    struct store_txn *txn, int64_t id, int64_t now, const char *by)
{
	sqlite3_stmt *stmt;
	enum status st;
	int ok;

	if ((stmt = wstmt(txn, W_SECRET_CANCEL)) == NULL)
		return db_fail(txn->db, "prepare cancel enrollment secret");
	ok = sqlite3_bind_int64(stmt, 1, now) == SQLITE_OK &&
	    bind_text(stmt, 2, by) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 3, id) == SQLITE_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "cancel enrollment secret")) !=
	    ST_OK)
		return st;
	if (sqlite3_changes(txn->db) == 1)
		return ST_OK;
	/* Why not: read inside this transaction, so the answer is exact. */
	if ((stmt = wstmt(txn, W_SECRET_SELECT_ID)) == NULL)
		return db_fail(txn->db, "prepare select enrollment secret");
	st = step_row(txn->db, stmt,
	    sqlite3_bind_int64(stmt, 1, id) == SQLITE_OK,
	    "select enrollment secret");
	if (st == ST_NOTFOUND)
		st = status_fail(
		    ST_NOTFOUND, "no enrollment secret %lld", (long long)id);
	else if (st == ST_OK)
		st = status_fail(ST_CONFLICT,
		    "enrollment secret %lld was already %s", (long long)id,
		    sqlite3_column_int(stmt, 1) ? "cancelled" : "used");
	stmt_reset(stmt);
	return st;
}

enum status
store_txn_secrets_cancel(struct store_txn *txn,
    const struct store_secret_filter *f, int64_t now, const char *by,
    size_t *count)
{
	sqlite3_stmt *stmt;
	enum status st;
	int ok;

	*count = 0;
	if (f->minter_kind == NULL && f->minter_serial == NULL &&
	    f->device_id == NULL)
		return status_fail(ST_INTERNAL,
		    "cancelling secrets needs a minter or a device");
	if ((stmt = wstmt(txn, W_SECRETS_CANCEL)) == NULL)
		return db_fail(txn->db, "prepare cancel enrollment secrets");
	ok = secret_match_bind(stmt, f) &&
	    sqlite3_bind_int64(stmt, 6, now) == SQLITE_OK &&
	    bind_text(stmt, 7, by) == SQLITE_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "cancel enrollment secrets")) !=
	    ST_OK)
		return st;
	*count = (size_t)sqlite3_changes(txn->db);
	return ST_OK;
}

/* A DER object as a blob parameter: 1..INT32_MAX bytes. */
static enum status
check_der(const uint8_t *der, size_t len, const char *what)
{
	if (der == NULL || len == 0 || len > INT32_MAX)
		return status_fail(
		    ST_MALFORMED, "%s is empty or too large", what);
	return ST_OK;
}

enum status
store_txn_ocsp_put(struct store_txn *txn, const char *serial,
    enum store_cert_status signed_for, const char *signer, const uint8_t *der,
    size_t len, int64_t this_update, int64_t next_update)
{
	sqlite3_stmt *stmt;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((unsigned)signed_for >= STORE_CERT_STATUS_MAX)
		return status_fail(
		    ST_INTERNAL, "OCSP answer for status %d", signed_for);
	if ((st = check_der(der, len, "OCSP response")) != ST_OK)
		return st;
	if ((stmt = wstmt(txn, W_OCSP_PUT)) == NULL)
		return db_fail(txn->db, "prepare store OCSP response");
	ok = bind_text(stmt, 1, serial) == SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 2, der, (int)len, SQLITE_STATIC) ==
	        SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 3, this_update) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 4, next_update) == SQLITE_OK &&
	    bind_text(stmt, 5,
	        signed_for == STORE_CERT_REVOKED ? "revoked" : "valid") ==
	        SQLITE_OK &&
	    bind_text(stmt, 6, signer) == SQLITE_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "store OCSP response")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) == 0)
		return status_fail(ST_CONFLICT,
		    "certificate %s is not (or no longer) %s, or the responder "
		    "is revoked: its OCSP answer is not kept",
		    serial,
		    signed_for == STORE_CERT_REVOKED ? "revoked" : "valid");
	return ST_OK;
}

enum status
store_txn_ocsp_delete(struct store_txn *txn, const char *serial)
{
	sqlite3_stmt *stmt;

	if ((stmt = wstmt(txn, W_OCSP_DELETE)) == NULL)
		return db_fail(txn->db, "prepare delete OCSP response");
	return stmt_run(txn->db, stmt, bind_text(stmt, 1, serial) == SQLITE_OK,
	    "delete OCSP response");
}

enum status
store_txn_ocsp_delete_all(struct store_txn *txn)
{
	sqlite3_stmt *stmt;

	if ((stmt = wstmt(txn, W_OCSP_DELETE_ALL)) == NULL)
		return db_fail(txn->db, "prepare delete OCSP responses");
	return stmt_run(txn->db, stmt, 1, "delete OCSP responses");
}

enum status
store_txn_crl_put(struct store_txn *txn, int shard, int64_t number,
    int64_t this_update, int64_t next_update, const uint8_t *der, size_t len)
{
	sqlite3_stmt *stmt;
	enum status st;
	int ok;

	if (shard < STORE_CRL_SHARD_FULL)
		return status_fail(ST_MALFORMED, "CRL shard %d", shard);
	if (number < 1)
		return status_fail(ST_MALFORMED, "crlNumber %lld is below 1",
		    (long long)number);
	if ((st = check_der(der, len, "CRL")) != ST_OK)
		return st;
	if ((stmt = wstmt(txn, W_CRL_PUT)) == NULL)
		return db_fail(txn->db, "prepare store CRL");
	ok = sqlite3_bind_int(stmt, 1, shard) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, number) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 3, this_update) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 4, next_update) == SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 5, der, (int)len, SQLITE_STATIC) ==
	        SQLITE_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "store CRL")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "CRL of shard %d: crlNumber %lld is not above the "
		    "stored one (RFC 5280 §5.2.3)",
		    shard, (long long)number);
	return ST_OK;
}

enum status
store_txn_crl_next_number(struct store_txn *txn, int shard, int64_t *number)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;
	int64_t n = 0;

	*number = 0;
	if ((stmt = wstmt(txn, W_CRL_NEXT)) == NULL)
		return db_fail(txn->db, "prepare select crlNumber");
	if (sqlite3_bind_int(stmt, 1, shard) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW)
		st = db_fail(txn->db, "select crlNumber");
	else
		n = sqlite3_column_int64(stmt, 0);
	stmt_reset(stmt);
	if (st == ST_OK)
		*number = n;
	return st;
}

/*
 * Run one batch: BEGIN IMMEDIATE, each job in its savepoint, COMMIT. Sets
 * every job's st and detail. Runs on the writer thread without the lock.
 */
static void
writer_batch(struct store *store, struct job *batch)
{
	struct store_txn *txn = &store->txn;
	struct job *j;
	char why[JOB_DETAIL_CAP];
	enum status st;
	int is_broken = 0;

	status_clear();
	if (txn_control(txn, W_BEGIN) != ST_OK) {
		for (j = batch; j != NULL; j = j->next) {
			j->st = ST_STORE;
			snprintf(j->detail, sizeof(j->detail), "%s",
			    status_detail());
		}
		return;
	}
	for (j = batch; j != NULL; j = j->next) {
		status_clear();
		if (is_broken) {
			j->st = status_fail(ST_STORE,
			    "store: an earlier job broke the transaction");
		} else if ((st = txn_control(txn, W_SAVEPOINT)) != ST_OK) {
			j->st = st;
			is_broken = 1;
		} else if ((j->st = j->fn(txn, j->arg)) == ST_OK) {
			if (txn_control(txn, W_RELEASE) != ST_OK) {
				j->st = ST_STORE;
				is_broken = 1;
			}
		} else {
			/* Keep the job's own detail, not the rollback's. */
			snprintf(j->detail, sizeof(j->detail), "%s",
			    status_detail());
			if (txn_control(txn, W_ROLLBACK_TO) != ST_OK ||
			    txn_control(txn, W_RELEASE) != ST_OK)
				is_broken = 1;
			continue;
		}
		/*
		 * An I/O error or a full disk inside fn makes SQLite roll the
		 * whole transaction back on its own.
		 */
		if (sqlite3_get_autocommit(txn->db))
			is_broken = 1;
		snprintf(j->detail, sizeof(j->detail), "%s", status_detail());
	}
	status_clear();
	if (!is_broken && txn_control(txn, W_COMMIT) == ST_OK)
		return;
	if (is_broken)
		status_fail(ST_STORE,
		    "store: the transaction was rolled back "
		    "after a failure inside it");
	snprintf(why, sizeof(why), "%s", status_detail());
	log_error("%s", why);
	if (!sqlite3_get_autocommit(txn->db) &&
	    txn_control(txn, W_ROLLBACK) != ST_OK)
		log_error("%s", status_detail());
	/*
	 * Nothing of this batch is stored. A job that failed by itself keeps
	 * its own reason; the others learn that the commit failed.
	 */
	for (j = batch; j != NULL; j = j->next) {
		if (j->st != ST_OK)
			continue;
		j->st = ST_STORE;
		snprintf(j->detail, sizeof(j->detail), "%s", why);
	}
}

static void *
writer_main(void *arg)
{
	struct store *store = arg;
	struct job *batch, *last;
	size_t n;

	pthread_mutex_lock(&store->lock);
	for (;;) {
		while (store->head == NULL && !store->is_closing)
			pthread_cond_wait(&store->wake, &store->lock);
		if (store->head == NULL)
			break;
		batch = last = store->head;
		for (n = 1; n < LIMIT_GROUP_COMMIT && last->next != NULL; n++)
			last = last->next;
		store->head = last->next;
		if (store->head == NULL)
			store->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&store->lock);

		writer_batch(store, batch);

		pthread_mutex_lock(&store->lock);
		store->commits++;
		store->jobs += n;
		while (batch != NULL) {
			/* The job may be gone once is_done is seen. */
			last = batch->next;
			batch->is_done = 1;
			batch = last;
		}
		pthread_cond_broadcast(&store->done);
	}
	pthread_mutex_unlock(&store->lock);
	return NULL;
}

enum status
store_write(struct store *store, store_txn_fn fn, void *arg)
{
	struct job job;

	memset(&job, 0, sizeof(job));
	job.fn = fn;
	job.arg = arg;
	if (store->has_writer && pthread_equal(pthread_self(), store->writer))
		return status_fail(
		    ST_INTERNAL, "store_write called from inside a store job");
	pthread_mutex_lock(&store->lock);
	if (store->is_closing) {
		pthread_mutex_unlock(&store->lock);
		return status_fail(ST_STORE, "store: closing");
	}
	if (store->tail != NULL)
		store->tail->next = &job;
	else
		store->head = &job;
	store->tail = &job;
	store->waiters++;
	pthread_cond_signal(&store->wake);
	while (!job.is_done)
		pthread_cond_wait(&store->done, &store->lock);
	/* store_close waits for the last waiter before freeing the lock. */
	if (--store->waiters == 0 && store->is_closing)
		pthread_cond_broadcast(&store->done);
	pthread_mutex_unlock(&store->lock);
	if (job.st != ST_OK)
		return status_fail(job.st, "%s", job.detail);
	return ST_OK;
}

void
store_stats(struct store *store, uint64_t *commits, uint64_t *jobs)
{
	pthread_mutex_lock(&store->lock);
	*commits = store->commits;
	*jobs = store->jobs;
	pthread_mutex_unlock(&store->lock);
}

/* The version recorded in the database, 0 for a new one. */
static enum status
schema_get(sqlite3 *db, int *version)
{
	sqlite3_stmt *stmt = NULL;
	enum status st = ST_OK;
	int rc;

	*version = 0;
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version",
	        -1, &stmt, NULL) != SQLITE_OK)
		return db_fail(db, "read schema version");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(stmt, 0);
	else
		st = db_fail(db, "read schema version");
	sqlite3_finalize(stmt);
	return st;
}

static enum status db_open(const char *path, int flags, sqlite3 **out);

/* How long a snapshot waits for a lock the others hold, in 10 ms steps. */
#define BACKUP_BUSY_TRIES 1000

/*
 * Copy the main database of src into dest, a new file of mode 0600, in one
 * backup step (one read transaction: a consistent snapshot). dest is
 * fsynced, and removed on failure.
 */
static enum status
db_copy(sqlite3 *src, const char *dest)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b = NULL;
	enum status st = ST_OK;
	int fd, rc, tries = 0, is_created = 0;

	fd = open(
	    dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		st = status_fail(errno == EEXIST ? ST_CONFLICT : ST_STORE,
		    "store: create %s: %s", dest, strerror(errno));
		goto out;
	}
	is_created = 1;
	close(fd);
	if ((st = db_open(dest, SQLITE_OPEN_READWRITE, &dst)) != ST_OK)
		goto out;
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		st = db_fail(dst, "backup");
		goto out;
	}
	/* -1: every page in one step, so the copy is one snapshot. */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED) {
		if (++tries > BACKUP_BUSY_TRIES)
			break;
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_DONE) {
		sqlite3_backup_finish(b);
		b = NULL;
		st = status_fail(ST_STORE, "store: backup to %s: %s", dest,
		    sqlite3_errstr(rc));
		goto out;
	}
	rc = sqlite3_backup_finish(b);
	b = NULL;
	if (rc != SQLITE_OK) {
		st = db_fail(dst, "backup");
		goto out;
	}
	/* Closing the last connection checkpoints: no -wal is left. */
	if (sqlite3_close(dst) != SQLITE_OK) {
		st = db_fail(dst, "close backup");
		goto out;
	}
	dst = NULL;
	if ((fd = open(dest, O_RDONLY | O_CLOEXEC)) == -1 || fsync(fd) == -1)
		st = status_fail(
		    ST_STORE, "store: fsync %s: %s", dest, strerror(errno));
	if (fd != -1)
		close(fd);
out:
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close_v2(dst);
	if (st != ST_OK && is_created)
		unlink(dest);
	return st;
}

enum status
store_backup(const char *path, const char *dest)
{
	sqlite3 *src = NULL;
	enum status st;

	if ((st = db_open(path, SQLITE_OPEN_READONLY, &src)) != ST_OK)
		return st;
	st = db_copy(src, dest);
	sqlite3_close_v2(src);
	return st;
}

enum status
store_check(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	const unsigned char *res;
	enum status st;
	int version;

	if ((st = db_open(path, SQLITE_OPEN_READONLY, &db)) != ST_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		st = db_fail(db, "integrity check");
		goto out;
	}
	res = sqlite3_column_text(stmt, 0);
	if (res == NULL || strcmp((const char *)res, "ok") != 0) {
		st = status_fail(ST_MALFORMED,
		    "store: %s fails SQLite's integrity check: %s", path,
		    res != NULL ? (const char *)res : "no answer");
		goto out;
	}
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version < 1 || version > SCHEMA_VERSION)
		st = status_fail(ST_MALFORMED,
		    "store: %s has schema version %d; this tessera reads 1 "
		    "to %d",
		    path, version, SCHEMA_VERSION);
out:
	sqlite3_finalize(stmt);
	sqlite3_close_v2(db);
	return st;
}

/*
 * Before migrating a store of an older schema, keep a copy of it as it was
 * (PATH.schema-vN-TIME-PID.bak, mode 0600), so that an upgrade can be
 * undone with the older tessera and that file. Taken before the migrating
 * transaction (SQLite copies nothing from a connection that is writing);
 * *kept is the copy's name, "" when the store needs no migration.
 */
static enum status
schema_keep_copy(sqlite3 *db, const char *path, char *kept, size_t kept_cap)
{
	sqlite3_stmt *stmt = NULL;
	enum status st = ST_OK;
	int version = 0, n;

	kept[0] = '\0';
	if (sqlite3_prepare_v2(db,
	        "SELECT count(*) FROM sqlite_master"
	        " WHERE type = 'table' AND name = 'schema_version'",
	        -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		st = db_fail(db, "read schema version");
		goto out;
	}
	if (sqlite3_column_int(stmt, 0) == 0)
		goto out; /* a new store */
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version <= 0 || version >= SCHEMA_VERSION)
		goto out;
	n = snprintf(kept, kept_cap, "%s.schema-v%d-%lld-%ld.bak", path,
	    version, (long long)time(NULL), (long)getpid());
	if (n < 0 || (size_t)n >= kept_cap) {
		kept[0] = '\0';
		st = status_fail(ST_LIMIT, "store path is too long");
		goto out;
	}
	if ((st = db_copy(db, kept)) != ST_OK) {
		kept[0] = '\0';
		goto out;
	}
	log_warn("store: schema version %d is older than %d: kept a copy of "
	         "the store as it was in %s before migrating",
	    version, SCHEMA_VERSION, kept);
out:
	sqlite3_finalize(stmt);
	return st;
}

/* Bring the schema up to SCHEMA_VERSION in one transaction. */
static enum status
schema_migrate(sqlite3 *db, const char *path)
{
	sqlite3_stmt *stmt = NULL;
	enum status st;
	char kept[4096];
	int version, v;

	if ((st = schema_keep_copy(db, path, kept, sizeof(kept))) != ST_OK)
		return st;
	if ((st = db_exec(db, "BEGIN IMMEDIATE", "begin migration")) != ST_OK)
		return st;
	st = db_exec(db,
	    "CREATE TABLE IF NOT EXISTS schema_version"
	    " (version INTEGER NOT NULL)",
	    "create schema_version");
	if (st != ST_OK)
		goto out;
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version > SCHEMA_VERSION) {
		st = status_fail(ST_STORE,
		    "database schema version %d is newer than this tessera "
		    "(%d)",
		    version, SCHEMA_VERSION);
		goto out;
	}
	if (version == SCHEMA_VERSION) {
		/* Another process migrated it meanwhile, and kept its copy. */
		if (kept[0] != '\0' && unlink(kept) == 0)
			log_info("store: removed %s: the store was migrated by "
			         "another process, which kept its own copy",
			    kept);
		goto out;
	}
	for (v = version; v < SCHEMA_VERSION; v++) {
		if ((st = db_exec(db, migrations[v], "migrate schema")) !=
		    ST_OK)
			goto out;
		log_info("store: schema migrated to version %d", v + 1);
	}
	if ((st = db_exec(db, "DELETE FROM schema_version",
	         "write schema version")) != ST_OK)
		goto out;
	if (sqlite3_prepare_v2(db,
	        "INSERT INTO schema_version (version) VALUES (?)", -1, &stmt,
	        NULL) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 1, SCHEMA_VERSION) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_DONE) {
		st = db_fail(db, "write schema version");
		goto out;
	}
out:
	sqlite3_finalize(stmt);
	if (st == ST_OK)
		st = db_exec(db, "COMMIT", "commit migration");
	if (st != ST_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return st;
}

/* The -wal and -shm files hold the same data: same mode as the database. */
static enum status
sidecars_chmod(const char *path)
{
	static const char *const suffixes[] = {"-wal", "-shm"};
	char name[4096];
	size_t i;
	int n;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		n = snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (n < 0 || (size_t)n >= sizeof(name))
			return status_fail(ST_LIMIT, "store path is too long");
		if (chmod(name, 0600) == -1 && errno != ENOENT)
			return status_fail(ST_STORE, "store: chmod %s: %s",
			    name, strerror(errno));
	}
	return ST_OK;
}

/* Create the database file with mode 0600 before SQLite opens it. */
static enum status
file_create(const char *path)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return status_fail(
		    ST_STORE, "store: open %s: %s", path, strerror(errno));
	/* A file that existed, or a loose umask, does not widen access. */
	if (fchmod(fd, 0600) == -1) {
		close(fd);
		return status_fail(
		    ST_STORE, "store: chmod %s: %s", path, strerror(errno));
	}
	close(fd);
	return ST_OK;
}

static enum status
db_open(const char *path, int flags, sqlite3 **out)
{
	sqlite3 *db = NULL;
	enum status st = ST_OK;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		st = db_fail(db, "open");
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		st = db_fail(db, "busy timeout");
		goto out;
	}
	*out = db;
	db = NULL;
out:
	sqlite3_close_v2(db);
	return st;
}

/* The writer connection: WAL, synchronous=FULL, foreign keys, schema. */
static enum status
writer_open(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	const unsigned char *mode;
	enum status st;

	*out = NULL;
	if ((st = db_open(path, SQLITE_OPEN_READWRITE, &db)) != ST_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt,
	        NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		st = db_fail(db, "journal_mode = WAL");
		goto out;
	}
	mode = sqlite3_column_text(stmt, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		st = status_fail(ST_STORE, "store: journal mode is %s, not wal",
		    mode != NULL ? (const char *)mode : "unknown");
		goto out;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if ((st = db_exec(db, "PRAGMA synchronous = FULL",
	         "synchronous = FULL")) != ST_OK)
		goto out;
	if ((st = db_exec(
	         db, "PRAGMA foreign_keys = ON", "foreign_keys = ON")) != ST_OK)
		goto out;
	if ((st = schema_migrate(db, path)) != ST_OK)
		goto out;
	*out = db;
	db = NULL;
out:
	sqlite3_finalize(stmt);
	sqlite3_close_v2(db);
	return st;
}

enum status
store_open(const char *path, struct store **out)
{
	struct store *store = NULL;
	enum status st;

	*out = NULL;
	if ((store = calloc(1, sizeof(*store))) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	/* Static initialisers: nothing to fail, nothing to undo half-way. */
	store->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	store->read_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	store->wake = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	store->done = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	if ((store->path = strdup(path)) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	if ((st = file_create(path)) != ST_OK)
		goto out;
	if ((st = writer_open(path, &store->txn.db)) != ST_OK)
		goto out;
	if ((st = sidecars_chmod(path)) != ST_OK)
		goto out;
	if ((st = db_open(path, SQLITE_OPEN_READONLY, &store->rdb)) != ST_OK)
		goto out;
	if (pthread_create(&store->writer, NULL, writer_main, store) != 0) {
		st = status_fail(ST_INTERNAL, "store: cannot start the writer");
		goto out;
	}
	store->has_writer = 1;
	*out = store;
	store = NULL;
out:
	store_close(store);
	return st;
}

void
store_close(struct store *store)
{
	size_t i;

	if (store == NULL)
		return;
	if (store->has_writer) {
		pthread_mutex_lock(&store->lock);
		store->is_closing = 1;
		pthread_cond_signal(&store->wake);
		pthread_mutex_unlock(&store->lock);
		pthread_join(store->writer, NULL);
		pthread_mutex_lock(&store->lock);
		while (store->waiters > 0)
			pthread_cond_wait(&store->done, &store->lock);
		pthread_mutex_unlock(&store->lock);
	}
	for (i = 0; i < W_MAX; i++)
		sqlite3_finalize(store->txn.stmt[i]);
	for (i = 0; i < R_MAX; i++)
		sqlite3_finalize(store->rstmt[i]);
	if (sqlite3_close(store->rdb) != SQLITE_OK)
		log_error("store: close read connection: %s",
		    sqlite3_errmsg(store->rdb));
	if (sqlite3_close(store->txn.db) != SQLITE_OK)
		log_error("store: close write connection: %s",
		    sqlite3_errmsg(store->txn.db));
	pthread_cond_destroy(&store->done);
	pthread_cond_destroy(&store->wake);
	pthread_mutex_destroy(&store->read_lock);
	pthread_mutex_destroy(&store->lock);
	free(store->path);
	free(store);
}

int
store_cert_exists(struct store *store, const char *serial)
{
	sqlite3_stmt *stmt;
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_EXISTS)) == NULL)
		st = db_fail(store->rdb, "prepare select certificate");
	else
		st = step_row(store->rdb, stmt,
		    bind_text(stmt, 1, serial) == SQLITE_OK,
		    "select certificate");
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_NOTFOUND)
		return 0;
	return st == ST_OK ? 1 : -1;
}

void
store_cert_free(struct store_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->issuer);
	free(cert->subject);
	free(cert->device_id);
	free(cert->profile);
	free(cert->der);
	free(cert);
}

/*
 * Fill c from the current row of a CERT_COLUMNS statement; its strings and
 * DER borrow the row (valid until the next step or reset).
 */
static void
cert_row(sqlite3_stmt *stmt, struct store_cert *c)
{
	const unsigned char *serial, *status;
	const void *der;

	memset(c, 0, sizeof(*c));
	serial = sqlite3_column_text(stmt, 0);
	snprintf(c->serial, sizeof(c->serial), "%s",
	    serial != NULL ? (const char *)serial : "");
	c->issuer = (char *)sqlite3_column_text(stmt, 1);
	c->subject = (char *)sqlite3_column_text(stmt, 2);
	c->device_id = (char *)sqlite3_column_text(stmt, 3);
	c->profile = (char *)sqlite3_column_text(stmt, 4);
	c->not_before = sqlite3_column_int64(stmt, 5);
	c->not_after = sqlite3_column_int64(stmt, 6);
	status = sqlite3_column_text(stmt, 7);
	c->status =
	    status != NULL && strcmp((const char *)status, "revoked") == 0
	    ? STORE_CERT_REVOKED
	    : STORE_CERT_VALID;
	c->revoked_at = sqlite3_column_int64(stmt, 8);
	c->reason = sqlite3_column_type(stmt, 9) == SQLITE_NULL
	    ? -1
	    : sqlite3_column_int(stmt, 9);
	der = sqlite3_column_blob(stmt, 10);
	c->der_len = (size_t)sqlite3_column_bytes(stmt, 10);
	c->der = (uint8_t *)der;
	if (der == NULL)
		c->der_len = 0;
	c->created = sqlite3_column_int64(stmt, 11);
	c->shard = sqlite3_column_int(stmt, 12);
	c->supersede_at = sqlite3_column_int64(stmt, 13);
}

enum status
store_cert_get(struct store *store, const char *serial, struct store_cert **out)
{
	struct store_cert *cert = NULL, row;
	sqlite3_stmt *stmt = NULL;
	enum status st = ST_OK;
	int is_oom = 0;

	*out = NULL;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select certificate");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, serial) == SQLITE_OK,
	    "select certificate");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no certificate with serial %s",
		    serial != NULL ? serial : "(null)");
	if (st != ST_OK)
		goto out;
	if ((cert = calloc(1, sizeof(*cert))) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	/* The row's fields, then a copy in place of each borrowed pointer. */
	cert_row(stmt, &row);
	*cert = row;
	cert->issuer = column_strdup(stmt, 1, &is_oom);
	cert->subject = column_strdup(stmt, 2, &is_oom);
	cert->device_id = column_strdup(stmt, 3, &is_oom);
	cert->profile = column_strdup(stmt, 4, &is_oom);
	cert->der = NULL;
	if (row.der_len > 0) {
		if ((cert->der = malloc(row.der_len)) == NULL)
			is_oom = 1;
		else
			memcpy(cert->der, row.der, row.der_len);
	}
	if (is_oom) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	store_cert_free(cert);
	return st;
}

/* The one integer of read statement s, which takes no parameters. */
static enum status
read_int64(struct store *store, enum rstmt s, const char *what, int64_t *out)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;

	*out = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, s)) == NULL)
		st = status_fail(ST_STORE, "store: prepare %s: %s", what,
		    sqlite3_errmsg(store->rdb));
	else if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, what);
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_cert_count(struct store *store, int64_t *count)
{
	return read_int64(store, R_CERT_COUNT, "count certificates", count);
}

/* Fill e from the current row of R_AUDIT; pointers borrow the row. */
static enum status
audit_row(sqlite3_stmt *stmt, struct store_audit *e)
{
	const void *prev, *hash;

	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(stmt, 0);
	e->time = sqlite3_column_int64(stmt, 1);
	e->actor = (char *)sqlite3_column_text(stmt, 2);
	e->action = (char *)sqlite3_column_text(stmt, 3);
	e->object = (char *)sqlite3_column_text(stmt, 4);
	e->detail = (char *)sqlite3_column_text(stmt, 5);
	prev = sqlite3_column_blob(stmt, 6);
	if (prev == NULL || sqlite3_column_bytes(stmt, 6) != HASH_LEN)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has no 32-byte previous hash",
		    (long long)e->seq);
	memcpy(e->prev_hash, prev, HASH_LEN);
	hash = sqlite3_column_blob(stmt, 7);
	if (hash == NULL || sqlite3_column_bytes(stmt, 7) != HASH_LEN)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has no 32-byte hash",
		    (long long)e->seq);
	memcpy(e->hash, hash, HASH_LEN);
	if (e->actor == NULL || e->action == NULL || e->object == NULL ||
	    e->detail == NULL)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has a NULL field",
		    (long long)e->seq);
	return ST_OK;
}

/*
 * The read lock is held while fn runs, so fn must not call other store
 * read functions. The whole walk is one read transaction: one snapshot.
 */
enum status
store_audit_foreach(struct store *store, int64_t since,
    int (*fn)(const struct store_audit *entry, void *arg), void *arg)
{
	sqlite3_stmt *stmt;
	struct store_audit e;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_AUDIT)) == NULL) {
		st = db_fail(store->rdb, "prepare select audit");
		goto out;
	}
	if (sqlite3_bind_int64(stmt, 1, since) != SQLITE_OK) {
		st = db_fail(store->rdb, "select audit");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((st = audit_row(stmt, &e)) != ST_OK)
			break;
		if (fn(&e, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "select audit");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_integrity_check(struct store *store)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *msg;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if (sqlite3_prepare_v2(store->rdb, "PRAGMA integrity_check", -1, &stmt,
	        NULL) != SQLITE_OK) {
		st = db_fail(store->rdb, "integrity_check");
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		st = db_fail(store->rdb, "integrity_check");
		goto out;
	}
	msg = sqlite3_column_text(stmt, 0);
	if (msg == NULL || strcmp((const char *)msg, "ok") != 0) {
		st = status_fail(ST_STORE, "store: integrity_check: %s",
		    msg != NULL ? (const char *)msg : "no answer");
		goto out;
	}
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_revoked_foreach(
    struct store *store, int shard, int64_t now, store_revoked_fn fn, void *arg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	const unsigned char *serial;
	enum status st;
	int rc;

	/*
	 * A private connection: a walk over a million rows takes a while
	 * and must not hold the read lock that OCSP and authentication
	 * share.
	 */
	if ((st = db_open(store->path, SQLITE_OPEN_READONLY, &db)) != ST_OK)
		return st;
	if (sqlite3_prepare_v2(db,
	        shard == STORE_CRL_SHARD_FULL ? revoked_full_sql : revoked_sql,
	        -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 1,
	        shard == STORE_CRL_SHARD_FULL ? STORE_CRL_SHARD_ROOT : shard) !=
	        SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, now) != SQLITE_OK) {
		st = db_fail(db, "select revoked certificates");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((serial = sqlite3_column_text(stmt, 0)) == NULL)
			continue;
		if (fn((const char *)serial, sqlite3_column_int64(stmt, 1),
		        sqlite3_column_type(stmt, 2) == SQLITE_NULL
		            ? -1
		            : sqlite3_column_int(stmt, 2),
		        arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(db, "select revoked certificates");
out:
	sqlite3_finalize(stmt);
	sqlite3_close_v2(db);
	return st;
}

/* 1..STORE_LIST_LIMIT_MAX rows per call. */
static enum status
check_limit(size_t limit)
{
	if (limit < 1 || limit > STORE_LIST_LIMIT_MAX)
		return status_fail(ST_MALFORMED, "limit %zu is outside 1..%d",
		    limit, STORE_LIST_LIMIT_MAX);
	return ST_OK;
}

enum status
store_revocations_since(struct store *store, int64_t since_seq, size_t limit,
    store_revocation_fn fn, void *arg)
{
	struct store_revocation r;
	sqlite3_stmt *stmt;
	enum status st;
	int rc;

	if ((st = check_limit(limit)) != ST_OK)
		return st;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_FEED)) == NULL) {
		st = db_fail(store->rdb, "prepare select revocations");
		goto out;
	}
	if (sqlite3_bind_int64(stmt, 1, since_seq) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, (int64_t)limit) != SQLITE_OK) {
		st = db_fail(store->rdb, "select revocations");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.seq = sqlite3_column_int64(stmt, 0);
		r.serial = (const char *)sqlite3_column_text(stmt, 1);
		r.device_id = (const char *)sqlite3_column_text(stmt, 2);
		r.reason = sqlite3_column_int(stmt, 3);
		r.time = sqlite3_column_int64(stmt, 4);
		if (r.serial == NULL) {
			st = status_fail(ST_STORE,
			    "store: revocation %lld has no serial",
			    (long long)r.seq);
			break;
		}
		if (fn(&r, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "select revocations");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_cert_list(struct store *store, const struct store_cert_filter *f,
    store_cert_fn fn, void *arg)
{
	struct store_cert c;
	sqlite3_stmt *stmt;
	enum status st;
	int rc, ok;

	if ((st = check_limit(f->limit)) != ST_OK)
		return st;
	if (f->status != -1 &&
	    (f->status < 0 || f->status >= STORE_CERT_STATUS_MAX))
		return status_fail(ST_MALFORMED,
		    "certificate status %d is not valid, revoked or any",
		    f->status);
	if (f->cursor != NULL && f->cursor[0] != '\0' &&
	    !serial_is_valid(f->cursor))
		return status_fail(ST_MALFORMED,
		    "cursor is not a serial (1 to 40 uppercase hex digits)");
	pthread_mutex_lock(&store->read_lock);
	stmt = rstmt(
	    store, f->device_id != NULL ? R_CERT_LIST_DEVICE : R_CERT_LIST);
	if (stmt == NULL) {
		st = db_fail(store->rdb, "prepare list certificates");
		goto out;
	}
	/* "" sorts before every serial: the first page. */
	ok = bind_text(stmt, 1, f->cursor != NULL ? f->cursor : "") ==
	        SQLITE_OK &&
	    (f->device_id == NULL ||
	        bind_text(stmt, 2, f->device_id) == SQLITE_OK) &&
	    bind_text(stmt, 3,
	        f->status == -1                       ? NULL
	            : f->status == STORE_CERT_REVOKED ? "revoked"
	                                              : "valid") == SQLITE_OK &&
	    bind_text(stmt, 4, f->profile) == SQLITE_OK &&
	    bind_opt_int64(stmt, 5, f->expiring_before != 0,
	        f->expiring_before) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 6, (int64_t)f->limit) == SQLITE_OK;
	if (!ok) {
		st = db_fail(store->rdb, "list certificates");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cert_row(stmt, &c);
		if (fn(&c, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "list certificates");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_device_get(
    struct store *store, const char *device_id, struct store_device *out)
{
	struct store_device d;
	sqlite3_stmt *stmt;
	const unsigned char *status;
	enum status st = ST_OK;

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DEVICE_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select device");
		goto out;
	}
	st = step_row(store->rdb, stmt,
	    bind_text(stmt, 1, device_id) == SQLITE_OK, "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s", device_id);
	if (st != ST_OK)
		goto out;
	status = sqlite3_column_text(stmt, 0);
	d.is_blocked =
	    status != NULL && strcmp((const char *)status, "blocked") == 0;
	d.created = sqlite3_column_int64(stmt, 1);
	d.updated = sqlite3_column_int64(stmt, 2);
	d.cert_count = sqlite3_column_int64(stmt, 3);
	d.valid_count = sqlite3_column_int64(stmt, 4);
	column_copy(stmt, 5, d.family, sizeof(d.family));
	column_copy(stmt, 6, d.authenticator, sizeof(d.authenticator));
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_OK)
		*out = d;
	return st;
}

/* A malloc'ed copy of a blob column; ST_NOMEM, or ST_STORE when empty. */
static enum status
column_blob_dup(sqlite3_stmt *stmt, int i, uint8_t **out, size_t *len)
{
	const void *blob = sqlite3_column_blob(stmt, i);
	int n = sqlite3_column_bytes(stmt, i);

	*out = NULL;
	*len = 0;
	if (blob == NULL || n <= 0)
		return status_fail(ST_STORE, "store: empty DER column");
	if ((*out = malloc((size_t)n)) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	memcpy(*out, blob, (size_t)n);
	*len = (size_t)n;
	return ST_OK;
}

enum status
store_ocsp_get(struct store *store, const char *serial, uint8_t **der,
    size_t *len, int64_t *next_update)
{
	sqlite3_stmt *stmt;
	uint8_t *copy = NULL;
	size_t copy_len = 0;
	int64_t next = 0;
	enum status st = ST_OK;

	*der = NULL;
	*len = 0;
	if (next_update != NULL)
		*next_update = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_OCSP_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select OCSP response");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, serial) == SQLITE_OK,
	    "select OCSP response");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no OCSP response for serial %s",
		    serial != NULL ? serial : "(null)");
	if (st != ST_OK)
		goto out;
	if ((st = column_blob_dup(stmt, 0, &copy, &copy_len)) != ST_OK)
		goto out;
	next = sqlite3_column_int64(stmt, 1);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st != ST_OK) {
		free(copy);
		return st;
	}
	*der = copy;
	*len = copy_len;
	if (next_update != NULL)
		*next_update = next;
	return ST_OK;
}

/*
 * Run the read statement which, with binds (bind_count int64s), and call
 * fn with each row's (serial, time) until it returns non-zero: the work
 * lists of the OCSP refresh and of superseding. what names the query in
 * errors.
 */
static enum status
serial_times_walk(struct store *store, enum rstmt which, const int64_t *binds,
    int bind_count, store_ocsp_due_fn fn, void *arg, const char *what)
{
	sqlite3_stmt *stmt;
	const unsigned char *serial;
	enum status st = ST_OK;
	int i, rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, which)) == NULL) {
		st = db_fail(store->rdb, what);
		goto out;
	}
	for (i = 0; i < bind_count; i++)
		if (sqlite3_bind_int64(stmt, i + 1, binds[i]) != SQLITE_OK) {
			st = db_fail(store->rdb, what);
			goto out;
		}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((serial = sqlite3_column_text(stmt, 0)) == NULL)
			continue;
		if (fn((const char *)serial, sqlite3_column_int64(stmt, 1),
		        arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, what);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_ocsp_due(
    struct store *store, int64_t before, store_ocsp_due_fn fn, void *arg)
{
	return serial_times_walk(store, R_OCSP_DUE, &before, 1, fn, arg,
	    "select due OCSP responses");
}

enum status
store_superseded_due(struct store *store, int64_t now, size_t limit,
    int (*fn)(const char *serial, int64_t at, void *arg), void *arg)
{
	int64_t binds[2] = {now, (int64_t)limit};
	enum status st;

	if ((st = check_limit(limit)) != ST_OK)
		return st;
	return serial_times_walk(
	    store, R_SUPERSEDE_DUE, binds, 2, fn, arg, "select superseded");
}

enum status
store_devices_foreach(struct store *store, store_device_state_fn fn, void *arg)
{
	sqlite3_stmt *stmt;
	const unsigned char *id, *status;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DEVICES)) == NULL) {
		st = db_fail(store->rdb, "prepare select devices");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		id = sqlite3_column_text(stmt, 0);
		status = sqlite3_column_text(stmt, 1);
		if (id == NULL)
			continue;
		if (fn((const char *)id,
		        status != NULL &&
		            strcmp((const char *)status, "blocked") == 0,
		        arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "select devices");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

void
store_crl_free(struct store_crl *crl)
{
	if (crl == NULL)
		return;
	free(crl->der);
	free(crl);
}

enum status
store_crl_get(struct store *store, int shard, struct store_crl **out)
{
	struct store_crl *crl = NULL;
	sqlite3_stmt *stmt;
	enum status st = ST_OK;

	*out = NULL;
	if ((crl = calloc(1, sizeof(*crl))) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CRL_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select CRL");
		goto out;
	}
	st = step_row(store->rdb, stmt,
	    sqlite3_bind_int(stmt, 1, shard) == SQLITE_OK, "select CRL");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no CRL for shard %d", shard);
	if (st != ST_OK)
		goto out;
	crl->shard = shard;
	crl->number = sqlite3_column_int64(stmt, 0);
	crl->this_update = sqlite3_column_int64(stmt, 1);
	crl->next_update = sqlite3_column_int64(stmt, 2);
	st = column_blob_dup(stmt, 3, &crl->der, &crl->der_len);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_OK) {
		*out = crl;
		crl = NULL;
	}
	store_crl_free(crl);
	return st;
}

enum status
store_shard_last_expiry(struct store *store, int shard, int64_t *not_after)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;

	*not_after = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_SHARD_LAST)) == NULL)
		st = db_fail(store->rdb, "prepare shard expiry");
	else if (sqlite3_bind_int(stmt, 1, shard) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		*not_after = sqlite3_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, "shard expiry");
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_txn_cert_revoked_at(
    struct store_txn *txn, const char *serial, int64_t *revoked_at)
{
	sqlite3_stmt *stmt;
	enum status st;

	*revoked_at = -1;
	if ((stmt = wstmt(txn, W_CERT_REVOKED_AT)) == NULL)
		return db_fail(txn->db, "prepare certificate status");
	st = step_row(txn->db, stmt, bind_text(stmt, 1, serial) == SQLITE_OK,
	    "certificate status");
	if (st == ST_OK)
		*revoked_at = sqlite3_column_int64(stmt, 0);
	stmt_reset(stmt);
	return st == ST_NOTFOUND ? ST_OK : st;
}

enum status
store_revocations_last_seq(struct store *store, int64_t *seq)
{
	return read_int64(store, R_FEED_LAST, "last revocation", seq);
}

enum status
store_txn_token_key_add(struct store_txn *txn, const char *label,
    const char *kid, const char *jwk, int64_t now)
{
	sqlite3_stmt *add, *retire;
	enum status st;
	int ok;

	if ((add = wstmt(txn, W_TOKEN_KEY_ADD)) == NULL ||
	    (retire = wstmt(txn, W_TOKEN_KEY_RETIRE)) == NULL)
		return db_fail(txn->db, "prepare add token key");
	ok = bind_text(add, 1, label) == SQLITE_OK &&
	    bind_text(add, 2, kid) == SQLITE_OK &&
	    bind_text(add, 3, jwk) == SQLITE_OK &&
	    sqlite3_bind_int64(add, 4, now) == SQLITE_OK;
	if ((st = stmt_run(txn->db, add, ok, "add token key")) != ST_OK)
		return st;
	/* The newest key signs; the others are retired from now on. */
	if (sqlite3_changes(txn->db) != 1)
		return ST_OK;
	ok = sqlite3_bind_int64(retire, 1, now) == SQLITE_OK &&
	    bind_text(retire, 2, label) == SQLITE_OK;
	return stmt_run(txn->db, retire, ok, "retire token keys");
}

enum status
store_token_keys(struct store *store, int64_t retired_after,
    int (*fn)(const struct store_token_key *key, void *arg), void *arg)
{
	struct store_token_key k;
	sqlite3_stmt *stmt;
	int rc;
	enum status st = ST_OK;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_TOKEN_KEYS)) == NULL) {
		st = db_fail(store->rdb, "prepare list token keys");
		goto out;
	}
	if (sqlite3_bind_int64(stmt, 1, retired_after) != SQLITE_OK) {
		st = db_fail(store->rdb, "list token keys");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		k.label = (const char *)sqlite3_column_text(stmt, 0);
		k.kid = (const char *)sqlite3_column_text(stmt, 1);
		k.jwk = (const char *)sqlite3_column_text(stmt, 2);
		if (k.label == NULL || k.kid == NULL || k.jwk == NULL)
			continue;
		k.created = sqlite3_column_int64(stmt, 3);
		k.retired = sqlite3_column_type(stmt, 4) == SQLITE_NULL
		    ? 0
		    : sqlite3_column_int64(stmt, 4);
		if (fn(&k, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "list token keys");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_secret_list(struct store *store, const struct store_secret_filter *f,
    store_secret_fn fn, void *arg)
{
	struct store_secret s;
	sqlite3_stmt *stmt;
	enum status st;
	int rc, ok;

	if ((st = check_limit(f->limit)) != ST_OK)
		return st;
	if (f->minter_serial != NULL && !serial_is_valid(f->minter_serial))
		return check_serial(f->minter_serial);
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_SECRET_LIST)) == NULL) {
		st = db_fail(store->rdb, "prepare list enrollment secrets");
		goto out;
	}
	ok = secret_match_bind(stmt, f) &&
	    sqlite3_bind_int(stmt, 5, f->is_outstanding != 0) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 6, f->now) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 7, f->after_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 8, (int64_t)f->limit) == SQLITE_OK;
	if (!ok) {
		st = db_fail(store->rdb, "list enrollment secrets");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&s, 0, sizeof(s));
		s.id = sqlite3_column_int64(stmt, 0);
		s.device_id = (const char *)sqlite3_column_text(stmt, 1);
		s.profile = (const char *)sqlite3_column_text(stmt, 2);
		s.minter_kind = (const char *)sqlite3_column_text(stmt, 3);
		s.minter_id = (const char *)sqlite3_column_text(stmt, 4);
		s.minter_serial = (const char *)sqlite3_column_text(stmt, 5);
		s.created = sqlite3_column_int64(stmt, 6);
		s.expires = sqlite3_column_int64(stmt, 7);
		s.consumed_at = sqlite3_column_int64(stmt, 8);
		s.consumed_serial = (const char *)sqlite3_column_text(stmt, 9);
		s.cancelled_at = sqlite3_column_int64(stmt, 10);
		s.cancelled_by = (const char *)sqlite3_column_text(stmt, 11);
		if (s.device_id == NULL || s.profile == NULL) {
			st = status_fail(ST_STORE,
			    "store: enrollment secret %lld has no device",
			    (long long)s.id);
			break;
		}
		if (fn(&s, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "list enrollment secrets");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
