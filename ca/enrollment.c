/*
 * enrollment: issuing a certificate for a principal, and one-time
 * enrollment secrets. Order of an issuance: profile, (secret pre-check),
 * CSR checks, authorization, channel binding, certificate from the
 * profile, signature in the token, one transaction that consumes the
 * secret, stores the row and appends the audit entry. Only then is the
 * certificate returned.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/csr.h"
#include "ca/deviceid.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"

/* Secrets are 256-bit random values; SHA-256 is enough to store them. */
#define SECRET_BYTES 32

struct issue_job {
	struct authority *a;
	const struct store_cert *row;
	const struct policy_profile *p;
	const struct principal *who;
	const char *actor;
	const char *action; /* enroll, reenroll, serverkeygen */
	const char *secret_device; /* non-NULL: consume this secret */
	const uint8_t *secret_hash;
	int64_t secret_id; /* > 0: reserved already, record the serial */
	const char *renewed; /* reenroll: the certificate it supersedes */
	int is_station; /* a role enrolling another: reprovision rule */
	int is_renewal; /* the id's first authenticator stays unknown */
};

/*
 * In the transaction that stores a certificate or a secret for device_id
 * under profile: not blocked, and the id's family and authenticator
 * bindings admit who. The decision is authorize_binding's.
 */
static enum status
device_admits_in_txn(struct store_txn *txn, const struct principal *who,
    const char *device_id, const char *profile)
{
	struct store_device_binding b;
	enum status st;

	if ((st = store_txn_device_binding_get(txn, device_id, &b)) != ST_OK)
		return st;
	if (b.is_blocked)
		return status_fail(ST_DENIED,
		    "device %s is blocked; an admin must reinstate it",
		    device_id);
	return authorize_binding(who, device_id, &b, profile);
}

enum status
device_unblocked_in_txn(struct store_txn *txn, const char *device_id)
{
	int is_blocked = 0;
	enum status st;

	if ((st = store_txn_device_is_blocked(txn, device_id, &is_blocked)) !=
	    ST_OK)
		return st;
	if (is_blocked)
		return status_fail(ST_DENIED,
		    "device %s is blocked; an admin must reinstate it",
		    device_id);
	return ST_OK;
}

/*
 * A role certificate enrolling a device id that holds a valid certificate
 * is a reprovisioning: refused unless the profile allows it, and then the
 * certificates it holds are superseded like a renewal's.
 */
static enum status
reprovision_check(
    struct store_txn *txn, const struct issue_job *job, int *is_reprovision)
{
	char current[STORE_SERIAL_HEX_CAP];
	size_t count = 0;
	enum status st;

	*is_reprovision = 0;
	st = store_txn_device_current(
	    txn, job->row->device_id, job->row->created, current);
	if (st == ST_NOTFOUND)
		return ST_OK;
	if (st != ST_OK)
		return st;
	if (!job->p->allow_reprovision)
		return status_fail(ST_CONFLICT,
		    "device %s holds the valid certificate %s; profile %s "
		    "does not let a station enroll it again (\"reprovision\": "
		    "true), and the device renews with simplereenroll",
		    job->row->device_id, current, job->p->name);
	*is_reprovision = 1;
	return store_txn_device_supersede(txn, job->row->device_id,
	    job->row->created + job->p->supersede_after_seconds, &count);
}

