/*
 * libFuzzer target: the parsers of device tokens. The first byte picks
 * one: a compact JWS checked against a fixed JWK Set (and, when it
 * verifies, its claims judged); a JWK Set (JSON) against which a fixed
 * token is checked; a POST /token form body; base64url. Whatever the
 * input, the result is consistent: a claims object exactly on ST_OK.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/token.h"
#include "common/b64url.h"
#include "enroll/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A real key's JWK (P-256) and a token it signed. */
static const char jwks_text[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"OZPDstIDq5xoBw8qLym3iL7wdK37cc_rWzACsHiWJYY\","
    "\"y\":\"Vzfi4RsC3adRGIL8W173ACZoSVzpBBCV_Y0RqfW_cI0\","
    "\"kid\":\"fU_U3L1B8Z6p1KXoVXXuqlqJ4gkg7nZufvCsqOvYnq8\","
    "\"use\":\"sig\",\"alg\":\"ES256\"}]}";

static const char token_text[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZVX1UzTDFCOFo2cDFLWG"
    "9WWFh1cWxxSjRna2c3blp1ZnZDc3FPdllucTgifQ.eyJpc3MiOiJodHRwczovL2xvY2Fs"
    "aG9zdDo4NDQzIiwic3ViIjoiZGV2aWNlLTAwMDEiLCJhdWQiOiJ1cm46dGVzc2VyYTpnYX"
    "Rld2F5IiwiaWF0IjoxNzk1NTU2MTg1LCJuYmYiOjE3OTU1NTYxODUsImV4cCI6MTc5NTU1"
    "NjQ4NSwianRpIjoiZWNGTVpIeW5oa0dYa1piWmRWSWx3USIsImNsaWVudF9pZCI6ImRldm"
    "ljZS0wMDAxIiwiY25mIjp7Ing1dCNTMjU2IjoiX1ZEU2lXTUpQSHU4UWcyOU5obWxVUjlz"
    "QURVVDl3cDltclh5eENhM0poQSJ9LCJzY29wZSI6ImdhdGV3YXk6Y29ubmVjdCJ9.SjZhr"
    "dhlHYutjm0CeDpy2PbZ9Ok-rHiwo1xScimlEnR2ySxWkXdNvo1RFZzqRUyWROrCqn6UmLa"
    "-n0CGDXLojA";

static void
check(const char *token, size_t len, const json_t *jwks)
{
	json_t *claims = NULL;
	enum status st = token_verify(token, len, jwks, &claims);

	if ((st == ST_OK) != (claims != NULL) ||
	    (claims != NULL && !json_is_object(claims)))
		abort();
	if (claims != NULL)
		(void)token_check_claims(claims, "https://localhost:8443",
		    "urn:tessera:gateway", 1795556200, 60, NULL);
	json_decref(claims);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char grant[64], audience[257];
	struct form_field f[] = {
	    {"grant_type", grant, sizeof(grant), 0},
	    {"audience", audience, sizeof(audience), 0},
	};
	json_t *jwks;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	char *enc = NULL;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if ((jwks = json_loads(jwks_text, 0, NULL)) == NULL)
			abort();
		check((const char *)data + 1, size - 1, jwks);
		json_decref(jwks);
		break;
	case 1:
		jwks = json_loadb((const char *)data + 1, size - 1,
		    JSON_REJECT_DUPLICATES, NULL);
		if (jwks != NULL)
			check(token_text, strlen(token_text), jwks);
		json_decref(jwks);
		break;
	case 2:
		if (form_parse(data + 1, size - 1, f, 2) == ST_OK &&
		    ((f[0].is_set && strlen(grant) >= sizeof(grant)) ||
		        (f[1].is_set && strlen(audience) >= sizeof(audience))))
			abort();
		break;
	default:
		/* Decoding then encoding gives the input back exactly. */
		if (b64url_decode((const char *)data + 1, size - 1, &raw,
		        &raw_len) == ST_OK) {
			if (b64url_encode(raw, raw_len, &enc) != ST_OK ||
			    strlen(enc) != size - 1 ||
			    memcmp(enc, data + 1, size - 1) != 0)
				abort();
		}
		free(enc);
		free(raw);
	}
	return 0;
}
