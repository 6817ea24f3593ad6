/*
 * ca/certder: the TBSCertificate filled from a per-profile template is
 * byte for byte what OpenSSL's X509 API writes for the same inputs
 * (testutil_cert_x509: X509_set_*, X509V3 extensions, X509_sign), for
 * every profile of every policy in policies/ and tests/data/policy that
 * loads, every key type the profile allows, every SAN form and with and
 * without each optional extension, under P-256, P-384, RSA and Ed25519
 * issuers. The whole certificate is compared with OpenSSL's signature put
 * into ours; deterministic signatures (RSA, Ed25519) are compared as made
 * by the signer too, and every one verifies. Then what the filler
 * refuses, each with the field it names.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certder.h"
#include "ca/der.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "common/digest.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define OCSP_URL "http://127.0.0.1:8080/ocsp"
#define ISSUERS_URL "http://127.0.0.1:8080/ca/issuing.crt"
#define CRL_URL "http://127.0.0.1:8080/crl/issuing-3.crl"

/* Subject keys: what profiles may allow, and Ed25519, which none does. */
static const char *const key_specs[] = {
    "ec:P-256", "ec:P-384", "rsa:2048", "rsa:3072", "rsa:4096", "ed25519"};
#define KEY_COUNT (sizeof(key_specs) / sizeof(key_specs[0]))
static EVP_PKEY *keys[KEY_COUNT];

/* Issuers: the issuing CA's P-256, the root's P-384, RSA, Ed25519. */
struct issuer {
	const char *spec;
	int md_nid;
	EVP_PKEY *key;
	X509 *cert;
};
static struct issuer issuers[] = {{"ec:P-256", NID_sha256, NULL, NULL},
    {"ec:P-384", NID_sha384, NULL, NULL}, {"rsa:2048", NID_sha256, NULL, NULL},
    {"ed25519", NID_undef, NULL, NULL}};
#define ISSUER_COUNT (sizeof(issuers) / sizeof(issuers[0]))

static int compared, mismatches;

/* ---- inputs ------------------------------------------------------------ */

static GENERAL_NAME *
gn_text(int type, const char *v)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL || !ASN1_STRING_set(s, v, -1)) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	return gn;
}

static GENERAL_NAME *
gn_ip(const char *v)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *s = a2i_IPADDRESS(v);

	if (gn == NULL || s == NULL) {
		GENERAL_NAME_free(gn);
		ASN1_OCTET_STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
	return gn;
}

/* SAN form k: 0 none, DNS, IPv4, IPv6, URI, email, 6 several. */
#define SAN_FORMS 7
static GENERAL_NAMES *
san_form(int k)
{
	GENERAL_NAMES *names;
	GENERAL_NAME *v[6];
	int n = 0, i;

	if (k == 0)
		return NULL;
	if ((names = GENERAL_NAMES_new()) == NULL)
		return NULL;
	if (k == 1 || k == 6)
		v[n++] = gn_text(GEN_DNS, "gw-1.gw.tessera.invalid");
	if (k == 2 || k == 6)
		v[n++] = gn_ip("192.0.2.7");
	if (k == 3 || k == 6)
		v[n++] = gn_ip("2001:db8::1:7");
	if (k == 4 || k == 6)
		v[n++] = gn_text(GEN_URI, "urn:dev:ab-12");
	if (k == 5 || k == 6)
		v[n++] = gn_text(GEN_EMAIL, "dev-12@example.com");
	if (k == 6)
		v[n++] = gn_text(GEN_DNS, "second.example");
	for (i = 0; i < n; i++)
		if (v[i] == NULL || !sk_GENERAL_NAME_push(names, v[i]))
			CHECK(0);
	return names;
}

/* Subject k: 0 CN, 1 O + CN + serialNumber (UTF-8), 2 empty. */
static X509_NAME *
subject_form(int k)
{
	X509_NAME *name = X509_NAME_new();

	if (name == NULL)
		return NULL;
	if (k == 1) {
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
		    (const unsigned char *)"Fabrik Gr\xc3\xbcn", -1, -1, 0);
		X509_NAME_add_entry_by_NID(name, NID_serialNumber,
		    V_ASN1_PRINTABLESTRING, (const unsigned char *)"SN-0042",
		    -1, -1, 0);
	}
	if (k != 2)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)"ab-12", -1, -1, 0);
	return name;
}

