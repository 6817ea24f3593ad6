#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/secret.h"

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
	if ((s = malloc(n + 1)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
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
	const char *v = getenv(name);
	size_t n;

	*out = NULL;
	if (v == NULL)
		return status_fail(ST_NOTFOUND, "%s is not set", name);
	n = strlen(v);
	if (n == 0 || n > max)
		return status_fail(
		    ST_MALFORMED, "%s: empty or longer than %zu", name, max);
	if ((*out = strdup(v)) == NULL)
		return ST_NOMEM;
	/* Children must not inherit it. */
	unsetenv(name);
	return ST_OK;
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
