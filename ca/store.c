/*
 * store: SQLite in WAL mode with synchronous=FULL. The write connection
 * runs one batch at a time (group commit): the queued jobs in one
 * transaction, each in its own savepoint, run by a caller of store_write
 * that found nobody committing (so a write alone costs no hand-over to
 * another thread and back) or by the writer thread, which runs what
 * store_write_async queued. Reads go through a separate read-only
 * connection behind a mutex.
 *
 * Several processes (the workers of one tessera serve, an admin command)
 * each have a store on the same SQLite file. Their writers take turns
 * through a lock on a file beside the database (the writer lock), and a
 * writer takes its batch off the queue only once it holds that lock:
 * whatever queued while another process was committing goes into this one
 * transaction. SQLite's own busy handler would instead poll with sleeps of
 * 1 to 100 ms, and one process could take the lock again and again ahead
 * of a sleeper. PostgreSQL needs no such lock: its writers run side by
 * side and the server groups their WAL flushes.
 *
 * This file is the core (connections, the writer, the statement helpers);
 * the tables' operations live in the other store_*.c files, named in
 * store_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "ca/store_internal.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sandbox.h"
#include "common/status.h"

/* BEGIN/COMMIT still busy after a full busy timeout: tries in all. */
#define BUSY_TRIES 3

/*
 * Record a failure on db as ST_STORE "store: what: message", or as
 * ST_UNAVAILABLE when the database cannot be reached (PostgreSQL down or
 * restarting): that passes, and a client may try again.
 */
enum status
db_fail(struct db *db, const char *what)
{
	if (db != NULL && db_is_disconnected(db))
		return status_fail(ST_UNAVAILABLE,
		    "store: %s: the database is unreachable: %s", what,
		    db_errmsg(db));
	return status_fail(ST_STORE, "store: %s: %s", what,
	    db != NULL ? db_errmsg(db) : "out of memory");
}

/* Run SQL without results (pragmas, migrations). */
enum status
db_exec(struct db *db, const char *sql, const char *what)
{
	if (db_exec_sql(db, sql) != DB_OK)
		return db_fail(db, what);
	return ST_OK;
}

/* The writer's statement s, prepared on first use; NULL after a failure. */
struct db_stmt *
wstmt(struct store_txn *txn, enum wstmt s)
{
	if (txn->stmt[s] == NULL &&
	    db_prepare(txn->db, store_wsql(txn->db, s), 1, &txn->stmt[s]) !=
	        DB_OK) {
		txn->stmt[s] = NULL;
		return NULL;
	}
	return txn->stmt[s];
}

struct db_stmt *
rstmt(struct store *store, enum rstmt s)
{
	if (store->rstmt[s] == NULL &&
	    db_prepare(store->rdb, store_rsql(store->rdb, s), 1,
	        &store->rstmt[s]) != DB_OK) {
		store->rstmt[s] = NULL;
		return NULL;
	}
	return store->rstmt[s];
}

/*
 * Step a statement without rows (or whose rows are not wanted) once,
 * retrying DB_BUSY for BEGIN and COMMIT beyond the busy handler, which
 * already waited its timeout. Returns the db_rc; the
 * statement is reset.
 */
static int
step_done(struct db_stmt *stmt)
{
	int rc, tries = 0;

	do {
		rc = db_step(stmt);
		db_reset(stmt);
	} while (rc == DB_BUSY && ++tries < BUSY_TRIES);
	if (rc == DB_ROW)
		rc = DB_DONE;
	return rc;
}

/* Run one of the writer's control statements (BEGIN, SAVEPOINT, ...). */
enum status
txn_control(struct store_txn *txn, enum wstmt s)
{
	struct db_stmt *stmt;

	if ((stmt = wstmt(txn, s)) == NULL)
		return db_fail(txn->db, store_wsql(txn->db, s));
	if (step_done(stmt) != DB_DONE)
		return db_fail(txn->db, store_wsql(txn->db, s));
	return ST_OK;
}

/* Serials are uppercase hex without separators, at most 40 digits. */
int
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

enum status
check_serial(const char *serial)
{
	if (!serial_is_valid(serial))
		return status_fail(ST_MALFORMED,
		    "certificate serial is not 1 to 40 uppercase hex digits");
	return ST_OK;
}

