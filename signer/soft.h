/*
 * A signer over software keys (EVP_PKEYs in this process): for unit tests
 * and tools that have no token. The same purpose checks run as in the key
 * holder; nothing in `tessera serve` uses it.
 */
#ifndef TESSERA_SIGNER_SOFT_H
#define TESSERA_SIGNER_SOFT_H

#include <openssl/x509.h>

#include "signer/signer.h"

/*
 * A soft signer; root and issuing (borrowed, referenced; may be NULL) are
 * the names its root and issuing keys sign under, is_setup as for the
 * local signer. Free with signer_close.
 */
enum status signer_soft_open(
    X509 *root, X509 *issuing, int is_setup, struct signer **out) MUST_CHECK;

/*
 * Hold priv (referenced) as the key labelled label with role, and return
 * its handle (signer_key_free). A label given twice replaces the key.
 */
enum status signer_soft_key_add(struct signer *s, const char *label,
    enum signer_role role, EVP_PKEY *priv, struct signer_key **out) MUST_CHECK;

#endif
