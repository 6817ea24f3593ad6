/*
 * policy: the issuance policy, read strictly from JSON through jsonread.
 * Every error names the file, the JSON path and the reason. Each section
 * of the file is one function; every object goes through
 * jsonread_keys_check, which refuses keys it does not know, before its
 * members are read. Profiles are parsed in policy_profile.c, roles and
 * authenticators in policy_role.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "ca/cidr.h"
#include "ca/pattern.h"
#include "ca/policy_internal.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/log.h"

/* An optional POSIX extended regular expression, compiled into *p. */
enum status
policy_pattern_get(const struct jsonread *c, const char *path, json_t *obj,
    const char *key, struct pattern **p)
{
	const char *s;
	char sub[JSONREAD_PATH_CAP], why[300];
	enum status st;

	if ((st = jsonread_str(c, path, obj, key, 0, LIMIT_PATTERN_LEN, &s)) !=
	    ST_OK)
		return st;
	if (s == NULL)
		return ST_OK;
	if ((st = pattern_compile(s, p, why, sizeof(why))) == ST_NOMEM)
		return st;
	if (st != ST_OK) {
		jsonread_path_key(sub, path, key);
		return jsonread_fail(c, sub, "%s", why);
	}
	return ST_OK;
}

/*
 * An object of named entries, "name": {...}: at most max, each name
 * [a-z0-9_-]{1,64}; one() parses each. what names them in messages.
 */
enum status
policy_named_parse(const struct jsonread *c, const char *path, json_t *v,
    size_t max, const char *what,
    enum status (*one)(const struct jsonread *, const char *, const char *,
        json_t *, struct policy *),
    struct policy *pol)
{
	const char *name;
	json_t *entry;
	char sub[JSONREAD_PATH_CAP], q[JSONREAD_QUOTE_CAP];
	enum status st;

	if (json_object_size(v) > max)
		return jsonread_fail(c, path, "%zu %ss, limit is %zu",
		    json_object_size(v), what, max);
	json_object_foreach(v, name, entry)
	{
		if (!policy_name_is_valid(name))
			return jsonread_fail(c, path,
			    "bad %s name %s (1..%d characters of a-z, 0-9, _ "
			    "and -)",
			    what, log_quote(name, q, sizeof(q)),
			    LIMIT_LABEL_LEN);
		jsonread_path_key(sub, path, name);
		if ((st = one(c, sub, name, entry, pol)) != ST_OK)
			return st;
	}
	return ST_OK;
}

/* Where policy_names_get puts what it reads. */
struct names_ctx {
	int must_exist;
	const struct policy *pol;
	struct policy_names *out;
};

static enum status
names_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct names_ctx *x = arg;
	char q[JSONREAD_QUOTE_CAP];

	if (strlen(s) > LIMIT_LABEL_LEN ||
	    (x->must_exist && policy_profile_get(x->pol, s) == NULL))
		return jsonread_fail(
		    c, at, "no profile named %s", log_quote(s, q, sizeof(q)));
	memcpy(x->out->name[x->out->count++], s, strlen(s) + 1);
	return ST_OK;
}

/*
 * obj[key]: a list of profile names; each must name a profile when
 * must_exist (profiles are parsed before every other section).
 */
enum status
policy_names_get(const struct jsonread *c, const char *path, json_t *obj,
    const char *key, int required, int must_exist, const struct policy *pol,
    struct policy_names *out)
{
	struct names_ctx x = {must_exist, pol, out};

	out->count = 0;
	return jsonread_strings(
	    c, path, obj, key, required, 0, LIMIT_POLICY_NAMES, names_add, &x);
}

static enum status
cidr_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	char q[JSONREAD_QUOTE_CAP];

	if (cidr_list_add(arg, s) != ST_OK)
		return jsonread_fail(c, at,
		    "%s is not an address or CIDR network",
		    log_quote(s, q, sizeof(q)));
	return ST_OK;
}

/*
 * obj[key]: a list of at least min addresses and CIDR networks into *out
 * (absent: NULL).
 */
enum status
policy_cidrs_get(const struct jsonread *c, const char *path, json_t *obj,
    const char *key, size_t min, struct cidr_list **out)
{
	if (json_object_get(obj, key) == NULL)
		return ST_OK;
	if ((*out = cidr_list_new()) == NULL)
		return ST_NOMEM;
	return jsonread_strings(
	    c, path, obj, key, 0, min, LIMIT_POLICY_ENTRIES, cidr_add, *out);
}

