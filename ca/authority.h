/*
 * authority: the CA as one object: configuration, policy, the token and
 * its keys, the store. Every entry point (CLI, EST, admin API) goes
 * through it, so that the same principal gets the same answer everywhere.
 */
#ifndef TESSERA_CA_AUTHORITY_H
#define TESSERA_CA_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca/config.h"
#include "ca/principal.h"
#include "ca/token.h"
#include "common/limits.h"
#include "common/status.h"

struct authority;
struct store;
struct policy;

/*
 * Open the data directory: read tessera.json and the policy, log in to
 * the token (PIN from the configured file, or TESSERA_HSM_PIN), find the
 * issuing key, load the chain, open the store. Call after fork(), never
 * before. The caller frees *out with authority_close.
 */
enum status
authority_open(const char *data_dir, struct authority **out) MUST_CHECK;

/*
 * authority_open with the token's PIN given (a copy is kept, locked and
 * wiped at close): `tessera serve` takes TESSERA_HSM_PIN once, before it
 * forks, and hands it to each worker in memory. NULL: as authority_open.
 */
enum status authority_open_pin(
    const char *data_dir, const char *pin, struct authority **out) MUST_CHECK;

/*
 * authority_open signing through the signer process at socket_path
 * (one of the data directory's AUTHORITY_SIGNER_SOCKET_FMT): no PKCS#11
 * module is loaded and no PIN read. A signer that is (re)starting is
 * waited for, at most 15 s.
 */
enum status authority_open_signer(const char *data_dir, const char *socket_path,
    struct authority **out) MUST_CHECK;

/*
 * The signer processes' sockets, in the data directory: one a generation
 * of `tessera serve` (a reload starts a new signer beside the old one,
 * which serves the old workers until they are gone), signer-GEN.sock
 * (GEN an unsigned, from 1 at each start). AUTHORITY_SIGNER_SOCKET_PREFIX
 * begins every such name (and the temporary one a signer binds first).
 */
#define AUTHORITY_SIGNER_SOCKET_FMT "signer-%u.sock"
#define AUTHORITY_SIGNER_SOCKET_PREFIX "signer-"

/*
 * The signer process (ca/signerd.c): log in to the token (pin, or the
 * environment's, or the configured file's), bind socket_path. Then serve
 * until stop_fd is readable. ST_UNAUTHENTICATED for a wrong PIN, with the
 * detail. Close after serving, in a process that exits then.
 */
struct authority_signerd;
enum status
authority_signerd_open(const char *data_dir, const char *socket_path,
    const char *pin, struct authority_signerd **out) MUST_CHECK;
enum status
authority_signerd_serve(struct authority_signerd *d, int stop_fd) MUST_CHECK;
void authority_signerd_close(struct authority_signerd *d);

void authority_close(struct authority *a);

/*
 * Shut the calling process in (Landlock, common/sandbox.h), for a worker
 * that has opened all it reads at start: from now on it opens only the
 * system's read-only parts, the store's files and the data directory's
 * ca/, tls/ and crl/, never the token, the PIN files or admin/, and runs
 * no program. Call before any thread but the store's exists: the calling
 * thread and the store's writer enter; threads made later inherit it.
 * A kernel without Landlock (or TESSERA_NO_SANDBOX=1) is logged as a
 * warning and is no error.
 */
enum status authority_confine(struct authority *a) MUST_CHECK;

/*
 * Issue a certificate for the DER PKCS#10 csr under profile, if who may
 * have it. The row (and the audit entry) are durably committed before this
 * returns ST_OK; every refusal is audited too. The caller frees *out.
 */
enum status authority_issue(struct authority *a, const struct principal *who,
    const char *profile, const uint8_t *csr, size_t csr_len,
    X509 **out) MUST_CHECK;

