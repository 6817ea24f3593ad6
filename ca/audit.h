/*
 * audit: an append-only log of the authority's decisions, kept in the store
 * as a hash chain. Each entry's hash covers the previous entry's hash and
 * its own content, so changing or removing an entry in the middle breaks
 * the chain.
 *
 * Removing the newest entries does not break it, and a forger with write
 * access can recompute every hash after a change. Signed checkpoints cover
 * both: a checkpoint is itself an entry (actor "tessera", action
 * "checkpoint", object "seq:N") whose detail holds the hash of entry N, the
 * one right before it, and an ECDSA-SHA256 signature over it made with the
 * audit key in the token. Entries up to a checkpoint cannot be changed
 * without the key; cutting off the log below a checkpoint an auditor kept
 * (see audit_anchor_check) is found too.
 */
#ifndef TESSERA_CA_AUDIT_H
#define TESSERA_CA_AUDIT_H

#include <stdint.h>

#include <openssl/evp.h>

#include "ca/store.h"
#include "common/status.h"

struct signer_key;

/*
 * Append an entry inside the caller's store_write job, so that it commits
 * or rolls back with the action it records. NULL strings are stored as "";
 * detail is cut to LIMIT_AUDIT_DETAIL bytes (on a UTF-8 boundary).
 */
enum status audit_append(struct store_txn *txn, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail) MUST_CHECK;

/*
 * Append one entry in a store_write job of its own, for a decision that
 * changes nothing else (a refusal, a read). Strings as for audit_append.
 */
enum status audit_record(struct store *store, int64_t now, const char *actor,
    const char *action, const char *object, const char *detail) MUST_CHECK;

/*
 * The hash of e: SHA-256 over e->prev_hash, then seq and time as 8-byte
 * big-endian integers, then actor, action, object and detail each as an
 * 8-byte big-endian length and its bytes (NULL as ""). e->hash is not read.
 * 32 zero bytes if OpenSSL fails (which matches no real entry).
 */
void audit_entry_hash(const struct store_audit *e, uint8_t out[32]);

/*
 * Sign a checkpoint over the newest entry with key (the audit key, usually
 * in the token) and append it at time now, in one store write job. Nothing
 * is written for an empty log or when the newest entry is a checkpoint
 * already. *written (may be NULL) says whether one was.
 */
enum status audit_checkpoint(struct store *store, const struct signer_key *key,
    int64_t now, int *written) MUST_CHECK;

/* What audit_verify_report found. */
struct audit_report {
	int64_t count; /* entries in the log */
	int64_t first_bad; /* the first entry that does not hold; 0: none */
	int64_t checkpoint; /* seq of the last valid checkpoint; 0: none */
	int64_t checkpoint_count; /* valid checkpoints in the log */
	int64_t unsigned_count; /* entries after the last checkpoint */
	uint8_t checkpoint_hash[32]; /* that checkpoint's own entry hash */
};

/*
 * Walk the whole log: seq contiguous from 1, each prev_hash the previous
 * entry's hash, each hash recomputed, and each checkpoint signed by tessera
 * over "seq:N" = the entry right before it, with that entry's hash and a
 * signature that pub verifies (pub NULL: signatures are not checked). ST_OK
 * with *out filled; on the first bad entry ST_CONFLICT, a detail naming it
 * and only out->first_bad set.
 */
enum status audit_verify_report(
    struct store *store, EVP_PKEY *pub, struct audit_report *out) MUST_CHECK;

/*
 * audit_verify_report without signatures (the chain and the checkpoints'
 * form only): *count = entries, or *first_bad = the first bad entry's seq
 * with ST_CONFLICT. Either pointer may be NULL.
 */
enum status audit_verify(
    struct store *store, int64_t *count, int64_t *first_bad) MUST_CHECK;

/* "SEQ:HEX", the longest anchor and its NUL. */
#define AUDIT_ANCHOR_CAP (20 + 1 + 64 + 1)

/*
 * The anchor of r's last checkpoint, "SEQ:HEX" with the checkpoint entry's
 * seq and hash, for an auditor to keep outside the store. "" when r has no
 * checkpoint.
 */
void
audit_anchor_format(const struct audit_report *r, char out[AUDIT_ANCHOR_CAP]);

/*
 * Whether the log still holds the entry an anchor names with that hash:
 * with a verified chain, all entries up to it are as they were when the
 * anchor was taken. ST_MALFORMED for an anchor that does not parse,
 * ST_CONFLICT with a detail when the entry is gone or different.
 */
enum status
audit_anchor_check(struct store *store, const char *anchor) MUST_CHECK;

/* Called with each finding of audit_state_check, one line. */
typedef void (*audit_finding_fn)(const char *line, void *arg);

/*
 * Hold every certificate, device and enrollment-secret row against the
 * audit history and call fn (may be NULL) for each row that disagrees:
 * a certificate the audit never issued, issued under another profile or
 * to another device than its row says, revoked (or its device revoked after its issuance)
 * but valid in the store; a device blocked and never reinstated but
 * active; a secret used but unused. *findings gets how many. ST_OK even
 * with findings (they are the result); another status when the walk
 * itself failed.
 */
enum status audit_state_check(struct store *store, audit_finding_fn fn,
    void *arg, size_t *findings) MUST_CHECK;

#endif
