/*
 * Certificate templates (see certder.h). The fixed extensions are encoded
 * once by OpenSSL on a scratch certificate, with the very calls issue.c
 * made per certificate before; what varies is written here as DER, sized
 * exactly first and then written through ca/der's bounded writer.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certder.h"
#include "ca/certpolicy.h"
#include "ca/der.h"
#include "common/digest.h"
#include "common/limits.h"
#include "signer/signer.h"

/* RFC 5280 §4.1.2.2: at most 20 content octets. */
#define SERIAL_MAX 20
/* A SAN value or CRL URL; the policy's are at most LIMIT_NAME_LEN. */
#define VALUE_MAX 1024
/* SHA-1 of the key, the keyIdentifier (RFC 5280 §4.2.1.2 method 1). */
#define KEYID_LEN 20

/* Extension OIDs written here (2.5.29.n), with their 06 03 header. */
static const uint8_t oid_ski[] = {0x06, 0x03, 0x55, 0x1d, 0x0e};
static const uint8_t oid_aki[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
static const uint8_t oid_san[] = {0x06, 0x03, 0x55, 0x1d, 0x11};
static const uint8_t oid_crldp[] = {0x06, 0x03, 0x55, 0x1d, 0x1f};
/* critical BOOLEAN TRUE (X.690 §11.1: FF). */
static const uint8_t crit_true[] = {CA_DER_BOOLEAN, 0x01, 0xff};
/* [0] EXPLICIT Version v3(2). */
static const uint8_t version_v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};

/* GeneralName tags: [1] rfc822Name, [2] dNSName, [6] URI, [7] iPAddress. */
static const uint8_t san_tag[CA_CERTDER_SAN_TYPE_MAX] = {
    CA_DER_CTX(1), CA_DER_CTX(2), CA_DER_CTX(6), CA_DER_CTX(7)};

struct ca_certder {
	int is_self; /* issuer = subject, AKI = own SKI */
	int md_nid;
	EVP_MD *sha1; /* fetched once, for the SKI */
	uint8_t sigalg[DIGEST_SIGALG_DER_MAX];
	size_t sigalg_len;
	uint8_t *issuer; /* DER Name; NULL when self-signed */
	size_t issuer_len;
	/* DER Extension runs, in issue.c's order: BC, KU, [EKU] | SKI* |
	 * AKI (NULL when self-signed: written per certificate) | SAN* |
	 * [noCheck] | CRLDP* | [AIA], [policies]; * = per certificate. */
	uint8_t *head, *aki, *mid, *tail;
	size_t head_len, aki_len, mid_len, tail_len;
};

/* ---- the fixed parts, once, through OpenSSL --------------------------- */

static enum status
add_ext_conf(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return status_fail_ssl(
		    ST_MALFORMED, "extension %s = %s", OBJ_nid2sn(nid), value);
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? ST_OK : status_fail_ssl(ST_NOMEM, "add extension");
}

static enum status
add_constraints(X509 *cert, const struct ca_certder_profile *p)
{
	BASIC_CONSTRAINTS *bc = NULL;
	enum status st = ST_NOMEM;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto out;
	bc->ca = p->is_ca ? 0xff : 0;
	if (p->is_ca && p->pathlen >= 0) {
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, p->pathlen))
			goto out;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "basicConstraints");
		goto out;
	}
	st = ST_OK;
out:
	BASIC_CONSTRAINTS_free(bc);
	return st;
}

static enum status
add_key_usage(X509 *cert, unsigned bits)
{
	ASN1_BIT_STRING *ku = NULL;
	enum status st = ST_NOMEM;
	int i;

	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		goto out;
	/* X509v3_KU_* bit b is DER bit (7 - b % 8) of octet b / 8. */
	for (i = 0; i < 9; i++) {
		unsigned flag = i < 8 ? 0x80u >> i : 0x8000u;
		if ((bits & flag) && !ASN1_BIT_STRING_set_bit(ku, i, 1))
			goto out;
	}
	if (X509_add1_ext_i2d(cert, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) !=
	    1) {
		st = status_fail_ssl(ST_INTERNAL, "keyUsage");
		goto out;
	}
	st = ST_OK;
out:
	ASN1_BIT_STRING_free(ku);
	return st;
}

