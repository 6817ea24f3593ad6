/*
 * csr: a PKCS#10 request as received, and the checks a profile applies to
 * it. The certificate is later built from the profile: nothing but the
 * subject, the SANs and the public key is taken from the CSR.
 */
#ifndef TESSERA_CA_CSR_H
#define TESSERA_CA_CSR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/policy.h"
#include "common/status.h"

struct ca_csr;

/*
 * Parse exactly one DER PKCS#10 of at most LIMIT_CSR_DER bytes (trailing
 * bytes are refused) and verify its self-signature (proof of possession).
 * ST_LIMIT, ST_MALFORMED with a detail. The caller frees with ca_csr_free.
 */
enum status ca_csr_parse(
    const uint8_t *der, size_t der_len, struct ca_csr **out) MUST_CHECK;

void ca_csr_free(struct ca_csr *csr);

/*
 * Check the CSR against profile: key type and size, subject attributes and
 * CN rule, SAN types, patterns and count. ST_DENIED with a detail such as
 * "CSR key is rsa:1024; profile device allows ec:P-256, ec:P-384, rsa:3072+".
 */
enum status ca_csr_check(
    const struct ca_csr *csr, const struct policy_profile *profile) MUST_CHECK;

/* Only the subject and SAN checks of ca_csr_check (for server keygen,
 * where the CSR's key is not the certificate's). */
enum status ca_csr_check_names(
    const struct ca_csr *csr, const struct policy_profile *profile) MUST_CHECK;

/*
 * The key to generate for RFC 7030 serverkeygen: the CSR key's type and
 * size when the profile allows it, else the profile's first key type.
 */
void ca_csr_keygen_rule(const struct ca_csr *csr,
    const struct policy_profile *profile, struct policy_key_rule *out);

/* The request (get0: owned by csr). */
X509_REQ *ca_csr_get0_req(const struct ca_csr *csr);

/* The public key (get0). */
EVP_PKEY *ca_csr_get0_pubkey(const struct ca_csr *csr);

/* The SANs requested in extensionRequest, or NULL when none (get0). */
const GENERAL_NAMES *ca_csr_get0_san(const struct ca_csr *csr);

/*
 * The device id the profile derives from the subject (CN or serialNumber,
 * as UTF-8), or NULL when the subject has no such attribute. Owned by csr.
 */
const char *ca_csr_device_id(
    const struct ca_csr *csr, const struct policy_profile *profile);

/* The challengePassword attribute as UTF-8, or NULL when absent. */
const char *ca_csr_get0_challenge(const struct ca_csr *csr);

/* A short description of the key: "ec:P-256", "rsa:2048", "ed25519". */
const char *ca_csr_key_describe(const struct ca_csr *csr);

#endif
