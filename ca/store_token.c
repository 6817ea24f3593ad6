/* store: the token-signing keys, for rotation and the JWKS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

enum status
store_txn_token_key_add(struct store_txn *txn, const char *label,
    const char *kid, const char *jwk, int64_t now)
{
	struct db_stmt *add, *retire;
	enum status st;
	int ok;

	if ((add = wstmt(txn, W_TOKEN_KEY_ADD)) == NULL ||
	    (retire = wstmt(txn, W_TOKEN_KEY_RETIRE)) == NULL)
		return db_fail(txn->db, "prepare add token key");
	ok = bind_text(add, 1, label) == DB_OK &&
	    bind_text(add, 2, kid) == DB_OK &&
	    bind_text(add, 3, jwk) == DB_OK &&
	    db_bind_int64(add, 4, now) == DB_OK;
	if ((st = stmt_run(txn->db, add, ok, "add token key")) != ST_OK)
		return st;
	/* The newest key signs; the others are retired from now on. */
	if (db_changes(txn->db) != 1)
		return ST_OK;
	ok = db_bind_int64(retire, 1, now) == DB_OK &&
	    bind_text(retire, 2, label) == DB_OK;
	return stmt_run(txn->db, retire, ok, "retire token keys");
}

enum status
store_token_keys(struct store *store, int64_t retired_after,
    int (*fn)(const struct store_token_key *key, void *arg), void *arg)
{
	struct store_token_key k;
	struct db_stmt *stmt;
	int rc;
	enum status st = ST_OK;

	pthread_mutex_lock(&store->read_lock);
	if ((stmt = rstmt(store, R_TOKEN_KEYS)) == NULL) {
		st = db_fail(store->rdb, "prepare list token keys");
		goto out;
	}
	if (db_bind_int64(stmt, 1, retired_after) != DB_OK) {
		st = db_fail(store->rdb, "list token keys");
		goto out;
	}
	while ((rc = db_step(stmt)) == DB_ROW) {
		k.label = (const char *)db_column_text(stmt, 0);
		k.kid = (const char *)db_column_text(stmt, 1);
		k.jwk = (const char *)db_column_text(stmt, 2);
		if (k.label == NULL || k.kid == NULL || k.jwk == NULL)
			continue;
		k.created = db_column_int64(stmt, 3);
		k.retired =
		    db_column_is_null(stmt, 4) ? 0 : db_column_int64(stmt, 4);
		if (fn(&k, arg) != 0)
			break;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		st = db_fail(store->rdb, "list token keys");
out:
	stmt_reset(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
