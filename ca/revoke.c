/*
 * revoke: revoking certificates and devices, reinstating devices, and the
 * admin API's reads (inventory, devices, the revocations feed, the audit
 * log). Each call is authorized in one place (authorize_admin) and audited
 * with the principal whatever the outcome. A change and its audit entry
 * commit in one transaction, before the call returns.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/deviceid.h"
#include "ca/pattern.h"
#include "ca/store.h"
#include "common/log.h"

/* An audit object: an action and a serial or device id. */
#define OBJECT_CAP (LIMIT_NAME_LEN + 32)

/* RFC 5280 §5.3.1 CRLReason names, indexed by code. */
static const char *const reason_names[] = {
    [0] = "unspecified",
    [1] = "keyCompromise",
    [2] = "cACompromise",
    [3] = "affiliationChanged",
    [4] = "superseded",
    [5] = "cessationOfOperation",
    [6] = "certificateHold",
    [8] = "removeFromCRL",
    [9] = "privilegeWithdrawn",
    [10] = "aACompromise",
};

#define REASON_COUNT (sizeof(reason_names) / sizeof(reason_names[0]))
/* RFC 5280 §5.3.1 superseded. */
#define SUPERSEDED_REASON 4

enum status
ca_reason_parse(const char *name, int *code)
{
	size_t i;

	*code = -1;
	/* RFC 5280 §5.3.1: unspecified is written by omitting the code. */
	if (name == NULL || strcmp(name, "unspecified") == 0)
		return ST_OK;
	if (strcmp(name, "certificateHold") == 0)
		return status_fail(ST_MALFORMED,
		    "certificateHold is not offered: a revocation here is "
		    "permanent (revoke the device to block it until an admin "
		    "reinstates it)");
	if (strcmp(name, "removeFromCRL") == 0)
		return status_fail(ST_MALFORMED,
		    "removeFromCRL is not a revocation reason; it belongs to "
		    "delta CRLs (RFC 5280 §5.3.1)");
	for (i = 1; i < REASON_COUNT; i++) {
		if (reason_names[i] != NULL &&
		    strcmp(reason_names[i], name) == 0) {
			*code = (int)i;
			return ST_OK;
		}
	}
	return status_fail(ST_MALFORMED,
	    "unknown revocation reason (RFC 5280 §5.3.1 names: unspecified, "
	    "keyCompromise, cACompromise, affiliationChanged, superseded, "
	    "cessationOfOperation, privilegeWithdrawn, aACompromise)");
}

int
ca_profile_is_ca(const char *profile)
{
	return profile != NULL &&
	    (strcmp(profile, "root-ca") == 0 ||
	        strcmp(profile, "issuing-ca") == 0);
}

/*
 * RFC 5280 §5.3.1: cACompromise and aACompromise speak of an authority's
 * key, keyCompromise and privilegeWithdrawn of a subject's. A CA is
 * revoked with cACompromise (its key), or affiliationChanged, superseded,
 * cessationOfOperation; tessera's CAs are no attribute authorities.
 */
static enum status
reason_fits(int code, int is_ca, const char *serial)
{
	if (!is_ca && (code == 2 || code == 10))
		return status_fail(ST_MALFORMED,
		    "%s is for a CA's key (RFC 5280 §5.3.1); certificate %s "
		    "is an end-entity certificate: use keyCompromise",
		    ca_reason_name(code), serial);
	if (is_ca && (code == 1 || code == 9 || code == 10))
		return status_fail(ST_MALFORMED,
		    "%s is not a reason for a CA certificate (RFC 5280 "
		    "§5.3.1); %s is a CA: use cACompromise, "
		    "affiliationChanged, "
		    "superseded or cessationOfOperation",
		    ca_reason_name(code), serial);
	return ST_OK;
}

const char *
ca_reason_name(int code)
{
	if (code == -1)
		return reason_names[0];
	if (code < 0 || (size_t)code >= REASON_COUNT)
		return NULL;
	return reason_names[code];
}

/*
 * Copy serial as the store keeps it (BN_bn2hex's form: uppercase, whole
 * octets, no zero octet in front) into out: any case, with or without
 * leading zeros, 1..LIMIT_SERIAL_INPUT hex digits, zero refused.
 */
