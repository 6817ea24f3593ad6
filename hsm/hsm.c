/*
 * hsm: keys inside a PKCS#11 token, through libp11 0.4.12 for signing and
 * raw PKCS#11 (p11-kit's header, the same dlopen()ed module) for what
 * libp11 cannot do: EC key generation, token initialisation, exact CKR
 * codes at login, attribute queries and a cheap liveness check.
 *
 * Concurrency, as read in libp11's source and checked on the installed
 * 0.4.12:
 * - libp11 calls C_Initialize with CKF_OS_LOCKING_OK (seen in a debugger),
 *   so SoftHSM does its own locking, and keeps a per-slot pool of sessions
 *   guarded by a mutex and a condition variable: each sign takes an idle
 *   session from the pool (opening another when none is idle) and puts it
 *   back. Two threads signing with one key run on two sessions; libp11
 *   does not serialise them. PKCS11_get_private_key returns a new EVP_PKEY
 *   holding a reference on the key object, so it stays valid when a later
 *   enumeration reallocs libp11's key array.
 * - Measured with bench/bench_hsm.c (2 CPUs shared with other engineers'
 *   builds and fuzzers, SoftHSM 2.6.1, EVP_DigestSign of 100 bytes, 3 s a
 *   case, 7 runs): ECDSA P-256 one thread 14200-16600 sig/s (openssl
 *   speed: 48800, so SoftHSM's per-sign key handling costs two thirds);
 *   two threads on one key 16000-28200 sig/s, 0.99x-1.80x, following the
 *   CPU the process got (1.00-1.95 cores) at 13700-16600 signatures per
 *   CPU-second. When it got one core, the threads were preempted, not
 *   blocked (under 100 voluntary context switches a second); with two,
 *   up to 6000 waits a second on SoftHSM's and libp11's mutexes cost up
 *   to 17% per CPU-second. Two keys scale the same. P-384 1060-1220 and
 *   RSA-3072 405-420 sig/s (one thread; bound by the curve and RSA
 *   arithmetic: openssl speed gives 1186 and 558). Signing is CPU-bound,
 *   not serialised, and 400 concurrent signs in the unit test all verify
 *   under ASan, so there is no signing mutex: it would cap us at 1x.
 * - What libp11 does not protect and we do: its slot and key lists (an
 *   enumeration reallocs them), so enumeration runs under hsm_registry_lock;
 *   and our own raw session, which PKCS#11 forbids using from two threads
 *   at once, under hsm->lock.
 *
 * Several struct hsm in one process share one loaded module: a second
 * PKCS11_CTX_load/unload of the same module would C_Finalize it, and
 * releasing a libp11 slot list calls C_CloseAllSessions, both of which
 * silently log out every other user (checked by experiment). So modules
 * are refcounted in a process-wide registry, and a token that is already
 * logged in checks a later PIN against an HMAC of the one that logged in
 * (PKCS#11 login state is per application, so C_Login would not).
 *
 * This file: modules, tokens, login, sessions and the liveness check;
 * hsm/key.c: key pairs (generation, lookup, signing, attributes); their
 * shared structures in hsm/hsm_internal.h.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>

#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"
#include "hsm/hsm_internal.h"

/* Guards modules, each module's libp11 slot and key lists and logins. */
pthread_mutex_t hsm_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *modules;
static uint8_t pin_mac_key[32];
static int has_pin_mac_key;

