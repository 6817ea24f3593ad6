/*
 * publication: what gateways fetch to learn about revocations. CRLs are
 * built from the store (by the one process that runs the scheduled work)
 * and kept there and in DIR/crl/; OCSP answers come pre-signed from the
 * store when they can, and are signed online (and stored) when not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "ca/authority_internal.h"
#include "ca/crl.h"
#include "ca/issue.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/log.h"

/* Rebuild the CRLs when half their life has gone, and at most once a
 * second after a revocation (revocations commit far more often). */
#define CRL_MIN_INTERVAL 1
/* Re-sign pre-signed OCSP responses this long before their nextUpdate. */
#define OCSP_REFRESH_FRACTION 2

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

enum status
publication_keys(struct authority *a)
{
	enum status st;

	if ((st = hsm_key_find_uri(a->hsm, a->cfg->key_root, &a->root_key)) !=
	        ST_OK ||
	    (st = hsm_key_find_uri(a->hsm, a->cfg->key_ocsp, &a->ocsp_key)) !=
	        ST_OK)
		return st;
	if (a->ocsp != NULL)
		ca_ocsp_set_key(a->ocsp, hsm_key_get0_pkey(a->ocsp_key));
	return ST_OK;
}

void
publication_drop_keys(struct authority *a)
{
	/* The responder borrows its key: take it back first. */
	if (a->ocsp != NULL)
		ca_ocsp_set_key(a->ocsp, NULL);
	hsm_key_free(a->ocsp_key);
	hsm_key_free(a->root_key);
	a->ocsp_key = a->root_key = NULL;
}

enum status
publication_open(struct authority *a)
{
	struct ca_ocsp_config oc;
	enum status st;

	a->crl_seq = -1;
	if ((st = load_pem_cert(a, "ca/ocsp.pem", &a->ocsp_cert)) != ST_OK)
		return st;
	memset(&oc, 0, sizeof(oc));
	oc.issuer = a->issuing;
	oc.responder = a->ocsp_cert;
	oc.responder_key = hsm_key_get0_pkey(a->ocsp_key);
	oc.validity_seconds = policy_ocsp(a->policy)->validity_seconds;
	return ca_ocsp_new(&oc, &a->ocsp);
}

void
publication_close(struct authority *a)
{
	publication_drop_keys(a);
	ca_ocsp_free(a->ocsp);
	X509_free(a->ocsp_cert);
	a->ocsp = NULL;
	a->ocsp_cert = NULL;
}

char *
publication_crl_url(const struct authority *a, int shard)
{
	size_t len;
	char *s;

	if (policy_crl(a->policy)->shards <= 1)
		return strdup(a->crl_url);
	len = strlen(a->cfg->publish_url) + 40;
	if ((s = malloc(len)) != NULL)
		snprintf(s, len, "%s/crl/issuing-%d.crl", a->cfg->publish_url,
		    shard);
	return s;
}

