/*
 * policy: what the authority may issue, loaded from a JSON file (jansson,
 * strict): unknown keys, wrong types and bad values are errors that name
 * the file, the JSON path and the reason.
 *
 * A struct policy is immutable once loaded; profiles are read-only records
 * owned by it.
 */
#ifndef TESSERA_CA_POLICY_H
#define TESSERA_CA_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"

struct policy;

enum policy_key_kind { POLICY_KEY_EC, POLICY_KEY_RSA, POLICY_KEY_KIND_MAX };

struct policy_key_rule {
	enum policy_key_kind kind;
	int curve_nid; /* EC: NID_X9_62_prime256v1 or NID_secp384r1 */
	int min_bits; /* RSA: smallest modulus allowed */
};

/* Where a device's id comes from in the CSR subject. */
enum policy_device_id {
	POLICY_DEVICE_ID_CN,
	POLICY_DEVICE_ID_SERIALNUMBER,
	POLICY_DEVICE_ID_MAX
};

/* A compiled regular expression (ca/pattern.h); NULL where none is set. */
struct pattern;
/* A list of IPv4 and IPv6 networks (ca/cidr.h). */
struct cidr_list;

/* A short list of names (profiles), as written in the policy. */
struct policy_names {
	char name[LIMIT_POLICY_NAMES][LIMIT_LABEL_LEN + 1];
	size_t count;
};

/*
 * A role: what holders of certificates of certain profiles may do, and
 * from where.
 */
struct policy_role {
	char name[LIMIT_LABEL_LEN + 1];
	struct policy_names cert_profiles; /* who holds this role */
	struct policy_names enroll_profiles; /* may enroll others into */
	struct pattern *device_pattern; /* device ids it may enroll */
	int may_mint_secrets;
	struct cidr_list *allow; /* NULL: from anywhere */
};

/* An IEEE 802.1AR manufacturer CA whose IDevIDs may enroll. */
struct policy_manufacturer {
	char name[LIMIT_LABEL_LEN + 1];
	char trust[LIMIT_NAME_LEN + 1]; /* PEM file, relative to the policy */
	enum policy_device_id device_id;
	struct pattern *device_pattern; /* the ids its IDevIDs hold */
	struct policy_names profiles;
};

/* One-time enrollment secrets (HTTP Basic). */
struct policy_secrets {
	struct policy_names profiles; /* empty: secrets are off */
	int64_t default_ttl_seconds;
	int64_t max_ttl_seconds;
};

/* CRL publication: lifetime (thisUpdate to nextUpdate) and shards. */
struct policy_crl {
	int64_t validity_seconds;
	int shards; /* 1: one CRL for the issuing CA */
	/* Cache-Control max-age of a served CRL (never past nextUpdate): how
	 * long an HTTP cache may keep showing a revoked certificate valid. */
	int64_t cache_seconds;
};

/* OCSP: lifetime of a response (thisUpdate to nextUpdate). */
struct policy_ocsp {
	int64_t validity_seconds;
	int64_t cache_seconds; /* max-age of a served answer, as for CRLs */
};

/* Device tokens (POST /token) for holders of one certificate profile. */
struct policy_token_profile {
	char name[LIMIT_LABEL_LEN + 1]; /* the certificate profile */
	int64_t ttl_seconds; /* exp - iat */
	struct json_t *claims; /* extra claims (an object), NULL: none */
};

/* Device tokens: who may have them, for whom, and how long they live. */
struct policy_tokens {
	struct policy_token_profile profiles[LIMIT_POLICY_ENTRIES];
	size_t profile_count; /* 0: tokens are off */
	char audiences[LIMIT_POLICY_NAMES]
	              [LIMIT_NAME_LEN + 1]; /* [0]: default */
	size_t audience_count;
	int64_t leeway_seconds; /* the gateways' clock leeway */
	int64_t max_ttl_seconds; /* the longest ttl of any profile */
};

