/*
 * bench_store [n]: certificate rows per second through store_write with 1,
 * 4 and 16 threads (each job: one ~600-byte certificate row and one audit
 * entry, as an issuance writes), and the average jobs per commit: the
 * evidence that group commit folds many rows into one fsync.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "common/status.h"

#define DEFAULT_ROWS 2000
#define MAX_ROWS 10000000
#define DER_LEN 600

struct bench_job {
	struct store_cert cert;
	char object[64];
	int64_t now;
};

struct bench_thread {
	struct store *store;
	int rows;
	int failed;
};

static enum status
job_issue(struct store_txn *txn, void *arg)
{
	struct bench_job *j = arg;
	enum status st;

	if ((st = store_txn_cert_insert(txn, &j->cert)) != ST_OK)
		return st;
	return audit_append(
	    txn, j->now, "bench", "issue", j->object, "profile device");
}

static void *
bench_main(void *arg)
{
	struct bench_thread *t = arg;
	struct bench_job j;
	uint8_t der[DER_LEN], rnd[16];
	int i, k;

	memset(der, 0x30, sizeof(der));
	for (i = 0; i < t->rows; i++) {
		memset(&j, 0, sizeof(j));
		if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
		    RAND_bytes(der + 4, 64) != 1) {
			t->failed++;
			continue;
		}
		rnd[0] &= 0x7f;
		for (k = 0; k < 16; k++)
			snprintf(j.cert.serial + 2 * k, 3, "%02X", rnd[k]);
		j.now = (int64_t)time(NULL);
		j.cert.issuer = "CN=Tessera Issuing CA,O=Bench";
		j.cert.subject = "CN=bench-device";
		j.cert.device_id = "bench-device";
		j.cert.profile = "device";
		j.cert.not_before = j.now;
		j.cert.not_after = j.now + 86400 * 30;
		j.cert.status = STORE_CERT_VALID;
		j.cert.reason = -1;
		j.cert.der = der;
		j.cert.der_len = sizeof(der);
		j.cert.created = j.now;
		snprintf(
		    j.object, sizeof(j.object), "serial %s", j.cert.serial);
		if (store_write(t->store, job_issue, &j) != ST_OK) {
			fprintf(stderr, "bench_store: %s\n", status_detail());
			t->failed++;
		}
	}
	return NULL;
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
remove_db(const char *path)
{
	char name[4300];

	unlink(path);
	snprintf(name, sizeof(name), "%s-wal", path);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", path);
	unlink(name);
}

/* One run with nthreads threads writing rows rows in all. */
static int
run(const char *dir, int nthreads, int rows)
{
	struct store *store = NULL;
	struct bench_thread t[16];
	pthread_t th[16];
	char path[4200];
	struct store_stats ss;
	double t0, dt;
	int i, failed = 0, done = 0;

	snprintf(path, sizeof(path), "%s/bench-%d.db", dir, nthreads);
	if (store_open(path, &store) != ST_OK) {
		fprintf(stderr, "bench_store: %s\n", status_detail());
		return -1;
	}
	t0 = seconds();
	for (i = 0; i < nthreads; i++) {
		t[i].store = store;
		t[i].rows = rows / nthreads + (i < rows % nthreads ? 1 : 0);
		t[i].failed = 0;
		if (pthread_create(&th[i], NULL, bench_main, &t[i]) != 0) {
			fprintf(stderr, "bench_store: pthread_create\n");
			abort();
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		failed += t[i].failed;
		done += t[i].rows - t[i].failed;
	}
	dt = seconds() - t0;
	store_stats(store, &ss);
	printf("%2d threads: %7d rows in %6.2f s = %8.0f rows/s,"
	       " %6" PRIu64 " commits, %6.1f jobs/commit,"
	       " %6.2f ms/commit%s\n",
	    nthreads, done, dt, (double)done / dt, ss.commits,
	    ss.commits ? (double)ss.jobs / (double)ss.commits : 0.0,
	    ss.commits ? (double)ss.commit_us_total / (double)ss.commits / 1e3
	               : 0.0,
	    failed ? " (FAILURES)" : "");
	store_close(store);
	remove_db(path);
	return failed ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const int threads[] = {1, 4, 16};
	char dir[4096];
	const char *base = getenv("TMPDIR");
	char *end = NULL;
	long rows = DEFAULT_ROWS;
	size_t i;
	int rc = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: bench_store [rows]\n");
		return 2;
	}
	if (argc == 2) {
		rows = strtol(argv[1], &end, 10);
		if (end == argv[1] || *end != '\0' || rows < 16 ||
		    rows > MAX_ROWS) {
			fprintf(stderr, "bench_store: rows must be 16 to %d\n",
			    MAX_ROWS);
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX",
	    base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("bench_store: mkdtemp");
		return 1;
	}
	printf("bench_store: %ld rows per run (certificate row + audit entry "
	       "per job), WAL, synchronous=FULL, in %s\n",
	    rows, dir);
	for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		if (run(dir, threads[i], (int)rows) != 0)
			rc = 1;
	rmdir(dir);
	return rc;
}