/*
 * How long an HTTP cache may serve a CRL or an OCSP answer: a revocation
 * reaches a gateway behind a cache within this. A day at most; the serving
 * side also never passes nextUpdate.
 */
#define CACHE_SECONDS_DEFAULT 300
#define CACHE_SECONDS_MAX 86400

/* $.crl: {"validity_hours": n, "shards": n, "cache_seconds": n}. */
static enum status
parse_crl(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "validity_hours", "shards", "cache_seconds", NULL};
	int64_t hours, shards;
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "validity_hours", 0, 1, 24 * 30, 24,
	         &hours)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "shards", 0, 1, LIMIT_CRL_SHARDS, 1,
	         &shards)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "cache_seconds", 0, 0,
	         CACHE_SECONDS_MAX, CACHE_SECONDS_DEFAULT,
	         &pol->crl.cache_seconds)) != ST_OK)
		return st;
	pol->crl.validity_seconds = hours * 3600;
	pol->crl.shards = (int)shards;
	return ST_OK;
}

/* $.ocsp: {"validity_seconds": n, "cache_seconds": n}. */
static enum status
parse_ocsp(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "validity_seconds", "cache_seconds", NULL};
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "cache_seconds", 0, 0,
	         CACHE_SECONDS_MAX, CACHE_SECONDS_DEFAULT,
	         &pol->ocsp.cache_seconds)) != ST_OK)
		return st;
	return jsonread_int(c, path, v, "validity_seconds", 0, 60, 7 * 86400,
	    3600, &pol->ocsp.validity_seconds);
}

/* Claims tessera sets itself; a policy may not set or replace them. */
static const char *const reserved_claims[] = {
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf", "client_id", NULL};

/* Extra claims: an object of at most 16 members, small, none reserved. */
static enum status
parse_claims(
    const struct jsonread *c, const char *path, json_t *v, json_t **out)
{
	const char *key;
	json_t *x;
	char *text;
	size_t i, len;
	char q[JSONREAD_QUOTE_CAP];

	*out = NULL;
	if (json_object_size(v) > LIMIT_POLICY_NAMES)
		return jsonread_fail(c, path, "%zu claims, limit is %d",
		    json_object_size(v), LIMIT_POLICY_NAMES);
	json_object_foreach(v, key, x)
	{
		for (i = 0; reserved_claims[i] != NULL; i++)
			if (strcmp(key, reserved_claims[i]) == 0)
				return jsonread_fail(c, path,
				    "claim %s is set by tessera itself",
				    log_quote(key, q, sizeof(q)));
		if (json_is_null(x))
			return jsonread_fail(c, path, "claim %s is null",
			    log_quote(key, q, sizeof(q)));
	}
	if ((text = json_dumps(v, JSON_COMPACT)) == NULL)
		return ST_NOMEM;
	len = strlen(text);
	free(text);
	if (len > 2048)
		return jsonread_fail(
		    c, path, "claims are %zu bytes, limit is 2048", len);
	if ((*out = json_deep_copy(v)) == NULL)
		return ST_NOMEM;
	return ST_OK;
}

/* $.tokens.profiles.NAME: {"ttl_seconds": n, "claims": {...}}. */
static enum status
token_profile_entry(const struct jsonread *c, const char *path,
    const char *name, json_t *v, struct policy *pol)
{
	static const char *const known[] = {"ttl_seconds", "claims", NULL};
	struct policy_tokens *t = &pol->tokens;
	struct policy_token_profile *tp;
	json_t *claims;
	char sub[JSONREAD_PATH_CAP], q[JSONREAD_QUOTE_CAP];
	enum status st;

	if (!json_is_object(v))
		return jsonread_fail(
		    c, path, "expected an object, got %s", jsonread_kind(v));
	if (policy_profile_get(pol, name) == NULL)
		return jsonread_fail(c, path, "no profile named %s",
		    log_quote(name, q, sizeof(q)));
	/* Counted before it is parsed, so policy_free frees its claims. */
	tp = &t->profiles[t->profile_count++];
	memcpy(tp->name, name, strlen(name) + 1);
	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "ttl_seconds", 0, 5, 3600,
	         t->max_ttl_seconds, &tp->ttl_seconds)) != ST_OK ||
	    (st = jsonread_member(
	         c, path, v, "claims", JSON_OBJECT, 0, &claims)) != ST_OK)
		return st;
	if (claims != NULL) {
		jsonread_path_key(sub, path, "claims");
		if ((st = parse_claims(c, sub, claims, &tp->claims)) != ST_OK)
			return st;
	}
	return ST_OK;
}

