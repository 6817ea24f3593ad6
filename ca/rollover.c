/*
 * rollover: a new issuing CA beside the old one (rollover.h), and the old
 * one's retirement once its last certificate has expired.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/issue.h"
#include "ca/issuer.h"
#include "ca/rollover.h"
#include "ca/service.h"
#include "common/file.h"
#include "common/log.h"
#include "common/secret.h"
#include "signer/local.h"

#define DAY 86400
/* The new issuing CA's life, as init gives the first one. */
#define ISSUING_DAYS (5 * 365)
#define PIN_ENV "TESSERA_HSM_PIN"
#define ACTOR "operator id=\"rollover\""

/* What one rollover holds while it runs. */
struct roll {
	struct ca_config *cfg;
	struct signer *signer; /* set-up mode: the root signs a CA */
	struct store *store;
	struct signer_key *root_key, *new_key, *ocsp_key;
	X509 *root, *old, *new_cert, *ocsp;
	X509 *retiring; /* an earlier rollover's CA, not retired yet */
	char new_uri[LIMIT_LABEL_LEN + 32];
	char *ocsp_uri;
	int64_t now;
};

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

/* certs as PEM into DIR/rel, atomically (mode 0644: certificates). */
static enum status
write_certs(const struct ca_config *cfg, const char *rel, X509 *const *certs,
    size_t count)
{
	char *path = NULL, *pem = NULL;
	size_t len = 0;
	enum status st;

	if ((st = ca_pem_encode(certs, count, NULL, &pem, &len)) != ST_OK)
		return st;
	if ((path = ca_config_path(cfg, rel)) == NULL)
		st = ST_NOMEM;
	else
		st = file_write_atomic(path, pem, len, 0644);
	free(path);
	ca_pem_free(pem, len);
	return st;
}

/*
 * The signer in set-up mode (the root signs a CA certificate, an issuing
 * key is made): the new issuing key's URI is the issuing role's, so the
 * responder's certificate is signed with it.
 */
static enum status
roll_signer_open(struct roll *r)
{
	struct signer_local_config sc;
	char *conf = NULL, *path = NULL, *pin = NULL;
	enum status st;

	if (r->cfg->softhsm_conf != NULL) {
		if ((conf = ca_config_path(r->cfg, r->cfg->softhsm_conf)) ==
		    NULL)
			return ST_NOMEM;
		setenv("SOFTHSM2_CONF", conf, 1);
		free(conf);
	}
	st = secret_read_env(PIN_ENV, LIMIT_PIN_LEN, &pin);
	if (st == ST_NOTFOUND && r->cfg->hsm_pin_file != NULL) {
		if ((path = ca_config_path(r->cfg, r->cfg->hsm_pin_file)) ==
		    NULL)
			return ST_NOMEM;
		st = secret_read_file(path, LIMIT_PIN_LEN, &pin);
		free(path);
	} else if (st == ST_NOTFOUND) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "no HSM PIN: set %s or hsm.pin_file in tessera.json",
		    PIN_ENV);
	}
	if (st != ST_OK)
		return st;
	memset(&sc, 0, sizeof(sc));
	sc.module = r->cfg->hsm_module;
	sc.token = r->cfg->hsm_token;
	sc.pin = pin;
	sc.key_uri[SIGNER_ROLE_ROOT] = r->cfg->key_root;
	sc.key_uri[SIGNER_ROLE_ISSUING] = r->new_uri;
	sc.key_uri[SIGNER_ROLE_OCSP] = r->cfg->key_ocsp;
	sc.root = r->root;
	sc.is_setup = 1;
	sc.open_tries = 5;
	st = signer_local_open(&sc, &r->signer);
	secret_free(pin);
	return st;
}

