/*
 * digest: the hash algorithms tessera uses on every request (SHA-1 for
 * OCSP CertIDs, SHA-256 for audit entries, token thumbprints, secrets and
 * ETags, SHA-384 for P-384 signatures), fetched from OpenSSL once per
 * process and kept. OpenSSL 3 looks an algorithm up again on each call
 * given EVP_sha256() and friends ("implicit fetch"), taking a global
 * read-write lock each time; the threads of a busy worker queue on it.
 */
#ifndef TESSERA_COMMON_DIGEST_H
#define TESSERA_COMMON_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/status.h"

enum digest_alg { DIGEST_SHA1, DIGEST_SHA256, DIGEST_SHA384, DIGEST_MAX };

/*
 * The algorithm, fetched on first use and kept for the process's life
 * (never freed by the caller). NULL only when OpenSSL cannot provide it.
 */
const EVP_MD *digest_md(enum digest_alg alg);

/*
 * out = the digest of data (room for EVP_MAX_MD_SIZE; *out_len its length
 * when out_len is not NULL). ST_INTERNAL with a detail on failure.
 */
enum status digest_buf(enum digest_alg alg, const void *data, size_t len,
    uint8_t *out, unsigned int *out_len) MUST_CHECK;

/*
 * The AlgorithmIdentifier X509_sign and X509_CRL_sign write for a key of
 * OpenSSL type key_type (EVP_PKEY_EC, EVP_PKEY_RSA, EVP_PKEY_ED25519)
 * with digest md_nid (NID_undef for Ed25519): ecdsa-with-SHA256/384 with
 * parameters absent (RFC 5758 §3.2), sha256/384WithRSAEncryption with
 * NULL (RFC 4055 §5), id-Ed25519 absent (RFC 8410 §3). DER into out (cap
 * octets), its length to *len. ST_MALFORMED for a pair OpenSSL has no
 * signature algorithm for, naming what. The certificate and CRL builders
 * and the signer's checks all take it from here.
 */
enum status digest_sigalg_der(
    int key_type, int md_nid, uint8_t *out, size_t cap, size_t *len) MUST_CHECK;

/* Room for any AlgorithmIdentifier digest_sigalg_der writes. */
#define DIGEST_SIGALG_DER_MAX 32

#endif