/* One enrollment as the EST front end asks for it. */
struct authority_enroll_req {
	const char *profile; /* NULL: "device", or on renewal the
					 * current certificate's profile */
	const uint8_t *csr; /* DER PKCS#10 */
	size_t csr_len;
	int is_reenroll; /* simplereenroll */
	int is_server_keygen; /* serverkeygen: generate the key */
	/* The TLS channel binding (tls-unique or tls-exporter); a CSR's
	 * challengePassword must equal its base64 (RFC 7030 §3.5). */
	const uint8_t *binding;
	size_t binding_len;
	/* TLS 1.2 without extended master secret (RFC 7627): a CSR that
	 * carries a challengePassword is refused (RFC 9266 §3). */
	int is_binding_unsafe;
};

/*
 * Enroll: authorize who for req, check the CSR, build the certificate from
 * the profile, sign it in the token, and commit it (with the one-time
 * secret consumed, when who holds one) before returning. With
 * is_server_keygen the new private key goes to *key (the caller frees it
 * and must never store or log it); otherwise key may be NULL. The
 * certificate is *out, its DER as signed (*out_len octets; the caller
 * frees it with OPENSSL_free): nothing parses it back on this path.
 */
enum status authority_enroll(struct authority *a, const struct principal *who,
    const struct authority_enroll_req *req, uint8_t **out, size_t *out_len,
    EVP_PKEY **key) MUST_CHECK;

/*
 * Calls into a may run on several threads at once, with one exception:
 * authority_maintain runs alone (no other call on a in flight). A caller
 * with threads gives the hooks of the lock it keeps that rule with:
 * leave(arg) lets its hold go and enter(arg) takes it again
 * (authority_enroll calls them around serverkeygen's key generation, so
 * that a maintenance due meanwhile is not held up for seconds). NULL
 * hooks (the default): nothing is let go.
 */
void authority_set_lock(struct authority *a, void (*leave)(void *),
    void (*enter)(void *), void *arg);

/*
 * Is there work for authority_maintain (key handles replaced, by a token
 * key rotation, that concurrent calls may still have been signing with)?
 * Cheap; any thread.
 */
int authority_maintain_due(struct authority *a);

/* The maintenance: free the replaced handles. The caller runs it alone. */
void authority_maintain(struct authority *a);

struct metrics;

/*
 * Record enrollments, tokens, signatures and store commits in m (the
 * service's shared pool, borrowed; NULL, the default: nothing recorded).
 */
void authority_set_metrics(struct authority *a, struct metrics *m);

/*
 * Authenticate a TLS client's certificate chain (leaf first): verified
 * with OpenSSL against tessera's chain (and then tessera's own record of
 * it: unknown or revoked certificates are refused) or against a
 * manufacturer authenticator's anchors. The one place this decision is
 * made. Fills *who (its cert borrowed from chain).
 */
enum status
authority_authenticate_cert(struct authority *a, STACK_OF(X509) * chain,
    const char *address, struct principal *who) MUST_CHECK;

/*
 * What one connection's client chain proved: the chain and the verdict,
 * until the chain's earliest notAfter. Owned by the connection (one
 * thread at a time); authority_chain_memo_free(NULL) does nothing.
 */
struct authority_chain_memo;
void authority_chain_memo_free(struct authority_chain_memo *m);

/*
 * authority_authenticate_cert for a connection: when *memo holds the same
 * chain (certificate by certificate), its signatures are not verified
 * again; the store is still asked on every call (unknown, revoked,
 * superseded, the expiry grace). A chain verified anew replaces *memo.
 * memo NULL: no memory between calls.
 */
enum status authority_authenticate_conn(struct authority *a,
    STACK_OF(X509) * chain, const char *address,
    struct authority_chain_memo **memo, struct principal *who) MUST_CHECK;

/*
 * Mint a one-time enrollment secret for device_id under profile (NULL:
 * "device"), valid ttl seconds (0: the policy's default). Only its hash is
 * stored. The caller frees *secret with secret_free; *expires gets the
 * time it expires.
 */
enum status authority_secret_create(struct authority *a,
    const struct principal *who, const char *device_id, const char *profile,
    int64_t ttl, char **secret, int64_t *expires) MUST_CHECK;

