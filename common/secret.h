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
 * max bytes, into locked memory. ST_NOTFOUND if there is no file,
 * ST_MALFORMED if it is empty.
 * The caller frees *out with secret_free.
 */
enum status
secret_read_file(const char *path, size_t max, char **out) MUST_CHECK;

/*
 * Read a secret from the environment variable name, overwrite its value in
 * place (what /proc/PID/environ shows) and remove it from the environment.
 * ST_NOTFOUND when unset. The caller frees with secret_free.
 */
enum status
secret_read_env(const char *name, size_t max, char **out) MUST_CHECK;

/*
 * A copy of the secret s (1 to max bytes) in locked memory. Both readers
 * above return locked memory too. The caller frees with secret_free.
 */
enum status secret_dup(const char *s, size_t max, char **out) MUST_CHECK;

/*
 * Make this process (and the children it forks) hold secrets safely: not
 * dumpable, no core files. Called first thing by every tessera command.
 */
void secret_process_protect(void);

/* n random bytes from the CSPRNG as 2n lowercase hex characters. */
enum status secret_random_hex(size_t n, char **out) MUST_CHECK;

/* n random bytes as unpadded base64url (what enrollment secrets look like). */
enum status secret_random_b64url(size_t n, char **out) MUST_CHECK;

/* Constant-time equality of two byte strings (lengths compared first). */
int secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Wipe and free a NUL-terminated secret. NULL is accepted. */
void secret_free(char *s);

#endif
