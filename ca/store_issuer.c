/*
 * store: the issuing CAs by generation (schema v7), for the rollover: a
 * new one is recorded when it comes, the old one retired when its last
 * certificate has expired.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "common/status.h"

enum status
store_txn_issuer_add(struct store_txn *txn, const struct store_issuer *issuer)
{
	struct db_stmt *stmt = NULL;
	enum status st;
	int ok;

	if (issuer->gen < 0 || issuer->gen >= STORE_ISSUER_GEN_MAX ||
	    !serial_is_valid(issuer->serial) || issuer->key_uri[0] == '\0')
		return status_fail(
		    ST_MALFORMED, "issuer generation %d", issuer->gen);
	ok = db_prepare(txn->db,
	         "INSERT INTO issuers (gen, serial, key_uri, not_after,"
	         " created) VALUES (?, ?, ?, ?, ?)",
	         0, &stmt) == DB_OK &&
	    db_bind_int(stmt, 1, issuer->gen) == DB_OK &&
	    bind_text(stmt, 2, issuer->serial) == DB_OK &&
	    bind_text(stmt, 3, issuer->key_uri) == DB_OK &&
	    db_bind_int64(stmt, 4, issuer->not_after) == DB_OK &&
	    db_bind_int64(stmt, 5, issuer->created) == DB_OK;
	if (!ok)
		st = db_fail(txn->db, "add issuer");
	else if (db_step(stmt) == DB_DONE)
		st = ST_OK;
	else if (db_is_unique_violation(txn->db))
		st = status_fail(ST_CONFLICT,
		    "issuer generation %d or serial %s is recorded already",
		    issuer->gen, issuer->serial);
	else
		st = db_fail(txn->db, "add issuer");
	db_finalize(stmt);
	return st;
}

enum status
store_txn_issuer_max_gen(struct store_txn *txn, int *gen)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;

	*gen = -1;
	if (db_prepare(txn->db, "SELECT coalesce(max(gen), -1) FROM issuers", 0,
	        &stmt) == DB_OK &&
	    db_step(stmt) == DB_ROW)
		*gen = db_column_int(stmt, 0);
	else
		st = db_fail(txn->db, "read issuer generations");
	db_finalize(stmt);
	return st;
}

enum status
store_txn_issuer_retire(struct store_txn *txn, int gen, int64_t when)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;

	if (db_prepare(txn->db,
	        "UPDATE issuers SET retired = ? WHERE gen = ?"
	        " AND retired IS NULL",
	        0, &stmt) != DB_OK ||
	    db_bind_int64(stmt, 1, when) != DB_OK ||
	    db_bind_int(stmt, 2, gen) != DB_OK || db_step(stmt) != DB_DONE)
		st = db_fail(txn->db, "retire issuer");
	else if (db_changes(txn->db) != 1)
		st = status_fail(ST_NOTFOUND,
		    "issuer generation %d: none, or retired already", gen);
	db_finalize(stmt);
	return st;
}

enum status
store_issuer_find(
    struct store *store, const char *serial, struct store_issuer *out)
{
	struct db_stmt *stmt = NULL;
	const unsigned char *s, *uri;
	enum status st = ST_OK;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((st = check_serial(serial)) != ST_OK)
		return st;
	pthread_mutex_lock(&store->read_lock);
	if (db_prepare(store->rdb,
	        "SELECT gen, serial, key_uri, not_after, created, retired"
	        " FROM issuers WHERE serial = ?",
	        0, &stmt) != DB_OK ||
	    bind_text(stmt, 1, serial) != DB_OK) {
		st = db_fail(store->rdb, "find issuer");
		goto out;
	}
	rc = db_step(stmt);
	if (rc == DB_DONE) {
		st = status_fail(ST_NOTFOUND, "no issuer %s", serial);
		goto out;
	}
	if (rc != DB_ROW || (s = db_column_text(stmt, 1)) == NULL ||
	    (uri = db_column_text(stmt, 2)) == NULL) {
		st = db_fail(store->rdb, "find issuer");
		goto out;
	}
	out->gen = db_column_int(stmt, 0);
	snprintf(out->serial, sizeof(out->serial), "%s", (const char *)s);
	snprintf(out->key_uri, sizeof(out->key_uri), "%s", (const char *)uri);
	out->not_after = db_column_int64(stmt, 3);
	out->created = db_column_int64(stmt, 4);
	out->retired =
	    db_column_is_null(stmt, 5) ? 0 : db_column_int64(stmt, 5);
out:
	db_finalize(stmt);
	pthread_mutex_unlock(&store->read_lock);
	return st;
}
