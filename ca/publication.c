/*
 * publication: what gateways fetch to learn about revocations. CRLs are
 * built from the store (by the one process that runs the scheduled work)
 * and kept there and in DIR/crl/; OCSP answers come pre-signed from the
 * store when they can, and are signed online (and stored) when not. The
 * state is the publisher part's (struct publisher, ca/publication.h),
 * whose body only this file sees.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ca/authority_internal.h"
#include "ca/crl.h"
#include "ca/issue.h"
#include "ca/issuer.h"
#include "ca/ocsp.h"
#include "ca/publication.h"
#include "ca/pubcache.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/log.h"

/* Rebuild the CRLs when half their life has gone, and at most once a
 * second after a revocation (revocations commit far more often). */
#define CRL_MIN_INTERVAL 1
/* Re-sign pre-signed OCSP responses this long before their nextUpdate. */
#define OCSP_REFRESH_FRACTION 2

/*
 * The part's fields (ca/publication.h says who may call and why):
 * - [responder]: behind responder_rw, shared to sign, exclusive to
 *   replace;
 * - [keys]: set by publication_keys, dropped by publication_drop_keys
 *   (at open and close, alone); the root responder made at open;
 * - [tick]: only the thread that runs authority_tick.
 */
struct publisher {
	pthread_rwlock_t responder_rw;
	int has_rw;
	struct signer_key *ocsp_key; /* [responder] */
	X509 *ocsp_cert; /* [responder] */
	struct ca_ocsp *ocsp; /* [responder] */
	char ocsp_serial[41]; /* [responder] the responder certificate's */
	/* The root answers OCSP for the CAs it issued (its own key), and
	 * signs the root CRL. */
	struct signer_key *root_key; /* [keys] */
	struct ca_ocsp *root_ocsp;
	char root_serial[41];
	/* The JWKS, CRLs and stored OCSP answers as served (own lock). */
	struct pubcache *pubcache;
	int64_t crl_seq; /* [tick] last feed seq the CRLs include; -1: none */
	int64_t crl_built; /* [tick] when the CRLs were last built */
	int64_t crl_next; /* [tick] their nextUpdate */
	int64_t slow_tick; /* [tick] when the minute-scale work last ran */
	/* [tick] the store's CRLs (count, sum of crlNumbers) that the files
	 * were last written from by publication_crl_mirror; has_mirror 0:
	 * not yet. */
	int64_t mirror_crls[2];
	int has_mirror;
	int mirror_failing; /* [tick] the last mirror failed (said once) */
};

enum status
publisher_new(struct publisher **out)
{
	struct publisher *p = NULL;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ST_NOMEM;
	if (pthread_rwlock_init(&p->responder_rw, NULL) != 0)
		goto out;
	p->has_rw = 1;
	p->crl_seq = -1;
	if ((st = pubcache_new(&p->pubcache)) != ST_OK)
		goto out;
	*out = p;
	p = NULL;
	st = ST_OK;
out:
	publisher_free(p);
	return st;
}

void
publisher_free(struct publisher *p)
{
	if (p == NULL)
		return;
	/* The responders borrow their keys: freed first. */
	ca_ocsp_free(p->ocsp);
	ca_ocsp_free(p->root_ocsp);
	signer_key_free(p->ocsp_key);
	signer_key_free(p->root_key);
	X509_free(p->ocsp_cert);
	pubcache_free(p->pubcache);
	if (p->has_rw)
		pthread_rwlock_destroy(&p->responder_rw);
	free(p);
}

struct pubcache *
publication_cache(struct authority *a)
{
	return a->pub->pubcache;
}

int
publication_is_responder(struct authority *a, const char *serial)
{
	int is_responder;

	pthread_rwlock_rdlock(&a->pub->responder_rw);
	is_responder = strcmp(serial, a->pub->ocsp_serial) == 0;
	pthread_rwlock_unlock(&a->pub->responder_rw);
	return is_responder;
}

