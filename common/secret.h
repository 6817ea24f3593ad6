/*
 * Secrets: PINs and enrollment secrets. They are read from a file or the
 * environment (never argv), compared in constant time and wiped when freed.
 */
#ifndef TESSERA_COMMON_SECRET_H
#define TESSERA_COMMON_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/*
 * Read a secret from path: the first line, without its line ending, at most
 * max bytes. ST_NOTFOUND if there is no file, ST_MALFORMED if it is empty.
 * The caller frees *out with secret_free.
 */
enum status
secret_read_file(const char *path, size_t max, char **out) MUST_CHECK;

/*
 * Read a secret from the environment variable name and remove it from the
 * environment. ST_NOTFOUND when unset. The caller frees with secret_free.
 */
enum status
secret_read_env(const char *name, size_t max, char **out) MUST_CHECK;

/* n random bytes from the CSPRNG as 2n lowercase hex characters. */
enum status secret_random_hex(size_t n, char **out) MUST_CHECK;

/* n random bytes as unpadded base64url (what enrollment secrets look like). */
enum status secret_random_b64url(size_t n, char **out) MUST_CHECK;

/* Constant-time equality of two byte strings (lengths compared first). */
int secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Wipe and free a NUL-terminated secret. NULL is accepted. */
void secret_free(char *s);

#endif
