/* store: certificates and devices. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

/* Bind v, or NULL when there is no value. */
static int
bind_opt_int64(sqlite3_stmt *stmt, int i, int has_value, int64_t v)
{
	if (!has_value)
		return sqlite3_bind_null(stmt, i);
	return sqlite3_bind_int64(stmt, i, v);
}

/* Copy text column i into out (cap bytes), "" for NULL. */
static void
column_copy(sqlite3_stmt *stmt, int i, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(stmt, i);

	snprintf(out, cap, "%s", s != NULL ? (const char *)s : "");
}

enum status
store_txn_cert_insert(struct store_txn *txn, const struct store_cert *cert)
{
	sqlite3_stmt *stmt;
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
	ok = bind_text(stmt, 1, cert->serial) == SQLITE_OK &&
	    bind_text(stmt, 2, cert->issuer) == SQLITE_OK &&
	    bind_text(stmt, 3, cert->subject) == SQLITE_OK &&
	    bind_text(stmt, 4, cert->device_id) == SQLITE_OK &&
	    bind_text(stmt, 5, cert->profile) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 6, cert->not_before) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 7, cert->not_after) == SQLITE_OK &&
	    bind_text(stmt, 8, is_revoked ? "revoked" : "valid") == SQLITE_OK &&
	    bind_opt_int64(stmt, 9, is_revoked, cert->revoked_at) ==
	        SQLITE_OK &&
	    bind_opt_int64(stmt, 10, cert->reason >= 0, cert->reason) ==
	        SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 11, cert->der, (int)cert->der_len,
	        SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 12, cert->created) == SQLITE_OK &&
	    sqlite3_bind_int(stmt, 13, cert->shard) == SQLITE_OK;
	rc = ok ? sqlite3_step(stmt) : SQLITE_ERROR;
	if (rc == SQLITE_DONE)
		st = ST_OK;
	else if (sqlite3_extended_errcode(txn->db) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY)
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
	sqlite3_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_DEVICE_ENSURE)) == NULL)
		return db_fail(txn->db, "prepare insert device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 3, now) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "insert device");
}

/* The device's status: 1 blocked, 0 active; ST_NOTFOUND when unknown. */
static enum status
device_status(struct store_txn *txn, const char *device_id, int *blocked)
{
	sqlite3_stmt *sel;
	const unsigned char *status;
	enum status st;

	*blocked = 0;
	if ((sel = wstmt(txn, W_DEVICE_STATUS)) == NULL)
		return db_fail(txn->db, "prepare select device");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == SQLITE_OK,
	    "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s",
		    device_id != NULL ? device_id : "(null)");
	if (st == ST_OK) {
		status = sqlite3_column_text(sel, 0);
		*blocked = status != NULL &&
		    strcmp((const char *)status, "blocked") == 0;
	}
	stmt_reset(sel);
	return st;
}

enum status
store_txn_cert_supersede(struct store_txn *txn, const char *serial, int64_t at)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((upd = wstmt(txn, W_CERT_SUPERSEDE)) == NULL)
		return db_fail(txn->db, "prepare supersede certificate");
	ok = sqlite3_bind_int64(upd, 1, at) == SQLITE_OK &&
	    bind_text(upd, 2, serial) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "supersede certificate")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "certificate %s is revoked or was renewed already", serial);
	return ST_OK;
}

enum status
store_txn_device_supersede(
    struct store_txn *txn, const char *device_id, int64_t at, size_t *count)
{
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	*count = 0;
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SUPERSEDE)) == NULL)
		return db_fail(
		    txn->db, "prepare supersede device certificates");
	ok = sqlite3_bind_int64(upd, 1, at) == SQLITE_OK &&
	    bind_text(upd, 2, device_id) == SQLITE_OK;
	if ((st = stmt_run(
	         txn->db, upd, ok, "supersede device certificates")) != ST_OK)
		return st;
	*count = (size_t)sqlite3_changes(txn->db);
	return ST_OK;
}

