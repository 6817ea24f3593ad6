/*
 * Revocation publication through the authority: CRL shards (each revoked
 * certificate in exactly the shard its CRL distribution point names), the
 * root CRL, crlNumbers, and OCSP answers (pre-signed and replaced by the
 * revoking transaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/authority.h"
#include "ca/issue.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/file.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define CERTS 8

static struct authority *a;
static struct principal op;

/* Switch the data directory's policy to two CRL shards. */
static int
two_shards(const char *data)
{
	char path[4200], *text = NULL, *at;
	uint8_t *raw = NULL;
	size_t len;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/policy.json", data);
	if (file_read(path, 1 << 20, &raw, &len) != ST_OK)
		return -1;
	/* "shards": 1 -> 2; the default policy writes it exactly so. */
	if ((at = strstr((char *)raw, "\"shards\": 1")) != NULL) {
		at[10] = '2';
		text = (char *)raw;
		if (file_write_atomic(path, text, len, 0644) == ST_OK)
			rc = 0;
	}
	free(raw);
	return rc;
}

static X509 *
issue(const char *cn)
{
	EVP_PKEY *key = testutil_key("ec:P-256");
	uint8_t *der = NULL;
	size_t len;
	X509 *cert = NULL;

	testutil_csr(key, cn, NULL, &der, &len);
	if (authority_issue(a, &op, "device", der, len, &cert) != ST_OK)
		cert = NULL;
	free(der);
	EVP_PKEY_free(key);
	return cert;
}

/* The CRL URL in cert's distribution point. */
static const char *
cdp_url(X509 *cert, char *out, size_t cap)
{
	STACK_OF(DIST_POINT) * dps;
	DIST_POINT *dp;
	GENERAL_NAME *gn;

	out[0] = '\0';
	dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	if (dps == NULL)
		return out;
	dp = sk_DIST_POINT_value(dps, 0);
	if (dp != NULL && dp->distpoint != NULL && dp->distpoint->type == 0) {
		gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
		if (gn != NULL && gn->type == GEN_URI)
			snprintf(out, cap, "%s",
			    (const char *)ASN1_STRING_get0_data(
			        gn->d.uniformResourceIdentifier));
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return out;
}

static X509_CRL *
crl(const char *name, int64_t *number)
{
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len;
	int64_t this_update, next_update;
	X509_CRL *c = NULL;

	if (authority_crl_get(a, name, &der, &len, &this_update, &next_update,
	        number) != ST_OK)
		return NULL;
	p = der;
	c = d2i_X509_CRL(NULL, &p, (long)len);
	free(der);
	return c;
}

/* Does OpenSSL, with both CRLs, accept cert? */
static int
verifies(X509 *cert, X509_CRL *shard_crl, X509_CRL *root_crl)
{
	X509_STORE *xs = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_add_cert(xs, authority_get0_root(a));
	X509_STORE_add_cert(xs, authority_get0_issuing(a));
	X509_STORE_add_crl(xs, shard_crl);
	X509_STORE_add_crl(xs, root_crl);
	X509_STORE_set_flags(
	    xs, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	X509_STORE_CTX_init(ctx, xs, cert, NULL);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
	return ok;
}

/*
 * Ask for cert (issued by issuer) and verify the answer against the chain:
 * its status, or -1; the signer's serial into signer when not NULL.
 */
static int
ocsp_query(X509 *cert, X509 *issuer, int with_nonce, int *is_cacheable,
    char signer[41])
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	X509_STORE *xs = X509_STORE_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *who = NULL;
	OCSP_CERTID *id;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	struct authority_ocsp_answer ans;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len, status = -1, reason;

	if (signer != NULL)
		signer[0] = '\0';
	X509_STORE_add_cert(xs, authority_get0_root(a));
	sk_X509_push(chain, authority_get0_issuing(a));
	id = OCSP_cert_to_id(NULL, cert, issuer);
	OCSP_request_add0_id(req, OCSP_CERTID_dup(id));
	if (with_nonce)
		OCSP_request_add1_nonce(req, NULL, 32);
	len = i2d_OCSP_REQUEST(req, &der);
	if (authority_ocsp_answer(a, der, (size_t)len, &ans) == ST_OK) {
		*is_cacheable = ans.is_cacheable;
		p = ans.der;
		if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)ans.len)) !=
		        NULL &&
		    (bs = OCSP_response_get1_basic(resp)) != NULL &&
		    (OCSP_basic_verify(bs, chain, xs, 0) != 1 ||
		        !OCSP_resp_find_status(
		            bs, id, &status, &reason, NULL, NULL, NULL)))
			status = -1;
		if (bs != NULL && signer != NULL &&
		    OCSP_resp_get0_signer(bs, &who, chain) == 1 &&
		    who != NULL && ca_cert_serial_hex(who, signer) != ST_OK)
			signer[0] = '\0';
		free(ans.der);
	}
	sk_X509_free(chain);
	X509_STORE_free(xs);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	return status;
}

