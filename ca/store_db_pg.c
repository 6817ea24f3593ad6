/*
 * store_db over PostgreSQL through libpq. Statements are prepared on the
 * server (named s1, s2, ... per connection) with ?N rewritten to $N;
 * parameters go as text, blobs in binary; results come back in binary
 * (integers by their type, bytea as its bytes). A connection that breaks
 * (PostgreSQL restarted, a standby promoted) is reset at its next use and
 * its statements prepared again, so the store resumes by itself; until
 * then each call fails with the reason.
 *
 * The password never comes from the URL: one in it is refused. libpq finds
 * it in the passfile the URL names (?passfile=PATH) or in PGPASSFILE (or
 * ~/.pgpass); that file must have mode 0600, else it is refused here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>

#include "ca/store_db.h"
#include "ca/store_db_backend.h"
#include "common/sandbox.h"
#include "common/status.h"

/* PostgreSQL's type oids (pg_type.dat) of the columns tessera reads. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
/* How long a connection attempt may take, in seconds (the URL may say). */
#define PG_CONNECT_TIMEOUT "5"
#define PG_ERR_CAP 512
/* After a failed reconnection, none for this long (or as long as it took). */
#define PG_RETRY_MS 500

struct pg_db {
	struct db base;
	PGconn *conn;
	int is_readonly;
	int is_stream; /* DB_OPEN_STREAM: statements in single-row mode */
	unsigned generation; /* bumped by each reset: statements re-prepare */
	unsigned next_name;
	int64_t changes;
	int is_unique; /* the last failure was SQLSTATE 23505 */
	int64_t retry_at_ms; /* no reconnection before (monotonic), or 0 */
	char err[PG_ERR_CAP];
};

struct pg_stmt {
	struct db_stmt base;
	char *sql; /* with $N */
	char name[24];
	unsigned generation; /* of the connection it was prepared on */
	int nparams;
	char **values;
	int *lengths;
	int *formats;
	PGresult *res;
	int row, rows;
	int is_begin; /* starts a transaction: may reset the connection */
	int streaming; /* single-row mode: 1 rows to come, 2 all read */
};

static const struct db_ops pg_ops;

#define PG(db) ((struct pg_db *)(db))
#define PGS(stmt) ((struct pg_stmt *)(stmt))

static void stream_end(struct pg_stmt *s, int is_done);

static void
notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Keep msg's first line (libpq's messages end in newlines) as db's error. */
static void
err_set(struct pg_db *db, const char *msg)
{
	size_t n;

	snprintf(db->err, sizeof(db->err), "%s",
	    msg != NULL && msg[0] != '\0' ? msg : "unknown PostgreSQL error");
	n = strcspn(db->err, "\n");
	db->err[n] = '\0';
	while (n > 0 && db->err[n - 1] == ' ')
		db->err[--n] = '\0';
}

/*
 * Keep a failed connection attempt's reason: libpq writes one line per
 * host it tried ("connection to server ... failed: ..."), each perhaps
 * followed by an indented hint. With several hosts (a primary and its
 * standbys) each host's line counts: a dead primary and a standby that is
 * still read-only are the reason together. They are kept joined by "; ",
 * the hints dropped.
 */
static void
err_set_conn(struct pg_db *db, const char *msg)
{
	char out[PG_ERR_CAP];
	size_t o = 0, n;
	const char *line, *end;

	out[0] = '\0';
	for (line = msg; line != NULL && *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		n = (size_t)(end - line);
		if (*end == '\n')
			end++;
		if (n == 0 || line[0] == ' ' || line[0] == '\t')
			continue;
		while (n > 0 && line[n - 1] == ' ')
			n--;
		if (o > 0 && o + 2 < sizeof(out)) {
			memcpy(out + o, "; ", 2);
			o += 2;
		}
		if (n > sizeof(out) - 1 - o)
			n = sizeof(out) - 1 - o;
		memcpy(out + o, line, n);
		o += n;
		out[o] = '\0';
	}
	err_set(db, out);
}