/* Validity k: now; across 2050 (UTCTime to GeneralizedTime); to 9999. */
static void
validity_form(int k, int64_t *nb, int64_t *na)
{
	int64_t now = (int64_t)time(NULL);

	if (k == 0) {
		*nb = now - 300;
		*na = now + 30 * 86400;
	} else if (k == 1) {
		*nb = 2524608000LL - 86400;
		*na = 2524608000LL + 86399;
	} else {
		*nb = 1893456000LL; /* 2030 */
		*na = 253402300799LL; /* 9999-12-31T23:59:59Z */
	}
}

/* ---- comparing --------------------------------------------------------- */

static void
report(const char *what, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	size_t i = 0;

	if (++mismatches > 5)
		return;
	while (i < alen && i < blen && a[i] == b[i])
		i++;
	fprintf(stderr,
	    "%s: %zu bytes vs OpenSSL's %zu, first difference at "
	    "%zu\n",
	    what, alen, blen, i);
}

/*
 * Fill tmpl from t (its per-certificate fields) with serial, and compare
 * with the reference for the same inputs.
 */
static void
compare(const struct ca_certder *tmpl, const struct ca_template *t,
    const struct issuer *is, const uint8_t *serial, size_t serial_len,
    const char *what)
{
	struct ca_certder_san san[CA_CERTDER_SAN_MAX];
	struct ca_certder_req r;
	const ASN1_BIT_STRING *sig = NULL;
	unsigned char *subject = NULL, *ref_der = NULL;
	uint8_t *spki = NULL, *tbs = NULL, *der = NULL, *own = NULL;
	uint8_t *own_der = NULL;
	size_t tbs_len = 0, der_len = 0, own_len = 0, own_der_len = 0;
	const unsigned char *p;
	X509 *ref, *back = NULL;
	X509_PUBKEY *xpk = NULL;
	int ref_len = -1, n;

	ref = testutil_cert_x509(t, serial, serial_len, is->cert, is->key);
	CHECK(ref != NULL);
	if (ref == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.serial = serial;
	r.serial_len = serial_len;
	r.not_before = t->not_before;
	r.not_after = t->not_after;
	n = i2d_X509_NAME(t->subject, &subject);
	r.subject = subject;
	r.subject_len = n > 0 ? (size_t)n : 0;
	/* The key as a CSR carries it, written by ca_certder_spki. */
	CHECK(X509_PUBKEY_set(&xpk, t->pubkey) == 1);
	CHECK_ST(ca_certder_spki(xpk, &spki, &r.spki_len), ST_OK);
	r.spki = spki;
	CHECK_ST(
	    ca_certder_san_from(t->san, san, CA_CERTDER_SAN_MAX, &r.san_count),
	    ST_OK);
	r.san = san;
	r.san_critical = t->san_critical;
	r.crl_url = t->crl_url;
	CHECK_ST(ca_certder_tbs(tmpl, &r, &tbs, &tbs_len), ST_OK);
	X509_get0_signature(&sig, NULL, ref);
	ref_len = i2d_X509(ref, &ref_der);
	if (tbs == NULL || sig == NULL || ref_len <= 0)
		goto out;
	/* With OpenSSL's signature: every byte the same. */
	CHECK_ST(
	    ca_certder_assemble(tmpl, tbs, tbs_len, ASN1_STRING_get0_data(sig),
	        (size_t)ASN1_STRING_length(sig), &der, &der_len),
	    ST_OK);
	compared++;
	if (der_len != (size_t)ref_len || memcmp(der, ref_der, der_len) != 0) {
		CHECK(0);
		report(what, der, der_len, ref_der, (size_t)ref_len);
	} else
		CHECK(1);
	/* With our own signature: it verifies, and where signatures are
	 * deterministic it is OpenSSL's to the byte. */
	CHECK_ST(
	    signer_sign(testutil_signer_key(is->key,
	                    t->is_ca ? SIGNER_ROLE_ROOT : SIGNER_ROLE_ISSUING),
	        t->is_ca ? SIGNER_PURPOSE_CA_CERT : SIGNER_PURPOSE_SERVICE_CERT,
	        ca_certder_md_nid(tmpl), tbs, tbs_len, &own, &own_len),
	    ST_OK);
	CHECK_ST(ca_certder_assemble(
	             tmpl, tbs, tbs_len, own, own_len, &own_der, &own_der_len),
	    ST_OK);
	p = own_der;
	back = own_der ? d2i_X509(NULL, &p, (long)own_der_len) : NULL;
	CHECK(back != NULL && p == own_der + own_der_len);
	CHECK(back != NULL && X509_verify(back, is->key) == 1);
	if (EVP_PKEY_get_base_id(is->key) != EVP_PKEY_EC)
		CHECK(own_der_len == (size_t)ref_len &&
		    memcmp(own_der, ref_der, own_der_len) == 0);
out:
	X509_free(back);
	OPENSSL_free(own_der);
	OPENSSL_free(own);
	OPENSSL_free(der);
	free(tbs);
	OPENSSL_free(ref_der);
	OPENSSL_free(spki);
	OPENSSL_free(subject);
	X509_PUBKEY_free(xpk);
	X509_free(ref);
}

/* A random serial of 1..20 content octets, sometimes with the top bit. */
static size_t
random_serial(uint8_t serial[20], unsigned r)
{
	size_t len = 1 + r % 20;

	if (RAND_bytes(serial, (int)len) != 1)
		CHECK(0);
	if (serial[0] == 0)
		serial[0] = 1;
	/* A set top bit needs a 0x00 in front: 21 octets is too many. */
	if (len == 20 || (r & 0x100) == 0)
		serial[0] &= 0x7f;
	else
		serial[0] |= 0x80;
	if (serial[0] == 0)
		serial[0] = 0x11;
	return len;
}

/* 1 if the profile lets key (its spec) be certified. */
static int
key_allowed(const struct policy_profile *pp, const char *spec)
{
	int nid = strcmp(spec, "ec:P-256") == 0 ? NID_X9_62_prime256v1
	    : strcmp(spec, "ec:P-384") == 0     ? NID_secp384r1
	                                        : NID_undef;
	int bits =
	    strncmp(spec, "rsa:", 4) == 0 ? (int)strtol(spec + 4, NULL, 10) : 0;
	size_t i;

	for (i = 0; i < pp->key_count; i++) {
		if (pp->keys[i].kind == POLICY_KEY_EC &&
		    pp->keys[i].curve_nid == nid && nid != NID_undef)
			return 1;
		if (pp->keys[i].kind == POLICY_KEY_RSA && bits > 0 &&
		    bits >= pp->keys[i].min_bits && bits <= pp->rsa_max_bits)
			return 1;
	}
	return 0;
}

/*
 * One profile: every allowed key under every issuer, each variant a
 * combination of SAN form, subject, validity and the optional extensions
 * (bit 0 CRL DP, 1 AIA OCSP, 2 AIA caIssuers, 3 policy OID, 4 EKUs).
 */
static void
test_profile(const char *file, const struct policy_profile *pp)
{
	struct ca_certder_profile prof;
	struct ca_certder *tmpl;
	struct ca_template t;
	X509_NAME *subject;
	GENERAL_NAMES *san;
	uint8_t serial[20];
	size_t k, i, serial_len;
	char what[256];
	int v, keys_tried = 0;

	for (k = 0; k < KEY_COUNT; k++) {
		if (!key_allowed(pp, key_specs[k]))
			continue;
		keys_tried++;
		for (i = 0; i < ISSUER_COUNT; i++) {
			for (v = 0; v < 32; v++) {
				ca_cert_profile_from_policy(pp,
				    v & 2 ? OCSP_URL : NULL,
				    v & 4 ? ISSUERS_URL : NULL,
				    EVP_PKEY_get_base_id(issuers[i].key),
				    &prof);
				if (!(v & 8))
					prof.profile = NULL;
				if (!(v & 16))
					prof.eku_count = 0;
				tmpl = NULL;
				CHECK_ST(ca_certder_new(
				             &prof, issuers[i].cert, &tmpl),
				    ST_OK);
				subject = subject_form(v % 3);
				san = san_form(v % SAN_FORMS);
				memset(&t, 0, sizeof(t));
				t.subject = subject;
				t.pubkey = keys[k];
				t.san = san;
				t.san_critical = v % 3 == 2;
				validity_form(
				    (v / 3) % 3, &t.not_before, &t.not_after);
				t.pathlen = -1;
				t.key_usage = prof.key_usage;
				t.eku_nids = prof.eku_nids;
				t.eku_count = prof.eku_count;
				t.crl_url = v & 1 ? CRL_URL : NULL;
				t.ocsp_url = prof.ocsp_url;
				t.ca_issuers_url = prof.ca_issuers_url;
				t.md_nid = pp->sig_md_nid;
				t.profile = prof.profile;
				serial_len = random_serial(serial,
				    (unsigned)v * 37 + (unsigned)k * 256);
				snprintf(what, sizeof(what),
				    "%s profile %s key %s issuer %s variant %d",
				    file, pp->name, key_specs[k],
				    issuers[i].spec, v);
				if (tmpl != NULL)
					compare(tmpl, &t, &issuers[i], serial,
					    serial_len, what);
				ca_certder_free(tmpl);
				GENERAL_NAMES_free(san);
				X509_NAME_free(subject);
			}
		}
	}
	/* Every profile allows some key tessera can make. */
	CHECK(keys_tried > 0);
}

/* Every profile of every policy file in dir that loads. */
static int
test_policies(const char *dir)
{
	const struct policy_profile *pp;
	struct policy *policy;
	struct dirent *de;
	char path[1024];
	size_t i, n;
	int loaded = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		CHECK(d != NULL);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* The bad policies are refused at load, so never issue. */
		if (policy_load(path, &policy) != ST_OK)
			continue;
		loaded++;
		for (i = 0; (pp = policy_profile_at(policy, i)) != NULL; i++)
			test_profile(de->d_name, pp);
		policy_free(policy);
	}
	closedir(d);
	return loaded;
}

