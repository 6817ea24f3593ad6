/*
 * ca/certder: certificates encoded like the CRL. A template holds the DER
 * of everything a profile fixes (version, signature algorithm, issuer,
 * basicConstraints, keyUsage, extendedKeyUsage, the authority key id,
 * OCSP no-check, authorityInfoAccess, the profile's certificatePolicies),
 * encoded once through OpenSSL when the policy is loaded; a request fills
 * in what varies (serial, validity, subject, public key, subject key id,
 * subjectAltName, CRL distribution point) as DER into one buffer. The
 * result is byte for byte what X509_sign over the same X509_* calls
 * writes (tests/unit/test_certder.c), without building an X509.
 *
 * The extensions come in the order issue.c always added them: basic
 * constraints, key usage, [EKU], subject key id, authority key id, [SAN],
 * [OCSP no-check], [CRL DP], [AIA], [certificatePolicies].
 */
#ifndef TESSERA_CA_CERTDER_H
#define TESSERA_CA_CERTDER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/status.h"

struct ca_certder;

/* What a profile (or a service certificate) fixes. Borrowed. */
struct ca_certder_profile {
	int is_ca;
	int pathlen; /* -1: no pathLenConstraint */
	unsigned key_usage; /* X509v3_KU_* bits, always critical */
	const int *eku_nids; /* NULL/0: no EKU */
	size_t eku_count;
	int ocsp_nocheck; /* id-pkix-ocsp-nocheck (responders) */
	const char *ocsp_url; /* NULL: no AIA OCSP */
	const char *ca_issuers_url; /* NULL: no AIA caIssuers */
	const char *profile; /* certificatePolicies OID; NULL: none */
	/* The signature: the signing key's OpenSSL type (EVP_PKEY_EC,
	 * EVP_PKEY_RSA, EVP_PKEY_ED25519) and digest (NID_undef for
	 * Ed25519). */
	int sig_key_type;
	int md_nid;
};

/*
 * Build the template of p for certificates issued by issuer, whose
 * subject becomes theirs and whose subjectKeyIdentifier their AKI (an
 * issuer without one is refused, RFC 5280 §4.2.1.1). issuer NULL: each
 * certificate is self-signed (issuer = its subject, AKI = its own SKI).
 * ST_MALFORMED naming what is wrong. The caller frees *out with
 * ca_certder_free.
 */
enum status ca_certder_new(const struct ca_certder_profile *p, X509 *issuer,
    struct ca_certder **out) MUST_CHECK;

void ca_certder_free(struct ca_certder *t);

/* One subjectAltName entry (RFC 5280 §4.2.1.6). */
enum ca_certder_san_type {
	CA_CERTDER_SAN_EMAIL, /* rfc822Name, IA5String */
	CA_CERTDER_SAN_DNS, /* dNSName, IA5String */
	CA_CERTDER_SAN_URI, /* uniformResourceIdentifier, IA5String */
	CA_CERTDER_SAN_IP, /* iPAddress: 4 or 16 octets */
	CA_CERTDER_SAN_TYPE_MAX
};

struct ca_certder_san {
	enum ca_certder_san_type type;
	const uint8_t *value; /* IA5 text (not NUL-terminated) or octets */
	size_t len;
};

/* The SAN entries one certificate may carry. */
#define CA_CERTDER_SAN_MAX 64

/* What varies per certificate. Everything is borrowed. */
struct ca_certder_req {
	const uint8_t *serial; /* big-endian magnitude, positive */
	size_t serial_len; /* at most 20 octets once leading zeros go */
	int64_t not_before, not_after; /* Unix seconds, year 0 to 9999 */
	const uint8_t *subject; /* DER Name (i2d_X509_NAME) */
	size_t subject_len;
	const uint8_t *spki; /* DER SubjectPublicKeyInfo (i2d_PUBKEY) */
	size_t spki_len;
	const struct ca_certder_san *san; /* NULL/0: no SAN extension */
	size_t san_count;
	int san_critical; /* RFC 5280 §4.2.1.6: when the subject is empty */
	const char *crl_url; /* NULL: no CRL distribution point */
};

/*
 * The TBSCertificate of r under template t, DER, freshly allocated (the
 * caller frees *tbs with free()). r is checked first: the serial (1..20
 * octets, non-zero), the times (in range, notAfter after notBefore), the
 * subject and key (one well-formed SEQUENCE each; the key's BIT STRING is
 * what the SKI hashes, RFC 5280 §4.2.1.2 method 1), the SANs (IA5 text
 * without NUL or controls, IPs of 4 or 16 octets, at most
 * CA_CERTDER_SAN_MAX) and the CRL URL (printable ASCII, bounded):
 * ST_MALFORMED or ST_LIMIT naming the field.
 */
enum status ca_certder_tbs(const struct ca_certder *t,
    const struct ca_certder_req *r, uint8_t **tbs, size_t *tbs_len) MUST_CHECK;

/*
 * The Certificate: SEQUENCE { tbs, t's signatureAlgorithm, BIT STRING sig
 * } (RFC 5280 §4.1.1), as signer_signed_der makes it (OPENSSL_free).
 */
enum status ca_certder_assemble(const struct ca_certder *t, const uint8_t *tbs,
    size_t tbs_len, const uint8_t *sig, size_t sig_len, uint8_t **der,
    size_t *der_len) MUST_CHECK;

/* The digest a signature over t's TBS uses (NID_undef for Ed25519). */
int ca_certder_md_nid(const struct ca_certder *t);

/*
 * The DER SubjectPublicKeyInfo of key, byte for byte what i2d_PUBKEY
 * writes for it: an EC key on a named curve (RFC 5480 §2.1.1) is written
 * here from its algorithm and point (i2d_PUBKEY fetches an encoder each
 * time, the larger part of an issuance's encoding), any other key goes
 * through i2d_PUBKEY. *out is freed with OPENSSL_free.
 */
enum status ca_certder_spki(
    const X509_PUBKEY *key, uint8_t **out, size_t *out_len) MUST_CHECK;

/*
 * The SAN entries of names into out (cap entries), pointing into names
 * (borrowed from it): *count of them. ST_MALFORMED for a GeneralName type
 * the template does not write (otherName, directoryName, ...), ST_LIMIT
 * over cap.
 */
enum status ca_certder_san_from(const GENERAL_NAMES *names,
    struct ca_certder_san *out, size_t cap, size_t *count) MUST_CHECK;

#endif
