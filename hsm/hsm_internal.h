/*
 * hsm's insides, shared by its files: hsm.c (modules, tokens, login,
 * sessions) and key.c (key pairs: generation, lookup, signing). Only hsm/
 * includes it.
 */
#ifndef TESSERA_HSM_HSM_INTERNAL_H
#define TESSERA_HSM_HSM_INTERNAL_H

#include <pthread.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"

/* PKCS#11 token labels are CK_UTF8CHAR[32], blank padded. */
#define TOKEN_LABEL_LEN 32
/* CKA_ID shared by the two halves of a key pair. */
#define KEY_ID_LEN 16
#define PIN_MAC_LEN 32
/* A module with more slots than this is not one we were built for. */
#define MAX_SLOTS 1024
/* A ping that met SoftHSMv2 rewriting its token file asks again after. */
#define HSM_PING_RETRY_MS 20

/* A token logged in by this process, and the HMAC of the PIN that did it. */
struct hsm_login {
	struct hsm_login *next;
	CK_SLOT_ID slot_id;
	uint8_t pin_mac[PIN_MAC_LEN];
	int refs;
};

/* One loaded module, shared by every struct hsm opened on it. */
struct hsm_module {
	struct hsm_module *next;
	char *path;
	void *dl;
	CK_FUNCTION_LIST_PTR p11;
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int slot_count;
	struct hsm_login *logins;
	int refs;
};

struct hsm {
	struct hsm_module *mod;
	struct hsm_login *login;
	PKCS11_SLOT *slot;
	CK_SLOT_ID slot_id;
	CK_SESSION_HANDLE session;
	int has_session;
	pthread_mutex_t lock;
	char label[TOKEN_LABEL_LEN + 1];
};

struct hsm_key {
	struct hsm *hsm;
	char *label;
	EVP_PKEY *priv;
	EVP_PKEY *pub;
};

/* Guards modules, each module's libp11 slot and key lists and logins. */
extern pthread_mutex_t hsm_registry_lock;

/* A PKCS#11 return code's name ("CKR_PIN_INCORRECT"). */
const char *hsm_ckr_name(CK_RV rv);

#endif
