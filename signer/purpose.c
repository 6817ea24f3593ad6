/*
 * The holder's decision: what each purpose may sign, with which key. This
 * is the file of the signer allowed to parse X.509 (OpenSSL's X509, CRL
 * and OCSP APIs); the key holder calls it before every signature, so a
 * process that may ask for signatures (a network worker) cannot get a CA
 * certificate, a certificate with an extension no profile has, a CRL or an
 * OCSP response under another issuer's name, or a token signed with the
 * audit key.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/ocsp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/b64url.h"
#include "common/limits.h"
#include "common/log.h"
#include "signer/signer_internal.h"

/* The audit checkpoint message (ca/audit.c): length, label, seq, hash. */
#define CHECKPOINT_LABEL "tessera audit checkpoint v1"
#define CHECKPOINT_LABEL_LEN (sizeof(CHECKPOINT_LABEL) - 1)
#define CHECKPOINT_MSG_LEN (8 + CHECKPOINT_LABEL_LEN + 8 + 32)
/* A token's JOSE header and claims, decoded. */
#define TOKEN_PART_MAX (16 * 1024)

/* The roles that may sign for each purpose (a bit per role). */
#define ROLE(r) (1u << (r))
static const unsigned purpose_roles[SIGNER_PURPOSE_MAX] = {
    [SIGNER_PURPOSE_DEVICE_CERT] = ROLE(SIGNER_ROLE_ISSUING),
    [SIGNER_PURPOSE_SERVICE_CERT] = ROLE(SIGNER_ROLE_ISSUING),
    [SIGNER_PURPOSE_CA_CERT] = ROLE(SIGNER_ROLE_ROOT),
    [SIGNER_PURPOSE_CRL] = ROLE(SIGNER_ROLE_ROOT) | ROLE(SIGNER_ROLE_ISSUING) |
        ROLE(SIGNER_ROLE_RETIRING),
    /* A retiring issuing CA answers for what it issued with its own key
     * (RFC 6960 §4.2.2.2: the CA itself may sign). */
    [SIGNER_PURPOSE_OCSP] = ROLE(SIGNER_ROLE_OCSP) | ROLE(SIGNER_ROLE_ROOT) |
        ROLE(SIGNER_ROLE_RETIRING),
    [SIGNER_PURPOSE_TOKEN] = ROLE(SIGNER_ROLE_TOKEN),
    [SIGNER_PURPOSE_AUDIT] = ROLE(SIGNER_ROLE_AUDIT),
    [SIGNER_PURPOSE_CA_CSR] = ROLE(SIGNER_ROLE_ISSUING),
};

/*
 * The extensions tessera's profiles put in an end-entity certificate
 * (ca/issue.c); anything else is refused, critical or not.
 */
static const int device_exts[] = {NID_basic_constraints, NID_key_usage,
    NID_ext_key_usage, NID_subject_key_identifier, NID_authority_key_identifier,
    NID_subject_alt_name, NID_crl_distribution_points, NID_info_access,
    NID_certificate_policies};
/* A service certificate adds OCSP no-check (the responder's, RFC 6960
 * §4.2.2.2.1). */
static const int service_exts[] = {NID_id_pkix_OCSP_noCheck};

/* The CA certificate whose name key role signs under; NULL: unknown. */
static X509 *
issuer_of(const struct signer_names *n, enum signer_role role)
{
	if (role == SIGNER_ROLE_ROOT)
		return n->root;
	if (role == SIGNER_ROLE_ISSUING)
		return n->issuing;
	if (role == SIGNER_ROLE_RETIRING)
		return n->retiring;
	return NULL;
}

/* Whether the DER AlgorithmIdentifier alg is the key's for md_nid. */
static enum status
sigalg_check(const X509_ALGOR *alg, const struct signer_key *key, int md_nid,
    const char *what)
{
	uint8_t *want = NULL, *got = NULL;
	size_t want_len = 0;
	int got_len;
	enum status st;

	if ((st = signer_sigalg_der(key, md_nid, &want, &want_len)) != ST_OK)
		return st;
	got_len = i2d_X509_ALGOR(alg, &got);
	if (got_len <= 0 || (size_t)got_len != want_len ||
	    memcmp(got, want, want_len) != 0)
		st = status_fail(ST_DENIED,
		    "%s: its signature algorithm is not the key's with the "
		    "digest asked for",
		    what);
	OPENSSL_free(want);
	OPENSSL_free(got);
	return st;
}

/* tbs wrapped as a signed object with an empty signature, to parse it. */
static enum status
wrap(const struct signer_key *key, int md_nid, const uint8_t *tbs,
    size_t tbs_len, const uint8_t *tail, size_t tail_len, uint8_t **out,
    size_t *out_len)
{
	uint8_t *alg = NULL;
	size_t alg_len = 0;
	enum status st;

	if ((st = signer_sigalg_der(key, md_nid, &alg, &alg_len)) != ST_OK)
		return st;
	st = signer_signed_der(
	    tbs, tbs_len, alg, alg_len, NULL, 0, tail, tail_len, out, out_len);
	OPENSSL_free(alg);
	return st;
}

static int
nid_in(int nid, const int *set, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (set[i] == nid)
			return 1;
	return 0;
}

