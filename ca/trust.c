/*
 * trust: who a TLS client certificate proves the client to be. The one
 * function that decides is authority_authenticate_conn (and its form
 * without a connection, authority_authenticate_cert); the anchors it
 * verifies against are the authority's trust part (struct trust, ca/
 * trust.h), whose body only this file sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/authority_internal.h"
#include "ca/certpolicy.h"
#include "ca/deviceid.h"
#include "ca/issue.h"
#include "ca/trust.h"
#include "common/file.h"
#include "common/log.h"

static X509_STORE *
store_new(void)
{
	X509_STORE *xs = X509_STORE_new();

	if (xs != NULL)
		X509_STORE_set_flags(xs, X509_V_FLAG_X509_STRICT);
	return xs;
}

/* Every certificate of a PEM file into xs (and into roots, if given). */
static enum status
load_pem_file(const char *path, X509_STORE *xs, STACK_OF(X509) * roots)
{
	BIO *bio = NULL;
	X509 *cert = NULL;
	int count = 0;
	enum status st = ST_OK;

	if ((bio = BIO_new_file(path, "r")) == NULL)
		return status_fail_ssl(ST_NOTFOUND, "%s: cannot read", path);
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_cert(xs, cert) ||
		    (roots != NULL && !sk_X509_push(roots, cert))) {
			X509_free(cert);
			st = status_fail_ssl(ST_NOMEM, "%s", path);
			goto out;
		}
		if (roots == NULL)
			X509_free(cert);
		count++;
	}
	if (count == 0)
		st = status_fail(ST_MALFORMED, "%s: no PEM certificate", path);
out:
	ERR_clear_error();
	BIO_free(bio);
	return st;
}

/*
 * The part's fields: every store and root is fixed from trust_open to
 * trust_free (see ca/trust.h).
 */
struct trust {
	X509_STORE *own; /* tessera's root and issuing CA */
	X509_STORE *maker[LIMIT_POLICY_ROLES]; /* per manufacturer */
	size_t maker_count;
	STACK_OF(X509) * maker_roots; /* the manufacturers' certificates */
};

enum status
trust_open(X509 *const *own, size_t own_count, const struct policy *policy,
    const char *policy_dir, struct trust **out)
{
	const struct policy_manufacturer *m;
	struct trust *t = NULL;
	char *path = NULL;
	size_t i;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->own = store_new()) == NULL ||
	    (t->maker_roots = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 0; i < own_count; i++)
		if (!X509_STORE_add_cert(t->own, own[i])) {
			st = status_fail_ssl(ST_INTERNAL, "trust store");
			goto out;
		}
	for (i = 0; i < policy_manufacturer_count(policy); i++) {
		m = policy_manufacturer_at(policy, i);
		st = ST_NOMEM;
		if ((t->maker[i] = store_new()) == NULL)
			goto out;
		t->maker_count = i + 1;
		path = m->trust[0] == '/' ? strdup(m->trust)
		                          : file_join(policy_dir, m->trust);
		if (path == NULL)
			goto out;
		st = load_pem_file(path, t->maker[i], t->maker_roots);
		free(path);
		if (st != ST_OK) {
			st =
			    status_fail(st, "manufacturer authenticator %s: %s",
			        m->name, status_detail());
			goto out;
		}
	}
	*out = t;
	t = NULL;
	st = ST_OK;
out:
	trust_free(t);
	return st;
}

void
trust_free(struct trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	X509_STORE_free(t->own);
	for (i = 0; i < t->maker_count; i++)
		X509_STORE_free(t->maker[i]);
	sk_X509_pop_free(t->maker_roots, X509_free);
	free(t);
}

STACK_OF(X509) * trust_maker_roots(const struct trust *t)
{
	return t->maker_roots;
}

/*
 * Verify leaf (with the rest of chain as untrusted intermediates) against
 * xs for TLS client use. no_time: skip validity (for renewal after expiry).
 * *until: the earliest notAfter of the chain it built (INT64_MAX when
 * no_time), from which the verdict must be reached again.
 */
