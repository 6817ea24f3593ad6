/*
 * audit: the hash chain holds over appends, rolled-back jobs leave no gap,
 * and changing or removing an entry in the middle is found and named.
 * Checkpoints: signed in the token by tessera init, the authority's tick
 * and its close; written only when there is something to sign; a forger
 * without the key is caught at the first checkpoint after the change, and
 * entries cut off below a checkpoint are caught with its anchor.
 */
#include <sys/stat.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/authority.h"
#include "ca/config.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/limits.h"
#include "common/secret.h"
#include "common/status.h"
#include "hsm/hsm.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define NOW 1700000000
/* The longest line audit_state_check reports. */
#define VERIFY_LINE_CAP 512

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

/* The whole log in memory, as a forger with write access would read it. */
#define FORGE_MAX 64

struct forge {
	struct store_audit e[FORGE_MAX];
	size_t n;
	int is_full;
};

static int
forge_grab(const struct store_audit *e, void *arg)
{
	struct forge *f = arg;
	struct store_audit *c;

	if (f->n == FORGE_MAX) {
		f->is_full = 1;
		return 1;
	}
	c = &f->e[f->n++];
	*c = *e;
	c->actor = strdup(e->actor);
	c->action = strdup(e->action);
	c->object = strdup(e->object);
	c->detail = strdup(e->detail);
	return 0;
}

static void
forge_free(struct forge *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->e[i].actor);
		free(f->e[i].action);
		free(f->e[i].object);
		free(f->e[i].detail);
	}
}

/*
 * What a forger with write access does: set field ("actor", "action",
 * "object" or "detail") of entry seq to value and recompute its hash;
 * with is_rechained, also every later entry's links and hashes, so that
 * the chain alone holds again. 0 on success.
 */
