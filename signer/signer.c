/*
 * signer: the interface's dispatch, key handles, and the DER both sides
 * share (the signature's AlgorithmIdentifier, the signed object around a
 * TBS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/limits.h"
#include "common/metrics.h"
#include "signer/signer_internal.h"

static const char *const purpose_names[SIGNER_PURPOSE_MAX] = {
    [SIGNER_PURPOSE_DEVICE_CERT] = "device-cert",
    [SIGNER_PURPOSE_SERVICE_CERT] = "service-cert",
    [SIGNER_PURPOSE_CA_CERT] = "ca-cert",
    [SIGNER_PURPOSE_CRL] = "crl",
    [SIGNER_PURPOSE_OCSP] = "ocsp",
    [SIGNER_PURPOSE_TOKEN] = "token",
    [SIGNER_PURPOSE_AUDIT] = "audit-checkpoint",
    [SIGNER_PURPOSE_CA_CSR] = "ca-csr",
};

static const char *const role_names[SIGNER_ROLE_MAX] = {
    [SIGNER_ROLE_NONE] = "none",
    [SIGNER_ROLE_ROOT] = "root",
    [SIGNER_ROLE_ISSUING] = "issuing",
    [SIGNER_ROLE_OCSP] = "ocsp",
    [SIGNER_ROLE_TOKEN] = "token",
    [SIGNER_ROLE_AUDIT] = "audit",
    [SIGNER_ROLE_RETIRING] = "retiring issuing",
};

const char *
signer_purpose_name(enum signer_purpose purpose)
{
	if ((unsigned)purpose >= SIGNER_PURPOSE_MAX)
		return "unknown";
	return purpose_names[purpose];
}

const char *
signer_role_name(enum signer_role role)
{
	if ((unsigned)role >= SIGNER_ROLE_MAX)
		return "unknown";
	return role_names[role];
}

void
signer_close(struct signer *s)
{
	if (s != NULL)
		s->ops->close(s);
}

enum status
signer_key_find(struct signer *s, const char *uri, struct signer_key **out)
{
	*out = NULL;
	if (uri == NULL || uri[0] == '\0')
		return status_fail(ST_NOTFOUND, "no key named");
	return s->ops->key_find(s, uri, out);
}

enum status
signer_key_generate(struct signer *s, const char *label,
    enum signer_key_type type, struct signer_key **out)
{
	*out = NULL;
	if ((unsigned)type >= SIGNER_KEY_TYPE_MAX)
		return status_fail(ST_MALFORMED, "key type %d", (int)type);
	return s->ops->key_generate(s, label, type, out);
}

/* SHA-1 of pub's subjectPublicKey BIT STRING. */
static enum status
pub_sha1(EVP_PKEY *pub, uint8_t out[20])
{
	X509_PUBKEY *xpk = NULL;
	const unsigned char *pk;
	int pk_len;
	enum status st;

	if (pub == NULL)
		return ST_INTERNAL;
	if (!X509_PUBKEY_set(&xpk, pub) ||
	    !X509_PUBKEY_get0_param(NULL, &pk, &pk_len, NULL, xpk)) {
		X509_PUBKEY_free(xpk);
		return status_fail_ssl(ST_INTERNAL, "the key's public bits");
	}
	st = digest_buf(DIGEST_SHA1, pk, (size_t)pk_len, out, NULL);
	X509_PUBKEY_free(xpk);
	return st;
}

struct signer_key *
signer_key_new(
    struct signer *s, const char *label, enum signer_role role, EVP_PKEY *pub)
{
	struct signer_key *k;

	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->label = strdup(label)) == NULL) {
		free(k);
		EVP_PKEY_free(pub);
		return NULL;
	}
	k->s = s;
	k->role = role;
	k->pub = pub;
	k->has_pub_sha1 = pub_sha1(pub, k->pub_sha1) == ST_OK;
	return k;
}

void
signer_key_free(struct signer_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pub);
	free(key->label);
	free(key);
}

EVP_PKEY *
signer_key_get0_public(const struct signer_key *key)
{
	return key->pub;
}

const char *
signer_key_label(const struct signer_key *key)
{
	return key->label;
}

enum signer_role
signer_key_role(const struct signer_key *key)
{
	return key->role;
}

int
signer_md_ok(const struct signer_key *key, int md_nid)
{
	/* Ed25519 hashes inside the signature (RFC 8032): no digest. */
	if (EVP_PKEY_get_base_id(key->pub) == EVP_PKEY_ED25519)
		return md_nid == NID_undef;
	return md_nid == NID_sha256 || md_nid == NID_sha384 ||
	    md_nid == NID_sha512;
}

