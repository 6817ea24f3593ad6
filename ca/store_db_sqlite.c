/*
 * store_db over SQLite: the embedded default. WAL mode with
 * synchronous=FULL on the writer connection; the file and its -wal and
 * -shm have mode 0600. Several processes share the file: the busy handler
 * waits BUSY_TIMEOUT_MS for another's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ca/store_db.h"
#include "ca/store_db_backend.h"
#include "common/log.h"
#include "common/status.h"

/* Other worker processes share the file; wait this long for their locks. */
#define BUSY_TIMEOUT_MS 5000
/* How long a snapshot waits for a lock the others hold, in 10 ms steps. */
#define BACKUP_BUSY_TRIES 1000

struct sq_db {
	struct db base;
	sqlite3 *sq;
};

struct sq_stmt {
	struct db_stmt base;
	sqlite3_stmt *sq;
};

static const struct db_ops sq_ops;

/* The backend's view of a connection and of a statement. */
#define SQ(db) (((struct sq_db *)(db))->sq)
#define SQS(stmt) (((struct sq_stmt *)(stmt))->sq)

static enum db_rc
rc_of(int rc)
{
	switch (rc) {
	case SQLITE_OK:
		return DB_OK;
	case SQLITE_ROW:
		return DB_ROW;
	case SQLITE_DONE:
		return DB_DONE;
	case SQLITE_BUSY:
		return DB_BUSY;
	default:
		return DB_ERROR;
	}
}

/* Create the database file with mode 0600 before SQLite opens it. */
static enum status
file_create(const char *path)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return status_fail(
		    ST_STORE, "store: open %s: %s", path, strerror(errno));
	/* A file that existed, or a loose umask, does not widen access. */
	if (fchmod(fd, 0600) == -1) {
		close(fd);
		return status_fail(
		    ST_STORE, "store: chmod %s: %s", path, strerror(errno));
	}
	close(fd);
	return ST_OK;
}

/* The -wal and -shm files hold the same data: same mode as the database. */
static enum status
sidecars_chmod(const char *path)
{
	static const char *const suffixes[] = {"-wal", "-shm"};
	char name[4096];
	size_t i;
	int n;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		n = snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (n < 0 || (size_t)n >= sizeof(name))
			return status_fail(ST_LIMIT, "store path is too long");
		if (chmod(name, 0600) == -1 && errno != ENOENT)
			return status_fail(ST_STORE, "store: chmod %s: %s",
			    name, strerror(errno));
	}
	return ST_OK;
}

static enum status
fail(sqlite3 *sq, const char *what)
{
	return status_fail(ST_STORE, "store: %s: %s", what,
	    sq != NULL ? sqlite3_errmsg(sq) : "out of memory");
}

