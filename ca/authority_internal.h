/*
 * The authority's insides, shared by the files of ca/ that make it up
 * (authority.c and the files of its parts: trust.c, publication.c,
 * mint.c, refusal.c, staff.c; authorize.c, enrollment.c, revoke.c, ...)
 * and by ca/'s tests.
 */
#ifndef TESSERA_CA_AUTHORITY_INTERNAL_H
#define TESSERA_CA_AUTHORITY_INTERNAL_H

#include <openssl/x509.h>

#include "ca/authority.h"
#include "ca/certder.h"
#include "ca/config.h"
#include "ca/issuer.h"
#include "ca/mint.h"
#include "ca/policy.h"
#include "ca/publication.h"
#include "ca/refusal.h"
#include "ca/staff.h"
#include "ca/store.h"
#include "ca/token.h"
#include "ca/trust.h"
#include "common/limits.h"
#include "signer/signer.h"

/*
 * The authority wires its parts; it holds no lock of its own. Concurrent
 * calls (authority_set_lock): every field here is fixed from open to
 * close — cfg (but authority_tls_names_set, a command's, never a
 * server's), policy, the signer and its key handles (the signer is safe
 * from several threads and reconnects by itself), store, the CA
 * certificates and URLs, the parts' pointers. What changes is inside the
 * parts, each behind its own lock (its header says which):
 * trust (ca/trust.h), publisher (ca/publication.h), minter (ca/mint.h),
 * refusals (ca/refusal.h), expiry watch (ca/staff.h), the retiring
 * issuing CA (ca/issuer.h).
 */
struct authority {
	struct ca_config *cfg;
	struct metrics *metrics; /* the service's pool, borrowed; or NULL */
	struct policy *policy;
	/* Every signature goes through the signer: the keys are handles. */
	struct signer *signer;
	struct signer_key *issuing_key;
	struct signer_key *audit_key; /* signs audit checkpoints; may be NULL */
	struct store *store;
	X509 *root;
	X509 *issuing;
	/* The issuing CA's subject as the rows' issuer column holds it
	 * (ca_name_string), made at open: every issuance names it. */
	char *issuing_name;
	char *crl_url;
	char *ocsp_url;
	char *ca_issuers_url;
	/* The certificate template of each policy profile (policy order),
	 * for the issuing CA and the URLs above: built at open, read-only
	 * after (ca/certder.h). */
	struct ca_certder **certder;
	size_t certder_count;
	/* The parts (each header says what it owns and its locks). */
	struct trust *trust; /* client-certificate anchors (ca/trust.h) */
	struct minter *minter; /* the token-signing key (ca/mint.h) */
	struct refusals *refusals; /* refused reads (ca/refusal.h) */
	/* CRLs, OCSP and their schedule (ca/publication.h). */
	struct publisher *pub;
	char issuing_serial[41]; /* the issuing CA's, for the gate */
	/* tessera's own certificates close to expiry (ca/staff.h). */
	struct expiry_watch *expiry;
	/* Issuing-CA rollover: the issuing CA's generation (the issuers
	 * table; 0 before any rollover), and the issuing CA before it,
	 * which still publishes for what it issued (ca/issuer.h; NULL when
	 * there is none). Fixed from open to close. */
	int issuing_gen;
	struct issuer *retiring;
	/* The caller's lock, let go during serverkeygen (may be NULL). */
	void (*lock_leave)(void *);
	void (*lock_enter)(void *);
	void *lock_arg;
};

/*
 * The CA certificates of cfg's data directory (ca/root.pem,
 * ca/issuing.pem), or why not: one made with init --offline-root waits
 * for its import. The caller frees both (also on failure).
 */
enum status authority_ca_certs_load(
    const struct ca_config *cfg, X509 **root, X509 **issuing) MUST_CHECK;

/*
 * The signer that holds cfg's token in this process: PIN given, or from
 * the environment, or the configured file (a locked copy is kept by the
 * signer, this one wiped); root and issuing are the CA names its keys
 * sign under. tries: logins tried while the token is busy.
 */
enum status authority_signer_local_open(const struct ca_config *cfg, X509 *root,
    X509 *issuing, X509 *retiring, const char *given_pin, int tries,
    struct signer **out) MUST_CHECK;

/* Write every tallied refused read now (refusal.c; at close). */
void authority_flush_all(struct authority *a);

