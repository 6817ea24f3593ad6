/*
 * DER as a strict decoder reads it, for every structure tessera encodes
 * itself: the certs-only PKCS#7 (RFC 5652 §5.2, RFC 7030 §4.1.3), csrattrs
 * (RFC 7030 §4.5.2), OCSP responses (RFC 6960 §4.2) and the certificates
 * of every kind it issues (RFC 5280). Each goes through OpenSSL's d2i with
 * the whole input consumed and re-encodes to the same bytes; each
 * extension value decodes and re-encodes to the same bytes; and a TLV walk
 * checks what d2i lets pass: minimal lengths, BOOLEAN as 00 or FF
 * (X.690 §11.1), minimal INTEGERs, sorted SET OFs (§11.6), time formats
 * (§11.7, §11.8) and PrintableString characters, also inside OCTET STRINGs
 * that hold DER. The real service: a SoftHSMv2 token, the store, requests
 * through the handlers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/authority.h"
#include "ca/issue.h"
#include "ca/setup.h"
#include "common/file.h"
#include "common/secret.h"
#include "enroll/codec.h"
#include "enroll/enroll.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct authority *a;
static struct enroll *e;
static char *data;

/* ---- strict decoding ---------------------------------------------------- */

/* Octet-string order with the shorter padded by zeros (X.690 §11.6). */
static int
set_order(const uint8_t *a1, size_t l1, const uint8_t *a2, size_t l2)
{
	size_t i, n = l1 > l2 ? l1 : l2;

	for (i = 0; i < n; i++) {
		uint8_t x = i < l1 ? a1[i] : 0, y = i < l2 ? a2[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* testutil_der_strict, saying what and why when it refuses. */
static void
der_check(const uint8_t *der, size_t len, const char *what)
{
	char why[160];
	int ok = testutil_der_strict(der, len, why, sizeof(why));

	if (!ok)
		fprintf(stderr, "%s: %s\n", what, why);
	CHECK(ok);
}

/*
 * d2i of item over all of der, re-encoded to the same bytes, and strict
 * DER. Returns the decoded value (the caller frees with ASN1_item_free) or
 * NULL.
 */
static ASN1_VALUE *
strict(const ASN1_ITEM *it, const uint8_t *der, size_t len, const char *what)
{
	const unsigned char *p = der;
	unsigned char *out = NULL;
	ASN1_VALUE *v;
	int n = -1;

	v = ASN1_item_d2i(NULL, &p, (long)len, it);
	CHECK(v != NULL);
	if (v == NULL) {
		fprintf(stderr, "%s: OpenSSL refuses it\n", what);
		return NULL;
	}
	CHECK(p == der + len);
	n = ASN1_item_i2d(v, &out, it);
	CHECK(n == (int)len && memcmp(out, der, len) == 0);
	if (n != (int)len || memcmp(out, der, len) != 0)
		fprintf(stderr, "%s: re-encodes to other bytes\n", what);
	OPENSSL_free(out);
	der_check(der, len, what);
	return v;
}

/* Each extnValue of exts is strict DER too (the walk does not enter
 * OCTET STRINGs). */
static void
check_ext_values(const STACK_OF(X509_EXTENSION) * exts, const char *what)
{
	const ASN1_OCTET_STRING *v;
	int i;

	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		v = X509_EXTENSION_get_data(sk_X509_EXTENSION_value(exts, i));
		der_check(ASN1_STRING_get0_data(v),
		    (size_t)ASN1_STRING_length(v), what);
	}
}

/* Where the DER goes for Python's cryptography, and how many so far. */
static char *outdir;
static int written;

/* Keep der as KIND-N.der in outdir for cryptography to read. */
static void
keep(const char *kind, const uint8_t *der, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s-%d.der", outdir, kind, written++);
	CHECK(file_write_atomic(path, der, len, 0644) == ST_OK);
}

/* ---- certificates ----------------------------------------------------- */

/* Every extension value re-encodes to its own bytes. */
static void
check_extensions(X509 *cert, const char *what)
{
	const X509V3_EXT_METHOD *m;
	const ASN1_OCTET_STRING *raw;
	X509_EXTENSION *ext;
	unsigned char *out;
	void *v;
	int i, n;

	for (i = 0; i < X509_get_ext_count(cert); i++) {
		ext = X509_get_ext(cert, i);
		raw = X509_EXTENSION_get_data(ext);
		m = X509V3_EXT_get(ext);
		CHECK(m != NULL && m->it != NULL);
		if (m == NULL || m->it == NULL)
			continue;
		v = X509V3_EXT_d2i(ext);
		CHECK(v != NULL);
		out = NULL;
		n = v == NULL ? -1
		              : ASN1_item_i2d(v, &out, ASN1_ITEM_ptr(m->it));
		if (n != ASN1_STRING_length(raw) ||
		    memcmp(out, ASN1_STRING_get0_data(raw), (size_t)n) != 0) {
			fprintf(stderr,
			    "%s: extension %s re-encodes to other "
			    "bytes\n",
			    what, OBJ_nid2sn(m->ext_nid));
			CHECK(0);
		} else
			CHECK(1);
		OPENSSL_free(out);
		if (v != NULL)
			ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
	}
}

/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
static int
time_type_ok(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return ASN1_STRING_type(t) ==
	    (tm.tm_year + 1900 < 2050 ? V_ASN1_UTCTIME
	                              : V_ASN1_GENERALIZEDTIME);
}

/* What every certificate tessera issues must be, DER and RFC 5280. */
static void
check_cert(X509 *cert, int is_root, const char *what)
{
	unsigned char *der = NULL;
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	AUTHORITY_INFO_ACCESS *aia;
	X509 *again;
	int len, i, has_ocsp = 0;

	len = i2d_X509(cert, &der);
	CHECK(len > 0);
	if (len <= 0)
		return;
	again = (X509 *)strict(ASN1_ITEM_rptr(X509), der, (size_t)len, what);
	X509_free(again);
	keep("cert", der, (size_t)len);
	OPENSSL_free(der);
	check_extensions(cert, what);
	check_ext_values(X509_get0_extensions(cert), what);
	/* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
	CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);
	CHECK(ASN1_STRING_length(serial) >= 1 &&
	    ASN1_STRING_length(serial) <= 20);
	CHECK(time_type_ok(X509_get0_notBefore(cert)));
	CHECK(time_type_ok(X509_get0_notAfter(cert)));
	CHECK(X509_get_version(cert) == X509_VERSION_3);
	/* Every certificate a CA issues names the OCSP responder. */
	aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	for (i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia); i++)
		if (OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, i)->method) ==
		    NID_ad_OCSP)
			has_ocsp = 1;
	AUTHORITY_INFO_ACCESS_free(aia);
	if (!is_root && !has_ocsp)
		fprintf(stderr, "%s: no OCSP URL in AIA\n", what);
	CHECK(is_root || has_ocsp);
}

