/*
 * audit: the hash chain over the audit table. The store keeps the rows;
 * this file decides what an entry's hash is and whether a chain holds.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "common/limits.h"
#include "common/status.h"

#define HASH_LEN 32
/* The same capacity as the thread-local detail line in common/status.c. */
#define VERIFY_DETAIL_CAP 512

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
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
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

enum status
audit_append(struct store_txn *txn, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail)
{
	struct store_audit e;
	char cut[LIMIT_AUDIT_DETAIL + 1];
	size_t n;
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
	if ((st = store_txn_audit_last(txn, &e.seq, e.prev_hash)) != ST_OK)
		return st;
	e.seq++;
	e.time = now;
	e.actor = (char *)(actor != NULL ? actor : "");
	e.action = (char *)(action != NULL ? action : "");
	e.object = (char *)(object != NULL ? object : "");
	e.detail = (char *)detail;
	if ((st = entry_hash(&e, e.hash)) != ST_OK)
		return st;
	return store_txn_audit_insert(txn, &e);
}

struct verify {
	int64_t next; /* the seq the next entry must have */
	uint8_t prev[HASH_LEN];
	int64_t count;
	int64_t bad; /* 0 while the chain holds */
	char detail[VERIFY_DETAIL_CAP];
};

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
	memcpy(v->prev, e->hash, HASH_LEN);
	v->next++;
	v->count++;
	return 0;
}

enum status
audit_verify(struct store *store, int64_t *count, int64_t *first_bad)
{
	struct verify v;
	enum status st;

	if (count != NULL)
		*count = 0;
	if (first_bad != NULL)
		*first_bad = 0;
	memset(&v, 0, sizeof(v));
	v.next = 1;
	if ((st = store_audit_foreach(store, 0, verify_entry, &v)) != ST_OK)
		return st;
	if (v.bad != 0) {
		if (first_bad != NULL)
			*first_bad = v.bad;
		return status_fail(ST_CONFLICT, "%s", v.detail);
	}
	if (count != NULL)
		*count = v.count;
	return ST_OK;
}
