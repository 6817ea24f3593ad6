/*
 * audit: the hash chain over the audit table and its signed checkpoints.
 * The store keeps the rows; this file decides what an entry's hash is,
 * what a checkpoint signs, and whether a chain holds.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "common/digest.h"
#include "common/b64url.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"
#include "signer/signer.h"

#define HASH_LEN 32
#define HASH_HEX_LEN (2 * HASH_LEN)
/* The same capacity as the thread-local detail line in common/status.c. */
#define VERIFY_DETAIL_CAP 512

#define CHECKPOINT_ACTOR "tessera"
#define CHECKPOINT_ACTION "checkpoint"
/* Domain separation: these bytes start every message the audit key signs. */
#define CHECKPOINT_LABEL "tessera audit checkpoint v1"
#define CHECKPOINT_LABEL_LEN (sizeof(CHECKPOINT_LABEL) - 1)
/* be64(label length) || label || be64(seq) || hash */
#define CHECKPOINT_MSG_LEN (8 + CHECKPOINT_LABEL_LEN + 8 + HASH_LEN)
/* A DER signature: ECDSA P-256 needs 72 bytes; room for RSA-4096. */
#define CHECKPOINT_SIG_MAX 512
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define CHECKPOINT_HASH_PREFIX "hash="
#define CHECKPOINT_SIG_PREFIX " sig="
/* "hash=HEX sig=BASE64" */
#define CHECKPOINT_DETAIL_CAP                                                  \
	(sizeof(CHECKPOINT_HASH_PREFIX) - 1 + HASH_HEX_LEN +                   \
	    sizeof(CHECKPOINT_SIG_PREFIX) - 1 + B64_LEN(CHECKPOINT_SIG_MAX) +  \
	    1)
_Static_assert(CHECKPOINT_DETAIL_CAP <= LIMIT_AUDIT_DETAIL + 1,
    "a checkpoint's detail must not be cut");
/*
 * Before a checkpoint is signed the newest entry is looked at on the read
 * connection (the writer cannot tell a checkpoint from its hash). When
 * entries keep arriving in between, the last attempt signs whatever is
 * newest rather than leave a busy log without checkpoints.
 */
#define CHECKPOINT_TRIES 3

