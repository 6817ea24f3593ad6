/*
 * metrics: counts made in forked children and in threads land in the one
 * shared pool; the exposition has HELP and TYPE for each family,
 * cumulative buckets and a count equal to +Inf; profile names are bounded
 * (a name the pool cannot hold counts as "other") and label values are
 * escaped; in-flight counts leave with their process; a NULL pool records
 * nothing and never crashes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/metrics.h"
#include "tests/unit/test.h"

#define CHILDREN 4
#define THREADS 4
#define PER 1000

/* The rendered exposition of m, NUL-terminated; the caller frees. */
static char *
render(struct metrics *m)
{
	struct buf b;

	buf_init(&b, 1 << 22);
	if (metrics_render(m, &b) != ST_OK || buf_terminate(&b) != ST_OK) {
		buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* The value of series (a whole line's name and labels) in text; -1. */
static long long
value_of(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

static void *
thread_main(void *arg)
{
	struct metrics *m = arg;
	int i;

	for (i = 0; i < PER; i++) {
		metrics_request_count(m, METRICS_EP_OCSP, 200);
		metrics_enroll_count(m, "device", ST_OK);
		metrics_sign_observe(m, METRICS_SIGN_DEVICE_CERT, 2000000);
	}
	return NULL;
}

/* Processes and their threads all count into one pool. */
static void
test_shared(void)
{
	struct metrics *m = NULL;
	pthread_t t[THREADS];
	pid_t pids[CHILDREN];
	char *text;
	int i, j, status, ok = 1;

	CHECK_ST(metrics_new(&m), ST_OK);
	if (m == NULL)
		return;
	for (i = 0; i < CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			for (j = 0; j < THREADS; j++)
				pthread_create(&t[j], NULL, thread_main, m);
			for (j = 0; j < THREADS; j++)
				pthread_join(t[j], NULL);
			metrics_token_count(m);
			_exit(0);
		}
	}
	for (i = 0; i < CHILDREN; i++)
		ok &= waitpid(pids[i], &status, 0) == pids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0;
	CHECK(ok);
	text = render(m);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(
		    value_of(text,
		        "tessera_http_requests_total{endpoint="
		        "\"ocsp\",code=\"200\"}") == CHILDREN * THREADS * PER);
		CHECK(value_of(text,
		          "tessera_enrollments_total{profile="
		          "\"device\",result=\"issued\"}") ==
		    CHILDREN * THREADS * PER);
		CHECK(
		    value_of(text, "tessera_tokens_minted_total") == CHILDREN);
		/* 2 ms: above the 0.001 bound, within 0.0025. */
		CHECK(value_of(text,
		          "tessera_hsm_sign_duration_seconds_bucket{purpose="
		          "\"device_cert\",le=\"0.001\"}") == 0);
		CHECK(value_of(text,
		          "tessera_hsm_sign_duration_seconds_bucket{purpose="
		          "\"device_cert\",le=\"0.0025\"}") ==
		    CHILDREN * THREADS * PER);
		CHECK(value_of(text,
		          "tessera_hsm_sign_duration_seconds_bucket{purpose="
		          "\"device_cert\",le=\"+Inf\"}") ==
		    CHILDREN * THREADS * PER);
		CHECK(value_of(text,
		          "tessera_hsm_sign_duration_seconds_count{purpose="
		          "\"device_cert\"}") == CHILDREN * THREADS * PER);
		/* 16000 * 2 ms = 32 s exactly. */
		CHECK(value_of(text,
		          "tessera_hsm_sign_duration_seconds_sum{purpose="
		          "\"device_cert\"}") == 32);
		/* Each family once, with its HELP and TYPE. */
		CHECK(strstr(text,
		          "# TYPE tessera_http_requests_total "
		          "counter\n") != NULL);
		CHECK(strstr(text,
		          "# TYPE tessera_store_commit_group_size "
		          "histogram\n") != NULL);
		CHECK(
		    strstr(
		        strstr(text, "# TYPE tessera_tokens_minted_total") + 1,
		        "# TYPE tessera_tokens_minted_total") == NULL);
	}
	free(text);
	metrics_free(m);
}

/* Group sizes and commit times; codes outside 100..599 are not counted. */
static void
test_bounds(void)
{
	struct metrics *m = NULL;
	char *text;

	CHECK_ST(metrics_new(&m), ST_OK);
	if (m == NULL)
		return;
	metrics_commit_observe(m, 1000000, 1);
	metrics_commit_observe(m, 1000000, 3);
	metrics_commit_observe(m, 30000000000LL, 300);
	metrics_request_count(m, METRICS_EP_OTHER, 99);
	metrics_request_count(m, METRICS_EP_OTHER, 600);
	metrics_request_count(m, METRICS_EP_MAX, 200);
	metrics_request_count(m, METRICS_EP_OTHER, 599);
	metrics_ocsp_count(m, METRICS_OCSP_MAX);
	metrics_ocsp_count(m, METRICS_OCSP_UNKNOWN);
	metrics_rate_count(m, METRICS_RATE_TOKEN);
	metrics_restart_count(m);
	metrics_enroll_count(m, "station", ST_MAX);
	text = render(m);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(value_of(text,
		          "tessera_store_commit_group_size_bucket{"
		          "le=\"1\"}") == 1);
		CHECK(value_of(text,
		          "tessera_store_commit_group_size_bucket{"
		          "le=\"4\"}") == 2);
		CHECK(value_of(text,
		          "tessera_store_commit_group_size_bucket{"
		          "le=\"256\"}") == 2);
		CHECK(value_of(text,
		          "tessera_store_commit_group_size_bucket{"
		          "le=\"+Inf\"}") == 3);
		CHECK(value_of(text, "tessera_store_commit_group_size_sum") ==
		    304);
		CHECK(value_of(text,
		          "tessera_store_commit_duration_seconds_"
		          "bucket{le=\"10\"}") == 2);
		CHECK(value_of(text,
		          "tessera_store_commit_duration_seconds_"
		          "count") == 3);
		CHECK(value_of(text,
		          "tessera_http_requests_total{endpoint="
		          "\"other\",code=\"599\"}") == 1);
		CHECK(strstr(text, "code=\"99\"") == NULL);
		CHECK(strstr(text, "code=\"600\"") == NULL);
		CHECK(value_of(text,
		          "tessera_ocsp_responses_total{status="
		          "\"unknown\"}") == 1);
		CHECK(value_of(text,
		          "tessera_rate_limited_total{limit="
		          "\"token\"}") == 1);
		CHECK(value_of(text, "tessera_worker_restarts_total") == 1);
		CHECK(strstr(text, "profile=\"station\"") == NULL);
	}
	free(text);
	metrics_free(m);
}

/* Profiles: bounded in number and length; odd names escaped. */
static void
test_profiles(void)
{
	struct metrics *m = NULL;
	char name[80], *text;
	int i;

	CHECK_ST(metrics_new(&m), ST_OK);
	if (m == NULL)
		return;
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		metrics_enroll_count(m, name, ST_DENIED);
	}
	memset(name, 'x', 70);
	name[70] = '\0';
	metrics_enroll_count(m, name, ST_DENIED);
	metrics_enroll_count(m, NULL, ST_NOTFOUND);
	text = render(m);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(value_of(text,
		          "tessera_enrollments_total{profile="
		          "\"p0\",result=\"denied\"}") == 1);
		/* 64 slots, one taken by p0..p63; the rest and the long
		 * name are "other". */
		CHECK(value_of(text,
		          "tessera_enrollments_total{profile="
		          "\"p63\",result=\"denied\"}") == 1);
		CHECK(strstr(text, "profile=\"p64\"") == NULL);
		CHECK(value_of(text,
		          "tessera_enrollments_total{profile="
		          "\"other\",result=\"denied\"}") == 37);
		CHECK(value_of(text,
		          "tessera_enrollments_total{profile="
		          "\"other\",result=\"not_found\"}") == 1);
	}
	free(text);
	metrics_free(m);

	CHECK_ST(metrics_new(&m), ST_OK);
	if (m == NULL)
		return;
	metrics_enroll_count(m, "a\"b\\c\nd", ST_OK);
	text = render(m);
	CHECK(text != NULL &&
	    value_of(text,
	        "tessera_enrollments_total{profile="
	        "\"a\\\"b\\\\c\\nd\",result=\"issued\"}") == 1);
	free(text);
	metrics_free(m);
}

