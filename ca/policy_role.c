/*
 * policy_role: who may do what ($.roles) and who may enroll by what means
 * ($.authenticators: one-time secrets, manufacturers' IDevIDs). Part of
 * the policy module.
 */
#include <string.h>

#include "ca/cidr.h"
#include "ca/pattern.h"
#include "ca/policy_internal.h"
#include "common/log.h"

static enum status
parse_role(const struct jsonread *c, const char *path, json_t *obj,
    const struct policy *pol, struct policy_role *r)
{
	static const char *const known[] = {"certificate_profiles",
	    "enroll_profiles", "device_pattern", "mint_secrets", "allow", NULL};
	json_t *b;
	enum status st;

	if ((st = jsonread_keys_check(c, path, obj, known)) != ST_OK)
		return st;
	/* Certificate profiles may be tessera's own (admin): not checked. */
	if ((st = policy_names_get(c, path, obj, "certificate_profiles", 1, 0,
	         pol, &r->cert_profiles)) != ST_OK ||
	    (st = policy_names_get(c, path, obj, "enroll_profiles", 0, 1, pol,
	         &r->enroll_profiles)) != ST_OK ||
	    (st = policy_pattern_get(
	         c, path, obj, "device_pattern", &r->device_pattern)) != ST_OK)
		return st;
	if (r->enroll_profiles.count > 0 && r->device_pattern == NULL)
		return jsonread_fail(c, path,
		    "enroll_profiles needs a device_pattern "
		    "naming the device ids this role may enroll");
	if ((st = jsonread_member(
	         c, path, obj, "mint_secrets", JSON_TRUE, 0, &b)) != ST_OK)
		return st;
	r->may_mint_secrets = b != NULL && json_is_true(b);
	if (r->may_mint_secrets && r->device_pattern == NULL)
		return jsonread_fail(
		    c, path, "mint_secrets needs a device_pattern");
	return policy_cidrs_get(c, path, obj, "allow", 1, &r->allow);
}

static enum status
role_entry(const struct jsonread *c, const char *path, const char *name,
    json_t *v, struct policy *pol)
{
	struct policy_role *r = &pol->roles[pol->role_count++];

	memcpy(r->name, name, strlen(name) + 1);
	return parse_role(c, path, v, pol, r);
}

/* $.roles: name -> role. */
enum status
policy_roles_parse(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	size_t i;
	enum status st;

	if ((st = policy_named_parse(c, path, v, LIMIT_POLICY_ROLES, "role",
	         role_entry, pol)) != ST_OK)
		return st;
	/* A certificate profile gives at most one role. */
	for (i = 0; i < pol->role_count; i++) {
		size_t j, k;

		for (j = 0; j < pol->roles[i].cert_profiles.count; j++)
			for (k = i + 1; k < pol->role_count; k++)
				if (policy_names_has(
				        &pol->roles[k].cert_profiles,
				        pol->roles[i].cert_profiles.name[j]))
					return jsonread_fail(c, path,
					    "certificate profile %s gives "
					    "both role %s and role %s",
					    pol->roles[i].cert_profiles.name[j],
					    pol->roles[i].name,
					    pol->roles[k].name);
	}
	return ST_OK;
}

static enum status
parse_manufacturer(const struct jsonread *c, const char *path, json_t *obj,
    const struct policy *pol, struct policy_manufacturer *m)
{
	static const char *const known[] = {
	    "name", "trust", "device_id", "device_pattern", "profiles", NULL};
	static const char *const ids[] = {"cn", "serialNumber", NULL};
	const char *name, *trust;
	char q[JSONREAD_QUOTE_CAP];
	int id;
	enum status st;

	if ((st = jsonread_keys_check(c, path, obj, known)) != ST_OK ||
	    (st = jsonread_str(
	         c, path, obj, "name", 1, LIMIT_LABEL_LEN, &name)) != ST_OK ||
	    (st = jsonread_str(
	         c, path, obj, "trust", 1, LIMIT_NAME_LEN, &trust)) != ST_OK ||
	    (st = jsonread_choice(c, path, obj, "device_id", 0, ids, 1, &id)) !=
	        ST_OK ||
	    (st = policy_names_get(
	         c, path, obj, "profiles", 1, 1, pol, &m->profiles)) != ST_OK ||
	    (st = policy_pattern_get(
	         c, path, obj, "device_pattern", &m->device_pattern)) != ST_OK)
		return st;
	/* No default: an IDevID must never claim an id outside its maker's. */
	if (m->device_pattern == NULL)
		return jsonread_fail(c, path,
		    "device_pattern is required: the device ids this "
		    "manufacturer's IDevIDs may hold");
	if (!policy_name_is_valid(name))
		return jsonread_fail(c, path, "bad authenticator name %s",
		    log_quote(name, q, sizeof(q)));
	memcpy(m->name, name, strlen(name) + 1);
	memcpy(m->trust, trust, strlen(trust) + 1);
	m->device_id =
	    id == 0 ? POLICY_DEVICE_ID_CN : POLICY_DEVICE_ID_SERIALNUMBER;
	return ST_OK;
}

