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

#endif