static enum status
cert_check(const struct signer_names *n, enum signer_purpose purpose,
    const struct signer_key *key, int md_nid, const uint8_t *tbs,
    size_t tbs_len)
{
	const char *what = signer_purpose_name(purpose);
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509 *cert = NULL, *issuer;
	X509_EXTENSION *ext;
	uint32_t flags;
	char oid[80];
	int i, nid, is_ca;
	enum status st;

	if ((st = wrap(key, md_nid, tbs, tbs_len, NULL, 0, &der, &der_len)) !=
	    ST_OK)
		return st;
	p = der;
	cert = d2i_X509(NULL, &p, (long)der_len);
	if (cert == NULL || p != der + der_len) {
		st = status_fail(ST_DENIED,
		    "%s: not one DER TBSCertificate (RFC 5280 §4.1)", what);
		goto out;
	}
	if (X509_get_version(cert) != X509_VERSION_3) {
		st = status_fail(ST_DENIED, "%s: not a v3 certificate", what);
		goto out;
	}
	if ((st = sigalg_check(
	         X509_get0_tbs_sigalg(cert), key, md_nid, what)) != ST_OK)
		goto out;
	issuer = issuer_of(n, key->role);
	if (issuer != NULL && purpose != SIGNER_PURPOSE_CA_CERT &&
	    X509_NAME_cmp(X509_get_issuer_name(cert),
	        X509_get_subject_name(issuer)) != 0) {
		st = status_fail(ST_DENIED,
		    "%s: the issuer is not the %s CA's subject", what,
		    signer_role_name(key->role));
		goto out;
	}
	flags = X509_get_extension_flags(cert);
	if (flags & EXFLAG_INVALID) {
		st = status_fail(ST_DENIED,
		    "%s: an extension does not parse or is repeated (RFC 5280 "
		    "§4.2)",
		    what);
		goto out;
	}
	is_ca = (flags & EXFLAG_CA) != 0;
	if (purpose == SIGNER_PURPOSE_CA_CERT) {
		if (!is_ca)
			st = status_fail(ST_DENIED,
			    "%s: basicConstraints cA is not TRUE", what);
		goto out;
	}
	if (is_ca) {
		st = status_fail(ST_DENIED,
		    "%s: basicConstraints cA is TRUE; this purpose signs end "
		    "entities only (RFC 5280 §4.2.1.9)",
		    what);
		goto out;
	}
	if ((flags & EXFLAG_KUSAGE) &&
	    (X509_get_key_usage(cert) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))) {
		st = status_fail(ST_DENIED,
		    "%s: keyUsage has keyCertSign or cRLSign (RFC 5280 "
		    "§4.2.1.3)",
		    what);
		goto out;
	}
	if (purpose == SIGNER_PURPOSE_DEVICE_CERT && (flags & EXFLAG_XKUSAGE) &&
	    (X509_get_extended_key_usage(cert) & XKU_OCSP_SIGN)) {
		st = status_fail(ST_DENIED,
		    "%s: extendedKeyUsage has id-kp-OCSPSigning: a device "
		    "would "
		    "answer OCSP for the CA (RFC 6960 §4.2.2.2)",
		    what);
		goto out;
	}
	for (i = 0; i < X509_get_ext_count(cert); i++) {
		ext = X509_get_ext(cert, i);
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
		if (nid_in(nid, device_exts,
		        sizeof(device_exts) / sizeof(*device_exts)))
			continue;
		if (purpose == SIGNER_PURPOSE_SERVICE_CERT &&
		    nid_in(nid, service_exts,
		        sizeof(service_exts) / sizeof(*service_exts)))
			continue;
		OBJ_obj2txt(
		    oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
		st = status_fail(ST_DENIED,
		    "%s: extension %s is in no %s profile", what, oid,
		    purpose == SIGNER_PURPOSE_DEVICE_CERT ? "device"
		                                          : "service");
		goto out;
	}
	st = ST_OK;
out:
	X509_free(cert);
	OPENSSL_free(der);
	return st;
}

/*
 * One DER TLV at [*p, end): tag, minimal definite length (up to 4 octets),
 * content inside. Sets *content and *len and moves *p past the TLV;
 * returns the tag, or -1. No allocation: a CRL holds a million of these.
 */
static int
tlv_next(
    const uint8_t **p, const uint8_t *end, const uint8_t **content, size_t *len)
{
	const uint8_t *q = *p;
	size_t n, k, i;
	int tag;

	if (end - q < 2)
		return -1;
	tag = q[0];
	if ((tag & 0x1f) == 0x1f)
		return -1; /* high tag numbers: none in a CRL */
	if (q[1] < 0x80) {
		n = q[1];
		q += 2;
	} else {
		k = q[1] & 0x7f;
		if (k == 0 || k > 4 || (size_t)(end - q) < 2 + k || q[2] == 0)
			return -1;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | q[2 + i];
		if (n < 0x80)
			return -1;
		q += 2 + k;
	}
	if (n > (size_t)(end - q))
		return -1;
	*content = q;
	*len = n;
	*p = q + n;
	return tag;
}

/* A Time (RFC 5280 §4.1.2.5): UTCTime or GeneralizedTime, Z form. */
static int
is_time(int tag, const uint8_t *c, size_t len)
{
	return ((tag == 0x17 && len == 13) || (tag == 0x18 && len == 15)) &&
	    c[len - 1] == 'Z';
}

