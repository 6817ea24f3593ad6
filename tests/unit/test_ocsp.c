/*
 * ca/ocsp: requests built and responses checked with OpenSSL's client API
 * and the openssl ocsp command, a software CA with a delegated responder,
 * and once a responder key in a SoftHSMv2 token.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/issue.h"
#include "ca/ocsp.h"
#include "hsm/hsm.h"
#include "signer/remote.h"
#include "signer/server.h"
#include "signer/soft.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define TOKEN "tessera-ocsp"
#define PIN "1234"
#define VALIDITY 3600
/* LIMIT_OCSP_REQUEST in ca/ocsp.c. */
#define LIMIT_OCSP_TEST (8 * 1024)

enum cert_kind { KIND_CA, KIND_RESPONDER, KIND_LEAF };

/* A certificate for pub, issued by issuer (NULL: self-signed). */
static X509 *
make_cert(const char *cn, enum cert_kind kind, EVP_PKEY *pub, X509 *issuer,
    EVP_PKEY *issuer_key)
{
	static const int eku_ocsp[] = {NID_OCSP_sign};
	static const int eku_client[] = {NID_client_auth};
	struct ca_template t;
	X509_NAME *name = X509_NAME_new();
	X509 *cert = NULL;
	int64_t now = (int64_t)time(NULL);
	char serial[41];

	if (name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0))
		goto out;
	memset(&t, 0, sizeof(t));
	t.subject = name;
	t.pubkey = pub;
	t.not_before = now - 300;
	t.not_after = now + 86400;
	t.pathlen = -1;
	t.md_nid = NID_sha256;
	switch (kind) {
	case KIND_CA:
		t.is_ca = 1;
		t.pathlen = 0;
		t.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
		break;
	case KIND_RESPONDER:
		t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		t.eku_nids = eku_ocsp;
		t.eku_count = 1;
		t.ocsp_nocheck = 1;
		t.is_service = 1;
		break;
	case KIND_LEAF:
		t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		t.eku_nids = eku_client;
		t.eku_count = 1;
		t.ocsp_url = "http://127.0.0.1/ocsp";
		break;
	}
	if (ca_cert_sign(&t, issuer,
	        testutil_signer_key(issuer_key,
	            t.is_ca ? SIGNER_ROLE_ROOT : SIGNER_ROLE_ISSUING),
	        &cert, serial) != ST_OK)
		fprintf(stderr, "ca_cert_sign: %s\n", status_detail());
out:
	X509_NAME_free(name);
	return cert;
}

/* The status table behind the lookup callback. */
struct entry {
	char serial[41];
	struct ca_ocsp_status st;
};

struct db {
	struct entry e[8];
	size_t count;
	enum status fail; /* ST_OK: answer from the table */
	int calls;
};

static enum status
db_lookup(void *arg, const char *serial_hex, struct ca_ocsp_status *st)
{
	struct db *db = arg;
	size_t i;

	db->calls++;
	if (db->fail != ST_OK)
		return status_fail(db->fail, "test lookup failure");
	for (i = 0; i < db->count; i++) {
		if (strcmp(db->e[i].serial, serial_hex) == 0) {
			*st = db->e[i].st;
			return ST_OK;
		}
	}
	return ST_NOTFOUND;
}

static void
db_add(struct db *db, X509 *cert, enum ca_ocsp_cert_status status,
    int64_t revoked_at, int reason)
{
	struct entry *e = &db->e[db->count++];

	if (ca_cert_serial_hex(cert, e->serial) != ST_OK)
		abort();
	e->st.status = status;
	e->st.revoked_at = revoked_at;
	e->st.reason = reason;
}

/* The fixture: our CA, its responder, leaves; another CA. */
static EVP_PKEY *ca_key, *resp_key, *leaf_key, *other_key;
static X509 *ca, *responder, *leaf_good, *leaf_revoked, *leaf_unknown;
static X509 *leaf_nohold, *other_ca, *other_leaf;
static X509_STORE *trust;
static int64_t revoked_at;

/*
 * A DER request for the given CertIDs (count of them; a NULL serial means
 * "leaf's serial"), with a nonce of nonce_len bytes when > 0.
 */
struct want {
	const EVP_MD *md;
	X509 *issuer;
	X509 *leaf;
	const ASN1_INTEGER *serial; /* instead of leaf */
};

static OCSP_CERTID *
want_id(const struct want *w)
{
	if (w->leaf != NULL)
		return OCSP_cert_to_id(w->md, w->leaf, w->issuer);
	return OCSP_cert_id_new(w->md, X509_get_subject_name(w->issuer),
	    X509_get0_pubkey_bitstr(w->issuer), w->serial);
}

static OCSP_REQUEST *
req_build(const struct want *w, size_t count, int nonce_len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id;
	size_t i;

	if (req == NULL)
		abort();
	for (i = 0; i < count; i++) {
		if ((id = want_id(&w[i])) == NULL ||
		    OCSP_request_add0_id(req, id) == NULL)
			abort();
	}
	if (nonce_len > 0 && !OCSP_request_add1_nonce(req, NULL, nonce_len))
		abort();
	return req;
}

static uint8_t *
req_der(OCSP_REQUEST *req, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_OCSP_REQUEST(req, &der);

	if (n <= 0)
		abort();
	*len = (size_t)n;
	return der;
}

/* One CertID request as DER. */
static uint8_t *
req_one(const EVP_MD *md, X509 *issuer, X509 *leaf, int nonce_len, size_t *len)
{
	struct want w = {md, issuer, leaf, NULL};
	OCSP_REQUEST *req = req_build(&w, 1, nonce_len);
	uint8_t *der = req_der(req, len);

	OCSP_REQUEST_free(req);
	return der;
}

/* responseStatus of a DER OCSPResponse, or -1 when it does not parse. */
static int
resp_status(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	int st;

	if (r == NULL || p != der + len) {
		OCSP_RESPONSE_free(r);
		return -1;
	}
	st = OCSP_response_status(r);
	OCSP_RESPONSE_free(r);
	return st;
}

/* The BasicOCSPResponse when it verifies against trust, else NULL. */
static OCSP_BASICRESP *
resp_verified(const uint8_t *der, size_t len, X509_STORE *store)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs = NULL;

	if (r == NULL || p != der + len ||
	    OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		goto out;
	if ((bs = OCSP_response_get1_basic(r)) == NULL)
		goto out;
	if (OCSP_basic_verify(bs, NULL, store, 0) != 1) {
		ERR_print_errors_fp(stderr);
		OCSP_BASICRESP_free(bs);
		bs = NULL;
	}
out:
	OCSP_RESPONSE_free(r);
	return bs;
}

static int64_t
unix_of(const ASN1_GENERALIZEDTIME *t)
{
	return t == NULL ? -2 : ca_time_unix(t);
}

/* Whether bs carries id-pkix-ocsp-extended-revoke, non-critical, NULL. */
static int
has_extended_revoke(OCSP_BASICRESP *bs)
{
	ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.5.5.7.48.1.9", 1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *v;
	int loc, ok = 0;

	loc = OCSP_BASICRESP_get_ext_by_OBJ(bs, obj, -1);
	ASN1_OBJECT_free(obj);
	if (loc < 0 || (ext = OCSP_BASICRESP_get_ext(bs, loc)) == NULL)
		return 0;
	v = X509_EXTENSION_get_data(ext);
	ok = !X509_EXTENSION_get_critical(ext) && ASN1_STRING_length(v) == 2 &&
	    memcmp(ASN1_STRING_get0_data(v), "\x05\x00", 2) == 0;
	return ok;
}

struct result {
	uint8_t *der;
	size_t len;
	int cacheable;
	int64_t this_update, next_update;
	enum status st;
};