static int
forge(struct store *store, int64_t seq, const char *field, const char *value,
    int is_rechained)
{
	struct forge f;
	struct store_audit *e;
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char **slot;
	size_t i;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (store_audit_foreach(store, 0, forge_grab, &f) != ST_OK || f.is_full)
		goto out;
	for (i = 0; i < f.n && f.e[i].seq != seq; i++)
		;
	if (i == f.n)
		goto out;
	e = &f.e[i];
	slot = strcmp(field, "actor") == 0 ? &e->actor
	    : strcmp(field, "action") == 0 ? &e->action
	    : strcmp(field, "object") == 0 ? &e->object
	                                   : &e->detail;
	free(*slot);
	if ((*slot = strdup(value)) == NULL)
		goto out;
	audit_entry_hash(e, e->hash);
	for (i++; is_rechained && i < f.n; i++) {
		memcpy(f.e[i].prev_hash, f.e[i - 1].hash, 32);
		audit_entry_hash(&f.e[i], f.e[i].hash);
	}
	if (sqlite3_open(db_path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "UPDATE audit SET actor = ?, action = ?, object = ?,"
	        " detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
	        -1, &stmt, NULL) != SQLITE_OK)
		goto out;
	for (i = 0; i < f.n; i++) {
		e = &f.e[i];
		if (e->seq < seq)
			continue;
		if (sqlite3_bind_text(stmt, 1, e->actor, -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_bind_text(stmt, 2, e->action, -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_bind_text(stmt, 3, e->object, -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_bind_text(stmt, 4, e->detail, -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_bind_blob(stmt, 5, e->prev_hash, 32,
		        SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_blob(stmt, 6, e->hash, 32, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 7, e->seq) != SQLITE_OK ||
		    sqlite3_step(stmt) != SQLITE_DONE)
			goto out;
		sqlite3_reset(stmt);
		if (!is_rechained)
			break;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	forge_free(&f);
	return rc;
}

/* Entry seq's hash as 64 lowercase hex digits (and a NUL) into out. */
static int
entry_hash_hex(struct store *store, int64_t seq, char *out)
{
	struct forge f;
	size_t i, k;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (store_audit_foreach(store, 0, forge_grab, &f) == ST_OK)
		for (i = 0; i < f.n; i++)
			if (f.e[i].seq == seq) {
				for (k = 0; k < 32; k++)
					snprintf(out + 2 * k, 3, "%02x",
					    f.e[i].hash[k]);
				rc = 0;
			}
	forge_free(&f);
	return rc;
}

/* A copy of entry seq's field (NULL when there is none); free() it. */
static char *
entry_field(struct store *store, int64_t seq, const char *field)
{
	struct forge f;
	char *out = NULL;
	size_t i;

	memset(&f, 0, sizeof(f));
	if (store_audit_foreach(store, 0, forge_grab, &f) == ST_OK)
		for (i = 0; i < f.n; i++)
			if (f.e[i].seq == seq)
				out = strdup(strcmp(field, "actor") == 0
				        ? f.e[i].actor
				        : strcmp(field, "action") == 0
				        ? f.e[i].action
				        : strcmp(field, "object") == 0
				        ? f.e[i].object
				        : f.e[i].detail);
	forge_free(&f);
	return out;
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
	CHECK(forge(store, 5, "detail", "nothing happened", 0) == 0);
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
	 * chain alone cannot tell. An anchor of a signed checkpoint, kept
	 * outside the database, catches this (test_checkpoint_delete).
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

/* Set by test_setup: the audit key in the token, and another key. */
static struct hsm *token_hsm;
static struct hsm_key *token_key;
static EVP_PKEY *other_key;

static int
checkpoint(struct store *store, EVP_PKEY *key, int64_t now)
{
	int written = -1;

	CHECK_ST(
	    audit_checkpoint(store, testutil_signer_key(key, SIGNER_ROLE_AUDIT),
	        now, &written),
	    ST_OK);
	return written;
}

/* audit_verify_report with the token's public key. */
static enum status
verify(struct store *store, struct audit_report *r)
{
	return audit_verify_report(store, hsm_key_get0_public(token_key), r);
}

/*
 * tessera init: the audit key in the token (sensitive, never
 * extractable), named in tessera.json, its public half in
 * ca/audit.pub.pem (0644), and a first checkpoint over init's entries.
 */
static void
test_setup(const char *dir)
{
	struct ca_setup s;
	struct ca_config *cfg = NULL;
	struct hsm *hsm = NULL;
	struct store *store = NULL;
	struct audit_report r;
	struct stat sb;
	char data[2048], path[4096], *pin = NULL;
	BIO *bio = NULL;
	EVP_PKEY *pub = NULL;

	snprintf(data, sizeof(data), "%s/var", dir);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK_ST(ca_config_load(data, &cfg), ST_OK);
	if (cfg == NULL)
		return;
	CHECK(cfg->key_audit != NULL &&
	    strcmp(cfg->key_audit,
	        "pkcs11:token=tessera;object=tessera-audit-signing") == 0);
	snprintf(path, sizeof(path), "%s/ca/audit.pub.pem", data);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0644);
	CHECK((bio = BIO_new_file(path, "r")) != NULL);
	if (bio != NULL)
		pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	CHECK(pub != NULL);

	snprintf(path, sizeof(path), "%s/hsm/user.pin", data);
	CHECK_ST(secret_read_file(path, LIMIT_PIN_LEN, &pin), ST_OK);
	CHECK_ST(hsm_open(cfg->hsm_module, cfg->hsm_token, pin, &hsm), ST_OK);
	if (hsm != NULL)
		CHECK_ST(
		    hsm_key_find_uri(hsm, cfg->key_audit, &token_key), ST_OK);
	CHECK(token_key != NULL);
	if (token_key != NULL && pub != NULL) {
		CHECK(hsm_key_is_sensitive(token_key) == 1);
		CHECK(EVP_PKEY_eq(pub, hsm_key_get0_public(token_key)) == 1);
	}

	/* Five certificates issued, then the checkpoint over them. */
	snprintf(path, sizeof(path), "%s/tessera.db", data);
	CHECK_ST(store_open(path, &store), ST_OK);
	if (store != NULL && pub != NULL) {
		CHECK_ST(audit_verify_report(store, pub, &r), ST_OK);
		CHECK(r.count == 6 && r.checkpoint == 6 &&
		    r.checkpoint_count == 1 && r.unsigned_count == 0);
		CHECK_ST(
		    audit_verify_report(store, other_key, &r), ST_CONFLICT);
		CHECK(r.first_bad == 6);
		CHECK_DETAIL("audit entry 6: the checkpoint's signature does "
		             "not verify with the audit public key");
	}
	store_close(store);
	EVP_PKEY_free(pub);
	BIO_free(bio);
	secret_free(pin);
	ca_config_free(cfg);
	/* The key handle outlives this test; the hsm is closed in main. */
	token_hsm = hsm;
}

/* When a checkpoint is written, what it holds, what verify reports. */
static void
test_checkpoint(void)
{
	struct store *store = NULL;
	struct audit_report r;
	EVP_PKEY *key = hsm_key_get0_pkey(token_key);
	char anchor[AUDIT_ANCHOR_CAP], bad[AUDIT_ANCHOR_CAP + 8], *f;
	int64_t count = -1, first_bad = -1;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	/* An empty log has nothing to sign. */
	CHECK(checkpoint(store, key, NOW) == 0);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 0 && r.checkpoint == 0 && r.unsigned_count == 0);

	/* Entries without a checkpoint yet: all unsigned. */
	append_n(store, 5);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 5 && r.checkpoint == 0 && r.unsigned_count == 5);
	audit_anchor_format(&r, anchor);
	CHECK(anchor[0] == '\0');

	CHECK(checkpoint(store, key, NOW + 10) == 1);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 6 && r.checkpoint == 6 && r.checkpoint_count == 1 &&
	    r.unsigned_count == 0 && r.first_bad == 0);
	f = entry_field(store, 6, "actor");
	CHECK(f != NULL && strcmp(f, "tessera") == 0);
	free(f);
	f = entry_field(store, 6, "action");
	CHECK(f != NULL && strcmp(f, "checkpoint") == 0);
	free(f);
	f = entry_field(store, 6, "object");
	CHECK(f != NULL && strcmp(f, "seq:5") == 0);
	free(f);
	f = entry_field(store, 6, "detail");
	CHECK(f != NULL && strncmp(f, "hash=", 5) == 0 &&
	    strncmp(f + 69, " sig=", 5) == 0);
	free(f);

	/* The newest entry is a checkpoint: no second one. */
	CHECK(checkpoint(store, key, NOW + 11) == 0);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 6);

	append_n(store, 3);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 9 && r.checkpoint == 6 && r.unsigned_count == 3);
	CHECK(checkpoint(store, key, NOW + 20) == 1);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 10 && r.checkpoint == 10 && r.checkpoint_count == 2 &&
	    r.unsigned_count == 0);

	/* Without a key the form is checked, not the signature; the old
	 * entry point agrees. */
	CHECK_ST(audit_verify_report(store, NULL, &r), ST_OK);
	CHECK(r.count == 10 && r.checkpoint == 10);
	CHECK_ST(audit_verify(store, &count, &first_bad), ST_OK);
	CHECK(count == 10 && first_bad == 0);

	/* Anchors: the one printed holds; malformed ones are refused. */
	CHECK_ST(verify(store, &r), ST_OK);
	audit_anchor_format(&r, anchor);
	CHECK(strncmp(anchor, "10:", 3) == 0 && strlen(anchor) == 3 + 64);
	CHECK_ST(audit_anchor_check(store, anchor), ST_OK);
	snprintf(bad, sizeof(bad), "6%s", anchor + 2);
	CHECK_ST(audit_anchor_check(store, bad), ST_CONFLICT);
	CHECK_DETAIL("audit entry 6 does not have the hash the anchor holds");
	snprintf(bad, sizeof(bad), "11%s", anchor + 2);
	CHECK_ST(audit_anchor_check(store, bad), ST_CONFLICT);
	CHECK_DETAIL(
	    "audit entry 11, which the anchor names, is not in the log");
	CHECK_ST(audit_anchor_check(store, ""), ST_MALFORMED);
	CHECK_ST(audit_anchor_check(store, "10"), ST_MALFORMED);
	CHECK_ST(audit_anchor_check(store, "10:"), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "0%s", anchor + 2);
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "+1%s", anchor + 2);
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "1x%s", anchor + 2);
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "%sa", anchor);
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "%.66s", anchor);
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	snprintf(bad, sizeof(bad), "%s", anchor);
	bad[20] = 'g';
	CHECK_ST(audit_anchor_check(store, bad), ST_MALFORMED);
	store_close(store);
}