/* A token bucket per client address. */
struct policy_rate {
	int64_t per_second; /* 0: no limit */
	int64_t burst;
};

/* Rate limits on enrollment (EST), tokens and OCSP, per client address. */
struct policy_rates {
	struct policy_rate enroll;
	struct policy_rate token;
	struct policy_rate ocsp;
	/* Answers 401 and 403 on any endpoint: a client that keeps being
	 * refused (guessing secrets, scanning) gets 429 before any work. */
	struct policy_rate refusals;
	struct cidr_list *exempt; /* never limited; NULL: none */
};

/* SAN templates of one type: every one is issued, with {id} filled in. */
#define POLICY_SAN_TEMPLATES 4
struct policy_templates {
	char t[POLICY_SAN_TEMPLATES][LIMIT_NAME_LEN + 1];
	size_t count;
};

/* How one subject attribute of an issued certificate gets its value. */
enum policy_attr_kind {
	POLICY_ATTR_ID, /* a template holding {id}: "{id}", "{id}.example" */
	POLICY_ATTR_FIXED, /* a value from the policy, e.g. O */
	POLICY_ATTR_PATTERN, /* the CSR's value, if it matches the pattern */
	POLICY_ATTR_KIND_MAX
};

struct policy_subject_rule {
	int nid; /* NID_commonName, NID_organizationName, ... */
	enum policy_attr_kind kind;
	char value[LIMIT_NAME_LEN + 1]; /* ID: the template; FIXED: value */
	struct pattern *pattern; /* PATTERN */
	int is_required; /* PATTERN: the CSR must carry it */
};

struct policy_profile {
	char name[LIMIT_LABEL_LEN + 1];
	char description[LIMIT_NAME_LEN + 1]; /* "" when absent */
	/* Key types allowed; keys[0] is the default for server-side keygen. */
	struct policy_key_rule keys[LIMIT_POLICY_ENTRIES];
	size_t key_count;
	int64_t validity_seconds;
	int64_t backdate_seconds; /* notBefore = now - backdate */
	int sig_md_nid; /* NID_sha256 or NID_sha384 */
	/*
	 * Names, bound to the device id. The id comes from the CSR's
	 * device_id attribute, in canonical form (ca/deviceid.h), matching
	 * id_pattern when set. The issued subject is built from subject[]
	 * alone, in POLICY_SUBJECT_ORDER; the SAN from the templates (and the
	 * CSR's IP addresses when allow_ip).
	 */
	enum policy_device_id device_id;
	struct pattern *id_pattern; /* device_id_pattern; NULL: any */
	struct policy_subject_rule subject[LIMIT_SUBJECT_ATTRS];
	size_t subject_count;
	int subject_utf8; /* non-ASCII allowed in subject values */
	struct policy_templates uri_templates; /* each holds {id} once */
	struct policy_templates dns_templates; /* each "{id}.<suffix>" */
	int allow_ip; /* CSR IPs, never loopback or unspecified */
	size_t san_max; /* SAN entries a CSR may request */
	int is_server_auth; /* EKU serverAuth: RFC 9525 rules apply */
	/* Extensions built from policy, never copied from the CSR. */
	unsigned key_usage; /* X509v3_KU_* bits */
	int eku_nids[LIMIT_POLICY_ENTRIES];
	size_t eku_count;
	/* Renewal (simplereenroll) with the current certificate. */
	int allow_reenroll;
	int64_t renew_after_expiry_seconds; /* grace for offline devices */
	/* A renewed certificate is revoked (superseded) this long after. */
	int64_t supersede_after_seconds;
	/* The largest RSA modulus accepted in a CSR or generated. */
	int rsa_max_bits;
	/* A role may enroll a device id that holds a valid certificate. */
	int allow_reprovision;
};

/* renewal.supersede_after_seconds: default one hour, at most 30 days. */
#define POLICY_SUPERSEDE_DEFAULT 3600
#define POLICY_SUPERSEDE_MAX (30 * 86400)
/* rsa_max_bits: RSA-4096 keygen takes about a second; 8192 a minute. */
#define POLICY_RSA_MAX_BITS_DEFAULT 4096

