/*
 * libFuzzer target: bytes as an admin API JSON body, read with the same
 * strict parser and the keys of POST /api/v1/enrollment-secrets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "enroll/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const known[] = {"device", "profile", "ttl", NULL};
	json_t *root = NULL;

	if (api_body_parse(data, size, known, &root) == ST_OK) {
		if (!json_is_object(root))
			abort();
		json_decref(root);
	} else if (root != NULL) {
		abort();
	}
	return 0;
}