/* An audience: 1..256 printable ASCII characters, no space or quote. */
static int
is_audience(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LIMIT_NAME_LEN)
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

static enum status
audience_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct policy_tokens *t = arg;
	char q[JSONREAD_QUOTE_CAP];

	if (!is_audience(s))
		return jsonread_fail(c, at,
		    "bad audience %s (1..%d printable characters, no space, "
		    "quote or backslash)",
		    log_quote(s, q, sizeof(q)), LIMIT_NAME_LEN);
	memcpy(t->audiences[t->audience_count++], s, strlen(s) + 1);
	return ST_OK;
}

/*
 * $.tokens: {"audiences": [...], "ttl_seconds": n, "leeway_seconds": n,
 * "profiles": {"device": {...}}}.
 */
static enum status
parse_tokens(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "audiences", "ttl_seconds", "leeway_seconds", "profiles", NULL};
	struct policy_tokens *t = &pol->tokens;
	json_t *profiles;
	char sub[JSONREAD_PATH_CAP];
	int64_t ttl;
	size_t i;
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK ||
	    (st = jsonread_int(
	         c, path, v, "ttl_seconds", 0, 5, 3600, 300, &ttl)) != ST_OK ||
	    (st = jsonread_int(c, path, v, "leeway_seconds", 0, 0, 600, 60,
	         &t->leeway_seconds)) != ST_OK ||
	    (st = jsonread_strings(c, path, v, "audiences", 1, 1,
	         LIMIT_POLICY_NAMES, audience_add, t)) != ST_OK)
		return st;
	/* The default each profile's ttl starts from. */
	t->max_ttl_seconds = ttl;
	if ((st = jsonread_member(
	         c, path, v, "profiles", JSON_OBJECT, 1, &profiles)) != ST_OK)
		return st;
	jsonread_path_key(sub, path, "profiles");
	if ((st = policy_named_parse(c, sub, profiles, LIMIT_POLICY_ENTRIES,
	         "token profile", token_profile_entry, pol)) != ST_OK)
		return st;
	for (i = 0; i < t->profile_count; i++)
		if (t->profiles[i].ttl_seconds > t->max_ttl_seconds)
			t->max_ttl_seconds = t->profiles[i].ttl_seconds;
	return ST_OK;
}

/* $.rate_limits.enroll, .token or .ocsp: {"per_second": n, "burst": n}. */
static enum status
parse_rate(const struct jsonread *c, const char *path, json_t *v,
    const char *key, struct policy_rate *r)
{
	static const char *const known[] = {"per_second", "burst", NULL};
	char sub[JSONREAD_PATH_CAP];
	json_t *o;
	enum status st;

	if ((st = jsonread_member(c, path, v, key, JSON_OBJECT, 0, &o)) !=
	        ST_OK ||
	    o == NULL)
		return st;
	jsonread_path_key(sub, path, key);
	if ((st = jsonread_keys_check(c, sub, o, known)) != ST_OK ||
	    (st = jsonread_int(c, sub, o, "per_second", 0, 0, 1000000,
	         r->per_second, &r->per_second)) != ST_OK)
		return st;
	return jsonread_int(
	    c, sub, o, "burst", 0, 1, 1000000, r->burst, &r->burst);
}

/*
 * $.rate_limits: {"enroll": {...}, "token": {...}, "ocsp": {...},
 * "exempt": [CIDR...]}: per client address, over every worker; per_second
 * 0 turns one off.
 */
static enum status
parse_rates(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "enroll", "token", "ocsp", "refusals", "exempt", NULL};
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK ||
	    (st = parse_rate(c, path, v, "enroll", &pol->rates.enroll)) !=
	        ST_OK ||
	    (st = parse_rate(c, path, v, "token", &pol->rates.token)) !=
	        ST_OK ||
	    (st = parse_rate(c, path, v, "ocsp", &pol->rates.ocsp)) != ST_OK ||
	    (st = parse_rate(c, path, v, "refusals", &pol->rates.refusals)) !=
	        ST_OK)
		return st;
	return policy_cidrs_get(c, path, v, "exempt", 0, &pol->rates.exempt);
}

/*
 * $.metrics: {"allow": [CIDR...]}: the client addresses that may read
 * /metrics; absent, loopback only (127.0.0.0/8, ::1); [] turns it off.
 */
