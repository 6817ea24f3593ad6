/*
 * libFuzzer target: bytes as a DER PKCS#10, parsed, then checked against
 * the device profile of a policy like policies/default.json (embedded, so
 * the target needs no files).
 *
 * Mutated bytes almost never carry a valid self-signature, so everything
 * after the proof-of-possession check would go unexplored: each input that
 * decodes is also re-signed with a fixed key (here, never in ca/csr.c) and
 * fed through again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "ca/csr.h"
#include "ca/policy.h"

static const char policy_json[] =
    "{\"version\": 1, \"profiles\": {"
    "\"device\": {\"validity_days\": 30,"
    " \"keys\": [\"ec:P-256\", \"ec:P-384\", \"rsa:3072\"],"
    " \"subject\": {\"cn\": \"required\","
    "  \"cn_pattern\": \"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$\","
    "  \"attributes\": [\"CN\", \"serialNumber\", \"O\", \"OU\"]},"
    " \"san\": {\"uri_pattern\": \"^urn:dev:\", \"max\": 4},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"clientAuth\"]},"
    "\"gateway\": {\"validity_days\": 90,"
    " \"keys\": [\"ec:P-256\", \"rsa:2048\"],"
    " \"subject\": {\"cn\": \"optional\","
    "  \"attributes\": [\"CN\", \"serialNumber\", \"emailAddress\"]},"
    " \"device_id\": \"serialNumber\","
    " \"san\": {\"dns_pattern\": \"^[a-z0-9.-]+$\", \"ip\": true,"
    "  \"max\": 16},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"serverAuth\"]}}}";

static struct policy *policy;
static EVP_PKEY *fixed_key;

/* Parse der; if it parses, check it against every profile. */
static void
run(const uint8_t *der, size_t len)
{
	const struct policy_profile *p;
	struct ca_csr *csr = NULL;
	size_t i;

	if (ca_csr_parse(der, len, &csr) != ST_OK) {
		if (csr != NULL)
			abort();
		return;
	}
	for (i = 0; (p = policy_profile_at(policy, i)) != NULL; i++) {
		(void)!ca_csr_check(csr, p);
		(void)ca_csr_device_id(csr, p);
	}
	if (strlen(ca_csr_key_describe(csr)) == 0 ||
	    ca_csr_get0_req(csr) == NULL || ca_csr_get0_pubkey(csr) == NULL)
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
	    policy_parse(
	        policy_json, sizeof(policy_json) - 1, "fuzz", &policy) != ST_OK)
		abort();
	if (fixed_key == NULL &&
	    (fixed_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		abort();
	run(data, size);
	if (size <= LIMIT_CSR_DER)
		run_resigned(data, size);
	return 0;
}
