/*
 * The OCSP responder core: RFC 6960 with the RFC 5019 profile.
 *
 * Choices, each for a reason:
 * - A request may carry up to LIMIT_OCSP_CERTIDS CertIDs and each is
 *   answered (RFC 6960 §4.1.1 allows a list; RFC 5019 §2.1.1 has clients
 *   send one, and a pre-signed answer only ever fits one).
 * - A CertID is ours when its issuerNameHash and issuerKeyHash match our
 *   issuer under the CertID's own hash algorithm (SHA-1, SHA-256, SHA-384,
 *   SHA-512). A request with any CertID that is not ours is answered
 *   unauthorized as a whole (RFC 6960 §2.3): a delegated responder speaks
 *   for one CA only, and OpenSSL clients (ocsp_check_ids) refuse a
 *   delegated answer whose SingleResponses name two issuers, so "unknown"
 *   for the stranger would break the answers for ours too.
 * - A serial we never issued is answered revoked, 1970-01-01,
 *   certificateHold, with the extended-revoke extension (RFC 6960 §2.2,
 *   §4.4.8): never "good".
 * - The request signature and requestorName are ignored: we answer anyone
 *   (RFC 5019 §2.1.2); unknown request extensions are ignored unless
 *   critical, which makes the request malformedRequest (RFC 6960 §4.4).
 * - The responder certificate is the only one in the response and the
 *   responderID is byKey (RFC 5019 §2.2.3), which keeps answers small.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/issue.h"
#include "ca/ocsp.h"
#include "common/digest.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"
#include "signer/signer.h"

/*
 * An OCSPRequest with one CertID and a 32-byte nonce is ~120 bytes; a
 * signed one with a certificate a few KB. 8 KiB is ample and bounds work.
 */
#define LIMIT_OCSP_REQUEST (8 * 1024)
/* CertIDs in one request: RFC 5019 clients send one; tolerate a few. */
#define LIMIT_OCSP_CERTIDS 8
/* RFC 9654 §2.1: Nonce ::= OCTET STRING (SIZE(1..128)). */
#define LIMIT_OCSP_NONCE 128
/* Longest nextUpdate - thisUpdate we sign; longer is a configuration slip. */
#define OCSP_VALIDITY_MAX (30 * 86400)
/* 9999-12-31T23:59:59Z, the last GeneralizedTime second. */
#define OCSP_TIME_MAX INT64_C(253402300799)
/* id-pkix-ocsp-extended-revoke (RFC 6960 §4.4.8); OpenSSL has no NID. */
#define OID_EXTENDED_REVOKE "1.3.6.1.5.5.7.48.1.9"

/* Hash algorithms we recognise in a CertID. */
static const int digest_nids[] = {NID_sha1, NID_sha256, NID_sha384, NID_sha512};
#define DIGEST_COUNT (sizeof(digest_nids) / sizeof(digest_nids[0]))

/*
 * A peek is a function of the request's bytes and this responder's issuer
 * alone, and every gateway asks the same few requests again and again:
 * parsing one and building our CertID to compare costs more than serving
 * its stored answer. Nonce-less requests of up to PEEK_MEMO_DER bytes (a
 * SHA-1 or SHA-256 CertID is about 70 to 100) are remembered, the bytes
 * compared in full; a new request takes its slot over.
 */
#define PEEK_MEMO_SLOTS 2048
#define PEEK_MEMO_LOCKS 64
#define PEEK_MEMO_DER 160

struct peek_memo {
	size_t len; /* 0: empty */
	uint8_t der[PEEK_MEMO_DER];
	enum status st; /* ST_OK or ST_DENIED (another issuer) */
	struct ca_ocsp_peek pk;
};

struct peek_memos {
	pthread_mutex_t mu[PEEK_MEMO_LOCKS]; /* slot k: mu[k % LOCKS] */
	struct peek_memo slot[PEEK_MEMO_SLOTS];
};

struct ca_ocsp {
	X509 *issuer;
	X509 *responder;
	const struct signer_key *key; /* borrowed */
	int64_t validity;
	/* Our issuer's CertID (empty serial) under each of digest_nids. */
	OCSP_CERTID *issuer_ids[DIGEST_COUNT];
	ASN1_OBJECT *extended_revoke;
	/*
	 * What every online answer repeats, made once here (the responder's
	 * certificate and key are this responder's for its life; a key set
	 * later matches the same certificate): the responderID's key hash,
	 * the signature's digest and AlgorithmIdentifier, and the certs
	 * field with the responder's certificate.
	 */
	uint8_t key_hash[SHA_DIGEST_LENGTH];
	int md_nid;
	uint8_t *alg;
	size_t alg_len;
	struct buf certs;
	/* What ca_ocsp_request_peek found for recent requests, by their DER
	 * (direct-mapped; NULL: none kept). */
	struct peek_memos *memo;
};

void
ca_ocsp_set_key(struct ca_ocsp *ocsp, const struct signer_key *key)
{
	ocsp->key = key;
}

void
ca_ocsp_free(struct ca_ocsp *ocsp)
{
	size_t i;

	if (ocsp == NULL)
		return;
	X509_free(ocsp->issuer);
	X509_free(ocsp->responder);
	for (i = 0; i < DIGEST_COUNT; i++)
		OCSP_CERTID_free(ocsp->issuer_ids[i]);
	ASN1_OBJECT_free(ocsp->extended_revoke);
	OPENSSL_free(ocsp->alg);
	buf_free(&ocsp->certs);
	if (ocsp->memo != NULL)
		for (i = 0; i < PEEK_MEMO_LOCKS; i++)
			pthread_mutex_destroy(&ocsp->memo->mu[i]);
	free(ocsp->memo);
	free(ocsp);
}

static size_t tlv_size(size_t len);

/*
 * The parts of every online answer that depend on the responder alone
 * (struct ca_ocsp): made once, not per answer.
 */
