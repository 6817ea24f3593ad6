/*
 * csr: parsing (limits, DER strictness, proof of possession), the profile
 * checks (key type, subject rules, SAN templates, device id form) and the
 * names tessera builds from them, against policies/default.json,
 * policies/examples/factory.json and an inline policy. Where a name is
 * issued, the built subject and SAN are checked byte for byte (string
 * types included), not only the status.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/csr.h"
#include "ca/deviceid.h"
#include "ca/policy.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct policy *def_policy, *factory_policy, *inline_policy;
static const struct policy_profile *device, *gateway, *station, *factory;
static const struct policy_profile *utf8p, *utf8p_cn;

/*
 * Two serverAuth profiles: "gw" (id from serialNumber) allows UTF-8 and
 * has a fixed C and a required L; "gwcn" (id from the CN) allows IPs.
 */
static const char inline_json[] =
    "{\"version\": 1, \"profiles\": {"
    "\"gw\": {\"validity_days\": 1, \"keys\": [\"ec:P-256\"],"
    " \"device_id\": \"serialNumber\","
    " \"subject\": {\"utf8\": true, \"serialNumber\": \"{id}\","
    "  \"CN\": \"{id}.gw.example.net\", \"C\": {\"value\": \"DE\"},"
    "  \"L\": {\"pattern\": \"^.{1,64}$\", \"required\": true}},"
    " \"san\": {\"dns\": [\"{id}.gw.example.net\"], \"max\": 2},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"serverAuth\"]},"
    "\"gwcn\": {\"validity_days\": 1, \"keys\": [\"ec:P-256\"],"
    " \"subject\": {\"CN\": \"{id}.gw.example.net\"},"
    " \"san\": {\"dns\": [\"{id}.gw.example.net\"], \"ip\": true,"
    "  \"max\": 4},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"serverAuth\", \"clientAuth\"]}}}";
static EVP_PKEY *p256;

/*
 * One subject attribute; len -1 means strlen(value); asn1 is the string
 * type (0: UTF8String); join puts it into the previous RDN.
 */
struct attr {
	const char *type;
	const char *value;
	int len;
	int asn1;
	int join;
};

/*
 * A CSR signed by key with the given subject attributes (in the string
 * type each asks for, bypassing OpenSSL's per-attribute size table and
 * character checks so that hostile values can be built), SANs in openssl syntax, an optional challengePassword and an
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
		        attrs[i].asn1 ? attrs[i].asn1 : V_ASN1_UTF8STRING,
		        (const unsigned char *)attrs[i].value, attrs[i].len, -1,
		        attrs[i].join ? -1 : 0))
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

/*
 * Parse der, build the names profile issues, and compare them with the
 * expected subject (RFC 2253-like "TYPE:asn1:value" per attribute, in
 * order, "|"-separated) and SAN ("URI:..", "DNS:..", "IP:.." in order).
 * Returns the build's status; on ST_OK the names must match.
 */
static enum status
names_check(const uint8_t *der, size_t len,
    const struct policy_profile *profile, const char *want_subject,
    const char *want_san)
{
	struct ca_csr *csr = NULL;
	X509_NAME *subject = (X509_NAME *)&subject;
	GENERAL_NAMES *san = (GENERAL_NAMES *)&san;
	const X509_NAME_ENTRY *ne;
	const ASN1_STRING *v;
	const GENERAL_NAME *gn;
	const unsigned char *d;
	char got[1024], ip[64];
	size_t used = 0;
	int i;
	enum status st;

	if ((st = ca_csr_parse(der, len, &csr)) != ST_OK)
		return st;
	st = ca_csr_names_build(csr, profile, &subject, &san);
	ca_csr_free(csr);
	if (st != ST_OK) {
		CHECK(subject == NULL && san == NULL);
		return st;
	}
	got[0] = '\0';
	for (i = 0; i < X509_NAME_entry_count(subject); i++) {
		ne = X509_NAME_get_entry(subject, i);
		v = X509_NAME_ENTRY_get_data(ne);
		/* One attribute per RDN, always. */
		CHECK(X509_NAME_ENTRY_set(ne) == i);
		used += (size_t)snprintf(got + used, sizeof(got) - used,
		    "%s%s:%s:%.*s", i ? "|" : "",
		    OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne))),
		    ASN1_STRING_type(v) == V_ASN1_UTF8STRING ? "utf8"
		        : ASN1_STRING_type(v) == V_ASN1_PRINTABLESTRING
		        ? "printable"
		        : "other",
		    ASN1_STRING_length(v), ASN1_STRING_get0_data(v));
	}
	if (strcmp(got, want_subject) != 0) {
		fprintf(stderr, "subject: got \"%s\", want \"%s\"\n", got,
		    want_subject);
		CHECK(0);
	}
	used = 0;
	got[0] = '\0';
	for (i = 0; i < sk_GENERAL_NAME_num(san); i++) {
		gn = sk_GENERAL_NAME_value(san, i);
		if (gn->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(gn->d.iPAddress);
			CHECK(inet_ntop(ASN1_STRING_length(gn->d.iPAddress) == 4
			              ? AF_INET
			              : AF_INET6,
			          d, ip, sizeof(ip)) != NULL);
			used += (size_t)snprintf(got + used, sizeof(got) - used,
			    "%sIP:%s", i ? "," : "", ip);
			continue;
		}
		v = gn->type == GEN_DNS ? gn->d.dNSName
		                        : gn->d.uniformResourceIdentifier;
		CHECK(ASN1_STRING_type(v) == V_ASN1_IA5STRING);
		used += (size_t)snprintf(got + used, sizeof(got) - used,
		    "%s%s:%.*s", i ? "," : "",
		    gn->type == GEN_DNS ? "DNS" : "URI", ASN1_STRING_length(v),
		    ASN1_STRING_get0_data(v));
	}
	if (strcmp(got, want_san) != 0) {
		fprintf(
		    stderr, "SAN: got \"%s\", want \"%s\"\n", got, want_san);
		CHECK(0);
	}
	X509_NAME_free(subject);
	GENERAL_NAMES_free(san);
	return ST_OK;
}

