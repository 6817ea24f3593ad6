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

#define SCHEMA_VERSION 1
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
};

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
                      " revoked_at, reason, der, created)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [W_DEVICE_ENSURE] = "INSERT INTO devices (id, status, created, updated)"
                        " VALUES (?, 'active', ?, ?)"
                        " ON CONFLICT (id) DO NOTHING",
    [W_SECRET_INSERT] = "INSERT INTO enrollment_secrets (device_id,"
                        " profile, hash, created, expires)"
                        " VALUES (?, ?, ?, ?, ?)",
    [W_SECRET_SELECT] = "SELECT id, profile, hash, expires,"
                        " consumed_at IS NOT NULL"
                        " FROM enrollment_secrets WHERE device_id = ?",
    [W_SECRET_CONSUME] = "UPDATE enrollment_secrets"
                         " SET consumed_at = ?, consumed_serial = ?"
                         " WHERE id = ? AND consumed_at IS NULL",
    [W_AUDIT_LAST] = "SELECT seq, hash FROM audit"
                     " ORDER BY seq DESC LIMIT 1",
    [W_AUDIT_INSERT] = "INSERT INTO audit (seq, time, actor, action,"
                       " object, detail, prev_hash, hash)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
};

/* Statements of the read connection. */
enum rstmt {
	R_CERT_EXISTS,
	R_CERT_GET,
	R_CERT_COUNT,
	R_AUDIT,
	R_SECRET_SELECT,
	R_MAX
};

static const char *const rsql[R_MAX] = {
    [R_CERT_EXISTS] = "SELECT 1 FROM certificates WHERE serial = ?",
    [R_CERT_GET] = "SELECT serial, issuer, subject, device_id, profile,"
                   " not_before, not_after, status, revoked_at, reason,"
                   " der, created FROM certificates WHERE serial = ?",
    [R_CERT_COUNT] = "SELECT count(*) FROM certificates",
    [R_SECRET_SELECT] = "SELECT id, profile, hash, expires,"
                        " consumed_at IS NOT NULL"
                        " FROM enrollment_secrets WHERE device_id = ?",
    [R_AUDIT] = "SELECT seq, time, actor, action, object, detail,"
                " prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq",
};

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

enum status
store_txn_cert_insert(struct store_txn *txn, const struct store_cert *cert)
{
	sqlite3_stmt *stmt;
	enum status st;
	int rc, ok, is_revoked;

	if (!serial_is_valid(cert->serial))
		return status_fail(ST_MALFORMED,
		    "certificate serial is not 1 to 40 uppercase hex digits");
	if (cert->der == NULL || cert->der_len == 0 ||
	    cert->der_len > INT32_MAX)
		return status_fail(
		    ST_MALFORMED, "certificate %s has no DER", cert->serial);
	if ((unsigned)cert->status >= STORE_CERT_STATUS_MAX)
		return status_fail(ST_INTERNAL, "certificate %s has status %d",
		    cert->serial, cert->status);
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
	    sqlite3_bind_int64(stmt, 12, cert->created) == SQLITE_OK;
	rc = ok ? sqlite3_step(stmt) : SQLITE_ERROR;
	if (rc == SQLITE_DONE)
		st = ST_OK;
	else if (sqlite3_extended_errcode(txn->db) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY)
		st = status_fail(ST_CONFLICT,
		    "certificate serial %s exists already", cert->serial);
	else
		st = db_fail(txn->db, "insert certificate");
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return st;
}

enum status
store_txn_device_ensure(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;

	if ((stmt = wstmt(txn, W_DEVICE_ENSURE)) == NULL)
		return db_fail(txn->db, "prepare insert device");
	if (bind_text(stmt, 1, device_id) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, now) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 3, now) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_DONE)
		st = db_fail(txn->db, "insert device");
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return st;
}

enum status
store_txn_secret_insert(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t expires, int64_t now)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;

	if ((stmt = wstmt(txn, W_SECRET_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert enrollment secret");
	if (bind_text(stmt, 1, device_id) != SQLITE_OK ||
	    bind_text(stmt, 2, profile) != SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 3, hash, HASH_LEN, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 4, now) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 5, expires) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_DONE)
		st = db_fail(txn->db, "insert enrollment secret");
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return st;
}

/* How good a secret row whose hash matched is; the best one is used. */
enum secret_fit { FIT_NONE, FIT_USED, FIT_EXPIRED, FIT_PROFILE, FIT_OK };

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
		if (sqlite3_column_int(sel, 4) != 0)
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
	sqlite3_reset(sel);
	sqlite3_clear_bindings(sel);
	return st;
}

