/* store: certificates and devices. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

/* Bind v, or NULL when there is no value. */
static int
bind_opt_int64(struct db_stmt *stmt, int i, int has_value, int64_t v)
{
	if (!has_value)
		return db_bind_null(stmt, i);
	return db_bind_int64(stmt, i, v);
}

/* Copy text column i into out (cap bytes), "" for NULL. */
static void
column_copy(struct db_stmt *stmt, int i, char *out, size_t cap)
{
	const unsigned char *s = db_column_text(stmt, i);

	snprintf(out, cap, "%s", s != NULL ? (const char *)s : "");
}

enum status
store_txn_cert_insert(struct store_txn *txn, const struct store_cert *cert)
{
	struct db_stmt *stmt;
	enum status st;
	int rc, ok, is_revoked;

	if ((st = check_serial(cert->serial)) != ST_OK)
		return st;
	if (cert->der == NULL || cert->der_len == 0 ||
	    cert->der_len > INT32_MAX)
		return status_fail(
		    ST_MALFORMED, "certificate %s has no DER", cert->serial);
	if ((unsigned)cert->status >= STORE_CERT_STATUS_MAX)
		return status_fail(ST_INTERNAL, "certificate %s has status %d",
		    cert->serial, cert->status);
	if (cert->shard < STORE_CRL_SHARD_FULL)
		return status_fail(ST_INTERNAL, "certificate %s has shard %d",
		    cert->serial, cert->shard);
	if ((stmt = wstmt(txn, W_CERT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert certificate");
	is_revoked = cert->status == STORE_CERT_REVOKED;
	ok = bind_text(stmt, 1, cert->serial) == DB_OK &&
	    bind_text(stmt, 2, cert->issuer) == DB_OK &&
	    bind_text(stmt, 3, cert->subject) == DB_OK &&
	    bind_text(stmt, 4, cert->device_id) == DB_OK &&
	    bind_text(stmt, 5, cert->profile) == DB_OK &&
	    db_bind_int64(stmt, 6, cert->not_before) == DB_OK &&
	    db_bind_int64(stmt, 7, cert->not_after) == DB_OK &&
	    bind_text(stmt, 8, is_revoked ? "revoked" : "valid") == DB_OK &&
	    bind_opt_int64(stmt, 9, is_revoked, cert->revoked_at) == DB_OK &&
	    bind_opt_int64(stmt, 10, cert->reason >= 0, cert->reason) ==
	        DB_OK &&
	    db_bind_blob(stmt, 11, cert->der, cert->der_len) == DB_OK &&
	    db_bind_int64(stmt, 12, cert->created) == DB_OK &&
	    db_bind_int(stmt, 13, cert->shard) == DB_OK;
	rc = ok ? db_step(stmt) : DB_ERROR;
	if (rc == DB_DONE)
		st = ST_OK;
	else if (db_is_unique_violation(txn->db))
		st = status_fail(ST_CONFLICT,
		    "certificate serial %s exists already", cert->serial);
	else
		st = db_fail(txn->db, "insert certificate");
	stmt_reset(stmt);
	return st;
}

enum status
store_txn_device_ensure(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	struct db_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_DEVICE_ENSURE)) == NULL)
		return db_fail(txn->db, "prepare insert device");
	ok = bind_text(stmt, 1, device_id) == DB_OK &&
	    db_bind_int64(stmt, 2, now) == DB_OK &&
	    db_bind_int64(stmt, 3, now) == DB_OK;
	return stmt_run(txn->db, stmt, ok, "insert device");
}

