/*
 * ocsp: the OCSP responder core (RFC 6960 with the RFC 5019 profile). It
 * turns one DER OCSPRequest into one DER OCSPResponse signed by the
 * delegated responder (id-kp-OCSPSigning, key usually in the token). It
 * knows neither the store nor HTTP: certificate status comes from a lookup
 * callback, and the caller moves the bytes.
 *
 * Thread safety: a struct ca_ocsp is read-only after ca_ocsp_new, so one
 * responder may answer from several threads at once when its key may sign
 * from several threads (hsm/ serialises token signing).
 */
#ifndef TESSERA_CA_OCSP_H
#define TESSERA_CA_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/status.h"

struct ca_ocsp;
struct signer_key;

struct ca_ocsp_config {
	X509 *issuer; /* the CA whose certificates we answer for */
	X509 *responder; /* delegated responder, issued by issuer */
	/* its key, held by the signer (borrowed: outlives the responder) */
	const struct signer_key *responder_key;
	int64_t validity_seconds; /* nextUpdate - thisUpdate, e.g. 3600 */
};

enum ca_ocsp_cert_status {
	CA_OCSP_GOOD,
	CA_OCSP_REVOKED,
	CA_OCSP_UNKNOWN,
	CA_OCSP_CERT_STATUS_MAX
};

struct ca_ocsp_status {
	enum ca_ocsp_cert_status status;
	int64_t revoked_at; /* Unix seconds; CA_OCSP_REVOKED only */
	int reason; /* RFC 5280 CRLReason 1..10 (not 7); -1 or 0: none */
};

/* What ca_ocsp_request_peek found in a request. */
struct ca_ocsp_peek {
	char serial_hex[41]; /* the CertID's serial, uppercase hex */
	int hash_nid; /* the CertID's hashAlgorithm: NID_sha1, ... */
	int has_nonce; /* a (valid) nonce is present */
	int is_presigned_match; /* the ca_ocsp_presign answer fits exactly */
};

/*
 * Look up a serial (uppercase hex, as ca_cert_serial_hex writes it) issued
 * by this CA: ST_OK with *st filled, ST_NOTFOUND for a serial the CA never
 * issued; any other status makes the whole answer tryLater (ST_STORE,
 * ST_UNAVAILABLE) or internalError.
 */
typedef enum status (*ca_ocsp_lookup_fn)(
    void *arg, const char *serial_hex, struct ca_ocsp_status *st);

/*
 * Make a responder. Checks that cfg->responder is issued by cfg->issuer,
 * carries id-kp-OCSPSigning and matches cfg->responder_key, and that the
 * validity is 1 s .. 30 days. The certificates are up-referenced; the key
 * is borrowed and must outlive the responder (free the responder before
 * signer_key_free). The caller frees *out with ca_ocsp_free.
 */
enum status
ca_ocsp_new(const struct ca_ocsp_config *cfg, struct ca_ocsp **out) MUST_CHECK;

/* Free a responder. NULL is accepted. */
void ca_ocsp_free(struct ca_ocsp *ocsp);

/*
 * Lend the responder another key handle (the same key, after the token
 * was opened again), or NULL while the token is away: signing is then
 * ST_UNAVAILABLE (answered tryLater). Not thread-safe: call where no
 * answer is being made.
 */
void ca_ocsp_set_key(struct ca_ocsp *ocsp, const struct signer_key *key);

/*
 * Answer one DER OCSPRequest of req_len bytes at time now (Unix seconds).
 * ST_OK whenever a DER OCSPResponse was produced in *resp (caller frees
 * with OPENSSL_free), including the unsigned malformedRequest (bad DER,
 * trailing bytes, over 8 KiB, 0 or over 8 CertIDs, bad nonce),
 * unauthorized (a CertID of another issuer or hash), internalError and
 * tryLater (lookup or token failure) answers; ST_NOMEM only when no
 * response could be built at all. *cacheable is 1 for a successful answer
 * without a nonce, which any cache may keep until *next_update;
 * *this_update and *next_update are set for successful answers and 0
 * otherwise. lookup (not NULL) is called once per CertID whose serial we
 * could have issued (positive, at most 20 octets).
 */
enum status ca_ocsp_respond(struct ca_ocsp *ocsp, const uint8_t *req,
    size_t req_len, ca_ocsp_lookup_fn lookup, void *arg, int64_t now,
    uint8_t **resp, size_t *resp_len, int *cacheable, int64_t *this_update,
    int64_t *next_update) MUST_CHECK;

/*
 * ca_ocsp_respond split around its signature, for a thread that must not
 * wait (the publication pool): a request with a nonce (its answer is
 * never kept) is parsed, looked up and its ResponseData sent to the
 * signer without waiting (signer_sign_start_nowait). ST_OK: *out is on
 * its way; ca_ocsp_pending_fd turns readable when the signature has come,
 * and ca_ocsp_respond_finish (on any thread; the responder may be gone
 * by then) makes the same bytes ca_ocsp_respond would have. Any other
 * status: nothing was started (no nonce, a lookup or signer that would
 * wait, any failure), and ca_ocsp_respond answers instead. lookup must
 * not wait either.
 */
struct ca_ocsp_pending;

enum status ca_ocsp_respond_start(struct ca_ocsp *ocsp, const uint8_t *req,
    size_t req_len, ca_ocsp_lookup_fn lookup, void *arg, int64_t now,
    struct ca_ocsp_pending **out) MUST_CHECK;

/* See signer_pending_fd. */
int ca_ocsp_pending_fd(const struct ca_ocsp_pending *p);

/*
 * The DER OCSPResponse of p (caller frees with OPENSSL_free): signed, or
 * the unsigned failure ca_ocsp_respond gives (tryLater when the signer is
 * away); p is freed. ST_OK unless no response could be built at all.
 */
enum status ca_ocsp_respond_finish(
    struct ca_ocsp_pending *p, uint8_t **resp, size_t *resp_len) MUST_CHECK;

/*
 * Sign at time now the nonce-less successful response for serial_hex
 * (uppercase hex) in status st, with the SHA-1 CertID that nginx and
 * openssl send by default, so that it can be stored and served without
 * signing. st NULL means "never issued" (revoked, 1970, certificateHold,
 * extended-revoke). DER to *resp (caller frees with OPENSSL_free), its
 * nextUpdate to *next_update. ST_MALFORMED for a bad serial or status.
 */
enum status ca_ocsp_presign(struct ca_ocsp *ocsp, const char *serial_hex,
    const struct ca_ocsp_status *st, int64_t now, uint8_t **resp,
    size_t *resp_len, int64_t *next_update) MUST_CHECK;

/*
 * Parse a request as ca_ocsp_respond does, without signing, to let the
 * serving layer pick a pre-signed response: ST_OK when it is well formed
 * and has exactly one CertID of our issuer (then *out is filled and
 * out->is_presigned_match is 1 when the ca_ocsp_presign answer for
 * out->serial_hex answers it exactly: SHA-1 CertID encoded as we encode
 * it, no nonce). Any other status: call ca_ocsp_respond instead. What a
 * nonce-less request's bytes gave is remembered (a bounded table, safe
 * from several threads): the same request again is not parsed.
 */
enum status ca_ocsp_request_peek(const struct ca_ocsp *ocsp, const uint8_t *req,
    size_t req_len, struct ca_ocsp_peek *out) MUST_CHECK;

#endif