static enum status
answer_parts(struct ca_ocsp *ocsp, const struct signer_key *key)
{
	uint8_t *cert = NULL;
	unsigned int hash_len = 0;
	int cert_len;
	enum status st;

	ocsp->md_nid = ca_key_md_nid(signer_key_get0_public(key));
	if (!X509_pubkey_digest(
	        ocsp->responder, EVP_sha1(), ocsp->key_hash, &hash_len) ||
	    hash_len != sizeof(ocsp->key_hash))
		return status_fail_ssl(ST_INTERNAL, "responderID");
	if ((st = signer_sigalg_der(
	         key, ocsp->md_nid, &ocsp->alg, &ocsp->alg_len)) != ST_OK)
		return st;
	/* certs [0] EXPLICIT SEQUENCE OF Certificate: the responder's. */
	if ((cert_len = i2d_X509(ocsp->responder, &cert)) <= 0)
		return status_fail_ssl(
		    ST_INTERNAL, "the responder certificate");
	if ((st = buf_der_head(
	         &ocsp->certs, 0xa0, tlv_size((size_t)cert_len))) == ST_OK &&
	    (st = buf_der_head(&ocsp->certs, 0x30, (size_t)cert_len)) == ST_OK)
		st = buf_append(&ocsp->certs, cert, (size_t)cert_len);
	OPENSSL_free(cert);
	return st;
}

enum status
ca_ocsp_new(const struct ca_ocsp_config *cfg, struct ca_ocsp **out)
{
	struct ca_ocsp *ocsp = NULL;
	const EVP_MD *md;
	enum status st = ST_INTERNAL;
	size_t i;
	int is_self;

	*out = NULL;
	if (cfg == NULL || cfg->issuer == NULL || cfg->responder == NULL ||
	    cfg->responder_key == NULL)
		return status_fail(ST_INTERNAL,
		    "OCSP responder: missing issuer, responder or key");
	if (cfg->validity_seconds < 1 ||
	    cfg->validity_seconds > OCSP_VALIDITY_MAX)
		return status_fail(ST_LIMIT,
		    "OCSP validity %lld s is not within 1..%d s",
		    (long long)cfg->validity_seconds, OCSP_VALIDITY_MAX);
	/* RFC 6960 §4.2.2.2: the CA itself signs (the root answering for
	 * the CAs it issued), or a delegate it issued directly. */
	is_self = X509_cmp(cfg->issuer, cfg->responder) == 0;
	if (!is_self &&
	    (X509_check_issued(cfg->issuer, cfg->responder) != X509_V_OK ||
	        X509_verify(cfg->responder, X509_get0_pubkey(cfg->issuer)) !=
	            1))
		return status_fail_ssl(ST_DENIED,
		    "OCSP responder certificate is not issued by the CA "
		    "(RFC 6960 §4.2.2.2)");
	if (!is_self &&
	    ((X509_get_extension_flags(cfg->responder) & EXFLAG_XKUSAGE) == 0 ||
	        (X509_get_extended_key_usage(cfg->responder) & XKU_OCSP_SIGN) ==
	            0))
		return status_fail(ST_DENIED,
		    "OCSP responder certificate lacks id-kp-OCSPSigning "
		    "(RFC 6960 §4.2.2.2)");
	if (EVP_PKEY_eq(X509_get0_pubkey(cfg->responder),
	        signer_key_get0_public(cfg->responder_key)) != 1)
		return status_fail_ssl(ST_CONFLICT,
		    "OCSP responder key does not match its certificate");
	if (!is_self &&
	    X509_get_ext_by_NID(cfg->responder, NID_id_pkix_OCSP_noCheck, -1) <
	        0)
		log_warn(
		    "OCSP responder certificate has no id-pkix-ocsp-nocheck "
		    "(RFC 6960 §4.2.2.2.1): clients may try to check it");

	if ((ocsp = calloc(1, sizeof(*ocsp))) == NULL)
		return ST_NOMEM;
	buf_init(&ocsp->certs, LIMIT_CERT_DER + 16);
	/* Without it every peek parses (only slower). */
	if ((ocsp->memo = calloc(1, sizeof(*ocsp->memo))) != NULL)
		for (i = 0; i < PEEK_MEMO_LOCKS; i++)
			pthread_mutex_init(&ocsp->memo->mu[i], NULL);
	if (!X509_up_ref(cfg->issuer))
		goto out;
	ocsp->issuer = cfg->issuer;
	if (!X509_up_ref(cfg->responder))
		goto out;
	ocsp->responder = cfg->responder;
	ocsp->key = cfg->responder_key;
	ocsp->validity = cfg->validity_seconds;
	for (i = 0; i < DIGEST_COUNT; i++) {
		if ((md = EVP_get_digestbynid(digest_nids[i])) == NULL ||
		    (ocsp->issuer_ids[i] =
		            OCSP_cert_to_id(md, NULL, cfg->issuer)) == NULL) {
			st = status_fail_ssl(ST_INTERNAL, "issuer CertID");
			goto out;
		}
	}
	if ((ocsp->extended_revoke = OBJ_txt2obj(OID_EXTENDED_REVOKE, 1)) ==
	    NULL) {
		st = status_fail_ssl(ST_INTERNAL, "extended-revoke OID");
		goto out;
	}
	if ((st = answer_parts(ocsp, cfg->responder_key)) != ST_OK)
		goto out;
	*out = ocsp;
	ocsp = NULL;
	st = ST_OK;
out:
	ca_ocsp_free(ocsp);
	return st;
}

/*
 * The nonce extension, if any, must be one OCTET STRING of 1..128 octets
 * (RFC 9654 §2.1; RFC 8954 had 32 as the floor for new clients, but
 * OpenSSL and others send 16 or fewer, so any length from 1 is taken).
 */
