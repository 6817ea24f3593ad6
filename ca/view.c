/*
 * view: what the authority shows the network face of its policy and CA
 * certificates, as copies (ca/authority.h), so that enroll/ never holds
 * the policy's structs. The store's rows are shown in revoke.c, where
 * they are read.
 */
#include <string.h>

#include "ca/authority_internal.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "common/log.h"

enum status
authority_profile_get(
    const struct authority *a, const char *name, struct authority_profile *out)
{
	const struct policy_profile *p = policy_profile_get(a->policy, name);

	memset(out, 0, sizeof(*out));
	if (p == NULL || p->key_count == 0)
		return status_fail(ST_NOTFOUND, "no profile \"%.64s\"",
		    name != NULL ? name : "");
	out->is_ec = p->keys[0].kind == POLICY_KEY_EC;
	out->curve_nid = p->keys[0].curve_nid;
	out->rsa_bits = p->keys[0].min_bits;
	out->sig_md_nid = p->sig_md_nid;
	return ST_OK;
}

int
authority_profile_exists(const struct authority *a, const char *name)
{
	return policy_profile_get(a->policy, name) != NULL;
}

static void
rate_copy(struct authority_rate *to, const struct policy_rate *from)
{
	to->per_second = from->per_second;
	to->burst = from->burst;
}

void
authority_rates_get(const struct authority *a, struct authority_rates *out)
{
	const struct policy_rates *r = policy_rates(a->policy);

	rate_copy(&out->enroll, &r->enroll);
	rate_copy(&out->token, &r->token);
	rate_copy(&out->ocsp, &r->ocsp);
	rate_copy(&out->refusals, &r->refusals);
}

int
authority_rate_exempt(const struct authority *a, const char *address)
{
	return policy_rate_exempt(a->policy, address);
}

int
authority_metrics_allows(const struct authority *a, const char *address)
{
	return policy_metrics_allows(a->policy, address);
}

int64_t
authority_crl_cache_seconds(const struct authority *a)
{
	return policy_crl(a->policy)->cache_seconds;
}

int64_t
authority_ocsp_cache_seconds(const struct authority *a)
{
	return policy_ocsp(a->policy)->cache_seconds;
}

const char *
authority_policy_id(const struct authority *a)
{
	return policy_id(a->policy);
}

void
authority_ca_not_after(
    const struct authority *a, int64_t *root, int64_t *issuing)
{
	*root = ca_time_unix(X509_get0_notAfter(a->root));
	*issuing = ca_time_unix(X509_get0_notAfter(a->issuing));
}

int
authority_retiring_not_after(
    const struct authority *a, int64_t *not_after, int64_t *until)
{
	*not_after = 0;
	*until = 0;
	if (a->retiring == NULL || issuer_is_retired(a->retiring))
		return 0;
	*not_after = ca_time_unix(X509_get0_notAfter(issuer_cert(a->retiring)));
	/* One indexed MAX over its shards; unknown (0) when the store
	 * does not answer: health is about the token. */
	if (store_gen_last_expiry(a->store, issuer_gen(a->retiring), until) !=
	    ST_OK) {
		log_warn("retiring CA's last expiry: %s", status_detail());
		*until = 0;
	}
	return 1;
}