static int
ocsp_status(X509 *cert, int with_nonce, int *is_cacheable)
{
	return ocsp_query(
	    cert, authority_get0_issuing(a), with_nonce, is_cacheable, NULL);
}

/* Set the policy's shard count to n and open the authority again. */
static int
reopen_with_shards(const char *data, int n)
{
	char path[4200], *at;
	uint8_t *raw = NULL;
	size_t len;
	int rc = -1;

	authority_close(a);
	a = NULL;
	snprintf(path, sizeof(path), "%s/policy.json", data);
	if (file_read(path, 1 << 20, &raw, &len) != ST_OK)
		return -1;
	if ((at = strstr((char *)raw, "\"shards\": ")) != NULL &&
	    at[10] >= '1' && at[10] <= '9') {
		at[10] = (char)('0' + n);
		if (file_write_atomic(path, raw, len, 0644) == ST_OK)
			rc = 0;
	}
	free(raw);
	if (rc == 0 && authority_open(data, &a) != ST_OK)
		rc = -1;
	return rc;
}

/* The CRL that cert's distribution point names, as the server has it. */
static X509_CRL *
crl_of(X509 *cert)
{
	char url[512];
	const char *name;
	int64_t n;

	cdp_url(cert, url, sizeof(url));
	if ((name = strrchr(url, '/')) == NULL)
		return NULL;
	return crl(name + 1, &n);
}

/*
 * Every certificate, old and new, verified with the CRL its own CDP names
 * (and the root's): revoked ones refused, the others accepted.
 */
static void
check_all_cdps(X509 **certs, const int *revoked, int n)
{
	X509_CRL *c, *root;
	int64_t nr;
	int i, ok;

	CHECK_ST(authority_crl_publish(a), ST_OK);
	root = crl("root.crl", &nr);
	for (i = 0; i < n; i++) {
		c = crl_of(certs[i]);
		ok = c != NULL && root != NULL &&
		    verifies(certs[i], c, root) == !revoked[i];
		if (!ok) {
			char url[512];

			fprintf(stderr, "certificate %d (%s, revoked %d): %s\n",
			    i, cdp_url(certs[i], url, sizeof(url)), revoked[i],
			    c == NULL ? "no CRL" : "wrong answer");
		}
		CHECK(ok);
		X509_CRL_free(c);
	}
	X509_CRL_free(root);
}

/*
 * The shard count changes 2 -> 1 -> 3: every CRL a certificate not yet
 * expired names keeps being published with its revoked entries; the full
 * issuing.crl lists every revoked certificate of the issuing CA.
 */
static void
test_shard_changes(const char *data, X509 **certs, int *revoked)
{
	X509_CRL *full;
	X509_REVOKED *r;
	char serial[41], cn[32];
	int64_t n;
	int i, count = CERTS;

	CHECK(reopen_with_shards(data, 1) == 0);
	if (a == NULL)
		return;
	for (i = 0; i < 3; i++, count++) {
		snprintf(cn, sizeof(cn), "one-%d", i);
		CHECK((certs[count] = issue(cn)) != NULL);
	}
	CHECK_ST(ca_cert_serial_hex(certs[CERTS], serial), ST_OK);
	CHECK_ST(authority_revoke_cert(a, &op, serial, NULL, NULL), ST_OK);
	revoked[CERTS] = 1;
	check_all_cdps(certs, revoked, count);
	full = crl("issuing.crl", &n);
	CHECK(full != NULL &&
	    X509_CRL_get_ext_by_NID(full, NID_issuing_distribution_point, -1) <
	        0);
	for (i = 0; full != NULL && i < count; i++)
		CHECK(
		    (X509_CRL_get0_by_serial(full, &r,
		         X509_get0_serialNumber(certs[i])) == 1) == revoked[i]);
	X509_CRL_free(full);

	CHECK(reopen_with_shards(data, 3) == 0);
	if (a == NULL)
		return;
	for (i = 0; i < 6; i++, count++) {
		snprintf(cn, sizeof(cn), "three-%d", i);
		CHECK((certs[count] = issue(cn)) != NULL);
	}
	for (i = count - 6; i < count; i += 3) {
		CHECK_ST(ca_cert_serial_hex(certs[i], serial), ST_OK);
		CHECK_ST(
		    authority_revoke_cert(a, &op, serial, NULL, NULL), ST_OK);
		revoked[i] = 1;
	}
	check_all_cdps(certs, revoked, count);
	/* A shard no certificate names is not published. */
	CHECK(crl("issuing-5.crl", &n) == NULL);
	CHECK(reopen_with_shards(data, 2) == 0);
}

