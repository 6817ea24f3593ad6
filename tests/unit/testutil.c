#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca/certpolicy.h"
#include "common/file.h"
#include "hsm/hsm.h"
#include "signer/soft.h"
#include "tests/unit/testutil.h"

const char testutil_csr_policy[] =
    "{\"version\": 1, \"profiles\": {"
    "\"device\": {\"validity_days\": 30,"
    " \"keys\": [\"ec:P-256\", \"ec:P-384\", \"rsa:3072\"],"
    " \"subject\": {\"CN\": \"{id}\", \"O\": {\"value\": \"Acme\"},"
    "  \"OU\": {\"pattern\": \"^[A-Za-z0-9 ._-]{1,64}$\"},"
    "  \"serialNumber\": {\"pattern\": \"^[A-Z0-9-]{1,64}$\"}},"
    " \"san\": {\"uri\": [\"urn:dev:{id}\"], \"max\": 4},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"clientAuth\"]},"
    "\"gateway\": {\"validity_days\": 90,"
    " \"keys\": [\"ec:P-256\", \"rsa:2048\"],"
    " \"subject\": {\"utf8\": true, \"serialNumber\": \"{id}\","
    "  \"CN\": \"{id}.gw.example.net\", \"C\": {\"value\": \"DE\"},"
    "  \"L\": {\"pattern\": \"^.{1,64}$\", \"required\": true}},"
    " \"device_id\": \"serialNumber\","
    " \"san\": {\"dns\": [\"{id}.gw.example.net\"], \"ip\": true,"
    "  \"max\": 16},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"serverAuth\"]},"
    "\"station\": {\"validity_days\": 7, \"keys\": [\"ec:P-256\"],"
    " \"subject\": {\"CN\": \"{id}\"},"
    " \"key_usage\": [\"digitalSignature\"],"
    " \"extended_key_usage\": [\"clientAuth\"]}}}";

