/* store: one-time enrollment secrets. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/limits.h"
#include "common/status.h"

enum status
store_txn_secret_insert(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t expires, int64_t now,
    const struct store_minter *minter)
{
	struct db_stmt *stmt;
	int ok;

	if (minter == NULL || minter->kind == NULL || minter->id == NULL)
		return status_fail(ST_INTERNAL, "a secret needs its minter");
	if (minter->serial != NULL && !serial_is_valid(minter->serial))
		return check_serial(minter->serial);
	if ((stmt = wstmt(txn, W_SECRET_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert enrollment secret");
	ok = bind_text(stmt, 1, device_id) == DB_OK &&
	    bind_text(stmt, 2, profile) == DB_OK &&
	    db_bind_blob(stmt, 3, hash, HASH_LEN) == DB_OK &&
	    db_bind_int64(stmt, 4, now) == DB_OK &&
	    db_bind_int64(stmt, 5, expires) == DB_OK &&
	    bind_text(stmt, 6, minter->kind) == DB_OK &&
	    bind_text(stmt, 7, minter->id) == DB_OK &&
	    bind_text(stmt, 8, minter->serial) == DB_OK;
	return stmt_run(txn->db, stmt, ok, "insert enrollment secret");
}

/* How good a secret row whose hash matched is; the best one is used. */
enum secret_fit {
	FIT_NONE,
	FIT_CANCELLED,
	FIT_USED,
	FIT_EXPIRED,
	FIT_PROFILE,
	FIT_OK
};

/*
 * The enrollment-secret check, the one place it is made: run sel (the
 * secret rows of device_id) and find the unused, unexpired row of profile
 * whose hash equals hash. Its id goes to *id. db is for error messages.
 */
static enum status
secret_find(struct db *db, struct db_stmt *sel, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now, int64_t *id)
{
	const void *row_hash;
	const char *row_profile;
	char best_profile[LIMIT_NAME_LEN + 1] = "";
	enum secret_fit fit, best = FIT_NONE;
	int64_t best_id = 0;
	int rc, rows = 0, is_match;
	enum status st = ST_OK;

	*id = 0;
	if (device_id == NULL)
		return status_fail(ST_UNAUTHENTICATED, "no device id");
	if (bind_text(sel, 1, device_id) != DB_OK) {
		st = db_fail(db, "select enrollment secret");
		goto out;
	}
	/*
	 * Every candidate is compared in constant time and the loop does not
	 * stop at the first match, so timing does not tell how many rows
	 * precede the matching one.
	 */
	while ((rc = db_step(sel)) == DB_ROW) {
		rows++;
		row_hash = db_column_blob(sel, 2);
		is_match = row_hash != NULL &&
		    db_column_bytes(sel, 2) == HASH_LEN &&
		    CRYPTO_memcmp(row_hash, hash, HASH_LEN) == 0;
		if (!is_match)
			continue;
		row_profile = (const char *)db_column_text(sel, 1);
		if (row_profile == NULL)
			row_profile = "";
		if (db_column_int(sel, 5) != 0)
			fit = FIT_CANCELLED;
		else if (db_column_int(sel, 4) != 0)
			fit = FIT_USED;
		else if (now >= db_column_int64(sel, 3))
			fit = FIT_EXPIRED;
		else if (profile == NULL || strcmp(row_profile, profile) != 0)
			fit = FIT_PROFILE;
		else
			fit = FIT_OK;
		if (fit > best) {
			best = fit;
			best_id = db_column_int64(sel, 0);
			snprintf(best_profile, sizeof(best_profile), "%s",
			    row_profile);
		}
	}
	if (rc != DB_DONE) {
		st = db_fail(db, "select enrollment secret");
		goto out;
	}
	if (rows == 0) {
		st = status_fail(ST_UNAUTHENTICATED,
		    "no enrollment secret for device %s", device_id);
		goto out;
	}
	switch (best) {
	case FIT_NONE:
		st = status_fail(ST_UNAUTHENTICATED,
		    "wrong enrollment secret for device %s", device_id);
		goto out;
	case FIT_CANCELLED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was cancelled", device_id);
		goto out;
	case FIT_USED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was already used",
		    device_id);
		goto out;
	case FIT_EXPIRED:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s expired", device_id);
		goto out;
	case FIT_PROFILE:
		st = status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret is for profile %s, not %s", best_profile,
		    profile != NULL ? profile : "(none)");
		goto out;
	case FIT_OK:
		break;
	}
	*id = best_id;
