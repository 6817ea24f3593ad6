/*
 * store: the schema's versions and the migrations between them, the
 * offline integrity check and the backup copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/store.h"
#include "ca/store_internal.h"
#include "ca/store_db.h"
#include "common/log.h"
#include "common/status.h"

#define SCHEMA_VERSION 8
/*
 * How long a process waits for another's migration (SQLite): the
 * workers of serve open the store together, and one migrates while the
 * others wait. An index over a million certificates takes longer than
 * the busy timeout; the wait is for that migration, which is theirs too.
 */
#define MIGRATE_WAIT_SECONDS 600

/*
 * Schema migrations: migrations[v] takes the schema from version v to v + 1.
 * They run in one transaction at open; never edit a released step, append.
 */
static const char *const migrations[] = {
    /* v0 -> v1 */
    "CREATE TABLE certificates ("
    " serial TEXT PRIMARY KEY,"
    " issuer TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " device_id TEXT,"
    " profile TEXT NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
    " revoked_at INTEGER,"
    " reason INTEGER,"
    " der BLOB NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX certificates_device_id ON certificates(device_id);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE TABLE devices ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),"
    " created INTEGER,"
    " updated INTEGER);"
    "CREATE TABLE enrollment_secrets ("
    " id INTEGER PRIMARY KEY,"
    " device_id TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " hash BLOB NOT NULL CHECK (length(hash) = 32),"
    " created INTEGER,"
    " expires INTEGER NOT NULL,"
    " consumed_at INTEGER,"
    " consumed_serial TEXT);"
    "CREATE INDEX enrollment_secrets_device_id"
    " ON enrollment_secrets(device_id);"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " object TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32));",
    /*
     * v1 -> v2: revocation. A certificate's CRL shard is fixed at issuance
     * (rows of v1 are in shard 0); revocations is the gateways' incremental
     * feed; ocsp_responses holds the pre-signed nonce-less responses every
     * worker serves; crls the current CRL and crlNumber of each shard (the
     * root CA's as shard -1). The partial index covers the CRL walk, so a
     * CRL of 1M entries never touches the certificate rows themselves
     * (status is in it because SQLite 3.40 counts a column of the index's
     * WHERE as covered only when it is also an index column).
     */
    "ALTER TABLE certificates ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX certificates_status_not_after"
    " ON certificates(status, not_after);"
    "CREATE INDEX certificates_revoked"
    " ON certificates(shard, not_after, serial, revoked_at, reason, status)"
    " WHERE status = 'revoked';"
    "CREATE TABLE revocations ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " serial TEXT NOT NULL,"
    " device_id TEXT,"
    " reason INTEGER NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE TABLE ocsp_responses ("
    " serial TEXT PRIMARY KEY,"
    " der BLOB NOT NULL,"
    " this_update INTEGER NOT NULL,"
    " next_update INTEGER NOT NULL);"
    "CREATE INDEX ocsp_responses_next_update"
    " ON ocsp_responses(next_update);"
    "CREATE TABLE crls ("
    " shard INTEGER PRIMARY KEY,"
    " number INTEGER NOT NULL,"
    " this_update INTEGER NOT NULL,"
    " next_update INTEGER NOT NULL,"
    " der BLOB NOT NULL);",
    /* v2 -> v3: the token-signing keys, for rotation and the JWKS. */
    "CREATE TABLE token_keys ("
    " label TEXT PRIMARY KEY,"
    " kid TEXT NOT NULL,"
    " jwk TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " retired INTEGER);",
    /*
     * v3 -> v4: a certificate's shard names the CRL its distribution point
     * names, whatever the policy says today: K >= 0 issuing-K.crl, -2 the
     * full issuing.crl (and no CDP at all), -1 the root's CRL (the CAs
     * the root issued). Rows of v3 in shard 0 name issuing-0.crl only when
     * their DER says so. A stored full CRL (shard 0 without an IDP,
     * 06 03 55 1D 1C) keeps its crlNumber as -2. The index answers "does
     * a valid certificate still name this CRL" without a scan.
     */
    "UPDATE certificates SET shard = -1"
    " WHERE profile IN ('root-ca', 'issuing-ca');"
    "UPDATE certificates SET shard = -2 WHERE shard = 0"
    " AND instr(der, CAST('/crl/issuing-0.crl' AS BLOB)) = 0;"
    "UPDATE crls SET shard = -2 WHERE shard = 0"
    " AND instr(der, X'0603551d1c') = 0;"
    "CREATE INDEX certificates_shard_not_after"
    " ON certificates(shard, not_after);",
    /*
     * v4 -> v5: renewal supersedes. supersede_at is when a renewed (or
     * reprovisioned) certificate is to be revoked as superseded; from the
     * renewal on it authenticates nobody. The partial index holds only
     * the ones still waiting, so the scheduled walk stays small.
     */
    "ALTER TABLE certificates ADD COLUMN supersede_at INTEGER;"
    "CREATE INDEX certificates_supersede ON certificates(supersede_at)"
    " WHERE supersede_at IS NOT NULL AND status = 'valid';",
    /*
     * v5 -> v6: delegation and bindings. A secret records who minted it
     * (kind, id, certificate serial) and whether it was cancelled; a
     * device id records the profile family that holds it and the
     * authenticator that first enrolled it. Devices of v5 take the
     * family of their first certificate; their authenticator is unknown
     * (NULL), and so are the minters of v5 secrets.
     */
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_kind TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_id TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN minter_serial TEXT;"
    "ALTER TABLE enrollment_secrets ADD COLUMN cancelled_at INTEGER;"
    "ALTER TABLE enrollment_secrets ADD COLUMN cancelled_by TEXT;"
    "CREATE INDEX enrollment_secrets_minter_serial"
    " ON enrollment_secrets(minter_serial);"
    "ALTER TABLE devices ADD COLUMN family TEXT;"
    "ALTER TABLE devices ADD COLUMN authenticator TEXT;"
    "UPDATE devices SET family = (SELECT profile FROM certificates c"
    " WHERE c.device_id = devices.id ORDER BY c.created, c.serial LIMIT 1);",
    /*
     * v6 -> v7: issuing-CA rollover. Each issuing CA tessera signed with,
     * by generation (0: the one init made; a rollover adds the next):
     * its certificate's serial, its key's URI, its notAfter, when it
     * came and when it was retired (its last certificate expired). A
     * data directory that never rolled over has no row: its issuing CA
     * is generation 0. A certificate's generation is in its shard
     * (store.h), so the rows of v6 need nothing.
     */
    "CREATE TABLE issuers ("
    " gen INTEGER PRIMARY KEY,"
    " serial TEXT NOT NULL UNIQUE,"
    " key_uri TEXT NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " retired INTEGER);",
    /*
     * v7 -> v8: certificates by profile, for the lists of one profile
     * (the expiry watch's staff certificates, which /healthz and the
     * scheduler read): among a million devices' rows, without it each
     * list walked every row.
     */
    "CREATE INDEX certificates_profile ON certificates(profile, serial);",
};

