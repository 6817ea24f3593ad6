/*
 * store_db: the calls the store makes, passed to the connection's backend
 * (struct db_ops), and the choice of backend by the store's target.
 */
#include <stdio.h>
#include <string.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "ca/store_db_backend.h"
#include "common/sandbox.h"
#include "common/status.h"

int
db_target_is_pg(const char *target)
{
	return target != NULL &&
	    (strncmp(target, "postgresql://", 13) == 0 ||
	        strncmp(target, "postgres://", 11) == 0);
}

int
store_target_is_url(const char *target)
{
	return db_target_is_pg(target);
}

enum status
store_target_check(const char *target)
{
	char where[512];

	if (!db_target_is_pg(target))
		return ST_OK;
	return db_pg_url_check(target, where, sizeof(where));
}

enum status
db_sandbox_allow(const char *target, struct sandbox *sb)
{
	static const char *const suffixes[] = {
	    "", "-wal", "-shm", "-writer", "-journal"};
	char path[4096];
	enum status st;
	size_t i;
	int n;

	if (db_target_is_pg(target))
		return db_pg_sandbox_allow(target, sb);
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		n = snprintf(path, sizeof(path), "%s%s", target, suffixes[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			return status_fail(ST_LIMIT, "store path is too long");
		if ((st = sandbox_allow(sb, path, SANDBOX_WRITE)) != ST_OK)
			return st;
	}
	return ST_OK;
}

enum status
db_open(const char *target, int flags, struct db **out)
{
	*out = NULL;
	if (target == NULL)
		return status_fail(ST_INTERNAL, "store: no target");
	if (db_target_is_pg(target))
		return db_pg_open(target, flags, out);
	return db_sqlite_open(target, flags, out);
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

enum db_kind
db_kind(const struct db *db)
{
	return db->ops->kind;
}

const char *
db_errmsg(struct db *db)
{
	return db != NULL ? db->ops->errmsg(db) : "out of memory";
}

enum db_rc
db_exec_sql(struct db *db, const char *sql)
{
	return db->ops->exec_sql(db, sql);
}

enum db_rc
db_prepare(
    struct db *db, const char *sql, int is_persistent, struct db_stmt **out)
{
	return db->ops->prepare(db, sql, is_persistent, out);
}

void
db_finalize(struct db_stmt *stmt)
{
	if (stmt != NULL)
		stmt->db->ops->finalize(stmt);
}

enum db_rc
db_bind_text(struct db_stmt *stmt, int i, const char *s)
{
	return stmt->db->ops->bind_text(stmt, i, s);
}

enum db_rc
db_bind_int64(struct db_stmt *stmt, int i, int64_t v)
{
	return stmt->db->ops->bind_int64(stmt, i, v);
}

enum db_rc
db_bind_int(struct db_stmt *stmt, int i, int v)
{
	return stmt->db->ops->bind_int64(stmt, i, (int64_t)v);
}

enum db_rc
db_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t len)
{
	return stmt->db->ops->bind_blob(stmt, i, p, len);
}

enum db_rc
db_bind_null(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->bind_text(stmt, i, NULL);
}

enum db_rc
db_step(struct db_stmt *stmt)
{
	return stmt->db->ops->step(stmt);
}

void
db_reset(struct db_stmt *stmt)
{
	if (stmt != NULL)
		stmt->db->ops->reset(stmt);
}

const unsigned char *
db_column_text(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_text(stmt, i);
}

int64_t
db_column_int64(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_int64(stmt, i);
}

int
db_column_int(struct db_stmt *stmt, int i)
{
	return (int)stmt->db->ops->column_int64(stmt, i);
}

const void *
db_column_blob(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_blob(stmt, i);
}

int
db_column_bytes(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_bytes(stmt, i);
}

int
db_column_is_null(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_is_null(stmt, i);
}

enum db_type
db_column_type(struct db_stmt *stmt, int i)
{
	return stmt->db->ops->column_type(stmt, i);
}

int
db_column_count(struct db_stmt *stmt)
{
	return stmt->db->ops->column_count(stmt);
}

int64_t
db_changes(struct db *db)
{
	return db->ops->changes(db);
}

enum status
db_last_insert_id(struct db *db, int64_t *id)
{
	return db->ops->last_insert_id(db, id);
}

int
db_get_autocommit(struct db *db)
{
	return db->ops->get_autocommit(db);
}

int
db_is_unique_violation(struct db *db)
{
	return db->ops->is_unique_violation(db);
}

int
db_is_disconnected(struct db *db)
{
	return db->ops->is_disconnected(db);
}

enum status
db_integrity_check(struct db *db)
{
	return db->ops->integrity_check(db);
}