out:
	stmt_reset(sel);
	return st;
}

enum status
store_txn_secret_use(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial, int64_t *id)
{
	struct db_stmt *sel, *upd;
	int64_t best_id;
	enum status st;
	int ok;

	*id = 0;
	if ((sel = wstmt(txn, W_SECRET_SELECT)) == NULL ||
	    (upd = wstmt(txn, W_SECRET_CONSUME)) == NULL)
		return db_fail(txn->db, "prepare consume enrollment secret");
	if ((st = secret_find(txn->db, sel, device_id, profile, hash, now,
	         &best_id)) != ST_OK)
		return st;
	/*
	 * Conditional on consumed_at IS NULL: of two jobs that both saw the
	 * row unused, only one changes it.
	 */
	ok = db_bind_int64(upd, 1, now) == DB_OK &&
	    bind_text(upd, 2, serial) == DB_OK &&
	    db_bind_int64(upd, 3, best_id) == DB_OK;
	/* A cancellation committed meanwhile wins, as a use would. */
	if ((st = stmt_run(txn->db, upd, ok, "consume enrollment secret")) !=
	    ST_OK)
		return st;
	if (db_changes(txn->db) != 1)
		return status_fail(ST_UNAUTHENTICATED,
		    "enrollment secret for device %s was already used",
		    device_id);
	*id = best_id;
	return ST_OK;
}

enum status
store_txn_secret_consume(struct store_txn *txn, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now,
    const char *serial)
{
	int64_t id;

	return store_txn_secret_use(
	    txn, device_id, profile, hash, now, serial, &id);
}

enum status
store_txn_secret_attach(struct store_txn *txn, int64_t id, const char *serial)
{
	struct db_stmt *upd;
	enum status st;
	int ok;

	if ((st = check_serial(serial)) != ST_OK)
		return st;
	if ((upd = wstmt(txn, W_SECRET_ATTACH)) == NULL)
		return db_fail(txn->db, "prepare attach enrollment secret");
	ok = bind_text(upd, 1, serial) == DB_OK &&
	    db_bind_int64(upd, 2, id) == DB_OK;
	if ((st = stmt_run(txn->db, upd, ok, "attach enrollment secret")) !=
	    ST_OK)
		return st;
	if (db_changes(txn->db) != 1)
		return status_fail(ST_CONFLICT,
		    "enrollment secret %lld is not reserved for a "
		    "certificate",
		    (long long)id);
	return ST_OK;
}

enum status
store_secret_check(struct store *store, const char *device_id,
    const char *profile, const uint8_t hash[32], int64_t now)
{
	struct db_stmt *sel;
	int64_t id;
	enum status st;

	pthread_mutex_lock(&store->read_lock);
	if ((sel = rstmt(store, R_SECRET_SELECT)) == NULL)
		st = db_fail(store->rdb, "prepare select enrollment secret");
	else
		st = secret_find(
		    store->rdb, sel, device_id, profile, hash, now, &id);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}

/* Bind a filter's four match parameters (?1..?4, SECRET_MATCH_SQL). */
static int
secret_match_bind(struct db_stmt *stmt, const struct store_secret_filter *f)
{
	return bind_text(stmt, 1, f->minter_kind) == DB_OK &&
	    bind_text(stmt, 2, f->minter_serial) == DB_OK &&
	    bind_text(stmt, 3, f->device_id) == DB_OK &&
	    bind_text(stmt, 4, f->profile) == DB_OK;
}

enum status
store_txn_secret_cancel(
    struct store_txn *txn, int64_t id, int64_t now, const char *by)
{
	struct db_stmt *stmt;
	enum status st;
	int ok;