/* The label and URI of the new issuing key: PREFIX-issuing-ca-TIME-RAND. */
static enum status
new_key_name(struct roll *r, char *label, size_t cap)
{
	char base[LIMIT_LABEL_LEN + 1];
	unsigned char rnd[4];
	enum status st;
	int n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
	if ((st = ca_config_key_label(
	         r->cfg, "issuing-ca", base, sizeof(base))) != ST_OK)
		return st;
	n = snprintf(label, cap, "%s-%lld-%02x%02x%02x%02x", base,
	    (long long)r->now, rnd[0], rnd[1], rnd[2], rnd[3]);
	if (n < 0 || (size_t)n >= cap)
		return status_fail(
		    ST_LIMIT, "key label %s-TIME: too long", base);
	snprintf(r->new_uri, sizeof(r->new_uri), "pkcs11:object=%s", label);
	return ST_OK;
}

/* The generations: the old CA's (its row, or 0) and the highest. */
struct gen_job {
	const char *old_serial;
	int max_gen;
};

static enum status
gen_read(struct store_txn *txn, void *arg)
{
	struct gen_job *j = arg;

	return store_txn_issuer_max_gen(txn, &j->max_gen);
}

/* The issuers rows (the old CA's when it has none) and the audit. */
struct record_job {
	struct store_issuer old, new;
	int old_has_row;
	const char *label;
	int64_t now;
};

static enum status
record_commit(struct store_txn *txn, void *arg)
{
	const struct record_job *j = arg;
	char detail[512];
	enum status st;

	if (!j->old_has_row &&
	    (st = store_txn_issuer_add(txn, &j->old)) != ST_OK)
		return st;
	if ((st = store_txn_issuer_add(txn, &j->new)) != ST_OK)
		return st;
	snprintf(detail, sizeof(detail),
	    "generation %d after %d (serial %s); key %s; the old CA signs "
	    "CRLs and OCSP for what it issued until it is retired",
	    j->new.gen, j->old.gen, j->old.serial, j->label);
	return audit_append(
	    txn, j->now, ACTOR, "ca.rollover", j->new.serial, detail);
}

/* Refusals before anything is made. */
static enum status
roll_check(struct roll *r, const char *data_dir)
{
	int64_t root_end;

	if (r->cfg->key_root == NULL)
		return status_fail(ST_CONFLICT,
		    "%s has an offline root (init --offline-root): a rollover "
		    "needs the root to sign the new issuing CA, and this "
		    "tessera rolls over only with the root key in the token. "
		    "Set up the next issuing CA as a new data directory "
		    "(tessera init --offline-root, its CSR signed by the "
		    "root, tessera ca import) and move devices to it by "
		    "renewal",
		    data_dir);
	if (r->retiring != NULL)
		return status_fail(ST_CONFLICT,
		    "%s is in a rollover already: the issuing CA before it "
		    "(ca/retiring.pem, key %s) still signs CRLs and OCSP for "
		    "the certificates it issued until the last of them "
		    "expires, when tessera serve retires it; roll over again "
		    "after that",
		    data_dir, r->cfg->key_retiring);
	root_end = ca_time_unix(X509_get0_notAfter(r->root));
	if (root_end - r->now < DAY)
		return status_fail(ST_LIMIT,
		    "the root CA ends within a day (notAfter %lld): a new "
		    "issuing CA under it would be useless",
		    (long long)root_end);
	return ST_OK;
}

