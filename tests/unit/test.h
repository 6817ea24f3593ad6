/*
 * The unit-test harness: CHECK records a failure and goes on; each test
 * file's main() ends with TEST_END(), which prints the tally.
 */
#ifndef TESSERA_TESTS_TEST_H
#define TESSERA_TESTS_TEST_H

#include <stdio.h>

#include "common/status.h"

static int test_failed, test_passed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (cond) {                                                    \
			test_passed++;                                         \
		} else {                                                       \
			test_failed++;                                         \
			fprintf(stderr,                                        \
			    "%s:%d: CHECK(%s) failed (detail: %s)\n",          \
			    __FILE__, __LINE__, #cond, status_detail());       \
		}                                                              \
	} while (0)

/* Check that expr returns status want; print the detail either way. */
#define CHECK_ST(expr, want)                                                   \
	do {                                                                   \
		enum status got_ = (expr);                                     \
		if (got_ == (want)) {                                          \
			test_passed++;                                         \
		} else {                                                       \
			test_failed++;                                         \
			fprintf(stderr, "%s:%d: %s gave %s, want %s (%s)\n",   \
			    __FILE__, __LINE__, #expr, status_name(got_),      \
			    status_name(want), status_detail());               \
		}                                                              \
	} while (0)

/* Check that the detail line contains needle. */
#define CHECK_DETAIL(needle) CHECK(strstr(status_detail(), (needle)) != NULL)

#define TEST_END()                                                             \
	do {                                                                   \
		printf("%d passed, %d failed\n", test_passed, test_failed);    \
		return test_failed ? 1 : 0;                                    \
	} while (0)

#endif