/* What a forger with write access but without the key can try. */
static void
test_checkpoint_forged(void)
{
	struct store *store = NULL;
	struct audit_report r;
	EVP_PKEY *key = hsm_key_get0_pkey(token_key);
	char *detail = NULL, *forged = NULL, *p, saved;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	append_n(store, 5);
	CHECK(checkpoint(store, key, NOW + 10) == 1);
	append_n(store, 3);
	CHECK(checkpoint(store, key, NOW + 20) == 1);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.checkpoint == 10);

	/* Entry 3 changed and every later hash recomputed: the chain holds,
	 * the first checkpoint after it does not. */
	CHECK(forge(store, 3, "detail", "nothing happened", 1) == 0);
	CHECK_ST(audit_verify_report(store, NULL, &r), ST_CONFLICT);
	CHECK(r.first_bad == 6 && r.count == 0);
	CHECK_DETAIL("audit entry 6: the checkpoint signed another hash for "
	             "entry 5: entries up to 5 were changed");
	CHECK(forge(store, 3, "detail", "entry number 3", 1) == 0);
	CHECK_ST(verify(store, &r), ST_OK);

	/* Entry 9 changed, later hashes recomputed and the checkpoint's hash
	 * rewritten to match: only its signature tells. */
	detail = entry_field(store, 10, "detail");
	CHECK(detail != NULL && strlen(detail) > 80);
	if (detail == NULL || strlen(detail) <= 80)
		goto out;
	CHECK(forge(store, 9, "detail", "nothing happened", 1) == 0);
	forged = strdup(detail);
	CHECK(forged != NULL && entry_hash_hex(store, 9, forged + 5) == 0);
	if (forged == NULL)
		goto out;
	forged[5 + 64] = ' ';
	CHECK(forge(store, 10, "detail", forged, 0) == 0);
	CHECK_ST(audit_verify_report(store, NULL, &r), ST_OK);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 10);
	CHECK_DETAIL("audit entry 10: the checkpoint's signature does not "
	             "verify with the audit public key");
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK(forge(store, 9, "detail", "entry number 3", 1) == 0);
	CHECK_ST(verify(store, &r), ST_OK);

	/* The checkpoint's hash changed alone. */
	p = detail + 5;
	saved = *p;
	*p = saved == '0' ? '1' : '0';
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK_ST(audit_verify_report(store, NULL, &r), ST_CONFLICT);
	CHECK(r.first_bad == 10);
	CHECK_DETAIL("audit entry 10: the checkpoint signed another hash for "
	             "entry 9");
	*p = saved;
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK_ST(verify(store, &r), ST_OK);

	/* A changed signature. */
	p = detail + strlen(detail) - 10;
	saved = *p;
	*p = saved == 'A' ? 'B' : 'A';
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 10);
	CHECK_DETAIL("audit entry 10: the checkpoint's signature does not "
	             "verify with the audit public key");
	/* Without a key only the form is checked. */
	CHECK_ST(audit_verify_report(store, NULL, &r), ST_OK);
	*p = saved;
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK_ST(verify(store, &r), ST_OK);

	/* Not base64, not the form, another seq, another actor. */
	CHECK(forge(store, 10, "detail", "hash=00 sig=AAAA", 0) == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK_DETAIL("audit entry 10: the checkpoint's detail is not");
	p = detail + strlen(detail) - 10;
	saved = *p;
	*p = '*';
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK_DETAIL("audit entry 10: the checkpoint's detail is not");
	*p = saved;
	CHECK(forge(store, 10, "detail", detail, 0) == 0);
	CHECK(forge(store, 10, "object", "seq:8", 0) == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 10);
	CHECK_DETAIL("the checkpoint names \"seq:8\", not seq:9");
	CHECK(forge(store, 10, "object", "seq:9", 0) == 0);
	CHECK(forge(store, 10, "actor", "admin:mallory", 0) == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK_DETAIL("a checkpoint by \"admin:mallory\", not tessera");
	CHECK(forge(store, 10, "actor", "tessera", 0) == 0);

	/* A checkpoint signed with a key that is not the audit key. */
	append_n(store, 1);
	CHECK(checkpoint(store, other_key, NOW + 30) == 1);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 12);
	CHECK_DETAIL("audit entry 12: the checkpoint's signature does not");
out:
	free(detail);
	free(forged);
	store_close(store);
}

