/*
 * ca/crl: CRLs built with software CAs and with a key in a SoftHSMv2
 * token, read back with OpenSSL (d2i_X509_CRL, X509_verify_cert) and with
 * the openssl command (`openssl crl -verify`, `openssl verify -crl_check`).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "common/file.h"
#include "hsm/hsm.h"
#include "signer/signer.h"
#include "signer/soft.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define TOKEN "crl-test"
#define PIN "1234"
#define SHARD_URL "http://ca.example/crl/issuing-3.crl"

/* A list of entries handed over by the callback, then an optional error. */
struct list {
	const struct ca_crl_entry *v;
	size_t n, i;
	int fail_at; /* return -1 at this index; -1 never */
};

static int
list_next(void *arg, struct ca_crl_entry *e)
{
	struct list *l = arg;

	if (l->fail_at >= 0 && l->i == (size_t)l->fail_at)
		return -1;
	if (l->i == l->n)
		return 0;
	*e = l->v[l->i++];
	return 1;
}

static enum status
build_list(const struct ca_crl_params *p, const struct ca_crl_entry *v,
    size_t n, uint8_t **der, size_t *der_len)
{
	struct list l = {v, n, 0, -1};

	return ca_crl_build(p, list_next, &l, der, der_len);
}

/* A CA certificate for key (signed by sign_key), with an SKI if has_ski. */
static X509 *
make_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *sign_key,
    const EVP_MD *md, int has_ski, long serial, const char *crldp)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	int ok = 0;

	if (x == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(
	        x, issuer != NULL ? X509_get_subject_name(issuer) : name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, pub))
		goto out;
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (issuer == NULL) {
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
		         "critical,CA:TRUE")) == NULL ||
		    !X509_add_ext(x, ext, -1))
			goto out;
		X509_EXTENSION_free(ext);
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
		         "critical,keyCertSign,cRLSign")) == NULL ||
		    !X509_add_ext(x, ext, -1))
			goto out;
		X509_EXTENSION_free(ext);
		ext = NULL;
	}
	if (has_ski) {
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3,
		         NID_subject_key_identifier, "hash")) == NULL ||
		    !X509_add_ext(x, ext, -1))
			goto out;
		X509_EXTENSION_free(ext);
		ext = NULL;
	}
	if (crldp != NULL) {
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3,
		         NID_crl_distribution_points, crldp)) == NULL ||
		    !X509_add_ext(x, ext, -1))
			goto out;
		X509_EXTENSION_free(ext);
		ext = NULL;
	}
	ok = X509_sign(x, sign_key, md) > 0;
out:
	X509_EXTENSION_free(ext);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static X509_CRL *
parse(const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);

	if (crl != NULL && q != der + len) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	return crl;
}

static long
crl_number(X509_CRL *crl, int *crit)
{
	ASN1_INTEGER *num =
	    X509_CRL_get_ext_d2i(crl, NID_crl_number, crit, NULL);
	long v = num != NULL ? ASN1_INTEGER_get(num) : -1;

	ASN1_INTEGER_free(num);
	return v;
}

/* The reasonCode of r, -1 when absent. */
static int
entry_reason(const X509_REVOKED *r)
{
	ASN1_ENUMERATED *e;
	int crit = -1;
	long v;

	e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	if (e == NULL)
		return -1;
	v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return crit == 0 ? (int)v : -100;
}

static int
serial_is(const X509_REVOKED *r, const char *hex)
{
	BIGNUM *want = NULL, *got;
	int ok;

	if (!BN_hex2bn(&want, hex))
		return 0;
	got = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), NULL);
	ok = got != NULL && BN_cmp(want, got) == 0;
	BN_free(got);
	BN_free(want);
	return ok;
}

/* The encoding OpenSSL picks for t: same type and same string. */
static int
time_is(const ASN1_TIME *got, int64_t t)
{
	ASN1_TIME *want = ASN1_TIME_set(NULL, (time_t)t);
	int ok = want != NULL && ASN1_STRING_cmp(got, want) == 0;

	ASN1_TIME_free(want);
	return ok;
}

/* Checks shared by every good CRL. */
static void
check_common(X509_CRL *crl, X509 *ca, long number)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	AUTHORITY_KEYID *akid;
	int crit = -1;

	CHECK(X509_CRL_get_version(crl) == 1); /* v2 */
	CHECK(X509_NAME_cmp(
	          X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0);
	CHECK(X509_CRL_get0_nextUpdate(crl) != NULL);
	CHECK(crl_number(crl, &crit) == number);
	CHECK(crit == 0);
	akid = X509_CRL_get_ext_d2i(
	    crl, NID_authority_key_identifier, &crit, NULL);
	CHECK(akid != NULL && crit == 0);
	CHECK(akid != NULL && akid->keyid != NULL && ski != NULL &&
	    ASN1_OCTET_STRING_cmp(akid->keyid, ski) == 0);
	CHECK(akid != NULL && akid->issuer == NULL && akid->serial == NULL);
	AUTHORITY_KEYID_free(akid);
	CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1);
}

static struct ca_crl_params
params(X509 *ca, EVP_PKEY *key, int md_nid)
{
	struct ca_crl_params p;
	int64_t now = (int64_t)time(NULL);

	memset(&p, 0, sizeof(p));
	p.issuer = ca;
	p.key = testutil_signer_key(key, SIGNER_ROLE_ISSUING);
	p.number = 12;
	p.this_update = now - 60;
	p.next_update = now + 7 * 86400;
	p.md_nid = md_nid;
	return p;
}

static void
test_empty(X509 *ca, EVP_PKEY *key)
{
	struct ca_crl_params p = params(ca, key, NID_sha256);
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl;
	int crit = -1;

	p.number = 0;
	CHECK_ST(build_list(&p, NULL, 0, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl != NULL) {
		check_common(crl, ca, 0);
		/* §5.1.2.6: absent, not an empty SEQUENCE. */
		CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
		CHECK(X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point,
		          &crit, NULL) == NULL);
		CHECK(X509_CRL_get_signature_nid(crl) == NID_ecdsa_with_SHA256);
		CHECK(time_is(X509_CRL_get0_lastUpdate(crl), p.this_update));
		CHECK(time_is(X509_CRL_get0_nextUpdate(crl), p.next_update));
	}
	X509_CRL_free(crl);
	free(der);
}

