/*
 * service: certificates tessera issues to itself and its operators (CA
 * certificates, the OCSP responder, the TLS server, admins), and the store
 * row every issued certificate gets.
 */
#ifndef TESSERA_CA_SERVICE_H
#define TESSERA_CA_SERVICE_H

#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/store.h"
#include "common/status.h"

struct signer_key;

struct ca_service_spec {
	const char *cn;
	const char *profile; /* the row's profile: "tls-server", ... */
	EVP_PKEY *pubkey; /* borrowed */
	int64_t days;
	int is_ca;
	int pathlen; /* -1: none */
	unsigned key_usage;
	const int *eku;
	size_t eku_count;
	int ocsp_nocheck;
	const char *san; /* openssl syntax, e.g. "DNS:localhost"; NULL */
	const GENERAL_NAMES *san_names; /* used when san is NULL */
	int md_nid;
	/* The issuing CA's generation (0 before any rollover): a leaf is on
	 * that CA's full CRL. */
	int issuer_gen;
};

/*
 * Fill row from cert (copies; clear with ca_row_clear). device_id and
 * profile are borrowed.
 */
enum status ca_row_from_cert(X509 *cert, const char *device_id,
    const char *profile, int64_t now, struct store_cert *row) MUST_CHECK;

/* Free what ca_row_from_cert allocated. */
void ca_row_clear(struct store_cert *row);

/*
 * Sign the certificate spec describes (subject O=org, CN=spec->cn) with
 * issuer_key (issuer NULL: self-signed), pointing at the CRL, the OCSP
 * responder and the issuer's certificate by the URLs given (NULL: none),
 * and commit its row and an audit entry by actor before returning it. The
 * caller frees *out.
 */
enum status ca_service_issue(struct store *store, const char *org,
    const char *actor, int64_t now, const struct ca_service_spec *spec,
    X509 *issuer, const struct signer_key *issuer_key, const char *crl_url,
    const char *ocsp_url, const char *ca_issuers_url, X509 **out) MUST_CHECK;

/*
 * PEM of certs, concatenated in order, then of key (PKCS#8, unencrypted)
 * when key is not NULL. The caller frees *out with ca_pem_free, which wipes
 * it (it may hold a private key).
 */
enum status ca_pem_encode(X509 *const *certs, size_t count, EVP_PKEY *key,
    char **out, size_t *out_len) MUST_CHECK;

void ca_pem_free(char *pem, size_t len);

#endif
