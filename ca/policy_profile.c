/*
 * policy_profile: the certificate profiles of the policy ($.profiles):
 * key types, validity, subject and SAN rules bound to the device id, key
 * usage and extended key usage, renewal. Part of the policy module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/certpolicy.h"
#include "ca/policy_internal.h"
#include "common/log.h"

/* RSA moduli beyond this are refused by OpenSSL's verification anyway. */
#define RSA_MAX_BITS 16384

/* "ec:P-256", "ec:P-384" or "rsa:N"; -1 with a reason otherwise. */
static int
key_rule_parse(const char *s, struct policy_key_rule *r, const char **why)
{
	const char *d;
	char *end;
	long n;

	*why = "unknown key type";
	memset(r, 0, sizeof(*r));
	if (strcmp(s, "ec:P-256") == 0) {
		r->kind = POLICY_KEY_EC;
		r->curve_nid = NID_X9_62_prime256v1;
		return 0;
	}
	if (strcmp(s, "ec:P-384") == 0) {
		r->kind = POLICY_KEY_EC;
		r->curve_nid = NID_secp384r1;
		return 0;
	}
	if (strncmp(s, "rsa:", 4) != 0)
		return -1;
	/* Digits only: strtol alone would take " +2048". */
	for (d = s + 4; *d != '\0'; d++)
		if (*d < '0' || *d > '9')
			return -1;
	if (d == s + 4 || d - (s + 4) > 6)
		return -1;
	errno = 0;
	n = strtol(s + 4, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	if (n < 2048) {
		*why = "RSA modulus below 2048 bits in key type";
		return -1;
	}
	if (n > RSA_MAX_BITS) {
		*why = "RSA modulus above 16384 bits in key type";
		return -1;
	}
	r->kind = POLICY_KEY_RSA;
	r->min_bits = (int)n;
	return 0;
}

static enum status
key_rule_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct policy_profile *p = arg;
	struct policy_key_rule r;
	const char *why;
	char q[JSONREAD_QUOTE_CAP];
	size_t j;

	if (key_rule_parse(s, &r, &why) == -1)
		return jsonread_fail(c, at,
		    "%s %s (expected ec:P-256, ec:P-384 or rsa:N with N >= "
		    "2048)",
		    why, log_quote(s, q, sizeof(q)));
	/* serverkeygen makes keys of these sizes: bounded, so that one
	 * request cannot hold a worker for minutes. */
	if (r.kind == POLICY_KEY_RSA && r.min_bits > p->rsa_max_bits)
		return jsonread_fail(c, at,
		    "key type %s is above the profile's rsa_max_bits %d",
		    log_quote(s, q, sizeof(q)), p->rsa_max_bits);
	for (j = 0; j < p->key_count; j++)
		if (p->keys[j].kind == r.kind &&
		    p->keys[j].curve_nid == r.curve_nid &&
		    p->keys[j].min_bits == r.min_bits)
			return jsonread_fail(c, at, "duplicate key type %s",
			    log_quote(s, q, sizeof(q)));
	p->keys[p->key_count++] = r;
	return ST_OK;
}

static enum status
parse_keys(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	return jsonread_strings(
	    c, path, prof, "keys", 1, 1, LIMIT_POLICY_ENTRIES, key_rule_add, p);
}

static int
has_nid(const int *nids, size_t count, int nid)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (nids[i] == nid)
			return 1;
	return 0;
}

const int POLICY_SUBJECT_ORDER[] = {NID_countryName, NID_stateOrProvinceName,
    NID_localityName, NID_organizationName, NID_organizationalUnitName,
    NID_serialNumber, NID_commonName, NID_undef};

const struct policy_subject_rule *
policy_subject_rule(const struct policy_profile *p, int nid)
{
	size_t i;

	for (i = 0; i < p->subject_count; i++)
		if (p->subject[i].nid == nid)
			return &p->subject[i];
	return NULL;
}