static void
be64(uint8_t out[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

/* A length-prefixed string, so that no two field lists encode alike. */
static int
hash_field(EVP_MD_CTX *ctx, const char *s)
{
	uint8_t len[8];
	size_t n;

	if (s == NULL)
		s = "";
	n = strlen(s);
	be64(len, (uint64_t)n);
	return EVP_DigestUpdate(ctx, len, sizeof(len)) &&
	    EVP_DigestUpdate(ctx, s, n);
}

static enum status
entry_hash(const struct store_audit *e, uint8_t out[HASH_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t num[16];
	unsigned int len = 0;
	enum status st = ST_INTERNAL;

	memset(out, 0, HASH_LEN);
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		st = status_fail_ssl(ST_NOMEM, "audit: hash context");
		goto out;
	}
	be64(num, (uint64_t)e->seq);
	be64(num + 8, (uint64_t)e->time);
	if (!EVP_DigestInit_ex(ctx, digest_md(DIGEST_SHA256), NULL) ||
	    !EVP_DigestUpdate(ctx, e->prev_hash, HASH_LEN) ||
	    !EVP_DigestUpdate(ctx, num, sizeof(num)) ||
	    !hash_field(ctx, e->actor) || !hash_field(ctx, e->action) ||
	    !hash_field(ctx, e->object) || !hash_field(ctx, e->detail) ||
	    !EVP_DigestFinal_ex(ctx, out, &len) || len != HASH_LEN) {
		memset(out, 0, HASH_LEN);
		status_fail_ssl(ST_INTERNAL, "audit: SHA-256 failed");
		goto out;
	}
	st = ST_OK;
out:
	EVP_MD_CTX_free(ctx);
	return st;
}

void
audit_entry_hash(const struct store_audit *e, uint8_t out[32])
{
	if (entry_hash(e, out) != ST_OK)
		memset(out, 0, HASH_LEN);
}

/*
 * A field as it is stored: control characters as \xNN (log_escape), so
 * that no value from outside (a device id, a name from a CSR, a header)
 * reads as another entry wherever the audit is printed. *tmp holds the
 * copy when one was needed (the caller frees it); *out is what to store.
 */
static enum status
field_escape(const char *in, char **tmp, const char **out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n;

	*tmp = NULL;
	*out = in;
	while (*p != '\0' && *p >= 0x20 && *p != 0x7f)
		p++;
	if (*p == '\0')
		return ST_OK;
	n = 4 * strlen(in) + 1;
	if ((*tmp = malloc(n)) == NULL)
		return ST_NOMEM;
	log_escape(in, *tmp, n);
	*out = *tmp;
	return ST_OK;
}

enum status
audit_append(struct store_txn *txn, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail)
{
	struct store_audit e;
	char cut[LIMIT_AUDIT_DETAIL + 1], *tmp[4] = {NULL, NULL, NULL, NULL};
	const char *field[4];
	size_t n, i;
	enum status st;

	memset(&e, 0, sizeof(e));
	if (detail == NULL)
		detail = "";
	n = strlen(detail);
	if (n > LIMIT_AUDIT_DETAIL) {
		n = LIMIT_AUDIT_DETAIL;
		/* Do not leave half a UTF-8 sequence at the end. */
		while (n > 0 && ((unsigned char)detail[n] & 0xc0) == 0x80)
			n--;
		memcpy(cut, detail, n);
		cut[n] = '\0';
		detail = cut;
	}
	field[0] = actor != NULL ? actor : "";
	field[1] = action != NULL ? action : "";
	field[2] = object != NULL ? object : "";
	field[3] = detail;
	for (i = 0; i < 4; i++)
		if ((st = field_escape(field[i], &tmp[i], &field[i])) != ST_OK)
			goto out;
	if ((st = store_txn_audit_last(txn, &e.seq, e.prev_hash)) != ST_OK)
		goto out;
	e.seq++;
	e.time = now;
	e.actor = (char *)field[0];
	e.action = (char *)field[1];
	e.object = (char *)field[2];
	e.detail = (char *)field[3];
	if ((st = entry_hash(&e, e.hash)) != ST_OK)
		goto out;
	st = store_txn_audit_insert(txn, &e);
out:
	for (i = 0; i < 4; i++)
		free(tmp[i]);
	return st;
}

struct record_job {
	int64_t now;
	const char *actor;
	const char *action;
	const char *object;
	const char *detail;
};

static enum status
record_commit(struct store_txn *txn, void *arg)
{
	const struct record_job *job = arg;

	return audit_append(
	    txn, job->now, job->actor, job->action, job->object, job->detail);
}

enum status
audit_record(struct store *store, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail)
{
	struct record_job job;

	job.now = now;
	job.actor = actor;
	job.action = action;
	job.object = object;
	job.detail = detail;
	return store_write(store, record_commit, &job);
}

/* Exactly 2 * n hex digits from s into out; 0, or -1 when s is not that. */
static int
hex_decode(const char *s, size_t n, uint8_t *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if ((hi = hex_value(s[2 * i])) < 0 ||
		    (lo = hex_value(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Strict base64 (RFC 4648 §4, padded, no whitespace) of at most
 * CHECKPOINT_SIG_MAX bytes into out; the length, or -1.
 */
static int
b64_decode(const char *s, uint8_t out[CHECKPOINT_SIG_MAX])
{
	uint8_t buf[B64_LEN(CHECKPOINT_SIG_MAX)];
	size_t len = strlen(s), i, pad = 0;
	int n;

	if (len == 0 || len % 4 != 0 || len > B64_LEN(CHECKPOINT_SIG_MAX))
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (b64_digit((unsigned char)s[i], 0) < 0)
			return -1;
	n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > CHECKPOINT_SIG_MAX)
		return -1;
	memcpy(out, buf, (size_t)n - pad);
	return n - (int)pad;
}

/* What the audit key signs for a checkpoint over entry seq with hash. */
static void
checkpoint_message(
    int64_t seq, const uint8_t hash[HASH_LEN], uint8_t out[CHECKPOINT_MSG_LEN])
{
	uint8_t *p = out;

	be64(p, (uint64_t)CHECKPOINT_LABEL_LEN);
	p += 8;
	memcpy(p, CHECKPOINT_LABEL, CHECKPOINT_LABEL_LEN);
	p += CHECKPOINT_LABEL_LEN;
	be64(p, (uint64_t)seq);
	p += 8;
	memcpy(p, hash, HASH_LEN);
}

/* Sign a checkpoint over (seq, hash) with key: its detail into out. */
static enum status
checkpoint_sign(const struct signer_key *key, int64_t seq,
    const uint8_t hash[HASH_LEN], char out[CHECKPOINT_DETAIL_CAP])
{
	uint8_t msg[CHECKPOINT_MSG_LEN], *sig = NULL;
	char hex[HASH_HEX_LEN + 1], b64[B64_LEN(CHECKPOINT_SIG_MAX) + 1];
	size_t sig_len = 0;
	enum status st;

	out[0] = '\0';
	checkpoint_message(seq, hash, msg);
	if ((st = signer_sign(key, SIGNER_PURPOSE_AUDIT, NID_sha256, msg,
	         sizeof(msg), &sig, &sig_len)) != ST_OK)
		return st;
	if (sig_len == 0 || sig_len > CHECKPOINT_SIG_MAX) {
		st = status_fail(ST_INTERNAL,
		    "audit: a %zu-byte signature does not fit a checkpoint",
		    sig_len);
		goto out;
	}
	hex_encode(hash, HASH_LEN, hex);
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len);
	snprintf(out, CHECKPOINT_DETAIL_CAP, "%s%s%s%s", CHECKPOINT_HASH_PREFIX,
	    hex, CHECKPOINT_SIG_PREFIX, b64);
	st = ST_OK;
out:
	OPENSSL_free(sig);
	return st;
}

struct checkpoint_job {
	const struct signer_key *key;
	int64_t now;
	/* Sign only while the newest entry is still this one (is_forced: sign
	 * whatever is newest). expect_seq -1 matches nothing. */
	int is_forced;
	int64_t expect_seq;
	uint8_t expect_hash[HASH_LEN];
	/* Out: the newest entry seen, and whether a checkpoint followed it. */
	int64_t last_seq;
	uint8_t last_hash[HASH_LEN];
	int is_written;
};

static enum status
checkpoint_commit(struct store_txn *txn, void *arg)
{
	struct checkpoint_job *j = arg;
	char object[32], detail[CHECKPOINT_DETAIL_CAP];
	enum status st;

	j->is_written = 0;
	if ((st = store_txn_audit_last(txn, &j->last_seq, j->last_hash)) !=
	    ST_OK)
		return st;
	if (j->last_seq == 0)
		return ST_OK;
	if (!j->is_forced &&
	    (j->last_seq != j->expect_seq ||
	        memcmp(j->last_hash, j->expect_hash, HASH_LEN) != 0))
		return ST_OK;
	/* Signed in the transaction, so that nothing lands between the entry
	 * covered and its checkpoint. */
	if ((st = checkpoint_sign(j->key, j->last_seq, j->last_hash, detail)) !=
	    ST_OK)
		return st;
	snprintf(object, sizeof(object), "seq:%lld", (long long)j->last_seq);
	if ((st = audit_append(txn, j->now, CHECKPOINT_ACTOR, CHECKPOINT_ACTION,
	         object, detail)) != ST_OK)
		return st;
	j->is_written = 1;
	return ST_OK;
}

static int
is_checkpoint(const struct store_audit *e)
{
	return strcmp(e->action, CHECKPOINT_ACTION) == 0;
}

struct newest {
	int64_t seq;
	uint8_t hash[HASH_LEN];
	int is_checkpoint;
};

static int
newest_entry(const struct store_audit *e, void *arg)
{
	struct newest *n = arg;

	n->is_checkpoint = e->seq == n->seq &&
	    memcmp(e->hash, n->hash, HASH_LEN) == 0 && is_checkpoint(e);
	return 1;
}

enum status
audit_checkpoint(struct store *store, const struct signer_key *key, int64_t now,
    int *written)
{
	struct checkpoint_job j;
	struct newest n;
	enum status st;
	int tries;

	if (written != NULL)
		*written = 0;
	memset(&j, 0, sizeof(j));
	j.key = key;
	j.now = now;
	j.expect_seq = -1;
	for (tries = 0; tries <= CHECKPOINT_TRIES; tries++) {
		j.is_forced = tries == CHECKPOINT_TRIES;
		if ((st = store_write(store, checkpoint_commit, &j)) != ST_OK)
			return st;
		if (j.is_written || j.last_seq == 0)
			break;
		/* Nothing written: is the newest entry a checkpoint? */
		memset(&n, 0, sizeof(n));
		n.seq = j.last_seq;
		memcpy(n.hash, j.last_hash, HASH_LEN);
		if ((st = store_audit_foreach(
		         store, j.last_seq - 1, newest_entry, &n)) != ST_OK)
			return st;
		if (n.is_checkpoint)
			break;
		j.expect_seq = j.last_seq;
		memcpy(j.expect_hash, j.last_hash, HASH_LEN);
	}
	if (written != NULL)
		*written = j.is_written;
	return ST_OK;
}

struct verify {
	EVP_PKEY *pub; /* NULL: signatures are not checked */
	int64_t next; /* the seq the next entry must have */
	uint8_t prev[HASH_LEN];
	int64_t count;
	int64_t bad; /* 0 while the chain holds */
	int64_t checkpoint;
	int64_t checkpoint_count;
	uint8_t checkpoint_hash[HASH_LEN];
	char detail[VERIFY_DETAIL_CAP];
};

static int
signature_holds(EVP_PKEY *pub, int64_t seq, const uint8_t hash[HASH_LEN],
    const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx;
	uint8_t msg[CHECKPOINT_MSG_LEN];
	int ok;

	checkpoint_message(seq, hash, msg);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	/* A failed verification leaves OpenSSL errors that say nothing more. */
	ERR_clear_error();
	return ok;
}

/*
 * A checkpoint at e covers the entry before it, whose hash the chain has
 * just checked to be e->prev_hash. 0 when it holds, else -1 with v->detail.
 */
static int
verify_checkpoint(struct verify *v, const struct store_audit *e)
{
	const size_t hp = sizeof(CHECKPOINT_HASH_PREFIX) - 1;
	const size_t sp = sizeof(CHECKPOINT_SIG_PREFIX) - 1;
	uint8_t hash[HASH_LEN], sig[CHECKPOINT_SIG_MAX];
	char want[32], q[64];
	long long seq = (long long)e->seq;
	int sig_len;

	if (strcmp(e->actor, CHECKPOINT_ACTOR) != 0) {
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: a checkpoint by %s, not %s", seq,
		    log_quote(e->actor, q, sizeof(q)), CHECKPOINT_ACTOR);
		return -1;
	}
	snprintf(want, sizeof(want), "seq:%lld", seq - 1);
	if (strcmp(e->object, want) != 0) {
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: the checkpoint names %s, not %s (the "
		    "entry before it)",
		    seq, log_quote(e->object, q, sizeof(q)), want);
		return -1;
	}
	if (strlen(e->detail) <= hp + HASH_HEX_LEN + sp ||
	    strncmp(e->detail, CHECKPOINT_HASH_PREFIX, hp) != 0 ||
	    hex_decode(e->detail + hp, HASH_LEN, hash) != 0 ||
	    strncmp(e->detail + hp + HASH_HEX_LEN, CHECKPOINT_SIG_PREFIX, sp) !=
	        0 ||
	    (sig_len = b64_decode(e->detail + hp + HASH_HEX_LEN + sp, sig)) <=
	        0) {
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: the checkpoint's detail is not "
		    "\"hash=HEX sig=BASE64\"",
		    seq);
		return -1;
	}
	if (CRYPTO_memcmp(hash, e->prev_hash, HASH_LEN) != 0) {
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: the checkpoint signed another hash for "
		    "entry %lld: entries up to %lld were changed",
		    seq, seq - 1, seq - 1);
		return -1;
	}
	if (v->pub != NULL &&
	    !signature_holds(v->pub, e->seq - 1, hash, sig, (size_t)sig_len)) {
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: the checkpoint's signature does not "
		    "verify with the audit public key",
		    seq);
		return -1;
	}
	return 0;
}