/*
 * revokedCertificates: each a SEQUENCE { userCertificate INTEGER,
 * revocationDate Time, crlEntryExtensions Extensions OPTIONAL } with
 * nothing after (RFC 5280 §5.1). A walk over the DER, not d2i: a CRL of a
 * million entries is checked in milliseconds, not seconds and gigabytes.
 */
static int
crl_entries_ok(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *e, *e_end, *c;
	size_t len;
	int tag;

	while (p < end) {
		if (tlv_next(&p, end, &e, &len) != 0x30)
			return 0;
		e_end = e + len;
		if (tlv_next(&e, e_end, &c, &len) != 0x02 || len == 0 ||
		    len > 21)
			return 0;
		tag = tlv_next(&e, e_end, &c, &len);
		if (!is_time(tag, c, len))
			return 0;
		if (e < e_end && tlv_next(&e, e_end, &c, &len) != 0x30)
			return 0;
		if (e != e_end)
			return 0;
	}
	return 1;
}

/* OIDs (content octets) of the extensions the walk knows. */
static const uint8_t OID_BC[] = {0x55, 0x1d, 0x13};
static const uint8_t OID_KU[] = {0x55, 0x1d, 0x0f};
static const uint8_t OID_EKU[] = {0x55, 0x1d, 0x25};
static const uint8_t OID_SKI[] = {0x55, 0x1d, 0x0e};
static const uint8_t OID_AKI[] = {0x55, 0x1d, 0x23};
static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11};
static const uint8_t OID_CRLDP[] = {0x55, 0x1d, 0x1f};
static const uint8_t OID_CP[] = {0x55, 0x1d, 0x20};
static const uint8_t OID_AIA[] = {
    0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01};
static const uint8_t OID_NOCHECK[] = {
    0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05};
static const uint8_t OID_KP_OCSP[] = {
    0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09};

/* The extensions an end-entity certificate may carry (device_exts and
 * service_exts above, as OIDs); is_service: the last one too. */
static const struct {
	const uint8_t *oid;
	size_t len;
} walk_exts[] = {{OID_BC, sizeof(OID_BC)}, {OID_KU, sizeof(OID_KU)},
    {OID_EKU, sizeof(OID_EKU)}, {OID_SKI, sizeof(OID_SKI)},
    {OID_AKI, sizeof(OID_AKI)}, {OID_SAN, sizeof(OID_SAN)},
    {OID_CRLDP, sizeof(OID_CRLDP)}, {OID_AIA, sizeof(OID_AIA)},
    {OID_CP, sizeof(OID_CP)}, {OID_NOCHECK, sizeof(OID_NOCHECK)}};
#define WALK_EXTS_DEVICE 9 /* the first nine; the service adds no-check */
#define WALK_EXTS_MAX (sizeof(walk_exts) / sizeof(*walk_exts))

static int
oid_is(const uint8_t *c, size_t len, const uint8_t *oid, size_t oid_len)
{
	return len == oid_len && memcmp(c, oid, len) == 0;
}

/* [p, end) is exactly one TLV of tag; its content in *c, *len. */
static int
one_tlv(const uint8_t *p, const uint8_t *end, int tag, const uint8_t **c,
    size_t *len)
{
	return tlv_next(&p, end, c, len) == tag && p == end;
}

/* An OBJECT IDENTIFIER's content: not empty, minimal subidentifiers. */
static int
oid_ok(const uint8_t *c, size_t len)
{
	size_t i;

	if (len == 0 || (c[len - 1] & 0x80))
		return 0;
	for (i = 0; i < len; i++)
		if (c[i] == 0x80 && (i == 0 || !(c[i - 1] & 0x80)))
			return 0;
	return 1;
}

/*
 * A Name (RFC 5280 §4.1.2.4): SEQUENCE OF SET OF (at least one)
 * SEQUENCE { OID, a primitive string or value }.
 */
static int
name_ok(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *set, *set_end, *atv, *atv_end, *c;
	size_t len;

	while (p < end) {
		if (tlv_next(&p, end, &set, &len) != 0x31 || len == 0)
			return 0;
		for (set_end = set + len; set < set_end;) {
			if (tlv_next(&set, set_end, &atv, &len) != 0x30)
				return 0;
			atv_end = atv + len;
			if (tlv_next(&atv, atv_end, &c, &len) != 0x06 ||
			    !oid_ok(c, len) ||
			    tlv_next(&atv, atv_end, &c, &len) < 0 ||
			    atv != atv_end)
				return 0;
		}
	}
	return 1;
}

/* The content of a SEQUENCE OF: TLVs whose tags tag_ok takes (and at
 * least one when nonempty). */
static int
seq_of_tags(
    const uint8_t *p, const uint8_t *end, int nonempty, int (*tag_ok)(int tag))
{
	const uint8_t *c;
	size_t len;
	int tag, n = 0;

	while (p < end) {
		if ((tag = tlv_next(&p, end, &c, &len)) < 0 || !tag_ok(tag))
			return 0;
		n++;
	}
	return !nonempty || n > 0;
}

/* GeneralName (RFC 5280 §4.2.1.6): [0]..[8], constructed where so. */
static int
general_name_tag(int tag)
{
	switch (tag) {
	case 0xa0: /* otherName */
	case 0x81: /* rfc822Name */
	case 0x82: /* dNSName */
	case 0xa3: /* x400Address */
	case 0xa4: /* directoryName */
	case 0xa5: /* ediPartyName */
	case 0x86: /* uniformResourceIdentifier */
	case 0x87: /* iPAddress */
	case 0x88: /* registeredID */
		return 1;
	}
	return 0;
}

