/*
 * libFuzzer target: bytes as an admin API JSON body, read with the same
 * strict parser and the keys of POST /api/v1/enrollment-secrets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ca/jsonread.h"
#include "enroll/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const known[] = {"device", "profile", "ttl", NULL};
	struct jsonread *body = NULL;
	const char *device;
	int64_t ttl;

	if (api_body_parse(data, size, known, &body) == ST_OK) {
		if (!json_is_object(jsonread_root(body)))
			abort();
		/* The members as the handler reads them. */
		(void)jsonread_str(body, "$", jsonread_root(body), "device", 1,
		    16384, &device);
		(void)jsonread_int(body, "$", jsonread_root(body), "ttl", 0,
		    INT64_MIN, INT64_MAX, 0, &ttl);
		jsonread_free(body);
	} else if (body != NULL) {
		abort();
	}
	return 0;
}