const char *
hsm_ckr_name(CK_RV rv)
{
	static _Thread_local char buf[32];

	switch (rv) {
	case CKR_OK:
		return "CKR_OK";
	case CKR_GENERAL_ERROR:
		return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED:
		return "CKR_FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD:
		return "CKR_ARGUMENTS_BAD";
	case CKR_ATTRIBUTE_VALUE_INVALID:
		return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_DEVICE_ERROR:
		return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY:
		return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED:
		return "CKR_DEVICE_REMOVED";
	case CKR_HOST_MEMORY:
		return "CKR_HOST_MEMORY";
	case CKR_MECHANISM_INVALID:
		return "CKR_MECHANISM_INVALID";
	case CKR_PIN_INCORRECT:
		return "CKR_PIN_INCORRECT";
	case CKR_PIN_LEN_RANGE:
		return "CKR_PIN_LEN_RANGE";
	case CKR_PIN_LOCKED:
		return "CKR_PIN_LOCKED";
	case CKR_SESSION_CLOSED:
		return "CKR_SESSION_CLOSED";
	case CKR_SESSION_HANDLE_INVALID:
		return "CKR_SESSION_HANDLE_INVALID";
	case CKR_SLOT_ID_INVALID:
		return "CKR_SLOT_ID_INVALID";
	case CKR_TEMPLATE_INCOMPLETE:
		return "CKR_TEMPLATE_INCOMPLETE";
	case CKR_TEMPLATE_INCONSISTENT:
		return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_TOKEN_NOT_PRESENT:
		return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED:
		return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_TOKEN_WRITE_PROTECTED:
		return "CKR_TOKEN_WRITE_PROTECTED";
	case CKR_USER_NOT_LOGGED_IN:
		return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_PIN_NOT_INITIALIZED:
		return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return "CKR_CRYPTOKI_NOT_INITIALIZED";
	default:
		snprintf(buf, sizeof(buf), "CKR 0x%lx", (unsigned long)rv);
		return buf;
	}
}

/* label as a blank-padded CK_UTF8CHAR[32]; 0 if it does not fit. */
static int
token_label_pad(const char *label, CK_UTF8CHAR out[TOKEN_LABEL_LEN])
{
	size_t len = strlen(label);

	if (len == 0 || len > TOKEN_LABEL_LEN)
		return 0;
	memset(out, ' ', TOKEN_LABEL_LEN);
	memcpy(out, label, len);
	return 1;
}

/* A CK_TOKEN_INFO label without its blank padding, as a C string. */
static void
token_label_trim(
    const CK_UTF8CHAR in[TOKEN_LABEL_LEN], char out[TOKEN_LABEL_LEN + 1])
{
	size_t len = TOKEN_LABEL_LEN;

	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\0'))
		len--;
	memcpy(out, in, len);
	out[len] = '\0';
}

static void
module_free(struct hsm_module *mod)
{
	struct hsm_login *l, *next;

	if (mod == NULL)
		return;
	for (l = mod->logins; l != NULL; l = next) {
		next = l->next;
		OPENSSL_cleanse(l, sizeof(*l));
		free(l);
	}
	if (mod->ctx != NULL) {
		if (mod->slots != NULL)
			PKCS11_release_all_slots(
			    mod->ctx, mod->slots, mod->slot_count);
		/* Calls C_Finalize: only when no struct hsm is left. */
		PKCS11_CTX_unload(mod->ctx);
		PKCS11_CTX_free(mod->ctx);
	}
	if (mod->dl != NULL)
		dlclose(mod->dl);
	free(mod->path);
	free(mod);
}

/*
 * Find or load the module at path and take a reference. Call with
 * hsm_registry_lock held.
 */