static enum status
serial_normalize_as(
    const char *serial, int is_cursor, char out[STORE_SERIAL_HEX_CAP])
{
	size_t i, len, start, digits;
	char c;

	out[0] = '\0';
	len = serial != NULL ? strnlen(serial, LIMIT_SERIAL_INPUT + 1) : 0;
	if (len == 0 || len > LIMIT_SERIAL_INPUT)
		return status_fail(ST_MALFORMED,
		    "a serial is 1 to %d hexadecimal digits, got %zu "
		    "characters",
		    LIMIT_SERIAL_INPUT, len);
	for (i = 0; i < len; i++) {
		c = serial[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		        (c >= 'A' && c <= 'F')))
			return status_fail(ST_MALFORMED,
			    "a serial is hexadecimal digits only (character "
			    "%zu is not)",
			    i + 1);
	}
	for (start = 0; start < len && serial[start] == '0'; start++)
		;
	digits = len - start;
	/* A list cursor of zero starts before every serial. */
	if (digits == 0 && is_cursor) {
		memcpy(out, "0", 2);
		return ST_OK;
	}
	if (digits == 0)
		return status_fail(ST_MALFORMED,
		    "serial 0 is never issued (RFC 5280 §4.1.2.2: positive)");
	/* RFC 5280 §4.1.2.2: at most 20 octets. */
	if (digits > 2 * 20)
		return status_fail(ST_MALFORMED,
		    "a serial is at most 20 octets (RFC 5280 §4.1.2.2), got "
		    "%zu hexadecimal digits",
		    digits);
	i = 0;
	if (digits % 2 != 0)
		out[i++] = '0';
	for (; start < len; start++) {
		c = serial[start];
		out[i++] = c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
	}
	out[i] = '\0';
	return ST_OK;
}

static enum status
serial_normalize(const char *serial, char out[STORE_SERIAL_HEX_CAP])
{
	return serial_normalize_as(serial, 0, out);
}

/*
 * An id that has not enrolled yet may be blocked only when the policy
 * could ever issue it: a profile's device_id_pattern (or a profile that
 * takes any canonical id) or a manufacturer's device_pattern admits it.
 * Otherwise a block would be a row for a name that cannot exist.
 */
static enum status
device_id_admissible(const struct policy *pol, const char *device_id)
{
	size_t i;

	for (i = 0; i < policy_profile_count(pol); i++)
		if (ca_device_id_check(device_id, policy_profile_at(pol, i)) ==
		    ST_OK) {
			status_clear();
			return ST_OK;
		}
	for (i = 0; i < policy_manufacturer_count(pol); i++)
		if (pattern_match(
		        policy_manufacturer_at(pol, i)->device_pattern,
		        device_id))
			return ST_OK;
	return status_fail(ST_MALFORMED,
	    "device %s has not enrolled and no profile or manufacturer of "
	    "the policy admits that id",
	    device_id);
}

/*
 * Audit a refused or failed admin call as "refuse" with the object
 * "action target" and return st with its detail (authority_refuse).
 * target may be NULL when the input was too bad to name.
 */
static enum status
admin_refuse(struct authority *a, const struct principal *who,
    const char *action, const char *target, enum status st)
{
	char object[OBJECT_CAP];
	char quoted[LIMIT_NAME_LEN + 8];

	/* Unchecked input is quoted before it reaches the audit log. */
	snprintf(object, sizeof(object), "%s %s", action,
	    target != NULL ? log_quote(target, quoted, sizeof(quoted)) : "-");
	/* A refused read changes nothing: audited in aggregate. */
	if (strcmp(action, "read") == 0)
		return authority_refuse_read(a, who, object, st);
	return authority_refuse(a, who, object, st);
}

struct revoke_job {
	struct authority *a;
	const char *serial; /* a certificate, or */
	int shard; /* the certificate's (STORE_CRL_SHARD_ROOT: a CA) */
	int is_responder; /* it is the OCSP responder's certificate */
	const char *device_id; /* a device */
	int reason;
	int64_t now;
	const char *actor;
	char *cert_device_id; /* out: the certificate's device (freed) */
	size_t count; /* out: certificates revoked */
	size_t secrets; /* out: secrets cancelled with them */
};

/*
 * A revoked certificate's delegation ends with it: every secret it minted
 * and nobody used yet is cancelled in the revoking transaction.
 */
static enum status
cancel_minted_by(
    struct store_txn *txn, struct revoke_job *job, const char *serial)
{
	struct store_secret_filter f;
	size_t n = 0;
	enum status st;

	memset(&f, 0, sizeof(f));
	f.minter_serial = serial;
	if ((st = store_txn_secrets_cancel(
	         txn, &f, job->now, job->actor, &n)) != ST_OK)
		return st;
	job->secrets += n;
	return ST_OK;
}