static enum status
issue_commit(struct store_txn *txn, void *arg)
{
	const struct issue_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL], extra[96] = "";
	int64_t secret_id = job->secret_id;
	int is_reprovision = 0;
	enum status st;

	/* A CA revoked meanwhile issues nothing more, not even this. */
	if ((st = issuing_ca_check_in_txn(job->a, txn)) != ST_OK)
		return st;
	/*
	 * A revoked device stays blocked until an admin reinstates it:
	 * checked in the transaction that would store the certificate, so a
	 * revocation committed meanwhile is seen.
	 */
	if (job->row->device_id != NULL) {
		char auth[LIMIT_NAME_LEN + 1];

		if ((st = device_admits_in_txn(txn, job->who,
		         job->row->device_id, job->row->profile)) != ST_OK)
			return st;
		if (job->is_station &&
		    (st = reprovision_check(txn, job, &is_reprovision)) !=
		        ST_OK)
			return st;
		principal_authenticator(job->who, auth, sizeof(auth));
		/*
		 * A renewal is by the id's own certificate: it says nothing
		 * of who enrolled it first (a device of schema v3 keeps no
		 * authenticator rather than "role:device").
		 */
		if ((st = store_txn_device_bind(txn, job->row->device_id,
		         job->row->profile, job->is_renewal ? NULL : auth,
		         job->row->created)) != ST_OK)
			return st;
	}
	/* A certificate is renewed once: a second renewal finds it taken. */
	if (job->renewed != NULL) {
		st = store_txn_cert_supersede(txn, job->renewed,
		    job->row->created + job->p->supersede_after_seconds);
		if (st == ST_CONFLICT)
			return status_fail(ST_DENIED,
			    "certificate %s was renewed already or is revoked: "
			    "renew with the newest certificate",
			    job->renewed);
		if (st != ST_OK)
			return st;
		snprintf(extra, sizeof(extra), " supersedes=%s at=%lld",
		    job->renewed,
		    (long long)(job->row->created +
		        job->p->supersede_after_seconds));
	}
	/* The secret goes with the certificate, or neither happens. */
	if (secret_id > 0)
		st = store_txn_secret_attach(txn, secret_id, job->row->serial);
	else if (job->secret_device != NULL)
		st = store_txn_secret_use(txn, job->secret_device,
		    job->row->profile, job->secret_hash, job->row->created,
		    job->row->serial, &secret_id);
	else
		st = ST_OK;
	if (st != ST_OK)
		return st;
	if (secret_id > 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " secret=%lld", (long long)secret_id);
	if ((st = store_txn_cert_insert(txn, job->row)) != ST_OK)
		return st;
	snprintf(detail, sizeof(detail), "%s profile=%s device=%s%s subject=%s",
	    is_reprovision ? "reprovision" : job->action, job->p->name,
	    job->row->device_id ? job->row->device_id : "-", extra,
	    job->row->subject);
	return audit_append(txn, job->row->created, job->actor, "issue",
	    job->row->serial, detail);
}

enum status
authority_refuse(struct authority *a, const struct principal *who,
    const char *object, enum status st)
{
	char actor[AUTHORITY_ACTOR_CAP], detail[LIMIT_AUDIT_DETAIL];
	char saved[LIMIT_AUDIT_DETAIL];

	snprintf(saved, sizeof(saved), "%s", status_detail());
	principal_describe(who, actor, sizeof(actor));
	if (snprintf(detail, sizeof(detail), "%s: %s", status_name(st),
	        saved) >= (int)sizeof(detail))
		detail[sizeof(detail) - 2] = '~'; /* cut: audit keeps 1 KiB */
	if (audit_record(a->store, (int64_t)time(NULL), actor, "refuse", object,
	        detail) != ST_OK)
		log_error("audit of a refusal failed: %s", status_detail());
	log_info("refused %s for %s: %s", object, actor, saved);
	/* The caller reports the refusal, not the audit. */
	return status_fail(st, "%s", saved);
}

static void
secret_hash(const char *secret, uint8_t out[32])
{
	/* A failed hash is all zeros: it matches no stored hash. */
	if (digest_buf(DIGEST_SHA256, secret, strlen(secret), out, NULL) !=
	    ST_OK)
		memset(out, 0, 32);
}

/* RFC 7030 §3.5: challengePassword = base64(tls-unique) when present. */
static enum status
check_binding(
    const struct ca_csr *csr, const uint8_t *binding, size_t len, int is_unsafe)
{
	const char *cp = ca_csr_get0_challenge(csr);
	unsigned char b64[4 * 64 / 3 + 4];
	int n;

	if (cp == NULL)
		return ST_OK;
	if (is_unsafe)
		return status_fail(ST_DENIED,
		    "the CSR carries a challengePassword but this TLS 1.2 "
		    "session did not negotiate extended master secret "
		    "(RFC 7627), so its tls-unique binds nothing (RFC 9266 "
		    "§3); reconnect with extended master secret or TLS 1.3");
	if (len == 0 || len > 64)
		return status_fail(ST_DENIED,
		    "the CSR carries a challengePassword but this connection "
		    "has no TLS channel binding to check it against "
		    "(RFC 7030 §3.5)");
	n = EVP_EncodeBlock(b64, binding, (int)len);
	if (n <= 0 || !secret_equal(cp, strlen(cp), b64, (size_t)n))
		return status_fail(ST_DENIED,
		    "the CSR's challengePassword does not match this TLS "
		    "channel's binding (RFC 7030 §3.5: sign the CSR on the "
		    "connection that sends it)");
	return ST_OK;
}

