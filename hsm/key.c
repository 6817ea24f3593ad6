/*
 * hsm/key.c: key pairs in the token, through libp11 and raw PKCS#11:
 * generation (EC through C_GenerateKeyPair, which libp11 cannot do),
 * lookup by label or RFC 7512 URI, signing, and the attribute checks.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"
#include "hsm/hsm_internal.h"

/* DER of the named-curve OIDs (RFC 5480 §2.1.1.1) for CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = {
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const CK_BYTE oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

static enum status
label_check(const char *label)
{
	size_t len;

	if (label == NULL)
		return status_fail(ST_MALFORMED, "key label missing");
	len = strnlen(label, LIMIT_LABEL_LEN + 1);
	if (len == 0)
		return status_fail(ST_MALFORMED, "key label is empty");
	if (len > LIMIT_LABEL_LEN)
		return status_fail(
		    ST_LIMIT, "key label is over %d bytes", LIMIT_LABEL_LEN);
	return ST_OK;
}

/*
 * Whether an object of class (or any class, when class is -1) labelled
 * label exists, through hsm's session: 1 yes, 0 no, -1 error (detail set).
 * On yes, *obj is its handle. hsm->lock held.
 */
static int
object_find(
    struct hsm *hsm, const char *label, long class, CK_OBJECT_HANDLE *obj)
{
	CK_FUNCTION_LIST_PTR p11 = hsm->mod->p11;
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS) class;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_CLASS, &cls, sizeof(cls)},
	};
	CK_ULONG n = 0;
	CK_RV rv;

	rv = p11->C_FindObjectsInit(hsm->session, tmpl, class < 0 ? 1 : 2);
	if (rv != CKR_OK) {
		status_fail(ST_UNAVAILABLE, "token '%s': C_FindObjectsInit: %s",
		    hsm->label, hsm_ckr_name(rv));
		return -1;
	}
	rv = p11->C_FindObjects(hsm->session, obj, 1, &n);
	p11->C_FindObjectsFinal(hsm->session);
	if (rv != CKR_OK) {
		status_fail(ST_UNAVAILABLE, "token '%s': C_FindObjects: %s",
		    hsm->label, hsm_ckr_name(rv));
		return -1;
	}
	return n > 0;
}

/* Generate the pair in the token through hsm's raw session. */
static enum status
keypair_generate(struct hsm *hsm, const char *label, enum hsm_key_type type)
{
	CK_FUNCTION_LIST_PTR p11 = hsm->mod->p11;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE id[KEY_ID_LEN];
	CK_ULONG bits = 3072;
	CK_BYTE exponent[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub_obj, priv_obj;
	CK_ULONG label_len = strlen(label);
	CK_ATTRIBUTE pub[6] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_LABEL, (void *)label, label_len},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &no, sizeof(no)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_LABEL, (void *)label, label_len},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_ULONG pub_count = 4;
	CK_RV rv;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return status_fail_ssl(ST_INTERNAL, "no random key id");
	switch (type) {
	case HSM_KEY_EC_P256:
		pub[pub_count++] = (CK_ATTRIBUTE){
		    CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
		break;
	case HSM_KEY_EC_P384:
		pub[pub_count++] = (CK_ATTRIBUTE){
		    CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)};
		break;
	case HSM_KEY_RSA_3072:
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[pub_count++] =
		    (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub[pub_count++] = (CK_ATTRIBUTE){
		    CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)};
		break;
	default:
		return status_fail(
		    ST_MALFORMED, "unknown key type %d", (int)type);
	}
	rv = p11->C_GenerateKeyPair(hsm->session, &mech, pub, pub_count, priv,
	    sizeof(priv) / sizeof(priv[0]), &pub_obj, &priv_obj);
	if (rv != CKR_OK)
		return status_fail(ST_UNAVAILABLE,
		    "token '%s': generating key "
		    "'%s': %s",
		    hsm->label, label, hsm_ckr_name(rv));
	return ST_OK;
}

static const char *
key_type_name(enum hsm_key_type type)
{
	switch (type) {
	case HSM_KEY_EC_P256:
		return "EC P-256";
	case HSM_KEY_EC_P384:
		return "EC P-384";
	case HSM_KEY_RSA_3072:
		return "RSA-3072";
	default:
		return "unknown";
	}
}

enum status
hsm_key_generate(struct hsm *hsm, const char *label, enum hsm_key_type type,
    struct hsm_key **out)
{
	CK_OBJECT_HANDLE obj;
	int found;
	enum status st;

	*out = NULL;
	if ((st = label_check(label)) != ST_OK)
		return st;
	if ((unsigned int)type >= HSM_KEY_TYPE_MAX)
		return status_fail(
		    ST_MALFORMED, "unknown key type %d", (int)type);
	pthread_mutex_lock(&hsm->lock);
	if ((found = object_find(hsm, label, -1, &obj)) != 0) {
		st = found < 0
		    ? ST_UNAVAILABLE
		    : status_fail(ST_CONFLICT,
		          "token '%s': a key labelled '%s' exists already",
		          hsm->label, label);
		pthread_mutex_unlock(&hsm->lock);
		return st;
	}
	st = keypair_generate(hsm, label, type);
	pthread_mutex_unlock(&hsm->lock);
	if (st != ST_OK)
		return st;
	log_info("hsm: generated %s key '%s' in token '%s'",
	    key_type_name(type), label, hsm->label);
	return hsm_key_find(hsm, label, out);
}