static void
test_entries(X509 *ca, EVP_PKEY *key)
{
	/* Given unsorted, in mixed case and with leading zeros. */
	static const struct ca_crl_entry v[] = {
	    {"00C0FFEE00000000000000000000000A", 1709208000, 1},
	    {"0000000000000000000000000000BEEF", 2524607999, -1},
	    {"0a0000000000000000000000000000ff", 2524608000, 4},
	};
	struct ca_crl_params p = params(ca, key, NID_sha256);
	STACK_OF(X509_REVOKED) * revs;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl;
	const X509_REVOKED *r;

	CHECK_ST(build_list(&p, v, 3, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl == NULL)
		goto out;
	check_common(crl, ca, 12);
	revs = X509_CRL_get_REVOKED(crl);
	CHECK(sk_X509_REVOKED_num(revs) == 3);
	if (sk_X509_REVOKED_num(revs) != 3)
		goto out;
	/* Ascending numeric order: C0FFEE.. has fewer digits than A0.. */
	r = sk_X509_REVOKED_value(revs, 0);
	CHECK(serial_is(r, "BEEF"));
	CHECK(entry_reason(r) == -1);
	CHECK(time_is(X509_REVOKED_get0_revocationDate(r), 2524607999));
	CHECK(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(r)) ==
	    V_ASN1_UTCTIME);
	CHECK(X509_REVOKED_get_ext_count(r) == 0);
	r = sk_X509_REVOKED_value(revs, 1);
	CHECK(serial_is(r, "C0FFEE00000000000000000000000A"));
	CHECK(entry_reason(r) == 1);
	CHECK(time_is(X509_REVOKED_get0_revocationDate(r), 1709208000));
	CHECK(X509_REVOKED_get_ext_count(r) == 1);
	r = sk_X509_REVOKED_value(revs, 2);
	CHECK(serial_is(r, "A0000000000000000000000000000FF"));
	CHECK(entry_reason(r) == 4);
	CHECK(time_is(X509_REVOKED_get0_revocationDate(r), 2524608000));
	CHECK(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(r)) ==
	    V_ASN1_GENERALIZEDTIME);
out:
	X509_CRL_free(crl);
	free(der);
}

