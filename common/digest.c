/*
 * digest: hash algorithms fetched once (see digest.h). The table is
 * written once, under pthread_once, before any reader can see it; after
 * that it only is read.
 */
#include <pthread.h>

#include "common/digest.h"

static const char *const names[DIGEST_MAX] = {
    [DIGEST_SHA1] = "SHA1",
    [DIGEST_SHA256] = "SHA256",
    [DIGEST_SHA384] = "SHA384",
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *fetched[DIGEST_MAX];

static void
digest_fetch_all(void)
{
	size_t i;

	for (i = 0; i < DIGEST_MAX; i++)
		fetched[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

const EVP_MD *
digest_md(enum digest_alg alg)
{
	if ((unsigned)alg >= DIGEST_MAX)
		return NULL;
	pthread_once(&once, digest_fetch_all);
	return fetched[alg];
}

enum status
digest_buf(enum digest_alg alg, const void *data, size_t len, uint8_t *out,
    unsigned int *out_len)
{
	const EVP_MD *md = digest_md(alg);
	unsigned int n = 0;

	if (md == NULL || !EVP_Digest(data, len, out, &n, md, NULL))
		return status_fail_ssl(ST_INTERNAL, "%s failed",
		    (unsigned)alg < DIGEST_MAX ? names[alg] : "digest");
	if (out_len != NULL)
		*out_len = n;
	return ST_OK;
}
