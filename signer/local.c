/*
 * signer/local.c: the key holder. It owns the token (one struct hsm: libp11
 * pools sessions, so several threads sign at once), the key handles by
 * label, and the reconnection after an HSM fault: a failed operation whose
 * ping fails too marks the token away; calls then answer ST_UNAVAILABLE
 * with the reason, and the token is opened again, module and all, at most
 * once a second. Every signature passes signer_purpose_check first.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/digest.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "hsm/hsm.h"
#include "signer/local.h"
#include "signer/signer_internal.h"

/* Keys held at once: the five roles and their rotations. */
#define LOCAL_KEYS_MAX 64

struct local_key {
	char *label;
	struct hsm_key *key;
};

struct local {
	struct signer base;
	struct signer_names names;
	char *labels[SIGNER_ROLE_MAX];
	char *module;
	char *token;
	char *pin;
	/* Readers use hsm and keys; the writer opens the token again. */
	pthread_rwlock_t lock;
	pthread_mutex_t keys_lock;
	struct hsm *hsm;
	struct local_key keys[LOCAL_KEYS_MAX];
	size_t key_count;
	/* The token's health (under state_lock). */
	pthread_mutex_t state_lock;
	int is_down;
	int64_t retry_at;
	char why[256];
};

static const enum hsm_key_type hsm_types[SIGNER_KEY_TYPE_MAX] = {
    [SIGNER_KEY_EC_P256] = HSM_KEY_EC_P256,
    [SIGNER_KEY_EC_P384] = HSM_KEY_EC_P384,
    [SIGNER_KEY_RSA_3072] = HSM_KEY_RSA_3072,
};

enum status
signer_token_init(const char *module, const char *token, const char *so_pin,
    const char *user_pin)
{
	return hsm_token_init(module, token, so_pin, user_pin);
}

/* Forget every key handle and the token (write lock held). */
static void
token_drop(struct local *l)
{
	size_t i;

	for (i = 0; i < l->key_count; i++) {
		hsm_key_free(l->keys[i].key);
		free(l->keys[i].label);
	}
	l->key_count = 0;
	hsm_close(l->hsm);
	l->hsm = NULL;
}

static int
is_down(struct local *l)
{
	int down;

	pthread_mutex_lock(&l->state_lock);
	down = l->is_down;
	pthread_mutex_unlock(&l->state_lock);
	return down;
}

static enum status
unavailable(struct local *l)
{
	char why[sizeof(l->why)];

	pthread_mutex_lock(&l->state_lock);
	memcpy(why, l->why, sizeof(why));
	pthread_mutex_unlock(&l->state_lock);
	return status_fail(ST_UNAVAILABLE,
	    "the HSM is unavailable (%s); certificates and tokens cannot be "
	    "signed until it is back",
	    why);
}

/*
 * ST_OK while the token is there; while it is away, open it again (at
 * most once a second: a dead HSM costs a request little).
 */
static enum status
ready(struct local *l)
{
	int64_t now = (int64_t)time(NULL);
	enum status st;
	int is_due;

	if (!is_down(l))
		return ST_OK;
	pthread_mutex_lock(&l->state_lock);
	is_due = l->is_down && now >= l->retry_at;
	if (is_due)
		l->retry_at = now + 1;
	pthread_mutex_unlock(&l->state_lock);
	if (!is_due)
		return is_down(l) ? unavailable(l) : ST_OK;
	pthread_rwlock_wrlock(&l->lock);
	/*
	 * All anew, module included: after a power cycle an HSM knows none
	 * of the old sessions (libp11's pooled ones too).
	 */
	token_drop(l);
	if ((st = hsm_open(l->module, l->token, l->pin, &l->hsm)) == ST_OK &&
	    (st = hsm_ping(l->hsm)) == ST_OK) {
		pthread_mutex_lock(&l->state_lock);
		l->is_down = 0;
		pthread_mutex_unlock(&l->state_lock);
		pthread_rwlock_unlock(&l->lock);
		log_info("the HSM is back");
		return ST_OK;
	}
	token_drop(l);
	pthread_mutex_lock(&l->state_lock);
	snprintf(l->why, sizeof(l->why), "%s", status_detail());
	pthread_mutex_unlock(&l->state_lock);
	pthread_rwlock_unlock(&l->lock);
	return unavailable(l);
}

/*
 * After work in the token failed with st (no lock held): for
 * ST_UNAVAILABLE a ping tells a failed operation (st, its detail kept)
 * from a token that went away (marked, so that ready opens it again).
 */
