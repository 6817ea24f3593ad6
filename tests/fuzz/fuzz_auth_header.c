/*
 * libFuzzer target: bytes as an HTTP Authorization header value (RFC 7617
 * Basic, or any other scheme, or garbage).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "enroll/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header, *user = NULL, *password = NULL;

	/* A header value is a C string: the server never passes NULs. */
	if ((header = malloc(size + 1)) == NULL)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';
	if (auth_basic_parse(header, &user, &password) == ST_OK) {
		if (user == NULL || password == NULL)
			abort();
	} else if (user != NULL || password != NULL) {
		abort();
	}
	secret_free(user);
	secret_free(password);
	free(header);
	return 0;
}
