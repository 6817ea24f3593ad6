/*
 * ceremony: what tessera checks before it takes a CA certificate or a
 * root CRL made outside it (an offline root): the issuing CA's profile
 * (PROTOCOLS.md §7: critical CA:TRUE with pathLenConstraint 0, critical
 * keyUsage keyCertSign and cRLSign), that it certifies the issuing key in
 * the token and chains to a self-signed root, validity, and a root CRL's
 * signature, crlNumber and freshness (RFC 5280 §5).
 */
#ifndef TESSERA_CA_CEREMONY_H
#define TESSERA_CA_CEREMONY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/status.h"

/*
 * Read exactly one PEM (or DER) certificate from path. ST_NOTFOUND for a
 * file that cannot be read, ST_MALFORMED for anything else, naming what.
 * The caller frees *out.
 */
enum status ca_ceremony_cert_read(const char *path, X509 **out) MUST_CHECK;

/* The same for one CRL (PEM or DER). */
enum status ca_ceremony_crl_read(const char *path, X509_CRL **out) MUST_CHECK;

/*
 * The parsers behind both, over len bytes at data (at most 1 MiB); name
 * is for the messages.
 */
enum status ca_ceremony_cert_parse(
    const uint8_t *data, size_t len, const char *name, X509 **out) MUST_CHECK;
enum status ca_ceremony_crl_parse(const uint8_t *data, size_t len,
    const char *name, X509_CRL **out) MUST_CHECK;

/*
 * Whether root is a root CA tessera can chain to: self-signed (issuer is
 * subject, the signature verifies with its own key), CA:TRUE, keyCertSign
 * when it has a keyUsage, valid at now. ST_MALFORMED says what fails.
 */
enum status ca_ceremony_root_check(X509 *root, int64_t now) MUST_CHECK;

/*
 * Whether issuing may be tessera's issuing CA under root at now:
 * root_check, issuing's public key is key (the issuing key in the token:
 * ST_CONFLICT otherwise), the profile above, valid at now, issued and
 * signed by root (X509_verify_cert with root as the only anchor).
 * ST_MALFORMED says which check failed.
 */
enum status ca_ceremony_issuing_check(
    X509 *issuing, X509 *root, EVP_PKEY *key, int64_t now) MUST_CHECK;

/*
 * Whether crl is a full CRL of root that can be served at now: issued by
 * root and signed with its key, v2 with a crlNumber (≤ 63 bits here),
 * thisUpdate not in the future, a nextUpdate still to come, not a delta.
 * The crlNumber goes to *number; ST_MALFORMED says what fails.
 */
enum status ca_ceremony_crl_check(
    X509_CRL *crl, X509 *root, int64_t now, int64_t *number) MUST_CHECK;

/*
 * Take the offline root's CRL for a data directory made with
 * init --offline-root: checked as ca_ceremony_crl_check says against
 * DIR/ca/root.pem, its crlNumber above the one served (a stale CRL is
 * refused, ST_CONFLICT), then stored and audited in one transaction (so
 * /crl/root.crl serves it at once) and written to DIR/crl/root.crl. The
 * crlNumber goes to *number. A CRL that lists the issuing CA revokes its
 * row in the same transaction (as of the entry's date, with its reason),
 * so that nothing is issued under it from then on.
 */
enum status ca_ceremony_crl_import(
    const char *data_dir, const char *crl_path, int64_t *number) MUST_CHECK;

#endif