static int
verify_entry(const struct store_audit *e, void *arg)
{
	struct verify *v = arg;
	uint8_t h[HASH_LEN];

	if (e->seq != v->next) {
		v->bad = v->next;
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld is missing (found %lld)",
		    (long long)v->next, (long long)e->seq);
		return 1;
	}
	if (CRYPTO_memcmp(e->prev_hash, v->prev, HASH_LEN) != 0) {
		v->bad = e->seq;
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: previous hash does not match entry %lld",
		    (long long)e->seq, (long long)e->seq - 1);
		return 1;
	}
	audit_entry_hash(e, h);
	if (CRYPTO_memcmp(e->hash, h, HASH_LEN) != 0) {
		v->bad = e->seq;
		snprintf(v->detail, sizeof(v->detail),
		    "audit entry %lld: hash does not match its content",
		    (long long)e->seq);
		return 1;
	}
	if (is_checkpoint(e)) {
		if (verify_checkpoint(v, e) != 0) {
			v->bad = e->seq;
			return 1;
		}
		v->checkpoint = e->seq;
		v->checkpoint_count++;
		memcpy(v->checkpoint_hash, e->hash, HASH_LEN);
	}
	memcpy(v->prev, e->hash, HASH_LEN);
	v->next++;
	v->count++;
	return 0;
}