static int
seq_tag(int tag)
{
	return tag == 0x30;
}

static int
oid_tag(int tag)
{
	return tag == 0x06;
}

/*
 * One extension's value, as its syntax (RFC 5280 §4.2): what decides
 * (basicConstraints' cA, the keyUsage bits, the EKU purposes) into *cert.
 */
struct walk_cert {
	int is_ca;
	unsigned key_usage_first; /* the first octet of keyUsage's bits */
	int has_ocsp_signing;
};

static int
ext_value_ok(size_t which, const uint8_t *v, size_t v_len, struct walk_cert *w)
{
	const uint8_t *end = v + v_len, *c, *q;
	size_t len, l2;
	int tag;

	switch (which) {
	case 0: /* basicConstraints: SEQUENCE { BOOLEAN DEFAULT FALSE,
	           INTEGER OPTIONAL } */
		if (!one_tlv(v, end, 0x30, &c, &len))
			return 0;
		end = c + len;
		if (c < end && c[0] == 0x01) {
			if (tlv_next(&c, end, &q, &l2) != 0x01 || l2 != 1 ||
			    q[0] != 0xff)
				return 0; /* DER: TRUE is ff, FALSE absent */
			w->is_ca = 1;
		}
		if (c < end &&
		    (tlv_next(&c, end, &q, &l2) != 0x02 || l2 == 0 ||
		        (q[0] & 0x80)))
			return 0;
		return c == end;
	case 1: /* keyUsage: BIT STRING, unused bits first */
		if (!one_tlv(v, end, 0x03, &c, &len) || len < 1 || c[0] > 7 ||
		    (len == 1 && c[0] != 0))
			return 0;
		w->key_usage_first = len > 1 ? c[1] : 0;
		return 1;
	case 2: /* extKeyUsage: SEQUENCE SIZE (1..MAX) OF OID */
		if (!one_tlv(v, end, 0x30, &c, &len) ||
		    !seq_of_tags(c, c + len, 1, oid_tag))
			return 0;
		for (end = c + len; c < end;) {
			(void)tlv_next(&c, end, &q, &l2);
			if (!oid_ok(q, l2))
				return 0;
			if (oid_is(q, l2, OID_KP_OCSP, sizeof(OID_KP_OCSP)))
				w->has_ocsp_signing = 1;
		}
		return 1;
	case 3: /* subjectKeyIdentifier: OCTET STRING */
		return one_tlv(v, end, 0x04, &c, &len);
	case 4: /* authorityKeyIdentifier: SEQUENCE { [0], [1], [2] } */
		if (!one_tlv(v, end, 0x30, &c, &len))
			return 0;
		for (end = c + len, l2 = 0; c < end;) {
			tag = tlv_next(&c, end, &q, &len);
			if (tag != 0x80 && tag != 0xa1 && tag != 0x82)
				return 0;
			if ((size_t)(tag & 0x1f) < l2)
				return 0; /* in order */
			l2 = (size_t)(tag & 0x1f) + 1;
		}
		return 1;
	case 5: /* subjectAltName: GeneralNames, SIZE (1..MAX) */
		return one_tlv(v, end, 0x30, &c, &len) &&
		    seq_of_tags(c, c + len, 1, general_name_tag);
	case 6: /* cRLDistributionPoints: SEQUENCE SIZE (1..MAX) OF
	           SEQUENCE { [0] DistributionPointName, [1], [2] } */
		if (!one_tlv(v, end, 0x30, &c, &len) ||
		    !seq_of_tags(c, c + len, 1, seq_tag))
			return 0;
		for (end = c + len; c < end;) {
			const uint8_t *e, *f;

			(void)tlv_next(&c, end, &q, &l2);
			for (e = q + l2; q < e;) {
				tag = tlv_next(&q, e, &f, &len);
				if (tag != 0xa0 && tag != 0x81 && tag != 0xa2)
					return 0;
			}
		}
		return 1;
	case 7: /* authorityInfoAccess: SEQUENCE SIZE (1..MAX) OF
	           SEQUENCE { OID, GeneralName } */
	case 8: /* certificatePolicies: SEQUENCE SIZE (1..MAX) OF
	           SEQUENCE { OID, qualifiers SEQUENCE OPTIONAL } */
		if (!one_tlv(v, end, 0x30, &c, &len) ||
		    !seq_of_tags(c, c + len, 1, seq_tag))
			return 0;
		for (end = c + len; c < end;) {
			const uint8_t *e, *f;

			(void)tlv_next(&c, end, &q, &l2);
			e = q + l2;
			if (tlv_next(&q, e, &f, &len) != 0x06 ||
			    !oid_ok(f, len))
				return 0;
			if (which == 7) {
				if ((tag = tlv_next(&q, e, &f, &len)) < 0 ||
				    !general_name_tag(tag) || q != e)
					return 0;
			} else if (q < e &&
			    (tlv_next(&q, e, &f, &len) != 0x30 || q != e))
				return 0;
		}
		return 1;
	case 9: /* OCSP no-check: NULL */
		return one_tlv(v, end, 0x05, &c, &len) && len == 0;
	}
	return 0;
}

