/*
 * certpolicy: profile names as certificatePolicies OIDs and back (see
 * certpolicy.h for the arc).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/certpolicy.h"

/* The arc's text, then ".NNN" for each name byte. */
#define OID_TEXT_CAP (sizeof(CA_POLICY_PROFILES_ARC) + 4 * LIMIT_LABEL_LEN + 1)

/* Profile names are [a-z0-9_-]{1,64} (policy.c's rule). */
static int
is_profile_name(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > CA_POLICY_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		        s[i] == '-'))
			return 0;
	return 1;
}

static enum status
profile_oid(const char *profile, ASN1_OBJECT **out)
{
	char text[OID_TEXT_CAP];
	size_t i, n, used;

	*out = NULL;
	if (profile == NULL || !is_profile_name(profile, strlen(profile)))
		return status_fail(ST_MALFORMED,
		    "profile name for a certificate policy is not "
		    "[a-z0-9_-]{1,%d}",
		    CA_POLICY_NAME_MAX);
	n = strlen(profile);
	used =
	    (size_t)snprintf(text, sizeof(text), "%s", CA_POLICY_PROFILES_ARC);
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    ".%u", (unsigned char)profile[i]);
	if ((*out = OBJ_txt2obj(text, 1)) == NULL)
		return status_fail_ssl(ST_INTERNAL, "certificate policy OID");
	return ST_OK;
}

enum status
ca_certpolicy_add(X509 *cert, const char *profile)
{
	CERTIFICATEPOLICIES *cp = NULL;
	POLICYINFO *pi = NULL;
	ASN1_OBJECT *oid = NULL;
	enum status st;

	if ((st = profile_oid(profile, &oid)) != ST_OK)
		return st;
	st = ST_NOMEM;
	if ((cp = sk_POLICYINFO_new_null()) == NULL ||
	    (pi = POLICYINFO_new()) == NULL)
		goto out;
	ASN1_OBJECT_free(pi->policyid);
	pi->policyid = oid;
	oid = NULL;
	if (!sk_POLICYINFO_push(cp, pi))
		goto out;
	pi = NULL;
	if (X509_add1_ext_i2d(cert, NID_certificate_policies, cp, 0,
	        X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "certificatePolicies");
		goto out;
	}
	st = ST_OK;
out:
	ASN1_OBJECT_free(oid);
	POLICYINFO_free(pi);
	CERTIFICATEPOLICIES_free(cp);
	return st;
}

/*
 * The profile name an OID of tessera's profiles arc encodes, into out:
 * 1, 0 for an OID outside the arc, -1 for one inside that names nothing.
 */
static int
oid_profile(const ASN1_OBJECT *oid, char out[LIMIT_LABEL_LEN + 1])
{
	static const char prefix[] = CA_POLICY_PROFILES_ARC ".";
	char text[OID_TEXT_CAP], *p, *end;
	unsigned long v;
	size_t n = 0;
	int len;

	out[0] = '\0';
	len = OBJ_obj2txt(text, sizeof(text), oid, 1);
	if (len <= 0 || strncmp(text, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	/* Cut short: in the arc, but longer than any name. */
	if ((size_t)len >= sizeof(text))
		return -1;
	for (p = text + sizeof(prefix) - 1;; p = end + 1) {
		/* Digits only, no leading zero: one spelling per name. */
		if (*p < '1' || *p > '9')
			return -1;
		v = strtoul(p, &end, 10);
		if (v > 127 || (*end != '.' && *end != '\0') ||
		    n >= CA_POLICY_NAME_MAX)
			return -1;
		out[n++] = (char)v;
		if (*end == '\0')
			break;
	}
	out[n] = '\0';
	if (!is_profile_name(out, n)) {
		out[0] = '\0';
		return -1;
	}
	return 1;
}

enum status
ca_certpolicy_get(const X509 *cert, char out[LIMIT_LABEL_LEN + 1])
{
	CERTIFICATEPOLICIES *cp;
	POLICYINFO *pi;
	char name[LIMIT_LABEL_LEN + 1];
	int crit = 0, i, found = 0, rc;
	enum status st = ST_OK;

	out[0] = '\0';
	cp = X509_get_ext_d2i(cert, NID_certificate_policies, &crit, NULL);
	if (cp == NULL) {
		ERR_clear_error();
		/* -1: absent; -2: more than one extension (RFC 5280 §4.2). */
		if (crit == -2)
			return status_fail(ST_MALFORMED,
			    "certificate has two certificatePolicies "
			    "extensions");
		if (crit != -1)
			return status_fail(
			    ST_MALFORMED, "certificatePolicies does not parse");
		return ST_NOTFOUND;
	}
	for (i = 0; i < sk_POLICYINFO_num(cp); i++) {
		pi = sk_POLICYINFO_value(cp, i);
		if ((rc = oid_profile(pi->policyid, name)) == 0)
			continue;
		if (rc < 0 || found++ > 0) {
			st = status_fail(ST_MALFORMED,
			    "certificatePolicies holds %s tessera profile OID",
			    rc < 0 ? "a malformed" : "more than one");
			goto out;
		}
		memcpy(out, name, sizeof(name));
	}
	if (!found)
		st = ST_NOTFOUND;
out:
	if (st != ST_OK)
		out[0] = '\0';
	CERTIFICATEPOLICIES_free(cp);
	return st;
}