/*
 * Audit a refusal (action "refuse", actor who, about object) and return st
 * with the thread's detail as it was before: for front ends that refuse a
 * request before it reaches the authority (no credentials, bad encoding).
 */
enum status authority_refuse(struct authority *a, const struct principal *who,
    const char *object, enum status st);

/*
 * authority_refuse for a refused read (a GET, a request without
 * credentials): the same answer and log line, but the audit entry is
 * counted in memory and written with the others due by authority_flush,
 * one entry per (actor, object, reason) and interval, so that a flood of
 * refusals does not cost an fsync each.
 */
enum status authority_refuse_read(struct authority *a,
    const struct principal *who, const char *object, enum status st);

/*
 * Write the tallied refusals that are due (the oldest a few seconds old,
 * or the table full) in one transaction. Call about once a second in every
 * process that serves; authority_close writes all that is left.
 */
void authority_flush(struct authority *a);

/* Borrowed views; valid until authority_close. */
const struct ca_config *authority_config(const struct authority *a);
const struct policy *authority_policy(const struct authority *a);
struct store *authority_store(struct authority *a);
X509 *authority_get0_issuing(const struct authority *a);
X509 *authority_get0_root(const struct authority *a);
/* After `tessera ca rollover`, the issuing CA before it (still in
 * cacerts until it is retired); NULL otherwise. */
X509 *authority_get0_retiring(const struct authority *a);

/*
 * The path each issuing CA's certificates name as caIssuers (RFC 5280
 * §4.2.2.1): /ca/issuing.crt for generation 0 (the first issuing CA),
 * /ca/issuing-gG.crt after G rollovers. authority_ca_cert_paths: the
 * issuing CA's and the retiring one's ("" when none), cap bytes each.
 */
void authority_ca_cert_path(int gen, char *out, size_t cap);
void authority_ca_cert_paths(
    const struct authority *a, char *issuing, char *retiring, size_t cap);

/*
 * The CA certificates (PEM, concatenated) that TLS client certificates may
 * chain to: tessera's own chain and the manufacturer roots the policy
 * trusts. Handed to the TLS layer so that it asks for a client
 * certificate; the decision itself is made by OpenSSL in ca/. The caller
 * frees *pem.
 */
enum status authority_client_ca_pem(
    const struct authority *a, char **pem, size_t *pem_len) MUST_CHECK;

/* What authority_tick did that the server must act on. */
#define AUTHORITY_TICK_RELOAD 0x1 /* new TLS or OCSP responder cert */
#define AUTHORITY_TICK_RETIRED 0x2 /* the old issuing CA was retired */

/*
 * Scheduled work (renewing tessera's own TLS certificate; later the CRL,
 * OCSP responses, audit checkpoints). Call about once a minute from
 * exactly one process. *events gets AUTHORITY_TICK_* bits.
 */
enum status authority_tick(struct authority *a, unsigned *events) MUST_CHECK;

/*
 * Renew tessera's TLS server certificate (new key, same names, 90 days)
 * when a third of its life is left, or now when force. Writes
 * DIR/tls/server.key (0600) and DIR/tls/server.pem atomically; *renewed
 * says whether it did. Running workers pick it up on restart (SIGHUP).
 */
enum status
authority_tls_renew(struct authority *a, int force, int *renewed) MUST_CHECK;

/*
 * Set the TLS server certificate's names (ca_config_names_set: checked,
 * the URL's host added), keep them in tessera.json, and renew the
 * certificate with them now. ST_MALFORMED names a bad name and changes
 * nothing.
 */
enum status authority_tls_names_set(struct authority *a, const char *const *dns,
    size_t dns_count, const char *const *ip, size_t ip_count,
    int *renewed) MUST_CHECK;

/*
 * Renew the first admin's certificate now (a new key, a year): rewrites
 * DIR/admin/admin.key (0600) and DIR/admin/admin.pem atomically. The old
 * certificate stays valid until it expires.
 */
enum status authority_admin_renew(struct authority *a, int *renewed) MUST_CHECK;