/* The writer connection: WAL, synchronous=FULL, foreign keys. */
static enum status
writer_setup(sqlite3 *sq, const char *path)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *mode;
	enum status st = ST_OK;

	if (sqlite3_prepare_v2(sq, "PRAGMA journal_mode = WAL", -1, &stmt,
	        NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		st = fail(sq, "journal_mode = WAL");
		goto out;
	}
	mode = sqlite3_column_text(stmt, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		st = status_fail(ST_STORE, "store: journal mode is %s, not wal",
		    mode != NULL ? (const char *)mode : "unknown");
		goto out;
	}
	if (sqlite3_exec(sq, "PRAGMA synchronous = FULL", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		st = fail(sq, "synchronous = FULL");
		goto out;
	}
	if (sqlite3_exec(sq, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		st = fail(sq, "foreign_keys = ON");
		goto out;
	}
	st = sidecars_chmod(path);
out:
	sqlite3_finalize(stmt);
	return st;
}

enum status
db_sqlite_open(const char *target, int flags, struct db **out)
{
	struct sq_db *db = NULL;
	sqlite3 *sq = NULL;
	enum status st = ST_OK;
	int sflags;

	*out = NULL;
	if ((flags & DB_OPEN_WRITER) && !(flags & DB_OPEN_EXISTING) &&
	    (st = file_create(target)) != ST_OK)
		return st;
	sflags = (flags & DB_OPEN_READONLY) ? SQLITE_OPEN_READONLY
	                                    : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(target, &sq, sflags | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		st = fail(sq, "open");
		goto out;
	}
	sqlite3_extended_result_codes(sq, 1);
	if (sqlite3_busy_timeout(sq, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		st = fail(sq, "busy timeout");
		goto out;
	}
	if ((flags & DB_OPEN_WRITER) &&
	    (st = writer_setup(sq, target)) != ST_OK)
		goto out;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	db->base.ops = &sq_ops;
	SQ(db) = sq;
	sq = NULL;
	*out = &db->base;
out:
	sqlite3_close_v2(sq);
	return st;
}

static void
sq_close(struct db *db)
{
	if (db == NULL)
		return;
	if (sqlite3_close(SQ(db)) != SQLITE_OK) {
		log_error("store: close: %s", sqlite3_errmsg(SQ(db)));
		sqlite3_close_v2(SQ(db));
	}
	free(db);
}

static const char *
sq_errmsg(struct db *db)
{
	return db != NULL ? sqlite3_errmsg(SQ(db)) : "out of memory";
}

static enum db_rc
sq_exec_sql(struct db *db, const char *sql)
{
	return rc_of(sqlite3_exec(SQ(db), sql, NULL, NULL, NULL));
}

static enum db_rc
sq_prepare(
    struct db *db, const char *sql, int is_persistent, struct db_stmt **out)
{
	struct sq_stmt *s;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return DB_ERROR;
	s->base.db = db;
	rc = sqlite3_prepare_v3(SQ(db), sql, -1,
	    is_persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s->sq, NULL);
	if (rc != SQLITE_OK || s->sq == NULL) {
		sqlite3_finalize(s->sq);
		free(s);
		return DB_ERROR;
	}
	*out = &s->base;
	return DB_OK;
}

static void
sq_finalize(struct db_stmt *stmt)
{
	if (stmt == NULL)
		return;
	sqlite3_finalize(SQS(stmt));
	free(stmt);
}

static enum db_rc
sq_bind_text(struct db_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		return rc_of(sqlite3_bind_null(SQS(stmt), i));
	return rc_of(sqlite3_bind_text(SQS(stmt), i, s, -1, SQLITE_STATIC));
}

static enum db_rc
sq_bind_int64(struct db_stmt *stmt, int i, int64_t v)
{
	return rc_of(sqlite3_bind_int64(SQS(stmt), i, v));
}

static enum db_rc
sq_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t len)
{
	if (len > INT32_MAX)
		return DB_ERROR;
	return rc_of(
	    sqlite3_bind_blob(SQS(stmt), i, p, (int)len, SQLITE_STATIC));
}

static enum db_rc
sq_step(struct db_stmt *stmt)
{
	return rc_of(sqlite3_step(SQS(stmt)));
}

static void
sq_reset(struct db_stmt *stmt)
{
	if (stmt == NULL)
		return;
	sqlite3_reset(SQS(stmt));
	sqlite3_clear_bindings(SQS(stmt));
}

static const unsigned char *
sq_column_text(struct db_stmt *stmt, int i)
{
	return sqlite3_column_text(SQS(stmt), i);
}

static int64_t
sq_column_int64(struct db_stmt *stmt, int i)
{
	return sqlite3_column_int64(SQS(stmt), i);
}

static const void *
sq_column_blob(struct db_stmt *stmt, int i)
{
	return sqlite3_column_blob(SQS(stmt), i);
}

static int
sq_column_bytes(struct db_stmt *stmt, int i)
{
	return sqlite3_column_bytes(SQS(stmt), i);
}

static int
sq_column_is_null(struct db_stmt *stmt, int i)
{
	return sqlite3_column_type(SQS(stmt), i) == SQLITE_NULL;
}

static enum db_type
sq_column_type(struct db_stmt *stmt, int i)
{
	switch (sqlite3_column_type(SQS(stmt), i)) {
	case SQLITE_NULL:
		return DB_TYPE_NULL;
	case SQLITE_INTEGER:
		return DB_TYPE_INT;
	case SQLITE_BLOB:
		return DB_TYPE_BLOB;
	default:
		return DB_TYPE_TEXT;
	}
}

static int
sq_column_count(struct db_stmt *stmt)
{
	return sqlite3_column_count(SQS(stmt));
}

static int64_t
sq_changes(struct db *db)
{
	return sqlite3_changes(SQ(db));
}

static enum status
sq_last_insert_id(struct db *db, int64_t *id)
{
	*id = (int64_t)sqlite3_last_insert_rowid(SQ(db));
	return ST_OK;
}

static int
sq_get_autocommit(struct db *db)
{
	return sqlite3_get_autocommit(SQ(db));
}

static int
sq_is_unique_violation(struct db *db)
{
	int rc = sqlite3_extended_errcode(SQ(db));

	return rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    rc == SQLITE_CONSTRAINT_UNIQUE;
}

static int
sq_is_disconnected(struct db *db)
{
	(void)db;
	return 0;
}

static enum status
sq_integrity_check(struct db *db)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *msg;
	enum status st = ST_OK;

	if (sqlite3_prepare_v2(SQ(db), "PRAGMA integrity_check", -1, &stmt,
	        NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		st = fail(SQ(db), "integrity_check");
		goto out;
	}
	msg = sqlite3_column_text(stmt, 0);
	if (msg == NULL || strcmp((const char *)msg, "ok") != 0)
		st = status_fail(ST_STORE, "store: integrity_check: %s",
		    msg != NULL ? (const char *)msg : "no answer");
out:
	sqlite3_finalize(stmt);
	return st;
}

enum status
db_sqlite_copy(struct db *src, const char *dest)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b = NULL;
	enum status st = ST_OK;
	int fd, rc, tries = 0, is_created = 0;

	if (src->ops != &sq_ops)
		return status_fail(
		    ST_INTERNAL, "store: a file copy is of SQLite stores only");
	fd = open(
	    dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		st = status_fail(errno == EEXIST ? ST_CONFLICT : ST_STORE,
		    "store: create %s: %s", dest, strerror(errno));
		goto out;
	}
	is_created = 1;
	close(fd);
	if (sqlite3_open_v2(dest, &dst,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(dst, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		st = fail(dst, "open");
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", SQ(src), "main")) == NULL) {
		st = fail(dst, "backup");
		goto out;
	}
	/* -1: every page in one step, so the copy is one snapshot. */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED) {
		if (++tries > BACKUP_BUSY_TRIES)
			break;
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_DONE) {
		sqlite3_backup_finish(b);
		b = NULL;
		st = status_fail(ST_STORE, "store: backup to %s: %s", dest,
		    sqlite3_errstr(rc));
		goto out;
	}
	rc = sqlite3_backup_finish(b);
	b = NULL;
	if (rc != SQLITE_OK) {
		st = fail(dst, "backup");
		goto out;
	}
	/* Closing the last connection checkpoints: no -wal is left. */
	if (sqlite3_close(dst) != SQLITE_OK) {
		st = fail(dst, "close backup");
		goto out;
	}
	dst = NULL;
	if ((fd = open(dest, O_RDONLY | O_CLOEXEC)) == -1 || fsync(fd) == -1)
		st = status_fail(
		    ST_STORE, "store: fsync %s: %s", dest, strerror(errno));
	if (fd != -1)
		close(fd);
out:
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close_v2(dst);
	if (st != ST_OK && is_created)
		unlink(dest);
	return st;
}

static const struct db_ops sq_ops = {
    .kind = DB_SQLITE,
    .close = sq_close,
    .errmsg = sq_errmsg,
    .exec_sql = sq_exec_sql,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .reset = sq_reset,
    .column_text = sq_column_text,
    .column_int64 = sq_column_int64,
    .column_blob = sq_column_blob,
    .column_bytes = sq_column_bytes,
    .column_is_null = sq_column_is_null,
    .column_type = sq_column_type,
    .column_count = sq_column_count,
    .changes = sq_changes,
    .last_insert_id = sq_last_insert_id,
    .get_autocommit = sq_get_autocommit,
    .is_unique_violation = sq_is_unique_violation,
    .is_disconnected = sq_is_disconnected,
    .integrity_check = sq_integrity_check,
};
