/*
 * hsm/ against a fresh SoftHSMv2 token in a temporary directory.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/limits.h"
#include "hsm/hsm.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define TOKEN "tessera-test"
#define PIN "1234"

static const char *const labels[HSM_KEY_TYPE_MAX] = {
    "key-p256", "key p384", "key-rsa3072"};

/* X509_sign a dummy certificate with the token key, verify it in software. */
static int
cert_sign_verify(struct hsm_key *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok = 0;

	if (x == NULL || name == NULL)
		goto out;
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 42) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)"hsm test", -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    !X509_set_pubkey(x, hsm_key_get0_public(key)))
		goto out;
	if (X509_sign(x, hsm_key_get0_pkey(key), EVP_sha256()) <= 0)
		goto out;
	ok = X509_verify(x, hsm_key_get0_public(key)) == 1;
out:
	X509_NAME_free(name);
	X509_free(x);
	return ok;
}

/* hsm_key_sign, then verify with the public key in software. */
static int
sign_verify(struct hsm_key *key, const EVP_MD *md)
{
	static const uint8_t msg[] = "tessera hsm test message";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int ok = 0;

	if (ctx == NULL)
		return 0;
	if (hsm_key_sign(key, md, msg, sizeof(msg), &sig, &sig_len) != ST_OK)
		goto out;
	if (EVP_DigestVerifyInit(
	        ctx, NULL, md, NULL, hsm_key_get0_public(key)) != 1)
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof(msg)) == 1;
	/* A changed message must not verify. */
	if (ok &&
	    EVP_DigestVerifyInit(
	        ctx, NULL, md, NULL, hsm_key_get0_public(key)) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof(msg) - 1) == 1)
		ok = 0;
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(ctx);
	return ok;
}

struct worker {
	struct hsm_key *key;
	int rounds;
	int good;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->rounds; i++)
		w->good += sign_verify(w->key, EVP_sha256());
	return NULL;
}