/* The device's status: 1 blocked, 0 active; ST_NOTFOUND when unknown. */
static enum status
device_status(struct store_txn *txn, const char *device_id, int *blocked)
{
	struct db_stmt *sel;
	const unsigned char *status;
	enum status st;

	*blocked = 0;
	if ((sel = wstmt(txn, W_DEVICE_STATUS)) == NULL)
		return db_fail(txn->db, "prepare select device");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == DB_OK,
	    "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s",
		    device_id != NULL ? device_id : "(null)");
	if (st == ST_OK) {
		status = db_column_text(sel, 0);
		*blocked = status != NULL &&
		    strcmp((const char *)status, "blocked") == 0;
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_cert_supersede(struct store_txn *txn, const char *serial, int64_t at)
{
	struct db_stmt *upd;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((upd = wstmt(txn, W_CERT_SUPERSEDE)) == NULL)
		return db_fail(txn->db, "prepare supersede certificate");
	ok = db_bind_int64(upd, 1, at) == DB_OK &&
	    bind_text(upd, 2, serial) == DB_OK;
	if ((st = stmt_run(txn->db, upd, ok, "supersede certificate")) != ST_OK)
		return st;
	if (db_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "certificate %s is revoked or was renewed already", serial);
	return ST_OK;
}

enum status
store_txn_device_supersede(
    struct store_txn *txn, const char *device_id, int64_t at, size_t *count)
{
	struct db_stmt *upd;
	enum status st;
	int ok;

	*count = 0;
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SUPERSEDE)) == NULL)
		return db_fail(
		    txn->db, "prepare supersede device certificates");
	ok = db_bind_int64(upd, 1, at) == DB_OK &&
	    bind_text(upd, 2, device_id) == DB_OK;
	if ((st = stmt_run(
	         txn->db, upd, ok, "supersede device certificates")) != ST_OK)
		return st;
	*count = (size_t)db_changes(txn->db);
	return ST_OK;
}

enum status
store_txn_device_current(struct store_txn *txn, const char *device_id,
    int64_t now, char serial[STORE_SERIAL_HEX_CAP])
{
	struct db_stmt *sel;
	const unsigned char *s;
	enum status st;
	int ok;

	serial[0] = '\0';
	if (device_id == NULL)
		return ST_NOTFOUND;
	if ((sel = wstmt(txn, W_DEVICE_CURRENT)) == NULL)
		return db_fail(txn->db, "prepare select current certificate");
	ok = bind_text(sel, 1, device_id) == DB_OK &&
	    db_bind_int64(sel, 2, now) == DB_OK;
	st = step_row(txn->db, sel, ok, "select current certificate");
	if (st == ST_OK) {
		s = db_column_text(sel, 0);
		snprintf(serial, STORE_SERIAL_HEX_CAP, "%s",
		    s != NULL ? (const char *)s : "");
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_device_set_status(
    struct store_txn *txn, const char *device_id, int is_blocked, int64_t time)
{
	struct db_stmt *upd;
	enum status st;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SET)) == NULL)
		return db_fail(txn->db, "prepare update device");
	ok = bind_text(upd, 1, is_blocked ? "blocked" : "active") == DB_OK &&
	    db_bind_int64(upd, 2, time) == DB_OK &&
	    bind_text(upd, 3, device_id) == DB_OK;
	if ((st = stmt_run(txn->db, upd, ok, "update device")) != ST_OK)
		return st;
	if (db_changes(txn->db) != 1)
		return status_fail(ST_NOTFOUND, "no device %s", device_id);
	return ST_OK;
}

enum status
store_txn_device_is_blocked(
    struct store_txn *txn, const char *device_id, int *blocked)
{
	enum status st;
	int b = 0;

	*blocked = 0;
	st = device_status(txn, device_id, &b);
	if (st == ST_NOTFOUND) {
		/* Not enrolled yet: nothing blocks it. */
		status_clear();
		return ST_OK;
	}
	if (st != ST_OK)
		return st;
	*blocked = b;
	return ST_OK;
}

enum status
store_txn_device_binding_get(struct store_txn *txn, const char *device_id,
    struct store_device_binding *out)
{
	struct db_stmt *sel;
	const unsigned char *status;
	enum status st;

	memset(out, 0, sizeof(*out));
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((sel = wstmt(txn, W_DEVICE_BINDING)) == NULL)
		return db_fail(txn->db, "prepare select device binding");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == DB_OK,
	    "select device binding");
	if (st == ST_OK) {
		out->is_known = 1;
		status = db_column_text(sel, 0);
		out->is_blocked = status != NULL &&
		    strcmp((const char *)status, "blocked") == 0;
		column_copy(sel, 1, out->family, sizeof(out->family));
		column_copy(
		    sel, 2, out->authenticator, sizeof(out->authenticator));
	} else if (st == ST_NOTFOUND) {
		st = ST_OK;
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_device_bind(struct store_txn *txn, const char *device_id,
    const char *family, const char *authenticator, int64_t now)
{
	struct db_stmt *stmt;
	int ok;

	if (device_id == NULL || family == NULL)
		return status_fail(ST_MALFORMED, "no device id or family");
	if ((stmt = wstmt(txn, W_DEVICE_BIND)) == NULL)
		return db_fail(txn->db, "prepare bind device");
	ok = bind_text(stmt, 1, device_id) == DB_OK &&
	    db_bind_int64(stmt, 2, now) == DB_OK &&
	    bind_text(stmt, 3, family) == DB_OK &&
	    bind_text(stmt, 4, authenticator) == DB_OK;
	return stmt_run(txn->db, stmt, ok, "bind device");
}

enum status
store_txn_device_block(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	struct db_stmt *stmt;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((stmt = wstmt(txn, W_DEVICE_BLOCK)) == NULL)
		return db_fail(txn->db, "prepare block device");
	ok = bind_text(stmt, 1, device_id) == DB_OK &&
	    db_bind_int64(stmt, 2, now) == DB_OK;
	return stmt_run(txn->db, stmt, ok, "block device");
}

int
store_cert_exists(struct store *store, const char *serial)
{
	struct db_stmt *stmt;
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_EXISTS)) == NULL)
		st = db_fail(store->rdb, "prepare select certificate");
	else
		st = step_row(store->rdb, stmt,
		    bind_text(stmt, 1, serial) == DB_OK, "select certificate");
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_NOTFOUND)
		return 0;
	return st == ST_OK ? 1 : -1;
}

