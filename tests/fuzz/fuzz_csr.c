/*
 * libFuzzer target: bytes as a DER PKCS#10, parsed, then checked against
 * testutil_csr_policy's profiles (embedded, so the target needs no
 * files) and the names
 * tessera would issue built (normalised string types, templates, RFC
 * 9525 rules for the serverAuth one).
 *
 * Mutated bytes almost never carry a valid self-signature, so everything
 * after the proof-of-possession check would go unexplored: each input that
 * decodes is also re-signed with a fixed key (here, never in ca/csr.c) and
 * fed through again.
 *
 * Differential: every input also goes through the reference reader
 * (d2i_X509_REQ) and tessera's own reader alone. ca_csr_parse must give
 * the reference's verdict and message; what the own reader takes, the
 * reference must take with the same fields (ca_csr_same) and the same
 * outcome of every profile check.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "ca/csr.h"
#include "ca/policy.h"
#include "tests/unit/testutil.h"

static struct policy *policy;
static EVP_PKEY *fixed_key;

/*
 * The names tessera would issue: built only from checked input, and what
 * is built obeys the rules (UTF8String or PrintableString, one attribute
 * per RDN, never the CSR's string types).
 */
static void
build(const struct ca_csr *csr, const struct policy_profile *p)
{
	X509_NAME *subject = NULL;
	GENERAL_NAMES *san = NULL;
	const ASN1_STRING *v;
	int i, type;

	if (ca_csr_names_build(csr, p, &subject, &san) != ST_OK) {
		if (subject != NULL || san != NULL)
			abort();
		return;
	}
	if (ca_csr_check_names(csr, p) != ST_OK)
		abort();
	for (i = 0; i < X509_NAME_entry_count(subject); i++) {
		v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
		type = ASN1_STRING_type(v);
		if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING)
			abort();
		if (X509_NAME_ENTRY_set(X509_NAME_get_entry(subject, i)) != i)
			abort();
	}
	if (p->is_server_auth && sk_GENERAL_NAME_num(san) == 0)
		abort();
	X509_NAME_free(subject);
	GENERAL_NAMES_free(san);
}

/* The own reader's result against the reference's, for every profile. */
static void
differ(const struct ca_csr *own, const struct ca_csr *ref)
{
	const struct policy_profile *p;
	char why[128], d[512];
	enum status a, b;
	size_t i;

	if (!ca_csr_same(own, ref, why, sizeof(why)))
		abort();
	for (i = 0; (p = policy_profile_at(policy, i)) != NULL; i++) {
		a = ca_csr_check(own, p);
		snprintf(d, sizeof(d), "%s", status_detail());
		b = ca_csr_check(ref, p);
		if (a != b || (a != ST_OK && strcmp(d, status_detail()) != 0))
			abort();
	}
}

/* Parse der; if it parses, check it against every profile. */
static void
run(const uint8_t *der, size_t len)
{
	const struct policy_profile *p;
	struct ca_csr *csr = NULL, *ref = NULL, *own = NULL;
	enum status st, st_ref, st_own;
	char d_ref[512];
	size_t i;

	st_ref = ca_csr_parse_reference(der, len, &ref);
	snprintf(d_ref, sizeof(d_ref), "%s", status_detail());
	st_own = ca_csr_parse_own(der, len, &own);
	if ((st_ref == ST_OK) != (ref != NULL) ||
	    (st_own == ST_OK) != (own != NULL) ||
	    (st_own == ST_OK && st_ref != ST_OK))
		abort();
	if (own != NULL)
		differ(own, ref);
	ca_csr_free(own);
	ca_csr_free(ref);
	st = ca_csr_parse(der, len, &csr);
	if (st != st_ref ||
	    (st != ST_OK && strcmp(d_ref, status_detail()) != 0))
		abort();
	if (st != ST_OK) {
		if (csr != NULL)
			abort();
		return;
	}
	for (i = 0; (p = policy_profile_at(policy, i)) != NULL; i++) {
		(void)!ca_csr_check(csr, p);
		(void)ca_csr_device_id(csr, p);
		build(csr, p);
	}
	if (strlen(ca_csr_key_describe(csr)) == 0 ||
	    ca_csr_get0_pubkey(csr) == NULL)
		abort();
	(void)ca_csr_get0_san(csr);
	(void)ca_csr_get0_challenge(csr);
	ca_csr_free(csr);
}

/* The input with its key replaced by fixed_key and signed again. */
static void
run_resigned(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	unsigned char *der = NULL;
	X509_REQ *req;
	int len;

	if ((req = d2i_X509_REQ(NULL, &p, (long)size)) == NULL)
		goto out;
	if (!X509_REQ_set_pubkey(req, fixed_key) ||
	    !X509_REQ_sign(req, fixed_key, EVP_sha256()))
		goto out;
	if ((len = i2d_X509_REQ(req, &der)) > 0)
		run(der, (size_t)len);
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (policy == NULL &&
	    policy_parse(testutil_csr_policy, strlen(testutil_csr_policy),
	        "fuzz", &policy) != ST_OK)
		abort();
	if (fixed_key == NULL &&
	    (fixed_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		abort();
	run(data, size);
	if (size <= LIMIT_CSR_DER)
		run_resigned(data, size);
	return 0;
}