/*
 * Issue a client certificate to a person who holds a role: profile is
 * one that a policy role's certificate_profiles names and that is no
 * enrollment profile (admin, operator, auditor in the default policy),
 * cn the holder's name (canonical like a device id), a new EC P-256 key,
 * valid a year. Only the local operator may. Committed and audited before
 * it returns; the caller frees *cert and *key.
 */
enum status authority_staff_issue(struct authority *a,
    const struct principal *who, const char *profile, const char *cn,
    X509 **cert, EVP_PKEY **key) MUST_CHECK;

/* Warn this long before one of tessera's own certificates expires (or,
 * for shorter-lived ones, once a third of their life is left). */
#define AUTHORITY_EXPIRY_WARN (30 * 24 * 3600)
#define AUTHORITY_EXPIRY_MAX 32

/* One of tessera's own certificates that expires soon. */
struct authority_expiry {
	char what[LIMIT_LABEL_LEN + 1]; /* "root CA", "TLS server", "admin" */
	char subject[LIMIT_NAME_LEN + 1];
	char serial[41];
	int64_t not_after;
	char remedy[LIMIT_LABEL_LEN * 2]; /* what to do, one sentence */
};

/*
 * tessera's own certificates within AUTHORITY_EXPIRY_WARN of expiry at
 * now: the root and issuing CA, the OCSP responder, the TLS server, and
 * the newest valid certificate of each holder of an admin, operator or
 * auditor certificate, copied into out (*count of them); looked up again
 * at most once a minute.
 */
enum status authority_expiring(struct authority *a, int64_t now,
    struct authority_expiry out[AUTHORITY_EXPIRY_MAX],
    size_t *count) MUST_CHECK;

/*
 * Build every CRL (the issuing CA's shards and the root's), store them
 * with increasing crlNumbers and write them to DIR/crl/ (DER, and all as
 * PEM in crl-chain.pem for nginx's ssl_crl). authority_tick does this when
 * a revocation commits (at most once a second) and before nextUpdate.
 */
enum status authority_crl_publish(struct authority *a) MUST_CHECK;

/*
 * The current CRL named name ("issuing.crl", "issuing-K.crl", "root.crl")
 * as DER (caller frees with free()). ST_NOTFOUND for another name,
 * ST_UNAVAILABLE when it has not been built yet.
 */
enum status authority_crl_get(struct authority *a, const char *name,
    uint8_t **der, size_t *len, int64_t *this_update, int64_t *next_update,
    int64_t *number) MUST_CHECK;

/* One published CRL as /metrics, /healthz and tessera status show it. */
struct authority_crl_state {
	char name[32]; /* "issuing.crl", "issuing-K.crl", "root.crl" */
	int64_t number; /* crlNumber */
	int64_t this_update;
	int64_t next_update;
	size_t der_len; /* bytes */
	size_t entries; /* revoked certificates listed */
};

/* The issuing CA's shards, a retiring one's, and the root. */
#define AUTHORITY_CRLS_MAX (2 * (LIMIT_CRL_SHARDS + 1) + 1)

/*
 * The CRLs published now (the policy's issuing shards and the root's; one
 * not built yet is left out) into out (cap entries), *count of them.
 */
enum status authority_crl_states(struct authority *a,
    struct authority_crl_state *out, size_t cap, size_t *count) MUST_CHECK;

/* An OCSP answer: DER (caller frees with free()) and its caching. */
struct authority_ocsp_answer {
	uint8_t *der;
	size_t len;
	int is_cacheable; /* nonce-less: Cache-Control may be sent */
	int64_t this_update;
	int64_t next_update;
};

/*
 * Answer a DER OCSP request (RFC 6960, RFC 5019): a stored pre-signed
 * response when one fits, else signed now with the delegated responder
 * (and stored when nonce-less). Every request gets a DER answer (errors
 * as unsigned OCSP statuses); ST_OK unless out of memory.
 */