/* Record a failed result's reason. */
static void
err_result(struct pg_db *db, const PGresult *res)
{
	const char *state, *primary;
	char msg[PG_ERR_CAP];

	db->is_unique = 0;
	if (res == NULL) {
		err_set(db, PQerrorMessage(db->conn));
		return;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	db->is_unique = state != NULL && strcmp(state, "23505") == 0;
	if (primary == NULL) {
		err_set(db, PQresultErrorMessage(res));
		return;
	}
	/* 42501 insufficient_privilege, 3F000 invalid_schema_name. */
	snprintf(msg, sizeof(msg), "%s%s",
	    state != NULL &&
	            (strcmp(state, "42501") == 0 || strcmp(state, "3F000") == 0)
	        ? "the role lacks a grant tessera needs: "
	        : "",
	    primary);
	err_set(db, msg);
}

/*
 * A connection that broke is reset before its next use; its server-side
 * statements are gone, so each is prepared again on first use after. The
 * writer's is reset only to BEGIN (may_reset): a statement of a
 * transaction that was lost with the connection must fail, never run on
 * its own in a new session.
 */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
conn_ready(struct pg_db *db, int may_reset)
{
	int64_t start, end, took;

	if (PQstatus(db->conn) == CONNECTION_OK)
		return 1;
	if (!may_reset && !db->is_readonly) {
		err_set(db, "the connection to PostgreSQL was lost");
		return 0;
	}
	/*
	 * A server that is away must not cost every call a connection
	 * attempt: after one fails, the calls fail at once with its reason
	 * for half a second, or as long as the attempt took if longer. A
	 * host that takes connections and never answers (a dead machine
	 * across a network) holds each attempt for connect_timeout; the
	 * callers queued behind this connection's lock then fail fast
	 * instead of each waiting out an attempt of its own.
	 */
	start = mono_ms();
	if (db->retry_at_ms != 0 && start < db->retry_at_ms)
		return 0;
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		err_set_conn(db, PQerrorMessage(db->conn));
		end = mono_ms();
		took = end - start;
		db->retry_at_ms =
		    end + (took > PG_RETRY_MS ? took : PG_RETRY_MS);
		return 0;
	}
	db->retry_at_ms = 0;
	db->generation++;
	if (db->is_readonly) {
		PGresult *res = PQexec(db->conn,
		    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
		PQclear(res);
	}
	return 1;
}

static int
is_begin(const char *sql)
{
	return strncmp(sql, "BEGIN", 5) == 0;
}

/* Rewrite ? and ?N to $N, outside quoted literals. */
static char *
sql_translate(const char *sql)
{
	size_t len = strlen(sql), cap, i, o = 0;
	char *out;
	int next = 0, in_quote = 0, n;

	/* Each ? grows by at most "$NNNNN" minus itself. */
	cap = len * 6 + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (sql[i] == '\'')
			in_quote = !in_quote;
		if (in_quote || sql[i] != '?') {
			out[o++] = sql[i];
			continue;
		}
		if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
			out[o++] = '$';
			continue;
		}
		n = snprintf(out + o, cap - o, "$%d", ++next);
		if (n < 0 || (size_t)n >= cap - o) {
			free(out);
			return NULL;
		}
		o += (size_t)n;
	}
	out[o] = '\0';
	return out;
}

/* The passfile libpq would read for this URL; "" when there is none. */
static void
passfile_of(PQconninfoOption *opts, char *out, size_t cap)
{
	const char *env, *home;
	PQconninfoOption *o;

	out[0] = '\0';
	for (o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "passfile") == 0 && o->val != NULL &&
		    o->val[0] != '\0') {
			snprintf(out, cap, "%s", o->val);
			return;
		}
	if ((env = getenv("PGPASSFILE")) != NULL && env[0] != '\0') {
		snprintf(out, cap, "%s", env);
		return;
	}
	if ((home = getenv("HOME")) != NULL && home[0] != '\0')
		snprintf(out, cap, "%s/.pgpass", home);
}

enum status
db_pg_sandbox_allow(const char *url, struct sandbox *sb)
{
	PQconninfoOption *opts;
	char passfile[4096], dir[4096];
	const char *home = getenv("HOME");
	enum status st;

	if ((opts = PQconninfoParse(url, NULL)) == NULL)
		return status_fail(ST_MALFORMED, "store: not a PostgreSQL URL");
	passfile_of(opts, passfile, sizeof(passfile));
	PQconninfoFree(opts);
	if (passfile[0] != '\0' &&
	    (st = sandbox_allow(sb, passfile, SANDBOX_READ)) != ST_OK)
		return st;
	/* Client certificates and the server's root for TLS. */
	if (home != NULL && home[0] == '/' &&
	    (size_t)snprintf(dir, sizeof(dir), "%s/.postgresql", home) <
	        sizeof(dir))
		return sandbox_allow(sb, dir, SANDBOX_READ);
	return ST_OK;
}