static void
respond(struct ca_ocsp *o, struct db *db, const uint8_t *req, size_t len,
    int64_t now, struct result *r)
{
	r->st = ca_ocsp_respond(o, req, len, db_lookup, db, now, &r->der,
	    &r->len, &r->cacheable, &r->this_update, &r->next_update);
}

/* Responses that carry only responseStatus: 30 03 0a 01 xx. */
static int
is_error_response(const struct result *r, int rstatus)
{
	return r->st == ST_OK && r->len == 5 && r->der != NULL &&
	    resp_status(r->der, r->len) == rstatus && r->cacheable == 0 &&
	    r->this_update == 0 && r->next_update == 0;
}

/* Whether the answer to req is only responseStatus rstatus. */
static int
answers_error(struct ca_ocsp *o, struct db *db, const uint8_t *req, size_t len,
    int64_t now, int rstatus)
{
	struct result r;
	int ok;

	respond(o, db, req, len, now, &r);
	ok = is_error_response(&r, rstatus);
	OPENSSL_free(r.der);
	return ok;
}

/* Find the status of (md, issuer, leaf) in bs. */
static int
find_status(OCSP_BASICRESP *bs, const EVP_MD *md, X509 *leaf, int *reason,
    int64_t *revtime)
{
	OCSP_CERTID *id = OCSP_cert_to_id(md, leaf, ca);
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int status = -1;

	*reason = -99;
	*revtime = -2;
	if (!OCSP_resp_find_status(
	        bs, id, &status, reason, &rev, &thisupd, &nextupd))
		status = -1;
	else if (rev != NULL)
		*revtime = unix_of(rev);
	if (status >= 0 && OCSP_check_validity(thisupd, nextupd, 300, -1) != 1)
		status = -2;
	OCSP_CERTID_free(id);
	return status;
}

/* The hash NID of the idx-th SingleResponse's CertID. */
static int
single_md(OCSP_BASICRESP *bs, int idx)
{
	ASN1_OBJECT *md = NULL;
	OCSP_SINGLERESP *s = OCSP_resp_get0(bs, idx);

	if (s == NULL ||
	    !OCSP_id_get0_info(NULL, &md, NULL, NULL,
	        (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(s)))
		return NID_undef;
	return OBJ_obj2nid(md);
}

static void
test_new_errors(void)
{
	struct ca_ocsp_config cfg = {ca, responder,
	    testutil_signer_key(resp_key, SIGNER_ROLE_OCSP), VALIDITY};
	struct ca_ocsp *o = (struct ca_ocsp *)&cfg;

	cfg.validity_seconds = 0;
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_LIMIT);
	CHECK(o == NULL);
	cfg.validity_seconds = 31 * 86400;
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_LIMIT);
	cfg.validity_seconds = VALIDITY;
	/* Issued by another CA. */
	cfg.issuer = other_ca;
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_DENIED);
	CHECK_DETAIL("not issued by the CA");
	cfg.issuer = ca;
	/* No id-kp-OCSPSigning. */
	cfg.responder = leaf_good;
	cfg.responder_key = testutil_signer_key(leaf_key, SIGNER_ROLE_OCSP);
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_DENIED);
	CHECK_DETAIL("OCSPSigning");
	/* Someone else's key. */
	cfg.responder = responder;
	cfg.responder_key = testutil_signer_key(other_key, SIGNER_ROLE_OCSP);
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_CONFLICT);
	CHECK(o == NULL);
	cfg.responder_key = NULL;
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_INTERNAL);
	ca_ocsp_free(NULL);
}

