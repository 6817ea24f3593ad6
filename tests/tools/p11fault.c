/*
 * p11fault: a PKCS#11 module for tests that forwards every call to a real
 * module (P11FAULT_MODULE, default SoftHSMv2) and fails like an HSM that
 * went away while the file P11FAULT_FILE exists: calls on sessions, logins
 * and token queries answer CKR_DEVICE_REMOVED. When the file is gone the
 * HSM is back, but as after a power cycle: sessions opened before the
 * fault answer CKR_SESSION_HANDLE_INVALID, so the caller must open new
 * ones and log in again (a library that merely retries does not recover).
 *
 * A slow HSM, for the tests of requests in flight: while the file
 * P11FAULT_HOLD exists, the first C_Sign to come holds (until the file is
 * gone, or 60 s), after writing its thread id into P11FAULT_HOLD.held;
 * every other signature goes through meanwhile.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define SESSIONS_MAX 4096
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
/* A held signature waits at most this long (a test that failed). */
#define HOLD_MAX_MS 60000
#define HOLD_STEP_MS 10

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *real_dl;
static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST list;
static unsigned epoch; /* faults seen since C_Initialize */
static int in_fault;
static struct {
	CK_SESSION_HANDLE handle;
	unsigned epoch;
} sessions[SESSIONS_MAX];
static size_t session_count;
static int is_holding; /* a C_Sign is held now */

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

/* CKR_OK, or how a gone HSM answers: while the file exists, a fault. */
static CK_RV
fault(void)
{
	const char *file = getenv("P11FAULT_FILE");
	int now = file != NULL && access(file, F_OK) == 0;

	pthread_mutex_lock(&mu);
	if (now && !in_fault)
		epoch++;
	in_fault = now;
	pthread_mutex_unlock(&mu);
	return now ? CKR_DEVICE_REMOVED : CKR_OK;
}

/* A fault, or a session from before the last fault. */
static CK_RV
gate(CK_SESSION_HANDLE h)
{
	CK_RV rv;
	size_t i;

	if ((rv = fault()) != CKR_OK)
		return rv;
	pthread_mutex_lock(&mu);
	for (i = 0; i < session_count; i++)
		if (sessions[i].handle == h)
			break;
	rv = i < session_count && sessions[i].epoch != epoch
	    ? CKR_SESSION_HANDLE_INVALID
	    : CKR_OK;
	pthread_mutex_unlock(&mu);
	return rv;
}

static void
session_add(CK_SESSION_HANDLE h)
{
	size_t i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < session_count; i++)
		if (sessions[i].handle == h)
			break;
	if (i == session_count && session_count < SESSIONS_MAX)
		session_count++;
	if (i < SESSIONS_MAX) {
		sessions[i].handle = h;
		sessions[i].epoch = epoch;
	}
	pthread_mutex_unlock(&mu);
}

static CK_RV
w_Initialize(CK_VOID_PTR args)
{
	pthread_mutex_lock(&mu);
	session_count = 0;
	epoch = 0;
	in_fault = 0;
	pthread_mutex_unlock(&mu);
	return real->C_Initialize(args);
}

static CK_RV
w_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR out)
{
	CK_RV rv;

	if ((rv = fault()) != CKR_OK)
		return rv;
	if ((rv = real->C_OpenSession(slot, flags, app, notify, out)) == CKR_OK)
		session_add(*out);
	return rv;
}

static CK_RV
w_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = fault();

	return rv != CKR_OK ? CKR_TOKEN_NOT_PRESENT
	                    : real->C_GetTokenInfo(slot, info);
}

/* The calls on a session: gated, then forwarded. */
#define ON_SESSION(name, params, args)                                         \
	static CK_RV w_##name params                                           \
	{                                                                      \
		CK_RV rv = gate(h);                                            \
		return rv != CKR_OK ? rv : real->C_##name args;                \
	}

ON_SESSION(GetSessionInfo, (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i), (h, i))
ON_SESSION(Login,
    (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n),
    (h, u, p, n))