/*
 * Removing entries: after the last checkpoint it shows as a shorter
 * unsigned tail; the checkpoint itself or anything before it breaks the
 * chain; the checkpoint and everything after it is found with an anchor.
 */
static void
test_checkpoint_delete(void)
{
	struct store *store = NULL;
	struct audit_report r;
	EVP_PKEY *key = hsm_key_get0_pkey(token_key);
	char anchor[AUDIT_ANCHOR_CAP];

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	append_n(store, 5);
	CHECK(checkpoint(store, key, NOW + 10) == 1);
	append_n(store, 3);
	CHECK(checkpoint(store, key, NOW + 20) == 1);
	append_n(store, 2);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 12 && r.checkpoint == 10 && r.unsigned_count == 2);
	audit_anchor_format(&r, anchor);

	/* Unsigned entries can go unnoticed: verify says how many there
	 * are. */
	CHECK(raw_exec("DELETE FROM audit WHERE seq = 12") == 0);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 11 && r.checkpoint == 10 && r.unsigned_count == 1);
	CHECK_ST(audit_anchor_check(store, anchor), ST_OK);

	/* The last checkpoint and what follows: the chain still holds, at
	 * the checkpoint before; the anchor kept from before does not. */
	CHECK(raw_exec("DELETE FROM audit WHERE seq >= 10") == 0);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 9 && r.checkpoint == 6 && r.unsigned_count == 3);
	CHECK_ST(audit_anchor_check(store, anchor), ST_CONFLICT);
	CHECK_DETAIL(
	    "audit entry 10, which the anchor names, is not in the log");

	/* The next checkpoint covers what is there. */
	CHECK(checkpoint(store, key, NOW + 30) == 1);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == 10 && r.checkpoint == 10 && r.unsigned_count == 0);
	/* A new entry 10, not the one the anchor names. */
	CHECK_ST(audit_anchor_check(store, anchor), ST_CONFLICT);
	CHECK_DETAIL("audit entry 10 does not have the hash the anchor holds");

	/* A checkpoint in the middle. */
	append_n(store, 1);
	CHECK(raw_exec("DELETE FROM audit WHERE seq = 6") == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 6);
	CHECK_DETAIL("audit entry 6 is missing (found 7)");
	/* An entry before it. */
	CHECK(raw_exec("DELETE FROM audit WHERE seq = 2") == 0);
	CHECK_ST(verify(store, &r), ST_CONFLICT);
	CHECK(r.first_bad == 2);
	CHECK_DETAIL("audit entry 2 is missing (found 3)");
	store_close(store);
}

