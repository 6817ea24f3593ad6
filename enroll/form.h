/*
 * form: application/x-www-form-urlencoded request bodies (the OAuth 2.0
 * token endpoint's, RFC 6749 §4.4.2 and Appendix B), read strictly.
 */
#ifndef TESSERA_ENROLL_FORM_H
#define TESSERA_ENROLL_FORM_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* A parameter the caller wants: its name, and where its value goes. */
struct form_field {
	const char *name;
	char *value; /* NUL-terminated, percent- and '+'-decoded */
	size_t cap; /* bytes at value, NUL included */
	int is_set;
};

/*
 * Parse body into the wanted fields (n of them). Parameters not wanted
 * are ignored (RFC 6749 §3.2); a wanted one given twice, a value longer
 * than its cap, a bad %XX escape, a decoded NUL or control character
 * is ST_MALFORMED with a detail that names the parameter.
 */
enum status form_parse(const uint8_t *body, size_t len,
    struct form_field *fields, size_t n) MUST_CHECK;

#endif
