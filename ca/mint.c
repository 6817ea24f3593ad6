/*
 * mint: device tokens for the gateways (RFC 6749 §4.4 client credentials
 * with RFC 8705 mutual-TLS client authentication). Who may have one and
 * what it says come from the policy's "tokens" section; the signature is
 * made in the token (HSM) with the current token key; the JWKS lists the
 * keys whose tokens may still be alive. The key's handle is the minter
 * part's (struct minter, ca/mint.h), whose body only this file sees.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/issue.h"
#include "ca/mint.h"
#include "ca/pubcache.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"

/* Keys made by rotation: PREFIX-token-signing-TIME-RANDOM. */
#define ROTATED_ROLE "token-signing"
/* JWKS retention when tokens are off: the longest ttl and leeway. */
#define RETENTION_DEFAULT (3600 + 600)

/* The part's fields (ca/mint.h). */
struct minter {
	pthread_mutex_t mu;
	int has_mu;
	/* [mu] The signing key's handle, cached by its label, and kid. */
	struct signer_key *key;
	char kid[TOKEN_THUMBPRINT_LEN + 1];
	/* [mu] Handles replaced while mints may still sign with them. */
	struct signer_key **retired;
	size_t retired_count;
	size_t retired_cap;
	int maintain_due; /* atomic: retired handles wait */
};

/*
 * Retire key (a handle just replaced; NULL: nothing): freed by
 * minter_maintain or at close, when no mint can use it any more. The
 * caller holds m->mu. ST_NOMEM leaves key with the caller.
 */
static enum status
key_retire(struct minter *m, struct signer_key *key)
{
	struct signer_key **grown;
	size_t cap;

	if (key == NULL)
		return ST_OK;
	if (m->retired_count == m->retired_cap) {
		cap = m->retired_cap == 0 ? 4 : m->retired_cap * 2;
		if ((grown = realloc(m->retired, cap * sizeof(*grown))) == NULL)
			return ST_NOMEM;
		m->retired = grown;
		m->retired_cap = cap;
	}
	m->retired[m->retired_count++] = key;
	__atomic_store_n(&m->maintain_due, 1, __ATOMIC_RELEASE);
	return ST_OK;
}

int
minter_maintain_due(struct minter *m)
{
	return m != NULL && __atomic_load_n(&m->maintain_due, __ATOMIC_ACQUIRE);
}

void
minter_maintain(struct minter *m)
{
	size_t i;

	if (m == NULL)
		return;
	__atomic_store_n(&m->maintain_due, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->retired_count; i++)
		signer_key_free(m->retired[i]);
	m->retired_count = 0;
	pthread_mutex_unlock(&m->mu);
}

/* The current key's label and kid, from the store. */
struct current {
	char label[LIMIT_LABEL_LEN + 1];
	char kid[TOKEN_THUMBPRINT_LEN + 1];
	int found;
};

static int
current_row(const struct store_token_key *k, void *arg)
{
	struct current *c = arg;

	if (k->retired != 0)
		return 0;
	snprintf(c->label, sizeof(c->label), "%s", k->label);
	snprintf(c->kid, sizeof(c->kid), "%s", k->kid);
	c->found = 1;
	return 1;
}

static enum status
current_get(struct authority *a, struct current *c)
{
	memset(c, 0, sizeof(*c));
	/* Keys retired after the end of time: only the current one. */
	return store_token_keys(a->store, INT64_MAX, current_row, c);
}

struct key_add_job {
	const char *label;
	const char *kid;
	const char *jwk;
	int64_t now;
	const char *actor; /* NULL: not audited (first registration) */
};

static enum status
key_add_commit(struct store_txn *txn, void *arg)
{
	const struct key_add_job *job = arg;
	char detail[LIMIT_LABEL_LEN + TOKEN_THUMBPRINT_LEN + 32];
	enum status st;

	if ((st = store_txn_token_key_add(
	         txn, job->label, job->kid, job->jwk, job->now)) != ST_OK ||
	    job->actor == NULL)
		return st;
	snprintf(
	    detail, sizeof(detail), "label=%s kid=%s", job->label, job->kid);
	return audit_append(
	    txn, job->now, job->actor, "rotate", "token-key", detail);
}

/* Record key (labelled in the token) as the signing key from now. */
static enum status
key_record(struct authority *a, const struct signer_key *key, const char *actor,
    char kid[TOKEN_THUMBPRINT_LEN + 1])
{
	struct key_add_job job;
	char *jwk = NULL;
	enum status st;

	if ((st = token_jwk(signer_key_get0_public(key), &jwk, kid)) != ST_OK)
		return st;
	job.label = signer_key_label(key);
	job.kid = kid;
	job.jwk = jwk;
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	st = store_write(a->store, key_add_commit, &job);
	free(jwk);
	return st;
}