static enum status
nonce_check(OCSP_REQUEST *req, int *has_nonce)
{
	ASN1_OCTET_STRING *inner = NULL;
	const ASN1_OCTET_STRING *data;
	const unsigned char *p, *end;
	X509_EXTENSION *ext;
	enum status st = ST_MALFORMED;
	int loc, n;

	*has_nonce = 0;
	loc = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	if (loc < 0)
		return ST_OK;
	if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, loc) >= 0)
		return status_fail(ST_MALFORMED, "two nonce extensions");
	if ((ext = OCSP_REQUEST_get_ext(req, loc)) == NULL ||
	    (data = X509_EXTENSION_get_data(ext)) == NULL)
		return status_fail(ST_MALFORMED, "nonce extension");
	p = ASN1_STRING_get0_data(data);
	n = ASN1_STRING_length(data);
	end = p + n;
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, n);
	if (inner == NULL || p != end) {
		status_fail(ST_MALFORMED,
		    "nonce is not one OCTET STRING (RFC 9654 §2.1)");
		goto out;
	}
	n = ASN1_STRING_length(inner);
	if (n < 1 || n > LIMIT_OCSP_NONCE) {
		status_fail(ST_MALFORMED,
		    "nonce of %d octets, not 1..%d (RFC 9654 §2.1)", n,
		    LIMIT_OCSP_NONCE);
		goto out;
	}
	*has_nonce = 1;
	st = ST_OK;
out:
	ASN1_OCTET_STRING_free(inner);
	ERR_clear_error();
	return st;
}

/*
 * RFC 6960 §4.4 (and RFC 5280 §4.2): an extension that is not understood
 * is ignored only when it is not critical. A critical one we do not
 * understand makes the request one we cannot answer as asked:
 * malformedRequest (§4.2.1), never a silent answer that ignores it. We
 * understand the nonce (§4.4.1) and acceptable responses (§4.4.3: we only
 * ever answer id-pkix-ocsp-basic, which every client accepts).
 */
static enum status
extensions_check(const STACK_OF(X509_EXTENSION) * exts, const char *where)
{
	X509_EXTENSION *ext;
	char oid[80];
	int i, nid;

	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		if (!X509_EXTENSION_get_critical(ext))
			continue;
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
		if (nid == NID_id_pkix_OCSP_Nonce ||
		    nid == NID_id_pkix_OCSP_acceptableResponses)
			continue;
		if (OBJ_obj2txt(oid, sizeof(oid),
		        X509_EXTENSION_get_object(ext), 1) <= 0)
			snprintf(oid, sizeof(oid), "?");
		return status_fail(ST_MALFORMED,
		    "critical %s extension %s is not understood (RFC 6960 "
		    "§4.4)",
		    where, oid);
	}
	return ST_OK;
}

/* requestExtensions and each singleRequestExtensions (§4.1.1). */
static enum status
request_extensions_check(OCSP_REQUEST *req, int n)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	OCSP_ONEREQ *one;
	enum status st = ST_OK;
	int i, j, count;

	for (i = -1; i < n && st == ST_OK; i++) {
		one = i < 0 ? NULL : OCSP_request_onereq_get0(req, i);
		count = i < 0 ? OCSP_REQUEST_get_ext_count(req)
		              : OCSP_ONEREQ_get_ext_count(one);
		if (count <= 0)
			continue;
		if ((exts = sk_X509_EXTENSION_new_null()) == NULL)
			return ST_NOMEM;
		for (j = 0; j < count; j++) {
			ext = i < 0 ? OCSP_REQUEST_get_ext(req, j)
			            : OCSP_ONEREQ_get_ext(one, j);
			if (ext != NULL && !sk_X509_EXTENSION_push(exts, ext)) {
				st = ST_NOMEM;
				break;
			}
		}
		if (st == ST_OK)
			st = extensions_check(
			    exts, i < 0 ? "request" : "singleRequest");
		/* The stack borrows the extensions. */
		sk_X509_EXTENSION_free(exts);
		exts = NULL;
	}
	return st;
}

/*
 * Decode exactly one DER OCSPRequest with 1..LIMIT_OCSP_CERTIDS CertIDs and
 * a valid nonce or none. The caller frees *out with OCSP_REQUEST_free.
 */
static enum status
request_parse(
    const uint8_t *der, size_t len, OCSP_REQUEST **out, int *has_nonce)
{
	OCSP_REQUEST *req = NULL;
	const unsigned char *p = der;
	enum status st = ST_MALFORMED;
	int n;

	*out = NULL;
	*has_nonce = 0;
	if (der == NULL || len == 0)
		return status_fail(ST_MALFORMED, "empty OCSP request");
	if (len > LIMIT_OCSP_REQUEST)
		return status_fail(ST_LIMIT, "OCSP request of %zu bytes", len);
	req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	if (req == NULL || p != der + len) {
		status_fail_ssl(ST_MALFORMED,
		    "not exactly one DER OCSPRequest (RFC 6960 §4.1.1)");
		goto out;
	}
	n = OCSP_request_onereq_count(req);
	if (n < 1) {
		status_fail(ST_MALFORMED, "OCSP requestList is empty");
		goto out;
	}
	if (n > LIMIT_OCSP_CERTIDS) {
		st = status_fail(ST_LIMIT, "OCSP request with %d CertIDs", n);
		goto out;
	}
	if ((st = nonce_check(req, has_nonce)) != ST_OK)
		goto out;
	if ((st = request_extensions_check(req, n)) != ST_OK)
		goto out;
	*out = req;
	req = NULL;
	st = ST_OK;
out:
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return st;
}

/*
 * The index in digest_nids of cid's hash algorithm when cid names our
 * issuer, or -1 when it names another one or uses a hash we do not know.
 */
