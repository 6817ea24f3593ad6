/*
 * store_db: the store's SQL connections, the one seam between the tables'
 * logic (ca/store*.c, written once) and a database: SQLite, the embedded
 * default (store_db_sqlite.c), or PostgreSQL through libpq
 * (store_db_pg.c). Only those two files include sqlite3.h / libpq-fe.h.
 *
 * SQL is written once, in the subset both speak, with parameters as ? or
 * ?N (PostgreSQL's backend rewrites them to $N). What differs is chosen
 * with db_kind(): the schema and its migrations, and a few statements
 * (store_sql.c). A statement's rows and text stay valid until the next
 * db_step or db_reset of that statement. Nothing here is thread-safe: one
 * connection, one thread at a time (the store's locks see to that).
 */
#ifndef TESSERA_CA_STORE_DB_H
#define TESSERA_CA_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct db;
struct db_stmt;

enum db_kind { DB_SQLITE, DB_PG, DB_KIND_MAX };

/* What db_step, db_bind_* and db_prepare answer. */
enum db_rc {
	DB_OK,
	DB_ROW,
	DB_DONE,
	DB_BUSY, /* SQLite: still locked after the busy timeout */
	DB_ERROR
};

/* db_open flags. */
#define DB_OPEN_READONLY 0x1 /* a reader */
#define DB_OPEN_WRITER 0x2 /* the writer: durable commits, the schema */
#define DB_OPEN_EXISTING 0x4 /* SQLite: the file must exist already */
/* PostgreSQL: rows come one at a time (single-row mode), never all in
 * one result: a walk over very many rows. SQLite steps so anyway. */
#define DB_OPEN_STREAM 0x8

/* 1 when target names a PostgreSQL store (postgresql:// or postgres://). */
int db_target_is_pg(const char *target);

struct sandbox;

/*
 * Allow in sb the files a connection to target opens after the sandbox
 * is entered: SQLite's database and the -wal, -shm and -writer files next
 * to it (they exist while a connection is open), or libpq's password
 * file and ~/.postgresql for a PostgreSQL URL.
 */
enum status db_sandbox_allow(const char *target, struct sandbox *sb) MUST_CHECK;

/*
 * A connection to target: a SQLite file path or a PostgreSQL URL. The
 * caller frees it with db_close. A PostgreSQL URL with a password in it is
 * refused; the password comes from PGPASSFILE or the passfile the URL
 * names, which must have mode 0600.
 */
enum status db_open(const char *target, int flags, struct db **out) MUST_CHECK;
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* The last error on db, for messages. Never NULL. */
const char *db_errmsg(struct db *db);
/* Run SQL without rows (several statements allowed). */
enum db_rc db_exec_sql(struct db *db, const char *sql) MUST_CHECK;
/*
 * Prepare sql (? or ?N parameters); *out is freed with db_finalize. A
 * persistent statement is kept for the connection's life.
 */
enum db_rc db_prepare(struct db *db, const char *sql, int is_persistent,
    struct db_stmt **out) MUST_CHECK;
void db_finalize(struct db_stmt *stmt);
/* Parameters count from 1; text and blobs are copied or kept until reset. */
enum db_rc db_bind_text(struct db_stmt *stmt, int i, const char *s);
enum db_rc db_bind_int64(struct db_stmt *stmt, int i, int64_t v);
enum db_rc db_bind_int(struct db_stmt *stmt, int i, int v);
enum db_rc db_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t len);
enum db_rc db_bind_null(struct db_stmt *stmt, int i);
/* The next row (DB_ROW), the end (DB_DONE), DB_BUSY or DB_ERROR. */
enum db_rc db_step(struct db_stmt *stmt);
/* Back to before the first step, bindings cleared. NULL accepted. */
void db_reset(struct db_stmt *stmt);
/* Columns count from 0; text is NUL-terminated, NULL for SQL NULL. */
const unsigned char *db_column_text(struct db_stmt *stmt, int i);
int64_t db_column_int64(struct db_stmt *stmt, int i);
int db_column_int(struct db_stmt *stmt, int i);
const void *db_column_blob(struct db_stmt *stmt, int i);
int db_column_bytes(struct db_stmt *stmt, int i);
int db_column_is_null(struct db_stmt *stmt, int i);
/* What column i of the current row holds. */
enum db_type { DB_TYPE_NULL, DB_TYPE_INT, DB_TYPE_TEXT, DB_TYPE_BLOB };
enum db_type db_column_type(struct db_stmt *stmt, int i);
/* The number of columns of stmt's rows. */
int db_column_count(struct db_stmt *stmt);
/* Rows changed by the last INSERT, UPDATE or DELETE on db. */
int64_t db_changes(struct db *db);
/* The id the last INSERT on db gave its row (rowid, or the sequence). */
enum status db_last_insert_id(struct db *db, int64_t *id) MUST_CHECK;
/* 1 outside a transaction (or after one was rolled back by a fault). */
int db_get_autocommit(struct db *db);
/* 1 when the last failure on db was a primary-key or unique violation. */
int db_is_unique_violation(struct db *db);
/* 1 when the last failure on db was a lost connection (PostgreSQL). */
int db_is_disconnected(struct db *db);
/* The store's own consistency check (SQLite's integrity_check). */
enum status db_integrity_check(struct db *db) MUST_CHECK;

/*
 * SQLite only: copy the database of src into dest, a new file of mode
 * 0600, as one consistent snapshot; dest is fsynced, removed on failure.
 */
enum status db_sqlite_copy(struct db *src, const char *dest) MUST_CHECK;

#endif