static X509 *
load_pem(const char *rel)
{
	char path[1024];
	FILE *f;
	X509 *x = NULL;

	snprintf(path, sizeof(path), "%s/%s", data, rel);
	if ((f = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	CHECK(x != NULL);
	return x;
}

/* init's certificates: root, issuing, responder, TLS, admin. */
static void
test_service_certs(void)
{
	static const char *const files[] = {"ca/root.pem", "ca/issuing.pem",
	    "ca/ocsp.pem", "tls/server.pem", "admin/admin.pem"};
	size_t i;
	X509 *x;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((x = load_pem(files[i])) == NULL)
			continue;
		check_cert(x, i == 0, files[i]);
		X509_free(x);
	}
}

/*
 * The certificate template, fuzz-style: random validity (through 2049 and
 * from 2050, up to 9999), key usages, EKUs, SANs, CA or not, signed by
 * a software CA, each strict and checked as above. 200 rounds.
 */
static void
test_random_certs(void)
{
	static const int ekus[] = {NID_server_auth, NID_client_auth,
	    NID_OCSP_sign, NID_code_sign, NID_email_protect};
	static const char *const keys[] = {"ec:P-256", "ec:P-384"};
	EVP_PKEY *ca_key = testutil_key("ec:P-384"), *key[2];
	X509_NAME *name = X509_NAME_new();
	GENERAL_NAMES *san = NULL;
	GENERAL_NAME *gn;
	ASN1_IA5STRING *ia5;
	struct ca_template t;
	unsigned char r[16];
	char serial[41], what[64], dns[32];
	X509 *cert;
	int i, j, nsan;

	key[0] = testutil_key(keys[0]);
	key[1] = testutil_key(keys[1]);
	CHECK(ca_key != NULL && key[0] != NULL && key[1] != NULL && name);
	if (ca_key == NULL || key[0] == NULL || key[1] == NULL || !name)
		goto out;
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"random", -1, -1, 0);
	for (i = 0; i < 200; i++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			break;
		memset(&t, 0, sizeof(t));
		t.subject = name;
		t.pubkey = key[r[0] & 1];
		/* From 1970 + a little to 9999-12-31, both sides of 2050. */
		t.not_before = (int64_t)(r[1] | r[2] << 8) * 86400 / 4;
		t.not_after = t.not_before + 1 +
		    (int64_t)(r[3] | r[4] << 8 | (r[5] & 0x3f) << 16) * 3600;
		if (t.not_after > 253402300799)
			t.not_after = 253402300799;
		t.is_ca = r[6] & 1;
		t.pathlen = t.is_ca && (r[6] & 2) ? r[7] % 4 : -1;
		/* What a policy or tessera's own profiles can ask for:
		 * never encipherOnly or decipherOnly (RFC 5280 §4.2.1.3:
		 * undefined without keyAgreement). */
		t.key_usage = (unsigned)(r[8] & 0xfe);
		if (t.key_usage == 0)
			t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		t.eku_nids = ekus + r[10] % 3;
		t.eku_count = (size_t)(r[11] % 3);
		t.ocsp_nocheck = r[12] & 1;
		t.crl_url =
		    r[12] & 2 ? "http://127.0.0.1/crl/issuing.crl" : NULL;
		t.ocsp_url = "http://127.0.0.1/ocsp";
		t.ca_issuers_url =
		    r[12] & 4 ? "http://127.0.0.1/ca/issuing.crt" : NULL;
		t.md_nid = r[12] & 8 ? NID_sha384 : NID_sha256;
		nsan = r[13] % 4;
		san = nsan ? GENERAL_NAMES_new() : NULL;
		for (j = 0; j < nsan && san != NULL; j++) {
			snprintf(dns, sizeof(dns), "h%d-%u.example", j, r[14]);
			gn = GENERAL_NAME_new();
			ia5 = ASN1_IA5STRING_new();
			ASN1_STRING_set(ia5, dns, -1);
			GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
			sk_GENERAL_NAME_push(san, gn);
		}
		t.san = san;
		snprintf(what, sizeof(what), "random certificate %d", i);
		cert = NULL;
		/* Any extension mix: signed as a service certificate, which
		 * the signer refuses keyCertSign and cRLSign (RFC 5280
		 * §4.2.1.3 keeps them for CAs). */
		t.is_service = 1;
		if (!t.is_ca) {
			t.key_usage &= ~(unsigned)(X509v3_KU_KEY_CERT_SIGN |
			    X509v3_KU_CRL_SIGN);
			/* ... and pathLenConstraint (§4.2.1.9). */
			t.pathlen = -1;
			if (t.key_usage == 0)
				t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		} else
			t.key_usage |= X509v3_KU_KEY_CERT_SIGN;
		CHECK_ST(
		    ca_cert_sign(&t, NULL,
		        testutil_signer_key(ca_key,
		            t.is_ca ? SIGNER_ROLE_ROOT : SIGNER_ROLE_ISSUING),
		        &cert, serial),
		    ST_OK);
		if (cert != NULL) {
			check_cert(cert, 1, what);
			CHECK(ca_time_unix(X509_get0_notAfter(cert)) ==
			    t.not_after);
		}
		X509_free(cert);
		GENERAL_NAMES_free(san);
		san = NULL;
	}
out:
	X509_NAME_free(name);
	EVP_PKEY_free(key[0]);
	EVP_PKEY_free(key[1]);
	EVP_PKEY_free(ca_key);
}