static enum status
revoke_cert_commit(struct store_txn *txn, void *arg)
{
	struct revoke_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL];
	enum status st;

	free(job->cert_device_id);
	job->cert_device_id = NULL;
	job->secrets = 0;
	if ((st = store_txn_cert_revoke(txn, job->serial, job->reason, job->now,
	         &job->cert_device_id)) != ST_OK)
		return st;
	if ((st = cancel_minted_by(txn, job, job->serial)) != ST_OK)
		return st;
	/* OCSP says revoked the moment this commits. */
	if ((st = publication_revoked_in_txn(job->a, txn, job->serial,
	         job->shard, job->reason, job->now)) != ST_OK)
		return st;
	/* Nothing the revoked responder signed is served after this. */
	if (job->is_responder &&
	    (st = publication_responder_revoked_in_txn(txn)) != ST_OK)
		return st;
	snprintf(detail, sizeof(detail),
	    "reason=%s device=%s secrets_cancelled=%zu",
	    ca_reason_name(job->reason),
	    job->cert_device_id != NULL ? job->cert_device_id : "-",
	    job->secrets);
	return audit_append(
	    txn, job->now, job->actor, "revoke", job->serial, detail);
}

/*
 * What kind of certificate serial is: *shard (STORE_CRL_SHARD_ROOT for a
 * CA the root issued) and whether the reason fits it. The root itself is
 * a trust anchor: no CRL of tessera's can revoke it.
 */
static enum status
revoke_target(struct authority *a, const char *serial, int reason, int *shard)
{
	struct store_cert *row = NULL;
	enum status st;

	*shard = 0;
	if ((st = store_cert_get(a->store, serial, &row)) != ST_OK) {
		if (st == ST_NOTFOUND)
			st = status_fail(ST_NOTFOUND,
			    "no certificate with serial %s", serial);
		return st;
	}
	if (strcmp(row->profile, "root-ca") == 0)
		st = status_fail(ST_MALFORMED,
		    "%s is the root CA, a trust anchor: no CRL can revoke it "
		    "(RFC 5280 §6.1.1); take it out of the relying parties' "
		    "trust stores instead",
		    serial);
	else
		st =
		    reason_fits(reason, ca_profile_is_ca(row->profile), serial);
	*shard = row->shard;
	store_cert_free(row);
	return st;
}

enum status
authority_revoke_cert(struct authority *a, const struct principal *who,
    const char *serial, const char *reason, struct authority_revocation *out)
{
	struct revoke_job job;
	char hex[STORE_SERIAL_HEX_CAP], actor[AUTHORITY_ACTOR_CAP];
	char why[LIMIT_AUDIT_DETAIL];
	int code;
	enum status st;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&job, 0, sizeof(job));
	job.a = a;
	if ((st = authorize_admin(a, who, "revoke")) != ST_OK)
		return admin_refuse(a, who, "revoke", serial, st);
	if ((st = serial_normalize(serial, hex)) != ST_OK ||
	    (st = ca_reason_parse(reason, &code)) != ST_OK ||
	    (st = revoke_target(a, hex, code, &job.shard)) != ST_OK)
		return admin_refuse(a, who, "revoke", serial, st);
	principal_describe(who, actor, sizeof(actor));
	job.serial = hex;
	job.reason = code;
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	/* The revoked answer is signed by the current responder. */
	publication_responder_check(a);
	job.is_responder = publication_is_responder(a, hex);
	/* Acknowledged only once durable (DESIGN.md). */
	if ((st = store_write(a->store, revoke_cert_commit, &job)) != ST_OK) {
		free(job.cert_device_id);
		return admin_refuse(a, who, "revoke", hex, st);
	}
	log_info(
	    "revoked %s (reason %s) by %s", hex, ca_reason_name(code), actor);
	if (strcmp(hex, a->issuing_serial) == 0)
		log_error("the issuing CA %s is revoked: nothing is issued "
		          "until a new issuing CA is set up",
		    hex);
	if (out != NULL) {
		memcpy(out->serial, hex, sizeof(out->serial));
		snprintf(out->device_id, sizeof(out->device_id), "%s",
		    job.cert_device_id != NULL ? job.cert_device_id : "");
		out->reason = code;
		out->time = job.now;
	}
	free(job.cert_device_id);
	/* A revoked responder is replaced before the call returns; the
	 * revocation stands even when that fails (OCSP says tryLater). */
	if (job.is_responder &&
	    (st = publication_responder_replace(a)) != ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		return status_fail(st,
		    "certificate %s is revoked, but no new OCSP responder "
		    "could be made (%s); OCSP answers tryLater until `tessera "
		    "renew --data DIR ocsp` succeeds",
		    hex, why);
	}
	return ST_OK;
}

/* The superseded certificates one tick revokes at most. */
#define SUPERSEDE_BATCH 100

struct supersede_due {
	struct serial_at {
		char serial[STORE_SERIAL_HEX_CAP];
		int64_t at;
	} due[SUPERSEDE_BATCH];
	size_t count;
};

static int
supersede_collect(const char *serial, int64_t at, void *arg)
{
	struct supersede_due *d = arg;

	snprintf(d->due[d->count].serial, STORE_SERIAL_HEX_CAP, "%s", serial);
	d->due[d->count].at = at;
	return ++d->count == SUPERSEDE_BATCH;
}

