/*
 * b64url: the encoder and a strict decoder.
 */
#include <stdlib.h>

#include "common/b64url.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
b64url_encode_into(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;
	unsigned acc = 0, bits = 0;

	for (i = 0; i < len; i++) {
		acc = ((acc << 8) | in[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

enum status
b64url_encode(const uint8_t *in, size_t len, char **out)
{
	*out = NULL;
	if (len > (SIZE_MAX - 3) / 4)
		return status_fail(ST_LIMIT, "b64url: %zu bytes", len);
	if ((*out = malloc(B64URL_LEN(len) + 1)) == NULL)
		return ST_NOMEM;
	b64url_encode_into(in, len, *out);
	return ST_OK;
}

int
b64_digit(int c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

enum status
b64url_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *p;
	size_t i, o = 0;
	unsigned acc = 0, bits = 0;
	int v;

	*out = NULL;
	*out_len = 0;
	if (len % 4 == 1)
		return status_fail(
		    ST_MALFORMED, "base64url: impossible length %zu", len);
	if ((p = malloc(len * 3 / 4 + 1)) == NULL)
		return ST_NOMEM;
	for (i = 0; i < len; i++) {
		if ((v = b64_digit((unsigned char)in[i], 1)) < 0) {
			free(p);
			return status_fail(ST_MALFORMED,
			    "base64url: invalid character at offset %zu", i);
		}
		acc = ((acc << 6) | (unsigned)v) & 0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		free(p);
		return status_fail(
		    ST_MALFORMED, "base64url: non-zero trailing bits");
	}
	*out = p;
	*out_len = o;
	return ST_OK;
}
