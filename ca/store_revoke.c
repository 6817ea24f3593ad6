/*
 * store: revocations and publication: revoking, the gateways' revocation
 * feed, the pre-signed OCSP responses and the CRLs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

/* The CRL walk; run on a private connection (store_revoked_foreach). */
static const char revoked_sql[] =
    "SELECT serial, revoked_at, reason FROM certificates"
    " WHERE status = 'revoked' AND shard = ? AND not_after >= ?";
/* The full CRL: every shard of one issuing CA's generation, [?1, ?2]
 * (generation 0's range holds the root's, -1, which is left out). */
static const char revoked_full_sql[] =
    "SELECT serial, revoked_at, reason FROM certificates"
    " WHERE status = 'revoked' AND shard BETWEEN ?1 AND ?2 AND shard <> -1"
    " AND not_after >= ?3";
/* The same range's latest notAfter, revoked or not. */
static const char gen_last_sql[] =
    "SELECT coalesce(max(not_after), 0) FROM certificates"
    " WHERE shard BETWEEN ?1 AND ?2 AND shard <> -1";

int
store_shard_make(int gen, int index)
{
	if (gen <= 0 || index == STORE_CRL_SHARD_ROOT)
		return index;
	if (index == STORE_CRL_SHARD_FULL)
		index = STORE_SHARD_GEN_STRIDE - 1;
	return gen * STORE_SHARD_GEN_STRIDE + index;
}

void
store_shard_split(int shard, int *gen, int *index)
{
	if (shard < STORE_SHARD_GEN_STRIDE) {
		*gen = shard == STORE_CRL_SHARD_ROOT ? -1 : 0;
		*index = shard;
		return;
	}
	*gen = shard / STORE_SHARD_GEN_STRIDE;
	*index = shard % STORE_SHARD_GEN_STRIDE;
	if (*index == STORE_SHARD_GEN_STRIDE - 1)
		*index = STORE_CRL_SHARD_FULL;
}

/* The shards of generation gen: [*lo, *hi]. */
static void
gen_range(int gen, int *lo, int *hi)
{
	*lo = gen == 0 ? STORE_CRL_SHARD_FULL : gen * STORE_SHARD_GEN_STRIDE;
	*hi = gen * STORE_SHARD_GEN_STRIDE + STORE_SHARD_GEN_STRIDE - 1;
}

int
store_reason_is_valid(int reason)
{
	/* RFC 5280 §5.3.1: 7 is unused, 0 is omitted, 8 is for deltas. */
	return reason == -1 || (reason >= 1 && reason <= 6) || reason == 9 ||
	    reason == 10;
}

static enum status
check_reason(int reason)
{
	if (!store_reason_is_valid(reason))
		return status_fail(ST_MALFORMED,
		    "revocation reason %d cannot be stored: -1 for none, "
		    "or an RFC 5280 §5.3.1 CRLReason 1..6, 9, 10",
		    reason);
	return ST_OK;
}

/* A copy of a text column of a writer statement, or NULL for SQL NULL. */
static enum status
column_dup_opt(struct db_stmt *stmt, int i, char **out)
{
	int is_oom = 0;

	*out = column_strdup(stmt, i, &is_oom);
	if (is_oom)
		return status_fail(ST_NOMEM, "store: out of memory");
	return ST_OK;
}