/*
 * What no policy profile has: CA certificates (pathlen or none), OCSP
 * no-check, self-signed, and Ed25519 keys certified.
 */
static void
test_service_kinds(void)
{
	static const int ocsp_eku[] = {NID_OCSP_sign};
	struct ca_certder_profile prof;
	struct ca_certder *tmpl;
	struct ca_template t;
	X509_NAME *subject = subject_form(1);
	GENERAL_NAMES *san = san_form(6);
	uint8_t serial[20];
	size_t i, k, serial_len;
	char what[128];
	int kind;

	for (kind = 0; kind < 4; kind++) {
		for (i = 0; i < ISSUER_COUNT; i++) {
			for (k = 0; k < KEY_COUNT; k += kind == 3 ? 1 : 5) {
				memset(&t, 0, sizeof(t));
				t.subject = subject;
				t.pubkey = kind == 3 ? keys[k] : issuers[i].key;
				t.not_before = 1767225600;
				t.not_after = 1767225600 + 3650LL * 86400;
				t.is_ca = kind <= 1;
				t.pathlen = kind == 0 ? 0 : -1;
				t.key_usage = t.is_ca
				    ? X509v3_KU_KEY_CERT_SIGN |
				        X509v3_KU_CRL_SIGN
				    : X509v3_KU_DIGITAL_SIGNATURE;
				t.eku_nids = kind == 2 ? ocsp_eku : NULL;
				t.eku_count = kind == 2;
				t.ocsp_nocheck = kind == 2;
				t.san = kind == 3 ? san : NULL;
				t.md_nid = issuers[i].md_nid;
				t.crl_url = kind >= 2 ? CRL_URL : NULL;
				t.ocsp_url = kind != 1 ? OCSP_URL : NULL;
				t.profile = kind >= 2 ? "tls-server" : NULL;
				ca_cert_profile_of(&t, issuers[i].key, &prof);
				serial_len = random_serial(serial, (unsigned)k);
				snprintf(what, sizeof(what),
				    "service kind %d issuer %s key %s", kind,
				    issuers[i].spec, key_specs[k]);
				tmpl = NULL;
				/* The CAs self-signed, as the ceremony makes a
				 * root; the others under the issuer. */
				CHECK_ST(ca_certder_new(&prof,
				             kind == 1 ? NULL : issuers[i].cert,
				             &tmpl),
				    ST_OK);
				if (tmpl != NULL && kind == 1) {
					struct issuer self = issuers[i];
					self.cert = NULL;
					compare(tmpl, &t, &self, serial,
					    serial_len, what);
				} else if (tmpl != NULL)
					compare(tmpl, &t, &issuers[i], serial,
					    serial_len, what);
				ca_certder_free(tmpl);
			}
		}
	}
	GENERAL_NAMES_free(san);
	X509_NAME_free(subject);
}