enum status
minter_open(struct authority *a, struct minter **out)
{
	struct signer_key *key = NULL;
	struct minter *m = NULL;
	struct current c;
	enum status st;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ST_NOMEM;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return ST_NOMEM;
	}
	m->has_mu = 1;
	if ((st = current_get(a, &c)) != ST_OK)
		goto out;
	if (!c.found) {
		if (a->cfg->key_token == NULL) {
			st = status_fail(ST_NOTFOUND,
			    "tessera.json names no token-signing key");
			goto out;
		}
		if ((st = signer_key_find(
		         a->signer, a->cfg->key_token, &key)) != ST_OK)
			goto out;
		if ((st = key_record(a, key, NULL, m->kid)) != ST_OK) {
			signer_key_free(key);
			goto out;
		}
		m->key = key;
	}
	*out = m;
	m = NULL;
	st = ST_OK;
out:
	minter_free(m);
	return st;
}

void
minter_free(struct minter *m)
{
	if (m == NULL)
		return;
	minter_maintain(m);
	free(m->retired);
	signer_key_free(m->key);
	if (m->has_mu)
		pthread_mutex_destroy(&m->mu);
	free(m);
}

/*
 * The key that signs now: the store says which (another process may have
 * rotated); the handle is cached until the label changes, and the one it
 * replaces retired (a concurrent mint may still sign with it). kid gets
 * the key's thumbprint.
 */
static enum status
current_key(struct authority *a, const struct signer_key **key,
    char kid[TOKEN_THUMBPRINT_LEN + 1])
{
	struct minter *m = a->minter;
	struct signer_key *k = NULL;
	struct current c;
	int is_stale;
	enum status st;

	*key = NULL;
	if ((st = current_get(a, &c)) != ST_OK)
		return st;
	if (!c.found)
		return status_fail(ST_UNAVAILABLE, "no token-signing key");
	pthread_mutex_lock(&m->mu);
	is_stale =
	    m->key == NULL || strcmp(signer_key_label(m->key), c.label) != 0;
	pthread_mutex_unlock(&m->mu);
	/* The look-up runs unlocked: two may race, and both win. */
	if (is_stale && (st = signer_key_find(a->signer, c.label, &k)) != ST_OK)
		return st == ST_NOTFOUND
		    ? status_fail(ST_UNAVAILABLE,
		          "the token-signing key %s is not in the token",
		          c.label)
		    : st;
	pthread_mutex_lock(&m->mu);
	if (k != NULL) {
		if ((st = key_retire(m, m->key)) != ST_OK) {
			pthread_mutex_unlock(&m->mu);
			signer_key_free(k);
			return st;
		}
		m->key = k;
	}
	snprintf(m->kid, sizeof(m->kid), "%s", c.kid);
	*key = m->key;
	snprintf(kid, TOKEN_THUMBPRINT_LEN + 1, "%s", m->kid);
	pthread_mutex_unlock(&m->mu);
	return ST_OK;
}

/* The claims of a token for who; NULL when out of memory. */
static json_t *
claims_build(const struct authority *a, const struct principal *who,
    const struct policy_token_profile *tp, const char *audience, int64_t now,
    int64_t exp, const char *jti, const char *x5t)
{
	const char *key;
	json_t *c, *v;

	c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:{s:s}}",
	    "iss", a->cfg->url, "sub", who->id, "aud", audience, "iat",
	    (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)exp,
	    "jti", jti, "client_id", who->id, "cnf", "x5t#S256", x5t);
	if (c == NULL || tp->claims == NULL)
		return c;
	json_object_foreach(tp->claims, key, v)
	{
		if (json_object_set_new(c, key, json_deep_copy(v)) != 0) {
			json_decref(c);
			return NULL;
		}
	}
	return c;
}

struct mint_job {
	struct authority *a;
	const char *device_id;
	const char *actor;
	const char *detail;
	int64_t now;
};

static enum status
mint_commit(struct store_txn *txn, void *arg)
{
	const struct mint_job *job = arg;
	enum status st;

	/* As for issuance: a device revoked meanwhile gets nothing, and
	 * nothing is vouched for under a revoked issuing CA. */
	if ((st = issuing_ca_check_in_txn(job->a, txn)) != ST_OK ||
	    (st = device_unblocked_in_txn(txn, job->device_id)) != ST_OK)
		return st;
	return audit_append(
	    txn, job->now, job->actor, "token", job->device_id, job->detail);
}