/* The new issuing CA under the root, and the responder under it. */
static enum status
roll_issue(struct roll *r, int gen)
{
	static const int eku_ocsp[] = {NID_OCSP_sign};
	struct ca_service_spec spec;
	char cn[LIMIT_NAME_LEN], crt_path[48];
	char *root_crl, *root_crt, *ocsp_url, *crt;
	int64_t days = ISSUING_DAYS;
	int64_t root_end = ca_time_unix(X509_get0_notAfter(r->root));
	enum status st = ST_NOMEM;

	root_crl = url_join(r->cfg->publish_url, "/crl/root.crl");
	root_crt = url_join(r->cfg->publish_url, "/ca/root.crt");
	ocsp_url = url_join(r->cfg->publish_url, "/ocsp");
	authority_ca_cert_path(gen, crt_path, sizeof(crt_path));
	crt = url_join(r->cfg->publish_url, crt_path);
	if (!root_crl || !root_crt || !ocsp_url || !crt)
		goto out;
	/* Never outlive the root. */
	if ((root_end - r->now) / DAY < days)
		days = (root_end - r->now) / DAY;
	/* A name of its own: relying parties never confuse the two CAs
	 * while both are in use. */
	snprintf(cn, sizeof(cn), "%s Issuing CA %d", r->cfg->name, gen + 1);
	spec = (struct ca_service_spec){.cn = cn,
	    .profile = "issuing-ca",
	    .pubkey = signer_key_get0_public(r->new_key),
	    .days = days,
	    .is_ca = 1,
	    .pathlen = 0,
	    .key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN,
	    .md_nid = ca_key_md_nid(signer_key_get0_public(r->root_key))};
	if ((st = ca_service_issue(r->store, r->cfg->name, ACTOR, r->now, &spec,
	         r->root, r->root_key, root_crl, ocsp_url, root_crt,
	         &r->new_cert)) != ST_OK)
		goto out;
	/* The delegated responder answers for the new CA's certificates:
	 * the same key, certified by it (RFC 6960 §4.2.2.2). */
	snprintf(cn, sizeof(cn), "%s OCSP Responder", r->cfg->name);
	spec = (struct ca_service_spec){.cn = cn,
	    .profile = "ocsp-responder",
	    .pubkey = signer_key_get0_public(r->ocsp_key),
	    .days = 30,
	    .pathlen = -1,
	    .key_usage = X509v3_KU_DIGITAL_SIGNATURE,
	    .eku = eku_ocsp,
	    .eku_count = 1,
	    .ocsp_nocheck = 1,
	    .md_nid = NID_sha256,
	    .issuer_gen = gen};
	st = ca_service_issue(r->store, r->cfg->name, ACTOR, r->now, &spec,
	    r->new_cert, r->new_key, NULL, ocsp_url, crt, &r->ocsp);
out:
	free(root_crl);
	free(root_crt);
	free(ocsp_url);
	free(crt);
	return st;
}

/* The data directory switched: files, then tessera.json. */
static enum status
roll_files(struct roll *r)
{
	X509 *chain[3];
	char *old_issuing;
	enum status st;

	chain[0] = r->new_cert;
	chain[1] = r->old;
	chain[2] = r->root;
	if ((st = write_certs(r->cfg, AUTHORITY_RETIRING_PEM, &r->old, 1)) !=
	        ST_OK ||
	    (st = write_certs(r->cfg, "ca/issuing.pem", &r->new_cert, 1)) !=
	        ST_OK ||
	    (st = write_certs(r->cfg, "ca/chain.pem", chain, 3)) != ST_OK ||
	    (st = write_certs(r->cfg, "ca/ocsp.pem", &r->ocsp, 1)) != ST_OK)
		return st;
	old_issuing = r->cfg->key_issuing;
	if ((r->cfg->key_issuing = strdup(r->new_uri)) == NULL) {
		r->cfg->key_issuing = old_issuing;
		return ST_NOMEM;
	}
	free(r->cfg->key_retiring); /* a retired one's, if any */
	r->cfg->key_retiring = old_issuing;
	return ca_config_update(r->cfg);
}