static enum status
supersede_commit(struct store_txn *txn, void *arg)
{
	struct revoke_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL];
	enum status st;

	free(job->cert_device_id);
	job->cert_device_id = NULL;
	if ((st = store_txn_cert_revoke(txn, job->serial, job->reason, job->now,
	         &job->cert_device_id)) != ST_OK)
		return st;
	/* Superseded certificates are leaves: the issuing CA's OCSP. */
	if ((st = publication_revoked_in_txn(
	         job->a, txn, job->serial, 0, job->reason, job->now)) != ST_OK)
		return st;
	snprintf(detail, sizeof(detail), "reason=%s device=%s renewed",
	    ca_reason_name(job->reason),
	    job->cert_device_id != NULL ? job->cert_device_id : "-");
	return audit_append(
	    txn, job->now, "tessera", "revoke", job->serial, detail);
}

enum status
supersede_tick(struct authority *a, int64_t now)
{
	struct supersede_due *d;
	struct revoke_job job;
	size_t i;
	enum status st;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ST_NOMEM;
	if ((st = store_superseded_due(a->store, now, SUPERSEDE_BATCH,
	         supersede_collect, d)) != ST_OK)
		goto out;
	for (i = 0; i < d->count; i++) {
		memset(&job, 0, sizeof(job));
		job.a = a;
		job.serial = d->due[i].serial;
		job.reason = SUPERSEDED_REASON;
		/* The revocation dates from the end of the overlap. */
		job.now = d->due[i].at;
		st = store_write(a->store, supersede_commit, &job);
		free(job.cert_device_id);
		/* Revoked meanwhile (its device was): nothing left to do. */
		if (st == ST_CONFLICT) {
			status_clear();
			st = ST_OK;
		}
		if (st != ST_OK)
			goto out;
		log_info("revoked %s as superseded by its renewal",
		    d->due[i].serial);
	}
out:
	free(d);
	return st;
}

static enum status
revoke_device_each(struct store_txn *txn, const char *serial, void *arg)
{
	struct revoke_job *job = arg;
	enum status st;

	if ((st = cancel_minted_by(txn, job, serial)) != ST_OK)
		return st;
	/* A device's certificates are end-entity ones of the issuing CA. */
	return publication_revoked_in_txn(
	    job->a, txn, serial, 0, job->reason, job->now);
}

static enum status
revoke_device_commit(struct store_txn *txn, void *arg)
{
	struct revoke_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL];
	struct store_device_binding b;
	struct store_secret_filter f;
	size_t n = 0;
	enum status st;

	job->count = 0;
	job->secrets = 0;
	if ((st = store_txn_device_binding_get(txn, job->device_id, &b)) !=
	    ST_OK)
		return st;
	if (!b.is_known &&
	    (st = device_id_admissible(job->a->policy, job->device_id)) !=
	        ST_OK)
		return st;
	if ((st = store_txn_device_certs_revoke_each(txn, job->device_id,
	         job->reason, job->now, revoke_device_each, job,
	         &job->count)) != ST_OK)
		return st;
	/* Its outstanding secrets go with it: nobody enrolls it with one. */
	memset(&f, 0, sizeof(f));
	f.device_id = job->device_id;
	if ((st = store_txn_secrets_cancel(
	         txn, &f, job->now, job->actor, &n)) != ST_OK)
		return st;
	job->secrets += n;
	/*
	 * An id that never enrolled is blocked all the same (a row with no
	 * family), so that a block can come before the enrollment.
	 */
	if ((st = store_txn_device_block(txn, job->device_id, job->now)) !=
	    ST_OK)
		return st;
	if (b.is_blocked && job->count == 0 && job->secrets == 0)
		return status_fail(ST_CONFLICT,
		    "device %s is already revoked and blocked", job->device_id);
	snprintf(detail, sizeof(detail),
	    "reason=%s certificates=%zu secrets_cancelled=%zu blocked%s",
	    ca_reason_name(job->reason), job->count, job->secrets,
	    b.is_known ? "" : " (not enrolled yet)");
	return audit_append(
	    txn, job->now, job->actor, "revoke-device", job->device_id, detail);
}

