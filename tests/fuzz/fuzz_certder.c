/*
 * libFuzzer target: the certificate template (ca/certder) driven with
 * arbitrary settings and per-certificate inputs read from the bytes:
 * issuer and key type, basic constraints, key usage, EKUs, OCSP no-check,
 * URLs, profile name, serial, validity, subject attributes and SANs of
 * any type and content. Whatever the filler accepts must parse with
 * d2i_X509 over exactly its bytes, re-encode to the same bytes, and equal
 * what OpenSSL's X509 API builds for the same inputs (testutil_cert_x509)
 * once OpenSSL's signature is put in.
 *
 * Input: a sequence of fields, each taken from the front; a field that
 * runs past the end reads as zero/empty. An input starting with 'K' is a
 * SubjectPublicKeyInfo instead: whatever d2i_X509_PUBKEY decodes,
 * ca_certder_spki must write as i2d_PUBKEY does, or refuse.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certder.h"
#include "ca/issue.h"
#include "tests/unit/testutil.h"

struct fuzz_issuer {
	const char *spec;
	int md_nid;
	EVP_PKEY *key;
	X509 *cert;
};

static struct fuzz_issuer issuers[] = {{"ec:P-256", NID_sha256, NULL, NULL},
    {"ec:P-384", NID_sha384, NULL, NULL}, {"rsa:2048", NID_sha256, NULL, NULL},
    {"ed25519", NID_undef, NULL, NULL}};
#define ISSUERS (sizeof(issuers) / sizeof(issuers[0]))

static const char *const key_specs[] = {
    "ec:P-256", "ec:P-384", "rsa:2048", "ed25519"};
#define KEYS (sizeof(key_specs) / sizeof(key_specs[0]))
static EVP_PKEY *keys[KEYS];

static const int eku_pool[] = {NID_client_auth, NID_server_auth, NID_OCSP_sign,
    NID_code_sign, NID_email_protect, NID_time_stamp};
static const int attr_pool[] = {NID_countryName, NID_organizationName,
    NID_organizationalUnitName, NID_commonName, NID_serialNumber,
    NID_localityName};

/* The input, read from the front. */
struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned
in_u8(struct in *in)
{
	unsigned v = 0;

	if (in->n > 0) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static int64_t
in_i64(struct in *in, int bytes)
{
	int64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v = v << 8 | in_u8(in);
	return v;
}

/* A length-prefixed field (at most max bytes) copied NUL-terminated. */
static size_t
in_str(struct in *in, char *out, size_t max)
{
	size_t len = in_u8(in), i;

	if (max > 255)
		len = len << 8 | in_u8(in);
	if (len > max)
		len = max;
	for (i = 0; i < len; i++)
		out[i] = (char)in_u8(in);
	out[len] = '\0';
	return len;
}

static int
setup(void)
{
	struct ca_template t;
	X509_NAME *name;
	static const uint8_t one[] = {1};
	size_t i;

	for (i = 0; i < KEYS; i++)
		if ((keys[i] = testutil_key(key_specs[i])) == NULL)
			return -1;
	for (i = 0; i < ISSUERS; i++) {
		if ((issuers[i].key = testutil_key(issuers[i].spec)) == NULL ||
		    (name = X509_NAME_new()) == NULL)
			return -1;
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)"fuzz CA", -1, -1, 0);
		memset(&t, 0, sizeof(t));
		t.subject = name;
		t.pubkey = issuers[i].key;
		t.not_before = 1767225600;
		t.not_after = 1767225600 + 86400;
		t.is_ca = 1;
		t.pathlen = -1;
		t.key_usage = X509v3_KU_KEY_CERT_SIGN;
		t.md_nid = issuers[i].md_nid;
		issuers[i].cert =
		    testutil_cert_x509(&t, one, 1, NULL, issuers[i].key);
		X509_NAME_free(name);
		if (issuers[i].cert == NULL)
			return -1;
	}
	return 0;
}