enum status
store_txn_cert_revoke(struct store_txn *txn, const char *serial, int reason,
    int64_t time, char **device_id_out)
{
	struct db_stmt *sel, *upd, *ins;
	const unsigned char *status;
	char *device_id = NULL;
	enum status st = ST_OK;
	int ok;

	if (device_id_out != NULL)
		*device_id_out = NULL;
	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((st = check_reason(reason)) != ST_OK)
		return st;
	if ((sel = wstmt(txn, W_CERT_STATUS)) == NULL ||
	    (upd = wstmt(txn, W_CERT_REVOKE)) == NULL ||
	    (ins = wstmt(txn, W_FEED_INSERT)) == NULL)
		return db_fail(txn->db, "prepare revoke certificate");
	st = step_row(txn->db, sel, bind_text(sel, 1, serial) == DB_OK,
	    "select certificate");
	if (st == ST_NOTFOUND)
		st = status_fail(
		    ST_NOTFOUND, "no certificate with serial %s", serial);
	if (st != ST_OK)
		goto out;
	status = db_column_text(sel, 0);
	if (status == NULL || strcmp((const char *)status, "valid") != 0) {
		st = status_fail(
		    ST_CONFLICT, "certificate %s is already revoked", serial);
		goto out;
	}
	if ((st = column_dup_opt(sel, 1, &device_id)) != ST_OK)
		goto out;
	stmt_reset(sel);
	/* The stored reason is -1 for none, as in the feed. */
	ok = db_bind_int64(upd, 1, time) == DB_OK &&
	    db_bind_int(upd, 2, reason) == DB_OK &&
	    bind_text(upd, 3, serial) == DB_OK;
	if ((st = stmt_run(txn->db, upd, ok, "revoke certificate")) != ST_OK)
		goto out;
	if (db_changes(txn->db) != 1) {
		st = status_fail(
		    ST_CONFLICT, "certificate %s is already revoked", serial);
		goto out;
	}
	/*
	 * PostgreSQL: the feed's seq is drawn at the INSERT, so two nodes'
	 * revocations could commit in the other order and a gateway reading
	 * "since seq N" skip the late lower one. The order lock (the
	 * audit's, W_AUDIT_LOCK) is taken before the seq is drawn and held
	 * to the COMMIT: the feed's writers take turns and commit in seq
	 * order. After the certificate's row lock, as the audit entry every
	 * revocation appends next always took it: no new lock order.
	 */
	if (db_kind(txn->db) == DB_PG &&
	    (st = txn_control(txn, W_AUDIT_LOCK)) != ST_OK)
		goto out;
	ok = bind_text(ins, 1, serial) == DB_OK &&
	    bind_text(ins, 2, device_id) == DB_OK &&
	    db_bind_int(ins, 3, reason) == DB_OK &&
	    db_bind_int64(ins, 4, time) == DB_OK;
	if ((st = stmt_run(
	         txn->db, ins, ok, "append to the revocations feed")) != ST_OK)
		goto out;
	if (device_id_out != NULL) {
		*device_id_out = device_id;
		device_id = NULL;
	}
out:
	stmt_reset(sel);
	free(device_id);
	return st;
}

struct serial {
	char hex[STORE_SERIAL_HEX_CAP];
};

/* The serials of device_id's valid certificates, in serial order. */
static enum status
device_valid_serials(struct store_txn *txn, const char *device_id,
    struct serial **out, size_t *count)
{
	struct serial *serials = NULL, *grown;
	struct db_stmt *sel;
	const unsigned char *serial;
	size_t n = 0, cap = 0;
	enum status st = ST_OK;
	int rc;

	*out = NULL;
	*count = 0;
	if ((sel = wstmt(txn, W_DEVICE_VALID)) == NULL)
		return db_fail(txn->db, "prepare select device certificates");
	if (bind_text(sel, 1, device_id) != DB_OK) {
		st = db_fail(txn->db, "select device certificates");
		goto out;
	}
	while ((rc = db_step(sel)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((grown = reallocarray(
			         serials, cap, sizeof(*serials))) == NULL) {
				st = status_fail(
				    ST_NOMEM, "store: out of memory");
				goto out;
			}
			serials = grown;
		}
		serial = db_column_text(sel, 0);
		snprintf(serials[n++].hex, sizeof(serials[0].hex), "%s",
		    serial != NULL ? (const char *)serial : "");
	}
	if (rc != DB_DONE) {
		st = db_fail(txn->db, "select device certificates");
		goto out;
	}
	*out = serials;
	*count = n;
	serials = NULL;
out:
	stmt_reset(sel);
	free(serials);
	return st;
}

enum status
store_txn_device_certs_revoke_each(struct store_txn *txn, const char *device_id,
    int reason, int64_t time, store_txn_revoked_fn fn, void *arg, size_t *count)
{
	struct serial *serials = NULL;
	size_t i, n = 0;
	enum status st;

	*count = 0;
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((st = check_reason(reason)) != ST_OK)
		return st;
	/*
	 * Collected first: updating certificates while a SELECT over them is
	 * still being stepped is not something to rely on.
	 */
	if ((st = device_valid_serials(txn, device_id, &serials, &n)) != ST_OK)
		return st;
	for (i = 0; i < n; i++) {
		if ((st = store_txn_cert_revoke(
		         txn, serials[i].hex, reason, time, NULL)) != ST_OK)
			goto out;
		if (fn != NULL && (st = fn(txn, serials[i].hex, arg)) != ST_OK)
			goto out;
	}
	*count = n;
out:
	free(serials);
	return st;
}

