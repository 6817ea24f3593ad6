/*
 * policy: the issuance policy, read strictly from JSON. Every error names
 * the file, the JSON path and the reason. Each section of the file is one
 * function; every object goes through check_keys, which refuses keys it
 * does not know, before its members are read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ca/certpolicy.h"
#include "ca/policy.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/log.h"

/* Room for "$.profiles.<64 chars>.subject.serialNumber.pattern" etc. */
#define PATH_CAP 256
/* A quoted value in a message: enough to recognise it, no more. */
#define QUOTE_CAP 100
/* RSA moduli beyond this are refused by OpenSSL's verification anyway. */
#define RSA_MAX_BITS 16384
#define SECONDS_PER_DAY 86400
/*
 * glibc's regcomp expands bounded repeats: "((a{1,255}){1,255}){1,255}"
 * took over a minute and 18 GB. Bounds above PATTERN_MAX_REPEAT and
 * patterns whose expanded size (estimated) is over PATTERN_MAX_COST are
 * refused; 4096 compiles in about 10 ms.
 */
#define PATTERN_MAX_REPEAT 255
#define PATTERN_MAX_COST 4096
#define PATTERN_MAX_DEPTH 32

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
	char id[POLICY_ID_LEN + 1];
};

/* What every parsing function needs for its messages. */
struct pctx {
	const char *name;
};

static enum status perr(const struct pctx *c, const char *path, const char *fmt,
    ...) PRINTF_LIKE(3, 4);

/* An input error at path: "name: $.a.b: reason". */
static enum status
perr(const struct pctx *c, const char *path, const char *fmt, ...)
{
	char reason[400];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(reason, sizeof(reason), fmt, ap) < 0)
		reason[0] = '\0';
	va_end(ap);
	return status_fail(ST_MALFORMED, "%s: %s: %s", c->name, path, reason);
}

/* A JSON type as messages name it; JSON_TRUE and JSON_FALSE alike. */
static const char *
json_kind_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

static const char *
json_kind(const json_t *v)
{
	return json_kind_name(json_typeof(v));
}

static int
json_kind_is(const json_t *v, json_type want)
{
	if (want == JSON_TRUE || want == JSON_FALSE)
		return json_is_boolean(v);
	return json_typeof(v) == want;
}

/* Extend path by ".key" or "[i]"; a path too deep is cut, marked "...". */
static void
path_key(char *out, const char *path, const char *key)
{
	if (snprintf(out, PATH_CAP, "%s.%s", path, key) >= PATH_CAP)
		memcpy(out + PATH_CAP - 4, "...", 4);
}

static void
path_index(char *out, const char *path, size_t i)
{
	if (snprintf(out, PATH_CAP, "%s[%zu]", path, i) >= PATH_CAP)
		memcpy(out + PATH_CAP - 4, "...", 4);
}

/*
 * The one unknown-key check: obj must be an object and every key of it in
 * known (NULL terminated). A misspelt key is an error, never silently
 * ignored.
 */
static enum status
check_keys(const struct pctx *c, const char *path, json_t *obj,
    const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;
	char q[QUOTE_CAP];

	if (!json_is_object(obj))
		return perr(
		    c, path, "expected an object, got %s", json_kind(obj));
	json_object_foreach(obj, key, v)
	{
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return perr(c, path, "unknown key %s",
			    log_quote(key, q, sizeof(q)));
	}
	return ST_OK;
}

/*
 * obj[key] of type want in *out; absent is an error when required, else
 * *out is NULL. JSON_TRUE stands for either boolean.
 */
static enum status
get_member(const struct pctx *c, const char *path, json_t *obj, const char *key,
    json_type want, int required, json_t **out)
{
	json_t *v;
	char sub[PATH_CAP];

	*out = NULL;
	if ((v = json_object_get(obj, key)) == NULL) {
		if (required)
			return perr(c, path, "missing key \"%s\"", key);
		return ST_OK;
	}
	if (!json_kind_is(v, want)) {
		path_key(sub, path, key);
		return perr(c, sub, "expected %s, got %s", json_kind_name(want),
		    json_kind(v));
	}
	*out = v;
	return ST_OK;
}

static enum status
get_int(const struct pctx *c, const char *path, json_t *obj, const char *key,
    int required, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	json_t *v;
	json_int_t n;
	char sub[PATH_CAP];
	enum status st;

	*out = 0;
	if ((st = get_member(c, path, obj, key, JSON_INTEGER, required, &v)) !=
	    ST_OK)
		return st;
	if (v == NULL) {
		*out = def;
		return ST_OK;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		path_key(sub, path, key);
		return perr(c, sub, "%lld is out of range (%lld..%lld)",
		    (long long)n, (long long)min, (long long)max);
	}
	*out = (int64_t)n;
	return ST_OK;
}

/*
 * A string of 1..maxlen bytes (jansson already refuses \u0000), or NULL
 * when absent and optional.
 */
static enum status
get_str(const struct pctx *c, const char *path, json_t *obj, const char *key,
    int required, size_t maxlen, const char **out)
{
	json_t *v;
	char sub[PATH_CAP];
	enum status st;

	*out = NULL;
	if ((st = get_member(c, path, obj, key, JSON_STRING, required, &v)) !=
	    ST_OK)
		return st;
	if (v == NULL)
		return ST_OK;
	if (json_string_length(v) == 0 || json_string_length(v) > maxlen) {
		path_key(sub, path, key);
		return perr(c, sub, "must be 1..%zu characters long", maxlen);
	}
	*out = json_string_value(v);
	return ST_OK;
}

/*
 * A string that must be one of names (NULL terminated); *out is its index,
 * def when absent and optional.
 */
static enum status
get_choice(const struct pctx *c, const char *path, json_t *obj, const char *key,
    int required, const char *const *names, int def, int *out)
{
	const char *s;
	char sub[PATH_CAP], q[QUOTE_CAP], expect[200];
	size_t i, used = 0;
	enum status st;

	*out = def;
	if ((st = get_str(c, path, obj, key, required, LIMIT_NAME_LEN, &s)) !=
	    ST_OK)
		return st;
	if (s == NULL)
		return ST_OK;
	expect[0] = '\0';
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return ST_OK;
		}
		if (used < sizeof(expect))
			used += (size_t)snprintf(expect + used,
			    sizeof(expect) - used, "%s%s", i ? " or " : "",
			    names[i]);
	}
	path_key(sub, path, key);
	return perr(c, sub, "unknown value %s (expected %s)",
	    log_quote(s, q, sizeof(q)), expect);
}