/* Serial edge cases and time boundaries, against OpenSSL's own encoding. */
static void
test_edges(X509 *ca, EVP_PKEY *key)
{
	static const struct ca_crl_entry v[] = {
	    {"0", -631152000, 0}, /* zero; 1950: UTCTime; unspecified */
	    {"80", -631152001, 5}, /* top bit: 00 80; 1949: Generalized */
	    {"ff", 0, 6}, /* 1970 */
	    {"0100", 951782400, 9}, /* 2000-02-29 */
	    {"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 253402300799, 10},
	    {"0000000000000000000000007FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	        -62167219200, 2},
	    {"1", 4102444800, 3}, /* 2100-01-01 */
	};
	static const char *const order[] = {"0", "1", "80", "FF", "100",
	    "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"};
	static const int64_t times[] = {-631152000, 4102444800, -631152001, 0,
	    951782400, -62167219200, 253402300799};
	static const int reasons[] = {-1, 3, 5, 6, 9, 2, 10};
	struct ca_crl_params p = params(ca, key, NID_sha256);
	STACK_OF(X509_REVOKED) * revs;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl;
	const X509_REVOKED *r;
	int i;

	CHECK_ST(build_list(&p, v, 7, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl == NULL)
		goto out;
	check_common(crl, ca, 12);
	revs = X509_CRL_get_REVOKED(crl);
	CHECK(sk_X509_REVOKED_num(revs) == 7);
	for (i = 0; i < 7 && i < sk_X509_REVOKED_num(revs); i++) {
		r = sk_X509_REVOKED_value(revs, i);
		CHECK(serial_is(r, order[i]));
		CHECK(time_is(X509_REVOKED_get0_revocationDate(r), times[i]));
		CHECK(entry_reason(r) == reasons[i]);
	}
out:
	X509_CRL_free(crl);
	free(der);
}

static void
test_shard(X509 *ca, EVP_PKEY *key)
{
	static const struct ca_crl_entry v[] = {
	    {"00000000000000000000000000000003", 1709208000, 1}};
	struct ca_crl_params p = params(ca, key, NID_sha256);
	ISSUING_DIST_POINT *idp = NULL;
	GENERAL_NAME *gn;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl;
	int crit = -1, type = -1;
	ASN1_STRING *uri;

	p.idp_url = SHARD_URL;
	CHECK_ST(build_list(&p, v, 1, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl == NULL)
		goto out;
	check_common(crl, ca, 12);
	idp = X509_CRL_get_ext_d2i(
	    crl, NID_issuing_distribution_point, &crit, NULL);
	CHECK(idp != NULL && crit == 1);
	if (idp == NULL)
		goto out;
	CHECK(idp->onlyuser > 0);
	CHECK(idp->onlyCA <= 0 && idp->onlyattr <= 0 && idp->indirectCRL <= 0);
	CHECK(idp->onlysomereasons == NULL);
	CHECK(idp->distpoint != NULL && idp->distpoint->type == 0 &&
	    sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1);
	if (idp->distpoint == NULL || idp->distpoint->type != 0 ||
	    sk_GENERAL_NAME_num(idp->distpoint->name.fullname) != 1)
		goto out;
	gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
	uri = GENERAL_NAME_get0_value(gn, &type);
	CHECK(type == GEN_URI && uri != NULL &&
	    (size_t)ASN1_STRING_length(uri) == strlen(SHARD_URL) &&
	    memcmp(ASN1_STRING_get0_data(uri), SHARD_URL, strlen(SHARD_URL)) ==
	        0);
	/* That OpenSSL honours the critical IDP: test_verify with a URL. */
out:
	ISSUING_DIST_POINT_free(idp);
	X509_CRL_free(crl);
	free(der);
}

/* X509_verify_cert with the CRL: the revoked leaf refused, the other not. */
static int
verify_leaf(X509 *ca, X509_CRL *crl, X509 *leaf)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err = -1;

	if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_add_crl(store, crl) ||
	    !X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) ||
	    !X509_STORE_CTX_init(ctx, store, leaf, NULL))
		goto out;
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK
	                                 : X509_STORE_CTX_get_error(ctx);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

static int
write_pem_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return 0;
	ok = PEM_write_X509(f, x);
	return fclose(f) == 0 && ok;
}

static int
run(const char *cmd)
{
	char line[8192];

	snprintf(line, sizeof(line), "%s >/dev/null 2>&1", cmd);
	return system(line);
}

/* The revoked leaf is refused by OpenSSL and by the openssl command. */
static void
test_verify(const char *dir, X509 *ca, EVP_PKEY *ca_key, const char *url)
{
	struct ca_crl_entry v[2] = {
	    {"0000000000000000000000000000AB01", 1709208000, 1},
	    {"0000000000000000000000000000AB03", 1709208000, -1},
	};
	struct ca_crl_params p = params(ca, ca_key, NID_sha256);
	EVP_PKEY *leaf_key = testutil_key("ec:P-256");
	X509 *revoked = NULL, *good = NULL;
	X509_CRL *crl = NULL;
	uint8_t *der = NULL;
	char *pem = NULL, crldp[512], path[4096], cmd[16384];
	size_t der_len = 0, pem_len = 0;

	snprintf(crldp, sizeof(crldp), "URI:%s", url != NULL ? url : "");
	p.idp_url = url;
	CHECK(leaf_key != NULL);
	if (leaf_key == NULL)
		return;
	revoked = make_cert("revoked", leaf_key, ca, ca_key, EVP_sha256(), 1,
	    0xab01, url != NULL ? crldp : NULL);
	good = make_cert("good", leaf_key, ca, ca_key, EVP_sha256(), 1, 0xab02,
	    url != NULL ? crldp : NULL);
	CHECK(revoked != NULL && good != NULL);
	CHECK_ST(build_list(&p, v, 2, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (revoked == NULL || good == NULL || crl == NULL)
		goto out;
	CHECK(verify_leaf(ca, crl, revoked) == X509_V_ERR_CERT_REVOKED);
	CHECK(verify_leaf(ca, crl, good) == X509_V_OK);

	/* The openssl command, as an operator or nginx's loader would. */
	CHECK_ST(ca_crl_pem(der, der_len, &pem, &pem_len), ST_OK);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	CHECK(write_pem_cert(path, ca));
	snprintf(path, sizeof(path), "%s/revoked.pem", dir);
	CHECK(write_pem_cert(path, revoked));
	snprintf(path, sizeof(path), "%s/good.pem", dir);
	CHECK(write_pem_cert(path, good));
	snprintf(path, sizeof(path), "%s/crl.der", dir);
	CHECK(file_write_atomic(path, der, der_len, 0644) == ST_OK);
	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	CHECK(pem != NULL &&
	    file_write_atomic(path, (const uint8_t *)pem, pem_len, 0644) ==
	        ST_OK);
	snprintf(cmd, sizeof(cmd),
	    "openssl crl -in '%s/crl.der' -inform DER -CAfile '%s/ca.pem' "
	    "-noout",
	    dir, dir);
	CHECK(run(cmd) == 0);
	snprintf(cmd, sizeof(cmd),
	    "openssl verify -crl_check -CAfile '%s/ca.pem' -CRLfile "
	    "'%s/crl.pem' '%s/good.pem'",
	    dir, dir, dir);
	CHECK(run(cmd) == 0);
	snprintf(cmd, sizeof(cmd),
	    "openssl verify -crl_check -CAfile '%s/ca.pem' -CRLfile "
	    "'%s/crl.pem' '%s/revoked.pem'",
	    dir, dir, dir);
	CHECK(run(cmd) != 0);
	snprintf(cmd, sizeof(cmd),
	    "openssl verify -crl_check -CAfile '%s/ca.pem' -CRLfile "
	    "'%s/crl.pem' '%s/revoked.pem' 2>&1 | grep -q 'certificate "
	    "revoked'",
	    dir, dir, dir);
	CHECK(system(cmd) == 0);
out:
	free(pem);
	free(der);
	X509_CRL_free(crl);
	X509_free(good);
	X509_free(revoked);
	EVP_PKEY_free(leaf_key);
}

/* Other key types and digests: P-384 with SHA-384 (a root), RSA. */
static void
test_algorithms(void)
{
	static const struct ca_crl_entry v[] = {
	    {"01", 1709208000, 1}, {"02", 1709208000, -1}};
	EVP_PKEY *p384 = testutil_key("ec:P-384"),
	         *rsa = testutil_key("rsa:2048");
	X509 *root = NULL, *rsa_ca = NULL;
	struct ca_crl_params p;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl = NULL;

	CHECK(p384 != NULL && rsa != NULL);
	if (p384 == NULL || rsa == NULL)
		goto out;
	root = make_cert("root", p384, NULL, p384, EVP_sha384(), 1, 1, NULL);
	rsa_ca = make_cert("rsa", rsa, NULL, rsa, EVP_sha256(), 1, 1, NULL);
	CHECK(root != NULL && rsa_ca != NULL);
	if (root == NULL || rsa_ca == NULL)
		goto out;
	p = params(root, p384, NID_sha384);
	CHECK_ST(build_list(&p, v, 2, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl != NULL) {
		check_common(crl, root, 12);
		CHECK(X509_CRL_get_signature_nid(crl) == NID_ecdsa_with_SHA384);
	}
	X509_CRL_free(crl);
	free(der);
	der = NULL;

	p = params(rsa_ca, rsa, NID_sha256);
	CHECK_ST(build_list(&p, v, 2, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl != NULL) {
		check_common(crl, rsa_ca, 12);
		CHECK(X509_CRL_get_signature_nid(crl) ==
		    NID_sha256WithRSAEncryption);
	}
	X509_CRL_free(crl);
	free(der);
out:
	X509_free(rsa_ca);
	X509_free(root);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
}

/* Bad entry lists and parameters: refused, output NULL, nothing leaked. */
static void
test_bad(X509 *ca, EVP_PKEY *key, X509 *no_ski, EVP_PKEY *other)
{
	static const struct ca_crl_entry bad_serials[][1] = {
	    {{NULL, 0, -1}},
	    {{"", 0, -1}},
	    {{"12G4", 0, -1}},
	    {{"-1", 0, -1}},
	    {{" 12", 0, -1}},
	    {{"1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 0, -1}},
	    {{"000000000000000000000000000000000000000000000000000000000000000"
	      "01",
	        0, -1}},
	};
	static const struct ca_crl_entry bad_reasons[][1] = {
	    {{"01", 0, 7}}, {{"01", 0, 8}}, {{"01", 0, 11}}, {{"01", 0, -2}}};
	static const struct ca_crl_entry bad_times[][1] = {
	    {{"01", 253402300800, -1}}, {{"01", -62167219201, -1}}};
	static const struct ca_crl_entry dup[] = {
	    {"0A0B", 0, -1}, {"01", 0, -1}, {"00a0b", 5, 1}};
	struct ca_crl_params p = params(ca, key, NID_sha256), q;
	struct list l = {dup, 3, 0, 1};
	uint8_t *der = (uint8_t *)1;
	size_t der_len = 1, i;

	for (i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
		der = (uint8_t *)1;
		CHECK_ST(build_list(&p, bad_serials[i], 1, &der, &der_len),
		    ST_MALFORMED);
		CHECK(der == NULL && der_len == 0);
		CHECK_DETAIL("serial");
	}
	for (i = 0; i < sizeof(bad_reasons) / sizeof(bad_reasons[0]); i++) {
		CHECK_ST(build_list(&p, bad_reasons[i], 1, &der, &der_len),
		    ST_MALFORMED);
		CHECK_DETAIL("reason");
	}
	for (i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
		CHECK_ST(build_list(&p, bad_times[i], 1, &der, &der_len),
		    ST_MALFORMED);
	CHECK_ST(build_list(&p, dup, 3, &der, &der_len), ST_CONFLICT);
	CHECK(der == NULL);
	CHECK_DETAIL("A0B");

	/* The source fails after one entry. */
	CHECK_ST(ca_crl_build(&p, list_next, &l, &der, &der_len), ST_STORE);
	CHECK(der == NULL);
	CHECK_ST(ca_crl_build(&p, NULL, NULL, &der, &der_len), ST_MALFORMED);
	CHECK_ST(
	    ca_crl_build(NULL, list_next, &l, &der, &der_len), ST_MALFORMED);

	q = p;
	q.next_update = q.this_update;
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	CHECK_DETAIL("nextUpdate");
	q = p;
	q.number = -1;
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	q = p;
	q.md_nid = NID_undef;
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	q = p;
	q.key = testutil_signer_key(other, SIGNER_ROLE_ISSUING);
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	CHECK_DETAIL("does not match");
	q = p;
	q.issuer = no_ski;
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	CHECK_DETAIL("subjectKeyIdentifier");
	q = p;
	q.idp_url = "http://ca.example/a b.crl";
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	q.idp_url = "";
	CHECK_ST(build_list(&q, NULL, 0, &der, &der_len), ST_MALFORMED);
	CHECK(der == NULL && der_len == 0);
}

static void
test_shard_fn(void)
{
	static const char *const serials[] = {
	    "0000000000000000000000000000AB01",
	    "7F3A9C0012345678DEADBEEF00000000", "1", "FFFFFFFF",
	    "00000001FFFFFFFF"};
	int counts[4] = {0, 0, 0, 0}, s, n, i, bad = 0;
	char hex[33];
	uint32_t x = 12345;

	for (i = 0; i < 5; i++)
		for (n = 1; n <= 17; n++) {
			s = ca_crl_shard(serials[i], n);
			if (s < 0 || s >= n || s != ca_crl_shard(serials[i], n))
				bad++;
		}
	CHECK(bad == 0);
	/* Low 32 bits modulo the count; case does not matter. */
	CHECK(ca_crl_shard("0000000000000000000000000000AB01", 4) == 1);
	CHECK(ca_crl_shard("0000000000000000000000000000ab01", 4) == 1);
	CHECK(ca_crl_shard("FFFFFFFF", 10) == (int)(0xffffffffu % 10));
	CHECK(ca_crl_shard("00000001FFFFFFFF", 10) == (int)(0xffffffffu % 10));
	CHECK(ca_crl_shard("AB01", 1) == 0);
	CHECK(ca_crl_shard("AB01", 0) == 0);
	CHECK(ca_crl_shard(NULL, 4) == -1);
	CHECK(ca_crl_shard("", 4) == -1);
	CHECK(ca_crl_shard("XY", 4) == -1);
	/* Random serials spread over the shards. */
	for (i = 0; i < 4000; i++) {
		x = x * 1103515245u + 12345u;
		snprintf(
		    hex, sizeof(hex), "%08X%08X", (unsigned)i, (unsigned)x);
		s = ca_crl_shard(hex, 4);
		if (s >= 0 && s < 4)
			counts[s]++;
	}
	for (i = 0; i < 4; i++)
		CHECK(counts[i] > 800 && counts[i] < 1200);
}

static void
test_pem(X509 *ca, EVP_PKEY *key)
{
	static const struct ca_crl_entry v[] = {{"01", 1709208000, 1}};
	static const uint8_t not_seq[] = {0x31, 0x00};
	static const uint8_t short_len[] = {0x30, 0x05, 0x00};
	static const uint8_t long_len[] = {0x30, 0x85, 1, 0, 0, 0, 0};
	struct ca_crl_params p = params(ca, key, NID_sha256);
	uint8_t *der = NULL, *re = NULL, *extra = NULL;
	size_t der_len = 0, pem_len = 0, i, longest = 0, cur = 0;
	char *pem = (char *)1;
	X509_CRL *crl = NULL;
	BIO *bio = NULL;
	int re_len;

	CHECK_ST(build_list(&p, v, 1, &der, &der_len), ST_OK);
	if (der == NULL)
		return;
	CHECK_ST(ca_crl_pem(der, der_len, &pem, &pem_len), ST_OK);
	CHECK(pem != NULL && strlen(pem) == pem_len);
	if (pem == NULL)
		goto out;
	CHECK(strncmp(pem, "-----BEGIN X509 CRL-----\n", 25) == 0);
	CHECK(pem_len > 23 &&
	    strcmp(pem + pem_len - 23, "-----END X509 CRL-----\n") == 0);
	for (i = 0; i < pem_len; i++) {
		cur = pem[i] == '\n' ? 0 : cur + 1;
		if (cur > longest)
			longest = cur;
	}
	CHECK(longest <= 64);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	CHECK(bio != NULL &&
	    (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL);
	re_len = crl != NULL ? i2d_X509_CRL(crl, &re) : -1;
	CHECK(re_len > 0 && (size_t)re_len == der_len &&
	    memcmp(re, der, der_len) == 0);

	/* Not a single DER SEQUENCE of exactly len bytes. */
	free(pem);
	pem = (char *)1;
	CHECK_ST(ca_crl_pem(der, der_len - 1, &pem, &pem_len), ST_MALFORMED);
	CHECK(pem == NULL && pem_len == 0);
	CHECK((extra = malloc(der_len + 1)) != NULL);
	if (extra != NULL) {
		memcpy(extra, der, der_len);
		extra[der_len] = 0;
		CHECK_ST(ca_crl_pem(extra, der_len + 1, &pem, &pem_len),
		    ST_MALFORMED);
	}
	CHECK_ST(ca_crl_pem(NULL, 0, &pem, &pem_len), ST_MALFORMED);
	CHECK_ST(ca_crl_pem(der, 0, &pem, &pem_len), ST_MALFORMED);
	CHECK_ST(
	    ca_crl_pem(not_seq, sizeof(not_seq), &pem, &pem_len), ST_MALFORMED);
	CHECK_ST(ca_crl_pem(short_len, sizeof(short_len), &pem, &pem_len),
	    ST_MALFORMED);
	CHECK_ST(ca_crl_pem(long_len, sizeof(long_len), &pem, &pem_len),
	    ST_MALFORMED);
	CHECK(pem == NULL);
out:
	free(extra);
	OPENSSL_free(re);
	X509_CRL_free(crl);
	BIO_free(bio);
	free(pem);
	free(der);
}

/* Many entries: sorted, counted and signed. */
static void
test_many(X509 *ca, EVP_PKEY *key)
{
	enum { N = 20000 };
	struct ca_crl_entry *v = calloc(N, sizeof(*v));
	char(*hex)[33] = calloc(N, sizeof(*hex));
	struct ca_crl_params p = params(ca, key, NID_sha256);
	STACK_OF(X509_REVOKED) * revs;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_CRL *crl = NULL;
	uint32_t x = 7;
	int i, sorted = 1;

	CHECK(v != NULL && hex != NULL);
	if (v == NULL || hex == NULL)
		goto out;
	for (i = 0; i < N; i++) {
		x = x * 1664525u + 1013904223u;
		snprintf(hex[i], sizeof(hex[i]), "%08X%08X%08X%08X", x,
		    (unsigned)i, x ^ 0x5a5a5a5au, (unsigned)(N - i));
		v[i].serial_hex = hex[i];
		v[i].revoked_at = 1700000000 + i;
		v[i].reason = i % 3 == 0 ? 1 : -1;
	}
	CHECK_ST(build_list(&p, v, N, &der, &der_len), ST_OK);
	CHECK((crl = parse(der, der_len)) != NULL);
	if (crl == NULL)
		goto out;
	check_common(crl, ca, 12);
	revs = X509_CRL_get_REVOKED(crl);
	CHECK(sk_X509_REVOKED_num(revs) == N);
	for (i = 1; i < sk_X509_REVOKED_num(revs); i++)
		if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
		                         sk_X509_REVOKED_value(revs, i - 1)),
		        X509_REVOKED_get0_serialNumber(
		            sk_X509_REVOKED_value(revs, i))) >= 0)
			sorted = 0;
	CHECK(sorted);
out:
	X509_CRL_free(crl);
	free(der);
	free(hex);
	free(v);
}

/* A key in a SoftHSMv2 token signs CRLs through its handle. */
static void
test_hsm(const char *dir)
{
	static const struct ca_crl_entry v[] = {
	    {"0000000000000000000000000000AB01", 1709208000, 1},
	    {"00000000000000000000000000000002", 1709208000, -1},
	    {"00000000000000000000000000000003", 1709208000, 4}};
	static const struct {
		const char *label;
		enum hsm_key_type type;
		int md_nid, sig_nid;
	} cases[] = {
	    {"crl-issuing", HSM_KEY_EC_P256, NID_sha256, NID_ecdsa_with_SHA256},
	    {"crl-root", HSM_KEY_EC_P384, NID_sha384, NID_ecdsa_with_SHA384},
	};
	struct hsm *hsm = NULL;
	struct hsm_key *key = NULL;
	struct ca_crl_params p;
	uint8_t *der = NULL;
	size_t der_len = 0, i;
	X509_CRL *crl = NULL;
	X509 *ca = NULL;

	CHECK(testutil_softhsm(dir, TOKEN, PIN) == 0);
	CHECK_ST(hsm_open(testutil_softhsm_module(), TOKEN, PIN, &hsm), ST_OK);
	if (hsm == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_ST(
		    hsm_key_generate(hsm, cases[i].label, cases[i].type, &key),
		    ST_OK);
		if (key == NULL)
			break;
		ca = make_cert("token CA", hsm_key_get0_public(key), NULL,
		    hsm_key_get0_pkey(key),
		    EVP_get_digestbynid(cases[i].md_nid), 1, 1, NULL);
		CHECK(ca != NULL);
		if (ca == NULL)
			break;
		p = params(ca, hsm_key_get0_pkey(key), cases[i].md_nid);
		p.idp_url = i == 0 ? SHARD_URL : NULL;
		CHECK_ST(build_list(&p, v, 3, &der, &der_len), ST_OK);
		CHECK((crl = parse(der, der_len)) != NULL);
		if (crl != NULL) {
			check_common(crl, ca, 12);
			CHECK(X509_CRL_get_signature_nid(crl) ==
			    cases[i].sig_nid);
			CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) ==
			    3);
		}
		X509_CRL_free(crl);
		crl = NULL;
		free(der);
		der = NULL;
		X509_free(ca);
		ca = NULL;
		hsm_key_free(key);
		key = NULL;
	}
	X509_free(ca);
	hsm_key_free(key);
	testutil_signer_free();
	hsm_close(hsm);
}

/* Every extnValue of exts strictly DER, as a strict relying party reads it. */
static int
exts_strict(const STACK_OF(X509_EXTENSION) * exts, char *why, size_t cap)
{
	const ASN1_OCTET_STRING *v;
	int i;

	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		v = X509_EXTENSION_get_data(sk_X509_EXTENSION_value(exts, i));
		if (!testutil_der_strict(ASN1_STRING_get0_data(v),
		        (size_t)ASN1_STRING_length(v), why, cap))
			return 0;
	}
	return 1;
}

/* der, and each CRL and entry extension inside it, strictly DER. */
static int
crl_strict(const uint8_t *der, size_t len, char *why, size_t cap)
{
	STACK_OF(X509_REVOKED) * revs;
	X509_CRL *crl;
	int i, ok;

	if (!testutil_der_strict(der, len, why, cap))
		return 0;
	if ((crl = parse(der, len)) == NULL) {
		snprintf(why, cap, "d2i_X509_CRL refused it");
		return 0;
	}
	ok = exts_strict(X509_CRL_get0_extensions(crl), why, cap);
	revs = X509_CRL_get_REVOKED(crl);
	for (i = 0; ok && i < sk_X509_REVOKED_num(revs); i++)
		ok = exts_strict(X509_REVOKED_get0_extensions(
		                     sk_X509_REVOKED_value(revs, i)),
		    why, cap);
	X509_CRL_free(crl);
	return ok;
}

/*
 * The shard CRL's IDP, byte for byte: onlyContainsUserCerts [1] TRUE is
 * 81 01 FF (X.690 §11.1); a strict walk of the CRL and of every extnValue
 * passes; Python's cryptography (when installed) reads every extension
 * and verifies the signature.
 */
static void
test_strict(const char *dir, X509 *ca, EVP_PKEY *key)
{
	static const uint8_t user_true[] = {0x81, 0x01, 0xff};
	static const struct ca_crl_entry v[] = {
	    {"0A", 1709208000, 1}, {"0B", 2524608000, -1}, {"0C", 0, 10}};
	struct ca_crl_params p = params(ca, key, NID_sha256);
	X509_CRL *crl = NULL;
	ASN1_OCTET_STRING *val;
	uint8_t *der = NULL;
	size_t der_len = 0, i;
	char why[128], path[4096], cmd[16384];
	static const uint8_t bool_one[] = {0x30, 0x03, 0x01, 0x01, 0x01};
	static const uint8_t long_len[] = {0x30, 0x81, 0x03, 0x01, 0x01, 0xff};
	static const uint8_t int_pad[] = {0x30, 0x04, 0x02, 0x02, 0x00, 0x7f};
	static const uint8_t good[] = {
	    0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x80};
	int loc, found, k;

	/* The checker itself refuses what DER forbids. */
	CHECK(!testutil_der_strict(bool_one, sizeof(bool_one), why, 128));
	CHECK(!testutil_der_strict(long_len, sizeof(long_len), why, 128));
	CHECK(!testutil_der_strict(int_pad, sizeof(int_pad), why, 128));
	CHECK(testutil_der_strict(good, sizeof(good), why, 128));
	for (k = 0; k < 2; k++) {
		p.idp_url = k == 0 ? SHARD_URL : NULL;
		CHECK_ST(build_list(&p, v, 3, &der, &der_len), ST_OK);
		CHECK(
		    der != NULL && crl_strict(der, der_len, why, sizeof(why)));
		if (der == NULL)
			continue;
		if (!crl_strict(der, der_len, why, sizeof(why)))
			fprintf(stderr, "strict DER: %s\n", why);
		if (k == 0 && (crl = parse(der, der_len)) != NULL) {
			loc = X509_CRL_get_ext_by_NID(
			    crl, NID_issuing_distribution_point, -1);
			val =
			    X509_EXTENSION_get_data(X509_CRL_get_ext(crl, loc));
			found = 0;
			for (i = 0; val != NULL &&
			     i + sizeof(user_true) <= (size_t)val->length;
			     i++)
				found |= memcmp(val->data + i, user_true,
				             sizeof(user_true)) == 0;
			CHECK(found);
			X509_CRL_free(crl);
			crl = NULL;
		}
		snprintf(path, sizeof(path), "%s/strict-%d.der", dir, k);
		CHECK(file_write_atomic(path, der, der_len, 0644) == ST_OK);
		free(der);
		der = NULL;
	}
	if (run("python3 -c 'import cryptography'") != 0) {
		printf("python3-cryptography is missing: its check skipped\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	CHECK(write_pem_cert(path, ca));
	/* cryptography parses each extension lazily and refuses non-DER. */
	snprintf(cmd, sizeof(cmd),
	    "python3 - '%s' '%s' <<'EOF'\n"
	    "import sys\n"
	    "from cryptography import x509\n"
	    "d = sys.argv[1]\n"
	    "ca = x509.load_pem_x509_certificate(open(d + '/ca.pem', "
	    "'rb').read())\n"
	    "for k in (0, 1):\n"
	    "    crl = x509.load_der_x509_crl(open(d + '/strict-%%d.der' %% k, "
	    "'rb').read())\n"
	    "    assert crl.is_signature_valid(ca.public_key())\n"
	    "    names = [e.oid._name for e in crl.extensions]\n"
	    "    for r in crl:\n"
	    "        [e.value for e in r.extensions]\n"
	    "    if k == 0:\n"
	    "        idp = crl.extensions.get_extension_for_class("
	    "x509.IssuingDistributionPoint)\n"
	    "        assert idp.critical\n"
	    "        assert idp.value.only_contains_user_certs\n"
	    "        assert idp.value.full_name[0].value == sys.argv[2]\n"
	    "    assert len(list(crl)) == 3, names\n"
	    "EOF",
	    dir, SHARD_URL);
	CHECK(system(cmd) == 0);
}

/* A random hex serial of 1..20 octets, with up to 3 leading zero digits. */
static void
random_serial(char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	uint8_t r[48];
	size_t n, i, zeros;

	RAND_bytes(r, sizeof(r));
	zeros = r[0] % 4;
	n = 1 + r[1] % 40;
	if (zeros + n + 1 > cap)
		n = cap - zeros - 1;
	for (i = 0; i < zeros; i++)
		out[i] = '0';
	for (i = 0; i < n; i++)
		out[zeros + i] = digits[r[2 + i] % (sizeof(digits) - 1)];
	out[zeros + n] = '\0';
}

/* Feed the entries of a decoded CRL back to the builder. */
struct decoded {
	STACK_OF(X509_REVOKED) * revs;
	ASN1_TIME *epoch;
	int i;
	char hex[128];
};

static int
decoded_next(void *arg, struct ca_crl_entry *e)
{
	struct decoded *d = arg;
	const X509_REVOKED *r;
	BIGNUM *bn;
	char *s;
	int days, secs;

	if (d->i >= sk_X509_REVOKED_num(d->revs))
		return 0;
	r = sk_X509_REVOKED_value(d->revs, d->i++);
	if ((bn = ASN1_INTEGER_to_BN(
	         X509_REVOKED_get0_serialNumber(r), NULL)) == NULL ||
	    (s = BN_bn2hex(bn)) == NULL) {
		BN_free(bn);
		return -1;
	}
	snprintf(d->hex, sizeof(d->hex), "%s", s);
	OPENSSL_free(s);
	BN_free(bn);
	e->serial_hex = d->hex;
	if (d->epoch == NULL ||
	    !ASN1_TIME_diff(
	        &days, &secs, d->epoch, X509_REVOKED_get0_revocationDate(r)))
		return -1;
	e->revoked_at = (int64_t)days * 86400 + secs;
	e->reason = entry_reason(r);
	return 1;
}

/* The TBSCertList of a DER CRL: its first element. */
static int
tbs_of(const uint8_t *der, size_t len, const uint8_t **tbs, size_t *tbs_len)
{
	const uint8_t *p = der;
	long n;
	int tag, cls;

	if (ASN1_get_object(&p, &n, &tag, &cls, (long)len) & 0x80)
		return 0;
	*tbs = p;
	if (ASN1_get_object(
	        &p, &n, &tag, &cls, (long)(len - (size_t)(p - der))) &
	    0x80)
		return 0;
	*tbs_len = (size_t)(p - *tbs) + (size_t)n;
	return 1;
}

/*
 * Round trip over random inputs: build, decode strictly, then encode the
 * decoded CRL again twice, with OpenSSL's encoder (i2d_re_X509_CRL_tbs)
 * and with the builder fed the decoded entries; both TBSCertLists must be
 * byte for byte the one the builder wrote (the signatures differ: ECDSA).
 */
static void
test_round_trip(X509 *ca, EVP_PKEY *key)
{
	static const int64_t spans[] = {-62167219200, -631152001, -631152000, 0,
	    2524607999, 2524608000, 253402300799};
	struct ca_crl_entry v[24];
	char serials[24][48], why[128];
	struct ca_crl_params p = params(ca, key, NID_sha256);
	struct decoded d;
	X509_CRL *crl;
	uint8_t *der = NULL, *again = NULL, *re = NULL, r[8];
	const uint8_t *t1, *t2;
	size_t der_len = 0, again_len = 0, n, i, l1, l2;
	int round, bad = 0, re_len;
	enum status st;

	for (round = 0; round < 200; round++) {
		RAND_bytes(r, sizeof(r));
		n = r[0] % 24;
		for (i = 0; i < n; i++) {
			random_serial(serials[i], sizeof(serials[i]));
			v[i].serial_hex = serials[i];
			RAND_bytes(r, sizeof(r));
			v[i].revoked_at = r[1] % 2
			    ? spans[r[2] % 7]
			    : (int64_t)((uint32_t)r[3] << 24 |
			          (uint32_t)r[4] << 16 | (uint32_t)r[5] << 8);
			v[i].reason = (int)(r[6] % 12) - 1;
			if (v[i].reason == 7 || v[i].reason == 8)
				v[i].reason = 1;
		}
		p.number = r[7] * 1000003;
		p.idp_url = round % 2 ? SHARD_URL : NULL;
		st = build_list(&p, v, n, &der, &der_len);
		/* Random serials may repeat (or both be zero): refused. */
		if (st == ST_CONFLICT)
			continue;
		if (st != ST_OK ||
		    !crl_strict(der, der_len, why, sizeof(why)) ||
		    (crl = parse(der, der_len)) == NULL) {
			fprintf(stderr, "round %d: %s %s\n", round,
			    status_name(st), why);
			bad++;
			free(der);
			der = NULL;
			continue;
		}
		re_len = i2d_re_X509_CRL_tbs(crl, &re);
		if (!tbs_of(der, der_len, &t1, &l1) || re_len <= 0 ||
		    (size_t)re_len != l1 || memcmp(re, t1, l1) != 0)
			bad++;
		memset(&d, 0, sizeof(d));
		d.revs = X509_CRL_get_REVOKED(crl);
		d.epoch = ASN1_TIME_set(NULL, 0);
		if (ca_crl_build(&p, decoded_next, &d, &again, &again_len) !=
		        ST_OK ||
		    !tbs_of(again, again_len, &t2, &l2) || l1 != l2 ||
		    memcmp(t1, t2, l1) != 0)
			bad++;
		ASN1_TIME_free(d.epoch);
		OPENSSL_free(re);
		re = NULL;
		free(again);
		again = NULL;
		free(der);
		der = NULL;
		X509_CRL_free(crl);
	}
	CHECK(bad == 0);
}

/*
 * ca_crl_describe: the times and the entry count of built CRLs, as
 * OpenSSL reads them; empty, truncated, trailing-byte and wrong-type
 * input refused.
 */
static void
test_describe(X509 *ca, EVP_PKEY *key)
{
	struct ca_crl_params p = params(ca, key, NID_sha256);
	struct ca_crl_entry e[3] = {
	    {"01", 1700000000, 1}, {"0a0b", 1700000100, -1}, {"7f", 1, 0}};
	struct ca_crl_info info;
	uint8_t *der = NULL, *copy;
	size_t len = 0, n;
	static const uint8_t not_crl[] = {0x02, 0x01, 0x05};

	CHECK_ST(build_list(&p, e, 3, &der, &len), ST_OK);
	CHECK_ST(ca_crl_describe(der, len, &info), ST_OK);
	CHECK(info.entries == 3);
	CHECK(info.this_update == p.this_update);
	CHECK(info.next_update == p.next_update);
	if (der != NULL && (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, der, len);
		copy[len] = 0;
		CHECK_ST(ca_crl_describe(copy, len + 1, &info), ST_MALFORMED);
		CHECK(info.entries == 0);
		for (n = 0; n < len; n += 7)
			CHECK_ST(ca_crl_describe(copy, n, &info), ST_MALFORMED);
		free(copy);
	}
	free(der);
	der = NULL;
	CHECK_ST(build_list(&p, e, 0, &der, &len), ST_OK);
	CHECK_ST(ca_crl_describe(der, len, &info), ST_OK);
	CHECK(info.entries == 0 && info.this_update == p.this_update);
	free(der);
	CHECK_ST(
	    ca_crl_describe(not_crl, sizeof(not_crl), &info), ST_MALFORMED);
	CHECK_ST(ca_crl_describe(not_crl, 0, &info), ST_MALFORMED);
}

/*
 * A serial of 2 to 20 random octets ending in the 2 octets of i (so every
 * one differs), in hex with up to 3 leading zeros, either case.
 */
static void
sort_serial(char *out, size_t cap, int i)
{
	static const char up[] = "0123456789ABCDEF", low[] = "0123456789abcdef";
	uint8_t r[24], b[20];
	size_t len, k, n = 0, zeros;

	RAND_bytes(r, sizeof(r));
	len = 2 + r[0] % 19;
	zeros = r[1] % 4;
	memcpy(b, r + 4, len);
	if (b[0] == 0)
		b[0] = 1;
	b[len - 2] = (uint8_t)(i >> 8);
	b[len - 1] = (uint8_t)i;
	for (k = 0; k < zeros && n + 1 < cap; k++)
		out[n++] = '0';
	for (k = 0; k < len && n + 2 < cap; k++) {
		const char *d = r[2] & 1 ? up : low;
		out[n++] = d[b[k] >> 4];
		out[n++] = d[b[k] & 0xf];
	}
	out[n] = '\0';
}

/*
 * The sort of a large CRL (the radix path, 64 entries and up) is OpenSSL's
 * order (X509_CRL_sort: length, then bytes) for serials of every length,
 * with leading zeros and either case, many sharing their first bytes (a
 * run the radix leaves to qsort), and with a common prefix of four or more
 * bytes (skipped): sorting the decoded CRL again changes no byte of its
 * TBSCertList, and the same entries in another order build the same TBS.
 */
static void
test_sort(X509 *ca, EVP_PKEY *key)
{
	enum { N = 3000 };
	struct ca_crl_entry *v = calloc(N, sizeof(*v)), tmp;
	char(*hex)[64] = calloc(N, sizeof(*hex));
	struct ca_crl_params p = params(ca, key, NID_sha256);
	const uint8_t *t1, *t2;
	uint8_t *der = NULL, *again = NULL, r[4];
	unsigned char *re = NULL;
	size_t der_len = 0, again_len = 0, l1 = 0, l2 = 0;
	X509_CRL *crl = NULL;
	int i, j, form, re_len;

	CHECK(v != NULL && hex != NULL);
	if (v == NULL || hex == NULL)
		goto out;
	for (form = 0; form < 3; form++) {
		for (i = 0; i < N; i++) {
			if (form == 0)
				sort_serial(hex[i], sizeof(hex[i]), i);
			else if (form == 1) /* runs sharing 6 bytes */
				snprintf(hex[i], sizeof(hex[i]),
				    "7F3A0011%04X%08X", i % 17,
				    i * 2654435761u);
			else /* a long common prefix, short tails */
				snprintf(hex[i], sizeof(hex[i]),
				    "0000AABBCCDDEEFF0011223344%06x", i * 7);
			v[i].serial_hex = hex[i];
			v[i].revoked_at = 1700000000 + i % 5000;
			v[i].reason = i % 4 == 0 ? 1 : -1;
		}
		CHECK_ST(build_list(&p, v, N, &der, &der_len), ST_OK);
		/* Random serials may repeat: drawn again below if so. */
		if (der == NULL)
			continue;
		CHECK((crl = parse(der, der_len)) != NULL);
		if (crl == NULL)
			goto out;
		CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == N);
		CHECK(X509_CRL_sort(crl) == 1);
		re_len = i2d_re_X509_CRL_tbs(crl, &re);
		CHECK(tbs_of(der, der_len, &t1, &l1) && re_len > 0 &&
		    (size_t)re_len == l1 && memcmp(re, t1, l1) == 0);
		/* Reversed and shuffled input: the same TBSCertList. */
		for (i = 0; i < N / 2; i++) {
			tmp = v[i];
			v[i] = v[N - 1 - i];
			v[N - 1 - i] = tmp;
		}
		for (i = 0; i < N; i++) {
			RAND_bytes(r, sizeof(r));
			j = (int)((uint32_t)(r[0] | r[1] << 8 | r[2] << 16) %
			    N);
			tmp = v[i];
			v[i] = v[j];
			v[j] = tmp;
		}
		CHECK_ST(build_list(&p, v, N, &again, &again_len), ST_OK);
		CHECK(again != NULL && tbs_of(again, again_len, &t2, &l2) &&
		    l1 == l2 && memcmp(t1, t2, l1) == 0);
		OPENSSL_free(re);
		re = NULL;
		free(again);
		again = NULL;
		free(der);
		der = NULL;
		X509_CRL_free(crl);
		crl = NULL;
	}
out:
	OPENSSL_free(re);
	free(again);
	free(der);
	X509_CRL_free(crl);
	free(hex);
	free(v);
}

/* The TBSCertList of a fresh CRL with one entry, serial 0ABCDE. */
static int
one_entry_tbs(X509 *ca, const struct signer_key *key, uint8_t **der,
    const uint8_t **tbs, size_t *tbs_len)
{
	static const struct ca_crl_entry v[] = {{"0ABCDE", 1709208000, 1}};
	struct ca_crl_params p;
	size_t der_len = 0;

	memset(&p, 0, sizeof(p));
	p.issuer = ca;
	p.key = key;
	p.number = 3;
	p.this_update = 1767225600;
	p.next_update = p.this_update + 86400;
	p.md_nid = NID_sha256;
	*der = NULL;
	if (build_list(&p, v, 1, der, &der_len) != ST_OK)
		return 0;
	return tbs_of(*der, der_len, tbs, tbs_len);
}

/*
 * The signer's CRL check (a walk over the TBSCertList, no d2i): a key
 * holder that knows the issuing CA signs its CRLs, and refuses, each with
 * its reason, a CRL under another CA's name, a v1 CRL, another digest,
 * a malformed entry, trailing bytes and a certificate's TBS.
 */
static void
test_signer_check(X509 *ca, EVP_PKEY *key)
{
	EVP_PKEY *other_key = testutil_key("ec:P-256");
	X509 *other = NULL;
	struct signer *s = NULL;
	struct signer_key *k = NULL;
	const uint8_t *tbs = NULL, *other_tbs = NULL;
	uint8_t *der = NULL, *other_der = NULL, *bad = NULL, *sig = NULL;
	size_t tbs_len = 0, other_len = 0, sig_len = 0, i;

	other = other_key ? make_cert("another CA", other_key, NULL, other_key,
	                        EVP_sha256(), 1, 3, NULL)
	                  : NULL;
	CHECK(other != NULL);
	CHECK_ST(signer_soft_open(NULL, ca, 0, &s), ST_OK);
	if (s == NULL || other == NULL)
		goto out;
	CHECK_ST(
	    signer_soft_key_add(s, "issuing", SIGNER_ROLE_ISSUING, key, &k),
	    ST_OK);
	if (k == NULL)
		goto out;
	/* Built and signed through the holder that checks the name. */
	CHECK(one_entry_tbs(ca, k, &der, &tbs, &tbs_len));
	/* The same bytes, made under another CA's name (set-up mode). */
	CHECK(one_entry_tbs(other,
	    testutil_signer_key(other_key, SIGNER_ROLE_ISSUING), &other_der,
	    &other_tbs, &other_len));
	if (der == NULL || other_der == NULL)
		goto out;
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256, other_tbs,
	             other_len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("issuer");
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha384, tbs, tbs_len,
	             &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("signature algorithm");
	CHECK((bad = malloc(tbs_len + 1)) != NULL);
	if (bad == NULL)
		goto out;
	/* v1: version 1 becomes 0 (30 LL 82 LL LL 02 01 01 ...). */
	memcpy(bad, tbs, tbs_len);
	for (i = 0; i + 2 < tbs_len; i++)
		if (bad[i] == 0x02 && bad[i + 1] == 0x01 && bad[i + 2] == 0x01)
			break;
	CHECK(i + 2 < tbs_len);
	bad[i + 2] = 0x00;
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256, bad, tbs_len,
	             &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("v2");
	/* The entry's serial as an OCTET STRING. */
	memcpy(bad, tbs, tbs_len);
	for (i = 0; i + 4 < tbs_len; i++)
		if (bad[i] == 0x02 && bad[i + 1] == 0x03 &&
		    bad[i + 2] == 0x0a && bad[i + 3] == 0xbc &&
		    bad[i + 4] == 0xde)
			break;
	CHECK(i + 4 < tbs_len);
	bad[i] = 0x04;
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256, bad, tbs_len,
	             &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("revokedCertificates");
	/* A byte after the TBSCertList; a TBS cut short. */
	memcpy(bad, tbs, tbs_len);
	bad[tbs_len] = 0;
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256, bad,
	             tbs_len + 1, &sig, &sig_len),
	    ST_DENIED);
	CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256, bad,
	             tbs_len - 1, &sig, &sig_len),
	    ST_DENIED);
	CHECK_ST(signer_sign(
	             k, SIGNER_PURPOSE_CRL, NID_sha256, bad, 0, &sig, &sig_len),
	    ST_LIMIT);
	/* A certificate's TBS presented as a CRL's. */
	{
		const uint8_t *ctbs;
		size_t ctbs_len;
		unsigned char *cder = NULL;
		int n = i2d_X509(ca, &cder);

		CHECK(n > 0 && tbs_of(cder, (size_t)n, &ctbs, &ctbs_len));
		if (n > 0)
			CHECK_ST(signer_sign(k, SIGNER_PURPOSE_CRL, NID_sha256,
			             ctbs, ctbs_len, &sig, &sig_len),
			    ST_DENIED);
		OPENSSL_free(cder);
	}
	CHECK(sig == NULL);
out:
	OPENSSL_free(sig);
	free(bad);
	free(der);
	free(other_der);
	signer_key_free(k);
	signer_close(s);
	X509_free(other);
	EVP_PKEY_free(other_key);
}