/*
 * ca_certder_spki is i2d_PUBKEY to the byte: every key type, an EC point
 * sent compressed (kept so, as OpenSSL keeps it), and keys as parsed from
 * DER, the way a CSR's arrive.
 */
static void
test_spki(void)
{
	EVP_PKEY *c = testutil_key("ec:P-256");
	unsigned char *want = NULL, *der = NULL;
	const unsigned char *p;
	X509_PUBKEY *xpk;
	uint8_t *got;
	size_t i, got_len;
	int n, want_len;

	CHECK(c != NULL &&
	    EVP_PKEY_set_utf8_string_param(c, "point-format", "compressed") ==
	        1);
	for (i = 0; i <= KEY_COUNT; i++) {
		EVP_PKEY *k = i < KEY_COUNT ? keys[i] : c;

		/* Through DER, as d2i_X509_REQ reads a CSR's key. */
		n = i2d_PUBKEY(k, &der);
		p = der;
		xpk = n > 0 ? d2i_X509_PUBKEY(NULL, &p, n) : NULL;
		CHECK(xpk != NULL);
		got = NULL;
		CHECK_ST(ca_certder_spki(xpk, &got, &got_len), ST_OK);
		want = NULL;
		want_len = xpk ? i2d_PUBKEY(X509_PUBKEY_get0(xpk), &want) : -1;
		CHECK(want_len > 0 && got != NULL &&
		    got_len == (size_t)want_len &&
		    memcmp(got, want, got_len) == 0);
		/* And the same bytes as the key's own encoding. */
		CHECK(got != NULL && (size_t)n == got_len &&
		    memcmp(got, der, got_len) == 0);
		if (i == KEY_COUNT)
			CHECK(got_len == 59); /* 33-octet compressed point */
		OPENSSL_free(got);
		OPENSSL_free(want);
		OPENSSL_free(der);
		der = NULL;
		X509_PUBKEY_free(xpk);
	}
	CHECK_ST(ca_certder_spki(NULL, &got, &got_len), ST_MALFORMED);
	EVP_PKEY_free(c);
}