	if ((stmt = wstmt(txn, W_SECRET_CANCEL)) == NULL)
		return db_fail(txn->db, "prepare cancel enrollment secret");
	ok = db_bind_int64(stmt, 1, now) == DB_OK &&
	    bind_text(stmt, 2, by) == DB_OK &&
	    db_bind_int64(stmt, 3, id) == DB_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "cancel enrollment secret")) !=
	    ST_OK)
		return st;
	if (db_changes(txn->db) == 1)
		return ST_OK;
	/* Why not: read inside this transaction, so the answer is exact. */
	if ((stmt = wstmt(txn, W_SECRET_SELECT_ID)) == NULL)
		return db_fail(txn->db, "prepare select enrollment secret");
	st = step_row(txn->db, stmt, db_bind_int64(stmt, 1, id) == DB_OK,
	    "select enrollment secret");
	if (st == ST_NOTFOUND)
		st = status_fail(
		    ST_NOTFOUND, "no enrollment secret %lld", (long long)id);
	else if (st == ST_OK)
		st = status_fail(ST_CONFLICT,
		    "enrollment secret %lld was already %s", (long long)id,
		    db_column_int(stmt, 1) ? "cancelled" : "used");
	stmt_reset(stmt);
	return st;
}

enum status
store_txn_secrets_cancel(struct store_txn *txn,
    const struct store_secret_filter *f, int64_t now, const char *by,
    size_t *count)
{
	struct db_stmt *stmt;
	enum status st;
	int ok;

	*count = 0;
	if (f->minter_kind == NULL && f->minter_serial == NULL &&
	    f->device_id == NULL)
		return status_fail(ST_INTERNAL,
		    "cancelling secrets needs a minter or a device");
	if ((stmt = wstmt(txn, W_SECRETS_CANCEL)) == NULL)
		return db_fail(txn->db, "prepare cancel enrollment secrets");
	ok = secret_match_bind(stmt, f) &&
	    db_bind_int64(stmt, 6, now) == DB_OK &&
	    bind_text(stmt, 7, by) == DB_OK;
	if ((st = stmt_run(txn->db, stmt, ok, "cancel enrollment secrets")) !=
	    ST_OK)
		return st;
	*count = (size_t)db_changes(txn->db);
	return ST_OK;
}

enum status
store_secret_list(struct store *store, const struct store_secret_filter *f,
    store_secret_fn fn, void *arg)
{
	struct store_secret s;
	struct db_stmt *stmt;
	enum status st;
	int rc, ok;

	if ((st = check_limit(f->limit)) != ST_OK)
		return st;
	if (f->minter_serial != NULL && !serial_is_valid(f->minter_serial))
		return check_serial(f->minter_serial);
	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_SECRET_LIST)) == NULL) {
		st = db_fail(store->rdb, "prepare list enrollment secrets");
		goto out;
	}
	ok = secret_match_bind(stmt, f) &&
	    db_bind_int(stmt, 5, f->is_outstanding != 0) == DB_OK &&
	    db_bind_int64(stmt, 6, f->now) == DB_OK &&
	    db_bind_int64(stmt, 7, f->after_id) == DB_OK &&
	    db_bind_int64(stmt, 8, (int64_t)f->limit) == DB_OK;
	if (!ok) {
		st = db_fail(store->rdb, "list enrollment secrets");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&s, 0, sizeof(s));
		s.id = db_column_int64(stmt, 0);
		s.device_id = (const char *)db_column_text(stmt, 1);
		s.profile = (const char *)db_column_text(stmt, 2);
		s.minter_kind = (const char *)db_column_text(stmt, 3);
		s.minter_id = (const char *)db_column_text(stmt, 4);
		s.minter_serial = (const char *)db_column_text(stmt, 5);
		s.created = db_column_int64(stmt, 6);
		s.expires = db_column_int64(stmt, 7);
		s.consumed_at = db_column_int64(stmt, 8);
		s.consumed_serial = (const char *)db_column_text(stmt, 9);
		s.cancelled_at = db_column_int64(stmt, 10);
		s.cancelled_by = (const char *)db_column_text(stmt, 11);
		if (s.device_id == NULL || s.profile == NULL) {
			st = status_fail(ST_STORE,
			    "store: enrollment secret %lld has no device",
			    (long long)s.id);
			break;
		}
		if (fn(&s, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "list enrollment secrets");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