/* Who may have a token, for which audience: ST_OK or why not. */
static enum status
mint_check(struct authority *a, const struct principal *who,
    const char *audience, const struct policy_token_profile **tp)
{
	const struct policy_tokens *t = policy_tokens(a->policy);
	char q[96];
	size_t i;

	*tp = NULL;
	if (who->kind != PRINCIPAL_CERT || who->cert == NULL)
		return status_fail(ST_UNAUTHENTICATED,
		    "a device token needs the device's tessera certificate "
		    "as the TLS client certificate");
	if (who->is_expired)
		return status_fail(ST_DENIED,
		    "certificate %s has expired; renew it (simplereenroll) "
		    "first",
		    who->serial);
	if ((*tp = policy_token_profile(a->policy, who->profile)) == NULL)
		return status_fail(ST_DENIED,
		    "certificates of profile %s may not have tokens (policy "
		    "tokens.profiles)",
		    who->profile);
	for (i = 0; i < t->audience_count; i++)
		if (strcmp(t->audiences[i], audience) == 0)
			return ST_OK;
	return status_fail(ST_NOTFOUND,
	    "audience %s is not one the policy allows (tokens.audiences)",
	    log_quote(audience, q, sizeof(q)));
}

enum status
authority_token_mint(struct authority *a, const struct principal *who,
    const char *audience, struct authority_token *out)
{
	const struct policy_tokens *t = policy_tokens(a->policy);
	const struct policy_token_profile *tp;
	const struct signer_key *key = NULL;
	struct token_signing *signing = NULL;
	struct mint_job job;
	json_t *claims = NULL;
	char kid[TOKEN_THUMBPRINT_LEN + 1] = "";
	char actor[AUTHORITY_ACTOR_CAP], detail[LIMIT_AUDIT_DETAIL];
	char x5t[TOKEN_THUMBPRINT_LEN + 1], *jti = NULL, *jwt = NULL;
	char why[LIMIT_AUDIT_DETAIL];
	int64_t now = (int64_t)time(NULL), exp, not_after;
	enum status st, sign_st;

	memset(out, 0, sizeof(*out));
	if (audience == NULL)
		audience = t->audience_count > 0 ? t->audiences[0] : "";
	if ((st = mint_check(a, who, audience, &tp)) != ST_OK)
		return authority_refuse(
		    a, who, who->id[0] ? who->id : "token", st);
	/* A token never outlives the certificate it is bound to. */
	exp = now + tp->ttl_seconds;
	not_after = ca_time_unix(X509_get0_notAfter(who->cert));
	if (not_after >= 0 && not_after < exp)
		exp = not_after;
	if ((st = token_cert_thumbprint(who->cert, x5t)) != ST_OK ||
	    (st = secret_random_b64url(16, &jti)) != ST_OK)
		goto out;
	if ((claims = claims_build(a, who, tp, audience, now, exp, jti, x5t)) ==
	    NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = current_key(a, &key, kid)) != ST_OK)
		goto out;
	principal_describe(who, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "jti=%s aud=%s kid=%s exp=%lld", jti,
	    audience, kid, (long long)exp);
	job.a = a;
	job.device_id = who->id;
	job.actor = actor;
	job.detail = detail;
	job.now = now;
	/*
	 * The signer signs while the row commits: the row says all a token
	 * will say but its signature, and the token goes out only when both
	 * are done. A signature that fails after the commit leaves the row
	 * of a token nobody received: the audit may name a jti no gateway
	 * sees, never miss one handed out.
	 */
	if ((st = token_sign_start(key, kid, claims, &signing)) != ST_OK)
		goto out;
	if ((st = store_write(a->store, mint_commit, &job)) != ST_OK)
		snprintf(why, sizeof(why), "%s", status_detail());
	sign_st = token_sign_finish(signing, &jwt);
	if (st != ST_OK) {
		st = status_fail(st, "%s", why);
		if (st == ST_DENIED)
			st = authority_refuse(a, who, who->id, st);
		goto out;
	}
	if ((st = sign_st) != ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		log_warn("token %s for %s: recorded, but its signature failed: "
		         "%s",
		    jti, who->id, why);
		st = status_fail(st, "%s", why);
		goto out;
	}
	out->jwt = jwt;
	jwt = NULL;
	out->expires_in = exp - now;
	snprintf(out->audience, sizeof(out->audience), "%s", audience);
	metrics_token_count(a->metrics);
	st = ST_OK;
out:
	free(jwt);
	free(jti);
	json_decref(claims);
	return st;
}