/*
 * PostgreSQL's schema starts at version 6, the same tables in its types
 * (BIGINT for times and ids, BYTEA for DER and hashes, identity columns
 * for SQLite's rowids). A later version appends one step to both lists.
 */
#define PG_SCHEMA_FIRST 6
/* The advisory lock the migrating transaction takes (an arbitrary key). */
#define PG_MIGRATE_LOCK "7390414512551281"

static const char pg_schema_v6[] =
    "CREATE TABLE certificates ("
    " serial TEXT PRIMARY KEY,"
    " issuer TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " device_id TEXT,"
    " profile TEXT NOT NULL,"
    " not_before BIGINT NOT NULL,"
    " not_after BIGINT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
    " revoked_at BIGINT,"
    " reason INTEGER,"
    " der BYTEA NOT NULL,"
    " created BIGINT NOT NULL,"
    " shard INTEGER NOT NULL DEFAULT 0,"
    " supersede_at BIGINT);"
    "CREATE INDEX certificates_device_id ON certificates(device_id);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE INDEX certificates_status_not_after"
    " ON certificates(status, not_after);"
    "CREATE INDEX certificates_revoked"
    " ON certificates(shard, not_after, serial, revoked_at, reason, status)"
    " WHERE status = 'revoked';"
    "CREATE INDEX certificates_shard_not_after"
    " ON certificates(shard, not_after);"
    "CREATE INDEX certificates_supersede ON certificates(supersede_at)"
    " WHERE supersede_at IS NOT NULL AND status = 'valid';"
    "CREATE TABLE devices ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),"
    " created BIGINT,"
    " updated BIGINT,"
    " family TEXT,"
    " authenticator TEXT);"
    "CREATE TABLE enrollment_secrets ("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " device_id TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),"
    " created BIGINT,"
    " expires BIGINT NOT NULL,"
    " consumed_at BIGINT,"
    " consumed_serial TEXT,"
    " minter_kind TEXT,"
    " minter_id TEXT,"
    " minter_serial TEXT,"
    " cancelled_at BIGINT,"
    " cancelled_by TEXT);"
    "CREATE INDEX enrollment_secrets_device_id"
    " ON enrollment_secrets(device_id);"
    "CREATE INDEX enrollment_secrets_minter_serial"
    " ON enrollment_secrets(minter_serial);"
    "CREATE TABLE audit ("
    " seq BIGINT PRIMARY KEY,"
    " time BIGINT NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " object TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev_hash BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),"
    " hash BYTEA NOT NULL CHECK (octet_length(hash) = 32));"
    "CREATE TABLE revocations ("
    " seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " serial TEXT NOT NULL,"
    " device_id TEXT,"
    " reason INTEGER NOT NULL,"
    " time BIGINT NOT NULL);"
    "CREATE TABLE ocsp_responses ("
    " serial TEXT PRIMARY KEY,"
    " der BYTEA NOT NULL,"
    " this_update BIGINT NOT NULL,"
    " next_update BIGINT NOT NULL);"
    "CREATE INDEX ocsp_responses_next_update"
    " ON ocsp_responses(next_update);"
    "CREATE TABLE crls ("
    " shard INTEGER PRIMARY KEY,"
    " number BIGINT NOT NULL,"
    " this_update BIGINT NOT NULL,"
    " next_update BIGINT NOT NULL,"
    " der BYTEA NOT NULL);"
    "CREATE TABLE token_keys ("
    " label TEXT PRIMARY KEY,"
    " kid TEXT NOT NULL,"
    " jwk TEXT NOT NULL,"
    " created BIGINT NOT NULL,"
    " retired BIGINT);";