static int
verify_chain(X509_STORE *xs, STACK_OF(X509) * chain, int no_time, int *err,
    int64_t *until)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *rest = NULL, *built;
	int64_t na;
	int i, ok = 0;

	*err = X509_V_ERR_UNSPECIFIED;
	*until = INT64_MAX;
	if (ctx == NULL || (rest = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(rest, sk_X509_value(chain, i)))
			goto out;
	if (!X509_STORE_CTX_init(ctx, xs, sk_X509_value(chain, 0), rest))
		goto out;
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (no_time)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	ok = X509_verify_cert(ctx) == 1;
	*err = X509_STORE_CTX_get_error(ctx);
	if (ok && !no_time && (built = X509_STORE_CTX_get0_chain(ctx)) != NULL)
		for (i = 0; i < sk_X509_num(built); i++) {
			na = ca_time_unix(
			    X509_get0_notAfter(sk_X509_value(built, i)));
			if (na < *until)
				*until = na < 0 ? 0 : na;
		}
out:
	sk_X509_free(rest);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* The UTF-8 value of the only attribute nid in name, into out. */
static int
name_attr(const X509_NAME *name, int nid, char *out, size_t cap)
{
	const X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int i, len;

	if ((i = X509_NAME_get_index_by_NID(name, nid, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return 0;
	e = X509_NAME_get_entry(name, i);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (len <= 0 || (size_t)len >= cap ||
	    memchr(utf8, '\0', (size_t)len) != NULL) {
		OPENSSL_free(utf8);
		return 0;
	}
	memcpy(out, utf8, (size_t)len);
	out[len] = '\0';
	OPENSSL_free(utf8);
	return 1;
}

/* A certificate tessera issued: its row decides (known, not revoked). */
static enum status
own_principal(
    struct authority *a, X509 *leaf, int is_expired, struct principal *who)
{
	const struct policy_role *role;
	const struct policy_profile *p;
	struct store_cert *row = NULL;
	unsigned char *der = NULL;
	char profile[LIMIT_LABEL_LEN + 1], q[LIMIT_NAME_LEN + 8];
	char why[256];
	enum status pst;
	int der_len;
	int64_t grace;
	enum status st;

	if ((st = ca_cert_serial_hex(leaf, who->serial)) != ST_OK)
		return st;
	if ((st = store_cert_get(a->store, who->serial, &row)) != ST_OK) {
		if (st == ST_NOTFOUND)
			st = status_fail(ST_UNAUTHENTICATED,
			    "client certificate %s is not in tessera's "
			    "store",
			    who->serial);
		return st;
	}
	der_len = i2d_X509(leaf, &der);
	if (der_len <= 0 || (size_t)der_len != row->der_len ||
	    memcmp(der, row->der, row->der_len) != 0) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "client certificate %s differs from the one issued",
		    who->serial);
		goto out;
	}
	if (row->status == STORE_CERT_REVOKED) {
		st = status_fail(
		    ST_DENIED, "client certificate %s is revoked", who->serial);
		goto out;
	}
	/* Renewed: its revocation is scheduled, and it speaks for nobody
	 * from the renewal on (its successor does). */
	if (row->supersede_at != 0) {
		st = status_fail(ST_DENIED,
		    "client certificate %s was renewed and is superseded "
		    "(revoked from %lld): use the newest certificate",
		    who->serial, (long long)row->supersede_at);
		goto out;
	}
	/*
	 * The role comes from the profile the certificate itself names (its
	 * certificatePolicies OID), never from the row alone: anyone who
	 * can write to the database could otherwise raise a device to admin.
	 * An expiry beyond the grace (of that profile) is told first: the
	 * client is not authenticated at all then.
	 */
	pst = ca_certpolicy_get(leaf, profile);
	snprintf(why, sizeof(why), "%s", status_detail());
	if (is_expired) {
		/* The grace only loosens expiry; a certificate without a
		 * profile of its own is refused just below anyway. */
		p = policy_profile_get(
		    a->policy, pst == ST_OK ? profile : row->profile);
		grace = p != NULL ? p->renew_after_expiry_seconds : 0;
		if ((int64_t)time(NULL) > row->not_after + grace) {
			st = status_fail(ST_UNAUTHENTICATED,
			    "client certificate %s expired%s", who->serial,
			    grace > 0 ? " beyond its renewal grace" : "");
			goto out;
		}
	}
	if (pst == ST_NOTFOUND) {
		st = status_fail(ST_DENIED,
		    "client certificate %s names no tessera profile "
		    "(certificatePolicies %s...): issued before tessera put "
		    "one in every certificate; issue it again",
		    who->serial, CA_POLICY_PROFILES_ARC);
		goto out;
	}
	if (pst != ST_OK) {
		st = status_fail(
		    ST_DENIED, "client certificate %s: %s", who->serial, why);
		goto out;
	}
	if (strcmp(profile, row->profile) != 0) {
		log_error("certificate %s names profile %s, its row in the "
		          "store %s: changed outside tessera? refused",
		    who->serial, profile,
		    log_quote(row->profile, q, sizeof(q)));
		st = status_fail(ST_DENIED,
		    "client certificate %s is of profile %s, but the store "
		    "says otherwise: refused (see tessera audit verify)",
		    who->serial, profile);
		goto out;
	}
	who->kind = PRINCIPAL_CERT;
	who->cert = leaf;
	who->is_expired = is_expired;
	snprintf(who->profile, sizeof(who->profile), "%s", profile);
	if (row->device_id != NULL)
		snprintf(who->id, sizeof(who->id), "%s", row->device_id);
	else if (!name_attr(X509_get_subject_name(leaf), NID_commonName,
	             who->id, sizeof(who->id)))
		snprintf(who->id, sizeof(who->id), "%s", who->serial);
	role = policy_role_for_profile(a->policy, profile);
	snprintf(who->role, sizeof(who->role), "%s", role ? role->name : "");
	st = ST_OK;
out:
	OPENSSL_free(der);
	store_cert_free(row);
	return st;
}

/* What a verified chain proved, kept for its connection. */
enum chain_verdict {
	VERDICT_OWN, /* tessera's chain, in its validity */
	VERDICT_OWN_EXPIRED, /* tessera's chain, the leaf expired */
	VERDICT_MAKER /* manufacturer maker's anchors */
};

struct authority_chain_memo {
	STACK_OF(X509) * chain; /* the chain as verified (references) */
	enum chain_verdict verdict;
	size_t maker;
	int64_t until; /* verify again from then */
};

void
authority_chain_memo_free(struct authority_chain_memo *m)
{
	if (m == NULL)
		return;
	sk_X509_pop_free(m->chain, X509_free);
	free(m);
}

/* Is chain, certificate by certificate, the one m was verified for? */
static int
memo_matches(
    const struct authority_chain_memo *m, STACK_OF(X509) * chain, int64_t now)
{
	int i;

	if (m == NULL || now >= m->until ||
	    sk_X509_num(m->chain) != sk_X509_num(chain))
		return 0;
	/* X509_cmp: the SHA-1 of each, then the DER itself. */
	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(m->chain, i),
		        sk_X509_value(chain, i)) != 0)
			return 0;
	return 1;
}