enum status
store_txn_device_certs_revoke(struct store_txn *txn, const char *device_id,
    int reason, int64_t time, size_t *count)
{
	return store_txn_device_certs_revoke_each(
	    txn, device_id, reason, time, NULL, NULL, count);
}

/* A DER object as a blob parameter: 1..INT32_MAX bytes. */
static enum status
check_der(const uint8_t *der, size_t len, const char *what)
{
	if (der == NULL || len == 0 || len > INT32_MAX)
		return status_fail(
		    ST_MALFORMED, "%s is empty or too large", what);
	return ST_OK;
}

enum status
store_txn_ocsp_put(struct store_txn *txn, const char *serial,
    enum store_cert_status signed_for, const char *signer, const uint8_t *der,
    size_t len, int64_t this_update, int64_t next_update)
{
	struct db_stmt *stmt;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((unsigned)signed_for >= STORE_CERT_STATUS_MAX)
		return status_fail(
		    ST_INTERNAL, "OCSP answer for status %d", signed_for);
	if ((st = check_der(der, len, "OCSP response")) != ST_OK)
		return st;
	if ((stmt = wstmt(txn, W_OCSP_PUT)) == NULL)
		return db_fail(txn->db, "prepare store OCSP response");
	ok = bind_text(stmt, 1, serial) == DB_OK &&
	    db_bind_blob(stmt, 2, der, len) == DB_OK &&
	    db_bind_int64(stmt, 3, this_update) == DB_OK &&
	    db_bind_int64(stmt, 4, next_update) == DB_OK &&
	    bind_text(stmt, 5,
	        signed_for == STORE_CERT_REVOKED ? "revoked" : "valid") ==
	        DB_OK &&
	    bind_text(stmt, 6, signer) == DB_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "store OCSP response")) != ST_OK)
		return st;
	if (db_changes(txn->db) == 0)
		return status_fail(ST_CONFLICT,
		    "certificate %s is not (or no longer) %s, or the responder "
		    "is revoked: its OCSP answer is not kept",
		    serial,
		    signed_for == STORE_CERT_REVOKED ? "revoked" : "valid");
	return ST_OK;
}

enum status
store_txn_ocsp_delete(struct store_txn *txn, const char *serial)
{
	struct db_stmt *stmt;

	if ((stmt = wstmt(txn, W_OCSP_DELETE)) == NULL)
		return db_fail(txn->db, "prepare delete OCSP response");
	return stmt_run(txn->db, stmt, bind_text(stmt, 1, serial) == DB_OK,
	    "delete OCSP response");
}

enum status
store_txn_ocsp_delete_all(struct store_txn *txn)
{
	struct db_stmt *stmt;

	if ((stmt = wstmt(txn, W_OCSP_DELETE_ALL)) == NULL)
		return db_fail(txn->db, "prepare delete OCSP responses");
	return stmt_run(txn->db, stmt, 1, "delete OCSP responses");
}

enum status
store_txn_crl_put(struct store_txn *txn, int shard, int64_t number,
    int64_t this_update, int64_t next_update, const uint8_t *der, size_t len)
{
	struct db_stmt *stmt;
	enum status st;
	int ok;

	if (shard < STORE_CRL_SHARD_FULL)
		return status_fail(ST_MALFORMED, "CRL shard %d", shard);
	if (number < 1)
		return status_fail(ST_MALFORMED, "crlNumber %lld is below 1",
		    (long long)number);
	if ((st = check_der(der, len, "CRL")) != ST_OK)
		return st;
	if ((stmt = wstmt(txn, W_CRL_PUT)) == NULL)
		return db_fail(txn->db, "prepare store CRL");
	ok = db_bind_int(stmt, 1, shard) == DB_OK &&
	    db_bind_int64(stmt, 2, number) == DB_OK &&
	    db_bind_int64(stmt, 3, this_update) == DB_OK &&
	    db_bind_int64(stmt, 4, next_update) == DB_OK &&
	    db_bind_blob(stmt, 5, der, len) == DB_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "store CRL")) != ST_OK)
		return st;
	if (db_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "CRL of shard %d: crlNumber %lld is not above the "
		    "stored one (RFC 5280 §5.2.3)",
		    shard, (long long)number);
	return ST_OK;
}