/* The value of attribute nid in name as UTF-8 into out, "" if absent. */
static void
name_value(const X509_NAME *name, int nid, char *out, size_t cap)
{
	unsigned char *u = NULL;
	int i = X509_NAME_get_index_by_NID(name, nid, -1), n = -1;

	if (i >= 0)
		n = ASN1_STRING_to_UTF8(
		    &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	snprintf(out, cap, "%.*s", n > 0 ? n : 0, n > 0 ? (char *)u : "");
	OPENSSL_free(u);
}

/* The IP addresses of san, DER of each, concatenated with lengths. */
static size_t
san_ips(const GENERAL_NAMES *san, unsigned char *out, size_t cap)
{
	const GENERAL_NAME *gn;
	size_t used = 0, n;
	int i;

	for (i = 0; san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
		gn = sk_GENERAL_NAME_value(san, i);
		if (gn->type != GEN_IPADD)
			continue;
		n = (size_t)ASN1_STRING_length(gn->d.iPAddress);
		if (used + 1 + n > cap)
			break;
		out[used++] = (unsigned char)n;
		memcpy(out + used, ASN1_STRING_get0_data(gn->d.iPAddress), n);
		used += n;
	}
	return used;
}

/*
 * RFC 7030 §4.2.2: a renewal keeps the subject and SAN. The device id is
 * the same (authorize_renewal); what the profile's rules take from the
 * CSR (pattern attributes, IP addresses) must be what the certificate
 * being renewed has. What the policy decides (fixed values, templates)
 * follows the current policy, so that a policy change reaches devices as
 * they renew and certificates from before it renew at all.
 */
static enum status
check_same_names(X509 *current, const struct policy_profile *p,
    const X509_NAME *subject, const GENERAL_NAMES *san)
{
	const struct policy_subject_rule *r;
	GENERAL_NAMES *cur_san;
	unsigned char a[LIMIT_SAN_COUNT * 17], b[LIMIT_SAN_COUNT * 17];
	char was[LIMIT_NAME_LEN + 1], now[LIMIT_NAME_LEN + 1];
	size_t i, a_len, b_len;

	for (i = 0; i < p->subject_count; i++) {
		r = &p->subject[i];
		if (r->kind != POLICY_ATTR_PATTERN)
			continue;
		name_value(
		    X509_get_subject_name(current), r->nid, was, sizeof(was));
		name_value(subject, r->nid, now, sizeof(now));
		if (strcmp(was, now) != 0)
			return status_fail(ST_DENIED,
			    "the CSR's subject attribute %s differs from the "
			    "certificate being renewed (RFC 7030 §4.2.2)",
			    OBJ_nid2sn(r->nid));
	}
	cur_san = X509_get_ext_d2i(current, NID_subject_alt_name, NULL, NULL);
	a_len = san_ips(cur_san, a, sizeof(a));
	GENERAL_NAMES_free(cur_san);
	b_len = san_ips(san, b, sizeof(b));
	if (a_len != b_len || memcmp(a, b, a_len) != 0)
		return status_fail(ST_DENIED,
		    "the CSR's subjectAltName IP addresses differ from the "
		    "certificate being renewed (RFC 7030 §4.2.2)");
	return ST_OK;
}

static enum status
generate_key(const struct policy_key_rule *rule, EVP_PKEY **out)
{
	*out = NULL;
	if (rule->kind == POLICY_KEY_EC)
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
		    OBJ_nid2sn(rule->curve_nid) != NULL &&
		            rule->curve_nid == NID_X9_62_prime256v1
		        ? "P-256"
		        : rule->curve_nid == NID_secp384r1 ? "P-384"
		                                           : "P-521");
	else
		*out = EVP_PKEY_Q_keygen(
		    NULL, NULL, "RSA", (size_t)rule->min_bits);
	if (*out == NULL)
		return status_fail_ssl(ST_INTERNAL, "key generation failed");
	return ST_OK;
}