/* Keep in *memo what chain proved (a failure to keep costs only time). */
static void
memo_keep(struct authority_chain_memo **memo, STACK_OF(X509) * chain,
    enum chain_verdict verdict, size_t maker, int64_t until)
{
	struct authority_chain_memo *m;
	int i;

	if (memo == NULL)
		return;
	authority_chain_memo_free(*memo);
	*memo = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->chain = sk_X509_new_null()) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (!sk_X509_push(m->chain, sk_X509_value(chain, i)))
			goto fail;
		X509_up_ref(sk_X509_value(chain, i));
	}
	m->verdict = verdict;
	m->maker = maker;
	m->until = until;
	*memo = m;
	return;
fail:
	authority_chain_memo_free(m);
}

/* A device of manufacturer i, named by its certificate. */
static enum status
maker_principal(
    struct authority *a, size_t i, X509 *leaf, struct principal *who)
{
	const struct policy_manufacturer *m =
	    policy_manufacturer_at(a->policy, i);
	char raw[LIMIT_NAME_LEN + 1], why[LIMIT_NAME_LEN * 2];
	enum status st;

	if (!name_attr(X509_get_subject_name(leaf),
	        m->device_id == POLICY_DEVICE_ID_CN ? NID_commonName
	                                            : NID_serialNumber,
	        raw, sizeof(raw)))
		return status_fail(ST_UNAUTHENTICATED,
		    "manufacturer certificate has no single %s "
		    "attribute to name the device",
		    m->device_id == POLICY_DEVICE_ID_CN ? "CN"
		                                        : "serialNumber");
	/*
	 * The device cannot re-spell its IDevID: its id is folded to lower
	 * case, and refused when that is not canonical either.
	 */
	if ((st = ca_device_id_fold(raw, who->id, sizeof(who->id))) != ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		memset(who->id, 0, sizeof(who->id));
		return status_fail(
		    st, "manufacturer %s's certificate: %s", m->name, why);
	}
	who->kind = PRINCIPAL_MANUFACTURER;
	who->cert = leaf;
	snprintf(who->authenticator, sizeof(who->authenticator), "%s", m->name);
	return ST_OK;
}

