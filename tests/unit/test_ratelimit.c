/*
 * ratelimit: a bucket allows its burst, then one request per 1/rate
 * seconds; addresses and kinds are counted apart; the table is shared
 * with a forked child (as with the workers); a flood of addresses reuses
 * slots instead of growing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ratelimit.h"
#include "tests/unit/test.h"

static void
test_bucket(struct ratelimit *rl)
{
	int i, allowed = 0;

	for (i = 0; i < 10; i++)
		allowed += ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 1000) == 0;
	CHECK(allowed == 5);
	/* Empty: the next one in 500 ms (2 a second). */
	CHECK(ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 1000) == 501);
	CHECK(ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 1400) > 0);
	CHECK(ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 1500) == 0);
	CHECK(ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 1500) > 0);
	/* Refills to the burst, never beyond. */
	allowed = 0;
	for (i = 0; i < 10; i++)
		allowed +=
		    ratelimit_take(rl, 1, "192.0.2.1", 2, 5, 100000) == 0;
	CHECK(allowed == 5);
	/* Another address and another kind have their own buckets. */
	CHECK(ratelimit_take(rl, 1, "192.0.2.2", 2, 5, 100000) == 0);
	CHECK(ratelimit_take(rl, 2, "192.0.2.1", 2, 5, 100000) == 0);
	/* per_second 0: no limit. */
	for (i = 0; i < 100; i++)
		allowed += ratelimit_take(rl, 3, "192.0.2.1", 0, 1, 0) == 0;
	CHECK(allowed == 105);
	CHECK(ratelimit_take(NULL, 1, "192.0.2.1", 1, 1, 0) == 0);
}

/* check looks without taking; take after it spends what check saw. */
static void
test_check(struct ratelimit *rl)
{
	int i;

	for (i = 0; i < 10; i++)
		CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 1000) == 0);
	CHECK(ratelimit_take(rl, 7, "192.0.2.9", 1, 2, 1000) == 0);
	CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 1000) == 0);
	CHECK(ratelimit_take(rl, 7, "192.0.2.9", 1, 2, 1000) == 0);
	CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 1000) == 1001);
	CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 1999) > 0);
	CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 2000) == 0);
	CHECK(ratelimit_check(rl, 7, "192.0.2.9", 1, 2, 2000) == 0);
	CHECK(ratelimit_check(NULL, 7, "192.0.2.9", 1, 2, 0) == 0);
}

static void
test_shared(struct ratelimit *rl)
{
	pid_t pid;
	int status = 0, i;

	/* The child spends the bucket; the parent finds it empty. */
	if ((pid = fork()) == 0) {
		for (i = 0; i < 3; i++)
			ratelimit_take(rl, 4, "2001:db8::1", 1, 3, 5000);
		_exit(0);
	}
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(ratelimit_take(rl, 4, "2001:db8::1", 1, 3, 5000) > 0);
}

static void
test_flood(struct ratelimit *rl)
{
	char addr[64];
	int i, allowed = 0;

	/* 100000 addresses: the table keeps its size; each new one starts
	 * with a full bucket. */
	for (i = 0; i < 100000; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		allowed += ratelimit_take(rl, 5, addr, 1, 1, 7000) == 0;
	}
	CHECK(allowed == 100000);
	/* A very long key is cut, not overrun. */
	memset(addr, 'a', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	CHECK(ratelimit_take(rl, 6, addr, 1, 1, 0) == 0);
	CHECK(ratelimit_take(rl, 6, addr, 1, 1, 0) > 0);
}

int
main(void)
{
	struct ratelimit *rl = NULL;

	CHECK_ST(ratelimit_new(&rl), ST_OK);
	if (rl == NULL)
		TEST_END();
	test_bucket(rl);
	test_check(rl);
	test_shared(rl);
	test_flood(rl);
	ratelimit_free(rl);
	TEST_END();
}
