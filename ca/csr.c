/*
 * csr: one DER PKCS#10 (RFC 2986) as received. ca_csr_parse decides what
 * the request is (well formed, within limits, signed by its own key: the
 * proof of possession); ca_csr_check decides whether a profile allows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "ca/csr.h"
#include "common/log.h"
#include "common/limits.h"

/* A value quoted in a message: enough to recognise it. */
#define QUOTE_CAP 100

struct ca_csr {
	X509_REQ *req;
	EVP_PKEY *pkey; /* get0 from req */
	GENERAL_NAMES *san; /* NULL when the CSR requests none */
	char *challenge; /* challengePassword as UTF-8, or NULL */
	/* The first CN and serialNumber, and how many there are. */
	char *cn;
	size_t cn_count;
	char *serial;
	size_t serial_count;
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

static enum status
parse_subject(struct ca_csr *csr)
{
	const X509_NAME *name = X509_REQ_get_subject_name(csr->req);
	const X509_NAME_ENTRY *ne;
	char *v = NULL, what[80], oid[64];
	int i, count, nid;
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
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		snprintf(what, sizeof(what), "subject attribute %s",
		    obj_name(X509_NAME_ENTRY_get_object(ne), oid, sizeof(oid)));
		if ((st = string_utf8(
		         X509_NAME_ENTRY_get_data(ne), what, &v)) != ST_OK)
			goto out;
		if (nid == NID_commonName && csr->cn_count++ == 0) {
			csr->cn = v;
			v = NULL;
		} else if (nid == NID_serialNumber &&
		    csr->serial_count++ == 0) {
			csr->serial = v;
			v = NULL;
		}
		OPENSSL_free(v);
		v = NULL;
	}
	st = ST_OK;
out:
	OPENSSL_free(v);
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

enum status
ca_csr_parse(const uint8_t *der, size_t der_len, struct ca_csr **out)
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
	if ((st = parse_subject(csr)) != ST_OK)
		goto out;
	if ((st = parse_extensions(csr)) != ST_OK)
		goto out;
	if ((st = parse_challenge(csr)) != ST_OK)
		goto out;
	describe_key(csr);
	ERR_clear_error();
	*out = csr;
	csr = NULL;
	st = ST_OK;
out:
	ca_csr_free(csr);
	return st;
}

void
ca_csr_free(struct ca_csr *csr)
{
	if (csr == NULL)
		return;
	X509_REQ_free(csr->req);
	GENERAL_NAMES_free(csr->san);
	if (csr->challenge != NULL)
		OPENSSL_clear_free(csr->challenge, strlen(csr->challenge));
	OPENSSL_free(csr->cn);
	OPENSSL_free(csr->serial);
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
		    csr->key_bits >= r->min_bits)
			return 1;
	}
	return 0;
}

static int
nid_allowed(const struct policy_profile *profile, int nid)
{
	size_t i;

	if (nid == NID_undef)
		return 0;
	for (i = 0; i < profile->subject_nid_count; i++)
		if (profile->subject_nids[i] == nid)
			return 1;
	return 0;
}