ON_SESSION(Logout, (CK_SESSION_HANDLE h), (h))
ON_SESSION(FindObjectsInit,
    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))
ON_SESSION(FindObjects,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n),
    (h, o, m, n))
ON_SESSION(FindObjectsFinal, (CK_SESSION_HANDLE h), (h))
ON_SESSION(GetAttributeValue,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
    (h, o, t, n))
ON_SESSION(SignInit,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
/* Hold this signature while P11FAULT_HOLD exists, if none is held. */
static void
hold(void)
{
	const char *file = getenv("P11FAULT_HOLD");
	struct timespec step = {0, HOLD_STEP_MS * 1000000L};
	char held[4096], tid[32];
	int fd, n, waited, is_mine = 0;

	if (file == NULL || access(file, F_OK) != 0)
		return;
	pthread_mutex_lock(&mu);
	if (!is_holding)
		is_holding = is_mine = 1;
	pthread_mutex_unlock(&mu);
	if (!is_mine)
		return;
	n = snprintf(held, sizeof(held), "%s.held", file);
	if (n > 0 && (size_t)n < sizeof(held) &&
	    (fd = open(held, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
		n = snprintf(tid, sizeof(tid), "%ld\n", (long)gettid());
		if (write(fd, tid, (size_t)n) != n)
			n = 0;
		close(fd);
	}
	for (waited = 0; waited < HOLD_MAX_MS && access(file, F_OK) == 0;
	     waited += HOLD_STEP_MS)
		nanosleep(&step, NULL);
	pthread_mutex_lock(&mu);
	is_holding = 0;
	pthread_mutex_unlock(&mu);
}

static CK_RV
w_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR s,
    CK_ULONG_PTR sn)
{
	CK_RV rv = gate(h);

	if (rv != CKR_OK)
		return rv;
	/* libp11 asks for the length first (s NULL): only the real one. */
	if (s != NULL)
		hold();
	return real->C_Sign(h, d, n, s, sn);
}
ON_SESSION(
    SignUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n), (h, d, n))
ON_SESSION(SignFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR sn),
    (h, s, sn))
ON_SESSION(GenerateKeyPair,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub, CK_ULONG pn,
        CK_ATTRIBUTE_PTR priv, CK_ULONG vn, CK_OBJECT_HANDLE_PTR pk,
        CK_OBJECT_HANDLE_PTR sk),
    (h, m, pub, pn, priv, vn, pk, sk))
ON_SESSION(
    GenerateRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR r, CK_ULONG n), (h, r, n))

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_RV rv;

	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&mu);
	if (real == NULL) {
		if ((real_dl = dlopen(path != NULL ? path : DEFAULT_MODULE,
		         RTLD_NOW | RTLD_LOCAL)) == NULL ||
		    (get = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(
		         real_dl, "C_GetFunctionList")) == NULL ||
		    (rv = get(&real)) != CKR_OK || real == NULL) {
			real = NULL;
			pthread_mutex_unlock(&mu);
			return CKR_GENERAL_ERROR;
		}
		list = *real;
		list.C_Initialize = w_Initialize;
		list.C_OpenSession = w_OpenSession;
		list.C_GetTokenInfo = w_GetTokenInfo;
		list.C_GetSessionInfo = w_GetSessionInfo;
		list.C_Login = w_Login;
		list.C_Logout = w_Logout;
		list.C_FindObjectsInit = w_FindObjectsInit;
		list.C_FindObjects = w_FindObjects;
		list.C_FindObjectsFinal = w_FindObjectsFinal;
		list.C_GetAttributeValue = w_GetAttributeValue;
		list.C_SignInit = w_SignInit;
		list.C_Sign = w_Sign;
		list.C_SignUpdate = w_SignUpdate;
		list.C_SignFinal = w_SignFinal;
		list.C_GenerateKeyPair = w_GenerateKeyPair;
		list.C_GenerateRandom = w_GenerateRandom;
	}
	pthread_mutex_unlock(&mu);
	*out = &list;
	return CKR_OK;
}