void
store_cert_free(struct store_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->issuer);
	free(cert->subject);
	free(cert->device_id);
	free(cert->profile);
	free(cert->der);
	free(cert);
}

/*
 * Fill c from the current row of a CERT_COLUMNS statement; its strings and
 * DER borrow the row (valid until the next step or reset).
 */
static void
cert_row(struct db_stmt *stmt, struct store_cert *c)
{
	const unsigned char *serial, *status;
	const void *der;

	memset(c, 0, sizeof(*c));
	serial = db_column_text(stmt, 0);
	snprintf(c->serial, sizeof(c->serial), "%s",
	    serial != NULL ? (const char *)serial : "");
	c->issuer = (char *)db_column_text(stmt, 1);
	c->subject = (char *)db_column_text(stmt, 2);
	c->device_id = (char *)db_column_text(stmt, 3);
	c->profile = (char *)db_column_text(stmt, 4);
	c->not_before = db_column_int64(stmt, 5);
	c->not_after = db_column_int64(stmt, 6);
	status = db_column_text(stmt, 7);
	c->status =
	    status != NULL && strcmp((const char *)status, "revoked") == 0
	    ? STORE_CERT_REVOKED
	    : STORE_CERT_VALID;
	c->revoked_at = db_column_int64(stmt, 8);
	c->reason = db_column_is_null(stmt, 9) ? -1 : db_column_int(stmt, 9);
	der = db_column_blob(stmt, 10);
	c->der_len = (size_t)db_column_bytes(stmt, 10);
	c->der = (uint8_t *)der;
	if (der == NULL)
		c->der_len = 0;
	c->created = db_column_int64(stmt, 11);
	c->shard = db_column_int(stmt, 12);
	c->supersede_at = db_column_int64(stmt, 13);
}

/* store_cert_get; with is_nowait, store_cert_get_nowait. */
static enum status
cert_get(struct store *store, const char *serial, int is_nowait,
    struct store_cert **out)
{
	struct store_cert *cert = NULL, row;
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;
	int is_oom = 0;

	*out = NULL;
	if (is_nowait) {
		/* PostgreSQL's read is a round trip on the network. */
		if (db_kind(store->rdb) != DB_SQLITE)
			return status_fail(ST_UNAVAILABLE,
			    "store: a read on PostgreSQL waits");
		if (pthread_mutex_trylock(&store->read_lock) != 0)
			return status_fail(ST_UNAVAILABLE,
			    "store: the read connection is busy");
	} else
		pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select certificate");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, serial) == DB_OK,
	    "select certificate");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no certificate with serial %s",
		    serial != NULL ? serial : "(null)");
	if (st != ST_OK)
		goto out;
	if ((cert = calloc(1, sizeof(*cert))) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	/* The row's fields, then a copy in place of each borrowed pointer. */
	cert_row(stmt, &row);
	*cert = row;
	cert->issuer = column_strdup(stmt, 1, &is_oom);
	cert->subject = column_strdup(stmt, 2, &is_oom);
	cert->device_id = column_strdup(stmt, 3, &is_oom);
	cert->profile = column_strdup(stmt, 4, &is_oom);
	cert->der = NULL;
	if (row.der_len > 0) {
		if ((cert->der = malloc(row.der_len)) == NULL)
			is_oom = 1;
		else
			memcpy(cert->der, row.der, row.der_len);
	}
	if (is_oom) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	store_cert_free(cert);
	return st;
}