static enum status
check_subject(const struct ca_csr *csr, const struct policy_profile *profile)
{
	const X509_NAME *name = X509_REQ_get_subject_name(csr->req);
	const X509_NAME_ENTRY *ne;
	const char *id;
	char oid[64], q[QUOTE_CAP];
	int i, count;

	count = name != NULL ? X509_NAME_entry_count(name) : 0;
	for (i = 0; i < count; i++) {
		ne = X509_NAME_get_entry(name, i);
		if (!nid_allowed(
		        profile, OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne))))
			return status_fail(ST_DENIED,
			    "subject attribute %s is "
			    "not allowed by profile %s",
			    obj_name(X509_NAME_ENTRY_get_object(ne), oid,
			        sizeof(oid)),
			    profile->name);
	}
	if (csr->cn_count > 1)
		return status_fail(ST_DENIED,
		    "CSR subject has %zu CNs; "
		    "profile %s allows one",
		    csr->cn_count, profile->name);
	if (profile->cn_required && csr->cn_count == 0)
		return status_fail(
		    ST_DENIED, "profile %s requires a CN", profile->name);
	if (csr->cn != NULL && profile->cn_pattern.is_set &&
	    !policy_pattern_match(&profile->cn_pattern, csr->cn))
		return status_fail(ST_DENIED,
		    "CN %s does not match profile "
		    "%s's pattern %s",
		    log_quote(csr->cn, q, sizeof(q)), profile->name,
		    profile->cn_pattern.source);
	if (profile->device_id == POLICY_DEVICE_ID_SERIALNUMBER &&
	    csr->serial_count > 1)
		return status_fail(ST_DENIED,
		    "CSR subject has %zu "
		    "serialNumbers; profile %s takes the device id from one",
		    csr->serial_count, profile->name);
	if ((id = ca_csr_device_id(csr, profile)) == NULL)
		return status_fail(ST_DENIED,
		    "profile %s takes the device id "
		    "from the subject's %s, which the CSR does not have",
		    profile->name,
		    profile->device_id == POLICY_DEVICE_ID_SERIALNUMBER
		        ? "serialNumber"
		        : "CN");
	if (strlen(id) > LIMIT_DEVICE_ID_LEN)
		return status_fail(ST_LIMIT,
		    "device id is %zu bytes, limit is "
		    "%d",
		    strlen(id), LIMIT_DEVICE_ID_LEN);
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

static enum status
check_san(const struct ca_csr *csr, const struct policy_profile *profile)
{
	const GENERAL_NAME *gn;
	const struct policy_pattern *pat;
	const ASN1_IA5STRING *s;
	char value[LIMIT_NAME_LEN + 1], q[QUOTE_CAP];
	int i, n, allowed;

	n = csr->san != NULL ? sk_GENERAL_NAME_num(csr->san) : 0;
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(csr->san, i);
		pat = NULL;
		s = NULL;
		if (gn->type == GEN_DNS) {
			pat = &profile->dns_pattern;
			s = gn->d.dNSName;
		} else if (gn->type == GEN_URI) {
			pat = &profile->uri_pattern;
			s = gn->d.uniformResourceIdentifier;
		}
		allowed = pat != NULL
		    ? pat->is_set
		    : gn->type == GEN_IPADD && profile->allow_ip;
		if (!allowed)
			return status_fail(ST_DENIED,
			    "SAN type %s is not "
			    "allowed by profile %s",
			    san_type_name(gn->type), profile->name);
		if (pat == NULL)
			continue;
		/* Parsing bounded it and refused NUL bytes. */
		memcpy(value, ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
		value[ASN1_STRING_length(s)] = '\0';
		if (!policy_pattern_match(pat, value))
			return status_fail(ST_DENIED,
			    "SAN %s:%s does not "
			    "match profile %s's pattern %s",
			    san_type_name(gn->type),
			    log_quote(value, q, sizeof(q)), profile->name,
			    pat->source);
	}
	if ((size_t)n > profile->san_max)
		return status_fail(ST_DENIED,
		    "CSR requests %d subject "
		    "alternative names; profile %s allows at most %zu",
		    n, profile->name, profile->san_max);
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

void
ca_csr_keygen_rule(const struct ca_csr *csr,
    const struct policy_profile *profile, struct policy_key_rule *out)
{
	/* The CSR's own key type and size when the profile allows them. */
	if (key_allowed(csr, profile)) {
		out->kind =
		    csr->key_id == EVP_PKEY_EC ? POLICY_KEY_EC : POLICY_KEY_RSA;
		out->curve_nid = csr->curve_nid;
		out->min_bits = csr->key_bits;
		return;
	}
	*out = profile->keys[0];
}

X509_REQ *
ca_csr_get0_req(const struct ca_csr *csr)
{
	return csr->req;
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
	/* Two values would make the identity ambiguous: none then. */
	if (profile->device_id == POLICY_DEVICE_ID_SERIALNUMBER)
		return csr->serial_count == 1 ? csr->serial : NULL;
	return csr->cn_count == 1 ? csr->cn : NULL;
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
