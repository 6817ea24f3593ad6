/*
 * backup: the archive reader tessera restore runs over a whole archive
 * before writing anything. The seeds of fuzz_backup are the samples: a
 * minimal archive of tessera's format, and each way one can be wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/backup.h"
#include "common/file.h"
#include "test.h"

static uint8_t *
sample(const char *name, size_t *len)
{
	const char *src = getenv("TESSERA_SOURCE");
	char path[4096];
	uint8_t *data = NULL;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_backup/%s",
	    src ? src : ".", name);
	if (file_read(path, 1 << 20, &data, len) != ST_OK) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	return data;
}

/* Write the header checksum of the block at h again, after an edit. */
static void
reseal(uint8_t *h)
{
	unsigned sum = 0;
	size_t i;

	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
	h[155] = ' ';
}

static enum status
check_bytes(const uint8_t *data, size_t len)
{
	enum status st;
	FILE *f;

	/* fmemopen refuses a size of 0: an empty file is /dev/null. */
	f = len ? fmemopen((void *)data, len, "rb") : fopen("/dev/null", "rb");
	if (f == NULL)
		return ST_INTERNAL;
	st = ca_backup_check(f);
	fclose(f);
	return st;
}

int
main(void)
{
	uint8_t *good, *bad;
	size_t len, n;

	good = sample("minimal.tar", &len);
	CHECK_ST(check_bytes(good, len), ST_OK);
	/* Only the two zero blocks end it: tar's record padding may follow. */
	CHECK_ST(check_bytes(good, 9 * 512), ST_OK);

	CHECK_ST(check_bytes(good, 0), ST_MALFORMED);
	CHECK_DETAIL("ends inside entry 1");
	CHECK_ST(check_bytes(good, 700), ST_MALFORMED);
	CHECK_DETAIL("ends inside");
	/* One zero block, then the end of the file: no end marker. */
	CHECK_ST(check_bytes(good, 8 * 512), ST_MALFORMED);
	CHECK_DETAIL("end marker");

	if ((bad = malloc(len)) == NULL)
		return 1;
	/* A changed header byte: the checksum no longer matches. */
	memcpy(bad, good, len);
	bad[1024 + 1] ^= 0x01;
	CHECK_ST(check_bytes(bad, len), ST_MALFORMED);
	CHECK_DETAIL("checksum");
	/* A name that fills all 100 bytes (no NUL) is over tessera's limit. */
	memcpy(bad, good, len);
	memset(bad + 1024, 'a', 100);
	reseal(bad + 1024);
	CHECK_ST(check_bytes(bad, len), ST_MALFORMED);
	CHECK_DETAIL("a name tessera never writes");
	/* A name with a character tessera never writes, resealed. */
	memcpy(bad, good, len);
	bad[1024] = '*';
	reseal(bad + 1024);
	CHECK_ST(check_bytes(bad, len), ST_MALFORMED);
	CHECK_DETAIL("character");
	/* A mode with bits beyond 0777. */
	memcpy(bad, good, len);
	memcpy(bad + 1024 + 100, "0004755", 7);
	reseal(bad + 1024);
	CHECK_ST(check_bytes(bad, len), ST_MALFORMED);
	CHECK_DETAIL("mode");
	/* A size that is not octal. */
	memcpy(bad, good, len);
	memcpy(bad + 1024 + 124, "0000000009x", 11);
	reseal(bad + 1024);
	CHECK_ST(check_bytes(bad, len), ST_MALFORMED);
	CHECK_DETAIL("not octal");
	free(bad);
	free(good);

	good = sample("traversal.tar", &n);
	CHECK_ST(check_bytes(good, n), ST_MALFORMED);
	CHECK_DETAIL("component");
	free(good);
	good = sample("symlink.tar", &n);
	CHECK_ST(check_bytes(good, n), ST_MALFORMED);
	CHECK_DETAIL("only files and directories");
	free(good);
	good = sample("gnu.tar", &n);
	CHECK_ST(check_bytes(good, n), ST_MALFORMED);
	CHECK_DETAIL("not a tessera backup");
	free(good);
	good = sample("nomark.tar", &n);
	CHECK_ST(check_bytes(good, n), ST_MALFORMED);
	CHECK_DETAIL("not a tessera backup");
	free(good);
	TEST_END();
}
