/*
 * The authority's insides, shared by the files of ca/ that make it up
 * (authority.c, trust.c, authorize.c, enrollment.c) and by ca/'s tests.
 */
#ifndef TESSERA_CA_AUTHORITY_INTERNAL_H
#define TESSERA_CA_AUTHORITY_INTERNAL_H

#include <openssl/x509.h>

#include "ca/authority.h"
#include "ca/config.h"
#include "ca/policy.h"
#include "ca/store.h"
#include "common/limits.h"
#include "hsm/hsm.h"

struct authority {
	struct ca_config *cfg;
	struct policy *policy;
	struct hsm *hsm;
	struct hsm_key *issuing_key;
	struct store *store;
	X509 *root;
	X509 *issuing;
	char *crl_url;
	char *ocsp_url;
	char *ca_issuers_url;
	/* Trust anchors for client certificates: tessera's own chain, and
	 * one store per manufacturer authenticator (policy order). */
	X509_STORE *own_trust;
	X509_STORE *maker_trust[LIMIT_POLICY_ROLES];
	STACK_OF(X509) * maker_roots;
};

/* Load the trust stores from the chain and the policy's manufacturers. */
enum status trust_load(struct authority *a, const char *policy_dir) MUST_CHECK;
void trust_free(struct authority *a);

/*
 * The permission check for issuance: may who have profile p for
 * device_id (a renewal when is_reenroll)? ST_OK or ST_DENIED with why.
 */
enum status authorize_enroll(const struct authority *a,
    const struct principal *who, const struct policy_profile *p,
    const char *device_id, int is_reenroll) MUST_CHECK;

/* May who mint a one-time secret for device_id under profile p? */
enum status
authorize_secret(const struct authority *a, const struct principal *who,
    const struct policy_profile *p, const char *device_id) MUST_CHECK;

/*
 * The permission check for the admin API: may who do action ("revoke",
 * "reinstate", "read", "feed", "audit")? The local operator may do all;
 * a certificate principal by its policy role and that role's allow-list.
 * ST_OK, ST_UNAUTHENTICATED (no credentials) or ST_DENIED with why.
 */
enum status authorize_admin(const struct authority *a,
    const struct principal *who, const char *action) MUST_CHECK;

#endif