/*
 * An end-entity TBSCertificate (RFC 5280 §4.1), walked as DER instead of
 * parsed into an X509 (in OpenSSL 3.0 that looks the key's decoder up,
 * hundreds of microseconds): v3; serial; the key's signature algorithm;
 * the issuing CA's subject, byte for byte; validity; a subject Name;
 * subjectPublicKeyInfo; no unique identifiers; Extensions of which each
 * is one the purpose's profiles use, at most once, and its value of that
 * extension's syntax; nothing after. Then what the purpose forbids: cA
 * TRUE, keyCertSign or cRLSign, and (a device) id-kp-OCSPSigning.
 */
static enum status
cert_walk(const struct signer_names *n, enum signer_purpose purpose,
    const struct signer_key *key, int md_nid, const uint8_t *tbs,
    size_t tbs_len)
{
	const char *what = signer_purpose_name(purpose);
	const uint8_t *p = tbs, *end = tbs + tbs_len, *c, *alg, *e, *e_end;
	const uint8_t *oid, *v, *q;
	const unsigned char *name_der = NULL;
	uint8_t *want = NULL;
	size_t len, alg_len, want_len = 0, oid_len, v_len, name_len = 0, i;
	size_t allowed = purpose == SIGNER_PURPOSE_SERVICE_CERT
	    ? WALK_EXTS_MAX
	    : WALK_EXTS_DEVICE;
	unsigned seen = 0;
	struct walk_cert w;
	char oid_text[80];
	ASN1_OBJECT *obj;
	X509 *issuer;
	int tag;
	enum status st = ST_DENIED;

	memset(&w, 0, sizeof(w));
	if (tlv_next(&p, end, &c, &len) != 0x30 || p != end)
		goto malformed;
	p = c;
	end = c + len;
	/* version [0] EXPLICIT INTEGER, v3 is 2; a v1 one starts with the
	 * serial (an INTEGER) instead */
	if (p < end && p[0] == 0x02) {
		status_fail(ST_DENIED, "%s: not a v3 certificate", what);
		goto out;
	}
	if (tlv_next(&p, end, &c, &len) != 0xa0 ||
	    !one_tlv(c, c + len, 0x02, &v, &v_len))
		goto malformed;
	if (v_len != 1 || v[0] != 2) {
		status_fail(ST_DENIED, "%s: not a v3 certificate", what);
		goto out;
	}
	if (tlv_next(&p, end, &c, &len) != 0x02 || len == 0 || len > 21)
		goto malformed;
	alg = p;
	if (tlv_next(&p, end, &c, &len) != 0x30)
		goto malformed;
	alg_len = (size_t)(p - alg);
	if ((st = signer_sigalg_der(key, md_nid, &want, &want_len)) != ST_OK)
		goto out;
	st = ST_DENIED;
	if (alg_len != want_len || memcmp(alg, want, want_len) != 0) {
		status_fail(ST_DENIED,
		    "%s: its signature algorithm is not the key's with the "
		    "digest asked for",
		    what);
		goto out;
	}
	/* issuer */
	q = p;
	if (tlv_next(&p, end, &c, &len) != 0x30 || !name_ok(c, c + len))
		goto malformed;
	issuer = issuer_of(n, key->role);
	if (issuer != NULL &&
	    (!X509_NAME_get0_der(
	         X509_get_subject_name(issuer), &name_der, &name_len) ||
	        name_len != (size_t)(p - q) || memcmp(name_der, q, name_len))) {
		status_fail(ST_DENIED,
		    "%s: the issuer is not the %s CA's subject", what,
		    signer_role_name(key->role));
		goto out;
	}
	/* validity */
	if (tlv_next(&p, end, &c, &len) != 0x30)
		goto malformed;
	e_end = c + len;
	tag = tlv_next(&c, e_end, &v, &v_len);
	if (!is_time(tag, v, v_len))
		goto malformed;
	tag = tlv_next(&c, e_end, &v, &v_len);
	if (!is_time(tag, v, v_len) || c != e_end)
		goto malformed;
	/* subject */
	if (tlv_next(&p, end, &c, &len) != 0x30 || !name_ok(c, c + len))
		goto malformed;
	/* subjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING } */
	if (tlv_next(&p, end, &c, &len) != 0x30)
		goto malformed;
	e_end = c + len;
	if (tlv_next(&c, e_end, &v, &v_len) != 0x30 ||
	    tlv_next(&v, v + v_len, &q, &len) != 0x06 || !oid_ok(q, len) ||
	    tlv_next(&c, e_end, &v, &v_len) != 0x03 || v_len < 1 || c != e_end)
		goto malformed;
	if (p == end)
		goto decide; /* no extensions */
	if (tlv_next(&p, end, &c, &len) != 0xa3 || p != end) {
		status_fail(ST_DENIED,
		    "%s: after the key, only [3] extensions (no unique "
		    "identifiers, nothing else)",
		    what);
		goto out;
	}
	if (!one_tlv(c, c + len, 0x30, &e, &len) || len == 0)
		goto bad_ext;
	for (e_end = e + len; e < e_end;) {
		if (tlv_next(&e, e_end, &c, &len) != 0x30)
			goto bad_ext;
		q = c + len;
		if (tlv_next(&c, q, &oid, &oid_len) != 0x06 ||
		    !oid_ok(oid, oid_len))
			goto bad_ext;
		if (c < q && c[0] == 0x01) {
			if (tlv_next(&c, q, &v, &v_len) != 0x01 || v_len != 1 ||
			    v[0] != 0xff)
				goto bad_ext;
		}
		if (tlv_next(&c, q, &v, &v_len) != 0x04 || c != q)
			goto bad_ext;
		for (i = 0; i < allowed; i++)
			if (oid_is(oid, oid_len, walk_exts[i].oid,
			        walk_exts[i].len))
				break;
		if (i == allowed) {
			obj = ASN1_OBJECT_create(NID_undef,
			    (unsigned char *)oid, (int)oid_len, NULL, NULL);
			if (obj != NULL)
				OBJ_obj2txt(oid_text, sizeof(oid_text), obj, 1);
			else
				snprintf(oid_text, sizeof(oid_text), "(?)");
			ASN1_OBJECT_free(obj);
			status_fail(ST_DENIED,
			    "%s: extension %s is in no %s profile", what,
			    oid_text,
			    purpose == SIGNER_PURPOSE_DEVICE_CERT ? "device"
			                                          : "service");
			goto out;
		}
		if ((seen & (1u << i)) || !ext_value_ok(i, v, v_len, &w))
			goto bad_ext;
		seen |= 1u << i;
	}
decide:
	if (w.is_ca) {
		status_fail(ST_DENIED,
		    "%s: basicConstraints cA is TRUE; this purpose signs end "
		    "entities only (RFC 5280 §4.2.1.9)",
		    what);
		goto out;
	}
	/* keyCertSign is bit 5, cRLSign bit 6: 0x04 and 0x02 of octet 0 */
	if (w.key_usage_first & 0x06) {
		status_fail(ST_DENIED,
		    "%s: keyUsage has keyCertSign or cRLSign (RFC 5280 "
		    "§4.2.1.3)",
		    what);
		goto out;
	}
	if (purpose == SIGNER_PURPOSE_DEVICE_CERT && w.has_ocsp_signing) {
		status_fail(ST_DENIED,
		    "%s: extendedKeyUsage has id-kp-OCSPSigning: a device "
		    "would answer OCSP for the CA (RFC 6960 §4.2.2.2)",
		    what);
		goto out;
	}
	st = ST_OK;
	goto out;
malformed:
	status_fail(
	    ST_DENIED, "%s: not one DER TBSCertificate (RFC 5280 §4.1)", what);
	goto out;
bad_ext:
	status_fail(ST_DENIED,
	    "%s: an extension does not parse or is repeated (RFC 5280 §4.2)",
	    what);
out:
	OPENSSL_free(want);
	return st;
}