/* An array of min..max elements, or NULL when absent and optional. */
static enum status
get_array(const struct pctx *c, const char *path, json_t *obj, const char *key,
    int required, size_t min, size_t max, json_t **out)
{
	json_t *v;
	char sub[PATH_CAP];
	enum status st;

	*out = NULL;
	if ((st = get_member(c, path, obj, key, JSON_ARRAY, required, &v)) !=
	    ST_OK)
		return st;
	if (v == NULL)
		return ST_OK;
	if (json_array_size(v) < min || json_array_size(v) > max) {
		path_key(sub, path, key);
		return perr(c, sub, "%zu entries, expected %zu..%zu",
		    json_array_size(v), min, max);
	}
	*out = v;
	return ST_OK;
}

/* Element i of an array, which must be a string. */
static enum status
get_elem_str(const struct pctx *c, const char *path, json_t *arr, size_t i,
    const char **out)
{
	json_t *v = json_array_get(arr, i);
	char sub[PATH_CAP];

	*out = NULL;
	if (!json_is_string(v)) {
		path_index(sub, path, i);
		return perr(c, sub, "expected a string, got %s", json_kind(v));
	}
	*out = json_string_value(v);
	return ST_OK;
}

/*
 * Read "m}", "m,}", "m,n}" or glibc's ",n}" (0 to n) after a '{'; the
 * largest count, or -1 when regcomp reads the brace as a literal.
 */
static long
pattern_bound(const char **sp)
{
	const char *s = *sp;
	long m = 0, n = -1;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if ((m = m * 10 + (*s - '0')) > 100000)
			return -1;
	if (digits == 0 && *s != ',')
		return -1;
	if (*s == ',') {
		s++;
		digits = 0;
		for (n = 0; *s >= '0' && *s <= '9'; s++, digits++)
			if ((n = n * 10 + (*s - '0')) > 100000)
				return -1;
		/* "{m,}" expands to m copies and a star. */
		n = digits == 0 ? m + 1 : n;
	}
	if (*s != '}')
		return -1;
	*sp = s + 1;
	return n > m ? n : m;
}

/*
 * An upper estimate of what regcomp will build from an ERE: each atom
 * costs 1, a group the sum of its content, a bound {m,n} multiplies the
 * preceding atom or group by n. NULL if acceptable, else the reason.
 */
static const char *
pattern_too_complex(const char *s)
{
	long total[PATTERN_MAX_DEPTH + 1], last[PATTERN_MAX_DEPTH + 1], k, w;
	int depth = 0;

	total[0] = last[0] = 0;
	while (*s != '\0') {
		k = 0;
		switch (*s) {
		case '(':
			if (++depth > PATTERN_MAX_DEPTH)
				return "groups nested too deeply";
			total[depth] = last[depth] = 0;
			s++;
			continue;
		case ')':
			if (depth == 0) {
				w = 1;
				s++;
				break;
			}
			w = total[depth] > 0 ? total[depth] : 1;
			depth--;
			s++;
			break;
		case '{':
			s++;
			if ((k = pattern_bound(&s)) < 0) {
				w = 1; /* a literal brace */
				break;
			}
			if (k > PATTERN_MAX_REPEAT)
				return "repetition count above 255";
			w = 0;
			break;
		case '+':
			/* glibc turns "a+" into "aa*". */
			k = 2;
			w = 0;
			s++;
			break;
		case '*':
		case '?':
			/* Compiled as a loop or a branch: no copies. */
			s++;
			continue;
		case '|':
			last[depth] = 0;
			s++;
			continue;
		case '\\':
			/* glibc matches back-references by backtracking:
			 * exponential time on a hostile CN. */
			if (s[1] >= '1' && s[1] <= '9')
				return "has a back-reference (\\1 to \\9), "
				       "which "
				       "can take exponential time to match";
			s += s[1] != '\0' ? 2 : 1;
			w = 1;
			break;
		case '[':
			/* A bracket expression is one atom; "]" first is literal. */
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			while (*s != '\0' && *s != ']') {
				if (*s == '[' &&
				    (s[1] == ':' || s[1] == '.' ||
				        s[1] == '=')) {
					const char *e = strchr(s + 2, s[1]);

					s = e != NULL && e[1] == ']' ? e + 2
					                             : s + 1;
				} else
					s++;
			}
			if (*s == ']')
				s++;
			w = 1;
			break;
		default:
			s++;
			w = 1;
			break;
		}
		if (k > 1) {
			/* Repeat the last atom: k copies in place of one. */
			total[depth] += last[depth] * (k - 1);
			last[depth] *= k;
		} else if (w > 0) {
			total[depth] += w;
			last[depth] = w;
		}
		if (total[depth] > PATTERN_MAX_COST ||
		    last[depth] > PATTERN_MAX_COST)
			return "too complex (bounded repeats expand beyond "
			       "4096 states)";
	}
	return NULL;
}