static enum status
add_eku(X509 *cert, const int *nids, size_t count)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *obj;
	enum status st = ST_NOMEM;
	size_t i;

	if (count == 0)
		return ST_OK;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		goto out;
	for (i = 0; i < count; i++) {
		if ((obj = OBJ_nid2obj(nids[i])) == NULL ||
		    OBJ_length(obj) == 0) {
			st = status_fail(ST_MALFORMED,
			    "extendedKeyUsage %d is no OID", nids[i]);
			goto out;
		}
		if (!sk_ASN1_OBJECT_push(eku, obj))
			goto out;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "extendedKeyUsage");
		goto out;
	}
	st = ST_OK;
out:
	/* OBJ_nid2obj returns static objects: free the stack only. */
	sk_ASN1_OBJECT_free(eku);
	return st;
}

/* RFC 5280 §4.2.2.1: IA5String URIs; printable ASCII, bounded. */
static int
url_ok(const char *url)
{
	size_t n, i;

	if (url == NULL)
		return 0;
	n = strnlen(url, VALUE_MAX + 1);
	if (n == 0 || n > VALUE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return 0;
	return 1;
}

/* authorityInfoAccess: OCSP, then caIssuers (RFC 5280 §4.2.2.1). */
static enum status
add_aia(X509 *cert, const char *ocsp_url, const char *ca_issuers_url)
{
	AUTHORITY_INFO_ACCESS *aia = NULL;
	ACCESS_DESCRIPTION *ad = NULL;
	ASN1_IA5STRING *uri = NULL;
	const char *urls[2] = {ocsp_url, ca_issuers_url};
	const int methods[2] = {NID_ad_OCSP, NID_ad_ca_issuers};
	enum status st = ST_NOMEM;
	int i;

	if (ocsp_url == NULL && ca_issuers_url == NULL)
		return ST_OK;
	if ((aia = AUTHORITY_INFO_ACCESS_new()) == NULL)
		goto out;
	for (i = 0; i < 2; i++) {
		if (urls[i] == NULL)
			continue;
		if (!url_ok(urls[i])) {
			st = status_fail(ST_MALFORMED,
			    "AIA %s URL is empty, over %d bytes or not "
			    "printable ASCII (RFC 5280 §4.2.2.1)",
			    i == 0 ? "OCSP" : "caIssuers", VALUE_MAX);
			goto out;
		}
		if ((ad = ACCESS_DESCRIPTION_new()) == NULL ||
		    (uri = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(uri, urls[i], -1))
			goto out;
		ASN1_OBJECT_free(ad->method);
		ad->method = OBJ_nid2obj(methods[i]);
		GENERAL_NAME_set0_value(ad->location, GEN_URI, uri);
		uri = NULL;
		if (!sk_ACCESS_DESCRIPTION_push(aia, ad))
			goto out;
		ad = NULL;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "authorityInfoAccess");
		goto out;
	}
	st = ST_OK;
out:
	ASN1_IA5STRING_free(uri);
	ACCESS_DESCRIPTION_free(ad);
	AUTHORITY_INFO_ACCESS_free(aia);
	return st;
}

/* The DER of cert's extensions [from, to) back to back, into *out. */
static enum status
exts_take(X509 *cert, int from, int to, uint8_t **out, size_t *out_len)
{
	X509_EXTENSION *ext;
	unsigned char *p;
	size_t total = 0;
	int i, n;

	*out = NULL;
	*out_len = 0;
	for (i = from; i < to; i++) {
		if ((ext = X509_get_ext(cert, i)) == NULL ||
		    (n = i2d_X509_EXTENSION(ext, NULL)) <= 0)
			return status_fail_ssl(ST_INTERNAL, "extension %d", i);
		total += (size_t)n;
	}
	if (total == 0)
		return ST_OK;
	if ((*out = malloc(total)) == NULL)
		return ST_NOMEM;
	p = *out;
	for (i = from; i < to; i++)
		if (i2d_X509_EXTENSION(X509_get_ext(cert, i), &p) <= 0) {
			free(*out);
			*out = NULL;
			return status_fail_ssl(ST_INTERNAL, "extension %d", i);
		}
	*out_len = total;
	return ST_OK;
}

enum status
ca_certder_new(
    const struct ca_certder_profile *p, X509 *issuer, struct ca_certder **out)
{
	struct ca_certder *t = NULL;
	X509 *scratch = NULL;
	X509V3_CTX ctx;
	int mark;
	enum status st = ST_NOMEM;

	*out = NULL;
	if (p->is_ca == 0 && p->pathlen >= 0)
		return status_fail(ST_MALFORMED,
		    "pathLenConstraint on a certificate not a CA");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ST_NOMEM;
	t->is_self = issuer == NULL;
	t->md_nid = p->md_nid;
	if ((st = digest_sigalg_der(p->sig_key_type, p->md_nid, t->sigalg,
	         sizeof(t->sigalg), &t->sigalg_len)) != ST_OK)
		goto out;
	st = ST_NOMEM;
	if ((t->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL) {
		st = status_fail_ssl(ST_INTERNAL, "SHA-1 for key identifiers");
		goto out;
	}
	if (issuer != NULL) {
		unsigned char *q = NULL;
		int n = i2d_X509_NAME(X509_get_subject_name(issuer), &q);

		if (n <= 0) {
			st = status_fail_ssl(ST_MALFORMED, "issuer name");
			goto out;
		}
		t->issuer = q;
		t->issuer_len = (size_t)n;
		if (X509_get0_subject_key_id(issuer) == NULL) {
			st = status_fail(ST_MALFORMED,
			    "the issuer has no subjectKeyIdentifier for the "
			    "AKI (RFC 5280 §4.2.1.1)");
			goto out;
		}
	}
	if ((scratch = X509_new()) == NULL)
		goto out;
	/* The calls issue.c made on each certificate, in its order. */
	if ((st = add_constraints(scratch, p)) != ST_OK ||
	    (st = add_key_usage(scratch, p->key_usage)) != ST_OK ||
	    (st = add_eku(scratch, p->eku_nids, p->eku_count)) != ST_OK ||
	    (st = exts_take(scratch, 0, X509_get_ext_count(scratch), &t->head,
	         &t->head_len)) != ST_OK)
		goto out;
	mark = X509_get_ext_count(scratch);
	if (issuer != NULL) {
		X509V3_set_ctx(&ctx, issuer, scratch, NULL, NULL, 0);
		if ((st = add_ext_conf(scratch, &ctx,
		         NID_authority_key_identifier, "keyid:always")) !=
		        ST_OK ||
		    (st = exts_take(scratch, mark, X509_get_ext_count(scratch),
		         &t->aki, &t->aki_len)) != ST_OK)
			goto out;
	}
	mark = X509_get_ext_count(scratch);
	if (p->ocsp_nocheck) {
		X509V3_set_ctx(&ctx, NULL, scratch, NULL, NULL, 0);
		if ((st = add_ext_conf(scratch, &ctx, NID_id_pkix_OCSP_noCheck,
		         "ignored")) != ST_OK ||
		    (st = exts_take(scratch, mark, X509_get_ext_count(scratch),
		         &t->mid, &t->mid_len)) != ST_OK)
			goto out;
	}
	mark = X509_get_ext_count(scratch);
	if ((st = add_aia(scratch, p->ocsp_url, p->ca_issuers_url)) != ST_OK ||
	    (p->profile != NULL &&
	        (st = ca_certpolicy_add(scratch, p->profile)) != ST_OK) ||
	    (st = exts_take(scratch, mark, X509_get_ext_count(scratch),
	         &t->tail, &t->tail_len)) != ST_OK)
		goto out;
	*out = t;
	t = NULL;
	st = ST_OK;
out:
	X509_free(scratch);
	ca_certder_free(t);
	return st;
}

void
ca_certder_free(struct ca_certder *t)
{
	if (t == NULL)
		return;
	EVP_MD_free(t->sha1);
	OPENSSL_free(t->issuer);
	free(t->head);
	free(t->aki);
	free(t->mid);
	free(t->tail);
	free(t);
}

int
ca_certder_md_nid(const struct ca_certder *t)
{
	return t->md_nid;
}

/* ---- the variable parts, per certificate ------------------------------ */

/*
 * One TLV at der[0..n): tag, minimal definite length, content within n.
 * Returns the header length and sets *len to the content's, or 0.
 */
static size_t
tlv_read(const uint8_t *der, size_t n, uint8_t tag, size_t *len)
{
	size_t k, i, v = 0;

	*len = 0;
	if (n < 2 || der[0] != tag)
		return 0;
	if (der[1] < 0x80) {
		v = der[1];
		k = 2;
	} else {
		k = der[1] & 0x7f;
		/* Minimal: no 0x80, no leading zero, long form from 128. */
		if (k == 0 || k > 3 || n < 2 + k || der[2] == 0)
			return 0;
		for (i = 0; i < k; i++)
			v = v << 8 | der[2 + i];
		if (v < 0x80)
			return 0;
		k += 2;
	}
	if (v > n - k)
		return 0;
	*len = v;
	return k;
}

/* A DER Name or SPKI: exactly one SEQUENCE TLV, bounded. */
static int
seq_whole(const uint8_t *der, size_t n)
{
	size_t len, hdr;

	if (der == NULL || n > LIMIT_CERT_DER)
		return 0;
	hdr = tlv_read(der, n, CA_DER_SEQUENCE, &len);
	return hdr != 0 && hdr + len == n;
}

/*
 * The subjectPublicKey bits of an SPKI (SEQUENCE { AlgorithmIdentifier,
 * BIT STRING }), without the unused-bits octet, which must be 0.
 */
static int
spki_key(const uint8_t *spki, size_t n, const uint8_t **key, size_t *key_len)
{
	size_t hdr, len, alg_hdr, alg_len, bit_hdr, bit_len;
	const uint8_t *p;

	if (!seq_whole(spki, n))
		return 0;
	hdr = tlv_read(spki, n, CA_DER_SEQUENCE, &len);
	p = spki + hdr;
	if ((alg_hdr = tlv_read(p, len, CA_DER_SEQUENCE, &alg_len)) == 0)
		return 0;
	p += alg_hdr + alg_len;
	len -= alg_hdr + alg_len;
	if ((bit_hdr = tlv_read(p, len, CA_DER_BIT_STRING, &bit_len)) == 0 ||
	    bit_hdr + bit_len != len || bit_len < 2 || p[bit_hdr] != 0)
		return 0;
	*key = p + bit_hdr + 1;
	*key_len = bit_len - 1;
	return 1;
}

/* rfc822Name, dNSName, URI: IA5 text, no NUL or controls; IP: 4 or 16. */
static const char *
san_check(const struct ca_certder_san *s)
{
	size_t i;

	if ((unsigned)s->type >= CA_CERTDER_SAN_TYPE_MAX)
		return "is of a type not written";
	if (s->value == NULL || s->len == 0)
		return "is empty";
	if (s->type == CA_CERTDER_SAN_IP)
		return s->len == 4 || s->len == 16
		    ? NULL
		    : "iPAddress is not 4 or 16 octets";
	if (s->len > VALUE_MAX)
		return "is too long";
	for (i = 0; i < s->len; i++)
		if (s->value[i] < 0x20 || s->value[i] >= 0x7f)
			return "is not printable IA5 text";
	return NULL;
}

static enum status
req_check(const struct ca_certder_req *r, const uint8_t **key, size_t *key_len)
{
	const char *why;
	size_t i, n = r->serial_len;
	const uint8_t *s = r->serial;

	while (n > 0 && *s == 0) {
		s++;
		n--;
	}
	if (r->serial == NULL || n == 0)
		return status_fail(ST_MALFORMED,
		    "serial number is zero (RFC 5280 §4.1.2.2: positive)");
	if (ca_der_uint_len(s, n) > SERIAL_MAX)
		return status_fail(ST_MALFORMED,
		    "serial number is over 20 octets (RFC 5280 §4.1.2.2)");
	if (r->not_before < 0 || !ca_der_time_ok(r->not_before) ||
	    !ca_der_time_ok(r->not_after))
		return status_fail(ST_MALFORMED,
		    "validity is before 1970 or after 9999 (RFC 5280 "
		    "§4.1.2.5)");
	if (r->not_after <= r->not_before)
		return status_fail(ST_MALFORMED,
		    "notAfter is not after notBefore (RFC 5280 §4.1.2.5)");
	if (!seq_whole(r->subject, r->subject_len))
		return status_fail(ST_MALFORMED,
		    "subject is not one DER Name (RFC 5280 §4.1.2.6)");
	if (!spki_key(r->spki, r->spki_len, key, key_len))
		return status_fail(ST_MALFORMED,
		    "subjectPublicKeyInfo is not one DER SEQUENCE of an "
		    "algorithm and a BIT STRING (RFC 5280 §4.1.2.7)");
	if (r->san_count > CA_CERTDER_SAN_MAX)
		return status_fail(ST_LIMIT, "over %d subjectAltName entries",
		    CA_CERTDER_SAN_MAX);
	if (r->san_count > 0 && r->san == NULL)
		return status_fail(ST_MALFORMED, "subjectAltName missing");
	for (i = 0; i < r->san_count; i++)
		if ((why = san_check(&r->san[i])) != NULL)
			return status_fail(ST_MALFORMED,
			    "subjectAltName %zu %s (RFC 5280 §4.2.1.6)", i,
			    why);
	if (r->crl_url != NULL && !url_ok(r->crl_url))
		return status_fail(ST_MALFORMED,
		    "CRL distribution point URL is empty, over %d bytes or "
		    "not printable ASCII (RFC 5280 §4.2.1.13)",
		    VALUE_MAX);
	return ST_OK;
}

/* Content length of an Extension of extnValue n octets. */
static size_t
ext_body(size_t oid_len, int critical, size_t n)
{
	return oid_len + (critical ? sizeof(crit_true) : 0) +
	    ca_der_tlv_size(n);
}

static void
put_ext_head(struct ca_der_w *w, const uint8_t *oid, size_t oid_len,
    int critical, size_t n)
{
	ca_der_put_hdr(w, CA_DER_SEQUENCE, ext_body(oid_len, critical, n));
	ca_der_put(w, oid, oid_len);
	if (critical)
		ca_der_put(w, crit_true, sizeof(crit_true));
	ca_der_put_hdr(w, CA_DER_OCTET_STRING, n);
}

/* keyIdentifier extension: SKI (OCTET STRING) or AKI ([0] keyid). */
static size_t
keyid_ext_size(int is_aki)
{
	size_t v = is_aki ? ca_der_tlv_size(ca_der_tlv_size(KEYID_LEN))
	                  : ca_der_tlv_size(KEYID_LEN);

	return ca_der_tlv_size(ext_body(sizeof(oid_ski), 0, v));
}

static void
put_keyid_ext(struct ca_der_w *w, int is_aki, const uint8_t *id)
{
	if (is_aki) {
		put_ext_head(w, oid_aki, sizeof(oid_aki), 0,
		    ca_der_tlv_size(ca_der_tlv_size(KEYID_LEN)));
		ca_der_put_hdr(w, CA_DER_SEQUENCE, ca_der_tlv_size(KEYID_LEN));
		ca_der_put_tlv(w, CA_DER_CTX(0), id, KEYID_LEN);
	} else {
		put_ext_head(
		    w, oid_ski, sizeof(oid_ski), 0, ca_der_tlv_size(KEYID_LEN));
		ca_der_put_tlv(w, CA_DER_OCTET_STRING, id, KEYID_LEN);
	}
}

/* GeneralNames content (the SEQUENCE's) of r's SANs. */
static size_t
san_names_len(const struct ca_certder_req *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->san_count; i++)
		n += ca_der_tlv_size(r->san[i].len);
	return n;
}

/* CRLDistributionPoints { DistributionPoint { [0] { [0] { [6] url } } } }. */
static size_t
crldp_value_len(size_t url_len)
{
	return ca_der_tlv_size(ca_der_tlv_size(
	    ca_der_tlv_size(ca_der_tlv_size(ca_der_tlv_size(url_len)))));
}

enum status
ca_certder_tbs(const struct ca_certder *t, const struct ca_certder_req *r,
    uint8_t **tbs, size_t *tbs_len)
{
	struct ca_der_w w;
	const uint8_t *key = NULL, *serial = r->serial;
	uint8_t keyid[KEYID_LEN], *buf = NULL;
	size_t key_len = 0, serial_len = r->serial_len, validity, exts, body;
	size_t total, san_names = 0, san_len = 0, crl_len = 0, url_len = 0;
	unsigned int md_len = 0;
	enum status st;

	*tbs = NULL;
	*tbs_len = 0;
	if ((st = req_check(r, &key, &key_len)) != ST_OK)
		return st;
	while (serial_len > 0 && *serial == 0) {
		serial++;
		serial_len--;
	}
	/* RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey bits, what
	 * OpenSSL's "hash" writes. */
	if (!EVP_Digest(key, key_len, keyid, &md_len, t->sha1, NULL) ||
	    md_len != KEYID_LEN)
		return status_fail_ssl(ST_INTERNAL, "subject key identifier");

	/* Sizes first, inside out. */
	validity =
	    ca_der_time_size(r->not_before) + ca_der_time_size(r->not_after);
	exts = t->head_len + keyid_ext_size(0) +
	    (t->is_self ? keyid_ext_size(1) : t->aki_len) + t->mid_len +
	    t->tail_len;
	if (r->san_count > 0) {
		san_names = san_names_len(r);
		san_len = ca_der_tlv_size(ext_body(sizeof(oid_san),
		    r->san_critical, ca_der_tlv_size(san_names)));
		exts += san_len;
	}
	if (r->crl_url != NULL) {
		url_len = strlen(r->crl_url);
		crl_len = ca_der_tlv_size(
		    ext_body(sizeof(oid_crldp), 0, crldp_value_len(url_len)));
		exts += crl_len;
	}
	body = sizeof(version_v3) +
	    ca_der_tlv_size(ca_der_uint_len(serial, serial_len)) +
	    t->sigalg_len + (t->is_self ? r->subject_len : t->issuer_len) +
	    ca_der_tlv_size(validity) + r->subject_len + r->spki_len +
	    ca_der_tlv_size(ca_der_tlv_size(exts));
	total = ca_der_tlv_size(body);
	if (total > LIMIT_CERT_DER)
		return status_fail(ST_LIMIT,
		    "certificate of %zu bytes, over %d", total, LIMIT_CERT_DER);
	if ((buf = malloc(total)) == NULL)
		return ST_NOMEM;

	/* TBSCertificate (RFC 5280 §4.1.2). */
	ca_der_w_init(&w, buf, total);
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, body);
	ca_der_put(&w, version_v3, sizeof(version_v3));
	ca_der_put_uint(&w, serial, serial_len);
	ca_der_put(&w, t->sigalg, t->sigalg_len);
	if (t->is_self)
		ca_der_put(&w, r->subject, r->subject_len);
	else
		ca_der_put(&w, t->issuer, t->issuer_len);
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, validity);
	ca_der_put_time(&w, r->not_before);
	ca_der_put_time(&w, r->not_after);
	ca_der_put(&w, r->subject, r->subject_len);
	ca_der_put(&w, r->spki, r->spki_len);
	ca_der_put_hdr(&w, CA_DER_CTX_CONS(3), ca_der_tlv_size(exts));
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, exts);
	ca_der_put(&w, t->head, t->head_len);
	put_keyid_ext(&w, 0, keyid);
	if (t->is_self)
		put_keyid_ext(&w, 1, keyid);
	else
		ca_der_put(&w, t->aki, t->aki_len);
	if (r->san_count > 0) {
		size_t i;

		put_ext_head(&w, oid_san, sizeof(oid_san), r->san_critical,
		    ca_der_tlv_size(san_names));
		ca_der_put_hdr(&w, CA_DER_SEQUENCE, san_names);
		for (i = 0; i < r->san_count; i++)
			ca_der_put_tlv(&w, san_tag[r->san[i].type],
			    r->san[i].value, r->san[i].len);
	}
	ca_der_put(&w, t->mid, t->mid_len);
	if (r->crl_url != NULL) {
		size_t u = ca_der_tlv_size(url_len), fn = ca_der_tlv_size(u);
		size_t dpn = ca_der_tlv_size(fn);

		put_ext_head(&w, oid_crldp, sizeof(oid_crldp), 0,
		    crldp_value_len(url_len));
		/* CRLDistributionPoints, DistributionPoint, distributionPoint
		 * [0], fullName [0], uniformResourceIdentifier [6]. */
		ca_der_put_hdr(&w, CA_DER_SEQUENCE, ca_der_tlv_size(dpn));
		ca_der_put_hdr(&w, CA_DER_SEQUENCE, dpn);
		ca_der_put_hdr(&w, CA_DER_CTX_CONS(0), fn);
		ca_der_put_hdr(&w, CA_DER_CTX_CONS(0), u);
		ca_der_put_tlv(&w, CA_DER_CTX(6), r->crl_url, url_len);
	}
	ca_der_put(&w, t->tail, t->tail_len);
	if (!ca_der_w_done(&w, buf + total)) {
		free(buf);
		return status_fail(ST_INTERNAL, "TBSCertificate length");
	}
	*tbs = buf;
	*tbs_len = total;
	return ST_OK;
}

