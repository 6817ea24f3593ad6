/*
 * libFuzzer target: bytes as the body of an EST simpleenroll POST. The
 * base64 decoder runs first, then (on what decodes) the CSR parser and the
 * default policy's device profile checks, as the server does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/csr.h"
#include "ca/policy.h"
#include "common/limits.h"
#include "enroll/codec.h"

extern const char policy_default_json[];
extern const size_t policy_default_json_len;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy *pol;
	const struct policy_profile *p;
	struct ca_csr *csr = NULL;
	struct buf again;
	uint8_t *der = NULL, *der2 = NULL;
	size_t len = 0, len2 = 0;

	if (pol == NULL &&
	    policy_parse(policy_default_json, policy_default_json_len,
	        "default", &pol) != ST_OK)
		abort();
	if (codec_b64_decode(data, size, LIMIT_CSR_DER, &der, &len) != ST_OK) {
		if (der != NULL)
			abort();
		return 0;
	}
	/* What decodes must encode back to the same bytes. */
	buf_init(&again, 4 * size + 16);
	if (codec_b64_encode(&again, der, len, 0) != ST_OK ||
	    codec_b64_decode(
	        again.data, again.len, LIMIT_CSR_DER, &der2, &len2) != ST_OK ||
	    len2 != len || memcmp(der, der2, len) != 0)
		abort();
	buf_free(&again);
	free(der2);
	if (ca_csr_parse(der, len, &csr) == ST_OK) {
		p = policy_profile_get(pol, "device");
		(void)ca_csr_check(csr, p);
		(void)ca_csr_device_id(csr, p);
		ca_csr_free(csr);
	} else if (csr != NULL) {
		abort();
	}
	free(der);
	return 0;
}
