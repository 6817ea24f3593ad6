/*
 * store: persistence, file modes, schema versions, certificate rows, group
 * commit with per-job savepoints, enrollment secrets and their races, and
 * revocation state (schema v2): revocations, the feed, devices, the
 * inventory's cursor paging, OCSP responses and CRLs.
 *
 * Runs against SQLite, or against PostgreSQL when TESSERA_TEST_PG_URL names
 * a database (the ctest fixture "pg" starts one: unit.test_store_pg); the
 * SQLite file's own checks (modes, migrations from v1..v5, the bulk walk)
 * run on SQLite only, PostgreSQL's connection faults on PostgreSQL only.
 */
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "ca/store_internal.h"
#include "common/hex.h"
#include "common/status.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define NOW 1700000000

static char *dir;
static char db_path[4096];
/* The PostgreSQL database under test, NULL for SQLite. */
static const char *pg_url;

/* pg_url's statements: 0, or -1 with the reason on stderr. */
static int
pg_raw_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = NULL;
	int rc = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK)
			rc = 0;
	}
	if (rc != 0)
		fprintf(
		    stderr, "pg_raw_exec: %s: %s\n", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static long long
pg_raw_int(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = NULL;
	long long v = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
		    !PQgetisnull(r, 0, 0))
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	}
	PQclear(r);
	PQfinish(c);
	return v;
}

/* A raw connection for what the store must not offer (tampering). */
static int
raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (pg_url != NULL)
		return pg_raw_exec(sql);

	if (sqlite3_open(db_path, &db) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row of sql as an integer; -1 on failure. */
static long long
raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	long long v = -1;

	if (pg_url != NULL)
		return pg_raw_int(sql);
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static void
sha256(const char *s, uint8_t out[32])
{
	unsigned int len = 0;

	if (!EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL))
		memset(out, 0, 32);
}

static uint8_t fake_der[600];

static void
cert_fill(struct store_cert *c, const char *serial, const char *subject)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	c->issuer = "CN=Tessera Issuing CA";
	c->subject = (char *)subject;
	c->device_id = "dev-1";
	c->profile = "device";
	c->not_before = NOW;
	c->not_after = NOW + 86400;
	c->status = STORE_CERT_VALID;
	c->reason = -1;
	c->der = fake_der;
	c->der_len = sizeof(fake_der);
	c->created = NOW;
}

static enum status
job_cert_insert(struct store_txn *txn, void *arg)
{
	return store_txn_cert_insert(txn, arg);
}

static enum status
insert_one(struct store *store, const char *serial, const char *subject)
{
	struct store_cert c;

	cert_fill(&c, serial, subject);
	return store_write(store, job_cert_insert, &c);
}

static void
test_open_reopen(void)
{
	struct store *store = NULL;
	struct store_cert *got = NULL, c;
	struct stat sb;
	char side[4200];
	mode_t old;

	/* A loose umask must not widen the database or its -wal and -shm. */
	old = umask(0);
	CHECK_ST(store_open(db_path, &store), ST_OK);
	umask(old);
	CHECK(store != NULL);
	if (store == NULL)
		return;
	CHECK(store_schema_version() == 8);
	CHECK_ST(insert_one(store, "0A1B", "CN=dev-1"), ST_OK);
	if (pg_url == NULL) {
		CHECK(stat(db_path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
		snprintf(side, sizeof(side), "%s-wal", db_path);
		CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0777) == 0600);
		snprintf(side, sizeof(side), "%s-shm", db_path);
		CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	}
	store_close(store);
	store = NULL;
	store_close(NULL);

	CHECK(raw_int("SELECT version FROM schema_version") ==
	    store_schema_version());
	CHECK(raw_int("SELECT count(*) FROM schema_version") == 1);

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK(raw_int("SELECT count(*) FROM schema_version") == 1);
	CHECK_ST(store_cert_get(store, "0A1B", &got), ST_OK);
	cert_fill(&c, "0A1B", "CN=dev-1");
	CHECK(got != NULL);
	if (got != NULL) {
		CHECK(strcmp(got->serial, "0A1B") == 0);
		CHECK(strcmp(got->issuer, c.issuer) == 0);
		CHECK(strcmp(got->subject, "CN=dev-1") == 0);
		CHECK(got->device_id && strcmp(got->device_id, "dev-1") == 0);
		CHECK(strcmp(got->profile, "device") == 0);
		CHECK(got->not_before == NOW && got->not_after == NOW + 86400);
		CHECK(got->status == STORE_CERT_VALID);
		CHECK(got->revoked_at == 0 && got->reason == -1);
		CHECK(got->der_len == sizeof(fake_der) &&
		    memcmp(got->der, fake_der, sizeof(fake_der)) == 0);
		CHECK(got->created == NOW);
		CHECK(got->shard == 0);
	}
	store_cert_free(got);
	store_cert_free(NULL);
	CHECK_ST(store_integrity_check(store), ST_OK);
	store_close(store);
}

static void
test_certs(void)
{
	struct store *store = NULL;
	struct store_cert *got = NULL, c;
	int64_t n = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n == 1);
	CHECK(store_cert_exists(store, "0A1B") == 1);
	CHECK(store_cert_exists(store, "0A1C") == 0);
	CHECK_ST(store_cert_get(store, "0A1C", &got), ST_NOTFOUND);
	CHECK(got == NULL);

	/* A revoked certificate without a device keeps its fields. */
	cert_fill(&c, "FF00", "CN=Tessera OCSP");
	c.device_id = NULL;
	c.status = STORE_CERT_REVOKED;
	c.revoked_at = NOW + 5;
	c.reason = 1;
	CHECK_ST(store_write(store, job_cert_insert, &c), ST_OK);
	CHECK_ST(store_cert_get(store, "FF00", &got), ST_OK);
	if (got != NULL) {
		CHECK(got->device_id == NULL);
		CHECK(got->status == STORE_CERT_REVOKED);
		CHECK(got->revoked_at == NOW + 5 && got->reason == 1);
	}
	store_cert_free(got);
	got = NULL;

	/* A duplicate serial conflicts and changes nothing. */
	CHECK_ST(insert_one(store, "0A1B", "CN=intruder"), ST_CONFLICT);
	CHECK_DETAIL("certificate serial 0A1B exists already");
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n == 2);
	CHECK_ST(store_cert_get(store, "0A1B", &got), ST_OK);
	CHECK(got != NULL && strcmp(got->subject, "CN=dev-1") == 0);
	store_cert_free(got);

	/* Serials are uppercase hex. */
	CHECK_ST(insert_one(store, "0a1b", "CN=x"), ST_MALFORMED);
	CHECK_ST(insert_one(store, "", "CN=x"), ST_MALFORMED);
	CHECK_ST(insert_one(store, "0A'; DROP TABLE certificates; --", "CN=x"),
	    ST_MALFORMED);
	/* A NOT NULL column reports the database's message, and no blob. */
	CHECK_ST(insert_one(store, "0A1D", NULL), ST_STORE);
	CHECK_DETAIL(pg_url != NULL ? "store: insert certificate: null value"
	                              " in column \"subject\""
	                            : "store: insert certificate: NOT NULL "
	                              "constraint failed");
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n == 2);
	CHECK_ST(store_integrity_check(store), ST_OK);
	store_close(store);
}

/* Group commit: jobs of many threads, some failing on purpose. */

#define BATCH_THREADS 8
#define BATCH_JOBS 50

struct batch_job {
	struct store_cert cert;
	int is_failing;
	struct store *store;
	uint64_t commits_seen; /* the store's commits while the job ran */
};

static enum status
job_maybe_fail(struct store_txn *txn, void *arg)
{
	struct batch_job *bj = arg;
	enum status st;

	struct store_stats ss;

	if (bj->store != NULL) {
		store_stats(bj->store, &ss);
		bj->commits_seen = ss.commits;
	}
	/* The failing job writes first, so its savepoint has work to undo. */
	if ((st = store_txn_cert_insert(txn, &bj->cert)) != ST_OK)
		return st;
	if (bj->is_failing)
		return status_fail(
		    ST_DENIED, "job %s fails on purpose", bj->cert.serial);
	return ST_OK;
}

struct batch_thread {
	struct store *store;
	int id;
	int ok, failed, wrong;
	int early; /* returned before its transaction committed */
};

static void *
batch_main(void *arg)
{
	struct batch_thread *t = arg;
	struct batch_job bj;
	char serial[STORE_SERIAL_HEX_CAP], want[64];
	struct store_stats ss;
	enum status st;
	int i;

	for (i = 0; i < BATCH_JOBS; i++) {
		snprintf(serial, sizeof(serial), "B%02X%04X", t->id, i);
		cert_fill(&bj.cert, serial, "CN=batch");
		bj.is_failing = i % 4 == 0;
		bj.store = t->store;
		st = store_write(t->store, job_maybe_fail, &bj);
		/*
		 * Back from store_write: the transaction that ran the job has
		 * ended (the counter moved past the one the job saw) and the
		 * row is there for another connection (the read connection
		 * sees only committed data).
		 */
		store_stats(t->store, &ss);
		if (ss.commits <= bj.commits_seen ||
		    (st == ST_OK && store_cert_exists(t->store, serial) != 1))
			t->early++;
		snprintf(want, sizeof(want), "job %s fails on purpose", serial);
		if (bj.is_failing && st == ST_DENIED &&
		    strcmp(status_detail(), want) == 0)
			t->failed++;
		else if (!bj.is_failing && st == ST_OK)
			t->ok++;
		else
			t->wrong++;
	}
	return NULL;
}

static void
test_group_commit(void)
{
	struct store *store = NULL;
	struct batch_thread t[BATCH_THREADS];
	pthread_t th[BATCH_THREADS];
	struct store_stats s0, s1;
	uint64_t commits, jobs;
	int64_t n0 = 0, n = 0;
	int i, ok = 0, failed = 0, wrong = 0, early = 0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(store_cert_count(store, &n0), ST_OK);
	store_stats(store, &s0);
	for (i = 0; i < BATCH_THREADS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].store = store;
		t[i].id = i;
		CHECK(pthread_create(&th[i], NULL, batch_main, &t[i]) == 0);
	}
	for (i = 0; i < BATCH_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += t[i].ok;
		failed += t[i].failed;
		wrong += t[i].wrong;
		early += t[i].early;
	}
	CHECK(wrong == 0);
	CHECK(early == 0);
	/* Jobs 0, 4, ..., 48 of each thread fail: 13 of 50. */
	CHECK(failed == BATCH_THREADS * ((BATCH_JOBS + 3) / 4));
	CHECK(ok + failed == BATCH_THREADS * BATCH_JOBS);
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n - n0 == ok);
	/* The failing jobs' own inserts were rolled back with them. */
	CHECK(store_cert_exists(store, "B000000") == 0);
	CHECK(store_cert_exists(store, "B070004") == 0);
	CHECK(store_cert_exists(store, "B070005") == 1);
	store_stats(store, &s1);
	jobs = s1.jobs - s0.jobs;
	commits = s1.commits - s0.commits;
	CHECK(jobs == BATCH_THREADS * BATCH_JOBS);
	/*
	 * Eight threads, each waiting for its commit before the next job:
	 * while one transaction syncs, the others queue for the next. How
	 * many group depends on the scheduler (a loaded machine may run one
	 * thread at a time for a while), so only that some transaction
	 * carried more than one job: without grouping, commits == jobs.
	 */
	CHECK(commits >= 1 && commits < jobs);
	CHECK(s1.group_max >= 2 && s1.group_max <= BATCH_THREADS);
	CHECK(s1.commit_us_total > s0.commit_us_total);
	CHECK(s1.job_us_total >= s1.commit_us_total - s0.commit_us_total);
	CHECK(s1.queued == 0);
	printf("group commit: %llu jobs in %llu commits\n",
	    (unsigned long long)jobs, (unsigned long long)commits);
	CHECK_ST(store_integrity_check(store), ST_OK);
	store_close(store);
}

static enum status
job_nested(struct store_txn *txn, void *arg)
{
	(void)txn;
	return store_write(arg, job_cert_insert, NULL);
}

static void
test_nested_write(void)
{
	struct store *store = NULL;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(store_write(store, job_nested, store), ST_INTERNAL);
	CHECK_DETAIL("store_write called from inside a store job");
	store_close(store);
}

/*
 * A write alone runs on its caller's thread: no hand-over to the writer
 * thread and back (two thread switches per write). An async job, which
 * nobody waits for, is run by the writer thread.
 */
struct thread_job {
	pthread_t ran;
	int is_done;
};

static enum status
job_thread(struct store_txn *txn, void *arg)
{
	(void)txn;
	((struct thread_job *)arg)->ran = pthread_self();
	return ST_OK;
}

static void
thread_done(enum status st, const char *detail, void *arg)
{
	(void)detail;
	if (st == ST_OK)
		__atomic_store_n(
		    &((struct thread_job *)arg)->is_done, 1, __ATOMIC_RELEASE);
}