enum status authority_ocsp_answer(struct authority *a, const uint8_t *req,
    size_t len, struct authority_ocsp_answer *out) MUST_CHECK;

/*
 * The same answer when it is in this worker's memory: a nonce-less request
 * whose stored response is cached, with nothing committed to the store
 * since the cache was last checked. ST_NOTFOUND otherwise (the caller then
 * asks authority_ocsp_answer, which may read, sign and commit). Never
 * waits: for a thread that serves other connections too.
 */
enum status
authority_ocsp_answer_memory(struct authority *a, const uint8_t *req,
    size_t len, struct authority_ocsp_answer *out) MUST_CHECK;

/*
 * The answer to a request with a nonce (signed now, never kept), started
 * by a thread that must not wait (never does: SQLite's read connection
 * only when free, the signer's connection only when one is to be had at
 * once): ST_OK with *out on its way; authority_ocsp_pending_fd turns
 * readable when it can be finished, and authority_ocsp_finish (on any
 * thread, the authority's lock not needed) gives what
 * authority_ocsp_answer would have. ST_NOTFOUND: nothing started (no
 * nonce, not the issuing CA's delegated responder's, a wait needed):
 * authority_ocsp_answer answers it.
 */
struct authority_ocsp_pending;

enum status authority_ocsp_start(struct authority *a, const uint8_t *req,
    size_t len, struct authority_ocsp_pending **out) MUST_CHECK;

int authority_ocsp_pending_fd(const struct authority_ocsp_pending *p);

/* *out as authority_ocsp_answer fills it; p is freed. */
enum status authority_ocsp_finish(struct authority_ocsp_pending *p,
    struct authority_ocsp_answer *out) MUST_CHECK;

/*
 * Renew the delegated OCSP responder's certificate (same key in the token,
 * 30 days) when a third of its life is left, or now when force; written
 * to DIR/ca/ocsp.pem. Workers use it after their restart (SIGHUP).
 */
enum status
authority_ocsp_renew(struct authority *a, int force, int *renewed) MUST_CHECK;

/* A device token as POST /token answers it. */
struct authority_token {
	char *jwt; /* compact JWS; free() it */
	int64_t expires_in; /* seconds */
	char audience[LIMIT_NAME_LEN + 1];
};

/*
 * Mint a device token for who (a tessera certificate of a profile the
 * policy's "tokens" section names) for audience (NULL: the policy's
 * first): ES256 in the token with the current token key, bound to who's
 * certificate (cnf.x5t#S256), never outliving it. Returns after the
 * audit entry is committed; refusals are audited. ST_UNAUTHENTICATED,
 * ST_DENIED (expired, blocked, profile), ST_NOTFOUND (audience),
 * ST_UNAVAILABLE (the token). The caller frees out->jwt.
 */
enum status
authority_token_mint(struct authority *a, const struct principal *who,
    const char *audience, struct authority_token *out) MUST_CHECK;

/*
 * The JWK Set of the token keys ({"keys":[...]}, compact JSON): the
 * current key, and retired keys until every token they signed has
 * expired (the longest ttl and the leeway after their retirement). Read
 * from the store only: it is served while the HSM is away. The caller
 * frees *json with free().
 */
enum status authority_jwks(struct authority *a, char **json) MUST_CHECK;
/*
 * The same JWKS when this worker has it in memory and nothing was
 * committed to the store since its cache was checked; ST_NOTFOUND
 * otherwise. Never waits.
 */
enum status authority_jwks_memory(struct authority *a, char **json) MUST_CHECK;

/*
 * Generate a new token-signing key in the token and sign with it from now
 * on (the old one stays in the JWKS as said above); admin or operator,
 * audited. kid gets the new key's thumbprint.
 */
enum status authority_token_rotate(struct authority *a,
    const struct principal *who, char kid[TOKEN_THUMBPRINT_LEN + 1]) MUST_CHECK;

/*
 * Sign an audit checkpoint over the newest entry now, with the audit key
 * in the token (*written: 0 when the newest entry is one already). The
 * scheduled work and authority_close do it by themselves.
 */