static enum status
module_acquire(const char *path, struct hsm_module **out)
{
	struct hsm_module *mod = NULL;
	CK_C_GetFunctionList get_list;
	CK_RV rv;
	const char *err;
	enum status st = ST_UNAVAILABLE;

	*out = NULL;
	for (mod = modules; mod != NULL; mod = mod->next) {
		if (strcmp(mod->path, path) == 0) {
			mod->refs++;
			*out = mod;
			return ST_OK;
		}
	}
	if ((mod = calloc(1, sizeof(*mod))) == NULL ||
	    (mod->path = strdup(path)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((mod->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		st = status_fail(ST_NOTFOUND,
		    "PKCS#11 module %s: cannot load: %s", path,
		    err != NULL ? err : "dlopen failed");
		goto out;
	}
	get_list = (CK_C_GetFunctionList)dlsym(mod->dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&mod->p11) != CKR_OK ||
	    mod->p11 == NULL) {
		status_fail(ST_UNAVAILABLE,
		    "PKCS#11 module %s: cannot load: "
		    "no C_GetFunctionList",
		    path);
		goto out;
	}
	if ((mod->ctx = PKCS11_CTX_new()) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	/* libp11 calls C_Initialize with CKF_OS_LOCKING_OK. */
	if (PKCS11_CTX_load(mod->ctx, path) != 0) {
		PKCS11_CTX_free(mod->ctx);
		mod->ctx = NULL;
		status_fail_ssl(ST_UNAVAILABLE,
		    "PKCS#11 module %s: cannot load: C_Initialize failed",
		    path);
		goto out;
	}
	/* Same module, same process: libp11 has initialised it already. */
	rv = mod->p11->C_Initialize(NULL);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		status_fail(ST_UNAVAILABLE,
		    "PKCS#11 module %s: cannot load: "
		    "C_Initialize: %s",
		    path, hsm_ckr_name(rv));
		goto out;
	}
	if (PKCS11_enumerate_slots(mod->ctx, &mod->slots, &mod->slot_count) !=
	    0) {
		status_fail_ssl(ST_UNAVAILABLE,
		    "PKCS#11 module %s: cannot list slots", path);
		goto out;
	}
	mod->refs = 1;
	mod->next = modules;
	modules = mod;
	*out = mod;
	mod = NULL;
	st = ST_OK;
out:
	module_free(mod);
	return st;
}

/* Drop a reference; unload on the last. Call with hsm_registry_lock held. */
static void
module_release(struct hsm_module *mod)
{
	struct hsm_module **pp;

	if (mod == NULL || --mod->refs > 0)
		return;
	for (pp = &modules; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == mod) {
			*pp = mod->next;
			break;
		}
	}
	module_free(mod);
}

/*
 * The slot holding an initialised token labelled label, or with label
 * NULL a slot whose token is not initialised yet; asked of the module
 * itself (libp11's list can be stale: SoftHSM renumbers slots after
 * C_InitToken). 1 found, 0 not, -1 error (detail set).
 */
static int
token_find(struct hsm_module *mod, const char *label, CK_SLOT_ID *out)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG count = MAX_SLOTS, i;
	CK_TOKEN_INFO info;
	char name[TOKEN_LABEL_LEN + 1];
	CK_RV rv;
	int is_initialized;

	if ((rv = mod->p11->C_GetSlotList(CK_TRUE, ids, &count)) != CKR_OK) {
		status_fail(ST_UNAVAILABLE,
		    "PKCS#11 module %s: C_GetSlotList: %s", mod->path,
		    hsm_ckr_name(rv));
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (mod->p11->C_GetTokenInfo(ids[i], &info) != CKR_OK)
			continue;
		is_initialized = (info.flags & CKF_TOKEN_INITIALIZED) != 0;
		if (label == NULL && !is_initialized) {
			*out = ids[i];
			return 1;
		}
		if (label == NULL || !is_initialized)
			continue;
		token_label_trim(info.label, name);
		if (strcmp(name, label) == 0) {
			*out = ids[i];
			return 1;
		}
	}
	return 0;
}

static enum status
token_set_user_pin(struct hsm_module *mod, CK_SLOT_ID id, const char *label,
    const char *so_pin, const char *user_pin)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	int logged_in = 0;
	enum status st = ST_UNAVAILABLE;

	rv = mod->p11->C_OpenSession(
	    id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		status_fail(ST_UNAVAILABLE, "token '%s': C_OpenSession: %s",
		    label, hsm_ckr_name(rv));
		goto out;
	}
	rv = mod->p11->C_Login(
	    s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
	if (rv != CKR_OK) {
		status_fail(ST_UNAUTHENTICATED,
		    "token '%s': SO login failed "
		    "(%s)",
		    label, hsm_ckr_name(rv));
		goto out;
	}
	logged_in = 1;
	rv =
	    mod->p11->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
	if (rv != CKR_OK) {
		status_fail(
		    rv == CKR_PIN_LEN_RANGE ? ST_MALFORMED : ST_UNAVAILABLE,
		    "token '%s': setting the user PIN failed "
		    "(%s)",
		    label, hsm_ckr_name(rv));
		goto out;
	}
	st = ST_OK;
out:
	if (logged_in)
		mod->p11->C_Logout(s);
	if (s != CK_INVALID_HANDLE)
		mod->p11->C_CloseSession(s);
	return st;
}

