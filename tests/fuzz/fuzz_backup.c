/*
 * libFuzzer target: bytes as a backup archive (tessera restore reads it
 * whole with ca_backup_check before it writes anything). An archive that
 * passes must be one tessera wrote: its first entry the format mark.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f;

	if (size == 0)
		return 0;
	if ((f = fmemopen((void *)data, size, "rb")) == NULL)
		abort();
	if (ca_backup_check(f) == ST_OK &&
	    (size < 1024 ||
	        memcmp(data, BACKUP_MARK_NAME, sizeof(BACKUP_MARK_NAME)) != 0))
		abort();
	fclose(f);
	return 0;
}
