/*
 * libFuzzer target: what tessera admin parses from outside. The first
 * byte picks the parser: 0, an HTTPS answer's head; 1, a secrets import
 * CSV; 2, a revoke --from list of device ids; 3, one of serials.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_rows.h"
#include "cli/https.h"
#include "common/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct https_head head;
	struct admin_rows r;
	char *text;
	size_t i;
	int bad;

	if (size == 0)
		return 0;
	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	/* Both are read as C strings (the import refuses a NUL first). */
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		if (https_head_parse(text, &head) == ST_OK &&
		    (head.code < 100 || head.code > 999 ||
		        head.content_length > LIMIT_HTTPS_BODY ||
		        (!head.has_length && head.content_length != 0)))
			abort();
		break;
	default:
		bad = data[0] % 4 == 1
		    ? admin_csv_parse("fuzz", text, devnull, &r)
		    : admin_list_parse(
		          "fuzz", text, data[0] % 4 == 2, devnull, &r);
		/* Accepted rows are non-empty, sorted and found again. */
		for (i = 0; bad == 0 && i < r.count; i++)
			if (r.v[i].device[0] == '\0' ||
			    admin_rows_find(&r, r.v[i].device) != &r.v[i])
				abort();
		admin_rows_free(&r);
	}
	free(text);
	return 0;
}