enum status
hsm_token_init(const char *module, const char *token_label, const char *so_pin,
    const char *user_pin)
{
	struct hsm_module *mod = NULL;
	CK_UTF8CHAR padded[TOKEN_LABEL_LEN];
	CK_SLOT_ID id;
	CK_RV rv;
	int found;
	enum status st = ST_UNAVAILABLE;

	if (module == NULL || token_label == NULL || so_pin == NULL ||
	    user_pin == NULL)
		return status_fail(
		    ST_MALFORMED, "hsm_token_init: NULL argument");
	if (!token_label_pad(token_label, padded))
		return status_fail(ST_LIMIT,
		    "token label '%s' must be 1 to %d "
		    "bytes",
		    token_label, TOKEN_LABEL_LEN);
	if (strlen(so_pin) > LIMIT_PIN_LEN || strlen(user_pin) > LIMIT_PIN_LEN)
		return status_fail(
		    ST_LIMIT, "PIN is over %d bytes", LIMIT_PIN_LEN);
	pthread_mutex_lock(&hsm_registry_lock);
	if ((st = module_acquire(module, &mod)) != ST_OK)
		goto out;
	st = ST_UNAVAILABLE;
	if ((found = token_find(mod, token_label, &id)) < 0)
		goto out;
	if (found) {
		st = status_fail(ST_CONFLICT,
		    "a token labelled '%s' exists "
		    "already in %s",
		    token_label, module);
		goto out;
	}
	if ((found = token_find(mod, NULL, &id)) <= 0) {
		if (found == 0)
			status_fail(ST_UNAVAILABLE,
			    "PKCS#11 module %s: no slot "
			    "with an uninitialised token",
			    module);
		goto out;
	}
	rv = mod->p11->C_InitToken(
	    id, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), padded);
	if (rv != CKR_OK) {
		status_fail(ST_UNAVAILABLE, "token '%s': C_InitToken: %s",
		    token_label, hsm_ckr_name(rv));
		goto out;
	}
	/* SoftHSM gives the new token a new slot id: look it up again. */
	if ((found = token_find(mod, token_label, &id)) <= 0) {
		if (found == 0)
			status_fail(ST_UNAVAILABLE,
			    "token '%s' vanished after "
			    "C_InitToken",
			    token_label);
		goto out;
	}
	if ((st = token_set_user_pin(mod, id, token_label, so_pin, user_pin)) !=
	    ST_OK)
		goto out;
	log_info("hsm: initialised token '%s' in %s", token_label, module);
	st = ST_OK;
out:
	module_release(mod);
	pthread_mutex_unlock(&hsm_registry_lock);
	return st;
}

static void
pin_mac(const char *pin, uint8_t mac[PIN_MAC_LEN])
{
	unsigned int len = PIN_MAC_LEN;

	if (!has_pin_mac_key) {
		if (RAND_bytes(pin_mac_key, sizeof(pin_mac_key)) != 1)
			memset(pin_mac_key, 0x5c, sizeof(pin_mac_key));
		has_pin_mac_key = 1;
	}
	if (HMAC(EVP_sha256(), pin_mac_key, sizeof(pin_mac_key),
	        (const unsigned char *)pin, strlen(pin), mac, &len) == NULL)
		memset(mac, 0, PIN_MAC_LEN);
}

static enum status
login_fail(const char *label, CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
		return status_fail(ST_UNAUTHENTICATED,
		    "token '%s': login "
		    "failed: wrong PIN (%s)",
		    label, hsm_ckr_name(rv));
	case CKR_PIN_LOCKED:
		return status_fail(ST_UNAUTHENTICATED,
		    "token '%s': login "
		    "failed: PIN locked (%s)",
		    label, hsm_ckr_name(rv));
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		return status_fail(ST_UNAUTHENTICATED,
		    "token '%s': login "
		    "failed: PIN has a bad length or characters (%s)",
		    label, hsm_ckr_name(rv));
	case CKR_USER_PIN_NOT_INITIALIZED:
		/*
		 * Unavailable, so the caller tries again: SoftHSMv2 answers
		 * this too when its token file is read at the moment another
		 * process (a sibling worker starting) reads it, as with the
		 * transient general errors. No PIN was tried, so a retry
		 * cannot lock anything; a token that really has no user PIN
		 * still fails, with this message, once the tries are spent.
		 */
		return status_fail(ST_UNAVAILABLE,
		    "token '%s': login "
		    "failed: no user PIN set (%s)",
		    label, hsm_ckr_name(rv));
	default:
		return status_fail(ST_UNAVAILABLE,
		    "token '%s': login failed "
		    "(%s)",
		    label, hsm_ckr_name(rv));
	}
}

