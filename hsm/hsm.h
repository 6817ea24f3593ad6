/*
 * hsm: keys inside a PKCS#11 token, through libp11. It knows keys and
 * signatures, nothing about certificates. Private keys are generated in the
 * token (CKA_SENSITIVE, not CKA_EXTRACTABLE) and only ever held as handles.
 *
 * Thread safety: one struct hsm may be used from several threads at once;
 * see hsm.c for how signing is serialised.
 * Processes: open the hsm after fork(), never before (PKCS#11 forbids
 * using a session across fork).
 */
#ifndef TESSERA_HSM_HSM_H
#define TESSERA_HSM_HSM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/status.h"

struct hsm;
struct hsm_key;

enum hsm_key_type {
	HSM_KEY_EC_P256,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_3072,
	HSM_KEY_TYPE_MAX
};

/*
 * Initialise a new token in the first uninitialised slot of module (the
 * SoftHSMv2 way of creating one), set its SO and user PINs and label it.
 * ST_CONFLICT if a token with that label exists already. PINs are borrowed.
 */
enum status hsm_token_init(const char *module, const char *token_label,
    const char *so_pin, const char *user_pin) MUST_CHECK;

/*
 * Load module, find the token labelled token_label and log in as user with
 * pin (borrowed; the caller wipes it). ST_NOTFOUND for a module that
 * cannot be loaded, ST_UNAVAILABLE for a missing token (or a module that
 * fails), ST_UNAUTHENTICATED for a wrong PIN, each with a one-line detail.
 * The caller frees *out with hsm_close.
 */
enum status hsm_open(const char *module, const char *token_label,
    const char *pin, struct hsm **out) MUST_CHECK;

/* Log out, unload the module and free. NULL is accepted. */
void hsm_close(struct hsm *hsm);

/* The token label this hsm was opened on (owned by hsm). */
const char *hsm_token_label(const struct hsm *hsm);

/*
 * Generate a key pair of type inside the token, labelled label (private key
 * sensitive, never extractable; public key stored beside it). ST_CONFLICT
 * if a key with that label exists. The caller frees *out with hsm_key_free.
 */
enum status hsm_key_generate(struct hsm *hsm, const char *label,
    enum hsm_key_type type, struct hsm_key **out) MUST_CHECK;

/*
 * Find the private key labelled label. ST_NOTFOUND if there is none. The
 * caller frees *out with hsm_key_free (before hsm_close).
 */
enum status hsm_key_find(
    struct hsm *hsm, const char *label, struct hsm_key **out) MUST_CHECK;

/*
 * Find a key by RFC 7512 URI ("pkcs11:token=T;object=L", percent-encoding
 * allowed). The token attribute, when present, must name hsm's token.
 */
enum status hsm_key_find_uri(
    struct hsm *hsm, const char *uri, struct hsm_key **out) MUST_CHECK;

/* Free a key handle (not the key in the token). NULL is accepted. */
void hsm_key_free(struct hsm_key *key);

/*
 * The private key as an EVP_PKEY whose operations run in the token; usable
 * with X509_sign, X509_CRL_sign, OCSP_basic_sign, EVP_DigestSign. Owned by
 * key (get0): do not free.
 */
EVP_PKEY *hsm_key_get0_pkey(struct hsm_key *key);

/* The public key, as an ordinary EVP_PKEY owned by key (get0). */
EVP_PKEY *hsm_key_get0_public(struct hsm_key *key);

/* The key's label (owned by key). */
const char *hsm_key_label(const struct hsm_key *key);

/*
 * Sign data with key in the token: ECDSA or RSA PKCS#1 v1.5 over md(data).
 * The DER signature goes to *sig (caller frees with OPENSSL_free).
 * ST_UNAVAILABLE when the token cannot be reached.
 */
enum status hsm_key_sign(struct hsm_key *key, const EVP_MD *md,
    const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len) MUST_CHECK;

/*
 * Check that the token still answers (a cheap PKCS#11 call). ST_OK or
 * ST_UNAVAILABLE with a detail.
 */
enum status hsm_ping(struct hsm *hsm) MUST_CHECK;

/*
 * Split an RFC 7512 URI into its token and object attributes (each
 * percent-decoded; *token may be NULL when absent). Unknown attributes are
 * ignored, as RFC 7512 §2.3 permits for attributes a consumer does not
 * use; a missing object is ST_MALFORMED. The caller frees both with free().
 */
enum status
hsm_uri_parse(const char *uri, char **token, char **object) MUST_CHECK;

/*
 * Whether key's private half is held as the token promises: CKA_SENSITIVE
 * and CKA_ALWAYS_SENSITIVE true, CKA_EXTRACTABLE false and
 * CKA_NEVER_EXTRACTABLE true. 1 yes, 0 no or when the token cannot say.
 */
int hsm_key_is_sensitive(struct hsm_key *key);

#endif
