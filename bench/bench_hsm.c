/*
 * bench_hsm [seconds]: signatures per second through hsm/ handles on a
 * fresh SoftHSMv2 token in a temporary directory: ECDSA P-256 with one and
 * two threads (same key, one EVP_MD_CTX per thread; then two keys, to tell
 * a per-key bottleneck from a global one), P-384 and RSA-3072 with one.
 * Each case runs for seconds (default 3) and prints one line, with the
 * process CPU time over wall time to show what bounds it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/status.h"
#include "hsm/hsm.h"
#include "tests/unit/testutil.h"

#define TOKEN "bench"
#define PIN "bench-pin"
#define MAX_THREADS 2
#define MSG_LEN 100

struct worker {
	EVP_PKEY *pkey;
	double until;
	long count;
	long failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Process CPU seconds; *waits gets the voluntary context switches. */
static double
cpu_seconds(long *waits)
{
	struct rusage ru;

	*waits = 0;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	*waits = ru.ru_nvcsw;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char msg[MSG_LEN], sig[512];
	size_t sig_len;

	memset(msg, 'm', sizeof(msg));
	if (ctx == NULL) {
		w->failed++;
		return NULL;
	}
	while (now() < w->until) {
		sig_len = sizeof(sig);
		if (EVP_DigestSignInit(
		        ctx, NULL, EVP_sha256(), NULL, w->pkey) != 1 ||
		    EVP_DigestSign(ctx, sig, &sig_len, msg, sizeof(msg)) != 1)
			w->failed++;
		else
			w->count++;
	}
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* Sign for seconds with nthreads threads; returns signatures a second. */
static double
run_case(const char *name, EVP_PKEY *pkey, EVP_PKEY *pkey2, int nthreads,
    double seconds)
{
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	double start, wall, cpu0, cpu;
	long total = 0, failed = 0, waits0, waits;
	int i;

	cpu0 = cpu_seconds(&waits0);
	start = now();
	for (i = 0; i < nthreads; i++) {
		w[i].pkey = i == 1 && pkey2 != NULL ? pkey2 : pkey;
		w[i].until = start + seconds;
		w[i].count = 0;
		w[i].failed = 0;
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].count;
		failed += w[i].failed;
	}
	wall = now() - start;
	cpu = cpu_seconds(&waits) - cpu0;
	waits -= waits0;
	/*
	 * CPU cores used and lock waits (voluntary context switches) tell a
	 * lock that serialises the threads from a machine that is busy.
	 */
	printf("%-11s %d thread%s%s  %9.1f sig/s  %8.1f sig/CPU-s  (%ld "
	       "signatures, %ld failed, CPU %.2f cores, %.0f waits/s)\n",
	    name, nthreads, nthreads == 1 ? " " : "s",
	    pkey2 != NULL ? ", 2 keys" : "        ", (double)total / wall,
	    cpu > 0 ? (double)total / cpu : 0, total, failed, cpu / wall,
	    (double)waits / wall);
	fflush(stdout);
	return (double)total / wall;
}

static struct hsm_key *
generate(struct hsm *hsm, const char *label, enum hsm_key_type type)
{
	struct hsm_key *key = NULL;

	if (hsm_key_generate(hsm, label, type, &key) != ST_OK) {
		fprintf(stderr, "bench_hsm: %s\n", status_detail());
		return NULL;
	}
	return key;
}

int
main(int argc, char **argv)
{
	struct hsm *hsm = NULL;
	struct hsm_key *p256 = NULL, *p256b = NULL, *p384 = NULL, *rsa = NULL;
	double seconds = 3, one, two;
	char *dir, *end;
	int rc = 1;

	if (argc > 1) {
		seconds = strtod(argv[1], &end);
		if (*end != '\0' || seconds <= 0 || seconds > 3600) {
			fprintf(stderr, "usage: bench_hsm [seconds]\n");
			return 2;
		}
	}
	if ((dir = testutil_tmpdir()) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (testutil_softhsm(dir, TOKEN, PIN) != 0) {
		fprintf(stderr, "bench_hsm: no SoftHSMv2 token in %s\n", dir);
		goto out;
	}
	if (hsm_open(testutil_softhsm_module(), TOKEN, PIN, &hsm) != ST_OK) {
		fprintf(stderr, "bench_hsm: %s\n", status_detail());
		goto out;
	}
	if ((p256 = generate(hsm, "bench-p256", HSM_KEY_EC_P256)) == NULL ||
	    (p256b = generate(hsm, "bench-p256b", HSM_KEY_EC_P256)) == NULL ||
	    (p384 = generate(hsm, "bench-p384", HSM_KEY_EC_P384)) == NULL ||
	    (rsa = generate(hsm, "bench-rsa3072", HSM_KEY_RSA_3072)) == NULL)
		goto out;
	printf("SoftHSMv2 via libp11, EVP_DigestSign over %d bytes with "
	       "SHA-256, %.1f s a case, %ld CPUs online\n",
	    MSG_LEN, seconds, sysconf(_SC_NPROCESSORS_ONLN));
	one =
	    run_case("ECDSA P-256", hsm_key_get0_pkey(p256), NULL, 1, seconds);
	two =
	    run_case("ECDSA P-256", hsm_key_get0_pkey(p256), NULL, 2, seconds);
	printf("ECDSA P-256 2-thread/1-thread ratio (same key): %.2f\n",
	    one > 0 ? two / one : 0);
	/* Tells a per-key bottleneck in the token from a global one. */
	two = run_case("ECDSA P-256", hsm_key_get0_pkey(p256),
	    hsm_key_get0_pkey(p256b), 2, seconds);
	printf("ECDSA P-256 2-thread/1-thread ratio (two keys): %.2f\n",
	    one > 0 ? two / one : 0);
	run_case("ECDSA P-384", hsm_key_get0_pkey(p384), NULL, 1, seconds);
	run_case("RSA-3072", hsm_key_get0_pkey(rsa), NULL, 1, seconds);
	rc = 0;
out:
	hsm_key_free(p256);
	hsm_key_free(p256b);
	hsm_key_free(p384);
	hsm_key_free(rsa);
	hsm_close(hsm);
	testutil_rmtree(dir);
	free(dir);
	return rc;
}
