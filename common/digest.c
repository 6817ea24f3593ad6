/*
 * digest: hash algorithms fetched once (see digest.h). The table is
 * written once, under pthread_once, before any reader can see it; after
 * that it only is read.
 */
#include <pthread.h>
#include <string.h>

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

/*
 * The AlgorithmIdentifiers every signature of tessera's usual keys names,
 * as OpenSSL encodes them below (test_certder compares them): the signer
 * checks each TBS against one, and building it through X509_ALGOR took
 * an allocation and two encodings per signature.
 */
static const struct {
	int key_type, md_nid;
	uint8_t len;
	uint8_t der[15];
} sigalgs[] = {
    {EVP_PKEY_EC, NID_sha256, 12,
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
            0x02}},
    {EVP_PKEY_EC, NID_sha384, 12,
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
            0x03}},
    {EVP_PKEY_EC, NID_sha512, 12,
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
            0x04}},
    {EVP_PKEY_RSA, NID_sha256, 15,
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x0b, 0x05, 0x00}},
    {EVP_PKEY_RSA, NID_sha384, 15,
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x0c, 0x05, 0x00}},
    {EVP_PKEY_RSA, NID_sha512, 15,
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x0d, 0x05, 0x00}},
    {EVP_PKEY_ED25519, NID_undef, 7,
        {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}},
};

enum status
digest_sigalg_der(
    int key_type, int md_nid, uint8_t *out, size_t cap, size_t *len)
{
	X509_ALGOR *alg = NULL;
	unsigned char *p = out;
	int sig_nid, ptype, n;
	size_t i;
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
	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++)
		if (sigalgs[i].key_type == key_type &&
		    sigalgs[i].md_nid == md_nid && sigalgs[i].len <= cap) {
			memcpy(out, sigalgs[i].der, sigalgs[i].len);
			*len = sigalgs[i].len;
			return ST_OK;
		}
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
