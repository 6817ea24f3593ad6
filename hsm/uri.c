/*
 * RFC 7512 PKCS#11 URIs, only as far as tessera uses them: the token and
 * object attributes of the path. Everything after '?' (the query, which may
 * hold pin-value or module-path) is ignored and never echoed in a detail.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/limits.h"
#include "common/status.h"
#include "hsm/hsm.h"

#define URI_SCHEME "pkcs11:"

/*
 * Percent-decode value[0..len) into a new string (RFC 7512 §2.3,
 * RFC 3986 §2.1). A decoded NUL is refused: labels are C strings here.
 */
static enum status
uri_decode(const char *name, const char *value, size_t len, char **out)
{
	char *s = NULL;
	size_t i, n = 0;
	int hi, lo;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if ((s = malloc(len + 1)) == NULL)
		return ST_NOMEM;
	for (i = 0; i < len; i++) {
		if (value[i] != '%') {
			s[n++] = value[i];
			continue;
		}
		if (i + 2 >= len) {
			status_fail(ST_MALFORMED,
			    "PKCS#11 URI: %s: truncated %%-escape "
			    "(RFC 7512 section 2.3)",
			    name);
			goto out;
		}
		hi = hex_value(value[i + 1]);
		lo = hex_value(value[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			status_fail(ST_MALFORMED,
			    "PKCS#11 URI: %s: bad %%-escape or %%00 "
			    "(RFC 7512 section 2.3)",
			    name);
			goto out;
		}
		s[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	s[n] = '\0';
	if (n == 0) {
		status_fail(ST_MALFORMED, "PKCS#11 URI: %s is empty", name);
		goto out;
	}
	if (n > LIMIT_LABEL_LEN) {
		st = status_fail(ST_LIMIT,
		    "PKCS#11 URI: %s is %zu bytes, "
		    "limit %d",
		    name, n, LIMIT_LABEL_LEN);
		goto out;
	}
	*out = s;
	s = NULL;
	st = ST_OK;
out:
	free(s);
	return st;
}

enum status
hsm_uri_parse(const char *uri, char **token, char **object)
{
	const char *p, *end, *attr, *eq, *next;
	char *tok = NULL, *obj = NULL, **slot;
	size_t len, name_len;
	enum status st = ST_MALFORMED;

	*token = NULL;
	*object = NULL;
	if (uri == NULL)
		return status_fail(ST_MALFORMED, "PKCS#11 URI: none given");
	len = strnlen(uri, LIMIT_PKCS11_URI_LEN + 1);
	if (len > LIMIT_PKCS11_URI_LEN)
		return status_fail(ST_LIMIT, "PKCS#11 URI is over %d bytes",
		    LIMIT_PKCS11_URI_LEN);
	/* RFC 3986 §3.1: the scheme is case-insensitive. */
	if (len < strlen(URI_SCHEME) ||
	    strncasecmp(uri, URI_SCHEME, strlen(URI_SCHEME)) != 0)
		return status_fail(ST_MALFORMED,
		    "not a PKCS#11 URI: the scheme must be \"pkcs11:\" "
		    "(RFC 7512 section 2.3)");
	p = uri + strlen(URI_SCHEME);
	if ((end = strchr(p, '?')) == NULL)
		end = uri + len;
	for (attr = p; attr < end; attr = next) {
		if ((next = memchr(attr, ';', (size_t)(end - attr))) == NULL)
			next = end;
		if (next == attr) {
			/* An empty path, or "a;;b": tolerated, nothing to do. */
			next++;
			continue;
		}
		eq = memchr(attr, '=', (size_t)(next - attr));
		if (eq == NULL || eq == attr) {
			status_fail(ST_MALFORMED,
			    "PKCS#11 URI: attribute "
			    "without name=value (RFC 7512 section 2.3)");
			goto out;
		}
		name_len = (size_t)(eq - attr);
		slot = NULL;
		if (name_len == 5 && memcmp(attr, "token", 5) == 0)
			slot = &tok;
		else if (name_len == 6 && memcmp(attr, "object", 6) == 0)
			slot = &obj;
		if (slot != NULL) {
			/* RFC 7512 §2.3: an attribute must not repeat. */
			if (*slot != NULL) {
				status_fail(ST_MALFORMED,
				    "PKCS#11 URI: %s "
				    "given twice (RFC 7512 section 2.3)",
				    slot == &tok ? "token" : "object");
				goto out;
			}
			st = uri_decode(slot == &tok ? "token" : "object",
			    eq + 1, (size_t)(next - eq - 1), slot);
			if (st != ST_OK)
				goto out;
			st = ST_MALFORMED;
		}
		if (next < end)
			next++;
	}
	if (obj == NULL) {
		status_fail(ST_MALFORMED,
		    "PKCS#11 URI names no object (object=<label>)");
		goto out;
	}
	*token = tok;
	*object = obj;
	tok = NULL;
	obj = NULL;
	st = ST_OK;
out:
	free(tok);
	free(obj);
	return st;
}
