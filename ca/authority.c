#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "ca/audit.h"
#include "ca/authority.h"
#include "ca/csr.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/log.h"
#include "common/secret.h"
#include "hsm/hsm.h"

#define PIN_ENV "TESSERA_HSM_PIN"

struct authority {
	struct ca_config *cfg;
	struct policy *policy;
	struct hsm *hsm;
	struct hsm_key *issuing_key;
	struct store *store;
	X509 *root;
	X509 *issuing;
	char *crl_url;
	char *ocsp_url;
	char *ca_issuers_url;
};

static enum status
load_cert(const struct ca_config *cfg, const char *rel, X509 **out)
{
	char *path = NULL;
	BIO *bio = NULL;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((path = ca_config_path(cfg, rel)) == NULL)
		goto out;
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		st = status_fail_ssl(ST_NOTFOUND, "%s: cannot open", path);
		goto out;
	}
	if ((*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		st = status_fail_ssl(
		    ST_MALFORMED, "%s: not a PEM certificate", path);
		goto out;
	}
	st = ST_OK;
out:
	BIO_free(bio);
	free(path);
	return st;
}

static char *
url_join(const char *base, const char *path)
{
	size_t a = strlen(base), b = strlen(path);
	char *s;

	while (a > 0 && base[a - 1] == '/')
		a--;
	if ((s = malloc(a + b + 1)) == NULL)
		return NULL;
	memcpy(s, base, a);
	memcpy(s + a, path, b + 1);
	return s;
}

/*
 * Log in to the configured token. The PIN comes from the configured file
 * or the environment, never argv, and is wiped once the token has it.
 */
static enum status
open_token(const struct ca_config *cfg, struct hsm **out)
{
	char *pin = NULL, *path = NULL, *conf = NULL;
	enum status st;

	*out = NULL;
	if (cfg->softhsm_conf != NULL) {
		if ((conf = ca_config_path(cfg, cfg->softhsm_conf)) == NULL)
			return ST_NOMEM;
		/* SoftHSMv2 finds its token directory through this. */
		setenv("SOFTHSM2_CONF", conf, 1);
		free(conf);
	}
	st = secret_read_env(PIN_ENV, LIMIT_PIN_LEN, &pin);
	if (st == ST_NOTFOUND && cfg->hsm_pin_file != NULL) {
		if ((path = ca_config_path(cfg, cfg->hsm_pin_file)) == NULL)
			return ST_NOMEM;
		st = secret_read_file(path, LIMIT_PIN_LEN, &pin);
		free(path);
	} else if (st == ST_NOTFOUND) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "no HSM PIN: set %s or "
		    "hsm.pin_file in tessera.json",
		    PIN_ENV);
	}
	if (st != ST_OK)
		return st;
	st = hsm_open(cfg->hsm_module, cfg->hsm_token, pin, out);
	secret_free(pin);
	return st;
}

