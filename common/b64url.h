/*
 * b64url: base64url without padding (RFC 4648 §5, as RFC 7515 §2 uses
 * it), for JOSE and for enrollment secrets.
 */
#ifndef TESSERA_COMMON_B64URL_H
#define TESSERA_COMMON_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/*
 * The value of one base64 digit, of the URL alphabet (- and _) when url
 * is set, else of the standard one (+ and /); -1 for anything else.
 */
int b64_digit(int c, int url);

/* The encoded length of n bytes, without the NUL. */
#define B64URL_LEN(n) (((n)*4 + 2) / 3)

/*
 * Encode len bytes of in into out, which has room for B64URL_LEN(len) + 1
 * bytes; NUL-terminated.
 */
void b64url_encode_into(const uint8_t *in, size_t len, char *out);

/* The same into a new string; the caller frees *out with free(). */
enum status b64url_encode(const uint8_t *in, size_t len, char **out) MUST_CHECK;

/*
 * Decode len characters of unpadded base64url. Padding, whitespace, any
 * other character, a length of 1 mod 4 and non-zero trailing bits are
 * ST_MALFORMED, so that each value has exactly one encoding. The caller
 * frees *out with free() (never NULL on ST_OK, even for len 0).
 */
enum status b64url_decode(
    const char *in, size_t len, uint8_t **out, size_t *out_len) MUST_CHECK;

#endif