enum status
authority_audit_checkpoint(struct authority *a, int *written) MUST_CHECK;

/* Reachable: ST_OK, or ST_UNAVAILABLE with a detail (for /healthz). */
enum status authority_health(struct authority *a) MUST_CHECK;

/*
 * The audit's actor for who, one unambiguous form built here only:
 * KIND id="ID" [serial=HEX profile=P role=R | manufacturer=M] [from=ADDR],
 * KIND one of anonymous, operator, secret, cert, manufacturer; e.g.
 * cert id="station-01" serial=0A1B profile=station role=station
 * from=127.0.0.1. out gets at most cap bytes (AUTHORITY_ACTOR_CAP fits).
 */
#define AUTHORITY_ACTOR_CAP (LIMIT_NAME_LEN + 4 * LIMIT_LABEL_LEN + 160)
void principal_describe(const struct principal *who, char *out, size_t cap);

/*
 * Revocation and the admin API's reads (ca/revoke.c). Each call is
 * authorized by authorize_admin and audited with the principal: a refusal
 * or failure as action "refuse", a read as "read" (committed before the
 * data is read), a change in the transaction that makes it.
 */

/*
 * Read-only views for the network face (enroll/), which never sees the
 * store's rows or the policy's structs: copies it owns, or const views
 * lent to a callback for one call (their strings too).
 */

/* The most rows one page of a listing holds. */
#define AUTHORITY_LIST_LIMIT_MAX 1000
/* A serial as uppercase hex, NUL included. */
#define AUTHORITY_SERIAL_CAP 41

/*
 * A profile as EST's csrattrs states it (a copy): its default key type
 * (the first of its keys, what serverkeygen makes) and signature hash.
 */
struct authority_profile {
	int is_ec; /* else RSA */
	int curve_nid; /* EC */
	int rsa_bits; /* RSA: the smallest modulus allowed */
	int sig_md_nid; /* NID_sha256 or NID_sha384 */
};

/* The profile called name into *out; ST_NOTFOUND. */
enum status authority_profile_get(const struct authority *a, const char *name,
    struct authority_profile *out) MUST_CHECK;

/* 1 if the policy has a profile called name. */
int authority_profile_exists(const struct authority *a, const char *name);

/* A per-address token bucket of the policy's rate_limits. */
struct authority_rate {
	int64_t per_second; /* 0: no limit */
	int64_t burst;
};

struct authority_rates {
	struct authority_rate enroll;
	struct authority_rate token;
	struct authority_rate ocsp;
	struct authority_rate refusals; /* 401 and 403 answers */
};

/* The policy's rate limits, copied into *out. */
void
authority_rates_get(const struct authority *a, struct authority_rates *out);

/* 1 if the textual address is in the policy's rate_limits.exempt. */
int authority_rate_exempt(const struct authority *a, const char *address);

/* 1 if the textual address may read /metrics (the policy's metrics.allow). */
int authority_metrics_allows(const struct authority *a, const char *address);

/* How long an HTTP cache may keep a served CRL, or OCSP answer (seconds). */
int64_t authority_crl_cache_seconds(const struct authority *a);
int64_t authority_ocsp_cache_seconds(const struct authority *a);

/* The id of the policy a runs (policy_id), owned by a. */
const char *authority_policy_id(const struct authority *a);

/* The notAfter of the CA certificates, Unix seconds. */
void authority_ca_not_after(
    const struct authority *a, int64_t *root, int64_t *issuing);

/*
 * After a rollover, while the old issuing CA still signs its CRLs and OCSP
 * answers: 1, its certificate's notAfter in *not_after and in *until the
 * latest notAfter of the certificates it issued (when it retires; 0 when
 * the store did not answer, logged). 0 when there is none (both 0).
 */
int authority_retiring_not_after(
    const struct authority *a, int64_t *not_after, int64_t *until);

/*
 * A certificate's row as an admin sees it: from authority_cert_get a copy
 * (authority_cert_free), to authority_cert_list's fn a view for the call.
 */