enum status
store_txn_device_current(struct store_txn *txn, const char *device_id,
    int64_t now, char serial[STORE_SERIAL_HEX_CAP])
{
	sqlite3_stmt *sel;
	const unsigned char *s;
	enum status st;
	int ok;

	serial[0] = '\0';
	if (device_id == NULL)
		return ST_NOTFOUND;
	if ((sel = wstmt(txn, W_DEVICE_CURRENT)) == NULL)
		return db_fail(txn->db, "prepare select current certificate");
	ok = bind_text(sel, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(sel, 2, now) == SQLITE_OK;
	st = step_row(txn->db, sel, ok, "select current certificate");
	if (st == ST_OK) {
		s = sqlite3_column_text(sel, 0);
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
	sqlite3_stmt *upd;
	enum status st;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((upd = wstmt(txn, W_DEVICE_SET)) == NULL)
		return db_fail(txn->db, "prepare update device");
	ok =
	    bind_text(upd, 1, is_blocked ? "blocked" : "active") == SQLITE_OK &&
	    sqlite3_bind_int64(upd, 2, time) == SQLITE_OK &&
	    bind_text(upd, 3, device_id) == SQLITE_OK;
	if ((st = stmt_run(txn->db, upd, ok, "update device")) != ST_OK)
		return st;
	if (sqlite3_changes(txn->db) != 1)
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
	sqlite3_stmt *sel;
	const unsigned char *status;
	enum status st;

	memset(out, 0, sizeof(*out));
	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((sel = wstmt(txn, W_DEVICE_BINDING)) == NULL)
		return db_fail(txn->db, "prepare select device binding");
	st = step_row(txn->db, sel, bind_text(sel, 1, device_id) == SQLITE_OK,
	    "select device binding");
	if (st == ST_OK) {
		out->is_known = 1;
		status = sqlite3_column_text(sel, 0);
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
	sqlite3_stmt *stmt;
	int ok;

	if (device_id == NULL || family == NULL)
		return status_fail(ST_MALFORMED, "no device id or family");
	if ((stmt = wstmt(txn, W_DEVICE_BIND)) == NULL)
		return db_fail(txn->db, "prepare bind device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK &&
	    bind_text(stmt, 3, family) == SQLITE_OK &&
	    bind_text(stmt, 4, authenticator) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "bind device");
}

enum status
store_txn_device_block(
    struct store_txn *txn, const char *device_id, int64_t now)
{
	sqlite3_stmt *stmt;
	int ok;

	if (device_id == NULL)
		return status_fail(ST_MALFORMED, "no device id");
	if ((stmt = wstmt(txn, W_DEVICE_BLOCK)) == NULL)
		return db_fail(txn->db, "prepare block device");
	ok = bind_text(stmt, 1, device_id) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, now) == SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "block device");
}

int
store_cert_exists(struct store *store, const char *serial)
{
	sqlite3_stmt *stmt;
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_EXISTS)) == NULL)
		st = db_fail(store->rdb, "prepare select certificate");
	else
		st = step_row(store->rdb, stmt,
		    bind_text(stmt, 1, serial) == SQLITE_OK,
		    "select certificate");
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
cert_row(sqlite3_stmt *stmt, struct store_cert *c)
{
	const unsigned char *serial, *status;
	const void *der;

	memset(c, 0, sizeof(*c));
	serial = sqlite3_column_text(stmt, 0);
	snprintf(c->serial, sizeof(c->serial), "%s",
	    serial != NULL ? (const char *)serial : "");
	c->issuer = (char *)sqlite3_column_text(stmt, 1);
	c->subject = (char *)sqlite3_column_text(stmt, 2);
	c->device_id = (char *)sqlite3_column_text(stmt, 3);
	c->profile = (char *)sqlite3_column_text(stmt, 4);
	c->not_before = sqlite3_column_int64(stmt, 5);
	c->not_after = sqlite3_column_int64(stmt, 6);
	status = sqlite3_column_text(stmt, 7);
	c->status =
	    status != NULL && strcmp((const char *)status, "revoked") == 0
	    ? STORE_CERT_REVOKED
	    : STORE_CERT_VALID;
	c->revoked_at = sqlite3_column_int64(stmt, 8);
	c->reason = sqlite3_column_type(stmt, 9) == SQLITE_NULL
	    ? -1
	    : sqlite3_column_int(stmt, 9);
	der = sqlite3_column_blob(stmt, 10);
	c->der_len = (size_t)sqlite3_column_bytes(stmt, 10);
	c->der = (uint8_t *)der;
	if (der == NULL)
		c->der_len = 0;
	c->created = sqlite3_column_int64(stmt, 11);
	c->shard = sqlite3_column_int(stmt, 12);
	c->supersede_at = sqlite3_column_int64(stmt, 13);
}

