#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/csr.h"
#include "ca/issue.h"
#include "ca/mint.h"
#include "ca/service.h"
#include "ca/policy.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/log.h"
#include "common/secret.h"
#include "signer/local.h"
#include "signer/remote.h"

#define PIN_ENV "TESSERA_HSM_PIN"
/* Attempts to open the token: 50, 100, 200, 400 ms apart. */
#define OPEN_TRIES 5
/* A signer process starting or restarting: 100 ms apart, 15 s in all. */
#define SIGNER_WAIT_TRIES 150

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

enum status
authority_ca_certs_load(
    const struct ca_config *cfg, X509 **root, X509 **issuing)
{
	enum status st;

	if ((st = load_cert(cfg, "ca/root.pem", root)) != ST_OK ||
	    (st = load_cert(cfg, "ca/issuing.pem", issuing)) != ST_OK) {
		/* init --offline-root stops before the certificates. */
		if (st == ST_NOTFOUND && cfg->key_root == NULL)
			st = status_fail(ST_NOTFOUND,
			    "%s waits for its issuing CA certificate: have "
			    "the offline root sign ca/issuing.csr, then run "
			    "tessera ca import --data %s --cert FILE --chain "
			    "ROOT",
			    cfg->data_dir, cfg->data_dir);
	}
	return st;
}

enum status
authority_retiring_cert_load(const struct ca_config *cfg, X509 **retiring)
{
	enum status st;

	*retiring = NULL;
	if (cfg->key_retiring == NULL)
		return ST_OK;
	/* Retired (ca/retiring.pem renamed): keys.retiring signs nothing. */
	if ((st = load_cert(cfg, AUTHORITY_RETIRING_PEM, retiring)) ==
	    ST_NOTFOUND) {
		status_clear();
		return ST_OK;
	}
	return st;
}

