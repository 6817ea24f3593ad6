/*
 * digest: hash algorithms fetched once (see digest.h). The table is
 * written once, under pthread_once, before any reader can see it; after
 * that it only is read.
 */
#include <pthread.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

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

enum status
digest_sigalg_der(
    int key_type, int md_nid, uint8_t *out, size_t cap, size_t *len)
{
	X509_ALGOR *alg = NULL;
	unsigned char *p = out;
	int sig_nid, ptype, n;
	enum status st = ST_NOMEM;

	*len = 0;
	if (key_type == EVP_PKEY_EC || key_type == EVP_PKEY_ED25519)
		ptype = V_ASN1_UNDEF; /* RFC 5758 §3.2, RFC 8410 §3 */
	else if (key_type == EVP_PKEY_RSA)
		ptype = V_ASN1_NULL; /* RFC 4055 §5 */
	else
		return status_fail(ST_MALFORMED,
		    "signing key type %d is not EC, RSA or Ed25519", key_type);
	if (key_type == EVP_PKEY_ED25519 ? md_nid != NID_undef
	                                 : md_nid == NID_undef)
		return status_fail(ST_MALFORMED,
		    "digest %d does not go with signing key type %d", md_nid,
		    key_type);
	/* Ed25519 is its own signature algorithm (no digest to pair). */
	if (key_type == EVP_PKEY_ED25519)
		sig_nid = NID_ED25519;
	else if (!OBJ_find_sigid_by_algs(&sig_nid, md_nid, key_type))
		return status_fail(ST_MALFORMED,
		    "no signature algorithm for digest %d with key type %d",
		    md_nid, key_type);
	if ((alg = X509_ALGOR_new()) == NULL)
		goto out;
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid), ptype, NULL) ||
	    (n = i2d_X509_ALGOR(alg, NULL)) <= 0 || (size_t)n > cap ||
	    i2d_X509_ALGOR(alg, &p) != n) {
		st = status_fail_ssl(ST_INTERNAL, "signature algorithm");
		goto out;
	}
	*len = (size_t)n;
	st = ST_OK;
out:
	X509_ALGOR_free(alg);
	return st;
}