struct authority_cert {
	char serial[AUTHORITY_SERIAL_CAP];
	const char *subject; /* RFC 2253 */
	const char *device_id; /* NULL for CA and service certificates */
	const char *profile;
	int is_revoked;
	int64_t not_before; /* Unix seconds */
	int64_t not_after;
	int64_t revoked_at; /* 0 when valid */
	int reason; /* RFC 5280 CRLReason, -1 when none */
	const uint8_t *der;
	size_t der_len;
};

void authority_cert_free(struct authority_cert *cert);

enum authority_cert_status {
	AUTHORITY_CERT_ANY,
	AUTHORITY_CERT_VALID,
	AUTHORITY_CERT_REVOKED
};

/* Which certificates authority_cert_list walks; NULL strings: any. */
struct authority_cert_filter {
	const char *device_id;
	enum authority_cert_status status;
	const char *profile;
	int64_t expiring_before; /* 0: any; else not_after < this */
	const char *cursor; /* NULL or "": first page; else serial > cursor */
	size_t limit; /* 1..AUTHORITY_LIST_LIMIT_MAX */
};

/* A device's row and certificate counts (a copy). */
struct authority_device {
	int is_blocked;
	char family[LIMIT_LABEL_LEN + 1]; /* "" when none is recorded */
	char authenticator[LIMIT_NAME_LEN + 1]; /* "" when none is recorded */
	int64_t created;
	int64_t updated;
	int64_t cert_count; /* certificates ever issued to it */
	int64_t valid_count; /* of those, not revoked (expired included) */
};

/* A row of the revocations feed (a view). */
struct authority_feed_entry {
	int64_t seq; /* increasing, never reused */
	const char *serial;
	const char *device_id; /* NULL when the certificate has none */
	int reason; /* -1 when none */
	int64_t time;
};

/* An audit entry (a view); its hashes stay with tessera audit verify. */
struct authority_audit_entry {
	int64_t seq;
	int64_t time;
	const char *actor;
	const char *action;
	const char *object;
	const char *detail;
};

/* A one-time secret's row, never the secret or its hash (a view). */
struct authority_secret {
	int64_t id;
	const char *device_id;
	const char *profile;
	const char *minter_kind; /* NULL: minted before minters were kept */
	const char *minter_id;
	const char *minter_serial; /* NULL when not a certificate */
	int64_t created;
	int64_t expires;
	int64_t consumed_at; /* 0: not used */
	const char *consumed_serial; /* NULL: not used */
	int64_t cancelled_at; /* 0: not cancelled */
	const char *cancelled_by; /* the audit actor that cancelled it */
};

/*
 * Parse an RFC 5280 §5.3.1 CRLReason name ("keyCompromise", ...) into
 * *code; NULL and "unspecified" give -1 (no reasonCode). certificateHold
 * and removeFromCRL are ST_MALFORMED: revocations here are permanent.
 */
enum status ca_reason_parse(const char *name, int *code) MUST_CHECK;

/* The RFC 5280 name of code ("unspecified" for -1 and 0), or NULL. */
const char *ca_reason_name(int code);

/* 1 for the profiles of tessera's CA certificates (root, issuing). */
int ca_profile_is_ca(const char *profile);

/* What a revocation did, for the API's answer. */
struct authority_revocation {
	char serial[41]; /* uppercase hex */
	char device_id[LIMIT_NAME_LEN + 1]; /* "" when none */
	int reason; /* -1 when none */
	int64_t time;
};

/*
 * Revoke the certificate serial (hex, any case) for reason (an RFC 5280
 * name, NULL for none). Returns after the revocation, its feed row and
 * its audit entry are committed; ST_NOTFOUND, ST_CONFLICT (revoked
 * already), ST_MALFORMED, ST_DENIED. out (may be NULL) is filled on ST_OK.
 */
enum status authority_revoke_cert(struct authority *a,
    const struct principal *who, const char *serial, const char *reason,
    struct authority_revocation *out) MUST_CHECK;