/* names_check for a testutil CSR with cn and sans. */
static enum status
key_names(const char *cn, const char *sans,
    const struct policy_profile *profile, const char *want_subject,
    const char *want_san)
{
	uint8_t *der = NULL;
	size_t len = 0;
	enum status st;

	if (testutil_csr(p256, cn, sans, &der, &len) != 0)
		return status_fail(ST_INTERNAL, "could not make a CSR");
	st = names_check(der, len, profile, want_subject, want_san);
	free(der);
	return st;
}

/* names_check for a make_csr CSR. */
static enum status
attrs_names(const struct attr *attrs, size_t n, const char *sans,
    const struct policy_profile *profile, const char *want_subject,
    const char *want_san)
{
	uint8_t *der = NULL;
	size_t len = 0;
	enum status st;

	if (make_csr(p256, attrs, n, sans, NULL, NULL, &der, &len) != 0)
		return status_fail(ST_INTERNAL, "could not make a CSR");
	st = names_check(der, len, profile, want_subject, want_san);
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
		{
			size_t spki_len = 0;
			uint8_t *want = NULL;
			int want_len = i2d_PUBKEY(p256, &want);

			/* The SPKI kept is what i2d_PUBKEY writes. */
			CHECK(ca_csr_get0_spki(csr, &spki_len) != NULL &&
			    want_len > 0 && spki_len == (size_t)want_len &&
			    memcmp(ca_csr_get0_spki(csr, &spki_len), want,
			        spki_len) == 0);
			OPENSSL_free(want);
		}
		CHECK(ca_csr_get0_pubkey(csr) != NULL &&
		    EVP_PKEY_eq(ca_csr_get0_pubkey(csr), p256) == 1);
		san = ca_csr_get0_san(csr);
		CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1);
		/* The gateway profile issues no URI. */
		CHECK_ST(ca_csr_check(csr, gateway), ST_DENIED);
		CHECK_DETAIL("subjectAltName URI \"urn:dev:dev-0001\": profile "
		             "gateway issues no URI names");
		/* The station profile issues no SAN at all. */
		CHECK_ST(ca_csr_check(csr, station), ST_DENIED);
		CHECK_DETAIL(
		    "CSR requests 1 subject alternative names; profile "
		    "station allows at most 0");
	}
	ca_csr_free(csr);
	ca_csr_free(NULL);
	free(der);

	/* The device's own URN is issued whether it asks or not. */
	CHECK_ST(key_names("dev-0001", "URI:urn:dev:dev-0001", device,
	             "CN:utf8:dev-0001", "URI:urn:dev:dev-0001"),
	    ST_OK);
	CHECK_ST(key_names("dev-0002", NULL, device, "CN:utf8:dev-0002",
	             "URI:urn:dev:dev-0002"),
	    ST_OK);
	CHECK_ST(key_names("station-7", NULL, station, "CN:utf8:station-7", ""),
	    ST_OK);
	/* A gateway: CN and DNS name under the suffix, from its id. */
	CHECK_ST(key_names("gw-1", "DNS:gw-1.gw.tessera.invalid", gateway,
	             "CN:utf8:gw-1.gw.tessera.invalid",
	             "DNS:gw-1.gw.tessera.invalid"),
	    ST_OK);
	CHECK_ST(
	    key_names("gw-1", NULL, gateway, "CN:utf8:gw-1.gw.tessera.invalid",
	        "DNS:gw-1.gw.tessera.invalid"),
	    ST_OK);
	/* DNS names compare without case (RFC 4343); issued as the policy. */
	CHECK_ST(key_names("gw-1", "DNS:GW-1.gw.tessera.INVALID", gateway,
	             "CN:utf8:gw-1.gw.tessera.invalid",
	             "DNS:gw-1.gw.tessera.invalid"),
	    ST_OK);
}