/* A serial nobody issued: answered (never good), never stored. */
static void
test_never_issued(void)
{
	OCSP_REQUEST *req;
	OCSP_CERTID *id;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	struct authority_ocsp_answer ans;
	unsigned char *der = NULL;
	uint8_t *stored = NULL;
	size_t len = 0;
	int i, n;

	for (i = 0; i < 20; i++) {
		ASN1_INTEGER_set_int64(serial, 0x7a000000 + i);
		id = OCSP_cert_id_new(EVP_sha1(),
		    X509_get_subject_name(authority_get0_issuing(a)),
		    X509_get0_pubkey_bitstr(authority_get0_issuing(a)), serial);
		req = OCSP_REQUEST_new();
		OCSP_request_add0_id(req, id);
		n = i2d_OCSP_REQUEST(req, &der);
		CHECK(authority_ocsp_answer(a, der, (size_t)n, &ans) == ST_OK &&
		    ans.len > 5);
		free(ans.der);
		OPENSSL_free(der);
		der = NULL;
		OCSP_REQUEST_free(req);
	}
	CHECK_ST(
	    store_ocsp_get(authority_store(a), "7A000000", &stored, &len, NULL),
	    ST_NOTFOUND);
	CHECK_ST(
	    store_ocsp_get(authority_store(a), "7A000013", &stored, &len, NULL),
	    ST_NOTFOUND);
	ASN1_INTEGER_free(serial);
}

/*
 * A row an older version kept for a serial nobody issued is dropped by
 * the scheduled refresh, not signed again every minute.
 */
static void
test_stale_rows(const char *data)
{
	char cmd[4400];
	uint8_t *stored = NULL;
	size_t len = 0;
	unsigned events = 0;

	snprintf(cmd, sizeof(cmd),
	    "sqlite3 -cmd '.timeout 5000' '%s/tessera.db' \"INSERT INTO "
	    "ocsp_responses VALUES ('7B01', x'300301', 0, 1)\"",
	    data);
	CHECK(system(cmd) == 0);
	CHECK_ST(
	    store_ocsp_get(authority_store(a), "7B01", &stored, &len, NULL),
	    ST_OK);
	free(stored);
	stored = NULL;
	CHECK_ST(authority_tick(a, &events), ST_OK);
	CHECK_ST(
	    store_ocsp_get(authority_store(a), "7B01", &stored, &len, NULL),
	    ST_NOTFOUND);
	free(stored);
}

/* The serial of a PEM file of the data directory. */
static int
pem_serial(const char *data, const char *rel, char serial[41])
{
	char path[4300];
	FILE *f;
	X509 *x = NULL;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", data, rel);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ok = x != NULL && ca_cert_serial_hex(x, serial) == ST_OK;
	X509_free(x);
	return ok;
}

/*
 * Revoking the OCSP responder's certificate: before the call returns a new
 * key is in the token and certified; answers are signed by the new one,
 * nothing the old one signed is served, and the old one is reported
 * revoked (by the new responder).
 */
static void
test_responder_revoked(const char *data, X509 *good)
{
	char old[41], now[41], signer[41];
	uint8_t *stored = NULL;
	size_t len = 0;
	int cacheable = 0;

	CHECK(pem_serial(data, "ca/ocsp.pem", old));
	/* A stored answer, signed by the old responder. */
	CHECK(ocsp_query(good, authority_get0_issuing(a), 0, &cacheable,
	          signer) == V_OCSP_CERTSTATUS_GOOD);
	CHECK(strcmp(signer, old) == 0);
	CHECK_ST(
	    authority_revoke_cert(a, &op, old, "keyCompromise", NULL), ST_OK);
	CHECK(pem_serial(data, "ca/ocsp.pem", now));
	CHECK(strcmp(now, old) != 0);
	CHECK(ocsp_query(good, authority_get0_issuing(a), 0, &cacheable,
	          signer) == V_OCSP_CERTSTATUS_GOOD);
	CHECK(strcmp(signer, now) == 0);
	/* It signs nothing about itself. */
	CHECK_ST(store_ocsp_get(authority_store(a), old, &stored, &len, NULL),
	    ST_NOTFOUND);
	free(stored);
}