int
policy_template_expand(const char *tmpl, const char *id, char *out, size_t cap)
{
	const char *at = strstr(tmpl, "{id}");
	int n;

	if (at == NULL)
		n = snprintf(out, cap, "%s", tmpl);
	else
		n = snprintf(
		    out, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, id, at + 4);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* One "{id}" and no other brace: the only place a name takes the id. */
static int
is_template(const char *s)
{
	const char *at = strstr(s, "{id}");

	return at != NULL && strstr(at + 4, "{id}") == NULL &&
	    strcspn(s, "{}") == (size_t)(at - s) &&
	    strcspn(at + 4, "{}") == strlen(at + 4);
}

/*
 * A subject value from the policy: no control characters, ASCII unless
 * the profile allows UTF-8, PrintableString for serialNumber and C (RFC
 * 5280 App. A), two upper-case letters for C (ISO 3166).
 */
static const char *
subject_value_bad(int nid, const char *v, int utf8)
{
	static const char printable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                "abcdefghijklmnopqrstuvwxyz"
	                                "0123456789 '()+,-./:=?";
	const unsigned char *u;

	for (u = (const unsigned char *)v; *u != '\0'; u++) {
		if (*u < 0x20 || *u == 0x7f)
			return "has a control character";
		if (*u >= 0x80 && !utf8)
			return "is not ASCII (set \"utf8\": true to allow it)";
	}
	if ((nid == NID_serialNumber || nid == NID_countryName) &&
	    strspn(v, printable) != strlen(v))
		return "has characters outside PrintableString";
	if (nid == NID_countryName &&
	    (strlen(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' ||
	        v[1] > 'Z'))
		return "is not two upper-case letters (ISO 3166)";
	if (strlen(v) > 64)
		return "is over 64 characters (RFC 5280 ub-name)";
	return NULL;
}

static int
subject_nid(const char *s)
{
	int nid = OBJ_txt2nid(s);
	size_t i;

	for (i = 0; POLICY_SUBJECT_ORDER[i] != NID_undef; i++)
		if (POLICY_SUBJECT_ORDER[i] == nid &&
		    strcmp(OBJ_nid2sn(nid), s) == 0)
			return nid;
	return NID_undef;
}

/* One rule: "{id}..." (a string), {"value": V} or {"pattern": P}. */
static enum status
parse_subject_rule(const struct jsonread *c, const char *path, json_t *v,
    struct policy_subject_rule *r, int utf8)
{
	static const char *const known[] = {
	    "value", "pattern", "required", NULL};
	const char *s, *why = NULL;
	char q[JSONREAD_QUOTE_CAP], sub[JSONREAD_PATH_CAP];
	json_t *req;
	enum status st;

	if (json_is_string(v)) {
		s = json_string_value(v);
		if (!is_template(s) || strlen(s) > LIMIT_NAME_LEN)
			return jsonread_fail(c, path,
			    "%s is not a template with one {id} (use "
			    "{\"value\": ...} for a fixed value)",
			    log_quote(s, q, sizeof(q)));
		r->kind = POLICY_ATTR_ID;
		memcpy(r->value, s, strlen(s) + 1);
		/* The id is canonical ASCII ("x" stands for it); the rest. */
		if (policy_template_expand(s, "x", sub, sizeof(sub)) != 0 ||
		    (why = subject_value_bad(r->nid, sub, utf8)) != NULL)
			return jsonread_fail(c, path, "the template %s %s",
			    log_quote(s, q, sizeof(q)),
			    why != NULL ? why : "is too long");
		return ST_OK;
	}
	if ((st = jsonread_keys_check(c, path, v, known)) != ST_OK)
		return st;
	if ((st = jsonread_str(c, path, v, "value", 0, LIMIT_NAME_LEN, &s)) !=
	    ST_OK)
		return st;
	if (s != NULL) {
		if (json_object_size(v) != 1)
			return jsonread_fail(c, path,
			    "a fixed value takes no pattern or required");
		jsonread_path_key(sub, path, "value");
		if ((why = subject_value_bad(r->nid, s, utf8)) != NULL)
			return jsonread_fail(
			    c, sub, "%s %s", log_quote(s, q, sizeof(q)), why);
		r->kind = POLICY_ATTR_FIXED;
		memcpy(r->value, s, strlen(s) + 1);
		return ST_OK;
	}
	if (json_object_get(v, "pattern") == NULL)
		return jsonread_fail(c, path,
		    "a rule is a template with {id}, {\"value\": ...} or "
		    "{\"pattern\": ...}");
	if ((st = policy_pattern_get(c, path, v, "pattern", &r->pattern)) !=
	    ST_OK)
		return st;
	if ((st = jsonread_member(
	         c, path, v, "required", JSON_TRUE, 0, &req)) != ST_OK)
		return st;
	r->kind = POLICY_ATTR_PATTERN;
	r->is_required = req != NULL && json_is_true(req);
	return ST_OK;
}

/*
 * $.profiles.P.subject: a rule for every attribute the profile issues,
 * keyed by its short name; "utf8": true allows non-ASCII values.
 */
static enum status
parse_subject(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	json_t *subj, *v, *utf8;
	const char *key;
	char sub[JSONREAD_PATH_CAP], elem[JSONREAD_PATH_CAP],
	    q[JSONREAD_QUOTE_CAP];
	struct policy_subject_rule *r;
	int nid;
	enum status st;

	if ((st = jsonread_member(
	         c, path, prof, "subject", JSON_OBJECT, 1, &subj)) != ST_OK)
		return st;
	jsonread_path_key(sub, path, "subject");
	if ((st = jsonread_member(c, sub, subj, "utf8", JSON_TRUE, 0, &utf8)) !=
	    ST_OK)
		return st;
	p->subject_utf8 = utf8 != NULL && json_is_true(utf8);
	json_object_foreach(subj, key, v)
	{
		if (strcmp(key, "utf8") == 0)
			continue;
		jsonread_path_key(elem, sub, key);
		if ((nid = subject_nid(key)) == NID_undef)
			return jsonread_fail(c, sub,
			    "unknown subject attribute %s (expected C, ST, L, "
			    "O, OU, serialNumber or CN)",
			    log_quote(key, q, sizeof(q)));
		if (!json_is_string(v) && !json_is_object(v))
			return jsonread_fail(c, elem,
			    "expected a template string or an object, got %s",
			    jsonread_kind(v));
		if (p->subject_count >= LIMIT_SUBJECT_ATTRS)
			return jsonread_fail(c, sub, "more than %d attributes",
			    LIMIT_SUBJECT_ATTRS);
		r = &p->subject[p->subject_count++];
		r->nid = nid;
		if ((st = parse_subject_rule(c, elem, v, r, p->subject_utf8)) !=
		    ST_OK)
			return st;
	}
	return ST_OK;
}

/* "{id}." and a lower-case DNS suffix: names only under the suffix. */
static const char *
dns_template_bad(const char *s)
{
	const char *label, *end;
	size_t n;
	int all_digits = 1;

	if (strncmp(s, "{id}.", 5) != 0)
		return "must be \"{id}.\" followed by a DNS suffix, so that a "
		       "name is always the device's own and under the suffix";
	if (strlen(s + 5) > 253 - 64)
		return "has a suffix over 189 characters";
	for (label = s + 5; *label != '\0'; label = *end ? end + 1 : end) {
		end = label + strcspn(label, ".");
		n = (size_t)(end - label);
		if (n == 0 || n > 63)
			return "has an empty or over-long label in its suffix";
		if (label[0] == '-' || label[n - 1] == '-')
			return "has a label that starts or ends with '-'";
		all_digits = strspn(label, "0123456789") == n;
		if (strspn(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
			return "has a suffix that is not lower-case letters, "
			       "digits, '-' and dots";
	}
	if (all_digits)
		return "has a suffix whose last label is numeric (an IP "
		       "address, not a domain)";
	return NULL;
}

/* A URI template: a scheme, printable ASCII, no spaces. */
static const char *
uri_template_bad(const char *s)
{
	const unsigned char *u;
	const char *colon = strchr(s, ':');

	if (colon == NULL || colon == s || colon > strstr(s, "{id}"))
		return "must start with a scheme (\"urn:...:\") before {id}";
	for (u = (const unsigned char *)s; *u != '\0'; u++)
		if (*u < 0x21 || *u > 0x7e)
			return "has a byte that is not printable ASCII";
	return NULL;
}

/* Where get_templates puts what it reads: "uri" or "dns" templates. */
struct templates_ctx {
	const char *key;
	struct policy_templates *out;
};

static enum status
template_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct templates_ctx *x = arg;
	const char *why;
	char q[JSONREAD_QUOTE_CAP];
	size_t j;

	if (!is_template(s) || strlen(s) > LIMIT_NAME_LEN - 64)
		return jsonread_fail(c, at,
		    "%s is not a template with one {id} (a name without the id "
		    "would be every device's)",
		    log_quote(s, q, sizeof(q)));
	why = strcmp(x->key, "dns") == 0 ? dns_template_bad(s)
	                                 : uri_template_bad(s);
	if (why != NULL)
		return jsonread_fail(
		    c, at, "%s %s", log_quote(s, q, sizeof(q)), why);
	for (j = 0; j < x->out->count; j++)
		if (strcmp(x->out->t[j], s) == 0)
			return jsonread_fail(c, at, "duplicate template %s",
			    log_quote(s, q, sizeof(q)));
	memcpy(x->out->t[x->out->count++], s, strlen(s) + 1);
	return ST_OK;
}

static enum status
get_templates(const struct jsonread *c, const char *path, json_t *obj,
    const char *key, struct policy_templates *out)
{
	struct templates_ctx x = {key, out};

	return jsonread_strings(
	    c, path, obj, key, 0, 1, POLICY_SAN_TEMPLATES, template_add, &x);
}

static enum status
parse_san(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	static const char *const known[] = {"uri", "dns", "ip", "max", NULL};
	json_t *san, *ip;
	char sub[JSONREAD_PATH_CAP];
	int64_t max;
	enum status st;

	if ((st = jsonread_member(
	         c, path, prof, "san", JSON_OBJECT, 0, &san)) != ST_OK)
		return st;
	if (san == NULL)
		return ST_OK;
	jsonread_path_key(sub, path, "san");
	if ((st = jsonread_keys_check(c, sub, san, known)) != ST_OK)
		return st;
	if ((st = get_templates(c, sub, san, "uri", &p->uri_templates)) !=
	    ST_OK)
		return st;
	if ((st = get_templates(c, sub, san, "dns", &p->dns_templates)) !=
	    ST_OK)
		return st;
	if ((st = jsonread_member(c, sub, san, "ip", JSON_TRUE, 0, &ip)) !=
	    ST_OK)
		return st;
	p->allow_ip = ip != NULL && json_is_true(ip);
	if ((st = jsonread_int(
	         c, sub, san, "max", 1, 0, LIMIT_SAN_COUNT, 0, &max)) != ST_OK)
		return st;
	p->san_max = (size_t)max;
	return ST_OK;
}

/*
 * The names of a profile hang together: the device id attribute takes the
 * id; a serverAuth profile always issues a DNS name and its CN, if any, is
 * one of them (RFC 9525 §6).
 */
static enum status
check_names(
    const struct jsonread *c, const char *path, struct policy_profile *p)
{
	const struct policy_subject_rule *id_rule, *cn;
	char sub[JSONREAD_PATH_CAP];
	size_t i;
	int id_nid = p->device_id == POLICY_DEVICE_ID_CN ? NID_commonName
	                                                 : NID_serialNumber;

	id_rule = policy_subject_rule(p, id_nid);
	if (id_rule == NULL || id_rule->kind != POLICY_ATTR_ID) {
		jsonread_path_key(sub, path, "subject");
		return jsonread_fail(c, sub,
		    "%s holds the device id (device_id), so its rule must be "
		    "a template with {id}",
		    OBJ_nid2sn(id_nid));
	}
	if (!p->is_server_auth)
		return ST_OK;
	jsonread_path_key(sub, path, "san");
	if (p->dns_templates.count == 0)
		return jsonread_fail(c, sub,
		    "profile has extended key usage serverAuth, so it needs "
		    "a DNS template (RFC 9525 §6: a server is named by its "
		    "subjectAltName)");
	if ((cn = policy_subject_rule(p, NID_commonName)) == NULL)
		return ST_OK;
	for (i = 0; i < p->dns_templates.count; i++)
		if (cn->kind == POLICY_ATTR_ID &&
		    strcmp(cn->value, p->dns_templates.t[i]) == 0)
			return ST_OK;
	jsonread_path_key(sub, path, "subject");
	return jsonread_fail(c, sub,
	    "profile has extended key usage serverAuth, so its CN must be "
	    "one of its DNS templates (RFC 9525 §6)");
}

static const struct {
	const char *name;
	unsigned bit;
} key_usages[] = {
    {"digitalSignature", X509v3_KU_DIGITAL_SIGNATURE},
    {"nonRepudiation", X509v3_KU_NON_REPUDIATION},
    {"keyEncipherment", X509v3_KU_KEY_ENCIPHERMENT},
    {"dataEncipherment", X509v3_KU_DATA_ENCIPHERMENT},
    {"keyAgreement", X509v3_KU_KEY_AGREEMENT},
};

#define KEY_USAGE_COUNT (sizeof(key_usages) / sizeof(key_usages[0]))

static enum status
key_usage_add(
    const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct policy_profile *p = arg;
	char q[JSONREAD_QUOTE_CAP];
	size_t k;

	/* A leaf that can sign certificates or CRLs is a CA. */
	if (strcmp(s, "keyCertSign") == 0 || strcmp(s, "cRLSign") == 0)
		return jsonread_fail(
		    c, at, "%s is not allowed in a leaf profile", s);
	for (k = 0; k < KEY_USAGE_COUNT; k++)
		if (strcmp(s, key_usages[k].name) == 0)
			break;
	if (k == KEY_USAGE_COUNT)
		return jsonread_fail(c, at,
		    "unknown key usage %s (expected digitalSignature, "
		    "nonRepudiation, keyEncipherment, dataEncipherment or "
		    "keyAgreement)",
		    log_quote(s, q, sizeof(q)));
	if (p->key_usage & key_usages[k].bit)
		return jsonread_fail(c, at, "duplicate key usage %s", s);
	p->key_usage |= key_usages[k].bit;
	return ST_OK;
}

static enum status
parse_key_usage(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	return jsonread_strings(c, path, prof, "key_usage", 1, 1,
	    KEY_USAGE_COUNT, key_usage_add, p);
}

/* "1.3.6.1..." with at least two arcs, digits only. */
static int
is_dotted_oid(const char *s)
{
	const char *d;
	int arcs = 1, digits = 0;

	if (s[0] < '0' || s[0] > '2' || strlen(s) > 100)
		return 0;
	for (d = s; *d != '\0'; d++) {
		if (*d == '.') {
			if (digits == 0)
				return 0;
			arcs++;
			digits = 0;
		} else if (*d >= '0' && *d <= '9')
			digits++;
		else
			return 0;
	}
	return digits > 0 && arcs >= 2;
}

static const struct {
	const char *name;
	int nid;
} ext_key_usages[] = {
    {"clientAuth", NID_client_auth},
    {"serverAuth", NID_server_auth},
    {"codeSigning", NID_code_sign},
    {"emailProtection", NID_email_protect},
    {"timeStamping", NID_time_stamp},
    {"OCSPSigning", NID_OCSP_sign},
};

/* The NID of a named EKU or a dotted OID (registered if new); or 0. */
static int
eku_nid(const char *s)
{
	ASN1_OBJECT *obj;
	size_t k;
	int nid;

	for (k = 0; k < sizeof(ext_key_usages) / sizeof(ext_key_usages[0]); k++)
		if (strcmp(s, ext_key_usages[k].name) == 0)
			return ext_key_usages[k].nid;
	if (!is_dotted_oid(s))
		return NID_undef;
	if ((obj = OBJ_txt2obj(s, 1)) == NULL)
		return NID_undef;
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	/* Policy loads at start-up, before threads, so registering is safe. */
	if (nid == NID_undef)
		nid = OBJ_create(s, NULL, NULL);
	return nid;
}

static enum status
eku_add(const struct jsonread *c, const char *at, const char *s, void *arg)
{
	struct policy_profile *p = arg;
	char q[JSONREAD_QUOTE_CAP];
	int nid;

	if ((nid = eku_nid(s)) == NID_undef) {
		ERR_clear_error();
		return jsonread_fail(c, at,
		    "unknown extended key usage %s (expected clientAuth, "
		    "serverAuth, codeSigning, emailProtection, timeStamping, "
		    "OCSPSigning or a dotted OID)",
		    log_quote(s, q, sizeof(q)));
	}
	if (has_nid(p->eku_nids, p->eku_count, nid))
		return jsonread_fail(c, at, "duplicate extended key usage %s",
		    log_quote(s, q, sizeof(q)));
	p->eku_nids[p->eku_count++] = nid;
	return ST_OK;
}

static enum status
parse_ext_key_usage(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	return jsonread_strings(c, path, prof, "extended_key_usage", 1, 1,
	    LIMIT_POLICY_ENTRIES, eku_add, p);
}

/*
 * $.profiles.X.renewal: {"reenroll": bool, "after_expiry_days": n,
 * "supersede_after_seconds": n}.
 */
static enum status
parse_renewal(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	static const char *const known[] = {
	    "reenroll", "after_expiry_days", "supersede_after_seconds", NULL};
	json_t *r, *b;
	char sub[JSONREAD_PATH_CAP];
	int64_t days;
	enum status st;

	p->allow_reenroll = 1;
	p->supersede_after_seconds = POLICY_SUPERSEDE_DEFAULT;
	if ((st = jsonread_member(
	         c, path, prof, "renewal", JSON_OBJECT, 0, &r)) != ST_OK ||
	    r == NULL)
		return st;
	jsonread_path_key(sub, path, "renewal");
	if ((st = jsonread_keys_check(c, sub, r, known)) != ST_OK)
		return st;
	if ((st = jsonread_member(c, sub, r, "reenroll", JSON_TRUE, 0, &b)) !=
	    ST_OK)
		return st;
	if (b != NULL)
		p->allow_reenroll = json_is_true(b);
	if ((st = jsonread_int(
	         c, sub, r, "after_expiry_days", 0, 0, 365, 0, &days)) != ST_OK)
		return st;
	p->renew_after_expiry_seconds = days * SECONDS_PER_DAY;
	/* The overlap in which both the renewed and the new certificate
	 * hold, so that a device can switch without a gap. */
	return jsonread_int(c, sub, r, "supersede_after_seconds", 0, 0,
	    POLICY_SUPERSEDE_MAX, POLICY_SUPERSEDE_DEFAULT,
	    &p->supersede_after_seconds);
}

/* Profile names appear in URLs and messages: [a-z0-9_-]{1,64}. */
int
policy_name_is_valid(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		        *s == '_' || *s == '-'))
			return 0;
	}
	return n >= 1 && n <= LIMIT_LABEL_LEN;
}

