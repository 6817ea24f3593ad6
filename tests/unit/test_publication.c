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
#include <openssl/x509v3.h>

#include "ca/authority.h"
#include "ca/issue.h"
#include "ca/setup.h"
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

static int
ocsp_status(X509 *cert, int with_nonce, int *is_cacheable)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	struct authority_ocsp_answer ans;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len, status = -1, reason;

	id = OCSP_cert_to_id(NULL, cert, authority_get0_issuing(a));
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
		    !OCSP_resp_find_status(
		        bs, id, &status, &reason, NULL, NULL, NULL))
			status = -1;
		free(ans.der);
	}
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	return status;
}

int
main(void)
{
	struct ca_setup s;
	X509 *certs[CERTS] = {NULL};
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
out:
	X509_CRL_free(c0);
	X509_CRL_free(c1);
	X509_CRL_free(root);
	for (i = 0; i < CERTS; i++)
		X509_free(certs[i]);
	authority_close(a);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
