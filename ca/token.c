/*
 * token: compact JWS with ES256 and EC JWKs, on OpenSSL and jansson.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "ca/token.h"
#include "common/digest.h"
#include "common/b64url.h"
#include "signer/signer.h"

#define COORD_LEN 32 /* P-256 */
#define SIG_LEN (2 * COORD_LEN)
#define HEADER_MAX 1024 /* decoded JOSE header */

/* SHA-256 of data as base64url. */
static enum status
sha256_b64url(const void *data, size_t len, char out[TOKEN_THUMBPRINT_LEN + 1])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	if (digest_buf(DIGEST_SHA256, data, len, md, NULL) != ST_OK)
		return ST_INTERNAL;
	b64url_encode_into(md, sizeof(md), out);
	return ST_OK;
}

/* x and y of a P-256 public key, each the full 32 bytes. */
static enum status
ec_coordinates(EVP_PKEY *pub, uint8_t x[COORD_LEN], uint8_t y[COORD_LEN])
{
	char group[64];
	BIGNUM *bx = NULL, *by = NULL;
	enum status st;

	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(
	        pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) ||
	    strcmp(group, SN_X9_62_prime256v1) != 0)
		return status_fail(
		    ST_MALFORMED, "token keys must be EC P-256 (ES256)");
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &by) ||
	    BN_bn2binpad(bx, x, COORD_LEN) != COORD_LEN ||
	    BN_bn2binpad(by, y, COORD_LEN) != COORD_LEN)
		st = status_fail_ssl(ST_MALFORMED, "EC public key coordinates");
	else
		st = ST_OK;
	BN_free(bx);
	BN_free(by);
	return st;
}

enum status
token_jwk(EVP_PKEY *pub, char **jwk, char kid[TOKEN_THUMBPRINT_LEN + 1])
{
	uint8_t x[COORD_LEN], y[COORD_LEN];
	char bx[B64URL_LEN(COORD_LEN) + 1], by[B64URL_LEN(COORD_LEN) + 1];
	char members[160];
	json_t *o = NULL;
	enum status st;
	int n;

	*jwk = NULL;
	kid[0] = '\0';
	if ((st = ec_coordinates(pub, x, y)) != ST_OK)
		return st;
	b64url_encode_into(x, sizeof(x), bx);
	b64url_encode_into(y, sizeof(y), by);
	/* RFC 7638 §3.2: the required members, sorted, no whitespace. */
	n = snprintf(members, sizeof(members),
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", bx,
	    by);
	if (n < 0 || (size_t)n >= sizeof(members))
		return status_fail(ST_INTERNAL, "JWK thumbprint input");
	if ((st = sha256_b64url(members, (size_t)n, kid)) != ST_OK)
		return st;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
	    "P-256", "x", bx, "y", by, "kid", kid, "use", "sig", "alg",
	    "ES256");
	if (o == NULL ||
	    (*jwk = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		st = ST_NOMEM;
	json_decref(o);
	return st;
}

enum status
token_cert_thumbprint(X509 *cert, char out[TOKEN_THUMBPRINT_LEN + 1])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	unsigned int len = 0;

	out[0] = '\0';
	if (!X509_digest(cert, digest_md(DIGEST_SHA256), md, &len) ||
	    len != sizeof(md))
		return status_fail_ssl(ST_INTERNAL, "certificate thumbprint");
	b64url_encode_into(md, sizeof(md), out);
	return ST_OK;
}

/* DER ECDSA-Sig-Value to r||s, each left-padded to 32 bytes. */
static enum status
sig_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[SIG_LEN])
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	enum status st = ST_OK;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return status_fail_ssl(ST_INTERNAL, "token: ECDSA signature");
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, COORD_LEN) != COORD_LEN ||
	    BN_bn2binpad(s, raw + COORD_LEN, COORD_LEN) != COORD_LEN)
		st = status_fail(ST_INTERNAL, "token: signature too long");
	ECDSA_SIG_free(sig);
	return st;
}

/* r||s to DER; *der freed by the caller with OPENSSL_free. */
static enum status
sig_raw_to_der(const uint8_t raw[SIG_LEN], uint8_t **der, int *der_len)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	enum status st = ST_NOMEM;

	*der = NULL;
	if ((r = BN_bin2bn(raw, COORD_LEN, NULL)) == NULL ||
	    (s = BN_bin2bn(raw + COORD_LEN, COORD_LEN, NULL)) == NULL ||
	    (sig = ECDSA_SIG_new()) == NULL || !ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL; /* sig owns them */
	if ((*der_len = i2d_ECDSA_SIG(sig, der)) <= 0) {
		*der = NULL;
		goto out;
	}
	st = ST_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return st;
}