enum status
audit_verify_report(
    struct store *store, EVP_PKEY *pub, struct audit_report *out)
{
	struct verify v;
	enum status st;

	memset(out, 0, sizeof(*out));
	memset(&v, 0, sizeof(v));
	v.pub = pub;
	v.next = 1;
	if ((st = store_audit_foreach(store, 0, verify_entry, &v)) != ST_OK)
		return st;
	if (v.bad != 0) {
		out->first_bad = v.bad;
		return status_fail(ST_CONFLICT, "%s", v.detail);
	}
	out->count = v.count;
	out->checkpoint = v.checkpoint;
	out->checkpoint_count = v.checkpoint_count;
	out->unsigned_count = v.count - v.checkpoint;
	memcpy(out->checkpoint_hash, v.checkpoint_hash, HASH_LEN);
	return ST_OK;
}

enum status
audit_verify(struct store *store, int64_t *count, int64_t *first_bad)
{
	struct audit_report r;
	enum status st;

	if (count != NULL)
		*count = 0;
	if (first_bad != NULL)
		*first_bad = 0;
	st = audit_verify_report(store, NULL, &r);
	if (st == ST_CONFLICT && first_bad != NULL)
		*first_bad = r.first_bad;
	if (st == ST_OK && count != NULL)
		*count = r.count;
	return st;
}