enum status
store_txn_secret_consume(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial)
{
	sqlite3_stmt *sel, *upd;
	int64_t best_id;
	enum status st;

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
	if (sqlite3_bind_int64(upd, 1, now) != SQLITE_OK ||
	    bind_text(upd, 2, serial) != SQLITE_OK ||
	    sqlite3_bind_int64(upd, 3, best_id) != SQLITE_OK ||
	    sqlite3_step(upd) != SQLITE_DONE) {
		st = db_fail(txn->db, "consume enrollment secret");
		goto out;
	}
	if (sqlite3_changes(txn->db) != 1) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was already used",
		    device_id);
		goto out;
	}
out:
	sqlite3_reset(upd);
	sqlite3_clear_bindings(upd);
	return st;
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
	enum status st = ST_OK;

	if ((stmt = wstmt(txn, W_AUDIT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert audit entry");
	if (sqlite3_bind_int64(stmt, 1, entry->seq) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, entry->time) != SQLITE_OK ||
	    bind_text(stmt, 3, entry->actor ? entry->actor : "") != SQLITE_OK ||
	    bind_text(stmt, 4, entry->action ? entry->action : "") !=
	        SQLITE_OK ||
	    bind_text(stmt, 5, entry->object ? entry->object : "") !=
	        SQLITE_OK ||
	    bind_text(stmt, 6, entry->detail ? entry->detail : "") !=
	        SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 7, entry->prev_hash, HASH_LEN,
	        SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 8, entry->hash, HASH_LEN, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_DONE)
		st = db_fail(txn->db, "insert audit entry");
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
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

/* Bring the schema up to SCHEMA_VERSION in one transaction. */
static enum status
schema_migrate(sqlite3 *db)
{
	sqlite3_stmt *stmt = NULL;
	enum status st;
	int version, v;

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
	if (version == SCHEMA_VERSION)
		goto out;
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
	if ((st = schema_migrate(db)) != ST_OK)
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
	free(store);
}

int
store_cert_exists(struct store *store, const char *serial)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_EXISTS)) == NULL) {
		db_fail(store->rdb, "prepare select certificate");
		ret = -1;
		goto out;
	}
	if (bind_text(stmt, 1, serial) != SQLITE_OK) {
		db_fail(store->rdb, "select certificate");
		ret = -1;
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		db_fail(store->rdb, "select certificate");
		ret = -1;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
out:
	pthread_mutex_unlock(&store->read_lock);
	return ret;
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

enum status
store_cert_get(struct store *store, const char *serial, struct store_cert **out)
{
	struct store_cert *cert = NULL;
	sqlite3_stmt *stmt = NULL;
	const unsigned char *status;
	const void *der;
	enum status st = ST_OK;
	int rc, is_oom = 0;

	*out = NULL;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select certificate");
		goto out;
	}
	if (bind_text(stmt, 1, serial) != SQLITE_OK) {
		st = db_fail(store->rdb, "select certificate");
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		st = status_fail(ST_NOTFOUND, "no certificate with serial %s",
		    serial != NULL ? serial : "(null)");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		st = db_fail(store->rdb, "select certificate");
		goto out;
	}
	if ((cert = calloc(1, sizeof(*cert))) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	snprintf(cert->serial, sizeof(cert->serial), "%s",
	    (const char *)sqlite3_column_text(stmt, 0));
	cert->issuer = column_strdup(stmt, 1, &is_oom);
	cert->subject = column_strdup(stmt, 2, &is_oom);
	cert->device_id = column_strdup(stmt, 3, &is_oom);
	cert->profile = column_strdup(stmt, 4, &is_oom);
	cert->not_before = sqlite3_column_int64(stmt, 5);
	cert->not_after = sqlite3_column_int64(stmt, 6);
	status = sqlite3_column_text(stmt, 7);
	cert->status =
	    status != NULL && strcmp((const char *)status, "revoked") == 0
	    ? STORE_CERT_REVOKED
	    : STORE_CERT_VALID;
	cert->revoked_at = sqlite3_column_int64(stmt, 8);
	cert->reason = sqlite3_column_type(stmt, 9) == SQLITE_NULL
	    ? -1
	    : sqlite3_column_int(stmt, 9);
	der = sqlite3_column_blob(stmt, 10);
	cert->der_len = (size_t)sqlite3_column_bytes(stmt, 10);
	if (der != NULL && cert->der_len > 0) {
		if ((cert->der = malloc(cert->der_len)) == NULL)
			is_oom = 1;
		else
			memcpy(cert->der, der, cert->der_len);
	} else {
		cert->der_len = 0;
	}
	cert->created = sqlite3_column_int64(stmt, 11);
	if (is_oom) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	if (stmt != NULL) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	pthread_mutex_unlock(&store->read_lock);
	store_cert_free(cert);
	return st;
}

enum status
store_cert_count(struct store *store, int64_t *count)
{
	sqlite3_stmt *stmt;
	enum status st = ST_OK;
	int64_t n = 0;

	*count = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_COUNT)) == NULL) {
		st = db_fail(store->rdb, "prepare count certificates");
		goto out;
	}
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, "count certificates");
	sqlite3_reset(stmt);
out:
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_OK)
		*count = n;
	return st;
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
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
out:
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
