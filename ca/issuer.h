/*
 * issuer: a part of the authority — an issuing CA that no longer issues
 * but still publishes. After `tessera ca rollover` the issuing CA before
 * it (tessera.json keys.retiring, ca/retiring.pem) signs the CRLs of the
 * certificates it issued and answers OCSP for them with its own key
 * (RFC 6960 §4.2.2.2), until the last of them has expired; then it is
 * retired (authority_tick: the issuers row, the audit, tessera.json).
 *
 * What it owns: the CA certificate (a reference), its key handle (the
 * signer's; the holder gives it the role "retiring issuing", which signs
 * CRLs and OCSP answers and never a certificate), the responder that
 * answers with that key, its generation (the issuers table; its
 * certificates' shards) and serial.
 * Locks: none. It is fixed from issuer_open to issuer_free, so any number
 * of threads answer with it at once (the signer reconnects by itself),
 * but for its retirement: a flag set once by the scheduler (atomic; its
 * CRLs stop, the reload it asks for drops it) and the scheduler's own
 * reading of its last notAfter (the tick's thread only).
 * Who calls it: authority.c opens and frees it; publication.c builds its
 * CRLs and answers for its CertIDs; the CLI's rollover names it.
 */
#ifndef TESSERA_CA_ISSUER_H
#define TESSERA_CA_ISSUER_H

#include <stdint.h>

#include <openssl/x509.h>

#include "common/status.h"

struct ca_ocsp;
struct signer_key;
struct issuer;

/*
 * An issuer for cert (referenced, not copied) and its key (taken, also on
 * failure; ST_CONFLICT when it is not the certificate's) of generation
 * gen, its OCSP answers valid ocsp_validity seconds. Free with
 * issuer_free, before the key's signer is closed.
 */
enum status issuer_open(X509 *cert, struct signer_key *key, int gen,
    int64_t ocsp_validity, struct issuer **out) MUST_CHECK;
void issuer_free(struct issuer *is);

int issuer_gen(const struct issuer *is);
X509 *issuer_cert(const struct issuer *is);
const struct signer_key *issuer_key(const struct issuer *is);
/* The certificate's serial in upper-case hex. */
const char *issuer_serial(const struct issuer *is);
struct ca_ocsp *issuer_ocsp(const struct issuer *is);

/* Retired here by the scheduler (set once; any thread reads it). */
int issuer_is_retired(const struct issuer *is);
void issuer_set_retired(struct issuer *is);

/* The latest notAfter of what it issued, as the scheduler last read it
 * (0: not yet); the tick's thread only. */
int64_t issuer_until(const struct issuer *is);
void issuer_set_until(struct issuer *is, int64_t until);

#endif