void
audit_anchor_format(const struct audit_report *r, char out[AUDIT_ANCHOR_CAP])
{
	char hex[HASH_HEX_LEN + 1];

	out[0] = '\0';
	if (r->checkpoint == 0)
		return;
	hex_encode(r->checkpoint_hash, HASH_LEN, hex);
	snprintf(
	    out, AUDIT_ANCHOR_CAP, "%lld:%s", (long long)r->checkpoint, hex);
}

struct anchor {
	int64_t seq;
	uint8_t hash[HASH_LEN];
	int is_found;
	int is_same;
};

static int
anchor_entry(const struct store_audit *e, void *arg)
{
	struct anchor *a = arg;

	a->is_found = e->seq == a->seq;
	a->is_same = a->is_found && memcmp(e->hash, a->hash, HASH_LEN) == 0;
	return 1;
}

enum status
audit_anchor_check(struct store *store, const char *anchor)
{
	struct anchor a;
	const char *colon;
	char *end;
	long long seq;
	enum status st;

	memset(&a, 0, sizeof(a));
	colon = strchr(anchor, ':');
	if (colon == NULL || colon == anchor || anchor[0] < '1' ||
	    anchor[0] > '9' || strlen(colon + 1) != HASH_HEX_LEN ||
	    hex_decode(colon + 1, HASH_LEN, a.hash) != 0)
		return status_fail(ST_MALFORMED,
		    "an audit anchor is SEQ:HEX (a seq and a 64-digit "
		    "SHA-256), as audit verify prints it");
	seq = strtoll(anchor, &end, 10);
	if (end != colon || seq <= 0 || seq == LLONG_MAX)
		return status_fail(
		    ST_MALFORMED, "the audit anchor's seq is not a number");
	a.seq = (int64_t)seq;
	if ((st = store_audit_foreach(store, a.seq - 1, anchor_entry, &a)) !=
	    ST_OK)
		return st;
	if (!a.is_found)
		return status_fail(ST_CONFLICT,
		    "audit entry %lld, which the anchor names, is not in the "
		    "log: the log was cut off below it",
		    seq);
	if (!a.is_same)
		return status_fail(ST_CONFLICT,
		    "audit entry %lld does not have the hash the anchor holds: "
		    "entries up to %lld were changed",
		    seq, seq);
	return ST_OK;
}

/*
 * The store's state against the audit history. What the log says happened
 * is collected first (per certificate, device and secret: the entry that
 * says so), then every row is held against it. Only a row that is less
 * restricted than its history (or has none) is a finding: that is what a
 * write behind tessera's back looks like.
 */

struct cert_fact {
	char serial[STORE_SERIAL_HEX_CAP];
	char profile[LIMIT_LABEL_LEN + 1];
	char device[LIMIT_NAME_LEN + 1]; /* "" when the entry names none */
	int64_t issued; /* seq of its issue entry */
	int64_t revoked; /* seq of its revoke entry; 0: none */
};

struct device_fact {
	char id[LIMIT_NAME_LEN + 1];
	int64_t blocked; /* seq of the last revoke-device; 0: none */
	int64_t unblocked; /* seq of the last reinstate; 0: none */
};

struct secret_fact {
	int64_t id;
	int64_t used; /* seq of the entry that used it */
};

struct facts {
	struct cert_fact *certs;
	size_t cert_count, cert_cap;
	struct device_fact *devices;
	size_t device_count, device_cap;
	struct secret_fact *secrets;
	size_t secret_count, secret_cap;
	int is_oom;
	/* The findings. */
	audit_finding_fn fn;
	void *arg;
	size_t findings;
};

