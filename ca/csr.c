/*
 * csr: one DER PKCS#10 (RFC 2986) as received. ca_csr_parse decides what
 * the request is (well formed, within limits, signed by its own key: the
 * proof of possession); ca_csr_check decides whether a profile allows it.
 *
 * Two readers decide what a request is. The reference is OpenSSL's
 * d2i_X509_REQ and what it decodes (X509_REQ_verify, the subject, the
 * attributes). tessera's own reader (own_read) takes the requests devices
 * send - DER, an EC P-256/P-384 key or an RSA key with e = 65537, ECDSA or
 * PKCS#1 v1.5 with SHA-256/384, the subject and the extensionRequest and
 * challengePassword attributes - and makes the key from its parts without
 * OpenSSL's decoders, which look every CSR's key decoder up anew (70 % of
 * a d2i_X509_REQ). Whatever it does not take, and every request it would
 * refuse, goes to the reference, so that refusals and their messages are
 * the reference's; what it accepts, the reference accepts with the same
 * fields (test_csr's differential corpus, fuzz_csr).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "ca/certder.h"
#include "ca/csr.h"
#include "ca/der.h"
#include "ca/deviceid.h"
#include "ca/pattern.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/limits.h"

/* A value quoted in a message: enough to recognise it. */
#define QUOTE_CAP 100

struct csr_attr {
	ASN1_OBJECT *obj; /* owned (OBJ_dup: shared when built in) */
	int nid;
	char *value; /* UTF-8, no NUL, no control characters */
	int is_ascii;
};

struct ca_csr {
	X509_REQ *req; /* the reference reader's; NULL from own_read */
	EVP_PKEY *pkey; /* get0 from req, or owned (own_read) */
	/* The SPKI's DER as ca_certder_spki writes it (OPENSSL_malloc), or
	 * NULL when it could not be written (then i2d_PUBKEY of pkey). */
	uint8_t *spki;
	size_t spki_len;
	GENERAL_NAMES *san; /* NULL when the CSR requests none */
	char *challenge; /* challengePassword as UTF-8, or NULL */
	/* The subject, one attribute per RDN, no type twice, as UTF-8. */
	struct csr_attr attrs[LIMIT_SUBJECT_ATTRS];
	size_t attr_count;
	const char *cn; /* borrowed from attrs, NULL when absent */
	const char *serial;
	/* ca_csr_bind_id: the id its attribute spells in full, or "". */
	char bound_id[LIMIT_DEVICE_ID_LEN + 1];
	int key_id; /* EVP_PKEY_EC, EVP_PKEY_RSA, ... */
	int curve_nid; /* EC only; NID_undef for explicit curves */
	int key_bits;
	char key_desc[96];
};

/* The short name of an attribute type, or its dotted OID. */
static const char *
obj_name(const ASN1_OBJECT *obj, char *out, size_t cap)
{
	int nid = OBJ_obj2nid(obj);

	if (nid != NID_undef && OBJ_nid2sn(nid) != NULL)
		return OBJ_nid2sn(nid);
	if (OBJ_obj2txt(out, (int)cap, obj, 1) <= 0)
		snprintf(out, cap, "?");
	return out;
}

/*
 * A directory string as a NUL-terminated UTF-8 copy in *out (the caller
 * frees with OPENSSL_free), refusing over-long values and NUL bytes, which
 * would make the value read differently as a C string than in the DER.
 */
static enum status
string_utf8(const ASN1_STRING *s, const char *what, char **out)
{
	unsigned char *u = NULL;
	int n;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if ((n = ASN1_STRING_to_UTF8(&u, s)) < 0) {
		st = status_fail_ssl(
		    ST_MALFORMED, "%s is not a valid string", what);
		goto out;
	}
	if ((size_t)n > LIMIT_NAME_LEN) {
		st = status_fail(ST_LIMIT, "%s is %d bytes, limit is %d", what,
		    n, LIMIT_NAME_LEN);
		goto out;
	}
	if (memchr(u, '\0', (size_t)n) != NULL) {
		st = status_fail(ST_MALFORMED, "%s contains a NUL byte", what);
		goto out;
	}
	*out = (char *)u;
	u = NULL;
	st = ST_OK;
out:
	OPENSSL_free(u);
	return st;
}

/* X.680 PrintableString: letters, digits, space and '()+,-./:=? */
static int
is_printable(const unsigned char *d, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz"
	                          "0123456789 '()+,-./:=?";
	size_t i;

	for (i = 0; i < n; i++)
		if (d[i] == '\0' || strchr(set, d[i]) == NULL)
			return 0;
	return 1;
}

/*
 * The string types a subject value may come in, and how: those that name
 * their character set exactly are decoded (and re-encoded on issue);
 * TeletexString is refused, as OpenSSL reads it as Latin-1, which T.61 is
 * not, so its text would be a guess (RFC 5280 4.1.2.6 deprecates it).
 */
static enum status
check_string_type(const ASN1_STRING *s, const char *what)
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	size_t i, n = (size_t)ASN1_STRING_length(s);

	switch (ASN1_STRING_type(s)) {
	case V_ASN1_UTF8STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
		return ST_OK;
	case V_ASN1_PRINTABLESTRING:
		if (!is_printable(d, n))
			return status_fail(ST_MALFORMED,
			    "%s is a PrintableString with characters outside "
			    "its set (X.680 41.4)",
			    what);
		return ST_OK;
	case V_ASN1_IA5STRING:
		for (i = 0; i < n; i++)
			if (d[i] > 0x7f)
				return status_fail(ST_MALFORMED,
				    "%s is an IA5String with byte 0x%02x, "
				    "which is not ASCII",
				    what, d[i]);
		return ST_OK;
	case V_ASN1_T61STRING:
		return status_fail(ST_MALFORMED,
		    "%s is a TeletexString, whose character set tessera does "
		    "not guess; send a UTF8String (RFC 5280 4.1.2.6)",
		    what);
	default:
		return status_fail(ST_MALFORMED,
		    "%s is an ASN.1 %s, not a DirectoryString (RFC 5280 "
		    "4.1.2.4)",
		    what, ASN1_tag2str(ASN1_STRING_type(s)));
	}
}

/*
 * Control characters (C0, DEL, C1) and invisible or bidi format
 * characters in UTF-8 text: a value that prints differently than it
 * compares. ST_OK, or ST_MALFORMED naming the
 * character; *is_ascii says whether every byte is ASCII.
 */
static enum status
check_controls(const char *v, const char *what, int *is_ascii)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t i;

	*is_ascii = 1;
	for (i = 0; u[i] != '\0'; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return status_fail(ST_MALFORMED,
			    "%s contains control character U+%04X", what, u[i]);
		if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			return status_fail(ST_MALFORMED,
			    "%s contains control character U+%04X", what,
			    u[i + 1]);
		/*
		 * Format characters that reorder or hide text: zero-width
		 * U+200B..U+200F, line and paragraph separators, the bidi
		 * embeddings and isolates U+202A..U+202E and U+2066..U+2069,
		 * and U+FEFF.
		 */
		if ((u[i] == 0xe2 && u[i + 1] == 0x80 &&
		        ((u[i + 2] >= 0x8b && u[i + 2] <= 0x8f) ||
		            (u[i + 2] >= 0xa8 && u[i + 2] <= 0xae))) ||
		    (u[i] == 0xe2 && u[i + 1] == 0x81 && u[i + 2] >= 0xa6 &&
		        u[i + 2] <= 0xa9) ||
		    (u[i] == 0xef && u[i + 1] == 0xbb && u[i + 2] == 0xbf))
			return status_fail(ST_MALFORMED,
			    "%s contains an invisible or bidi format character "
			    "(U+200B..200F, U+2028..202E, U+2066..2069, "
			    "U+FEFF)",
			    what);
		if (u[i] >= 0x80)
			*is_ascii = 0;
	}
	return ST_OK;
}

/*
 * The subject as a list of single attributes: a multi-valued RDN or an
 * attribute type given twice is refused (which value would name the
 * device?), and so are string types and characters that could make a
 * value read as something else.
 */