enum status
ca_rollover(const char *data_dir, struct ca_rollover_result *out)
{
	struct roll r;
	struct gen_job gj;
	struct record_job rj;
	struct store_issuer row;
	char *db = NULL;
	enum status st;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	memset(&rj, 0, sizeof(rj));
	r.now = (int64_t)time(NULL);
	if ((st = ca_config_load(data_dir, &r.cfg)) != ST_OK)
		return st;
	if (r.cfg->key_root != NULL &&
	    ((st = authority_ca_certs_load(r.cfg, &r.root, &r.old)) != ST_OK ||
	        (st = authority_retiring_cert_load(r.cfg, &r.retiring)) !=
	            ST_OK))
		goto out;
	if ((st = roll_check(&r, data_dir)) != ST_OK ||
	    (st = ca_cert_serial_hex(r.old, out->old_serial)) != ST_OK ||
	    (st = new_key_name(&r, out->key_label, sizeof(out->key_label))) !=
	        ST_OK ||
	    (st = publication_ocsp_key_uri(r.cfg, &r.ocsp_uri)) != ST_OK ||
	    (st = roll_signer_open(&r)) != ST_OK ||
	    (st = signer_key_find(r.signer, r.cfg->key_root, &r.root_key)) !=
	        ST_OK ||
	    (st = signer_key_find(r.signer, r.ocsp_uri, &r.ocsp_key)) != ST_OK)
		goto out;
	if ((db = ca_config_path(r.cfg, r.cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = store_open(db, &r.store)) != ST_OK)
		goto out;
	/* The generations before anything is made. */
	memset(&gj, 0, sizeof(gj));
	if ((st = store_write(r.store, gen_read, &gj)) != ST_OK)
		goto out;
	st = store_issuer_find(r.store, out->old_serial, &row);
	if (st == ST_OK) {
		rj.old = row;
		rj.old_has_row = 1;
	} else if (st == ST_NOTFOUND) {
		/* Before its first rollover the issuing CA is generation 0. */
		rj.old.gen = 0;
		snprintf(rj.old.serial, sizeof(rj.old.serial), "%s",
		    out->old_serial);
		snprintf(rj.old.key_uri, sizeof(rj.old.key_uri), "%s",
		    r.cfg->key_issuing);
		rj.old.not_after = ca_time_unix(X509_get0_notAfter(r.old));
		rj.old.created = ca_time_unix(X509_get0_notBefore(r.old));
	} else {
		goto out;
	}
	rj.new.gen = (gj.max_gen > rj.old.gen ? gj.max_gen : rj.old.gen) + 1;
	if (rj.new.gen >= STORE_ISSUER_GEN_MAX) {
		st = status_fail(
		    ST_LIMIT, "issuing CA generation %d", rj.new.gen);
		goto out;
	}
	if ((st = signer_key_generate(r.signer, out->key_label,
	         SIGNER_KEY_EC_P256, &r.new_key)) != ST_OK)
		goto out;
	log_info("rollover: new issuing key %s", out->key_label);
	if ((st = roll_issue(&r, rj.new.gen)) != ST_OK ||
	    (st = ca_cert_serial_hex(r.new_cert, out->new_serial)) != ST_OK)
		goto out;
	snprintf(rj.new.serial, sizeof(rj.new.serial), "%s", out->new_serial);
	snprintf(rj.new.key_uri, sizeof(rj.new.key_uri), "%s", r.new_uri);
	rj.new.not_after = ca_time_unix(X509_get0_notAfter(r.new_cert));
	rj.new.created = r.now;
	rj.label = out->key_label;
	rj.now = r.now;
	if ((st = store_write(r.store, record_commit, &rj)) != ST_OK ||
	    (st = roll_files(&r)) != ST_OK)
		goto out;
	out->old_gen = rj.old.gen;
	out->new_gen = rj.new.gen;
	out->new_not_after = rj.new.not_after;
out:
	store_close(r.store);
	signer_key_free(r.root_key);
	signer_key_free(r.new_key);
	signer_key_free(r.ocsp_key);
	signer_close(r.signer);
	X509_free(r.root);
	X509_free(r.old);
	X509_free(r.retiring);
	X509_free(r.new_cert);
	X509_free(r.ocsp);
	free(r.ocsp_uri);
	free(db);
	ca_config_free(r.cfg);
	return st;
}

/* The retirement's row and audit entry (once for the store). */
struct retire_job {
	int gen;
	const char *serial;
	int64_t now, last;
	int is_first; /* this node changed the row */
};

static enum status
retire_commit(struct store_txn *txn, void *arg)
{
	struct retire_job *j = arg;
	char detail[256];
	enum status st;

	st = store_txn_issuer_retire(txn, j->gen, j->now);
	if (st == ST_NOTFOUND)
		return ST_OK; /* another node of the store did it */
	if (st != ST_OK)
		return st;
	j->is_first = 1;
	snprintf(detail, sizeof(detail),
	    "generation %d: its last certificate expired at %lld; it signs "
	    "nothing more",
	    j->gen, (long long)j->last);
	return audit_append(txn, j->now, "tessera id=\"scheduler\"",
	    "ca.retire", j->serial, detail);
}

/*
 * ca/chain.pem the issuing CA and the root, ca/retiring.pem kept as
 * ca/retired-gG.pem: what every process reads at its next start. A worker
 * writes only ca/, tls/ and crl/ (ca/confine.c): tessera.json keeps
 * keys.retiring, a key that signs nothing without ca/retiring.pem, until
 * the next rollover replaces it.
 */
static enum status
retire_files(struct authority *a, int gen)
{
	char *from = NULL, *to = NULL;
	char rel[48];
	X509 *chain[2];
	enum status st = ST_NOMEM;

	snprintf(rel, sizeof(rel), "ca/retired-g%d.pem", gen);
	if ((from = ca_config_path(a->cfg, AUTHORITY_RETIRING_PEM)) == NULL ||
	    (to = ca_config_path(a->cfg, rel)) == NULL)
		goto out;
	chain[0] = a->issuing;
	chain[1] = a->root;
	if ((st = write_certs(a->cfg, "ca/chain.pem", chain, 2)) != ST_OK)
		goto out;
	if (rename(from, to) != 0 && errno != ENOENT)
		st = status_fail(ST_INTERNAL, "rename %s to %s: %s", from, to,
		    strerror(errno));
out:
	free(from);
	free(to);
	return st;
}

enum status
issuer_retire_tick(struct authority *a, int64_t now, int *retired)
{
	struct retire_job job;
	int64_t last = 0;
	enum status st;

	*retired = 0;
	if (a->retiring == NULL || issuer_is_retired(a->retiring))
		return ST_OK;
	/* Nothing new is ever issued under it: its last notAfter is read
	 * once, and again only when it has passed. */
	if (issuer_until(a->retiring) != 0 && now <= issuer_until(a->retiring))
		return ST_OK;
	if ((st = store_gen_last_expiry(
	         a->store, issuer_gen(a->retiring), &last)) != ST_OK)
		return st;
	issuer_set_until(a->retiring, last > 0 ? last : 1);
	if (now <= issuer_until(a->retiring))
		return ST_OK;
	memset(&job, 0, sizeof(job));
	job.gen = issuer_gen(a->retiring);
	job.serial = issuer_serial(a->retiring);
	job.now = now;
	job.last = last;
	if ((st = store_write(a->store, retire_commit, &job)) != ST_OK ||
	    (st = retire_files(a, job.gen)) != ST_OK)
		return st;
	issuer_set_retired(a->retiring);
	*retired = 1;
	log_info("issuing CA %s (generation %d) retired: its last certificate "
	         "expired at %lld; it signs no more CRLs or OCSP answers and "
	         "leaves cacerts at this reload; its key %s stays in the token "
	         "(destroy it with the HSM's own tools once its CRLs are "
	         "archived)%s",
	    job.serial, job.gen, (long long)last,
	    signer_key_label(issuer_key(a->retiring)),
	    job.is_first ? "" : " (recorded by another node already)");
	return ST_OK;
}