/* ---- requests through the handlers ------------------------------------ */

struct req {
	struct http_request r;
	struct buf body;
	char auth[512];
};

static void
req_init(struct req *q, const char *method, const char *path)
{
	memset(q, 0, sizeof(*q));
	q->r.method = method;
	q->r.path = path;
	q->r.peer_address = "127.0.0.1";
	q->r.is_tls = 1;
	q->r.tls_version = 0x0304;
	buf_init(&q->body, 1024 * 1024);
}

/* The body of a 200 answer, base64-decoded (free()), or NULL. */
static uint8_t *
answer_b64(const struct http_response *resp, size_t *len)
{
	uint8_t *der = NULL;

	*len = 0;
	CHECK(resp->status == 200);
	if (resp->status != 200 ||
	    codec_b64_decode(
	        resp->body.data, resp->body.len, 1 << 20, &der, len) != ST_OK)
		return NULL;
	return der;
}

/* certificates [0] IMPLICIT SET OF: in DER order (X.690 §11.6), which
 * the walk cannot see behind the context tag. */
static int
certs_sorted(const STACK_OF(X509) * certs)
{
	unsigned char *prev = NULL, *cur = NULL;
	int i, prev_len = 0, cur_len, ok = 1;

	for (i = 0; ok && i < sk_X509_num(certs); i++) {
		cur = NULL;
		if ((cur_len = i2d_X509(sk_X509_value(certs, i), &cur)) <= 0)
			ok = 0;
		else if (prev != NULL &&
		    set_order(prev, (size_t)prev_len, cur, (size_t)cur_len) > 0)
			ok = 0;
		OPENSSL_free(prev);
		prev = cur;
		prev_len = cur_len;
	}
	OPENSSL_free(prev);
	return ok;
}