/*
 * Certify key (in the token) as the OCSP responder, now when force, else
 * when a third of ca/ocsp.pem's life is left: ca/ocsp.pem.
 */
enum status authority_ocsp_certify(struct authority *a,
    const struct signer_key *key, int force, int *renewed) MUST_CHECK;

/*
 * The issuance gate: ST_UNAVAILABLE (503) with what to do when the
 * issuing CA is revoked; the _in_txn form inside an issuance's
 * transaction, so that a revocation committed meanwhile is seen.
 */
enum status issuing_ca_check(struct authority *a) MUST_CHECK;

/*
 * After a rollover (tessera.json keys.retiring): the issuing CA before it,
 * from DIR/ca/retiring.pem; *retiring NULL when there is none, or when it
 * was retired (the scheduler renamed the file: a worker cannot rewrite
 * tessera.json, and keys.retiring then names a key that signs nothing
 * until the next rollover replaces it). The caller frees it.
 */
#define AUTHORITY_RETIRING_PEM "ca/retiring.pem"
enum status authority_retiring_cert_load(
    const struct ca_config *cfg, X509 **retiring) MUST_CHECK;

/* DIR/rel as one PEM certificate; the caller frees *out. */
enum status authority_file_cert_load(
    const struct ca_config *cfg, const char *rel, X509 **out) MUST_CHECK;

enum status
issuing_ca_check_in_txn(struct authority *a, struct store_txn *txn) MUST_CHECK;

/*
 * Inside an issuance's or a token's transaction: ST_DENIED when device_id
 * is blocked (revoked until an admin reinstates it), so that a revocation
 * committed meanwhile is seen.
 */
struct store_device_binding;

enum status device_unblocked_in_txn(
    struct store_txn *txn, const char *device_id) MUST_CHECK;

/*
 * Scheduled: revoke (reason superseded, dated at their supersede_at) the
 * renewed certificates whose overlap has ended; each with its feed row,
 * OCSP answer and audit entry in one transaction.
 */
enum status supersede_tick(struct authority *a, int64_t now) MUST_CHECK;

/*
 * Scheduled on every node: retire the retiring issuing CA once its last
 * certificate has expired (the issuers row and the audit entry, once for
 * the store; tessera.json and ca/retiring.pem of this data directory).
 * *retired is 1 when it was retired now: the server reloads.
 */
enum status
issuer_retire_tick(struct authority *a, int64_t now, int *retired) MUST_CHECK;

/*
 * Build a->certder, one template per profile of a->policy, for
 * certificates the issuing CA signs (enrollment.c); freed with
 * authority_templates_free.
 */
enum status authority_templates_build(struct authority *a) MUST_CHECK;
void authority_templates_free(struct authority *a);

/*
 * The permission check for issuance: may who have profile p for
 * device_id (a renewal when is_reenroll)? ST_OK or ST_DENIED with why.
 */
enum status authorize_enroll(const struct authority *a,
    const struct principal *who, const struct policy_profile *p,
    const char *device_id, int is_reenroll) MUST_CHECK;

/* May who mint a one-time secret for device_id under profile p? */
enum status
authorize_secret(const struct authority *a, const struct principal *who,
    const struct policy_profile *p, const char *device_id) MUST_CHECK;

/*
 * The authenticator a device id enrolled by who is bound to, as the
 * devices table records it: "manufacturer:NAME", "role:ROLE", "secret",
 * "operator".
 */
void
principal_authenticator(const struct principal *who, char *out, size_t cap);

/*
 * A device id's bindings (inside the issuing or minting transaction): an
 * id held by one profile family is refused to another (family is the
 * profile's name), and an id bound to one manufacturer is refused to any
 * other authenticator's IDevID. ST_OK or ST_DENIED with why.
 */
enum status
authorize_binding(const struct principal *who, const char *device_id,
    const struct store_device_binding *b, const char *family) MUST_CHECK;

/*
 * The permission check for the admin API: may who do action ("revoke",
 * "reinstate", "read", "feed", "audit")? The local operator may do all;
 * a certificate principal by its policy role and that role's allow-list.
 * ST_OK, ST_UNAUTHENTICATED (no credentials) or ST_DENIED with why.
 */
enum status authorize_admin(const struct authority *a,
    const struct principal *who, const char *action) MUST_CHECK;

#endif
