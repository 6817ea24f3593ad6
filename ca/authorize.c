/*
 * authorize: what a principal may do. Every permission decision of the
 * authority is made here, so that the EST front end, the API and the CLI
 * give the same principal the same answer.
 */
#include <stdio.h>
#include <string.h>

#include "ca/authority_internal.h"
#include "ca/pattern.h"
#include "ca/store.h"

static const char *
dev(const char *device_id)
{
	return device_id != NULL ? device_id : "(none)";
}

/* The role of a certificate principal, with its address allow-list. */
static enum status
cert_role(const struct authority *a, const struct principal *who,
    const struct policy_role **out)
{
	const struct policy_role *role;

	*out = NULL;
	if (who->role[0] == '\0' ||
	    (role = policy_role_get(a->policy, who->role)) == NULL)
		return status_fail(ST_DENIED,
		    "certificates of profile %s hold no role in the policy",
		    who->profile);
	if (!policy_role_allows_address(role, who->address))
		return status_fail(ST_DENIED, "role %s may not connect from %s",
		    role->name, who->address);
	*out = role;
	return ST_OK;
}

static enum status
authorize_renewal(const struct principal *who, const struct policy_profile *p,
    const char *device_id)
{
	if (who->kind != PRINCIPAL_CERT)
		return status_fail(ST_DENIED,
		    "simplereenroll needs the certificate being renewed as "
		    "the TLS client certificate (RFC 7030 §3.3.2)");
	if (strcmp(who->profile, p->name) != 0)
		return status_fail(ST_DENIED,
		    "a certificate of profile %s cannot be renewed into "
		    "profile %s",
		    who->profile, p->name);
	if (!p->allow_reenroll)
		return status_fail(
		    ST_DENIED, "profile %s does not allow renewal", p->name);
	if (device_id == NULL || strcmp(device_id, who->id) != 0)
		return status_fail(ST_DENIED,
		    "the CSR names device %s, the certificate device %s",
		    dev(device_id), who->id);
	return ST_OK;
}

enum status
authorize_enroll(const struct authority *a, const struct principal *who,
    const struct policy_profile *p, const char *device_id, int is_reenroll)
{
	const struct policy_manufacturer *m = NULL;
	const struct policy_role *role = NULL;
	size_t i;
	enum status st;

	if (who->kind == PRINCIPAL_OPERATOR)
		/* Holds the data directory and the HSM PIN already. */
		return ST_OK;
	if (who->kind == PRINCIPAL_CERT &&
	    (st = cert_role(a, who, &role)) != ST_OK)
		return st;
	if (is_reenroll)
		return authorize_renewal(who, p, device_id);
	switch (who->kind) {
	case PRINCIPAL_SECRET:
		if (!policy_names_has(
		        &policy_secrets(a->policy)->profiles, p->name))
			return status_fail(ST_DENIED,
			    "profile %s cannot be enrolled with a one-time "
			    "secret",
			    p->name);
		if (device_id == NULL || strcmp(device_id, who->id) != 0)
			return status_fail(ST_DENIED,
			    "the secret is for device %s, the CSR names %s",
			    who->id, dev(device_id));
		return ST_OK;
	case PRINCIPAL_MANUFACTURER:
		for (i = 0; i < policy_manufacturer_count(a->policy); i++) {
			m = policy_manufacturer_at(a->policy, i);
			if (strcmp(m->name, who->authenticator) == 0)
				break;
		}
		if (i == policy_manufacturer_count(a->policy) ||
		    !policy_names_has(&m->profiles, p->name))
			return status_fail(ST_DENIED,
			    "manufacturer certificates of %s may not enroll "
			    "profile %s",
			    who->authenticator, p->name);
		if (device_id == NULL || strcmp(device_id, who->id) != 0)
			return status_fail(ST_DENIED,
			    "the manufacturer certificate names device %s, "
			    "the CSR %s",
			    who->id, dev(device_id));
		/* Each manufacturer has its own namespace of ids. */
		if (!pattern_match(m->device_pattern, device_id))
			return status_fail(ST_DENIED,
			    "device id %s is outside manufacturer %s's "
			    "device_pattern %s",
			    device_id, m->name,
			    pattern_source(m->device_pattern));
		return ST_OK;
	case PRINCIPAL_CERT:
		if (who->is_expired)
			return status_fail(ST_DENIED,
			    "an expired certificate may only renew itself");
		if (!policy_names_has(&role->enroll_profiles, p->name))
			return status_fail(ST_DENIED,
			    "role %s may not enroll profile %s (a device "
			    "renews with simplereenroll)",
			    role->name, p->name);
		if (device_id == NULL ||
		    !pattern_match(role->device_pattern, device_id))
			return status_fail(ST_DENIED,
			    "role %s may not enroll device %s", role->name,
			    dev(device_id));
		return ST_OK;
	default:
		return status_fail(ST_UNAUTHENTICATED, "no credentials");
	}
}