static enum status
failed(struct local *l, enum status st)
{
	char saved[LIMIT_AUDIT_DETAIL];
	enum status ping;

	if (st != ST_UNAVAILABLE)
		return st;
	snprintf(saved, sizeof(saved), "%s", status_detail());
	pthread_rwlock_rdlock(&l->lock);
	ping = l->hsm != NULL ? hsm_ping(l->hsm) : ST_UNAVAILABLE;
	pthread_rwlock_unlock(&l->lock);
	if (ping == ST_OK)
		return status_fail(st, "%s", saved);
	pthread_mutex_lock(&l->state_lock);
	if (!l->is_down) {
		l->is_down = 1;
		l->retry_at = 0;
		snprintf(l->why, sizeof(l->why), "%s", status_detail());
		log_error("the HSM is unavailable: %s", l->why);
	}
	pthread_mutex_unlock(&l->state_lock);
	return unavailable(l);
}

/*
 * The token's handle of the key labelled label (read lock held): found
 * once, kept until the token is opened again.
 */
static enum status
handle_get(struct local *l, const char *label, struct hsm_key **out)
{
	struct hsm_key *k = NULL;
	enum status st = ST_OK;
	size_t i;

	*out = NULL;
	if (l->hsm == NULL)
		return status_fail(ST_UNAVAILABLE, "the token is not open");
	pthread_mutex_lock(&l->keys_lock);
	for (i = 0; i < l->key_count; i++)
		if (strcmp(l->keys[i].label, label) == 0) {
			*out = l->keys[i].key;
			goto out;
		}
	if (l->key_count == LOCAL_KEYS_MAX) {
		st = status_fail(
		    ST_LIMIT, "more than %d keys in use", LOCAL_KEYS_MAX);
		goto out;
	}
	if ((st = hsm_key_find(l->hsm, label, &k)) != ST_OK)
		goto out;
	if ((l->keys[l->key_count].label = strdup(label)) == NULL) {
		hsm_key_free(k);
		st = ST_NOMEM;
		goto out;
	}
	l->keys[l->key_count++].key = k;
	*out = k;
out:
	pthread_mutex_unlock(&l->keys_lock);
	return st;
}

/* A handle for the caller: label, role (ours to decide), public key. */
static enum status
key_make(struct local *l, struct hsm_key *k, struct signer_key **out)
{
	EVP_PKEY *pub = hsm_key_get0_public(k);

	if (pub == NULL || !EVP_PKEY_up_ref(pub))
		return status_fail(
		    ST_INTERNAL, "key %s: no public key", hsm_key_label(k));
	*out = signer_key_new(&l->base, hsm_key_label(k),
	    signer_role_of(&l->names, hsm_key_label(k)), pub);
	return *out != NULL ? ST_OK : ST_NOMEM;
}

static enum status
local_key_find(struct signer *s, const char *uri, struct signer_key **out)
{
	struct local *l = (struct local *)s;
	struct hsm_key *k = NULL, *held;
	enum status st;

	if ((st = ready(l)) != ST_OK)
		return st;
	pthread_rwlock_rdlock(&l->lock);
	if (l->hsm == NULL)
		st = status_fail(ST_UNAVAILABLE, "the token is not open");
	else if ((st = strncasecmp(uri, "pkcs11:", 7) == 0
	                 ? hsm_key_find_uri(l->hsm, uri, &k)
	                 : hsm_key_find(l->hsm, uri, &k)) == ST_OK &&
	    (st = handle_get(l, hsm_key_label(k), &held)) == ST_OK)
		st = key_make(l, held, out);
	pthread_rwlock_unlock(&l->lock);
	hsm_key_free(k);
	return failed(l, st);
}

static enum status
local_key_generate(struct signer *s, const char *label,
    enum signer_key_type type, struct signer_key **out)
{
	struct local *l = (struct local *)s;
	struct hsm_key *k = NULL, *held;
	enum status st;

	if ((st = signer_generate_check(&l->names, label)) != ST_OK) {
		log_warn(
		    "signer: refused to generate a key: %s", status_detail());
		return st;
	}
	if ((st = ready(l)) != ST_OK)
		return st;
	pthread_rwlock_rdlock(&l->lock);
	if (l->hsm == NULL)
		st = status_fail(ST_UNAVAILABLE, "the token is not open");
	else if ((st = hsm_key_generate(l->hsm, label, hsm_types[type], &k)) ==
	        ST_OK &&
	    (st = handle_get(l, label, &held)) == ST_OK)
		st = key_make(l, held, out);
	pthread_rwlock_unlock(&l->lock);
	hsm_key_free(k);
	return failed(l, st);
}

/*
 * The digest for md_nid: SHA-256 and SHA-384 as fetched once for the
 * process (common/digest), for EVP_get_digestbynid's would be looked up
 * again by OpenSSL 3 on every signature, under its global lock.
 */