/* In flight: per process, gone when its process is released. */
static void
test_inflight(void)
{
	struct metrics *m = NULL;
	char *text;
	int a, b;

	CHECK_ST(metrics_new(&m), ST_OK);
	if (m == NULL)
		return;
	a = metrics_proc_claim(m, 1001);
	b = metrics_proc_claim(m, 1002);
	CHECK(a >= 0 && b >= 0 && a != b);
	metrics_inflight_add(m, a, 1);
	metrics_inflight_add(m, a, 1);
	metrics_inflight_add(m, b, 3);
	metrics_inflight_add(m, b, -1);
	text = render(m);
	CHECK(text != NULL &&
	    value_of(text, "tessera_http_requests_in_flight") == 4);
	free(text);
	metrics_proc_release(m, 1002);
	text = render(m);
	CHECK(text != NULL &&
	    value_of(text, "tessera_http_requests_in_flight") == 2);
	free(text);
	/* The slot is free again, and starts from nothing. */
	CHECK(metrics_proc_claim(m, 1003) == b);
	text = render(m);
	CHECK(text != NULL &&
	    value_of(text, "tessera_http_requests_in_flight") == 2);
	free(text);
	metrics_inflight_add(m, -1, 1);
	metrics_inflight_add(m, 100000, 1);
	CHECK(metrics_proc_claim(m, 0) == -1);
	metrics_free(m);
}