/* One entry of $.profiles, into p (already named). */
static enum status
parse_profile(const struct jsonread *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	static const char *const known[] = {"description", "validity_days",
	    "backdate_seconds", "keys", "signature_hash", "subject",
	    "device_id", "device_id_pattern", "san", "key_usage",
	    "extended_key_usage", "renewal", "rsa_max_bits", "reprovision",
	    NULL};
	static const char *const hashes[] = {"sha256", "sha384", NULL};
	static const char *const ids[] = {"cn", "serialNumber", NULL};
	const char *desc;
	json_t *reprovision;
	int64_t days, rsa_max;
	int hash, id;
	enum status st;

	if ((st = jsonread_keys_check(c, path, prof, known)) != ST_OK)
		return st;
	if ((st = jsonread_str(c, path, prof, "description", 0, LIMIT_NAME_LEN,
	         &desc)) != ST_OK)
		return st;
	if (desc != NULL)
		memcpy(p->description, desc, strlen(desc) + 1);
	if ((st = jsonread_int(c, path, prof, "validity_days", 1, 1, 3650, 0,
	         &days)) != ST_OK)
		return st;
	p->validity_seconds = days * SECONDS_PER_DAY;
	if ((st = jsonread_int(c, path, prof, "backdate_seconds", 0, 0,
	         SECONDS_PER_DAY, 300, &p->backdate_seconds)) != ST_OK)
		return st;
	/* Before the key rules, which must stay below it. */
	if ((st = jsonread_int(c, path, prof, "rsa_max_bits", 0, 2048,
	         RSA_MAX_BITS, POLICY_RSA_MAX_BITS_DEFAULT, &rsa_max)) != ST_OK)
		return st;
	p->rsa_max_bits = (int)rsa_max;
	if ((st = parse_keys(c, path, prof, p)) != ST_OK)
		return st;
	if ((st = jsonread_member(c, path, prof, "reprovision", JSON_TRUE, 0,
	         &reprovision)) != ST_OK)
		return st;
	p->allow_reprovision = reprovision != NULL && json_is_true(reprovision);
	if ((st = jsonread_choice(c, path, prof, "signature_hash", 0, hashes, 0,
	         &hash)) != ST_OK)
		return st;
	p->sig_md_nid = hash == 0 ? NID_sha256 : NID_sha384;
	if ((st = jsonread_choice(
	         c, path, prof, "device_id", 0, ids, 0, &id)) != ST_OK)
		return st;
	p->device_id =
	    id == 0 ? POLICY_DEVICE_ID_CN : POLICY_DEVICE_ID_SERIALNUMBER;
	if ((st = policy_pattern_get(
	         c, path, prof, "device_id_pattern", &p->id_pattern)) != ST_OK)
		return st;
	if ((st = parse_subject(c, path, prof, p)) != ST_OK)
		return st;
	if ((st = parse_san(c, path, prof, p)) != ST_OK)
		return st;
	if ((st = parse_key_usage(c, path, prof, p)) != ST_OK)
		return st;
	if ((st = parse_ext_key_usage(c, path, prof, p)) != ST_OK)
		return st;
	p->is_server_auth = has_nid(p->eku_nids, p->eku_count, NID_server_auth);
	if ((st = check_names(c, path, p)) != ST_OK)
		return st;
	return parse_renewal(c, path, prof, p);
}