/* ---- refusals ---------------------------------------------------------- */

static void
test_refusals(void)
{
	static const uint8_t zero[] = {0, 0}, one[] = {1};
	uint8_t big[21], top20[20], bad[64];
	struct ca_certder_profile prof;
	struct ca_certder_san san[2];
	struct ca_certder *tmpl = NULL;
	struct ca_certder_req r, good;
	X509_NAME *name = subject_form(0);
	unsigned char *subject = NULL, *spki = NULL;
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	char url[1100];
	int n;

	memset(&prof, 0, sizeof(prof));
	prof.pathlen = -1;
	prof.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	prof.sig_key_type = EVP_PKEY_EC;
	prof.md_nid = NID_sha256;
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_OK);
	n = i2d_X509_NAME(name, &subject);
	CHECK(n > 0);
	memset(&good, 0, sizeof(good));
	good.subject = subject;
	good.subject_len = (size_t)n;
	n = i2d_PUBKEY(keys[0], &spki);
	CHECK(n > 0);
	good.spki = spki;
	good.spki_len = (size_t)n;
	good.serial = one;
	good.serial_len = 1;
	good.not_before = 1767225600;
	good.not_after = 1767225600 + 86400;
	if (tmpl == NULL || subject == NULL || spki == NULL)
		goto out;
	CHECK_ST(ca_certder_tbs(tmpl, &good, &tbs, &tbs_len), ST_OK);
	free(tbs);
	tbs = NULL;

