/*
 * revoke: the admin permission matrix, revoking certificates and devices,
 * blocking issuance until reinstatement, the inventory and feed reads,
 * and the audit trail they leave. Real token, real store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/authority.h"
#include "ca/authority_internal.h"
#include "ca/issue.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/secret.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct authority *a;
static char db_file[4200];

/* One count from the store file, with ?1 bound to arg (a raw read). */
static long long
raw_count(const char *sql, const char *arg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	long long n = -1;

	if (sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

/*
 * The default policy plus the operator and auditor roles (held by
 * certificates of profiles "operator" and "auditor"); admin keeps its
 * loopback-only allow-list.
 */
static int
policy_add_roles(const char *data)
{
	char path[4200];
	json_t *root, *roles;
	int rc;

	snprintf(path, sizeof(path), "%s/policy.json", data);
	if ((root = json_load_file(path, 0, NULL)) == NULL)
		return -1;
	roles = json_object_get(root, "roles");
	rc = roles == NULL ||
	    json_object_set_new(roles, "operator",
	        json_pack("{s:[s], s:[s, s]}", "certificate_profiles",
	            "operator", "allow", "127.0.0.0/8", "::1/128")) != 0 ||
	    json_object_set_new(roles, "auditor",
	        json_pack("{s:[s]}", "certificate_profiles", "auditor")) != 0 ||
	    json_dump_file(root, path, JSON_INDENT(2)) != 0;
	json_decref(root);
	return rc ? -1 : 0;
}

static void
cert_principal(struct principal *p, const char *role, const char *address)
{
	memset(p, 0, sizeof(*p));
	p->kind = PRINCIPAL_CERT;
	snprintf(p->id, sizeof(p->id), "%s-1", role[0] ? role : "norole");
	snprintf(p->role, sizeof(p->role), "%s", role);
	snprintf(p->profile, sizeof(p->profile), "%s", role);
	snprintf(p->address, sizeof(p->address), "%s", address);
	snprintf(p->serial, sizeof(p->serial), "%s", "01");
}

static void
test_matrix(void)
{
	static const char *const actions[] = {
	    "revoke", "reinstate", "read", "feed", "audit"};
	/* Rows: roles; columns: actions; 1 = allowed. */
	static const struct {
		const char *role;
		int allowed[5];
	} matrix[] = {
	    {"admin", {1, 1, 1, 1, 1}},
	    {"operator", {1, 0, 1, 1, 0}},
	    {"auditor", {0, 0, 1, 1, 1}},
	    {"station", {0, 0, 0, 0, 0}},
	    {"device", {0, 0, 0, 1, 0}},
	};
	struct principal p;
	size_t i, j;
	enum status st;

	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		cert_principal(&p, matrix[i].role, "127.0.0.1");
		for (j = 0; j < 5; j++) {
			st = authorize_admin(a, &p, actions[j]);
			if (st != (matrix[i].allowed[j] ? ST_OK : ST_DENIED))
				fprintf(stderr, "role %s action %s: %s (%s)\n",
				    matrix[i].role, actions[j], status_name(st),
				    status_detail());
			CHECK(st == (matrix[i].allowed[j] ? ST_OK : ST_DENIED));
		}
	}
	/* Admin's allow-list is loopback: from elsewhere, nothing. */
	cert_principal(&p, "admin", "192.0.2.7");
	for (j = 0; j < 5; j++)
		CHECK_ST(authorize_admin(a, &p, actions[j]), ST_DENIED);
	CHECK_DETAIL("role admin may not connect from 192.0.2.7");
	cert_principal(&p, "operator", "2001:db8::1");
	CHECK_ST(authorize_admin(a, &p, "read"), ST_DENIED);
	/* The auditor has no allow-list: from anywhere. */
	cert_principal(&p, "auditor", "192.0.2.7");
	CHECK_ST(authorize_admin(a, &p, "audit"), ST_OK);
	/* A certificate whose profile holds no role. */
	cert_principal(&p, "", "127.0.0.1");
	CHECK_ST(authorize_admin(a, &p, "read"), ST_DENIED);
	CHECK_DETAIL("hold no role in the policy");
	/* An expired admin certificate only renews itself. */
	cert_principal(&p, "admin", "127.0.0.1");
	p.is_expired = 1;
	CHECK_ST(authorize_admin(a, &p, "read"), ST_DENIED);
	memset(&p, 0, sizeof(p));
	CHECK_ST(authorize_admin(a, &p, "read"), ST_UNAUTHENTICATED);
	p.kind = PRINCIPAL_SECRET;
	CHECK_ST(authorize_admin(a, &p, "read"), ST_DENIED);
	p.kind = PRINCIPAL_MANUFACTURER;
	CHECK_ST(authorize_admin(a, &p, "feed"), ST_DENIED);
	p.kind = PRINCIPAL_OPERATOR;
	for (j = 0; j < 5; j++)
		CHECK_ST(authorize_admin(a, &p, actions[j]), ST_OK);
	CHECK_ST(authorize_admin(a, &p, "delete-everything"), ST_INTERNAL);
}

static void
test_reasons(void)
{
	int code = 99;

	CHECK_ST(ca_reason_parse("keyCompromise", &code), ST_OK);
	CHECK(code == 1);
	CHECK_ST(ca_reason_parse("aACompromise", &code), ST_OK);
	CHECK(code == 10);
	CHECK_ST(ca_reason_parse("privilegeWithdrawn", &code), ST_OK);
	CHECK(code == 9);
	CHECK_ST(ca_reason_parse("unspecified", &code), ST_OK);
	CHECK(code == -1);
	CHECK_ST(ca_reason_parse(NULL, &code), ST_OK);
	CHECK(code == -1);
	CHECK_ST(ca_reason_parse("keycompromise", &code), ST_MALFORMED);
	CHECK(code == -1);
	CHECK_ST(ca_reason_parse("", &code), ST_MALFORMED);
	CHECK_ST(ca_reason_parse("certificateHold", &code), ST_MALFORMED);
	CHECK_ST(ca_reason_parse("removeFromCRL", &code), ST_MALFORMED);
	CHECK(strcmp(ca_reason_name(-1), "unspecified") == 0);
	CHECK(strcmp(ca_reason_name(4), "superseded") == 0);
	CHECK(ca_reason_name(7) == NULL && ca_reason_name(11) == NULL &&
	    ca_reason_name(-2) == NULL);
}

/* Issue a certificate of profile for cn as the local operator. */
static enum status
issue_as(const char *cn, const char *profile, char serial[41])
{
	struct principal op;
	EVP_PKEY *key = testutil_key("ec:P-256");
	uint8_t *der = NULL;
	size_t len = 0;
	X509 *cert = NULL;
	enum status st = ST_INTERNAL;

	serial[0] = '\0';
	memset(&op, 0, sizeof(op));
	op.kind = PRINCIPAL_OPERATOR;
	if (key != NULL && testutil_csr(key, cn, NULL, &der, &len) == 0)
		st = authority_issue(a, &op, profile, der, len, &cert);
	if (st == ST_OK && ca_cert_serial_hex(cert, serial) != ST_OK)
		st = ST_INTERNAL;
	X509_free(cert);
	free(der);
	EVP_PKEY_free(key);
	return st;
}

static enum status
issue(const char *cn, char serial[41])
{
	return issue_as(cn, "device", serial);
}

struct audit_count {
	int64_t entries, refusals, reads;
	char last_actor[256], last_action[64], last_object[256];
};

static int
audit_row(const struct store_audit *e, void *arg)
{
	struct audit_count *c = arg;

	c->entries++;
	c->refusals += strcmp(e->action, "refuse") == 0;
	c->reads += strcmp(e->action, "read") == 0;
	snprintf(c->last_actor, sizeof(c->last_actor), "%s", e->actor);
	snprintf(c->last_action, sizeof(c->last_action), "%s", e->action);
	snprintf(c->last_object, sizeof(c->last_object), "%s", e->object);
	return 0;
}

static void
audit_count(struct audit_count *c)
{
	memset(c, 0, sizeof(*c));
	if (store_audit_foreach(authority_store(a), 0, audit_row, c) != ST_OK)
		c->entries = -1;
}

static void
test_revoke_device(void)
{
	struct principal admin, op, auditor, dev;
	struct authority_revocation rv;
	struct audit_count before, after;
	struct store_cert *row = NULL;
	struct authority_cert *view = NULL;
	struct store_device d;
	struct authority_device view_d;
	char s1[41], s2[41], s3[41], lower[41];
	size_t count = 99, i;

	cert_principal(&admin, "admin", "127.0.0.1");
	cert_principal(&op, "operator", "::1");
	cert_principal(&auditor, "auditor", "198.51.100.4");
	cert_principal(&dev, "device", "198.51.100.5");
	CHECK_ST(issue("dev-rv", s1), ST_OK);
	CHECK_ST(issue("dev-rv", s2), ST_OK);

	/* A device may not revoke; the refusal is audited with it. */
	audit_count(&before);
	CHECK_ST(authority_revoke_device(a, &dev, "dev-rv", NULL, &count),
	    ST_DENIED);
	CHECK(count == 0);
	audit_count(&after);
	CHECK(after.refusals == before.refusals + 1);
	CHECK(strcmp(after.last_actor,
	          "cert id=\"device-1\" serial=01 profile=device role=device "
	          "from=198.51.100.5") == 0);
	CHECK(strstr(after.last_object, "revoke-device") != NULL);

	CHECK_ST(
	    authority_revoke_device(a, &op, "dev-rv", "keyCompromise", &count),
	    ST_OK);
	CHECK(count == 2);
	CHECK_ST(store_cert_get(authority_store(a), s1, &row), ST_OK);
	CHECK(row != NULL && row->status == STORE_CERT_REVOKED &&
	    row->reason == 1);
	store_cert_free(row);
	row = NULL;
	audit_count(&after);
	CHECK(strcmp(after.last_action, "revoke-device") == 0 &&
	    strcmp(after.last_object, "dev-rv") == 0 &&
	    strcmp(after.last_actor,
	        "cert id=\"operator-1\" serial=01 profile=operator "
	        "role=operator from=::1") == 0);
	/* Again: nothing left to revoke, blocked already. */
	CHECK_ST(authority_revoke_device(a, &op, "dev-rv", NULL, &count),
	    ST_CONFLICT);
	CHECK_DETAIL("device dev-rv is already revoked and blocked");
	/* An id that never enrolled: the block comes first, then none. */
	CHECK_ST(authority_revoke_device(a, &op, "dev-unknown", NULL, &count),
	    ST_OK);
	CHECK(count == 0);
	audit_count(&after);
	CHECK(strcmp(after.last_action, "revoke-device") == 0);
	CHECK_ST(authority_revoke_device(a, &op, "dev-unknown", NULL, &count),
	    ST_CONFLICT);
	CHECK_ST(issue("dev-unknown", s3), ST_DENIED);
	CHECK_DETAIL(
	    "device dev-unknown is blocked; an admin must reinstate it");
	/* No block for a name the policy could never issue. */
	CHECK_ST(authority_revoke_device(a, &op, "dev%00", NULL, &count),
	    ST_MALFORMED);
	CHECK_DETAIL("dev%00");
	CHECK_ST(authority_revoke_device(a, &op, "dev rv", NULL, &count),
	    ST_MALFORMED);
	CHECK_ST(authority_revoke_device(a, &op, "dev-rv", "bogus", &count),
	    ST_MALFORMED);

	/* Blocked: no issuance, and nothing of it is stored. */
	CHECK_ST(issue("dev-rv", s3), ST_DENIED);
	CHECK_DETAIL("device dev-rv is blocked; an admin must reinstate it");
	CHECK_ST(store_device_get(authority_store(a), "dev-rv", &d), ST_OK);
	CHECK(d.is_blocked && d.cert_count == 2 && d.valid_count == 0);

	/* Only an admin reinstates. */
	CHECK_ST(authority_reinstate_device(a, &op, "dev-rv"), ST_DENIED);
	CHECK_DETAIL("role operator may not reinstate");
	CHECK_ST(authority_reinstate_device(a, &admin, "dev-rv"), ST_OK);
	CHECK_ST(authority_reinstate_device(a, &admin, "dev-rv"), ST_CONFLICT);
	CHECK_DETAIL("device dev-rv is not blocked");
	CHECK_ST(
	    authority_reinstate_device(a, &admin, "dev-nope"), ST_NOTFOUND);
	CHECK_ST(issue("dev-rv", s3), ST_OK);
	CHECK_ST(authority_device_get(a, &auditor, "dev-rv", &view_d), ST_OK);
	CHECK(!view_d.is_blocked && view_d.cert_count == 3 &&
	    view_d.valid_count == 1);
	/* Revoked certificates stay revoked. */
	CHECK_ST(store_cert_get(authority_store(a), s2, &row), ST_OK);
	CHECK(row != NULL && row->status == STORE_CERT_REVOKED);
	store_cert_free(row);
	row = NULL;

	/* One certificate, by serial in any case. */
	for (i = 0; s3[i] != '\0'; i++)
		lower[i] =
		    (char)(s3[i] >= 'A' && s3[i] <= 'F' ? s3[i] + 32 : s3[i]);
	lower[i] = '\0';
	CHECK_ST(authority_revoke_cert(a, &auditor, s3, NULL, &rv), ST_DENIED);
	CHECK_ST(
	    authority_revoke_cert(a, &admin, lower, "superseded", &rv), ST_OK);
	CHECK(strcmp(rv.serial, s3) == 0 &&
	    strcmp(rv.device_id, "dev-rv") == 0 && rv.reason == 4 &&
	    rv.time > 0);
	CHECK_ST(authority_revoke_cert(a, &admin, s3, "superseded", &rv),
	    ST_CONFLICT);
	CHECK_DETAIL("is already revoked");
	CHECK(rv.serial[0] == '\0');
	CHECK_ST(authority_revoke_cert(a, &admin, "ABCDEF0123", NULL, NULL),
	    ST_NOTFOUND);
	CHECK_ST(
	    authority_revoke_cert(a, &admin, "XYZ", NULL, NULL), ST_MALFORMED);
	CHECK_ST(authority_revoke_cert(a, &admin, s3, "certificateHold", NULL),
	    ST_MALFORMED);
	/* A certificate revoked alone does not block its device. */
	CHECK_ST(issue("dev-rv", s3), ST_OK);
	CHECK_ST(authority_cert_get(a, &auditor, s3, &view), ST_OK);
	CHECK(view != NULL && !view->is_revoked && view->der_len > 0 &&
	    view->device_id != NULL && strcmp(view->device_id, "dev-rv") == 0);
	authority_cert_free(view);
	view = NULL;
	CHECK_ST(authority_cert_get(a, &dev, s3, &view), ST_DENIED);
	CHECK(view == NULL);
	CHECK(row == NULL);
}

/* The serial of a PEM file of the data directory (ca/issuing.pem, ...). */
static int
pem_serial(const char *rel, char serial[41])
{
	char path[4300];
	FILE *f;
	X509 *x = NULL;
	int ok;

	snprintf(
	    path, sizeof(path), "%s/%s", authority_config(a)->data_dir, rel);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ok = x != NULL && ca_cert_serial_hex(x, serial) == ST_OK;
	X509_free(x);
	return ok;
}

/*
 * RFC 5280 §5.3.1: CA reasons only for CAs, subject reasons only for end
 * entities, the root never (a trust anchor); each refusal a 400 naming
 * why, audited, and the certificate still valid. Serials are taken with
 * leading zeros and in either case.
 */
static void
test_reason_kinds(void)
{
	struct principal admin;
	struct audit_count before, after;
	struct store_cert *row = NULL;
	struct authority_cert *view = NULL;
	char dev[41], issuing[41], root[41], typed[64];
	size_t i, n;

	cert_principal(&admin, "admin", "127.0.0.1");
	CHECK_ST(issue("dev-kinds", dev), ST_OK);
	CHECK(pem_serial("ca/issuing.pem", issuing));
	CHECK(pem_serial("ca/root.pem", root));
	audit_count(&before);
	CHECK_ST(authority_revoke_cert(a, &admin, dev, "cACompromise", NULL),
	    ST_MALFORMED);
	CHECK_DETAIL("is an end-entity certificate: use keyCompromise");
	CHECK_ST(authority_revoke_cert(a, &admin, dev, "aACompromise", NULL),
	    ST_MALFORMED);
	CHECK_ST(
	    authority_revoke_device(a, &admin, "dev-kinds", "cACompromise", &n),
	    ST_MALFORMED);
	CHECK_ST(
	    authority_revoke_cert(a, &admin, issuing, "keyCompromise", NULL),
	    ST_MALFORMED);
	CHECK_DETAIL("is a CA: use cACompromise");
	CHECK_ST(authority_revoke_cert(
	             a, &admin, issuing, "privilegeWithdrawn", NULL),
	    ST_MALFORMED);
	CHECK_ST(authority_revoke_cert(a, &admin, root, "cACompromise", NULL),
	    ST_MALFORMED);
	CHECK_DETAIL("trust anchor");
	audit_count(&after);
	CHECK(after.refusals == before.refusals + 6);
	CHECK_ST(store_cert_get(authority_store(a), issuing, &row), ST_OK);
	CHECK(row != NULL && row->status == STORE_CERT_VALID);
	store_cert_free(row);
	row = NULL;
	/* Zero and over 20 octets are no serial of ours. */
	CHECK_ST(
	    authority_revoke_cert(a, &admin, "0000", NULL, NULL), ST_MALFORMED);
	CHECK_ST(authority_revoke_cert(a, &admin,
	             "0102030405060708090A0B0C0D0E0F101112131415", NULL, NULL),
	    ST_MALFORMED);
	/* Leading zeros and lower case: the same certificate. */
	n = strlen(dev);
	snprintf(typed, sizeof(typed), "000");
	for (i = 0; i < n; i++)
		typed[3 + i] =
		    (char)(dev[i] >= 'A' && dev[i] <= 'F' ? dev[i] + 32
		                                          : dev[i]);
	typed[3 + n] = '\0';
	CHECK_ST(authority_cert_get(a, &admin, typed, &view), ST_OK);
	CHECK(view != NULL && strcmp(view->serial, dev) == 0);
	authority_cert_free(view);
	view = NULL;
	CHECK_ST(authority_revoke_cert(a, &admin, typed, "keyCompromise", NULL),
	    ST_OK);
	CHECK_ST(store_cert_get(authority_store(a), dev, &row), ST_OK);
	CHECK(row != NULL && row->status == STORE_CERT_REVOKED);
	store_cert_free(row);
}

struct collect {
	size_t count;
	int64_t last_seq;
	int is_ordered;
};

static int
collect_cert(const struct authority_cert *c, void *arg)
{
	(void)c;
	((struct collect *)arg)->count++;
	return 0;
}

static int
collect_rev(const struct authority_feed_entry *r, void *arg)
{
	struct collect *c = arg;

	if (r->seq <= c->last_seq)
		c->is_ordered = 0;
	c->last_seq = r->seq;
	c->count++;
	return 0;
}

static int
collect_audit(const struct authority_audit_entry *e, void *arg)
{
	struct collect *c = arg;

	if (e->seq <= c->last_seq)
		c->is_ordered = 0;
	c->last_seq = e->seq;
	c->count++;
	return 0;
}

static void
test_reads(void)
{
	struct principal auditor, op, dev, station;
	struct authority_cert_filter f;
	struct collect c;
	struct audit_count before, after;
	struct authority_device d;
	int64_t n = 0, bad = -1;

	cert_principal(&auditor, "auditor", "198.51.100.4");
	cert_principal(&op, "operator", "127.0.0.1");
	cert_principal(&dev, "device", "198.51.100.5");
	cert_principal(&station, "station", "198.51.100.6");

	memset(&f, 0, sizeof(f));
	f.device_id = "dev-rv";
	f.status = AUTHORITY_CERT_ANY;
	f.limit = 2;
	memset(&c, 0, sizeof(c));
	audit_count(&before);
	CHECK_ST(authority_cert_list(a, &op, &f, collect_cert, &c), ST_OK);
	CHECK(c.count == 2);
	audit_count(&after);
	CHECK(after.reads == before.reads + 1 &&
	    strcmp(after.last_object, "certificates") == 0);
	f.limit = 100;
	f.status = AUTHORITY_CERT_REVOKED;
	f.cursor = "0"; /* below every serial */
	memset(&c, 0, sizeof(c));
	CHECK_ST(authority_cert_list(a, &auditor, &f, collect_cert, &c), ST_OK);
	CHECK(c.count == 3);
	f.cursor = "not-hex";
	CHECK_ST(authority_cert_list(a, &auditor, &f, collect_cert, &c),
	    ST_MALFORMED);
	f.cursor = NULL;
	CHECK_ST(
	    authority_cert_list(a, &station, &f, collect_cert, &c), ST_DENIED);

	/* The feed: gateways (role device) read it; stations do not. */
	memset(&c, 0, sizeof(c));
	c.is_ordered = 1;
	CHECK_ST(authority_revocations_since(a, &dev, 0, 1000, collect_rev, &c),
	    ST_OK);
	CHECK(c.count == 3 && c.is_ordered);
	memset(&c, 0, sizeof(c));
	c.is_ordered = 1;
	CHECK_ST(
	    authority_revocations_since(a, &dev, 0, 1, collect_rev, &c), ST_OK);
	CHECK(c.count == 1);
	CHECK_ST(authority_revocations_since(a, &dev, 0, 0, collect_rev, &c),
	    ST_MALFORMED);
	CHECK_ST(
	    authority_revocations_since(a, &station, 0, 10, collect_rev, &c),
	    ST_DENIED);

	/* The audit log: auditor yes, operator no; limit holds. */
	memset(&c, 0, sizeof(c));
	c.is_ordered = 1;
	CHECK_ST(
	    authority_audit_since(a, &auditor, 0, 5, collect_audit, &c), ST_OK);
	CHECK(c.count == 5 && c.is_ordered);
	CHECK_ST(
	    authority_audit_since(a, &op, 0, 5, collect_audit, &c), ST_DENIED);
	CHECK_ST(authority_device_get(a, &dev, "dev-rv", &d), ST_DENIED);
	CHECK(d.cert_count == 0);

	/* Every call above left its entry, and the chain holds. */
	CHECK_ST(audit_verify(authority_store(a), &n, &bad), ST_OK);
	CHECK(n > 20 && bad == 0);
}

/*
 * Delegation never exceeds the delegator: a station whose role enrolls
 * only devices mints no gateway secret, none outside its pattern and none
 * for a blocked device; each refusal is audited with the station.
 */
static void
test_secret_delegation(void)
{
	struct principal station, op, admin;
	struct audit_count before, after;
	char s1[41], *secret = NULL;
	int64_t expires = 0;
	size_t count = 0;

	cert_principal(&station, "station", "198.51.100.6");
	cert_principal(&op, "operator", "127.0.0.1");
	cert_principal(&admin, "admin", "127.0.0.1");
	audit_count(&before);
	CHECK_ST(authority_secret_create(
	             a, &station, "gw-7", "gateway", 0, &secret, &expires),
	    ST_DENIED);
	CHECK_DETAIL("role station may not mint secrets for profile gateway: "
	             "it may not enroll that profile itself");
	CHECK(secret == NULL && expires == 0);
	audit_count(&after);
	CHECK(after.refusals == before.refusals + 1 &&
	    strstr(after.last_actor, "profile=station role=station") != NULL);
	/* The admin's role enrolls gateways: it may. */
	CHECK_ST(authority_secret_create(
	             a, &admin, "gw-7", "gateway", 0, &secret, &expires),
	    ST_OK);
	CHECK(secret != NULL && expires > 0);
	secret_free(secret);
	secret = NULL;
	/* Its own profile, its own pattern: fine. */
	CHECK_ST(authority_secret_create(
	             a, &station, "dev-ok-1", "device", 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	secret = NULL;
	CHECK_ST(authority_secret_create(
	             a, &station, "bad id", "device", 0, &secret, &expires),
	    ST_MALFORMED);
	/*
	 * Revoking the minting certificate cancels what it minted and
	 * nobody used: the secret then authenticates no more.
	 */
	CHECK_ST(issue("st-cert-1", s1), ST_OK);
	snprintf(station.serial, sizeof(station.serial), "%s", s1);
	CHECK_ST(authority_secret_create(
	             a, &station, "dev-del-1", "device", 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	secret = NULL;
	CHECK_ST(authority_secret_create(
	             a, &station, "dev-del-2", "device", 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	secret = NULL;
	CHECK_ST(
	    authority_revoke_cert(a, &op, s1, "keyCompromise", NULL), ST_OK);
	audit_count(&after);
	CHECK(strcmp(after.last_action, "revoke") == 0);
	CHECK(raw_count(
	          "SELECT count(*) FROM enrollment_secrets WHERE minter_serial"
	          " = ?1 AND cancelled_at IS NOT NULL",
	          s1) == 2);
	/* Revoking a device cancels the secrets for it. */
	CHECK_ST(authority_secret_create(
	             a, &admin, "dev-del-3", "device", 0, &secret, &expires),
	    ST_OK);
	secret_free(secret);
	secret = NULL;
	CHECK_ST(
	    authority_revoke_device(a, &op, "dev-del-3", NULL, &count), ST_OK);
	CHECK(count == 0);
	CHECK(raw_count("SELECT count(*) FROM enrollment_secrets WHERE"
	                " device_id = ?1 AND cancelled_at IS NOT NULL",
	          "dev-del-3") == 1);

	/* A blocked device gets no secret, from anyone. */
	CHECK_ST(issue("dev-blk-1", s1), ST_OK);
	CHECK_ST(
	    authority_revoke_device(a, &op, "dev-blk-1", NULL, &count), ST_OK);
	audit_count(&before);
	CHECK_ST(authority_secret_create(
	             a, &station, "dev-blk-1", "device", 0, &secret, &expires),
	    ST_DENIED);
	CHECK_DETAIL("device dev-blk-1 is blocked; an admin must reinstate it");
	CHECK(secret == NULL);
	audit_count(&after);
	CHECK(after.refusals == before.refusals + 1 &&
	    strcmp(after.last_object, "dev-blk-1") == 0);
}

/*
 * One id, one family: a station's id is no device's, a device's no
 * gateway's; revoking the one never touches another family's.
 */
static void
test_families(void)
{
	struct principal admin;
	struct store_device d;
	char s1[41], s2[41], *secret = NULL;
	int64_t expires = 0;

	cert_principal(&admin, "admin", "127.0.0.1");
	CHECK_ST(issue_as("fam-st-1", "station", s1), ST_OK);
	CHECK_ST(issue("fam-st-1", s2), ST_DENIED);
	CHECK_DETAIL("device id fam-st-1 is held by profile station; an id "
	             "lives in one profile family and cannot be enrolled as "
	             "device");
	CHECK_ST(authority_secret_create(
	             a, &admin, "fam-st-1", "device", 0, &secret, &expires),
	    ST_DENIED);
	CHECK(secret == NULL);
	CHECK_ST(issue_as("fam-st-1", "station", s2), ST_OK);
	CHECK_ST(store_device_get(authority_store(a), "fam-st-1", &d), ST_OK);
	CHECK(strcmp(d.family, "station") == 0 &&
	    strcmp(d.authenticator, "operator") == 0 && d.cert_count == 2);
	CHECK_ST(issue("fam-dev-1", s1), ST_OK);
	CHECK_ST(issue_as("fam-dev-1", "gateway", s2), ST_DENIED);
}

/* A manufacturer's namespace: the binding decision, case by case. */
static void
test_binding_rule(void)
{
	struct store_device_binding b;
	struct principal m;
	char auth[LIMIT_NAME_LEN + 1];

	memset(&b, 0, sizeof(b));
	memset(&m, 0, sizeof(m));
	m.kind = PRINCIPAL_MANUFACTURER;
	snprintf(m.authenticator, sizeof(m.authenticator), "bravo");
	principal_authenticator(&m, auth, sizeof(auth));
	CHECK(strcmp(auth, "manufacturer:bravo") == 0);
	/* Unknown id: anyone. */
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_OK);
	b.is_known = 1;
	snprintf(b.family, sizeof(b.family), "device");
	snprintf(b.authenticator, sizeof(b.authenticator), "manufacturer:acme");
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_DENIED);
	CHECK_DETAIL("device id SN1 is bound to manufacturer:acme, which "
	             "enrolled it first; an IDevID of bravo cannot enroll it");
	snprintf(m.authenticator, sizeof(m.authenticator), "acme");
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_OK);
	CHECK_ST(authorize_binding(&m, "SN1", &b, "gateway"), ST_DENIED);
	/* Bound to a station: no manufacturer takes it over. */
	snprintf(b.authenticator, sizeof(b.authenticator), "role:station");
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_DENIED);
	/* Delegated principals are bound by their role's pattern instead. */
	m.kind = PRINCIPAL_SECRET;
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_OK);
	/* A row of an earlier schema or a block: no authenticator yet. */
	m.kind = PRINCIPAL_MANUFACTURER;
	b.authenticator[0] = '\0';
	CHECK_ST(authorize_binding(&m, "SN1", &b, "device"), ST_OK);
}

int
main(void)
{
	struct ca_setup s;
	char *dir = testutil_tmpdir(), *data;

	if (dir == NULL)
		return 1;
	data = malloc(strlen(dir) + 8);
	snprintf(data, strlen(dir) + 8, "%s/var", dir);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK(policy_add_roles(data) == 0);
	snprintf(db_file, sizeof(db_file), "%s/tessera.db", data);
	CHECK_ST(authority_open(data, &a), ST_OK);
	if (a != NULL) {
		test_matrix();
		test_reasons();
		test_revoke_device();
		test_reads();
		test_secret_delegation();
		test_reason_kinds();
		test_families();
		test_binding_rule();
	}
	authority_close(a);
	testutil_rmtree(dir);
	free(data);
	free(dir);
	TEST_END();
}