/* The pool's label for each purpose. */
static const enum metrics_sign metrics_purpose[SIGNER_PURPOSE_MAX] = {
    [SIGNER_PURPOSE_DEVICE_CERT] = METRICS_SIGN_DEVICE_CERT,
    [SIGNER_PURPOSE_SERVICE_CERT] = METRICS_SIGN_SERVICE_CERT,
    [SIGNER_PURPOSE_CA_CERT] = METRICS_SIGN_CA_CERT,
    [SIGNER_PURPOSE_CRL] = METRICS_SIGN_CRL,
    [SIGNER_PURPOSE_OCSP] = METRICS_SIGN_OCSP,
    [SIGNER_PURPOSE_TOKEN] = METRICS_SIGN_TOKEN,
    [SIGNER_PURPOSE_AUDIT] = METRICS_SIGN_AUDIT,
    [SIGNER_PURPOSE_CA_CSR] = METRICS_SIGN_CA_CSR,
};

/* signer_sign's checks of the caller's arguments. */
static enum status
sign_args_check(const struct signer_key *key, enum signer_purpose purpose,
    int md_nid, size_t tbs_len)
{
	if ((unsigned)purpose >= SIGNER_PURPOSE_MAX)
		return status_fail(ST_MALFORMED, "purpose %d", (int)purpose);
	if (!signer_md_ok(key, md_nid))
		return status_fail(ST_MALFORMED,
		    "digest %d does not go with key %s", md_nid, key->label);
	if (tbs_len == 0 || tbs_len > LIMIT_SIGNER_TBS)
		return status_fail(ST_LIMIT, "%zu bytes to sign (at most %d)",
		    tbs_len, LIMIT_SIGNER_TBS);
	return ST_OK;
}

enum status
signer_sign(const struct signer_key *key, enum signer_purpose purpose,
    int md_nid, const uint8_t *tbs, size_t tbs_len, uint8_t **sig,
    size_t *sig_len)
{
	int64_t start;
	enum status st;

	*sig = NULL;
	*sig_len = 0;
	if ((st = sign_args_check(key, purpose, md_nid, tbs_len)) != ST_OK)
		return st;
	start = metrics_now_ns();
	st = key->s->ops->sign(
	    key->s, key, purpose, md_nid, tbs, tbs_len, sig, sig_len);
	if (st == ST_OK)
		metrics_sign_observe(
		    __atomic_load_n(&key->s->metrics, __ATOMIC_RELAXED),
		    metrics_purpose[purpose], metrics_now_ns() - start);
	return st;
}

/* signer_sign_start, and with is_nowait its variant that never waits. */
static enum status
sign_start(const struct signer_key *key, enum signer_purpose purpose,
    int md_nid, const uint8_t *tbs, size_t tbs_len, int is_nowait,
    struct signer_pending **out)
{
	struct signer *s = key->s;
	struct signer_pending *p;
	enum status st;

	*out = NULL;
	if ((st = sign_args_check(key, purpose, md_nid, tbs_len)) != ST_OK)
		return st;
	if (is_nowait && s->ops->sign_start == NULL)
		return status_fail(
		    ST_UNAVAILABLE, "this signer signs in the caller's thread");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ST_NOMEM;
	p->s = s;
	p->key = key;
	p->purpose = purpose;
	p->start_ns = metrics_now_ns();
	if (s->ops->sign_start != NULL) {
		if ((st = s->ops->sign_start(
		         s, p, md_nid, tbs, tbs_len, is_nowait)) != ST_OK) {
			free(p);
			return st;
		}
	} else {
		/* Signed now; the answer, a refusal's detail too, waits. */
		p->st = s->ops->sign(s, key, purpose, md_nid, tbs, tbs_len,
		    &p->sig, &p->sig_len);
		if (p->st != ST_OK)
			snprintf(p->detail, sizeof(p->detail), "%s",
			    status_detail());
	}
	*out = p;
	return ST_OK;
}

enum status
signer_sign_start(const struct signer_key *key, enum signer_purpose purpose,
    int md_nid, const uint8_t *tbs, size_t tbs_len, struct signer_pending **out)
{
	return sign_start(key, purpose, md_nid, tbs, tbs_len, 0, out);
}

enum status
signer_sign_start_nowait(const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    struct signer_pending **out)
{
	return sign_start(key, purpose, md_nid, tbs, tbs_len, 1, out);
}

int
signer_pending_fd(const struct signer_pending *p)
{
	return p->s->ops->pending_fd != NULL ? p->s->ops->pending_fd(p) : -1;
}

enum status
signer_sign_finish(struct signer_pending *p, uint8_t **sig, size_t *sig_len)
{
	struct signer *s = p->s;
	enum status st;

	*sig = NULL;
	*sig_len = 0;
	if (s->ops->sign_start != NULL)
		st = s->ops->sign_finish(s, p, sig, sig_len);
	else if ((st = p->st) == ST_OK) {
		*sig = p->sig;
		*sig_len = p->sig_len;
		p->sig = NULL;
	} else
		status_fail(st, "%s", p->detail);
	if (st == ST_OK)
		metrics_sign_observe(
		    __atomic_load_n(&s->metrics, __ATOMIC_RELAXED),
		    metrics_purpose[p->purpose],
		    metrics_now_ns() - p->start_ns);
	OPENSSL_free(p->sig);
	free(p);
	return st;
}

