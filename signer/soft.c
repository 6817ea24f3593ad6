/*
 * signer/soft.c: software keys behind the signer interface (tests, tools).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "signer/signer_internal.h"
#include "signer/soft.h"

#define SOFT_KEYS_MAX 32

struct soft_key {
	char *label;
	enum signer_role role;
	EVP_PKEY *priv;
};

struct soft {
	struct signer base;
	struct signer_names names;
	pthread_mutex_t lock;
	struct soft_key keys[SOFT_KEYS_MAX];
	size_t key_count;
};

/* The key labelled label (lock held), or NULL. */
static struct soft_key *
soft_find(struct soft *s, const char *label)
{
	size_t i;

	for (i = 0; i < s->key_count; i++)
		if (strcmp(s->keys[i].label, label) == 0)
			return &s->keys[i];
	return NULL;
}

static enum status
handle(struct soft *s, const struct soft_key *k, struct signer_key **out)
{
	EVP_PKEY *pub = NULL;
	uint8_t *der = NULL;
	const uint8_t *p;
	int len;

	/* The public half only, as a token would give it. */
	if ((len = i2d_PUBKEY(k->priv, &der)) <= 0)
		return status_fail_ssl(ST_INTERNAL, "public key");
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	if (pub == NULL)
		return status_fail_ssl(ST_INTERNAL, "public key");
	*out = signer_key_new(&s->base, k->label, k->role, pub);
	return *out != NULL ? ST_OK : ST_NOMEM;
}

static enum status
soft_key_find(struct signer *base, const char *uri, struct signer_key **out)
{
	struct soft *s = (struct soft *)base;
	const char *label = uri, *obj;
	struct soft_key *k;
	enum status st;

	if ((obj = strstr(uri, "object=")) != NULL)
		label = obj + strlen("object=");
	pthread_mutex_lock(&s->lock);
	if ((k = soft_find(s, label)) == NULL)
		st = status_fail(ST_NOTFOUND, "no key '%s'", label);
	else
		st = handle(s, k, out);
	pthread_mutex_unlock(&s->lock);
	return st;
}

static enum status
soft_key_generate(struct signer *base, const char *label,
    enum signer_key_type type, struct signer_key **out)
{
	(void)base;
	(void)label;
	(void)type;
	(void)out;
	return status_fail(ST_DENIED, "a soft signer generates no keys");
}

static enum status
soft_sign(struct signer *base, const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    uint8_t **sig, size_t *sig_len)
{
	struct soft *s = (struct soft *)base;
	struct soft_key *k;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *priv = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	enum status st;

	if ((st = signer_purpose_check(
	         &s->names, purpose, key, md_nid, tbs, tbs_len)) != ST_OK)
		return st;
	pthread_mutex_lock(&s->lock);
	if ((k = soft_find(s, key->label)) != NULL && EVP_PKEY_up_ref(k->priv))
		priv = k->priv;
	pthread_mutex_unlock(&s->lock);
	if (priv == NULL)
		return status_fail(ST_NOTFOUND, "no key '%s'", key->label);
	st = ST_NOMEM;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestSignInit(ctx, NULL,
	        md_nid == NID_undef ? NULL : EVP_get_digestbynid(md_nid), NULL,
	        priv) != 1 ||
	    EVP_DigestSign(ctx, NULL, &len, tbs, tbs_len) != 1 ||
	    (buf = OPENSSL_malloc(len)) == NULL ||
	    EVP_DigestSign(ctx, buf, &len, tbs, tbs_len) != 1) {
		st = status_fail_ssl(
		    ST_UNAVAILABLE, "soft key %s: signing", key->label);
		goto out;
	}
	*sig = buf;
	*sig_len = len;
	buf = NULL;
	st = ST_OK;
out:
	OPENSSL_free(buf);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(priv);
	return st;
}

static enum status
soft_ping(struct signer *base)
{
	(void)base;
	return ST_OK;
}

static void
soft_close(struct signer *base)
{
	struct soft *s = (struct soft *)base;
	size_t i;

	for (i = 0; i < s->key_count; i++) {
		free(s->keys[i].label);
		EVP_PKEY_free(s->keys[i].priv);
	}
	X509_free(s->names.root);
	X509_free(s->names.issuing);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct signer_ops soft_ops = {
    .key_find = soft_key_find,
    .key_generate = soft_key_generate,
    .sign = soft_sign,
    .ping = soft_ping,
    .close = soft_close,
};

enum status
signer_soft_open(X509 *root, X509 *issuing, int is_setup, struct signer **out)
{
	struct soft *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ST_NOMEM;
	s->base.ops = &soft_ops;
	pthread_mutex_init(&s->lock, NULL);
	if (root != NULL && X509_up_ref(root))
		s->names.root = root;
	if (issuing != NULL && X509_up_ref(issuing))
		s->names.issuing = issuing;
	s->names.is_setup = is_setup;
	*out = &s->base;
	return ST_OK;
}

enum status
signer_soft_key_add(struct signer *base, const char *label,
    enum signer_role role, EVP_PKEY *priv, struct signer_key **out)
{
	struct soft *s = (struct soft *)base;
	struct soft_key *k;
	enum status st = ST_OK;
	char *copy;

	*out = NULL;
	if (!EVP_PKEY_up_ref(priv))
		return ST_INTERNAL;
	pthread_mutex_lock(&s->lock);
	if ((k = soft_find(s, label)) != NULL) {
		EVP_PKEY_free(k->priv);
		k->priv = priv;
		k->role = role;
	} else if (s->key_count == SOFT_KEYS_MAX) {
		EVP_PKEY_free(priv);
		st = status_fail(
		    ST_LIMIT, "more than %d soft keys", SOFT_KEYS_MAX);
	} else if ((copy = strdup(label)) == NULL) {
		EVP_PKEY_free(priv);
		st = ST_NOMEM;
	} else {
		k = &s->keys[s->key_count++];
		k->label = copy;
		k->role = role;
		k->priv = priv;
	}
	if (st == ST_OK)
		st = handle(s, k, out);
	pthread_mutex_unlock(&s->lock);
	return st;
}