static const EVP_MD *
md_of(int md_nid)
{
	if (md_nid == NID_sha256)
		return digest_md(DIGEST_SHA256);
	if (md_nid == NID_sha384)
		return digest_md(DIGEST_SHA384);
	return EVP_get_digestbynid(md_nid);
}

static enum status
local_sign(struct signer *s, const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    uint8_t **sig, size_t *sig_len)
{
	struct local *l = (struct local *)s;
	struct hsm_key *k = NULL;
	enum status st;

	if ((st = signer_purpose_check(
	         &l->names, purpose, key, md_nid, tbs, tbs_len)) != ST_OK)
		return st;
	if ((st = ready(l)) != ST_OK)
		return st;
	pthread_rwlock_rdlock(&l->lock);
	if ((st = handle_get(l, key->label, &k)) == ST_OK)
		st = hsm_key_sign(k, md_of(md_nid), tbs, tbs_len, sig, sig_len);
	pthread_rwlock_unlock(&l->lock);
	if (st == ST_NOTFOUND)
		st = status_fail(ST_UNAVAILABLE,
		    "the key %s is not in the token", key->label);
	return failed(l, st);
}

static enum status
local_ping(struct signer *s)
{
	struct local *l = (struct local *)s;
	enum status st;

	if ((st = ready(l)) != ST_OK)
		return st;
	pthread_rwlock_rdlock(&l->lock);
	st = l->hsm != NULL ? hsm_ping(l->hsm) : ST_UNAVAILABLE;
	pthread_rwlock_unlock(&l->lock);
	if (st != ST_OK)
		st = status_fail(ST_UNAVAILABLE, "%s", status_detail());
	return failed(l, st);
}

static void
local_close(struct signer *s)
{
	struct local *l = (struct local *)s;
	int i;

	token_drop(l);
	for (i = 0; i < SIGNER_ROLE_MAX; i++)
		free(l->labels[i]);
	X509_free(l->names.root);
	X509_free(l->names.issuing);
	X509_free(l->names.retiring);
	secret_free(l->pin);
	free(l->module);
	free(l->token);
	pthread_rwlock_destroy(&l->lock);
	pthread_mutex_destroy(&l->keys_lock);
	pthread_mutex_destroy(&l->state_lock);
	free(l);
}

static const struct signer_ops local_ops = {
    .key_find = local_key_find,
    .key_generate = local_key_generate,
    .sign = local_sign,
    .ping = local_ping,
    .close = local_close,
};

enum status
signer_local_open(const struct signer_local_config *cfg, struct signer **out)
{
	struct local *l;
	struct timespec delay;
	char *token = NULL;
	enum status st = ST_NOMEM;
	int i, tries;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return ST_NOMEM;
	l->base.ops = &local_ops;
	pthread_rwlock_init(&l->lock, NULL);
	pthread_mutex_init(&l->keys_lock, NULL);
	pthread_mutex_init(&l->state_lock, NULL);
	if ((l->module = strdup(cfg->module)) == NULL ||
	    (l->token = strdup(cfg->token)) == NULL)
		goto out;
	if (cfg->pin != NULL &&
	    (st = secret_dup(cfg->pin, LIMIT_PIN_LEN, &l->pin)) != ST_OK)
		goto out;
	for (i = 0; i < SIGNER_ROLE_MAX; i++) {
		if (cfg->key_uri[i] == NULL)
			continue;
		if ((st = hsm_uri_parse(
		         cfg->key_uri[i], &token, &l->labels[i])) != ST_OK)
			goto out;
		free(token);
		token = NULL;
		l->names.label[i] = l->labels[i];
	}
	if (cfg->root != NULL && X509_up_ref(cfg->root))
		l->names.root = cfg->root;
	if (cfg->issuing != NULL && X509_up_ref(cfg->issuing))
		l->names.issuing = cfg->issuing;
	if (cfg->retiring != NULL && X509_up_ref(cfg->retiring))
		l->names.retiring = cfg->retiring;
	l->names.is_setup = cfg->is_setup;
	/*
	 * SoftHSMv2 reads its token files without waiting for another process
	 * that reads them at the same moment: a transient "General Error" or
	 * a missing token. Try a few times; a wrong PIN (ST_UNAUTHENTICATED)
	 * is never retried, it could lock the token.
	 */
	for (tries = 0;; tries++) {
		st = hsm_open(l->module, l->token, l->pin, &l->hsm);
		if (st != ST_UNAVAILABLE || tries >= cfg->open_tries - 1)
			break;
		log_warn("token not ready (%s); trying again", status_detail());
		delay.tv_sec = 0;
		delay.tv_nsec = (50L << tries) * 1000000L;
		nanosleep(&delay, NULL);
	}
	if (st != ST_OK)
		goto out;
	*out = &l->base;
	l = NULL;
out:
	if (l != NULL)
		local_close(&l->base);
	return st;
}