/*
 * Revoke every valid certificate of device_id, cancel its outstanding
 * secrets and those its certificates minted, and block the device (no
 * issuance, renewal or secret until reinstated), in one transaction;
 * *count gets how many certificates were revoked. An id that has not
 * enrolled yet is blocked all the same. ST_CONFLICT when it is blocked
 * already and has nothing left to revoke or cancel.
 */
enum status
authority_revoke_device(struct authority *a, const struct principal *who,
    const char *device_id, const char *reason, size_t *count) MUST_CHECK;

/*
 * The one-time secrets (never a secret or its hash) that match the filter
 * (minter: a certificate serial in any case, or "operator"; device;
 * profile; each may be NULL), at most limit (1..AUTHORITY_LIST_LIMIT_MAX)
 * with ids above after_id, in id order; outstanding only when
 * is_outstanding. Action "secrets" (admin, operator, auditor), audited as
 * a read. fn gets a view valid for the call; non-zero stops the walk.
 */
enum status authority_secret_list(struct authority *a,
    const struct principal *who, const char *minter, const char *device_id,
    const char *profile, int is_outstanding, int64_t after_id, size_t limit,
    int (*fn)(const struct authority_secret *s, void *arg),
    void *arg) MUST_CHECK;

/*
 * Cancel the secret id (action "cancel": admin, operator): it no longer
 * enrolls anything. ST_NOTFOUND, ST_CONFLICT (used or cancelled already).
 */
enum status authority_secret_cancel(
    struct authority *a, const struct principal *who, int64_t id) MUST_CHECK;

/*
 * Cancel every unused secret minted by minter (as for
 * authority_secret_list) and/or for device_id (at least one); *count gets
 * how many. Action "cancel".
 */
enum status
authority_secrets_cancel(struct authority *a, const struct principal *who,
    const char *minter, const char *device_id, size_t *count) MUST_CHECK;

/*
 * Unblock device_id (admin only); its revoked certificates stay revoked.
 * ST_NOTFOUND for an unknown device, ST_CONFLICT when it is not blocked.
 */
enum status authority_reinstate_device(struct authority *a,
    const struct principal *who, const char *device_id) MUST_CHECK;

/*
 * One certificate (serial: hex, any case); ST_NOTFOUND. The caller frees
 * *out, a copy, with authority_cert_free.
 */
enum status authority_cert_get(struct authority *a, const struct principal *who,
    const char *serial, struct authority_cert **out) MUST_CHECK;

/*
 * The inventory under who's permission: at most f->limit certificates
 * matching f, by serial after f->cursor (any case). fn gets a view valid
 * for the call and must not call the authority's read functions; non-zero
 * stops the walk.
 */
enum status authority_cert_list(struct authority *a,
    const struct principal *who, const struct authority_cert_filter *f,
    int (*fn)(const struct authority_cert *cert, void *arg),
    void *arg) MUST_CHECK;

/* A device's state and certificate counts (a copy); ST_NOTFOUND. */
enum status
authority_device_get(struct authority *a, const struct principal *who,
    const char *device_id, struct authority_device *out) MUST_CHECK;

/*
 * The revocations feed after seq since, at most limit rows
 * (1..AUTHORITY_LIST_LIMIT_MAX), in order (action "feed": admin, operator,
 * auditor, and device-role certificates, which gateways hold). fn as for
 * authority_cert_list.
 */
enum status authority_revocations_since(struct authority *a,
    const struct principal *who, int64_t since, size_t limit,
    int (*fn)(const struct authority_feed_entry *r, void *arg),
    void *arg) MUST_CHECK;

/*
 * Audit entries with seq > since, at most limit
 * (1..AUTHORITY_LIST_LIMIT_MAX), in order (admin, auditor). fn as for
 * authority_cert_list.
 */
enum status authority_audit_since(struct authority *a,
    const struct principal *who, int64_t since, size_t limit,
    int (*fn)(const struct authority_audit_entry *entry, void *arg),
    void *arg) MUST_CHECK;

#endif