static void
test_uri(void)
{
	char *tok = NULL, *obj = NULL;
	char big[LIMIT_PKCS11_URI_LEN + 32];
	size_t i;

	CHECK_ST(
	    hsm_uri_parse("pkcs11:token=tessera;object=issuing-ca", &tok, &obj),
	    ST_OK);
	CHECK(tok != NULL && strcmp(tok, "tessera") == 0);
	CHECK(obj != NULL && strcmp(obj, "issuing-ca") == 0);
	free(tok);
	free(obj);

	CHECK_ST(hsm_uri_parse("PKCS11:object=my%20key%3bx;type=private"
	                       "?pin-value=secret",
	             &tok, &obj),
	    ST_OK);
	CHECK(tok == NULL);
	CHECK(obj != NULL && strcmp(obj, "my key;x") == 0);
	free(obj);

	CHECK_ST(hsm_uri_parse("pkcs11:manufacturer=SoftHSM%20project;"
	                       "object=a;token=t%41",
	             &tok, &obj),
	    ST_OK);
	CHECK(tok != NULL && strcmp(tok, "tA") == 0);
	CHECK(obj != NULL && strcmp(obj, "a") == 0);
	free(tok);
	free(obj);

	/* The bad ones leave both outputs NULL. */
	tok = obj = (char *)"x";
	CHECK_ST(
	    hsm_uri_parse("pkcs11:token=tessera", &tok, &obj), ST_MALFORMED);
	CHECK(tok == NULL && obj == NULL);
	CHECK_DETAIL("no object");
	CHECK_ST(hsm_uri_parse("file:object=a", &tok, &obj), ST_MALFORMED);
	CHECK_DETAIL("scheme");
	CHECK_ST(hsm_uri_parse("", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:object=a%2", &tok, &obj), ST_MALFORMED);
	CHECK_DETAIL("escape");
	CHECK_ST(hsm_uri_parse("pkcs11:object=a%zz", &tok, &obj), ST_MALFORMED);
	CHECK_ST(
	    hsm_uri_parse("pkcs11:object=a%00b", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:object=", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:object=a;object=b", &tok, &obj),
	    ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:token=a;token=b;object=c", &tok, &obj),
	    ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:object", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:=a;object=b", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse("pkcs11:?object=a", &tok, &obj), ST_MALFORMED);
	CHECK_ST(hsm_uri_parse(NULL, &tok, &obj), ST_MALFORMED);
	CHECK(tok == NULL && obj == NULL);

	memcpy(big, "pkcs11:object=", 14);
	for (i = 14; i < sizeof(big) - 1; i++)
		big[i] = 'a';
	big[sizeof(big) - 1] = '\0';
	CHECK_ST(hsm_uri_parse(big, &tok, &obj), ST_LIMIT);
	/* Within the URI limit but over the label limit once decoded. */
	big[14 + LIMIT_LABEL_LEN + 1] = '\0';
	CHECK_ST(hsm_uri_parse(big, &tok, &obj), ST_LIMIT);
	big[14 + LIMIT_LABEL_LEN] = '\0';
	CHECK_ST(hsm_uri_parse(big, &tok, &obj), ST_OK);
	CHECK(obj != NULL && strlen(obj) == LIMIT_LABEL_LEN);
	free(tok);
	free(obj);
}

static void
test_open_errors(const char *module)
{
	struct hsm *hsm = NULL;

	hsm = (struct hsm *)1;
	CHECK_ST(hsm_open(module, TOKEN, "9999", &hsm), ST_UNAUTHENTICATED);
	CHECK(hsm == NULL);
	CHECK_DETAIL("wrong PIN (CKR_PIN_INCORRECT)");
	CHECK(strstr(status_detail(), "9999") == NULL);

	/* Not found (never retried), unlike a token that is not ready. */
	CHECK_ST(hsm_open("/nonexistent/libnothing.so", TOKEN, PIN, &hsm),
	    ST_NOTFOUND);
	CHECK(hsm == NULL);
	CHECK_DETAIL("PKCS#11 module /nonexistent/libnothing.so: cannot load");

	CHECK_ST(hsm_open(module, "no-such-token", PIN, &hsm), ST_UNAVAILABLE);
	CHECK(hsm == NULL);
	CHECK_DETAIL("no token labelled 'no-such-token'");

	CHECK_ST(hsm_token_init(module, TOKEN, "so-" PIN, PIN), ST_CONFLICT);
	CHECK_DETAIL(TOKEN);
}

static void
test_keys(const char *module)
{
	struct hsm *hsm = NULL, *second = NULL;
	struct hsm_key *keys[HSM_KEY_TYPE_MAX] = {NULL};
	struct hsm_key *key = NULL;
	char uri[LIMIT_PKCS11_URI_LEN];
	const EVP_MD *md;
	struct worker w[2];
	pthread_t th[2];
	int i;

	CHECK_ST(hsm_open(module, TOKEN, PIN, &hsm), ST_OK);
	if (hsm == NULL)
		return;
	CHECK(strcmp(hsm_token_label(hsm), TOKEN) == 0);
	CHECK_ST(hsm_ping(hsm), ST_OK);

	for (i = 0; i < HSM_KEY_TYPE_MAX; i++) {
		CHECK_ST(hsm_key_generate(
		             hsm, labels[i], (enum hsm_key_type)i, &keys[i]),
		    ST_OK);
		if (keys[i] == NULL)
			continue;
		CHECK(strcmp(hsm_key_label(keys[i]), labels[i]) == 0);
		CHECK(hsm_key_is_sensitive(keys[i]));
	}
	/*
	 * Generating the later keys re-enumerated libp11's key list (and
	 * realloced it): the first handles must still sign.
	 */
	for (i = 0; i < HSM_KEY_TYPE_MAX; i++) {
		if (keys[i] == NULL)
			continue;
		md = i == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
		CHECK(cert_sign_verify(keys[i]));
		CHECK(sign_verify(keys[i], md));
	}
	if (keys[HSM_KEY_EC_P256] != NULL)
		CHECK(EVP_PKEY_get_bits(
		          hsm_key_get0_public(keys[HSM_KEY_EC_P256])) == 256);
	if (keys[HSM_KEY_EC_P384] != NULL)
		CHECK(EVP_PKEY_get_bits(
		          hsm_key_get0_public(keys[HSM_KEY_EC_P384])) == 384);
	if (keys[HSM_KEY_RSA_3072] != NULL)
		CHECK(EVP_PKEY_get_bits(
		          hsm_key_get0_public(keys[HSM_KEY_RSA_3072])) == 3072);

	/* Found again by label and by URI, and still signing. */
	for (i = 0; i < HSM_KEY_TYPE_MAX; i++) {
		CHECK_ST(hsm_key_find(hsm, labels[i], &key), ST_OK);
		if (key != NULL) {
			CHECK(cert_sign_verify(key));
			if (keys[i] != NULL)
				CHECK(EVP_PKEY_eq(hsm_key_get0_public(key),
				          hsm_key_get0_public(keys[i])) == 1);
		}
		hsm_key_free(key);
		key = NULL;
	}
	CHECK_ST(hsm_key_find_uri(
	             hsm, "pkcs11:token=" TOKEN ";object=key-p256", &key),
	    ST_OK);
	CHECK(key != NULL && cert_sign_verify(key));
	hsm_key_free(key);
	key = NULL;
	CHECK_ST(hsm_key_find_uri(
	             hsm, "pkcs11:object=key%20p384;type=private", &key),
	    ST_OK);
	CHECK(key != NULL && sign_verify(key, EVP_sha384()));
	hsm_key_free(key);
	key = NULL;
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s", TOKEN,
	    labels[HSM_KEY_RSA_3072]);
	CHECK_ST(hsm_key_find_uri(hsm, uri, &key), ST_OK);
	CHECK(key != NULL && sign_verify(key, EVP_sha256()));
	hsm_key_free(key);
	key = NULL;

	key = (struct hsm_key *)1;
	CHECK_ST(
	    hsm_key_find_uri(hsm, "pkcs11:token=other;object=key-p256", &key),
	    ST_NOTFOUND);
	CHECK(key == NULL);
	CHECK_DETAIL("other");
	CHECK_ST(
	    hsm_key_find_uri(hsm, "pkcs11:token=" TOKEN, &key), ST_MALFORMED);
	CHECK_ST(hsm_key_find(hsm, "no-such-key", &key), ST_NOTFOUND);
	CHECK(key == NULL);
	CHECK_DETAIL("no-such-key");
	CHECK_ST(hsm_key_find(hsm, "", &key), ST_MALFORMED);
	CHECK_ST(hsm_key_generate(hsm, labels[0], HSM_KEY_EC_P256, &key),
	    ST_CONFLICT);
	CHECK(key == NULL);
	CHECK_DETAIL(labels[0]);
	CHECK_ST(hsm_key_generate(hsm, "bad-type", HSM_KEY_TYPE_MAX, &key),
	    ST_MALFORMED);

	/* Two threads signing with one key at once: all must verify. */
	if (keys[HSM_KEY_EC_P256] != NULL) {
		for (i = 0; i < 2; i++) {
			w[i].key = keys[HSM_KEY_EC_P256];
			w[i].rounds = 200;
			w[i].good = 0;
			CHECK(pthread_create(&th[i], NULL, worker_run, &w[i]) ==
			    0);
		}
		for (i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			CHECK(w[i].good == w[i].rounds);
		}
	}

	/*
	 * A second hsm on the same token in this process shares the login;
	 * a wrong PIN is still refused, and neither opening nor closing the
	 * second one may log the first out.
	 */
	CHECK_ST(hsm_open(module, TOKEN, "4321", &second), ST_UNAUTHENTICATED);
	CHECK(second == NULL);
	CHECK_DETAIL("wrong PIN");
	CHECK_ST(hsm_open(module, TOKEN, PIN, &second), ST_OK);
	CHECK_ST(hsm_key_find(second, labels[0], &key), ST_OK);
	CHECK(key != NULL && sign_verify(key, EVP_sha256()));
	hsm_key_free(key);
	key = NULL;
	hsm_close(second);
	CHECK_ST(hsm_ping(hsm), ST_OK);
	CHECK(keys[0] != NULL && sign_verify(keys[0], EVP_sha256()));
	CHECK_ST(hsm_token_init(module, TOKEN, "so-" PIN, PIN), ST_CONFLICT);
	CHECK_ST(hsm_ping(hsm), ST_OK);

	for (i = 0; i < HSM_KEY_TYPE_MAX; i++)
		hsm_key_free(keys[i]);
	hsm_key_free(NULL);
	hsm_close(hsm);
	hsm_close(NULL);
}

/* A token that goes away under an open hsm: ping says so. */
static void
test_ping_gone(const char *module)
{
	struct hsm *hsm = NULL;
	char *dir = testutil_tmpdir();

	CHECK(dir != NULL);
	if (dir == NULL)
		return;
	CHECK(testutil_softhsm(dir, "going", PIN) == 0);
	CHECK_ST(hsm_open(module, "going", PIN, &hsm), ST_OK);
	if (hsm != NULL) {
		CHECK_ST(hsm_ping(hsm), ST_OK);
		testutil_rmtree(dir);
		CHECK_ST(hsm_ping(hsm), ST_UNAVAILABLE);
		CHECK_DETAIL("going");
		hsm_close(hsm);
	}
	testutil_rmtree(dir);
	free(dir);
}

int
main(void)
{
	char *dir = testutil_tmpdir();
	const char *module = testutil_softhsm_module();

	test_uri();
	CHECK(dir != NULL);
	if (dir == NULL)
		TEST_END();
	CHECK(testutil_softhsm(dir, TOKEN, PIN) == 0);
	test_open_errors(module);
	test_keys(module);
	/* Everything is closed: the module is loaded afresh. */
	test_open_errors(module);
	testutil_rmtree(dir);
	free(dir);
	test_ping_gone(module);
	TEST_END();
}