static void
test_write_on_caller(void)
{
	struct store *store = NULL;
	struct thread_job j;
	int i;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	memset(&j, 0, sizeof(j));
	CHECK_ST(store_write(store, job_thread, &j), ST_OK);
	CHECK(pthread_equal(j.ran, pthread_self()));
	memset(&j, 0, sizeof(j));
	CHECK_ST(
	    store_write_async(store, job_thread, &j, thread_done, &j), ST_OK);
	for (i = 0; i < 20000 && !__atomic_load_n(&j.is_done, __ATOMIC_ACQUIRE);
	     i++)
		usleep(1000);
	CHECK(__atomic_load_n(&j.is_done, __ATOMIC_ACQUIRE) == 1);
	CHECK(!pthread_equal(j.ran, pthread_self()));
	store_close(store);
}

/* store_close lets the jobs queued before it finish. */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_is_entered, gate_is_open;

static enum status
job_gate(struct store_txn *txn, void *arg)
{
	(void)txn;
	(void)arg;
	pthread_mutex_lock(&gate_lock);
	gate_is_entered = 1;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_is_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	return ST_OK;
}

struct drain_thread {
	struct store *store;
	const char *serial;
	store_txn_fn fn;
	enum status st;
};

static void *
drain_main(void *arg)
{
	struct drain_thread *d = arg;

	if (d->fn != NULL)
		d->st = store_write(d->store, d->fn, NULL);
	else
		d->st = insert_one(d->store, d->serial, "CN=drain");
	return NULL;
}

static void *
close_main(void *arg)
{
	store_close(arg);
	return NULL;
}

static void
test_close_drains(void)
{
	struct store *store = NULL;
	struct drain_thread d[3];
	pthread_t th[3], closer;
	int i;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	memset(d, 0, sizeof(d));
	for (i = 0; i < 3; i++)
		d[i].store = store;
	d[0].fn = job_gate;
	d[1].serial = "D001";
	d[2].serial = "D002";
	CHECK(pthread_create(&th[0], NULL, drain_main, &d[0]) == 0);
	pthread_mutex_lock(&gate_lock);
	while (!gate_is_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	/* The writer is held in job_gate: these two wait in the queue. */
	CHECK(pthread_create(&th[1], NULL, drain_main, &d[1]) == 0);
	CHECK(pthread_create(&th[2], NULL, drain_main, &d[2]) == 0);
	usleep(200 * 1000);
	CHECK(pthread_create(&closer, NULL, close_main, store) == 0);
	usleep(200 * 1000);
	pthread_mutex_lock(&gate_lock);
	gate_is_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		CHECK(d[i].st == ST_OK);
	}
	pthread_join(closer, NULL);
	CHECK(raw_int("SELECT count(*) FROM certificates"
	              " WHERE serial IN ('D001', 'D002')") == 2);
}