enum status
store_cert_get(struct store *store, const char *serial, struct store_cert **out)
{
	struct store_cert *cert = NULL, row;
	sqlite3_stmt *stmt = NULL;
	enum status st = ST_OK;
	int is_oom = 0;

	*out = NULL;
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_CERT_GET)) == NULL) {
		st = db_fail(store->rdb, "prepare select certificate");
		goto out;
	}
	st = step_row(store->rdb, stmt, bind_text(stmt, 1, serial) == SQLITE_OK,
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
store_cert_count(struct store *store, int64_t *count)
{
	return read_int64(store, R_CERT_COUNT, "count certificates", count);
}

enum status
store_cert_list(struct store *store, const struct store_cert_filter *f,
    store_cert_fn fn, void *arg)
{
	struct store_cert c;
	sqlite3_stmt *stmt;
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
	stmt = rstmt(
	    store, f->device_id != NULL ? R_CERT_LIST_DEVICE : R_CERT_LIST);
	if (stmt == NULL) {
		st = db_fail(store->rdb, "prepare list certificates");
		goto out;
	}
	/* "" sorts before every serial: the first page. */
	ok = bind_text(stmt, 1, f->cursor != NULL ? f->cursor : "") ==
	        SQLITE_OK &&
	    (f->device_id == NULL ||
	        bind_text(stmt, 2, f->device_id) == SQLITE_OK) &&
	    bind_text(stmt, 3,
	        f->status == -1                       ? NULL
	            : f->status == STORE_CERT_REVOKED ? "revoked"
	                                              : "valid") == SQLITE_OK &&
	    bind_text(stmt, 4, f->profile) == SQLITE_OK &&
	    bind_opt_int64(stmt, 5, f->expiring_before != 0,
	        f->expiring_before) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 6, (int64_t)f->limit) == SQLITE_OK;
	if (!ok) {
		st = db_fail(store->rdb, "list certificates");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cert_row(stmt, &c);
		if (fn(&c, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
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
	sqlite3_stmt *stmt;
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
	st = step_row(store->rdb, stmt,
	    bind_text(stmt, 1, device_id) == SQLITE_OK, "select device");
	if (st == ST_NOTFOUND)
		st = status_fail(ST_NOTFOUND, "no device %s", device_id);
	if (st != ST_OK)
		goto out;
	status = sqlite3_column_text(stmt, 0);
	d.is_blocked =
	    status != NULL && strcmp((const char *)status, "blocked") == 0;
	d.created = sqlite3_column_int64(stmt, 1);
	d.updated = sqlite3_column_int64(stmt, 2);
	d.cert_count = sqlite3_column_int64(stmt, 3);
	d.valid_count = sqlite3_column_int64(stmt, 4);
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
	sqlite3_stmt *stmt;
	const unsigned char *id, *status;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_DEVICES)) == NULL) {
		st = db_fail(store->rdb, "prepare select devices");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		id = sqlite3_column_text(stmt, 0);
		status = sqlite3_column_text(stmt, 1);
		if (id == NULL)
			continue;
		if (fn((const char *)id,
		        status != NULL &&
		            strcmp((const char *)status, "blocked") == 0,
		        arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "select devices");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
