/*
 * deviceid: the canonical form of a device id (see deviceid.h). A block,
 * a secret and a certificate name a device by this string compared byte
 * for byte, so a second spelling of one id would let a blocked device in
 * again under it: non-canonical ids are refused, never folded, except
 * where the holder cannot choose the spelling (an IDevID).
 */
#include <stdio.h>
#include <string.h>

#include "ca/deviceid.h"
#include "ca/pattern.h"
#include "common/log.h"
#include "common/limits.h"

_Static_assert(LIMIT_DEVICE_ID_LEN == 64, "CA_DEVICE_ID_FORM says 1..64");

/* A quoted id in a message: the longest id and its escapes. */
#define QUOTE_CAP (LIMIT_DEVICE_ID_LEN * 4 + 8)

static int
is_lower_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* 1 when id is canonical; else 0 and *lower says if case alone is wrong. */
static int
is_canonical(const char *id, size_t n, int *lower)
{
	unsigned char c;
	size_t i;
	int only_case = 1, ok = 1;

	for (i = 0; i < n; i++) {
		c = (unsigned char)id[i];
		if (c >= 'A' && c <= 'Z') {
			ok = 0;
			c = (unsigned char)(c - 'A' + 'a');
		}
		if (is_lower_alnum(c))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'))
			continue;
		ok = only_case = 0;
	}
	if (n > 0 && id[n - 1] == '.')
		ok = only_case = 0;
	*lower = !ok && only_case;
	return ok;
}

enum status
ca_device_id_check(const char *id, const struct policy_profile *profile)
{
	char q[QUOTE_CAP], low[LIMIT_DEVICE_ID_LEN + 1];
	size_t n = id != NULL ? strlen(id) : 0, i;
	int lower = 0;

	if (n == 0)
		return status_fail(ST_MALFORMED,
		    "empty device id (canonical form: " CA_DEVICE_ID_FORM ")");
	if (n > LIMIT_DEVICE_ID_LEN)
		return status_fail(ST_MALFORMED,
		    "device id is %zu bytes, limit is %d (canonical "
		    "form: " CA_DEVICE_ID_FORM ")",
		    n, LIMIT_DEVICE_ID_LEN);
	if (!is_canonical(id, n, &lower)) {
		if (!lower)
			return status_fail(ST_MALFORMED,
			    "device id %s is not canonical (" CA_DEVICE_ID_FORM
			    ")",
			    log_quote(id, q, sizeof(q)));
		for (i = 0; i < n; i++)
			low[i] = (char)(id[i] >= 'A' && id[i] <= 'Z'
			        ? id[i] - 'A' + 'a'
			        : id[i]);
		low[n] = '\0';
		return status_fail(ST_MALFORMED,
		    "device id %s is not canonical (" CA_DEVICE_ID_FORM
		    "): use \"%s\"",
		    log_quote(id, q, sizeof(q)), low);
	}
	if (profile != NULL && profile->id_pattern != NULL &&
	    !pattern_match(profile->id_pattern, id))
		return status_fail(ST_MALFORMED,
		    "device id \"%s\" does not match profile %s's "
		    "device_id_pattern %s",
		    id, profile->name, pattern_source(profile->id_pattern));
	return ST_OK;
}

enum status
ca_device_id_fold(const char *id, char *out, size_t cap)
{
	size_t n = strlen(id), i;

	if (cap == 0)
		return status_fail(ST_INTERNAL, "no room for a device id");
	out[0] = '\0';
	if (n >= cap)
		return ca_device_id_check(id, NULL);
	for (i = 0; i < n; i++)
		out[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] - 'A' + 'a'
		                                             : id[i]);
	out[n] = '\0';
	return ca_device_id_check(out, NULL);
}
