/*
 * trust: a part of the authority — the anchors client certificates are
 * verified against: tessera's own chain (its root and issuing CA), and one
 * store per manufacturer authenticator of the policy (policy order) with
 * the manufacturers' roots as read from their files.
 *
 * What it owns: the X509_STOREs and the manufacturers' roots (struct trust,
 * opaque; its body is in ca/trust.c).
 * Locks: none. It is fixed from trust_open to trust_free, so any number of
 * threads verify with it at once (OpenSSL locks an X509_STORE's own cache).
 * Who calls it: the authority opens it after its CA certificates and policy
 * (authority.c) and frees it at close; authority_authenticate_conn (ca/
 * trust.c) verifies client chains with it; authority_client_ca_pem lists
 * its manufacturers' roots. Nothing outside ca/ sees it.
 */
#ifndef TESSERA_CA_TRUST_H
#define TESSERA_CA_TRUST_H

#include <stddef.h>

#include <openssl/x509.h>

#include "common/status.h"

struct policy;
struct trust;

/*
 * Trust anchors from own (tessera's chain, own_count certificates, each
 * referenced, not copied) and from the trust file of each manufacturer
 * authenticator of policy (named relative to policy_dir unless absolute).
 * The caller frees *out with trust_free.
 */
enum status
trust_open(X509 *const *own, size_t own_count, const struct policy *policy,
    const char *policy_dir, struct trust **out) MUST_CHECK;
/* NULL accepted. */
void trust_free(struct trust *t);

/* The manufacturers' roots, every trust file's certificates in order
 * (borrowed: valid until trust_free). */
STACK_OF(X509) * trust_maker_roots(const struct trust *t);

#endif
