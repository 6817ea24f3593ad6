/*
 * issue: build an X.509 certificate from a template and sign it with a key
 * (in the token). Everything comes from the template, which the caller
 * fills from the policy: for an enrollment the subject and SANs are the
 * ones ca_csr_names_build made from the profile's rules and the device
 * id; of the CSR only the public key is used.
 */
#ifndef TESSERA_CA_ISSUE_H
#define TESSERA_CA_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certder.h"
#include "ca/policy.h"
#include "common/status.h"

struct signer_key;

struct ca_template {
	const X509_NAME *subject; /* borrowed */
	EVP_PKEY *pubkey; /* borrowed */
	/* The same key as received (a CSR's), borrowed; NULL: pubkey's.
	 * Its SPKI is written without an OpenSSL encoder (ca_certder_spki). */
	const X509_PUBKEY *xpubkey;
	/* Or its SPKI's DER as received and checked (a CSR's, borrowed:
	 * ca_csr_get0_spki), used as it is; first when set. */
	const uint8_t *spki;
	size_t spki_len;
	const GENERAL_NAMES *san; /* borrowed; NULL for none */
	int san_critical; /* RFC 5280: when the subject is empty */
	int64_t not_before; /* Unix seconds */
	int64_t not_after;
	int is_ca; /* signed as a CA certificate (offline only) */
	int is_service; /* else: as tessera's own (TLS, OCSP, admin) */
	int pathlen; /* -1: no pathLenConstraint */
	unsigned key_usage; /* X509v3_KU_* bits, always critical */
	const int *eku_nids; /* NULL/0: no EKU */
	size_t eku_count;
	int ocsp_nocheck; /* id-pkix-ocsp-nocheck (responders) */
	const char *crl_url; /* NULL: no CRL distribution point */
	const char *ocsp_url; /* NULL: no AIA OCSP */
	const char *ca_issuers_url; /* NULL: no AIA caIssuers */
	int md_nid; /* signature digest: NID_sha256, ... */
	/* The profile, as a certificatePolicies OID (ca/certpolicy.h) that
	 * authentication reads the holder's role from; NULL: none. */
	const char *profile;
};

/*
 * The digest a CA key signs certificates, CRLs and OCSP answers with:
 * SHA-384 for a key of 192-bit strength (P-384, the root's default),
 * SHA-256 below it (RFC 5480 §4 pairs each curve with its hash).
 */
int ca_key_md_nid(const EVP_PKEY *key);

/*
 * Build the certificate described by t with a fresh serial (16 CSPRNG
 * bytes, positive, non-zero), issued by issuer (NULL: self-signed) and
 * signed by the signer with issuer_key: a template made for this one
 * certificate, then ca_cert_issue. The caller frees *out with X509_free;
 * the serial as uppercase hex goes to serial_hex.
 */
enum status ca_cert_sign(const struct ca_template *t, X509 *issuer,
    const struct signer_key *issuer_key, X509 **out,
    char serial_hex[41]) MUST_CHECK;

/*
 * The template settings t fixes, for a signature by key (its type; the
 * digest is t's, none for Ed25519): what ca_certder_new takes.
 */
void ca_cert_profile_of(
    const struct ca_template *t, EVP_PKEY *key, struct ca_certder_profile *p);

/*
 * The template settings of policy profile pp (key usage, EKUs, digest, its
 * certificatePolicies OID) for certificates signed by a key of type
 * sig_key_type, naming the OCSP responder and the issuer's certificate by
 * ocsp_url and ca_issuers_url (NULL: none). Strings are borrowed from pp.
 */
void ca_cert_profile_from_policy(const struct policy_profile *pp,
    const char *ocsp_url, const char *ca_issuers_url, int sig_key_type,
    struct ca_certder_profile *out);

/*
 * Issue under tmpl (made by ca_certder_new for this issuer and key) a
 * certificate with a fresh serial and t's per-certificate fields: subject,
 * pubkey, san, san_critical, not_before, not_after, crl_url (the others
 * are tmpl's). The TBSCertificate goes to the signer with key, for the
 * purpose t says (t->is_ca: a CA certificate, t->is_service: one of
 * tessera's own, else a device's). DER to *der (the caller frees it with
 * OPENSSL_free), the serial as uppercase hex to serial_hex.
 */
enum status ca_cert_issue(const struct ca_certder *tmpl,
    const struct ca_template *t, const struct signer_key *key, uint8_t **der,
    size_t *der_len, char serial_hex[41]) MUST_CHECK;

/* The serial of cert as uppercase hex (at most 40 characters + NUL). */
enum status
ca_cert_serial_hex(const X509 *cert, char serial_hex[41]) MUST_CHECK;

/* The certificate's DN as an RFC 2253 string (caller frees with free()). */
char *ca_name_string(const X509_NAME *name);

/* Unix seconds of an ASN1_TIME, or -1 when it cannot be converted. */
int64_t ca_time_unix(const ASN1_TIME *t);

/* PEM of cert appended to a freshly allocated string (caller frees). */
enum status
ca_cert_pem(const X509 *cert, char **pem, size_t *pem_len) MUST_CHECK;

#endif
