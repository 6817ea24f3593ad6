/*
 * The signer's insides, shared by its back ends (local.c, soft.c,
 * remote.c), the holder's checks (purpose.c) and the signer's tests.
 */
#ifndef TESSERA_SIGNER_SIGNER_INTERNAL_H
#define TESSERA_SIGNER_SIGNER_INTERNAL_H

#include <openssl/x509.h>

#include "signer/signer.h"

struct signer_ops {
	enum status (*key_find)(
	    struct signer *s, const char *uri, struct signer_key **out);
	enum status (*key_generate)(struct signer *s, const char *label,
	    enum signer_key_type type, struct signer_key **out);
	enum status (*sign)(struct signer *s, const struct signer_key *key,
	    enum signer_purpose purpose, int md_nid, const uint8_t *tbs,
	    size_t tbs_len, uint8_t **sig, size_t *sig_len);
	/* NULL: signer_sign_start signs at once and keeps the answer.
	 * is_nowait: signer_sign_start_nowait's (never waits). */
	enum status (*sign_start)(struct signer *s, struct signer_pending *p,
	    int md_nid, const uint8_t *tbs, size_t tbs_len, int is_nowait);
	enum status (*sign_finish)(struct signer *s, struct signer_pending *p,
	    uint8_t **sig, size_t *sig_len);
	/* What signer_pending_fd answers for a started p (NULL: -1). */
	int (*pending_fd)(const struct signer_pending *p);
	enum status (*ping)(struct signer *s);
	void (*close)(struct signer *s);
};

/* Each back end's struct starts with this. */
struct signer {
	const struct signer_ops *ops;
	struct metrics *metrics; /* signature times; NULL: none (borrowed) */
};

struct signer_key {
	struct signer *s;
	char *label;
	enum signer_role role;
	EVP_PKEY *pub;
	/* SHA-1 of pub's subjectPublicKey BIT STRING (an OCSP responderID
	 * byKey, RFC 6960 §4.2.1), made once: encoding a key goes through
	 * OpenSSL's encoder look-ups, which cost more than a signature. */
	uint8_t pub_sha1[20];
	int has_pub_sha1;
};

/* A signature under way (signer.h); freed by signer_sign_finish. */
struct signer_pending {
	/* The signer (the key handle may be freed before the finish: a
	 * replaced OCSP responder's, say; the signer outlives both). */
	struct signer *s;
	const struct signer_key *key; /* for the start only */
	enum signer_purpose purpose;
	int64_t start_ns;
	/* Signed at start (no sign_start): the answer kept for finish. */
	enum status st;
	char detail[256];
	uint8_t *sig;
	size_t sig_len;
	/* The back end's own (remote.c: the request and its connection). */
	void *state;
};

/*
 * A key handle for s (label copied, pub taken: freed with the key). NULL
 * when out of memory (pub is freed then too).
 */
struct signer_key *signer_key_new(
    struct signer *s, const char *label, enum signer_role role, EVP_PKEY *pub);

/*
 * What the holder knows to decide: the labels of tessera.json's keys (each
 * may be NULL) and the CA certificates whose names its keys sign under
 * (NULL while `tessera init` makes them: the names are then not checked).
 */
struct signer_names {
	const char *label[SIGNER_ROLE_MAX];
	X509 *root;
	X509 *issuing;
	X509 *retiring; /* the issuing CA before a rollover, or NULL */
	int is_setup; /* `tessera init`: CA certificates, any key generated */
};

/* The role of a key labelled label. */
enum signer_role
signer_role_of(const struct signer_names *n, const char *label);

/*
 * Whether generating a key labelled label is allowed: only for the roles
 * that rotate (token, OCSP responder), or any role during set-up.
 */
enum status signer_generate_check(
    const struct signer_names *n, const char *label) MUST_CHECK;

/*
 * The holder's decision: may key (role, public half pub) sign tbs for
 * purpose with digest md_nid? ST_OK, or ST_DENIED with the reason in the
 * detail line and in the log (a refusal is an attack or a bug).
 */
enum status signer_purpose_check(const struct signer_names *n,
    enum signer_purpose purpose, const struct signer_key *key, int md_nid,
    const uint8_t *tbs, size_t tbs_len) MUST_CHECK;

/* Whether md_nid goes with key: SHA-256/384/512, none for Ed25519. */
int signer_md_ok(const struct signer_key *key, int md_nid);

#endif
