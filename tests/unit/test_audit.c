/*
 * audit: the hash chain holds over appends, rolled-back jobs leave no gap,
 * and changing or removing an entry in the middle is found and named.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "common/limits.h"
#include "common/status.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define NOW 1700000000

static char db_path[4096];

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

struct append_job {
	int64_t now;
	const char *actor, *action, *object, *detail;
	int is_failing;
};

static enum status
job_append(struct store_txn *txn, void *arg)
{
	struct append_job *a = arg;
	enum status st;

	st = audit_append(
	    txn, a->now, a->actor, a->action, a->object, a->detail);
	if (st == ST_OK && a->is_failing)
		return status_fail(ST_DENIED, "rolled back on purpose");
	return st;
}

static enum status
append(struct store *store, int64_t now, const char *actor, const char *action,
    const char *object, const char *detail, int is_failing)
{
	struct append_job a = {now, actor, action, object, detail, is_failing};

	return store_write(store, job_append, &a);
}

/* Append entries 1..n with plain content. */
static void
append_n(struct store *store, int n)
{
	char object[64], detail[64];
	int i;

	for (i = 1; i <= n; i++) {
		snprintf(object, sizeof(object), "serial %04X", i);
		snprintf(detail, sizeof(detail), "entry number %d", i);
		CHECK_ST(append(store, NOW + i, "admin:alice", "revoke", object,
		             detail, 0),
		    ST_OK);
	}
}

struct seen {
	int64_t last_seq;
	size_t detail20_len;
	int is_actor19_empty;
};

static int
seen_entry(const struct store_audit *e, void *arg)
{
	struct seen *s = arg;

	s->last_seq = e->seq;
	if (e->seq == 19)
		s->is_actor19_empty = strcmp(e->actor, "") == 0;
	if (e->seq == 20)
		s->detail20_len = strlen(e->detail);
	return 0;
}

static void
test_chain(void)
{
	struct store *store = NULL;
	struct seen s;
	char *long_detail = NULL;
	int64_t count = -1, bad = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	/* An empty log verifies. */
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 0 && bad == 0);

	append_n(store, 10);
	/* A rolled-back job leaves no entry and no gap. */
	CHECK_ST(
	    append(store, NOW, "admin", "revoke", "x", "gone", 1), ST_DENIED);
	CHECK_DETAIL("rolled back on purpose");
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 10);
	append_n(store, 8);
	/* NULL strings are "", and the detail is cut at the limit. */
	CHECK_ST(append(store, NOW + 19, NULL, "init", NULL, NULL, 0), ST_OK);
	long_detail = malloc(3 * LIMIT_AUDIT_DETAIL + 1);
	CHECK(long_detail != NULL);
	if (long_detail != NULL) {
		memset(long_detail, 'd', 3 * LIMIT_AUDIT_DETAIL);
		long_detail[3 * LIMIT_AUDIT_DETAIL] = '\0';
		CHECK_ST(append(store, NOW + 20, "tessera", "long", "o",
		             long_detail, 0),
		    ST_OK);
	}
	free(long_detail);

	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 20 && bad == 0);
	memset(&s, 0, sizeof(s));
	CHECK_ST(store_audit_foreach(store, 0, seen_entry, &s), ST_OK);
	CHECK(s.last_seq == 20);
	CHECK(s.is_actor19_empty);
	CHECK(s.detail20_len == LIMIT_AUDIT_DETAIL);
	store_close(store);
}

static void
test_hash(void)
{
	struct store_audit a, b;
	uint8_t ha[32], hb[32], again[32];

	memset(&a, 0, sizeof(a));
	a.seq = 1;
	a.time = NOW;
	a.actor = "ab";
	a.action = "c";
	a.object = "";
	a.detail = NULL;
	b = a;
	b.actor = "a";
	b.action = "bc";
	audit_entry_hash(&a, ha);
	audit_entry_hash(&a, again);
	audit_entry_hash(&b, hb);
	CHECK(memcmp(ha, again, 32) == 0);
	/* Length prefixes: moving a field boundary changes the hash. */
	CHECK(memcmp(ha, hb, 32) != 0);
	/* NULL hashes as "". */
	b = a;
	b.detail = "";
	audit_entry_hash(&b, hb);
	CHECK(memcmp(ha, hb, 32) == 0);
	b.seq = 2;
	audit_entry_hash(&b, hb);
	CHECK(memcmp(ha, hb, 32) != 0);
	b = a;
	b.prev_hash[31] = 1;
	audit_entry_hash(&b, hb);
	CHECK(memcmp(ha, hb, 32) != 0);
}

struct grab {
	struct store_audit e;
	int has;
};

static int
grab_first(const struct store_audit *e, void *arg)
{
	struct grab *g = arg;

	g->e = *e;
	g->e.actor = strdup(e->actor);
	g->e.action = strdup(e->action);
	g->e.object = strdup(e->object);
	g->has = 1;
	return 1;
}