enum status
ca_certder_assemble(const struct ca_certder *t, const uint8_t *tbs,
    size_t tbs_len, const uint8_t *sig, size_t sig_len, uint8_t **der,
    size_t *der_len)
{
	return signer_signed_der(tbs, tbs_len, t->sigalg, t->sigalg_len, sig,
	    sig_len, NULL, 0, der, der_len);
}

enum status
ca_certder_spki(const X509_PUBKEY *key, uint8_t **out, size_t *out_len)
{
	static const uint8_t ec_oid[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
	    0x3d, 0x02, 0x01}; /* id-ecPublicKey, RFC 5480 §2.1.1 */
	struct ca_der_w w;
	ASN1_OBJECT *alg_oid = NULL;
	const ASN1_OBJECT *curve;
	const void *pval;
	const unsigned char *pk;
	X509_ALGOR *alg = NULL;
	uint8_t curve_der[32], *q = curve_der, *buf;
	size_t alg_len, bits_len, content, total;
	int pk_len, ptype, n;
	unsigned char *der = NULL;

	*out = NULL;
	*out_len = 0;
	if (key == NULL)
		return status_fail(ST_MALFORMED, "no public key");
	/* Only a key OpenSSL could decode (a CSR's has verified its
	 * signature) is written from its parts. */
	if (X509_PUBKEY_get0(key) == NULL)
		return status_fail_ssl(
		    ST_MALFORMED, "subject public key does not decode");
	if (X509_PUBKEY_get0_param(&alg_oid, &pk, &pk_len, &alg, key) == 1 &&
	    OBJ_obj2nid(alg_oid) == NID_X9_62_id_ecPublicKey && alg != NULL &&
	    pk_len > 0 && pk_len < 256) {
		X509_ALGOR_get0(NULL, &ptype, &pval, alg);
		curve = pval;
		if (ptype == V_ASN1_OBJECT && curve != NULL &&
		    OBJ_obj2nid(curve) != NID_undef &&
		    (n = i2d_ASN1_OBJECT(curve, NULL)) > 0 &&
		    (size_t)n <= sizeof(curve_der) &&
		    i2d_ASN1_OBJECT(curve, &q) == n) {
			alg_len = sizeof(ec_oid) + (size_t)n;
			bits_len = 1 + (size_t)pk_len;
			content = ca_der_tlv_size(alg_len) +
			    ca_der_tlv_size(bits_len);
			total = ca_der_tlv_size(content);
			if ((buf = OPENSSL_malloc(total)) == NULL)
				return ST_NOMEM;
			ca_der_w_init(&w, buf, total);
			ca_der_put_hdr(&w, CA_DER_SEQUENCE, content);
			ca_der_put_hdr(&w, CA_DER_SEQUENCE, alg_len);
			ca_der_put(&w, ec_oid, sizeof(ec_oid));
			ca_der_put(&w, curve_der, (size_t)n);
			ca_der_put_hdr(&w, CA_DER_BIT_STRING, bits_len);
			ca_der_put_u8(&w, 0);
			ca_der_put(&w, pk, (size_t)pk_len);
			if (!ca_der_w_done(&w, buf + total)) {
				OPENSSL_free(buf);
				return status_fail(ST_INTERNAL, "SPKI length");
			}
			*out = buf;
			*out_len = total;
			return ST_OK;
		}
	}
	if ((n = i2d_PUBKEY(X509_PUBKEY_get0(key), &der)) <= 0)
		return status_fail_ssl(ST_MALFORMED, "subject public key");
	*out = der;
	*out_len = (size_t)n;
	return ST_OK;
}