int
main(void)
{
	char *dir = testutil_tmpdir();
	EVP_PKEY *key = testutil_key("ec:P-256");
	EVP_PKEY *other = testutil_key("ec:P-256");
	X509 *ca = NULL, *no_ski = NULL;

	if (dir == NULL || key == NULL || other == NULL) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	ca = make_cert(
	    "tessera test CA", key, NULL, key, EVP_sha256(), 1, 1, NULL);
	no_ski = make_cert("no SKI", key, NULL, key, EVP_sha256(), 0, 2, NULL);
	if (ca == NULL || no_ski == NULL) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	test_empty(ca, key);
	test_entries(ca, key);
	test_edges(ca, key);
	test_shard(ca, key);
	test_verify(dir, ca, key, NULL);
	test_verify(dir, ca, key, SHARD_URL);
	test_algorithms();
	test_bad(ca, key, no_ski, other);
	test_shard_fn();
	test_pem(ca, key);
	test_many(ca, key);
	test_hsm(dir);
	test_strict(dir, ca, key);
	test_round_trip(ca, key);
	test_sort(ca, key);
	test_signer_check(ca, key);
	test_describe(ca, key);
	X509_free(no_ski);
	X509_free(ca);
	EVP_PKEY_free(other);
	EVP_PKEY_free(key);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