/* The certs-only PKCS#7: SignedData v1, no digest algorithms, id-data
 * with no eContent (RFC 5652 §5.2), count certificates, no signers. */
static PKCS7 *
check_certs_only(const uint8_t *der, size_t len, int count, const char *what)
{
	PKCS7 *p7;
	PKCS7_SIGNED *s;

	p7 = (PKCS7 *)strict(ASN1_ITEM_rptr(PKCS7), der, len, what);
	if (p7 == NULL)
		return NULL;
	keep("p7", der, len);
	CHECK(OBJ_obj2nid(p7->type) == NID_pkcs7_signed);
	if (OBJ_obj2nid(p7->type) != NID_pkcs7_signed) {
		PKCS7_free(p7);
		return NULL;
	}
	s = p7->d.sign;
	CHECK(ASN1_INTEGER_get(s->version) == 1);
	CHECK(sk_X509_ALGOR_num(s->md_algs) == 0);
	CHECK(OBJ_obj2nid(s->contents->type) == NID_pkcs7_data);
	CHECK(s->contents->d.ptr == NULL);
	CHECK(sk_X509_num(s->cert) == count);
	CHECK(certs_sorted(s->cert));
	CHECK(s->crl == NULL);
	CHECK(sk_PKCS7_SIGNER_INFO_num(s->signer_info) == 0);
	return p7;
}

/* codec_certs_only_der over the DER of certs gives want, byte for byte. */
static int
certs_only_from_der(
    X509 *const *certs, size_t n, const uint8_t *want, size_t want_len)
{
	unsigned char *ders[5] = {NULL};
	size_t lens[5], i, len = 0;
	uint8_t *der = NULL;
	int k, ok = 1;

	for (i = 0; i < n && i < 5; i++) {
		if ((k = i2d_X509(certs[i], &ders[i])) <= 0)
			ok = 0;
		lens[i] = k > 0 ? (size_t)k : 0;
	}
	ok = ok &&
	    codec_certs_only_der(
	        (const uint8_t *const *)ders, lens, n, &der, &len) == ST_OK &&
	    len == want_len && memcmp(der, want, len) == 0;
	for (i = 0; i < n && i < 5; i++)
		OPENSSL_free(ders[i]);
	OPENSSL_free(der);
	return ok;
}