/*
 * CA compromise: the issuing CA revoked with cACompromise lands on the
 * root's CRL, signed by the root; OCSP for it is answered by the root
 * (revoked); issuance stops at once with a 503 that says so; a chain
 * through it fails with the CRLs.
 */
static void
test_ca_compromise(X509 *good)
{
	X509_CRL *root = NULL, *mine = NULL;
	X509_REVOKED *r;
	X509 *cert;
	char serial[41], signer[41], root_serial[41];
	int64_t n;
	int cacheable;

	CHECK_ST(ca_cert_serial_hex(authority_get0_issuing(a), serial), ST_OK);
	CHECK_ST(
	    ca_cert_serial_hex(authority_get0_root(a), root_serial), ST_OK);
	CHECK(ocsp_query(authority_get0_issuing(a), authority_get0_root(a), 0,
	          &cacheable, signer) == V_OCSP_CERTSTATUS_GOOD);
	CHECK_ST(
	    authority_revoke_cert(a, &op, serial, "cACompromise", NULL), ST_OK);
	CHECK(ocsp_query(authority_get0_issuing(a), authority_get0_root(a), 0,
	          &cacheable, signer) == V_OCSP_CERTSTATUS_REVOKED);
	CHECK(strcmp(signer, root_serial) == 0);
	CHECK((cert = issue("after-compromise")) == NULL);
	X509_free(cert);
	CHECK_DETAIL("was revoked");
	CHECK_ST(authority_crl_publish(a), ST_OK);
	root = crl("root.crl", &n);
	CHECK(root != NULL &&
	    X509_CRL_get0_by_serial(root, &r,
	        X509_get0_serialNumber(authority_get0_issuing(a))) == 1);
	CHECK(root != NULL &&
	    X509_CRL_verify(root, X509_get0_pubkey(authority_get0_root(a))) ==
	        1);
	mine = crl_of(good);
	CHECK(mine != NULL && root != NULL && !verifies(good, mine, root));
	X509_CRL_free(mine);
	X509_CRL_free(root);
}

/*
 * Another process (a second authority on the same data directory) that
 * still holds the responder revoked here: it revokes a certificate
 * (OK, its revoked answer is not signed by the revoked key) and answers
 * OCSP with the successor.
 */
static void
test_stale_process(const char *data, X509 *cert)
{
	struct authority *other = NULL, *mine = a;
	char old[41], now[41], signer[41], serial[41];
	int cacheable = 0;

	CHECK_ST(authority_open(data, &other), ST_OK);
	if (other == NULL)
		return;
	CHECK(pem_serial(data, "ca/ocsp.pem", old));
	CHECK_ST(authority_revoke_cert(a, &op, old, "superseded", NULL), ST_OK);
	CHECK(pem_serial(data, "ca/ocsp.pem", now));
	CHECK(strcmp(now, old) != 0);
	a = other;
	CHECK_ST(ca_cert_serial_hex(cert, serial), ST_OK);
	CHECK_ST(
	    authority_revoke_cert(a, &op, serial, "superseded", NULL), ST_OK);
	CHECK(ocsp_query(cert, authority_get0_issuing(a), 0, &cacheable,
	          signer) == V_OCSP_CERTSTATUS_REVOKED);
	CHECK(strcmp(signer, now) == 0);
	a = mine;
	authority_close(other);
}

