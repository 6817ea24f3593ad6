/*
 * pubcache: the JWKS, CRLs and stored OCSP answers a worker keeps in
 * memory are dropped as soon as the store (written through another store
 * handle, as another worker process would) changes what they were built
 * from, and never before; an answer read before a change is not put back
 * after it; the OCSP table stays bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/pubcache.h"
#include "ca/store.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define NOW 1700000000

static char *dir;
static char db_path[4096];
static uint8_t fake_der[300];

static enum status
job_cert(struct store_txn *txn, void *arg)
{
	struct store_cert c;

	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "%s", (const char *)arg);
	c.issuer = "CN=Tessera Issuing CA";
	c.subject = "CN=dev";
	c.device_id = "dev-1";
	c.profile = "device";
	c.not_before = NOW;
	c.not_after = NOW + 86400;
	c.status = STORE_CERT_VALID;
	c.reason = -1;
	c.der = fake_der;
	c.der_len = sizeof(fake_der);
	c.created = NOW;
	return store_txn_cert_insert(txn, &c);
}

static enum status
job_revoke(struct store_txn *txn, void *arg)
{
	char *device = NULL;
	enum status st;

	st = store_txn_cert_revoke(txn, arg, 1, NOW + 10, &device);
	free(device);
	return st;
}

static enum status
job_crl(struct store_txn *txn, void *arg)
{
	return store_txn_crl_put(
	    txn, 0, *(int64_t *)arg, NOW, NOW + 3600, fake_der, 100);
}

static enum status
job_key(struct store_txn *txn, void *arg)
{
	return store_txn_token_key_add(
	    txn, arg, "kid", "{\"kty\":\"EC\"}", NOW + 20);
}

static enum status
job_audit_like(struct store_txn *txn, void *arg)
{
	(void)arg;
	/* Any other commit: an enrollment. */
	return job_cert(txn, "0C0FFEE1");
}

static void
test_drops(void)
{
	struct store *worker = NULL, *other = NULL;
	struct pubcache *c = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char *json = NULL;
	int64_t next = 0, tu = 0, nu = 0, num = 0, n = 1;
	uint64_t gen = 0, gen2 = 0, hits, misses, drops;

	CHECK_ST(store_open(db_path, &worker), ST_OK);
	CHECK_ST(store_open(db_path, &other), ST_OK);
	CHECK_ST(pubcache_new(&c), ST_OK);
	if (worker == NULL || other == NULL || c == NULL)
		goto out;
	CHECK_ST(store_write(other, job_cert, "0A01"), ST_OK);
	CHECK_ST(store_write(other, job_cert, "0A02"), ST_OK);

	pubcache_sync(c, worker, &gen);
	CHECK(pubcache_ocsp_get(c, "0A01", &der, &len, &next) == 0);
	pubcache_ocsp_put(c, gen, "0A01", fake_der, 200, NOW + 600);
	pubcache_ocsp_put(c, gen, "0A02", fake_der, 201, NOW + 601);
	pubcache_jwks_put(c, gen, "{\"keys\":[]}", NOW + 1000);
	pubcache_crl_put(c, gen, 0, fake_der, 150, NOW, NOW + 3600, 1);

	/* Another process enrolls: nothing served changes, all stays. */
	CHECK_ST(store_write(other, job_audit_like, NULL), ST_OK);
	pubcache_sync(c, worker, &gen2);
	CHECK(gen2 == gen);
	CHECK(pubcache_ocsp_get(c, "0A01", &der, &len, &next) == 1);
	CHECK(
	    len == 200 && next == NOW + 600 && memcmp(der, fake_der, 200) == 0);
	free(der);
	CHECK(pubcache_jwks_get(c, NOW, &json) == 1 &&
	    strcmp(json, "{\"keys\":[]}") == 0);
	free(json);
	/* A retired key leaves the set at its time: rebuilt then. */
	CHECK(pubcache_jwks_get(c, NOW + 1000, &json) == 0 && json == NULL);
	CHECK(pubcache_crl_get(c, 0, &der, &len, &tu, &nu, &num) == 1);
	CHECK(len == 150 && tu == NOW && nu == NOW + 3600 && num == 1);
	free(der);
	CHECK(pubcache_crl_get(c, 1, &der, &len, &tu, &nu, &num) == 0);
	CHECK(pubcache_crl_get(
	          c, LIMIT_CRL_SHARDS, &der, &len, &tu, &nu, &num) == 0);
	/* After a rollover: the new CA's CRL beside the old one's; a slot
	 * never answers for another generation's CRL. */
	pubcache_crl_put(
	    c, gen, store_shard_make(1, 0), fake_der, 120, NOW, NOW + 3600, 5);
	CHECK(pubcache_crl_get(
	          c, store_shard_make(1, 0), &der, &len, &tu, &nu, &num) == 1);
	CHECK(len == 120 && num == 5);
	free(der);
	CHECK(pubcache_crl_get(c, 0, &der, &len, &tu, &nu, &num) == 1);
	CHECK(len == 150 && num == 1);
	free(der);
	CHECK(pubcache_crl_get(
	          c, store_shard_make(2, 0), &der, &len, &tu, &nu, &num) == 0);

	/* Another process revokes: the next sync drops the OCSP answers. */
	CHECK_ST(store_write(other, job_revoke, "0A02"), ST_OK);
	pubcache_sync(c, worker, &gen2);
	CHECK(gen2 != gen);
	CHECK(pubcache_ocsp_get(c, "0A01", &der, &len, &next) == 0);
	CHECK(pubcache_ocsp_get(c, "0A02", &der, &len, &next) == 0);
	/* An answer read before the revocation is not put back after it. */
	pubcache_ocsp_put(c, gen, "0A02", fake_der, 200, NOW + 600);
	CHECK(pubcache_ocsp_get(c, "0A02", &der, &len, &next) == 0);
	pubcache_ocsp_put(c, gen2, "0A02", fake_der, 202, NOW + 602);
	CHECK(pubcache_ocsp_get(c, "0A02", &der, &len, &next) == 1);
	CHECK(len == 202);
	free(der);

	/* A new CRL: the old one goes (and nothing else). */
	pubcache_crl_put(c, gen2, 0, fake_der, 150, NOW, NOW + 3600, 1);
	pubcache_jwks_put(c, gen2, "{\"keys\":[1]}", NOW + 1000);
	n = 2;
	CHECK_ST(store_write(other, job_crl, &n), ST_OK);
	pubcache_sync(c, worker, &gen);
	CHECK(pubcache_crl_get(c, 0, &der, &len, &tu, &nu, &num) == 0);
	CHECK(pubcache_ocsp_get(c, "0A02", &der, &len, &next) == 1);
	free(der);
	CHECK(pubcache_jwks_get(c, NOW, &json) == 1);
	free(json);

	/* A token key added (rotation): the JWKS goes, and only it. */
	CHECK_ST(store_write(other, job_key, "token-1"), ST_OK);
	pubcache_sync(c, worker, &gen2);
	CHECK(gen2 != gen);
	CHECK(pubcache_jwks_get(c, NOW, &json) == 0);
	CHECK(pubcache_ocsp_get(c, "0A02", &der, &len, &next) == 1);
	free(der);
	pubcache_stats(c, &hits, &misses, &drops);
	CHECK(hits >= 6 && misses >= 8 && drops == 4);
out:
	pubcache_free(c);
	store_close(worker);
	store_close(other);
}