/* An ordinary (provider) EVP_PKEY holding only the public half of pkey. */
static EVP_PKEY *
public_copy(EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len;

	if ((len = i2d_PUBKEY(pkey, &der)) <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return pub;
}

enum status
hsm_key_find(struct hsm *hsm, const char *label, struct hsm_key **out)
{
	struct hsm_key *key = NULL;
	PKCS11_KEY *keys, *found = NULL;
	unsigned int count, i;
	enum status st;

	*out = NULL;
	if ((st = label_check(label)) != ST_OK)
		return st;
	if ((key = calloc(1, sizeof(*key))) == NULL ||
	    (key->label = strdup(label)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	key->hsm = hsm;
	/*
	 * libp11 reallocs its key array when an enumeration finds new keys,
	 * so PKCS11_KEY pointers are used only under the lock; the EVP_PKEYs
	 * hold their own reference on the key object.
	 */
	pthread_mutex_lock(&hsm_registry_lock);
	if (PKCS11_enumerate_keys(hsm->slot->token, &keys, &count) != 0) {
		pthread_mutex_unlock(&hsm_registry_lock);
		st = status_fail_ssl(ST_UNAVAILABLE,
		    "token '%s': cannot list "
		    "keys",
		    hsm->label);
		goto out;
	}
	for (i = 0; i < count && found == NULL; i++)
		if (keys[i].isPrivate && keys[i].label != NULL &&
		    strcmp(keys[i].label, label) == 0)
			found = &keys[i];
	if (found != NULL)
		key->priv = PKCS11_get_private_key(found);
	pthread_mutex_unlock(&hsm_registry_lock);
	if (found == NULL) {
		st = status_fail(ST_NOTFOUND,
		    "token '%s': no private key "
		    "labelled '%s'",
		    hsm->label, label);
		goto out;
	}
	if (key->priv == NULL) {
		st = status_fail_ssl(ST_UNAVAILABLE,
		    "token '%s': key '%s': "
		    "no signing handle",
		    hsm->label, label);
		goto out;
	}
	/*
	 * libp11 fills the private handle's n, e or Q from the token, so the
	 * public key comes from it (PKCS11_get_public_key leaks a key object
	 * on every call in libp11 0.4.12 under OpenSSL 3).
	 */
	key->pub = public_copy(key->priv);
	if (key->pub == NULL) {
		st = status_fail_ssl(ST_UNAVAILABLE,
		    "token '%s': key '%s': "
		    "no public key",
		    hsm->label, label);
		goto out;
	}
	*out = key;
	key = NULL;
	st = ST_OK;
out:
	hsm_key_free(key);
	return st;
}

enum status
hsm_key_find_uri(struct hsm *hsm, const char *uri, struct hsm_key **out)
{
	char *token = NULL, *object = NULL;
	enum status st;

	*out = NULL;
	if ((st = hsm_uri_parse(uri, &token, &object)) != ST_OK)
		return st;
	if (token != NULL && strcmp(token, hsm->label) != 0) {
		st = status_fail(ST_NOTFOUND,
		    "PKCS#11 URI names token '%s', "
		    "but the open token is '%s'",
		    token, hsm->label);
		goto out;
	}
	st = hsm_key_find(hsm, object, out);
out:
	free(token);
	free(object);
	return st;
}

void
hsm_key_free(struct hsm_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->priv);
	EVP_PKEY_free(key->pub);
	free(key->label);
	free(key);
}

EVP_PKEY *
hsm_key_get0_pkey(struct hsm_key *key)
{
	return key->priv;
}

EVP_PKEY *
hsm_key_get0_public(struct hsm_key *key)
{
	return key->pub;
}

const char *
hsm_key_label(const struct hsm_key *key)
{
	return key->label;
}

enum status
hsm_key_sign(struct hsm_key *key, const EVP_MD *md, const uint8_t *data,
    size_t len, uint8_t **sig, size_t *sig_len)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t buf_len = 0;
	enum status st = ST_UNAVAILABLE;

	*sig = NULL;
	*sig_len = 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return ST_NOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key->priv) != 1 ||
	    EVP_DigestSign(ctx, NULL, &buf_len, data, len) != 1) {
		status_fail_ssl(ST_UNAVAILABLE,
		    "token '%s': key '%s': cannot "
		    "start signing",
		    key->hsm->label, key->label);
		goto out;
	}
	if ((buf = OPENSSL_malloc(buf_len)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, buf, &buf_len, data, len) != 1) {
		status_fail_ssl(ST_UNAVAILABLE,
		    "token '%s': key '%s': signing "
		    "failed",
		    key->hsm->label, key->label);
		goto out;
	}
	*sig = buf;
	*sig_len = buf_len;
	buf = NULL;
	st = ST_OK;
out:
	OPENSSL_free(buf);
	EVP_MD_CTX_free(ctx);
	return st;
}

int
hsm_key_is_sensitive(struct hsm_key *key)
{
	struct hsm *hsm = key->hsm;
	CK_OBJECT_HANDLE obj;
	CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
	CK_BBOOL always = CK_FALSE, never = CK_FALSE;
	CK_ATTRIBUTE attrs[] = {
	    {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
	    {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
	    {CKA_ALWAYS_SENSITIVE, &always, sizeof(always)},
	    {CKA_NEVER_EXTRACTABLE, &never, sizeof(never)},
	};
	CK_RV rv = CKR_GENERAL_ERROR;

	pthread_mutex_lock(&hsm->lock);
	if (object_find(hsm, key->label, CKO_PRIVATE_KEY, &obj) == 1)
		rv = hsm->mod->p11->C_GetAttributeValue(
		    hsm->session, obj, attrs, sizeof(attrs) / sizeof(attrs[0]));
	pthread_mutex_unlock(&hsm->lock);
	return rv == CKR_OK && sensitive == CK_TRUE &&
	    extractable == CK_FALSE && always == CK_TRUE && never == CK_TRUE;
}