enum status
authority_revoke_device(struct authority *a, const struct principal *who,
    const char *device_id, const char *reason, size_t *count)
{
	struct revoke_job job;
	char actor[AUTHORITY_ACTOR_CAP];
	int code;
	enum status st;

	*count = 0;
	memset(&job, 0, sizeof(job));
	job.a = a;
	if ((st = authorize_admin(a, who, "revoke")) != ST_OK ||
	    (st = ca_device_id_check(device_id, NULL)) != ST_OK ||
	    (st = ca_reason_parse(reason, &code)) != ST_OK ||
	    (st = reason_fits(code, 0, device_id)) != ST_OK)
		return admin_refuse(a, who, "revoke-device", device_id, st);
	principal_describe(who, actor, sizeof(actor));
	job.device_id = device_id;
	job.reason = code;
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	publication_responder_check(a);
	if ((st = store_write(a->store, revoke_device_commit, &job)) != ST_OK)
		return admin_refuse(a, who, "revoke-device", device_id, st);
	log_info("revoked device %s: %zu certificates (reason %s), blocked, "
	         "by %s",
	    device_id, job.count, ca_reason_name(code), actor);
	*count = job.count;
	return ST_OK;
}

static enum status
reinstate_commit(struct store_txn *txn, void *arg)
{
	struct revoke_job *job = arg;
	int was_blocked = 0;
	enum status st;

	if ((st = store_txn_device_is_blocked(
	         txn, job->device_id, &was_blocked)) != ST_OK)
		return st;
	if ((st = store_txn_device_set_status(
	         txn, job->device_id, 0, job->now)) != ST_OK)
		return st;
	if (!was_blocked)
		return status_fail(
		    ST_CONFLICT, "device %s is not blocked", job->device_id);
	return audit_append(txn, job->now, job->actor, "reinstate",
	    job->device_id, "unblocked; revoked certificates stay revoked");
}

enum status
authority_reinstate_device(
    struct authority *a, const struct principal *who, const char *device_id)
{
	struct revoke_job job;
	char actor[AUTHORITY_ACTOR_CAP];
	enum status st;

	memset(&job, 0, sizeof(job));
	job.a = a;
	if ((st = authorize_admin(a, who, "reinstate")) != ST_OK ||
	    (st = ca_device_id_check(device_id, NULL)) != ST_OK)
		return admin_refuse(a, who, "reinstate", device_id, st);
	principal_describe(who, actor, sizeof(actor));
	job.device_id = device_id;
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	if ((st = store_write(a->store, reinstate_commit, &job)) != ST_OK)
		return admin_refuse(a, who, "reinstate", device_id, st);
	log_info("reinstated device %s by %s", device_id, actor);
	return ST_OK;
}

/*
 * Authorize who for action and commit the audit entry of the read before
 * anything is read: a read that cannot be audited does not happen.
 * Refusals are audited as such.
 */
static enum status
admin_read(struct authority *a, const struct principal *who, const char *action,
    const char *object, const char *detail)
{
	char actor[AUTHORITY_ACTOR_CAP];
	enum status st;

	if ((st = authorize_admin(a, who, action)) != ST_OK)
		return admin_refuse(a, who, "read", object, st);
	principal_describe(who, actor, sizeof(actor));
	return audit_record(
	    a->store, (int64_t)time(NULL), actor, "read", object, detail);
}

_Static_assert(AUTHORITY_LIST_LIMIT_MAX == STORE_LIST_LIMIT_MAX,
    "a page of the authority's listings is a page of the store's");
_Static_assert(
    AUTHORITY_SERIAL_CAP == STORE_SERIAL_HEX_CAP, "serials are the store's");

/* The view of a certificate row; its pointers borrow from c. */
static void
cert_view(const struct store_cert *c, struct authority_cert *v)
{
	memcpy(v->serial, c->serial, sizeof(v->serial));
	v->subject = c->subject;
	v->device_id = c->device_id;
	v->profile = c->profile;
	v->is_revoked = c->status == STORE_CERT_REVOKED;
	v->not_before = c->not_before;
	v->not_after = c->not_after;
	v->revoked_at = c->revoked_at;
	v->reason = c->reason;
	v->der = c->der;
	v->der_len = c->der_len;
}

/* A string of the copy: appended at *at inside the block, or NULL. */
static const char *
copy_str(char **at, const char *s)
{
	size_t n;
	char *p = *at;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at += n;
	return p;
}

/* A copy of the view of c in one allocation (free with free()). */
static struct authority_cert *
cert_copy(const struct store_cert *c)
{
	struct authority_cert v, *out;
	size_t len = sizeof(*out) + c->der_len;
	char *at;

	cert_view(c, &v);
	len += (v.subject ? strlen(v.subject) + 1 : 0) +
	    (v.device_id ? strlen(v.device_id) + 1 : 0) +
	    (v.profile ? strlen(v.profile) + 1 : 0);
	if ((out = malloc(len)) == NULL)
		return NULL;
	*out = v;
	at = (char *)(out + 1);
	memcpy(at, c->der, c->der_len);
	out->der = (const uint8_t *)at;
	at += c->der_len;
	out->subject = copy_str(&at, v.subject);
	out->device_id = copy_str(&at, v.device_id);
	out->profile = copy_str(&at, v.profile);
	return out;
}