enum status
publication_revoked_in_txn(struct authority *a, struct store_txn *txn,
    const char *serial, int reason, int64_t revoked_at)
{
	struct ca_ocsp_status cs;
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t now = (int64_t)time(NULL), next;
	enum status st;

	if (a->ocsp == NULL)
		return store_txn_ocsp_delete(txn, serial);
	cs.status = CA_OCSP_REVOKED;
	cs.revoked_at = revoked_at;
	cs.reason = reason;
	if (ca_ocsp_presign(a->ocsp, serial, &cs, now, &der, &len, &next) !=
	    ST_OK) {
		/* Never leave a stale "good": the next query signs online. */
		log_warn("OCSP pre-signing for %s failed (%s); answering it "
		         "online",
		    serial, status_detail());
		return store_txn_ocsp_delete(txn, serial);
	}
	st = store_txn_ocsp_put(txn, serial, der, len, now, next);
	OPENSSL_free(der);
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

/* "root.crl", "issuing.crl" or "issuing-K.crl". */
static void
crl_file_name(const struct authority *a, int shard, char *out, size_t cap)
{
	if (shard == STORE_CRL_SHARD_ROOT)
		snprintf(out, cap, "root.crl");
	else if (policy_crl(a->policy)->shards <= 1)
		snprintf(out, cap, "issuing.crl");
	else
		snprintf(out, cap, "issuing-%d.crl", shard);
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
	char name[32], rel[48], *path = NULL, *pem = NULL, *idp = NULL;
	int is_root = shard == STORE_CRL_SHARD_ROOT;
	enum status st;

	memset(&rows, 0, sizeof(rows));
	memset(&p, 0, sizeof(p));
	st = store_crl_get(a->store, shard, &prev);
	if (st != ST_OK && st != ST_NOTFOUND)
		goto out;
	p.number = prev != NULL ? prev->number + 1 : 1;
	if (!is_root) {
		if ((st = store_revoked_foreach(
		         a->store, shard, now, crl_collect, &rows)) != ST_OK)
			goto out;
		if (rows.is_nomem) {
			st = status_fail(ST_NOMEM,
			    "CRL of shard %d: too many "
			    "entries for memory",
			    shard);
			goto out;
		}
		if (policy_crl(a->policy)->shards > 1 &&
		    (idp = publication_crl_url(a, shard)) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
	}
	p.issuer = is_root ? a->root : a->issuing;
	p.key = hsm_key_get0_pkey(is_root ? a->root_key : a->issuing_key);
	p.this_update = now;
	p.next_update = next;
	p.idp_url = idp;
	p.md_nid = is_root ? NID_sha384 : NID_sha256;
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
	crl_file_name(a, shard, name, sizeof(name));
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

enum status
authority_crl_publish(struct authority *a)
{
	int64_t now = (int64_t)time(NULL), last = 0;
	int64_t next = now + policy_crl(a->policy)->validity_seconds;
	int shard, shards = policy_crl(a->policy)->shards;
	struct buf chain;
	char *path = NULL;
	enum status st;

	/* What the CRLs will include: everything up to this feed row. */
	if ((st = store_revocations_last_seq(a->store, &last)) != ST_OK)
		return st;
	buf_init(&chain, (size_t)1 << 30);
	for (shard = 0; shard < shards; shard++)
		if ((st = crl_publish_one(a, shard, now, next, &chain)) !=
		    ST_OK)
			goto out;
	/* nginx checks a CRL for every CA in the chain: the root's too. */
	if ((st = crl_publish_one(
	         a, STORE_CRL_SHARD_ROOT, now, next, &chain)) != ST_OK)
		goto out;
	if ((path = ca_config_path(a->cfg, "crl/crl-chain.pem")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = file_write_atomic(path, chain.data, chain.len, 0644)) !=
	    ST_OK)
		goto out;
	a->crl_seq = last;
	a->crl_built = now;
	a->crl_next = next;
out:
	free(path);
	buf_free(&chain);
	return st;
}

enum status
authority_crl_get(struct authority *a, const char *name, uint8_t **der,
    size_t *len, int64_t *this_update, int64_t *next_update, int64_t *number)
{
	struct store_crl *crl = NULL;
	char want[32];
	int shard, shards = policy_crl(a->policy)->shards;
	enum status st;

	*der = NULL;
	*len = 0;
	for (shard = STORE_CRL_SHARD_ROOT; shard < shards; shard++) {
		crl_file_name(a, shard, want, sizeof(want));
		if (strcmp(name, want) == 0)
			break;
	}
	if (shard == shards)
		return status_fail(ST_NOTFOUND, "no CRL named %.40s", name);
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
	*len = crl->der_len;
	*this_update = crl->this_update;
	*next_update = crl->next_update;
	*number = crl->number;
	store_crl_free(crl);
	return ST_OK;
}

/* The OCSP lookup: the store's record of a serial this CA issued. */
static enum status
ocsp_lookup(void *arg, const char *serial, struct ca_ocsp_status *out)
{
	struct authority *a = arg;
	struct store_cert *row = NULL;
	enum status st;

	if ((st = store_cert_get(a->store, serial, &row)) != ST_OK)
		return st;
	/* The root issued the issuing CA: not a serial of this issuer. */
	if (strcmp(row->profile, "root-ca") == 0 ||
	    strcmp(row->profile, "issuing-ca") == 0) {
		store_cert_free(row);
		return ST_NOTFOUND;
	}
	out->status =
	    row->status == STORE_CERT_REVOKED ? CA_OCSP_REVOKED : CA_OCSP_GOOD;
	out->revoked_at = row->revoked_at;
	out->reason = row->reason;
	store_cert_free(row);
	return ST_OK;
}

struct ocsp_job {
	const char *serial;
	const uint8_t *der;
	size_t len;
	int64_t this_update, next_update;
};

static enum status
ocsp_commit(struct store_txn *txn, void *arg)
{
	const struct ocsp_job *job = arg;

	return store_txn_ocsp_put(txn, job->serial, job->der, job->len,
	    job->this_update, job->next_update);
}

enum status
authority_ocsp_answer(struct authority *a, const uint8_t *req, size_t len,
    struct authority_ocsp_answer *out)
{
	struct ca_ocsp_peek pk;
	struct ocsp_job job;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int64_t now = (int64_t)time(NULL), next = 0, this_update = 0;
	int cacheable = 0, is_peeked;
	enum status st;

	memset(out, 0, sizeof(*out));
	is_peeked = ca_ocsp_request_peek(a->ocsp, req, len, &pk) == ST_OK &&
	    pk.is_presigned_match;
	/* RFC 5019: the common case is served without signing anything. */
	if (is_peeked &&
	    store_ocsp_get(a->store, pk.serial_hex, &der, &der_len, &next) ==
	        ST_OK) {
		if (next > now + 60) {
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
	/* Signed online: a token that came back is opened again first (one
	 * that is away gets tryLater from the responder). */
	if (hsm_ready(a) != ST_OK)
		log_debug("OCSP: signing online without the token");
	if ((st = ca_ocsp_respond(a->ocsp, req, len, ocsp_lookup, a, now, &der,
	         &der_len, &cacheable, &this_update, &next)) != ST_OK)
		return st;
	/* Keep it for the next gateway that asks the same. */
	if (cacheable && is_peeked) {
		job.serial = pk.serial_hex;
		job.der = der;
		job.len = der_len;
		job.this_update = this_update;
		job.next_update = next;
		if (store_write(a->store, ocsp_commit, &job) != ST_OK)
			log_warn("keeping the OCSP response for %s failed: %s",
			    pk.serial_hex, status_detail());
	}
	/* ca_ocsp_respond's memory is OpenSSL's; hand out malloc'd. */
	if ((out->der = malloc(der_len)) == NULL) {
		OPENSSL_free(der);
		return ST_NOMEM;
	}
	memcpy(out->der, der, der_len);
	OPENSSL_free(der);
	out->len = der_len;
	out->is_cacheable = cacheable;
	out->this_update = this_update;
	out->next_update = next;
	return ST_OK;
}

/* Re-sign the stored responses that are getting old. */
static int
ocsp_due(const char *serial, int64_t next_update, void *arg)
{
	struct buf *serials = arg;

	(void)next_update;
	return buf_append(serials, serial, strlen(serial) + 1) != ST_OK;
}

static void
ocsp_refresh(struct authority *a, int64_t now)
{
	int64_t validity = policy_ocsp(a->policy)->validity_seconds;
	struct ca_ocsp_status cs;
	struct ocsp_job job;
	struct buf serials;
	uint8_t *der;
	size_t off, len, done = 0;
	int64_t next;

	buf_init(&serials, 64 * 1024 * 1024);
	if (store_ocsp_due(a->store, now + validity / OCSP_REFRESH_FRACTION,
	        ocsp_due, &serials) != ST_OK) {
		log_warn("OCSP refresh: %s", status_detail());
		goto out;
	}
	for (off = 0; off < serials.len; off += strlen(job.serial) + 1) {
		job.serial = (const char *)serials.data + off;
		der = NULL;
		if (ocsp_lookup(a, job.serial, &cs) != ST_OK ||
		    ca_ocsp_presign(a->ocsp, job.serial, &cs, now, &der, &len,
		        &next) != ST_OK)
			continue;
		job.der = der;
		job.len = len;
		job.this_update = now;
		job.next_update = next;
		if (store_write(a->store, ocsp_commit, &job) == ST_OK)
			done++;
		OPENSSL_free(der);
	}
	if (done > 0)
		log_info("re-signed %zu OCSP responses", done);
out:
	buf_free(&serials);
}

enum status
publication_tick(struct authority *a, int64_t now)
{
	int64_t last = 0;
	enum status st;
	int is_due;

	if ((st = store_revocations_last_seq(a->store, &last)) != ST_OK)
		return st;
	is_due = a->crl_seq < 0 ||
	    (last > a->crl_seq && now - a->crl_built >= CRL_MIN_INTERVAL) ||
	    now >= a->crl_built + (a->crl_next - a->crl_built) / 2;
	if (is_due && (st = authority_crl_publish(a)) != ST_OK)
		return hsm_failed(a, st);
	if (now - a->slow_tick >= 60) {
		a->slow_tick = now;
		ocsp_refresh(a, now);
	}
	return ST_OK;
}