#define REFUSED(field, want, needle)                                           \
	do {                                                                   \
		r = good;                                                      \
		field;                                                         \
		CHECK_ST(ca_certder_tbs(tmpl, &r, &tbs, &tbs_len), want);      \
		CHECK(tbs == NULL && tbs_len == 0);                            \
		CHECK_DETAIL(needle);                                          \
	} while (0)

	/* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
	REFUSED(r.serial = zero; r.serial_len = 2, ST_MALFORMED, "zero");
	REFUSED(r.serial = NULL; r.serial_len = 0, ST_MALFORMED, "zero");
	memset(big, 0x11, sizeof(big));
	REFUSED(r.serial = big; r.serial_len = 21, ST_MALFORMED, "20 octets");
	memset(top20, 0x81, sizeof(top20));
	REFUSED(r.serial = top20; r.serial_len = 20, ST_MALFORMED, "20 octets");
	/* Times. */
	REFUSED(r.not_after = r.not_before, ST_MALFORMED, "notAfter");
	REFUSED(r.not_before = -1, ST_MALFORMED, "validity");
	REFUSED(r.not_after = 253402300800LL, ST_MALFORMED, "validity");
	/* Subject and key: empty, truncated, trailing bytes, wrong type. */
	REFUSED(r.subject_len = 0, ST_MALFORMED, "subject");
	REFUSED(r.subject = NULL, ST_MALFORMED, "subject");
	REFUSED(r.subject_len -= 1, ST_MALFORMED, "subject");
	memcpy(bad, subject, good.subject_len < 60 ? good.subject_len : 60);
	REFUSED(r.subject = bad;
	        r.subject_len = good.subject_len + 1, ST_MALFORMED, "subject");
	bad[0] = 0x31;
	REFUSED(r.subject = bad, ST_MALFORMED, "subject");
	REFUSED(r.spki_len = 0, ST_MALFORMED, "subjectPublicKeyInfo");
	REFUSED(r.spki_len -= 1, ST_MALFORMED, "subjectPublicKeyInfo");
	REFUSED(r.spki = subject; r.spki_len = good.subject_len, ST_MALFORMED,
	        "subjectPublicKeyInfo");
	REFUSED(r.spki_len = LIMIT_CERT_DER + 1, ST_MALFORMED,
	    "subjectPublicKeyInfo");
	/* SANs. */
	san[0].type = CA_CERTDER_SAN_DNS;
	san[0].value = (const uint8_t *)"a\nb";
	san[0].len = 3;
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "IA5");
	san[0].value = (const uint8_t *)"a\0b";
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "IA5");
	san[0].value = (const uint8_t *)"\xc3\xa9";
	san[0].len = 2;
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "IA5");
	san[0].len = 0;
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "empty");
	san[0].type = CA_CERTDER_SAN_IP;
	san[0].value = one;
	san[0].len = 5;
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "iPAddress");
	san[0].type = CA_CERTDER_SAN_TYPE_MAX;
	REFUSED(r.san = san; r.san_count = 1, ST_MALFORMED, "type");
	REFUSED(r.san = NULL; r.san_count = 1, ST_MALFORMED, "missing");
	REFUSED(r.san = san; r.san_count = CA_CERTDER_SAN_MAX + 1, ST_LIMIT,
	        "subjectAltName");
	/* CRL URL. */
	REFUSED(r.crl_url = "", ST_MALFORMED, "CRL distribution point");
	REFUSED(
	    r.crl_url = "http://a b/", ST_MALFORMED, "CRL distribution point");
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	REFUSED(r.crl_url = url, ST_MALFORMED, "CRL distribution point");
#undef REFUSED

	/* Templates: an issuer without an SKI, a key type or digest that
	 * goes with no signature, pathlen on a leaf, a bad profile name. */
	ca_certder_free(tmpl);
	tmpl = NULL;
	prof.md_nid = NID_undef;
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	CHECK(tmpl == NULL);
	prof.md_nid = NID_sha256;
	prof.sig_key_type = EVP_PKEY_DSA;
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	prof.sig_key_type = EVP_PKEY_ED25519;
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	prof.sig_key_type = EVP_PKEY_EC;
	prof.pathlen = 0;
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	prof.pathlen = -1;
	prof.profile = "Not A Name";
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	prof.profile = NULL;
	prof.ocsp_url = "http://a b";
	CHECK_ST(ca_certder_new(&prof, issuers[0].cert, &tmpl), ST_MALFORMED);
	CHECK_DETAIL("AIA OCSP");
	prof.ocsp_url = NULL;
	{
		/* An issuer without a subjectKeyIdentifier. */
		X509 *no_ski = X509_new();
		X509_set_subject_name(no_ski, name);
		CHECK_ST(ca_certder_new(&prof, no_ski, &tmpl), ST_MALFORMED);
		CHECK_DETAIL("subjectKeyIdentifier");
		X509_free(no_ski);
	}
	CHECK(tmpl == NULL);