enum status
authorize_secret(const struct authority *a, const struct principal *who,
    const struct policy_profile *p, const char *device_id)
{
	const struct policy_role *role;
	enum status st;

	if (!policy_names_has(&policy_secrets(a->policy)->profiles, p->name))
		return status_fail(ST_DENIED,
		    "profile %s does not take one-time secrets", p->name);
	if (who->kind == PRINCIPAL_OPERATOR)
		return ST_OK;
	if (who->kind != PRINCIPAL_CERT)
		return status_fail(ST_DENIED,
		    "only an operator, admin or station mints secrets");
	if ((st = cert_role(a, who, &role)) != ST_OK)
		return st;
	if (!role->may_mint_secrets || who->is_expired)
		return status_fail(
		    ST_DENIED, "role %s may not mint secrets", role->name);
	/*
	 * Delegation never exceeds the delegator: a secret enrolls what its
	 * minter could enroll itself, no other profile (a station that
	 * enrolls devices must not mint a serverAuth gateway certificate).
	 */
	if (!policy_names_has(&role->enroll_profiles, p->name))
		return status_fail(ST_DENIED,
		    "role %s may not mint secrets for profile %s: it may "
		    "not enroll that profile itself",
		    role->name, p->name);
	if (!pattern_match(role->device_pattern, device_id))
		return status_fail(ST_DENIED,
		    "role %s may not mint secrets for device %s", role->name,
		    device_id);
	return ST_OK;
}

void
principal_authenticator(const struct principal *who, char *out, size_t cap)
{
	switch (who->kind) {
	case PRINCIPAL_MANUFACTURER:
		snprintf(out, cap, "manufacturer:%s", who->authenticator);
		break;
	case PRINCIPAL_CERT:
		snprintf(out, cap, "role:%s", who->role);
		break;
	case PRINCIPAL_SECRET:
		snprintf(out, cap, "secret");
		break;
	default:
		snprintf(out, cap, "operator");
		break;
	}
}

enum status
authorize_binding(const struct principal *who, const char *device_id,
    const struct store_device_binding *b, const char *family)
{
	char mine[LIMIT_NAME_LEN + 1];

	if (!b->is_known)
		return ST_OK;
	/*
	 * One id, one family: a device may not take a station's or a
	 * gateway's name, so that revoking the one never touches the other.
	 */
	if (b->family[0] != '\0' && strcmp(b->family, family) != 0)
		return status_fail(ST_DENIED,
		    "device id %s is held by profile %s; an id lives in one "
		    "profile family and cannot be enrolled as %s",
		    device_id, b->family, family);
	/*
	 * A manufacturer's namespace is its own: an id first enrolled by
	 * another authenticator is never taken over by an IDevID.
	 */
	principal_authenticator(who, mine, sizeof(mine));
	if (who->kind == PRINCIPAL_MANUFACTURER &&
	    b->authenticator[0] != '\0' && strcmp(b->authenticator, mine) != 0)
		return status_fail(ST_DENIED,
		    "device id %s is bound to %s, which enrolled it first; "
		    "an IDevID of %s cannot enroll it",
		    device_id, b->authenticator, who->authenticator);
	return ST_OK;
}

/*
 * The admin API's permissions: which roles may do what. Roles come from
 * the policy (a certificate profile gives the role, the role's allow-list
 * gives the addresses); what a role may do here is fixed, so that a
 * policy file cannot hand out reinstatement by accident.
 */
static const struct {
	const char *action;
	const char *roles[4];
} admin_actions[] = {
    {"revoke", {"admin", "operator"}},
    {"reinstate", {"admin"}},
    {"read", {"admin", "operator", "auditor"}},
    /* Gateways hold certificates of role device: the feed is theirs. */
    {"feed", {"admin", "operator", "auditor", "device"}},
    {"audit", {"admin", "auditor"}},
    {"rotate", {"admin"}},
    /*
     * Secrets: a listing holds no secret material, so whoever reads the
     * inventory may read it; cancelling only takes a delegation back, so
     * whoever may revoke may cancel.
     */
    {"secrets", {"admin", "operator", "auditor"}},
    {"cancel", {"admin", "operator"}},
};

enum status
authorize_admin(
    const struct authority *a, const struct principal *who, const char *action)
{
	const struct policy_role *role;
	size_t i, j;
	enum status st;

	for (i = 0; i < sizeof(admin_actions) / sizeof(admin_actions[0]); i++)
		if (strcmp(admin_actions[i].action, action) == 0)
			break;
	if (i == sizeof(admin_actions) / sizeof(admin_actions[0]))
		return status_fail(ST_INTERNAL, "no admin action %s", action);
	switch (who->kind) {
	case PRINCIPAL_OPERATOR:
		/* Holds the data directory and the HSM PIN already. */
		return ST_OK;
	case PRINCIPAL_CERT:
		break;
	case PRINCIPAL_NONE:
		return status_fail(ST_UNAUTHENTICATED,
		    "the admin API needs a client certificate");
	default:
		return status_fail(ST_DENIED,
		    "the admin API takes client certificates of tessera's "
		    "own, not one-time secrets or manufacturer certificates");
	}
	if ((st = cert_role(a, who, &role)) != ST_OK)
		return st;
	if (who->is_expired)
		return status_fail(
		    ST_DENIED, "an expired certificate may only renew itself");
	for (j = 0; j < sizeof(admin_actions[i].roles) /
	             sizeof(admin_actions[i].roles[0]) &&
	     admin_actions[i].roles[j] != NULL;
	     j++)
		if (strcmp(admin_actions[i].roles[j], role->name) == 0)
			return ST_OK;
	return status_fail(ST_DENIED, "role %s may not %s", role->name, action);
}