/*
 * A TBSCertList (RFC 5280 §5.1.2) of a v2 CRL, walked: version v2, the
 * key's signature algorithm, the key's CA as issuer (the very bytes of its
 * subject), thisUpdate, nextUpdate, the entries, and crlExtensions that
 * parse as Extensions; nothing else, nothing after.
 */
static enum status
crl_check(const struct signer_names *n, const struct signer_key *key,
    int md_nid, const uint8_t *tbs, size_t tbs_len)
{
	const uint8_t *p = tbs, *end = tbs + tbs_len, *c, *alg;
	const unsigned char *q;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	uint8_t *want = NULL, *name = NULL;
	size_t len, alg_len, want_len = 0;
	X509 *issuer;
	int tag, name_len;
	enum status st = ST_DENIED;

	if (tlv_next(&p, end, &c, &len) != 0x30 || p != end) {
		status_fail(
		    ST_DENIED, "crl: not one DER TBSCertList (RFC 5280 §5.1)");
		goto out;
	}
	p = c;
	end = c + len;
	if (tlv_next(&p, end, &c, &len) != 0x02 || len != 1 || c[0] != 1) {
		status_fail(ST_DENIED, "crl: not a v2 CRL (RFC 5280 §5.1.2.1)");
		goto out;
	}
	alg = p;
	if (tlv_next(&p, end, &c, &len) != 0x30) {
		status_fail(ST_DENIED, "crl: no signature algorithm");
		goto out;
	}
	alg_len = (size_t)(p - alg);
	if ((st = signer_sigalg_der(key, md_nid, &want, &want_len)) != ST_OK)
		goto out;
	st = ST_DENIED;
	if (alg_len != want_len || memcmp(alg, want, want_len) != 0) {
		status_fail(ST_DENIED,
		    "crl: its signature algorithm is not the key's with the "
		    "digest asked for");
		goto out;
	}
	c = p;
	if (tlv_next(&p, end, &alg, &len) != 0x30) {
		status_fail(ST_DENIED, "crl: no issuer name");
		goto out;
	}
	issuer = issuer_of(n, key->role);
	if (issuer != NULL &&
	    ((name_len = i2d_X509_NAME(X509_get_subject_name(issuer), &name)) <=
	            0 ||
	        (size_t)name_len != (size_t)(p - c) ||
	        memcmp(name, c, (size_t)name_len) != 0)) {
		status_fail(ST_DENIED,
		    "crl: the issuer is not the %s CA's subject",
		    signer_role_name(key->role));
		goto out;
	}
	tag = tlv_next(&p, end, &c, &len);
	if (!is_time(tag, c, len)) {
		status_fail(
		    ST_DENIED, "crl: no thisUpdate (RFC 5280 §5.1.2.4)");
		goto out;
	}
	q = p;
	if (p < end && (tag = tlv_next(&p, end, &c, &len)) != -1 &&
	    !is_time(tag, c, len))
		p = q; /* nextUpdate is OPTIONAL */
	if (p < end && p[0] == 0x30) {
		if (tlv_next(&p, end, &c, &len) != 0x30 ||
		    !crl_entries_ok(c, c + len)) {
			status_fail(ST_DENIED,
			    "crl: a revokedCertificates entry is not "
			    "{ INTEGER, Time, Extensions } (RFC 5280 §5.1)");
			goto out;
		}
	}
	if (p < end) {
		if (tlv_next(&p, end, &c, &len) != 0xa0 || p != end) {
			status_fail(ST_DENIED,
			    "crl: bytes after the entries that are not [0] "
			    "crlExtensions");
			goto out;
		}
		q = c;
		exts = d2i_X509_EXTENSIONS(NULL, &q, (long)len);
		if (exts == NULL || q != c + len) {
			status_fail(ST_DENIED,
			    "crl: crlExtensions do not parse (RFC 5280 §5.2)");
			goto out;
		}
	}
	st = ST_OK;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	OPENSSL_free(name);
	OPENSSL_free(want);
	return st;
}