/* A NULL pool: nothing recorded, nothing crashes. */
static void
test_null(void)
{
	metrics_request_count(NULL, METRICS_EP_OCSP, 200);
	metrics_enroll_count(NULL, "device", ST_OK);
	metrics_token_count(NULL);
	metrics_ocsp_count(NULL, METRICS_OCSP_GOOD);
	metrics_rate_count(NULL, METRICS_RATE_OCSP);
	metrics_restart_count(NULL);
	metrics_sign_observe(NULL, METRICS_SIGN_CRL, 1);
	metrics_commit_observe(NULL, 1, 1);
	metrics_inflight_add(NULL, 0, 1);
	metrics_proc_release(NULL, 1);
	CHECK(metrics_proc_claim(NULL, 1) == -1);
	metrics_free(NULL);
}

/* Samples made when scraped: labels escaped, values exact. */
static void
test_sample(void)
{
	const char *labels[] = {"crl", "x\"y", NULL};
	struct buf b;

	buf_init(&b, 4096);
	CHECK_ST(metrics_family(&b, "t_x", "gauge", "A test."), ST_OK);
	CHECK_ST(metrics_sample(&b, "t_x", labels, 12345678901.0), ST_OK);
	CHECK_ST(metrics_sample(&b, "t_x", NULL, 0.25), ST_OK);
	CHECK_ST(buf_terminate(&b), ST_OK);
	CHECK(b.data != NULL &&
	    strcmp((char *)b.data,
	        "# HELP t_x A test.\n# TYPE t_x gauge\n"
	        "t_x{crl=\"x\\\"y\"} 12345678901\n"
	        "t_x 0.25\n") == 0);
	buf_free(&b);
}

int
main(void)
{
	test_shared();
	test_bounds();
	test_profiles();
	test_inflight();
	test_null();
	test_sample();
	TEST_END();
}