void
authority_cert_free(struct authority_cert *cert)
{
	free(cert);
}

enum status
authority_cert_get(struct authority *a, const struct principal *who,
    const char *serial, struct authority_cert **out)
{
	char hex[STORE_SERIAL_HEX_CAP], object[OBJECT_CAP];
	struct store_cert *row = NULL;
	enum status st;

	*out = NULL;
	if ((st = serial_normalize(serial, hex)) != ST_OK)
		return admin_refuse(a, who, "read", serial, st);
	snprintf(object, sizeof(object), "certificate %s", hex);
	if ((st = admin_read(a, who, "read", object, "")) != ST_OK)
		return st;
	if ((st = store_cert_get(a->store, hex, &row)) != ST_OK)
		return st;
	if ((*out = cert_copy(row)) == NULL)
		st = ST_NOMEM;
	store_cert_free(row);
	return st;
}

/* A caller's function over views, behind the store's over rows. */
struct view_walk {
	int (*cert)(const struct authority_cert *c, void *arg);
	int (*feed)(const struct authority_feed_entry *r, void *arg);
	int (*audit)(const struct authority_audit_entry *e, void *arg);
	int (*secret)(const struct authority_secret *s, void *arg);
	void *arg;
	size_t left; /* audit: entries still wanted */
};

static int
cert_walk(const struct store_cert *c, void *arg)
{
	struct view_walk *w = arg;
	struct authority_cert v;

	cert_view(c, &v);
	return w->cert(&v, w->arg);
}

enum status
authority_cert_list(struct authority *a, const struct principal *who,
    const struct authority_cert_filter *f,
    int (*fn)(const struct authority_cert *cert, void *arg), void *arg)
{
	struct view_walk w = {.cert = fn, .arg = arg};
	struct store_cert_filter g;
	char cursor[STORE_SERIAL_HEX_CAP], detail[LIMIT_AUDIT_DETAIL];
	char q1[LIMIT_NAME_LEN + 8], q2[LIMIT_NAME_LEN + 8];
	enum status st;

	memset(&g, 0, sizeof(g));
	g.device_id = f->device_id;
	g.status = f->status == AUTHORITY_CERT_VALID ? STORE_CERT_VALID
	    : f->status == AUTHORITY_CERT_REVOKED    ? STORE_CERT_REVOKED
	                                             : -1;
	g.profile = f->profile;
	g.expiring_before = f->expiring_before;
	g.cursor = f->cursor;
	g.limit = f->limit;
	if (f->cursor != NULL && f->cursor[0] != '\0') {
		if ((st = serial_normalize_as(f->cursor, 1, cursor)) != ST_OK)
			return admin_refuse(a, who, "read", "certificates", st);
		g.cursor = cursor;
	}
	if (f->device_id != NULL &&
	    (st = ca_device_id_check(f->device_id, NULL)) != ST_OK)
		return admin_refuse(a, who, "read", "certificates", st);
	snprintf(detail, sizeof(detail),
	    "device=%s status=%s profile=%s expiring_before=%lld limit=%zu "
	    "cursor=%s",
	    f->device_id != NULL ? log_quote(f->device_id, q1, sizeof(q1))
	                         : "-",
	    f->status == AUTHORITY_CERT_VALID         ? "valid"
	        : f->status == AUTHORITY_CERT_REVOKED ? "revoked"
	                                              : "any",
	    f->profile != NULL ? log_quote(f->profile, q2, sizeof(q2)) : "-",
	    (long long)f->expiring_before, f->limit,
	    g.cursor != NULL && g.cursor[0] != '\0' ? g.cursor : "-");
	if ((st = admin_read(a, who, "read", "certificates", detail)) != ST_OK)
		return st;
	return store_cert_list(a->store, &g, cert_walk, &w);
}

enum status
authority_device_get(struct authority *a, const struct principal *who,
    const char *device_id, struct authority_device *out)
{
	struct store_device d;
	char object[OBJECT_CAP];
	enum status st;

	memset(out, 0, sizeof(*out));
	if ((st = ca_device_id_check(device_id, NULL)) != ST_OK)
		return admin_refuse(a, who, "read", device_id, st);
	snprintf(object, sizeof(object), "device %s", device_id);
	if ((st = admin_read(a, who, "read", object, "")) != ST_OK)
		return st;
	if ((st = store_device_get(a->store, device_id, &d)) != ST_OK)
		return st;
	_Static_assert(sizeof(out->family) == sizeof(d.family) &&
	        sizeof(out->authenticator) == sizeof(d.authenticator),
	    "a device's view holds its row's names");
	out->is_blocked = d.is_blocked;
	memcpy(out->family, d.family, sizeof(out->family));
	memcpy(out->authenticator, d.authenticator, sizeof(out->authenticator));
	out->created = d.created;
	out->updated = d.updated;
	out->cert_count = d.cert_count;
	out->valid_count = d.valid_count;
	return ST_OK;
}