/* Bind text or NULL; the statement is reset before the string goes away. */
int
bind_text(struct db_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		return db_bind_null(stmt, i);
	return db_bind_text(stmt, i, s);
}

/* A copy of a text column, NULL for SQL NULL; *is_oom on failure. */
char *
column_strdup(struct db_stmt *stmt, int i, int *is_oom)
{
	const unsigned char *s;
	char *copy;

	if ((s = db_column_text(stmt, i)) == NULL) {
		if (!db_column_is_null(stmt, i))
			*is_oom = 1;
		return NULL;
	}
	if ((copy = strdup((const char *)s)) == NULL)
		*is_oom = 1;
	return copy;
}

/* Done with stmt: reset it and drop its bindings. NULL accepted. */
void
stmt_reset(struct db_stmt *stmt)
{
	if (stmt == NULL)
		return;
	db_reset(stmt);
}

/*
 * Run a statement without rows whose parameters were bound (is_bound), then
 * reset it. The detail is taken before the reset; db_changes() still
 * counts the rows it changed.
 */
enum status
stmt_run(struct db *db, struct db_stmt *stmt, int is_bound, const char *what)
{
	enum status st = ST_OK;

	if (!is_bound || db_step(stmt) != DB_DONE)
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
enum status
step_row(struct db *db, struct db_stmt *stmt, int is_bound, const char *what)
{
	int rc;

	if (!is_bound)
		return db_fail(db, what);
	if ((rc = db_step(stmt)) == DB_ROW)
		return ST_OK;
	if (rc == DB_DONE)
		return ST_NOTFOUND;
	return db_fail(db, what);
}

int64_t
store_txn_last_id(struct store_txn *txn)
{
	int64_t id = 0;

	if (db_last_insert_id(txn->db, &id) != ST_OK)
		return 0;
	return id;
}

/* How a transaction that broke fails its jobs: the database went away
 * (PostgreSQL restarting, failing over) or something else. */
static enum status
broken_st(struct store_txn *txn)
{
	return db_is_disconnected(txn->db) ? ST_UNAVAILABLE : ST_STORE;
}

/*
 * Run one batch: BEGIN IMMEDIATE, each job in its savepoint, COMMIT. Sets
 * every job's st and detail. Runs on the committing thread without the
 * lock.
 */
static void
writer_batch(struct store *store, struct job *batch)
{
	struct store_txn *txn = &store->txn;
	struct job *j;
	char why[JOB_DETAIL_CAP];
	enum status st, fail_st;
	int is_broken = 0;

	status_clear();
	if ((st = txn_control(txn, W_BEGIN)) != ST_OK) {
		for (j = batch; j != NULL; j = j->next) {
			j->st = st;
			snprintf(j->detail, sizeof(j->detail), "%s",
			    status_detail());
		}
		return;
	}
	for (j = batch; j != NULL; j = j->next) {
		status_clear();
		if (is_broken) {
			j->st = status_fail(broken_st(txn),
			    "store: an earlier job broke the transaction");
		} else if ((st = txn_control(txn, W_SAVEPOINT)) != ST_OK) {
			j->st = st;
			is_broken = 1;
		} else if ((j->st = j->fn(txn, j->arg)) == ST_OK) {
			/* ST_UNAVAILABLE when the connection went (503). */
			if ((st = txn_control(txn, W_RELEASE)) != ST_OK) {
				j->st = st;
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
		if (db_get_autocommit(txn->db))
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
	fail_st = broken_st(txn);
	snprintf(why, sizeof(why), "%s", status_detail());
	log_error("%s", why);
	if (!db_get_autocommit(txn->db) &&
	    txn_control(txn, W_ROLLBACK) != ST_OK)
		log_error("%s", status_detail());
	/*
	 * Nothing of this batch was handed out. A job that failed by itself
	 * keeps its own reason; the others learn that the commit failed:
	 * ST_UNAVAILABLE (503, try again) when the connection was lost, for
	 * a COMMIT whose answer was lost may have committed all the same
	 * (a retry then finds the secret used or the certificate revoked).
	 */
	for (j = batch; j != NULL; j = j->next) {
		if (j->st != ST_OK)
			continue;
		j->st = fail_st;
		snprintf(j->detail, sizeof(j->detail), "%s", why);
	}
}

/* Microseconds on the monotonic clock. */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Take (LOCK_EX) or give back (LOCK_UN) the writer lock. Without it the
 * writers only lose their turns: BEGIN IMMEDIATE still keeps them apart.
 */
static void
writer_lock(struct store *store, int op)
{
	if (store->lock_fd == -1)
		return;
	while (flock(store->lock_fd, op) == -1) {
		if (errno != EINTR) {
			log_warn("store: writer lock: %s", strerror(errno));
			return;
		}
	}
}

/* Count one transaction of n jobs, queued..committed as measured. */
static void
stats_add(struct store *store, const struct job *batch, size_t n,
    uint64_t asked, uint64_t locked, uint64_t committed)
{
	struct store_stats *s = &store->stats;
	const struct job *j;

	s->commits++;
	s->jobs += n;
	s->group_last = n;
	if (n > s->group_max)
		s->group_max = n;
	s->lock_wait_us_total += locked - asked;
	s->commit_us_last = committed - locked;
	s->commit_us_total += committed - locked;
	if (committed - locked > s->commit_us_max)
		s->commit_us_max = committed - locked;
	for (j = batch; j != NULL; j = j->next)
		s->job_us_total += committed - j->queued_us;
}

/*
 * Run one batch: wait for the other processes' writers with the queue
 * open, then take what queued meanwhile (one fsync for them all), run it,
 * mark its jobs done and run the async ones' done. Called with store->lock
 * held, nobody committing and head set; returns with it held. Only the
 * committing thread takes jobs off, so head stays set meanwhile.
 */
static void
commit_round(struct store *store)
{
	struct job *batch, *last, *async, **tail;
	uint64_t asked, locked, committed;
	size_t n;

	store->is_committing = 1;
	store->committer = pthread_self();
	pthread_mutex_unlock(&store->lock);
	asked = now_us();
	writer_lock(store, LOCK_EX);
	locked = now_us();
	pthread_mutex_lock(&store->lock);
	batch = last = store->head;
	for (n = 1; n < LIMIT_GROUP_COMMIT && last->next != NULL; n++)
		last = last->next;
	store->head = last->next;
	if (store->head == NULL)
		store->tail = NULL;
	store->queued -= n;
	last->next = NULL;
	pthread_mutex_unlock(&store->lock);

	writer_batch(store, batch);
	/* Before any job of the batch returns: a reader that starts after it
	 * sees the count moved (store_data_changed). */
	if (store->commits != NULL)
		__atomic_add_fetch(store->commits, 1, __ATOMIC_RELEASE);
	writer_lock(store, LOCK_UN);
	committed = now_us();
	metrics_commit_observe(
	    __atomic_load_n(&store->metrics, __ATOMIC_ACQUIRE),
	    (int64_t)(committed - locked) * 1000, n);

	pthread_mutex_lock(&store->lock);
	stats_add(store, batch, n, asked, locked, committed);
	async = NULL;
	tail = &async;
	while (batch != NULL) {
		/* A store_write job may be gone once is_done is seen. */
		last = batch->next;
		if (batch->done != NULL) {
			batch->next = NULL;
			*tail = batch;
			tail = &batch->next;
			store->async_queued--;
		} else
			batch->is_done = 1;
		batch = last;
	}
	store->is_committing = 0;
	/* The waiting writers: theirs done, or one of them runs the next. */
	pthread_cond_broadcast(&store->done);
	/* Queued async jobs have no caller waiting: the writer thread. */
	if (store->async_queued > 0 || store->is_closing)
		pthread_cond_signal(&store->wake);
	pthread_mutex_unlock(&store->lock);
	/* The transaction is durable: the callbacks may hand out. */
	while (async != NULL) {
		last = async->next;
		async->done(async->st, async->detail, async->done_arg);
		free(async);
		async = last;
	}
	pthread_mutex_lock(&store->lock);
}

/*
 * The writer thread: the batches that store_write_async queued (no caller
 * waits to run them), and the sandbox for itself. A store_write runs its
 * batch on its own thread when nobody is committing.
 */
static void *
writer_main(void *arg)
{
	struct store *store = arg;

	pthread_mutex_lock(&store->lock);
	for (;;) {
		if (store->sandbox != NULL) {
			status_clear();
			store->sandbox_st = sandbox_enter(store->sandbox);
			snprintf(store->sandbox_detail,
			    sizeof(store->sandbox_detail), "%s",
			    status_detail());
			store->sandbox = NULL;
			pthread_cond_broadcast(&store->done);
		} else if (store->async_queued > 0 && !store->is_committing)
			commit_round(store);
		else if (store->is_closing && store->async_queued == 0)
			break;
		else
			pthread_cond_wait(&store->wake, &store->lock);
	}
	pthread_mutex_unlock(&store->lock);
	return NULL;
}

/* Queue job (its fn, arg, done set); store->lock is held. */
static enum status
job_queue(struct store *store, struct job *job)
{
	if (store->is_closing)
		return status_fail(ST_STORE, "store: closing");
	job->queued_us = now_us();
	if (store->tail != NULL)
		store->tail->next = job;
	else
		store->head = job;
	store->tail = job;
	store->queued++;
	if (job->done != NULL) {
		store->async_queued++;
		pthread_cond_signal(&store->wake);
	}
	return ST_OK;
}

enum status
store_write(struct store *store, store_txn_fn fn, void *arg)
{
	struct job job;
	enum status st;

	memset(&job, 0, sizeof(job));
	job.fn = fn;
	job.arg = arg;
	pthread_mutex_lock(&store->lock);
	if (store->is_committing &&
	    pthread_equal(pthread_self(), store->committer)) {
		pthread_mutex_unlock(&store->lock);
		return status_fail(
		    ST_INTERNAL, "store_write called from inside a store job");
	}
	if ((st = job_queue(store, &job)) != ST_OK) {
		pthread_mutex_unlock(&store->lock);
		return st;
	}
	store->waiters++;
	while (!job.is_done) {
		/* Nobody committing: this thread runs the queue, its own job
		 * and whatever queued before it. */
		if (!store->is_committing && store->head != NULL)
			commit_round(store);
		else
			pthread_cond_wait(&store->done, &store->lock);
	}
	/* store_close waits for the last waiter before freeing the lock. */
	if (--store->waiters == 0 && store->is_closing)
		pthread_cond_broadcast(&store->done);
	pthread_mutex_unlock(&store->lock);
	if (job.st != ST_OK)
		return status_fail(job.st, "%s", job.detail);
	return ST_OK;
}

enum status
store_write_async(struct store *store, store_txn_fn fn, void *arg,
    store_done_fn done, void *done_arg)
{
	struct job *job;
	enum status st;

	if (done == NULL)
		return status_fail(
		    ST_INTERNAL, "store_write_async without done");
	if ((job = calloc(1, sizeof(*job))) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	job->fn = fn;
	job->arg = arg;
	job->done = done;
	job->done_arg = done_arg;
	pthread_mutex_lock(&store->lock);
	st = job_queue(store, job);
	pthread_mutex_unlock(&store->lock);
	if (st != ST_OK)
		free(job);
	return st;
}

void
store_set_metrics(struct store *store, struct metrics *m)
{
	/* The writer thread reads it without the lock. */
	__atomic_store_n(&store->metrics, m, __ATOMIC_RELEASE);
}

void
store_stats(struct store *store, struct store_stats *out)
{
	pthread_mutex_lock(&store->lock);
	*out = store->stats;
	out->queued = store->queued;
	pthread_mutex_unlock(&store->lock);
}

/*
 * Open the writer lock of a SQLite store, path-writer (mode 0600; its
 * flock is the writers' turn, its first 8 bytes the count of their
 * commits, mapped shared into *commits); none for PostgreSQL. A file of
 * its own, never the database: closing any descriptor of the database
 * would drop SQLite's POSIX locks on it.
 */
static enum status
writer_lock_open(const char *path, int *fd, uint64_t **commits)
{
	char name[4096];
	struct stat sb;
	void *m;
	int n;

	*fd = -1;
	*commits = NULL;
	if (db_target_is_pg(path))
		return ST_OK;
	n = snprintf(name, sizeof(name), "%s-writer", path);
	if (n < 0 || (size_t)n >= sizeof(name))
		return status_fail(ST_LIMIT, "store path is too long");
	*fd = open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd == -1)
		return status_fail(
		    ST_STORE, "store: open %s: %s", name, strerror(errno));
	/* Only ever grown (a file older tessera made is empty), never cut:
	 * another process may have it mapped. */
	if (fstat(*fd, &sb) != 0 ||
	    (sb.st_size < (off_t)sizeof(uint64_t) &&
	        ftruncate(*fd, sizeof(uint64_t)) != 0))
		return status_fail(
		    ST_STORE, "store: size %s: %s", name, strerror(errno));
	m = mmap(
	    NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (m == MAP_FAILED)
		return status_fail(
		    ST_STORE, "store: map %s: %s", name, strerror(errno));
	*commits = m;
	return ST_OK;
}

/* The writer connection: durable commits, the schema up to date. */
static enum status
writer_open(const char *path, struct db **out)
{
	struct db *db = NULL;
	enum status st;

	*out = NULL;
	if ((st = db_open(path, DB_OPEN_WRITER, &db)) != ST_OK)
		goto out;
	if ((st = schema_migrate(db, path)) != ST_OK)
		goto out;
	*out = db;
	db = NULL;
out:
	db_close(db);
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
	store->leader_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	store->wake = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	store->done = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	store->lock_fd = -1;
	if ((store->path = strdup(path)) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	if ((st = writer_open(path, &store->txn.db)) != ST_OK)
		goto out;
	/* After the writer connection, which creates the file mode 0600. */
	if ((st = writer_lock_open(path, &store->lock_fd, &store->commits)) !=
	    ST_OK)
		goto out;
	if ((st = db_open(path, DB_OPEN_READONLY, &store->rdb)) != ST_OK)
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

enum status
store_sandbox_allow(struct store *store, struct sandbox *sb)
{
	return db_sandbox_allow(store->path, sb);
}

enum status
store_sandbox_enter(struct store *store, struct sandbox *sb)
{
	enum status st;

	/* The writer thread enters for itself (Landlock binds a thread). */
	pthread_mutex_lock(&store->lock);
	while (store->sandbox != NULL)
		pthread_cond_wait(&store->done, &store->lock);
	store->sandbox = sb;
	store->sandbox_st = ST_INTERNAL;
	pthread_cond_signal(&store->wake);
	while (store->sandbox == sb)
		pthread_cond_wait(&store->done, &store->lock);
	if ((st = store->sandbox_st) != ST_OK)
		st = status_fail(st, "%s", store->sandbox_detail);
	pthread_mutex_unlock(&store->lock);
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
		db_finalize(store->txn.stmt[i]);
	for (i = 0; i < R_MAX; i++)
		db_finalize(store->rstmt[i]);
	db_close(store->rdb);
	db_close(store->txn.db);
	if (store->commits != NULL)
		munmap(store->commits, sizeof(uint64_t));
	if (store->lock_fd != -1)
		close(store->lock_fd);
	pthread_cond_destroy(&store->done);
	pthread_cond_destroy(&store->wake);
	db_close(store->leader_db);
	pthread_mutex_destroy(&store->leader_lock);
	pthread_mutex_destroy(&store->read_lock);
	pthread_mutex_destroy(&store->lock);
	free(store->path);
	free(store);
}

/* The one integer of read statement s, which takes no parameters. */
enum status
read_int64(struct store *store, enum rstmt s, const char *what, int64_t *out)
{
	struct db_stmt *stmt;
	enum status st = ST_OK;

	*out = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, s)) == NULL)
		st = status_fail(ST_STORE, "store: prepare %s: %s", what,
		    db_errmsg(store->rdb));
	else if (db_step(stmt) == DB_ROW)
		*out = db_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, what);
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

/* CLOCK_MONOTONIC in milliseconds. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The read connection's data_version; 0 when it cannot be read, or (with
 * is_try) when another thread holds the read connection.
 */
static uint64_t
data_version(struct store *store, int is_try)
{
	struct db_stmt *stmt;
	uint64_t v = 0;

	if (is_try) {
		if (pthread_mutex_trylock(&store->read_lock) != 0)
			return 0;
	} else
		pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DATA_VERSION)) != NULL &&
	    db_step(stmt) == DB_ROW)
		v = (uint64_t)db_column_int64(stmt, 0);
	stmt_reset(stmt);
	if (v != 0 && v != store->dv_seen) {
		store->dv_seen = v;
		__atomic_add_fetch(&store->dv_moves, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&store->read_lock);
	return v;
}

/*
 * Once a second at most: has data_version moved since the last look?
 * Then dv_moves counts it, so that a commit made by a program that does
 * not count its commits (sqlite3 by hand) is seen within about a second.
 * Never waits for the read connection (a long read may hold it): busy,
 * the next call looks.
 */
static uint64_t
data_version_moves(struct store *store)
{
	int64_t now = now_ms(),
	        next = __atomic_load_n(&store->dv_next_ms, __ATOMIC_RELAXED);

	if (now >= next &&
	    __atomic_compare_exchange_n(&store->dv_next_ms, &next, now + 1000,
	        0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
	    data_version(store, 1) == 0)
		__atomic_store_n(&store->dv_next_ms, now, __ATOMIC_RELAXED);
	return __atomic_load_n(&store->dv_moves, __ATOMIC_ACQUIRE);
}

int
store_data_changed(struct store *store, uint64_t *seen)
{
	uint64_t v;

	/* PostgreSQL has no such counter: the caller reads its version. */
	if (db_kind(store->rdb) != DB_SQLITE)
		return 1;
	if (store->commits != NULL)
		/* Both only grow: their sum moves when either does. */
		v = __atomic_load_n(store->commits, __ATOMIC_ACQUIRE) +
		    data_version_moves(store);
	else
		v = data_version(store, 0);
	if (v != 0 && v == *seen)
		return 0;
	*seen = v;
	return 1;
}

enum status
store_pub_version(struct store *store, struct store_pub_version *out)
{
	struct db_stmt *stmt;
	enum status st = ST_OK;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_PUB_VERSION)) == NULL)
		st = db_fail(store->rdb, "prepare publication version");
	else if (db_step(stmt) == DB_ROW) {
		out->feed = db_column_int64(stmt, 0);
		out->token_keys[0] = db_column_int64(stmt, 1);
		out->token_keys[1] = db_column_int64(stmt, 2);
		out->token_keys[2] = db_column_int64(stmt, 3);
		out->crls[0] = db_column_int64(stmt, 4);
		out->crls[1] = db_column_int64(stmt, 5);
	} else
		st = db_fail(store->rdb, "publication version");
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_integrity_check(struct store *store)
{
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	st = db_integrity_check(store->rdb);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

/* 1..STORE_LIST_LIMIT_MAX rows per call. */
enum status
check_limit(size_t limit)
{
	if (limit < 1 || limit > STORE_LIST_LIMIT_MAX)
		return status_fail(ST_MALFORMED, "limit %zu is outside 1..%d",
		    limit, STORE_LIST_LIMIT_MAX);
	return ST_OK;
}

/*
 * Run the read statement which, with binds (bind_count int64s), and call
 * fn with each row's (serial, time) until it returns non-zero: the work
 * lists of the OCSP refresh and of superseding. what names the query in
 * errors.
 */
enum status
serial_times_walk(struct store *store, enum rstmt which, const int64_t *binds,
    int bind_count, store_ocsp_due_fn fn, void *arg, const char *what)
{
	struct db_stmt *stmt;
	const unsigned char *serial;
	enum status st = ST_OK;
	int i, rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, which)) == NULL) {
		st = db_fail(store->rdb, what);
		goto out;
	}
	for (i = 0; i < bind_count; i++)
		if (db_bind_int64(stmt, i + 1, binds[i]) != DB_OK) {
			st = db_fail(store->rdb, what);
			goto out;
		}
	while ((rc = db_step(stmt)) == DB_ROW) {
		if ((serial = db_column_text(stmt, 0)) == NULL)
			continue;
		if (fn((const char *)serial, db_column_int64(stmt, 1), arg) !=
		    0)
			break;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, what);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