/* SHA-1 of the key's subjectPublicKey BIT STRING (RFC 6960 §4.2.1). */
static enum status
key_hash(EVP_PKEY *pub, uint8_t out[SHA_DIGEST_LENGTH])
{
	X509_PUBKEY *xpk = NULL;
	const unsigned char *pk;
	int pk_len;

	if (!X509_PUBKEY_set(&xpk, pub) ||
	    !X509_PUBKEY_get0_param(NULL, &pk, &pk_len, NULL, xpk)) {
		X509_PUBKEY_free(xpk);
		return status_fail_ssl(ST_INTERNAL, "the key's public bits");
	}
	SHA1(pk, (size_t)pk_len, out);
	X509_PUBKEY_free(xpk);
	return ST_OK;
}

static enum status
ocsp_check(const struct signer_names *n, const struct signer_key *key,
    int md_nid, const uint8_t *tbs, size_t tbs_len)
{
	const unsigned char *p;
	const ASN1_OCTET_STRING *id = NULL;
	const X509_NAME *name = NULL;
	uint8_t *der = NULL, hash[SHA_DIGEST_LENGTH];
	size_t der_len = 0;
	OCSP_BASICRESP *bs = NULL;
	enum status st;

	if ((st = wrap(key, md_nid, tbs, tbs_len, NULL, 0, &der, &der_len)) !=
	    ST_OK)
		return st;
	p = der;
	bs = d2i_OCSP_BASICRESP(NULL, &p, (long)der_len);
	if (bs == NULL || p != der + der_len) {
		st = status_fail(ST_DENIED,
		    "ocsp: not one DER ResponseData (RFC 6960 §4.2.1)");
		goto out;
	}
	if (!OCSP_resp_get0_id(bs, &id, &name)) {
		st = status_fail(ST_DENIED, "ocsp: no responderID");
		goto out;
	}
	if (id != NULL) {
		/* Made with the key handle; only a key that could not be
		 * encoded then is hashed here. */
		if (key->has_pub_sha1)
			memcpy(hash, key->pub_sha1, sizeof(hash));
		else if ((st = key_hash(key->pub, hash)) != ST_OK)
			goto out;
		if (ASN1_STRING_length(id) != SHA_DIGEST_LENGTH ||
		    memcmp(ASN1_STRING_get0_data(id), hash, sizeof(hash)) !=
		        0) {
			st = status_fail(ST_DENIED,
			    "ocsp: responderID byKey is not the hash of key %s",
			    key->label);
			goto out;
		}
	} else if (name == NULL || key->role != SIGNER_ROLE_ROOT ||
	    n->root == NULL ||
	    X509_NAME_cmp(name, X509_get_subject_name(n->root)) != 0) {
		st = status_fail(ST_DENIED,
		    "ocsp: responderID byName does not name the key's "
		    "certificate");
		goto out;
	}
	st = ST_OK;
out:
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(der);
	return st;
}

/* A CertificationRequestInfo for the key itself (RFC 2986 §4.1). */
static enum status
csr_check(const struct signer_key *key, int md_nid, const uint8_t *tbs,
    size_t tbs_len)
{
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	enum status st;

	if ((st = wrap(key, md_nid, tbs, tbs_len, NULL, 0, &der, &der_len)) !=
	    ST_OK)
		return st;
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)der_len);
	if (req == NULL || p != der + der_len)
		st = status_fail(ST_DENIED,
		    "ca-csr: not one DER CertificationRequestInfo (RFC 2986 "
		    "§4.1)");
	else if ((pub = X509_REQ_get0_pubkey(req)) == NULL ||
	    EVP_PKEY_eq(pub, key->pub) != 1)
		st = status_fail(ST_DENIED,
		    "ca-csr: the request is not for key %s", key->label);
	X509_REQ_free(req);
	OPENSSL_free(der);
	return st;
}