/* An optional POSIX extended regular expression, compiled into p. */
static enum status
get_pattern(const struct pctx *c, const char *path, json_t *obj,
    const char *key, struct policy_pattern *p)
{
	const char *s, *why;
	char sub[PATH_CAP], err[200];
	size_t len;
	int rc;
	enum status st;

	if ((st = get_str(c, path, obj, key, 0, LIMIT_PATTERN_LEN, &s)) !=
	    ST_OK)
		return st;
	if (s == NULL)
		return ST_OK;
	len = strlen(s);
	if ((why = pattern_too_complex(s)) != NULL) {
		path_key(sub, path, key);
		return perr(c, sub, "regular expression %s", why);
	}
	if ((rc = regcomp(&p->re, s, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, NULL, err, sizeof(err));
		path_key(sub, path, key);
		return perr(c, sub, "bad regular expression: %s", err);
	}
	memcpy(p->source, s, len);
	p->source[len] = '\0';
	p->is_set = 1;
	return ST_OK;
}

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
parse_keys(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	json_t *arr;
	const char *s, *why;
	char sub[PATH_CAP], elem[PATH_CAP], q[QUOTE_CAP];
	struct policy_key_rule r;
	size_t i, j;
	enum status st;

	if ((st = get_array(c, path, prof, "keys", 1, 1, LIMIT_POLICY_ENTRIES,
	         &arr)) != ST_OK)
		return st;
	path_key(sub, path, "keys");
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		path_index(elem, sub, i);
		if (key_rule_parse(s, &r, &why) == -1)
			return perr(c, elem,
			    "%s %s (expected ec:P-256, "
			    "ec:P-384 or rsa:N with N >= 2048)",
			    why, log_quote(s, q, sizeof(q)));
		/* serverkeygen makes keys of these sizes: bounded, so that
		 * one request cannot hold a worker for minutes. */
		if (r.kind == POLICY_KEY_RSA && r.min_bits > p->rsa_max_bits)
			return perr(c, elem,
			    "key type %s is above the profile's rsa_max_bits "
			    "%d",
			    log_quote(s, q, sizeof(q)), p->rsa_max_bits);
		for (j = 0; j < p->key_count; j++)
			if (p->keys[j].kind == r.kind &&
			    p->keys[j].curve_nid == r.curve_nid &&
			    p->keys[j].min_bits == r.min_bits)
				return perr(c, elem, "duplicate key type %s",
				    log_quote(s, q, sizeof(q)));
		p->keys[p->key_count++] = r;
	}
	return ST_OK;
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
parse_subject_rule(const struct pctx *c, const char *path, json_t *v,
    struct policy_subject_rule *r, int utf8)
{
	static const char *const known[] = {
	    "value", "pattern", "required", NULL};
	const char *s, *why = NULL;
	char q[QUOTE_CAP], sub[PATH_CAP];
	json_t *req;
	enum status st;

	if (json_is_string(v)) {
		s = json_string_value(v);
		if (!is_template(s) || strlen(s) > LIMIT_NAME_LEN)
			return perr(c, path,
			    "%s is not a template with one {id} (use "
			    "{\"value\": ...} for a fixed value)",
			    log_quote(s, q, sizeof(q)));
		r->kind = POLICY_ATTR_ID;
		memcpy(r->value, s, strlen(s) + 1);
		/* The id is canonical ASCII ("x" stands for it); the rest. */
		if (policy_template_expand(s, "x", sub, sizeof(sub)) != 0 ||
		    (why = subject_value_bad(r->nid, sub, utf8)) != NULL)
			return perr(c, path, "the template %s %s",
			    log_quote(s, q, sizeof(q)),
			    why != NULL ? why : "is too long");
		return ST_OK;
	}
	if ((st = check_keys(c, path, v, known)) != ST_OK)
		return st;
	if ((st = get_str(c, path, v, "value", 0, LIMIT_NAME_LEN, &s)) != ST_OK)
		return st;
	if (s != NULL) {
		if (json_object_size(v) != 1)
			return perr(c, path,
			    "a fixed value takes no pattern or required");
		path_key(sub, path, "value");
		if ((why = subject_value_bad(r->nid, s, utf8)) != NULL)
			return perr(
			    c, sub, "%s %s", log_quote(s, q, sizeof(q)), why);
		r->kind = POLICY_ATTR_FIXED;
		memcpy(r->value, s, strlen(s) + 1);
		return ST_OK;
	}
	if (json_object_get(v, "pattern") == NULL)
		return perr(c, path,
		    "a rule is a template with {id}, {\"value\": ...} or "
		    "{\"pattern\": ...}");
	if ((st = get_pattern(c, path, v, "pattern", &r->pattern)) != ST_OK)
		return st;
	if ((st = get_member(c, path, v, "required", JSON_TRUE, 0, &req)) !=
	    ST_OK)
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
parse_subject(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	json_t *subj, *v, *utf8;
	const char *key;
	char sub[PATH_CAP], elem[PATH_CAP], q[QUOTE_CAP];
	struct policy_subject_rule *r;
	int nid;
	enum status st;

	if ((st = get_member(
	         c, path, prof, "subject", JSON_OBJECT, 1, &subj)) != ST_OK)
		return st;
	path_key(sub, path, "subject");
	if ((st = get_member(c, sub, subj, "utf8", JSON_TRUE, 0, &utf8)) !=
	    ST_OK)
		return st;
	p->subject_utf8 = utf8 != NULL && json_is_true(utf8);
	json_object_foreach(subj, key, v)
	{
		if (strcmp(key, "utf8") == 0)
			continue;
		path_key(elem, sub, key);
		if ((nid = subject_nid(key)) == NID_undef)
			return perr(c, sub,
			    "unknown subject attribute %s (expected C, ST, L, "
			    "O, OU, serialNumber or CN)",
			    log_quote(key, q, sizeof(q)));
		if (!json_is_string(v) && !json_is_object(v))
			return perr(c, elem,
			    "expected a template string or an object, got %s",
			    json_kind(v));
		if (p->subject_count >= LIMIT_SUBJECT_ATTRS)
			return perr(c, sub, "more than %d attributes",
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

static enum status
get_templates(const struct pctx *c, const char *path, json_t *obj,
    const char *key, struct policy_templates *out)
{
	json_t *arr;
	const char *s, *why;
	char sub[PATH_CAP], elem[PATH_CAP], q[QUOTE_CAP];
	size_t i, j;
	enum status st;

	if ((st = get_array(c, path, obj, key, 0, 1, POLICY_SAN_TEMPLATES,
	         &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	path_key(sub, path, key);
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		path_index(elem, sub, i);
		if (!is_template(s) || strlen(s) > LIMIT_NAME_LEN - 64)
			return perr(c, elem,
			    "%s is not a template with one {id} (a name "
			    "without the id would be every device's)",
			    log_quote(s, q, sizeof(q)));
		why = strcmp(key, "dns") == 0 ? dns_template_bad(s)
		                              : uri_template_bad(s);
		if (why != NULL)
			return perr(
			    c, elem, "%s %s", log_quote(s, q, sizeof(q)), why);
		for (j = 0; j < out->count; j++)
			if (strcmp(out->t[j], s) == 0)
				return perr(c, elem, "duplicate template %s",
				    log_quote(s, q, sizeof(q)));
		memcpy(out->t[out->count++], s, strlen(s) + 1);
	}
	return ST_OK;
}

static enum status
parse_san(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	static const char *const known[] = {"uri", "dns", "ip", "max", NULL};
	json_t *san, *ip;
	char sub[PATH_CAP];
	int64_t max;
	enum status st;

	if ((st = get_member(c, path, prof, "san", JSON_OBJECT, 0, &san)) !=
	    ST_OK)
		return st;
	if (san == NULL)
		return ST_OK;
	path_key(sub, path, "san");
	if ((st = check_keys(c, sub, san, known)) != ST_OK)
		return st;
	if ((st = get_templates(c, sub, san, "uri", &p->uri_templates)) !=
	    ST_OK)
		return st;
	if ((st = get_templates(c, sub, san, "dns", &p->dns_templates)) !=
	    ST_OK)
		return st;
	if ((st = get_member(c, sub, san, "ip", JSON_TRUE, 0, &ip)) != ST_OK)
		return st;
	p->allow_ip = ip != NULL && json_is_true(ip);
	if ((st = get_int(
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
check_names(const struct pctx *c, const char *path, struct policy_profile *p)
{
	const struct policy_subject_rule *id_rule, *cn;
	char sub[PATH_CAP];
	size_t i;
	int id_nid = p->device_id == POLICY_DEVICE_ID_CN ? NID_commonName
	                                                 : NID_serialNumber;

	id_rule = policy_subject_rule(p, id_nid);
	if (id_rule == NULL || id_rule->kind != POLICY_ATTR_ID) {
		path_key(sub, path, "subject");
		return perr(c, sub,
		    "%s holds the device id (device_id), so its rule must be "
		    "a template with {id}",
		    OBJ_nid2sn(id_nid));
	}
	if (!p->is_server_auth)
		return ST_OK;
	path_key(sub, path, "san");
	if (p->dns_templates.count == 0)
		return perr(c, sub,
		    "profile has extended key usage serverAuth, so it needs "
		    "a DNS template (RFC 9525 §6: a server is named by its "
		    "subjectAltName)");
	if ((cn = policy_subject_rule(p, NID_commonName)) == NULL)
		return ST_OK;
	for (i = 0; i < p->dns_templates.count; i++)
		if (cn->kind == POLICY_ATTR_ID &&
		    strcmp(cn->value, p->dns_templates.t[i]) == 0)
			return ST_OK;
	path_key(sub, path, "subject");
	return perr(c, sub,
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

static enum status
parse_key_usage(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	json_t *arr;
	const char *s;
	char sub[PATH_CAP], elem[PATH_CAP], q[QUOTE_CAP];
	size_t i, k;
	enum status st;

	if ((st = get_array(c, path, prof, "key_usage", 1, 1,
	         sizeof(key_usages) / sizeof(key_usages[0]), &arr)) != ST_OK)
		return st;
	path_key(sub, path, "key_usage");
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		path_index(elem, sub, i);
		/* A leaf that can sign certificates or CRLs is a CA. */
		if (strcmp(s, "keyCertSign") == 0 || strcmp(s, "cRLSign") == 0)
			return perr(c, elem,
			    "%s is not allowed in a leaf "
			    "profile",
			    s);
		for (k = 0; k < sizeof(key_usages) / sizeof(key_usages[0]); k++)
			if (strcmp(s, key_usages[k].name) == 0)
				break;
		if (k == sizeof(key_usages) / sizeof(key_usages[0]))
			return perr(c, elem,
			    "unknown key usage %s (expected "
			    "digitalSignature, nonRepudiation, "
			    "keyEncipherment, dataEncipherment or "
			    "keyAgreement)",
			    log_quote(s, q, sizeof(q)));
		if (p->key_usage & key_usages[k].bit)
			return perr(c, elem, "duplicate key usage %s", s);
		p->key_usage |= key_usages[k].bit;
	}
	return ST_OK;
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
parse_ext_key_usage(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	json_t *arr;
	const char *s;
	char sub[PATH_CAP], elem[PATH_CAP], q[QUOTE_CAP];
	size_t i;
	int nid;
	enum status st;

	if ((st = get_array(c, path, prof, "extended_key_usage", 1, 1,
	         LIMIT_POLICY_ENTRIES, &arr)) != ST_OK)
		return st;
	path_key(sub, path, "extended_key_usage");
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		path_index(elem, sub, i);
		if ((nid = eku_nid(s)) == NID_undef) {
			ERR_clear_error();
			return perr(c, elem,
			    "unknown extended key usage %s "
			    "(expected clientAuth, serverAuth, codeSigning, "
			    "emailProtection, timeStamping, OCSPSigning or a "
			    "dotted OID)",
			    log_quote(s, q, sizeof(q)));
		}
		if (has_nid(p->eku_nids, p->eku_count, nid))
			return perr(c, elem, "duplicate extended key usage %s",
			    log_quote(s, q, sizeof(q)));
		p->eku_nids[p->eku_count++] = nid;
	}
	return ST_OK;
}

/*
 * $.profiles.X.renewal: {"reenroll": bool, "after_expiry_days": n,
 * "supersede_after_seconds": n}.
 */
static enum status
parse_renewal(const struct pctx *c, const char *path, json_t *prof,
    struct policy_profile *p)
{
	static const char *const known[] = {
	    "reenroll", "after_expiry_days", "supersede_after_seconds", NULL};
	json_t *r, *b;
	char sub[PATH_CAP];
	int64_t days;
	enum status st;

	p->allow_reenroll = 1;
	p->supersede_after_seconds = POLICY_SUPERSEDE_DEFAULT;
	if ((st = get_member(c, path, prof, "renewal", JSON_OBJECT, 0, &r)) !=
	        ST_OK ||
	    r == NULL)
		return st;
	path_key(sub, path, "renewal");
	if ((st = check_keys(c, sub, r, known)) != ST_OK)
		return st;
	if ((st = get_member(c, sub, r, "reenroll", JSON_TRUE, 0, &b)) != ST_OK)
		return st;
	if (b != NULL)
		p->allow_reenroll = json_is_true(b);
	if ((st = get_int(
	         c, sub, r, "after_expiry_days", 0, 0, 365, 0, &days)) != ST_OK)
		return st;
	p->renew_after_expiry_seconds = days * SECONDS_PER_DAY;
	/* The overlap in which both the renewed and the new certificate
	 * hold, so that a device can switch without a gap. */
	return get_int(c, sub, r, "supersede_after_seconds", 0, 0,
	    POLICY_SUPERSEDE_MAX, POLICY_SUPERSEDE_DEFAULT,
	    &p->supersede_after_seconds);
}

/* Profile names appear in URLs and messages: [a-z0-9_-]{1,64}. */
static int
is_profile_name(const char *s)
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
parse_profile(const struct pctx *c, const char *path, json_t *prof,
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

	if ((st = check_keys(c, path, prof, known)) != ST_OK)
		return st;
	if ((st = get_str(c, path, prof, "description", 0, LIMIT_NAME_LEN,
	         &desc)) != ST_OK)
		return st;
	if (desc != NULL)
		memcpy(p->description, desc, strlen(desc) + 1);
	if ((st = get_int(c, path, prof, "validity_days", 1, 1, 3650, 0,
	         &days)) != ST_OK)
		return st;
	p->validity_seconds = days * SECONDS_PER_DAY;
	if ((st = get_int(c, path, prof, "backdate_seconds", 0, 0,
	         SECONDS_PER_DAY, 300, &p->backdate_seconds)) != ST_OK)
		return st;
	/* Before the key rules, which must stay below it. */
	if ((st = get_int(c, path, prof, "rsa_max_bits", 0, 2048, RSA_MAX_BITS,
	         POLICY_RSA_MAX_BITS_DEFAULT, &rsa_max)) != ST_OK)
		return st;
	p->rsa_max_bits = (int)rsa_max;
	if ((st = parse_keys(c, path, prof, p)) != ST_OK)
		return st;
	if ((st = get_member(c, path, prof, "reprovision", JSON_TRUE, 0,
	         &reprovision)) != ST_OK)
		return st;
	p->allow_reprovision = reprovision != NULL && json_is_true(reprovision);
	if ((st = get_choice(c, path, prof, "signature_hash", 0, hashes, 0,
	         &hash)) != ST_OK)
		return st;
	p->sig_md_nid = hash == 0 ? NID_sha256 : NID_sha384;
	if ((st = get_choice(c, path, prof, "device_id", 0, ids, 0, &id)) !=
	    ST_OK)
		return st;
	p->device_id =
	    id == 0 ? POLICY_DEVICE_ID_CN : POLICY_DEVICE_ID_SERIALNUMBER;
	if ((st = get_pattern(
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

/*
 * An object of named entries, "name": {...}: at most max, each name
 * [a-z0-9_-]{1,64}; one() parses each. what names them in messages.
 */
static enum status
parse_named(const struct pctx *c, const char *path, json_t *v, size_t max,
    const char *what,
    enum status (*one)(const struct pctx *, const char *, const char *,
        json_t *, struct policy *),
    struct policy *pol)
{
	const char *name;
	json_t *entry;
	char sub[PATH_CAP], q[QUOTE_CAP];
	enum status st;

	if (json_object_size(v) > max)
		return perr(c, path, "%zu %ss, limit is %zu",
		    json_object_size(v), what, max);
	json_object_foreach(v, name, entry)
	{
		if (!is_profile_name(name))
			return perr(c, path,
			    "bad %s name %s (1..%d characters of a-z, 0-9, _ "
			    "and -)",
			    what, log_quote(name, q, sizeof(q)),
			    LIMIT_LABEL_LEN);
		path_key(sub, path, name);
		if ((st = one(c, sub, name, entry, pol)) != ST_OK)
			return st;
	}
	return ST_OK;
}

static enum status
profile_entry(const struct pctx *c, const char *path, const char *name,
    json_t *v, struct policy *pol)
{
	/* Counted before it is parsed, so policy_free regfrees it. */
	struct policy_profile *p = &pol->profiles[pol->profile_count++];

	memcpy(p->name, name, strlen(name) + 1);
	/* Every certificate names its profile in an OID of bounded size. */
	if (strlen(name) > CA_POLICY_NAME_MAX)
		return perr(c, path,
		    "a profile name is at most %d characters (it is spelled "
		    "out in each certificate's policy OID)",
		    CA_POLICY_NAME_MAX);
	return parse_profile(c, path, v, p);
}

/*
 * obj[key]: a list of profile names; each must name a profile when
 * must_exist (profiles are parsed before every other section).
 */
static enum status
get_names(const struct pctx *c, const char *path, json_t *obj, const char *key,
    int required, int must_exist, const struct policy *pol,
    struct policy_names *out)
{
	json_t *arr;
	const char *s;
	char sub[PATH_CAP], q[QUOTE_CAP];
	size_t i;
	enum status st;

	out->count = 0;
	if ((st = get_array(c, path, obj, key, required, 0, LIMIT_POLICY_NAMES,
	         &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	path_key(sub, path, key);
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		if (strlen(s) > LIMIT_LABEL_LEN ||
		    (must_exist && policy_profile_get(pol, s) == NULL)) {
			char at[PATH_CAP];

			path_index(at, sub, i);
			return perr(c, at, "no profile named %s",
			    log_quote(s, q, sizeof(q)));
		}
		memcpy(out->name[out->count++], s, strlen(s) + 1);
	}
	return ST_OK;
}

/* "10.0.0.0/8", "::1/128" or a bare address (a host). */
static int
cidr_parse(const char *s, struct policy_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long prefix;

	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		return 0;
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || prefix < 0 ||
	    prefix > out->prefix)
		return -1;
	out->prefix = (int)prefix;
	return 0;
}

/*
 * obj[key]: a list of at least min addresses and CIDR networks (absent:
 * empty).
 */
static enum status
get_cidrs(const struct pctx *c, const char *path, json_t *obj, const char *key,
    size_t min, struct policy_cidr out[LIMIT_POLICY_ENTRIES], size_t *count)
{
	json_t *arr;
	const char *s;
	char sub[PATH_CAP], at[PATH_CAP], q[QUOTE_CAP];
	size_t i;
	enum status st;

	*count = 0;
	if ((st = get_array(c, path, obj, key, 0, min, LIMIT_POLICY_ENTRIES,
	         &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	path_key(sub, path, key);
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		if (cidr_parse(s, &out[i]) != 0) {
			path_index(at, sub, i);
			return perr(c, at,
			    "%s is not an address or CIDR "
			    "network",
			    log_quote(s, q, sizeof(q)));
		}
		(*count)++;
	}
	return ST_OK;
}

static enum status
parse_role(const struct pctx *c, const char *path, json_t *obj,
    const struct policy *pol, struct policy_role *r)
{
	static const char *const known[] = {"certificate_profiles",
	    "enroll_profiles", "device_pattern", "mint_secrets", "allow", NULL};
	json_t *b;
	enum status st;

	if ((st = check_keys(c, path, obj, known)) != ST_OK)
		return st;
	/* Certificate profiles may be tessera's own (admin): not checked. */
	if ((st = get_names(c, path, obj, "certificate_profiles", 1, 0, pol,
	         &r->cert_profiles)) != ST_OK ||
	    (st = get_names(c, path, obj, "enroll_profiles", 0, 1, pol,
	         &r->enroll_profiles)) != ST_OK ||
	    (st = get_pattern(
	         c, path, obj, "device_pattern", &r->device_pattern)) != ST_OK)
		return st;
	if (r->enroll_profiles.count > 0 && !r->device_pattern.is_set)
		return perr(c, path,
		    "enroll_profiles needs a device_pattern "
		    "naming the device ids this role may enroll");
	if ((st = get_member(c, path, obj, "mint_secrets", JSON_TRUE, 0, &b)) !=
	    ST_OK)
		return st;
	r->may_mint_secrets = b != NULL && json_is_true(b);
	if (r->may_mint_secrets && !r->device_pattern.is_set)
		return perr(c, path, "mint_secrets needs a device_pattern");
	return get_cidrs(c, path, obj, "allow", 1, r->allow, &r->allow_count);
}

static enum status
role_entry(const struct pctx *c, const char *path, const char *name, json_t *v,
    struct policy *pol)
{
	struct policy_role *r = &pol->roles[pol->role_count++];

	memcpy(r->name, name, strlen(name) + 1);
	return parse_role(c, path, v, pol, r);
}

/* $.roles: name -> role. */
static enum status
parse_roles(
    const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	size_t i;
	enum status st;

	if ((st = parse_named(c, path, v, LIMIT_POLICY_ROLES, "role",
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
					return perr(c, path,
					    "certificate profile %s gives "
					    "both role %s and role %s",
					    pol->roles[i].cert_profiles.name[j],
					    pol->roles[i].name,
					    pol->roles[k].name);
	}
	return ST_OK;
}

static enum status
parse_manufacturer(const struct pctx *c, const char *path, json_t *obj,
    const struct policy *pol, struct policy_manufacturer *m)
{
	static const char *const known[] = {
	    "name", "trust", "device_id", "device_pattern", "profiles", NULL};
	static const char *const ids[] = {"cn", "serialNumber", NULL};
	const char *name, *trust;
	char q[QUOTE_CAP];
	int id;
	enum status st;

	if ((st = check_keys(c, path, obj, known)) != ST_OK ||
	    (st = get_str(c, path, obj, "name", 1, LIMIT_LABEL_LEN, &name)) !=
	        ST_OK ||
	    (st = get_str(c, path, obj, "trust", 1, LIMIT_NAME_LEN, &trust)) !=
	        ST_OK ||
	    (st = get_choice(c, path, obj, "device_id", 0, ids, 1, &id)) !=
	        ST_OK ||
	    (st = get_names(
	         c, path, obj, "profiles", 1, 1, pol, &m->profiles)) != ST_OK ||
	    (st = get_pattern(
	         c, path, obj, "device_pattern", &m->device_pattern)) != ST_OK)
		return st;
	/* No default: an IDevID must never claim an id outside its maker's. */
	if (!m->device_pattern.is_set)
		return perr(c, path,
		    "device_pattern is required: the device ids this "
		    "manufacturer's IDevIDs may hold");
	if (!is_profile_name(name))
		return perr(c, path, "bad authenticator name %s",
		    log_quote(name, q, sizeof(q)));
	memcpy(m->name, name, strlen(name) + 1);
	memcpy(m->trust, trust, strlen(trust) + 1);
	m->device_id =
	    id == 0 ? POLICY_DEVICE_ID_CN : POLICY_DEVICE_ID_SERIALNUMBER;
	return ST_OK;
}

/* $.authenticators: {"secret": {...}, "manufacturers": [...]}. */
static enum status
parse_authenticators(
    const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {"secret", "manufacturers", NULL};
	static const char *const secret_known[] = {
	    "profiles", "default_ttl_seconds", "max_ttl_seconds", NULL};
	struct policy_secrets *sec = &pol->secrets;
	json_t *o, *arr;
	char sub[PATH_CAP], at[PATH_CAP];
	size_t i;
	enum status st;

	if ((st = check_keys(c, path, v, known)) != ST_OK)
		return st;
	if ((st = get_member(c, path, v, "secret", JSON_OBJECT, 0, &o)) !=
	    ST_OK)
		return st;
	if (o != NULL) {
		path_key(sub, path, "secret");
		if ((st = check_keys(c, sub, o, secret_known)) != ST_OK ||
		    (st = get_names(c, sub, o, "profiles", 1, 1, pol,
		         &sec->profiles)) != ST_OK ||
		    (st = get_int(c, sub, o, "max_ttl_seconds", 0, 60,
		         365 * SECONDS_PER_DAY, 30 * SECONDS_PER_DAY,
		         &sec->max_ttl_seconds)) != ST_OK ||
		    (st = get_int(c, sub, o, "default_ttl_seconds", 0, 60,
		         sec->max_ttl_seconds, SECONDS_PER_DAY,
		         &sec->default_ttl_seconds)) != ST_OK)
			return st;
	}
	if ((st = get_array(c, path, v, "manufacturers", 0, 0,
	         LIMIT_POLICY_ROLES, &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	path_key(sub, path, "manufacturers");
	for (i = 0; i < json_array_size(arr); i++) {
		path_index(at, sub, i);
		if ((st = parse_manufacturer(c, at, json_array_get(arr, i), pol,
		         &pol->manufacturers[pol->manufacturer_count++])) !=
		    ST_OK)
			return st;
	}
	return ST_OK;
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
parse_crl(const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "validity_hours", "shards", "cache_seconds", NULL};
	int64_t hours, shards;
	enum status st;

	if ((st = check_keys(c, path, v, known)) != ST_OK ||
	    (st = get_int(c, path, v, "validity_hours", 0, 1, 24 * 30, 24,
	         &hours)) != ST_OK ||
	    (st = get_int(c, path, v, "shards", 0, 1, LIMIT_CRL_SHARDS, 1,
	         &shards)) != ST_OK ||
	    (st = get_int(c, path, v, "cache_seconds", 0, 0, CACHE_SECONDS_MAX,
	         CACHE_SECONDS_DEFAULT, &pol->crl.cache_seconds)) != ST_OK)
		return st;
	pol->crl.validity_seconds = hours * 3600;
	pol->crl.shards = (int)shards;
	return ST_OK;
}

/* $.ocsp: {"validity_seconds": n, "cache_seconds": n}. */
static enum status
parse_ocsp(
    const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "validity_seconds", "cache_seconds", NULL};
	enum status st;

	if ((st = check_keys(c, path, v, known)) != ST_OK ||
	    (st = get_int(c, path, v, "cache_seconds", 0, 0, CACHE_SECONDS_MAX,
	         CACHE_SECONDS_DEFAULT, &pol->ocsp.cache_seconds)) != ST_OK)
		return st;
	return get_int(c, path, v, "validity_seconds", 0, 60, 7 * 86400, 3600,
	    &pol->ocsp.validity_seconds);
}

/* Claims tessera sets itself; a policy may not set or replace them. */
static const char *const reserved_claims[] = {
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf", "client_id", NULL};

/* Extra claims: an object of at most 16 members, small, none reserved. */
static enum status
parse_claims(const struct pctx *c, const char *path, json_t *v, json_t **out)
{
	const char *key;
	json_t *x;
	char *text;
	size_t i, len;
	char q[QUOTE_CAP];

	*out = NULL;
	if (json_object_size(v) > LIMIT_POLICY_NAMES)
		return perr(c, path, "%zu claims, limit is %d",
		    json_object_size(v), LIMIT_POLICY_NAMES);
	json_object_foreach(v, key, x)
	{
		for (i = 0; reserved_claims[i] != NULL; i++)
			if (strcmp(key, reserved_claims[i]) == 0)
				return perr(c, path,
				    "claim %s is set by tessera itself",
				    log_quote(key, q, sizeof(q)));
		if (json_is_null(x))
			return perr(c, path, "claim %s is null",
			    log_quote(key, q, sizeof(q)));
	}
	if ((text = json_dumps(v, JSON_COMPACT)) == NULL)
		return ST_NOMEM;
	len = strlen(text);
	free(text);
	if (len > 2048)
		return perr(
		    c, path, "claims are %zu bytes, limit is 2048", len);
	if ((*out = json_deep_copy(v)) == NULL)
		return ST_NOMEM;
	return ST_OK;
}

/* $.tokens.profiles.NAME: {"ttl_seconds": n, "claims": {...}}. */
static enum status
token_profile_entry(const struct pctx *c, const char *path, const char *name,
    json_t *v, struct policy *pol)
{
	static const char *const known[] = {"ttl_seconds", "claims", NULL};
	struct policy_tokens *t = &pol->tokens;
	struct policy_token_profile *tp;
	json_t *claims;
	char sub[PATH_CAP], q[QUOTE_CAP];
	enum status st;

	if (!json_is_object(v))
		return perr(
		    c, path, "expected an object, got %s", json_kind(v));
	if (policy_profile_get(pol, name) == NULL)
		return perr(c, path, "no profile named %s",
		    log_quote(name, q, sizeof(q)));
	/* Counted before it is parsed, so policy_free frees its claims. */
	tp = &t->profiles[t->profile_count++];
	memcpy(tp->name, name, strlen(name) + 1);
	if ((st = check_keys(c, path, v, known)) != ST_OK ||
	    (st = get_int(c, path, v, "ttl_seconds", 0, 5, 3600,
	         t->max_ttl_seconds, &tp->ttl_seconds)) != ST_OK ||
	    (st = get_member(c, path, v, "claims", JSON_OBJECT, 0, &claims)) !=
	        ST_OK)
		return st;
	if (claims != NULL) {
		path_key(sub, path, "claims");
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

/*
 * $.tokens: {"audiences": [...], "ttl_seconds": n, "leeway_seconds": n,
 * "profiles": {"device": {...}}}.
 */
static enum status
parse_tokens(
    const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "audiences", "ttl_seconds", "leeway_seconds", "profiles", NULL};
	struct policy_tokens *t = &pol->tokens;
	json_t *arr, *profiles;
	const char *s;
	char sub[PATH_CAP], at[PATH_CAP], q[QUOTE_CAP];
	int64_t ttl;
	size_t i;
	enum status st;

	if ((st = check_keys(c, path, v, known)) != ST_OK ||
	    (st = get_int(c, path, v, "ttl_seconds", 0, 5, 3600, 300, &ttl)) !=
	        ST_OK ||
	    (st = get_int(c, path, v, "leeway_seconds", 0, 0, 600, 60,
	         &t->leeway_seconds)) != ST_OK ||
	    (st = get_array(c, path, v, "audiences", 1, 1, LIMIT_POLICY_NAMES,
	         &arr)) != ST_OK)
		return st;
	path_key(sub, path, "audiences");
	for (i = 0; i < json_array_size(arr); i++) {
		if ((st = get_elem_str(c, sub, arr, i, &s)) != ST_OK)
			return st;
		if (!is_audience(s)) {
			path_index(at, sub, i);
			return perr(c, at,
			    "bad audience %s (1..%d printable characters, no "
			    "space, quote or backslash)",
			    log_quote(s, q, sizeof(q)), LIMIT_NAME_LEN);
		}
		memcpy(t->audiences[t->audience_count++], s, strlen(s) + 1);
	}
	/* The default each profile's ttl starts from. */
	t->max_ttl_seconds = ttl;
	if ((st = get_member(
	         c, path, v, "profiles", JSON_OBJECT, 1, &profiles)) != ST_OK)
		return st;
	path_key(sub, path, "profiles");
	if ((st = parse_named(c, sub, profiles, LIMIT_POLICY_ENTRIES,
	         "token profile", token_profile_entry, pol)) != ST_OK)
		return st;
	for (i = 0; i < t->profile_count; i++)
		if (t->profiles[i].ttl_seconds > t->max_ttl_seconds)
			t->max_ttl_seconds = t->profiles[i].ttl_seconds;
	return ST_OK;
}

/* $.rate_limits.enroll, .token or .ocsp: {"per_second": n, "burst": n}. */
static enum status
parse_rate(const struct pctx *c, const char *path, json_t *v, const char *key,
    struct policy_rate *r)
{
	static const char *const known[] = {"per_second", "burst", NULL};
	char sub[PATH_CAP];
	json_t *o;
	enum status st;

	if ((st = get_member(c, path, v, key, JSON_OBJECT, 0, &o)) != ST_OK ||
	    o == NULL)
		return st;
	path_key(sub, path, key);
	if ((st = check_keys(c, sub, o, known)) != ST_OK ||
	    (st = get_int(c, sub, o, "per_second", 0, 0, 1000000, r->per_second,
	         &r->per_second)) != ST_OK)
		return st;
	return get_int(c, sub, o, "burst", 0, 1, 1000000, r->burst, &r->burst);
}

/*
 * $.rate_limits: {"enroll": {...}, "token": {...}, "ocsp": {...},
 * "exempt": [CIDR...]}: per client address, over every worker; per_second
 * 0 turns one off.
 */
static enum status
parse_rates(
    const struct pctx *c, const char *path, json_t *v, struct policy *pol)
{
	static const char *const known[] = {
	    "enroll", "token", "ocsp", "refusals", "exempt", NULL};
	enum status st;

	if ((st = check_keys(c, path, v, known)) != ST_OK ||
	    (st = parse_rate(c, path, v, "enroll", &pol->rates.enroll)) !=
	        ST_OK ||
	    (st = parse_rate(c, path, v, "token", &pol->rates.token)) !=
	        ST_OK ||
	    (st = parse_rate(c, path, v, "ocsp", &pol->rates.ocsp)) != ST_OK ||
	    (st = parse_rate(c, path, v, "refusals", &pol->rates.refusals)) !=
	        ST_OK)
		return st;
	return get_cidrs(c, path, v, "exempt", 0, pol->rates.exempt,
	    &pol->rates.exempt_count);
}

/* Known top-level sections; each is parsed by one function below. */
static const char *const top_keys[] = {"version", "profiles", "authenticators",
    "roles", "crl", "ocsp", "tokens", "rate_limits", NULL};

static enum status
parse_top(const struct pctx *c, json_t *root, struct policy *pol)
{
	json_t *v;
	int64_t version;
	enum status st;

	if ((st = check_keys(c, "$", root, top_keys)) != ST_OK)
		return st;
	if ((st = get_int(c, "$", root, "version", 1, INT32_MIN, INT32_MAX, 1,
	         &version)) != ST_OK)
		return st;
	if (version != 1)
		return perr(c, "$.version",
		    "unsupported version %lld "
		    "(expected 1)",
		    (long long)version);
	if ((st = get_member(c, "$", root, "profiles", JSON_OBJECT, 1, &v)) !=
	        ST_OK ||
	    (st = parse_named(c, "$.profiles", v, LIMIT_POLICY_ENTRIES,
	         "profile", profile_entry, pol)) != ST_OK)
		return st;
	/* Profiles first: the sections below refer to them. */
	if ((st = get_member(c, "$", root, "authenticators", JSON_OBJECT, 0,
	         &v)) != ST_OK ||
	    (v != NULL &&
	        (st = parse_authenticators(c, "$.authenticators", v, pol)) !=
	            ST_OK))
		return st;
	if ((st = get_member(c, "$", root, "roles", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL && (st = parse_roles(c, "$.roles", v, pol)) != ST_OK))
		return st;
	pol->crl.validity_seconds = 24 * 3600;
	pol->crl.shards = 1;
	pol->ocsp.validity_seconds = 3600;
	pol->crl.cache_seconds = CACHE_SECONDS_DEFAULT;
	pol->ocsp.cache_seconds = CACHE_SECONDS_DEFAULT;
	if ((st = get_member(c, "$", root, "crl", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL && (st = parse_crl(c, "$.crl", v, pol)) != ST_OK))
		return st;
	if ((st = get_member(c, "$", root, "ocsp", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
	    (v != NULL && (st = parse_ocsp(c, "$.ocsp", v, pol)) != ST_OK))
		return st;
	if ((st = get_member(c, "$", root, "tokens", JSON_OBJECT, 0, &v)) !=
	        ST_OK ||
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
	if ((st = get_member(
	         c, "$", root, "rate_limits", JSON_OBJECT, 0, &v)) != ST_OK ||
	    (v != NULL &&
	        (st = parse_rates(c, "$.rate_limits", v, pol)) != ST_OK))
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
	json_t *root = NULL;
	json_error_t err;
	struct pctx c;
	enum status st = ST_INTERNAL;

	*out = NULL;
	c.name = name != NULL ? name : "policy";
	if (len > LIMIT_POLICY_JSON)
		return status_fail(ST_LIMIT, "%s: %zu bytes, limit is %d",
		    c.name, len, LIMIT_POLICY_JSON);
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		st = status_fail(ST_MALFORMED, "%s:%d:%d: %s", c.name, err.line,
		    err.column, err.text);
		goto out;
	}
	if ((pol = calloc(1, sizeof(*pol))) == NULL) {
		st = status_fail(ST_NOMEM, "%s: out of memory", c.name);
		goto out;
	}
	if ((st = parse_top(&c, root, pol)) != ST_OK)
		goto out;
	policy_id_set(pol, json, len);
	*out = pol;
	pol = NULL;
	st = ST_OK;
out:
	json_decref(root);
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

static void
pattern_free(struct policy_pattern *p)
{
	if (p->is_set)
		regfree(&p->re);
	p->is_set = 0;
}

void
policy_free(struct policy *policy)
{
	size_t i, j;

	if (policy == NULL)
		return;
	for (i = 0; i < policy->profile_count; i++) {
		pattern_free(&policy->profiles[i].id_pattern);
		for (j = 0; j < policy->profiles[i].subject_count; j++)
			pattern_free(&policy->profiles[i].subject[j].pattern);
	}
	for (i = 0; i < policy->role_count; i++)
		pattern_free(&policy->roles[i].device_pattern);
	for (i = 0; i < policy->manufacturer_count; i++)
		pattern_free(&policy->manufacturers[i].device_pattern);
	for (i = 0; i < policy->tokens.profile_count; i++)
		json_decref(policy->tokens.profiles[i].claims);
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

int
policy_pattern_match(const struct policy_pattern *p, const char *s)
{
	if (p == NULL || !p->is_set || s == NULL)
		return 0;
	return regexec(&p->re, s, 0, NULL, 0) == 0;
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

const struct policy_secrets *
policy_secrets(const struct policy *policy)
{
	return &policy->secrets;
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

static int
cidr_match(const struct policy_cidr *net, int family, const uint8_t *addr)
{
	int full = net->prefix / 8, rest = net->prefix % 8;
	uint8_t mask;

	if (net->family != family)
		return 0;
	if (memcmp(net->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr[full] & mask);
}

/* 1 if address is in one of the count networks of nets. */
static int
cidrs_match(const struct policy_cidr *nets, size_t count, const char *address)
{
	uint8_t addr[16];
	int family;
	size_t i;

	if (inet_pton(AF_INET, address, addr) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, address, addr) == 1) {
		family = AF_INET6;
		/* An IPv4-mapped IPv6 address is checked as IPv4. */
		if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (i = 0; i < count; i++)
		if (cidr_match(&nets[i], family, addr))
			return 1;
	return 0;
}

int
policy_role_allows_address(const struct policy_role *role, const char *address)
{
	if (role->allow_count == 0 || address == NULL || address[0] == '\0')
		return 1;
	return cidrs_match(role->allow, role->allow_count, address);
}

int
policy_rate_exempt(const struct policy *policy, const char *address)
{
	return address != NULL &&
	    cidrs_match(
	        policy->rates.exempt, policy->rates.exempt_count, address);
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
