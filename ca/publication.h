/*
 * publisher: a part of the authority — what gateways fetch to learn about
 * revocations, and its schedule. CRLs are built from the store (by the one
 * process that runs the scheduled work) and kept there and in DIR/crl/;
 * OCSP answers come pre-signed from the store when they can, and are
 * signed online (and stored) when not; a worker keeps what it serves in
 * its pubcache (ca/pubcache.h: the JWKS, CRLs, stored OCSP answers).
 *
 * What it owns (struct publisher, opaque; its body is in ca/publication.c,
 * the only file that sees it):
 * - the delegated OCSP responder: its key handle, its certificate, its
 *   serial and the ca_ocsp that signs with them;
 * - the root's key handle (the root CRL) and the root's own responder
 *   (the status of the CAs it issued), with the root's serial;
 * - the pubcache;
 * - the CRL schedule: the feed seq the CRLs include, when they were built,
 *   their nextUpdate, when the minute-scale work (OCSP refresh) last ran.
 * The issuing CA's certificate, key, serial and URLs are the authority's
 * (its issuer); the publisher reads them from the authority it is given.
 *
 * Locks:
 * - responder_rw guards the delegated responder (key, certificate,
 *   serial, ca_ocsp): shared while signing with it (signatures run side
 *   by side), exclusive only to replace it after its revocation; never
 *   held across a commit;
 * - the root's key and responder are fixed while the keys are held
 *   (publication_keys to publication_drop_keys, which run alone: at open,
 *   at close);
 * - the pubcache has its own lock;
 * - the schedule is touched only by the thread that runs authority_tick.
 * Who calls it: authority.c makes it (publisher_new) before it finds the
 * keys, opens it after the store, frees it at close before the signer
 * closes; revoke.c (the revocations' OCSP answers, the responder's own
 * revocation), enrollment.c (a shard's CRL URL), mint.c (the JWKS in the
 * cache) and authority_tick. Nothing outside ca/ sees it.
 */
#ifndef TESSERA_CA_PUBLICATION_H
#define TESSERA_CA_PUBLICATION_H

#include <stdint.h>

#include "common/status.h"

struct authority;
struct publisher;
struct pubcache;
struct store_txn;

/*
 * An empty publisher: its lock and cache, no responder, no keys, the CRLs
 * due at the first tick. The caller frees *out with publisher_free.
 */
enum status publisher_new(struct publisher **out) MUST_CHECK;
/* NULL accepted; before the signer closes (the key handles are its). */
void publisher_free(struct publisher *p);

/* Open the OCSP responders (their certificates; publication_keys first). */
enum status publication_open(struct authority *a) MUST_CHECK;

/*
 * The responder key's URI into *out (free()): DIR/ca/ocsp-key.uri once the
 * responder was replaced, tessera.json's keys.ocsp before. The rollover
 * reads it too.
 */
struct ca_config;
enum status
publication_ocsp_key_uri(const struct ca_config *cfg, char **out) MUST_CHECK;

/*
 * Find the root and OCSP responder keys in the (newly opened) token, or
 * let go of them (the responder keeps its certificate and answers from
 * the store; it cannot sign until the keys are back).
 */
enum status publication_keys(struct authority *a) MUST_CHECK;
void publication_drop_keys(struct authority *a);

/* The cache of what a worker serves (the JWKS too); the publisher's. */
struct pubcache *publication_cache(struct authority *a);

/* Is serial the delegated OCSP responder's certificate? */
int publication_is_responder(struct authority *a, const char *serial);

/*
 * Inside a revocation's transaction: replace serial's pre-signed OCSP
 * response by a revoked one, so that OCSP says revoked as soon as the
 * revocation is acknowledged (or drop it when signing fails, so that the
 * next query is signed online from the store).
 */
enum status
publication_revoked_in_txn(struct authority *a, struct store_txn *txn,
    const char *serial, int shard, int reason, int64_t revoked_at) MUST_CHECK;

/*
 * Inside the transaction that revokes the OCSP responder's certificate:
 * forget every stored answer (all signed with its key), so that nothing
 * it signed is served once the revocation is acknowledged.
 */
enum status
publication_responder_revoked_in_txn(struct store_txn *txn) MUST_CHECK;

/*
 * After the responder's certificate was revoked: generate a new responder
 * key in the token, certify it, write DIR/ca/ocsp.pem and DIR/ca/
 * ocsp-key.uri, and answer with it from now on. Other processes see the
 * revocation in the store before they sign and load the new pair.
 */
enum status publication_responder_replace(struct authority *a) MUST_CHECK;

/*
 * Before the delegated responder signs: when its certificate was revoked
 * (here or by another process), take up its successor, or sign nothing
 * (tryLater) until there is one. The revoked key is never used again.
 */
void publication_responder_check(struct authority *a);

/*
 * Scheduled publication work: CRLs when due, OCSP refresh (the
 * minute-scale work; *is_slow says it ran). The tick's thread only.
 */
enum status
publication_tick(struct authority *a, int64_t now, int *is_slow) MUST_CHECK;

/*
 * On a node that does not run the scheduled work of a shared store: the
 * CRL files (crl/NAME.crl, crl/crl-chain.pem) written again from the
 * store's CRLs when the store holds newer ones than were last written,
 * so that what reads them on this node (nginx's ssl_crl) follows the
 * elected node's builds. A failure is logged once until one succeeds.
 * The tick's thread only.
 */
void publication_crl_mirror(struct authority *a);

/* The CRL URL of shard (STORE_CRL_SHARD_FULL: issuing.crl). */
char *publication_crl_url(const struct authority *a, int shard);

#endif