static enum status
parse_subject(struct ca_csr *csr)
{
	const X509_NAME *name = X509_REQ_get_subject_name(csr->req);
	const X509_NAME_ENTRY *ne;
	struct csr_attr *a;
	const char *type;
	char what[80], oid[64], oid2[64];
	int i, count, prev_set = -1;
	size_t j;
	enum status st = ST_MALFORMED;

	count = name != NULL ? X509_NAME_entry_count(name) : 0;
	if (count > LIMIT_SUBJECT_ATTRS) {
		st = status_fail(ST_LIMIT,
		    "CSR subject has %d attributes, "
		    "limit is %d",
		    count, LIMIT_SUBJECT_ATTRS);
		goto out;
	}
	for (i = 0; i < count; i++) {
		ne = X509_NAME_get_entry(name, i);
		type =
		    obj_name(X509_NAME_ENTRY_get_object(ne), oid, sizeof(oid));
		snprintf(what, sizeof(what), "subject attribute %s", type);
		if (X509_NAME_ENTRY_set(ne) == prev_set) {
			st = status_fail(ST_MALFORMED,
			    "CSR subject has a multi-valued RDN (%s shares an "
			    "RDN with %s); tessera takes one attribute per RDN",
			    type,
			    obj_name(csr->attrs[csr->attr_count - 1].obj, oid2,
			        sizeof(oid2)));
			goto out;
		}
		prev_set = X509_NAME_ENTRY_set(ne);
		for (j = 0; j < csr->attr_count; j++)
			if (OBJ_cmp(csr->attrs[j].obj,
			        X509_NAME_ENTRY_get_object(ne)) == 0) {
				st = status_fail(ST_MALFORMED,
				    "%s appears twice in the CSR subject",
				    what);
				goto out;
			}
		if ((st = check_string_type(
		         X509_NAME_ENTRY_get_data(ne), what)) != ST_OK)
			goto out;
		a = &csr->attrs[csr->attr_count];
		if ((st = string_utf8(X509_NAME_ENTRY_get_data(ne), what,
		         &a->value)) != ST_OK)
			goto out;
		if ((a->obj = OBJ_dup(X509_NAME_ENTRY_get_object(ne))) ==
		    NULL) {
			OPENSSL_free(a->value);
			a->value = NULL;
			st = status_fail_ssl(ST_NOMEM, "subject attribute");
			goto out;
		}
		a->nid = OBJ_obj2nid(a->obj);
		csr->attr_count++;
		if ((st = check_controls(a->value, what, &a->is_ascii)) !=
		    ST_OK)
			goto out;
		if (a->nid == NID_commonName)
			csr->cn = a->value;
		else if (a->nid == NID_serialNumber)
			csr->serial = a->value;
	}
	st = ST_OK;
out:
	return st;
}

/* IA5 names in a SAN: bounded, printable ASCII only (no NUL, no controls). */
static enum status
check_ia5(const ASN1_IA5STRING *s, const char *type)
{
	int i, n = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);

	if (n > LIMIT_NAME_LEN)
		return status_fail(ST_LIMIT,
		    "%s subject alternative name is "
		    "%d bytes, limit is %d",
		    type, n, LIMIT_NAME_LEN);
	if (n == 0)
		return status_fail(ST_MALFORMED,
		    "empty %s subject alternative "
		    "name",
		    type);
	for (i = 0; i < n; i++) {
		if (d[i] == '\0')
			return status_fail(ST_MALFORMED,
			    "%s subject "
			    "alternative name contains a NUL byte",
			    type);
		if (d[i] < 0x21 || d[i] > 0x7e)
			return status_fail(ST_MALFORMED,
			    "%s subject "
			    "alternative name contains byte 0x%02x",
			    type, d[i]);
	}
	return ST_OK;
}

static enum status
check_san_entries(const GENERAL_NAMES *san)
{
	const GENERAL_NAME *gn;
	int i, n = sk_GENERAL_NAME_num(san);
	enum status st;

	if (n == 0)
		return status_fail(ST_MALFORMED,
		    "empty subjectAltName "
		    "(RFC 5280 4.2.1.6: SIZE (1..MAX))");
	if (n > LIMIT_SAN_COUNT)
		return status_fail(ST_LIMIT,
		    "CSR requests %d subject "
		    "alternative names, limit is %d",
		    n, LIMIT_SAN_COUNT);
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(san, i);
		st = ST_OK;
		if (gn->type == GEN_DNS)
			st = check_ia5(gn->d.dNSName, "DNS");
		else if (gn->type == GEN_URI)
			st = check_ia5(gn->d.uniformResourceIdentifier, "URI");
		else if (gn->type == GEN_EMAIL)
			st = check_ia5(gn->d.rfc822Name, "email");
		else if (gn->type == GEN_IPADD &&
		    ASN1_STRING_length(gn->d.iPAddress) != 4 &&
		    ASN1_STRING_length(gn->d.iPAddress) != 16)
			st = status_fail(ST_MALFORMED,
			    "IP subject alternative "
			    "name of %d bytes (RFC 5280 4.2.1.6: 4 or 16)",
			    ASN1_STRING_length(gn->d.iPAddress));
		if (st != ST_OK)
			return st;
	}
	return ST_OK;
}

/*
 * The SAN of the extensionRequest attribute (RFC 2986, PKCS#9), if any.
 * Other requested extensions are ignored: certificates take theirs from
 * the profile. One extensionRequest, one value, one SAN.
 */
static enum status
parse_extensions(struct ca_csr *csr)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *data;
	const unsigned char *p, *end;
	char oid[64];
	int idx, n;
	enum status st = ST_MALFORMED;

	n = 0;
	idx = -1;
	while (
	    (idx = X509_REQ_get_attr_by_NID(csr->req, NID_ext_req, idx)) >= 0)
		n++;
	idx = -1;
	while ((idx = X509_REQ_get_attr_by_NID(
	            csr->req, NID_ms_ext_req, idx)) >= 0)
		n++;
	if (n == 0)
		return ST_OK;
	if (n > 1)
		return status_fail(ST_MALFORMED,
		    "CSR has %d extensionRequest "
		    "attributes",
		    n);
	if ((idx = X509_REQ_get_attr_by_NID(csr->req, NID_ext_req, -1)) < 0)
		idx = X509_REQ_get_attr_by_NID(csr->req, NID_ms_ext_req, -1);
	if (X509_ATTRIBUTE_count(X509_REQ_get_attr(csr->req, idx)) != 1)
		return status_fail(ST_MALFORMED,
		    "extensionRequest must have "
		    "exactly one value");
	if ((exts = X509_REQ_get_extensions(csr->req)) == NULL) {
		st = status_fail_ssl(ST_MALFORMED,
		    "extensionRequest does not "
		    "decode");
		goto out;
	}
	/*
	 * A requested extension marked critical that nobody here
	 * understands: the requester says a certificate without it is
	 * unusable (RFC 5280 4.2), and tessera never copies it. Known ones
	 * (basicConstraints, keyUsage, ...) are ignored as the profile
	 * decides them.
	 */
	for (idx = 0; idx < sk_X509_EXTENSION_num(exts); idx++) {
		ext = sk_X509_EXTENSION_value(exts, idx);
		if (X509_EXTENSION_get_critical(ext) &&
		    !X509_supported_extension(ext)) {
			st = status_fail(ST_MALFORMED,
			    "CSR requests critical extension %s, which "
			    "tessera does not know (RFC 5280 4.2)",
			    obj_name(X509_EXTENSION_get_object(ext), oid,
			        sizeof(oid)));
			goto out;
		}
	}
	if ((idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) < 0) {
		st = ST_OK;
		goto out;
	}
	if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) >= 0) {
		st = status_fail(ST_MALFORMED,
		    "CSR requests more than one "
		    "subjectAltName extension");
		goto out;
	}
	ext = X509v3_get_ext(exts, idx);
	data = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(data);
	end = p + ASN1_STRING_length(data);
	csr->san = d2i_GENERAL_NAMES(NULL, &p, ASN1_STRING_length(data));
	if (csr->san == NULL || p != end) {
		st = status_fail_ssl(ST_MALFORMED,
		    "subjectAltName does not "
		    "decode as exactly one GeneralNames");
		goto out;
	}
	st = check_san_entries(csr->san);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return st;
}

/* PKCS#9 challengePassword: one attribute, one DirectoryString value. */
static enum status
parse_challenge(struct ca_csr *csr)
{
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	int idx;

	idx =
	    X509_REQ_get_attr_by_NID(csr->req, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		return ST_OK;
	if (X509_REQ_get_attr_by_NID(
	        csr->req, NID_pkcs9_challengePassword, idx) >= 0)
		return status_fail(ST_MALFORMED,
		    "CSR has more than one "
		    "challengePassword attribute");
	attr = X509_REQ_get_attr(csr->req, idx);
	if (X509_ATTRIBUTE_count(attr) != 1)
		return status_fail(ST_MALFORMED,
		    "challengePassword must have "
		    "exactly one value");
	t = X509_ATTRIBUTE_get0_type(attr, 0);
	switch (t != NULL ? t->type : -1) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_T61STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
		break;
	default:
		return status_fail(ST_MALFORMED,
		    "challengePassword is not a "
		    "DirectoryString (PKCS#9)");
	}
	return string_utf8(
	    t->value.asn1_string, "challengePassword", &csr->challenge);
}