/* One to all five of init's certificates, shuffled: strict, sorted,
 * the same bytes whatever the order given. 20 rounds. */
static void
test_certs_only_shuffled(void)
{
	static const char *const files[] = {"ca/root.pem", "ca/issuing.pem",
	    "ca/ocsp.pem", "tls/server.pem", "admin/admin.pem"};
	X509 *all[5], *given[5], *tmp;
	uint8_t *der, *again;
	size_t len, again_len, i, n, k;
	unsigned char r[8];
	char what[48];
	int round;

	for (i = 0; i < 5; i++)
		all[i] = load_pem(files[i]);
	for (round = 0; round < 20; round++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			break;
		n = 1 + r[0] % 5;
		for (i = 0; i < n; i++)
			given[i] = all[i];
		der = again = NULL;
		len = again_len = 0;
		snprintf(what, sizeof(what), "certs-only of %zu", n);
		CHECK_ST(codec_certs_only(given, n, &der, &len), ST_OK);
		PKCS7_free(check_certs_only(der, len, (int)n, what));
		/* From the certificates' DER: the very same bytes. */
		CHECK(certs_only_from_der(given, n, der, len));
		/* Another order, the same bytes. */
		for (i = n; i > 1; i--) {
			k = r[1 + i % 7] % i;
			tmp = given[i - 1];
			given[i - 1] = given[k];
			given[k] = tmp;
		}
		CHECK_ST(codec_certs_only(given, n, &again, &again_len), ST_OK);
		CHECK(again_len == len && memcmp(again, der, len) == 0);
		OPENSSL_free(again);
		OPENSSL_free(der);
	}
	for (i = 0; i < 5; i++)
		X509_free(all[i]);
}

static void
test_certs_only(void)
{
	X509 *certs[2], *tmp;
	uint8_t *der = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	PKCS7 *p7;
	struct req q;
	struct http_response resp;
	uint8_t *body;

	certs[0] = load_pem("ca/issuing.pem");
	certs[1] = load_pem("ca/root.pem");
	if (certs[0] != NULL && certs[1] != NULL) {
		CHECK_ST(codec_certs_only(certs, 2, &der, &len), ST_OK);
		p7 = check_certs_only(der, len, 2, "certs-only of two");
		/* Both certificates, whatever the order given. */
		CHECK(p7 != NULL &&
		    X509_find_by_issuer_and_serial(p7->d.sign->cert,
		        X509_get_issuer_name(certs[0]),
		        X509_get0_serialNumber(certs[0])) != NULL &&
		    X509_find_by_issuer_and_serial(p7->d.sign->cert,
		        X509_get_issuer_name(certs[1]),
		        X509_get0_serialNumber(certs[1])) != NULL);
		PKCS7_free(p7);
		/* The other order gives the same bytes. */
		tmp = certs[0];
		certs[0] = certs[1];
		certs[1] = tmp;
		CHECK_ST(codec_certs_only(certs, 2, &again, &again_len), ST_OK);
		CHECK(again_len == len && memcmp(again, der, len) == 0);
		OPENSSL_free(again);
		OPENSSL_free(der);
	}
	X509_free(certs[0]);
	X509_free(certs[1]);
	test_certs_only_shuffled();

	/* /cacerts as served. */
	req_init(&q, "GET", "/.well-known/est/cacerts");
	http_response_init(&resp);
	enroll_handle_tls(e, &q.r, &resp);
	if ((body = answer_b64(&resp, &len)) != NULL) {
		p7 = check_certs_only(body, len, 2, "cacerts");
		PKCS7_free(p7);
		free(body);
	}
	http_response_free(&resp);
	buf_free(&q.body);
}