/* PostgreSQL's steps after PG_SCHEMA_FIRST: pg_migrations[v] takes v to
 * v + 1 (the same steps as SQLite's, in PostgreSQL's types). */
static const char *const pg_migrations[SCHEMA_VERSION + 1] = {
    /* v6 -> v7: the issuing CAs by generation (see migrations[6]). */
    [6] = "CREATE TABLE issuers ("
          " gen INTEGER PRIMARY KEY,"
          " serial TEXT NOT NULL UNIQUE,"
          " key_uri TEXT NOT NULL,"
          " not_after BIGINT NOT NULL,"
          " created BIGINT NOT NULL,"
          " retired BIGINT);",
    /* v7 -> v8: certificates by profile (see migrations[7]). */
    [7] = "CREATE INDEX certificates_profile"
          " ON certificates(profile, serial);",
};

/* Bring a PostgreSQL store from version to SCHEMA_VERSION (inside the
 * migrating transaction). */
static enum status
pg_migrate(struct db *db, int version)
{
	int v;

	if (version == 0) {
		if (db_exec(db, pg_schema_v6, "create schema") != ST_OK)
			return ST_STORE;
		log_info(
		    "store: schema created at version %d", PG_SCHEMA_FIRST);
		version = PG_SCHEMA_FIRST;
	} else if (version < PG_SCHEMA_FIRST) {
		return status_fail(ST_STORE,
		    "store: PostgreSQL schema version %d is below %d, the "
		    "first one tessera writes there",
		    version, PG_SCHEMA_FIRST);
	}
	for (v = version; v < SCHEMA_VERSION; v++) {
		if (pg_migrations[v] == NULL)
			return status_fail(ST_INTERNAL,
			    "store: no PostgreSQL step from schema version %d",
			    v);
		if (db_exec(db, pg_migrations[v], "migrate schema") != ST_OK)
			return ST_STORE;
		log_info("store: schema migrated to version %d", v + 1);
	}
	return ST_OK;
}

