/*
 * form: name=value pairs separated by '&', '+' for space, %XX escapes.
 */
#include <string.h>

#include "common/hex.h"
#include "enroll/form.h"

/*
 * Decode s[0..len) into out (cap bytes, NUL included). -1: bad escape or
 * a control character; -2: too long.
 */
static int
decode(const uint8_t *s, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;
	int hi, lo;
	uint8_t c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3)
				return -1;
			if ((hi = hex_value(s[i + 1])) < 0 ||
			    (lo = hex_value(s[i + 2])) < 0)
				return -1;
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (o + 1 >= cap)
			return -2;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

enum status
form_parse(const uint8_t *body, size_t len, struct form_field *fields, size_t n)
{
	const uint8_t *p = body, *end = body + len, *amp, *eq;
	char name[64];
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		fields[i].is_set = 0;
		if (fields[i].cap > 0)
			fields[i].value[0] = '\0';
	}
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p) { /* "a=1&&b=2": an empty pair */
			p++;
			continue;
		}
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		rc = decode(p, (size_t)(eq - p), name, sizeof(name));
		if (rc == -1)
			return status_fail(ST_MALFORMED,
			    "form: a parameter name has a bad %%XX escape or a "
			    "control character");
		for (i = 0; rc == 0 && i < n; i++)
			if (strcmp(fields[i].name, name) == 0)
				break;
		if (rc == 0 && i < n) {
			if (fields[i].is_set)
				return status_fail(ST_MALFORMED,
				    "form: parameter %s given twice "
				    "(RFC 6749 §3.2)",
				    fields[i].name);
			rc = decode(eq < amp ? eq + 1 : amp,
			    eq < amp ? (size_t)(amp - eq - 1) : 0,
			    fields[i].value, fields[i].cap);
			if (rc == -1)
				return status_fail(ST_MALFORMED,
				    "form: parameter %s has a bad %%XX escape "
				    "or a control character",
				    fields[i].name);
			if (rc == -2)
				return status_fail(ST_MALFORMED,
				    "form: parameter %s is longer than %zu "
				    "bytes",
				    fields[i].name, fields[i].cap - 1);
			fields[i].is_set = 1;
		}
		p = amp < end ? amp + 1 : end;
	}
	return ST_OK;
}