/* The URL's host and database, for messages (never its passfile). */
static void
where_of(PQconninfoOption *opts, char *out, size_t cap)
{
	const char *host = NULL, *dbname = NULL, *user = NULL;
	PQconninfoOption *o;

	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	snprintf(out, cap, "%s%s%s/%s", user != NULL ? user : "",
	    user != NULL ? "@" : "",
	    host != NULL && host[0] != '\0' ? host : "(local socket)",
	    dbname != NULL ? dbname : "");
}

/*
 * Refuse what must not be: a password in the URL, a password file
 * anyone but its owner may read. libpq only warns about the latter and
 * goes on without it.
 */
enum status
db_pg_url_check(const char *url, char *where, size_t where_cap)
{
	PQconninfoOption *opts, *o;
	char *why = NULL, passfile[4096];
	struct stat sb;
	enum status st = ST_OK;

	where[0] = '\0';
	if ((opts = PQconninfoParse(url, &why)) == NULL) {
		st = status_fail(ST_MALFORMED,
		    "store: the PostgreSQL URL is not valid: %s",
		    why != NULL ? why : "out of memory");
		PQfreemem(why);
		return st;
	}
	where_of(opts, where, where_cap);
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			st = status_fail(ST_MALFORMED,
			    "store: the PostgreSQL URL has a password in it; "
			    "put it in a password file of mode 0600 "
			    "(?passfile=PATH or PGPASSFILE) instead");
			goto out;
		}
	passfile_of(opts, passfile, sizeof(passfile));
	if (passfile[0] == '\0')
		goto out;
	if (stat(passfile, &sb) == -1) {
		if (errno != ENOENT)
			st =
			    status_fail(ST_STORE, "store: password file %s: %s",
			        passfile, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0)
		st = status_fail(ST_DENIED,
		    "store: password file %s has mode %04o; it must be 0600 "
		    "(readable by its owner only)",
		    passfile, (unsigned)(sb.st_mode & 07777));
out:
	PQconninfoFree(opts);
	return st;
}

enum status
db_pg_open(const char *url, int flags, struct db **out)
{
	static const char *const keys[] = {"connect_timeout", "dbname", NULL};
	const char *values[3] = {PG_CONNECT_TIMEOUT, url, NULL};
	struct pg_db *db = NULL;
	char where[512];
	enum status st;
	PGresult *res = NULL;

	*out = NULL;
	if ((st = db_pg_url_check(url, where, sizeof(where))) != ST_OK)
		return st;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return status_fail(ST_NOMEM, "store: out of memory");
	db->base.ops = &pg_ops;
	db->is_readonly = (flags & DB_OPEN_READONLY) != 0;
	db->is_stream = (flags & DB_OPEN_STREAM) != 0;
	db->conn = PQconnectdbParams(keys, values, 1);
	if (db->conn == NULL) {
		st = status_fail(ST_NOMEM, "store: out of memory");
		goto out;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		err_set_conn(db, PQerrorMessage(db->conn));
		st = status_fail(ST_STORE,
		    "store: cannot connect to PostgreSQL %s: %s", where,
		    db->err);
		goto out;
	}
	PQsetNoticeProcessor(db->conn, notice_drop, NULL);
	if (db->is_readonly) {
		res = PQexec(db->conn,
		    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			err_result(db, res);
			st = status_fail(ST_STORE, "store: PostgreSQL %s: %s",
			    where, db->err);
			goto out;
		}
	}
	*out = &db->base;
	db = NULL;
out:
	PQclear(res);
	if (db != NULL) {
		PQfinish(db->conn);
		free(db);
	}
	return st;
}

static void
pg_close(struct db *db)
{
	PQfinish(PG(db)->conn);
	free(db);
}

static const char *
pg_errmsg(struct db *db)
{
	return PG(db)->err[0] != '\0' ? PG(db)->err : "no error";
}

static enum db_rc
pg_exec_sql(struct db *d, const char *sql)
{
	struct pg_db *db = PG(d);
	PGresult *res;
	ExecStatusType s;

	if (!conn_ready(db, is_begin(sql)))
		return DB_ERROR;
	res = PQexec(db->conn, sql);
	s = PQresultStatus(res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		err_result(db, res);
		PQclear(res);
		return DB_ERROR;
	}
	PQclear(res);
	return DB_OK;
}