/* csrattrs: SEQUENCE OF (OID | Attribute {OID, SET SIZE(1..MAX)}). */
static void
test_csrattrs(void)
{
	static const char *const paths[] = {"/.well-known/est/csrattrs",
	    "/.well-known/est/gateway/csrattrs",
	    "/.well-known/est/station/csrattrs"};
	STACK_OF(ASN1_TYPE) * seq;
	const unsigned char *p;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	struct req q;
	struct http_response resp;
	uint8_t *body;
	size_t i, len;
	int j;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		req_init(&q, "GET", paths[i]);
		http_response_init(&resp);
		enroll_handle_tls(e, &q.r, &resp);
		body = answer_b64(&resp, &len);
		http_response_free(&resp);
		buf_free(&q.body);
		if (body == NULL)
			continue;
		seq = (STACK_OF(ASN1_TYPE) *)strict(
		    ASN1_ITEM_rptr(ASN1_SEQUENCE_ANY), body, len, paths[i]);
		CHECK(seq != NULL && sk_ASN1_TYPE_num(seq) >= 1);
		for (j = 0; seq != NULL && j < sk_ASN1_TYPE_num(seq); j++) {
			t = sk_ASN1_TYPE_value(seq, j);
			if (t->type == V_ASN1_OBJECT) {
				CHECK(
				    OBJ_obj2nid(t->value.object) != NID_undef);
				continue;
			}
			CHECK(t->type == V_ASN1_SEQUENCE);
			if (t->type != V_ASN1_SEQUENCE)
				continue;
			p = t->value.sequence->data;
			attr = d2i_X509_ATTRIBUTE(
			    NULL, &p, t->value.sequence->length);
			CHECK(attr != NULL &&
			    p ==
			        t->value.sequence->data +
			            t->value.sequence->length &&
			    X509_ATTRIBUTE_count(attr) >= 1);
			X509_ATTRIBUTE_free(attr);
		}
		sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
		free(body);
	}
}

/* Enroll cn with a key of spec at label (NULL: device), and check the
 * answer and the certificate. */
static void
enroll_one(
    const char *label, const char *spec, const char *cn, const char *sans)
{
	struct principal op;
	struct req q;
	struct http_response resp;
	EVP_PKEY *key = testutil_key(spec);
	uint8_t *csr = NULL, *body;
	char *secret = NULL, path[128], plain[300], what[96];
	unsigned char b64[420];
	size_t csr_len = 0, len;
	int64_t exp;
	PKCS7 *p7;
	int n;

	memset(&op, 0, sizeof(op));
	op.kind = PRINCIPAL_OPERATOR;
	snprintf(what, sizeof(what), "%s %s", label ? label : "device", spec);
	CHECK(key != NULL);
	CHECK_ST(authority_secret_create(
	             a, &op, cn, label ? label : "device", 0, &secret, &exp),
	    ST_OK);
	CHECK(testutil_csr(key, cn, sans, &csr, &csr_len) == 0);
	if (secret == NULL || csr == NULL)
		goto out;
	snprintf(path, sizeof(path), "/.well-known/est/%s%ssimpleenroll",
	    label ? label : "", label ? "/" : "");
	req_init(&q, "POST", path);
	q.r.content_type = "application/pkcs10";
	if (codec_b64_encode(&q.body, csr, csr_len, 1) != ST_OK)
		abort();
	q.r.body = q.body.data;
	q.r.body_len = q.body.len;
	n = snprintf(plain, sizeof(plain), "%s:%s", cn, secret);
	EVP_EncodeBlock(b64, (unsigned char *)plain, n);
	snprintf(q.auth, sizeof(q.auth), "Basic %s", b64);
	q.r.authorization = q.auth;
	http_response_init(&resp);
	enroll_handle_tls(e, &q.r, &resp);
	if (resp.status != 200)
		fprintf(stderr, "%s: %d %.*s\n", what, resp.status,
		    (int)resp.body.len, (const char *)resp.body.data);
	if ((body = answer_b64(&resp, &len)) != NULL) {
		p7 = check_certs_only(body, len, 1, what);
		if (p7 != NULL)
			check_cert(sk_X509_value(p7->d.sign->cert, 0), 0, what);
		PKCS7_free(p7);
		free(body);
	}
	http_response_free(&resp);
	buf_free(&q.body);
out:
	secret_free(secret);
	free(csr);
	EVP_PKEY_free(key);
}