out:
	ca_certder_free(tmpl);
	OPENSSL_free(spki);
	OPENSSL_free(subject);
	X509_NAME_free(name);
}

/* ca_certder_san_from refuses the GeneralName types it does not write. */
static void
test_san_from(void)
{
	struct ca_certder_san out[2];
	GENERAL_NAMES *names = san_form(6);
	GENERAL_NAME *gn = GENERAL_NAME_new();
	size_t count = 9;

	CHECK_ST(ca_certder_san_from(names, out, 2, &count), ST_LIMIT);
	CHECK(count == 0);
	CHECK_ST(ca_certder_san_from(NULL, out, 2, &count), ST_OK);
	CHECK(count == 0);
	GENERAL_NAMES_free(names);
	names = GENERAL_NAMES_new();
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, X509_NAME_new());
	sk_GENERAL_NAME_push(names, gn);
	CHECK_ST(ca_certder_san_from(names, out, 2, &count), ST_MALFORMED);
	CHECK_DETAIL("GeneralName type");
	GENERAL_NAMES_free(names);
}

/*
 * ca_cert_sign (the service certificates' path) through the template: the
 * certificate verifies under its issuer and carries the serial it names.
 */
/*
 * digest_sigalg_der against OpenSSL's encoding of the same
 * AlgorithmIdentifier (what X509_sign writes), for the pairs it keeps
 * ready and for those it builds (SHA-224, SHA-1).
 */
static void
test_sigalgs(void)
{
	static const struct {
		int key_type, md_nid, ptype;
	} pairs[] = {
	    {EVP_PKEY_EC, NID_sha256, V_ASN1_UNDEF},
	    {EVP_PKEY_EC, NID_sha384, V_ASN1_UNDEF},
	    {EVP_PKEY_EC, NID_sha512, V_ASN1_UNDEF},
	    {EVP_PKEY_EC, NID_sha224, V_ASN1_UNDEF},
	    {EVP_PKEY_RSA, NID_sha256, V_ASN1_NULL},
	    {EVP_PKEY_RSA, NID_sha384, V_ASN1_NULL},
	    {EVP_PKEY_RSA, NID_sha512, V_ASN1_NULL},
	    {EVP_PKEY_RSA, NID_sha1, V_ASN1_NULL},
	    {EVP_PKEY_ED25519, NID_undef, V_ASN1_UNDEF},
	};
	uint8_t got[DIGEST_SIGALG_DER_MAX];
	unsigned char *want = NULL;
	X509_ALGOR *alg;
	size_t i, len;
	int sig_nid, n;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (pairs[i].key_type == EVP_PKEY_ED25519)
			sig_nid = NID_ED25519;
		else
			CHECK(OBJ_find_sigid_by_algs(
			    &sig_nid, pairs[i].md_nid, pairs[i].key_type));
		alg = X509_ALGOR_new();
		CHECK(alg != NULL &&
		    X509_ALGOR_set0(
		        alg, OBJ_nid2obj(sig_nid), pairs[i].ptype, NULL));
		want = NULL;
		n = i2d_X509_ALGOR(alg, &want);
		CHECK_ST(digest_sigalg_der(pairs[i].key_type, pairs[i].md_nid,
		             got, sizeof(got), &len),
		    ST_OK);
		CHECK(n > 0 && len == (size_t)n && memcmp(got, want, len) == 0);
		OPENSSL_free(want);
		X509_ALGOR_free(alg);
	}
	/* Too little room: refused, whichever way it is made. */
	CHECK(
	    digest_sigalg_der(EVP_PKEY_EC, NID_sha256, got, 11, &len) != ST_OK);
	CHECK_ST(
	    digest_sigalg_der(EVP_PKEY_EC, NID_undef, got, sizeof(got), &len),
	    ST_MALFORMED);
}