/* 1 if the SAN entry names host (DNS without case, or an IP literal). */
static int
san_is_host(const GENERAL_NAME *gn, const char *host)
{
	unsigned char ip[16];
	const ASN1_STRING *s;
	size_t i, n;

	if (host[0] == '\0')
		return 0;
	if (gn->type == GEN_IPADD) {
		s = gn->d.iPAddress;
		if (inet_pton(AF_INET, host, ip) == 1)
			return ASN1_STRING_length(s) == 4 &&
			    memcmp(ASN1_STRING_get0_data(s), ip, 4) == 0;
		if (inet_pton(AF_INET6, host, ip) == 1)
			return ASN1_STRING_length(s) == 16 &&
			    memcmp(ASN1_STRING_get0_data(s), ip, 16) == 0;
		return 0;
	}
	if (gn->type != GEN_DNS)
		return 0;
	s = gn->d.dNSName;
	n = strlen(host);
	if ((size_t)ASN1_STRING_length(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (tolower(ASN1_STRING_get0_data(s)[i]) !=
		    tolower((unsigned char)host[i]))
			return 0;
	return 1;
}

/*
 * Defence in depth behind the profile's templates: no certificate issued
 * over EST names tessera's own server (localhost, the hosts of its URLs,
 * the names of its TLS certificate), whatever a policy's DNS suffix makes
 * possible. This is the name a gateway secret once bought, and then
 * impersonated tessera with.
 */
static enum status
check_own_names(const struct authority *a, const X509_NAME *subject,
    const GENERAL_NAMES *san)
{
	char url_hosts[2][LIMIT_NAME_LEN + 1], cn[LIMIT_NAME_LEN + 1];
	const char *hosts[3 + 2 * LIMIT_SERVER_NAMES];
	const GENERAL_NAME *gn;
	size_t h, n = 0;
	int i;

	hosts[n++] = "localhost";
	ca_config_url_host(a->cfg != NULL ? a->cfg->url : NULL, url_hosts[0],
	    sizeof(url_hosts[0]));
	ca_config_url_host(a->cfg != NULL ? a->cfg->publish_url : NULL,
	    url_hosts[1], sizeof(url_hosts[1]));
	hosts[n++] = url_hosts[0];
	hosts[n++] = url_hosts[1];
	for (h = 0; a->cfg != NULL && h < a->cfg->dns_count; h++)
		hosts[n++] = a->cfg->dns[h];
	for (h = 0; a->cfg != NULL && h < a->cfg->ip_count; h++)
		hosts[n++] = a->cfg->ip[h];
	for (i = 0; san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
		gn = sk_GENERAL_NAME_value(san, i);
		for (h = 0; h < n; h++)
			if (san_is_host(gn, hosts[h]))
				return status_fail(ST_DENIED,
				    "subjectAltName %s %s is tessera's own "
				    "server name; no certificate it issues "
				    "carries it",
				    gn->type == GEN_DNS ? "DNS" : "IP",
				    hosts[h]);
	}
	/* A client falling back to the CN (RFC 9525 §6.4.4 forbids it). */
	name_value(subject, NID_commonName, cn, sizeof(cn));
	for (h = 0; h < n; h++)
		if (hosts[h][0] != '\0' && strcasecmp(cn, hosts[h]) == 0)
			return status_fail(ST_DENIED,
			    "subject CN %s is tessera's own server name; no "
			    "certificate it issues carries it",
			    hosts[h]);
	return ST_OK;
}

/* The names were built by ca_csr_names_build; nothing else of the CSR. */
static void
fill_template(const struct authority *a, const struct policy_profile *p,
    const X509_NAME *subject, const GENERAL_NAMES *san, EVP_PKEY *pubkey,
    int64_t now, struct ca_template *t)
{
	int64_t ca_end = ca_time_unix(X509_get0_notAfter(a->issuing));

	memset(t, 0, sizeof(*t));
	t->subject = subject;
	t->pubkey = pubkey;
	t->san = san;
	/* RFC 5280 §4.2.1.6: an empty subject makes the SAN critical. */
	t->san_critical = X509_NAME_entry_count(subject) == 0;
	t->not_before = now - p->backdate_seconds;
	t->not_after = now + p->validity_seconds;
	/* Never outlive the issuing CA. */
	if (ca_end > 0 && t->not_after > ca_end)
		t->not_after = ca_end;
	t->pathlen = -1;
	t->key_usage = p->key_usage;
	t->eku_nids = p->eku_nids;
	t->eku_count = p->eku_count;
	t->ocsp_url = a->ocsp_url;
	t->ca_issuers_url = a->ca_issuers_url;
	t->md_nid = p->sig_md_nid;
	t->profile = p->name;
}

enum status
authority_templates_build(struct authority *a)
{
	struct ca_certder_profile prof;
	const struct policy_profile *p;
	EVP_PKEY *pub = X509_get0_pubkey(a->issuing);
	size_t i, n = policy_profile_count(a->policy);
	enum status st;

	if (pub == NULL)
		return status_fail(
		    ST_MALFORMED, "the issuing CA has no usable public key");
	if ((a->certder = calloc(n > 0 ? n : 1, sizeof(*a->certder))) == NULL)
		return ST_NOMEM;
	a->certder_count = n;
	for (i = 0; i < n; i++) {
		p = policy_profile_at(a->policy, i);
		ca_cert_profile_from_policy(p, a->ocsp_url, a->ca_issuers_url,
		    EVP_PKEY_get_base_id(pub), &prof);
		if ((st = ca_certder_new(&prof, a->issuing, &a->certder[i])) !=
		    ST_OK)
			return status_fail(
			    st, "profile %s: %s", p->name, status_detail());
	}
	return ST_OK;
}

void
authority_templates_free(struct authority *a)
{
	size_t i;

	for (i = 0; a->certder != NULL && i < a->certder_count; i++)
		ca_certder_free(a->certder[i]);
	free(a->certder);
	a->certder = NULL;
	a->certder_count = 0;
}

/* The template built for profile p at open. */
static const struct ca_certder *
profile_template(const struct authority *a, const struct policy_profile *p)
{
	size_t i;

	for (i = 0; i < a->certder_count; i++)
		if (policy_profile_at(a->policy, i) == p)
			return a->certder[i];
	return NULL;
}

/*
 * Fill p's template from t and sign its TBS with the issuing key, with a
 * serial the store does not know yet.
 */
static enum status
sign_unique(struct authority *a, const struct policy_profile *p,
    const struct ca_template *t, uint8_t **out, size_t *out_len,
    char serial[41])
{
	const struct ca_certder *tmpl = profile_template(a, p);
	uint8_t *der = NULL;
	size_t der_len = 0;
	int tries, exists;
	enum status st;

	*out = NULL;
	*out_len = 0;
	if (tmpl == NULL)
		return status_fail(ST_INTERNAL,
		    "profile %s has no certificate template", p->name);
	for (tries = 0; tries < 3; tries++) {
		if ((st = ca_cert_issue(tmpl, t, a->issuing_key, &der, &der_len,
		         serial)) != ST_OK)
			return st;
		/* 2^127 serials: a clash means a broken RNG, not bad luck. */
		if ((exists = store_cert_exists(a->store, serial)) == 0)
			break;
		OPENSSL_free(der);
		der = NULL;
		if (exists < 0)
			return ST_STORE;
		log_error("serial %s exists already; drawing another", serial);
	}
	if (der == NULL)
		return status_fail(ST_INTERNAL, "no unique serial in 3 draws");
	/* Not parsed back: the row is filled from what was signed. */
	*out = der;
	*out_len = der_len;
	return ST_OK;
}

/* A CRL shard at random (so shards fill evenly) and its URL. */
static enum status
pick_shard(struct authority *a, int *shard, char **url)
{
	int shards = policy_crl(a->policy)->shards;
	unsigned char r[4];

	*shard = STORE_CRL_SHARD_FULL;
	if (shards > 1) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
		*shard = (int)(((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
		                   (uint32_t)r[2] << 8 | r[3]) %
		    (uint32_t)shards);
	}
	/* The issuing CA's own CRLs (after a rollover, not its
	 * predecessor's). */
	*shard = store_shard_make(a->issuing_gen, *shard);
	if ((*url = publication_crl_url(a, *shard)) == NULL)
		return ST_NOMEM;
	return ST_OK;
}

/*
 * Commit cert as issued to who under p; the secret is consumed with it
 * (or, reserved before as secret_id, given its serial).
 */
static enum status
commit_cert(struct authority *a, const struct principal *who,
    const struct policy_profile *p, const char *device_id,
    const struct ca_template *t, const uint8_t *der, size_t der_len,
    const char *serial, int shard, int64_t now, const char *action,
    int is_reenroll, int64_t secret_id)
{
	struct store_cert row;
	struct issue_job job;
	char actor[AUTHORITY_ACTOR_CAP];
	uint8_t hash[32];
	enum status st = ST_OK;

	memset(hash, 0, sizeof(hash));
	/*
	 * The row from what was signed, as ca_row_from_cert reads it back
	 * from a certificate: the template's issuer is the issuing CA's
	 * subject, its subject and validity are t's, to the second.
	 */
	memset(&row, 0, sizeof(row));
	snprintf(row.serial, sizeof(row.serial), "%s", serial);
	row.issuer = a->issuing_name; /* the authority's */
	row.subject = ca_name_string(t->subject);
	row.device_id = (char *)device_id;
	row.profile = (char *)p->name;
	row.not_before = t->not_before;
	row.not_after = t->not_after;
	row.status = STORE_CERT_VALID;
	row.reason = -1;
	row.created = now;
	row.der = (uint8_t *)der;
	row.der_len = der_len;
	row.shard = shard;
	if (row.issuer == NULL || row.subject == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	principal_describe(who, actor, sizeof(actor));
	memset(&job, 0, sizeof(job));
	job.a = a;
	job.row = &row;
	job.p = p;
	job.who = who;
	job.is_renewal = is_reenroll;
	job.actor = actor;
	job.action = action;
	job.secret_id = secret_id;
	if (who->kind == PRINCIPAL_SECRET && secret_id == 0) {
		secret_hash(who->secret, hash);
		job.secret_device = who->id;
		job.secret_hash = hash;
	}
	if (is_reenroll && who->kind == PRINCIPAL_CERT)
		job.renewed = who->serial;
	else if (who->kind == PRINCIPAL_CERT)
		job.is_station = 1;
	/* Durable before anyone sees the certificate. */
	if ((st = store_write(a->store, issue_commit, &job)) != ST_OK)
		goto out;
	log_info("issued %s to %s (profile %s, %s, by %s)", row.serial,
	    device_id ? device_id : "-", p->name, action, actor);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	row.der = NULL; /* the caller's */
	row.issuer = NULL;
	ca_row_clear(&row);
	return st;
}

struct reserve_job {
	const char *device_id;
	const char *profile;
	const uint8_t *hash;
	int64_t now;
	const char *actor;
	int64_t id; /* out */
};

static enum status
reserve_commit(struct store_txn *txn, void *arg)
{
	struct reserve_job *job = arg;
	char detail[64];
	enum status st;

	if ((st = device_unblocked_in_txn(txn, job->device_id)) != ST_OK ||
	    (st = store_txn_secret_use(txn, job->device_id, job->profile,
	         job->hash, job->now, NULL, &job->id)) != ST_OK)
		return st;
	snprintf(detail, sizeof(detail), "secret=%lld profile=%s",
	    (long long)job->id, job->profile);
	return audit_append(txn, job->now, job->actor, "secret-reserve",
	    job->device_id, detail);
}

/*
 * serverkeygen with a one-time secret: use the secret up before a key is
 * made, so that one secret costs at most one key however many requests
 * carry it at once. *id gets the secret's row.
 */
static enum status
secret_reserve(struct authority *a, const struct principal *who,
    const struct policy_profile *p, int64_t now, int64_t *id)
{
	struct reserve_job job;
	char actor[AUTHORITY_ACTOR_CAP];
	uint8_t hash[32];
	enum status st;

	*id = 0;
	secret_hash(who->secret, hash);
	principal_describe(who, actor, sizeof(actor));
	memset(&job, 0, sizeof(job));
	job.device_id = who->id;
	job.profile = p->name;
	job.hash = hash;
	job.now = now;
	job.actor = actor;
	st = store_write(a->store, reserve_commit, &job);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (st == ST_OK)
		*id = job.id;
	return st;
}

/*
 * Make the serverkeygen key with the caller's lock let go (see
 * authority_set_lock): it touches nothing of the authority's, and an
 * RSA key can take seconds that /healthz, OCSP and CRLs must not wait.
 */
static enum status
keygen_unlocked(
    struct authority *a, const struct policy_key_rule *rule, EVP_PKEY **out)
{
	enum status st;

	if (a->lock_leave != NULL)
		a->lock_leave(a->lock_arg);
	st = generate_key(rule, out);
	if (a->lock_enter != NULL)
		a->lock_enter(a->lock_arg);
	return st;
}

void
authority_set_lock(struct authority *a, void (*leave)(void *),
    void (*enter)(void *), void *arg)
{
	a->lock_leave = leave;
	a->lock_enter = enter;
	a->lock_arg = arg;
}

void
authority_set_metrics(struct authority *a, struct metrics *m)
{
	a->metrics = m;
	store_set_metrics(a->store, m);
	signer_set_metrics(a->signer, m);
}

enum status
authority_enroll(struct authority *a, const struct principal *who,
    const struct authority_enroll_req *req, uint8_t **out, size_t *out_len,
    EVP_PKEY **key)
{
	const struct policy_profile *p;
	struct policy_key_rule rule;
	struct ca_csr *csr = NULL;
	struct ca_template t;
	X509_NAME *subject = NULL;
	GENERAL_NAMES *san = NULL;
	EVP_PKEY *new_key = NULL;
	uint8_t *cert = NULL;
	size_t cert_len = 0;
	char serial[41], *crl_url = NULL;
	int shard = STORE_CRL_SHARD_FULL;
	int64_t secret_id = 0;
	uint8_t hash[32];
	const char *name, *device_id = NULL;
	const char *action = req->is_server_keygen ? "serverkeygen"
	    : req->is_reenroll                     ? "reenroll"
	                                           : "enroll";
	int64_t now = (int64_t)time(NULL);
	enum status st;

	*out = NULL;
	*out_len = 0;
	if (key != NULL)
		*key = NULL;
	name = req->profile;
	if (name == NULL)
		name = req->is_reenroll && who->profile[0] ? who->profile
		                                           : "device";
	if ((p = policy_profile_get(a->policy, name)) == NULL) {
		st = status_fail(ST_NOTFOUND, "no profile named \"%s\"", name);
		goto refuse;
	}
	/*
	 * Credentials first: a wrong secret is a 401 whatever the CSR says,
	 * and nobody without one gets the CSR parser to work for them.
	 */
	if (who->kind == PRINCIPAL_SECRET) {
		/* Secrets are minted for canonical ids only. */
		if ((st = ca_device_id_check(who->id, NULL)) != ST_OK)
			goto refuse;
		secret_hash(who->secret, hash);
		st = store_secret_check(a->store, who->id, p->name, hash, now);
		OPENSSL_cleanse(hash, sizeof(hash));
		if (st != ST_OK)
			goto refuse;
	}
	if ((st = ca_csr_parse(req->csr, req->csr_len, &csr)) != ST_OK)
		goto refuse;
	/*
	 * One spelling per device: a non-canonical id is refused before
	 * anything is decided about it, so that "Dev-1" never passes where
	 * "dev-1" is blocked.
	 */
	if (who->kind == PRINCIPAL_SECRET ||
	    who->kind == PRINCIPAL_MANUFACTURER ||
	    (who->kind == PRINCIPAL_CERT && req->is_reenroll))
		(void)ca_csr_bind_id(csr, p, who->id);
	device_id = ca_csr_device_id(csr, p);
	if (device_id != NULL &&
	    (st = ca_device_id_check(device_id, p)) != ST_OK)
		goto refuse;
	/* May they at all, before what the CSR asks for is weighed. */
	if ((st = authorize_enroll(a, who, p, device_id, req->is_reenroll)) !=
	    ST_OK)
		goto refuse;
	st = req->is_server_keygen ? ca_csr_check_names(csr, p)
	                           : ca_csr_check(csr, p);
	if (st != ST_OK ||
	    (st = ca_csr_names_build(csr, p, &subject, &san)) != ST_OK ||
	    (st = check_own_names(a, subject, san)) != ST_OK ||
	    (st = check_binding(csr, req->binding, req->binding_len,
	         req->is_binding_unsafe)) != ST_OK)
		goto refuse;
	if (req->is_reenroll &&
	    (st = check_same_names(who->cert, p, subject, san)) != ST_OK)
		goto refuse;
	/* Nothing is signed under a revoked issuing CA: 503, saying so. */
	if ((st = issuing_ca_check(a)) != ST_OK)
		goto refuse;
	if (req->is_server_keygen) {
		if (who->kind == PRINCIPAL_SECRET &&
		    (st = secret_reserve(a, who, p, now, &secret_id)) != ST_OK)
			goto refuse;
		ca_csr_keygen_rule(csr, p, &rule);
		if ((st = keygen_unlocked(a, &rule, &new_key)) != ST_OK)
			goto out;
	}
	fill_template(a, p, subject, san,
	    new_key != NULL ? new_key : ca_csr_get0_pubkey(csr), now, &t);
	/* The key as the CSR sent it: its SPKI needs no encoder. */
	if (new_key == NULL)
		t.spki = ca_csr_get0_spki(csr, &t.spki_len);
	/* The CRL shard is fixed here and named in the certificate. */
	if ((st = pick_shard(a, &shard, &crl_url)) != ST_OK)
		goto out;
	t.crl_url = crl_url;
	if ((st = sign_unique(a, p, &t, &cert, &cert_len, serial)) != ST_OK)
		goto out;
	st = commit_cert(a, who, p, device_id, &t, cert, cert_len, serial,
	    shard, now, action, req->is_reenroll, secret_id);
	if (st == ST_UNAUTHENTICATED || st == ST_DENIED)
		goto refuse; /* the secret was used meanwhile */
	if (st != ST_OK)
		goto out;
	*out = cert;
	*out_len = cert_len;
	cert = NULL;
	if (key != NULL) {
		*key = new_key;
		new_key = NULL;
	}
	st = ST_OK;
	goto out;
refuse:
	st = authority_refuse(a, who, device_id ? device_id : name, st);
	/*
	 * The audit has why a secret failed (none, wrong, used, expired,
	 * other profile); an unauthenticated caller learns only that it did,
	 * so that the answer is no oracle for a device's secrets.
	 */
	if (st == ST_UNAUTHENTICATED && who->kind == PRINCIPAL_SECRET)
		st = status_fail(ST_UNAUTHENTICATED,
		    "the one-time secret for device %s was not accepted "
		    "(unknown, wrong, already used, expired or for another "
		    "profile)",
		    who->id);
out:
	/* Profiles only from the policy: a made-up label is "other". */
	metrics_enroll_count(a->metrics, p != NULL ? p->name : NULL, st);
	free(crl_url);
	X509_NAME_free(subject);
	GENERAL_NAMES_free(san);
	EVP_PKEY_free(new_key);
	OPENSSL_free(cert);
	ca_csr_free(csr);
	return st;
}

enum status
authority_issue(struct authority *a, const struct principal *who,
    const char *profile, const uint8_t *csr, size_t csr_len, X509 **out)
{
	struct authority_enroll_req req;
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t der_len = 0;
	enum status st;

	*out = NULL;
	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.csr = csr;
	req.csr_len = csr_len;
	if ((st = authority_enroll(a, who, &req, &der, &der_len, NULL)) !=
	    ST_OK)
		return st;
	p = der;
	if ((*out = d2i_X509(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len) {
		X509_free(*out);
		*out = NULL;
		st = status_fail_ssl(ST_INTERNAL, "issued certificate");
	}
	OPENSSL_free(der);
	return st;
}

struct secret_job {
	const struct principal *who;
	const char *device_id;
	const char *profile;
	const uint8_t *hash;
	int64_t expires;
	int64_t now;
	const char *actor;
};

static enum status
secret_commit(struct store_txn *txn, void *arg)
{
	const struct secret_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL];
	enum status st;

	struct store_minter minter;
	int64_t id;

	/*
	 * In the transaction: a block committed meanwhile is seen, and a
	 * secret for an id another family holds would only be refused at
	 * enrollment; refuse it now.
	 */
	if ((st = device_admits_in_txn(
	         txn, job->who, job->device_id, job->profile)) != ST_OK)
		return st;
	minter.kind = job->who->kind == PRINCIPAL_CERT ? "cert" : "operator";
	minter.id = job->who->id[0] ? job->who->id : "local";
	minter.serial =
	    job->who->kind == PRINCIPAL_CERT ? job->who->serial : NULL;
	if ((st = store_txn_secret_insert(txn, job->device_id, job->profile,
	         job->hash, job->expires, job->now, &minter)) != ST_OK)
		return st;
	id = store_txn_last_id(txn);
	snprintf(detail, sizeof(detail), "secret=%lld profile=%s expires=%lld",
	    (long long)id, job->profile, (long long)job->expires);
	return audit_append(
	    txn, job->now, job->actor, "secret-create", job->device_id, detail);
}

enum status
authority_secret_create(struct authority *a, const struct principal *who,
    const char *device_id, const char *profile, int64_t ttl, char **secret,
    int64_t *expires)
{
	const struct policy_secrets *ps = policy_secrets(a->policy);
	const struct policy_profile *p;
	struct secret_job job;
	char actor[AUTHORITY_ACTOR_CAP];
	char *s = NULL;
	uint8_t hash[32];
	int64_t now = (int64_t)time(NULL);
	enum status st;

	*secret = NULL;
	*expires = 0;
	if (profile == NULL)
		profile = "device";
	if ((p = policy_profile_get(a->policy, profile)) == NULL) {
		st = status_fail(
		    ST_NOTFOUND, "no profile named \"%s\"", profile);
		goto refuse;
	}
	if ((st = ca_device_id_check(device_id, p)) != ST_OK)
		goto refuse;
	if (ttl == 0)
		ttl = ps->default_ttl_seconds;
	if (ttl < 60 || ttl > ps->max_ttl_seconds) {
		st = status_fail(ST_MALFORMED,
		    "ttl %llds is outside 60s..%llds (the policy's maximum)",
		    (long long)ttl, (long long)ps->max_ttl_seconds);
		goto refuse;
	}
	if ((st = authorize_secret(a, who, p, device_id)) != ST_OK)
		goto refuse;
	if ((st = secret_random_b64url(SECRET_BYTES, &s)) != ST_OK)
		return st;
	secret_hash(s, hash);
	principal_describe(who, actor, sizeof(actor));
	job.who = who;
	job.device_id = device_id;
	job.profile = p->name;
	job.hash = hash;
	job.now = now;
	job.expires = now + ttl;
	job.actor = actor;
	st = store_write(a->store, secret_commit, &job);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (st != ST_OK) {
		secret_free(s);
		if (st == ST_DENIED || st == ST_CONFLICT)
			goto refuse;
		return st;
	}
	log_info("one-time secret for %s (profile %s) minted by %s", device_id,
	    p->name, actor);
	*secret = s;
	*expires = job.expires;
	return ST_OK;
refuse:
	return authority_refuse(a, who, device_id, st);
}
