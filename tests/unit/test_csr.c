/*
 * csr: parsing (limits, DER strictness, proof of possession) and the
 * profile checks (key type, subject, SAN), against policies/default.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/csr.h"
#include "ca/policy.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct policy *def_policy, *factory_policy;
static const struct policy_profile *device, *gateway, *station, *factory;
static EVP_PKEY *p256;

/* One subject attribute; len -1 means strlen(value). */
struct attr {
	const char *type;
	const char *value;
	int len;
};

/*
 * A CSR signed by key with the given subject attributes (as UTF8String,
 * bypassing OpenSSL's per-attribute size table so that hostile values can
 * be built), SANs in openssl syntax, an optional challengePassword and an
 * optional extra extension (openssl syntax, e.g. "critical,CA:TRUE" for
 * basicConstraints). DER to *der (free()).
 */
static int
make_csr(EVP_PKEY *key, const struct attr *attrs, size_t attr_count,
    const char *sans, const char *challenge, const char *bc, uint8_t **der,
    size_t *der_len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	size_t i;
	int rc = -1;

	*der = NULL;
	*der_len = 0;
	if (req == NULL || name == NULL)
		goto out;
	for (i = 0; i < attr_count; i++)
		if (!X509_NAME_add_entry_by_txt(name, attrs[i].type,
		        V_ASN1_UTF8STRING,
		        (const unsigned char *)attrs[i].value, attrs[i].len, -1,
		        0))
			goto out;
	if (!X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || !X509_REQ_set_version(req, 0))
		goto out;
	if (sans != NULL || bc != NULL) {
		if ((exts = sk_X509_EXTENSION_new_null()) == NULL)
			goto out;
		if (sans != NULL) {
			ext = X509V3_EXT_conf_nid(
			    NULL, NULL, NID_subject_alt_name, sans);
			if (ext == NULL || !sk_X509_EXTENSION_push(exts, ext))
				goto out;
		}
		if (bc != NULL) {
			ext = X509V3_EXT_conf_nid(
			    NULL, NULL, NID_basic_constraints, bc);
			if (ext == NULL || !sk_X509_EXTENSION_push(exts, ext))
				goto out;
		}
		if (!X509_REQ_add_extensions(req, exts))
			goto out;
	}
	if (challenge != NULL &&
	    !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	        MBSTRING_UTF8, (const unsigned char *)challenge, -1))
		goto out;
	rc = testutil_req_sign(req, key, der, der_len);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

/* Parse der and check it against profile; returns the check's status. */
static enum status
parse_check(
    const uint8_t *der, size_t len, const struct policy_profile *profile)
{
	struct ca_csr *csr = NULL;
	enum status st;

	if ((st = ca_csr_parse(der, len, &csr)) != ST_OK)
		return st;
	st = ca_csr_check(csr, profile);
	ca_csr_free(csr);
	return st;
}

/* A testutil CSR for key with cn and sans, parsed and checked. */
static enum status
key_check(EVP_PKEY *key, const char *cn, const char *sans,
    const struct policy_profile *profile)
{
	uint8_t *der = NULL;
	size_t len = 0;
	enum status st;

	if (key == NULL || testutil_csr(key, cn, sans, &der, &len) != 0)
		return status_fail(ST_INTERNAL, "could not make a CSR");
	st = parse_check(der, len, profile);
	free(der);
	return st;
}

static enum status
attrs_check(const struct attr *attrs, size_t n, const char *sans,
    const struct policy_profile *profile)
{
	uint8_t *der = NULL;
	size_t len = 0;
	enum status st;

	if (make_csr(p256, attrs, n, sans, NULL, NULL, &der, &len) != 0)
		return status_fail(ST_INTERNAL, "could not make a CSR");
	st = parse_check(der, len, profile);
	free(der);
	return st;
}

static void
test_good(void)
{
	struct ca_csr *csr = NULL;
	const GENERAL_NAMES *san;
	uint8_t *der = NULL;
	size_t len = 0;

	CHECK(testutil_csr(
	          p256, "dev-0001", "URI:urn:dev:dev-0001", &der, &len) == 0);
	csr = (struct ca_csr *)&csr;
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		CHECK_ST(ca_csr_check(csr, device), ST_OK);
		CHECK(strcmp(ca_csr_key_describe(csr), "ec:P-256") == 0);
		CHECK(ca_csr_device_id(csr, device) != NULL &&
		    strcmp(ca_csr_device_id(csr, device), "dev-0001") == 0);
		CHECK(ca_csr_get0_challenge(csr) == NULL);
		CHECK(ca_csr_get0_req(csr) != NULL);
		CHECK(ca_csr_get0_pubkey(csr) != NULL &&
		    EVP_PKEY_eq(ca_csr_get0_pubkey(csr), p256) == 1);
		san = ca_csr_get0_san(csr);
		CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1);
		/* The gateway profile allows no URI SAN. */
		CHECK_ST(ca_csr_check(csr, gateway), ST_DENIED);
		CHECK_DETAIL("SAN type URI is not allowed by profile gateway");
		/* The station profile allows no SAN at all. */
		CHECK_ST(ca_csr_check(csr, station), ST_DENIED);
		CHECK_DETAIL("SAN type URI is not allowed by profile station");
	}
	ca_csr_free(csr);
	ca_csr_free(NULL);
	free(der);

	/* No SAN at all is fine too. */
	CHECK_ST(key_check(p256, "dev-0002", NULL, device), ST_OK);
	CHECK_ST(key_check(p256, "station-7", NULL, station), ST_OK);
}

