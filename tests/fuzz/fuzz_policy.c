/*
 * libFuzzer target: bytes as a policy file. A policy that loads is then
 * read back through the accessors and its patterns are exercised.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ca/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *pol = NULL;
	const struct policy_profile *p;
	char keys[512];
	size_t i;

	if (policy_parse((const char *)data, size, "fuzz", &pol) != ST_OK) {
		if (pol != NULL)
			abort();
		return 0;
	}
	for (i = 0; (p = policy_profile_at(pol, i)) != NULL; i++) {
		if (policy_profile_get(pol, p->name) != p || p->key_count == 0)
			abort();
		policy_profile_keys_describe(p, keys, sizeof(keys));
		(void)policy_pattern_match(&p->cn_pattern, "dev-0001");
		(void)policy_pattern_match(&p->dns_pattern, "a.example.com");
		(void)policy_pattern_match(&p->uri_pattern, "urn:dev:x");
	}
	policy_free(pol);
	return 0;
}