/* Who the verdict on chain makes the client, checked now (revocation). */
static enum status
verdict_apply(struct authority *a, enum chain_verdict verdict, size_t maker,
    X509 *leaf, struct principal *who)
{
	switch (verdict) {
	case VERDICT_OWN:
		return own_principal(a, leaf, 0, who);
	case VERDICT_OWN_EXPIRED:
		return own_principal(a, leaf, 1, who);
	case VERDICT_MAKER:
		return maker_principal(a, maker, leaf, who);
	}
	return status_fail(ST_INTERNAL, "unknown chain verdict");
}

enum status
authority_authenticate_cert(struct authority *a, STACK_OF(X509) * chain,
    const char *address, struct principal *who)
{
	return authority_authenticate_conn(a, chain, address, NULL, who);
}

enum status
authority_authenticate_conn(struct authority *a, STACK_OF(X509) * chain,
    const char *address, struct authority_chain_memo **memo,
    struct principal *who)
{
	X509 *leaf;
	size_t i;
	int64_t until, now = (int64_t)time(NULL);
	int err, own_err;

	memset(who, 0, sizeof(*who));
	snprintf(
	    who->address, sizeof(who->address), "%s", address ? address : "");
	if (chain == NULL || sk_X509_num(chain) < 1)
		return status_fail(ST_UNAUTHENTICATED, "no client certificate");
	if (sk_X509_num(chain) > 8)
		return status_fail(ST_LIMIT, "client chain of %d certificates",
		    sk_X509_num(chain));
	leaf = sk_X509_value(chain, 0);
	/*
	 * The same chain on the same connection: its signatures were
	 * verified already (a P-384 verification costs more than the rest
	 * of an enrollment). Whether the certificate is still known and
	 * unrevoked is the store's to say, on every request.
	 */
	if (memo != NULL && memo_matches(*memo, chain, now))
		return verdict_apply(
		    a, (*memo)->verdict, (*memo)->maker, leaf, who);
	if (verify_chain(a->trust->own, chain, 0, &own_err, &until)) {
		memo_keep(memo, chain, VERDICT_OWN, 0, until);
		return own_principal(a, leaf, 0, who);
	}
	/* Expired: still good for renewal within the profile's grace. */
	if (own_err == X509_V_ERR_CERT_HAS_EXPIRED &&
	    verify_chain(a->trust->own, chain, 1, &err, &until)) {
		memo_keep(memo, chain, VERDICT_OWN_EXPIRED, 0, until);
		return own_principal(a, leaf, 1, who);
	}
	for (i = 0; i < a->trust->maker_count; i++) {
		if (!verify_chain(a->trust->maker[i], chain, 0, &err, &until))
			continue;
		memo_keep(memo, chain, VERDICT_MAKER, i, until);
		return maker_principal(a, i, leaf, who);
	}
	return status_fail(ST_UNAUTHENTICATED,
	    "client certificate not trusted: %s",
	    X509_verify_cert_error_string(own_err));
}