enum status
authority_file_cert_load(
    const struct ca_config *cfg, const char *rel, X509 **out)
{
	return load_cert(cfg, rel, out);
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

enum status
authority_signer_local_open(const struct ca_config *cfg, X509 *root,
    X509 *issuing, X509 *retiring, const char *given_pin, int tries,
    struct signer **out)
{
	struct signer_local_config sc;
	char *path = NULL, *conf = NULL, *pin = NULL;
	enum status st = ST_OK;

	*out = NULL;
	if (cfg->softhsm_conf != NULL) {
		if ((conf = ca_config_path(cfg, cfg->softhsm_conf)) == NULL)
			return ST_NOMEM;
		/* SoftHSMv2 finds its token directory through this. */
		setenv("SOFTHSM2_CONF", conf, 1);
		free(conf);
	}
	if (given_pin != NULL)
		st = secret_dup(given_pin, LIMIT_PIN_LEN, &pin);
	else
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
	memset(&sc, 0, sizeof(sc));
	sc.module = cfg->hsm_module;
	sc.token = cfg->hsm_token;
	sc.pin = pin;
	sc.key_uri[SIGNER_ROLE_ROOT] = cfg->key_root;
	sc.key_uri[SIGNER_ROLE_ISSUING] = cfg->key_issuing;
	sc.key_uri[SIGNER_ROLE_OCSP] = cfg->key_ocsp;
	sc.key_uri[SIGNER_ROLE_TOKEN] = cfg->key_token;
	sc.key_uri[SIGNER_ROLE_AUDIT] = cfg->key_audit;
	sc.key_uri[SIGNER_ROLE_RETIRING] = cfg->key_retiring;
	sc.root = root;
	sc.issuing = issuing;
	sc.retiring = retiring;
	sc.open_tries = tries;
	st = signer_local_open(&sc, out);
	secret_free(pin);
	return st;
}

/* Let go of the key handles. */
static void
keys_release(struct authority *a)
{
	publication_drop_keys(a);
	signer_key_free(a->issuing_key);
	signer_key_free(a->audit_key);
	a->issuing_key = a->audit_key = NULL;
}

/* Let go of the key handles and the signer. */
static void
keys_drop(struct authority *a)
{
	keys_release(a);
	signer_close(a->signer);
	a->signer = NULL;
}

/*
 * Find the keys tessera signs with: the issuing and audit keys here, the
 * root and OCSP responder keys for publication. They are handles: the
 * signer finds them again in the token after a fault.
 */
static enum status
keys_find(struct authority *a)
{
	enum status st;

	if ((st = signer_key_find(
	         a->signer, a->cfg->key_issuing, &a->issuing_key)) != ST_OK)
		return st;
	if (X509_check_private_key(
	        a->issuing, signer_key_get0_public(a->issuing_key)) != 1)
		return status_fail(ST_CONFLICT,
		    "the key %s does not match "
		    "ca/issuing.pem",
		    a->cfg->key_issuing);
	if (a->cfg->key_audit != NULL &&
	    (st = signer_key_find(
	         a->signer, a->cfg->key_audit, &a->audit_key)) != ST_OK)
		return st;
	return publication_keys(a);
}

int
authority_maintain_due(struct authority *a)
{
	return minter_maintain_due(a->minter);
}

void
authority_maintain(struct authority *a)
{
	minter_maintain(a->minter);
}

enum status
authority_audit_checkpoint(struct authority *a, int *written)
{
	*written = 0;
	if (a->audit_key == NULL)
		return status_fail(ST_NOTFOUND,
		    "tessera.json names no audit key (keys.audit): this data "
		    "directory cannot sign checkpoints");
	return audit_checkpoint(
	    a->store, a->audit_key, (int64_t)time(NULL), written);
}

/*
 * Sign a checkpoint over what the audit log gained since the last one. A
 * failure is logged, not returned: the entries stay and the next
 * checkpoint covers them.
 */
static void
audit_sign(struct authority *a)
{
	int written = 0;

	if (a->audit_key == NULL || a->store == NULL)
		return;
	if (authority_audit_checkpoint(a, &written) != ST_OK)
		log_warn("audit checkpoint: %s", status_detail());
	else if (written)
		log_debug("audit checkpoint signed");
}

/* The generation of the issuing CA whose certificate is cert: the
 * issuers table's, 0 when it has no row (no rollover yet). */
static enum status
issuer_gen_of(struct authority *a, X509 *cert, int *gen)
{
	struct store_issuer row;
	char serial[41];
	enum status st;

	*gen = 0;
	if ((st = ca_cert_serial_hex(cert, serial)) != ST_OK)
		return st;
	st = store_issuer_find(a->store, serial, &row);
	if (st == ST_NOTFOUND)
		return ST_OK;
	if (st == ST_OK)
		*gen = row.gen;
	return st;
}

/*
 * The issuing CA's generation, and after a rollover the retiring one
 * (retiring, ca/retiring.pem, with tessera.json's keys.retiring).
 */
static enum status
issuers_open(struct authority *a, X509 *retiring)
{
	struct signer_key *key = NULL;
	int gen = 0;
	enum status st;

	if ((st = issuer_gen_of(a, a->issuing, &a->issuing_gen)) != ST_OK ||
	    retiring == NULL)
		return st;
	if ((st = issuer_gen_of(a, retiring, &gen)) != ST_OK)
		return st;
	if (gen == a->issuing_gen)
		return status_fail(ST_CONFLICT,
		    "ca/retiring.pem and ca/issuing.pem are the same issuing "
		    "CA generation (%d)",
		    gen);
	if ((st = signer_key_find(a->signer, a->cfg->key_retiring, &key)) !=
	    ST_OK)
		return st;
	return issuer_open(retiring, key, gen,
	    policy_ocsp(a->policy)->validity_seconds, &a->retiring);
}

/*
 * Open the authority; its signer is the local one on the token (pin, or
 * the environment's or the configured file's) or, with socket_path, the
 * signer process's.
 */
static enum status
open_with(const char *data_dir, const char *pin, const char *socket_path,
    struct authority **out)
{
	struct timespec pause = {0, 100 * 1000000L};
	struct authority *a = NULL;
	X509 *own[3], *retiring = NULL;
	char rel[48];
	int tries;
	char *path = NULL;
	enum status st;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ST_NOMEM;
	/* The publisher before the keys: they are found into it. */
	if ((st = publisher_new(&a->pub)) != ST_OK ||
	    (st = refusals_new(&a->refusals)) != ST_OK ||
	    (st = expiry_watch_new(&a->expiry)) != ST_OK)
		goto out;
	if ((st = ca_config_load(data_dir, &a->cfg)) != ST_OK)
		goto out;
	if ((path = ca_config_path(a->cfg, a->cfg->policy)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = policy_load(path, &a->policy)) != ST_OK)
		goto out;
	if ((st = authority_ca_certs_load(a->cfg, &a->root, &a->issuing)) !=
	        ST_OK ||
	    (st = authority_retiring_cert_load(a->cfg, &retiring)) != ST_OK)
		goto out;
	if ((a->issuing_name = ca_name_string(
	         X509_get_subject_name(a->issuing))) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	/* Manufacturer trust files are named relative to the policy. */
	*strrchr(path, '/') = '\0';
	own[0] = a->root;
	own[1] = a->issuing;
	/* After a rollover, what the retiring CA issued authenticates too
	 * until it expires. */
	own[2] = retiring;
	if ((st = trust_open(own, retiring != NULL ? 3 : 2, a->policy, path,
	         &a->trust)) != ST_OK)
		goto out;
	if (socket_path == NULL)
		st = authority_signer_local_open(a->cfg, a->root, a->issuing,
		    retiring, pin, OPEN_TRIES, &a->signer);
	else
		st = signer_remote_open(socket_path, &a->signer);
	if (st != ST_OK)
		goto out;
	/* A signer process that is restarting is waited for (bounded). */
	for (tries = 0; (st = keys_find(a)) == ST_UNAVAILABLE &&
	     socket_path != NULL && tries < SIGNER_WAIT_TRIES;
	     tries++) {
		keys_release(a);
		nanosleep(&pause, NULL);
	}
	if (st != ST_OK)
		goto out;
	if (a->cfg->key_audit == NULL)
		log_warn("tessera.json names no audit key (keys.audit): the "
		         "audit log gets no signed checkpoints");
	free(path);
	if ((path = ca_config_path(a->cfg, a->cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = store_open(path, &a->store)) != ST_OK ||
	    (st = issuers_open(a, retiring)) != ST_OK)
		goto out;
	a->crl_url = publication_crl_url(
	    a, store_shard_make(a->issuing_gen, STORE_CRL_SHARD_FULL));
	a->ocsp_url = url_join(a->cfg->publish_url, "/ocsp");
	authority_ca_cert_path(a->issuing_gen, rel, sizeof(rel));
	a->ca_issuers_url = url_join(a->cfg->publish_url, rel);
	if (!a->crl_url || !a->ocsp_url || !a->ca_issuers_url) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = authority_templates_build(a)) != ST_OK)
		goto out;
	if ((st = publication_open(a)) != ST_OK ||
	    (st = minter_open(a, &a->minter)) != ST_OK)
		goto out;
	*out = a;
	a = NULL;
	st = ST_OK;
out:
	X509_free(retiring);
	free(path);
	authority_close(a);
	return st;
}

enum status
authority_open(const char *data_dir, struct authority **out)
{
	return open_with(data_dir, NULL, NULL, out);
}

enum status
authority_open_pin(
    const char *data_dir, const char *pin, struct authority **out)
{
	return open_with(data_dir, pin, NULL, out);
}

enum status
authority_open_signer(
    const char *data_dir, const char *socket_path, struct authority **out)
{
	return open_with(data_dir, NULL, socket_path, out);
}

void
authority_close(struct authority *a)
{
	if (a == NULL)
		return;
	/* Shutting down: every refusal in the audit, no entry unsigned. */
	authority_flush_all(a);
	audit_sign(a);
	/* Before the signer closes: the handles are its. */
	minter_free(a->minter);
	publisher_free(a->pub);
	a->pub = NULL;
	issuer_free(a->retiring);
	a->retiring = NULL;
	keys_drop(a);
	store_close(a->store);
	trust_free(a->trust);
	refusals_free(a->refusals);
	expiry_watch_free(a->expiry);
	policy_free(a->policy);
	X509_free(a->root);
	X509_free(a->issuing);
	free(a->issuing_name);
	free(a->crl_url);
	free(a->ocsp_url);
	free(a->ca_issuers_url);
	authority_templates_free(a);
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
	char id[LIMIT_NAME_LEN + 8], extra[LIMIT_LABEL_LEN * 2 + 64];

	/*
	 * The id is quoted (it comes from a certificate or a request); what
	 * tessera itself vouches for follows as key=value: a certificate's
	 * serial, profile and role, a manufacturer's name. A device called
	 * "admin" reads cert id="admin" profile=device role=device, never
	 * like the admin (profile=admin role=admin).
	 */
	extra[0] = '\0';
	if (who->kind == PRINCIPAL_CERT)
		snprintf(extra, sizeof(extra), " serial=%s profile=%s role=%s",
		    who->serial[0] ? who->serial : "-",
		    who->profile[0] ? who->profile : "-",
		    who->role[0] ? who->role : "-");
	else if (who->kind == PRINCIPAL_MANUFACTURER)
		snprintf(extra, sizeof(extra), " manufacturer=%s",
		    who->authenticator[0] ? who->authenticator : "-");
	snprintf(out, cap, "%s id=%s%s%s%s", kind,
	    who->id[0] ? log_quote(who->id, id, sizeof(id)) : "-", extra,
	    who->address[0] ? " from=" : "", who->address);
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

X509 *
authority_get0_retiring(const struct authority *a)
{
	return a->retiring != NULL ? issuer_cert(a->retiring) : NULL;
}

void
authority_ca_cert_path(int gen, char *out, size_t cap)
{
	if (gen <= 0)
		snprintf(out, cap, "/ca/issuing.crt");
	else
		snprintf(out, cap, "/ca/issuing-g%d.crt", gen);
}

void
authority_ca_cert_paths(
    const struct authority *a, char *issuing, char *retiring, size_t cap)
{
	authority_ca_cert_path(a->issuing_gen, issuing, cap);
	retiring[0] = '\0';
	if (a->retiring != NULL)
		authority_ca_cert_path(issuer_gen(a->retiring), retiring, cap);
}

enum status
authority_client_ca_pem(const struct authority *a, char **pem, size_t *pem_len)
{
	STACK_OF(X509) *roots = trust_maker_roots(a->trust);
	X509 *certs[3 + LIMIT_POLICY_ROLES * 4];
	size_t n = 0;
	int i;

	certs[n++] = a->issuing;
	if (a->retiring != NULL)
		certs[n++] = issuer_cert(a->retiring);
	certs[n++] = a->root;
	for (i = 0;
	     i < sk_X509_num(roots) && n < sizeof(certs) / sizeof(certs[0]);
	     i++)
		certs[n++] = sk_X509_value(roots, i);
	return ca_pem_encode(certs, n, NULL, pem, pem_len);
}

/* Renew when less than a third of the certificate's life is left. */
static int
renewal_due(X509 *cert, int64_t now)
{
	int64_t nb = ca_time_unix(X509_get0_notBefore(cert));
	int64_t na = ca_time_unix(X509_get0_notAfter(cert));

	return nb < 0 || na < 0 || na - now < (na - nb) / 3;
}

/* One of tessera's own certificates that it renews by itself. */
struct renewal {
	const char *what; /* for the log */
	const char *cert_rel; /* the PEM it lives in */
	const char *key_rel; /* a software key to replace, or NULL */
	const struct signer_key *token_key; /* else: the token's key stays */
	int with_chain; /* append the issuing CA to the PEM */
	struct ca_service_spec spec; /* cn, profile, days, usages */
};

/*
 * Renew r's certificate when a third of its life is left (or now when
 * force): the same names, a new software key or the same token key, the
 * row committed before the files are written atomically.
 */
static enum status
renew(struct authority *a, struct renewal *r, int force, int *renewed)
{
	GENERAL_NAMES *san = NULL;
	EVP_PKEY *key = NULL;
	X509 *old = NULL, *cert = NULL, *chain[2];
	char *key_pem = NULL, *cert_pem = NULL, *key_path = NULL,
	     *cert_path = NULL;
	size_t key_len = 0, cert_len = 0;
	int64_t now = (int64_t)time(NULL);
	enum status st;

	*renewed = 0;
	if ((st = load_cert(a->cfg, r->cert_rel, &old)) != ST_OK)
		return st;
	if (!force && !renewal_due(old, now)) {
		st = ST_OK;
		goto out;
	}
	/* Nothing is issued under a revoked issuing CA, tessera's own
	 * certificates included; the scheduled renewal waits quietly. */
	if ((st = issuing_ca_check(a)) != ST_OK) {
		if (!force)
			st = ST_OK;
		goto out;
	}
	st = ST_NOMEM;
	if ((cert_path = ca_config_path(a->cfg, r->cert_rel)) == NULL)
		goto out;
	if (r->key_rel != NULL &&
	    ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	        (key_path = ca_config_path(a->cfg, r->key_rel)) == NULL))
		goto out;
	/* The same names as before: operators may have reissued it with
	 * their own SANs. */
	san = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
	r->spec.pubkey =
	    key != NULL ? key : signer_key_get0_public(r->token_key);
	r->spec.san_names = san;
	r->spec.issuer_gen = a->issuing_gen;
	if ((st = ca_service_issue(a->store, a->cfg->name,
	         "tessera id=\"renew\"", now, &r->spec, a->issuing,
	         a->issuing_key, r->key_rel != NULL ? a->crl_url : NULL,
	         a->ocsp_url, a->ca_issuers_url, &cert)) != ST_OK)
		goto out;
	chain[0] = cert;
	chain[1] = a->issuing;
	if ((st = ca_pem_encode(chain, r->with_chain ? 2 : 1, NULL, &cert_pem,
	         &cert_len)) != ST_OK)
		goto out;
	/* Key first: a worker that starts in between fails its key check
	 * and is restarted, rather than serving a mismatched pair. */
	if (key != NULL &&
	    ((st = ca_pem_encode(NULL, 0, key, &key_pem, &key_len)) != ST_OK ||
	        (st = file_write_atomic(key_path, key_pem, key_len, 0600)) !=
	            ST_OK))
		goto out;
	if ((st = file_write_atomic(cert_path, cert_pem, cert_len, 0644)) !=
	    ST_OK)
		goto out;
	log_info("renewed the %s certificate", r->what);
	*renewed = 1;
out:
	ca_pem_free(key_pem, key_len);
	ca_pem_free(cert_pem, cert_len);
	free(key_path);
	free(cert_path);
	GENERAL_NAMES_free(san);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(old);
	return st;
}

enum status
authority_tls_renew(struct authority *a, int force, int *renewed)
{
	static const int eku[] = {NID_server_auth};
	struct renewal r;
	char *san = NULL;
	enum status st;

	memset(&r, 0, sizeof(r));
	r.what = "TLS server";
	r.cert_rel = "tls/server.pem";
	r.key_rel = "tls/server.key";
	r.with_chain = 1;
	r.spec.cn = "localhost";
	/* The names tessera.json keeps (else the certificate's own). */
	if (a->cfg->dns_count + a->cfg->ip_count > 0) {
		if ((san = ca_config_san(a->cfg)) == NULL)
			return ST_NOMEM;
		r.spec.san = san;
		r.spec.cn =
		    a->cfg->dns_count > 0 ? a->cfg->dns[0] : a->cfg->ip[0];
	}
	r.spec.profile = "tls-server";
	r.spec.days = 90;
	r.spec.pathlen = -1;
	r.spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	r.spec.eku = eku;
	r.spec.eku_count = 1;
	r.spec.md_nid = NID_sha256;
	st = renew(a, &r, force, renewed);
	free(san);
	return st;
}

enum status
authority_tls_names_set(struct authority *a, const char *const *dns,
    size_t dns_count, const char *const *ip, size_t ip_count, int *renewed)
{
	enum status st;

	*renewed = 0;
	if ((st = ca_config_names_set(a->cfg, dns, dns_count, ip, ip_count)) !=
	    ST_OK)
		return st;
	/* The configuration first: a renewal that fails now is done with
	 * the new names by the next scheduled one. */
	if ((st = ca_config_update(a->cfg)) != ST_OK)
		return st;
	return authority_tls_renew(a, 1, renewed);
}

enum status
authority_admin_renew(struct authority *a, int *renewed)
{
	static const int eku[] = {NID_client_auth};
	struct renewal r;

	memset(&r, 0, sizeof(r));
	r.what = "admin";
	r.cert_rel = "admin/admin.pem";
	r.key_rel = "admin/admin.key";
	r.spec.cn = "admin";
	r.spec.profile = "admin";
	r.spec.days = 365;
	r.spec.pathlen = -1;
	r.spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	r.spec.eku = eku;
	r.spec.eku_count = 1;
	r.spec.md_nid = NID_sha256;
	return renew(a, &r, 1, renewed);
}

/* Certify key as the OCSP responder (now when force, else when due). */
static enum status
ocsp_renewal(
    struct authority *a, const struct signer_key *key, int force, int *renewed)
{
	static const int eku[] = {NID_OCSP_sign};
	char cn[LIMIT_NAME_LEN];
	struct renewal r;

	/* RFC 6960 §4.2.2.2: a delegated responder, short-lived, its key in
	 * the token; ocsp-nocheck, so clients need no status for it. */
	snprintf(cn, sizeof(cn), "%s OCSP Responder", a->cfg->name);
	memset(&r, 0, sizeof(r));
	r.what = "OCSP responder";
	r.cert_rel = "ca/ocsp.pem";
	r.token_key = key;
	r.spec.cn = cn;
	r.spec.profile = "ocsp-responder";
	r.spec.days = 30;
	r.spec.pathlen = -1;
	r.spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	r.spec.eku = eku;
	r.spec.eku_count = 1;
	r.spec.ocsp_nocheck = 1;
	r.spec.md_nid = NID_sha256;
	return renew(a, &r, force, renewed);
}

enum status
authority_ocsp_certify(
    struct authority *a, const struct signer_key *key, int force, int *renewed)
{
	return ocsp_renewal(a, key, force, renewed);
}

enum status
authority_tick(struct authority *a, unsigned *events)
{
	int renewed, is_leader, is_slow = 0;
	enum status st;

	*events = 0;
	/* Without the token there is nothing to sign: what was published
	 * keeps serving, and the token is tried again next time. */
	if (signer_ping(a->signer) != ST_OK)
		return ST_OK;
	/* The store-wide work runs on one node of a shared store. */
	is_leader = store_leader_check(a->store);
	/* Renewed certificates whose overlap ended: revoked, and on the
	 * CRL built just below. */
	if (is_leader && (st = supersede_tick(a, (int64_t)time(NULL))) != ST_OK)
		log_warn("supersede: %s", status_detail());
	/* Every call: CRLs follow revocations within a second. */
	if (is_leader &&
	    (st = publication_tick(a, (int64_t)time(NULL), &is_slow)) != ST_OK)
		log_warn("publication: %s", status_detail());
	/* Elsewhere the CRL files follow the elected node's builds. */
	if (!is_leader)
		publication_crl_mirror(a);
	/* With the minute-scale work: a checkpoint, when there is news. */
	if (is_leader && is_slow)
		audit_sign(a);
	if ((st = authority_tls_renew(a, 0, &renewed)) != ST_OK)
		return st;
	if (renewed)
		*events |= AUTHORITY_TICK_RELOAD;
	/* Workers load the new responder certificate on their restart. */
	if ((st = authority_ocsp_renew(a, 0, &renewed)) != ST_OK)
		return st;
	if (renewed)
		*events |= AUTHORITY_TICK_RELOAD;
	/* After a rollover: the old issuing CA, once nothing it issued is
	 * valid any more, is retired (on every node: its files). */
	if ((st = issuer_retire_tick(a, (int64_t)time(NULL), &renewed)) !=
	    ST_OK)
		log_warn("retiring the old issuing CA: %s", status_detail());
	else if (renewed)
		*events |= AUTHORITY_TICK_RETIRED;
	/* After the renewals: what is left expiring needs a person. */
	expiry_tick(a, (int64_t)time(NULL));
	return ST_OK;
}

enum status
authority_health(struct authority *a)
{
	return signer_ping(a->signer);
}