static enum status
load_pem_cert(const struct authority *a, const char *rel, X509 **out)
{
	char *path = ca_config_path(a->cfg, rel);
	BIO *bio;
	enum status st = ST_OK;

	*out = NULL;
	if (path == NULL)
		return ST_NOMEM;
	if ((bio = BIO_new_file(path, "r")) == NULL ||
	    (*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		st = status_fail_ssl(ST_NOTFOUND,
		    "%s: cannot read a "
		    "certificate",
		    path);
	BIO_free(bio);
	free(path);
	return st;
}

/* Where the current responder key's URI is once it was replaced. */
#define OCSP_KEY_URI_FILE "ca/ocsp-key.uri"
/* A responder key's label: the original's (PREFIX-ocsp-responder), a
 * dash and the time. */
#define OCSP_KEY_ROLE "ocsp-responder"

/*
 * The responder key's URI into *out (free()): DIR/ca/ocsp-key.uri once the
 * responder was replaced, tessera.json's keys.ocsp before.
 */
enum status
publication_ocsp_key_uri(const struct ca_config *cfg, char **out)
{
	char *path = ca_config_path(cfg, OCSP_KEY_URI_FILE);
	uint8_t *data = NULL;
	size_t len = 0;
	enum status st;

	*out = NULL;
	if (path == NULL)
		return ST_NOMEM;
	st = file_read(path, LIMIT_NAME_LEN, &data, &len);
	free(path);
	if (st == ST_NOTFOUND) {
		*out = strdup(cfg->key_ocsp);
		return *out != NULL ? ST_OK : ST_NOMEM;
	}
	if (st != ST_OK)
		return st;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if ((*out = strndup((const char *)data, len)) == NULL)
		st = ST_NOMEM;
	free(data);
	return st;
}

enum status
publication_keys(struct authority *a)
{
	char *uri = NULL;
	enum status st;

	/* An offline root (no keys.root) is never in the token. */
	if ((a->cfg->key_root != NULL &&
	        (st = signer_key_find(a->signer, a->cfg->key_root,
	             &a->pub->root_key)) != ST_OK) ||
	    (st = publication_ocsp_key_uri(a->cfg, &uri)) != ST_OK)
		return st;
	st = signer_key_find(a->signer, uri, &a->pub->ocsp_key);
	free(uri);
	if (st != ST_OK)
		return st;
	if (a->pub->ocsp != NULL)
		ca_ocsp_set_key(a->pub->ocsp, a->pub->ocsp_key);
	if (a->pub->root_ocsp != NULL)
		ca_ocsp_set_key(a->pub->root_ocsp, a->pub->root_key);
	return ST_OK;
}

void
publication_drop_keys(struct authority *a)
{
	if (a->pub == NULL)
		return;
	/* The responders borrow their keys: take them back first. */
	if (a->pub->ocsp != NULL)
		ca_ocsp_set_key(a->pub->ocsp, NULL);
	if (a->pub->root_ocsp != NULL)
		ca_ocsp_set_key(a->pub->root_ocsp, NULL);
	signer_key_free(a->pub->ocsp_key);
	signer_key_free(a->pub->root_key);
	a->pub->ocsp_key = a->pub->root_key = NULL;
}

/*
 * The delegated responder from DIR/ca/ocsp.pem and a->pub->ocsp_key, replacing
 * the one in use only when the new one is whole.
 */
static enum status
responder_load(struct authority *a)
{
	struct ca_ocsp_config oc;
	struct ca_ocsp *ocsp = NULL;
	X509 *cert = NULL;
	char serial[41];
	enum status st;

	if ((st = load_pem_cert(a, "ca/ocsp.pem", &cert)) != ST_OK)
		return st;
	memset(&oc, 0, sizeof(oc));
	oc.issuer = a->issuing;
	oc.responder = cert;
	oc.responder_key = a->pub->ocsp_key;
	oc.validity_seconds = policy_ocsp(a->policy)->validity_seconds;
	if ((st = ca_cert_serial_hex(cert, serial)) != ST_OK ||
	    (st = ca_ocsp_new(&oc, &ocsp)) != ST_OK) {
		X509_free(cert);
		return st;
	}
	ca_ocsp_free(a->pub->ocsp);
	X509_free(a->pub->ocsp_cert);
	a->pub->ocsp = ocsp;
	a->pub->ocsp_cert = cert;
	memcpy(a->pub->ocsp_serial, serial, sizeof(serial));
	return ST_OK;
}

enum status
publication_open(struct authority *a)
{
	struct ca_ocsp_config oc;
	enum status st;

	if ((st = ca_cert_serial_hex(a->issuing, a->issuing_serial)) != ST_OK ||
	    (st = ca_cert_serial_hex(a->root, a->pub->root_serial)) != ST_OK ||
	    (st = responder_load(a)) != ST_OK)
		return st;
	/* An offline root answers no OCSP here: its CAs' status is on the
	 * root CRL it signs (ca import --crl); such CertIDs get
	 * unauthorized (RFC 6960 §2.3). */
	if (a->cfg->key_root == NULL)
		return ST_OK;
	/* RFC 6960 §4.2.2.2: the root signs the status of the CAs it
	 * issued itself (no delegate; it is rarely asked). */
	memset(&oc, 0, sizeof(oc));
	oc.issuer = a->root;
	oc.responder = a->root;
	oc.responder_key = a->pub->root_key;
	oc.validity_seconds = policy_ocsp(a->policy)->validity_seconds;
	return ca_ocsp_new(&oc, &a->pub->root_ocsp);
}

/* *revoked_at of serial from the store, -1 while it is valid. */
static enum status
revoked_when(
    struct authority *a, const char *serial, int64_t *revoked_at, int *reason)
{
	struct store_cert *row = NULL;
	enum status st;

	*revoked_at = -1;
	*reason = -1;
	if ((st = store_cert_get(a->store, serial, &row)) != ST_OK)
		return st;
	if (row->status == STORE_CERT_REVOKED) {
		*revoked_at = row->revoked_at;
		*reason = row->reason;
	}
	store_cert_free(row);
	return ST_OK;
}

/* The 503 of a revoked issuing CA, with what the operator does next. */
static enum status
issuing_revoked(const struct authority *a, int64_t when, int reason)
{
	return status_fail(ST_UNAVAILABLE,
	    "the issuing CA (serial %s) was revoked at %lld (%s): nothing is "
	    "issued under it; an operator sets up a new issuing CA (README: "
	    "CA compromise)",
	    a->issuing_serial, (long long)when, ca_reason_name(reason));
}

enum status
issuing_ca_check(struct authority *a)
{
	int64_t when;
	int reason;
	enum status st;

	if ((st = revoked_when(a, a->issuing_serial, &when, &reason)) ==
	    ST_NOTFOUND)
		return ST_OK; /* a data dir whose CA rows predate the store */
	if (st != ST_OK)
		return st;
	return when < 0 ? ST_OK : issuing_revoked(a, when, reason);
}

enum status
issuing_ca_check_in_txn(struct authority *a, struct store_txn *txn)
{
	int64_t when;
	enum status st;

	if ((st = store_txn_cert_revoked_at(txn, a->issuing_serial, &when)) !=
	    ST_OK)
		return st;
	return when < 0 ? ST_OK : issuing_revoked(a, when, -1);
}

/*
 * Before the delegated responder signs: when its certificate was revoked
 * (by this process or another), take up the new one (publication_
 * responder_replace wrote it), or sign nothing (tryLater) until it is
 * there. The old key is never used again.
 */
void
publication_responder_check(struct authority *a)
{
	char serial[sizeof(a->pub->ocsp_serial)];
	int64_t when, new_when;
	char *uri = NULL;
	struct signer_key *key = NULL, *old;
	int reason;

	pthread_rwlock_rdlock(&a->pub->responder_rw);
	memcpy(serial, a->pub->ocsp_serial, sizeof(serial));
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (revoked_when(a, serial, &when, &reason) != ST_OK || when < 0)
		return;
	/* Alone with the responder: no signature with it in flight. */
	pthread_rwlock_wrlock(&a->pub->responder_rw);
	if (strcmp(serial, a->pub->ocsp_serial) != 0)
		goto out; /* another call took up the successor meanwhile */
	ca_ocsp_set_key(a->pub->ocsp, NULL);
	if (publication_ocsp_key_uri(a->cfg, &uri) != ST_OK ||
	    signer_key_find(a->signer, uri, &key) != ST_OK) {
		log_warn("OCSP responder %s is revoked; its successor is not "
		         "there yet: answering tryLater",
		    a->pub->ocsp_serial);
		goto out;
	}
	old = a->pub->ocsp_key;
	a->pub->ocsp_key = key;
	if (responder_load(a) != ST_OK ||
	    revoked_when(a, a->pub->ocsp_serial, &new_when, &reason) != ST_OK ||
	    new_when >= 0) {
		log_warn("OCSP responder %s is revoked and no valid successor "
		         "is written yet: answering tryLater",
		    a->pub->ocsp_serial);
		ca_ocsp_set_key(a->pub->ocsp, NULL);
		a->pub->ocsp_key = old;
		signer_key_free(key);
		goto out;
	}
	signer_key_free(old);
	log_info("OCSP responder replaced: now %s", a->pub->ocsp_serial);
out:
	pthread_rwlock_unlock(&a->pub->responder_rw);
	free(uri);
}

enum status
publication_responder_revoked_in_txn(struct store_txn *txn)
{
	return store_txn_ocsp_delete_all(txn);
}

enum status
publication_responder_replace(struct authority *a)
{
	struct signer_key *key = NULL, *old = NULL;
	char label[LIMIT_LABEL_LEN + 1], uri[LIMIT_LABEL_LEN + 32], *path;
	char base[LIMIT_LABEL_LEN + 1];
	unsigned char r[4];
	int renewed = 0, n;
	enum status st;

	/* Whatever happens next, the old key signs nothing more. */
	pthread_rwlock_wrlock(&a->pub->responder_rw);
	ca_ocsp_set_key(a->pub->ocsp, NULL);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	/* Unique even for two replacements within a second. */
	if (RAND_bytes(r, sizeof(r)) != 1)
		return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
	if ((st = ca_config_key_label(
	         a->cfg, OCSP_KEY_ROLE, base, sizeof(base))) != ST_OK)
		return st;
	n = snprintf(label, sizeof(label), "%s-%lld-%02x%02x%02x%02x", base,
	    (long long)time(NULL), r[0], r[1], r[2], r[3]);
	if (n < 0 || (size_t)n >= sizeof(label))
		return status_fail(
		    ST_LIMIT, "key label %s-TIME: too long", base);
	snprintf(uri, sizeof(uri), "pkcs11:object=%s", label);
	if ((st = signer_key_generate(
	         a->signer, label, SIGNER_KEY_EC_P256, &key)) != ST_OK)
		return st;
	if ((st = authority_ocsp_certify(a, key, 1, &renewed)) != ST_OK) {
		signer_key_free(key);
		return st;
	}
	/* The URI after the certificate: a process that reads the pair in
	 * between finds them apart and answers tryLater until both are. */
	if ((path = ca_config_path(a->cfg, OCSP_KEY_URI_FILE)) == NULL) {
		signer_key_free(key);
		return ST_NOMEM;
	}
	st = file_write_atomic(path, uri, strlen(uri), 0644);
	free(path);
	if (st != ST_OK) {
		signer_key_free(key);
		return st;
	}
	pthread_rwlock_wrlock(&a->pub->responder_rw);
	old = a->pub->ocsp_key;
	a->pub->ocsp_key = key;
	if ((st = responder_load(a)) != ST_OK) {
		a->pub->ocsp_key = old;
		pthread_rwlock_unlock(&a->pub->responder_rw);
		signer_key_free(key);
		return st;
	}
	log_info("OCSP responder replaced: new key %s, certificate %s", label,
	    a->pub->ocsp_serial);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	signer_key_free(old);
	return ST_OK;
}

/* The responder renewed when due (ca/authority.h), or replaced when
 * revoked. */
enum status
authority_ocsp_renew(struct authority *a, int force, int *renewed)
{
	struct store_cert *row = NULL;
	char serial[sizeof(a->pub->ocsp_serial)];
	int is_revoked;
	enum status st;

	*renewed = 0;
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	memcpy(serial, a->pub->ocsp_serial, sizeof(serial));
	pthread_rwlock_unlock(&a->pub->responder_rw);
	/* A revoked responder's key is never certified again: a new one. */
	if ((st = store_cert_get(a->store, serial, &row)) != ST_OK &&
	    st != ST_NOTFOUND)
		return st;
	is_revoked = row != NULL && row->status == STORE_CERT_REVOKED;
	store_cert_free(row);
	if (is_revoked) {
		if ((st = publication_responder_replace(a)) != ST_OK)
			return st;
		*renewed = 1;
		return ST_OK;
	}
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	st = authority_ocsp_certify(a, a->pub->ocsp_key, force, renewed);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	return st;
}

/* "root.crl", "issuing.crl" or "issuing-K.crl" (generation 0), and
 * "issuing-gG.crl" or "issuing-gG-K.crl" after a rollover: one per shard. */
static void
crl_file_name(int shard, char *out, size_t cap)
{
	int gen, index;

	store_shard_split(shard, &gen, &index);
	if (shard == STORE_CRL_SHARD_ROOT)
		snprintf(out, cap, "root.crl");
	else if (gen == 0 && index == STORE_CRL_SHARD_FULL)
		snprintf(out, cap, "issuing.crl");
	else if (gen == 0)
		snprintf(out, cap, "issuing-%d.crl", index);
	else if (index == STORE_CRL_SHARD_FULL)
		snprintf(out, cap, "issuing-g%d.crl", gen);
	else
		snprintf(out, cap, "issuing-g%d-%d.crl", gen, index);
}

char *
publication_crl_url(const struct authority *a, int shard)
{
	const char *base = a->cfg->publish_url;
	size_t len = strlen(base), cap;
	char name[40], *s;
	int gen, index;

	crl_file_name(shard, name, sizeof(name));
	store_shard_split(shard, &gen, &index);
	/* A full CRL's URL as it always was (url_join: no doubled '/'), a
	 * shard's too: certificates and IDPs already carry them. */
	if (index == STORE_CRL_SHARD_FULL)
		while (len > 0 && base[len - 1] == '/')
			len--;
	cap = len + sizeof(name) + 8;
	if ((s = malloc(cap)) != NULL)
		snprintf(s, cap, "%.*s/crl/%s", (int)len, base, name);
	return s;
}

/* The issuing CAs' generations that publish: the issuing CA's, and the
 * retiring one's until it is retired. */
static size_t
live_gens(const struct authority *a, int gens[2])
{
	size_t n = 0;

	gens[n++] = a->issuing_gen;
	if (a->retiring != NULL && !issuer_is_retired(a->retiring))
		gens[n++] = issuer_gen(a->retiring);
	return n;
}

/* Who answers a CertID: the issuing CA's delegated responder, the root
 * (for the CAs it issued), or a retiring issuing CA (with its own key);
 * none here for a retired CA's certificates. */
enum ocsp_by { OCSP_BY_ISSUING, OCSP_BY_ROOT, OCSP_BY_RETIRING, OCSP_BY_NONE };

/* The responder of by, and the serial of what signs (into signer). The
 * caller holds responder_rw shared. */
static struct ca_ocsp *
ocsp_by(const struct authority *a, enum ocsp_by by, char signer[41])
{
	const char *s = a->pub->ocsp_serial;
	struct ca_ocsp *ocsp = a->pub->ocsp;

	if (by == OCSP_BY_ROOT) {
		s = a->pub->root_serial;
		ocsp = a->pub->root_ocsp;
	} else if (by == OCSP_BY_RETIRING && a->retiring != NULL) {
		s = issuer_serial(a->retiring);
		ocsp = issuer_ocsp(a->retiring);
	} else if (by != OCSP_BY_ISSUING) {
		ocsp = NULL;
	}
	snprintf(signer, 41, "%s", s);
	return ocsp;
}

/* Who answers for the certificates of shard's generation. */
static enum ocsp_by
ocsp_by_shard(const struct authority *a, int shard)
{
	int gen, index;

	store_shard_split(shard, &gen, &index);
	if (gen < 0)
		return OCSP_BY_ROOT;
	if (a->retiring != NULL && gen == issuer_gen(a->retiring))
		return OCSP_BY_RETIRING;
	return gen == a->issuing_gen ? OCSP_BY_ISSUING : OCSP_BY_NONE;
}

enum status
publication_revoked_in_txn(struct authority *a, struct store_txn *txn,
    const char *serial, int shard, int reason, int64_t revoked_at)
{
	struct ca_ocsp *ocsp;
	struct ca_ocsp_status cs;
	char signer[sizeof(a->pub->ocsp_serial)];
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t now = (int64_t)time(NULL), next;
	int is_self;
	enum status st = ST_INTERNAL;

	pthread_rwlock_rdlock(&a->pub->responder_rw);
	ocsp = ocsp_by(a, ocsp_by_shard(a, shard), signer);
	/* The responder's own revocation: it signs nothing about itself. */
	is_self = ocsp == NULL || strcmp(serial, a->pub->ocsp_serial) == 0;
	if (!is_self) {
		cs.status = CA_OCSP_REVOKED;
		cs.revoked_at = revoked_at;
		cs.reason = reason;
		st = ca_ocsp_presign(ocsp, serial, &cs, now, &der, &len, &next);
	}
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (is_self)
		return store_txn_ocsp_delete(txn, serial);
	if (st != ST_OK) {
		/* Never leave a stale "good": the next query signs online. */
		log_warn("OCSP pre-signing for %s failed (%s); answering it "
		         "online",
		    serial, status_detail());
		return store_txn_ocsp_delete(txn, serial);
	}
	st = store_txn_ocsp_put(
	    txn, serial, STORE_CERT_REVOKED, signer, der, len, now, next);
	OPENSSL_free(der);
	/* Signed by a responder revoked meanwhile (by another process):
	 * not kept; the next query is signed online by its successor. */
	if (st == ST_CONFLICT)
		st = store_txn_ocsp_delete(txn, serial);
	return st;
}

/* The revoked entries of one shard, gathered for the builder. */
struct crl_row {
	char serial[STORE_SERIAL_HEX_CAP];
	int64_t revoked_at;
	int reason;
};

struct crl_rows {
	struct crl_row *v;
	size_t count, cap, next;
	int is_nomem;
};

static int
crl_collect(const char *serial, int64_t revoked_at, int reason, void *arg)
{
	struct crl_rows *r = arg;
	struct crl_row *grown;
	size_t cap;

	if (r->count == r->cap) {
		cap = r->cap ? r->cap * 2 : 1024;
		if (cap > CA_CRL_MAX_ENTRIES ||
		    (grown = realloc(r->v, cap * sizeof(*grown))) == NULL) {
			r->is_nomem = 1;
			return 1;
		}
		r->v = grown;
		r->cap = cap;
	}
	snprintf(
	    r->v[r->count].serial, sizeof(r->v[r->count].serial), "%s", serial);
	r->v[r->count].revoked_at = revoked_at;
	r->v[r->count].reason = reason;
	r->count++;
	return 0;
}

static int
crl_next(void *arg, struct ca_crl_entry *e)
{
	struct crl_rows *r = arg;
	const struct crl_row *row;

	if (r->next == r->count)
		return 0;
	row = &r->v[r->next++];
	e->serial_hex = row->serial;
	e->revoked_at = row->revoked_at;
	e->reason = row->reason;
	return 1;
}

struct crl_job {
	int shard;
	int64_t number, this_update, next_update;
	const uint8_t *der;
	size_t len;
};

static enum status
crl_commit(struct store_txn *txn, void *arg)
{
	const struct crl_job *job = arg;

	return store_txn_crl_put(txn, job->shard, job->number, job->this_update,
	    job->next_update, job->der, job->len);
}

/* Build, store and write one CRL; its PEM is appended to chain. */
static enum status
crl_publish_one(struct authority *a, int shard, int64_t now, int64_t next,
    struct buf *chain)
{
	struct ca_crl_params p;
	struct crl_rows rows;
	struct store_crl *prev = NULL;
	struct crl_job job;
	uint8_t *der = NULL;
	size_t len = 0, pem_len = 0;
	char name[40], rel[56], *path = NULL, *pem = NULL, *idp = NULL;
	int is_root = shard == STORE_CRL_SHARD_ROOT, gen, index;
	int is_retiring;
	enum status st;

	store_shard_split(shard, &gen, &index);
	is_retiring = !is_root && gen != a->issuing_gen;
	if (is_retiring &&
	    (a->retiring == NULL || gen != issuer_gen(a->retiring)))
		return status_fail(ST_INTERNAL,
		    "CRL of shard %d: no issuing CA of generation %d here",
		    shard, gen);

	memset(&rows, 0, sizeof(rows));
	memset(&p, 0, sizeof(p));
	st = store_crl_get(a->store, shard, &prev);
	if (st != ST_OK && st != ST_NOTFOUND)
		goto out;
	p.number = prev != NULL ? prev->number + 1 : 1;
	/* The root's CRL lists the CAs it issued (RFC 5280 §6.3.3: a
	 * relying party checks each CA of the chain on its issuer's CRL). */
	if ((st = store_revoked_foreach(
	         a->store, shard, now, crl_collect, &rows)) != ST_OK)
		goto out;
	if (rows.is_nomem) {
		st = status_fail(ST_NOMEM,
		    "CRL of shard %d: too many entries for memory", shard);
		goto out;
	}
	/* A shard's scope is what names it (RFC 5280 §5.2.5); the full
	 * CRL's is everything the issuing CA issued: no IDP. */
	if (index >= 0 && (idp = publication_crl_url(a, shard)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	p.issuer = is_root ? a->root
	    : is_retiring  ? issuer_cert(a->retiring)
	                   : a->issuing;
	p.key = is_root   ? a->pub->root_key
	    : is_retiring ? issuer_key(a->retiring)
	                  : a->issuing_key;
	p.this_update = now;
	p.next_update = next;
	p.idp_url = idp;
	p.md_nid = ca_key_md_nid(signer_key_get0_public(p.key));
	if ((st = ca_crl_build(&p, crl_next, &rows, &der, &len)) != ST_OK)
		goto out;
	job.shard = shard;
	job.number = p.number;
	job.this_update = now;
	job.next_update = next;
	job.der = der;
	job.len = len;
	if ((st = store_write(a->store, crl_commit, &job)) != ST_OK)
		goto out;
	crl_file_name(shard, name, sizeof(name));
	snprintf(rel, sizeof(rel), "crl/%s", name);
	if ((path = ca_config_path(a->cfg, rel)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	/* Gateways that read a file see a whole CRL or the previous one. */
	if ((st = file_write_atomic(path, der, len, 0644)) != ST_OK ||
	    (st = ca_crl_pem(der, len, &pem, &pem_len)) != ST_OK ||
	    (st = buf_append(chain, pem, pem_len)) != ST_OK)
		goto out;
	log_info("published %s: number %lld, %zu entries", name,
	    (long long)p.number, rows.count);
out:
	free(pem);
	free(path);
	free(idp);
	free(der);
	free(rows.v);
	store_crl_free(prev);
	return st;
}

/*
 * Whether the issuing CA's CRL for shard is published now: the policy's
 * (issuing.crl unsharded, issuing-0..N-1.crl sharded), and every other
 * one that a certificate not yet expired names in its distribution point,
 * so that a change of the shard count never orphans a certificate's CDP.
 */
static enum status
crl_is_live(struct authority *a, int shard, int64_t now, int *is_live)
{
	int shards = policy_crl(a->policy)->shards, gen, index, gens[2];
	size_t i, n = live_gens(a, gens);
	int64_t last = 0;
	enum status st;

	store_shard_split(shard, &gen, &index);
	*is_live = 0;
	for (i = 0; i < n && gens[i] != gen; i++)
		;
	if (i == n)
		return ST_OK; /* a retired issuing CA's, or none */
	/* The policy's CRLs are the issuing CA's; a retiring CA publishes
	 * what its certificates name. */
	if (gen == a->issuing_gen)
		*is_live = index == STORE_CRL_SHARD_FULL
		    ? shards <= 1
		    : shards > 1 && index < shards;
	if (*is_live)
		return ST_OK;
	if ((st = store_shard_last_expiry(a->store, shard, &last)) != ST_OK)
		return st;
	*is_live = last >= now;
	return ST_OK;
}

/*
 * An offline root's CRL: the one ca import stored, appended to chain as
 * it is (never signed here). None yet: the chain lacks it, said once per
 * build.
 */
static enum status
crl_offline_root(struct authority *a, struct buf *chain)
{
	struct store_crl *crl = NULL;
	char *pem = NULL;
	size_t pem_len = 0;
	enum status st;

	st = store_crl_get(a->store, STORE_CRL_SHARD_ROOT, &crl);
	if (st == ST_NOTFOUND) {
		log_warn("no root CRL imported yet (tessera ca import --crl): "
		         "crl/crl-chain.pem lacks it, and relying parties "
		         "that check the whole chain refuse every certificate");
		return ST_OK;
	}
	if (st != ST_OK)
		return st;
	if (crl->next_update <= (int64_t)time(NULL))
		log_warn("the imported root CRL (number %lld) has expired: "
		         "import a fresh one (tessera ca import --crl)",
		    (long long)crl->number);
	if ((st = ca_crl_pem(crl->der, crl->der_len, &pem, &pem_len)) == ST_OK)
		st = buf_append(chain, pem, pem_len);
	free(pem);
	store_crl_free(crl);
	return st;
}

/* Write the stored CRL of shard to crl/NAME; its PEM appended to chain. */
static enum status
crl_mirror_one(struct authority *a, int shard, struct buf *chain)
{
	struct store_crl *crl = NULL;
	char name[40], rel[56], *path = NULL, *pem = NULL;
	size_t pem_len = 0;
	enum status st;

	if ((st = store_crl_get(a->store, shard, &crl)) != ST_OK)
		return st == ST_NOTFOUND ? ST_OK : st;
	crl_file_name(shard, name, sizeof(name));
	snprintf(rel, sizeof(rel), "crl/%s", name);
	if ((path = ca_config_path(a->cfg, rel)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = file_write_atomic(path, crl->der, crl->der_len, 0644)) !=
	        ST_OK ||
	    (st = ca_crl_pem(crl->der, crl->der_len, &pem, &pem_len)) !=
	        ST_OK ||
	    (st = buf_append(chain, pem, pem_len)) != ST_OK)
		goto out;
out:
	free(pem);
	free(path);
	store_crl_free(crl);
	return st;
}

/*
 * The CRL files, in order: each live generation's shards, then the
 * root's, and their PEMs in crl/crl-chain.pem (a relying party that
 * checks the chain, nginx, finds each CA's CRLs there; the root's too,
 * an offline root's as imported). With next (the elected node): each CRL
 * built, stored and written; without (the other nodes): the stored ones
 * written.
 */
static enum status
crl_files_write(struct authority *a, int64_t now, const int64_t *next)
{
	int index, shard, is_live, gens[2];
	size_t g, n = live_gens(a, gens);
	struct buf chain;
	char *path = NULL;
	enum status st = ST_OK;

	buf_init(&chain, (size_t)1 << 30);
	for (g = 0; g < n; g++)
		for (index = STORE_CRL_SHARD_FULL; index < LIMIT_CRL_SHARDS;
		     index++) {
			if (index == STORE_CRL_SHARD_ROOT)
				continue;
			shard = store_shard_make(gens[g], index);
			if ((st = crl_is_live(a, shard, now, &is_live)) !=
			    ST_OK)
				goto out;
			if (!is_live)
				continue;
			st = next != NULL
			    ? crl_publish_one(a, shard, now, *next, &chain)
			    : crl_mirror_one(a, shard, &chain);
			if (st != ST_OK)
				goto out;
		}
	if (a->cfg->key_root == NULL)
		st = crl_offline_root(a, &chain);
	else if (next != NULL)
		st = crl_publish_one(
		    a, STORE_CRL_SHARD_ROOT, now, *next, &chain);
	else
		st = crl_mirror_one(a, STORE_CRL_SHARD_ROOT, &chain);
	if (st != ST_OK)
		goto out;
	if ((path = ca_config_path(a->cfg, "crl/crl-chain.pem")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	st = file_write_atomic(path, chain.data, chain.len, 0644);
out:
	free(path);
	buf_free(&chain);
	return st;
}

enum status
authority_crl_publish(struct authority *a)
{
	int64_t now = (int64_t)time(NULL), last = 0;
	int64_t next = now + policy_crl(a->policy)->validity_seconds;
	enum status st;

	/* What the CRLs will include: everything up to this feed row. */
	if ((st = store_revocations_last_seq(a->store, &last)) != ST_OK ||
	    (st = crl_files_write(a, now, &next)) != ST_OK)
		return st;
	a->pub->crl_seq = last;
	a->pub->crl_built = now;
	a->pub->crl_next = next;
	return ST_OK;
}

static enum status
crl_mirror_run(struct authority *a)
{
	struct store_pub_version v;
	enum status st;

	if ((st = store_pub_version(a->store, &v)) != ST_OK)
		return st;
	if (a->pub->has_mirror &&
	    memcmp(v.crls, a->pub->mirror_crls, sizeof(v.crls)) == 0)
		return ST_OK;
	if ((st = crl_files_write(a, (int64_t)time(NULL), NULL)) != ST_OK)
		return st;
	memcpy(a->pub->mirror_crls, v.crls, sizeof(v.crls));
	a->pub->has_mirror = 1;
	return ST_OK;
}

void
publication_crl_mirror(struct authority *a)
{
	/* Said once per run of failures (a store away fails every tick). */
	if (crl_mirror_run(a) != ST_OK) {
		if (!a->pub->mirror_failing)
			log_warn(
			    "publication: the CRL files: %s", status_detail());
		a->pub->mirror_failing = 1;
	} else {
		a->pub->mirror_failing = 0;
	}
}

/* The shard a CRL file name stands for (of the generations that
 * publish, or the root's); 0 when it names none. */
static int
crl_name_shard(const struct authority *a, const char *name, int *shard)
{
	char want[40];
	int k, gens[2];
	size_t g, n = live_gens(a, gens);

	if (strcmp(name, "root.crl") == 0) {
		*shard = STORE_CRL_SHARD_ROOT;
		return 1;
	}
	for (g = 0; g < n; g++)
		for (k = STORE_CRL_SHARD_FULL; k < LIMIT_CRL_SHARDS; k++) {
			if (k == STORE_CRL_SHARD_ROOT)
				continue;
			crl_file_name(
			    store_shard_make(gens[g], k), want, sizeof(want));
			if (strcmp(name, want) == 0) {
				*shard = store_shard_make(gens[g], k);
				return 1;
			}
		}
	return 0;
}

enum status
authority_crl_get(struct authority *a, const char *name, uint8_t **der,
    size_t *len, int64_t *this_update, int64_t *next_update, int64_t *number)
{
	struct store_crl *crl = NULL;
	uint64_t gen;
	int shard, is_live;
	enum status st;

	*der = NULL;
	*len = 0;
	if (!crl_name_shard(a, name, &shard))
		return status_fail(ST_NOTFOUND, "no CRL named %.40s", name);
	if (shard != STORE_CRL_SHARD_ROOT &&
	    (st = crl_is_live(a, shard, (int64_t)time(NULL), &is_live)) ==
	        ST_OK &&
	    !is_live)
		return status_fail(ST_NOTFOUND,
		    "%s is not published: no certificate names it", name);
	/* Served from memory until a CRL of a higher number is stored. */
	pubcache_sync(a->pub->pubcache, a->store, &gen);
	if (pubcache_crl_get(a->pub->pubcache, shard, der, len, this_update,
	        next_update, number))
		return ST_OK;
	if ((st = store_crl_get(a->store, shard, &crl)) != ST_OK) {
		if (st == ST_NOTFOUND)
			st = status_fail(ST_UNAVAILABLE,
			    "%s is not built yet; try again shortly", name);
		return st;
	}
	if ((*der = malloc(crl->der_len)) == NULL) {
		store_crl_free(crl);
		return ST_NOMEM;
	}
	memcpy(*der, crl->der, crl->der_len);
	pubcache_crl_put(a->pub->pubcache, gen, shard, crl->der, crl->der_len,
	    crl->this_update, crl->next_update, crl->number);
	*len = crl->der_len;
	*this_update = crl->this_update;
	*next_update = crl->next_update;
	*number = crl->number;
	store_crl_free(crl);
	return ST_OK;
}

enum status
authority_crl_states(struct authority *a, struct authority_crl_state *out,
    size_t cap, size_t *count)
{
	struct authority_crl_state *c;
	struct store_crl *crl = NULL;
	struct ca_crl_info info;
	int shard, is_live, i, gens[2];
	size_t g, n = live_gens(a, gens);
	int64_t now = (int64_t)time(NULL);
	enum status st;

	*count = 0;
	/* The issuing CA's (unsharded: FULL; else 0..shards-1, and what
	 * certificates still name), a retiring one's, then the root's. */
	for (g = 0; g <= n; g++)
		for (i = STORE_CRL_SHARD_FULL; i < LIMIT_CRL_SHARDS; i++) {
			if ((g == n) != (i == STORE_CRL_SHARD_ROOT))
				continue;
			shard = g == n ? STORE_CRL_SHARD_ROOT
			               : store_shard_make(gens[g], i);
			if (shard != STORE_CRL_SHARD_ROOT &&
			    ((st = crl_is_live(a, shard, now, &is_live)) !=
			            ST_OK ||
			        !is_live))
				continue;
			st = store_crl_get(a->store, shard, &crl);
			if (st == ST_NOTFOUND)
				continue;
			if (st != ST_OK)
				return st;
			if (*count == cap) {
				store_crl_free(crl);
				return status_fail(
				    ST_LIMIT, "more than %zu CRLs", cap);
			}
			c = &out[(*count)++];
			memset(c, 0, sizeof(*c));
			crl_file_name(shard, c->name, sizeof(c->name));
			c->number = crl->number;
			c->this_update = crl->this_update;
			c->next_update = crl->next_update;
			c->der_len = crl->der_len;
			if (ca_crl_describe(crl->der, crl->der_len, &info) ==
			    ST_OK)
				c->entries = info.entries;
			store_crl_free(crl);
			crl = NULL;
		}
	return ST_OK;
}

/* One answer's lookups: which responder, and what the store said. */
struct ocsp_lookup_ctx {
	struct authority *a;
	enum ocsp_by by; /* each answers for its own CA's certificates */
	int is_found; /* the last serial looked up is a certificate of ours */
	enum store_cert_status status; /* its status then */
	char signer[41]; /* the serial of the responder that signed */
	int is_nowait; /* a read that would wait is ST_UNAVAILABLE */
};

/* The OCSP lookup: the store's record of a serial this responder's CA
 * issued (the root: the CAs; the issuing CA: all the rest). */
static enum status
ocsp_lookup(void *arg, const char *serial, struct ca_ocsp_status *out)
{
	struct ocsp_lookup_ctx *c = arg;
	struct store_cert *row = NULL;
	enum status st;

	c->is_found = 0;
	if ((st = c->is_nowait
	            ? store_cert_get_nowait(c->a->store, serial, &row)
	            : store_cert_get(c->a->store, serial, &row)) != ST_OK)
		return st;
	if (ocsp_by_shard(c->a, row->shard) != c->by ||
	    strcmp(row->profile, "root-ca") == 0) {
		store_cert_free(row);
		return ST_NOTFOUND;
	}
	out->status =
	    row->status == STORE_CERT_REVOKED ? CA_OCSP_REVOKED : CA_OCSP_GOOD;
	out->revoked_at = row->revoked_at;
	out->reason = row->reason;
	c->is_found = 1;
	c->status = row->status;
	store_cert_free(row);
	return ST_OK;
}

struct ocsp_job {
	const char *serial;
	enum store_cert_status signed_for;
	const char *signer;
	const uint8_t *der;
	size_t len;
	int64_t this_update, next_update;
};

static enum status
ocsp_commit(struct store_txn *txn, void *arg)
{
	const struct ocsp_job *job = arg;

	return store_txn_ocsp_put(txn, job->serial, job->signed_for,
	    job->signer, job->der, job->len, job->this_update,
	    job->next_update);
}

/*
 * Keep a signed answer for the next gateway that asks the same: only for
 * a certificate of ours (never for a serial anyone made up), and only
 * while it still has the status the answer was signed for (the store
 * checks that in the writer's transaction: a revocation that committed
 * since the lookup wins). ST_OK: it is stored.
 */
static enum status
ocsp_keep(struct authority *a, const char *signer, const char *serial,
    enum store_cert_status signed_for, const uint8_t *der, size_t len,
    int64_t this_update, int64_t next_update)
{
	struct ocsp_job job;
	enum status st;

	job.signer = signer;
	job.serial = serial;
	job.signed_for = signed_for;
	job.der = der;
	job.len = len;
	job.this_update = this_update;
	job.next_update = next_update;
	if ((st = store_write(a->store, ocsp_commit, &job)) == ST_CONFLICT)
		log_debug(
		    "OCSP answer for %s not kept: %s", serial, status_detail());
	else if (st != ST_OK)
		log_warn("keeping the OCSP response for %s failed: %s", serial,
		    status_detail());
	return st;
}

/* A stored answer closer to its nextUpdate than this is signed again. */
#define OCSP_STORED_MARGIN 60

/*
 * The stored answer for serial: from the cache, or the store (then kept).
 * *gen: the cache's generation, synced before anything was read, to put
 * back an answer signed after this call.
 */
static enum status
ocsp_stored_get(struct authority *a, const char *serial, uint8_t **der,
    size_t *len, int64_t *next, uint64_t *gen)
{
	enum status st;

	pubcache_sync(a->pub->pubcache, a->store, gen);
	if (pubcache_ocsp_get(a->pub->pubcache, serial, der, len, next)) {
		/* Near its nextUpdate: the store may hold its successor. */
		if (*next > (int64_t)time(NULL) + OCSP_STORED_MARGIN)
			return ST_OK;
		free(*der);
		*der = NULL;
	}
	if ((st = store_ocsp_get(a->store, serial, der, len, next)) == ST_OK)
		pubcache_ocsp_put(
		    a->pub->pubcache, *gen, serial, *der, *len, *next);
	return st;
}

enum status
authority_ocsp_answer_memory(struct authority *a, const uint8_t *req,
    size_t len, struct authority_ocsp_answer *out)
{
	struct ca_ocsp_peek pk;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int64_t next = 0;
	enum status st;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	st = ca_ocsp_request_peek(a->pub->ocsp, req, len, &pk);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (st == ST_DENIED && a->pub->root_ocsp != NULL)
		st = ca_ocsp_request_peek(a->pub->root_ocsp, req, len, &pk);
	if (st != ST_OK || !pk.is_presigned_match ||
	    !pubcache_is_fresh(a->pub->pubcache, a->store) ||
	    !pubcache_ocsp_get(
	        a->pub->pubcache, pk.serial_hex, &der, &der_len, &next))
		return ST_NOTFOUND;
	if (next <= (int64_t)time(NULL) + OCSP_STORED_MARGIN) {
		free(der);
		return ST_NOTFOUND;
	}
	out->der = der;
	out->len = der_len;
	out->is_cacheable = 1;
	out->next_update = next;
	out->this_update = next - policy_ocsp(a->policy)->validity_seconds;
	return ST_OK;
}

/*
 * Put an answer in OpenSSL's memory (ca_ocsp_respond's) into out as
 * malloc'd bytes, which is what callers free; der is freed either way.
 */
static enum status
ocsp_answer_take(struct authority_ocsp_answer *out, uint8_t *der, size_t len)
{
	out->der = malloc(len);
	if (out->der != NULL)
		memcpy(out->der, der, len);
	OPENSSL_free(der);
	if (out->der == NULL)
		return ST_NOMEM;
	out->len = len;
	return ST_OK;
}

enum status
authority_ocsp_answer(struct authority *a, const uint8_t *req, size_t len,
    struct authority_ocsp_answer *out)
{
	struct ca_ocsp_peek pk;
	struct ocsp_lookup_ctx lc;
	struct ca_ocsp *ocsp;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int64_t now = (int64_t)time(NULL), next = 0, this_update = 0;
	uint64_t gen = 0;
	int cacheable = 0, is_peeked;
	enum status st;

	memset(out, 0, sizeof(*out));
	memset(&lc, 0, sizeof(lc));
	lc.a = a;
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	st = ca_ocsp_request_peek(a->pub->ocsp, req, len, &pk);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	/* A CertID of the issuing CA itself: the root answers. */
	if (st == ST_DENIED && a->pub->root_ocsp != NULL &&
	    ca_ocsp_request_peek(a->pub->root_ocsp, req, len, &pk) == ST_OK) {
		lc.by = OCSP_BY_ROOT;
		st = ST_OK;
	}
	/* One the issuing CA before a rollover issued: it answers. */
	if (st == ST_DENIED && a->retiring != NULL &&
	    ca_ocsp_request_peek(issuer_ocsp(a->retiring), req, len, &pk) ==
	        ST_OK) {
		lc.by = OCSP_BY_RETIRING;
		st = ST_OK;
	}
	is_peeked = st == ST_OK && pk.is_presigned_match;
	/* RFC 5019: the common case is served without signing anything,
	 * from memory until a revocation is committed. */
	if (is_peeked &&
	    ocsp_stored_get(a, pk.serial_hex, &der, &der_len, &next, &gen) ==
	        ST_OK) {
		if (next > now + OCSP_STORED_MARGIN) {
			out->der = der;
			out->len = der_len;
			out->is_cacheable = 1;
			out->next_update = next;
			out->this_update =
			    next - policy_ocsp(a->policy)->validity_seconds;
			return ST_OK;
		}
		free(der);
		der = NULL;
	}
	/* Signed online (a token or signer that is away gets tryLater from
	 * the responder). */
	if (lc.by == OCSP_BY_ISSUING)
		publication_responder_check(a);
	/* Shared: signatures run side by side; only a replacement waits. */
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	ocsp = ocsp_by(a, lc.by, lc.signer);
	st = ca_ocsp_respond(ocsp, req, len, ocsp_lookup, &lc, now, &der,
	    &der_len, &cacheable, &this_update, &next);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (st != ST_OK)
		return st;
	/*
	 * Stored, it is also this worker's to serve from memory, as an answer
	 * read from the store is: the worker that signed it would otherwise
	 * hold nothing until it is asked again, and while the store is away
	 * (PostgreSQL failing over) answer tryLater for it. gen was synced
	 * before the lookup: a revocation seen by a sync since refuses the
	 * put, one committed before the keep refused the keep.
	 */
	if (cacheable && is_peeked && lc.is_found &&
	    ocsp_keep(a, lc.signer, pk.serial_hex, lc.status, der, der_len,
	        this_update, next) == ST_OK)
		pubcache_ocsp_put(
		    a->pub->pubcache, gen, pk.serial_hex, der, der_len, next);
	if (ocsp_answer_take(out, der, der_len) != ST_OK)
		return ST_NOMEM;
	out->is_cacheable = cacheable;
	out->this_update = this_update;
	out->next_update = next;
	return ST_OK;
}

/* A nonce's answer under way (its thisUpdate and nextUpdate are not
 * handed out: an answer with a nonce is never cached). */
struct authority_ocsp_pending {
	struct ca_ocsp_pending *p;
};

enum status
authority_ocsp_start(struct authority *a, const uint8_t *req, size_t len,
    struct authority_ocsp_pending **out)
{
	struct authority_ocsp_pending *ap;
	struct ca_ocsp_peek pk;
	struct ocsp_lookup_ctx lc;
	struct store_cert *row = NULL;
	char serial[sizeof(a->pub->ocsp_serial)];
	enum status st;

	*out = NULL;
	memset(&lc, 0, sizeof(lc));
	lc.a = a;
	lc.by = OCSP_BY_ISSUING;
	lc.is_nowait = 1;
	/* One CertID of the issuing CA's, with a nonce: the root's and a
	 * retiring CA's answers, and those kept, go the other way. */
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	st = ca_ocsp_request_peek(a->pub->ocsp, req, len, &pk);
	memcpy(serial, a->pub->ocsp_serial, sizeof(serial));
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (st != ST_OK || !pk.has_nonce)
		return ST_NOTFOUND;
	/* publication_responder_check's look, without waiting: a revoked
	 * responder is replaced the other way. */
	if ((st = store_cert_get_nowait(a->store, serial, &row)) == ST_OK &&
	    row->status == STORE_CERT_REVOKED)
		st = ST_CONFLICT;
	store_cert_free(row);
	if (st != ST_OK && st != ST_NOTFOUND)
		return ST_NOTFOUND;
	if ((ap = calloc(1, sizeof(*ap))) == NULL)
		return ST_NOMEM;
	pthread_rwlock_rdlock(&a->pub->responder_rw);
	st = ca_ocsp_respond_start(a->pub->ocsp, req, len, ocsp_lookup, &lc,
	    (int64_t)time(NULL), &ap->p);
	pthread_rwlock_unlock(&a->pub->responder_rw);
	if (st != ST_OK) {
		free(ap);
		return ST_NOTFOUND;
	}
	*out = ap;
	return ST_OK;
}

int
authority_ocsp_pending_fd(const struct authority_ocsp_pending *ap)
{
	return ca_ocsp_pending_fd(ap->p);
}

enum status
authority_ocsp_finish(
    struct authority_ocsp_pending *ap, struct authority_ocsp_answer *out)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	enum status st;

	memset(out, 0, sizeof(*out));
	st = ca_ocsp_respond_finish(ap->p, &der, &der_len);
	free(ap);
	if (st != ST_OK)
		return st;
	return ocsp_answer_take(out, der, der_len);
}

/* Re-sign the stored responses that are getting old. */
static int
ocsp_due(const char *serial, int64_t next_update, void *arg)
{
	struct buf *serials = arg;

	(void)next_update;
	return buf_append(serials, serial, strlen(serial) + 1) != ST_OK;
}

struct ocsp_forget_job {
	const char *serial;
};

static enum status
ocsp_forget_commit(struct store_txn *txn, void *arg)
{
	const struct ocsp_forget_job *job = arg;

	return store_txn_ocsp_delete(txn, job->serial);
}

/*
 * A stored answer for no certificate of ours (kept by versions before
 * v4 for any serial anyone asked about): dropped, never re-signed.
 */
static void
ocsp_forget(struct authority *a, const char *serial)
{
	struct ocsp_forget_job job = {serial};

	if (store_write(a->store, ocsp_forget_commit, &job) != ST_OK)
		log_warn("dropping the OCSP answer for %s: %s", serial,
		    status_detail());
}

static void
ocsp_refresh(struct authority *a, int64_t now)
{
	int64_t validity = policy_ocsp(a->policy)->validity_seconds;
	struct ocsp_lookup_ctx lc;
	struct ca_ocsp_status cs;
	struct ca_ocsp *ocsp;
	struct buf serials;
	const char *serial;
	uint8_t *der;
	size_t off, len, done = 0;
	int64_t next;
	enum status st;

	buf_init(&serials, 64 * 1024 * 1024);
	if (store_ocsp_due(a->store, now + validity / OCSP_REFRESH_FRACTION,
	        ocsp_due, &serials) != ST_OK) {
		log_warn("OCSP refresh: %s", status_detail());
		goto out;
	}
	publication_responder_check(a);
	for (off = 0; off < serials.len; off += strlen(serial) + 1) {
		serial = (const char *)serials.data + off;
		der = NULL;
		memset(&lc, 0, sizeof(lc));
		lc.a = a;
		memset(&cs, 0, sizeof(cs));
		/* Whose certificate: the issuing CA's, a CA's, a retiring
		 * CA's; none of ours: forgotten. */
		st = ocsp_lookup(&lc, serial, &cs);
		if (st == ST_NOTFOUND) {
			lc.by = OCSP_BY_ROOT;
			st = ocsp_lookup(&lc, serial, &cs);
		}
		if (st == ST_NOTFOUND && a->retiring != NULL) {
			lc.by = OCSP_BY_RETIRING;
			st = ocsp_lookup(&lc, serial, &cs);
		}
		if (st == ST_NOTFOUND)
			ocsp_forget(a, serial);
		if (st != ST_OK)
			continue;
		pthread_rwlock_rdlock(&a->pub->responder_rw);
		ocsp = ocsp_by(a, lc.by, lc.signer);
		st = ocsp == NULL ? ST_NOTFOUND
		                  : ca_ocsp_presign(ocsp, serial, &cs, now,
		                        &der, &len, &next);
		pthread_rwlock_unlock(&a->pub->responder_rw);
		if (st != ST_OK)
			continue;
		(void)ocsp_keep(
		    a, lc.signer, serial, lc.status, der, len, now, next);
		done++;
		OPENSSL_free(der);
	}
	if (done > 0)
		log_info("re-signed %zu OCSP responses", done);
out:
	buf_free(&serials);
}

enum status
publication_tick(struct authority *a, int64_t now, int *is_slow)
{
	int64_t last = 0;
	enum status st;
	int is_due;

	*is_slow = 0;
	if ((st = store_revocations_last_seq(a->store, &last)) != ST_OK)
		return st;
	is_due = a->pub->crl_seq < 0 ||
	    (last > a->pub->crl_seq &&
	        now - a->pub->crl_built >= CRL_MIN_INTERVAL) ||
	    now >=
	        a->pub->crl_built + (a->pub->crl_next - a->pub->crl_built) / 2;
	if (is_due && (st = authority_crl_publish(a)) != ST_OK)
		return st;
	if (now - a->pub->slow_tick >= 60) {
		a->pub->slow_tick = now;
		*is_slow = 1;
		ocsp_refresh(a, now);
	}
	return ST_OK;
}