enum status
store_txn_crl_next_number(struct store_txn *txn, int shard, int64_t *number)
{
	struct db_stmt *stmt;
	enum status st = ST_OK;
	int64_t n = 0;

	*number = 0;
	if ((stmt = wstmt(txn, W_CRL_NEXT)) == NULL)
		return db_fail(txn->db, "prepare select crlNumber");
	if (db_bind_int(stmt, 1, shard) != DB_OK || db_step(stmt) != DB_ROW)
		st = db_fail(txn->db, "select crlNumber");
	else
		n = db_column_int64(stmt, 0);
	stmt_reset(stmt);
	if (st == ST_OK)
		*number = n;
	return st;
}

enum status
store_revoked_foreach(
    struct store *store, int shard, int64_t now, store_revoked_fn fn, void *arg)
{
	struct db *db = NULL;
	struct db_stmt *stmt = NULL;
	const unsigned char *serial;
	enum status st;
	int rc, gen, index, lo, hi, ok;

	/*
	 * A private connection: a walk over a million rows takes a while
	 * and must not hold the read lock that OCSP and authentication
	 * share.
	 */
	if ((st = db_open(
	         store->path, DB_OPEN_READONLY | DB_OPEN_STREAM, &db)) != ST_OK)
		return st;
	store_shard_split(shard, &gen, &index);
	gen_range(gen, &lo, &hi);
	if (index == STORE_CRL_SHARD_FULL)
		ok = db_prepare(db, revoked_full_sql, 0, &stmt) == DB_OK &&
		    db_bind_int(stmt, 1, lo) == DB_OK &&
		    db_bind_int(stmt, 2, hi) == DB_OK &&
		    db_bind_int64(stmt, 3, now) == DB_OK;
	else
		ok = db_prepare(db, revoked_sql, 0, &stmt) == DB_OK &&
		    db_bind_int(stmt, 1, shard) == DB_OK &&
		    db_bind_int64(stmt, 2, now) == DB_OK;
	if (!ok) {
		st = db_fail(db, "select revoked certificates");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		if ((serial = db_column_text(stmt, 0)) == NULL)
			continue;
		if (fn((const char *)serial, db_column_int64(stmt, 1),
		        db_column_is_null(stmt, 2) ? -1
		                                   : db_column_int(stmt, 2),
		        arg) != 0)
			break;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		st = db_fail(db, "select revoked certificates");
out:
	db_finalize(stmt);
	db_close(db);
	return st;
}

enum status
store_revocations_since(struct store *store, int64_t since_seq, size_t limit,
    store_revocation_fn fn, void *arg)
{
	struct store_revocation r;
	struct db_stmt *stmt;
	enum status st;
	int rc;

	if ((st = check_limit(limit)) != ST_OK)
		return st;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_FEED)) == NULL) {
		st = db_fail(store->rdb, "prepare select revocations");
		goto out;
	}
	if (db_bind_int64(stmt, 1, since_seq) != DB_OK ||
	    db_bind_int64(stmt, 2, (int64_t)limit) != DB_OK) {
		st = db_fail(store->rdb, "select revocations");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&r, 0, sizeof(r));
		r.seq = db_column_int64(stmt, 0);
		r.serial = (const char *)db_column_text(stmt, 1);
		r.device_id = (const char *)db_column_text(stmt, 2);
		r.reason = db_column_int(stmt, 3);
		r.time = db_column_int64(stmt, 4);
		if (r.serial == NULL) {
			st = status_fail(ST_STORE,
			    "store: revocation %lld has no serial",
			    (long long)r.seq);
			break;
		}
		if (fn(&r, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "select revocations");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

/* A malloc'ed copy of a blob column; ST_NOMEM, or ST_STORE when empty. */
static enum status
column_blob_dup(struct db_stmt *stmt, int i, uint8_t **out, size_t *len)
{
	const void *blob = db_column_blob(stmt, i);
	int n = db_column_bytes(stmt, i);

	*out = NULL;
	*len = 0;
	if (blob == NULL || n <= 0)
		return status_fail(ST_STORE, "store: empty DER column");
	if ((*out = malloc((size_t)n)) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	memcpy(*out, blob, (size_t)n);
	*len = (size_t)n;
	return ST_OK;
}

enum status
store_ocsp_get(struct store *store, const char *serial, uint8_t **der,
    size_t *len, int64_t *next_update)
{
	struct db_stmt *stmt;
	uint8_t *copy = NULL;
	size_t copy_len = 0;
	int64_t next = 0;
	enum status st = ST_OK;

	*der = NULL;
	*len = 0;
	if (next_update != NULL)
		*next_update = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_OCSP_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select OCSP response");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, serial) == DB_OK,
	    "select OCSP response");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no OCSP response for serial %s",
		    serial != NULL ? serial : "(null)");
	if (st != ST_OK)
		goto out;
	if ((st = column_blob_dup(stmt, 0, &copy, &copy_len)) != ST_OK)
		goto out;
	next = db_column_int64(stmt, 1);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st != ST_OK) {
		free(copy);
		return st;
	}
	*der = copy;
	*len = copy_len;
	if (next_update != NULL)
		*next_update = next;
	return ST_OK;
}