/* Create schema_version when there is none yet. */
static enum status
pg_schema_version_ensure(struct db *db)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;
	int is_there;

	if (db_prepare(db, "SELECT to_regclass('schema_version') IS NOT NULL",
	        0, &stmt) != DB_OK ||
	    db_step(stmt) != DB_ROW) {
		st = db_fail(db, "read schema version");
		goto out;
	}
	is_there = db_column_int(stmt, 0);
	if (!is_there)
		st = db_exec(db,
		    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
		    "create schema_version");
out:
	db_finalize(stmt);
	return st;
}

int
store_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* The version recorded in the database, 0 for a new one. */
static enum status
schema_get(struct db *db, int *version)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;
	int rc;

	*version = 0;
	if (db_prepare(db, "SELECT max(version) FROM schema_version", 0,
	        &stmt) != DB_OK)
		return db_fail(db, "read schema version");
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*version = db_column_int(stmt, 0);
	else
		st = db_fail(db, "read schema version");
	db_finalize(stmt);
	return st;
}

enum status
store_backup(const char *path, const char *dest)
{
	struct db *src = NULL;
	enum status st;

	if (db_target_is_pg(path))
		return status_fail(ST_STORE,
		    "store: a PostgreSQL store is backed up with PostgreSQL's "
		    "own tools (pg_dump, pg_basebackup), not by tessera");
	if ((st = db_open(path, DB_OPEN_READONLY | DB_OPEN_EXISTING, &src)) !=
	    ST_OK)
		return st;
	st = db_sqlite_copy(src, dest);
	db_close(src);
	return st;
}

enum status
store_check(const char *path)
{
	struct db *db = NULL;
	struct db_stmt *stmt = NULL;
	const unsigned char *res;
	enum status st;
	int version;

	if (db_target_is_pg(path))
		return status_fail(
		    ST_STORE, "store: %s is not a SQLite file", path);
	if ((st = db_open(path, DB_OPEN_READONLY | DB_OPEN_EXISTING, &db)) !=
	    ST_OK)
		goto out;
	if (db_prepare(db, "PRAGMA integrity_check", 0, &stmt) != DB_OK ||
	    db_step(stmt) != DB_ROW) {
		st = db_fail(db, "integrity check");
		goto out;
	}
	res = db_column_text(stmt, 0);
	if (res == NULL || strcmp((const char *)res, "ok") != 0) {
		st = status_fail(ST_MALFORMED,
		    "store: %s fails SQLite's integrity check: %s", path,
		    res != NULL ? (const char *)res : "no answer");
		goto out;
	}
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version < 1 || version > SCHEMA_VERSION)
		st = status_fail(ST_MALFORMED,
		    "store: %s has schema version %d; this tessera reads 1 "
		    "to %d",
		    path, version, SCHEMA_VERSION);
out:
	db_finalize(stmt);
	db_close(db);
	return st;
}

/*
 * Before migrating a store of an older schema, keep a copy of it as it was
 * (PATH.schema-vN-TIME-PID.bak, mode 0600), so that an upgrade can be
 * undone with the older tessera and that file. Taken before the migrating
 * transaction (SQLite copies nothing from a connection that is writing);
 * *kept is the copy's name, "" when the store needs no migration.
 */
static enum status
schema_keep_copy(struct db *db, const char *path, char *kept, size_t kept_cap)
{
	struct db_stmt *stmt = NULL;
	enum status st = ST_OK;
	int version = 0, n;

	kept[0] = '\0';
	if (db_kind(db) != DB_SQLITE)
		return ST_OK; /* PostgreSQL: its own backups, its own undo */
	if (db_prepare(db,
	        "SELECT count(*) FROM sqlite_master"
	        " WHERE type = 'table' AND name = 'schema_version'",
	        0, &stmt) != DB_OK ||
	    db_step(stmt) != DB_ROW) {
		st = db_fail(db, "read schema version");
		goto out;
	}
	if (db_column_int(stmt, 0) == 0)
		goto out; /* a new store */
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version <= 0 || version >= SCHEMA_VERSION)
		goto out;
	n = snprintf(kept, kept_cap, "%s.schema-v%d-%lld-%ld.bak", path,
	    version, (long long)time(NULL), (long)getpid());
	if (n < 0 || (size_t)n >= kept_cap) {
		kept[0] = '\0';
		st = status_fail(ST_LIMIT, "store path is too long");
		goto out;
	}
	if ((st = db_sqlite_copy(db, kept)) != ST_OK) {
		kept[0] = '\0';
		goto out;
	}
	log_warn("store: schema version %d is older than %d: kept a copy of "
	         "the store as it was in %s before migrating",
	    version, SCHEMA_VERSION, kept);