/*
 * The authority: the minute-scale tick and closing sign what is unsigned
 * with the audit key from tessera.json.
 */
static void
test_authority(const char *dir)
{
	struct authority *a = NULL;
	struct principal op;
	struct audit_report r;
	char data[2048], *secret = NULL;
	int64_t expires = 0, before;
	unsigned events = 0;
	struct store *store;

	snprintf(data, sizeof(data), "%s/var", dir);
	CHECK_ST(authority_open(data, &a), ST_OK);
	if (a == NULL)
		return;
	store = authority_store(a);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.unsigned_count == 0);
	before = r.count;
	memset(&op, 0, sizeof(op));
	op.kind = PRINCIPAL_OPERATOR;
	snprintf(op.id, sizeof(op.id), "local");
	CHECK_ST(authority_secret_create(
	             a, &op, "dev-audit-1", NULL, 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	secret = NULL;
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == before + 1 && r.unsigned_count == 1);
	/* The first tick runs the minute-scale work. */
	CHECK_ST(authority_tick(a, &events), ST_OK);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == before + 2 && r.checkpoint == before + 2 &&
	    r.unsigned_count == 0);
	/* The next second's tick leaves the minute-scale work alone. */
	CHECK_ST(authority_secret_create(
	             a, &op, "dev-audit-2", NULL, 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	CHECK_ST(authority_tick(a, &events), ST_OK);
	CHECK_ST(verify(store, &r), ST_OK);
	CHECK(r.count == before + 3 && r.unsigned_count == 1);
	authority_close(a);

	/* Closing signed the rest. */
	a = NULL;
	CHECK_ST(authority_open(data, &a), ST_OK);
	if (a == NULL)
		return;
	CHECK_ST(verify(authority_store(a), &r), ST_OK);
	CHECK(r.count == before + 4 && r.checkpoint == before + 4 &&
	    r.checkpoint_count == 3);
	authority_close(a);
}

/* The store's rows held against the audit (audit_state_check). */

static uint8_t state_der[64];

struct state_job {
	const char *serial, *device, *profile, *action, *detail;
	int is_secret;
};

static enum status
job_state(struct store_txn *txn, void *arg)
{
	const struct state_job *j = arg;
	const struct store_minter minter = {"operator", "test", NULL};
	struct store_cert c;
	uint8_t hash[32];
	size_t n;
	enum status st;

	if (strcmp(j->action, "issue") == 0) {
		memset(&c, 0, sizeof(c));
		snprintf(c.serial, sizeof(c.serial), "%s", j->serial);
		c.issuer = "CN=CA";
		c.subject = "CN=x";
		c.device_id = (char *)j->device;
		c.profile = (char *)j->profile;
		c.not_before = NOW;
		c.not_after = NOW + 86400;
		c.reason = -1;
		c.der = state_der;
		c.der_len = sizeof(state_der);
		c.created = NOW;
		if ((st = store_txn_cert_insert(txn, &c)) != ST_OK ||
		    (st = store_txn_device_ensure(txn, j->device, NOW)) !=
		        ST_OK)
			return st;
		if (j->is_secret) {
			memset(hash, 7, sizeof(hash));
			if ((st = store_txn_secret_insert(txn, j->device,
			         j->profile, hash, NOW + 60, NOW, &minter)) !=
			        ST_OK ||
			    (st = store_txn_secret_consume(txn, j->device,
			         j->profile, hash, NOW, j->serial)) != ST_OK)
				return st;
		}
	} else if (strcmp(j->action, "revoke") == 0) {
		if ((st = store_txn_cert_revoke(
		         txn, j->serial, 1, NOW, NULL)) != ST_OK)
			return st;
	} else if (strcmp(j->action, "revoke-device") == 0) {
		if ((st = store_txn_device_certs_revoke(
		         txn, j->device, 1, NOW, &n)) != ST_OK ||
		    (st = store_txn_device_set_status(
		         txn, j->device, 1, NOW)) != ST_OK)
			return st;
	}
	return audit_append(txn, NOW, "operator:test", j->action,
	    j->serial != NULL ? j->serial : j->device, j->detail);
}

static enum status
state_do(struct store *store, const char *action, const char *serial,
    const char *device, const char *detail, int is_secret)
{
	struct state_job j = {
	    serial, device, "device", action, detail, is_secret};

	return store_write(store, job_state, &j);
}

struct state_lines {
	char text[8][VERIFY_LINE_CAP];
	size_t count;
};

static void
state_line(const char *line, void *arg)
{
	struct state_lines *l = arg;

	if (l->count < 8)
		snprintf(l->text[l->count++], VERIFY_LINE_CAP, "%s", line);
}

static int
state_says(const struct state_lines *l, const char *want)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (strstr(l->text[i], want) != NULL)
			return 1;
	return 0;
}