enum status
ca_certder_san_from(const GENERAL_NAMES *names, struct ca_certder_san *out,
    size_t cap, size_t *count)
{
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	int i, n, type;

	*count = 0;
	n = names != NULL ? sk_GENERAL_NAME_num(names) : 0;
	if (n < 0 || (size_t)n > cap)
		return status_fail(
		    ST_LIMIT, "over %zu subjectAltName entries", cap);
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(names, i);
		switch (gn->type) {
		case GEN_EMAIL:
			type = CA_CERTDER_SAN_EMAIL;
			s = gn->d.rfc822Name;
			break;
		case GEN_DNS:
			type = CA_CERTDER_SAN_DNS;
			s = gn->d.dNSName;
			break;
		case GEN_URI:
			type = CA_CERTDER_SAN_URI;
			s = gn->d.uniformResourceIdentifier;
			break;
		case GEN_IPADD:
			type = CA_CERTDER_SAN_IP;
			s = gn->d.iPAddress;
			break;
		default:
			return status_fail(ST_MALFORMED,
			    "subjectAltName %d is of GeneralName type %d, "
			    "which "
			    "tessera does not issue",
			    i, gn->type);
		}
		out[i].type = (enum ca_certder_san_type)type;
		out[i].value = ASN1_STRING_get0_data(s);
		out[i].len = (size_t)ASN1_STRING_length(s);
	}
	*count = (size_t)n;
	return ST_OK;
}