/* The OCSP table holds at most PUBCACHE_OCSP_SLOTS answers. */
static void
test_bounded(void)
{
	struct store *store = NULL;
	struct pubcache *c = NULL;
	char serial[STORE_SERIAL_HEX_CAP];
	uint8_t *der = NULL;
	size_t len;
	int64_t next;
	uint64_t gen;
	int i, kept = 0, total = 4 * PUBCACHE_OCSP_SLOTS;

	CHECK_ST(store_open(db_path, &store), ST_OK);
	CHECK_ST(pubcache_new(&c), ST_OK);
	if (store == NULL || c == NULL)
		goto out;
	pubcache_sync(c, store, &gen);
	for (i = 0; i < total; i++) {
		snprintf(serial, sizeof(serial), "B%07X", i);
		pubcache_ocsp_put(c, gen, serial, fake_der, 100, NOW);
	}
	for (i = 0; i < total; i++) {
		snprintf(serial, sizeof(serial), "B%07X", i);
		if (pubcache_ocsp_get(c, serial, &der, &len, &next)) {
			kept++;
			free(der);
		}
	}
	CHECK(kept > 0 && kept <= PUBCACHE_OCSP_SLOTS);
	/* A serial longer than any of ours is not kept. */
	pubcache_ocsp_put(c, gen, "0123456789012345678901234567890123456789AB",
	    fake_der, 100, NOW);
	CHECK(pubcache_ocsp_get(c, "0123456789012345678901234567890123456789AB",
	          &der, &len, &next) == 0);
	/* A NULL cache keeps nothing. */
	pubcache_sync(NULL, store, &gen);
	pubcache_ocsp_put(NULL, gen, "0A", fake_der, 10, NOW);
	CHECK(pubcache_ocsp_get(NULL, "0A", &der, &len, &next) == 0);
out:
	pubcache_free(c);
	store_close(store);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(fake_der); i++)
		fake_der[i] = (uint8_t)(i * 5 + 1);
	if ((dir = testutil_tmpdir()) == NULL) {
		fprintf(stderr, "no temporary directory\n");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/tessera.db", dir);
	test_drops();
	test_bounded();
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
