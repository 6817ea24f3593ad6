/* store: the audit log's rows (the chain is built in ca/audit.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

enum status
store_txn_audit_last(struct store_txn *txn, int64_t *seq, uint8_t hash[32])
{
	struct db_stmt *stmt;
	const void *h;
	int64_t last = 0;
	uint8_t last_hash[HASH_LEN] = {0};
	enum status st = ST_OK;
	int rc;

	*seq = 0;
	memset(hash, 0, HASH_LEN);
	/* PostgreSQL: appends from other processes and nodes wait for this
	 * transaction (W_AUDIT_LOCK). */
	if (db_kind(txn->db) == DB_PG &&
	    (st = txn_control(txn, W_AUDIT_LOCK)) != ST_OK)
		return st;
	if ((stmt = wstmt(txn, W_AUDIT_LAST)) == NULL)
		return db_fail(txn->db, "prepare select last audit entry");
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		last = db_column_int64(stmt, 0);
		h = db_column_blob(stmt, 1);
		if (h == NULL || db_column_bytes(stmt, 1) != HASH_LEN)
			st = status_fail(ST_STORE,
			    "store: audit entry %lld has no 32-byte hash",
			    (long long)last);
		else
			memcpy(last_hash, h, HASH_LEN);
	} else if (rc != DB_DONE) {
		st = db_fail(txn->db, "select last audit entry");
	}
	db_reset(stmt);
	if (st != ST_OK)
		return st;
	*seq = last;
	memcpy(hash, last_hash, HASH_LEN);
	return ST_OK;
}

enum status
store_txn_audit_insert(struct store_txn *txn, const struct store_audit *entry)
{
	struct db_stmt *stmt;
	int ok;

	if ((stmt = wstmt(txn, W_AUDIT_INSERT)) == NULL)
		return db_fail(txn->db, "prepare insert audit entry");
	ok = db_bind_int64(stmt, 1, entry->seq) == DB_OK &&
	    db_bind_int64(stmt, 2, entry->time) == DB_OK &&
	    bind_text(stmt, 3, entry->actor ? entry->actor : "") == DB_OK &&
	    bind_text(stmt, 4, entry->action ? entry->action : "") == DB_OK &&
	    bind_text(stmt, 5, entry->object ? entry->object : "") == DB_OK &&
	    bind_text(stmt, 6, entry->detail ? entry->detail : "") == DB_OK &&
	    db_bind_blob(stmt, 7, entry->prev_hash, HASH_LEN) == DB_OK &&
	    db_bind_blob(stmt, 8, entry->hash, HASH_LEN) == DB_OK;
	return stmt_run(txn->db, stmt, ok, "insert audit entry");
}

/* Fill e from the current row of R_AUDIT; pointers borrow the row. */
static enum status
audit_row(struct db_stmt *stmt, struct store_audit *e)
{
	const void *prev, *hash;

	memset(e, 0, sizeof(*e));
	e->seq = db_column_int64(stmt, 0);
	e->time = db_column_int64(stmt, 1);
	e->actor = (char *)db_column_text(stmt, 2);
	e->action = (char *)db_column_text(stmt, 3);
	e->object = (char *)db_column_text(stmt, 4);
	e->detail = (char *)db_column_text(stmt, 5);
	prev = db_column_blob(stmt, 6);
	if (prev == NULL || db_column_bytes(stmt, 6) != HASH_LEN)
		return status_fail(ST_STORE,
		    "store: audit entry %lld has no 32-byte previous hash",
		    (long long)e->seq);
	memcpy(e->prev_hash, prev, HASH_LEN);
	hash = db_column_blob(stmt, 7);
	if (hash == NULL || db_column_bytes(stmt, 7) != HASH_LEN)
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
	struct db_stmt *stmt;
	struct store_audit e;
	enum status st = ST_OK;
	int rc;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_AUDIT)) == NULL) {
		st = db_fail(store->rdb, "prepare select audit");
		goto out;
	}
	if (db_bind_int64(stmt, 1, since) != DB_OK) {
		st = db_fail(store->rdb, "select audit");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		if ((st = audit_row(stmt, &e)) != ST_OK)
			break;
		if (fn(&e, arg) != 0)
			break;
	}
	if (st == ST_OK && rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "select audit");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
