/*
 * store: the SQL of every statement the connections prepare, indexed by
 * enum wstmt (the writer's) and enum rstmt (the read connection's). The
 * statements are written once, in what SQLite and PostgreSQL both speak;
 * the few that differ have a PostgreSQL version in wsql_pg / rsql_pg.
 *
 * SQLite plans without statistics (no ANALYZE) and takes an equality on
 * an index's first column for a few rows, so "status = 'valid'" (every
 * certificate but the revoked) looked as narrow as "device_id = ?": the
 * per-device statements walked certificates_status_not_after over the
 * whole store. In them the status and expiry tests are written +status
 * and +not_after (no index may serve them), leaving device_id's index,
 * and the supersede scan names its partial index; PostgreSQL, which
 * keeps statistics and has no unary + on text, gets them plain.
 */
#include <stddef.h>

#include "ca/store_db.h"
#include "ca/store_internal.h"

/* The certificate columns in the order cert_row() reads them. */
#define CERT_COLUMNS                                                           \
	"serial, issuer, subject, device_id, profile, not_before, not_after,"  \
	" status, revoked_at, reason, der, created, shard, supersede_at"

/*
 * A device's enrollment-secret rows in the columns secret_find() reads;
 * the writer consumes with it, the read connection checks with it.
 */
#define SECRET_SELECT_SQL                                                      \
	"SELECT id, profile, hash, expires, consumed_at IS NOT NULL,"          \
	" cancelled_at IS NOT NULL FROM enrollment_secrets WHERE device_id = " \
	"?"

/*
 * The secrets a filter names (store_secret_filter): ?1 minter_kind, ?2
 * minter_serial, ?3 device_id, ?4 profile; for a listing ?5 outstanding
 * only at ?6, ?7 after id, ?8 limit.
 */
#define SECRET_MATCH_SQL                                                       \
	" (?1 IS NULL OR minter_kind = ?1)"                                    \
	" AND (?2 IS NULL OR minter_serial = ?2)"                              \
	" AND (?3 IS NULL OR device_id = ?3)"                                  \
	" AND (?4 IS NULL OR profile = ?4)"