/* One base64url part of a JWS signing input, as a JSON object. */
static enum status
token_part(const uint8_t *s, size_t len, const char *what, json_t **out)
{
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_error_t err;
	enum status st;

	*out = NULL;
	if (len == 0 || len > B64URL_LEN(TOKEN_PART_MAX))
		return status_fail(
		    ST_DENIED, "token: the %s is %zu bytes", what, len);
	if ((st = b64url_decode((const char *)s, len, &raw, &raw_len)) != ST_OK)
		return status_fail(ST_DENIED,
		    "token: the %s is not base64url (RFC 7515 §2)", what);
	*out = json_loadb(
	    (const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &err);
	free(raw);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return status_fail(
		    ST_DENIED, "token: the %s is not a JSON object", what);
	}
	return ST_OK;
}

static enum status
token_check(int md_nid, const uint8_t *tbs, size_t tbs_len)
{
	const uint8_t *dot;
	json_t *header = NULL, *claims = NULL;
	const char *alg;
	enum status st;

	if (md_nid != NID_sha256)
		return status_fail(
		    ST_DENIED, "token: ES256 signs SHA-256 only");
	dot = memchr(tbs, '.', tbs_len);
	if (dot == NULL ||
	    memchr(dot + 1, '.', tbs_len - (size_t)(dot - tbs) - 1))
		return status_fail(ST_DENIED,
		    "token: not a JWS signing input, header.payload (RFC 7515 "
		    "§5.1)");
	if ((st = token_part(tbs, (size_t)(dot - tbs), "header", &header)) !=
	        ST_OK ||
	    (st = token_part(dot + 1, tbs_len - (size_t)(dot - tbs) - 1,
	         "payload", &claims)) != ST_OK)
		goto out;
	alg = json_string_value(json_object_get(header, "alg"));
	if (alg == NULL || strcmp(alg, "ES256") != 0) {
		st = status_fail(
		    ST_DENIED, "token: the header's alg is not ES256");
		goto out;
	}
	if (!json_is_string(json_object_get(header, "kid"))) {
		st = status_fail(ST_DENIED, "token: the header names no kid");
		goto out;
	}
	st = ST_OK;
out:
	json_decref(header);
	json_decref(claims);
	return st;
}

static enum status
audit_check(int md_nid, const uint8_t *tbs, size_t tbs_len)
{
	static const uint8_t len_be[8] = {
	    0, 0, 0, 0, 0, 0, 0, (uint8_t)CHECKPOINT_LABEL_LEN};

	if (md_nid != NID_sha256 || tbs_len != CHECKPOINT_MSG_LEN ||
	    memcmp(tbs, len_be, sizeof(len_be)) != 0 ||
	    memcmp(tbs + 8, CHECKPOINT_LABEL, CHECKPOINT_LABEL_LEN) != 0)
		return status_fail(ST_DENIED,
		    "audit-checkpoint: not a checkpoint message (\"%s\", "
		    "sequence, hash)",
		    CHECKPOINT_LABEL);
	return ST_OK;
}

enum status
signer_purpose_check(const struct signer_names *n, enum signer_purpose purpose,
    const struct signer_key *key, int md_nid, const uint8_t *tbs,
    size_t tbs_len)
{
	char detail[LIMIT_AUDIT_DETAIL];
	enum status st;

	if ((unsigned)purpose >= SIGNER_PURPOSE_MAX)
		st = status_fail(ST_DENIED, "unknown purpose %d", (int)purpose);
	else if (!(purpose_roles[purpose] & ROLE(key->role)))
		st = status_fail(ST_DENIED,
		    "key %s is a %s key; a %s is not signed with it",
		    key->label, signer_role_name(key->role),
		    signer_purpose_name(purpose));
	else if (key->role == SIGNER_ROLE_RETIRING && n->retiring == NULL)
		st = status_fail(ST_DENIED,
		    "key %s is a retired issuing key (no ca/retiring.pem): it "
		    "signs nothing",
		    key->label);
	else if ((purpose == SIGNER_PURPOSE_CA_CERT ||
	             purpose == SIGNER_PURPOSE_CA_CSR) &&
	    !n->is_setup)
		st = status_fail(ST_DENIED,
		    "CA certificates are signed offline (tessera init), not by "
		    "a serving signer");
	else if (!signer_md_ok(key, md_nid))
		st = status_fail(ST_DENIED, "digest %d", md_nid);
	else
		switch (purpose) {
		case SIGNER_PURPOSE_DEVICE_CERT:
		case SIGNER_PURPOSE_SERVICE_CERT:
			st = cert_walk(n, purpose, key, md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_CA_CERT:
			st = cert_check(n, purpose, key, md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_CRL:
			st = crl_check(n, key, md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_OCSP:
			st = ocsp_check(n, key, md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_TOKEN:
			st = token_check(md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_AUDIT:
			st = audit_check(md_nid, tbs, tbs_len);
			break;
		case SIGNER_PURPOSE_CA_CSR:
			st = csr_check(key, md_nid, tbs, tbs_len);
			break;
		default:
			st = status_fail(ST_DENIED, "unknown purpose");
		}
	if (st == ST_OK)
		return ST_OK;
	snprintf(detail, sizeof(detail), "%s", status_detail());
	log_warn("signer: refused to sign (purpose %s, key %s): %s",
	    signer_purpose_name(purpose), key->label, detail);
	return status_fail(
	    st == ST_NOMEM ? st : ST_DENIED, "the signer refused: %s", detail);
}
