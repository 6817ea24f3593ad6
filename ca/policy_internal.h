/*
 * policy_internal: the body of struct policy and the parsers that
 * policy.c, policy_profile.c and policy_role.c share. Only the policy
 * module and its tests include it.
 */
#ifndef TESSERA_CA_POLICY_INTERNAL_H
#define TESSERA_CA_POLICY_INTERNAL_H

#include <jansson.h>

#include "ca/jsonread.h"
#include "ca/policy.h"

#define SECONDS_PER_DAY 86400

struct policy {
	struct policy_profile profiles[LIMIT_POLICY_ENTRIES];
	size_t profile_count;
	struct policy_role roles[LIMIT_POLICY_ROLES];
	size_t role_count;
	struct policy_manufacturer manufacturers[LIMIT_POLICY_ROLES];
	size_t manufacturer_count;
	struct policy_secrets secrets;
	struct policy_crl crl;
	struct policy_ocsp ocsp;
	struct policy_tokens tokens;
	struct policy_rates rates;
	/* $.metrics.allow: who may read /metrics (default: loopback). */
	struct cidr_list *metrics_allow;
	char id[POLICY_ID_LEN + 1];
};

/* Profile, role and authenticator names: [a-z0-9_-]{1,64}. */
int policy_name_is_valid(const char *s);

/*
 * An object of named entries, "name": {...}: at most max, each name valid;
 * one() parses each. what names them in messages.
 */
enum status policy_named_parse(const struct jsonread *c, const char *path,
    json_t *v, size_t max, const char *what,
    enum status (*one)(const struct jsonread *, const char *, const char *,
        json_t *, struct policy *),
    struct policy *pol) MUST_CHECK;

/* obj[key], an optional regular expression, compiled into *p. */
enum status policy_pattern_get(const struct jsonread *c, const char *path,
    json_t *obj, const char *key, struct pattern **p) MUST_CHECK;

/*
 * obj[key]: a list of profile names; each must name a profile when
 * must_exist (profiles are parsed before every other section).
 */
enum status policy_names_get(const struct jsonread *c, const char *path,
    json_t *obj, const char *key, int required, int must_exist,
    const struct policy *pol, struct policy_names *out) MUST_CHECK;

/* obj[key]: at least min addresses and CIDR networks (absent: NULL). */
enum status
policy_cidrs_get(const struct jsonread *c, const char *path, json_t *obj,
    const char *key, size_t min, struct cidr_list **out) MUST_CHECK;

/* $.profiles.NAME, the profile called name, parsed into pol. */
enum status policy_profile_entry(const struct jsonread *c, const char *path,
    const char *name, json_t *v, struct policy *pol) MUST_CHECK;

/* $.roles and $.authenticators, after the profiles. */
enum status policy_roles_parse(const struct jsonread *c, const char *path,
    json_t *v, struct policy *pol) MUST_CHECK;
enum status policy_authenticators_parse(const struct jsonread *c,
    const char *path, json_t *v, struct policy *pol) MUST_CHECK;

#endif