enum status
store_ocsp_due(
    struct store *store, int64_t before, store_ocsp_due_fn fn, void *arg)
{
	return serial_times_walk(store, R_OCSP_DUE, &before, 1, fn, arg,
	    "select due OCSP responses");
}

void
store_crl_free(struct store_crl *crl)
{
	if (crl == NULL)
		return;
	free(crl->der);
	free(crl);
}

enum status
store_crl_get(struct store *store, int shard, struct store_crl **out)
{
	struct store_crl *crl = NULL;
	struct db_stmt *stmt;
	enum status st = ST_OK;

	*out = NULL;
	if ((crl = calloc(1, sizeof(*crl))) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CRL_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select CRL");
		goto out;
	}
	st = step_row(store->rdb, stmt, db_bind_int(stmt, 1, shard) == DB_OK,
	    "select CRL");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no CRL for shard %d", shard);
	if (st != ST_OK)
		goto out;
	crl->shard = shard;
	crl->number = db_column_int64(stmt, 0);
	crl->this_update = db_column_int64(stmt, 1);
	crl->next_update = db_column_int64(stmt, 2);
	st = column_blob_dup(stmt, 3, &crl->der, &crl->der_len);
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_OK) {
		*out = crl;
		crl = NULL;
	}
	store_crl_free(crl);
	return st;
}

enum status
store_shard_last_expiry(struct store *store, int shard, int64_t *not_after)
{
	struct db_stmt *stmt;
	enum status st = ST_OK;

	*not_after = 0;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_SHARD_LAST)) == NULL)
		st = db_fail(store->rdb, "prepare shard expiry");
	else if (db_bind_int(stmt, 1, shard) == DB_OK &&
	    db_step(stmt) == DB_ROW)
		*not_after = db_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, "shard expiry");
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_gen_last_expiry(struct store *store, int gen, int64_t *not_after)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;
	int lo, hi;

	*not_after = 0;
	gen_range(gen, &lo, &hi);
	pthread_mutex_lock(&store->read_lock);
	if (db_prepare(store->rdb, gen_last_sql, 0, &stmt) == DB_OK &&
	    db_bind_int(stmt, 1, lo) == DB_OK &&
	    db_bind_int(stmt, 2, hi) == DB_OK && db_step(stmt) == DB_ROW)
		*not_after = db_column_int64(stmt, 0);
	else
		st = db_fail(store->rdb, "issuer's last expiry");
	db_finalize(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_txn_cert_revoked_at(
    struct store_txn *txn, const char *serial, int64_t *revoked_at)
{
	struct db_stmt *stmt;
	enum status st;

	*revoked_at = -1;
	if ((stmt = wstmt(txn, W_CERT_REVOKED_AT)) == NULL)
		return db_fail(txn->db, "prepare certificate status");
	st = step_row(txn->db, stmt, bind_text(stmt, 1, serial) == DB_OK,
	    "certificate status");
	if (st == ST_OK)
		*revoked_at = db_column_int64(stmt, 0);
	stmt_reset(stmt);
	return st == ST_NOTFOUND ? ST_OK : st;
}

enum status
store_revocations_last_seq(struct store *store, int64_t *seq)
{
	return read_int64(store, R_FEED_LAST, "last revocation", seq);
}