/* Prepare stmt on its connection as it is now. */
static enum db_rc
stmt_server_prepare(struct pg_stmt *s)
{
	struct pg_db *db = PG(s->base.db);
	PGresult *res;
	int n;

	snprintf(s->name, sizeof(s->name), "s%u", ++db->next_name);
	res = PQprepare(db->conn, s->name, s->sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err_result(db, res);
		PQclear(res);
		return DB_ERROR;
	}
	PQclear(res);
	res = PQdescribePrepared(db->conn, s->name);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err_result(db, res);
		PQclear(res);
		return DB_ERROR;
	}
	n = PQnparams(res);
	PQclear(res);
	if (s->values == NULL) {
		s->nparams = n;
		if (n > 0 &&
		    ((s->values = calloc((size_t)n, sizeof(*s->values))) ==
		            NULL ||
		        (s->lengths = calloc((size_t)n, sizeof(*s->lengths))) ==
		            NULL ||
		        (s->formats = calloc((size_t)n, sizeof(*s->formats))) ==
		            NULL)) {
			err_set(db, "out of memory");
			return DB_ERROR;
		}
	}
	s->generation = db->generation;
	return DB_OK;
}

static void pg_finalize(struct db_stmt *stmt);

static enum db_rc
pg_prepare(
    struct db *d, const char *sql, int is_persistent, struct db_stmt **out)
{
	struct pg_db *db = PG(d);
	struct pg_stmt *s;

	(void)is_persistent;
	*out = NULL;
	if (!conn_ready(db, 1))
		return DB_ERROR;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_set(db, "out of memory");
		return DB_ERROR;
	}
	s->base.db = d;
	s->row = -1;
	s->is_begin = is_begin(sql);
	if ((s->sql = sql_translate(sql)) == NULL) {
		err_set(db, "out of memory");
		free(s);
		return DB_ERROR;
	}
	if (stmt_server_prepare(s) != DB_OK) {
		pg_finalize(&s->base);
		return DB_ERROR;
	}
	*out = &s->base;
	return DB_OK;
}

static void
params_clear(struct pg_stmt *s)
{
	int i;

	for (i = 0; i < s->nparams; i++) {
		free(s->values[i]);
		s->values[i] = NULL;
		s->lengths[i] = 0;
		s->formats[i] = 0;
	}
}

static void
pg_finalize(struct db_stmt *stmt)
{
	struct pg_stmt *s = PGS(stmt);
	struct pg_db *db = PG(stmt->db);
	char sql[64];
	PGresult *res;

	stream_end(s, 0);
	PQclear(s->res);
	if (s->name[0] != '\0' && s->generation == db->generation &&
	    PQstatus(db->conn) == CONNECTION_OK) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
		res = PQexec(db->conn, sql);
		PQclear(res);
	}
	if (s->values != NULL)
		params_clear(s);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	free(s->sql);
	free(s);
}

/* Keep a copy of len bytes as parameter i (1-based). */
static enum db_rc
param_set(struct pg_stmt *s, int i, const void *p, size_t len, int format)
{
	char *copy;

	if (i < 1 || i > s->nparams || len > INT32_MAX)
		return DB_ERROR;
	if (p == NULL) {
		free(s->values[i - 1]);
		s->values[i - 1] = NULL;
		s->lengths[i - 1] = 0;
		s->formats[i - 1] = 0;
		return DB_OK;
	}
	if ((copy = malloc(len + 1)) == NULL)
		return DB_ERROR;
	memcpy(copy, p, len);
	copy[len] = '\0';
	free(s->values[i - 1]);
	s->values[i - 1] = copy;
	s->lengths[i - 1] = (int)len;
	s->formats[i - 1] = format;
	return DB_OK;
}

static enum db_rc
pg_bind_text(struct db_stmt *stmt, int i, const char *s)
{
	return param_set(PGS(stmt), i, s, s != NULL ? strlen(s) : 0, 0);
}

static enum db_rc
pg_bind_int64(struct db_stmt *stmt, int i, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)v);

	return param_set(PGS(stmt), i, num, (size_t)n, 0);
}

static enum db_rc
pg_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t len)
{
	/* An empty blob is not NULL. */
	return param_set(PGS(stmt), i, p != NULL ? p : "", len, 1);
}

/* Run s on its connection (reconnected and prepared again if need be). */
static PGresult *
stmt_exec(struct pg_stmt *s)
{
	struct pg_db *db = PG(s->base.db);

	if (!conn_ready(db, s->is_begin))
		return NULL;
	if (s->generation != db->generation && stmt_server_prepare(s) != DB_OK)
		return NULL;
	return PQexecPrepared(db->conn, s->name, s->nparams,
	    (const char *const *)s->values, s->lengths, s->formats, 1);
}

