/*
 * store_db's backends: what each implements (struct db_ops) and the heads
 * their connection and statement structs start with. Only store_db.c and
 * the backends (store_db_sqlite.c, store_db_pg.c) include this.
 */
#ifndef TESSERA_CA_STORE_DB_BACKEND_H
#define TESSERA_CA_STORE_DB_BACKEND_H

#include "ca/store_db.h"

struct db_ops {
	enum db_kind kind;
	void (*close)(struct db *db);
	const char *(*errmsg)(struct db *db);
	enum db_rc (*exec_sql)(struct db *db, const char *sql);
	enum db_rc (*prepare)(struct db *db, const char *sql, int is_persistent,
	    struct db_stmt **out);
	void (*finalize)(struct db_stmt *stmt);
	enum db_rc (*bind_text)(struct db_stmt *stmt, int i, const char *s);
	enum db_rc (*bind_int64)(struct db_stmt *stmt, int i, int64_t v);
	enum db_rc (*bind_blob)(
	    struct db_stmt *stmt, int i, const void *p, size_t len);
	enum db_rc (*step)(struct db_stmt *stmt);
	void (*reset)(struct db_stmt *stmt);
	const unsigned char *(*column_text)(struct db_stmt *stmt, int i);
	int64_t (*column_int64)(struct db_stmt *stmt, int i);
	const void *(*column_blob)(struct db_stmt *stmt, int i);
	int (*column_bytes)(struct db_stmt *stmt, int i);
	int (*column_is_null)(struct db_stmt *stmt, int i);
	enum db_type (*column_type)(struct db_stmt *stmt, int i);
	int (*column_count)(struct db_stmt *stmt);
	int64_t (*changes)(struct db *db);
	enum status (*last_insert_id)(struct db *db, int64_t *id);
	int (*get_autocommit)(struct db *db);
	int (*is_unique_violation)(struct db *db);
	int (*is_disconnected)(struct db *db);
	enum status (*integrity_check)(struct db *db);
};

/* Every backend's connection starts with this. */
struct db {
	const struct db_ops *ops;
};

/* Every backend's statement starts with this. */
struct db_stmt {
	struct db *db;
};

enum status
db_sqlite_open(const char *path, int flags, struct db **out) MUST_CHECK;
enum status db_pg_open(const char *url, int flags, struct db **out) MUST_CHECK;
enum status db_pg_sandbox_allow(const char *url, struct sandbox *sb) MUST_CHECK;
/* Refuse a password in url or a loose password file; where names the
 * server and database for messages. */
enum status
db_pg_url_check(const char *url, char *where, size_t where_cap) MUST_CHECK;

#endif
