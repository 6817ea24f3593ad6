/*
 * store: persistence, file modes, schema versions, certificate rows, group
 * commit with per-job savepoints, enrollment secrets and their races.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "ca/store.h"
#include "common/status.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define NOW 1700000000

static char *dir;
static char db_path[4096];

/* A raw connection for what the store must not offer (tampering). */
static int
raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

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
	CHECK(store_schema_version() == 1);
	CHECK_ST(insert_one(store, "0A1B", "CN=dev-1"), ST_OK);
	CHECK(stat(db_path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(side, sizeof(side), "%s-wal", db_path);
	CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	store_close(store);
	store = NULL;
	store_close(NULL);

	CHECK(raw_int("SELECT version FROM schema_version") == 1);
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
	/* A NOT NULL column reports SQLite's message, and no blob. */
	CHECK_ST(insert_one(store, "0A1D", NULL), ST_STORE);
	CHECK_DETAIL("store: insert certificate: NOT NULL constraint failed");
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
};

static enum status
job_maybe_fail(struct store_txn *txn, void *arg)
{
	struct batch_job *bj = arg;
	enum status st;

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
};

static void *
batch_main(void *arg)
{
	struct batch_thread *t = arg;
	struct batch_job bj;
	char serial[STORE_SERIAL_HEX_CAP], want[64];
	enum status st;
	int i;

	for (i = 0; i < BATCH_JOBS; i++) {
		snprintf(serial, sizeof(serial), "B%02X%04X", t->id, i);
		cert_fill(&bj.cert, serial, "CN=batch");
		bj.is_failing = i % 4 == 0;
		st = store_write(t->store, job_maybe_fail, &bj);
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
	uint64_t commits0, jobs0, commits, jobs;
	int64_t n0 = 0, n = 0;
	int i, ok = 0, failed = 0, wrong = 0;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(store_cert_count(store, &n0), ST_OK);
	store_stats(store, &commits0, &jobs0);
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
	}
	CHECK(wrong == 0);
	/* Jobs 0, 4, ..., 48 of each thread fail: 13 of 50. */
	CHECK(failed == BATCH_THREADS * ((BATCH_JOBS + 3) / 4));
	CHECK(ok + failed == BATCH_THREADS * BATCH_JOBS);
	CHECK_ST(store_cert_count(store, &n), ST_OK);
	CHECK(n - n0 == ok);
	/* The failing jobs' own inserts were rolled back with them. */
	CHECK(store_cert_exists(store, "B000000") == 0);
	CHECK(store_cert_exists(store, "B070004") == 0);
	CHECK(store_cert_exists(store, "B070005") == 1);
	store_stats(store, &commits, &jobs);
	CHECK(jobs - jobs0 == BATCH_THREADS * BATCH_JOBS);
	CHECK(commits - commits0 >= 1 && commits - commits0 <= jobs - jobs0);
	printf("group commit: %llu jobs in %llu commits\n",
	    (unsigned long long)(jobs - jobs0),
	    (unsigned long long)(commits - commits0));
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

/* Enrollment secrets. */

struct secret_job {
	const char *device_id;
	const char *profile;
	uint8_t hash[32];
	int64_t expires;
	int64_t now;
	const char *serial;
};

static enum status
job_secret_insert(struct store_txn *txn, void *arg)
{
	struct secret_job *s = arg;

	return store_txn_secret_insert(
	    txn, s->device_id, s->profile, s->hash, s->expires, s->now);
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
	struct secret_job s = {device, profile, {0}, expires, NOW, NULL};

	sha256(secret, s.hash);
	return store_write(store, job_secret_insert, &s);
}

static enum status
secret_use(struct store *store, const char *device, const char *profile,
    const char *secret, int64_t now, const char *serial)
{
	struct secret_job s = {device, profile, {0}, 0, now, serial};

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

static void
test_newer_schema(void)
{
	struct store *store = NULL;

	CHECK(raw_exec("UPDATE schema_version SET version = 99") == 0);
	CHECK_ST(store_open(db_path, &store), ST_STORE);
	CHECK_DETAIL(
	    "database schema version 99 is newer than this tessera (1)");
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
	snprintf(db_path, sizeof(db_path), "%s/tessera.db", dir);
	test_open_reopen();
	test_certs();
	test_group_commit();
	test_nested_write();
	test_close_drains();
	test_secrets();
	test_secret_race();
	test_bad_path();
	test_newer_schema();
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