int
main(void)
{
	struct ca_setup s;
	X509 *certs[CERTS + 16] = {NULL};
	int revoked[CERTS + 16] = {0};
	X509_CRL *c0 = NULL, *c1 = NULL, *root = NULL;
	char *dir = testutil_tmpdir(), data[4096], url[512], serial[41];
	int64_t n0 = 0, n1 = 0, nr = 0, again = 0;
	int i, cacheable = 0, in0, in1, per_shard[2] = {0, 0};

	snprintf(data, sizeof(data), "%s/var", dir);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	memset(&op, 0, sizeof(op));
	op.kind = PRINCIPAL_OPERATOR;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK(two_shards(data) == 0);
	CHECK_ST(authority_open(data, &a), ST_OK);
	if (a == NULL)
		goto out;
	for (i = 0; i < CERTS; i++) {
		char cn[16];

		snprintf(cn, sizeof(cn), "shard-%d", i);
		certs[i] = issue(cn);
		CHECK(certs[i] != NULL);
	}
	/* OCSP before: good, and the nonce-less answer is cacheable. */
	CHECK(ocsp_status(certs[0], 0, &cacheable) == V_OCSP_CERTSTATUS_GOOD);
	CHECK(cacheable);
	CHECK(ocsp_status(certs[0], 1, &cacheable) == V_OCSP_CERTSTATUS_GOOD);
	CHECK(!cacheable);
	/* Again nonce-less: from the store now, still good. */
	CHECK(ocsp_status(certs[0], 0, &cacheable) == V_OCSP_CERTSTATUS_GOOD);
	/* Revoke the even ones. */
	for (i = 0; i < CERTS; i += 2) {
		CHECK_ST(ca_cert_serial_hex(certs[i], serial), ST_OK);
		CHECK_ST(authority_revoke_cert(
		             a, &op, serial, "keyCompromise", NULL),
		    ST_OK);
		revoked[i] = 1;
	}
	/* OCSP after: revoked at once, including the stored answer. */
	CHECK(
	    ocsp_status(certs[0], 0, &cacheable) == V_OCSP_CERTSTATUS_REVOKED);
	CHECK(
	    ocsp_status(certs[2], 1, &cacheable) == V_OCSP_CERTSTATUS_REVOKED);
	CHECK(ocsp_status(certs[1], 0, &cacheable) == V_OCSP_CERTSTATUS_GOOD);

	CHECK_ST(authority_crl_publish(a), ST_OK);
	c0 = crl("issuing-0.crl", &n0);
	c1 = crl("issuing-1.crl", &n1);
	root = crl("root.crl", &nr);
	CHECK(c0 != NULL && c1 != NULL && root != NULL);
	CHECK(n0 == 1 && n1 == 1 && nr == 1);
	CHECK_ST(authority_crl_publish(a), ST_OK);
	X509_CRL_free(crl("issuing-0.crl", &again));
	CHECK(again == 2);
	if (c0 == NULL || c1 == NULL || root == NULL)
		goto out;
	for (i = 0; i < CERTS; i++) {
		X509_REVOKED *r = NULL;
		X509_CRL *mine;
		int shard;

		cdp_url(certs[i], url, sizeof(url));
		shard = strstr(url, "/crl/issuing-1.crl") != NULL ? 1 : 0;
		CHECK(strstr(url,
		          shard ? "/crl/issuing-1.crl"
		                : "/crl/issuing-0.crl") != NULL);
		per_shard[shard]++;
		in0 = X509_CRL_get0_by_serial(
		          c0, &r, X509_get0_serialNumber(certs[i])) == 1;
		in1 = X509_CRL_get0_by_serial(
		          c1, &r, X509_get0_serialNumber(certs[i])) == 1;
		/* Revoked: listed in its own shard only; else in none. */
		CHECK(in0 == (i % 2 == 0 && shard == 0));
		CHECK(in1 == (i % 2 == 0 && shard == 1));
		mine = shard ? c1 : c0;
		CHECK(verifies(certs[i], mine, root) == (i % 2 == 1));
	}
	fprintf(stderr, "shards: %d and %d certificates\n", per_shard[0],
	    per_shard[1]);
	CHECK(X509_CRL_get_ext_by_NID(c0, NID_issuing_distribution_point, -1) >=
	    0);
	CHECK(X509_CRL_verify(root, X509_get0_pubkey(authority_get0_root(a))) ==
	    1);
	test_never_issued();
	test_stale_rows(data);
	test_responder_revoked(data, certs[1]);
	test_stale_process(data, certs[3]);
	revoked[3] = 1;
	test_shard_changes(data, certs, revoked);
	if (a != NULL)
		test_ca_compromise(certs[1]);
out:
	X509_CRL_free(c0);
	X509_CRL_free(c1);
	X509_CRL_free(root);
	for (i = 0; i < CERTS + 16; i++)
		X509_free(certs[i]);
	authority_close(a);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