enum status
store_cert_get(struct store *store, const char *serial, struct store_cert **out)
{
	return cert_get(store, serial, 0, out);
}

enum status
store_cert_get_nowait(
    struct store *store, const char *serial, struct store_cert **out)
{
	return cert_get(store, serial, 1, out);
}

enum status
store_cert_count(struct store *store, int64_t *count)
{
	return read_int64(store, R_CERT_COUNT, "count certificates", count);
}

enum status
store_cert_list(struct store *store, const struct store_cert_filter *f,
    store_cert_fn fn, void *arg)
{
	struct store_cert c;
	struct db_stmt *stmt;
	enum status st;
	int rc, ok;

	if ((st = check_limit(f->limit)) != ST_OK)
		return st;
	if (f->status != -1 &&
	    (f->status < 0 || f->status >= STORE_CERT_STATUS_MAX))
		return status_fail(ST_MALFORMED,
		    "certificate status %d is not valid, revoked or any",
		    f->status);
	if (f->cursor != NULL && f->cursor[0] != '\0' &&
	    !serial_is_valid(f->cursor))
		return status_fail(ST_MALFORMED,
		    "cursor is not a serial (1 to 40 uppercase hex digits)");
	pthread_mutex_lock(&store->read_lock);
	stmt = rstmt(store,
	    f->device_id != NULL     ? R_CERT_LIST_DEVICE
	        : f->profile != NULL ? R_CERT_LIST_PROFILE
	                             : R_CERT_LIST);
	if (stmt == NULL) {
		st = db_fail(store->rdb, "prepare list certificates");
		goto out;
	}
	/* "" sorts before every serial: the first page. */
	ok = bind_text(stmt, 1, f->cursor != NULL ? f->cursor : "") == DB_OK &&
	    (f->device_id == NULL ||
	        bind_text(stmt, 2, f->device_id) == DB_OK) &&
	    bind_text(stmt, 3,
	        f->status == -1                       ? NULL
	            : f->status == STORE_CERT_REVOKED ? "revoked"
	                                              : "valid") == DB_OK &&
	    bind_text(stmt, 4, f->profile) == DB_OK &&
	    bind_opt_int64(stmt, 5, f->expiring_before != 0,
	        f->expiring_before) == DB_OK &&
	    db_bind_int64(stmt, 6, (int64_t)f->limit) == DB_OK;
	if (!ok) {
		st = db_fail(store->rdb, "list certificates");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		cert_row(stmt, &c);
		if (fn(&c, arg) != 0)
			break;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "list certificates");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

enum status
store_device_get(
    struct store *store, const char *device_id, struct store_device *out)
{
	struct store_device d;
	struct db_stmt *stmt;
	const unsigned char *status;
	enum status st = ST_OK;

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DEVICE_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select device");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, device_id) == DB_OK,
	    "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s", device_id);
	if (st != ST_OK)
		goto out;
	status = db_column_text(stmt, 0);
	d.is_blocked =
	    status != NULL && strcmp((const char *)status, "blocked") == 0;
	d.created = db_column_int64(stmt, 1);
	d.updated = db_column_int64(stmt, 2);
	d.cert_count = db_column_int64(stmt, 3);
	d.valid_count = db_column_int64(stmt, 4);
	column_copy(stmt, 5, d.family, sizeof(d.family));
	column_copy(stmt, 6, d.authenticator, sizeof(d.authenticator));
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	if (st == ST_OK)
		*out = d;
	return st;
}

enum status
store_superseded_due(struct store *store, int64_t now, size_t limit,
    int (*fn)(const char *serial, int64_t at, void *arg), void *arg)
{
	int64_t binds[2] = {now, (int64_t)limit};
	enum status st;

	if ((st = check_limit(limit)) != ST_OK)
		return st;
	return serial_times_walk(
	    store, R_SUPERSEDE_DUE, binds, 2, fn, arg, "select superseded");
}

enum status
store_devices_foreach(struct store *store, store_device_state_fn fn, void *arg)
{
	struct db_stmt *stmt;
	const unsigned char *id, *status;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DEVICES)) == NULL) {
		st = db_fail(store->rdb, "prepare select devices");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		id = db_column_text(stmt, 0);
		status = db_column_text(stmt, 1);
		if (id == NULL)
			continue;
		if (fn((const char *)id,
		        status != NULL &&
		            strcmp((const char *)status, "blocked") == 0,
		        arg) != 0)
			break;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "select devices");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
