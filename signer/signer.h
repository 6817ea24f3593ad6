/*
 * signer: the one way tessera signs. A signer holds the keys (in the
 * token, or in another process that does) and signs to-be-signed bytes
 * for a purpose: a device certificate, a service certificate, a CRL, an
 * OCSP response, a token, an audit checkpoint (and, offline, a CA
 * certificate). The holder parses what it is asked to sign and refuses what
 * the purpose does not allow; the caller never sees a private key, only a
 * handle with the public half.
 *
 * Back ends: signer_local_open (signer/local.h: the token through hsm/,
 * in this process), signer_remote_open (signer/remote.h: the signer
 * process, over a socket) and signer_soft_open (signer/soft.h: software
 * keys, for tests and tools). All implement this interface; all are safe
 * to use from several threads at once.
 */
#ifndef TESSERA_SIGNER_SIGNER_H
#define TESSERA_SIGNER_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/status.h"

struct signer;
struct signer_key;

/* What a signature is for; the holder checks the bytes against it. */
enum signer_purpose {
	SIGNER_PURPOSE_DEVICE_CERT, /* a device's end-entity certificate */
	SIGNER_PURPOSE_SERVICE_CERT, /* tessera's TLS, OCSP, admin certs */
	SIGNER_PURPOSE_CA_CERT, /* a CA certificate: offline only */
	SIGNER_PURPOSE_CRL, /* a TBSCertList */
	SIGNER_PURPOSE_OCSP, /* an OCSP ResponseData */
	SIGNER_PURPOSE_TOKEN, /* a JWS signing input (header.payload) */
	SIGNER_PURPOSE_AUDIT, /* an audit checkpoint message */
	SIGNER_PURPOSE_CA_CSR, /* the issuing CA's request: offline only */
	SIGNER_PURPOSE_MAX
};

/* What a key is, decided by the holder from its label (never the caller). */
enum signer_role {
	SIGNER_ROLE_NONE, /* a key tessera does not sign with */
	SIGNER_ROLE_ROOT,
	SIGNER_ROLE_ISSUING,
	SIGNER_ROLE_OCSP,
	SIGNER_ROLE_TOKEN,
	SIGNER_ROLE_AUDIT,
	/* The issuing CA before a rollover (tessera.json keys.retiring):
	 * signs CRLs and OCSP answers for what it issued, nothing new. */
	SIGNER_ROLE_RETIRING,
	SIGNER_ROLE_MAX
};

enum signer_key_type {
	SIGNER_KEY_EC_P256,
	SIGNER_KEY_EC_P384,
	SIGNER_KEY_RSA_3072,
	SIGNER_KEY_TYPE_MAX
};

/*
 * A key's role is decided by the holder: a key whose label is one of
 * tessera.json's keys.* has that role; token and OCSP responder keys made
 * later carry their role's label, a dash and a suffix
 * (PREFIX-token-signing-TIME-RANDOM).
 */

/* Close a signer (after every key handle is freed). NULL is accepted. */
void signer_close(struct signer *s);

/*
 * Find the key named by an RFC 7512 URI or a plain label. ST_NOTFOUND if
 * the token has none; ST_UNAVAILABLE while the holder cannot be reached.
 * The caller frees *out with signer_key_free (before signer_close).
 */
enum status signer_key_find(
    struct signer *s, const char *uri, struct signer_key **out) MUST_CHECK;

/*
 * Generate a key pair labelled label in the token. The holder allows it
 * only for roles that rotate (token, OCSP responder), or for every role
 * when opened for `tessera init`. The caller frees *out.
 */
enum status signer_key_generate(struct signer *s, const char *label,
    enum signer_key_type type, struct signer_key **out) MUST_CHECK;

/* Free a key handle (not the key). NULL is accepted. */
void signer_key_free(struct signer_key *key);

/* The public key (an ordinary EVP_PKEY owned by key). */
EVP_PKEY *signer_key_get0_public(const struct signer_key *key);

