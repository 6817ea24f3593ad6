/*
 * store: copy a whole store into an empty one (tessera store migrate: a
 * SQLite store into PostgreSQL). Every row of every table, as it is: the
 * audit rows keep their seq, time and hashes, so the chain verifies the
 * same afterwards; secrets keep their ids and state; the revocation feed
 * keeps its seq, so gateways' cursors go on. The source is read in one
 * read transaction (one snapshot), the destination written in one
 * transaction: all of it or nothing.
 */
#include <stdio.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "ca/store_internal.h"
#include "common/status.h"

/* The tables and their columns, key first; the order rows are copied in. */
static const struct {
	const char *table;
	const char *columns;
	int column_count;
	const char *identity; /* PostgreSQL identity column, or NULL */
} tables[] = {
    {"certificates",
        "serial, issuer, subject, device_id, profile, not_before,"
        " not_after, status, revoked_at, reason, der, created, shard,"
        " supersede_at",
        14, NULL},
    {"devices", "id, status, created, updated, family, authenticator", 6, NULL},
    {"enrollment_secrets",
        "id, device_id, profile, hash, created, expires, consumed_at,"
        " consumed_serial, minter_kind, minter_id, minter_serial,"
        " cancelled_at, cancelled_by",
        13, "id"},
    {"audit", "seq, time, actor, action, object, detail, prev_hash, hash", 8,
        NULL},
    {"revocations", "seq, serial, device_id, reason, time", 5, "seq"},
    {"ocsp_responses", "serial, der, this_update, next_update", 4, NULL},
    {"crls", "shard, number, this_update, next_update, der", 5, NULL},
    {"token_keys", "label, kid, jwk, created, retired", 5, NULL},
    {"issuers", "gen, serial, key_uri, not_after, created, retired", 6, NULL},
};

#define TABLE_COUNT (sizeof(tables) / sizeof(tables[0]))
#define SQL_CAP 1024

/* Bind column i of the source row as parameter i + 1 of ins. */
static enum db_rc
bind_column(struct db_stmt *ins, struct db_stmt *sel, int i)
{
	switch (db_column_type(sel, i)) {
	case DB_TYPE_NULL:
		return db_bind_null(ins, i + 1);
	case DB_TYPE_INT:
		return db_bind_int64(ins, i + 1, db_column_int64(sel, i));
	case DB_TYPE_BLOB:
		return db_bind_blob(ins, i + 1, db_column_blob(sel, i),
		    (size_t)db_column_bytes(sel, i));
	default:
		return db_bind_text(
		    ins, i + 1, (const char *)db_column_text(sel, i));
	}
}

/* Copy one table's rows; *rows counts them. */
static enum status
table_copy(struct db *src, struct db *dst, size_t t, int64_t *rows)
{
	struct db_stmt *sel = NULL, *ins = NULL;
	char sql[SQL_CAP], marks[SQL_CAP] = "";
	enum status st = ST_OK;
	int i, rc, ok;
	size_t n;

	*rows = 0;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY 1",
	    tables[t].columns, tables[t].table);
	if (db_prepare(src, sql, 0, &sel) != DB_OK) {
		st = db_fail(src, tables[t].table);
		goto out;
	}
	for (i = 0; i < tables[t].column_count; i++) {
		n = strlen(marks);
		snprintf(
		    marks + n, sizeof(marks) - n, "%s?", i > 0 ? ", " : "");
	}
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s)",
	    tables[t].table, tables[t].columns, marks);
	if (db_prepare(dst, sql, 0, &ins) != DB_OK) {
		st = db_fail(dst, tables[t].table);
		goto out;
	}
	while ((rc = db_step(sel)) == DB_ROW) {
		ok = 1;
		for (i = 0; i < tables[t].column_count && ok; i++)
			ok = bind_column(ins, sel, i) == DB_OK;
		if ((st = stmt_run(dst, ins, ok, tables[t].table)) != ST_OK)
			goto out;
		(*rows)++;
	}
	if (rc != DB_DONE)
		st = db_fail(src, tables[t].table);
out:
	db_finalize(sel);
	db_finalize(ins);
	return st;
}

/* A new store's identity sequences start after the copied rows. */
static enum status
sequences_set(struct db *dst)
{
	char sql[SQL_CAP];
	size_t t;

	if (db_kind(dst) != DB_PG)
		return ST_OK;
	for (t = 0; t < TABLE_COUNT; t++) {
		if (tables[t].identity == NULL)
			continue;
		snprintf(sql, sizeof(sql),
		    "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
		    " coalesce(max(%s), 0) + 1, false) FROM %s",
		    tables[t].table, tables[t].identity, tables[t].identity,
		    tables[t].table);
		if (db_exec(dst, sql, "set the identity sequences") != ST_OK)
			return ST_STORE;
	}
	return ST_OK;
}

/* End a transaction a failure left open; the failure's reason stays. */
static void
rollback_quietly(struct db *db)
{
	if (db != NULL && !db_get_autocommit(db) &&
	    db_exec_sql(db, "ROLLBACK") != DB_OK)
		return;
}

enum status
store_copy(const char *from, const char *to, struct store_copy_counts *c)
{
	struct store *s = NULL;
	struct db *src = NULL, *dst = NULL;
	int64_t n, certs = 0;
	enum status st;
	size_t t;

	memset(c, 0, sizeof(*c));
	/* Both at this binary's schema: the source migrated if it was
	 * older, the destination created; the destination must be empty. */
	if ((st = store_open(from, &s)) != ST_OK)
		goto out;
	store_close(s);
	s = NULL;
	if ((st = store_open(to, &s)) != ST_OK)
		goto out;
	if ((st = store_cert_count(s, &certs)) != ST_OK)
		goto out;
	store_close(s);
	s = NULL;
	if (certs > 0) {
		st = status_fail(ST_CONFLICT,
		    "store: the destination holds %lld certificates already: "
		    "a store is copied into an empty database only",
		    (long long)certs);
		goto out;
	}
	if ((st = db_open(from, DB_OPEN_READONLY | DB_OPEN_EXISTING, &src)) !=
	        ST_OK ||
	    (st = db_open(to, DB_OPEN_WRITER, &dst)) != ST_OK)
		goto out;
	/* One snapshot of the source, one transaction on the destination. */
	if ((st = db_exec(src, "BEGIN", "begin reading the source")) != ST_OK ||
	    (st = db_exec(dst, "BEGIN", "begin writing the copy")) != ST_OK)
		goto out;
	for (t = 0; t < TABLE_COUNT; t++) {
		if ((st = table_copy(src, dst, t, &n)) != ST_OK)
			goto out;
		c->rows += n;
		if (strcmp(tables[t].table, "certificates") == 0)
			c->certs = n;
		else if (strcmp(tables[t].table, "audit") == 0)
			c->audit = n;
	}
	if ((st = sequences_set(dst)) != ST_OK)
		goto out;
	st = db_exec(dst, "COMMIT", "commit the copy");
out:
	rollback_quietly(dst);
	rollback_quietly(src);
	db_close(src);
	db_close(dst);
	store_close(s);
	return st;
}

/* store_empty's job: every table's rows, the last copied first. */
static enum status
empty_job(struct store_txn *txn, void *arg)
{
	char sql[SQL_CAP];
	size_t t;
	enum status st;

	(void)arg;
	for (t = TABLE_COUNT; t-- > 0;) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[t].table);
		if ((st = db_exec(txn->db, sql, tables[t].table)) != ST_OK)
			return st;
	}
	return ST_OK;
}

enum status
store_empty(struct store *store)
{
	return store_write(store, empty_job, NULL);
}