static void
test_keys(void)
{
	EVP_PKEY *k;
	uint8_t *der = NULL;
	size_t len = 0;
	struct ca_csr *csr = NULL;

	k = testutil_key("rsa:1024");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_DENIED);
	CHECK(strcmp(status_detail(),
	          "CSR key is rsa:1024; profile device "
	          "allows ec:P-256, ec:P-384, rsa:3072+") == 0);
	EVP_PKEY_free(k);

	k = testutil_key("ec:P-521");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_DENIED);
	CHECK_DETAIL("CSR key is ec:P-521; profile device allows");
	EVP_PKEY_free(k);

	k = testutil_key("ed25519");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_DENIED);
	CHECK_DETAIL("CSR key is ed25519; profile device allows");
	EVP_PKEY_free(k);

	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_DENIED);
	CHECK_DETAIL("CSR key is ec:secp256k1; profile device allows");
	EVP_PKEY_free(k);

	k = testutil_key("ec:P-384");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_OK);
	/* station allows EC only. */
	CHECK_ST(key_check(k, "st-1", NULL, station), ST_OK);
	EVP_PKEY_free(k);

	k = testutil_key("rsa:3072");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_OK);
	CHECK_ST(key_check(k, "st-1", NULL, station), ST_DENIED);
	CHECK_DETAIL("CSR key is rsa:3072; profile station allows ec:P-256, "
	             "ec:P-384");
	if (k != NULL && testutil_csr(k, "dev-1", NULL, &der, &len) == 0) {
		CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
		if (csr != NULL)
			CHECK(
			    strcmp(ca_csr_key_describe(csr), "rsa:3072") == 0);
		ca_csr_free(csr);
		free(der);
	}
	EVP_PKEY_free(k);
}