static const char *const wsql[W_MAX] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVEPOINT] = "SAVEPOINT job",
    [W_RELEASE] = "RELEASE job",
    [W_ROLLBACK_TO] = "ROLLBACK TO job",
    [W_CERT_INSERT] = "INSERT INTO certificates (serial, issuer, subject,"
                      " device_id, profile, not_before, not_after, status,"
                      " revoked_at, reason, der, created, shard)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [W_DEVICE_ENSURE] = "INSERT INTO devices (id, status, created, updated)"
                        " VALUES (?, 'active', ?, ?)"
                        " ON CONFLICT (id) DO NOTHING",
    [W_SECRET_INSERT] = "INSERT INTO enrollment_secrets (device_id,"
                        " profile, hash, created, expires, minter_kind,"
                        " minter_id, minter_serial)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [W_SECRET_SELECT] = SECRET_SELECT_SQL,
    [W_SECRET_CONSUME] = "UPDATE enrollment_secrets"
                         " SET consumed_at = ?, consumed_serial = ?"
                         " WHERE id = ? AND consumed_at IS NULL"
                         " AND cancelled_at IS NULL",
    [W_AUDIT_LAST] = "SELECT seq, hash FROM audit"
                     " ORDER BY seq DESC LIMIT 1",
    [W_AUDIT_INSERT] = "INSERT INTO audit (seq, time, actor, action,"
                       " object, detail, prev_hash, hash)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [W_CERT_STATUS] = "SELECT status, device_id FROM certificates"
                      " WHERE serial = ?",
    [W_CERT_REVOKE] = "UPDATE certificates SET status = 'revoked',"
                      " revoked_at = ?, reason = ?"
                      " WHERE serial = ? AND status = 'valid'",
    [W_FEED_INSERT] = "INSERT INTO revocations (serial, device_id, reason,"
                      " time) VALUES (?, ?, ?, ?)",
    [W_DEVICE_VALID] = "SELECT serial FROM certificates"
                       " WHERE device_id = ? AND +status = 'valid'"
                       " ORDER BY serial",
    [W_DEVICE_STATUS] = "SELECT status FROM devices WHERE id = ?",
    [W_DEVICE_SET] = "UPDATE devices SET status = ?, updated = ?"
                     " WHERE id = ?",
    [W_TOKEN_KEY_ADD] = "INSERT INTO token_keys (label, kid, jwk, created)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (label) DO NOTHING",
    [W_TOKEN_KEY_RETIRE] = "UPDATE token_keys SET retired = ?"
                           " WHERE retired IS NULL AND label <> ?",
    [W_OCSP_DELETE] = "DELETE FROM ocsp_responses WHERE serial = ?",
    [W_OCSP_DELETE_ALL] = "DELETE FROM ocsp_responses",
    /* Only for the status it was signed for: an answer signed before a
     * revocation never replaces the revoked one (monotonic). */
    [W_OCSP_PUT] = "INSERT OR REPLACE INTO ocsp_responses (serial, der,"
                   " this_update, next_update) SELECT ?1, ?2, ?3, ?4"
                   " WHERE EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?1 AND status = ?5)"
                   " AND NOT EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?6 AND status = 'revoked')",
    /* Only a higher number replaces: crlNumber never goes back. */
    [W_CRL_PUT] = "INSERT INTO crls (shard, number, this_update,"
                  " next_update, der) VALUES (?, ?, ?, ?, ?)"
                  " ON CONFLICT (shard) DO UPDATE SET"
                  " number = excluded.number,"
                  " this_update = excluded.this_update,"
                  " next_update = excluded.next_update,"
                  " der = excluded.der"
                  " WHERE excluded.number > crls.number",
    [W_CRL_NEXT] = "SELECT coalesce(max(number), 0) + 1 FROM crls"
                   " WHERE shard = ?",
    [W_CERT_REVOKED_AT] = "SELECT revoked_at FROM certificates"
                          " WHERE serial = ? AND status = 'revoked'",
    [W_SECRET_ATTACH] = "UPDATE enrollment_secrets SET consumed_serial = ?"
                        " WHERE id = ? AND consumed_at IS NOT NULL"
                        " AND consumed_serial IS NULL",
    [W_CERT_SUPERSEDE] = "UPDATE certificates SET supersede_at = ?"
                         " WHERE serial = ? AND status = 'valid'"
                         " AND supersede_at IS NULL",
    [W_DEVICE_SUPERSEDE] = "UPDATE certificates SET supersede_at = ?"
                           " WHERE device_id = ? AND +status = 'valid'"
                           " AND supersede_at IS NULL",
    [W_DEVICE_CURRENT] = "SELECT serial FROM certificates"
                         " WHERE device_id = ? AND +status = 'valid'"
                         " AND supersede_at IS NULL AND +not_after > ?"
                         " ORDER BY serial LIMIT 1",
    [W_DEVICE_BINDING] = "SELECT status, family, authenticator FROM devices"
                         " WHERE id = ?",
    [W_DEVICE_BIND] = "INSERT INTO devices (id, status, created, updated,"
                      " family, authenticator)"
                      " VALUES (?1, 'active', ?2, ?2, ?3, ?4)"
                      " ON CONFLICT (id) DO UPDATE SET"
                      " family = coalesce(family, excluded.family),"
                      " authenticator = coalesce(authenticator,"
                      " excluded.authenticator)",
    [W_DEVICE_BLOCK] = "INSERT INTO devices (id, status, created, updated)"
                       " VALUES (?1, 'blocked', ?2, ?2)"
                       " ON CONFLICT (id) DO UPDATE SET status = 'blocked',"
                       " updated = excluded.updated",
    [W_SECRET_CANCEL] = "UPDATE enrollment_secrets SET cancelled_at = ?1,"
                        " cancelled_by = ?2 WHERE id = ?3"
                        " AND consumed_at IS NULL AND cancelled_at IS NULL",
    [W_SECRET_SELECT_ID] = "SELECT consumed_at IS NOT NULL,"
                           " cancelled_at IS NOT NULL"
                           " FROM enrollment_secrets WHERE id = ?",
    [W_SECRETS_CANCEL] =
        "UPDATE enrollment_secrets SET cancelled_at = ?6,"
        " cancelled_by = ?7 WHERE" SECRET_MATCH_SQL " AND consumed_at IS NULL"
        " AND cancelled_at IS NULL",
    [W_AUDIT_LOCK] = "SELECT 1",
};