/*
 * Load and validate the policy in path. On failure the detail reads
 * "path: $.profiles.device.keys[1]: unknown key type \"ec:P-521\"".
 * The caller frees *out with policy_free.
 */
enum status policy_load(const char *path, struct policy **out) MUST_CHECK;

/* The same from memory; name is used in messages in place of a path. */
enum status policy_parse(const char *json, size_t len, const char *name,
    struct policy **out) MUST_CHECK;

void policy_free(struct policy *policy);

/*
 * The policy's id: the first POLICY_ID_LEN hex digits of the SHA-256 of
 * its JSON text as read (`sha256sum policy.json | cut -c1-16`), so that a
 * log line can say which policy a process runs. Owned by policy.
 */
#define POLICY_ID_LEN 16
const char *policy_id(const struct policy *policy);

/* The profile called name, or NULL. Owned by policy. */
const struct policy_profile *
policy_profile_get(const struct policy *policy, const char *name);

/* The number of profiles, and the i-th in file order (NULL past the end). */
size_t policy_profile_count(const struct policy *policy);
const struct policy_profile *
policy_profile_at(const struct policy *policy, size_t i);

/* The one-time secret settings (never NULL). Owned by policy. */
const struct policy_secrets *policy_secrets(const struct policy *policy);

/* CRL and OCSP settings (never NULL; defaults when the file has none). */
const struct policy_crl *policy_crl(const struct policy *policy);
const struct policy_ocsp *policy_ocsp(const struct policy *policy);

/* Device token settings (never NULL; no profiles when tokens are off). */
const struct policy_tokens *policy_tokens(const struct policy *policy);

/* The token settings of certificate profile name, or NULL. */
const struct policy_token_profile *
policy_token_profile(const struct policy *policy, const char *name);

/* The rate limits (never NULL; defaults when the file has none). */
const struct policy_rates *policy_rates(const struct policy *policy);

/* 1 if the textual address is in rate_limits.exempt. */
int policy_rate_exempt(const struct policy *policy, const char *address);

/* 1 if the textual address may read /metrics (metrics.allow). */
int policy_metrics_allows(const struct policy *policy, const char *address);

/* The role whose cert_profiles holds profile, or NULL. */
const struct policy_role *
policy_role_for_profile(const struct policy *policy, const char *profile);

/* The role called name, or NULL. */
const struct policy_role *
policy_role_get(const struct policy *policy, const char *name);

size_t policy_manufacturer_count(const struct policy *policy);
const struct policy_manufacturer *
policy_manufacturer_at(const struct policy *policy, size_t i);

/* 1 if names holds name. */
int policy_names_has(const struct policy_names *names, const char *name);

/*
 * 1 if the textual address (IPv4 or IPv6) is allowed by role (an empty
 * allow-list allows every address; a local caller's "" is always allowed).
 */
int
policy_role_allows_address(const struct policy_role *role, const char *address);

/*
 * The subject rule of profile for attribute nid, or NULL when the profile
 * has none (the attribute is then never issued, and refused in a CSR).
 */
const struct policy_subject_rule *
policy_subject_rule(const struct policy_profile *p, int nid);

/*
 * The attribute types a subject rule may name, most significant first:
 * the order of the issued subject. NID_undef ends the list.
 */
extern const int POLICY_SUBJECT_ORDER[];

/*
 * A template with its one "{id}" replaced by id, into out (cap bytes).
 * -1 when it does not fit.
 */
int
policy_template_expand(const char *tmpl, const char *id, char *out, size_t cap);

/*
 * Describe the key rules of a profile for messages, e.g.
 * "ec:P-256, ec:P-384, rsa:3072+". Writes at most cap bytes, NUL included.
 */
void policy_profile_keys_describe(
    const struct policy_profile *p, char *out, size_t cap);

#endif
