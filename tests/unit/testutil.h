/*
 * Shared by the unit tests: temporary directories, a fresh SoftHSMv2 token,
 * keys and CSRs made with OpenSSL.
 */
#ifndef TESSERA_TESTS_TESTUTIL_H
#define TESSERA_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/issue.h"
#include "signer/signer.h"

/*
 * A policy whose profiles exercise every CSR rule: device (three key
 * types, fixed, patterned and templated subject attributes, a URI SAN),
 * gateway (UTF8String names, the device id in serialNumber, DNS and IP
 * SANs) and station. test_csrread and fuzz_csr check both CSR readers'
 * profile outcomes against it.
 */
extern const char testutil_csr_policy[];

/* A new empty directory under $TMPDIR; the caller frees the string. */
char *testutil_tmpdir(void);

/* rm -rf dir (best effort). */
void testutil_rmtree(const char *dir);

/*
 * Create a SoftHSMv2 configuration with its token directory inside dir,
 * point SOFTHSM2_CONF at it and initialise a token labelled label with
 * user PIN pin (SO PIN "so-" pin). Returns 0 on success.
 */
int testutil_softhsm(const char *dir, const char *label, const char *pin);

/* The module path of the embedded SoftHSMv2. */
const char *testutil_softhsm_module(void);

/* A software key: "ec:P-256", "ec:P-384", "ec:P-521", "rsa:1024", ... */
EVP_PKEY *testutil_key(const char *spec);

/*
 * A CSR signed by key with subject "/CN=cn" (cn may be NULL) and, when
 * sans is not NULL, a SAN extension request from a comma-separated list in
 * openssl's syntax ("URI:urn:dev:x,DNS:a.example"). DER to *der (free()).
 */
int testutil_csr(EVP_PKEY *key, const char *cn, const char *sans, uint8_t **der,
    size_t *der_len);

/*
 * Sign req with key (SHA-256; none for Ed25519) and encode it: DER to *der
 * (free()). Returns 0 on success.
 */
int
testutil_req_sign(X509_REQ *req, EVP_PKEY *key, uint8_t **der, size_t *der_len);

/*
 * Whether der is exactly one DER TLV tree as X.690 §10-11 requires: short
 * or minimal definite lengths, BOOLEAN 0x00/0xFF, minimal INTEGER and
 * ENUMERATED, NULL empty, BIT STRING with zero padding bits, OIDs without
 * 0x80 pads, UTCTime/GeneralizedTime in their Z forms, SET OF sorted. OCTET
 * STRING contents are not entered (check extnValues separately). Returns
 * 1, or 0 with what is wrong (and where) in why.
 */
int
testutil_der_strict(const uint8_t *der, size_t len, char *why, size_t why_cap);

/*
 * The certificate t describes, with serial (big-endian, serial_len
 * octets), built and signed the way OpenSSL's X509 API does it (X509_set_*,
 * X509V3_EXT_conf_nid for the key identifiers, X509_add1_ext_i2d, then
 * X509_sign with t->md_nid, none for Ed25519): what ca/certder's output
 * must equal byte for byte. issuer NULL: self-signed. NULL on failure.
 */
X509 *testutil_cert_x509(const struct ca_template *t, const uint8_t *serial,
    size_t serial_len, X509 *issuer, EVP_PKEY *issuer_key);

/*
 * A signer handle on priv (a software key, or a token's EVP_PKEY) with
 * role, in a software signer shared by the test (set-up mode: CA
 * certificates allowed, issuer names unchecked; the purpose checks run).
 * Valid until the test exits.
 */
const struct signer_key *
testutil_signer_key(EVP_PKEY *priv, enum signer_role role);

/* Free that signer and its handles (before closing a token they use). */
void testutil_signer_free(void);

#endif
