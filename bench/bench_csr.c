/*
 * bench_csr [-n N] [-t THREADS] [-k KEY]: the CSR readers, in one run so that the
 * ratios hold on a loaded machine. For a P-256, a P-384 and an RSA-2048
 * request (CN and a URI SAN, as devices send them), N parses each
 * (default 5000) by
 *   reference  ca_csr_parse_reference: d2i_X509_REQ, X509_REQ_verify and
 *              what OpenSSL decodes (the reader before tessera's own)
 *   own        ca_csr_parse: tessera's DER reader, the key made with
 *              EVP_PKEY_fromdata, the proof of possession verified with
 *              algorithms fetched once
 * on THREADS threads at once (default 1; 2 shows what OpenSSL's global
 * locks cost when two requests parse together). Prints microseconds of
 * process CPU and parses per second of wall time for each, and own's
 * ratio. -k takes one key (ec:P-256, ec:P-384, rsa:2048) alone.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/csr.h"
#include "tests/unit/testutil.h"

#define THREADS_MAX 16

struct job {
	const uint8_t *der;
	size_t len;
	int n;
	int is_own;
	int failed;
};

static double
now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
	struct job *j = arg;
	struct ca_csr *csr;
	int i;

	for (i = 0; i < j->n; i++) {
		csr = NULL;
		if ((j->is_own ? ca_csr_parse(j->der, j->len, &csr)
		               : ca_csr_parse_reference(
		                     j->der, j->len, &csr)) != ST_OK)
			j->failed++;
		ca_csr_free(csr);
	}
	return NULL;
}

/* n parses on threads threads; CPU µs per parse and wall parses/s. */
static int
measure(const uint8_t *der, size_t len, int n, int threads, int is_own,
    double *cpu_us, double *rate)
{
	pthread_t t[THREADS_MAX];
	struct job j[THREADS_MAX];
	double c0, w0;
	int i, failed = 0;

	c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	w0 = now_s(CLOCK_MONOTONIC);
	for (i = 0; i < threads; i++) {
		j[i] = (struct job){der, len, n / threads, is_own, 0};
		if (pthread_create(&t[i], NULL, worker, &j[i]) != 0)
			return -1;
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		failed += j[i].failed;
	}
	*cpu_us = (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e6 / n;
	*rate = n / (now_s(CLOCK_MONOTONIC) - w0);
	return failed == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const char *const specs[] = {"ec:P-256", "ec:P-384", "rsa:2048"};
	EVP_PKEY *key;
	uint8_t *der = NULL;
	size_t len = 0, i;
	double ref_cpu, ref_rate, own_cpu, own_rate;
	const char *only = NULL;
	int n = 5000, threads = 1, c;

	while ((c = getopt(argc, argv, "n:t:k:")) != -1) {
		if (c == 'k')
			only = optarg;
		else if (c == 'n')
			n = (int)strtol(optarg, NULL, 10);
		else if (c == 't')
			threads = (int)strtol(optarg, NULL, 10);
		else
			return 2;
	}
	if (n < 1 || threads < 1 || threads > THREADS_MAX)
		return 2;
	printf("%-9s %12s %12s %12s %12s %8s\n", "key", "ref us/CSR",
	    "own us/CSR", "ref CSR/s", "own CSR/s", "own/ref");
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		if (only != NULL && strcmp(only, specs[i]) != 0)
			continue;
		if ((key = testutil_key(specs[i])) == NULL ||
		    testutil_csr(key, "dev-0001", "URI:urn:dev:dev-0001", &der,
		        &len) != 0)
			return 1;
		/* Warm both (the algorithms fetched, the decoders loaded). */
		if (measure(der, len, 50, 1, 0, &ref_cpu, &ref_rate) != 0 ||
		    measure(der, len, 50, 1, 1, &own_cpu, &own_rate) != 0 ||
		    measure(der, len, n, threads, 0, &ref_cpu, &ref_rate) !=
		        0 ||
		    measure(der, len, n, threads, 1, &own_cpu, &own_rate) !=
		        0) {
			fprintf(stderr, "bench_csr: a parse failed\n");
			return 1;
		}
		printf("%-9s %12.1f %12.1f %12.0f %12.0f %7.2fx\n", specs[i],
		    ref_cpu, own_cpu, ref_rate, own_rate, own_rate / ref_rate);
		free(der);
		der = NULL;
		EVP_PKEY_free(key);
	}
	return 0;
}