static void
test_subject(void)
{
	static const struct attr two_cn[] = {{"CN", "a", -1}, {"CN", "b", -1}};
	static const struct attr email[] = {
	    {"CN", "dev-1", -1}, {"emailAddress", "a@example.com", -1}};
	static const struct attr o_ou[] = {{"O", "Acme", -1},
	    {"OU", "Line 3", -1}, {"CN", "dev-1", -1},
	    {"serialNumber", "SN-42", -1}};
	static const struct attr nul_cn[] = {{"CN", "ab\0cd", 5}};
	static const struct attr serial_only[] = {
	    {"serialNumber", "SN-42", -1}};
	static const struct attr two_serials[] = {
	    {"serialNumber", "SN-1", -1}, {"serialNumber", "SN-2", -1}};
	struct attr many[LIMIT_SUBJECT_ATTRS + 1], long_cn[1], long_id[1];
	char big[LIMIT_NAME_LEN + 2], id65[LIMIT_DEVICE_ID_LEN + 2];
	size_t i;

	CHECK_ST(key_check(p256, "x y", NULL, device), ST_DENIED);
	CHECK_DETAIL("CN \"x y\" does not match profile device's pattern "
	             "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$");
	CHECK_ST(key_check(p256, "bad\nline", NULL, device), ST_DENIED);
	CHECK_DETAIL("CN \"bad\\x0aline\" does not match");

	CHECK_ST(key_check(p256, NULL, NULL, device), ST_DENIED);
	CHECK_DETAIL("profile device requires a CN");

	CHECK_ST(attrs_check(two_cn, 2, NULL, device), ST_DENIED);
	CHECK_DETAIL("CSR subject has 2 CNs; profile device allows one");

	CHECK_ST(attrs_check(email, 2, NULL, device), ST_DENIED);
	CHECK_DETAIL("subject attribute emailAddress is not allowed by "
	             "profile device");

	CHECK_ST(attrs_check(o_ou, 4, NULL, device), ST_OK);
	/* gateway does not allow serialNumber. */
	CHECK_ST(attrs_check(o_ou, 4, NULL, gateway), ST_DENIED);
	CHECK_DETAIL("subject attribute serialNumber is not allowed by "
	             "profile gateway");

	CHECK_ST(attrs_check(nul_cn, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN contains a NUL byte");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	long_cn[0] = (struct attr){"CN", big, -1};
	CHECK_ST(attrs_check(long_cn, 1, NULL, device), ST_LIMIT);
	CHECK_DETAIL("subject attribute CN is 257 bytes, limit is 256");

	for (i = 0; i < LIMIT_SUBJECT_ATTRS + 1; i++)
		many[i] = (struct attr){"OU", "x", -1};
	CHECK_ST(
	    attrs_check(many, LIMIT_SUBJECT_ATTRS + 1, NULL, device), ST_LIMIT);
	CHECK_DETAIL("CSR subject has 9 attributes, limit is 8");
	CHECK_ST(
	    attrs_check(many, LIMIT_SUBJECT_ATTRS, NULL, device), ST_DENIED);

	/* Device id from serialNumber (examples/factory.json). */
	CHECK_ST(attrs_check(serial_only, 1, NULL, factory), ST_OK);
	CHECK_ST(attrs_check(o_ou, 4, NULL, factory), ST_OK);
	CHECK_ST(key_check(p256, "dev-1", NULL, factory), ST_DENIED);
	CHECK_DETAIL("profile device takes the device id from the subject's "
	             "serialNumber, which the CSR does not have");
	CHECK_ST(attrs_check(two_serials, 2, NULL, factory), ST_DENIED);
	CHECK_DETAIL("CSR subject has 2 serialNumbers");

	/* A device id over LIMIT_DEVICE_ID_LEN (factory has no pattern). */
	memset(id65, 'a', sizeof(id65) - 1);
	id65[sizeof(id65) - 1] = '\0';
	long_id[0] = (struct attr){"serialNumber", id65, -1};
	CHECK_ST(attrs_check(long_id, 1, NULL, factory), ST_LIMIT);
	CHECK_DETAIL("device id is 65 bytes, limit is 64");
}

static void
test_device_id(void)
{
	static const struct attr o_ou[] = {{"O", "Acme", -1},
	    {"CN", "dev-9", -1}, {"serialNumber", "SN-9", -1}};
	struct ca_csr *csr = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	CHECK(make_csr(p256, o_ou, 3, NULL, NULL, NULL, &der, &len) == 0);
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		CHECK(strcmp(ca_csr_device_id(csr, device), "dev-9") == 0);
		CHECK(strcmp(ca_csr_device_id(csr, factory), "SN-9") == 0);
	}
	ca_csr_free(csr);
	free(der);
}

static void
test_san(void)
{
	char list[2048];
	size_t i, used = 0;

	CHECK_ST(key_check(p256, "dev-1", "DNS:dev-1.example.com", device),
	    ST_DENIED);
	CHECK_DETAIL("SAN type DNS is not allowed by profile device");
	CHECK_ST(
	    key_check(p256, "dev-1", "URI:urn:other:dev-1", device), ST_DENIED);
	CHECK_DETAIL("SAN URI:\"urn:other:dev-1\" does not match profile "
	             "device's pattern ^urn:dev:");
	CHECK_ST(
	    key_check(p256, "dev-1", "email:a@example.com", device), ST_DENIED);
	CHECK_DETAIL("SAN type email is not allowed by profile device");
	CHECK_ST(key_check(p256, "dev-1", "IP:192.0.2.1", device), ST_DENIED);
	CHECK_DETAIL("SAN type IP is not allowed by profile device");

	CHECK_ST(key_check(p256, "gw-1",
	             "DNS:gw-1.example.com,IP:192.0.2.1,"
	             "IP:2001:db8::1",
	             gateway),
	    ST_OK);
	CHECK_ST(
	    key_check(p256, "gw-1", "DNS:*.example.com", gateway), ST_DENIED);
	CHECK_DETAIL("SAN DNS:\"*.example.com\" does not match profile "
	             "gateway's pattern");

	/* 5 URIs: within the parse limit, over device's max of 4. */
	for (i = 0; i < 5; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%sURI:urn:dev:d%zu", i ? "," : "", i);
	CHECK_ST(key_check(p256, "dev-1", list, device), ST_DENIED);
	CHECK_DETAIL("CSR requests 5 subject alternative names; profile "
	             "device allows at most 4");

	used = 0;
	for (i = 0; i < LIMIT_SAN_COUNT + 1; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%sURI:urn:dev:d%zu", i ? "," : "", i);
	CHECK_ST(key_check(p256, "dev-1", list, device), ST_LIMIT);
	CHECK_DETAIL("CSR requests 17 subject alternative names, limit is 16");

	/* Other requested extensions are ignored, never copied. */
	{
		static const struct attr cn[] = {{"CN", "dev-1", -1}};
		uint8_t *der = NULL;
		size_t len = 0;

		CHECK(make_csr(p256, cn, 1, "URI:urn:dev:dev-1", NULL,
		          "critical,CA:TRUE", &der, &len) == 0);
		CHECK_ST(parse_check(der, len, device), ST_OK);
		free(der);
	}
}

static void
test_challenge(void)
{
	static const struct attr cn[] = {{"CN", "dev-1", -1}};
	struct ca_csr *csr = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	CHECK(make_csr(
	          p256, cn, 1, NULL, "s3cret-\xc3\xa9", NULL, &der, &len) == 0);
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		CHECK(ca_csr_get0_challenge(csr) != NULL &&
		    strcmp(ca_csr_get0_challenge(csr), "s3cret-\xc3\xa9") == 0);
		CHECK_ST(ca_csr_check(csr, device), ST_OK);
	}
	ca_csr_free(csr);
	free(der);
}

static void
test_malformed(void)
{
	struct ca_csr *csr;
	uint8_t *der = NULL, *junk = NULL, *more = NULL;
	size_t len = 0, i, bad = 0;
	enum status st;

	if (testutil_csr(p256, "dev-1", "URI:urn:dev:dev-1", &der, &len) != 0) {
		CHECK(0);
		return;
	}

	csr = (struct ca_csr *)&csr;
	CHECK_ST(ca_csr_parse(der, 0, &csr), ST_MALFORMED);
	CHECK_DETAIL("empty CSR");
	CHECK(csr == NULL);

	/* Trailing bytes. */
	if ((more = malloc(len + 1)) != NULL) {
		memcpy(more, der, len);
		more[len] = 0;
		CHECK_ST(ca_csr_parse(more, len + 1, &csr), ST_MALFORMED);
		CHECK_DETAIL("trailing bytes after the CSR");
		CHECK(csr == NULL);
		free(more);
	}

	/* Every proper prefix fails cleanly (ASan checks for leaks). */
	for (i = 0; i < len; i++) {
		csr = NULL;
		st = ca_csr_parse(der, i, &csr);
		if (st == ST_OK || csr != NULL) {
			bad++;
			ca_csr_free(csr);
		}
	}
	CHECK(bad == 0);

	/* Flipping any single byte never crashes nor leaks. */
	for (i = 0; i < len; i++) {
		der[i] ^= 0x5a;
		csr = NULL;
		if (ca_csr_parse(der, len, &csr) == ST_OK)
			(void)!ca_csr_check(csr, device);
		else
			CHECK(csr == NULL);
		ca_csr_free(csr);
		der[i] ^= 0x5a;
	}

	/* A flipped bit in the signature: no proof of possession. */
	der[len - 1] ^= 0x01;
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_MALFORMED);
	CHECK_DETAIL("CSR signature does not verify (no proof of possession)");
	CHECK(csr == NULL);
	der[len - 1] ^= 0x01;
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	ca_csr_free(csr);

	/* 1 MB of junk: refused on size before any parsing. */
	if ((junk = malloc(1024 * 1024)) != NULL) {
		CHECK(RAND_bytes(junk, 1024 * 1024) == 1);
		CHECK_ST(ca_csr_parse(junk, 1024 * 1024, &csr), ST_LIMIT);
		CHECK_DETAIL("CSR is 1048576 bytes, limit is 16384");
		CHECK_ST(ca_csr_parse(junk, LIMIT_CSR_DER + 1, &csr), ST_LIMIT);
		/* Small junk is not DER. */
		junk[0] = 0x04;
		CHECK_ST(ca_csr_parse(junk, 100, &csr), ST_MALFORMED);
		CHECK_DETAIL("not a DER PKCS#10 request");
		CHECK(csr == NULL);
		free(junk);
	}
	free(der);
}

int
main(void)
{
	const char *src = getenv("TESSERA_SOURCE");
	char path[4096];

	if (src == NULL || src[0] == '\0')
		src = ".";
	snprintf(path, sizeof(path), "%s/policies/default.json", src);
	CHECK_ST(policy_load(path, &def_policy), ST_OK);
	snprintf(path, sizeof(path), "%s/policies/examples/factory.json", src);
	CHECK_ST(policy_load(path, &factory_policy), ST_OK);
	device = policy_profile_get(def_policy, "device");
	gateway = policy_profile_get(def_policy, "gateway");
	station = policy_profile_get(def_policy, "station");
	factory = policy_profile_get(factory_policy, "device");
	p256 = testutil_key("ec:P-256");
	if (device == NULL || gateway == NULL || station == NULL ||
	    factory == NULL || p256 == NULL) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	test_good();
	test_keys();
	test_subject();
	test_device_id();
	test_san();
	test_challenge();
	test_malformed();
	EVP_PKEY_free(p256);
	policy_free(def_policy);
	policy_free(factory_policy);
	TEST_END();
}