static void *
facts_grow(void *arr, size_t *cap, size_t count, size_t size, int *is_oom)
{
	void *grown;

	if (count < *cap)
		return arr;
	if ((grown = reallocarray(arr, *cap ? *cap * 2 : 64, size)) == NULL) {
		*is_oom = 1;
		return NULL;
	}
	*cap = *cap ? *cap * 2 : 64;
	return grown;
}

/*
 * The value of "key=" in a detail of space-separated words, before its
 * "subject=", into out.
 */
static int
detail_word(const char *detail, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key), n;
	const char *p = detail;

	while (p != NULL && *p != '\0') {
		/* The subject comes last and may hold anything. */
		if (strncmp(p, "subject=", 8) == 0)
			return 0;
		if (strncmp(p, key, klen) == 0) {
			n = strcspn(p + klen, " ");
			if (n == 0 || n >= cap)
				return 0;
			memcpy(out, p + klen, n);
			out[n] = '\0';
			return 1;
		}
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	return 0;
}

static struct cert_fact *
cert_fact_add(struct facts *f, const char *serial)
{
	struct cert_fact *c;

	c = facts_grow(
	    f->certs, &f->cert_cap, f->cert_count, sizeof(*c), &f->is_oom);
	if (c == NULL)
		return NULL;
	f->certs = c;
	c = &f->certs[f->cert_count++];
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	return c;
}

static struct device_fact *
device_fact_add(struct facts *f, const char *id)
{
	struct device_fact *d;

	d = facts_grow(f->devices, &f->device_cap, f->device_count, sizeof(*d),
	    &f->is_oom);
	if (d == NULL)
		return NULL;
	f->devices = d;
	d = &f->devices[f->device_count++];
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	return d;
}

static void
secret_fact_add(struct facts *f, const char *detail, int64_t seq)
{
	struct secret_fact *s;
	char word[24], *end;
	long long id;

	if (!detail_word(detail, "secret=", word, sizeof(word)))
		return;
	id = strtoll(word, &end, 10);
	if (*end != '\0' || id <= 0)
		return;
	s = facts_grow(f->secrets, &f->secret_cap, f->secret_count, sizeof(*s),
	    &f->is_oom);
	if (s == NULL)
		return;
	f->secrets = s;
	f->secrets[f->secret_count].id = (int64_t)id;
	f->secrets[f->secret_count++].used = seq;
}

/* One audit entry: what it says about a row, as a fact. */
static int
fact_entry(const struct store_audit *e, void *arg)
{
	struct facts *f = arg;
	struct cert_fact *c;
	struct device_fact *d;

	if (strcmp(e->action, "issue") == 0) {
		if ((c = cert_fact_add(f, e->object)) == NULL)
			return 1;
		c->issued = e->seq;
		if (!detail_word(
		        e->detail, "profile=", c->profile, sizeof(c->profile)))
			c->profile[0] = '\0';
		if (!detail_word(
		        e->detail, "device=", c->device, sizeof(c->device)) ||
		    strcmp(c->device, "-") == 0)
			c->device[0] = '\0';
		secret_fact_add(f, e->detail, e->seq);
	} else if (strcmp(e->action, "revoke") == 0) {
		if ((c = cert_fact_add(f, e->object)) == NULL)
			return 1;
		c->revoked = e->seq;
	} else if (strcmp(e->action, "secret-reserve") == 0) {
		secret_fact_add(f, e->detail, e->seq);
	} else if (strcmp(e->action, "revoke-device") == 0 ||
	    strcmp(e->action, "reinstate") == 0) {
		if ((d = device_fact_add(f, e->object)) == NULL)
			return 1;
		if (e->action[0] == 'r' && e->action[2] == 'v')
			d->blocked = e->seq;
		else
			d->unblocked = e->seq;
	}
	return f->is_oom;
}

static int
cert_fact_cmp(const void *x, const void *y)
{
	const struct cert_fact *a = x, *b = y;
	int c = strcmp(a->serial, b->serial);

	/* Entries of one serial stay in log order (seq of either kind). */
	if (c != 0)
		return c;
	return (a->issued + a->revoked > b->issued + b->revoked) -
	    (a->issued + a->revoked < b->issued + b->revoked);
}

static int
device_fact_cmp(const void *x, const void *y)
{
	const struct device_fact *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	if (c != 0)
		return c;
	return (a->blocked + a->unblocked > b->blocked + b->unblocked) -
	    (a->blocked + a->unblocked < b->blocked + b->unblocked);
}