char *
testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];

	snprintf(
	    tmpl, sizeof(tmpl), "%s/tessera-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

void
testutil_rmtree(const char *dir)
{
	char cmd[4200];

	if (dir == NULL || strncmp(dir, "/", 1) != 0 || strlen(dir) < 8)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

const char *
testutil_softhsm_module(void)
{
	return TESSERA_SOFTHSM_MODULE;
}

int
testutil_softhsm(const char *dir, const char *label, const char *pin)
{
	char conf[4096], tokens[4096], so[300];
	FILE *f;

	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(so, sizeof(so), "so-%s", pin);
	if (file_mkdir(tokens, 0700) != ST_OK)
		return -1;
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f,
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n",
	    tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (hsm_token_init(testutil_softhsm_module(), label, so, pin) !=
	    ST_OK) {
		fprintf(stderr, "hsm_token_init: %s\n", status_detail());
		return -1;
	}
	return 0;
}

EVP_PKEY *
testutil_key(const char *spec)
{
	if (strncmp(spec, "ec:", 3) == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec + 3);
	if (strncmp(spec, "rsa:", 4) == 0)
		return EVP_PKEY_Q_keygen(
		    NULL, NULL, "RSA", (size_t)strtoul(spec + 4, NULL, 10));
	if (strcmp(spec, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

int
testutil_csr(EVP_PKEY *key, const char *cn, const char *sans, uint8_t **der,
    size_t *der_len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	int rc = -1;

	*der = NULL;
	*der_len = 0;
	if (req == NULL || name == NULL)
		goto out;
	if (cn != NULL &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || !X509_REQ_set_version(req, 0))
		goto out;
	if (sans != NULL) {
		exts = sk_X509_EXTENSION_new_null();
		ext =
		    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
		if (exts == NULL || ext == NULL)
			goto out;
		sk_X509_EXTENSION_push(exts, ext);
		if (!X509_REQ_add_extensions(req, exts))
			goto out;
	}
	rc = testutil_req_sign(req, key, der, der_len);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

int
testutil_req_sign(X509_REQ *req, EVP_PKEY *key, uint8_t **der, size_t *der_len)
{
	const EVP_MD *md;
	unsigned char *p = NULL;
	int len, rc = -1;

	*der = NULL;
	*der_len = 0;
	md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	if (!X509_REQ_sign(req, key, md))
		goto out;
	if ((len = i2d_X509_REQ(req, &p)) <= 0)
		goto out;
	if ((*der = malloc((size_t)len)) == NULL)
		goto out;
	memcpy(*der, p, (size_t)len);
	*der_len = (size_t)len;
	rc = 0;
out:
	OPENSSL_free(p);
	return rc;
}

/* One TLV of a strict walk: its tag, header length and content. */
struct der_tlv {
	uint8_t tag;
	const uint8_t *content;
	size_t len, total;
};

static int
der_tlv_read(const uint8_t *p, size_t avail, struct der_tlv *t)
{
	size_t n, i, len = 0;

	if (avail < 2 || (p[0] & 0x1f) == 0x1f)
		return 0; /* truncated, or a tag number over 30 */
	t->tag = p[0];
	if (p[1] < 0x80) {
		len = p[1];
		n = 0;
	} else {
		n = p[1] & 0x7f;
		/* §10.1: definite form; §8.1.3.5 minimal: no 0x00 lead, and
		 * the long form only from 128. */
		if (n == 0 || n > 4 || avail < 2 + n || p[2] == 0)
			return 0;
		for (i = 0; i < n; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return 0;
	}
	if (len > avail - 2 - n)
		return 0;
	t->content = p + 2 + n;
	t->len = len;
	t->total = 2 + n + len;
	return 1;
}

static int
der_digits(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static const char *
der_primitive_check(const struct der_tlv *t)
{
	const uint8_t *c = t->content;
	size_t i;

	switch (t->tag) {
	case 0x01: /* BOOLEAN: X.690 §11.1 */
		if (t->len != 1 || (c[0] != 0x00 && c[0] != 0xff))
			return "BOOLEAN is not 0x00 or 0xFF (X.690 §11.1)";
		return NULL;
	case 0x02: /* INTEGER */
	case 0x0a: /* ENUMERATED: §8.3.2, §8.4 */
		if (t->len == 0)
			return "empty INTEGER";
		if (t->len > 1 &&
		    ((c[0] == 0x00 && c[1] < 0x80) ||
		        (c[0] == 0xff && c[1] >= 0x80)))
			return "INTEGER not in its shortest form (X.690 "
			       "§8.3.2)";
		return NULL;
	case 0x03: /* BIT STRING: §11.2 */
		if (t->len == 0 || c[0] > 7 || (t->len == 1 && c[0] != 0))
			return "BIT STRING unused-bits octet";
		if (t->len > 1 && (c[t->len - 1] & ((1u << c[0]) - 1)) != 0)
			return "BIT STRING padding bits are not zero (§11.2.1)";
		return NULL;
	case 0x05:
		return t->len == 0 ? NULL : "NULL with content";
	case 0x06: /* OBJECT IDENTIFIER: §8.19.2 */
		if (t->len == 0 || (c[t->len - 1] & 0x80) != 0)
			return "OID ends inside a subidentifier";
		for (i = 0; i < t->len; i++)
			if (c[i] == 0x80 && (i == 0 || (c[i - 1] & 0x80) == 0))
				return "OID subidentifier padded with 0x80";
		return NULL;
	case 0x17: /* UTCTime: §11.8, RFC 5280 §4.1.2.5.1 */
		if (t->len != 13 || !der_digits(c, 12) || c[12] != 'Z')
			return "UTCTime is not YYMMDDHHMMSSZ";
		return NULL;
	case 0x18: /* GeneralizedTime: §11.7, RFC 5280 §4.1.2.5.2 */
		if (t->len != 15 || !der_digits(c, 14) || c[14] != 'Z')
			return "GeneralizedTime is not YYYYMMDDHHMMSSZ";
		return NULL;
	case 0x16: /* IA5String */
		for (i = 0; i < t->len; i++)
			if (c[i] >= 0x80)
				return "IA5String with a byte over 0x7F";
		return NULL;
	default:
		return NULL;
	}
}

static int
der_walk(const uint8_t *p, size_t len, int depth, char *why, size_t cap)
{
	struct der_tlv t;
	const char *bad;
	size_t off = 0;

	if (depth > 32) {
		snprintf(why, cap, "nested over 32 deep");
		return 0;
	}
	while (off < len) {
		if (!der_tlv_read(p + off, len - off, &t)) {
			snprintf(why, cap,
			    "bad tag or length at offset %zu (X.690 §10.1, "
			    "§8.1.3)",
			    off);
			return 0;
		}
		if ((t.tag & 0x20) != 0) {
			if (!der_walk(t.content, t.len, depth + 1, why, cap))
				return 0;
		} else if ((bad = der_primitive_check(&t)) != NULL) {
			snprintf(why, cap, "%s (tag 0x%02x)", bad, t.tag);
			return 0;
		}
		off += t.total;
	}
	return 1;
}

/* A SET's elements in order (§11.6), checked at every SET in the tree. */
static int
der_sets_sorted(const uint8_t *p, size_t len, int is_set, char *why, size_t cap)
{
	struct der_tlv t, prev = {0, NULL, 0, 0};
	size_t off = 0, n;
	int has_prev = 0, c;

	while (off < len) {
		if (!der_tlv_read(p + off, len - off, &t))
			return 0;
		if (is_set && has_prev) {
			n = prev.total < t.total ? prev.total : t.total;
			c = memcmp(prev.content - (prev.total - prev.len),
			    t.content - (t.total - t.len), n);
			if (c > 0 || (c == 0 && prev.total > t.total)) {
				snprintf(why, cap,
				    "SET OF elements out of order (X.690 "
				    "§11.6)");
				return 0;
			}
		}
		if ((t.tag & 0x20) != 0 &&
		    !der_sets_sorted(t.content, t.len, t.tag == 0x31, why, cap))
			return 0;
		prev = t;
		has_prev = 1;
		off += t.total;
	}
	return 1;
}

int
testutil_der_strict(const uint8_t *der, size_t len, char *why, size_t why_cap)
{
	struct der_tlv t;

	snprintf(why, why_cap, "ok");
	if (der == NULL || !der_tlv_read(der, len, &t) || t.total != len) {
		snprintf(why, why_cap, "not exactly one TLV");
		return 0;
	}
	return der_walk(der, len, 0, why, why_cap) &&
	    der_sets_sorted(der, len, 0, why, why_cap);
}

/* ---- the X509 API reference for ca/certder ----------------------------- */

static int
ref_ext_conf(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

static int
ref_key_usage(X509 *cert, unsigned bits)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int i, ok = ku != NULL;

	for (i = 0; ok && i < 9; i++) {
		unsigned flag = i < 8 ? 0x80u >> i : 0x8000u;
		if ((bits & flag) && !ASN1_BIT_STRING_set_bit(ku, i, 1))
			ok = 0;
	}
	ok = ok &&
	    X509_add1_ext_i2d(cert, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) ==
	        1;
	ASN1_BIT_STRING_free(ku);
	return ok;
}

static int
ref_constraints(X509 *cert, const struct ca_template *t)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok = bc != NULL;

	if (ok) {
		bc->ca = t->is_ca ? 0xff : 0;
		if (t->is_ca && t->pathlen >= 0)
			ok = (bc->pathlen = ASN1_INTEGER_new()) != NULL &&
			    ASN1_INTEGER_set(bc->pathlen, t->pathlen);
	}
	ok = ok &&
	    X509_add1_ext_i2d(
	        cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

static int
ref_eku(X509 *cert, const int *nids, size_t count)
{
	EXTENDED_KEY_USAGE *eku;
	size_t i;
	int ok;

	if (count == 0)
		return 1;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return 0;
	for (i = 0, ok = 1; ok && i < count; i++)
		ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nids[i])) > 0;
	ok = ok &&
	    X509_add1_ext_i2d(
	        cert, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
	sk_ASN1_OBJECT_free(eku);
	return ok;
}

static GENERAL_NAME *
ref_uri(const char *url)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *uri = ASN1_IA5STRING_new();

	if (gn == NULL || uri == NULL || !ASN1_STRING_set(uri, url, -1)) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(uri);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	return gn;
}

/* CRL distribution point with one fullName URI, as structures. */
static int
ref_crldp(X509 *cert, const char *url)
{
	CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	GENERAL_NAME *gn = ref_uri(url);
	int ok = 0;

	if (dps == NULL || dp == NULL || gn == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto out;
	gn = NULL;
	dp->distpoint->type = 0;
	if (!sk_DIST_POINT_push(dps, dp))
		goto out;
	dp = NULL;
	ok = X509_add1_ext_i2d(cert, NID_crl_distribution_points, dps, 0,
	         X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return ok;
}

static int
ref_aia(X509 *cert, const char *ocsp, const char *issuers)
{
	AUTHORITY_INFO_ACCESS *aia;
	ACCESS_DESCRIPTION *ad;
	const char *urls[2] = {ocsp, issuers};
	const int methods[2] = {NID_ad_OCSP, NID_ad_ca_issuers};
	int i, ok = 1;

	if (ocsp == NULL && issuers == NULL)
		return 1;
	if ((aia = AUTHORITY_INFO_ACCESS_new()) == NULL)
		return 0;
	for (i = 0; ok && i < 2; i++) {
		if (urls[i] == NULL)
			continue;
		if ((ad = ACCESS_DESCRIPTION_new()) == NULL)
			ok = 0;
		else {
			ad->method = OBJ_nid2obj(methods[i]);
			GENERAL_NAME_free(ad->location);
			ok = (ad->location = ref_uri(urls[i])) != NULL &&
			    sk_ACCESS_DESCRIPTION_push(aia, ad) > 0;
			if (!ok)
				ACCESS_DESCRIPTION_free(ad);
		}
	}
	ok = ok &&
	    X509_add1_ext_i2d(
	        cert, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) == 1;
	AUTHORITY_INFO_ACCESS_free(aia);
	return ok;
}

X509 *
testutil_cert_x509(const struct ca_template *t, const uint8_t *serial,
    size_t serial_len, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *cert = X509_new();
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	const EVP_MD *md = NULL;
	int ok;

	if (cert == NULL)
		return NULL;
	if (EVP_PKEY_get_base_id(issuer_key) != EVP_PKEY_ED25519)
		md = EVP_get_digestbynid(t->md_nid);
	ok = X509_set_version(cert, X509_VERSION_3) &&
	    X509_set_subject_name(cert, t->subject) &&
	    X509_set_issuer_name(
	        cert, issuer ? X509_get_subject_name(issuer) : t->subject) &&
	    X509_set_pubkey(cert, t->pubkey) &&
	    (bn = BN_bin2bn(serial, (int)serial_len, NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL &&
	    ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)t->not_before) &&
	    ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)t->not_after);
	BN_free(bn);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	ok = ok && ref_constraints(cert, t) &&
	    ref_key_usage(cert, t->key_usage) &&
	    ref_eku(cert, t->eku_nids, t->eku_count) &&
	    ref_ext_conf(cert, &ctx, NID_subject_key_identifier, "hash") &&
	    ref_ext_conf(
	        cert, &ctx, NID_authority_key_identifier, "keyid:always");
	if (ok && t->san != NULL && sk_GENERAL_NAME_num(t->san) > 0)
		ok = X509_add1_ext_i2d(cert, NID_subject_alt_name,
		         (void *)t->san, t->san_critical,
		         X509V3_ADD_DEFAULT) == 1;
	if (ok && t->ocsp_nocheck)
		ok = ref_ext_conf(
		    cert, &ctx, NID_id_pkix_OCSP_noCheck, "ignored");
	if (ok && t->crl_url != NULL)
		ok = ref_crldp(cert, t->crl_url);
	ok = ok && ref_aia(cert, t->ocsp_url, t->ca_issuers_url);
	if (ok && t->profile != NULL)
		ok = ca_certpolicy_add(cert, t->profile) == ST_OK;
	if (!ok || X509_sign(cert, issuer_key, md) <= 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* The shared soft signer and every handle given out, freed at exit. */
static struct signer *test_signer;
static struct signer_key **test_keys;
static size_t test_key_count;

void
testutil_signer_free(void)
{
	size_t i;

	for (i = 0; i < test_key_count; i++)
		signer_key_free(test_keys[i]);
	free(test_keys);
	signer_close(test_signer);
	test_keys = NULL;
	test_key_count = 0;
	test_signer = NULL;
}

const struct signer_key *
testutil_signer_key(EVP_PKEY *priv, enum signer_role role)
{
	struct signer_key *key = NULL, **more;
	char label[64];

	if (test_signer == NULL) {
		if (signer_soft_open(NULL, NULL, 1, &test_signer) != ST_OK)
			return NULL;
		atexit(testutil_signer_free);
	}
	snprintf(label, sizeof(label), "test-%p-%d", (void *)priv, (int)role);
	if (signer_soft_key_add(test_signer, label, role, priv, &key) != ST_OK)
		return NULL;
	if ((more = realloc(test_keys, (test_key_count + 1) * sizeof(*more))) ==
	    NULL) {
		signer_key_free(key);
		return NULL;
	}
	test_keys = more;
	test_keys[test_key_count++] = key;
	return key;
}