/*
 * A streamed statement that is done (is_done: its last result read) or
 * stopped before (the rest of its rows cancelled): what is left is read
 * off, so the connection takes a command again.
 */
static void
stream_end(struct pg_stmt *s, int is_done)
{
	struct pg_db *db = PG(s->base.db);
	PGcancel *cancel;
	PGresult *res;
	char err[256];

	if (s->streaming == 1 && !is_done &&
	    (cancel = PQgetCancel(db->conn)) != NULL) {
		(void)PQcancel(cancel, err, sizeof(err));
		PQfreeCancel(cancel);
	}
	if (s->streaming == 1)
		while ((res = PQgetResult(db->conn)) != NULL)
			PQclear(res);
	s->streaming = 0;
}

/* pg_step in single-row mode: each row its own result. */
static enum db_rc
stream_step(struct pg_stmt *s)
{
	struct pg_db *db = PG(s->base.db);
	ExecStatusType rs;

	if (s->streaming == 0) {
		if (!conn_ready(db, s->is_begin) ||
		    (s->generation != db->generation &&
		        stmt_server_prepare(s) != DB_OK))
			return DB_ERROR;
		if (!PQsendQueryPrepared(db->conn, s->name, s->nparams,
		        (const char *const *)s->values, s->lengths, s->formats,
		        1) ||
		    !PQsetSingleRowMode(db->conn)) {
			err_set_conn(db, PQerrorMessage(db->conn));
			s->streaming = 1;
			stream_end(s, 1);
			return DB_ERROR;
		}
		s->streaming = 1;
	}
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	s->rows = 0;
	if (s->streaming == 2)
		return DB_DONE;
	s->res = PQgetResult(db->conn);
	rs = PQresultStatus(s->res);
	if (rs == PGRES_SINGLE_TUPLE) {
		s->row = 0;
		s->rows = 1;
		return DB_ROW;
	}
	if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
		stream_end(s, 1);
		s->streaming = 2;
		return DB_DONE;
	}
	if (s->res != NULL)
		err_result(db, s->res);
	else
		err_set_conn(db, PQerrorMessage(db->conn));
	PQclear(s->res);
	s->res = NULL;
	stream_end(s, 1);
	return DB_ERROR;
}

static enum db_rc
pg_step(struct db_stmt *stmt)
{
	struct pg_stmt *s = PGS(stmt);
	struct pg_db *db = PG(stmt->db);
	ExecStatusType rs;
	const char *tuples;

	if (db->is_stream)
		return stream_step(s);
	if (s->res == NULL) {
		s->res = stmt_exec(s);
		/*
		 * A connection found broken by this statement: a reader, or
		 * the writer's BEGIN, reconnects and tries once more, so a
		 * restart the server is back from already costs nothing.
		 */
		if (PQresultStatus(s->res) == PGRES_FATAL_ERROR &&
		    PQstatus(db->conn) != CONNECTION_OK &&
		    (db->is_readonly || s->is_begin)) {
			PQclear(s->res);
			s->res = stmt_exec(s);
		}
		rs = PQresultStatus(s->res);
		if (rs == PGRES_COMMAND_OK) {
			tuples = PQcmdTuples(s->res);
			db->changes = tuples != NULL && tuples[0] != '\0'
			    ? strtoll(tuples, NULL, 10)
			    : 0;
			s->rows = 0;
		} else if (rs == PGRES_TUPLES_OK) {
			s->rows = PQntuples(s->res);
		} else {
			/* NULL: conn_ready or the prepare said why. */
			if (s->res != NULL)
				err_result(db, s->res);
			PQclear(s->res);
			s->res = NULL;
			return DB_ERROR;
		}
		s->row = -1;
	}
	if (s->row + 1 >= s->rows) {
		s->row = s->rows;
		return DB_DONE;
	}
	s->row++;
	return DB_ROW;
}

static void
pg_reset(struct db_stmt *stmt)
{
	struct pg_stmt *s = PGS(stmt);

	stream_end(s, 0);
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	s->rows = 0;
	params_clear(s);
}

/* 1 when the current row has column i (and it is not NULL). */
static int
has_value(struct pg_stmt *s, int i)
{
	return s->res != NULL && s->row >= 0 && s->row < s->rows && i >= 0 &&
	    i < PQnfields(s->res) && !PQgetisnull(s->res, s->row, i);
}