/* $.authenticators: {"secret": {...}, "manufacturers": [...]}. */
enum status
policy_authenticators_parse(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {"secret", "manufacturers", NULL};
	static const char *const secret_known[] = {
	    "profiles", "default_ttl_seconds", "max_ttl_seconds", NULL};
	struct policy_secrets *sec = &pol->secrets;
	json_t *o, *arr;
	char sub[JSONREAD_PATH_CAP], at[JSONREAD_PATH_CAP];
	size_t i;
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK)
		return st;
	if ((st = jsonread_member(c, path, v, "secret", JSON_OBJECT, 0, &o)) !=
	    ST_OK)
		return st;
	if (o != NULL) {
		jsonread_path_key(sub, path, "secret");
		if ((st = jsonread_keys_check(c, sub, o, secret_known)) !=
		        ST_OK ||
		    (st = policy_names_get(c, sub, o, "profiles", 1, 1, pol,
		         &sec->profiles)) != ST_OK ||
		    (st = jsonread_int(c, sub, o, "max_ttl_seconds", 0, 60,
		         365 * SECONDS_PER_DAY, 30 * SECONDS_PER_DAY,
		         &sec->max_ttl_seconds)) != ST_OK ||
		    (st = jsonread_int(c, sub, o, "default_ttl_seconds", 0, 60,
		         sec->max_ttl_seconds, SECONDS_PER_DAY,
		         &sec->default_ttl_seconds)) != ST_OK)
			return st;
	}
	if ((st = jsonread_array(c, path, v, "manufacturers", 0, 0,
	         LIMIT_POLICY_ROLES, &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	jsonread_path_key(sub, path, "manufacturers");
	for (i = 0; i < json_array_size(arr); i++) {
		jsonread_path_index(at, sub, i);
		if ((st = parse_manufacturer(c, at, json_array_get(arr, i), pol,
		         &pol->manufacturers[pol->manufacturer_count++])) !=
		    ST_OK)
			return st;
	}
	return ST_OK;
}

int
policy_names_has(const struct policy_names *names, const char *name)
{
	size_t i;

	for (i = 0; i < names->count; i++)
		if (strcmp(names->name[i], name) == 0)
			return 1;
	return 0;
}

const struct policy_role *
policy_role_for_profile(const struct policy *policy, const char *profile)
{
	size_t i;

	for (i = 0; i < policy->role_count; i++)
		if (policy_names_has(&policy->roles[i].cert_profiles, profile))
			return &policy->roles[i];
	return NULL;
}

const struct policy_role *
policy_role_get(const struct policy *policy, const char *name)
{
	size_t i;

	for (i = 0; i < policy->role_count; i++)
		if (strcmp(policy->roles[i].name, name) == 0)
			return &policy->roles[i];
	return NULL;
}

size_t
policy_manufacturer_count(const struct policy *policy)
{
	return policy->manufacturer_count;
}

const struct policy_manufacturer *
policy_manufacturer_at(const struct policy *policy, size_t i)
{
	return i < policy->manufacturer_count ? &policy->manufacturers[i]
	                                      : NULL;
}

int
policy_role_allows_address(const struct policy_role *role, const char *address)
{
	if (cidr_list_count(role->allow) == 0 || address == NULL ||
	    address[0] == '\0')
		return 1;
	return cidr_list_match(role->allow, address);
}