static const char *const rsql[R_MAX] = {
    [R_CERT_EXISTS] = "SELECT 1 FROM certificates WHERE serial = ?",
    [R_CERT_GET] = "SELECT " CERT_COLUMNS " FROM certificates"
                   " WHERE serial = ?",
    [R_CERT_COUNT] = "SELECT count(*) FROM certificates",
    [R_TOKEN_KEYS] = "SELECT label, kid, jwk, created, retired"
                     " FROM token_keys"
                     " WHERE retired IS NULL OR retired > ?"
                     " ORDER BY created, label",
    [R_FEED_LAST] = "SELECT coalesce(max(seq), 0) FROM revocations",
    [R_SECRET_SELECT] = SECRET_SELECT_SQL,
    [R_AUDIT] = "SELECT seq, time, actor, action, object, detail,"
                " prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq",
    [R_FEED] = "SELECT seq, serial, device_id, reason, time"
               " FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?",
    /*
     * Two shapes, so that a device's listing uses the device_id index and
     * the others walk the primary key in serial order up to the limit.
     */
    [R_CERT_LIST] = "SELECT " CERT_COLUMNS " FROM certificates"
                    " WHERE serial > ?1"
                    " AND (?3 IS NULL OR status = ?3)"
                    " AND (?4 IS NULL OR profile = ?4)"
                    " AND (?5 IS NULL OR not_after < ?5)"
                    " ORDER BY serial LIMIT ?6",
    [R_CERT_LIST_DEVICE] = "SELECT " CERT_COLUMNS " FROM certificates"
                           " WHERE serial > ?1 AND device_id = ?2"
                           " AND (?3 IS NULL OR status = ?3)"
                           " AND (?4 IS NULL OR profile = ?4)"
                           " AND (?5 IS NULL OR not_after < ?5)"
                           " ORDER BY serial LIMIT ?6",
    /* One profile's (the staff's few among a million devices'): by its
     * index, not a walk of every serial testing each row's profile. */
    [R_CERT_LIST_PROFILE] = "SELECT " CERT_COLUMNS " FROM certificates"
                            " WHERE profile = ?4 AND serial > ?1"
                            " AND (?3 IS NULL OR status = ?3)"
                            " AND (?5 IS NULL OR not_after < ?5)"
                            " ORDER BY serial LIMIT ?6",
    [R_DEVICE_GET] = "SELECT status, created, updated,"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1),"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1 AND +status = 'valid'),"
                     " family, authenticator"
                     " FROM devices WHERE id = ?1",
    [R_OCSP_GET] = "SELECT der, next_update FROM ocsp_responses"
                   " WHERE serial = ?",
    [R_OCSP_DUE] = "SELECT serial, next_update FROM ocsp_responses"
                   " WHERE next_update < ? ORDER BY next_update",
    [R_CRL_GET] = "SELECT number, this_update, next_update, der FROM crls"
                  " WHERE shard = ?",
    [R_SHARD_LAST] = "SELECT coalesce(max(not_after), 0) FROM certificates"
                     " WHERE shard = ?",
    [R_DEVICES] = "SELECT id, status FROM devices ORDER BY id",
    /* SQLite: changes when any connection, of any process, commits. */
    [R_DATA_VERSION] = "PRAGMA data_version",
    /*
     * What the cached publications are built from: the feed (every
     * revocation inserts into it, and so does the transaction that drops
     * a revoked responder's answers), the token keys (added, retired) and
     * the CRLs (a crlNumber only grows). Each part an index or rowid seek,
     * or a table of a few rows.
     */
    [R_PUB_VERSION] =
        "SELECT (SELECT coalesce(max(seq), 0) FROM revocations),"
        " (SELECT count(*) FROM token_keys),"
        " (SELECT coalesce(max(created), 0) FROM token_keys),"
        " (SELECT coalesce(max(retired), 0) FROM token_keys),"
        " (SELECT count(*) FROM crls),"
        " (SELECT CAST(coalesce(sum(number), 0) AS bigint) FROM crls)",
    [R_SUPERSEDE_DUE] = "SELECT serial, supersede_at FROM certificates"
                        " INDEXED BY certificates_supersede"
                        " WHERE supersede_at IS NOT NULL"
                        " AND status = 'valid' AND supersede_at <= ?"
                        " ORDER BY supersede_at LIMIT ?",
    /* Never the hash: a listing shows who, what and when only. */
    [R_SECRET_LIST] =
        "SELECT id, device_id, profile, minter_kind,"
        " minter_id, minter_serial, created, expires,"
        " consumed_at, consumed_serial, cancelled_at,"
        " cancelled_by FROM enrollment_secrets"
        " WHERE" SECRET_MATCH_SQL " AND (?5 = 0 OR (consumed_at IS NULL"
        "  AND cancelled_at IS NULL AND expires > ?6))"
        " AND id > ?7 ORDER BY id LIMIT ?8",
};