static void
test_keys(void)
{
	EVP_PKEY *k;
	EVP_PKEY_CTX *ctx;
	BIGNUM *e;
	uint8_t *der = NULL;
	size_t len = 0;
	struct ca_csr *csr = NULL;

	k = testutil_key("rsa:1024");
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_DENIED);
	CHECK(strcmp(status_detail(),
	          "CSR key is rsa:1024; profile device "
	          "allows ec:P-256, ec:P-384, rsa:3072..4096") == 0);
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

	/* RSA with e = 3, and with e = 65539: refused whatever the size. */
	k = NULL;
	e = BN_new();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	CHECK(e != NULL && ctx != NULL && BN_set_word(e, 3) &&
	    EVP_PKEY_keygen_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) == 1 &&
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) == 1 &&
	    EVP_PKEY_keygen(ctx, &k) == 1);
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_MALFORMED);
	CHECK_DETAIL("CSR's RSA public exponent is 3; tessera accepts only "
	             "65537 (NIST SP 800-89 5.3.3)");
	EVP_PKEY_free(k);
	k = NULL;
	CHECK(BN_set_word(e, 65539) &&
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) == 1 &&
	    EVP_PKEY_keygen(ctx, &k) == 1);
	CHECK_ST(key_check(k, "dev-1", NULL, device), ST_MALFORMED);
	CHECK_DETAIL("CSR's RSA public exponent is 65539");
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
}