/*
 * admin_read for a page of a feed: limit must be 1..STORE_LIST_LIMIT_MAX,
 * as the store wants it; since and limit go into the audit detail.
 */
static enum status
admin_read_page(struct authority *a, const struct principal *who,
    const char *action, const char *object, int64_t since, size_t limit)
{
	char detail[64];

	if (limit < 1 || limit > STORE_LIST_LIMIT_MAX)
		return admin_refuse(a, who, "read", object,
		    status_fail(ST_MALFORMED, "limit %zu is outside 1..%d",
		        limit, STORE_LIST_LIMIT_MAX));
	snprintf(detail, sizeof(detail), "since=%lld limit=%zu",
	    (long long)since, limit);
	return admin_read(a, who, action, object, detail);
}

static int
feed_walk(const struct store_revocation *r, void *arg)
{
	struct view_walk *w = arg;
	struct authority_feed_entry v = {
	    r->seq, r->serial, r->device_id, r->reason, r->time};

	return w->feed(&v, w->arg);
}

enum status
authority_revocations_since(struct authority *a, const struct principal *who,
    int64_t since, size_t limit,
    int (*fn)(const struct authority_feed_entry *r, void *arg), void *arg)
{
	struct view_walk w = {.feed = fn, .arg = arg};
	enum status st;

	if ((st = admin_read_page(
	         a, who, "feed", "revocations", since, limit)) != ST_OK)
		return st;
	return store_revocations_since(a->store, since, limit, feed_walk, &w);
}

static int
audit_walk(const struct store_audit *entry, void *arg)
{
	struct view_walk *w = arg;
	struct authority_audit_entry v = {entry->seq, entry->time, entry->actor,
	    entry->action, entry->object, entry->detail};

	if (w->left == 0)
		return 1;
	w->left--;
	if (w->audit(&v, w->arg) != 0)
		return 1;
	return w->left == 0;
}

enum status
authority_audit_since(struct authority *a, const struct principal *who,
    int64_t since, size_t limit,
    int (*fn)(const struct authority_audit_entry *entry, void *arg), void *arg)
{
	struct view_walk w = {.audit = fn, .arg = arg, .left = limit};
	enum status st;

	if ((st = admin_read_page(a, who, "audit", "audit", since, limit)) !=
	    ST_OK)
		return st;
	return store_audit_foreach(a->store, since, audit_walk, &w);
}

static int
secret_walk(const struct store_secret *s, void *arg)
{
	struct view_walk *w = arg;
	struct authority_secret v = {s->id, s->device_id, s->profile,
	    s->minter_kind, s->minter_id, s->minter_serial, s->created,
	    s->expires, s->consumed_at, s->consumed_serial, s->cancelled_at,
	    s->cancelled_by};

	return w->secret(&v, w->arg);
}

/*
 * A minter filter as the API and CLI name it: "operator", or the serial
 * of the minting certificate (any case) into serial.
 */
static enum status
minter_parse(const char *minter, struct store_secret_filter *f,
    char serial[STORE_SERIAL_HEX_CAP])
{
	enum status st;

	if (minter == NULL)
		return ST_OK;
	if (strcmp(minter, "operator") == 0) {
		f->minter_kind = "operator";
		return ST_OK;
	}
	if ((st = serial_normalize(minter, serial)) != ST_OK)
		return status_fail(ST_MALFORMED,
		    "minter is \"operator\" or the serial of the minting "
		    "certificate: %s",
		    status_detail());
	f->minter_kind = "cert";
	f->minter_serial = serial;
	return ST_OK;
}

