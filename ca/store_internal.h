/*
 * The store's insides, shared by the files that make it up and by no one
 * else. Nothing here includes a database's own header: that is left to the
 * backends behind ca/store_db.h.
 *
 *   store_db.c      the calls to a connection, passed to its backend:
 *   store_db_sqlite.c   SQLite
 *   store_db_pg.c       PostgreSQL (libpq)
 *   store.c         the core: connections, the writer thread and its group
 *                   commit, store_write, the statement helpers below
 *   store_sql.c     the SQL text of every prepared statement (wsql, rsql)
 *   store_schema.c  schema versions and migrations, check, backup
 *   store_cert.c    certificates and devices
 *   store_secret.c  enrollment secrets
 *   store_revoke.c  revocations and publication: the feed, OCSP, CRLs
 *   store_audit.c   the audit log
 *   store_token.c   token-signing keys
 */
#ifndef TESSERA_CA_STORE_INTERNAL_H
#define TESSERA_CA_STORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "common/status.h"

/* The same capacity as the thread-local detail line in common/status.c. */
#define JOB_DETAIL_CAP 512
#define HASH_LEN 32

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
	W_AUDIT_LOCK,
	W_MAX
};

/* The SQL of each write statement in db's dialect (store_sql.c). */
const char *store_wsql(const struct db *db, enum wstmt s);

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
	R_CERT_LIST_PROFILE,
	R_DEVICE_GET,
	R_OCSP_GET,
	R_OCSP_DUE,
	R_CRL_GET,
	R_SHARD_LAST,
	R_SUPERSEDE_DUE,
	R_SECRET_LIST,
	R_DEVICES,
	R_DATA_VERSION,
	R_PUB_VERSION,
	R_MAX
};

/* The SQL of each read statement in db's dialect (store_sql.c). */
const char *store_rsql(const struct db *db, enum rstmt s);

/* The writer's connection as handed to job functions. */
struct store_txn {
	struct db *db;
	struct db_stmt *stmt[W_MAX];
};

/* One store_write call (on the caller's stack until is_done is set) or
 * store_write_async call (allocated, freed after done). */
struct job {
	store_txn_fn fn;
	void *arg;
	enum status st;
	int is_done;
	uint64_t queued_us; /* when it was queued (CLOCK_MONOTONIC) */
	store_done_fn done; /* store_write_async: called after the commit */
	void *done_arg;
	char detail[JOB_DETAIL_CAP];
	struct job *next;
};

struct store {
	/* The committing thread's only (is_committing, below). */
	struct store_txn txn;
	char *path; /* for private read connections */

	pthread_mutex_t read_lock; /* guards rdb and rstmt */
	struct db *rdb;
	struct db_stmt *rstmt[R_MAX];

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake; /* for the writer thread: its work, or closing */
	pthread_cond_t done; /* a batch finished (or the sandbox entered) */
	struct job *head, *tail;
	int is_closing;
	int waiters; /* threads inside store_write */
	/*
	 * A batch is being run, by committer: the writer thread, or a
	 * caller of store_write that found nobody committing and runs the
	 * queue itself (so a write alone costs no hand-over between
	 * threads); the others queue meanwhile and the next batch takes
	 * them all.
	 */
	int is_committing;
	pthread_t committer;
	size_t async_queued; /* store_write_async jobs in head..tail */
	/* store_sandbox_enter: the writer thread enters sandbox, then
	 * sandbox_st is set and sandbox is NULL again. */
	struct sandbox *sandbox;
	enum status sandbox_st;
	char sandbox_detail[JOB_DETAIL_CAP];
	struct metrics *metrics; /* borrowed; NULL: none */
	size_t queued; /* jobs in head..tail */
	struct store_stats stats;

	int lock_fd; /* the SQLite writer lock (path-writer); -1: none */
	/*
	 * SQLite: the count of commits of every process that writes this
	 * store, the first 8 bytes of path-writer mapped shared; each writer
	 * adds one after its transaction, before any of its jobs returns.
	 * NULL: none (PostgreSQL). store_data_changed reads it with one
	 * atomic load; the read connection's data_version is asked only
	 * once a second beside it (a program that is not tessera writing).
	 */
	uint64_t *commits;
	uint64_t dv_seen; /* data_version at the last look (read_lock) */
	uint64_t dv_moves; /* times it moved (atomic) */
	int64_t dv_next_ms; /* when to look again (atomic) */

	/* PostgreSQL: the session that holds the scheduler's advisory lock
	 * (store_leader.c), guarded by leader_lock. */
	pthread_mutex_t leader_lock;
	struct db *leader_db;
	int is_leader;

	pthread_t writer;
	int has_writer;
};

/* Record a SQLite failure on db as ST_STORE "store: what: message". */
enum status db_fail(struct db *db, const char *what);
/* Run SQL without results (pragmas, migrations). */
enum status
db_exec(struct db *db, const char *sql, const char *what) MUST_CHECK;
/* The writer's statement s, prepared on first use; NULL after a failure. */
struct db_stmt *wstmt(struct store_txn *txn, enum wstmt s);
/* The read connection's statement s; the caller holds read_lock. */
struct db_stmt *rstmt(struct store *store, enum rstmt s);
/* Run one of the writer's control statements (BEGIN, SAVEPOINT, ...). */
enum status txn_control(struct store_txn *txn, enum wstmt s) MUST_CHECK;
/* Serials are uppercase hex without separators, at most 40 digits. */
int serial_is_valid(const char *serial);
enum status check_serial(const char *serial) MUST_CHECK;
/* 1..STORE_LIST_LIMIT_MAX rows per call. */
enum status check_limit(size_t limit) MUST_CHECK;
/* Bind text or NULL; the statement is reset before the string goes away. */
int bind_text(struct db_stmt *stmt, int i, const char *s);
/* A copy of a text column, NULL for SQL NULL; *is_oom on failure. */
char *column_strdup(struct db_stmt *stmt, int i, int *is_oom);
/* Done with stmt: reset it and drop its bindings. NULL accepted. */
void stmt_reset(struct db_stmt *stmt);
/* Run a bound statement without rows, then reset it. */
enum status stmt_run(struct db *db, struct db_stmt *stmt, int is_bound,
    const char *what) MUST_CHECK;
/* Step a bound lookup to its row: ST_OK, ST_NOTFOUND or ST_STORE. */
enum status step_row(struct db *db, struct db_stmt *stmt, int is_bound,
    const char *what) MUST_CHECK;
/* The one integer of read statement s, which takes no parameters. */
enum status read_int64(struct store *store, enum rstmt s, const char *what,
    int64_t *out) MUST_CHECK;
/* Call fn with each (serial, time) row of read statement which. */
enum status serial_times_walk(struct store *store, enum rstmt which,
    const int64_t *binds, int bind_count, store_ocsp_due_fn fn, void *arg,
    const char *what) MUST_CHECK;
/* Bring the writer connection's schema up to date (store_schema.c). */
enum status schema_migrate(struct db *db, const char *path) MUST_CHECK;

#endif