struct jwks_build {
	json_t *keys;
	int64_t retention;
	int64_t until; /* the first retired key leaves the set then */
	enum status st;
};

static int
jwks_row(const struct store_token_key *k, void *arg)
{
	struct jwks_build *b = arg;
	json_t *jwk;

	if (k->retired > 0 && k->retired + b->retention < b->until)
		b->until = k->retired + b->retention;
	if ((jwk = json_loads(k->jwk, 0, NULL)) == NULL ||
	    json_array_append_new(b->keys, jwk) != 0) {
		b->st = status_fail(
		    ST_STORE, "token key %s: stored JWK unreadable", k->label);
		return 1;
	}
	return 0;
}

enum status
authority_jwks(struct authority *a, char **json)
{
	const struct policy_tokens *t = policy_tokens(a->policy);
	struct jwks_build b;
	json_t *set = NULL;
	int64_t retention = t->profile_count > 0
	    ? t->max_ttl_seconds + t->leeway_seconds
	    : RETENTION_DEFAULT;
	int64_t now = (int64_t)time(NULL);
	uint64_t gen;
	enum status st;

	*json = NULL;
	/* The same document until a key is added or retired, or leaves. */
	pubcache_sync(publication_cache(a), a->store, &gen);
	if (pubcache_jwks_get(publication_cache(a), now, json))
		return ST_OK;
	b.st = ST_OK;
	b.retention = retention;
	b.until = INT64_MAX;
	if ((b.keys = json_array()) == NULL)
		return ST_NOMEM;
	/*
	 * A retired key stays while a token it signed may be alive: the
	 * longest ttl and the gateways' leeway after its retirement.
	 */
	st = store_token_keys(a->store, now - retention, jwks_row, &b);
	if (st == ST_OK)
		st = b.st;
	if (st != ST_OK)
		goto out;
	if ((set = json_pack("{s:O}", "keys", b.keys)) == NULL ||
	    (*json = json_dumps(set, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	        NULL)
		st = ST_NOMEM;
	else
		pubcache_jwks_put(publication_cache(a), gen, *json, b.until);
out:
	json_decref(set);
	json_decref(b.keys);
	return st;
}

enum status
authority_jwks_memory(struct authority *a, char **json)
{
	*json = NULL;
	if (!pubcache_is_fresh(publication_cache(a), a->store) ||
	    !pubcache_jwks_get(publication_cache(a), (int64_t)time(NULL), json))
		return ST_NOTFOUND;
	return ST_OK;
}

enum status
authority_token_rotate(struct authority *a, const struct principal *who,
    char kid[TOKEN_THUMBPRINT_LEN + 1])
{
	struct signer_key *key = NULL;
	char label[LIMIT_LABEL_LEN + 1], actor[AUTHORITY_ACTOR_CAP];
	char base[LIMIT_LABEL_LEN + 1];
	int n;
	char *suffix = NULL;
	struct tm tm;
	time_t now = time(NULL);
	enum status st;

	kid[0] = '\0';
	if ((st = authorize_admin(a, who, "rotate")) != ST_OK)
		return authority_refuse(a, who, "token-key", st);
	if ((st = ca_config_key_label(
	         a->cfg, ROTATED_ROLE, base, sizeof(base))) != ST_OK)
		return st;
	/* The time for people, a random tail so that two never collide. */
	if ((st = secret_random_b64url(6, &suffix)) != ST_OK)
		return st;
	gmtime_r(&now, &tm);
	n = snprintf(label, sizeof(label), "%s-%04d%02d%02dT%02d%02d%02dZ-%s",
	    base, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, suffix);
	free(suffix);
	if (n < 0 || (size_t)n >= sizeof(label))
		return status_fail(
		    ST_LIMIT, "key label %s-TIME: too long", base);
	if ((st = signer_key_generate(
	         a->signer, label, SIGNER_KEY_EC_P256, &key)) != ST_OK)
		return st;
	principal_describe(who, actor, sizeof(actor));
	if ((st = key_record(a, key, actor, kid)) != ST_OK) {
		signer_key_free(key);
		return st;
	}
	log_info("token-signing key rotated: %s (kid %s)", label, kid);
	pthread_mutex_lock(&a->minter->mu);
	/* The store names the new key already: a failed retire only means
	 * the next mint finds it by its label. */
	if (key_retire(a->minter, a->minter->key) == ST_OK) {
		a->minter->key = key;
		key = NULL;
		snprintf(a->minter->kid, sizeof(a->minter->kid), "%s", kid);
	}
	pthread_mutex_unlock(&a->minter->mu);
	signer_key_free(key);
	return ST_OK;
}