static const unsigned char *
pg_column_text(struct db_stmt *stmt, int i)
{
	struct pg_stmt *s = PGS(stmt);

	if (!has_value(s, i))
		return NULL;
	/* libpq ends every value with a NUL, binary ones too. */
	return (const unsigned char *)PQgetvalue(s->res, s->row, i);
}

static int64_t
pg_column_int64(struct db_stmt *stmt, int i)
{
	struct pg_stmt *s = PGS(stmt);
	const unsigned char *p;
	uint64_t v = 0;
	int len, k;

	if (!has_value(s, i))
		return 0;
	p = (const unsigned char *)PQgetvalue(s->res, s->row, i);
	len = PQgetlength(s->res, s->row, i);
	switch (PQftype(s->res, i)) {
	case OID_BOOL:
		return len == 1 && p[0] != 0;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		if (len != 2 && len != 4 && len != 8)
			return 0;
		for (k = 0; k < len; k++)
			v = (v << 8) | p[k];
		/* Sign-extend the big-endian two's complement. */
		if (len < 8 && (p[0] & 0x80))
			v |= ~(uint64_t)0 << (len * 8);
		return (int64_t)v;
	default:
		return strtoll((const char *)p, NULL, 10);
	}
}

static const void *
pg_column_blob(struct db_stmt *stmt, int i)
{
	struct pg_stmt *s = PGS(stmt);

	if (!has_value(s, i))
		return NULL;
	return PQgetvalue(s->res, s->row, i);
}

static int
pg_column_bytes(struct db_stmt *stmt, int i)
{
	struct pg_stmt *s = PGS(stmt);

	if (!has_value(s, i))
		return 0;
	return PQgetlength(s->res, s->row, i);
}

static int
pg_column_is_null(struct db_stmt *stmt, int i)
{
	return !has_value(PGS(stmt), i);
}

/* bytea's type oid. */
#define OID_BYTEA 17

static enum db_type
pg_column_type(struct db_stmt *stmt, int i)
{
	struct pg_stmt *s = PGS(stmt);

	if (!has_value(s, i))
		return DB_TYPE_NULL;
	switch (PQftype(s->res, i)) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		return DB_TYPE_INT;
	case OID_BYTEA:
		return DB_TYPE_BLOB;
	default:
		return DB_TYPE_TEXT;
	}
}

static int
pg_column_count(struct db_stmt *stmt)
{
	struct pg_stmt *s = PGS(stmt);

	return s->res != NULL ? PQnfields(s->res) : 0;
}

static int64_t
pg_changes(struct db *db)
{
	return PG(db)->changes;
}

static enum status
pg_last_insert_id(struct db *d, int64_t *id)
{
	struct pg_db *db = PG(d);
	PGresult *res;
	enum status st = ST_OK;

	*id = 0;
	res = PQexec(db->conn, "SELECT lastval()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		err_result(db, res);
		st = status_fail(ST_STORE, "store: last id: %s", db->err);
	} else {
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	return st;
}

static int
pg_get_autocommit(struct db *db)
{
	PGTransactionStatusType t = PQtransactionStatus(PG(db)->conn);

	/* A failed statement aborts the whole transaction in PostgreSQL. */
	return t != PQTRANS_INTRANS && t != PQTRANS_ACTIVE;
}

static int
pg_is_unique_violation(struct db *db)
{
	return PG(db)->is_unique;
}

static int
pg_is_disconnected(struct db *db)
{
	return PQstatus(PG(db)->conn) != CONNECTION_OK;
}

static enum status
pg_integrity_check(struct db *d)
{
	/* PostgreSQL checks its own pages; what tessera can ask is that
	 * the server answers on this connection. */
	if (pg_exec_sql(d, "SELECT 1") != DB_OK)
		return status_fail(
		    ST_STORE, "store: PostgreSQL: %s", PG(d)->err);
	return ST_OK;
}

static const struct db_ops pg_ops = {
    .kind = DB_PG,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .exec_sql = pg_exec_sql,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .reset = pg_reset,
    .column_text = pg_column_text,
    .column_int64 = pg_column_int64,
    .column_blob = pg_column_blob,
    .column_bytes = pg_column_bytes,
    .column_is_null = pg_column_is_null,
    .column_type = pg_column_type,
    .column_count = pg_column_count,
    .changes = pg_changes,
    .last_insert_id = pg_last_insert_id,
    .get_autocommit = pg_get_autocommit,
    .is_unique_violation = pg_is_unique_violation,
    .is_disconnected = pg_is_disconnected,
    .integrity_check = pg_integrity_check,
};