enum status
policy_profile_entry(const struct jsonread *c, const char *path,
    const char *name, json_t *v, struct policy *pol)
{
	/* Counted before it is parsed, so policy_free regfrees it. */
	struct policy_profile *p = &pol->profiles[pol->profile_count++];

	memcpy(p->name, name, strlen(name) + 1);
	/* Every certificate names its profile in an OID of bounded size. */
	if (strlen(name) > CA_POLICY_NAME_MAX)
		return jsonread_fail(c, path,
		    "a profile name is at most %d characters (it is spelled "
		    "out in each certificate's policy OID)",
		    CA_POLICY_NAME_MAX);
	return parse_profile(c, path, v, p);
}

void
policy_profile_keys_describe(
    const struct policy_profile *p, char *out, size_t cap)
{
	const struct policy_key_rule *r;
	size_t i, used = 0;
	int n;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < p->key_count && used < cap; i++) {
		r = &p->keys[i];
		if (r->kind == POLICY_KEY_EC)
			n = snprintf(out + used, cap - used, "%sec:%s",
			    i ? ", " : "",
			    r->curve_nid == NID_secp384r1 ? "P-384" : "P-256");
		else
			n = snprintf(out + used, cap - used, "%srsa:%d..%d",
			    i ? ", " : "", r->min_bits, p->rsa_max_bits);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