/* Remember what the key is, for checks and for messages. */
static void
describe_key(struct ca_csr *csr)
{
	char group[80];
	const char *nist;
	size_t glen = 0;

	csr->key_id = EVP_PKEY_get_base_id(csr->pkey);
	csr->key_bits = EVP_PKEY_get_bits(csr->pkey);
	csr->curve_nid = NID_undef;
	switch (csr->key_id) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(
		        csr->pkey, group, sizeof(group), &glen) != 1) {
			ERR_clear_error();
			snprintf(csr->key_desc, sizeof(csr->key_desc),
			    "ec:explicit");
			break;
		}
		csr->curve_nid = OBJ_sn2nid(group);
		if (csr->curve_nid == NID_undef)
			csr->curve_nid = OBJ_ln2nid(group);
		nist = EC_curve_nid2nist(csr->curve_nid);
		snprintf(csr->key_desc, sizeof(csr->key_desc), "ec:%s",
		    nist != NULL ? nist : group);
		break;
	case EVP_PKEY_RSA:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "rsa:%d",
		    csr->key_bits);
		break;
	case EVP_PKEY_RSA_PSS:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "rsa-pss:%d",
		    csr->key_bits);
		break;
	case EVP_PKEY_DSA:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "dsa:%d",
		    csr->key_bits);
		break;
	case EVP_PKEY_ED25519:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "ed448");
		break;
	default:
		snprintf(csr->key_desc, sizeof(csr->key_desc), "%s",
		    EVP_PKEY_get0_type_name(csr->pkey) != NULL
		        ? EVP_PKEY_get0_type_name(csr->pkey)
		        : "unknown");
		break;
	}
}

/*
 * NIST SP 800-89 5.3.3 wants 2^16 < e < 2^256; tessera takes the one
 * exponent every implementation uses, 65537, so that e = 3 (and its
 * padding attacks) or a huge e never gets a certificate.
 */
static enum status
check_rsa_exponent(const EVP_PKEY *pkey)
{
	BIGNUM *e = NULL;
	char *dec = NULL;
	enum status st = ST_OK;
	int id = EVP_PKEY_get_base_id(pkey);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS)
		return ST_OK;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		return status_fail_ssl(
		    ST_MALFORMED, "CSR's RSA key has no public exponent");
	if (!BN_is_word(e, RSA_F4)) {
		dec = BN_num_bits(e) <= 64 ? BN_bn2dec(e) : NULL;
		st = status_fail(ST_MALFORMED,
		    "CSR's RSA public exponent is %s; tessera accepts only "
		    "65537 (NIST SP 800-89 5.3.3)",
		    dec != NULL ? dec : "over 64 bits");
	}
	OPENSSL_free(dec);
	BN_free(e);
	return st;
}

enum status
ca_csr_parse_reference(const uint8_t *der, size_t der_len, struct ca_csr **out)
{
	struct ca_csr *csr = NULL;
	const uint8_t *p = der;
	char encoding[32];
	long version;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if (der_len == 0)
		return status_fail(ST_MALFORMED, "empty CSR");
	if (der_len > LIMIT_CSR_DER)
		return status_fail(ST_LIMIT, "CSR is %zu bytes, limit is %d",
		    der_len, LIMIT_CSR_DER);
	if ((csr = calloc(1, sizeof(*csr))) == NULL)
		return status_fail(ST_NOMEM, "out of memory");
	if ((csr->req = d2i_X509_REQ(NULL, &p, (long)der_len)) == NULL) {
		st = status_fail_ssl(ST_MALFORMED, "not a DER PKCS#10 request");
		goto out;
	}
	if (p != der + der_len) {
		st = status_fail(ST_MALFORMED,
		    "trailing bytes after the CSR "
		    "(%zu)",
		    (size_t)(der + der_len - p));
		goto out;
	}
	if ((version = X509_REQ_get_version(csr->req)) != 0) {
		st = status_fail(ST_MALFORMED,
		    "CSR version is %ld, only v1 "
		    "(0) is defined (RFC 2986 4.1)",
		    version);
		goto out;
	}
	if ((csr->pkey = X509_REQ_get0_pubkey(csr->req)) == NULL) {
		st = status_fail_ssl(ST_MALFORMED,
		    "CSR public key does not "
		    "decode");
		goto out;
	}
	/*
	 * RFC 5480 2.1.1: a PKIX EC key names its curve; specifiedCurve MUST
	 * NOT be used. OpenSSL maps explicit parameters of a known curve to
	 * its name, and would put them into the certificate as they came.
	 */
	if (EVP_PKEY_get_base_id(csr->pkey) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(csr->pkey,
	        OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof(encoding),
	        NULL) == 1 &&
	    strcmp(encoding, OSSL_PKEY_EC_ENCODING_EXPLICIT) == 0) {
		st = status_fail(ST_MALFORMED,
		    "CSR key has explicit EC parameters (RFC 5480 2.1.1: "
		    "a named curve only)");
		goto out;
	}
	/* The proof of possession: the one place it is decided. */
	if (X509_REQ_verify(csr->req, csr->pkey) != 1) {
		st = status_fail_ssl(ST_MALFORMED,
		    "CSR signature does not "
		    "verify (no proof of possession)");
		goto out;
	}
	if ((st = check_rsa_exponent(csr->pkey)) != ST_OK)
		goto out;
	if ((st = parse_subject(csr)) != ST_OK)
		goto out;
	if ((st = parse_extensions(csr)) != ST_OK)
		goto out;
	if ((st = parse_challenge(csr)) != ST_OK)
		goto out;
	describe_key(csr);
	/* The SPKI as the certificate will carry it (without an encoder for
	 * an EC key); when it cannot be written, issuing tries i2d_PUBKEY. */
	if (ca_certder_spki(X509_REQ_get_X509_PUBKEY(csr->req), &csr->spki,
	        &csr->spki_len) != ST_OK) {
		csr->spki = NULL;
		csr->spki_len = 0;
	}
	ERR_clear_error();
	*out = csr;
	csr = NULL;
	st = ST_OK;
out:
	ca_csr_free(csr);
	return st;
}

/* ---- tessera's own reader (see the top of the file) ------------------ */

