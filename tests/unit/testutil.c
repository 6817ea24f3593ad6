#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "hsm/hsm.h"
#include "tests/unit/testutil.h"

char *
testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];

	snprintf(
	    tmpl, sizeof(tmpl), "%s/tessera-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

void
testutil_rmtree(const char *dir)
{
	char cmd[4200];

	if (dir == NULL || strncmp(dir, "/", 1) != 0 || strlen(dir) < 8)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

const char *
testutil_softhsm_module(void)
{
	return TESSERA_SOFTHSM_MODULE;
}

int
testutil_softhsm(const char *dir, const char *label, const char *pin)
{
	char conf[4096], tokens[4096], so[300];
	FILE *f;

	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(so, sizeof(so), "so-%s", pin);
	if (file_mkdir(tokens, 0700) != ST_OK)
		return -1;
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f,
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n",
	    tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (hsm_token_init(testutil_softhsm_module(), label, so, pin) !=
	    ST_OK) {
		fprintf(stderr, "hsm_token_init: %s\n", status_detail());
		return -1;
	}
	return 0;
}

EVP_PKEY *
testutil_key(const char *spec)
{
	if (strncmp(spec, "ec:", 3) == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec + 3);
	if (strncmp(spec, "rsa:", 4) == 0)
		return EVP_PKEY_Q_keygen(
		    NULL, NULL, "RSA", (size_t)strtoul(spec + 4, NULL, 10));
	if (strcmp(spec, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

int
testutil_csr(EVP_PKEY *key, const char *cn, const char *sans, uint8_t **der,
    size_t *der_len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	int rc = -1;

	*der = NULL;
	*der_len = 0;
	if (req == NULL || name == NULL)
		goto out;
	if (cn != NULL &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || !X509_REQ_set_version(req, 0))
		goto out;
	if (sans != NULL) {
		exts = sk_X509_EXTENSION_new_null();
		ext =
		    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
		if (exts == NULL || ext == NULL)
			goto out;
		sk_X509_EXTENSION_push(exts, ext);
		if (!X509_REQ_add_extensions(req, exts))
			goto out;
	}
	rc = testutil_req_sign(req, key, der, der_len);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

int
testutil_req_sign(X509_REQ *req, EVP_PKEY *key, uint8_t **der, size_t *der_len)
{
	const EVP_MD *md;
	unsigned char *p = NULL;
	int len, rc = -1;

	*der = NULL;
	*der_len = 0;
	md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	if (!X509_REQ_sign(req, key, md))
		goto out;
	if ((len = i2d_X509_REQ(req, &p)) <= 0)
		goto out;
	if ((*der = malloc((size_t)len)) == NULL)
		goto out;
	memcpy(*der, p, (size_t)len);
	*der_len = (size_t)len;
	rc = 0;
out:
	OPENSSL_free(p);
	return rc;
}