/* PostgreSQL infers no type for a parameter only tested IS NULL. */
#define SECRET_MATCH_SQL_PG                                                    \
	" (?1::text IS NULL OR minter_kind = ?1)"                              \
	" AND (?2::text IS NULL OR minter_serial = ?2)"                        \
	" AND (?3::text IS NULL OR device_id = ?3)"                            \
	" AND (?4::text IS NULL OR profile = ?4)"
#define CERT_LIST_MATCH_SQL_PG                                                 \
	" AND (?3::text IS NULL OR status = ?3)"                               \
	" AND (?4::text IS NULL OR profile = ?4)"                              \
	" AND (?5::bigint IS NULL OR not_after < ?5)"                          \
	" ORDER BY serial LIMIT ?6"

/*
 * PostgreSQL's versions, where SQLite's differ. The writer's transaction
 * is PostgreSQL's default (READ COMMITTED): every conditional UPDATE
 * re-reads the row it waited for, so of two nodes consuming one secret
 * only one changes it. Parameters in a SELECT list carry their types,
 * which PostgreSQL cannot infer there.
 */
static const char *const wsql_pg[W_MAX] = {
    [W_BEGIN] = "BEGIN",
    [W_DEVICE_VALID] = "SELECT serial FROM certificates"
                       " WHERE device_id = ? AND status = 'valid'"
                       " ORDER BY serial",
    [W_DEVICE_SUPERSEDE] = "UPDATE certificates SET supersede_at = ?"
                           " WHERE device_id = ? AND status = 'valid'"
                           " AND supersede_at IS NULL",
    [W_DEVICE_CURRENT] = "SELECT serial FROM certificates"
                         " WHERE device_id = ? AND status = 'valid'"
                         " AND supersede_at IS NULL AND not_after > ?"
                         " ORDER BY serial LIMIT 1",
    /*
     * The order lock. The audit's order across processes and nodes: a
     * transaction that reads the newest entry (to chain to it, or to
     * sign a checkpoint over it) holds this lock until it ends, so no
     * other append lands between its read and its own entry. The feed's
     * order: a revocation takes it before its feed row draws a seq, so
     * feed rows commit in seq order (store_txn_cert_revoke). SQLite's
     * writers already take turns for the whole transaction.
     */
    [W_AUDIT_LOCK] = "SELECT pg_advisory_xact_lock(7390414512551282)",
    [W_OCSP_PUT] = "INSERT INTO ocsp_responses (serial, der,"
                   " this_update, next_update)"
                   " SELECT ?1::text, ?2::bytea, ?3::bigint, ?4::bigint"
                   " WHERE EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?1 AND status = ?5)"
                   " AND NOT EXISTS (SELECT 1 FROM certificates"
                   " WHERE serial = ?6 AND status = 'revoked')"
                   " ON CONFLICT (serial) DO UPDATE SET der = excluded.der,"
                   " this_update = excluded.this_update,"
                   " next_update = excluded.next_update",
    /* The existing row's columns, named by its table: not ambiguous. */
    [W_DEVICE_BIND] = "INSERT INTO devices (id, status, created, updated,"
                      " family, authenticator)"
                      " VALUES (?1, 'active', ?2, ?2, ?3, ?4)"
                      " ON CONFLICT (id) DO UPDATE SET"
                      " family = coalesce(devices.family, excluded.family),"
                      " authenticator = coalesce(devices.authenticator,"
                      " excluded.authenticator)",
    [W_SECRETS_CANCEL] = "UPDATE enrollment_secrets SET cancelled_at = ?6,"
                         " cancelled_by = ?7 WHERE" SECRET_MATCH_SQL_PG
                         " AND consumed_at IS NULL AND cancelled_at IS NULL"
                         /* ?5 is the listing's only: here always NULL. */
                         " AND ?5::bigint IS NULL",
};