/*
 * Log hsm's session in as user, or, when this process is logged in on the
 * token already, check pin against the PIN that did. Registry lock held.
 */
static enum status
hsm_login(struct hsm *hsm, const char *pin)
{
	struct hsm_module *mod = hsm->mod;
	struct hsm_login *l;
	uint8_t mac[PIN_MAC_LEN];
	CK_RV rv;
	enum status st = ST_UNAUTHENTICATED;

	pin_mac(pin, mac);
	for (l = mod->logins; l != NULL; l = l->next) {
		if (l->slot_id != hsm->slot_id)
			continue;
		if (CRYPTO_memcmp(l->pin_mac, mac, PIN_MAC_LEN) != 0) {
			st = login_fail(hsm->label, CKR_PIN_INCORRECT);
			goto out;
		}
		l->refs++;
		hsm->login = l;
		st = ST_OK;
		goto out;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	rv = mod->p11->C_Login(
	    hsm->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		free(l);
		st = login_fail(hsm->label, rv);
		goto out;
	}
	l->slot_id = hsm->slot_id;
	memcpy(l->pin_mac, mac, PIN_MAC_LEN);
	l->refs = 1;
	l->next = mod->logins;
	mod->logins = l;
	hsm->login = l;
	st = ST_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return st;
}

/* Undo hsm_login. Registry lock held. */
static void
hsm_logout(struct hsm *hsm)
{
	struct hsm_login **pp, *l = hsm->login;

	if (l == NULL || --l->refs > 0)
		return;
	hsm->mod->p11->C_Logout(hsm->session);
	for (pp = &hsm->mod->logins; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	OPENSSL_cleanse(l, sizeof(*l));
	free(l);
	hsm->login = NULL;
}

/*
 * The libp11 slot for id. libp11's list is the one read when the module
 * was loaded: PKCS11_update_slots crashes in libp11 0.4.12 (a NULL
 * dereference on the simplest call, checked by experiment), so a token
 * created while this process has the module loaded is not seen until
 * every hsm on the module is closed. Registry lock held.
 */
static PKCS11_SLOT *
libp11_slot(struct hsm_module *mod, CK_SLOT_ID id)
{
	unsigned int i;

	for (i = 0; i < mod->slot_count; i++)
		if (PKCS11_get_slotid_from_slot(&mod->slots[i]) == id &&
		    mod->slots[i].token != NULL)
			return &mod->slots[i];
	return NULL;
}

enum status
hsm_open(const char *module, const char *token_label, const char *pin,
    struct hsm **out)
{
	struct hsm *hsm = NULL;
	CK_RV rv;
	int found;
	enum status st = ST_UNAVAILABLE;

	*out = NULL;
	if (module == NULL || token_label == NULL || pin == NULL)
		return status_fail(ST_MALFORMED, "hsm_open: NULL argument");
	if (strlen(token_label) == 0 || strlen(token_label) > TOKEN_LABEL_LEN)
		return status_fail(ST_LIMIT,
		    "token label must be 1 to %d bytes", TOKEN_LABEL_LEN);
	if (strlen(pin) > LIMIT_PIN_LEN)
		return status_fail(
		    ST_LIMIT, "PIN is over %d bytes", LIMIT_PIN_LEN);
	if ((hsm = calloc(1, sizeof(*hsm))) == NULL)
		return ST_NOMEM;
	if (pthread_mutex_init(&hsm->lock, NULL) != 0) {
		free(hsm);
		return ST_NOMEM;
	}
	memcpy(hsm->label, token_label, strlen(token_label) + 1);
	pthread_mutex_lock(&hsm_registry_lock);
	if ((st = module_acquire(module, &hsm->mod)) != ST_OK)
		goto out;
	st = ST_UNAVAILABLE;
	if ((found = token_find(hsm->mod, token_label, &hsm->slot_id)) <= 0) {
		if (found == 0)
			status_fail(ST_UNAVAILABLE,
			    "no token labelled '%s' in "
			    "%s",
			    token_label, module);
		goto out;
	}
	if ((hsm->slot = libp11_slot(hsm->mod, hsm->slot_id)) == NULL) {
		status_fail(ST_UNAVAILABLE,
		    "token '%s' was created after %s "
		    "was loaded: close every hsm on it and open again",
		    token_label, module);
		goto out;
	}
	rv = hsm->mod->p11->C_OpenSession(hsm->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &hsm->session);
	if (rv != CKR_OK) {
		status_fail(ST_UNAVAILABLE, "token '%s': C_OpenSession: %s",
		    token_label, hsm_ckr_name(rv));
		goto out;
	}
	hsm->has_session = 1;
	/*
	 * Log in on our raw session: PKCS#11 login state belongs to the
	 * application, so libp11's pooled sessions are logged in too, libp11
	 * never holds a copy of the PIN, and we see the exact CKR code.
	 */
	if ((st = hsm_login(hsm, pin)) != ST_OK)
		goto out;
	log_info("hsm: opened token '%s' in %s", token_label, module);
	*out = hsm;
	hsm = NULL;
	st = ST_OK;
out:
	pthread_mutex_unlock(&hsm_registry_lock);
	hsm_close(hsm);
	return st;
}

void
hsm_close(struct hsm *hsm)
{
	if (hsm == NULL)
		return;
	pthread_mutex_lock(&hsm_registry_lock);
	if (hsm->mod != NULL) {
		hsm_logout(hsm);
		if (hsm->has_session)
			hsm->mod->p11->C_CloseSession(hsm->session);
		module_release(hsm->mod);
	}
	pthread_mutex_unlock(&hsm_registry_lock);
	pthread_mutex_destroy(&hsm->lock);
	free(hsm);
}

const char *
hsm_token_label(const struct hsm *hsm)
{
	return hsm->label;
}

enum status
hsm_ping(struct hsm *hsm)
{
	CK_FUNCTION_LIST_PTR p11 = hsm->mod->p11;
	CK_SESSION_INFO info;
	CK_TOKEN_INFO token;
	struct timespec retry = {0, HSM_PING_RETRY_MS * 1000000L};
	CK_RV rv;

	/*
	 * The session says whether we are still logged in; the token info
	 * whether the token itself is still there (SoftHSM keeps a session
	 * alive after its token directory is gone, but then fails
	 * C_GetTokenInfo).
	 */
	pthread_mutex_lock(&hsm->lock);
	rv = p11->C_GetSessionInfo(hsm->session, &info);
	if (rv == CKR_OK)
		rv = p11->C_GetTokenInfo(hsm->slot_id, &token);
	/*
	 * SoftHSMv2 rewrites its token file when another process logs in
	 * (a worker starting, a reload); a reader at that moment gets
	 * CKR_GENERAL_ERROR. Asked again a moment later, a token that is
	 * there answers; one that is gone fails again.
	 */
	if (rv == CKR_GENERAL_ERROR) {
		nanosleep(&retry, NULL);
		rv = p11->C_GetSessionInfo(hsm->session, &info);
		if (rv == CKR_OK)
			rv = p11->C_GetTokenInfo(hsm->slot_id, &token);
	}
	pthread_mutex_unlock(&hsm->lock);
	if (rv != CKR_OK)
		return status_fail(ST_UNAVAILABLE,
		    "token '%s' does not answer "
		    "(%s)",
		    hsm->label, hsm_ckr_name(rv));
	if (info.state != CKS_RW_USER_FUNCTIONS &&
	    info.state != CKS_RO_USER_FUNCTIONS)
		return status_fail(ST_UNAVAILABLE,
		    "token '%s' is no longer "
		    "logged in",
		    hsm->label);
	return ST_OK;
}
