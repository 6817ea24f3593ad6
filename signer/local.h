/*
 * The signer that holds the token in this process (through hsm/): the key
 * holder of the signer process, and of the CLI's offline operations.
 */
#ifndef TESSERA_SIGNER_LOCAL_H
#define TESSERA_SIGNER_LOCAL_H

#include <openssl/x509.h>

#include "signer/signer.h"

struct signer_local_config {
	const char *module; /* the PKCS#11 module */
	const char *token; /* the token's label */
	const char *pin; /* borrowed; a locked copy is kept to log in again */
	/* tessera.json's keys.* (PKCS#11 URIs); each may be NULL. */
	const char *key_uri[SIGNER_ROLE_MAX];
	/* The CA certificates (borrowed, referenced): what the root and the
	 * issuing keys sign under. NULL during `tessera init`. */
	X509 *root;
	X509 *issuing;
	X509 *retiring; /* keys.retiring's CA after a rollover; or NULL */
	int is_setup; /* `tessera init`: CA certificates, any key generated */
	int open_tries; /* tries of the first login (SoftHSMv2 races) */
};

/*
 * Open the token and log in. ST_NOTFOUND for a module that cannot be
 * loaded, ST_UNAVAILABLE for a token that is not there,
 * ST_UNAUTHENTICATED for a wrong PIN. A token that goes away later makes
 * calls answer ST_UNAVAILABLE and is opened again (a new session, login,
 * keys found anew) at most once a second. Free with signer_close.
 */
enum status signer_local_open(
    const struct signer_local_config *cfg, struct signer **out) MUST_CHECK;

/*
 * Initialise a new SoftHSMv2-style token (hsm_token_init): the set-up
 * before signer_local_open with is_setup. PINs are borrowed.
 */
enum status signer_token_init(const char *module, const char *token,
    const char *so_pin, const char *user_pin) MUST_CHECK;

#endif
