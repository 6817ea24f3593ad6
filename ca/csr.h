/*
 * csr: a PKCS#10 request as received, and the checks a profile applies to
 * it. The certificate is built from the profile: its names come from the
 * profile's rules and the device id (ca_csr_names_build), its key from
 * the CSR; nothing else of the CSR is used.
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
 * tessera's own DER reader takes the requests it knows (EC P-256/P-384
 * and RSA keys, ECDSA and PKCS#1 v1.5 with SHA-256/384, the subject, the
 * SAN, challengePassword) without OpenSSL's decoders; everything else,
 * and every request it would refuse, is decided by the reference.
 */
enum status ca_csr_parse(
    const uint8_t *der, size_t der_len, struct ca_csr **out) MUST_CHECK;

/*
 * The reference reader alone: d2i_X509_REQ, X509_REQ_verify and what
 * OpenSSL decodes. Its verdicts and messages are ca_csr_parse's.
 */
enum status ca_csr_parse_reference(
    const uint8_t *der, size_t der_len, struct ca_csr **out) MUST_CHECK;

/*
 * tessera's own reader alone (tests and fuzzing): ST_OK, or ST_MALFORMED
 * ("not taken") for a request it leaves to the reference, which may
 * still accept it. What it accepts the reference must accept too, with
 * the same fields (ca_csr_same).
 */
enum status ca_csr_parse_own(
    const uint8_t *der, size_t der_len, struct ca_csr **out) MUST_CHECK;

/*
 * 1 when a and b (the two readers' results for the same request) carry
 * the same: subject attributes (types, values, ASCII or not), SANs,
 * challengePassword, key (EVP_PKEY_eq, type, curve, size, description)
 * and SPKI bytes. Else 0 and the first difference in why (cap bytes).
 */
int ca_csr_same(
    const struct ca_csr *a, const struct ca_csr *b, char *why, size_t cap);

void ca_csr_free(struct ca_csr *csr);

/*
 * Check the CSR against profile: key type and size, then the names
 * (ca_csr_check_names). ST_DENIED with a detail such as
 * "CSR key is rsa:1024; profile device allows ec:P-256, ec:P-384, rsa:3072+".
 */
enum status ca_csr_check(
    const struct ca_csr *csr, const struct policy_profile *profile) MUST_CHECK;

/*
 * The names checks alone (server keygen, where the CSR's key is not the
 * certificate's): the device id is there and canonical (ST_MALFORMED);
 * every subject attribute has a rule of the profile and agrees with it,
 * every requested SAN is a name the profile's templates give this device
 * or an allowed IP (ST_DENIED, naming the attribute or "subjectAltName
 * TYPE value"); non-ASCII values without the profile's utf8 are
 * ST_MALFORMED.
 */
enum status ca_csr_check_names(
    const struct ca_csr *csr, const struct policy_profile *profile) MUST_CHECK;

/*
 * The names tessera issues for this CSR under profile, after
 * ca_csr_check_names: the subject built from the profile's rules in
 * POLICY_SUBJECT_ORDER (UTF8String; serialNumber and C PrintableString),
 * whatever string types the CSR used; the SAN from the profile's templates
 * for the device id, then the CSR's IP addresses when the profile allows
 * them. A serverAuth profile's names obey RFC 9525 §6. The caller frees
 * *subject with X509_NAME_free and *san with GENERAL_NAMES_free.
 */
enum status ca_csr_names_build(const struct ca_csr *csr,
    const struct policy_profile *profile, X509_NAME **subject,
    GENERAL_NAMES **san) MUST_CHECK;

/*
 * The key to generate for RFC 7030 serverkeygen: of the CSR key's family
 * (EC or RSA) when the profile has one: RSA at the profile's smallest
 * rsa:N, EC on the CSR's curve if allowed, else the profile's first EC
 * curve. Any other CSR key: the profile's first key type.
 */
void ca_csr_keygen_rule(const struct ca_csr *csr,
    const struct policy_profile *profile, struct policy_key_rule *out);

/*
 * The SubjectPublicKeyInfo as the certificate carries it, byte for byte
 * what i2d_PUBKEY writes for the key (ca_certder_spki), owned by csr; NULL
 * (and *len 0) when it could not be written, and the issuer then encodes
 * ca_csr_get0_pubkey itself.
 */
const uint8_t *ca_csr_get0_spki(const struct ca_csr *csr, size_t *len);

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

/*
 * For a principal whose device id is already known (the certificate being
 * renewed, a secret's, an IDevID's): when the CSR's id attribute is the
 * profile's template spelt out for id ("gw-1.gw.example" for a CN rule
 * "{id}.gw.example", as RFC 7030 §4.2.2 has a renewing client copy its
 * certificate's subject), the CSR names id from now on. 1 if so, else 0
 * and nothing changes. Never for a CSR whose id nobody vouches for.
 */
int ca_csr_bind_id(
    struct ca_csr *csr, const struct policy_profile *profile, const char *id);

/* The challengePassword attribute as UTF-8, or NULL when absent. */
const char *ca_csr_get0_challenge(const struct ca_csr *csr);

/* A short description of the key: "ec:P-256", "rsa:2048", "ed25519". */
const char *ca_csr_key_describe(const struct ca_csr *csr);

#endif