/* What a forger with write access does: new detail, hash recomputed. */
static int
rewrite_entry(struct store *store, int64_t seq, const char *detail)
{
	struct grab g;
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	memset(&g, 0, sizeof(g));
	if (store_audit_foreach(store, seq - 1, grab_first, &g) != ST_OK ||
	    !g.has)
		goto out;
	g.e.detail = (char *)detail;
	audit_entry_hash(&g.e, g.e.hash);
	if (sqlite3_open(db_path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "UPDATE audit SET detail = ?, hash = ? WHERE seq = ?", -1,
	        &stmt, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 1, detail, -1, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 2, g.e.hash, 32, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 3, seq) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_DONE)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(g.e.actor);
	free(g.e.action);
	free(g.e.object);
	return rc;
}

static void
test_tamper(void)
{
	struct store *store = NULL;
	int64_t count = -1, bad = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;

	/* Changed content. */
	CHECK(raw_exec("UPDATE audit SET detail = 'nothing happened'"
	               " WHERE seq = 7") == 0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_CONFLICT);
	CHECK_DETAIL("audit entry 7: hash does not match its content");
	CHECK(bad == 7 && count == 0);
	CHECK(raw_exec("UPDATE audit SET detail = 'entry number 7'"
	               " WHERE seq = 7") == 0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 20 && bad == 0);

	/* A hash that is not the content's. */
	CHECK(raw_exec("UPDATE audit SET hash = zeroblob(32) WHERE seq = 5") ==
	    0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_CONFLICT);
	CHECK_DETAIL("audit entry 5: hash does not match its content");
	CHECK(bad == 5);

	/* Changed content with its hash recomputed: the next link breaks. */
	CHECK(rewrite_entry(store, 5, "nothing happened") == 0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_CONFLICT);
	CHECK_DETAIL("audit entry 6: previous hash does not match entry 5");
	CHECK(bad == 6);

	store_close(store);
}

static void
test_delete(void)
{
	struct store *store = NULL;
	int64_t count = -1, bad = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	append_n(store, 20);
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 20);

	CHECK(raw_exec("DELETE FROM audit WHERE seq = 12") == 0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_CONFLICT);
	CHECK_DETAIL("audit entry 12 is missing (found 13)");
	CHECK(bad == 12);
	store_close(store);
}

static void
test_truncate(void)
{
	struct store *store = NULL;
	int64_t count = -1, bad = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	append_n(store, 10);
	/*
	 * Cutting off the newest entries leaves a chain that is intact: the
	 * chain alone cannot tell. Signed checkpoints of the last hash, kept
	 * outside the database, are what will catch this.
	 */
	CHECK(raw_exec("DELETE FROM audit WHERE seq > 8") == 0);
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 8 && bad == 0);
	/* The next entry continues from what is there. */
	append_n(store, 1);
	CHECK_ST(audit_verify(store, &count, &bad), ST_OK);
	CHECK(count == 9);
	store_close(store);
}

/*
 * Two stores on one file stand for two worker processes: their writers
 * take turns (BEGIN IMMEDIATE), so the chain stays one chain.
 */
#define TWO_THREADS 4
#define TWO_APPENDS 25

struct two_thread {
	struct store *store;
	int failed;
};

static void *
two_main(void *arg)
{
	struct two_thread *t = arg;
	int i;

	for (i = 0; i < TWO_APPENDS; i++)
		if (append(t->store, NOW + i, "worker", "issue", "o", "d", 0) !=
		    ST_OK)
			t->failed++;
	return NULL;
}

static void
test_two_writers(void)
{
	struct store *a = NULL, *b = NULL;
	struct two_thread t[2 * TWO_THREADS];
	pthread_t th[2 * TWO_THREADS];
	int64_t count = -1, bad = -1;
	int i, failed = 0;

	CHECK_ST(store_open(db_path, &a), ST_OK);
	CHECK_ST(store_open(db_path, &b), ST_OK);
	if (a == NULL || b == NULL)
		goto out;
	for (i = 0; i < 2 * TWO_THREADS; i++) {
		t[i].store = i % 2 ? a : b;
		t[i].failed = 0;
		CHECK(pthread_create(&th[i], NULL, two_main, &t[i]) == 0);
	}
	for (i = 0; i < 2 * TWO_THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += t[i].failed;
	}
	CHECK(failed == 0);
	CHECK_ST(audit_verify(a, &count, &bad), ST_OK);
	CHECK(count == 2 * TWO_THREADS * TWO_APPENDS);
	CHECK_ST(audit_verify(b, &count, &bad), ST_OK);
	CHECK(count == 2 * TWO_THREADS * TWO_APPENDS);
out:
	store_close(a);
	store_close(b);
}

int
main(void)
{
	char *dir;

	if ((dir = testutil_tmpdir()) == NULL) {
		fprintf(stderr, "no temporary directory\n");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/chain.db", dir);
	test_hash();
	test_chain();
	test_tamper();
	snprintf(db_path, sizeof(db_path), "%s/delete.db", dir);
	test_delete();
	snprintf(db_path, sizeof(db_path), "%s/truncate.db", dir);
	test_truncate();
	snprintf(db_path, sizeof(db_path), "%s/two.db", dir);
	test_two_writers();
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