enum status
authority_secret_list(struct authority *a, const struct principal *who,
    const char *minter, const char *device_id, const char *profile,
    int is_outstanding, int64_t after_id, size_t limit,
    int (*fn)(const struct authority_secret *s, void *arg), void *arg)
{
	struct view_walk w = {.secret = fn, .arg = arg};
	struct store_secret_filter f;
	char serial[STORE_SERIAL_HEX_CAP], detail[LIMIT_AUDIT_DETAIL];
	char q1[LIMIT_NAME_LEN + 8], q2[LIMIT_NAME_LEN + 8];
	char q3[LIMIT_NAME_LEN + 8];
	enum status st;

	memset(&f, 0, sizeof(f));
	if ((st = minter_parse(minter, &f, serial)) != ST_OK ||
	    (device_id != NULL &&
	        (st = ca_device_id_check(device_id, NULL)) != ST_OK))
		return admin_refuse(a, who, "read", "secrets", st);
	if (limit < 1 || limit > STORE_LIST_LIMIT_MAX || after_id < 0)
		return admin_refuse(a, who, "read", "secrets",
		    status_fail(ST_MALFORMED,
		        "limit %zu is outside 1..%d or the cursor is negative",
		        limit, STORE_LIST_LIMIT_MAX));
	f.device_id = device_id;
	f.profile = profile;
	f.is_outstanding = is_outstanding;
	f.now = (int64_t)time(NULL);
	f.after_id = after_id;
	f.limit = limit;
	snprintf(detail, sizeof(detail),
	    "minter=%s device=%s profile=%s status=%s cursor=%lld limit=%zu",
	    minter != NULL ? log_quote(minter, q1, sizeof(q1)) : "-",
	    device_id != NULL ? log_quote(device_id, q2, sizeof(q2)) : "-",
	    profile != NULL ? log_quote(profile, q3, sizeof(q3)) : "-",
	    is_outstanding ? "outstanding" : "any", (long long)after_id, limit);
	if ((st = admin_read(a, who, "secrets", "secrets", detail)) != ST_OK)
		return st;
	return store_secret_list(a->store, &f, secret_walk, &w);
}

struct cancel_job {
	int64_t id; /* one secret, or */
	struct store_secret_filter f; /* all that match */
	int64_t now;
	const char *actor;
	const char *object;
	size_t count; /* out */
};

static enum status
cancel_commit(struct store_txn *txn, void *arg)
{
	struct cancel_job *job = arg;
	char detail[64];
	enum status st;

	job->count = 0;
	if (job->id > 0) {
		if ((st = store_txn_secret_cancel(
		         txn, job->id, job->now, job->actor)) != ST_OK)
			return st;
		job->count = 1;
	} else if ((st = store_txn_secrets_cancel(txn, &job->f, job->now,
	                job->actor, &job->count)) != ST_OK) {
		return st;
	}
	snprintf(detail, sizeof(detail), "cancelled=%zu", job->count);
	return audit_append(
	    txn, job->now, job->actor, "secret-cancel", job->object, detail);
}

enum status
authority_secret_cancel(
    struct authority *a, const struct principal *who, int64_t id)
{
	struct cancel_job job;
	char actor[AUTHORITY_ACTOR_CAP], object[OBJECT_CAP];
	enum status st;

	memset(&job, 0, sizeof(job));
	snprintf(object, sizeof(object), "secret %lld", (long long)id);
	if ((st = authorize_admin(a, who, "cancel")) != ST_OK)
		return admin_refuse(a, who, "secret-cancel", object, st);
	if (id < 1)
		return admin_refuse(a, who, "secret-cancel", object,
		    status_fail(
		        ST_MALFORMED, "a secret id is a positive integer"));
	principal_describe(who, actor, sizeof(actor));
	job.id = id;
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	job.object = object;
	if ((st = store_write(a->store, cancel_commit, &job)) != ST_OK)
		return admin_refuse(a, who, "secret-cancel", object, st);
	log_info("cancelled %s by %s", object, actor);
	return ST_OK;
}

enum status
authority_secrets_cancel(struct authority *a, const struct principal *who,
    const char *minter, const char *device_id, size_t *count)
{
	struct cancel_job job;
	char actor[AUTHORITY_ACTOR_CAP], object[OBJECT_CAP + LIMIT_NAME_LEN];
	char serial[STORE_SERIAL_HEX_CAP];
	enum status st;

	*count = 0;
	memset(&job, 0, sizeof(job));
	if ((st = authorize_admin(a, who, "cancel")) != ST_OK)
		return admin_refuse(a, who, "secret-cancel", "secrets", st);
	if (minter == NULL && device_id == NULL)
		return admin_refuse(a, who, "secret-cancel", "secrets",
		    status_fail(
		        ST_MALFORMED, "cancel needs a minter or a device"));
	if ((st = minter_parse(minter, &job.f, serial)) != ST_OK ||
	    (device_id != NULL &&
	        (st = ca_device_id_check(device_id, NULL)) != ST_OK))
		return admin_refuse(a, who, "secret-cancel", "secrets", st);
	job.f.device_id = device_id;
	snprintf(object, sizeof(object), "secrets minter=%s device=%s",
	    minter != NULL ? (job.f.minter_serial != NULL ? serial : minter)
	                   : "-",
	    device_id != NULL ? device_id : "-");
	principal_describe(who, actor, sizeof(actor));
	job.now = (int64_t)time(NULL);
	job.actor = actor;
	job.object = object;
	if ((st = store_write(a->store, cancel_commit, &job)) != ST_OK)
		return admin_refuse(a, who, "secret-cancel", "secrets", st);
	log_info("cancelled %zu %s by %s", job.count, object, actor);
	*count = job.count;
	return ST_OK;
}