static enum status
parse_metrics(
    const struct jsonread *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {"allow", NULL};
	enum status st;

	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK)
		return st;
	if (json_object_get(v, "allow") == NULL)
		return ST_OK;
	cidr_list_free(pol->metrics_allow);
	pol->metrics_allow = NULL;
	if ((st = policy_cidrs_get(
	         c, path, v, "allow", 0, &pol->metrics_allow)) != ST_OK)
		return st;
	/* "allow": [] is nobody, not the default. */
	if (pol->metrics_allow == NULL &&
	    (pol->metrics_allow = cidr_list_new()) == NULL)
		return ST_NOMEM;
	return ST_OK;
}

/* Known top-level sections; each is parsed by one function below. */
static const char *const top_keys[] = {"version", "profiles", "authenticators",
    "roles", "crl", "ocsp", "tokens", "rate_limits", "metrics", NULL};

static enum status
parse_top(const struct jsonread *c, json_t *root, struct policy *pol)
{
	json_t *v;
	int64_t version;
	enum status st;

	if ((st = jsonread_keys_check(c, "$", root, top_keys)) != ST_OK)
		return st;
	if ((st = jsonread_int(c, "$", root, "version", 1, INT32_MIN, INT32_MAX,
	         1, &version)) != ST_OK)
		return st;
	if (version != 1)
		return jsonread_fail(c, "$.version",
		    "unsupported version %lld "
		    "(expected 1)",
		    (long long)version);
	if ((st = jsonread_member(
	         c, "$", root, "profiles", JSON_OBJECT, 1, &v)) != ST_OK ||
	    (st = policy_named_parse(c, "$.profiles", v, LIMIT_POLICY_ENTRIES,
	         "profile", policy_profile_entry, pol)) != ST_OK)
		return st;
	/* Profiles first: the sections below refer to them. */
	if ((st = jsonread_member(c, "$", root, "authenticators", JSON_OBJECT,
	         0, &v)) != ST_OK ||
	    (v != NULL &&
	        (st = policy_authenticators_parse(
	             c, "$.authenticators", v, pol)) != ST_OK))
		return st;
	if ((st = jsonread_member(c, "$", root, "roles", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL &&
	        (st = policy_roles_parse(c, "$.roles", v, pol)) != ST_OK))
		return st;
	pol->crl.validity_seconds = 24 * 3600;
	pol->crl.shards = 1;
	pol->ocsp.validity_seconds = 3600;
	pol->crl.cache_seconds = CACHE_SECONDS_DEFAULT;
	pol->ocsp.cache_seconds = CACHE_SECONDS_DEFAULT;
	if ((st = jsonread_member(c, "$", root, "crl", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL && (st = parse_crl(c, "$.crl", v, pol)) != ST_OK))
		return st;
	if ((st = jsonread_member(c, "$", root, "ocsp", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL && (st = parse_ocsp(c, "$.ocsp", v, pol)) != ST_OK))
		return st;
	if ((st = jsonread_member(
	         c, "$", root, "tokens", JSON_OBJECT, 0, &v)) != ST_OK ||
	    (v != NULL && (st = parse_tokens(c, "$.tokens", v, pol)) != ST_OK))
		return st;
	/* Generous for one address: a factory station enrolls many. */
	pol->rates.enroll.per_second = 100;
	pol->rates.enroll.burst = 1000;
	pol->rates.token.per_second = 100;
	pol->rates.token.burst = 1000;
	/* A gateway asks once per device and caches the answer (RFC 5019);
	 * a flood of made-up serials costs a signature each. */
	pol->rates.ocsp.per_second = 200;
	pol->rates.ocsp.burst = 2000;
	pol->rates.refusals.per_second = 10;
	pol->rates.refusals.burst = 200;
	if ((st = jsonread_member(
	         c, "$", root, "rate_limits", JSON_OBJECT, 0, &v)) != ST_OK ||
	    (v != NULL &&
	        (st = parse_rates(c, "$.rate_limits", v, pol)) != ST_OK))
		return st;
	/* Metrics name no secret but tell much: loopback unless widened. */
	if ((pol->metrics_allow = cidr_list_new()) == NULL)
		return ST_NOMEM;
	if ((st = cidr_list_add(pol->metrics_allow, "127.0.0.0/8")) != ST_OK ||
	    (st = cidr_list_add(pol->metrics_allow, "::1")) != ST_OK)
		return st;
	if ((st = jsonread_member(
	         c, "$", root, "metrics", JSON_OBJECT, 0, &v)) != ST_OK ||
	    (v != NULL &&
	        (st = parse_metrics(c, "$.metrics", v, pol)) != ST_OK))
		return st;
	return ST_OK;
}

/* The id: the first POLICY_ID_LEN hex digits of the text's SHA-256. */
static void
policy_id_set(struct policy *pol, const char *json, size_t len)
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256((const uint8_t *)json, len, md);
	hex_encode(md, POLICY_ID_LEN / 2, pol->id);
}

const char *
policy_id(const struct policy *policy)
{
	return policy->id;
}

enum status
policy_parse(
    const char *json, size_t len, const char *name, struct policy **out)
{
	struct policy *pol = NULL;
	struct jsonread *c = NULL;
	enum status st = ST_INTERNAL;

	*out = NULL;
	if ((st = jsonread_parse(json, len, LIMIT_POLICY_JSON, 0,
	         name != NULL ? name : "policy", &c)) != ST_OK)
		goto out;
	if ((pol = calloc(1, sizeof(*pol))) == NULL) {
		st = status_fail(
		    ST_NOMEM, "%s: out of memory", jsonread_name(c));
		goto out;
	}
	if ((st = parse_top(c, jsonread_root(c), pol)) != ST_OK)
		goto out;
	policy_id_set(pol, json, len);
	*out = pol;
	pol = NULL;
	st = ST_OK;
out:
	jsonread_free(c);
	policy_free(pol);
	return st;
}

enum status
policy_load(const char *path, struct policy **out)
{
	uint8_t *data = NULL;
	size_t len;
	enum status st;

	*out = NULL;
	if ((st = file_read(path, LIMIT_POLICY_JSON, &data, &len)) != ST_OK)
		goto out;
	st = policy_parse((const char *)data, len, path, out);
out:
	free(data);
	return st;
}

void
policy_free(struct policy *policy)
{
	size_t i, j;

	if (policy == NULL)
		return;
	for (i = 0; i < policy->profile_count; i++) {
		pattern_free(policy->profiles[i].id_pattern);
		for (j = 0; j < policy->profiles[i].subject_count; j++)
			pattern_free(policy->profiles[i].subject[j].pattern);
	}
	for (i = 0; i < policy->role_count; i++) {
		pattern_free(policy->roles[i].device_pattern);
		cidr_list_free(policy->roles[i].allow);
	}
	for (i = 0; i < policy->manufacturer_count; i++)
		pattern_free(policy->manufacturers[i].device_pattern);
	for (i = 0; i < policy->tokens.profile_count; i++)
		json_decref(policy->tokens.profiles[i].claims);
	cidr_list_free(policy->rates.exempt);
	cidr_list_free(policy->metrics_allow);
	free(policy);
}

const struct policy_profile *
policy_profile_get(const struct policy *policy, const char *name)
{
	size_t i;

	if (policy == NULL || name == NULL)
		return NULL;
	for (i = 0; i < policy->profile_count; i++)
		if (strcmp(policy->profiles[i].name, name) == 0)
			return &policy->profiles[i];
	return NULL;
}

size_t
policy_profile_count(const struct policy *policy)
{
	return policy != NULL ? policy->profile_count : 0;
}

const struct policy_profile *
policy_profile_at(const struct policy *policy, size_t i)
{
	if (policy == NULL || i >= policy->profile_count)
		return NULL;
	return &policy->profiles[i];
}

const struct policy_secrets *
policy_secrets(const struct policy *policy)
{
	return &policy->secrets;
}

int
policy_metrics_allows(const struct policy *policy, const char *address)
{
	return cidr_list_match(policy->metrics_allow, address);
}

int
policy_rate_exempt(const struct policy *policy, const char *address)
{
	return cidr_list_match(policy->rates.exempt, address);
}

const struct policy_rates *
policy_rates(const struct policy *policy)
{
	return &policy->rates;
}

const struct policy_crl *
policy_crl(const struct policy *policy)
{
	return &policy->crl;
}

const struct policy_ocsp *
policy_ocsp(const struct policy *policy)
{
	return &policy->ocsp;
}

const struct policy_tokens *
policy_tokens(const struct policy *policy)
{
	return &policy->tokens;
}

const struct policy_token_profile *
policy_token_profile(const struct policy *policy, const char *name)
{
	size_t i;

	for (i = 0; i < policy->tokens.profile_count; i++)
		if (strcmp(policy->tokens.profiles[i].name, name) == 0)
			return &policy->tokens.profiles[i];
	return NULL;
}
