/*
 * libFuzzer target: bytes as a policy file. A policy that loads is then
 * read back through the accessors and its patterns are exercised.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/pattern.h"
#include "ca/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *pol = NULL;
	const struct policy_profile *p;
	char keys[512], name[LIMIT_NAME_LEN + 1];
	size_t i, j;

	if (policy_parse((const char *)data, size, "fuzz", &pol) != ST_OK) {
		if (pol != NULL)
			abort();
		return 0;
	}
	for (i = 0; (p = policy_profile_at(pol, i)) != NULL; i++) {
		if (policy_profile_get(pol, p->name) != p || p->key_count == 0)
			abort();
		policy_profile_keys_describe(p, keys, sizeof(keys));
		(void)pattern_match(p->id_pattern, "dev-0001");
		for (j = 0; j < p->subject_count; j++) {
			(void)pattern_match(p->subject[j].pattern, "Acme");
			if (policy_subject_rule(p, p->subject[j].nid) == NULL)
				abort();
		}
		for (j = 0; j < p->dns_templates.count; j++)
			if (policy_template_expand(p->dns_templates.t[j],
			        "dev-0001", name, sizeof(name)) != 0 &&
			    strlen(p->dns_templates.t[j]) < sizeof(name) - 8)
				abort();
	}
	policy_free(pol);
	return 0;
}