static void
test_good(struct ca_ocsp *o, struct db *db)
{
	struct result r;
	OCSP_REQUEST *req;
	OCSP_BASICRESP *bs;
	const ASN1_OCTET_STRING *kid = NULL;
	const X509_NAME *rname = NULL;
	struct want w = {EVP_sha1(), ca, leaf_good, NULL};
	uint8_t *der;
	size_t len;
	int64_t now = (int64_t)time(NULL), rt;
	int reason;

	req = req_build(&w, 1, 0);
	der = req_der(req, &len);
	printf("request, SHA-1, no nonce: %zu bytes\n", len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	CHECK(r.cacheable == 1);
	CHECK(r.this_update == now && r.next_update == now + VALIDITY);
	printf("response good, SHA-1, no nonce: %zu bytes\n", r.len);
	CHECK(r.len < 1024);
	CHECK((bs = resp_verified(r.der, r.len, trust)) != NULL);
	if (bs != NULL) {
		CHECK(find_status(bs, EVP_sha1(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_GOOD);
		CHECK(OCSP_check_nonce(req, bs) == 2);
		CHECK(OCSP_resp_count(bs) == 1);
		CHECK(single_md(bs, 0) == NID_sha1);
		/* Only the responder certificate, and responderID byKey. */
		CHECK(sk_X509_num(OCSP_resp_get0_certs(bs)) == 1);
		CHECK(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0),
		          responder) == 0);
		CHECK(OCSP_resp_get0_id(bs, &kid, &rname) == 1 && kid != NULL &&
		    rname == NULL);
		CHECK(unix_of(OCSP_resp_get0_produced_at(bs)) == now);
		CHECK(!has_extended_revoke(bs));
		OCSP_BASICRESP_free(bs);
	}
	OPENSSL_free(r.der);

	/* producedAt, thisUpdate and nextUpdate follow now, not the clock. */
	respond(o, db, der, len, now - 7200, &r);
	CHECK_ST(r.st, ST_OK);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		OCSP_SINGLERESP *s = OCSP_resp_get0(bs, 0);
		ASN1_GENERALIZEDTIME *tu = NULL, *nu = NULL;

		CHECK(unix_of(OCSP_resp_get0_produced_at(bs)) == now - 7200);
		CHECK(OCSP_single_get0_status(s, NULL, NULL, &tu, &nu) ==
		    V_OCSP_CERTSTATUS_GOOD);
		CHECK(unix_of(tu) == now - 7200);
		CHECK(unix_of(nu) == now - 7200 + VALIDITY);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_revoked_nonce(struct ca_ocsp *o, struct db *db)
{
	struct result r;
	OCSP_REQUEST *req;
	OCSP_BASICRESP *bs;
	struct want w = {EVP_sha1(), ca, leaf_revoked, NULL};
	uint8_t *der;
	size_t len;
	int64_t now = (int64_t)time(NULL), rt;
	int reason;

	req = req_build(&w, 1, 32);
	der = req_der(req, &len);
	printf("request, SHA-1, 32-byte nonce: %zu bytes\n", len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	CHECK(r.cacheable == 0);
	CHECK(r.next_update == now + VALIDITY);
	printf("response revoked, 32-byte nonce: %zu bytes\n", r.len);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(find_status(bs, EVP_sha1(), leaf_revoked, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_REVOKED);
		CHECK(reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);
		CHECK(rt == revoked_at);
		CHECK(OCSP_check_nonce(req, bs) == 1);
		CHECK(!has_extended_revoke(bs));
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);

	/* Revoked without a reason: no revocationReason at all. */
	der = req_one(EVP_sha1(), ca, leaf_nohold, 0, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(find_status(bs, EVP_sha1(), leaf_nohold, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_REVOKED);
		CHECK(reason == OCSP_REVOKED_STATUS_NOSTATUS);
		CHECK(rt == revoked_at - 60);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);

	/* Status unknown from the lookup. */
	der = req_one(EVP_sha1(), ca, leaf_unknown, 0, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(find_status(bs, EVP_sha1(), leaf_unknown, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_UNKNOWN);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
}

/* A request for w is answered, signed, as never issued. */
static void
check_never_ours(
    struct ca_ocsp *o, struct db *db, const struct want *w, int64_t now)
{
	OCSP_REQUEST *req = req_build(w, 1, 0);
	OCSP_BASICRESP *bs;
	struct result r;
	uint8_t *der;
	size_t len;

	der = req_der(req, &len);
	respond(o, db, der, len, now, &r);
	CHECK((bs = resp_verified(r.der, r.len, trust)) != NULL);
	CHECK(bs != NULL && has_extended_revoke(bs));
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_never_issued(struct ca_ocsp *o, struct db *db)
{
	struct result r;
	OCSP_BASICRESP *bs;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	struct want w = {EVP_sha1(), ca, NULL, serial};
	OCSP_REQUEST *req;
	OCSP_CERTID *id;
	ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
	uint8_t *der;
	size_t len;
	int64_t now = (int64_t)time(NULL);
	int status = -1, reason = -99, calls = db->calls;

	ASN1_INTEGER_set_uint64(serial, UINT64_C(0x1234567890ABCDEF));
	req = req_build(&w, 1, 0);
	der = req_der(req, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	CHECK(db->calls == calls + 1);
	CHECK(r.cacheable == 1);
	printf("response never issued, no nonce: %zu bytes\n", r.len);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		id = want_id(&w);
		CHECK(OCSP_resp_find_status(
		    bs, id, &status, &reason, &rev, &tu, &nu));
		CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
		CHECK(reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
		CHECK(unix_of(rev) == 0);
		CHECK(has_extended_revoke(bs));
		OCSP_CERTID_free(id);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);

	/* Zero, negative and 21-octet serials: never ours, no lookup. */
	calls = db->calls;
	ASN1_INTEGER_set(serial, 0);
	check_never_ours(o, db, &w, now);
	ASN1_INTEGER_set(serial, -5);
	check_never_ours(o, db, &w, now);
	{
		BIGNUM *bn = BN_new();

		BN_set_bit(bn, 167); /* 21 octets */
		BN_to_ASN1_INTEGER(bn, serial);
		BN_free(bn);
	}
	check_never_ours(o, db, &w, now);
	CHECK(db->calls == calls);
	ASN1_INTEGER_free(serial);
}

static void
test_sha256_and_multi(struct ca_ocsp *o, struct db *db)
{
	struct result r;
	OCSP_BASICRESP *bs;
	OCSP_REQUEST *req;
	struct want two[2] = {{EVP_sha256(), ca, leaf_good, NULL},
	    {EVP_sha1(), ca, leaf_revoked, NULL}};
	struct want mixed[2] = {{EVP_sha1(), other_ca, other_leaf, NULL},
	    {EVP_sha1(), ca, leaf_good, NULL}};
	struct want many[9];
	uint8_t *der;
	size_t len, i;
	int64_t now = (int64_t)time(NULL), rt;
	int reason, calls;

	/* SHA-256 CertID in, SHA-256 CertID out. */
	der = req_one(EVP_sha256(), ca, leaf_good, 32, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	printf("response good, SHA-256, 32-byte nonce: %zu bytes\n", r.len);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(single_md(bs, 0) == NID_sha256);
		CHECK(find_status(bs, EVP_sha256(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_GOOD);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);

	/* Two CertIDs of ours, two hashes: each answered as asked. */
	req = req_build(two, 2, 0);
	der = req_der(req, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(OCSP_resp_count(bs) == 2);
		CHECK(single_md(bs, 0) == NID_sha256);
		CHECK(single_md(bs, 1) == NID_sha1);
		CHECK(find_status(bs, EVP_sha256(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_GOOD);
		CHECK(find_status(bs, EVP_sha1(), leaf_revoked, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_REVOKED);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);

	/* Another issuer's CertID beside ours: unauthorized as a whole
	 * (OpenSSL would not verify a delegated answer for two issuers). */
	calls = db->calls;
	req = req_build(mixed, 2, 0);
	der = req_der(req, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_UNAUTHORIZED));
	CHECK(db->calls == calls);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);

	/* Only another issuer: unauthorized, and nothing looked up. */
	calls = db->calls;
	der = req_one(EVP_sha1(), other_ca, other_leaf, 0, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_UNAUTHORIZED));
	CHECK(db->calls == calls);
	OPENSSL_free(der);
	/* Our issuer under a hash we do not take (MD5). */
	der = req_one(EVP_md5(), ca, leaf_good, 0, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_UNAUTHORIZED));
	OPENSSL_free(der);

	/* Eight CertIDs are answered, nine are too many. */
	for (i = 0; i < 9; i++)
		many[i] = (struct want){EVP_sha1(), ca, leaf_good, NULL};
	req = req_build(many, 8, 0);
	der = req_der(req, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	CHECK(resp_status(r.der, r.len) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	req = req_build(many, 9, 0);
	der = req_der(req, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

/* A request whose nonce extension holds value (as extnValue) verbatim. */
static uint8_t *
req_raw_nonce(const uint8_t *value, size_t value_len, int twice, size_t *len)
{
	struct want w = {EVP_sha1(), ca, leaf_good, NULL};
	OCSP_REQUEST *req = req_build(&w, 1, 0);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;
	uint8_t *der;

	if (os == NULL || !ASN1_OCTET_STRING_set(os, value, (int)value_len))
		abort();
	ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, os);
	if (ext == NULL || !OCSP_REQUEST_add_ext(req, ext, -1) ||
	    (twice && !OCSP_REQUEST_add_ext(req, ext, -1)))
		abort();
	der = req_der(req, len);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	OCSP_REQUEST_free(req);
	return der;
}

static void
test_malformed(struct ca_ocsp *o, struct db *db)
{
	static const uint8_t junk[] = "GET /ocsp HTTP/1.0\r\n\r\n";
	static const uint8_t empty_nonce[] = {0x04, 0x00};
	static const uint8_t nonce16[] = {
	    0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	struct result r;
	uint8_t *der, *big;
	size_t len, i;
	int64_t now = (int64_t)time(NULL);
	int all = 1, calls = db->calls;

	respond(o, db, junk, sizeof(junk) - 1, now, &r);
	CHECK(is_error_response(&r, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	CHECK(r.der != NULL && memcmp(r.der, "\x30\x03\x0a\x01\x01", 5) == 0);
	OPENSSL_free(r.der);
	CHECK(answers_error(
	    o, db, junk, 0, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	CHECK(answers_error(
	    o, db, NULL, 0, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));

	/* A CertID whose hashAlgorithm parameters OpenSSL reads but cannot
	 * write back (tag 0x20): not ours, never internalError (found by
	 * fuzz_ocsp). */
	der = req_one(EVP_sha1(), ca, leaf_good, 32, &len);
	{
		static const uint8_t sha1_null[] = {
		    0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00};
		uint8_t *at = memmem(der, len, sha1_null, sizeof(sha1_null));

		CHECK(at != NULL);
		if (at != NULL) {
			at[7] = 0x20;
			CHECK(answers_error(o, db, der, len, now,
			    OCSP_RESPONSE_STATUS_UNAUTHORIZED));
		}
	}
	OPENSSL_free(der);

	/* Every proper prefix of a good request, and one trailing byte. */
	der = req_one(EVP_sha1(), ca, leaf_good, 32, &len);
	for (i = 0; i < len; i++) {
		if (!answers_error(o, db, der, i, now,
		        OCSP_RESPONSE_STATUS_MALFORMEDREQUEST)) {
			fprintf(stderr, "prefix of %zu bytes answered\n", i);
			all = 0;
		}
	}
	CHECK(all);
	big = malloc(LIMIT_OCSP_TEST + 1);
	memcpy(big, der, len);
	big[len] = 0;
	CHECK(answers_error(
	    o, db, big, len + 1, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	/* Over the 8 KiB limit. */
	memset(big + len, 0, LIMIT_OCSP_TEST + 1 - len);
	CHECK(answers_error(o, db, big, LIMIT_OCSP_TEST + 1, now,
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	free(big);
	OPENSSL_free(der);
	CHECK(db->calls == calls);

	/* Nonces: 1..128 octets taken, 0 and 129 and non-DER refused. */
	der = req_one(EVP_sha1(), ca, leaf_good, 129, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), ca, leaf_good, 128, &len);
	respond(o, db, der, len, now, &r);
	CHECK(r.st == ST_OK &&
	    resp_status(r.der, r.len) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
	printf("response good, 128-byte nonce: %zu bytes\n", r.len);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), ca, leaf_good, 1, &len);
	respond(o, db, der, len, now, &r);
	CHECK(r.st == ST_OK &&
	    resp_status(r.der, r.len) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
	CHECK(r.cacheable == 0);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	der = req_raw_nonce(empty_nonce, sizeof(empty_nonce), 0, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	OPENSSL_free(der);
	/* Raw bytes, not an OCTET STRING inside extnValue. */
	der = req_raw_nonce(nonce16 + 2, 16, 0, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	OPENSSL_free(der);
	der = req_raw_nonce(nonce16, sizeof(nonce16), 1, &len);
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
	OPENSSL_free(der);
	der = req_raw_nonce(nonce16, sizeof(nonce16), 0, &len);
	respond(o, db, der, len, now, &r);
	CHECK(r.st == ST_OK &&
	    resp_status(r.der, r.len) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
}

static void
test_failures(struct ca_ocsp *o, struct db *db)
{
	uint8_t *der;
	size_t len;
	int64_t now = (int64_t)time(NULL);

	der = req_one(EVP_sha1(), ca, leaf_good, 0, &len);
	db->fail = ST_STORE;
	CHECK(
	    answers_error(o, db, der, len, now, OCSP_RESPONSE_STATUS_TRYLATER));
	db->fail = ST_UNAVAILABLE;
	CHECK(
	    answers_error(o, db, der, len, now, OCSP_RESPONSE_STATUS_TRYLATER));
	db->fail = ST_INTERNAL;
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_INTERNALERROR));
	db->fail = ST_OK;
	/* A status the lookup should never give: reason 7 is unused. */
	db->e[0].st.status = CA_OCSP_REVOKED;
	db->e[0].st.reason = 7;
	CHECK(answers_error(
	    o, db, der, len, now, OCSP_RESPONSE_STATUS_INTERNALERROR));
	db->e[0].st.status = CA_OCSP_GOOD;
	db->e[0].st.reason = -1;
	/* A time that does not fit. */
	CHECK(answers_error(
	    o, db, der, len, -1, OCSP_RESPONSE_STATUS_INTERNALERROR));
	OPENSSL_free(der);
}

/* Remove the NULL parameters of the SHA-1 AlgorithmIdentifier. */
static void
strip_sha1_null(uint8_t *der, size_t *len)
{
	static const uint8_t alg[] = {
	    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00};
	size_t i;

	/* OCSPRequest, TBSRequest, requestList, Request, CertID. */
	if (*len < 10 + sizeof(alg) || memcmp(der + 10, alg, sizeof(alg)) != 0)
		abort();
	for (i = 0; i < 10; i += 2) {
		if (der[i] != 0x30 || der[i + 1] >= 0x80)
			abort();
		der[i + 1] -= 2;
	}
	der[11] = 0x07;
	memmove(der + 19, der + 21, *len - 21);
	*len -= 2;
}

static void
test_peek_presign(struct ca_ocsp *o, struct db *db)
{
	struct ca_ocsp_peek pk;
	struct ca_ocsp_status st = {CA_OCSP_GOOD, 0, -1};
	struct want two[2] = {{EVP_sha1(), ca, leaf_good, NULL},
	    {EVP_sha1(), ca, leaf_revoked, NULL}};
	struct result r;
	OCSP_REQUEST *req;
	OCSP_BASICRESP *a, *b;
	OCSP_CERTID *id;
	uint8_t *der, *pre;
	unsigned char *ida = NULL, *idb = NULL;
	size_t len, pre_len;
	int64_t now = (int64_t)time(NULL), next, rt;
	int reason, ida_len, idb_len, status = -1;
	char good_hex[41];

	CHECK_ST(ca_cert_serial_hex(leaf_good, good_hex), ST_OK);
	der = req_one(EVP_sha1(), ca, leaf_good, 0, &len);
	CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_OK);
	CHECK(strcmp(pk.serial_hex, good_hex) == 0);
	CHECK(pk.hash_nid == NID_sha1 && pk.has_nonce == 0);
	CHECK(pk.is_presigned_match == 1);

	/* presign equals what respond says for the same SHA-1 request. */
	CHECK_ST(ca_ocsp_presign(o, good_hex, &st, now, &pre, &pre_len, &next),
	    ST_OK);
	CHECK(next == now + VALIDITY);
	printf("presigned good: %zu bytes\n", pre_len);
	respond(o, db, der, len, now, &r);
	a = resp_verified(pre, pre_len, trust);
	b = resp_verified(r.der, r.len, trust);
	CHECK(a != NULL && b != NULL);
	if (a != NULL && b != NULL) {
		CHECK(find_status(a, EVP_sha1(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_GOOD);
		ida_len = i2d_OCSP_CERTID(
		    OCSP_SINGLERESP_get0_id(OCSP_resp_get0(a, 0)), &ida);
		idb_len = i2d_OCSP_CERTID(
		    OCSP_SINGLERESP_get0_id(OCSP_resp_get0(b, 0)), &idb);
		CHECK(ida_len > 0 && ida_len == idb_len &&
		    memcmp(ida, idb, (size_t)ida_len) == 0);
		CHECK(unix_of(OCSP_resp_get0_produced_at(a)) ==
		    unix_of(OCSP_resp_get0_produced_at(b)));
		CHECK(!has_extended_revoke(a));
	}
	OCSP_BASICRESP_free(a);
	OCSP_BASICRESP_free(b);
	OPENSSL_free(ida);
	OPENSSL_free(idb);
	idb = NULL;
	OPENSSL_free(pre);
	OPENSSL_free(r.der);

	/* The same request without NULL SHA-1 parameters: no match, but
	 * respond echoes it and OpenSSL still finds its answer. */
	strip_sha1_null(der, &len);
	CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_OK);
	CHECK(pk.hash_nid == NID_sha1 && pk.is_presigned_match == 0);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	if ((b = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(find_status(b, EVP_sha1(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_GOOD);
		/* The CertID at offset 8 of the request, byte for byte. */
		idb_len = i2d_OCSP_CERTID(
		    OCSP_SINGLERESP_get0_id(OCSP_resp_get0(b, 0)), &idb);
		CHECK(idb_len == der[9] + 2 &&
		    memcmp(idb, der + 8, (size_t)idb_len) == 0);
		OPENSSL_free(idb);
		idb = NULL;
		OCSP_BASICRESP_free(b);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);

	der = req_one(EVP_sha256(), ca, leaf_good, 0, &len);
	CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_OK);
	CHECK(pk.hash_nid == NID_sha256 && pk.is_presigned_match == 0);
	CHECK(strcmp(pk.serial_hex, good_hex) == 0);
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), ca, leaf_good, 32, &len);
	CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_OK);
	CHECK(pk.has_nonce == 1 && pk.is_presigned_match == 0);
	CHECK_ST(ca_ocsp_request_peek(o, der, len - 1, &pk), ST_MALFORMED);
	CHECK(pk.serial_hex[0] == '\0' && pk.is_presigned_match == 0);
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), other_ca, other_leaf, 0, &len);
	CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_DENIED);
	OPENSSL_free(der);
	req = req_build(two, 2, 0);
	der = req_der(req, &len);
	CHECK(ca_ocsp_request_peek(o, der, len, &pk) != ST_OK);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	CHECK_ST(ca_ocsp_request_peek(o, (const uint8_t *)"\x30\x00", 2, &pk),
	    ST_MALFORMED);
	CHECK_ST(ca_ocsp_request_peek(o, NULL, 0, &pk), ST_MALFORMED);

	/* Presigned revoked and never issued. */
	st.status = CA_OCSP_REVOKED;
	st.revoked_at = revoked_at;
	st.reason = OCSP_REVOKED_STATUS_SUPERSEDED;
	CHECK_ST(ca_ocsp_presign(o, good_hex, &st, now, &pre, &pre_len, &next),
	    ST_OK);
	if ((a = resp_verified(pre, pre_len, trust)) != NULL) {
		CHECK(find_status(a, EVP_sha1(), leaf_good, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_REVOKED);
		CHECK(reason == OCSP_REVOKED_STATUS_SUPERSEDED);
		CHECK(rt == revoked_at);
		OCSP_BASICRESP_free(a);
	} else {
		CHECK(0);
	}
	OPENSSL_free(pre);
	CHECK_ST(ca_ocsp_presign(o, "0ABC", NULL, now, &pre, &pre_len, &next),
	    ST_OK);
	if ((a = resp_verified(pre, pre_len, trust)) != NULL) {
		ASN1_INTEGER *serial = ASN1_INTEGER_new();

		ASN1_INTEGER_set(serial, 0xABC);
		id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
		    X509_get0_pubkey_bitstr(ca), serial);
		CHECK(OCSP_resp_find_status(
		    a, id, &status, &reason, NULL, NULL, NULL));
		CHECK(status == V_OCSP_CERTSTATUS_REVOKED &&
		    reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
		CHECK(has_extended_revoke(a));
		OCSP_CERTID_free(id);
		ASN1_INTEGER_free(serial);
		OCSP_BASICRESP_free(a);
	} else {
		CHECK(0);
	}
	OPENSSL_free(pre);

	/* Bad serials and statuses leave the outputs clear. */
	pre = (uint8_t *)"x";
	next = 1;
	CHECK_ST(ca_ocsp_presign(o, "ABC", &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK(pre == NULL && pre_len == 0 && next == 0);
	CHECK_ST(ca_ocsp_presign(o, "0abc", &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK_ST(ca_ocsp_presign(o, "", &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK_ST(ca_ocsp_presign(o, "00", &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK_ST(ca_ocsp_presign(o, "-01", &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK_ST(
	    ca_ocsp_presign(o, "0102030405060708091011121314151617181920AB",
	        &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK_ST(ca_ocsp_presign(o, NULL, &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	st.reason = 7;
	CHECK_ST(ca_ocsp_presign(o, good_hex, &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	CHECK(pre == NULL && pre_len == 0 && next == 0);
	st.reason = 11;
	CHECK_ST(ca_ocsp_presign(o, good_hex, &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
	st.reason = 1;
	st.status = CA_OCSP_CERT_STATUS_MAX;
	CHECK_ST(ca_ocsp_presign(o, good_hex, &st, now, &pre, &pre_len, &next),
	    ST_MALFORMED);
}

static int
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

static int
write_pem(const char *dir, const char *name, X509 *cert)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	ok = PEM_write_X509(f, cert);
	return fclose(f) == 0 && ok;
}

/* Whether the file dir/name contains needle. */
static int
file_has(const char *dir, const char *name, const char *needle)
{
	char path[4096], buf[8192];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Print the lines of dir/name, indented (what openssl ocsp said). */
static void
file_print(const char *dir, const char *name)
{
	char path[4096], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		printf("  openssl ocsp: %s", line);
	fclose(f);
}

/*
 * Answer a request for leaf and write the response to dir/resp_name, and
 * the request to dir/req_name when that is not NULL.
 */
static void
cli_answer(struct ca_ocsp *o, struct db *db, const char *dir, const EVP_MD *md,
    X509 *leaf, int nonce_len, const char *req_name, const char *resp_name,
    int64_t now)
{
	struct result r;
	uint8_t *der;
	size_t len;

	der = req_one(md, ca, leaf, nonce_len, &len);
	respond(o, db, der, len, now, &r);
	if (req_name != NULL)
		CHECK(write_file(dir, req_name, der, len));
	CHECK(write_file(dir, resp_name, r.der, r.len));
	OPENSSL_free(der);
	OPENSSL_free(r.der);
}

/* Whether "openssl ocsp args", run in dir with its output to dir/out, exits 0. */
static int
cli_run(const char *dir, const char *args, const char *out)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "cd '%s' && openssl ocsp %s >%s 2>&1", dir,
	    args, out);
	return system(cmd) == 0;
}

/*
 * openssl ocsp on our answers. With -reqin it checks the nonce and the
 * signature; with -cert it also prints the status of that certificate.
 */
static void
test_openssl_cli(struct ca_ocsp *o, struct db *db, const char *dir)
{
	int64_t now = (int64_t)time(NULL);

	CHECK(write_pem(dir, "ca.pem", ca));
	CHECK(write_pem(dir, "good.pem", leaf_good));
	CHECK(write_pem(dir, "revoked.pem", leaf_revoked));

	cli_answer(
	    o, db, dir, EVP_sha1(), leaf_good, 32, "req.der", "resp.der", now);
	CHECK(cli_run(dir,
	    "-respin resp.der -issuer ca.pem -CAfile ca.pem -reqin req.der",
	    "out1"));
	CHECK(file_has(dir, "out1", "Response verify OK"));
	CHECK(!file_has(dir, "out1", "WARNING"));
	file_print(dir, "out1");

	cli_answer(
	    o, db, dir, EVP_sha1(), leaf_good, 0, NULL, "resp-good.der", now);
	CHECK(cli_run(dir,
	    "-respin resp-good.der -issuer ca.pem -CAfile ca.pem "
	    "-cert good.pem -no_nonce",
	    "out2"));
	CHECK(file_has(dir, "out2", "Response verify OK"));
	CHECK(file_has(dir, "out2", "good.pem: good"));
	file_print(dir, "out2");

	cli_answer(o, db, dir, EVP_sha256(), leaf_revoked, 0, NULL,
	    "resp-revoked.der", now);
	CHECK(cli_run(dir,
	    "-respin resp-revoked.der -issuer ca.pem -CAfile ca.pem -sha256 "
	    "-cert revoked.pem -no_nonce",
	    "out3"));
	CHECK(file_has(dir, "out3", "Response verify OK"));
	CHECK(file_has(dir, "out3", "revoked.pem: revoked"));
	CHECK(file_has(dir, "out3", "Reason: keyCompromise"));
	file_print(dir, "out3");
}

/* The responder key in a SoftHSMv2 token signs. */
static void
test_hsm(struct db *db, const char *dir)
{
	struct hsm *hsm = NULL;
	struct hsm_key *key = NULL;
	struct ca_ocsp *o = NULL;
	struct ca_ocsp_config cfg;
	struct result r;
	OCSP_BASICRESP *bs;
	X509 *cert = NULL;
	uint8_t *der, *pre = NULL;
	size_t len, pre_len;
	int64_t now = (int64_t)time(NULL), next, rt;
	int reason;
	char hex[41];
	struct ca_ocsp_status st = {CA_OCSP_GOOD, 0, -1};

	CHECK(testutil_softhsm(dir, TOKEN, PIN) == 0);
	CHECK_ST(hsm_open(testutil_softhsm_module(), TOKEN, PIN, &hsm), ST_OK);
	if (hsm == NULL)
		return;
	CHECK_ST(hsm_key_generate(hsm, "ocsp-responder", HSM_KEY_EC_P256, &key),
	    ST_OK);
	if (key == NULL)
		goto out;
	cert = make_cert("tessera OCSP (token)", KIND_RESPONDER,
	    hsm_key_get0_public(key), ca, ca_key);
	CHECK(cert != NULL);
	cfg = (struct ca_ocsp_config){ca, cert,
	    testutil_signer_key(hsm_key_get0_pkey(key), SIGNER_ROLE_OCSP),
	    VALIDITY};
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_OK);
	if (o == NULL)
		goto out;
	der = req_one(EVP_sha1(), ca, leaf_revoked, 32, &len);
	respond(o, db, der, len, now, &r);
	CHECK_ST(r.st, ST_OK);
	if ((bs = resp_verified(r.der, r.len, trust)) != NULL) {
		CHECK(find_status(bs, EVP_sha1(), leaf_revoked, &reason, &rt) ==
		    V_OCSP_CERTSTATUS_REVOKED);
		CHECK(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0),
		          cert) == 0);
		OCSP_BASICRESP_free(bs);
	} else {
		CHECK(0);
	}
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	CHECK_ST(ca_cert_serial_hex(leaf_good, hex), ST_OK);
	CHECK_ST(
	    ca_ocsp_presign(o, hex, &st, now, &pre, &pre_len, &next), ST_OK);
	CHECK((bs = resp_verified(pre, pre_len, trust)) != NULL);
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(pre);
out:
	ca_ocsp_free(o);
	X509_free(cert);
	hsm_key_free(key);
	testutil_signer_free();
	hsm_close(hsm);
}

/* A request for leaf_good with one extra extension (oid, critical). */
static uint8_t *
req_with_ext(const char *oid, int critical, int in_single, size_t *len)
{
	static const uint8_t value[] = {0x05, 0x00};
	struct want w = {EVP_sha1(), ca, leaf_good, NULL};
	OCSP_REQUEST *req = req_build(&w, 1, 0);
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;
	uint8_t *der;

	if (obj == NULL || os == NULL ||
	    !ASN1_OCTET_STRING_set(os, value, sizeof(value)) ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os)) ==
	        NULL)
		abort();
	if (in_single ? !OCSP_ONEREQ_add_ext(
	                    OCSP_request_onereq_get0(req, 0), ext, -1)
	              : !OCSP_REQUEST_add_ext(req, ext, -1))
		abort();
	der = req_der(req, len);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	OCSP_REQUEST_free(req);
	return der;
}

/*
 * RFC 6960 §4.4: an unknown extension is ignored only when not critical;
 * a critical one tessera does not understand is malformedRequest (in
 * requestExtensions and in singleRequestExtensions); a critical nonce is
 * understood.
 */
static void
test_critical_ext(struct ca_ocsp *o, struct db *db)
{
	/* id-pkix-ocsp-pref-sig-algs (§4.4.7), which tessera does not do. */
	static const char *const unknown = "1.3.6.1.5.5.7.48.1.8";
	struct ca_ocsp_peek pk;
	struct result r;
	uint8_t *der;
	size_t len;
	int i;

	for (i = 0; i < 2; i++) {
		der = req_with_ext(unknown, 1, i, &len);
		CHECK(answers_error(o, db, der, len, time(NULL),
		    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
		CHECK_ST(ca_ocsp_request_peek(o, der, len, &pk), ST_MALFORMED);
		CHECK_DETAIL("RFC 6960 §4.4");
		OPENSSL_free(der);
		der = req_with_ext(unknown, 0, i, &len);
		respond(o, db, der, len, time(NULL), &r);
		CHECK(r.st == ST_OK &&
		    resp_status(r.der, r.len) ==
		        OCSP_RESPONSE_STATUS_SUCCESSFUL);
		OPENSSL_free(r.der);
		OPENSSL_free(der);
	}
}

/* The CA answering for itself (the root for the CAs it issued). */
static void
test_self_signer(struct db *db)
{
	struct ca_ocsp_config cfg = {
	    ca, ca, testutil_signer_key(ca_key, SIGNER_ROLE_ROOT), VALIDITY};
	struct ca_ocsp *self = NULL;
	OCSP_BASICRESP *bs = NULL;
	struct result r;
	uint8_t *der;
	size_t len;
	int64_t revtime;
	int reason;

	CHECK_ST(ca_ocsp_new(&cfg, &self), ST_OK);
	if (self == NULL)
		return;
	der = req_one(EVP_sha1(), ca, leaf_revoked, 0, &len);
	respond(self, db, der, len, time(NULL), &r);
	CHECK(
	    r.st == ST_OK && (bs = resp_verified(r.der, r.len, trust)) != NULL);
	CHECK(bs != NULL &&
	    find_status(bs, EVP_sha1(), leaf_revoked, &reason, &revtime) ==
	        V_OCSP_CERTSTATUS_REVOKED);
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(r.der);
	OPENSSL_free(der);
	ca_ocsp_free(self);
	/* Anyone else still needs id-kp-OCSPSigning. */
	cfg.responder = leaf_good;
	cfg.responder_key = testutil_signer_key(leaf_key, SIGNER_ROLE_OCSP);
	CHECK_ST(ca_ocsp_new(&cfg, &self), ST_DENIED);
}

/*
 * The answer is the bytes OpenSSL's encoder writes for the same values:
 * the whole OCSPResponse re-encoded from what d2i read is identical, and
 * the parts tessera writes by hand (producedAt, the responderID's key
 * hash, the responder certificate) are those OpenSSL makes from the same
 * time and certificate; over times across the UTCTime/GeneralizedTime
 * boundary and requests with and without nonces, several CertIDs, a
 * revoked and a never-issued one.
 */
static void
test_openssl_identical(struct ca_ocsp *o, struct db *db)
{
	static const int64_t times[] = {
	    1767225600, 2524607999, 2524608000, 4102444799, 946684800};
	struct want w[3] = {{EVP_sha1(), ca, leaf_good, NULL},
	    {EVP_sha256(), ca, leaf_revoked, NULL},
	    {EVP_sha1(), ca, leaf_unknown, NULL}};
	size_t ti, ri, len, req_len;
	int nonce;

	for (ti = 0; ti < sizeof(times) / sizeof(times[0]); ti++)
		for (ri = 1; ri <= 3; ri++)
			for (nonce = 0; nonce <= 32; nonce += 32) {
				OCSP_REQUEST *req = req_build(w, ri, nonce);
				uint8_t *der = req_der(req, &req_len);
				const unsigned char *p;
				OCSP_RESPONSE *r = NULL;
				OCSP_BASICRESP *bs = NULL;
				ASN1_GENERALIZEDTIME *gt = NULL;
				OCSP_RESPID *rid = NULL;
				unsigned char *a = NULL, *b = NULL;
				const ASN1_OCTET_STRING *kh = NULL;
				const X509_NAME *kn = NULL;
				int alen, blen;
				struct result res;

				respond(o, db, der, req_len, times[ti], &res);
				CHECK_ST(res.st, ST_OK);
				p = res.der;
				len = res.len;
				CHECK((r = d2i_OCSP_RESPONSE(
				           NULL, &p, (long)len)) != NULL &&
				    p == res.der + len);
				/* The whole response, as OpenSSL encodes it. */
				alen =
				    r != NULL ? i2d_OCSP_RESPONSE(r, &a) : -1;
				CHECK(alen > 0 && (size_t)alen == len &&
				    memcmp(a, res.der, len) == 0);
				OPENSSL_free(a);
				a = NULL;
				bs = r != NULL ? OCSP_response_get1_basic(r)
				               : NULL;
				CHECK(bs != NULL);
				if (bs == NULL)
					goto next;
				/* producedAt: ASN1_GENERALIZEDTIME_set's. */
				gt = ASN1_GENERALIZEDTIME_set(
				    NULL, (time_t)times[ti]);
				alen = i2d_ASN1_GENERALIZEDTIME(gt, &a);
				blen = i2d_ASN1_GENERALIZEDTIME(
				    OCSP_resp_get0_produced_at(bs), &b);
				CHECK(alen > 0 && alen == blen &&
				    memcmp(a, b, (size_t)alen) == 0);
				OPENSSL_free(a);
				OPENSSL_free(b);
				a = b = NULL;
				/* responderID byKey: OCSP_RESPID_set_by_key's. */
				rid = OCSP_RESPID_new();
				CHECK(rid != NULL &&
				    OCSP_RESPID_set_by_key(rid, responder) ==
				        1);
				alen = i2d_OCSP_RESPID(rid, &a);
				CHECK(OCSP_resp_get0_id(bs, &kh, &kn) == 1 &&
				    kh != NULL && kn == NULL && alen > 22 &&
				    ASN1_STRING_length(kh) == 20 &&
				    memcmp(ASN1_STRING_get0_data(kh),
				        a + alen - 20, 20) == 0 &&
				    memmem(res.der, len, a, (size_t)alen) !=
				        NULL);
				/* certs: the responder's certificate, once. */
				CHECK(sk_X509_num(OCSP_resp_get0_certs(bs)) ==
				        1 &&
				    X509_cmp(sk_X509_value(
				                 OCSP_resp_get0_certs(bs), 0),
				        responder) == 0);
				/* It verifies, and the nonce is echoed. */
				CHECK(
				    OCSP_basic_verify(bs, NULL, trust, 0) == 1);
				if (nonce > 0)
					CHECK(OCSP_check_nonce(req, bs) == 1);
			next:
				OPENSSL_free(a);
				OPENSSL_free(b);
				OCSP_RESPID_free(rid);
				ASN1_GENERALIZEDTIME_free(gt);
				OCSP_BASICRESP_free(bs);
				OCSP_RESPONSE_free(r);
				OPENSSL_free(res.der);
				OPENSSL_free(der);
				OCSP_REQUEST_free(req);
			}
}

/* The signer process's loop on a soft holder, on a thread. */
struct split_server {
	struct signer *holder;
	int listen_fd, stop_fd;
};

static void *
split_serve(void *arg)
{
	struct split_server *ss = arg;

	if (signer_serve(ss->holder, ss->listen_fd, ss->stop_fd) != ST_OK)
		fprintf(stderr, "signer_serve: %s\n", status_detail());
	return NULL;
}

/*
 * The answer started (ca_ocsp_respond_start) and finished once its
 * descriptor turns readable; -1 in r->st's place when it did not start.
 */
static enum status
respond_split(struct ca_ocsp *o, struct db *db, const uint8_t *req, size_t len,
    int64_t now, struct result *r)
{
	struct ca_ocsp_pending *p = NULL;
	struct pollfd pfd;
	enum status st;

	memset(r, 0, sizeof(*r));
	if ((st = ca_ocsp_respond_start(o, req, len, db_lookup, db, now, &p)) !=
	    ST_OK)
		return st;
	pfd.fd = ca_ocsp_pending_fd(p);
	pfd.events = POLLIN;
	CHECK(pfd.fd >= 0);
	CHECK(poll(&pfd, 1, 20000) == 1);
	r->st = ca_ocsp_respond_finish(p, &r->der, &r->len);
	return ST_OK;
}

/*
 * Whether the split answer a is the one-shot answer b but for the
 * signature (ECDSA's differs between any two): b with a's signature put
 * in is a's bytes, as OpenSSL encodes them, and both verify.
 */
static int
same_but_signature(const struct result *a, const struct result *b)
{
	const unsigned char *p;
	OCSP_RESPONSE *ra = NULL, *rb = NULL, *rc = NULL;
	OCSP_BASICRESP *ba = NULL, *bb = NULL;
	const ASN1_OCTET_STRING *sa;
	unsigned char *der = NULL;
	int len = -1, ok = 0;

	p = a->der;
	ra = d2i_OCSP_RESPONSE(NULL, &p, (long)a->len);
	p = b->der;
	rb = d2i_OCSP_RESPONSE(NULL, &p, (long)b->len);
	if (ra == NULL || rb == NULL ||
	    (ba = OCSP_response_get1_basic(ra)) == NULL ||
	    (bb = OCSP_response_get1_basic(rb)) == NULL ||
	    OCSP_basic_verify(ba, NULL, trust, 0) != 1 ||
	    OCSP_basic_verify(bb, NULL, trust, 0) != 1)
		goto out;
	sa = OCSP_resp_get0_signature(ba);
	if (!ASN1_BIT_STRING_set(
	        (ASN1_BIT_STRING *)OCSP_resp_get0_signature(bb),
	        (unsigned char *)ASN1_STRING_get0_data(sa),
	        ASN1_STRING_length(sa)) ||
	    (rc = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bb)) ==
	        NULL)
		goto out;
	len = i2d_OCSP_RESPONSE(rc, &der);
	ok = len > 0 && (size_t)len == a->len &&
	    memcmp(der, a->der, a->len) == 0;
out:
	OPENSSL_free(der);
	OCSP_RESPONSE_free(rc);
	OCSP_BASICRESP_free(ba);
	OCSP_BASICRESP_free(bb);
	OCSP_RESPONSE_free(ra);
	OCSP_RESPONSE_free(rb);
	return ok;
}

/*
 * ca_ocsp_respond split around its signature (the publication pool's
 * path): with the signer process, the same answers as ca_ocsp_respond,
 * signed or not; nothing started without a nonce, with a signer in this
 * process, or when every connection to the signer is in use (at once,
 * never waiting for one).
 */
static void
test_split(struct db *db, const char *dir)
{
	struct want w[3] = {{EVP_sha1(), ca, leaf_good, NULL},
	    {EVP_sha256(), ca, leaf_revoked, NULL},
	    {EVP_sha1(), ca, leaf_unknown, NULL}};
	struct want other = {EVP_sha1(), other_ca, other_leaf, NULL};
	struct split_server ss;
	struct signer *remote = NULL;
	struct signer_key *hk = NULL, *hk_token = NULL, *rk = NULL;
	struct signer_key *rk_token = NULL;
	struct ca_ocsp_config cfg;
	struct ca_ocsp *o = NULL, *o_token = NULL;
	struct ca_ocsp_pending *busy[SIGNER_REMOTE_CONNECTIONS];
	struct result a, b;
	OCSP_REQUEST *req;
	pthread_t server;
	char path[4096];
	uint8_t *der;
	size_t len, i, n;
	int64_t now = (int64_t)time(NULL);
	uint64_t one = 1;
	enum status st;

	memset(&ss, 0, sizeof(ss));
	snprintf(path, sizeof(path), "%s/split.sock", dir);
	CHECK_ST(signer_soft_open(NULL, NULL, 1, &ss.holder), ST_OK);
	if (ss.holder == NULL)
		return;
	CHECK_ST(signer_soft_key_add(
	             ss.holder, "resp", SIGNER_ROLE_OCSP, resp_key, &hk),
	    ST_OK);
	CHECK_ST(signer_soft_key_add(ss.holder, "resp-token", SIGNER_ROLE_TOKEN,
	             resp_key, &hk_token),
	    ST_OK);
	CHECK_ST(signer_listen(path, &ss.listen_fd), ST_OK);
	ss.stop_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(pthread_create(&server, NULL, split_serve, &ss) == 0);
	CHECK_ST(signer_remote_open(path, &remote), ST_OK);
	CHECK_ST(signer_key_find(remote, "resp", &rk), ST_OK);
	CHECK_ST(signer_key_find(remote, "resp-token", &rk_token), ST_OK);
	if (rk == NULL || rk_token == NULL)
		goto out;
	cfg = (struct ca_ocsp_config){ca, responder, rk, VALIDITY};
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_OK);
	cfg.responder_key = rk_token;
	CHECK_ST(ca_ocsp_new(&cfg, &o_token), ST_OK);
	if (o == NULL || o_token == NULL)
		goto out;

	/* One CertID and several, each status, SHA-1 and SHA-256. */
	for (n = 1; n <= 3; n++)
		for (i = 0; i + n <= 3; i++) {
			req = req_build(&w[i], n, 32);
			der = req_der(req, &len);
			CHECK_ST(
			    respond_split(o, db, der, len, now, &a), ST_OK);
			respond(o, db, der, len, now, &b);
			CHECK_ST(a.st, ST_OK);
			CHECK_ST(b.st, ST_OK);
			CHECK(a.der != NULL && b.der != NULL &&
			    same_but_signature(&a, &b));
			OPENSSL_free(a.der);
			OPENSSL_free(b.der);
			OPENSSL_free(der);
			OCSP_REQUEST_free(req);
		}

	/* The holder refuses (not a responder key): unauthorized, as the
	 * one-shot answer says it, byte for byte. */
	der = req_one(EVP_sha1(), ca, leaf_good, 32, &len);
	CHECK_ST(respond_split(o_token, db, der, len, now, &a), ST_OK);
	respond(o_token, db, der, len, now, &b);
	CHECK(is_error_response(&a, OCSP_RESPONSE_STATUS_UNAUTHORIZED));
	CHECK(a.len == b.len && memcmp(a.der, b.der, a.len) == 0);
	OPENSSL_free(a.der);
	OPENSSL_free(b.der);

	/* Nothing started: no nonce (its answer is kept), a malformed
	 * request, a CertID of another issuer, a signer in this process. */
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), ca, leaf_good, 0, &len);
	CHECK_ST(respond_split(o, db, der, len, now, &a), ST_NOTFOUND);
	CHECK_ST(respond_split(o, db, der, 3, now, &a), ST_MALFORMED);
	OPENSSL_free(der);
	req = req_build(&other, 1, 32);
	der = req_der(req, &len);
	OCSP_REQUEST_free(req);
	CHECK_ST(respond_split(o, db, der, len, now, &a), ST_DENIED);
	OPENSSL_free(der);
	der = req_one(EVP_sha1(), ca, leaf_good, 32, &len);
	{
		struct ca_ocsp *o_soft = NULL;

		cfg.responder_key =
		    testutil_signer_key(resp_key, SIGNER_ROLE_OCSP);
		CHECK_ST(ca_ocsp_new(&cfg, &o_soft), ST_OK);
		if (o_soft != NULL)
			CHECK_ST(respond_split(o_soft, db, der, len, now, &a),
			    ST_UNAVAILABLE);
		ca_ocsp_free(o_soft);
	}

	/* Every connection to the signer in use: the next start fails at
	 * once (a plain signature would wait for one), and those under way
	 * finish. */
	for (i = 0; i < SIGNER_REMOTE_CONNECTIONS; i++)
		CHECK_ST(ca_ocsp_respond_start(
		             o, der, len, db_lookup, db, now, &busy[i]),
		    ST_OK);
	CHECK_ST(ca_ocsp_respond_start(o, der, len, db_lookup, db, now,
	             &(struct ca_ocsp_pending *){NULL}),
	    ST_UNAVAILABLE);
	CHECK_DETAIL("in use");
	for (i = 0; i < SIGNER_REMOTE_CONNECTIONS; i++) {
		if (busy[i] == NULL)
			continue;
		CHECK_ST(
		    ca_ocsp_respond_finish(busy[i], &a.der, &a.len), ST_OK);
		CHECK(a.len > 5);
		OPENSSL_free(a.der);
	}
	/* And the pool has its connections back. */
	CHECK_ST(signer_ping(remote), ST_OK);

	/* The signer gone: nothing starts (a thread that may wait answers
	 * tryLater). */
	CHECK(write(ss.stop_fd, &one, sizeof(one)) == sizeof(one));
	pthread_join(server, NULL);
	server = 0;
	unlink(path);
	st = respond_split(o, db, der, len, now, &a);
	CHECK_ST(st, ST_UNAVAILABLE);
	CHECK(
	    answers_error(o, db, der, len, now, OCSP_RESPONSE_STATUS_TRYLATER));
	OPENSSL_free(der);
out:
	if (server != 0) {
		CHECK(write(ss.stop_fd, &one, sizeof(one)) == sizeof(one));
		pthread_join(server, NULL);
	}
	ca_ocsp_free(o);
	ca_ocsp_free(o_token);
	signer_key_free(rk);
	signer_key_free(rk_token);
	signer_close(remote);
	signer_key_free(hk);
	signer_key_free(hk_token);
	signer_close(ss.holder);
	if (ss.stop_fd > 0)
		close(ss.stop_fd);
}

int
main(void)
{
	struct ca_ocsp_config cfg;
	struct ca_ocsp *o = NULL;
	struct db db;
	char *dir = testutil_tmpdir();
	char *hsmdir = NULL;

	CHECK(dir != NULL);
	if (dir == NULL)
		TEST_END();
	ca_key = testutil_key("ec:P-256");
	resp_key = testutil_key("ec:P-256");
	leaf_key = testutil_key("ec:P-256");
	other_key = testutil_key("ec:P-256");
	ca = make_cert("tessera test CA", KIND_CA, ca_key, NULL, ca_key);
	responder =
	    make_cert("tessera OCSP", KIND_RESPONDER, resp_key, ca, ca_key);
	leaf_good = make_cert("good", KIND_LEAF, leaf_key, ca, ca_key);
	leaf_revoked = make_cert("revoked", KIND_LEAF, leaf_key, ca, ca_key);
	leaf_unknown = make_cert("unknown", KIND_LEAF, leaf_key, ca, ca_key);
	leaf_nohold = make_cert("no reason", KIND_LEAF, leaf_key, ca, ca_key);
	other_ca = make_cert("other CA", KIND_CA, other_key, NULL, other_key);
	other_leaf =
	    make_cert("other", KIND_LEAF, leaf_key, other_ca, other_key);
	trust = X509_STORE_new();
	if (ca == NULL || responder == NULL || leaf_good == NULL ||
	    leaf_revoked == NULL || leaf_unknown == NULL ||
	    leaf_nohold == NULL || other_ca == NULL || other_leaf == NULL ||
	    trust == NULL || !X509_STORE_add_cert(trust, ca)) {
		CHECK(0);
		TEST_END();
	}
	revoked_at = (int64_t)time(NULL) - 1000;
	memset(&db, 0, sizeof(db));
	db_add(&db, leaf_good, CA_OCSP_GOOD, 0, -1);
	db_add(&db, leaf_revoked, CA_OCSP_REVOKED, revoked_at,
	    OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	db_add(&db, leaf_unknown, CA_OCSP_UNKNOWN, 0, -1);
	db_add(&db, leaf_nohold, CA_OCSP_REVOKED, revoked_at - 60, -1);

	test_new_errors();
	cfg = (struct ca_ocsp_config){ca, responder,
	    testutil_signer_key(resp_key, SIGNER_ROLE_OCSP), VALIDITY};
	CHECK_ST(ca_ocsp_new(&cfg, &o), ST_OK);
	if (o != NULL) {
		test_good(o, &db);
		test_revoked_nonce(o, &db);
		test_never_issued(o, &db);
		test_sha256_and_multi(o, &db);
		test_malformed(o, &db);
		test_critical_ext(o, &db);
		test_self_signer(&db);
		test_failures(o, &db);
		test_peek_presign(o, &db);
		test_openssl_cli(o, &db, dir);
		test_openssl_identical(o, &db);
		test_split(&db, dir);
	}
	ca_ocsp_free(o);
	if ((hsmdir = testutil_tmpdir()) != NULL) {
		test_hsm(&db, hsmdir);
		testutil_rmtree(hsmdir);
		free(hsmdir);
	}

	X509_STORE_free(trust);
	X509_free(ca);
	X509_free(responder);
	X509_free(leaf_good);
	X509_free(leaf_revoked);
	X509_free(leaf_unknown);
	X509_free(leaf_nohold);
	X509_free(other_ca);
	X509_free(other_leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(resp_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