static void
test_state(void)
{
	struct store *store = NULL;
	struct state_lines l;
	size_t n = 99;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	if (store == NULL)
		return;
	CHECK_ST(state_do(store, "issue", "0A01", "dev-1",
	             "enroll profile=device device=dev-1 secret=1 "
	             "subject=CN=dev-1 profile=admin",
	             1),
	    ST_OK);
	CHECK_ST(state_do(store, "issue", "0A02", "dev-2",
	             "enroll profile=device device=dev-2 subject=CN=dev-2", 0),
	    ST_OK);
	CHECK_ST(state_do(store, "revoke", "0A02", NULL, "reason=x", 0), ST_OK);
	CHECK_ST(state_do(store, "issue", "0A03", "dev-3",
	             "enroll profile=device device=dev-3 subject=CN=dev-3", 0),
	    ST_OK);
	CHECK_ST(state_do(store, "revoke-device", NULL, "dev-3", "blocked", 0),
	    ST_OK);
	/* As tessera left it: nothing to say. */
	memset(&l, 0, sizeof(l));
	CHECK_ST(audit_state_check(store, state_line, &l, &n), ST_OK);
	CHECK(n == 0 && l.count == 0);

	/* Behind tessera's back, one row of each kind. */
	CHECK(raw_exec("UPDATE certificates SET status = 'valid',"
	               " revoked_at = NULL, reason = NULL"
	               " WHERE serial = '0A02'") == 0);
	CHECK(raw_exec("UPDATE certificates SET profile = 'admin'"
	               " WHERE serial = '0A01'") == 0);
	CHECK(raw_exec("UPDATE devices SET status = 'active'"
	               " WHERE id = 'dev-3'") == 0);
	CHECK(raw_exec("UPDATE enrollment_secrets SET consumed_at = NULL,"
	               " consumed_serial = NULL") == 0);
	CHECK(raw_exec("INSERT INTO certificates SELECT '0A09', issuer,"
	               " subject, device_id, profile, not_before, not_after,"
	               " status, revoked_at, reason, der, created, shard, NULL"
	               " FROM certificates WHERE serial = '0A01'") == 0);
	memset(&l, 0, sizeof(l));
	CHECK_ST(audit_state_check(store, state_line, &l, &n), ST_OK);
	CHECK(n == 5 && l.count == 5);
	CHECK(state_says(&l, "certificate 0A01: issued as profile device"));
	CHECK(state_says(&l, "certificate 0A02: revoked at audit entry 3"));
	CHECK(state_says(&l, "device \"dev-3\": blocked at audit entry 5"));
	CHECK(state_says(&l, "enrollment secret 1 (device \"dev-1\")"));
	CHECK(state_says(&l,
	    "certificate 0A09 (profile \"admin\"): in the "
	    "store, but the audit never issued it"));
	/* Undoing the device's block also revived nothing: 0A03 stayed. */
	CHECK(!state_says(&l, "0A03"));
	CHECK(raw_exec("UPDATE certificates SET status = 'valid',"
	               " revoked_at = NULL WHERE serial = '0A03'") == 0);
	CHECK_ST(audit_state_check(store, NULL, NULL, &n), ST_OK);
	CHECK(n == 6);
	/* The device column moved to another id (a token would name it):
	 * named, though the moved row now escapes its device's revocation. */
	CHECK(raw_exec("UPDATE certificates SET device_id = 'dev-9'"
	               " WHERE serial = '0A03'") == 0);
	memset(&l, 0, sizeof(l));
	CHECK_ST(audit_state_check(store, state_line, &l, &n), ST_OK);
	CHECK(n == 6);
	CHECK(state_says(&l, "certificate 0A03: issued to device dev-3"));
	store_close(store);
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
	snprintf(db_path, sizeof(db_path), "%s/state.db", dir);
	test_state();

	other_key = testutil_key("ec:P-256");
	CHECK(other_key != NULL);
	test_setup(dir);
	if (token_key != NULL && other_key != NULL) {
		snprintf(db_path, sizeof(db_path), "%s/checkpoint.db", dir);
		test_checkpoint();
		snprintf(db_path, sizeof(db_path), "%s/forged.db", dir);
		test_checkpoint_forged();
		snprintf(db_path, sizeof(db_path), "%s/cut.db", dir);
		test_checkpoint_delete();
		test_authority(dir);
	}
	testutil_signer_free();
	hsm_key_free(token_key);
	hsm_close(token_hsm);
	EVP_PKEY_free(other_key);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