/* The SANs as OpenSSL's GENERAL_NAMES, for the reference. */
static GENERAL_NAMES *
san_names(const struct ca_certder_san *san, size_t count)
{
	static const int types[CA_CERTDER_SAN_TYPE_MAX] = {
	    GEN_EMAIL, GEN_DNS, GEN_URI, GEN_IPADD};
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn;
	ASN1_STRING *s;
	size_t i;

	for (i = 0; names != NULL && i < count; i++) {
		gn = GENERAL_NAME_new();
		s = san[i].type == CA_CERTDER_SAN_IP ? ASN1_OCTET_STRING_new()
		                                     : ASN1_IA5STRING_new();
		if (gn == NULL || s == NULL ||
		    !ASN1_STRING_set(s, san[i].value, (int)san[i].len)) {
			GENERAL_NAME_free(gn);
			ASN1_STRING_free(s);
			abort();
		}
		GENERAL_NAME_set0_value(gn, types[san[i].type], s);
		if (!sk_GENERAL_NAME_push(names, gn))
			abort();
	}
	return names;
}

/* A key as a CSR would carry it: written as i2d_PUBKEY writes it. */
static void
spki_one(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509_PUBKEY *xpk = d2i_X509_PUBKEY(NULL, &p, (long)size);
	unsigned char *want = NULL;
	uint8_t *got = NULL;
	size_t got_len = 0;
	int want_len;

	if (xpk == NULL)
		return;
	if (ca_certder_spki(xpk, &got, &got_len) == ST_OK) {
		want_len = i2d_PUBKEY(X509_PUBKEY_get0(xpk), &want);
		if (want_len <= 0 || (size_t)want_len != got_len ||
		    memcmp(want, got, got_len) != 0)
			abort();
	}
	OPENSSL_free(want);
	OPENSSL_free(got);
	X509_PUBKEY_free(xpk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct in in = {data, size};
	struct ca_certder_profile prof;
	struct ca_certder_san san[CA_CERTDER_SAN_MAX];
	struct ca_certder *tmpl = NULL;
	struct ca_certder_req r;
	struct ca_template t;
	struct fuzz_issuer *is;
	const ASN1_BIT_STRING *sig = NULL;
	static uint8_t values[CA_CERTDER_SAN_MAX][64];
	char crl[300], ocsp[300], issuers_url[300], profile[80], attr[80];
	uint8_t serial[24], *tbs = NULL, *der = NULL;
	unsigned char *subject_der = NULL, *again = NULL;
	uint8_t *spki = NULL;
	X509_PUBKEY *xpk = NULL;
	unsigned char *ref_der = NULL;
	const unsigned char *p;
	size_t tbs_len = 0, der_len = 0, i, count;
	int eku[4], flags, n, is_self, ref_len;
	X509_NAME *subject = NULL;
	GENERAL_NAMES *names = NULL;
	X509 *cert = NULL, *ref = NULL;
	EVP_PKEY *key;

	if (!ready) {
		if (setup() != 0)
			abort();
		ready = 1;
	}
	if (size > 0 && data[0] == 'K') {
		spki_one(data + 1, size - 1);
		return 0;
	}
	/* The template. */
	is = &issuers[in_u8(&in) % ISSUERS];
	key = keys[in_u8(&in) % KEYS];
	flags = (int)in_i64(&in, 2);
	is_self = flags & 1;
	memset(&prof, 0, sizeof(prof));
	prof.is_ca = (flags >> 1) & 1;
	prof.pathlen = (flags >> 2) & 1 ? (int)in_u8(&in) % 8 : -1;
	prof.key_usage = (unsigned)in_i64(&in, 2) & 0x80ff;
	prof.eku_count = (size_t)in_u8(&in) % 5;
	for (i = 0; i < prof.eku_count; i++)
		eku[i] = eku_pool[in_u8(&in) % 6];
	prof.eku_nids = eku;
	prof.ocsp_nocheck = (flags >> 3) & 1;
	in_str(&in, ocsp, sizeof(ocsp) - 1);
	in_str(&in, issuers_url, sizeof(issuers_url) - 1);
	in_str(&in, profile, sizeof(profile) - 1);
	prof.ocsp_url = (flags >> 4) & 1 ? ocsp : NULL;
	prof.ca_issuers_url = (flags >> 5) & 1 ? issuers_url : NULL;
	prof.profile = (flags >> 6) & 1 ? profile : NULL;
	prof.sig_key_type = EVP_PKEY_get_base_id(is->key);
	prof.md_nid = is->md_nid;
	if (ca_certder_new(&prof, is_self ? NULL : is->cert, &tmpl) != ST_OK)
		goto out;

	/* The certificate. */
	memset(&r, 0, sizeof(r));
	r.serial_len = in_u8(&in) % (sizeof(serial) + 1);
	for (i = 0; i < r.serial_len; i++)
		serial[i] = (uint8_t)in_u8(&in);
	r.serial = serial;
	r.not_before = in_i64(&in, 5) - ((int64_t)1 << 36);
	r.not_after = r.not_before + in_i64(&in, 5);
	if ((subject = X509_NAME_new()) == NULL)
		goto out;
	count = in_u8(&in) % 6;
	for (i = 0; i < count; i++) {
		int nid = attr_pool[in_u8(&in) % 6];
		int type = in_u8(&in) & 1 ? MBSTRING_UTF8 : MBSTRING_ASC;

		if (in_str(&in, attr, 64) == 0)
			continue;
		/* What OpenSSL refuses (a C of 3 letters) is left out. */
		(void)X509_NAME_add_entry_by_NID(
		    subject, nid, type, (const unsigned char *)attr, -1, -1, 0);
	}
	if ((n = i2d_X509_NAME(subject, &subject_der)) <= 0 ||
	    X509_PUBKEY_set(&xpk, is_self ? is->key : key) != 1 ||
	    ca_certder_spki(xpk, &spki, &r.spki_len) != ST_OK)
		goto out;
	r.subject = subject_der;
	r.subject_len = (size_t)n;
	r.spki = spki;
	r.san_count = in_u8(&in) % 8;
	for (i = 0; i < r.san_count; i++) {
		san[i].type = (enum ca_certder_san_type)(in_u8(&in) % 5);
		san[i].len = in_u8(&in) % (sizeof(values[i]) + 1);
		for (n = 0; (size_t)n < san[i].len; n++)
			values[i][n] = (uint8_t)in_u8(&in);
		san[i].value = values[i];
	}
	r.san = san;
	r.san_critical = (flags >> 7) & 1;
	in_str(&in, crl, sizeof(crl) - 1);
	r.crl_url = (flags >> 8) & 1 ? crl : NULL;
	if (ca_certder_tbs(tmpl, &r, &tbs, &tbs_len) != ST_OK)
		goto out;

	/* The reference, for the same inputs. */
	names = san_names(san, r.san_count);
	memset(&t, 0, sizeof(t));
	t.subject = subject;
	t.pubkey = is_self ? is->key : key;
	t.san = names;
	t.san_critical = r.san_critical;
	t.not_before = r.not_before;
	t.not_after = r.not_after;
	t.is_ca = prof.is_ca;
	t.pathlen = prof.pathlen;
	t.key_usage = prof.key_usage;
	t.eku_nids = prof.eku_nids;
	t.eku_count = prof.eku_count;
	t.ocsp_nocheck = prof.ocsp_nocheck;
	t.crl_url = r.crl_url;
	t.ocsp_url = prof.ocsp_url;
	t.ca_issuers_url = prof.ca_issuers_url;
	t.md_nid = is->md_nid;
	t.profile = prof.profile;
	if ((ref = testutil_cert_x509(&t, r.serial, r.serial_len,
	         is_self ? NULL : is->cert, is->key)) == NULL)
		abort();
	X509_get0_signature(&sig, NULL, ref);
	if (ca_certder_assemble(tmpl, tbs, tbs_len, ASN1_STRING_get0_data(sig),
	        (size_t)ASN1_STRING_length(sig), &der, &der_len) != ST_OK)
		abort();
	ref_len = i2d_X509(ref, &ref_der);
	if (ref_len <= 0 || (size_t)ref_len != der_len ||
	    memcmp(ref_der, der, der_len) != 0)
		abort();
	/* Parses over exactly its bytes and re-encodes to them. */
	p = der;
	if ((cert = d2i_X509(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len)
		abort();
	if ((n = i2d_X509(cert, &again)) <= 0 || (size_t)n != der_len ||
	    memcmp(again, der, der_len) != 0)
		abort();
	/* The TBS encoded afresh from what was parsed, not from the cache. */
	OPENSSL_free(again);
	again = NULL;
	if ((n = i2d_re_X509_tbs(cert, &again)) <= 0 || (size_t)n != tbs_len ||
	    memcmp(again, tbs, tbs_len) != 0)
		abort();
out:
	OPENSSL_free(ref_der);
	OPENSSL_free(again);
	X509_free(cert);
	X509_free(ref);
	GENERAL_NAMES_free(names);
	OPENSSL_free(der);
	free(tbs);
	OPENSSL_free(spki);
	X509_PUBKEY_free(xpk);
	OPENSSL_free(subject_der);
	X509_NAME_free(subject);
	ca_certder_free(tmpl);
	return 0;
}