out:
	db_finalize(stmt);
	return st;
}

/* The migrating transaction, once no other process migrates (SQLite). */
static enum status
migration_begin(struct db *db)
{
	time_t start = time(NULL);
	enum db_rc rc;
	int said = 0;

	if (db_kind(db) == DB_PG)
		return db_exec(db, "BEGIN", "begin migration");
	/* Each attempt waits the busy timeout (seconds) by itself. */
	while ((rc = db_exec_sql(db, "BEGIN IMMEDIATE")) == DB_BUSY &&
	    time(NULL) - start < MIGRATE_WAIT_SECONDS)
		if (!said) {
			log_info("store: another process holds the store "
			         "(migrating it?); waiting for it");
			said = 1;
		}
	if (rc != DB_OK)
		return db_fail(db, "begin migration");
	return ST_OK;
}

/* Bring the schema up to SCHEMA_VERSION in one transaction. */
enum status
schema_migrate(struct db *db, const char *path)
{
	struct db_stmt *stmt = NULL;
	enum status st;
	char kept[4096];
	int version, v;

	if ((st = schema_keep_copy(db, path, kept, sizeof(kept))) != ST_OK)
		return st;
	if ((st = migration_begin(db)) != ST_OK)
		return st;
	/* PostgreSQL: nodes starting together migrate one after the other. */
	if (db_kind(db) == DB_PG &&
	    (st = db_exec(db,
	         "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")",
	         "lock for migration")) != ST_OK)
		goto out;
	/* PostgreSQL: CREATE ... IF NOT EXISTS needs the right to create,
	 * which a store's role may lack once the schema is there. */
	if (db_kind(db) == DB_PG)
		st = pg_schema_version_ensure(db);
	else
		st = db_exec(db,
		    "CREATE TABLE IF NOT EXISTS schema_version"
		    " (version INTEGER NOT NULL)",
		    "create schema_version");
	if (st != ST_OK)
		goto out;
	if ((st = schema_get(db, &version)) != ST_OK)
		goto out;
	if (version > SCHEMA_VERSION) {
		st = status_fail(ST_STORE,
		    "database schema version %d is newer than this tessera "
		    "(%d)",
		    version, SCHEMA_VERSION);
		goto out;
	}
	if (version == SCHEMA_VERSION) {
		/* Another process migrated it meanwhile, and kept its copy. */
		if (kept[0] != '\0' && unlink(kept) == 0)
			log_info("store: removed %s: the store was migrated by "
			         "another process, which kept its own copy",
			    kept);
		goto out;
	}
	if (db_kind(db) == DB_PG) {
		if ((st = pg_migrate(db, version)) != ST_OK)
			goto out;
	} else {
		for (v = version; v < SCHEMA_VERSION; v++) {
			if ((st = db_exec(
			         db, migrations[v], "migrate schema")) != ST_OK)
				goto out;
			log_info("store: schema migrated to version %d", v + 1);
		}
	}
	if ((st = db_exec(db, "DELETE FROM schema_version",
	         "write schema version")) != ST_OK)
		goto out;
	if (db_prepare(db, "INSERT INTO schema_version (version) VALUES (?)", 0,
	        &stmt) != DB_OK ||
	    db_bind_int(stmt, 1, SCHEMA_VERSION) != DB_OK ||
	    db_step(stmt) != DB_DONE) {
		st = db_fail(db, "write schema version");
		goto out;
	}
out:
	db_finalize(stmt);
	if (st == ST_OK)
		st = db_exec(db, "COMMIT", "commit migration");
	if (st != ST_OK && !db_get_autocommit(db))
		if (db_exec_sql(db, "ROLLBACK") != DB_OK)
			log_error(
			    "store: roll back migration: %s", db_errmsg(db));
	return st;
}