void
signer_set_metrics(struct signer *s, struct metrics *m)
{
	if (s != NULL)
		__atomic_store_n(&s->metrics, m, __ATOMIC_RELAXED);
}

enum status
signer_ping(struct signer *s)
{
	return s->ops->ping(s);
}

enum status
signer_sigalg_der(
    const struct signer_key *key, int md_nid, uint8_t **der, size_t *der_len)
{
	uint8_t alg[DIGEST_SIGALG_DER_MAX];
	char why[256];
	int base = EVP_PKEY_get_base_id(key->pub);
	enum status st;

	*der = NULL;
	*der_len = 0;
	/* Ed25519 is its own signature algorithm: no digest goes with it. */
	if ((st = digest_sigalg_der(base,
	         base == EVP_PKEY_ED25519 ? NID_undef : md_nid, alg,
	         sizeof(alg), der_len)) != ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		return status_fail(st, "key %s: %s", key->label, why);
	}
	if ((*der = OPENSSL_memdup(alg, *der_len)) == NULL) {
		*der_len = 0;
		return ST_NOMEM;
	}
	return ST_OK;
}

enum status
signer_signed_der(const uint8_t *tbs, size_t tbs_len, const uint8_t *alg,
    size_t alg_len, const uint8_t *sig, size_t sig_len, const uint8_t *tail,
    size_t tail_len, uint8_t **out, size_t *out_len)
{
	static const uint8_t no_unused_bits = 0x00;
	struct buf b;
	size_t body;
	enum status st;

	*out = NULL;
	*out_len = 0;
	if (tail == NULL)
		tail_len = 0;
	if (tbs_len > LIMIT_SIGNER_TBS || sig_len > LIMIT_SIGNER_TBS ||
	    tail_len > LIMIT_SIGNER_TBS || alg_len > LIMIT_SIGNER_TBS)
		return status_fail(
		    ST_LIMIT, "signed object over %d bytes", LIMIT_SIGNED_DER);
	/* The BIT STRING's header is at most 10 bytes (X.690 §8.6). */
	buf_init(&b, LIMIT_SIGNED_DER);
	body = tbs_len + alg_len + sig_len + 1 + tail_len;
	if ((st = buf_der_head(&b, 0x03, sig_len + 1)) != ST_OK)
		goto out;
	body += b.len;
	b.len = 0;
	if ((st = buf_der_head(&b, 0x30, body)) != ST_OK ||
	    (st = buf_append(&b, tbs, tbs_len)) != ST_OK ||
	    (st = buf_append(&b, alg, alg_len)) != ST_OK ||
	    (st = buf_der_head(&b, 0x03, sig_len + 1)) != ST_OK ||
	    (st = buf_append(&b, &no_unused_bits, 1)) != ST_OK ||
	    (sig_len > 0 && (st = buf_append(&b, sig, sig_len)) != ST_OK) ||
	    (tail_len > 0 && (st = buf_append(&b, tail, tail_len)) != ST_OK))
		goto out;
	if ((*out = OPENSSL_memdup(b.data, b.len)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	*out_len = b.len;
	st = ST_OK;
out:
	buf_free(&b);
	return st;
}

enum signer_role
signer_role_of(const struct signer_names *n, const char *label)
{
	static const enum signer_role rotating[] = {
	    SIGNER_ROLE_TOKEN, SIGNER_ROLE_OCSP};
	const char *base;
	size_t i, len;
	int r;

	for (r = SIGNER_ROLE_ROOT; r < SIGNER_ROLE_MAX; r++)
		if (n->label[r] != NULL && strcmp(n->label[r], label) == 0)
			return (enum signer_role)r;
	/* A rotated key: its role's label, a dash, a suffix. */
	for (i = 0; i < sizeof(rotating) / sizeof(*rotating); i++) {
		base = n->label[rotating[i]];
		if (base == NULL)
			continue;
		len = strlen(base);
		if (strncmp(label, base, len) == 0 && label[len] == '-' &&
		    label[len + 1] != '\0')
			return rotating[i];
	}
	return SIGNER_ROLE_NONE;
}

enum status
signer_generate_check(const struct signer_names *n, const char *label)
{
	enum signer_role role = signer_role_of(n, label);

	if (n->is_setup)
		return ST_OK;
	if (role == SIGNER_ROLE_TOKEN || role == SIGNER_ROLE_OCSP)
		return ST_OK;
	return status_fail(ST_DENIED,
	    "the signer generates only token and OCSP responder keys once "
	    "set up; '%s' is a %s key",
	    label, signer_role_name(role));
}
