/* store: the audit log's rows (the chain is built in ca/audit.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

enum status
store_txn_audit_last(struct store_txn *txn, int64_t *seq, uint8_t hash[32])
{
	sqlite3_stmt *stmt;
	const void *h;
	int64_t last = 0;
	uint8_t last_hash[HASH_LEN] = {0};
	enum status st = ST_OK;
	int rc;

	*seq = 0;
	memset(hash, 0, HASH_LEN);
	if ((stmt = wstmt(txn, W_AUDIT_LAST)) == NULL)
		return db_fail(txn->db, "prepare select last audit entry");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		last = sqlite3_column_int64(stmt, 0);
		h = sqlite3_column_blob(stmt, 1);
		if (h == NULL || sqlite3_column_bytes(stmt, 1) != HASH_LEN)
			st = status_fail(ST_STORE,
			    "store: audit entry %lld has no 32-byte hash",
			    (long long)last);
		else
			memcpy(last_hash, h, HASH_LEN);
	} else if (rc != SQLITE_DONE) {
		st = db_fail(txn->db, "select last audit entry");
	}
	sqlite3_reset(stmt);
	if (st != ST_OK)
		return st;
	*seq = last;
	memcpy(hash, last_hash, HASH_LEN);
	return ST_OK;
}

enum status
store_txn_audit_insert(struct store_txn *txn, const struct store_audit *entry)
{
	sqlite3_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_AUDIT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert audit entry");
	ok = sqlite3_bind_int64(stmt, 1, entry->seq) == SQLITE_OK &&
	    sqlite3_bind_int64(stmt, 2, entry->time) == SQLITE_OK &&
	    bind_text(stmt, 3, entry->actor ? entry->actor : "") == SQLITE_OK &&
	    bind_text(stmt, 4, entry->action ? entry->action : "") ==
	        SQLITE_OK &&
	    bind_text(stmt, 5, entry->object ? entry->object : "") ==
	        SQLITE_OK &&
	    bind_text(stmt, 6, entry->detail ? entry->detail : "") ==
	        SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 7, entry->prev_hash, HASH_LEN,
	        SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_blob(stmt, 8, entry->hash, HASH_LEN, SQLITE_STATIC) ==
	        SQLITE_OK;
	return stmt_run(txn->db, stmt, ok, "insert audit entry");
}

/* Fill e from the current row of R_AUDIT; pointers borrow the row. */
static enum status
audit_row(sqlite3_stmt *stmt, struct store_audit *e)
{
	const void *prev, *hash;

	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(stmt, 0);
	e->time = sqlite3_column_int64(stmt, 1);
	e->actor = (char *)sqlite3_column_text(stmt, 2);
	e->action = (char *)sqlite3_column_text(stmt, 3);
	e->object = (char *)sqlite3_column_text(stmt, 4);
	e->detail = (char *)sqlite3_column_text(stmt, 5);
	prev = sqlite3_column_blob(stmt, 6);
	if (prev == NULL || sqlite3_column_bytes(stmt, 6) != HASH_LEN)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has no 32-byte previous hash",
		    (long long)e->seq);
	memcpy(e->prev_hash, prev, HASH_LEN);
	hash = sqlite3_column_blob(stmt, 7);
	if (hash == NULL || sqlite3_column_bytes(stmt, 7) != HASH_LEN)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has no 32-byte hash",
		    (long long)e->seq);
	memcpy(e->hash, hash, HASH_LEN);
	if (e->actor == NULL || e->action == NULL || e->object == NULL ||
	    e->detail == NULL)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has a NULL field",
		    (long long)e->seq);
	return ST_OK;
}

/*
 * The read lock is held while fn runs, so fn must not call other store
 * read functions. The whole walk is one read transaction: one snapshot.
 */
enum status
store_audit_foreach(struct store *store, int64_t since,
    int (*fn)(const struct store_audit *entry, void *arg), void *arg)
{
	sqlite3_stmt *stmt;
	struct store_audit e;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_AUDIT)) == NULL) {
		st = db_fail(store->rdb, "prepare select audit");
		goto out;
	}
	if (sqlite3_bind_int64(stmt, 1, since) != SQLITE_OK) {
		st = db_fail(store->rdb, "select audit");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((st = audit_row(stmt, &e)) != ST_OK)
			break;
		if (fn(&e, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = db_fail(store->rdb, "select audit");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