static int
secret_fact_cmp(const void *x, const void *y)
{
	const struct secret_fact *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

/*
 * Fold the facts of one key into its first: the certificate's issue and
 * revocation, the device's last block and last reinstatement.
 */
static void
facts_fold(struct facts *f)
{
	size_t i, n = 0;

	/* qsort's base must not be NULL, even for no elements (C11 7.22.5). */
	if (f->cert_count > 0)
		qsort(f->certs, f->cert_count, sizeof(f->certs[0]),
		    cert_fact_cmp);
	for (i = 0; i < f->cert_count; i++) {
		if (n > 0 &&
		    strcmp(f->certs[n - 1].serial, f->certs[i].serial) == 0) {
			if (f->certs[i].issued != 0) {
				f->certs[n - 1].issued = f->certs[i].issued;
				memcpy(f->certs[n - 1].profile,
				    f->certs[i].profile,
				    sizeof(f->certs[i].profile));
				memcpy(f->certs[n - 1].device,
				    f->certs[i].device,
				    sizeof(f->certs[i].device));
			}
			if (f->certs[i].revoked != 0)
				f->certs[n - 1].revoked = f->certs[i].revoked;
			continue;
		}
		f->certs[n++] = f->certs[i];
	}
	f->cert_count = n;
	if (f->device_count > 0)
		qsort(f->devices, f->device_count, sizeof(f->devices[0]),
		    device_fact_cmp);
	for (i = 0, n = 0; i < f->device_count; i++) {
		if (n > 0 &&
		    strcmp(f->devices[n - 1].id, f->devices[i].id) == 0) {
			if (f->devices[i].blocked != 0)
				f->devices[n - 1].blocked =
				    f->devices[i].blocked;
			if (f->devices[i].unblocked != 0)
				f->devices[n - 1].unblocked =
				    f->devices[i].unblocked;
			continue;
		}
		f->devices[n++] = f->devices[i];
	}
	f->device_count = n;
	if (f->secret_count > 0)
		qsort(f->secrets, f->secret_count, sizeof(f->secrets[0]),
		    secret_fact_cmp);
}

static void PRINTF_LIKE(2, 3) finding(struct facts *f, const char *fmt, ...)
{
	char line[VERIFY_DETAIL_CAP];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->findings++;
	if (f->fn != NULL)
		f->fn(line, f->arg);
}

static int
serial_cmp(const void *x, const void *y)
{
	return strcmp(((const struct cert_fact *)x)->serial,
	    ((const struct cert_fact *)y)->serial);
}

static int
device_id_cmp(const void *x, const void *y)
{
	return strcmp(((const struct device_fact *)x)->id,
	    ((const struct device_fact *)y)->id);
}

static const struct device_fact *
device_fact_find(const struct facts *f, const char *id)
{
	struct device_fact key;

	memset(&key, 0, sizeof(key));
	snprintf(key.id, sizeof(key.id), "%s", id);
	/* The folded array holds one entry per id: compare ids only. */
	if (f->device_count == 0)
		return NULL; /* bsearch's base must not be NULL */
	return bsearch(
	    &key, f->devices, f->device_count, sizeof(key), device_id_cmp);
}

static int
cert_row_check(const struct store_cert *row, void *arg)
{
	struct facts *f = arg;
	const struct cert_fact *c;
	const struct device_fact *d;
	struct cert_fact key;
	char q[LIMIT_NAME_LEN + 8];

	memset(&key, 0, sizeof(key));
	snprintf(key.serial, sizeof(key.serial), "%s", row->serial);
	c = f->cert_count == 0
	    ? NULL
	    : bsearch(&key, f->certs, f->cert_count, sizeof(key), serial_cmp);
	if (c == NULL || c->issued == 0) {
		finding(f,
		    "certificate %s (profile %s): in the store, but the audit "
		    "never issued it",
		    row->serial, log_quote(row->profile, q, sizeof(q)));
		return 0;
	}
	if (c->profile[0] != '\0' && strcmp(c->profile, row->profile) != 0)
		finding(f,
		    "certificate %s: issued as profile %s (audit entry %lld), "
		    "the store says %s: changed outside tessera",
		    row->serial, c->profile, (long long)c->issued,
		    log_quote(row->profile, q, sizeof(q)));
	/* The id a token's sub and the feed take from the row. */
	if (c->device[0] != '\0' &&
	    (row->device_id == NULL || strcmp(c->device, row->device_id) != 0))
		finding(f,
		    "certificate %s: issued to device %s (audit entry %lld), "
		    "the store says %s: changed outside tessera",
		    row->serial, c->device, (long long)c->issued,
		    log_quote(row->device_id != NULL ? row->device_id : "", q,
		        sizeof(q)));
	if (row->status == STORE_CERT_VALID && c->revoked != 0)
		finding(f,
		    "certificate %s: revoked at audit entry %lld, valid in "
		    "the store: the revocation was undone outside tessera",
		    row->serial, (long long)c->revoked);
	/* A device revocation revokes what was issued to it before. */
	if (row->status == STORE_CERT_VALID && row->device_id != NULL &&
	    (d = device_fact_find(f, row->device_id)) != NULL &&
	    d->blocked > c->issued)
		finding(f,
		    "certificate %s: its device %s was revoked at audit entry "
		    "%lld, after it was issued, but it is valid in the store",
		    row->serial, log_quote(row->device_id, q, sizeof(q)),
		    (long long)d->blocked);
	return 0;
}

static int
device_row_check(const char *id, int is_blocked, void *arg)
{
	struct facts *f = arg;
	const struct device_fact *d = device_fact_find(f, id);
	char q[LIMIT_NAME_LEN + 8];

	if (!is_blocked && d != NULL && d->blocked > d->unblocked)
		finding(f,
		    "device %s: blocked at audit entry %lld and never "
		    "reinstated, active in the store: the block was lifted "
		    "outside tessera",
		    log_quote(id, q, sizeof(q)), (long long)d->blocked);
	return 0;
}

struct secret_page {
	struct facts *f;
	int64_t last;
	size_t count;
};

static int
secret_row_check(const struct store_secret *row, void *arg)
{
	struct secret_page *pg = arg;
	struct facts *f = pg->f;
	const struct secret_fact *s;
	struct secret_fact key;
	char q[LIMIT_NAME_LEN + 8];

	pg->last = row->id;
	pg->count++;
	key.id = row->id;
	key.used = 0;
	s = f->secret_count == 0 ? NULL
	                         : bsearch(&key, f->secrets, f->secret_count,
	                               sizeof(key), secret_fact_cmp);
	if (row->consumed_at == 0 && s != NULL)
		finding(f,
		    "enrollment secret %lld (device %s): used at audit entry "
		    "%lld, unused in the store: it was reset outside tessera",
		    (long long)row->id,
		    log_quote(row->device_id != NULL ? row->device_id : "", q,
		        sizeof(q)),
		    (long long)s->used);
	return 0;
}

struct cert_page {
	struct facts *f;
	char last[STORE_SERIAL_HEX_CAP];
	size_t count;
};

static int
cert_page_row(const struct store_cert *row, void *arg)
{
	struct cert_page *pg = arg;

	memcpy(pg->last, row->serial, sizeof(pg->last));
	pg->count++;
	return cert_row_check(row, pg->f);
}

enum status
audit_state_check(
    struct store *store, audit_finding_fn fn, void *arg, size_t *findings)
{
	struct store_cert_filter filter;
	struct store_secret_filter sf;
	struct secret_page spg;
	struct cert_page pg;
	struct facts f;
	enum status st;

	*findings = 0;
	memset(&f, 0, sizeof(f));
	f.fn = fn;
	f.arg = arg;
	if ((st = store_audit_foreach(store, 0, fact_entry, &f)) != ST_OK)
		goto out;
	if (f.is_oom) {
		st = status_fail(ST_NOMEM, "audit: out of memory");
		goto out;
	}
	facts_fold(&f);
	memset(&pg, 0, sizeof(pg));
	pg.f = &f;
	do {
		memset(&filter, 0, sizeof(filter));
		filter.status = -1;
		filter.cursor = pg.last;
		filter.limit = STORE_LIST_LIMIT_MAX;
		pg.count = 0;
		if ((st = store_cert_list(
		         store, &filter, cert_page_row, &pg)) != ST_OK)
			goto out;
	} while (pg.count == STORE_LIST_LIMIT_MAX);
	if ((st = store_devices_foreach(store, device_row_check, &f)) != ST_OK)
		goto out;
	memset(&spg, 0, sizeof(spg));
	spg.f = &f;
	do {
		memset(&sf, 0, sizeof(sf));
		sf.after_id = spg.last;
		sf.limit = STORE_LIST_LIMIT_MAX;
		spg.count = 0;
		if ((st = store_secret_list(
		         store, &sf, secret_row_check, &spg)) != ST_OK)
			goto out;
	} while (spg.count == STORE_LIST_LIMIT_MAX);
	*findings = f.findings;
out:
	free(f.certs);
	free(f.devices);
	free(f.secrets);
	return st;
}