static void
test_enrolled(void)
{
	enroll_one(NULL, "ec:P-256", "der-p256", "URI:urn:dev:der-p256");
	enroll_one(NULL, "ec:P-384", "der-p384", NULL);
	enroll_one(NULL, "rsa:3072", "der-rsa", "URI:urn:dev:der-rsa");
	enroll_one(
	    "gateway", "ec:P-256", "gw-der", "DNS:gw-der.gw.tessera.invalid");
}

/* ---- OCSP --------------------------------------------------------------- */

/* POST one request for serial (NULL: cert's) of issuer with md; check the
 * answer strictly, and the BasicOCSPResponse inside it. */
static void
ocsp_one(
    X509 *cert, X509 *issuer, const EVP_MD *md, int nonce, const char *what)
{
	OCSP_REQUEST *ocsp_req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(md, cert, issuer);
	OCSP_RESPONSE *r = NULL;
	OCSP_BASICRESP *bs = NULL;
	unsigned char *der = NULL, *inner = NULL;
	struct req q;
	struct http_response resp;
	int len, ilen, i;

	CHECK(ocsp_req != NULL && id != NULL);
	if (ocsp_req == NULL || id == NULL ||
	    OCSP_request_add0_id(ocsp_req, id) == NULL) {
		OCSP_CERTID_free(id);
		goto out;
	}
	if (nonce)
		CHECK(OCSP_request_add1_nonce(ocsp_req, NULL, 32) == 1);
	len = i2d_OCSP_REQUEST(ocsp_req, &der);
	req_init(&q, "POST", "/ocsp");
	q.r.is_tls = 0;
	q.r.content_type = "application/ocsp-request";
	q.r.body = der;
	q.r.body_len = (size_t)len;
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	CHECK(resp.status == 200);
	r = (OCSP_RESPONSE *)strict(
	    ASN1_ITEM_rptr(OCSP_RESPONSE), resp.body.data, resp.body.len, what);
	if (r != NULL &&
	    OCSP_response_status(r) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
	    (bs = OCSP_response_get1_basic(r)) != NULL) {
		/* The BasicOCSPResponse in responseBytes, on its own. */
		ilen = i2d_OCSP_BASICRESP(bs, &inner);
		OCSP_BASICRESP_free(
		    (OCSP_BASICRESP *)strict(ASN1_ITEM_rptr(OCSP_BASICRESP),
		        inner, (size_t)(ilen > 0 ? ilen : 0), what));
		CHECK(OCSP_resp_count(bs) == 1);
		for (i = 0; i < OCSP_BASICRESP_get_ext_count(bs); i++)
			der_check(ASN1_STRING_get0_data(X509_EXTENSION_get_data(
			              OCSP_BASICRESP_get_ext(bs, i))),
			    (size_t)ASN1_STRING_length(X509_EXTENSION_get_data(
			        OCSP_BASICRESP_get_ext(bs, i))),
			    what);
		keep("ocsp", resp.body.data, resp.body.len);
		CHECK(!nonce || OCSP_check_nonce(ocsp_req, bs) == 1);
	} else
		CHECK(0);
	http_response_free(&resp);
	buf_free(&q.body);
out:
	OPENSSL_free(inner);
	OPENSSL_free(der);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	OCSP_REQUEST_free(ocsp_req);
}