static const char *const rsql_pg[R_MAX] = {
    [R_DEVICE_GET] = "SELECT status, created, updated,"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1),"
                     " (SELECT count(*) FROM certificates"
                     "  WHERE device_id = ?1 AND status = 'valid'),"
                     " family, authenticator"
                     " FROM devices WHERE id = ?1",
    [R_SUPERSEDE_DUE] = "SELECT serial, supersede_at FROM certificates"
                        " WHERE supersede_at IS NOT NULL"
                        " AND status = 'valid' AND supersede_at <= ?"
                        " ORDER BY supersede_at LIMIT ?",
    /* ?2 is the device's listing's only: here always NULL. */
    [R_CERT_LIST] =
        "SELECT " CERT_COLUMNS " FROM certificates"
        " WHERE serial > ?1 AND ?2::text IS NULL" CERT_LIST_MATCH_SQL_PG,
    [R_CERT_LIST_DEVICE] =
        "SELECT " CERT_COLUMNS " FROM certificates"
        " WHERE serial > ?1 AND device_id = ?2" CERT_LIST_MATCH_SQL_PG,
    [R_CERT_LIST_PROFILE] = "SELECT " CERT_COLUMNS " FROM certificates"
                            " WHERE serial > ?1 AND ?2::text IS NULL"
                            " AND profile = ?4" CERT_LIST_MATCH_SQL_PG,
    [R_SECRET_LIST] =
        "SELECT id, device_id, profile, minter_kind,"
        " minter_id, minter_serial, created, expires,"
        " consumed_at, consumed_serial, cancelled_at,"
        " cancelled_by FROM enrollment_secrets"
        " WHERE" SECRET_MATCH_SQL_PG " AND (?5 = 0 OR (consumed_at IS NULL"
        "  AND cancelled_at IS NULL AND expires > ?6))"
        " AND id > ?7 ORDER BY id LIMIT ?8",
};

const char *
store_wsql(const struct db *db, enum wstmt s)
{
	if (db_kind(db) == DB_PG && wsql_pg[s] != NULL)
		return wsql_pg[s];
	return wsql[s];
}

const char *
store_rsql(const struct db *db, enum rstmt s)
{
	if (db_kind(db) == DB_PG && rsql_pg[s] != NULL)
		return rsql_pg[s];
	return rsql[s];
}