/* Wait (bounded: 20 s) until store has want jobs queued. */
static int
queued_wait(struct store *store, uint64_t want)
{
	struct store_stats ss;
	int i;

	for (i = 0; i < 20000; i++) {
		store_stats(store, &ss);
		if (ss.queued == want)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Wait (bounded: 20 s) until store has run want jobs since it opened. */
static int
jobs_wait(struct store *store, uint64_t want)
{
	struct store_stats ss;
	int i;

	for (i = 0; i < 20000; i++) {
		store_stats(store, &ss);
		if (ss.jobs >= want)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Hold a writer in job_gate (run by a thread of d), until gate_open. */
static void
gate_enter(struct drain_thread *d, pthread_t *th)
{
	pthread_mutex_lock(&gate_lock);
	gate_is_entered = gate_is_open = 0;
	pthread_mutex_unlock(&gate_lock);
	d->fn = job_gate;
	CHECK(pthread_create(th, NULL, drain_main, d) == 0);
	pthread_mutex_lock(&gate_lock);
	while (!gate_is_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void
gate_open(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_is_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

#define GROUP_JOBS 40

/*
 * The writers of two processes on one file (two stores: their writer locks
 * are two open files, so they exclude each other as two processes do).
 * While a holds its turn, every job for b queues; b takes them all once a
 * is done: one transaction, one fsync, for GROUP_JOBS writes. PostgreSQL
 * has no turns: b's jobs commit while a's transaction is open.
 */
static void
test_group_turns(void)
{
	struct store *a = NULL, *b = NULL;
	struct drain_thread gate, d[GROUP_JOBS];
	pthread_t gth, th[GROUP_JOBS];
	struct store_stats s0, s1;
	char serial[GROUP_JOBS][STORE_SERIAL_HEX_CAP];
	int i, ok = 0;

	CHECK_ST(store_open(db_path, &a), ST_OK);
	CHECK_ST(store_open(db_path, &b), ST_OK);
	if (a == NULL || b == NULL)
		goto out;
	memset(&gate, 0, sizeof(gate));
	gate.store = a;
	gate_enter(&gate, &gth);
	store_stats(b, &s0);
	memset(d, 0, sizeof(d));
	for (i = 0; i < GROUP_JOBS; i++) {
		snprintf(serial[i], sizeof(serial[i]), "7A%04X", i);
		d[i].store = b;
		d[i].serial = serial[i];
		CHECK(pthread_create(&th[i], NULL, drain_main, &d[i]) == 0);
	}
	if (pg_url != NULL) {
		/* PostgreSQL: no turns, b commits while a is held. */
		CHECK(jobs_wait(b, s0.jobs + GROUP_JOBS));
	} else {
		/* b's writer waits for a's turn with all of them queued. */
		CHECK(queued_wait(b, GROUP_JOBS));
		CHECK(store_cert_exists(b, serial[0]) == 0);
	}
	gate_open();
	pthread_join(gth, NULL);
	CHECK(gate.st == ST_OK);
	for (i = 0; i < GROUP_JOBS; i++) {
		pthread_join(th[i], NULL);
		ok += d[i].st == ST_OK && store_cert_exists(a, serial[i]) == 1;
	}
	CHECK(ok == GROUP_JOBS);
	store_stats(b, &s1);
	CHECK(s1.jobs - s0.jobs == GROUP_JOBS);
	if (pg_url == NULL) {
		CHECK(s1.commits - s0.commits == 1);
		CHECK(s1.group_last == GROUP_JOBS);
		CHECK(s1.lock_wait_us_total > s0.lock_wait_us_total);
	}
	CHECK_ST(store_integrity_check(b), ST_OK);
out:
	store_close(a);
	store_close(b);
}

/* store_write_async: done runs after the commit, with the job's status. */

struct async_job {
	struct store_cert cert;
	struct store *store;
	int is_failing;
	uint64_t commits_seen; /* in the job */
	enum status st; /* given to done */
	char detail[128];
	int is_done, is_committed; /* done saw the commit and the row */
};

static enum status
job_noop(struct store_txn *txn, void *arg)
{
	(void)txn;
	(void)arg;
	return ST_OK;
}

static enum status
job_async(struct store_txn *txn, void *arg)
{
	struct async_job *j = arg;
	struct store_stats ss;
	enum status st;

	store_stats(j->store, &ss);
	j->commits_seen = ss.commits;
	if ((st = store_txn_cert_insert(txn, &j->cert)) != ST_OK)
		return st;
	if (j->is_failing)
		return status_fail(ST_CONFLICT, "async job fails on purpose");
	return ST_OK;
}

static void
async_done(enum status st, const char *detail, void *arg)
{
	struct async_job *j = arg;
	struct store_stats ss;

	store_stats(j->store, &ss);
	j->st = st;
	snprintf(j->detail, sizeof(j->detail), "%s", detail);
	/* Runs once the transaction has ended: committed and readable. */
	j->is_committed = ss.commits > j->commits_seen &&
	    store_cert_exists(j->store, j->cert.serial) ==
	        (st == ST_OK ? 1 : 0);
	j->is_done++;
}

static void
test_group_async(void)
{
	struct store *store = NULL;
	struct drain_thread gate;
	pthread_t gth;
	struct async_job *j = NULL;
	struct store_stats s0, s1;
	char serial[STORE_SERIAL_HEX_CAP];
	int i, good = 0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL || (j = calloc(GROUP_JOBS, sizeof(*j))) == NULL)
		goto out;
	memset(&gate, 0, sizeof(gate));
	gate.store = store;
	gate_enter(&gate, &gth);
	store_stats(store, &s0);
	for (i = 0; i < GROUP_JOBS; i++) {
		snprintf(serial, sizeof(serial), "7B%04X", i);
		cert_fill(&j[i].cert, serial, "CN=async");
		j[i].store = store;
		j[i].is_failing = i % 10 == 3;
		CHECK_ST(store_write_async(
		             store, job_async, &j[i], async_done, &j[i]),
		    ST_OK);
	}
	CHECK(queued_wait(store, GROUP_JOBS));
	for (i = 0; i < GROUP_JOBS; i++)
		CHECK(j[i].is_done == 0);
	CHECK_ST(store_write_async(store, job_async, &j[0], NULL, NULL),
	    ST_INTERNAL);
	gate_open();
	pthread_join(gth, NULL);
	CHECK(gate.st == ST_OK);
	/* Queued behind the forty: back when their transaction has ended. */
	CHECK_ST(store_write(store, job_noop, NULL), ST_OK);
	store_stats(store, &s1);
	/* store_close runs what is queued, done included, before it ends. */
	store_close(store);
	store = NULL;
	for (i = 0; i < GROUP_JOBS; i++) {
		if (j[i].is_done != 1 || !j[i].is_committed)
			continue;
		if (j[i].is_failing)
			good += j[i].st == ST_CONFLICT &&
			    strcmp(j[i].detail, "async job fails on purpose") ==
			        0;
		else
			good += j[i].st == ST_OK;
	}
	CHECK(good == GROUP_JOBS);
	CHECK(raw_int("SELECT count(*) FROM certificates"
	              " WHERE serial LIKE '7B%'") == GROUP_JOBS - 4);
	/* The gate's transaction, one for all forty, perhaps the no-op's. */
	CHECK(s1.jobs - s0.jobs == GROUP_JOBS + 2);
	CHECK(s1.commits - s0.commits >= 2 && s1.commits - s0.commits <= 3);
	CHECK(s1.group_max >= GROUP_JOBS);
out:
	store_close(store);
	free(j);
}

/* Enrollment secrets. */

struct secret_job {
	const char *device_id;
	const char *profile;
	uint8_t hash[32];
	int64_t expires;
	int64_t now;
	const char *serial;
	const char *minter_serial; /* NULL: the operator minted it */
};

static enum status
job_secret_insert(struct store_txn *txn, void *arg)
{
	struct secret_job *s = arg;
	struct store_minter m = {s->minter_serial ? "cert" : "operator",
	    s->minter_serial ? "station-1" : "local", s->minter_serial};

	return store_txn_secret_insert(
	    txn, s->device_id, s->profile, s->hash, s->expires, s->now, &m);
}

static enum status
job_secret_consume(struct store_txn *txn, void *arg)
{
	struct secret_job *s = arg;

	return store_txn_secret_consume(
	    txn, s->device_id, s->profile, s->hash, s->now, s->serial);
}

static enum status
secret_add(struct store *store, const char *device, const char *profile,
    const char *secret, int64_t expires)
{
	struct secret_job s = {device, profile, {0}, expires, NOW, NULL, NULL};

	sha256(secret, s.hash);
	return store_write(store, job_secret_insert, &s);
}

/* The same, minted by the certificate minter (a serial). */
static enum status
secret_add_by(struct store *store, const char *device, const char *profile,
    const char *secret, const char *minter)
{
	struct secret_job s = {
	    device, profile, {0}, NOW + 60, NOW, NULL, minter};

	sha256(secret, s.hash);
	return store_write(store, job_secret_insert, &s);
}

static enum status
secret_use(struct store *store, const char *device, const char *profile,
    const char *secret, int64_t now, const char *serial)
{
	struct secret_job s = {device, profile, {0}, 0, now, serial, NULL};

	sha256(secret, s.hash);
	return store_write(store, job_secret_consume, &s);
}

static void
test_secrets(void)
{
	struct store *store = NULL;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(
	    secret_add(store, "dev-s", "device", "correct horse", NOW + 60),
	    ST_OK);
	CHECK_ST(secret_add(store, "dev-e", "device", "old", NOW + 60), ST_OK);
	CHECK_ST(
	    secret_add(store, "dev-p", "factory", "prof", NOW + 60), ST_OK);

	CHECK_ST(secret_use(store, "dev-x", "device", "x", NOW, "01"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("no enrollment secret for device dev-x");
	CHECK_ST(secret_use(store, "dev-s", "device", "wrong horse", NOW, "01"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("wrong enrollment secret for device dev-s");
	CHECK(strstr(status_detail(), "horse") == NULL);
	CHECK_ST(secret_use(store, "dev-e", "device", "old", NOW + 60, "01"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("enrollment secret for device dev-e expired");
	CHECK_ST(secret_use(store, "dev-p", "device", "prof", NOW, "01"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("enrollment secret is for profile factory, not device");

	CHECK_ST(
	    secret_use(store, "dev-s", "device", "correct horse", NOW, "5E7A"),
	    ST_OK);
	CHECK(raw_int(
	          "SELECT consumed_at FROM enrollment_secrets"
	          " WHERE device_id = 'dev-s' AND consumed_serial = '5E7A'") ==
	    NOW);
	CHECK_ST(
	    secret_use(store, "dev-s", "device", "correct horse", NOW, "5E7B"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("enrollment secret for device dev-s was already used");
	CHECK(strstr(status_detail(), "horse") == NULL);
	/* The failed attempts consumed nothing. */
	CHECK_ST(
	    secret_use(store, "dev-p", "factory", "prof", NOW, "02"), ST_OK);
	CHECK(raw_int("SELECT count(*) FROM enrollment_secrets"
	              " WHERE consumed_at IS NOT NULL") == 2);
	store_close(store);
}

/* Secret lifecycle: minters, listing without hashes, cancelling. */

struct cancel_job {
	int64_t id;
	struct store_secret_filter f;
	size_t count;
};

static enum status
job_secret_cancel(struct store_txn *txn, void *arg)
{
	struct cancel_job *c = arg;

	if (c->id > 0)
		return store_txn_secret_cancel(txn, c->id, NOW, "test");
	return store_txn_secrets_cancel(txn, &c->f, NOW, "test", &c->count);
}

struct secret_page {
	int64_t id[16];
	char minter[16][64];
	int is_cancelled[16];
	size_t count;
};

static int
secret_row(const struct store_secret *s, void *arg)
{
	struct secret_page *p = arg;

	if (p->count >= 16)
		return 1;
	p->id[p->count] = s->id;
	snprintf(p->minter[p->count], sizeof(p->minter[0]), "%s/%s",
	    s->minter_kind ? s->minter_kind : "-",
	    s->minter_serial ? s->minter_serial : "-");
	p->is_cancelled[p->count] = s->cancelled_at != 0 &&
	    s->cancelled_by != NULL && strcmp(s->cancelled_by, "test") == 0;
	p->count++;
	return 0;
}

static size_t
secret_list(struct store *store, const char *minter_serial, const char *device,
    int is_outstanding, struct secret_page *p)
{
	struct store_secret_filter f;

	memset(p, 0, sizeof(*p));
	memset(&f, 0, sizeof(f));
	f.minter_serial = minter_serial;
	f.device_id = device;
	f.is_outstanding = is_outstanding;
	f.now = NOW;
	f.limit = 16;
	if (store_secret_list(store, &f, secret_row, p) != ST_OK)
		return (size_t)-1;
	return p->count;
}

static void
test_secret_cancel(void)
{
	struct store *store = NULL;
	struct secret_page p;
	struct cancel_job c;
	struct store_secret_filter f;
	int64_t first;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(secret_add_by(store, "dev-c1", "device", "c1", "5A01"), ST_OK);
	CHECK_ST(secret_add_by(store, "dev-c2", "device", "c2", "5A01"), ST_OK);
	CHECK_ST(secret_add_by(store, "dev-c3", "device", "c3", "5A02"), ST_OK);
	CHECK_ST(secret_add(store, "dev-c4", "device", "c4", NOW + 60), ST_OK);
	CHECK(secret_list(store, "5A01", NULL, 1, &p) == 2);
	CHECK(strcmp(p.minter[0], "cert/5A01") == 0);
	CHECK(secret_list(store, NULL, "dev-c4", 1, &p) == 1);
	CHECK(strcmp(p.minter[0], "operator/-") == 0);
	first = p.id[0];
	/* A listing names no hash: the statement never selects it. */
	memset(&f, 0, sizeof(f));
	f.limit = 0;
	CHECK_ST(store_secret_list(store, &f, secret_row, &p), ST_MALFORMED);
	f.limit = 1;
	f.minter_serial = "5a01";
	CHECK_ST(store_secret_list(store, &f, secret_row, &p), ST_MALFORMED);

	/* One by id: then it authenticates no more. */
	memset(&c, 0, sizeof(c));
	c.id = first;
	CHECK_ST(store_write(store, job_secret_cancel, &c), ST_OK);
	CHECK_ST(secret_use(store, "dev-c4", "device", "c4", NOW, "C4"),
	    ST_UNAUTHENTICATED);
	CHECK_DETAIL("enrollment secret for device dev-c4 was cancelled");
	CHECK_ST(store_write(store, job_secret_cancel, &c), ST_CONFLICT);
	CHECK_DETAIL("was already cancelled");
	c.id = 999999;
	CHECK_ST(store_write(store, job_secret_cancel, &c), ST_NOTFOUND);
	CHECK(secret_list(store, NULL, "dev-c4", 0, &p) == 1 &&
	    p.is_cancelled[0]);
	CHECK(secret_list(store, NULL, "dev-c4", 1, &p) == 0);

	/* All of one minter's, none of another's; a used one stays used. */
	CHECK_ST(secret_use(store, "dev-c2", "device", "c2", NOW, "C2"), ST_OK);
	memset(&c, 0, sizeof(c));
	c.f.minter_serial = "5A01";
	CHECK_ST(store_write(store, job_secret_cancel, &c), ST_OK);
	CHECK(c.count == 1);
	CHECK(raw_int("SELECT count(*) FROM enrollment_secrets WHERE"
	              " device_id = 'dev-c2' AND cancelled_at IS NULL"
	              " AND consumed_serial = 'C2'") == 1);
	CHECK_ST(secret_use(store, "dev-c1", "device", "c1", NOW, "C1"),
	    ST_UNAUTHENTICATED);
	CHECK_ST(secret_use(store, "dev-c3", "device", "c3", NOW, "C3"), ST_OK);
	/* A used secret cannot be cancelled; an empty filter is refused. */
	memset(&c, 0, sizeof(c));
	CHECK_ST(store_write(store, job_secret_cancel, &c), ST_INTERNAL);
	store_close(store);
}

/* Device bindings: family, authenticator, blocks before enrollment. */

struct bind_job {
	const char *device_id;
	const char *family;
	const char *authenticator;
	int is_block;
	struct store_device_binding b;
};

static enum status
job_bind(struct store_txn *txn, void *arg)
{
	struct bind_job *j = arg;

	if (j->is_block)
		return store_txn_device_block(txn, j->device_id, NOW);
	if (j->family != NULL &&
	    store_txn_device_bind(
	        txn, j->device_id, j->family, j->authenticator, NOW) != ST_OK)
		return ST_STORE;
	return store_txn_device_binding_get(txn, j->device_id, &j->b);
}

static void
test_bindings(void)
{
	struct store *store = NULL;
	struct bind_job j;
	struct store_device d;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	memset(&j, 0, sizeof(j));
	j.device_id = "dev-b1";
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	CHECK(!j.b.is_known && !j.b.is_blocked && j.b.family[0] == '\0');
	j.family = "device";
	j.authenticator = "manufacturer:acme";
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	CHECK(j.b.is_known && !j.b.is_blocked &&
	    strcmp(j.b.family, "device") == 0 &&
	    strcmp(j.b.authenticator, "manufacturer:acme") == 0);
	/* A recorded binding is never overwritten. */
	j.family = "gateway";
	j.authenticator = "secret";
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	CHECK(strcmp(j.b.family, "device") == 0 &&
	    strcmp(j.b.authenticator, "manufacturer:acme") == 0);
	CHECK_ST(store_device_get(store, "dev-b1", &d), ST_OK);
	CHECK(strcmp(d.family, "device") == 0 &&
	    strcmp(d.authenticator, "manufacturer:acme") == 0);

	/* A block before any enrollment creates the row, blocked. */
	memset(&j, 0, sizeof(j));
	j.device_id = "dev-b2";
	j.is_block = 1;
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	j.is_block = 0;
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	CHECK(j.b.is_known && j.b.is_blocked && j.b.family[0] == '\0');
	CHECK_ST(store_device_get(store, "dev-b2", &d), ST_OK);
	CHECK(d.is_blocked && d.cert_count == 0);
	/* Blocking again keeps it blocked. */
	j.is_block = 1;
	CHECK_ST(store_write(store, job_bind, &j), ST_OK);
	CHECK(raw_int("SELECT count(*) FROM devices WHERE id = 'dev-b2'"
	              " AND status = 'blocked'") == 1);
	store_close(store);
}

#define RACE_THREADS 16

struct race_thread {
	struct store *store;
	char serial[16];
	enum status st;
	int is_used_detail;
};

static void *
race_main(void *arg)
{
	struct race_thread *r = arg;

	r->st = secret_use(
	    r->store, "dev-race", "device", "only once", NOW, r->serial);
	r->is_used_detail = strstr(status_detail(), "was already used") != NULL;
	return NULL;
}

static void
test_secret_race(void)
{
	struct store *store = NULL;
	struct race_thread r[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	int i, ok = 0, used = 0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(secret_add(store, "dev-race", "device", "only once", NOW + 60),
	    ST_OK);
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].store = store;
		snprintf(r[i].serial, sizeof(r[i].serial), "RACE%02d", i);
		CHECK(pthread_create(&th[i], NULL, race_main, &r[i]) == 0);
	}
	for (i = 0; i < RACE_THREADS; i++) {
		pthread_join(th[i], NULL);
		if (r[i].st == ST_OK)
			ok++;
		else if (r[i].st == ST_UNAUTHENTICATED && r[i].is_used_detail)
			used++;
	}
	CHECK(ok == 1);
	CHECK(used == RACE_THREADS - 1);
	CHECK(raw_int("SELECT count(*) FROM enrollment_secrets"
	              " WHERE device_id = 'dev-race'"
	              " AND consumed_serial IS NOT NULL") == 1);
	store_close(store);
}

/* Schema v2: revocation state. */

/* The v1 schema exactly as the released migration wrote it. */
static const char v1_schema[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);"
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
    " hash BLOB NOT NULL CHECK (length(hash) = 32));"
    "INSERT INTO certificates VALUES ('0C01', 'CN=CA', 'CN=old', 'dev-old',"
    " 'device', 1700000000, 1800000000, 'valid', NULL, NULL, x'3000',"
    " 1700000000);"
    "INSERT INTO devices VALUES ('dev-old', 'active', 1700000000,"
    " 1700000000);";

struct revoke_args {
	const char *serial;
	const char *device_id;
	int reason;
	int64_t time;
	char *device_out;
	size_t count;
	int is_blocked;
	int blocked_out;
	const uint8_t *der;
	size_t der_len;
	int shard;
	int64_t number, this_update, next_update;
	enum store_cert_status signed_for;
	const char *signer;
};

static enum status
job_revoke(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_cert_revoke(
	    txn, r->serial, r->reason, r->time, &r->device_out);
}

static enum status
job_device_revoke(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_device_certs_revoke(
	    txn, r->device_id, r->reason, r->time, &r->count);
}

static enum status
job_device_set(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_device_set_status(
	    txn, r->device_id, r->is_blocked, r->time);
}

static enum status
job_device_blocked(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_device_is_blocked(txn, r->device_id, &r->blocked_out);
}

static enum status
job_device_ensure(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_device_ensure(txn, r->device_id, r->time);
}

static enum status
job_ocsp_put(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_ocsp_put(txn, r->serial, r->signed_for,
	    r->signer != NULL ? r->signer : "00", r->der, r->der_len,
	    r->this_update, r->next_update);
}

static enum status
job_ocsp_delete_all(struct store_txn *txn, void *arg)
{
	(void)arg;
	return store_txn_ocsp_delete_all(txn);
}

static enum status
job_crl_next(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_crl_next_number(txn, r->shard, &r->number);
}

static enum status
job_crl_put(struct store_txn *txn, void *arg)
{
	struct revoke_args *r = arg;

	return store_txn_crl_put(txn, r->shard, r->number, r->this_update,
	    r->next_update, r->der, r->der_len);
}

static enum status
revoke_one(struct store *store, const char *serial, int reason, char **dev)
{
	struct revoke_args r;
	enum status st;

	memset(&r, 0, sizeof(r));
	r.serial = serial;
	r.reason = reason;
	r.time = NOW + 100;
	st = store_write(store, job_revoke, &r);
	if (dev != NULL)
		*dev = r.device_out;
	else
		free(r.device_out);
	return st;
}

/*
 * The copies PATH.schema-vVERSION-*.bak kept before migrating: how many,
 * -1 when one is not mode 0600 or does not hold schema VERSION.
 */
static int
kept_copies(const char *path, int version)
{
	char pattern[4200], saved[sizeof(db_path)];
	glob_t g;
	struct stat sb;
	size_t i;
	int n;

	snprintf(
	    pattern, sizeof(pattern), "%s.schema-v%d-*.bak", path, version);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	n = (int)g.gl_pathc;
	snprintf(saved, sizeof(saved), "%s", db_path);
	for (i = 0; i < g.gl_pathc; i++) {
		snprintf(db_path, sizeof(db_path), "%s", g.gl_pathv[i]);
		if (stat(g.gl_pathv[i], &sb) != 0 ||
		    (sb.st_mode & 0777) != 0600 ||
		    raw_int("SELECT version FROM schema_version") != version)
			n = -1;
	}
	snprintf(db_path, sizeof(db_path), "%s", saved);
	globfree(&g);
	return n;
}

static void
test_migrate_v1(void)
{
	struct store *store = NULL;
	struct store_cert *got = NULL;
	char v1_path[sizeof(db_path)], saved[sizeof(db_path)];
	char *dev = NULL;

	snprintf(v1_path, sizeof(v1_path), "%s/v1.db", dir);
	snprintf(saved, sizeof(saved), "%s", db_path);
	snprintf(db_path, sizeof(db_path), "%s", v1_path);
	CHECK(raw_exec(v1_schema) == 0);
	CHECK_ST(store_open(v1_path, &store), ST_OK);
	if (store != NULL) {
		CHECK(raw_int("SELECT version FROM schema_version") ==
		    store_schema_version());
		CHECK(raw_int("SELECT count(*) FROM schema_version") == 1);
		/* v4: a v1 row named the full CRL (no issuing-0.crl). */
		CHECK(
		    raw_int("SELECT shard FROM certificates"
		            " WHERE serial = '0C01'") == STORE_CRL_SHARD_FULL);
		CHECK(
		    raw_int("SELECT count(*) FROM sqlite_master"
		            " WHERE name IN ('revocations', 'ocsp_responses',"
		            " 'crls', 'certificates_status_not_after')") == 4);
		CHECK_ST(store_cert_get(store, "0C01", &got), ST_OK);
		CHECK(got != NULL && got->shard == STORE_CRL_SHARD_FULL &&
		    got->status == STORE_CERT_VALID && got->reason == -1);
		store_cert_free(got);
		/* The migrated row revokes like a new one. */
		CHECK_ST(revoke_one(store, "0C01", 1, &dev), ST_OK);
		CHECK(dev != NULL && strcmp(dev, "dev-old") == 0);
		free(dev);
		CHECK_ST(store_integrity_check(store), ST_OK);
		store_close(store);
		store = NULL;
	}
	/* The store as it was, kept before migrating it: v1, mode 0600. */
	CHECK(kept_copies(v1_path, 1) == 1);
	/* Opening again migrates nothing, and keeps no other copy. */
	CHECK_ST(store_open(v1_path, &store), ST_OK);
	CHECK(raw_int("SELECT count(*) FROM revocations") == 1);
	store_close(store);
	CHECK(kept_copies(v1_path, 1) == 1);
	snprintf(db_path, sizeof(db_path), "%s", saved);
}

/* The v1 -> v2 ... v4 -> v5 steps exactly as released. */
static const char v2_step[] =
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
    " der BLOB NOT NULL);"
    "UPDATE schema_version SET version = 2;";
static const char v3_step[] = "CREATE TABLE token_keys ("
                              " label TEXT PRIMARY KEY,"
                              " kid TEXT NOT NULL,"
                              " jwk TEXT NOT NULL,"
                              " created INTEGER NOT NULL,"
                              " retired INTEGER);"
                              "UPDATE schema_version SET version = 3;";
static const char v4_step[] =
    "UPDATE certificates SET shard = -1"
    " WHERE profile IN ('root-ca', 'issuing-ca');"
    "UPDATE certificates SET shard = -2 WHERE shard = 0"
    " AND instr(der, CAST('/crl/issuing-0.crl' AS BLOB)) = 0;"
    "UPDATE crls SET shard = -2 WHERE shard = 0"
    " AND instr(der, X'0603551d1c') = 0;"
    "CREATE INDEX certificates_shard_not_after"
    " ON certificates(shard, not_after);"
    "UPDATE schema_version SET version = 4;";
static const char v5_step[] =
    "ALTER TABLE certificates ADD COLUMN supersede_at INTEGER;"
    "CREATE INDEX certificates_supersede ON certificates(supersede_at)"
    " WHERE supersede_at IS NOT NULL AND status = 'valid';"
    "UPDATE schema_version SET version = 5;";

static const char v6_step[] =
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
    " WHERE c.device_id = devices.id ORDER BY c.created, c.serial LIMIT 1);"
    "UPDATE schema_version SET version = 6;";

/* v6 -> v7 as it was: the issuing CAs by generation. */
static const char v7_step[] = "CREATE TABLE issuers ("
                              " gen INTEGER PRIMARY KEY,"
                              " serial TEXT NOT NULL UNIQUE,"
                              " key_uri TEXT NOT NULL,"
                              " not_after INTEGER NOT NULL,"
                              " created INTEGER NOT NULL,"
                              " retired INTEGER);"
                              "UPDATE schema_version SET version = 7;";

/*
 * The current version from every earlier one: a database of version `from` with a
 * device, its certificate and an unused secret of that version migrates;
 * the device takes its certificate's profile as its family, the old
 * secret has no minter, still authenticates, is listed and cancels.
 */
static void
test_migrate_v6(int from)
{
	struct store *store = NULL;
	struct secret_page p;
	struct cancel_job c;
	struct store_device d;
	char path[sizeof(db_path)], saved[sizeof(db_path)];
	uint8_t h[32];
	char sql[600], hx[65];

	snprintf(path, sizeof(path), "%s/v%d-6.db", dir, from);
	snprintf(saved, sizeof(saved), "%s", db_path);
	snprintf(db_path, sizeof(db_path), "%s", path);
	CHECK(raw_exec(v1_schema) == 0);
	if (from >= 2)
		CHECK(raw_exec(v2_step) == 0);
	if (from >= 3)
		CHECK(raw_exec(v3_step) == 0);
	if (from >= 4)
		CHECK(raw_exec(v4_step) == 0);
	if (from >= 5)
		CHECK(raw_exec(v5_step) == 0);
	if (from >= 6)
		CHECK(raw_exec(v6_step) == 0);
	if (from >= 7)
		CHECK(raw_exec(v7_step) == 0);
	sha256("old secret", h);
	hex_encode(h, sizeof(h), hx);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO enrollment_secrets (device_id, profile, hash,"
	    " created, expires) VALUES ('dev-new', 'device', x'%s', %lld,"
	    " %lld); INSERT INTO enrollment_secrets (device_id, profile,"
	    " hash, created, expires) VALUES ('dev-new2', 'device', x'%s',"
	    " %lld, %lld);",
	    hx, (long long)NOW, (long long)NOW + 600, hx, (long long)NOW,
	    (long long)NOW + 600);
	CHECK(raw_exec(sql) == 0);
	CHECK(raw_int("SELECT version FROM schema_version") == from);
	CHECK_ST(store_open(path, &store), ST_OK);
	if (store != NULL) {
		CHECK(raw_int("SELECT version FROM schema_version") ==
		    store_schema_version());
		/* v7: no issuer recorded (the issuing CA is generation 0). */
		CHECK(raw_int("SELECT count(*) FROM issuers") == 0);
		/* v8: the certificates' profile index. */
		CHECK(raw_int("SELECT count(*) FROM sqlite_master WHERE name ="
		              " 'certificates_profile'") == 1);
		CHECK_ST(store_device_get(store, "dev-old", &d), ST_OK);
		CHECK(strcmp(d.family, "device") == 0 &&
		    (from == 6 || d.authenticator[0] == '\0'));
		CHECK(secret_list(store, NULL, "dev-new", 1, &p) == 1 &&
		    strcmp(p.minter[0], "-/-") == 0);
		CHECK_ST(secret_use(store, "dev-new", "device", "old secret",
		             NOW, "AB01"),
		    ST_OK);
		memset(&c, 0, sizeof(c));
		c.f.device_id = "dev-new2";
		CHECK_ST(store_write(store, job_secret_cancel, &c), ST_OK);
		CHECK(c.count == 1);
		CHECK_ST(store_integrity_check(store), ST_OK);
		store_close(store);
	}
	snprintf(db_path, sizeof(db_path), "%s", saved);
}

/*
 * Another process holds the store's write lock longer than the busy
 * timeout (5 s) while this one would migrate it, as a worker migrating a
 * million rows does to the other workers of serve: the open waits for it
 * and migrates (or finds it migrated), instead of failing with "database
 * is locked" and taking serve down.
 */
static void
test_migrate_busy(void)
{
	struct store *store = NULL;
	char path[sizeof(db_path)], saved[sizeof(db_path)], c = 0;
	int fd[2];
	pid_t pid;
	sqlite3 *sq;

	snprintf(path, sizeof(path), "%s/busy.db", dir);
	snprintf(saved, sizeof(saved), "%s", db_path);
	snprintf(db_path, sizeof(db_path), "%s", path);
	CHECK(raw_exec(v1_schema) == 0 && raw_exec(v2_step) == 0 &&
	    raw_exec(v3_step) == 0 && raw_exec(v4_step) == 0 &&
	    raw_exec(v5_step) == 0 && raw_exec(v6_step) == 0 &&
	    raw_exec(v7_step) == 0);
	CHECK(pipe(fd) == 0);
	if ((pid = fork()) == 0) {
		close(fd[0]);
		if (sqlite3_open(path, &sq) != SQLITE_OK ||
		    sqlite3_exec(sq,
		        "PRAGMA journal_mode = WAL; BEGIN "
		        "IMMEDIATE",
		        NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(fd[1], "x", 1) != 1)
			_exit(1);
		sleep(7); /* the other process's long migration */
		sqlite3_exec(sq, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(sq);
		_exit(0);
	}
	close(fd[1]);
	CHECK(pid > 0 && read(fd[0], &c, 1) == 1);
	close(fd[0]);
	CHECK_ST(store_open(path, &store), ST_OK);
	CHECK(raw_int("SELECT version FROM schema_version") ==
	    store_schema_version());
	store_close(store);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	snprintf(db_path, sizeof(db_path), "%s", saved);
}

/*
 * SQLite plans these without statistics: each must search by its index,
 * never walk the certificates (a million rows) through another one.
 */
static void
test_plans(void)
{
	static const struct {
		int is_read;
		int s;
		const char *index;
	} want[] = {{0, W_DEVICE_CURRENT, "certificates_device_id"},
	    {0, W_DEVICE_SUPERSEDE, "certificates_device_id"},
	    {0, W_DEVICE_VALID, "certificates_device_id"},
	    {1, R_DEVICE_GET, "certificates_device_id"},
	    {1, R_CERT_LIST_DEVICE, "certificates_device_id"},
	    {1, R_CERT_LIST_PROFILE, "certificates_profile"},
	    {1, R_SUPERSEDE_DUE, "certificates_supersede"}};
	struct db *db = NULL;
	sqlite3 *sq = NULL;
	sqlite3_stmt *stmt = NULL;
	char sql[2048], what[64];
	const char *detail;
	size_t i;
	int uses, walks;

	CHECK_ST(
	    db_open(db_path, DB_OPEN_READONLY | DB_OPEN_EXISTING, &db), ST_OK);
	CHECK(sqlite3_open_v2(db_path, &sq, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK);
	for (i = 0; db != NULL && i < sizeof(want) / sizeof(*want); i++) {
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s",
		    want[i].is_read ? store_rsql(db, (enum rstmt)want[i].s)
		                    : store_wsql(db, (enum wstmt)want[i].s));
		snprintf(what, sizeof(what), "%s statement %d",
		    want[i].is_read ? "read" : "write", want[i].s);
		uses = walks = 0;
		if (sqlite3_prepare_v2(sq, sql, -1, &stmt, NULL) == SQLITE_OK)
			while (sqlite3_step(stmt) == SQLITE_ROW) {
				detail =
				    (const char *)sqlite3_column_text(stmt, 3);
				if (detail == NULL)
					continue;
				if (strstr(detail, want[i].index) != NULL)
					uses = 1;
				if (strstr(detail, "SCAN certificates") ||
				    strstr(detail, "status_not_after"))
					walks = 1;
			}
		sqlite3_finalize(stmt);
		stmt = NULL;
		if (!uses || walks)
			fprintf(stderr, "%s: plan not by %s\n", what,
			    want[i].index);
		CHECK(uses && !walks);
	}
	sqlite3_close(sq);
	db_close(db);
}

static enum status
insert_cert(struct store *store, const char *serial, const char *device,
    const char *profile, int64_t not_after, int shard)
{
	struct store_cert c;

	cert_fill(&c, serial, "CN=rev");
	c.device_id = (char *)device;
	c.profile = (char *)profile;
	c.not_after = not_after;
	c.shard = shard;
	return store_write(store, job_cert_insert, &c);
}

struct feed {
	int64_t seq[16];
	char serial[16][STORE_SERIAL_HEX_CAP];
	int reason[16];
	int has_device[16];
	size_t count;
};

static int
feed_row(const struct store_revocation *r, void *arg)
{
	struct feed *f = arg;

	if (f->count >= 16)
		return 1;
	f->seq[f->count] = r->seq;
	snprintf(f->serial[f->count], STORE_SERIAL_HEX_CAP, "%s", r->serial);
	f->reason[f->count] = r->reason;
	f->has_device[f->count] = r->device_id != NULL;
	f->count++;
	return 0;
}

static void
test_revoke(void)
{
	struct store *store = NULL;
	struct store_cert *got = NULL;
	struct store_device d;
	struct revoke_args r;
	struct feed f;
	struct store_pub_version v0, v1;
	uint64_t seen;
	char *dev = NULL;
	int64_t base;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(insert_cert(store, "AA01", "dev-r", "device", NOW + 86400, 0),
	    ST_OK);
	CHECK_ST(insert_cert(store, "AA02", "dev-r", "device", NOW + 86400, 0),
	    ST_OK);
	CHECK_ST(insert_cert(store, "AA03", "dev-r", "device", NOW + 86400, 0),
	    ST_OK);
	CHECK_ST(insert_cert(store, "AA04", NULL, "tls-server", NOW + 86400, 0),
	    ST_OK);
	memset(&r, 0, sizeof(r));
	r.device_id = "dev-r";
	r.time = NOW;
	CHECK_ST(store_write(store, job_device_ensure, &r), ST_OK);
	base = raw_int("SELECT coalesce(max(seq), 0) FROM revocations");

	/* What the published objects are built from moves with the feed. */
	seen = 0;
	CHECK(store_data_changed(store, &seen) == 1);
	CHECK(store_data_changed(store, &seen) == (pg_url != NULL));
	CHECK_ST(store_pub_version(store, &v0), ST_OK);
	CHECK(v0.feed == base);
	CHECK_ST(revoke_one(store, "AA01", 1, &dev), ST_OK);
	CHECK(dev != NULL && strcmp(dev, "dev-r") == 0);
	free(dev);
	dev = NULL;
	CHECK(store_data_changed(store, &seen) == 1);
	CHECK_ST(store_pub_version(store, &v1), ST_OK);
	CHECK(v1.feed > v0.feed);
	CHECK(memcmp(v1.token_keys, v0.token_keys, sizeof(v0.token_keys)) == 0);
	CHECK(memcmp(v1.crls, v0.crls, sizeof(v0.crls)) == 0);
	CHECK_ST(store_cert_get(store, "AA01", &got), ST_OK);
	CHECK(got != NULL && got->status == STORE_CERT_REVOKED &&
	    got->revoked_at == NOW + 100 && got->reason == 1);
	store_cert_free(got);
	got = NULL;
	/* Twice: a conflict that changes nothing. */
	CHECK_ST(revoke_one(store, "AA01", 4, NULL), ST_CONFLICT);
	CHECK_DETAIL("certificate AA01 is already revoked");
	CHECK_ST(revoke_one(store, "AA99", 1, NULL), ST_NOTFOUND);
	CHECK_DETAIL("no certificate with serial AA99");
	CHECK_ST(revoke_one(store, "aa02", 1, NULL), ST_MALFORMED);
	/* Reasons: -1 is none; 0 and 8 are never stored; 7 does not exist. */
	CHECK_ST(revoke_one(store, "AA02", 0, NULL), ST_MALFORMED);
	CHECK_ST(revoke_one(store, "AA02", 7, NULL), ST_MALFORMED);
	CHECK_ST(revoke_one(store, "AA02", 8, NULL), ST_MALFORMED);
	CHECK(store_reason_is_valid(-1) && store_reason_is_valid(10) &&
	    !store_reason_is_valid(11) && !store_reason_is_valid(-2));
	CHECK_ST(revoke_one(store, "AA04", -1, &dev), ST_OK);
	CHECK(dev == NULL);
	CHECK(raw_int("SELECT reason FROM revocations WHERE serial = 'AA04'") ==
	    -1);
	CHECK_ST(store_cert_get(store, "AA04", &got), ST_OK);
	CHECK(got != NULL && got->reason == -1);
	store_cert_free(got);
	got = NULL;

	/* The device's remaining valid certificates: AA02 and AA03. */
	memset(&r, 0, sizeof(r));
	r.device_id = "dev-r";
	r.reason = 5;
	r.time = NOW + 200;
	CHECK_ST(store_write(store, job_device_revoke, &r), ST_OK);
	CHECK(r.count == 2);
	CHECK_ST(store_write(store, job_device_revoke, &r), ST_OK);
	CHECK(r.count == 0);
	r.reason = 0;
	CHECK_ST(store_write(store, job_device_revoke, &r), ST_MALFORMED);
	CHECK(r.count == 0);

	/* The feed: in order, since and limit. */
	memset(&f, 0, sizeof(f));
	CHECK_ST(
	    store_revocations_since(store, base, 100, feed_row, &f), ST_OK);
	CHECK(f.count == 4);
	if (f.count == 4) {
		CHECK(strcmp(f.serial[0], "AA01") == 0 && f.reason[0] == 1 &&
		    f.has_device[0]);
		CHECK(strcmp(f.serial[1], "AA04") == 0 && f.reason[1] == -1 &&
		    !f.has_device[1]);
		CHECK(strcmp(f.serial[2], "AA02") == 0 && f.reason[2] == 5);
		CHECK(strcmp(f.serial[3], "AA03") == 0);
		CHECK(f.seq[0] < f.seq[1] && f.seq[1] < f.seq[2] &&
		    f.seq[2] < f.seq[3]);
		base = f.seq[0];
	}
	memset(&f, 0, sizeof(f));
	CHECK_ST(store_revocations_since(store, base, 2, feed_row, &f), ST_OK);
	CHECK(f.count == 2 && strcmp(f.serial[0], "AA04") == 0 &&
	    strcmp(f.serial[1], "AA02") == 0);
	CHECK_ST(
	    store_revocations_since(store, 0, 0, feed_row, &f), ST_MALFORMED);
	CHECK_ST(store_revocations_since(store, 0, 1001, feed_row, &f),
	    ST_MALFORMED);

	/* Blocking. */
	memset(&r, 0, sizeof(r));
	r.device_id = "dev-r";
	r.time = NOW + 300;
	CHECK_ST(store_write(store, job_device_blocked, &r), ST_OK);
	CHECK(r.blocked_out == 0);
	r.is_blocked = 1;
	CHECK_ST(store_write(store, job_device_set, &r), ST_OK);
	CHECK_ST(store_write(store, job_device_blocked, &r), ST_OK);
	CHECK(r.blocked_out == 1);
	CHECK_ST(store_device_get(store, "dev-r", &d), ST_OK);
	CHECK(d.is_blocked == 1 && d.created == NOW && d.updated == NOW + 300 &&
	    d.cert_count == 3 && d.valid_count == 0);
	CHECK_ST(store_device_get(store, "dev-none", &d), ST_NOTFOUND);
	CHECK(d.cert_count == 0);
	r.is_blocked = 0;
	CHECK_ST(store_write(store, job_device_set, &r), ST_OK);
	CHECK_ST(store_write(store, job_device_blocked, &r), ST_OK);
	CHECK(r.blocked_out == 0);
	r.device_id = "dev-none";
	r.is_blocked = 1;
	CHECK_ST(store_write(store, job_device_set, &r), ST_NOTFOUND);
	CHECK_DETAIL("no device dev-none");
	/* A device never seen is not blocked. */
	r.blocked_out = 7;
	CHECK_ST(store_write(store, job_device_blocked, &r), ST_OK);
	CHECK(r.blocked_out == 0);
	CHECK_ST(store_integrity_check(store), ST_OK);
	store_close(store);
}

struct page {
	char last[STORE_SERIAL_HEX_CAP];
	size_t count;
	int is_ordered;
	int is_wrong; /* a row the filter should have dropped */
	const struct store_cert_filter *f;
};

static int
page_row(const struct store_cert *c, void *arg)
{
	struct page *p = arg;

	if (p->count > 0 && strcmp(c->serial, p->last) <= 0)
		p->is_ordered = 0;
	if ((p->f->device_id != NULL &&
	        (c->device_id == NULL ||
	            strcmp(c->device_id, p->f->device_id) != 0)) ||
	    (p->f->status != -1 && (int)c->status != p->f->status) ||
	    (p->f->profile != NULL && strcmp(c->profile, p->f->profile) != 0) ||
	    (p->f->expiring_before != 0 &&
	        c->not_after >= p->f->expiring_before) ||
	    c->der_len != sizeof(fake_der))
		p->is_wrong = 1;
	snprintf(p->last, sizeof(p->last), "%s", c->serial);
	p->count++;
	return 0;
}

/* List with f, following cursors; the page sizes go to sizes. */
static size_t
list_all(struct store *store, struct store_cert_filter *f, size_t *sizes,
    size_t cap, int *is_ok)
{
	struct page p;
	char cursor[STORE_SERIAL_HEX_CAP] = "";
	size_t pages = 0, total = 0;

	*is_ok = 1;
	for (;;) {
		memset(&p, 0, sizeof(p));
		p.is_ordered = 1;
		p.f = f;
		f->cursor = cursor;
		if (store_cert_list(store, f, page_row, &p) != ST_OK) {
			*is_ok = 0;
			break;
		}
		if (pages < cap)
			sizes[pages] = p.count;
		pages++;
		total += p.count;
		if (!p.is_ordered || p.is_wrong ||
		    (pages > 1 && p.count > 0 && strcmp(p.last, cursor) <= 0))
			*is_ok = 0;
		if (p.count < f->limit)
			break;
		snprintf(cursor, sizeof(cursor), "%s", p.last);
	}
	f->cursor = NULL;
	return total;
}

static void
test_list(void)
{
	struct store *store = NULL;
	struct store_cert_filter f;
	struct page p;
	size_t sizes[8], total;
	char serial[STORE_SERIAL_HEX_CAP];
	int i, is_ok;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	/* 250 certificates of dev-list: every 5th gateway, every 10th
	 * revoked, the first 40 expiring soon. */
	for (i = 0; i < 250; i++) {
		snprintf(serial, sizeof(serial), "C%04X", i * 7 % 250);
		CHECK_ST(insert_cert(store, serial, "dev-list",
		             i % 5 == 0 ? "gateway" : "device",
		             i < 40 ? NOW + 10 : NOW + 86400, 0),
		    ST_OK);
		if (i % 10 == 1)
			CHECK_ST(revoke_one(store, serial, 4, NULL), ST_OK);
	}
	memset(&f, 0, sizeof(f));
	f.device_id = "dev-list";
	f.status = -1;
	f.limit = 100;
	total = list_all(store, &f, sizes, 8, &is_ok);
	CHECK(is_ok && total == 250);
	CHECK(sizes[0] == 100 && sizes[1] == 100 && sizes[2] == 50);
	f.status = STORE_CERT_REVOKED;
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 25 && is_ok);
	f.status = STORE_CERT_VALID;
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 225 && is_ok);
	f.status = -1;
	f.profile = "gateway";
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 50 && is_ok);
	f.profile = NULL;
	f.expiring_before = NOW + 100;
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 40 && is_ok);
	/* Without a device: every row of the table, same paging. */
	memset(&f, 0, sizeof(f));
	f.status = -1;
	f.profile = "gateway";
	f.limit = 7;
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 50 && is_ok);
	f.profile = NULL;
	f.device_id = "dev-nobody";
	CHECK(list_all(store, &f, sizes, 8, &is_ok) == 0 && is_ok);

	memset(&p, 0, sizeof(p));
	p.f = &f;
	f.limit = 0;
	CHECK_ST(store_cert_list(store, &f, page_row, &p), ST_MALFORMED);
	f.limit = 1001;
	CHECK_ST(store_cert_list(store, &f, page_row, &p), ST_MALFORMED);
	f.limit = 10;
	f.status = 5;
	CHECK_ST(store_cert_list(store, &f, page_row, &p), ST_MALFORMED);
	f.status = -1;
	f.cursor = "C0' OR 1=1 --";
	CHECK_ST(store_cert_list(store, &f, page_row, &p), ST_MALFORMED);
	CHECK(p.count == 0);
	store_close(store);
}

static int
due_row(const char *serial, int64_t next_update, void *arg)
{
	struct feed *f = arg;

	if (f->count >= 16)
		return 1;
	snprintf(f->serial[f->count], STORE_SERIAL_HEX_CAP, "%s", serial);
	f->seq[f->count] = next_update;
	f->count++;
	return 0;
}

static void
test_ocsp_crl(void)
{
	static const uint8_t resp1[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
	static const uint8_t resp2[] = {0x30, 0x03, 0x0a, 0x01, 0x01, 0x00};
	struct store *store = NULL;
	struct store_crl *crl = NULL;
	struct revoke_args r;
	struct feed f;
	struct store_pub_version v0, v1;
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t next = 0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(store_ocsp_get(store, "0A1B", &der, &len, &next), ST_NOTFOUND);
	CHECK(der == NULL && len == 0);
	memset(&r, 0, sizeof(r));
	/* Only for a certificate of ours, in the status it was signed for,
	 * by a responder that is not revoked. */
	r.serial = "0A1D";
	r.der = resp1;
	r.der_len = sizeof(resp1);
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_CONFLICT);
	CHECK_ST(insert_one(store, "0A1D", "CN=dev-ocsp"), ST_OK);
	CHECK_ST(insert_one(store, "0A1E", "CN=responder"), ST_OK);
	CHECK_ST(revoke_one(store, "0A1D", 1, NULL), ST_OK);
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_CONFLICT);
	CHECK_ST(store_ocsp_get(store, "0A1D", &der, &len, NULL), ST_NOTFOUND);
	r.signed_for = STORE_CERT_REVOKED;
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_OK);
	CHECK_ST(store_ocsp_get(store, "0A1D", &der, &len, NULL), ST_OK);
	free(der);
	der = NULL;
	r.serial = "0A1B";
	r.signed_for = STORE_CERT_VALID;
	r.signer = "0A1E";
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_OK);
	CHECK_ST(revoke_one(store, "0A1E", 1, NULL), ST_OK);
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_CONFLICT);
	CHECK_ST(store_write(store, job_ocsp_delete_all, &r), ST_OK);
	CHECK_ST(store_ocsp_get(store, "0A1B", &der, &len, NULL), ST_NOTFOUND);
	CHECK_ST(store_ocsp_get(store, "0A1D", &der, &len, NULL), ST_NOTFOUND);
	memset(&r, 0, sizeof(r));
	CHECK_ST(insert_one(store, "0A1C", "CN=dev-2"), ST_OK);
	r.serial = "0A1B";
	r.der = resp1;
	r.der_len = sizeof(resp1);
	r.this_update = NOW;
	r.next_update = NOW + 3600;
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_OK);
	r.serial = "0A1C";
	r.next_update = NOW + 60;
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_OK);
	CHECK_ST(store_ocsp_get(store, "0A1B", &der, &len, &next), ST_OK);
	CHECK(len == sizeof(resp1) && memcmp(der, resp1, len) == 0 &&
	    next == NOW + 3600);
	free(der);
	der = NULL;
	/* Replaced in place. */
	r.serial = "0A1B";
	r.der = resp2;
	r.der_len = sizeof(resp2);
	r.next_update = NOW + 7200;
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_OK);
	CHECK_ST(store_ocsp_get(store, "0A1B", &der, &len, NULL), ST_OK);
	CHECK(len == sizeof(resp2) && memcmp(der, resp2, len) == 0);
	free(der);
	der = NULL;
	r.der_len = 0;
	CHECK_ST(store_write(store, job_ocsp_put, &r), ST_MALFORMED);
	memset(&f, 0, sizeof(f));
	CHECK_ST(store_ocsp_due(store, NOW + 3600, due_row, &f), ST_OK);
	CHECK(f.count == 1 && strcmp(f.serial[0], "0A1C") == 0 &&
	    f.seq[0] == NOW + 60);
	memset(&f, 0, sizeof(f));
	CHECK_ST(store_ocsp_due(store, NOW + 8000, due_row, &f), ST_OK);
	CHECK(f.count == 2 && strcmp(f.serial[0], "0A1C") == 0 &&
	    strcmp(f.serial[1], "0A1B") == 0);

	/* CRL numbers per shard, from 1, never back. */
	memset(&r, 0, sizeof(r));
	r.shard = 0;
	CHECK_ST(store_write(store, job_crl_next, &r), ST_OK);
	CHECK(r.number == 1);
	CHECK_ST(store_crl_get(store, 0, &crl), ST_NOTFOUND);
	CHECK(crl == NULL);
	r.der = resp1;
	r.der_len = sizeof(resp1);
	r.this_update = NOW;
	r.next_update = NOW + 86400;
	CHECK_ST(store_write(store, job_crl_put, &r), ST_OK);
	CHECK_ST(store_write(store, job_crl_next, &r), ST_OK);
	CHECK(r.number == 2);
	r.der = resp2;
	r.der_len = sizeof(resp2);
	CHECK_ST(store_pub_version(store, &v0), ST_OK);
	CHECK_ST(store_write(store, job_crl_put, &r), ST_OK);
	/* A new CRL changes the CRLs' version, and only it. */
	CHECK_ST(store_pub_version(store, &v1), ST_OK);
	CHECK(v1.crls[1] == v0.crls[1] + 1 && v1.feed == v0.feed);
	CHECK_ST(store_write(store, job_crl_next, &r), ST_OK);
	CHECK(r.number == 3);
	r.number = 2;
	CHECK_ST(store_write(store, job_crl_put, &r), ST_CONFLICT);
	CHECK_DETAIL("crlNumber 2 is not above the stored one");
	CHECK_ST(store_crl_get(store, 0, &crl), ST_OK);
	CHECK(crl != NULL && crl->number == 2 && crl->shard == 0 &&
	    crl->this_update == NOW && crl->next_update == NOW + 86400 &&
	    crl->der_len == sizeof(resp2) &&
	    memcmp(crl->der, resp2, sizeof(resp2)) == 0);
	store_crl_free(crl);
	crl = NULL;
	store_crl_free(NULL);
	/* The root CA's CRL and another shard count on their own. */
	r.shard = STORE_CRL_SHARD_ROOT;
	CHECK_ST(store_write(store, job_crl_next, &r), ST_OK);
	CHECK(r.number == 1);
	CHECK_ST(store_write(store, job_crl_put, &r), ST_OK);
	CHECK_ST(store_crl_get(store, STORE_CRL_SHARD_ROOT, &crl), ST_OK);
	CHECK(crl != NULL && crl->number == 1);
	store_crl_free(crl);
	r.shard = 3;
	CHECK_ST(store_write(store, job_crl_next, &r), ST_OK);
	CHECK(r.number == 1);
	/* The full CRL has its own row and numbers. */
	r.shard = STORE_CRL_SHARD_FULL;
	r.number = 1;
	CHECK_ST(store_write(store, job_crl_put, &r), ST_OK);
	r.shard = -3;
	CHECK_ST(store_write(store, job_crl_put, &r), ST_MALFORMED);
	store_close(store);
}

struct revoked_walk {
	size_t count;
	int has_expired, has_other, has_valid;
	int64_t reason_sum;
	size_t count_a7; /* test_issuers' rows: serials A70x */
};

static int
revoked_row(const char *serial, int64_t revoked_at, int reason, void *arg)
{
	struct revoked_walk *w = arg;

	(void)revoked_at;
	w->count++;
	w->reason_sum += reason;
	if (strcmp(serial, "E001") == 0)
		w->has_expired = 1;
	if (strcmp(serial, "E003") == 0)
		w->has_other = 1;
	if (strcmp(serial, "E004") == 0)
		w->has_valid = 1;
	if (strncmp(serial, "A70", 3) == 0)
		w->count_a7++;
	return 0;
}

static void
test_revoked_foreach(void)
{
	struct store *store = NULL;
	struct revoked_walk w;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	/* Expired in shard 1; current in shard 1; shard 2; valid. */
	CHECK_ST(
	    insert_cert(store, "E001", "dev-e", "device", NOW - 1, 1), ST_OK);
	CHECK_ST(insert_cert(store, "E002", "dev-e", "device", NOW, 1), ST_OK);
	CHECK_ST(
	    insert_cert(store, "E003", "dev-e", "device", NOW + 9, 2), ST_OK);
	CHECK_ST(
	    insert_cert(store, "E004", "dev-e", "device", NOW + 9, 1), ST_OK);
	CHECK_ST(revoke_one(store, "E001", 1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "E002", -1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "E003", 1, NULL), ST_OK);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(store, 1, NOW, revoked_row, &w), ST_OK);
	CHECK(w.count == 1 && !w.has_expired && !w.has_other && !w.has_valid);
	CHECK(w.reason_sum == -1);
	memset(&w, 0, sizeof(w));
	CHECK_ST(
	    store_revoked_foreach(store, 1, NOW - 1, revoked_row, &w), ST_OK);
	CHECK(w.count == 2 && w.has_expired);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(store, 2, NOW, revoked_row, &w), ST_OK);
	CHECK(w.count == 1 && w.has_other);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(store, 9, NOW, revoked_row, &w), ST_OK);
	CHECK(w.count == 0);
	store_close(store);
}

/*
 * The feed's order is its commit order (PostgreSQL, two stores as two
 * nodes): a revocation whose transaction stays open between its feed row
 * and its COMMIT, and another node's revocation meanwhile. A gateway that
 * reads "since the last seq it saw" while the first is still open, and
 * again after both committed, must have seen both rows. When the seq is
 * drawn at the insert, the second node's row commits first with the
 * higher seq, the reader moves past it, and the late lower seq is never
 * read.
 */
struct held {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inside, release, done_a, done_b;
	enum status st_a, st_b;
	char *dev;
};

static enum status
job_revoke_held(struct store_txn *txn, void *arg)
{
	struct held *h = arg;
	enum status st;

	st = store_txn_cert_revoke(txn, "FE01", 1, NOW, &h->dev);
	pthread_mutex_lock(&h->mu);
	h->inside = 1;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return st;
}

static enum status
job_revoke_fe02(struct store_txn *txn, void *arg)
{
	(void)arg;
	return store_txn_cert_revoke(txn, "FE02", 1, NOW, NULL);
}

static void
held_done_a(enum status st, const char *detail, void *arg)
{
	struct held *h = arg;

	(void)detail;
	pthread_mutex_lock(&h->mu);
	h->st_a = st;
	h->done_a = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void
held_done_b(enum status st, const char *detail, void *arg)
{
	struct held *h = arg;

	(void)detail;
	pthread_mutex_lock(&h->mu);
	h->st_b = st;
	h->done_b = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Wait (at most 20 s) until *flag is set; 1 if it is. */
static int
held_wait(struct held *h, const int *flag)
{
	struct timespec until;
	int set;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&h->mu);
	while (!*flag && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
		;
	set = *flag;
	pthread_mutex_unlock(&h->mu);
	return set;
}

/* Whether node B's revocation ended or waits on a lock (at most 20 s). */
static int
second_finished_or_waits(struct held *h)
{
	int i, done;

	for (i = 0; i < 2000; i++) {
		pthread_mutex_lock(&h->mu);
		done = h->done_b;
		pthread_mutex_unlock(&h->mu);
		if (done ||
		    pg_raw_int("SELECT count(*) FROM pg_locks"
		               " WHERE NOT granted") > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void
test_feed_commit_order(void)
{
	struct store *a = NULL, *b = NULL;
	struct held h;
	struct feed seen;
	int64_t since;
	size_t i, first;
	int has1 = 0, has2 = 0;

	CHECK_ST(store_open(db_path, &a), ST_OK);
	CHECK_ST(store_open(db_path, &b), ST_OK);
	if (a == NULL || b == NULL)
		goto out;
	CHECK_ST(
	    insert_cert(a, "FE01", "dev-fe", "device", NOW + 86400, 0), ST_OK);
	CHECK_ST(
	    insert_cert(a, "FE02", "dev-fe", "device", NOW + 86400, 0), ST_OK);
	CHECK_ST(store_revocations_last_seq(b, &since), ST_OK);
	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	memset(&seen, 0, sizeof(seen));

	/* Node A: its feed row written, its transaction held open. */
	CHECK_ST(
	    store_write_async(a, job_revoke_held, &h, held_done_a, &h), ST_OK);
	CHECK(held_wait(&h, &h.inside));
	/* Node B revokes another certificate meanwhile. */
	CHECK_ST(store_write_async(b, job_revoke_fe02, NULL, held_done_b, &h),
	    ST_OK);
	CHECK(second_finished_or_waits(&h));
	/* A gateway reads the feed while A is still open... */
	CHECK_ST(store_revocations_since(b, since, 16, feed_row, &seen), ST_OK);
	if (seen.count > 0)
		since = seen.seq[seen.count - 1];
	first = seen.count;
	/* ...and again once both committed. */
	pthread_mutex_lock(&h.mu);
	h.release = 1;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	CHECK(held_wait(&h, &h.done_a));
	CHECK(held_wait(&h, &h.done_b));
	CHECK_ST(h.st_a, ST_OK);
	CHECK_ST(h.st_b, ST_OK);
	CHECK_ST(store_revocations_since(b, since, 16, feed_row, &seen), ST_OK);
	for (i = 0; i < seen.count; i++) {
		has1 |= strcmp(seen.serial[i], "FE01") == 0;
		has2 |= strcmp(seen.serial[i], "FE02") == 0;
	}
	if (!has1 || !has2)
		fprintf(stderr,
		    "feed: the reader saw %zu row(s) while A was open, %zu in"
		    " all; FE01 %s, FE02 %s\n",
		    first, seen.count, has1 ? "seen" : "MISSED",
		    has2 ? "seen" : "MISSED");
	CHECK(has1 && has2);
	CHECK(seen.count == 2);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
	free(h.dev);
out:
	store_close(b);
	store_close(a);
}

struct issuer_job {
	struct store_issuer add;
	int max_gen;
	int retire_gen;
};

static enum status
job_issuer_add(struct store_txn *txn, void *arg)
{
	struct issuer_job *j = arg;
	enum status st;

	if ((st = store_txn_issuer_add(txn, &j->add)) != ST_OK)
		return st;
	return store_txn_issuer_max_gen(txn, &j->max_gen);
}

static enum status
job_issuer_retire(struct store_txn *txn, void *arg)
{
	struct issuer_job *j = arg;

	return store_txn_issuer_retire(txn, j->retire_gen, NOW);
}

/*
 * Issuing-CA generations (schema v7): the shard numbers of a generation,
 * its full CRL walking only its own shards, its last expiry, and the
 * issuers table (a generation or serial recorded once, retired once).
 */
static void
test_issuers(void)
{
	struct store *store = NULL;
	struct store_issuer got;
	struct issuer_job j;
	struct revoked_walk w;
	int64_t last = 0;
	int gen, index;

	CHECK(store_shard_make(0, 3) == 3);
	CHECK(
	    store_shard_make(0, STORE_CRL_SHARD_FULL) == STORE_CRL_SHARD_FULL);
	CHECK(
	    store_shard_make(2, STORE_CRL_SHARD_ROOT) == STORE_CRL_SHARD_ROOT);
	store_shard_split(store_shard_make(2, 5), &gen, &index);
	CHECK(gen == 2 && index == 5);
	store_shard_split(
	    store_shard_make(1, STORE_CRL_SHARD_FULL), &gen, &index);
	CHECK(gen == 1 && index == STORE_CRL_SHARD_FULL);
	store_shard_split(STORE_CRL_SHARD_ROOT, &gen, &index);
	CHECK(gen == -1 && index == STORE_CRL_SHARD_ROOT);
	store_shard_split(STORE_CRL_SHARD_FULL, &gen, &index);
	CHECK(gen == 0 && index == STORE_CRL_SHARD_FULL);

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	/* Generation 0 full and shard 3, generation 1 full and shard 3,
	 * a CA under the root: each revoked. */
	CHECK_ST(insert_cert(store, "A701", "dev-g", "device", NOW + 50,
	             STORE_CRL_SHARD_FULL),
	    ST_OK);
	CHECK_ST(
	    insert_cert(store, "A702", "dev-g", "device", NOW + 60, 3), ST_OK);
	CHECK_ST(insert_cert(store, "A703", "dev-g", "device", NOW + 70,
	             store_shard_make(1, STORE_CRL_SHARD_FULL)),
	    ST_OK);
	CHECK_ST(insert_cert(store, "A704", "dev-g", "device", NOW + 80,
	             store_shard_make(1, 3)),
	    ST_OK);
	CHECK_ST(insert_cert(store, "A705", NULL, "issuing-ca", NOW + 900,
	             STORE_CRL_SHARD_ROOT),
	    ST_OK);
	CHECK_ST(revoke_one(store, "A701", 1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "A702", 1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "A703", 1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "A704", 1, NULL), ST_OK);
	CHECK_ST(revoke_one(store, "A705", 1, NULL), ST_OK);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(
	             store, STORE_CRL_SHARD_FULL, NOW, revoked_row, &w),
	    ST_OK);
	CHECK(w.count >= 2 && w.count_a7 == 2);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(store,
	             store_shard_make(1, STORE_CRL_SHARD_FULL), NOW,
	             revoked_row, &w),
	    ST_OK);
	CHECK(w.count == 2 && w.count_a7 == 2);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(
	             store, store_shard_make(1, 3), NOW, revoked_row, &w),
	    ST_OK);
	CHECK(w.count == 1 && w.count_a7 == 1);
	CHECK_ST(store_gen_last_expiry(store, 1, &last), ST_OK);
	CHECK(last == NOW + 80);
	CHECK_ST(store_gen_last_expiry(store, 2, &last), ST_OK);
	CHECK(last == 0);
	CHECK_ST(store_gen_last_expiry(store, 0, &last), ST_OK);
	CHECK(last >= NOW + 60);

	memset(&j, 0, sizeof(j));
	j.add.gen = 1;
	snprintf(j.add.serial, sizeof(j.add.serial), "A7A1");
	snprintf(j.add.key_uri, sizeof(j.add.key_uri), "pkcs11:object=x-1");
	j.add.not_after = NOW + 1000;
	j.add.created = NOW;
	CHECK_ST(store_write(store, job_issuer_add, &j), ST_OK);
	CHECK(j.max_gen == 1);
	/* The same generation, or the same serial, again: refused. */
	snprintf(j.add.serial, sizeof(j.add.serial), "A7A2");
	CHECK_ST(store_write(store, job_issuer_add, &j), ST_CONFLICT);
	j.add.gen = 2;
	snprintf(j.add.serial, sizeof(j.add.serial), "A7A1");
	CHECK_ST(store_write(store, job_issuer_add, &j), ST_CONFLICT);
	j.add.gen = -1;
	CHECK_ST(store_write(store, job_issuer_add, &j), ST_MALFORMED);
	CHECK_ST(store_issuer_find(store, "A7A1", &got), ST_OK);
	CHECK(got.gen == 1 && strcmp(got.key_uri, "pkcs11:object=x-1") == 0 &&
	    got.not_after == NOW + 1000 && got.retired == 0);
	CHECK_ST(store_issuer_find(store, "A7A9", &got), ST_NOTFOUND);
	j.retire_gen = 1;
	CHECK_ST(store_write(store, job_issuer_retire, &j), ST_OK);
	CHECK_ST(store_write(store, job_issuer_retire, &j), ST_NOTFOUND);
	CHECK_ST(store_issuer_find(store, "A7A1", &got), ST_OK);
	CHECK(got.retired == NOW);
	store_close(store);
}

/* Rows for the timing: revoked, in shard 0, one transaction. */
struct bulk {
	int rows;
	int64_t now;
};

static enum status
job_bulk_revoked(struct store_txn *txn, void *arg)
{
	struct bulk *b = arg;
	struct store_cert c;
	char serial[STORE_SERIAL_HEX_CAP];
	enum status st;
	int i;

	for (i = 0; i < b->rows; i++) {
		snprintf(serial, sizeof(serial), "7F%030X", i);
		/* 600 bytes of DER, about what a device certificate has. */
		cert_fill(&c, serial, "CN=bulk");
		c.status = STORE_CERT_REVOKED;
		c.revoked_at = b->now;
		c.reason = i % 3 == 0 ? -1 : 1;
		c.not_after = b->now + 86400;
		if ((st = store_txn_cert_insert(txn, &c)) != ST_OK)
			return st;
	}
	return ST_OK;
}

static int
count_row(const char *serial, int64_t revoked_at, int reason, void *arg)
{
	(void)serial;
	(void)revoked_at;
	(void)reason;
	(*(size_t *)arg)++;
	return 0;
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The CRL walk's speed: TESSERA_TEST_REVOKED_ROWS rows (default 100k so
 * that the suite stays quick; bench_store_revoked does 1M). Printed, not
 * asserted: machines differ.
 */
static void
test_revoked_timing(void)
{
	struct store *store = NULL;
	struct bulk b;
	char path[4200];
	const char *env = getenv("TESSERA_TEST_REVOKED_ROWS");
	size_t n = 0;
	double t0, t1, t2;

	snprintf(path, sizeof(path), "%s/bulk.db", dir);
	b.rows = 100000;
	if (env != NULL && strtol(env, NULL, 10) > 0)
		b.rows = (int)strtol(env, NULL, 10);
	b.now = NOW;
	CHECK_ST(store_open(path, &store), ST_OK);
	if (store == NULL)
		return;
	t0 = seconds();
	CHECK_ST(store_write(store, job_bulk_revoked, &b), ST_OK);
	t1 = seconds();
	CHECK_ST(store_revoked_foreach(store, 0, NOW, count_row, &n), ST_OK);
	t2 = seconds();
	CHECK(n == (size_t)b.rows);
	printf("revoked_foreach: %zu rows in %.3f s (insert %.3f s)\n", n,
	    t2 - t1, t1 - t0);
	store_close(store);
}

/*
 * PostgreSQL: the CRL walk streams its rows (single-row mode) instead of
 * holding them all in one result: when fn sees the first row of a walk
 * far larger than the socket's buffers, the server is still sending it
 * (its query is active). With one result for all the rows, the query has
 * ended before fn runs. A walk that fn stops early ends cleanly, and the
 * next walk sees every row.
 */
struct stream_walk {
	size_t n, stop_after;
	long long active_at_first;
};

static int
stream_row(const char *serial, int64_t revoked_at, int reason, void *arg)
{
	struct stream_walk *w = arg;

	(void)serial;
	(void)revoked_at;
	(void)reason;
	if (w->n == 0)
		w->active_at_first =
		    pg_raw_int("SELECT count(*) FROM pg_stat_activity"
		               " WHERE state = 'active' AND query LIKE"
		               " 'SELECT serial, revoked_at, reason FROM%'");
	w->n++;
	return w->stop_after > 0 && w->n >= w->stop_after;
}

static void
test_revoked_stream(void)
{
	struct store *store = NULL;
	struct stream_walk w;
	const int rows = 100000;
	double t0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK(
	    raw_exec("INSERT INTO certificates (serial, issuer, subject,"
	             " device_id, profile, not_before, not_after, status,"
	             " revoked_at, reason, der, created, shard)"
	             " SELECT '5E' || lpad(to_hex(g), 30, '0'), 'CN=CA',"
	             " 'CN=stream', NULL, 'device', 1700000000, 1800000000,"
	             " 'revoked', 1700000100, 1, '\\x3000'::bytea,"
	             " 1700000000, 77 FROM generate_series(1, 100000) g") == 0);
	memset(&w, 0, sizeof(w));
	t0 = seconds();
	CHECK_ST(store_revoked_foreach(store, 77, NOW, stream_row, &w), ST_OK);
	printf("revoked_foreach (PostgreSQL, streamed): %zu rows in %.3f s\n",
	    w.n, seconds() - t0);
	CHECK(w.n == (size_t)rows);
	if (w.active_at_first < 1)
		fprintf(stderr,
		    "revoked walk: the query had ended (%lld active) when the "
		    "first of %d rows was read: one result for all of them\n",
		    w.active_at_first, rows);
	CHECK(w.active_at_first >= 1);
	memset(&w, 0, sizeof(w));
	w.stop_after = 10;
	CHECK_ST(store_revoked_foreach(store, 77, NOW, stream_row, &w), ST_OK);
	CHECK(w.n == 10);
	memset(&w, 0, sizeof(w));
	CHECK_ST(store_revoked_foreach(store, 77, NOW, stream_row, &w), ST_OK);
	CHECK(w.n == (size_t)rows);
	CHECK(raw_exec("DELETE FROM certificates WHERE shard = 77") == 0);
	store_close(store);
}

static void
test_newer_schema(void)
{
	struct store *store = NULL;

	CHECK(raw_exec("UPDATE schema_version SET version = 99") == 0);
	CHECK_ST(store_open(db_path, &store), ST_STORE);
	CHECK_DETAIL("database schema version 99 is newer than this tessera");
	CHECK(store == NULL);
	store_close(store);
	/* Refusing did not touch the file. */
	CHECK(raw_int("SELECT version FROM schema_version") == 99);
}

static void
test_bad_path(void)
{
	struct store *store = NULL;
	char path[4200];

	snprintf(path, sizeof(path), "%s/no/such/dir/db", dir);
	CHECK_ST(store_open(path, &store), ST_STORE);
	CHECK(store == NULL);
}

/* Renewal supersedes (schema v4). */

struct supersede_args {
	const char *serial;
	const char *device;
	int64_t at;
	size_t count;
	char current[STORE_SERIAL_HEX_CAP];
	int64_t id;
};

static enum status
job_supersede(struct store_txn *txn, void *arg)
{
	struct supersede_args *s = arg;

	return store_txn_cert_supersede(txn, s->serial, s->at);
}

static enum status
job_device_supersede(struct store_txn *txn, void *arg)
{
	struct supersede_args *s = arg;

	return store_txn_device_supersede(txn, s->device, s->at, &s->count);
}

static enum status
job_current(struct store_txn *txn, void *arg)
{
	struct supersede_args *s = arg;

	return store_txn_device_current(txn, s->device, s->at, s->current);
}

static enum status
job_reserve(struct store_txn *txn, void *arg)
{
	struct supersede_args *s = arg;
	uint8_t hash[32];

	sha256("reserve me", hash);
	return store_txn_secret_use(
	    txn, s->device, "device", hash, NOW, NULL, &s->id);
}

static enum status
job_attach(struct store_txn *txn, void *arg)
{
	struct supersede_args *s = arg;

	return store_txn_secret_attach(txn, s->id, s->serial);
}

static int
supersede_row(const char *serial, int64_t at, void *arg)
{
	struct feed *f = arg;

	if (f->count >= 16)
		return 1;
	snprintf(f->serial[f->count], STORE_SERIAL_HEX_CAP, "%s", serial);
	f->seq[f->count++] = at;
	return 0;
}

static void
test_supersede(void)
{
	struct store *store = NULL;
	struct store_cert *got = NULL;
	struct supersede_args s;
	struct feed f;
	int64_t id;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(insert_cert(store, "5A01", "dev-sup", "device", NOW + 9000, 0),
	    ST_OK);
	CHECK_ST(insert_cert(store, "5A02", "dev-sup", "device", NOW + 9000, 0),
	    ST_OK);
	CHECK_ST(insert_cert(store, "5A03", "dev-rep", "device", NOW + 9000, 0),
	    ST_OK);
	memset(&s, 0, sizeof(s));
	s.device = "dev-sup";
	s.at = NOW;
	CHECK_ST(store_write(store, job_current, &s), ST_OK);
	CHECK(strcmp(s.current, "5A01") == 0);
	/* Renewed once: scheduled, and never twice. */
	s.serial = "5A01";
	s.at = NOW + 60;
	CHECK_ST(store_write(store, job_supersede, &s), ST_OK);
	s.at = NOW + 120;
	CHECK_ST(store_write(store, job_supersede, &s), ST_CONFLICT);
	CHECK_DETAIL("renewed already");
	CHECK_ST(store_cert_get(store, "5A01", &got), ST_OK);
	CHECK(got != NULL && got->supersede_at == NOW + 60 &&
	    got->status == STORE_CERT_VALID);
	store_cert_free(got);
	/* The device's current certificate is now the other one. */
	s.at = NOW;
	CHECK_ST(store_write(store, job_current, &s), ST_OK);
	CHECK(strcmp(s.current, "5A02") == 0);
	/* Expired at now: not current. */
	s.at = NOW + 9000;
	CHECK_ST(store_write(store, job_current, &s), ST_NOTFOUND);
	/* Due only once the overlap has ended. */
	memset(&f, 0, sizeof(f));
	CHECK_ST(store_superseded_due(store, NOW + 59, 10, supersede_row, &f),
	    ST_OK);
	CHECK(f.count == 0);
	CHECK_ST(store_superseded_due(store, NOW + 60, 10, supersede_row, &f),
	    ST_OK);
	CHECK(f.count == 1 && strcmp(f.serial[0], "5A01") == 0 &&
	    f.seq[0] == NOW + 60);
	CHECK_ST(store_superseded_due(store, NOW, 0, supersede_row, &f),
	    ST_MALFORMED);
	/* Revoked: no longer due. */
	CHECK_ST(revoke_one(store, "5A01", 4, NULL), ST_OK);
	memset(&f, 0, sizeof(f));
	CHECK_ST(store_superseded_due(store, NOW + 60, 10, supersede_row, &f),
	    ST_OK);
	CHECK(f.count == 0);
	/* A reprovisioning supersedes every current certificate. */
	s.device = "dev-rep";
	s.at = NOW + 30;
	CHECK_ST(store_write(store, job_device_supersede, &s), ST_OK);
	CHECK(s.count == 1);
	CHECK_ST(store_write(store, job_device_supersede, &s), ST_OK);
	CHECK(s.count == 0);
	/* A reserved secret is used up before any certificate exists. */
	CHECK_ST(secret_add(store, "dev-res", "device", "reserve me", NOW + 60),
	    ST_OK);
	s.device = "dev-res";
	CHECK_ST(store_write(store, job_reserve, &s), ST_OK);
	CHECK(s.id > 0);
	id = s.id;
	CHECK_ST(store_write(store, job_reserve, &s), ST_UNAUTHENTICATED);
	CHECK_DETAIL("already used");
	CHECK(s.id == 0);
	s.id = id;
	s.serial = "5A09";
	CHECK_ST(store_write(store, job_attach, &s), ST_OK);
	CHECK(raw_int(
	          "SELECT count(*) FROM enrollment_secrets WHERE"
	          " device_id = 'dev-res' AND consumed_serial = '5A09'") == 1);
	/* Attached once. */
	s.serial = "5A0A";
	CHECK_ST(store_write(store, job_attach, &s), ST_CONFLICT);
	store_close(store);
}

/*
 * PostgreSQL's connection faults, each one clear line: no password in the
 * URL, a password file anyone may read, a wrong password, a database that
 * is not there, a role without grants on the tables. Then a password from
 * a file of mode 0600 works.
 */
static char *
pg_url_with(const char *user, const char *dbname, const char *extra)
{
	static char url[4200];
	const char *host = strstr(pg_url, "?host=");

	snprintf(url, sizeof(url), "postgresql://%s@/%s%s%s", user, dbname,
	    host != NULL ? host : "?", extra);
	return url;
}

static void
test_pg_connect(void)
{
	struct store *store = NULL;
	char passfile[4200], line[4300], *hostdir, *end;
	const char *host = strstr(pg_url, "?host=");
	FILE *f;

	CHECK(host != NULL);
	if (host == NULL)
		return;
	CHECK_ST(
	    store_open(pg_url_with("tessera:secret", "tessera", ""), &store),
	    ST_MALFORMED);
	CHECK_DETAIL("has a password in it");
	CHECK(store == NULL);

	CHECK_ST(store_open(pg_url_with("tessera", "no_such_db", ""), &store),
	    ST_STORE);
	CHECK_DETAIL("cannot connect to PostgreSQL");
	CHECK_DETAIL("no_such_db");

	/* The role that has a password: first without one. */
	CHECK_ST(store_open(pg_url_with("tessera_pw", "tessera", ""), &store),
	    ST_STORE);
	CHECK_DETAIL("cannot connect to PostgreSQL");

	snprintf(passfile, sizeof(passfile), "%s/pgpass", dir);
	hostdir = strdup(host + strlen("?host="));
	CHECK(hostdir != NULL);
	if (hostdir == NULL)
		return;
	if ((end = strchr(hostdir, '&')) != NULL)
		*end = '\0';
	f = fopen(passfile, "w");
	CHECK(f != NULL);
	if (f == NULL) {
		free(hostdir);
		return;
	}
	fprintf(f, "*:*:*:tessera_pw:wrong-password\n");
	fclose(f);
	CHECK(chmod(passfile, 0644) == 0);
	snprintf(line, sizeof(line), "&passfile=%s", passfile);
	CHECK_ST(store_open(pg_url_with("tessera_pw", "tessera", line), &store),
	    ST_DENIED);
	CHECK_DETAIL("must be 0600");
	CHECK(chmod(passfile, 0600) == 0);
	CHECK_ST(store_open(pg_url_with("tessera_pw", "tessera", line), &store),
	    ST_STORE);
	CHECK_DETAIL("password authentication failed");
	CHECK(store == NULL);

	f = fopen(passfile, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fprintf(f, "*:*:*:tessera_pw:tessera-test-pw\n");
		fclose(f);
	}
	/* Connected, but tessera_pw may not touch tessera's tables. */
	CHECK_ST(store_open(pg_url_with("tessera_pw", "tessera", line), &store),
	    ST_STORE);
	CHECK_DETAIL("the role lacks a grant tessera needs: permission denied");
	CHECK(store == NULL);
	CHECK(pg_raw_exec("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES"
	                  " IN SCHEMA public TO tessera_pw;"
	                  " GRANT USAGE ON ALL SEQUENCES IN SCHEMA public"
	                  " TO tessera_pw") == 0);
	CHECK_ST(store_open(pg_url_with("tessera_pw", "tessera", line), &store),
	    ST_OK);
	if (store != NULL)
		CHECK(store_cert_exists(store, "0A1B") == 1);
	store_close(store);
	free(hostdir);
}

/*
 * PostgreSQL goes away under an open store (its backends terminated, as
 * a restart or a failover does): the write that meets the broken
 * connection fails with the reason, and the store reconnects by itself:
 * the next writes and reads succeed without reopening it.
 */
static void
test_pg_reconnect(void)
{
	struct store *store = NULL;
	int64_t n = 0;
	enum status st;
	int i, is_back = 0;

	CHECK_ST(store_open(pg_url, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(insert_one(store, "0B01", "CN=before"), ST_OK);
	CHECK(pg_raw_exec("SELECT pg_terminate_backend(pid)"
	                  " FROM pg_stat_activity"
	                  " WHERE datname = current_database()"
	                  " AND pid <> pg_backend_pid()") == 0);
	st = insert_one(store, "0B02", "CN=during");
	CHECK(st == ST_STORE || st == ST_OK);
	if (st == ST_STORE)
		CHECK_DETAIL("store: ");
	/* At most one failure per connection, then it is back. */
	for (i = 0; i < 3 && !is_back; i++)
		is_back = insert_one(store, "0B03", "CN=after") == ST_OK;
	CHECK(is_back);
	CHECK(store_cert_exists(store, "0B03") == 1 ||
	    store_cert_exists(store, "0B03") == 1);
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n > 0);
	store_close(store);
}

/*
 * store_data_changed across handles: a commit through another store (what
 * another worker or the CLI does) is seen by the very next call, through
 * the commit count in path-writer; a commit by a program that does not
 * count its commits (sqlite3 by hand) within about a second, through
 * data_version. Nothing committed: nothing changed.
 */
static int
data_settles(struct store *store, uint64_t *seen)
{
	int i;

	for (i = 0; i < 300; i++) {
		if (store_data_changed(store, seen) == 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void
test_data_changed_shared(void)
{
	struct store *a = NULL, *b = NULL;
	uint64_t seen = 0;
	int i, is_seen = 0;

	CHECK_ST(store_open(db_path, &a), ST_OK);
	CHECK_ST(store_open(db_path, &b), ST_OK);
	if (a == NULL || b == NULL)
		goto out;
	CHECK(store_data_changed(a, &seen) == 1);
	CHECK(store_data_changed(a, &seen) == 0);
	CHECK_ST(insert_cert(b, "DC01", NULL, "device", NOW + 86400, 0), ST_OK);
	CHECK(store_data_changed(a, &seen) == 1);
	/* Once data_version has caught up too, nothing moves. */
	CHECK(data_settles(a, &seen));
	CHECK(raw_exec("UPDATE certificates SET profile = 'device' WHERE "
	               "serial = 'DC01'") == 0);
	/* Bounded: 3 s for what the store looks at once a second. */
	for (i = 0; i < 300 && !is_seen; i++) {
		is_seen = store_data_changed(a, &seen);
		if (!is_seen)
			usleep(10000);
	}
	CHECK(is_seen);
	CHECK(data_settles(a, &seen));
out:
	store_close(b);
	store_close(a);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(fake_der); i++)
		fake_der[i] = (uint8_t)(i * 7 + 3);
	if ((dir = testutil_tmpdir()) == NULL) {
		fprintf(stderr, "no temporary directory\n");
		return 1;
	}
	pg_url = getenv("TESSERA_TEST_PG_URL");
	if (pg_url != NULL && pg_url[0] == '\0')
		pg_url = NULL;
	if (pg_url != NULL) {
		snprintf(db_path, sizeof(db_path), "%s", pg_url);
		/* A fresh database: what an earlier run left goes. */
		if (pg_raw_exec(
		        "DROP SCHEMA public CASCADE;"
		        " CREATE SCHEMA public;"
		        " GRANT USAGE ON SCHEMA public TO PUBLIC") != 0) {
			fprintf(stderr, "cannot reset %s\n", pg_url);
			return 1;
		}
	} else {
		snprintf(db_path, sizeof(db_path), "%s/tessera.db", dir);
	}
	test_open_reopen();
	test_certs();
	test_group_commit();
	test_nested_write();
	test_write_on_caller();
	test_close_drains();
	test_group_turns();
	test_group_async();
	test_secrets();
	test_secret_race();
	test_secret_cancel();
	test_bindings();
	if (pg_url == NULL) {
		test_bad_path();
		test_migrate_v1();
		test_migrate_v6(1);
		test_migrate_v6(2);
		test_migrate_v6(3);
		test_migrate_v6(4);
		test_migrate_v6(5);
		test_migrate_v6(6);
		test_migrate_v6(7);
		test_migrate_busy();
		test_plans();
	} else {
		test_pg_connect();
		test_pg_reconnect();
	}
	test_revoke();
	if (pg_url == NULL)
		test_data_changed_shared();
	test_list();
	test_ocsp_crl();
	test_revoked_foreach();
	if (pg_url != NULL)
		test_feed_commit_order();
	test_issuers();
	if (pg_url == NULL)
		test_revoked_timing();
	else
		test_revoked_stream();
	test_supersede();
	test_newer_schema();
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