/* The key's label and role (owned by key). */
const char *signer_key_label(const struct signer_key *key);
enum signer_role signer_key_role(const struct signer_key *key);

/*
 * Sign tbs for purpose with key: ECDSA (DER Ecdsa-Sig-Value) or RSA
 * PKCS#1 v1.5 over md_nid's digest of tbs. ST_DENIED when the holder
 * refuses what tbs is for purpose (detail says why; the refusal is logged
 * by the holder); ST_UNAVAILABLE when the token or the signer process is
 * away. *sig is freed with OPENSSL_free.
 */
enum status signer_sign(const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    uint8_t **sig, size_t *sig_len) MUST_CHECK;

/*
 * A signature sent on its way (signer_sign_start) while the caller does
 * other work (a token's row committed meanwhile), then taken
 * (signer_sign_finish). With the signer process the request is on its
 * socket and the holder signs while the caller goes on; a back end in
 * this process signs at once and keeps the answer.
 */
struct signer_pending;

/*
 * Start what signer_sign does: ST_OK with *out to finish, or the reason
 * it could not be sent (nothing to finish then).
 */
enum status signer_sign_start(const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    struct signer_pending **out) MUST_CHECK;

/*
 * signer_sign_start for a thread that must not wait (one that serves
 * other connections too): ST_UNAVAILABLE at once, nothing started, where
 * signer_sign_start would wait: every connection to the signer process in
 * use, its backlog or the connection's socket full, or a back end that
 * signs in this process (which signs at start). The caller then asks a
 * thread that may wait. The key handle is needed for the start only.
 */
enum status signer_sign_start_nowait(const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    struct signer_pending **out) MUST_CHECK;

/*
 * A descriptor that turns readable (POLLIN) when p's answer has come, so
 * that one thread can wait for many signatures; -1 when the answer is
 * kept already (a back end in this process). Valid until the finish.
 * Readable, the finish does not wait for the holder (but for the rest of
 * a frame on its way, or, when the signer process was restarted under a
 * reused connection, for the one signature sent again).
 */
int signer_pending_fd(const struct signer_pending *p);

/*
 * The signature started as p (waited for), as signer_sign gives it; p is
 * freed whatever the answer. A caller that no longer wants it calls this
 * all the same (the answer is read and dropped).
 */
enum status signer_sign_finish(
    struct signer_pending *p, uint8_t **sig, size_t *sig_len) MUST_CHECK;

struct metrics;

/*
 * Record the time of every signature s makes, by purpose, in m (the
 * service's shared pool, borrowed; NULL: none). Measured where the caller
 * waits, so a signer in another process is timed with its round trip (a
 * started one from its start to its finish).
 */
void signer_set_metrics(struct signer *s, struct metrics *m);

/* Whether the holder and its token answer now (ST_OK, ST_UNAVAILABLE). */
enum status signer_ping(struct signer *s) MUST_CHECK;

/* A short stable name for a purpose or role ("device-cert", "issuing"). */
const char *signer_purpose_name(enum signer_purpose purpose);
const char *signer_role_name(enum signer_role role);

/*
 * The AlgorithmIdentifier (DER) of a signature by key over md_nid: ECDSA
 * with parameters absent (RFC 5758 §3.2), RSA PKCS#1 v1.5 with NULL (RFC
 * 4055 §5). *der is freed with OPENSSL_free.
 */
enum status signer_sigalg_der(const struct signer_key *key, int md_nid,
    uint8_t **der, size_t *der_len) MUST_CHECK;

/*
 * Assemble a signed object, SEQUENCE { tbs, alg, BIT STRING sig, tail }
 * (Certificate, CertificateList, BasicOCSPResponse with its certs as the
 * tail). tail may be NULL. *out is freed with OPENSSL_free.
 */
enum status
signer_signed_der(const uint8_t *tbs, size_t tbs_len, const uint8_t *alg,
    size_t alg_len, const uint8_t *sig, size_t sig_len, const uint8_t *tail,
    size_t tail_len, uint8_t **out, size_t *out_len) MUST_CHECK;

#endif
