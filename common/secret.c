#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secret.h"

/*
 * Keep the pages of [p, p + len) in RAM: a PIN is never written to swap.
 * Locking is counted per page, not per call, so pages are never unlocked
 * again (another secret may share them); a handful of PINs lock a page or
 * two. A failure (RLIMIT_MEMLOCK) is logged, not fatal.
 */
static void
secret_lock(const void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (page <= 0 || len == 0)
		return;
	start = (uintptr_t)p & ~((uintptr_t)page - 1);
	end = (uintptr_t)p + len;
	if (mlock((const void *)start, (size_t)(end - start)) != 0)
		log_warn("cannot lock a secret in memory: %s", strerror(errno));
}

enum status
secret_dup(const char *s, size_t max, char **out)
{
	size_t n = strlen(s);
	char *d;

	*out = NULL;
	if (n == 0 || n > max)
		return status_fail(
		    ST_MALFORMED, "secret empty or longer than %zu", max);
	if ((d = calloc(1, n + 1)) == NULL)
		return ST_NOMEM;
	secret_lock(d, n + 1);
	memcpy(d, s, n + 1);
	*out = d;
	return ST_OK;
}

void
secret_process_protect(void)
{
	struct rlimit none = {0, 0};

	/*
	 * Not dumpable: no core file, no ptrace by another process of the
	 * same user, /proc/PID/environ and mem readable by root only. Kept
	 * across fork (the workers), reset only by exec, which tessera does
	 * not do. RLIMIT_CORE 0 as well, for a kernel that dumps anyway
	 * (suid_dumpable 2 writes a root-owned core).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("PR_SET_DUMPABLE: %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		log_warn("RLIMIT_CORE: %s", strerror(errno));
}

enum status
secret_read_file(const char *path, size_t max, char **out)
{
	uint8_t *data = NULL;
	size_t len = 0, n;
	char *s = NULL;
	enum status st;

	*out = NULL;
	if ((st = file_read(path, max + 2, &data, &len)) != ST_OK)
		return st;
	for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
		;
	if (n == 0) {
		st = status_fail(ST_MALFORMED, "%s: empty secret", path);
		goto out;
	}
	if (n > max || memchr(data, '\0', n) != NULL) {
		st = status_fail(
		    ST_LIMIT, "%s: secret longer than %zu bytes", path, max);
		goto out;
	}
	if ((s = calloc(1, n + 1)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	secret_lock(s, n + 1);
	memcpy(s, data, n);
	s[n] = '\0';
	*out = s;
	st = ST_OK;
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	return st;
}

enum status
secret_read_env(const char *name, size_t max, char **out)
{
	char *v = getenv(name);
	enum status st;

	*out = NULL;
	if (v == NULL)
		return status_fail(ST_NOTFOUND, "%s is not set", name);
	if ((st = secret_dup(v, max, out)) != ST_OK)
		st = status_fail(st, "%s: empty or longer than %zu", name, max);
	/*
	 * Overwrite the value where it is, then drop the variable: unsetenv
	 * alone only unlinks it, and /proc/PID/environ shows the bytes exec
	 * put on the stack. Children must not inherit it either. Even when
	 * it is refused: a wrong-sized PIN is still someone's PIN.
	 */
	OPENSSL_cleanse(v, strlen(v));
	unsetenv(name);
	return st;
}

enum status
secret_random_hex(size_t n, char **out)
{
	unsigned char raw[64];
	char *s;

	*out = NULL;
	if (n == 0 || n > sizeof(raw))
		return status_fail(ST_INTERNAL, "bad random length %zu", n);
	if (RAND_bytes(raw, (int)n) != 1)
		return status_fail_ssl(ST_INTERNAL, "RAND_bytes failed");
	if ((s = malloc(2 * n + 1)) == NULL)
		return ST_NOMEM;
	hex_encode(raw, n, s);
	OPENSSL_cleanse(raw, sizeof(raw));
	*out = s;
	return ST_OK;
}

enum status
secret_random_b64url(size_t n, char **out)
{
	unsigned char raw[64];
	enum status st;

	*out = NULL;
	if (n == 0 || n > sizeof(raw))
		return status_fail(ST_INTERNAL, "bad random length %zu", n);
	if (RAND_bytes(raw, (int)n) != 1)
		return status_fail_ssl(ST_INTERNAL, "RAND_bytes failed");
	st = b64url_encode(raw, n, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return st;
}

int
secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
	if (a_len != b_len)
		return 0;
	return CRYPTO_memcmp(a, b, a_len) == 0;
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}