static void
test_ocsp(void)
{
	X509 *tls = load_pem("tls/server.pem"),
	     *issuing = load_pem("ca/issuing.pem");
	X509 *other;
	BIGNUM *bn = NULL;
	struct req q;
	struct http_response resp;
	unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};

	if (tls == NULL || issuing == NULL)
		goto out;
	ocsp_one(tls, issuing, EVP_sha1(), 0, "OCSP good, SHA-1");
	ocsp_one(tls, issuing, EVP_sha256(), 0, "OCSP good, SHA-256");
	ocsp_one(tls, issuing, EVP_sha256(), 1, "OCSP good, nonce");
	/* A serial never issued: signed, never good (RFC 6960 §2.2). */
	if ((other = X509_dup(tls)) != NULL &&
	    BN_hex2bn(&bn, "7EADBEEF0123456789ABCDEF00112233") != 0 &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(other)) != NULL)
		ocsp_one(other, issuing, EVP_sha256(), 0, "OCSP never issued");
	X509_free(other);
	BN_free(bn);
	/* malformedRequest: unsigned, responseStatus only. */
	req_init(&q, "POST", "/ocsp");
	q.r.is_tls = 0;
	q.r.content_type = "application/ocsp-request";
	q.r.body = junk;
	q.r.body_len = sizeof(junk);
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	OCSP_RESPONSE_free(
	    (OCSP_RESPONSE *)strict(ASN1_ITEM_rptr(OCSP_RESPONSE),
	        resp.body.data, resp.body.len, "OCSP malformedRequest"));
	CHECK(resp.body.len == 5);
	http_response_free(&resp);
	buf_free(&q.body);
out:
	X509_free(tls);
	X509_free(issuing);
}

/*
 * Python's cryptography reads everything kept: its Rust DER parsers refuse
 * what OpenSSL lets pass, extensions are parsed when read, and its PKCS#7
 * reader warns when it falls back to BER. Each failure names the file.
 */
static void
test_cryptography(void)
{
	char cmd[8192];

	if (system("python3 -c 'import cryptography.x509.ocsp' "
	           ">/dev/null 2>&1") != 0) {
		fprintf(stderr, "python3-cryptography is missing\n");
		CHECK(0);
		return;
	}
	CHECK(written >= 10);
	snprintf(cmd, sizeof(cmd),
	    "python3 - '%s' <<'EOF'\n"
	    "import glob, os, sys, warnings\n"
	    "from cryptography import x509\n"
	    "from cryptography.hazmat.primitives.serialization import pkcs7\n"
	    "from cryptography.x509 import ocsp\n"
	    "bad = 0\n"
	    "for path in sorted(glob.glob(sys.argv[1] + '/*.der')):\n"
	    "    der = open(path, 'rb').read()\n"
	    "    kind = os.path.basename(path).split('-')[0]\n"
	    "    try:\n"
	    "        with warnings.catch_warnings():\n"
	    "            warnings.simplefilter('error', UserWarning)\n"
	    "            if kind == 'cert':\n"
	    "                c = x509.load_der_x509_certificate(der)\n"
	    "                [e.value for e in c.extensions]\n"
	    "            elif kind == 'p7':\n"
	    "                assert pkcs7.load_der_pkcs7_certificates(der)\n"
	    "            else:\n"
	    "                r = ocsp.load_der_ocsp_response(der)\n"
	    "                [e.value for e in r.extensions]\n"
	    "                [e.value for e in r.single_extensions]\n"
	    "                [c.extensions for c in r.certificates]\n"
	    "    except Exception as e:\n"
	    "        bad += 1\n"
	    "        print('%%s: %%s: %%s' %% (path, type(e).__name__, e))\n"
	    "sys.exit(1 if bad else 0)\n"
	    "EOF",
	    outdir);
	CHECK(system(cmd) == 0);
}

int
main(void)
{
	struct ca_setup s;
	char *dir = testutil_tmpdir();

	data = malloc(strlen(dir) + 8);
	snprintf(data, strlen(dir) + 8, "%s/var", dir);
	outdir = malloc(strlen(dir) + 8);
	snprintf(outdir, strlen(dir) + 8, "%s/der", dir);
	CHECK_ST(file_mkdir(outdir, 0700), ST_OK);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK_ST(authority_open(data, &a), ST_OK);
	CHECK_ST(enroll_new(a, &e), ST_OK);
	if (e != NULL) {
		test_service_certs();
		test_random_certs();
		test_certs_only();
		test_csrattrs();
		test_enrolled();
		test_ocsp();
		test_cryptography();
	}
	enroll_free(e);
	authority_close(a);
	testutil_rmtree(dir);
	free(outdir);
	free(data);
	free(dir);
	TEST_END();
}