/* The SPKIs own_read takes, up to the point's first octet (RFC 5480). */
static const uint8_t spki_p256[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const uint8_t spki_p384[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
    0x22, 0x03, 0x62, 0x00};
/* rsaEncryption with NULL parameters (RFC 3279 2.3.1). */
static const uint8_t alg_rsa[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
/* e = 65537, the one exponent tessera accepts. */
static const uint8_t rsa_f4[] = {0x02, 0x03, 0x01, 0x00, 0x01};

/* Signature algorithms: ECDSA parameters absent (RFC 5758 3.2), RSA NULL. */
static const uint8_t sig_ecdsa256[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t sig_ecdsa384[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t sig_rsa256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const uint8_t sig_rsa384[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00};

static const struct {
	const uint8_t *der;
	size_t len;
	int key_id;
	enum digest_alg md;
} sig_algs[] = {
    {sig_ecdsa256, sizeof(sig_ecdsa256), EVP_PKEY_EC, DIGEST_SHA256},
    {sig_ecdsa384, sizeof(sig_ecdsa384), EVP_PKEY_EC, DIGEST_SHA384},
    {sig_rsa256, sizeof(sig_rsa256), EVP_PKEY_RSA, DIGEST_SHA256},
    {sig_rsa384, sizeof(sig_rsa384), EVP_PKEY_RSA, DIGEST_SHA384},
};

/* Attribute types (PKCS#9), the content of their OIDs. */
static const uint8_t oid_ext_req[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
static const uint8_t oid_ms_ext_req[] = {
    0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0e};
static const uint8_t oid_challenge[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07};
/* Extensions a request may mark critical (X509_supported_extension). */
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};
static const uint8_t oid_ku[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_bc[] = {0x55, 0x1d, 0x13};
static const uint8_t oid_eku[] = {0x55, 0x1d, 0x25};

/* RSA moduli own_read makes keys of: 512 to 8,192 bits. */
#define OWN_RSA_MIN 64
#define OWN_RSA_MAX 1024

/*
 * The key makers, fetched once per process (EVP_PKEY_fromdata reads its
 * context and never writes it), then only read, as common/digest's table.
 * The EC curves' parameters too: a key made from a group name builds the
 * curve's group anew (EC_GROUP_new_by_curve_name, two thirds of a P-256
 * key's import); a key whose parameters are copied from one made once
 * shares the work already done, and only its point is decoded.
 */
static pthread_once_t makers_once = PTHREAD_ONCE_INIT;
static EVP_PKEY_CTX *maker_ec, *maker_rsa;
static EVP_PKEY *curve_p256, *curve_p384;

/* Parameters only: the named curve group (NULL when it cannot be made). */
static EVP_PKEY *
curve_make(const char *group)
{
	OSSL_PARAM params[2];
	EVP_PKEY *k = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata(maker_ec, &k, EVP_PKEY_KEY_PARAMETERS, params) !=
	    1) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static void
makers_fetch(void)
{
	maker_ec = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	maker_rsa = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (maker_ec != NULL && EVP_PKEY_fromdata_init(maker_ec) != 1) {
		EVP_PKEY_CTX_free(maker_ec);
		maker_ec = NULL;
	}
	if (maker_rsa != NULL && EVP_PKEY_fromdata_init(maker_rsa) != 1) {
		EVP_PKEY_CTX_free(maker_rsa);
		maker_rsa = NULL;
	}
	if (maker_ec != NULL) {
		curve_p256 = curve_make(SN_X9_62_prime256v1);
		curve_p384 = curve_make(SN_secp384r1);
	}
	ERR_clear_error();
}

static int
bytes_eq(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* The content of r, whole, is an OID TLV with content oid. */
static int
oid_is(const struct ca_der_r *oid, const uint8_t *c, size_t n)
{
	return bytes_eq(oid->p, (size_t)(oid->end - oid->p), c, n);
}

/* An EC public key on a named curve: its uncompressed point. */
static int
own_key_ec(const uint8_t *spki, size_t len, EVP_PKEY **pkey)
{
	const EVP_PKEY *curve;
	const uint8_t *pt;
	size_t pt_len;
	EVP_PKEY *k;

	if (len == sizeof(spki_p256) + 65 &&
	    memcmp(spki, spki_p256, sizeof(spki_p256)) == 0) {
		curve = curve_p256;
		pt = spki + sizeof(spki_p256);
	} else if (len == sizeof(spki_p384) + 97 &&
	    memcmp(spki, spki_p384, sizeof(spki_p384)) == 0) {
		curve = curve_p384;
		pt = spki + sizeof(spki_p384);
	} else {
		return 0;
	}
	pt_len = (size_t)(spki + len - pt);
	if (pt[0] != POINT_CONVERSION_UNCOMPRESSED || curve == NULL)
		return 0;
	/*
	 * The curve's parameters copied (the shared key is only read), then
	 * the point decoded, and checked on the curve, by OpenSSL
	 * (EC_KEY_oct2key, as EVP_PKEY_fromdata does it).
	 */
	if ((k = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_copy_parameters(k, curve) != 1 ||
	    EVP_PKEY_set1_encoded_public_key(k, pt, pt_len) != 1) {
		EVP_PKEY_free(k);
		return 0;
	}
	*pkey = k;
	return 1;
}

/* An RSA public key: rsaEncryption, n positive and minimal, e = 65537. */
static int
own_key_rsa(const uint8_t *spki, size_t len, EVP_PKEY **pkey)
{
	static const uint8_t e_native[] = {1, 0, 1};
	struct ca_der_r r, seq, bits, key, n;
	OSSL_PARAM params[3];
	uint8_t n_native[OWN_RSA_MAX], e_buf[sizeof(e_native)];
	const uint8_t *alg;
	size_t alg_len, n_len, i;
	int is_le;
	uint16_t one = 1;

	ca_der_r_init(&r, spki, len);
	if (!ca_der_r_get(&r, CA_DER_SEQUENCE, &seq, NULL, NULL) ||
	    !ca_der_r_empty(&r) ||
	    !ca_der_r_get(&seq, CA_DER_SEQUENCE, &key, &alg, &alg_len) ||
	    !bytes_eq(alg, alg_len, alg_rsa, sizeof(alg_rsa)) ||
	    !ca_der_r_get(&seq, CA_DER_BIT_STRING, &bits, NULL, NULL) ||
	    !ca_der_r_empty(&seq) || ca_der_r_empty(&bits) || bits.p[0] != 0)
		return 0;
	bits.p++;
	if (!ca_der_r_get(&bits, CA_DER_SEQUENCE, &key, NULL, NULL) ||
	    !ca_der_r_empty(&bits) ||
	    !ca_der_r_get(&key, CA_DER_INTEGER, &n, NULL, NULL) ||
	    !bytes_eq(key.p, (size_t)(key.end - key.p), rsa_f4, sizeof(rsa_f4)))
		return 0;
	/* Positive and minimal: no sign bit, a 0x00 only before one. */
	n_len = (size_t)(n.end - n.p);
	if (n_len == 0 || (n.p[0] & 0x80) != 0)
		return 0;
	if (n.p[0] == 0) {
		if (n_len < 2 || (n.p[1] & 0x80) == 0)
			return 0;
		n.p++;
		n_len--;
	}
	if (n_len < OWN_RSA_MIN || n_len > OWN_RSA_MAX || maker_rsa == NULL)
		return 0;
	/* OSSL_PARAM integers are in the machine's byte order. */
	is_le = *(const uint8_t *)&one == 1;
	for (i = 0; i < n_len; i++)
		n_native[i] = is_le ? n.p[n_len - 1 - i] : n.p[i];
	for (i = 0; i < sizeof(e_buf); i++)
		e_buf[i] =
		    is_le ? e_native[i] : e_native[sizeof(e_buf) - 1 - i];
	params[0] =
	    OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, n_native, n_len);
	params[1] = OSSL_PARAM_construct_BN(
	    OSSL_PKEY_PARAM_RSA_E, e_buf, sizeof(e_buf));
	params[2] = OSSL_PARAM_construct_end();
	return EVP_PKEY_fromdata(
	           maker_rsa, pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
}

/*
 * The proof of possession: sig (a BIT STRING's content) over the
 * CertificationRequestInfo's bytes as received, by alg with csr's key.
 */
static int
own_verify(const struct ca_csr *csr, const uint8_t *alg, size_t alg_len,
    const struct ca_der_r *sig, const uint8_t *info, size_t info_len)
{
	EVP_MD_CTX *m = NULL;
	const EVP_MD *md;
	size_t i;
	int ok = 0;

	/* Whole octets only (X.690 8.6.2.2): the unused-bits octet is 0. */
	if (ca_der_r_empty(sig) || sig->p[0] != 0)
		return 0;
	for (i = 0; i < sizeof(sig_algs) / sizeof(sig_algs[0]); i++)
		if (bytes_eq(alg, alg_len, sig_algs[i].der, sig_algs[i].len))
			break;
	if (i == sizeof(sig_algs) / sizeof(sig_algs[0]) ||
	    sig_algs[i].key_id != EVP_PKEY_get_base_id(csr->pkey) ||
	    (md = digest_md(sig_algs[i].md)) == NULL)
		return 0;
	if ((m = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestVerifyInit(m, NULL, md, NULL, csr->pkey) == 1 &&
	    EVP_DigestVerify(m, sig->p + 1, (size_t)(sig->end - sig->p) - 1,
	        info, info_len) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

/*
 * One string of the types own_read takes, as the ASN1_STRING OpenSSL
 * would have decoded: the reference's checks then run on it unchanged.
 */
static int
own_string(const struct ca_der_r *r, uint8_t tag, ASN1_STRING *s)
{
	int type;

	switch (tag) {
	case CA_DER_UTF8STRING:
		type = V_ASN1_UTF8STRING;
		break;
	case CA_DER_PRINTABLESTRING:
		type = V_ASN1_PRINTABLESTRING;
		break;
	case CA_DER_IA5STRING:
		type = V_ASN1_IA5STRING;
		break;
	case CA_DER_BMPSTRING:
		type = V_ASN1_BMPSTRING;
		break;
	case CA_DER_UNIVERSALSTRING:
		type = V_ASN1_UNIVERSALSTRING;
		break;
	default:
		return 0;
	}
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->data = (unsigned char *)r->p;
	s->length = (int)(r->end - r->p);
	return 1;
}

/* The subject: one attribute per RDN, each of a string type above. */
static int
own_subject(struct ca_csr *csr, struct ca_der_r name)
{
	struct ca_der_r rdn, atv, oid, val;
	struct csr_attr *a;
	ASN1_STRING s;
	const uint8_t *oid_tlv, *p;
	size_t oid_len, j;
	char what[80], buf[64];
	uint8_t tag;

	while (!ca_der_r_empty(&name)) {
		if (csr->attr_count == LIMIT_SUBJECT_ATTRS ||
		    !ca_der_r_get(&name, CA_DER_SET, &rdn, NULL, NULL) ||
		    !ca_der_r_get(&rdn, CA_DER_SEQUENCE, &atv, NULL, NULL) ||
		    !ca_der_r_empty(&rdn) ||
		    !ca_der_r_get(&atv, CA_DER_OID, &oid, &oid_tlv, &oid_len) ||
		    ca_der_r_empty(&atv))
			return 0;
		tag = atv.p[0];
		if (!ca_der_r_get(&atv, tag, &val, NULL, NULL) ||
		    !ca_der_r_empty(&atv) || !own_string(&val, tag, &s))
			return 0;
		for (j = 0; j < csr->attr_count; j++)
			if ((size_t)OBJ_length(csr->attrs[j].obj) ==
			        (size_t)(oid.end - oid.p) &&
			    memcmp(OBJ_get0_data(csr->attrs[j].obj), oid.p,
			        (size_t)(oid.end - oid.p)) == 0)
				return 0;
		a = &csr->attrs[csr->attr_count];
		p = oid_tlv;
		if ((a->obj = d2i_ASN1_OBJECT(NULL, &p, (long)oid_len)) ==
		        NULL ||
		    p != oid_tlv + oid_len) {
			ASN1_OBJECT_free(a->obj);
			a->obj = NULL;
			return 0;
		}
		a->nid = OBJ_obj2nid(a->obj);
		csr->attr_count++;
		snprintf(what, sizeof(what), "subject attribute %s",
		    obj_name(a->obj, buf, sizeof(buf)));
		if (check_string_type(&s, what) != ST_OK ||
		    string_utf8(&s, what, &a->value) != ST_OK ||
		    check_controls(a->value, what, &a->is_ascii) != ST_OK)
			return 0;
		if (a->nid == NID_commonName)
			csr->cn = a->value;
		else if (a->nid == NID_serialNumber)
			csr->serial = a->value;
	}
	return 1;
}

/*
 * The extensionRequest's Extensions: the SAN decoded and checked as the
 * reference does; a critical extension other than those tessera knows it
 * may be given, an extension twice, anything not DER: not taken.
 */
static int
own_extensions(struct ca_csr *csr, struct ca_der_r exts)
{
	struct ca_der_r ext, oid, crit, val;
	const uint8_t *p;
	int has_san = 0, is_critical;

	while (!ca_der_r_empty(&exts)) {
		if (!ca_der_r_get(&exts, CA_DER_SEQUENCE, &ext, NULL, NULL) ||
		    !ca_der_r_get(&ext, CA_DER_OID, &oid, NULL, NULL) ||
		    !ca_der_oid_ok(oid.p, (size_t)(oid.end - oid.p)))
			return 0;
		is_critical = 0;
		if (ca_der_r_peek(&ext, CA_DER_BOOLEAN)) {
			/* DEFAULT FALSE: in DER only ever TRUE, 0xff. */
			if (!ca_der_r_get(
			        &ext, CA_DER_BOOLEAN, &crit, NULL, NULL) ||
			    !bytes_eq(crit.p, (size_t)(crit.end - crit.p),
			        (const uint8_t *)"\xff", 1))
				return 0;
			is_critical = 1;
		}
		if (!ca_der_r_get(
		        &ext, CA_DER_OCTET_STRING, &val, NULL, NULL) ||
		    !ca_der_r_empty(&ext))
			return 0;
		if (is_critical && !oid_is(&oid, oid_san, sizeof(oid_san)) &&
		    !oid_is(&oid, oid_ku, sizeof(oid_ku)) &&
		    !oid_is(&oid, oid_bc, sizeof(oid_bc)) &&
		    !oid_is(&oid, oid_eku, sizeof(oid_eku)))
			return 0;
		if (!oid_is(&oid, oid_san, sizeof(oid_san)))
			continue;
		if (has_san++)
			return 0;
		p = val.p;
		csr->san = d2i_GENERAL_NAMES(NULL, &p, (long)(val.end - val.p));
		if (csr->san == NULL || p != val.end ||
		    check_san_entries(csr->san) != ST_OK)
			return 0;
	}
	return 1;
}

/*
 * The attributes: at most one extensionRequest (PKCS#9 or Microsoft's),
 * at most one challengePassword, each with one value; any other: not
 * taken.
 */
static int
own_attributes(struct ca_csr *csr, struct ca_der_r attrs)
{
	struct ca_der_r attr, oid, vals, val;
	ASN1_STRING s;
	int has_ext = 0, has_challenge = 0;
	uint8_t tag;

	while (!ca_der_r_empty(&attrs)) {
		if (!ca_der_r_get(&attrs, CA_DER_SEQUENCE, &attr, NULL, NULL) ||
		    !ca_der_r_get(&attr, CA_DER_OID, &oid, NULL, NULL) ||
		    !ca_der_r_get(&attr, CA_DER_SET, &vals, NULL, NULL) ||
		    !ca_der_r_empty(&attr) || ca_der_r_empty(&vals))
			return 0;
		tag = vals.p[0];
		if (!ca_der_r_get(&vals, tag, &val, NULL, NULL) ||
		    !ca_der_r_empty(&vals))
			return 0;
		if (oid_is(&oid, oid_ext_req, sizeof(oid_ext_req)) ||
		    oid_is(&oid, oid_ms_ext_req, sizeof(oid_ms_ext_req))) {
			if (has_ext++ || tag != CA_DER_SEQUENCE ||
			    !own_extensions(csr, val))
				return 0;
		} else if (oid_is(&oid, oid_challenge, sizeof(oid_challenge))) {
			/* TeletexString, which the reference takes, is not. */
			if (has_challenge++ || !own_string(&val, tag, &s) ||
			    string_utf8(&s, "challengePassword",
			        &csr->challenge) != ST_OK)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

/*
 * CertificationRequest (RFC 2986 4.1, 4.2) into csr: 1 when own_read
 * takes it, 0 (csr partly filled, for ca_csr_free) when the reference is
 * to decide.
 */
static int
own_read(const uint8_t *der, size_t der_len, struct ca_csr *csr)
{
	static const uint8_t v1[] = {0x02, 0x01, 0x00};
	struct ca_der_r r, req, info, ver, name, spki, attrs, alg, sig;
	const uint8_t *info_tlv, *ver_tlv, *spki_tlv, *alg_tlv;
	size_t info_len, ver_len, spki_len, alg_len;

	pthread_once(&makers_once, makers_fetch);
	ca_der_r_init(&r, der, der_len);
	if (!ca_der_r_get(&r, CA_DER_SEQUENCE, &req, NULL, NULL) ||
	    !ca_der_r_empty(&r) ||
	    !ca_der_r_get(&req, CA_DER_SEQUENCE, &info, &info_tlv, &info_len) ||
	    !ca_der_r_get(&req, CA_DER_SEQUENCE, &alg, &alg_tlv, &alg_len) ||
	    !ca_der_r_get(&req, CA_DER_BIT_STRING, &sig, NULL, NULL) ||
	    !ca_der_r_empty(&req))
		return 0;
	if (!ca_der_r_get(&info, CA_DER_INTEGER, &ver, &ver_tlv, &ver_len) ||
	    !bytes_eq(ver_tlv, ver_len, v1, sizeof(v1)) ||
	    !ca_der_r_get(&info, CA_DER_SEQUENCE, &name, NULL, NULL) ||
	    !ca_der_r_get(&info, CA_DER_SEQUENCE, &spki, &spki_tlv, &spki_len))
		return 0;
	/* attributes [0] IMPLICIT SET OF Attribute, absent or present. */
	ca_der_r_init(&attrs, info.p, 0);
	if (!ca_der_r_empty(&info) &&
	    !ca_der_r_get(&info, CA_DER_CTX_CONS(0), &attrs, NULL, NULL))
		return 0;
	if (!ca_der_r_empty(&info))
		return 0;
	if (!own_key_ec(spki_tlv, spki_len, &csr->pkey) &&
	    !own_key_rsa(spki_tlv, spki_len, &csr->pkey))
		return 0;
	if (!own_verify(csr, alg_tlv, alg_len, &sig, info_tlv, info_len))
		return 0;
	if (check_rsa_exponent(csr->pkey) != ST_OK || !own_subject(csr, name) ||
	    !own_attributes(csr, attrs))
		return 0;
	describe_key(csr);
	/* Taken only in the form ca_certder_spki writes: kept as sent. */
	if ((csr->spki = OPENSSL_malloc(spki_len)) == NULL)
		return 0;
	memcpy(csr->spki, spki_tlv, spki_len);
	csr->spki_len = spki_len;
	return 1;
}

enum status
ca_csr_parse_own(const uint8_t *der, size_t der_len, struct ca_csr **out)
{
	struct ca_csr *csr = NULL;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if (der_len == 0 || der_len > LIMIT_CSR_DER)
		return status_fail(ST_MALFORMED, "own reader: not taken");
	if ((csr = calloc(1, sizeof(*csr))) == NULL)
		return status_fail(ST_NOMEM, "out of memory");
	ERR_set_mark();
	if (!own_read(der, der_len, csr)) {
		ERR_pop_to_mark();
		st = status_fail(ST_MALFORMED, "own reader: not taken");
		goto out;
	}
	ERR_pop_to_mark();
	*out = csr;
	csr = NULL;
	st = ST_OK;
out:
	ca_csr_free(csr);
	return st;
}

enum status
ca_csr_parse(const uint8_t *der, size_t der_len, struct ca_csr **out)
{
	struct ca_csr *csr = NULL;

	*out = NULL;
	if (der_len > 0 && der_len <= LIMIT_CSR_DER &&
	    (csr = calloc(1, sizeof(*csr))) != NULL) {
		ERR_set_mark();
		if (own_read(der, der_len, csr)) {
			ERR_pop_to_mark();
			*out = csr;
			return ST_OK;
		}
		ERR_pop_to_mark();
		ca_csr_free(csr);
	}
	return ca_csr_parse_reference(der, der_len, out);
}

void
ca_csr_free(struct ca_csr *csr)
{
	size_t i;

	if (csr == NULL)
		return;
	if (csr->req != NULL)
		X509_REQ_free(csr->req);
	else
		EVP_PKEY_free(csr->pkey);
	OPENSSL_free(csr->spki);
	GENERAL_NAMES_free(csr->san);
	if (csr->challenge != NULL)
		OPENSSL_clear_free(csr->challenge, strlen(csr->challenge));
	for (i = 0; i < csr->attr_count; i++) {
		OPENSSL_free(csr->attrs[i].value);
		ASN1_OBJECT_free(csr->attrs[i].obj);
	}
	free(csr);
}

static int
key_allowed(const struct ca_csr *csr, const struct policy_profile *profile)
{
	const struct policy_key_rule *r;
	size_t i;

	for (i = 0; i < profile->key_count; i++) {
		r = &profile->keys[i];
		if (r->kind == POLICY_KEY_EC && csr->key_id == EVP_PKEY_EC &&
		    csr->curve_nid != NID_undef &&
		    csr->curve_nid == r->curve_nid)
			return 1;
		if (r->kind == POLICY_KEY_RSA && csr->key_id == EVP_PKEY_RSA &&
		    csr->key_bits >= r->min_bits &&
		    csr->key_bits <= profile->rsa_max_bits)
			return 1;
	}
	return 0;
}

/* The CSR's attribute nid, or NULL. */
static const struct csr_attr *
attr_get(const struct ca_csr *csr, int nid)
{
	size_t i;

	for (i = 0; i < csr->attr_count; i++)
		if (csr->attrs[i].nid == nid)
			return &csr->attrs[i];
	return NULL;
}

static int
id_nid(const struct policy_profile *profile)
{
	return profile->device_id == POLICY_DEVICE_ID_SERIALNUMBER
	    ? NID_serialNumber
	    : NID_commonName;
}

/*
 * The value the profile issues for rule r and device id (into out), or ""
 * when a pattern rule finds nothing in the CSR. ST_MALFORMED when the
 * value does not fit the attribute's string type.
 */
static enum status
rule_value(const struct ca_csr *csr, const struct policy_profile *profile,
    const struct policy_subject_rule *r, const char *id, char *out, size_t cap)
{
	const struct csr_attr *a;
	size_t n, i, chars;

	out[0] = '\0';
	switch (r->kind) {
	case POLICY_ATTR_ID:
		if (policy_template_expand(r->value, id, out, cap) != 0)
			return status_fail(ST_LIMIT,
			    "subject attribute %s of profile %s would be over "
			    "%zu bytes",
			    OBJ_nid2sn(r->nid), profile->name, cap - 1);
		break;
	case POLICY_ATTR_FIXED:
		snprintf(out, cap, "%s", r->value);
		break;
	default:
		if ((a = attr_get(csr, r->nid)) != NULL)
			snprintf(out, cap, "%s", a->value);
		break;
	}
	n = strlen(out);
	/* RFC 5280 App. A: ub-common-name and friends are 64 characters. */
	for (i = 0, chars = 0; i < n; i++)
		chars += ((unsigned char)out[i] & 0xc0) != 0x80;
	if (chars > 64)
		return status_fail(ST_MALFORMED,
		    "subject attribute %s is %zu characters, RFC 5280's upper "
		    "bound is 64",
		    OBJ_nid2sn(r->nid), chars);
	if ((r->nid == NID_serialNumber || r->nid == NID_countryName) &&
	    !is_printable((const unsigned char *)out, n))
		return status_fail(ST_MALFORMED,
		    "subject attribute %s has characters outside "
		    "PrintableString (RFC 5280 App. A)",
		    OBJ_nid2sn(r->nid));
	if (r->nid == NID_countryName && n != 0 &&
	    (n != 2 || out[0] < 'A' || out[0] > 'Z' || out[1] < 'A' ||
	        out[1] > 'Z'))
		return status_fail(ST_MALFORMED,
		    "subject attribute C must be two upper-case letters (ISO "
		    "3166, RFC 5280 App. A)");
	return ST_OK;
}

/*
 * Every attribute of the CSR's subject has a rule in the profile and
 * agrees with it; the device id is there and canonical. What the rule
 * does not take from the CSR is never copied: it comes from the policy.
 */
static enum status
check_subject(const struct ca_csr *csr, const struct policy_profile *profile)
{
	const struct policy_subject_rule *r;
	const struct csr_attr *a;
	const char *id;
	char oid[64], q[QUOTE_CAP], want[LIMIT_NAME_LEN + 1];
	size_t i;
	enum status st;

	if ((id = ca_csr_device_id(csr, profile)) == NULL)
		return status_fail(ST_DENIED,
		    "profile %s takes the device id from the subject's %s, "
		    "which the CSR does not have",
		    profile->name, OBJ_nid2sn(id_nid(profile)));
	if ((st = ca_device_id_check(id, profile)) != ST_OK)
		return st;
	for (i = 0; i < csr->attr_count; i++) {
		a = &csr->attrs[i];
		if ((r = policy_subject_rule(profile, a->nid)) == NULL)
			return status_fail(ST_DENIED,
			    "subject attribute %s is not allowed by profile %s "
			    "(it has no rule for it)",
			    obj_name(a->obj, oid, sizeof(oid)), profile->name);
		if (!a->is_ascii && !profile->subject_utf8)
			return status_fail(ST_MALFORMED,
			    "subject attribute %s %s is not ASCII, and profile "
			    "%s does not allow UTF-8 (look-alike characters)",
			    OBJ_nid2sn(a->nid),
			    log_quote(a->value, q, sizeof(q)), profile->name);
		if (a->nid == id_nid(profile))
			continue;
		switch (r->kind) {
		case POLICY_ATTR_PATTERN:
			if (!pattern_match(r->pattern, a->value))
				return status_fail(ST_DENIED,
				    "subject attribute %s %s does not match "
				    "profile %s's pattern %s",
				    OBJ_nid2sn(a->nid),
				    log_quote(a->value, q, sizeof(q)),
				    profile->name, pattern_source(r->pattern));
			break;
		default:
			/* Fixed or from the id: the CSR may only repeat it. */
			if ((st = rule_value(csr, profile, r, id, want,
			         sizeof(want))) != ST_OK)
				return st;
			if (strcmp(a->value, want) != 0 &&
			    (r->kind != POLICY_ATTR_ID ||
			        strcmp(a->value, id) != 0))
				return status_fail(ST_DENIED,
				    "subject attribute %s %s is not what "
				    "profile %s issues (\"%s\")",
				    OBJ_nid2sn(a->nid),
				    log_quote(a->value, q, sizeof(q)),
				    profile->name, want);
			break;
		}
	}
	for (i = 0; i < profile->subject_count; i++) {
		r = &profile->subject[i];
		if (r->kind == POLICY_ATTR_PATTERN && r->is_required &&
		    attr_get(csr, r->nid) == NULL)
			return status_fail(ST_DENIED,
			    "profile %s requires subject attribute %s",
			    profile->name, OBJ_nid2sn(r->nid));
		if ((st = rule_value(
		         csr, profile, r, id, want, sizeof(want))) != ST_OK)
			return st;
	}
	return ST_OK;
}

static const char *
san_type_name(int type)
{
	switch (type) {
	case GEN_OTHERNAME:
		return "otherName";
	case GEN_EMAIL:
		return "email";
	case GEN_DNS:
		return "DNS";
	case GEN_X400:
		return "x400Address";
	case GEN_DIRNAME:
		return "dirName";
	case GEN_EDIPARTY:
		return "ediPartyName";
	case GEN_URI:
		return "URI";
	case GEN_IPADD:
		return "IP";
	case GEN_RID:
		return "registeredID";
	default:
		return "unknown";
	}
}

/* ASCII case-insensitive equality (DNS names, RFC 4343). */
static int
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if ((*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a) !=
		    (*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b))
			return 0;
	return *a == *b;
}

/* A device id as one DNS label (LDH, RFC 1123 2.1), for DNS templates. */
static int
is_dns_label(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= 63 &&
	    strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == n &&
	    id[0] != '-' && id[n - 1] != '-';
}

/*
 * The i-th name of templates for id into out, or ST_MALFORMED when the id
 * cannot form it (a DNS name takes the id as one label).
 */
static enum status
template_name(const struct policy_profile *profile,
    const struct policy_templates *tt, int is_dns, size_t i, const char *id,
    char *out, size_t cap)
{
	if (is_dns && !is_dns_label(id))
		return status_fail(ST_MALFORMED,
		    "device id \"%s\" cannot form profile %s's DNS name %s: "
		    "the id must be one DNS label (a-z 0-9 -, at most 63)",
		    id, profile->name, tt->t[i]);
	if (policy_template_expand(tt->t[i], id, out, cap) != 0)
		return status_fail(ST_LIMIT,
		    "profile %s's name %s for device \"%s\" is too long",
		    profile->name, tt->t[i], id);
	return ST_OK;
}

/* 1 if the requested name is one of the template names for id. */
static enum status
san_in_templates(const struct policy_profile *profile,
    const struct policy_templates *tt, int is_dns, const char *id,
    const char *value, int *found, char *first, size_t first_cap)
{
	char name[LIMIT_NAME_LEN + 1];
	size_t i;
	enum status st;

	*found = 0;
	first[0] = '\0';
	for (i = 0; i < tt->count; i++) {
		if ((st = template_name(profile, tt, is_dns, i, id, name,
		         sizeof(name))) != ST_OK)
			return st;
		if (i == 0)
			snprintf(first, first_cap, "%s", name);
		if (is_dns ? ascii_caseeq(name, value)
		           : strcmp(name, value) == 0)
			*found = 1;
	}
	return ST_OK;
}

/* Loopback and unspecified addresses are never anyone's to hold. */
static int
ip_is_local(const ASN1_OCTET_STRING *ip)
{
	static const uint8_t v6_loop[16] = {[15] = 1}, v6_any[16] = {0};
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	const uint8_t *d = ASN1_STRING_get0_data(ip);
	int n = ASN1_STRING_length(ip);

	if (n == 16 && memcmp(d, mapped, 12) == 0) {
		d += 12;
		n = 4;
	}
	if (n == 4)
		return d[0] == 127 || (d[0] | d[1] | d[2] | d[3]) == 0;
	return n == 16 &&
	    (memcmp(d, v6_loop, 16) == 0 || memcmp(d, v6_any, 16) == 0);
}

/* Text of an IP SAN (4 or 16 bytes, as parsing checked) for messages. */
static void
ip_text(const ASN1_OCTET_STRING *ip, char *out, socklen_t cap)
{
	int n = ASN1_STRING_length(ip);

	if (inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip),
	        out, cap) == NULL)
		snprintf(out, cap, "?");
}

/*
 * Every SAN the CSR asks for is one the profile would issue to this
 * device anyway (a template name), or an allowed IP address.
 */
static enum status
check_san(const struct ca_csr *csr, const struct policy_profile *profile)
{
	const GENERAL_NAME *gn;
	const struct policy_templates *tt;
	const ASN1_IA5STRING *s;
	const char *id = ca_csr_device_id(csr, profile);
	char value[LIMIT_NAME_LEN + 1], first[LIMIT_NAME_LEN + 1];
	char q[QUOTE_CAP], ip[64];
	int i, n, found, is_dns;
	enum status st;

	/* Every template name is issued: the id must form each one. */
	for (i = 0; (size_t)i < profile->dns_templates.count; i++)
		if ((st = template_name(profile, &profile->dns_templates, 1,
		         (size_t)i, id, value, sizeof(value))) != ST_OK)
			return st;
	n = csr->san != NULL ? sk_GENERAL_NAME_num(csr->san) : 0;
	if ((size_t)n > profile->san_max)
		return status_fail(ST_DENIED,
		    "CSR requests %d subject alternative names; profile %s "
		    "allows at most %zu",
		    n, profile->name, profile->san_max);
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(csr->san, i);
		if (gn->type == GEN_IPADD) {
			ip_text(gn->d.iPAddress, ip, sizeof(ip));
			if (!profile->allow_ip)
				return status_fail(ST_DENIED,
				    "subjectAltName IP %s: profile %s issues "
				    "no IP addresses",
				    ip, profile->name);
			if (ip_is_local(gn->d.iPAddress))
				return status_fail(ST_DENIED,
				    "subjectAltName IP %s is a loopback or "
				    "unspecified address, which tessera never "
				    "issues",
				    ip);
			continue;
		}
		if (gn->type != GEN_DNS && gn->type != GEN_URI)
			return status_fail(ST_DENIED,
			    "subjectAltName %s is not allowed by profile %s",
			    san_type_name(gn->type), profile->name);
		is_dns = gn->type == GEN_DNS;
		tt = is_dns ? &profile->dns_templates : &profile->uri_templates;
		s = is_dns ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
		/* Parsing bounded it and refused NUL bytes. */
		memcpy(value, ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
		value[ASN1_STRING_length(s)] = '\0';
		if (tt->count == 0)
			return status_fail(ST_DENIED,
			    "subjectAltName %s %s: profile %s issues no %s "
			    "names",
			    san_type_name(gn->type),
			    log_quote(value, q, sizeof(q)), profile->name,
			    san_type_name(gn->type));
		if ((st = san_in_templates(profile, tt, is_dns, id, value,
		         &found, first, sizeof(first))) != ST_OK)
			return st;
		if (!found)
			return status_fail(ST_DENIED,
			    "subjectAltName %s %s is not a name of device "
			    "\"%s\": profile %s issues %s%s",
			    san_type_name(gn->type),
			    log_quote(value, q, sizeof(q)), id, profile->name,
			    first, tt->count > 1 ? " and the like" : " only");
	}
	return ST_OK;
}

enum status
ca_csr_check(const struct ca_csr *csr, const struct policy_profile *profile)
{
	char allowed[300];

	if (!key_allowed(csr, profile)) {
		policy_profile_keys_describe(profile, allowed, sizeof(allowed));
		return status_fail(ST_DENIED,
		    "CSR key is %s; profile %s "
		    "allows %s",
		    csr->key_desc, profile->name, allowed);
	}
	return ca_csr_check_names(csr, profile);
}

enum status
ca_csr_check_names(
    const struct ca_csr *csr, const struct policy_profile *profile)
{
	enum status st;

	if ((st = check_subject(csr, profile)) != ST_OK)
		return st;
	return check_san(csr, profile);
}

/* Append one attribute, UTF8String or PrintableString as RFC 5280 says. */
static int
name_add(X509_NAME *name, int nid, const char *value)
{
	int type = nid == NID_serialNumber || nid == NID_countryName
	    ? V_ASN1_PRINTABLESTRING
	    : V_ASN1_UTF8STRING;

	return X509_NAME_add_entry_by_NID(name, nid, type,
	    (const unsigned char *)value, (int)strlen(value), -1, 0);
}

static enum status
build_subject(const struct ca_csr *csr, const struct policy_profile *profile,
    const char *id, X509_NAME **out)
{
	const struct policy_subject_rule *r;
	X509_NAME *name = NULL;
	char value[LIMIT_NAME_LEN + 1];
	size_t i;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((name = X509_NAME_new()) == NULL)
		goto out;
	for (i = 0; POLICY_SUBJECT_ORDER[i] != NID_undef; i++) {
		if ((r = policy_subject_rule(
		         profile, POLICY_SUBJECT_ORDER[i])) == NULL)
			continue;
		if ((st = rule_value(
		         csr, profile, r, id, value, sizeof(value))) != ST_OK)
			goto out;
		if (value[0] == '\0')
			continue;
		if (!name_add(name, r->nid, value)) {
			st = status_fail_ssl(ST_NOMEM, "subject attribute");
			goto out;
		}
	}
	*out = name;
	name = NULL;
	st = ST_OK;
out:
	X509_NAME_free(name);
	return st;
}

static enum status
san_push(GENERAL_NAMES *san, int type, const char *value)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL ||
	    !ASN1_STRING_set(s, value, (int)strlen(value))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return status_fail(ST_NOMEM, "out of memory");
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (!sk_GENERAL_NAME_push(san, gn)) {
		GENERAL_NAME_free(gn);
		return status_fail(ST_NOMEM, "out of memory");
	}
	return ST_OK;
}

static enum status
build_san(const struct ca_csr *csr, const struct policy_profile *profile,
    const char *id, GENERAL_NAMES **out)
{
	GENERAL_NAMES *san = NULL;
	GENERAL_NAME *gn;
	char name[LIMIT_NAME_LEN + 1];
	size_t i;
	int j, n;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((san = GENERAL_NAMES_new()) == NULL)
		goto out;
	for (i = 0; i < profile->uri_templates.count; i++)
		if ((st = template_name(profile, &profile->uri_templates, 0, i,
		         id, name, sizeof(name))) != ST_OK ||
		    (st = san_push(san, GEN_URI, name)) != ST_OK)
			goto out;
	for (i = 0; i < profile->dns_templates.count; i++)
		if ((st = template_name(profile, &profile->dns_templates, 1, i,
		         id, name, sizeof(name))) != ST_OK ||
		    (st = san_push(san, GEN_DNS, name)) != ST_OK)
			goto out;
	n = csr->san != NULL && profile->allow_ip
	    ? sk_GENERAL_NAME_num(csr->san)
	    : 0;
	for (j = 0; j < n; j++) {
		gn = sk_GENERAL_NAME_value(csr->san, j);
		if (gn->type != GEN_IPADD)
			continue;
		if ((gn = GENERAL_NAME_dup(gn)) == NULL ||
		    !sk_GENERAL_NAME_push(san, gn)) {
			GENERAL_NAME_free(gn);
			st = status_fail(ST_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = san;
	san = NULL;
	st = ST_OK;
out:
	GENERAL_NAMES_free(san);
	return st;
}

/* RFC 9525 §6: a server is named by its SANs; a CN repeats one of them. */
static enum status
check_server_names(const struct policy_profile *profile,
    const X509_NAME *subject, const GENERAL_NAMES *san)
{
	const GENERAL_NAME *gn;
	const ASN1_STRING *cn;
	int i, idx;

	if (!profile->is_server_auth)
		return ST_OK;
	if (sk_GENERAL_NAME_num(san) == 0)
		return status_fail(ST_DENIED,
		    "profile %s issues serverAuth certificates, which need at "
		    "least one subjectAltName (RFC 9525 §6)",
		    profile->name);
	if ((idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)) < 0)
		return ST_OK;
	cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
	for (i = 0; i < sk_GENERAL_NAME_num(san); i++) {
		gn = sk_GENERAL_NAME_value(san, i);
		if (gn->type == GEN_DNS &&
		    ASN1_STRING_length(gn->d.dNSName) ==
		        ASN1_STRING_length(cn) &&
		    memcmp(ASN1_STRING_get0_data(gn->d.dNSName),
		        ASN1_STRING_get0_data(cn),
		        (size_t)ASN1_STRING_length(cn)) == 0)
			return ST_OK;
	}
	return status_fail(ST_DENIED,
	    "profile %s issues serverAuth certificates, whose CN must be one "
	    "of their DNS subjectAltNames (RFC 9525 §6)",
	    profile->name);
}

enum status
ca_csr_names_build(const struct ca_csr *csr,
    const struct policy_profile *profile, X509_NAME **subject,
    GENERAL_NAMES **san)
{
	X509_NAME *name = NULL;
	GENERAL_NAMES *names = NULL;
	const char *id;
	enum status st;

	*subject = NULL;
	*san = NULL;
	if ((st = ca_csr_check_names(csr, profile)) != ST_OK)
		return st;
	id = ca_csr_device_id(csr, profile);
	if ((st = build_subject(csr, profile, id, &name)) != ST_OK ||
	    (st = build_san(csr, profile, id, &names)) != ST_OK ||
	    (st = check_server_names(profile, name, names)) != ST_OK)
		goto out;
	*subject = name;
	*san = names;
	name = NULL;
	names = NULL;
out:
	X509_NAME_free(name);
	GENERAL_NAMES_free(names);
	return st;
}

void
ca_csr_keygen_rule(const struct ca_csr *csr,
    const struct policy_profile *profile, struct policy_key_rule *out)
{
	const struct policy_key_rule *r, *best = NULL;
	enum policy_key_kind want;
	size_t i;

	/*
	 * The CSR's key family when the profile has it (some EST clients
	 * take only RSA keys back). RSA at the profile's smallest size, never
	 * the CSR's own, which could ask for a key that takes minutes to
	 * make; EC on the CSR's curve when the profile allows it (any curve
	 * is made in microseconds), else the profile's first EC curve.
	 */
	*out = profile->keys[0];
	if (csr->key_id != EVP_PKEY_EC && csr->key_id != EVP_PKEY_RSA)
		return;
	want = csr->key_id == EVP_PKEY_EC ? POLICY_KEY_EC : POLICY_KEY_RSA;
	for (i = 0; i < profile->key_count; i++) {
		r = &profile->keys[i];
		if (r->kind != want)
			continue;
		if (best == NULL ||
		    (want == POLICY_KEY_RSA && r->min_bits < best->min_bits) ||
		    (want == POLICY_KEY_EC &&
		        best->curve_nid != csr->curve_nid &&
		        r->curve_nid == csr->curve_nid))
			best = r;
	}
	if (best != NULL)
		*out = *best;
}

const uint8_t *
ca_csr_get0_spki(const struct ca_csr *csr, size_t *len)
{
	*len = csr->spki_len;
	return csr->spki;
}

EVP_PKEY *
ca_csr_get0_pubkey(const struct ca_csr *csr)
{
	return csr->pkey;
}

const GENERAL_NAMES *
ca_csr_get0_san(const struct ca_csr *csr)
{
	return csr->san;
}

const char *
ca_csr_device_id(const struct ca_csr *csr, const struct policy_profile *profile)
{
	if (csr->bound_id[0] != '\0')
		return csr->bound_id;
	/* Parsing refused a second value of either. */
	if (profile->device_id == POLICY_DEVICE_ID_SERIALNUMBER)
		return csr->serial;
	return csr->cn;
}

int
ca_csr_bind_id(
    struct ca_csr *csr, const struct policy_profile *profile, const char *id)
{
	const struct policy_subject_rule *r;
	const char *have;
	char full[LIMIT_NAME_LEN + 1];

	if (id == NULL || strlen(id) >= sizeof(csr->bound_id) ||
	    (have = ca_csr_device_id(csr, profile)) == NULL ||
	    strcmp(have, id) == 0 ||
	    (r = policy_subject_rule(profile, id_nid(profile))) == NULL ||
	    r->kind != POLICY_ATTR_ID ||
	    policy_template_expand(r->value, id, full, sizeof(full)) != 0 ||
	    strcmp(have, full) != 0)
		return 0;
	memcpy(csr->bound_id, id, strlen(id) + 1);
	return 1;
}

const char *
ca_csr_get0_challenge(const struct ca_csr *csr)
{
	return csr->challenge;
}

const char *
ca_csr_key_describe(const struct ca_csr *csr)
{
	return csr->key_desc;
}

int
ca_csr_same(
    const struct ca_csr *a, const struct ca_csr *b, char *why, size_t cap)
{
	unsigned char *da = NULL, *db = NULL;
	int la = 0, lb = 0, same = 0;
	size_t i;

	snprintf(why, cap, "same");
	if (a->attr_count != b->attr_count) {
		snprintf(why, cap, "subject attribute count %zu vs %zu",
		    a->attr_count, b->attr_count);
		return 0;
	}
	for (i = 0; i < a->attr_count; i++)
		if (OBJ_cmp(a->attrs[i].obj, b->attrs[i].obj) != 0 ||
		    a->attrs[i].nid != b->attrs[i].nid ||
		    strcmp(a->attrs[i].value, b->attrs[i].value) != 0 ||
		    a->attrs[i].is_ascii != b->attrs[i].is_ascii) {
			snprintf(why, cap, "subject attribute %zu", i);
			return 0;
		}
	if ((a->cn == NULL) != (b->cn == NULL) ||
	    (a->cn != NULL && strcmp(a->cn, b->cn) != 0) ||
	    (a->serial == NULL) != (b->serial == NULL) ||
	    (a->serial != NULL && strcmp(a->serial, b->serial) != 0)) {
		snprintf(why, cap, "CN or serialNumber");
		return 0;
	}
	if ((a->challenge == NULL) != (b->challenge == NULL) ||
	    (a->challenge != NULL && strcmp(a->challenge, b->challenge) != 0)) {
		snprintf(why, cap, "challengePassword");
		return 0;
	}
	if (a->key_id != b->key_id || a->curve_nid != b->curve_nid ||
	    a->key_bits != b->key_bits ||
	    strcmp(a->key_desc, b->key_desc) != 0 ||
	    EVP_PKEY_eq(a->pkey, b->pkey) != 1) {
		snprintf(why, cap, "key %s vs %s", a->key_desc, b->key_desc);
		ERR_clear_error();
		return 0;
	}
	if (a->spki_len != b->spki_len || a->spki == NULL || b->spki == NULL ||
	    memcmp(a->spki, b->spki, a->spki_len) != 0) {
		snprintf(why, cap, "SPKI bytes");
		return 0;
	}
	if ((a->san == NULL) != (b->san == NULL)) {
		snprintf(why, cap, "SAN present in one only");
		return 0;
	}
	if (a->san != NULL) {
		la = i2d_GENERAL_NAMES(a->san, &da);
		lb = i2d_GENERAL_NAMES(b->san, &db);
		if (la <= 0 || la != lb || memcmp(da, db, (size_t)la) != 0) {
			snprintf(why, cap, "SAN");
			goto out;
		}
	}
	same = 1;
out:
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}