/* Subject rules: what has no rule is refused, never copied. */
static void
test_subject(void)
{
	static const struct attr two_cn[] = {
	    {"CN", "a", -1, 0, 0}, {"CN", "b", -1, 0, 0}};
	static const struct attr email[] = {{"CN", "dev-1", -1, 0, 0},
	    {"emailAddress", "a@example.com", -1, 0, 0}};
	static const struct attr with_o[] = {
	    {"O", "Acme", -1, 0, 0}, {"CN", "dev-1", -1, 0, 0}};
	static const struct attr unknown_oid[] = {
	    {"CN", "dev-1", -1, 0, 0}, {"1.3.6.1.4.1.55555.7", "x", -1, 0, 0}};
	static const struct attr nul_cn[] = {{"CN", "ab\0cd", 5, 0, 0}};
	static const struct attr serial_only[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0}};
	static const struct attr two_serials[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"serialNumber", "acme-00000002", -1, 0, 0}};
	/* The CSR's order and string types do not matter. */
	static const struct attr factory_full[] = {
	    {"CN", "Widget 1", -1, V_ASN1_PRINTABLESTRING, 0},
	    {"OU", "\0L\0i\0n\0e\0 \0003", 12, V_ASN1_BMPSTRING, 0},
	    {"serialNumber", "acme-00000001", -1, V_ASN1_IA5STRING, 0},
	    {"O", "Acme Widgets", -1, 0, 0}};
	static const struct attr factory_evil_o[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"O", "Evil Corp", -1, 0, 0}};
	static const struct attr factory_bad_ou[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"OU", "Line;3", -1, 0, 0}};
	static const struct attr factory_cn_other[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"CN", "acme-00000002", -1, 0, 0}};
	static const struct attr inline_good[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L", "\0M\0\xfc\0n\0c\0h\0e\0n", 14, V_ASN1_BMPSTRING, 0}};
	static const struct attr inline_no_l[] = {
	    {"serialNumber", "sn-1", -1, 0, 0}};
	static const struct attr inline_wrong_c[] = {
	    {"serialNumber", "sn-1", -1, 0, 0}, {"L", "Berlin", -1, 0, 0},
	    {"C", "FR", -1, 0, 0}};
	static const struct attr inline_cn_bare[] = {
	    {"serialNumber", "sn-1", -1, 0, 0}, {"L", "Berlin", -1, 0, 0},
	    {"CN", "sn-1", -1, 0, 0}};
	static const struct attr inline_cn_other[] = {
	    {"serialNumber", "sn-1", -1, 0, 0}, {"L", "Berlin", -1, 0, 0},
	    {"CN", "sn-2.gw.example.net", -1, 0, 0}};
	struct attr many[LIMIT_SUBJECT_ATTRS + 1], long_cn[1];
	char big[LIMIT_NAME_LEN + 2], oids[LIMIT_SUBJECT_ATTRS + 1][32];
	size_t i;

	CHECK_ST(key_check(p256, NULL, NULL, device), ST_DENIED);
	CHECK_DETAIL("profile device takes the device id from the subject's "
	             "CN, which the CSR does not have");

	CHECK_ST(attrs_check(email, 2, NULL, device), ST_DENIED);
	CHECK_DETAIL("subject attribute emailAddress is not allowed by "
	             "profile device (it has no rule for it)");
	CHECK_ST(attrs_check(with_o, 2, NULL, device), ST_DENIED);
	CHECK_DETAIL("subject attribute O is not allowed by profile device");
	CHECK_ST(attrs_check(unknown_oid, 2, NULL, device), ST_DENIED);
	CHECK_DETAIL("subject attribute 1.3.6.1.4.1.55555.7 is not allowed");

	CHECK_ST(attrs_check(two_cn, 2, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN appears twice in the CSR subject");
	CHECK_ST(attrs_check(nul_cn, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN contains a NUL byte");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	long_cn[0] = (struct attr){"CN", big, -1, 0, 0};
	CHECK_ST(attrs_check(long_cn, 1, NULL, device), ST_LIMIT);
	CHECK_DETAIL("subject attribute CN is 257 bytes, limit is 256");

	for (i = 0; i < LIMIT_SUBJECT_ATTRS + 1; i++) {
		snprintf(oids[i], sizeof(oids[i]), "1.3.6.1.4.1.55555.%zu", i);
		many[i] = (struct attr){oids[i], "x", -1, 0, 0};
	}
	CHECK_ST(
	    attrs_check(many, LIMIT_SUBJECT_ATTRS + 1, NULL, device), ST_LIMIT);
	CHECK_DETAIL("CSR subject has 9 attributes, limit is 8");

	/*
	 * Factory: the id from serialNumber (PrintableString), O fixed by
	 * the policy, OU and CN by pattern, in the policy's order.
	 */
	CHECK_ST(attrs_names(serial_only, 1, NULL, factory,
	             "O:utf8:Acme Widgets|serialNumber:printable:acme-00000001",
	             "URI:urn:dev:acme-00000001"),
	    ST_OK);
	CHECK_ST(attrs_names(factory_full, 4, NULL, factory,
	             "O:utf8:Acme Widgets|OU:utf8:Line 3|"
	             "serialNumber:printable:acme-00000001|CN:utf8:Widget 1",
	             "URI:urn:dev:acme-00000001"),
	    ST_OK);
	CHECK_ST(attrs_check(factory_evil_o, 2, NULL, factory), ST_DENIED);
	CHECK_DETAIL("subject attribute O \"Evil Corp\" is not what profile "
	             "device issues (\"Acme Widgets\")");
	CHECK_ST(attrs_check(factory_bad_ou, 2, NULL, factory), ST_DENIED);
	CHECK_DETAIL("subject attribute OU \"Line;3\" does not match profile "
	             "device's pattern");
	/* factory's CN is a pattern, free text, not an id: allowed. */
	CHECK_ST(attrs_check(factory_cn_other, 2, NULL, factory), ST_OK);
	CHECK_ST(key_check(p256, "dev-1", NULL, factory), ST_DENIED);
	CHECK_DETAIL("profile device takes the device id from the subject's "
	             "serialNumber, which the CSR does not have");
	CHECK_ST(attrs_check(two_serials, 2, NULL, factory), ST_MALFORMED);
	CHECK_DETAIL("subject attribute serialNumber appears twice");

	/*
	 * Inline (utf8, serverAuth): C fixed, L required by pattern, CN a
	 * template the CSR may repeat or leave out, never change.
	 */
	CHECK_ST(attrs_names(inline_good, 2, NULL, utf8p,
	             "C:printable:DE|L:utf8:M\xc3\xbcnchen|"
	             "serialNumber:printable:sn-1|CN:utf8:sn-1.gw.example.net",
	             "DNS:sn-1.gw.example.net"),
	    ST_OK);
	CHECK_ST(attrs_check(inline_no_l, 1, NULL, utf8p), ST_DENIED);
	CHECK_DETAIL("profile gw requires subject attribute L");
	CHECK_ST(attrs_check(inline_wrong_c, 3, NULL, utf8p), ST_DENIED);
	CHECK_DETAIL("subject attribute C \"FR\" is not what profile gw "
	             "issues (\"DE\")");
	CHECK_ST(attrs_check(inline_cn_bare, 3, NULL, utf8p), ST_OK);
	CHECK_ST(attrs_check(inline_cn_other, 3, NULL, utf8p), ST_DENIED);
	CHECK_DETAIL("subject attribute CN \"sn-2.gw.example.net\" is not what "
	             "profile gw issues (\"sn-1.gw.example.net\")");
}

/*
 * String types: decoded and issued as UTF8String (PrintableString for
 * serialNumber and C); TeletexString and broken encodings refused (400).
 */
static void
test_string_types(void)
{
	/* "dev-1" in UCS-2 (BMPString) and UCS-4 (UniversalString). */
	static const struct attr bmp[] = {
	    {"CN", "\0d\0e\0v\0-\0001", 10, V_ASN1_BMPSTRING, 0}};
	static const struct attr universal[] = {
	    {"CN", "\0\0\0d\0\0\0e\0\0\0v\0\0\0-\0\0\0001", 20,
	        V_ASN1_UNIVERSALSTRING, 0}};
	static const struct attr ia5[] = {
	    {"CN", "dev-1", -1, V_ASN1_IA5STRING, 0}};
	static const struct attr printable[] = {
	    {"CN", "dev-1", -1, V_ASN1_PRINTABLESTRING, 0}};
	static const struct attr teletex[] = {
	    {"CN", "dev-1", -1, V_ASN1_T61STRING, 0}};
	static const struct attr printable_bad[] = {
	    {"CN", "dev_1", -1, V_ASN1_PRINTABLESTRING, 0}};
	static const struct attr ia5_high[] = {
	    {"CN", "dev-\xe9", -1, V_ASN1_IA5STRING, 0}};
	static const struct attr serial_utf8[] = {
	    {"serialNumber", "acme-00000001", -1, V_ASN1_UTF8STRING, 0}};

	CHECK_ST(attrs_names(bmp, 1, NULL, device, "CN:utf8:dev-1",
	             "URI:urn:dev:dev-1"),
	    ST_OK);
	CHECK_ST(attrs_names(universal, 1, NULL, device, "CN:utf8:dev-1",
	             "URI:urn:dev:dev-1"),
	    ST_OK);
	CHECK_ST(attrs_names(ia5, 1, NULL, device, "CN:utf8:dev-1",
	             "URI:urn:dev:dev-1"),
	    ST_OK);
	CHECK_ST(attrs_names(printable, 1, NULL, device, "CN:utf8:dev-1",
	             "URI:urn:dev:dev-1"),
	    ST_OK);
	CHECK_ST(attrs_check(teletex, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN is a TeletexString, whose "
	             "character set tessera does not guess; send a UTF8String "
	             "(RFC 5280 4.1.2.6)");
	CHECK_ST(attrs_check(printable_bad, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN is a PrintableString with "
	             "characters outside its set");
	CHECK_ST(attrs_check(ia5_high, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN is an IA5String with byte 0xe9");
	/* A UTF8String serialNumber is issued as PrintableString. */
	CHECK_ST(attrs_names(serial_utf8, 1, NULL, factory,
	             "O:utf8:Acme Widgets|serialNumber:printable:acme-00000001",
	             "URI:urn:dev:acme-00000001"),
	    ST_OK);
}

/* Multi-valued RDNs, control characters, look-alikes: 400. */
static void
test_hostile_names(void)
{
	static const struct attr multi[] = {
	    {"CN", "dev-1", -1, 0, 0}, {"OU", "x", -1, 0, 1}};
	static const struct attr multi_factory[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"OU", "Line 3", -1, 0, 1}};
	static const struct attr newline[] = {{"CN", "dev-1\n", -1, 0, 0}};
	static const struct attr del[] = {{"CN", "dev\x7f", -1, 0, 0}};
	/* U+0085 NEXT LINE, a C1 control, in UTF-8. */
	static const struct attr c1[] = {{"CN", "dev\xc2\x85", -1, 0, 0}};
	/* "dev-1" with a Cyrillic "е" (U+0435). */
	static const struct attr homoglyph_id[] = {
	    {"CN", "d\xd0\xb5v-1", -1, 0, 0}};
	/* OU "Line З" with a Cyrillic Ze in place of a 3. */
	static const struct attr homoglyph_ou[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"OU", "Line \xd0\x97", -1, 0, 0}};
	static const struct attr ou_ctl[] = {
	    {"serialNumber", "acme-00000001", -1, 0, 0},
	    {"OU", "Line\t3", -1, 0, 0}};
	static const struct attr utf8_ok[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L", "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", -1, 0,
	        0}};
	static const struct attr utf8_ctl[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L", "Berlin\xc2\x9b", -1, 0, 0}};
	/* "Berlin" with a right-to-left override, a zero-width space. */
	static const struct attr utf8_bidi[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L", "Ber\xe2\x80\xaelin", -1, 0, 0}};
	static const struct attr utf8_zw[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L", "Ber\xe2\x80\x8blin", -1, 0, 0}};
	static const struct attr utf8_isolate[] = {
	    {"serialNumber", "sn-1", -1, 0, 0},
	    {"L",
	        "\xe2\x81\xa6"
	        "Berlin",
	        -1, 0, 0}};

	CHECK_ST(attrs_check(multi, 2, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("CSR subject has a multi-valued RDN (");
	CHECK_DETAIL("); tessera takes one attribute per RDN");
	CHECK_ST(attrs_check(multi_factory, 2, NULL, factory), ST_MALFORMED);
	CHECK_DETAIL("multi-valued RDN");
	CHECK_ST(attrs_check(newline, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN contains control character U+000A");
	CHECK_ST(attrs_check(del, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN contains control character U+007F");
	CHECK_ST(attrs_check(c1, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN contains control character U+0085");
	CHECK_ST(attrs_check(homoglyph_id, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("is not canonical");
	CHECK_ST(attrs_check(homoglyph_ou, 2, NULL, factory), ST_MALFORMED);
	CHECK_DETAIL("subject attribute OU \"Line \\xd0\\x97\" is not ASCII, "
	             "and profile device does not allow UTF-8 (look-alike "
	             "characters)");
	CHECK_ST(attrs_check(ou_ctl, 2, NULL, factory), ST_MALFORMED);
	CHECK_DETAIL("subject attribute OU contains control character U+0009");
	/* A profile with "utf8": true takes it, still without controls. */
	CHECK_ST(attrs_names(utf8_ok, 2, NULL, utf8p,
	             "C:printable:DE|L:utf8:\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba"
	             "\xd0\xb2\xd0\xb0|serialNumber:printable:sn-1|"
	             "CN:utf8:sn-1.gw.example.net",
	             "DNS:sn-1.gw.example.net"),
	    ST_OK);
	CHECK_ST(attrs_check(utf8_ctl, 2, NULL, utf8p), ST_MALFORMED);
	CHECK_DETAIL("subject attribute L contains control character U+009B");
	CHECK_ST(attrs_check(utf8_bidi, 2, NULL, utf8p), ST_MALFORMED);
	CHECK_DETAIL("subject attribute L contains an invisible or bidi format "
	             "character");
	CHECK_ST(attrs_check(utf8_zw, 2, NULL, utf8p), ST_MALFORMED);
	CHECK_DETAIL("invisible or bidi format character");
	CHECK_ST(attrs_check(utf8_isolate, 2, NULL, utf8p), ST_MALFORMED);
	CHECK_DETAIL("invisible or bidi format character");
}

/* One spelling per device id (ca/deviceid.h). */
static void
test_device_id(void)
{
	static const struct attr both[] = {{"O", "Acme Widgets", -1, 0, 0},
	    {"CN", "dev-9", -1, 0, 0},
	    {"serialNumber", "acme-00000009", -1, 0, 0}};
	struct ca_csr *csr = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char id65[LIMIT_DEVICE_ID_LEN + 2];
	struct attr long_id[1];

	CHECK(make_csr(p256, both, 3, NULL, NULL, NULL, &der, &len) == 0);
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		CHECK(strcmp(ca_csr_device_id(csr, device), "dev-9") == 0);
		CHECK(strcmp(ca_csr_device_id(csr, factory), "acme-00000009") ==
		    0);
	}
	ca_csr_free(csr);
	free(der);

	CHECK_ST(key_check(p256, "Dev-1", NULL, device), ST_MALFORMED);
	CHECK_DETAIL("device id \"Dev-1\" is not canonical (1..64 characters "
	             "of a-z 0-9 . _ : -, starting with a letter or digit, not "
	             "ending with a dot, lower case only): use \"dev-1\"");
	CHECK_ST(key_check(p256, "dev-1.", NULL, device), ST_MALFORMED);
	CHECK_DETAIL("device id \"dev-1.\" is not canonical");
	CHECK_ST(key_check(p256, "-dev", NULL, device), ST_MALFORMED);
	CHECK_ST(key_check(p256, "x y", NULL, device), ST_MALFORMED);
	CHECK_DETAIL("device id \"x y\" is not canonical");
	memset(id65, 'a', sizeof(id65) - 1);
	id65[sizeof(id65) - 1] = '\0';
	long_id[0] = (struct attr){"CN", id65, -1, 0, 0};
	CHECK_ST(attrs_check(long_id, 1, NULL, device), ST_MALFORMED);
	CHECK_DETAIL("device id is 65 bytes, limit is 64");
	/* Canonical, but not the gateway profile's pattern. */
	CHECK_ST(key_check(p256, "gw.1", NULL, gateway), ST_MALFORMED);
	CHECK_DETAIL("device id \"gw.1\" does not match profile gateway's "
	             "device_id_pattern");
	/* 49 + ".gw.tessera.invalid": over RFC 5280's 64 for a CN. */
	CHECK_ST(
	    key_check(p256, "gw-4567890123456789012345678901234567890123456789",
	        NULL, gateway),
	    ST_MALFORMED);
	CHECK_DETAIL("subject attribute CN is 68 characters, RFC 5280's upper "
	             "bound is 64");
	/*
	 * A gateway that names its full name in the CSR: no id of its own
	 * (the id is the label), unless a principal vouches for "gw-1".
	 */
	CHECK_ST(key_check(p256, "gw-1.gw.tessera.invalid",
	             "DNS:gw-1.gw.tessera.invalid", gateway),
	    ST_MALFORMED);
	CHECK_DETAIL("device id \"gw-1.gw.tessera.invalid\" does not match "
	             "profile gateway's device_id_pattern");
	csr = NULL;
	der = NULL;
	CHECK(testutil_csr(p256, "gw-1.gw.tessera.invalid",
	          "DNS:gw-1.gw.tessera.invalid", &der, &len) == 0);
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		X509_NAME *subject = NULL;
		GENERAL_NAMES *san = NULL;

		/* Another id, an id the CSR already names: nothing bound. */
		CHECK(ca_csr_bind_id(csr, gateway, "gw-2") == 0);
		CHECK(ca_csr_bind_id(csr, gateway, "gw-1.gw.tessera.invalid") ==
		    0);
		CHECK(ca_csr_bind_id(csr, gateway, NULL) == 0);
		CHECK(strcmp(ca_csr_device_id(csr, gateway),
		          "gw-1.gw.tessera.invalid") == 0);
		CHECK(ca_csr_bind_id(csr, gateway, "gw-1") == 1);
		CHECK(strcmp(ca_csr_device_id(csr, gateway), "gw-1") == 0);
		CHECK_ST(
		    ca_csr_names_build(csr, gateway, &subject, &san), ST_OK);
		CHECK(subject != NULL && X509_NAME_entry_count(subject) == 1);
		CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1);
		X509_NAME_free(subject);
		GENERAL_NAMES_free(san);
	}
	ca_csr_free(csr);
	free(der);
	csr = NULL;
	der = NULL;
	/* For a device, "{id}" spelt out is the id: nothing to bind. */
	CHECK(testutil_csr(p256, "dev-1", NULL, &der, &len) == 0);
	CHECK_ST(ca_csr_parse(der, len, &csr), ST_OK);
	if (csr != NULL) {
		CHECK(ca_csr_bind_id(csr, device, "dev-1") == 0);
		CHECK(ca_csr_bind_id(csr, device, "dev-2") == 0);
		CHECK(strcmp(ca_csr_device_id(csr, device), "dev-1") == 0);
	}
	ca_csr_free(csr);
	free(der);

	/* The one function itself. */
	CHECK_ST(ca_device_id_check("dev-1", NULL), ST_OK);
	CHECK_ST(ca_device_id_check("a", NULL), ST_OK);
	CHECK_ST(ca_device_id_check("0:1_2.3-4", NULL), ST_OK);
	CHECK_ST(ca_device_id_check("", NULL), ST_MALFORMED);
	CHECK_DETAIL("empty device id");
	CHECK_ST(ca_device_id_check(NULL, NULL), ST_MALFORMED);
	CHECK_ST(ca_device_id_check("DEV-1", NULL), ST_MALFORMED);
	CHECK_DETAIL("use \"dev-1\"");
	CHECK_ST(ca_device_id_check("dev-1\n", NULL), ST_MALFORMED);
	CHECK_DETAIL("\"dev-1\\x0a\" is not canonical");
	CHECK_ST(ca_device_id_check(".dev", NULL), ST_MALFORMED);
	CHECK_ST(ca_device_id_check("d\xc3\xa9v", NULL), ST_MALFORMED);
	{
		char out[LIMIT_DEVICE_ID_LEN + 1];

		CHECK_ST(ca_device_id_fold("SN0001", out, sizeof(out)), ST_OK);
		CHECK(strcmp(out, "sn0001") == 0);
		CHECK_ST(ca_device_id_fold("SN 0001", out, sizeof(out)),
		    ST_MALFORMED);
		CHECK_DETAIL("\"sn 0001\" is not canonical");
		CHECK_ST(
		    ca_device_id_fold(id65, out, sizeof(out)), ST_MALFORMED);
		CHECK_DETAIL("device id is 65 bytes");
	}
}

/* SANs follow the profile's templates for this device, nothing else. */
static void
test_san(void)
{
	char list[2048];
	size_t i, used = 0;

	CHECK_ST(key_check(p256, "dev-1", "DNS:dev-1.example.com", device),
	    ST_DENIED);
	CHECK_DETAIL("subjectAltName DNS \"dev-1.example.com\": profile "
	             "device issues no DNS names");
	/* Another device's name. */
	CHECK_ST(
	    key_check(p256, "dev-1", "URI:urn:dev:dev-2", device), ST_DENIED);
	CHECK_DETAIL("subjectAltName URI \"urn:dev:dev-2\" is not a name of "
	             "device \"dev-1\": profile device issues urn:dev:dev-1 "
	             "only");
	CHECK_ST(key_check(p256, "dev-1", "URI:urn:dev:dev-1,URI:urn:dev:dev-2",
	             device),
	    ST_DENIED);
	CHECK_DETAIL("subjectAltName URI \"urn:dev:dev-2\"");
	/* Case matters in a URN's id: "Dev-1" is not dev-1's. */
	CHECK_ST(
	    key_check(p256, "dev-1", "URI:urn:dev:Dev-1", device), ST_DENIED);
	CHECK_ST(
	    key_check(p256, "dev-1", "URI:urn:other:dev-1", device), ST_DENIED);
	CHECK_DETAIL("subjectAltName URI \"urn:other:dev-1\" is not a name");
	CHECK_ST(
	    key_check(p256, "dev-1", "email:a@example.com", device), ST_DENIED);
	CHECK_DETAIL("subjectAltName email is not allowed by profile device");
	CHECK_ST(key_check(p256, "dev-1", "IP:192.0.2.1", device), ST_DENIED);
	CHECK_DETAIL("subjectAltName IP 192.0.2.1: profile device issues no "
	             "IP addresses");

	/* The reported attack: a gateway asking for tessera's own names. */
	CHECK_ST(key_check(p256, "gw-1", "DNS:localhost", gateway), ST_DENIED);
	CHECK_DETAIL("subjectAltName DNS \"localhost\" is not a name of device "
	             "\"gw-1\": profile gateway issues gw-1.gw.tessera.invalid "
	             "only");
	CHECK_ST(key_check(p256, "gw-1", "IP:127.0.0.1", gateway), ST_DENIED);
	CHECK_DETAIL("subjectAltName IP 127.0.0.1: profile gateway issues no "
	             "IP addresses");
	CHECK_ST(key_check(p256, "gw-1",
	             "DNS:gw-1.gw.tessera.invalid,DNS:localhost,IP:127.0.0.1",
	             gateway),
	    ST_DENIED);
	CHECK_DETAIL("subjectAltName DNS \"localhost\"");
	/* "localhost" as the id only ever gets a name under the suffix. */
	CHECK_ST(key_names("localhost", NULL, gateway,
	             "CN:utf8:localhost.gw.tessera.invalid",
	             "DNS:localhost.gw.tessera.invalid"),
	    ST_OK);
	CHECK_ST(
	    key_check(p256, "localhost", "DNS:localhost", gateway), ST_DENIED);
	/* Another gateway's name, a wildcard, a name above the suffix. */
	CHECK_ST(
	    key_check(p256, "gw-1", "DNS:gw-2.gw.tessera.invalid", gateway),
	    ST_DENIED);
	CHECK_DETAIL("subjectAltName DNS \"gw-2.gw.tessera.invalid\" is not a "
	             "name of device \"gw-1\"");
	CHECK_ST(key_check(p256, "gw-1", "DNS:*.gw.tessera.invalid", gateway),
	    ST_DENIED);
	CHECK_ST(key_check(p256, "gw-1", "DNS:gw.tessera.invalid", gateway),
	    ST_DENIED);
	CHECK_ST(
	    key_check(p256, "gw-1", "DNS:x.gw-1.gw.tessera.invalid", gateway),
	    ST_DENIED);

	/* IPs where a profile allows them: never loopback or unspecified. */
	CHECK_ST(key_names("sn-1", "IP:192.0.2.1,DNS:sn-1.gw.example.net",
	             utf8p_cn, "CN:utf8:sn-1.gw.example.net",
	             "DNS:sn-1.gw.example.net,IP:192.0.2.1"),
	    ST_OK);
	CHECK_ST(key_names("sn-1", "IP:2001:db8::1", utf8p_cn,
	             "CN:utf8:sn-1.gw.example.net",
	             "DNS:sn-1.gw.example.net,IP:2001:db8::1"),
	    ST_OK);
	CHECK_ST(key_check(p256, "sn-1", "IP:127.0.0.1", utf8p_cn), ST_DENIED);
	CHECK_DETAIL("subjectAltName IP 127.0.0.1 is a loopback or unspecified "
	             "address, which tessera never issues");
	CHECK_ST(key_check(p256, "sn-1", "IP:127.1.2.3", utf8p_cn), ST_DENIED);
	CHECK_ST(key_check(p256, "sn-1", "IP:::1", utf8p_cn), ST_DENIED);
	CHECK_ST(key_check(p256, "sn-1", "IP:0.0.0.0", utf8p_cn), ST_DENIED);
	CHECK_ST(key_check(p256, "sn-1", "IP:::", utf8p_cn), ST_DENIED);
	CHECK_ST(key_check(p256, "sn-1", "IP:::ffff:127.0.0.1", utf8p_cn),
	    ST_DENIED);
	/* A device id that cannot be a DNS label gets no DNS name. */
	CHECK_ST(key_check(p256, "sn_1", NULL, utf8p_cn), ST_MALFORMED);
	CHECK_DETAIL("device id \"sn_1\" cannot form profile gwcn's DNS name "
	             "{id}.gw.example.net");

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

	{
		static const struct attr cn[] = {{"CN", "dev-1", -1, 0, 0}};
		uint8_t *der = NULL;
		size_t len = 0;

		/* Other requested extensions are ignored, never copied. */
		CHECK(make_csr(p256, cn, 1, "URI:urn:dev:dev-1", NULL,
		          "critical,CA:TRUE", &der, &len) == 0);
		CHECK_ST(parse_check(der, len, device), ST_OK);
		free(der);
	}
}

/* A SAN with a raw byte (NUL, newline) put in after OpenSSL built it. */
static void
test_san_bytes(void)
{
	static const struct {
		const char *value;
		int len;
		int type;
		const char *detail;
	} cases[] = {
	    {"gw-1.gw.tessera.invalid\0x", 25, GEN_DNS,
	        "DNS subject alternative name contains a NUL byte"},
	    {"gw-1\n.gw.tessera.invalid", 24, GEN_DNS,
	        "DNS subject alternative name contains byte 0x0a"},
	    {"urn:dev:dev-1\x7f", 14, GEN_URI,
	        "URI subject alternative name contains byte 0x7f"},
	};
	static const struct attr cn[] = {{"CN", "gw-1", -1, 0, 0}};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_REQ *req = X509_REQ_new();
		X509_NAME *name = X509_NAME_new();
		GENERAL_NAMES *gens = GENERAL_NAMES_new();
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *ext = NULL;
		uint8_t *der = NULL;
		size_t len = 0;
		int ok;

		ok = req && name && gens && gn && s && exts &&
		    ASN1_STRING_set(s, cases[i].value, cases[i].len);
		if (ok) {
			GENERAL_NAME_set0_value(gn, cases[i].type, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(gens, gn) > 0;
			if (ok)
				gn = NULL;
		}
		ok = ok &&
		    X509_NAME_add_entry_by_txt(name, cn[0].type,
		        V_ASN1_UTF8STRING, (const unsigned char *)cn[0].value,
		        -1, -1, 0) &&
		    X509_REQ_set_subject_name(req, name) &&
		    X509_REQ_set_pubkey(req, p256) &&
		    (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) !=
		        NULL &&
		    sk_X509_EXTENSION_push(exts, ext) > 0;
		if (ok)
			ext = NULL;
		ok = ok && X509_REQ_add_extensions(req, exts) &&
		    testutil_req_sign(req, p256, &der, &len) == 0;
		CHECK(ok);
		if (ok) {
			CHECK_ST(parse_check(der, len, gateway), ST_MALFORMED);
			CHECK_DETAIL(cases[i].detail);
		}
		free(der);
		X509_EXTENSION_free(ext);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		ASN1_IA5STRING_free(s);
		GENERAL_NAME_free(gn);
		GENERAL_NAMES_free(gens);
		X509_NAME_free(name);
		X509_REQ_free(req);
	}
}

static void
test_challenge(void)
{
	static const struct attr cn[] = {{"CN", "dev-1", -1, 0, 0}};
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
	CHECK_ST(policy_parse(inline_json, sizeof(inline_json) - 1, "inline",
	             &inline_policy),
	    ST_OK);
	utf8p = policy_profile_get(inline_policy, "gw");
	utf8p_cn = policy_profile_get(inline_policy, "gwcn");
	p256 = testutil_key("ec:P-256");
	if (device == NULL || gateway == NULL || station == NULL ||
	    factory == NULL || utf8p == NULL || utf8p_cn == NULL ||
	    p256 == NULL) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	test_good();
	test_keys();
	test_subject();
	test_string_types();
	test_hostile_names();
	test_device_id();
	test_san();
	test_san_bytes();
	test_challenge();
	test_malformed();
	EVP_PKEY_free(p256);
	policy_free(def_policy);
	policy_free(factory_policy);
	policy_free(inline_policy);
	TEST_END();
}