static void
test_cert_sign(void)
{
	struct ca_template t;
	X509_NAME *subject = subject_form(0);
	GENERAL_NAMES *san = san_form(4);
	char serial[41], *hex;
	BIGNUM *bn;
	X509 *cert = NULL;
	size_t i;

	for (i = 0; i < ISSUER_COUNT; i++) {
		memset(&t, 0, sizeof(t));
		t.subject = subject;
		t.pubkey = keys[0];
		t.san = san;
		t.not_before = (int64_t)time(NULL) - 300;
		t.not_after = t.not_before + 86400;
		t.pathlen = -1;
		t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		t.md_nid = issuers[i].md_nid;
		t.ocsp_url = OCSP_URL;
		t.profile = "device";
		CHECK_ST(ca_cert_sign(&t, issuers[i].cert,
		             testutil_signer_key(
		                 issuers[i].key, SIGNER_ROLE_ISSUING),
		             &cert, serial),
		    ST_OK);
		if (cert == NULL)
			continue;
		CHECK(X509_verify(cert, issuers[i].key) == 1);
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
		hex = bn ? BN_bn2hex(bn) : NULL;
		CHECK(hex != NULL && strcmp(hex, serial) == 0 &&
		    strlen(serial) == 32);
		OPENSSL_free(hex);
		BN_free(bn);
		X509_free(cert);
		cert = NULL;
	}
	GENERAL_NAMES_free(san);
	X509_NAME_free(subject);
}

int
main(void)
{
	const char *src = getenv("TESSERA_SOURCE");
	struct ca_template t;
	X509_NAME *name;
	static const uint8_t one[] = {1};
	char dir[1024];
	size_t i;
	int loaded = 0;

	if (src == NULL)
		src = ".";
	for (i = 0; i < KEY_COUNT; i++)
		if ((keys[i] = testutil_key(key_specs[i])) == NULL) {
			fprintf(stderr, "set-up failed: %s\n", key_specs[i]);
			return 1;
		}
	/* Self-signed CAs with an SKI, made by the reference itself. */
	for (i = 0; i < ISSUER_COUNT; i++) {
		issuers[i].key = testutil_key(issuers[i].spec);
		name = X509_NAME_new();
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)issuers[i].spec, -1, -1, 0);
		memset(&t, 0, sizeof(t));
		t.subject = name;
		t.pubkey = issuers[i].key;
		t.not_before = 1767225600;
		t.not_after = 1767225600 + 7300LL * 86400;
		t.is_ca = 1;
		t.pathlen = 0;
		t.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
		t.md_nid = issuers[i].md_nid;
		if (issuers[i].key != NULL)
			issuers[i].cert = testutil_cert_x509(
			    &t, one, 1, NULL, issuers[i].key);
		X509_NAME_free(name);
		if (issuers[i].cert == NULL) {
			fprintf(stderr, "set-up failed: %s\n", issuers[i].spec);
			return 1;
		}
	}
	snprintf(dir, sizeof(dir), "%s/policies", src);
	loaded += test_policies(dir);
	snprintf(dir, sizeof(dir), "%s/policies/examples", src);
	loaded += test_policies(dir);
	snprintf(dir, sizeof(dir), "%s/tests/data/policy", src);
	loaded += test_policies(dir);
	/* default.json and factory.json (every file in tests/data/policy is
	 * one the loader refuses, so none of them ever issues). */
	CHECK(loaded >= 2);
	test_service_kinds();
	test_spki();
	test_refusals();
	test_san_from();
	test_cert_sign();
	test_sigalgs();
	printf("%d policies, %d certificates compared with OpenSSL's\n", loaded,
	    compared);
	CHECK(compared > 1000);
	for (i = 0; i < ISSUER_COUNT; i++) {
		X509_free(issuers[i].cert);
		EVP_PKEY_free(issuers[i].key);
	}
	for (i = 0; i < KEY_COUNT; i++)
		EVP_PKEY_free(keys[i]);
	TEST_END();
}