static int
issuer_match(const struct ca_ocsp *ocsp, OCSP_CERTID *cid)
{
	ASN1_OBJECT *md_oid = NULL;
	OCSP_CERTID *copy;
	size_t i;
	int nid;

	/* One OpenSSL reads but cannot copy (hashAlgorithm parameters of a
	 * tag it does not read back) would fail the SingleResponse that
	 * echoes it: not ours either. */
	if (!OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, cid) ||
	    md_oid == NULL || (copy = OCSP_CERTID_dup(cid)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	OCSP_CERTID_free(copy);
	nid = OBJ_obj2nid(md_oid);
	for (i = 0; i < DIGEST_COUNT; i++)
		if (nid == digest_nids[i] &&
		    OCSP_id_issuer_cmp(ocsp->issuer_ids[i], cid) == 0)
			return (int)i;
	return -1;
}

/*
 * A CertID serial as uppercase hex, as ca_cert_serial_hex writes it.
 * ST_NOTFOUND for one we cannot have issued: zero, negative or over 20
 * octets (RFC 5280 §4.1.2.2).
 */
static enum status
serial_to_hex(const ASN1_INTEGER *serial, char hex[41])
{
	BIGNUM *bn = NULL;
	char *s = NULL;
	enum status st = ST_NOTFOUND;
	size_t n;

	hex[0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL) {
		st = status_fail_ssl(ST_INTERNAL, "CertID serial");
		goto out;
	}
	if (BN_is_zero(bn) || BN_is_negative(bn) || BN_num_bytes(bn) > 20)
		goto out;
	if ((s = BN_bn2hex(bn)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((n = strlen(s)) > 40)
		goto out;
	memcpy(hex, s, n + 1);
	st = ST_OK;
out:
	OPENSSL_free(s);
	BN_free(bn);
	return st;
}

/* The inverse of serial_to_hex: only its canonical output is accepted. */
static enum status
hex_to_serial(const char *hex, ASN1_INTEGER **out)
{
	BIGNUM *bn = NULL;
	char back[41];
	enum status st = ST_MALFORMED;
	size_t i, n;

	*out = NULL;
	n = hex == NULL ? 0 : strnlen(hex, 41);
	if (n == 0 || n > 40)
		return status_fail(ST_MALFORMED, "serial is not 1..40 hex");
	for (i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		        (hex[i] >= 'A' && hex[i] <= 'F')))
			return status_fail(
			    ST_MALFORMED, "serial is not uppercase hex");
	if (BN_hex2bn(&bn, hex) != (int)n) {
		st = status_fail_ssl(ST_NOMEM, "serial");
		goto out;
	}
	if ((*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		st = status_fail_ssl(ST_NOMEM, "serial");
		goto out;
	}
	if (serial_to_hex(*out, back) != ST_OK || strcmp(back, hex) != 0) {
		ASN1_INTEGER_free(*out);
		*out = NULL;
		st = status_fail(ST_MALFORMED,
		    "serial %s is zero or not in canonical form", hex);
		goto out;
	}
	st = ST_OK;
out:
	BN_free(bn);
	return st;
}

/* The CRLReason to put in a revokedInfo, or -2 when reason is invalid. */
static int
reason_code(int reason)
{
	if (reason == -1 || reason == 0)
		return OCSP_REVOKED_STATUS_NOSTATUS;
	if (reason >= 1 && reason <= 10 && reason != 7)
		return reason;
	return -2;
}

/* A GeneralizedTime for Unix seconds t (RFC 6960 §4.2.2.1). */
static ASN1_GENERALIZEDTIME *
gtime(int64_t t)
{
	return ASN1_GENERALIZEDTIME_set(NULL, (time_t)t);
}

/*
 * Add one SingleResponse for cid in status st (NULL: never issued) to bs.
 * *not_issued is set when the answer needs the extended-revoke extension.
 */
static enum status
add_single(OCSP_BASICRESP *bs, OCSP_CERTID *cid,
    const struct ca_ocsp_status *st, ASN1_GENERALIZEDTIME *thisupd,
    ASN1_GENERALIZEDTIME *nextupd, int *not_issued)
{
	ASN1_GENERALIZEDTIME *revtime = NULL;
	enum status rc = ST_INTERNAL;
	int status, reason = OCSP_REVOKED_STATUS_NOSTATUS;

	if (st == NULL) {
		/* RFC 6960 §2.2: a serial we never issued. */
		status = V_OCSP_CERTSTATUS_REVOKED;
		reason = OCSP_REVOKED_STATUS_CERTIFICATEHOLD;
		if ((revtime = gtime(0)) == NULL)
			goto out;
		*not_issued = 1;
	} else if (st->status == CA_OCSP_GOOD) {
		status = V_OCSP_CERTSTATUS_GOOD;
	} else if (st->status == CA_OCSP_UNKNOWN) {
		status = V_OCSP_CERTSTATUS_UNKNOWN;
	} else if (st->status == CA_OCSP_REVOKED) {
		status = V_OCSP_CERTSTATUS_REVOKED;
		if ((reason = reason_code(st->reason)) == -2 ||
		    st->revoked_at < 0 || st->revoked_at > OCSP_TIME_MAX) {
			rc = status_fail(ST_MALFORMED,
			    "revocation reason %d or time %lld out of range",
			    st->reason, (long long)st->revoked_at);
			goto out;
		}
		if ((revtime = gtime(st->revoked_at)) == NULL)
			goto out;
	} else {
		rc = status_fail(
		    ST_MALFORMED, "certificate status %d", (int)st->status);
		goto out;
	}
	if (OCSP_basic_add1_status(
	        bs, cid, status, reason, revtime, thisupd, nextupd) == NULL)
		goto out;
	rc = ST_OK;
out:
	if (rc == ST_INTERNAL)
		status_fail_ssl(ST_INTERNAL, "OCSP SingleResponse");
	ASN1_GENERALIZEDTIME_free(revtime);
	return rc;
}

/* Add id-pkix-ocsp-extended-revoke, value NULL, to responseExtensions. */
static enum status
add_extended_revoke(const struct ca_ocsp *ocsp, OCSP_BASICRESP *bs)
{
	static const unsigned char der_null[] = {0x05, 0x00};
	ASN1_OCTET_STRING *value = NULL;
	X509_EXTENSION *ext = NULL;
	enum status st = ST_INTERNAL;

	if ((value = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(value, der_null, sizeof(der_null)))
		goto out;
	if ((ext = X509_EXTENSION_create_by_OBJ(
	         NULL, ocsp->extended_revoke, 0, value)) == NULL)
		goto out;
	if (!OCSP_BASICRESP_add_ext(bs, ext, -1))
		goto out;
	st = ST_OK;
out:
	if (st != ST_OK)
		status_fail_ssl(st, "extended-revoke extension");
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(value);
	return st;
}

/*
 * The DER ResponseData of bs (RFC 6960 §4.2.1): responderID byKey (RFC 5019
 * §2.2.3), producedAt = now, bs's SingleResponses and responseExtensions,
 * in the order OpenSSL's own encoder writes them.
 */
static enum status
respdata_der(const struct ca_ocsp *ocsp, OCSP_BASICRESP *bs, int64_t now,
    struct buf *out)
{
	struct buf items;
	unsigned char *der = NULL;
	char produced[16];
	struct tm tm;
	time_t t = (time_t)now;
	int i, count, len;
	size_t resp_len;
	enum status st = ST_INTERNAL;

	buf_init(&items, LIMIT_SIGNER_TBS);
	/* producedAt as ASN1_GENERALIZEDTIME_set writes it (the caller
	 * checked now is within OCSP_TIME_MAX). */
	if (gmtime_r(&t, &tm) == NULL ||
	    snprintf(produced, sizeof(produced), "%04d%02d%02d%02d%02d%02dZ",
	        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	        tm.tm_min, tm.tm_sec) != 15) {
		st =
		    status_fail(ST_INTERNAL, "producedAt %lld", (long long)now);
		goto out;
	}
	/* ResponderID byKey: [2] EXPLICIT KeyHash (OCTET STRING, SHA-1). */
	if ((st = buf_der_head(&items, 0xa2, 2 + sizeof(ocsp->key_hash))) !=
	        ST_OK ||
	    (st = buf_der_head(&items, 0x04, sizeof(ocsp->key_hash))) !=
	        ST_OK ||
	    (st = buf_append(&items, ocsp->key_hash, sizeof(ocsp->key_hash))) !=
	        ST_OK ||
	    (st = buf_der_head(&items, 0x18, 15)) != ST_OK ||
	    (st = buf_append(&items, produced, 15)) != ST_OK)
		goto out;
	/* responses: SEQUENCE OF SingleResponse; its length first. */
	count = OCSP_resp_count(bs);
	for (i = 0, resp_len = 0; i < count; i++) {
		if ((len = i2d_OCSP_SINGLERESP(OCSP_resp_get0(bs, i), NULL)) <=
		    0)
			goto fail;
		resp_len += (size_t)len;
	}
	if ((st = buf_der_head(&items, 0x30, resp_len)) != ST_OK)
		goto out;
	for (i = 0; i < count; i++) {
		if ((len = i2d_OCSP_SINGLERESP(OCSP_resp_get0(bs, i), &der)) <=
		        0 ||
		    (st = buf_append(&items, der, (size_t)len)) != ST_OK)
			goto fail;
		OPENSSL_free(der);
		der = NULL;
	}
	/* responseExtensions: [1] EXPLICIT Extensions, when there are any. */
	if ((count = OCSP_BASICRESP_get_ext_count(bs)) > 0) {
		struct buf exts;

		buf_init(&exts, LIMIT_SIGNER_TBS);
		for (i = 0, st = ST_OK; i < count && st == ST_OK; i++) {
			if ((len = i2d_X509_EXTENSION(
			         OCSP_BASICRESP_get_ext(bs, i), &der)) <= 0)
				st = ST_INTERNAL;
			else
				st = buf_append(&exts, der, (size_t)len);
			OPENSSL_free(der);
			der = NULL;
		}
		if (st == ST_OK) {
			struct buf seq;

			buf_init(&seq, LIMIT_SIGNER_TBS);
			if ((st = buf_der_head(&seq, 0x30, exts.len)) ==
			        ST_OK &&
			    (st = buf_append(&seq, exts.data, exts.len)) ==
			        ST_OK &&
			    (st = buf_der_head(&items, 0xa1, seq.len)) == ST_OK)
				st = buf_append(&items, seq.data, seq.len);
			buf_free(&seq);
		}
		buf_free(&exts);
		if (st != ST_OK)
			goto fail;
	}
	if ((st = buf_der_head(out, 0x30, items.len)) != ST_OK ||
	    (st = buf_append(out, items.data, items.len)) != ST_OK)
		goto out;
	st = ST_OK;
	goto out;
fail:
	if (st == ST_OK || st == ST_INTERNAL)
		st = status_fail_ssl(ST_INTERNAL, "encoding ResponseData");
out:
	OPENSSL_free(der);
	buf_free(&items);
	return st;
}

/* The DER size of a TLV whose value is len bytes. */
static size_t
tlv_size(size_t len)
{
	size_t n = 2, v;

	if (len >= 0x80)
		for (v = len; v > 0; v >>= 8)
			n++;
	return n + len;
}

/*
 * OCSPResponse { successful, responseBytes { id-pkix-ocsp-basic, basic } }
 * (RFC 6960 §4.2.1) around the signed BasicOCSPResponse, written as DER
 * (OPENSSL_malloc): the basic response is tessera's own bytes, and parsing
 * it back to let OpenSSL wrap it would decode the responder's certificate
 * and key on every online answer.
 */
static enum status
response_wrap(
    const uint8_t *basic, size_t basic_len, uint8_t **out, size_t *out_len)
{
	static const uint8_t status_ok[] = {0x0a, 0x01, 0x00};
	static const uint8_t basic_oid[] = {
	    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
	size_t bytes_in = sizeof(basic_oid) + tlv_size(basic_len);
	size_t outer_in = sizeof(status_ok) + tlv_size(tlv_size(bytes_in));
	struct buf b;
	enum status st;

	*out = NULL;
	*out_len = 0;
	buf_init(&b, tlv_size(outer_in));
	if ((st = buf_der_head(&b, 0x30, outer_in)) != ST_OK ||
	    (st = buf_append(&b, status_ok, sizeof(status_ok))) != ST_OK ||
	    (st = buf_der_head(&b, 0xa0, tlv_size(bytes_in))) != ST_OK ||
	    (st = buf_der_head(&b, 0x30, bytes_in)) != ST_OK ||
	    (st = buf_append(&b, basic_oid, sizeof(basic_oid))) != ST_OK ||
	    (st = buf_der_head(&b, 0x04, basic_len)) != ST_OK ||
	    (st = buf_append(&b, basic, basic_len)) != ST_OK)
		goto out;
	if ((*out = OPENSSL_memdup(b.data, b.len)) == NULL) {
		st = status_fail(ST_NOMEM, "encoding the OCSP response");
		goto out;
	}
	*out_len = b.len;
out:
	buf_free(&b);
	return st;
}

/*
 * Sign bs at now: its ResponseData (respdata_der) goes to the signer
 * (purpose OCSP, the key's digest: sign_md), and the BasicOCSPResponse
 * is assembled with the responder certificate included once. The DER
 * OCSPResponse goes to *resp (OPENSSL_free). ST_UNAVAILABLE when signing
 * fails: the token or the signer is the likely cause.
 */
static enum status
basic_sign(struct ca_ocsp *ocsp, OCSP_BASICRESP *bs, int64_t now,
    uint8_t **resp, size_t *resp_len)
{
	struct buf tbs;
	uint8_t *sig = NULL, *basic = NULL, *der = NULL;
	size_t sig_len = 0, basic_len = 0, len = 0;
	enum status st;

	buf_init(&tbs, LIMIT_SIGNER_TBS);
	if (ocsp->key == NULL) {
		st = status_fail(ST_UNAVAILABLE,
		    "the OCSP responder's key is not available (the HSM is "
		    "away, or the responder was revoked and its successor is "
		    "not there yet)");
		goto out;
	}
	if ((st = respdata_der(ocsp, bs, now, &tbs)) != ST_OK ||
	    (st = signer_sign(ocsp->key, SIGNER_PURPOSE_OCSP, ocsp->md_nid,
	         tbs.data, tbs.len, &sig, &sig_len)) != ST_OK)
		goto out;
	if ((st = signer_signed_der(tbs.data, tbs.len, ocsp->alg, ocsp->alg_len,
	         sig, sig_len, ocsp->certs.data, ocsp->certs.len, &basic,
	         &basic_len)) != ST_OK ||
	    (st = response_wrap(basic, basic_len, &der, &len)) != ST_OK)
		goto out;
	*resp = der;
	*resp_len = len;
	der = NULL;
	st = ST_OK;
out:
	OPENSSL_free(der);
	OPENSSL_free(basic);
	OPENSSL_free(sig);
	buf_free(&tbs);
	return st;
}

/* An unsigned OCSPResponse with only responseStatus (RFC 6960 §4.2.1). */
static enum status
error_response(int rstatus, uint8_t **resp, size_t *resp_len)
{
	OCSP_RESPONSE *r;
	unsigned char *der = NULL;
	int len;

	if ((r = OCSP_response_create(rstatus, NULL)) == NULL)
		return ST_NOMEM;
	len = i2d_OCSP_RESPONSE(r, &der);
	OCSP_RESPONSE_free(r);
	if (len <= 0) {
		OPENSSL_free(der);
		ERR_clear_error();
		return ST_NOMEM;
	}
	*resp = der;
	*resp_len = (size_t)len;
	return ST_OK;
}

/* Whether thisUpdate = now and nextUpdate = now + validity are encodable. */
static enum status
now_check(const struct ca_ocsp *ocsp, int64_t now)
{
	if (now < 0 || now > OCSP_TIME_MAX - ocsp->validity)
		return status_fail(
		    ST_INTERNAL, "time %lld out of range", (long long)now);
	return ST_OK;
}

/*
 * The unsigned BasicOCSPResponse for req: one SingleResponse per CertID.
 * ST_DENIED when a CertID is not ours (unauthorized); a lookup's failure
 * is passed on.
 */
static enum status
basic_build(struct ca_ocsp *ocsp, OCSP_REQUEST *req, int has_nonce,
    ca_ocsp_lookup_fn lookup, void *arg, int64_t now, OCSP_BASICRESP **out)
{
	OCSP_BASICRESP *bs = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	struct ca_ocsp_status cs;
	const struct ca_ocsp_status *csp;
	OCSP_CERTID *cid;
	ASN1_INTEGER *serial = NULL;
	char hex[41];
	enum status st = ST_INTERNAL;
	int i, n, not_issued = 0;

	*out = NULL;
	if ((st = now_check(ocsp, now)) != ST_OK)
		return st;
	n = OCSP_request_onereq_count(req);
	for (i = 0; i < n; i++) {
		cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		if (issuer_match(ocsp, cid) < 0)
			return status_fail(ST_DENIED,
			    "OCSP CertID %d names another issuer or an "
			    "unsupported hash (RFC 6960 §2.3)",
			    i);
	}
	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (thisupd = gtime(now)) == NULL ||
	    (nextupd = gtime(now + ocsp->validity)) == NULL) {
		st = status_fail_ssl(ST_NOMEM, "OCSP response");
		goto out;
	}
	for (i = 0; i < n; i++) {
		cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		if (!OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid)) {
			st = status_fail_ssl(ST_INTERNAL, "CertID");
			goto out;
		}
		st = serial_to_hex(serial, hex);
		if (st == ST_OK) {
			memset(&cs, 0, sizeof(cs));
			cs.reason = -1;
			st = lookup(arg, hex, &cs);
		}
		if (st == ST_OK)
			csp = &cs;
		else if (st == ST_NOTFOUND)
			csp = NULL;
		else
			goto out;
		if ((st = add_single(bs, cid, csp, thisupd, nextupd,
		         &not_issued)) != ST_OK) {
			/* Our lookup gave a status we cannot encode: a bug. */
			if (st == ST_MALFORMED)
				st = ST_INTERNAL;
			goto out;
		}
	}
	if (not_issued && (st = add_extended_revoke(ocsp, bs)) != ST_OK)
		goto out;
	if (has_nonce && OCSP_copy_nonce(bs, req) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "copying the nonce");
		goto out;
	}
	*out = bs;
	bs = NULL;
	st = ST_OK;
out:
	ASN1_GENERALIZEDTIME_free(thisupd);
	ASN1_GENERALIZEDTIME_free(nextupd);
	OCSP_BASICRESP_free(bs);
	return st;
}

/*
 * The unsigned OCSPResponse for a failure st (RFC 6960 §4.2.1): a
 * malformed request, a CertID not ours, the store or the signer away
 * (tryLater), anything else internalError.
 */
static enum status
failure_response(enum status st, uint8_t **resp, size_t *resp_len)
{
	int rstatus;

	switch (st) {
	case ST_MALFORMED:
	case ST_LIMIT:
		rstatus = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		break;
	case ST_DENIED:
		rstatus = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
		break;
	case ST_STORE:
	case ST_UNAVAILABLE:
		rstatus = OCSP_RESPONSE_STATUS_TRYLATER;
		log_warn("OCSP: answering tryLater: %s", status_detail());
		break;
	default:
		rstatus = OCSP_RESPONSE_STATUS_INTERNALERROR;
		log_error("OCSP: answering internalError: %s", status_detail());
		break;
	}
	return error_response(rstatus, resp, resp_len);
}

enum status
ca_ocsp_respond(struct ca_ocsp *ocsp, const uint8_t *der, size_t der_len,
    ca_ocsp_lookup_fn lookup, void *arg, int64_t now, uint8_t **resp,
    size_t *resp_len, int *cacheable, int64_t *this_update,
    int64_t *next_update)
{
	OCSP_REQUEST *req = NULL;
	OCSP_BASICRESP *bs = NULL;
	enum status st;
	int has_nonce = 0;

	*resp = NULL;
	*resp_len = 0;
	*cacheable = 0;
	*this_update = 0;
	*next_update = 0;

	st = request_parse(der, der_len, &req, &has_nonce);
	if (st == ST_OK)
		st = basic_build(ocsp, req, has_nonce, lookup, arg, now, &bs);
	if (st == ST_OK)
		st = basic_sign(ocsp, bs, now, resp, resp_len);
	if (st == ST_OK) {
		*cacheable = !has_nonce;
		*this_update = now;
		*next_update = now + ocsp->validity;
	} else
		st = failure_response(st, resp, resp_len);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return st;
}

/*
 * An answer whose signature is under way: the ResponseData sent, and what
 * the BasicOCSPResponse takes around the signature (copies: the responder
 * may be replaced before the finish).
 */
struct ca_ocsp_pending {
	struct signer_pending *sp;
	struct buf tbs; /* the ResponseData */
	uint8_t *alg; /* the signature's AlgorithmIdentifier */
	size_t alg_len;
	uint8_t *certs; /* the certs field */
	size_t certs_len;
};

static void
pending_free(struct ca_ocsp_pending *p)
{
	if (p == NULL)
		return;
	buf_free(&p->tbs);
	free(p->alg);
	free(p->certs);
	free(p);
}

enum status
ca_ocsp_respond_start(struct ca_ocsp *ocsp, const uint8_t *der, size_t der_len,
    ca_ocsp_lookup_fn lookup, void *arg, int64_t now,
    struct ca_ocsp_pending **out)
{
	OCSP_REQUEST *req = NULL;
	OCSP_BASICRESP *bs = NULL;
	struct ca_ocsp_pending *p = NULL;
	enum status st;
	int has_nonce = 0;

	*out = NULL;
	if ((st = request_parse(der, der_len, &req, &has_nonce)) != ST_OK)
		goto out;
	if (!has_nonce) {
		st = status_fail(ST_NOTFOUND, "no nonce: the answer is kept");
		goto out;
	}
	if (ocsp->key == NULL) {
		st = status_fail(ST_UNAVAILABLE, "no responder key");
		goto out;
	}
	if ((st = basic_build(ocsp, req, has_nonce, lookup, arg, now, &bs)) !=
	    ST_OK)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	buf_init(&p->tbs, LIMIT_SIGNER_TBS);
	if ((st = respdata_der(ocsp, bs, now, &p->tbs)) != ST_OK)
		goto out;
	if ((p->alg = malloc(ocsp->alg_len)) == NULL ||
	    (p->certs = malloc(ocsp->certs.len + 1)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	memcpy(p->alg, ocsp->alg, ocsp->alg_len);
	p->alg_len = ocsp->alg_len;
	if (ocsp->certs.len > 0)
		memcpy(p->certs, ocsp->certs.data, ocsp->certs.len);
	p->certs_len = ocsp->certs.len;
	if ((st = signer_sign_start_nowait(ocsp->key, SIGNER_PURPOSE_OCSP,
	         ocsp->md_nid, p->tbs.data, p->tbs.len, &p->sp)) != ST_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	pending_free(p);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return st;
}

int
ca_ocsp_pending_fd(const struct ca_ocsp_pending *p)
{
	return signer_pending_fd(p->sp);
}

enum status
ca_ocsp_respond_finish(
    struct ca_ocsp_pending *p, uint8_t **resp, size_t *resp_len)
{
	uint8_t *sig = NULL, *basic = NULL;
	size_t sig_len = 0, basic_len = 0;
	enum status st;

	*resp = NULL;
	*resp_len = 0;
	st = signer_sign_finish(p->sp, &sig, &sig_len);
	if (st == ST_OK)
		st = signer_signed_der(p->tbs.data, p->tbs.len, p->alg,
		    p->alg_len, sig, sig_len, p->certs, p->certs_len, &basic,
		    &basic_len);
	if (st == ST_OK)
		st = response_wrap(basic, basic_len, resp, resp_len);
	if (st != ST_OK)
		st = failure_response(st, resp, resp_len);
	OPENSSL_free(basic);
	OPENSSL_free(sig);
	pending_free(p);
	ERR_clear_error();
	return st;
}

/* The SHA-1 CertID for serial of our issuer, as OCSP_cert_to_id makes it. */
static OCSP_CERTID *
presign_certid(const struct ca_ocsp *ocsp, const ASN1_INTEGER *serial)
{
	return OCSP_cert_id_new(digest_md(DIGEST_SHA1),
	    X509_get_subject_name(ocsp->issuer),
	    X509_get0_pubkey_bitstr(ocsp->issuer), serial);
}

enum status
ca_ocsp_presign(struct ca_ocsp *ocsp, const char *serial_hex,
    const struct ca_ocsp_status *st, int64_t now, uint8_t **resp,
    size_t *resp_len, int64_t *next_update)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *cid = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	enum status rc;
	int not_issued = 0;

	*resp = NULL;
	*resp_len = 0;
	*next_update = 0;
	if (now_check(ocsp, now) != ST_OK)
		return ST_MALFORMED;
	if ((rc = hex_to_serial(serial_hex, &serial)) != ST_OK)
		return rc;
	rc = ST_NOMEM;
	if ((cid = presign_certid(ocsp, serial)) == NULL ||
	    (bs = OCSP_BASICRESP_new()) == NULL ||
	    (thisupd = gtime(now)) == NULL ||
	    (nextupd = gtime(now + ocsp->validity)) == NULL) {
		status_fail_ssl(rc, "OCSP response");
		goto out;
	}
	if ((rc = add_single(bs, cid, st, thisupd, nextupd, &not_issued)) !=
	    ST_OK)
		goto out;
	if (not_issued && (rc = add_extended_revoke(ocsp, bs)) != ST_OK)
		goto out;
	if ((rc = basic_sign(ocsp, bs, now, resp, resp_len)) != ST_OK)
		goto out;
	*next_update = now + ocsp->validity;
out:
	ASN1_GENERALIZEDTIME_free(thisupd);
	ASN1_GENERALIZEDTIME_free(nextupd);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(serial);
	ERR_clear_error();
	return rc;
}

/* FNV-1a of the request: its memo slot. */
static size_t
memo_slot(const uint8_t *der, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ der[i]) * 16777619u;
	return h % PEEK_MEMO_SLOTS;
}

/* 1 and *st, *out when der's peek is remembered. */
static int
memo_get(struct peek_memos *memo, const uint8_t *der, size_t len,
    enum status *st, struct ca_ocsp_peek *out)
{
	size_t k = memo_slot(der, len);
	struct peek_memo *m = &memo->slot[k];
	int hit = 0;

	pthread_mutex_lock(&memo->mu[k % PEEK_MEMO_LOCKS]);
	if (m->len == len && memcmp(m->der, der, len) == 0) {
		*st = m->st;
		*out = m->pk;
		hit = 1;
	}
	pthread_mutex_unlock(&memo->mu[k % PEEK_MEMO_LOCKS]);
	return hit;
}

static void
memo_put(struct peek_memos *memo, const uint8_t *der, size_t len,
    enum status st, const struct ca_ocsp_peek *pk)
{
	size_t k = memo_slot(der, len);
	struct peek_memo *m = &memo->slot[k];

	pthread_mutex_lock(&memo->mu[k % PEEK_MEMO_LOCKS]);
	memcpy(m->der, der, len);
	m->len = len;
	m->st = st;
	m->pk = *pk;
	pthread_mutex_unlock(&memo->mu[k % PEEK_MEMO_LOCKS]);
}

static enum status request_peek(const struct ca_ocsp *ocsp, const uint8_t *der,
    size_t der_len, struct ca_ocsp_peek *out);

enum status
ca_ocsp_request_peek(const struct ca_ocsp *ocsp, const uint8_t *der,
    size_t der_len, struct ca_ocsp_peek *out)
{
	int is_kept = ocsp->memo != NULL && der != NULL && der_len > 0 &&
	    der_len <= PEEK_MEMO_DER;
	enum status st;

	if (is_kept && memo_get(ocsp->memo, der, der_len, &st, out)) {
		if (st != ST_OK)
			return status_fail(st, "CertID of another issuer");
		return ST_OK;
	}
	st = request_peek(ocsp, der, der_len, out);
	if (is_kept && (st == ST_OK || st == ST_DENIED) && !out->has_nonce)
		memo_put(ocsp->memo, der, der_len, st, out);
	return st;
}

static enum status
request_peek(const struct ca_ocsp *ocsp, const uint8_t *der, size_t der_len,
    struct ca_ocsp_peek *out)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *cid, *mine = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_OBJECT *md_oid = NULL;
	unsigned char *a = NULL, *b = NULL;
	enum status st;
	int has_nonce, alen, blen;
	char hex[41];

	memset(out, 0, sizeof(*out));
	if ((st = request_parse(der, der_len, &req, &has_nonce)) != ST_OK)
		goto out;
	if (OCSP_request_onereq_count(req) != 1) {
		st = status_fail(ST_LIMIT, "more than one CertID");
		goto out;
	}
	cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
	if (issuer_match(ocsp, cid) < 0) {
		st = status_fail(ST_DENIED, "CertID of another issuer");
		goto out;
	}
	if (!OCSP_id_get0_info(NULL, &md_oid, NULL, &serial, cid)) {
		st = status_fail_ssl(ST_INTERNAL, "CertID");
		goto out;
	}
	if ((st = serial_to_hex(serial, hex)) != ST_OK)
		goto out;
	memcpy(out->serial_hex, hex, sizeof(hex));
	out->hash_nid = OBJ_obj2nid(md_oid);
	out->has_nonce = has_nonce;
	if (out->hash_nid == NID_sha1 && !has_nonce) {
		/*
		 * Clients match answers by CertID; compare the encodings so
		 * that, say, absent rather than NULL SHA-1 parameters get a
		 * freshly signed echo of their own CertID.
		 */
		if ((mine = presign_certid(ocsp, serial)) == NULL ||
		    (alen = i2d_OCSP_CERTID(mine, &a)) <= 0 ||
		    (blen = i2d_OCSP_CERTID(cid, &b)) <= 0) {
			memset(out, 0, sizeof(*out));
			st = status_fail_ssl(ST_NOMEM, "CertID");
			goto out;
		}
		out->is_presigned_match =
		    alen == blen && memcmp(a, b, (size_t)alen) == 0;
	}
	st = ST_OK;
out:
	OPENSSL_free(a);
	OPENSSL_free(b);
	OCSP_CERTID_free(mine);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return st;
}