/* A JSON value as base64url of its compact text, order kept. */
static enum status
json_b64url(const json_t *v, char **out)
{
	char *text;
	enum status st;

	*out = NULL;
	if ((text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		return ST_NOMEM;
	st = b64url_encode((const uint8_t *)text, strlen(text), out);
	free(text);
	return st;
}

/* The signing input, its signature's room after it (token_sign_start). */
struct token_signing {
	char *input; /* header "." payload, then room for "." signature */
	size_t len;
	struct signer_pending *pending;
};

enum status
token_sign_start(const struct signer_key *key, const char *kid,
    const json_t *claims, struct token_signing **out)
{
	struct token_signing *t = NULL;
	json_t *header = NULL;
	char *h = NULL, *p = NULL;
	size_t hlen, plen;
	enum status st = ST_NOMEM;

	*out = NULL;
	if ((header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ",
	         "at+jwt", "kid", kid)) == NULL)
		goto out;
	if ((st = json_b64url(header, &h)) != ST_OK ||
	    (st = json_b64url(claims, &p)) != ST_OK)
		goto out;
	hlen = strlen(h);
	plen = strlen(p);
	st = ST_NOMEM;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	/* header "." payload "." signature, NUL */
	if ((t->input = malloc(hlen + plen + 2 + B64URL_LEN(SIG_LEN) + 1)) ==
	    NULL)
		goto out;
	memcpy(t->input, h, hlen);
	t->input[hlen] = '.';
	memcpy(t->input + hlen + 1, p, plen + 1);
	t->len = hlen + 1 + plen;
	if ((st = signer_sign_start(key, SIGNER_PURPOSE_TOKEN, NID_sha256,
	         (const uint8_t *)t->input, t->len, &t->pending)) != ST_OK)
		goto out;
	*out = t;
	t = NULL;
out:
	if (t != NULL)
		free(t->input);
	free(t);
	free(h);
	free(p);
	json_decref(header);
	return st;
}

enum status
token_sign_finish(struct token_signing *t, char **out)
{
	uint8_t *der = NULL, raw[SIG_LEN];
	size_t der_len = 0;
	enum status st;

	*out = NULL;
	if ((st = signer_sign_finish(t->pending, &der, &der_len)) != ST_OK ||
	    (st = sig_der_to_raw(der, der_len, raw)) != ST_OK)
		goto out;
	t->input[t->len] = '.';
	b64url_encode_into(raw, sizeof(raw), t->input + t->len + 1);
	*out = t->input;
	t->input = NULL;
out:
	OPENSSL_free(der);
	free(t->input);
	free(t);
	return st;
}

enum status
token_sign(const struct signer_key *key, const char *kid, const json_t *claims,
    char **out)
{
	struct token_signing *t;
	enum status st;

	*out = NULL;
	if ((st = token_sign_start(key, kid, claims, &t)) != ST_OK)
		return st;
	return token_sign_finish(t, out);
}

/* Decode a base64url JSON object of at most max bytes. */
static enum status
part_json(const char *what, const char *s, size_t len, size_t max, json_t **out)
{
	json_error_t err;
	uint8_t *raw = NULL;
	size_t raw_len;
	enum status st;

	*out = NULL;
	if ((st = b64url_decode(s, len, &raw, &raw_len)) != ST_OK)
		return st == ST_MALFORMED
		    ? status_fail(st, "token %s: not base64url", what)
		    : st;
	if (raw_len > max) {
		free(raw);
		return status_fail(
		    ST_MALFORMED, "token %s: over %zu bytes", what, max);
	}
	*out = json_loadb(
	    (const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &err);
	free(raw);
	if (*out == NULL)
		return status_fail(
		    ST_MALFORMED, "token %s: JSON: %s", what, err.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return status_fail(
		    ST_MALFORMED, "token %s: not a JSON object", what);
	}
	return ST_OK;
}

/* A 32-byte coordinate member of a JWK. */
static int
jwk_coordinate(const json_t *jwk, const char *name, uint8_t out[COORD_LEN])
{
	const char *s = json_string_value(json_object_get(jwk, name));
	uint8_t *raw = NULL;
	size_t len = 0;
	int ok;

	if (s == NULL || b64url_decode(s, strlen(s), &raw, &len) != ST_OK)
		return 0;
	if ((ok = len == COORD_LEN))
		memcpy(out, raw, COORD_LEN);
	free(raw);
	return ok;
}

/* The P-256 public key of the JWK with kid in jwks. */
static enum status
jwks_key(const json_t *jwks, const char *kid, EVP_PKEY **out)
{
	const json_t *keys, *k = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t point[1 + SIG_LEN];
	const char *s;
	size_t i;
	enum status st;

	*out = NULL;
	keys = json_object_get(jwks, "keys");
	for (i = 0; i < json_array_size(keys); i++) {
		s = json_string_value(
		    json_object_get(json_array_get(keys, i), "kid"));
		if (s != NULL && strcmp(s, kid) == 0) {
			k = json_array_get(keys, i);
			break;
		}
	}
	if (k == NULL)
		return status_fail(
		    ST_DENIED, "token: no key \"%.64s\" in the JWKS", kid);
	s = json_string_value(json_object_get(k, "kty"));
	if (s == NULL || strcmp(s, "EC") != 0 ||
	    (s = json_string_value(json_object_get(k, "crv"))) == NULL ||
	    strcmp(s, "P-256") != 0 || !jwk_coordinate(k, "x", point + 1) ||
	    !jwk_coordinate(k, "y", point + 1 + COORD_LEN))
		return status_fail(ST_MALFORMED,
		    "token: JWKS key \"%.64s\" is not an EC P-256 key", kid);
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	st = status_fail_ssl(
	    ST_MALFORMED, "token: JWKS key \"%.64s\" is not on P-256", kid);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(
	        bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(
	        bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	st = ST_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return st;
}

enum status
token_verify(const char *token, size_t len, const json_t *jwks, json_t **claims)
{
	const char *dot1, *dot2, *alg, *kid;
	json_t *header = NULL, *payload = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t *sig = NULL, *der = NULL;
	size_t sig_len = 0;
	int der_len = 0, rc;
	enum status st;

	*claims = NULL;
	if (len > TOKEN_MAX_LEN)
		return status_fail(
		    ST_MALFORMED, "token: over %d bytes", TOKEN_MAX_LEN);
	if (memchr(token, '\0', len) != NULL ||
	    (dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ==
	        NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return status_fail(ST_MALFORMED,
		    "token: not a compact JWS (three base64url parts)");
	if ((st = part_json("header", token, (size_t)(dot1 - token), HEADER_MAX,
	         &header)) != ST_OK)
		goto out;
	/* RFC 8725 §3.1: the algorithm comes from us, never the token. */
	alg = json_string_value(json_object_get(header, "alg"));
	if (alg == NULL || strcmp(alg, "ES256") != 0) {
		st = status_fail(ST_DENIED,
		    "token: algorithm \"%.16s\" refused; only ES256",
		    alg != NULL ? alg : "(none)");
		goto out;
	}
	if (json_object_get(header, "crit") != NULL) {
		st = status_fail(ST_DENIED,
		    "token: critical header parameters are not understood");
		goto out;
	}
	if ((kid = json_string_value(json_object_get(header, "kid"))) == NULL) {
		st = status_fail(ST_MALFORMED, "token: header has no kid");
		goto out;
	}
	if ((st = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token),
	         &sig, &sig_len)) != ST_OK) {
		if (st == ST_MALFORMED)
			status_fail(st, "token signature: not base64url");
		goto out;
	}
	if (sig_len != SIG_LEN) {
		st = status_fail(ST_MALFORMED,
		    "token: ES256 signature is %zu bytes, not %d", sig_len,
		    SIG_LEN);
		goto out;
	}
	if ((st = jwks_key(jwks, kid, &key)) != ST_OK ||
	    (st = sig_raw_to_der(sig, &der, &der_len)) != ST_OK)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1) {
		st = status_fail_ssl(ST_NOMEM, "token: verify context");
		goto out;
	}
	rc = EVP_DigestVerify(ctx, der, (size_t)der_len, (const uint8_t *)token,
	    (size_t)(dot2 - token));
	if (rc != 1) {
		st = status_fail(ST_DENIED, "token: bad signature");
		goto out;
	}
	if ((st = part_json("payload", dot1 + 1, (size_t)(dot2 - dot1 - 1),
	         TOKEN_MAX_LEN, &payload)) != ST_OK)
		goto out;
	*claims = payload;
	payload = NULL;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
	free(sig);
	json_decref(header);
	json_decref(payload);
	return st;
}

/* A NumericDate claim; 0 when absent or not an integer. */
static int
claim_time(const json_t *claims, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(claims, name);

	if (!json_is_integer(v))
		return 0;
	*out = (int64_t)json_integer_value(v);
	return 1;
}

static int
audience_has(const json_t *aud, const char *audience)
{
	const json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, v) if (json_is_string(v) &&
	    strcmp(json_string_value(v), audience) == 0) return 1;
	return 0;
}

enum status
token_check_claims(const json_t *claims, const char *issuer,
    const char *audience, int64_t now, int64_t leeway, X509 *cert)
{
	const char *iss, *x5t;
	char want[TOKEN_THUMBPRINT_LEN + 1];
	int64_t exp, nbf;
	enum status st;

	iss = json_string_value(json_object_get(claims, "iss"));
	if (iss == NULL || strcmp(iss, issuer) != 0)
		return status_fail(
		    ST_DENIED, "token: issuer is not %.200s", issuer);
	if (!audience_has(json_object_get(claims, "aud"), audience))
		return status_fail(ST_DENIED,
		    "token: audience \"%.100s\" not in aud", audience);
	if (!claim_time(claims, "exp", &exp))
		return status_fail(ST_DENIED, "token: no exp");
	if (exp <= now - leeway)
		return status_fail(ST_DENIED, "token: expired");
	if (claim_time(claims, "nbf", &nbf) && nbf > now + leeway)
		return status_fail(ST_DENIED, "token: not valid yet");
	if (cert == NULL)
		return ST_OK;
	x5t = json_string_value(
	    json_object_get(json_object_get(claims, "cnf"), "x5t#S256"));
	if ((st = token_cert_thumbprint(cert, want)) != ST_OK)
		return st;
	if (x5t == NULL || strcmp(x5t, want) != 0)
		return status_fail(ST_DENIED,
		    "token: bound to another certificate (cnf.x5t#S256)");
	return ST_OK;
}
