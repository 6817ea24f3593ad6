/*
 * bench_store [n [processes]]: certificate rows per second through
 * store_write with 1, 4 and 16 threads (each job: one ~600-byte
 * certificate row and one audit entry, as an issuance writes), and the
 * average jobs per commit: the evidence that group commit folds many rows
 * into one fsync. With processes > 1, that many processes (each its own
 * store and writer on one file, as serve's workers) share the threads:
 * 2 processes of 8 threads against 1 of 16 says what one writer for all
 * processes would gain.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
	snprintf(name, sizeof(name), "%s-writer", path);
	unlink(name);
}

/* What one process did: counts of its store, and its failures. */
struct proc_result {
	int done, failed;
	struct store_stats ss;
};

/* In this process: nthreads threads write rows rows through one store. */
static void
run_one(const char *path, int nthreads, int rows, struct proc_result *out)
{
	struct store *store = NULL;
	struct bench_thread t[16];
	pthread_t th[16];
	int i;

	memset(out, 0, sizeof(*out));
	if (store_open(path, &store) != ST_OK) {
		fprintf(stderr, "bench_store: %s\n", status_detail());
		out->failed = rows;
		return;
	}
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
		out->failed += t[i].failed;
		out->done += t[i].rows - t[i].failed;
	}
	store_stats(store, &out->ss);
	store_close(store);
}

/*
 * One run: nprocs processes (forked, each its own store and writer on the
 * same file, as the workers of tessera serve), each with nthreads threads,
 * rows rows in all.
 */
static int
run(const char *dir, int nprocs, int nthreads, int rows)
{
	struct proc_result r, sum;
	char path[4200];
	pid_t pid[16];
	int fd[16][2], i, status;
	double t0, dt;

	snprintf(
	    path, sizeof(path), "%s/bench-%d-%d.db", dir, nprocs, nthreads);
	/* Create the schema first: the processes then only write rows. */
	run_one(path, 1, 0, &r);
	memset(&sum, 0, sizeof(sum));
	t0 = seconds();
	for (i = 0; i < nprocs; i++) {
		if (pipe(fd[i]) != 0 || (pid[i] = fork()) < 0) {
			perror("bench_store: fork");
			abort();
		}
		if (pid[i] == 0) {
			close(fd[i][0]);
			run_one(path, nthreads,
			    rows / nprocs + (i < rows % nprocs ? 1 : 0), &r);
			if (write(fd[i][1], &r, sizeof(r)) !=
			    (ssize_t)sizeof(r))
				_exit(1);
			_exit(0);
		}
		close(fd[i][1]);
	}
	for (i = 0; i < nprocs; i++) {
		memset(&r, 0, sizeof(r));
		if (read(fd[i][0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			r.failed = 1;
		close(fd[i][0]);
		waitpid(pid[i], &status, 0);
		sum.done += r.done;
		sum.failed += r.failed;
		sum.ss.commits += r.ss.commits;
		sum.ss.jobs += r.ss.jobs;
		sum.ss.commit_us_total += r.ss.commit_us_total;
		sum.ss.lock_wait_us_total += r.ss.lock_wait_us_total;
		sum.ss.job_us_total += r.ss.job_us_total;
	}
	dt = seconds() - t0;
	printf("%2d x %2d threads: %7d rows in %6.2f s = %8.0f rows/s,"
	       " %6" PRIu64 " commits, %6.1f jobs/commit, %6.2f ms/commit,"
	       " %6.2f ms/job%s\n",
	    nprocs, nthreads, sum.done, dt, (double)sum.done / dt,
	    sum.ss.commits,
	    sum.ss.commits ? (double)sum.ss.jobs / (double)sum.ss.commits : 0.0,
	    sum.ss.commits
	        ? (double)sum.ss.commit_us_total / (double)sum.ss.commits / 1e3
	        : 0.0,
	    sum.ss.jobs
	        ? (double)sum.ss.job_us_total / (double)sum.ss.jobs / 1e3
	        : 0.0,
	    sum.failed ? " (FAILURES)" : "");
	remove_db(path);
	return sum.failed ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const int threads[] = {1, 4, 16};
	char dir[4096];
	const char *base = getenv("TMPDIR");
	char *end = NULL;
	long rows = DEFAULT_ROWS, procs = 1;
	size_t i;
	int rc = 0;

	if (argc > 3) {
		fprintf(stderr, "usage: bench_store [rows [processes]]\n");
		return 2;
	}
	if (argc == 3) {
		procs = strtol(argv[2], &end, 10);
		if (end == argv[2] || *end != '\0' || procs < 1 || procs > 16) {
			fprintf(stderr, "bench_store: processes: 1 to 16\n");
			return 2;
		}
	}
	if (argc >= 2) {
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
		if (run(dir, (int)procs, threads[i], (int)rows) != 0)
			rc = 1;
	rmdir(dir);
	return rc;
}