enum status
authority_open(const char *data_dir, struct authority **out)
{
	struct authority *a = NULL;
	char *path = NULL;
	enum status st;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ST_NOMEM;
	if ((st = ca_config_load(data_dir, &a->cfg)) != ST_OK)
		goto out;
	if ((path = ca_config_path(a->cfg, a->cfg->policy)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = policy_load(path, &a->policy)) != ST_OK)
		goto out;
	if ((st = load_cert(a->cfg, "ca/root.pem", &a->root)) != ST_OK ||
	    (st = load_cert(a->cfg, "ca/issuing.pem", &a->issuing)) != ST_OK)
		goto out;
	if ((st = open_token(a->cfg, &a->hsm)) != ST_OK)
		goto out;
	if ((st = hsm_key_find_uri(
	         a->hsm, a->cfg->key_issuing, &a->issuing_key)) != ST_OK)
		goto out;
	if (X509_check_private_key(
	        a->issuing, hsm_key_get0_public(a->issuing_key)) != 1) {
		st = status_fail(ST_CONFLICT,
		    "the key %s does not match "
		    "ca/issuing.pem",
		    a->cfg->key_issuing);
		goto out;
	}
	free(path);
	if ((path = ca_config_path(a->cfg, a->cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = store_open(path, &a->store)) != ST_OK)
		goto out;
	a->crl_url = url_join(a->cfg->publish_url, "/crl/issuing.crl");
	a->ocsp_url = url_join(a->cfg->publish_url, "/ocsp");
	a->ca_issuers_url = url_join(a->cfg->publish_url, "/ca/issuing.crt");
	if (!a->crl_url || !a->ocsp_url || !a->ca_issuers_url) {
		st = ST_NOMEM;
		goto out;
	}
	*out = a;
	a = NULL;
	st = ST_OK;
out:
	free(path);
	authority_close(a);
	return st;
}

void
authority_close(struct authority *a)
{
	if (a == NULL)
		return;
	store_close(a->store);
	hsm_key_free(a->issuing_key);
	hsm_close(a->hsm);
	policy_free(a->policy);
	X509_free(a->root);
	X509_free(a->issuing);
	free(a->crl_url);
	free(a->ocsp_url);
	free(a->ca_issuers_url);
	ca_config_free(a->cfg);
	free(a);
}

void
principal_describe(const struct principal *who, char *out, size_t cap)
{
	static const char *const kinds[PRINCIPAL_KIND_MAX] = {
	    "anonymous", "operator", "secret", "cert", "manufacturer"};
	const char *kind = (unsigned)who->kind < PRINCIPAL_KIND_MAX
	    ? kinds[who->kind]
	    : "unknown";

	snprintf(out, cap, "%s:%s%s%s", kind, who->id[0] ? who->id : "-",
	    who->address[0] ? "@" : "", who->address);
}

/*
 * The permission check for issuance: may who get profile for device_id?
 * The one place this decision is made.
 */
static enum status
authorize_issue(
    const struct principal *who, const char *profile, const char *device_id)
{
	(void)device_id;
	switch (who->kind) {
	case PRINCIPAL_OPERATOR:
		/* Holds the data directory and the HSM PIN already. */
		return ST_OK;
	default:
		return status_fail(ST_DENIED,
		    "%s may not be issued profile %s by this principal",
		    device_id ? device_id : "(no device)", profile);
	}
}

struct issue_job {
	const struct store_cert *row;
	const char *actor;
	const char *detail;
};

static enum status
issue_commit(struct store_txn *txn, void *arg)
{
	const struct issue_job *job = arg;
	enum status st;

	if (job->row->device_id != NULL &&
	    (st = store_txn_device_ensure(
	         txn, job->row->device_id, job->row->created)) != ST_OK)
		return st;
	if ((st = store_txn_cert_insert(txn, job->row)) != ST_OK)
		return st;
	return audit_append(txn, job->row->created, job->actor, "issue",
	    job->row->serial, job->detail);
}

struct refusal_job {
	int64_t now;
	const char *actor;
	const char *object;
	const char *detail;
};

static enum status
refusal_commit(struct store_txn *txn, void *arg)
{
	const struct refusal_job *job = arg;

	return audit_append(
	    txn, job->now, job->actor, "refuse", job->object, job->detail);
}

/* Record a refusal; the original status and detail are kept. */
static enum status
audit_refusal(
    struct authority *a, const char *actor, const char *object, enum status st)
{
	char detail[LIMIT_AUDIT_DETAIL];
	struct refusal_job job;

	snprintf(
	    detail, sizeof(detail), "%s: %s", status_name(st), status_detail());
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	job.object = object;
	job.detail = detail;
	if (store_write(a->store, refusal_commit, &job) != ST_OK)
		log_error("audit of a refusal failed: %s", status_detail());
	/* The caller reports the refusal, not the audit. */
	return status_fail(st, "%s", detail + strlen(status_name(st)) + 2);
}

static void
fill_template(const struct authority *a, const struct policy_profile *p,
    const struct ca_csr *csr, int64_t now, struct ca_template *t)
{
	const X509_NAME *subject =
	    X509_REQ_get_subject_name(ca_csr_get0_req(csr));
	int64_t ca_end = ca_time_unix(X509_get0_notAfter(a->issuing));

	memset(t, 0, sizeof(*t));
	t->subject = subject;
	t->pubkey = ca_csr_get0_pubkey(csr);
	t->san = ca_csr_get0_san(csr);
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
	t->crl_url = a->crl_url;
	t->ocsp_url = a->ocsp_url;
	t->ca_issuers_url = a->ca_issuers_url;
	t->md_nid = p->sig_md_nid;
}

enum status
authority_issue(struct authority *a, const struct principal *who,
    const char *profile_name, const uint8_t *csr_der, size_t csr_len,
    X509 **out)
{
	const struct policy_profile *p;
	struct ca_csr *csr = NULL;
	struct ca_template t;
	struct store_cert row;
	struct issue_job job;
	X509 *cert = NULL;
	char actor[LIMIT_NAME_LEN + 96], detail[LIMIT_AUDIT_DETAIL];
	const char *device_id = NULL;
	int64_t now = (int64_t)time(NULL);
	int tries, exists;
	enum status st;

	*out = NULL;
	memset(&row, 0, sizeof(row));
	principal_describe(who, actor, sizeof(actor));
	if ((p = policy_profile_get(a->policy, profile_name)) == NULL) {
		st = status_fail(
		    ST_NOTFOUND, "no profile named \"%s\"", profile_name);
		goto refuse;
	}
	if ((st = ca_csr_parse(csr_der, csr_len, &csr)) != ST_OK ||
	    (st = ca_csr_check(csr, p)) != ST_OK)
		goto refuse;
	device_id = ca_csr_device_id(csr, p);
	if ((st = authorize_issue(who, p->name, device_id)) != ST_OK)
		goto refuse;
	fill_template(a, p, csr, now, &t);
	for (tries = 0; tries < 3; tries++) {
		X509_free(cert);
		cert = NULL;
		if ((st = ca_cert_sign(&t, a->issuing,
		         hsm_key_get0_pkey(a->issuing_key), &cert,
		         row.serial)) != ST_OK)
			goto out;
		/* 2^127 serials: a clash means a broken RNG, not bad luck. */
		if ((exists = store_cert_exists(a->store, row.serial)) == 0)
			break;
		if (exists < 0) {
			st = ST_STORE;
			goto out;
		}
		log_error(
		    "serial %s exists already; drawing another", row.serial);
	}
	if (tries == 3) {
		st = status_fail(ST_INTERNAL, "no unique serial in 3 draws");
		goto out;
	}
	row.issuer = ca_name_string(X509_get_issuer_name(cert));
	row.subject = ca_name_string(X509_get_subject_name(cert));
	row.device_id = (char *)device_id;
	row.profile = (char *)p->name;
	row.not_before = ca_time_unix(X509_get0_notBefore(cert));
	row.not_after = ca_time_unix(X509_get0_notAfter(cert));
	row.status = STORE_CERT_VALID;
	row.reason = -1;
	row.created = now;
	row.der = NULL;
	if (row.issuer == NULL || row.subject == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	{
		int len = i2d_X509(cert, &row.der);
		if (len <= 0) {
			st = status_fail_ssl(ST_INTERNAL, "encode certificate");
			goto out;
		}
		row.der_len = (size_t)len;
	}
	snprintf(detail, sizeof(detail), "profile=%s device=%s subject=%s",
	    p->name, device_id ? device_id : "-", row.subject);
	job.row = &row;
	job.actor = actor;
	job.detail = detail;
	/* Durable before anyone sees the certificate. */
	if ((st = store_write(a->store, issue_commit, &job)) != ST_OK)
		goto out;
	log_info("issued %s to %s (profile %s, by %s)", row.serial,
	    device_id ? device_id : "-", p->name, actor);
	*out = cert;
	cert = NULL;
	st = ST_OK;
	goto out;
refuse:
	st = audit_refusal(a, actor, device_id ? device_id : profile_name, st);
out:
	OPENSSL_free(row.der);
	free(row.issuer);
	free(row.subject);
	X509_free(cert);
	ca_csr_free(csr);
	return st;
}

const struct ca_config *
authority_config(const struct authority *a)
{
	return a->cfg;
}

const struct policy *
authority_policy(const struct authority *a)
{
	return a->policy;
}

struct store *
authority_store(struct authority *a)
{
	return a->store;
}

X509 *
authority_get0_issuing(const struct authority *a)
{
	return a->issuing;
}

X509 *
authority_get0_root(const struct authority *a)
{
	return a->root;
}
