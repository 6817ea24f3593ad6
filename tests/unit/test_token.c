/*
 * token: base64url both ways and strict; JWKs with full-width coordinates
 * and RFC 7638 thumbprints; ES256 as 64-byte r||s (padded r and s
 * included) signed in software and in a SoftHSMv2 token; every way a
 * token can be refused; the claims a gateway judges; the form parser of
 * POST /token; the policy's "tokens" section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ca/policy.h"
#include "ca/token.h"
#include "common/b64url.h"
#include "enroll/form.h"
#include "hsm/hsm.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static void
test_b64url(void)
{
	static const struct {
		const char *raw, *enc;
	} vec[] = {
	    /* RFC 4648 §10, with the URL alphabet and no padding */
	    {"", ""},
	    {"f", "Zg"},
	    {"fo", "Zm8"},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"},
	    {"fooba", "Zm9vYmE"},
	    {"foobar", "Zm9vYmFy"},
	    {"\xfb\xff\xbf", "-_-_"},
	};
	static const char *const bad[] = {"Zg==", "Zm9v YmFy", "Z", "Zm9vY",
	    "Zh", "Zm9=", "Zm+v", "Zm/v", "Zm9\n"};
	uint8_t *out = NULL;
	size_t len = 0, i;
	char *enc = NULL;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		CHECK_ST(b64url_encode((const uint8_t *)vec[i].raw,
		             strlen(vec[i].raw), &enc),
		    ST_OK);
		CHECK(enc != NULL && strcmp(enc, vec[i].enc) == 0);
		free(enc);
		CHECK_ST(
		    b64url_decode(vec[i].enc, strlen(vec[i].enc), &out, &len),
		    ST_OK);
		CHECK(out != NULL && len == strlen(vec[i].raw) &&
		    memcmp(out, vec[i].raw, len) == 0);
		free(out);
	}
	/* "Zh" has non-zero trailing bits: "f" has one encoding only. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ST(b64url_decode(bad[i], strlen(bad[i]), &out, &len),
		    ST_MALFORMED);
		CHECK(out == NULL);
	}
}

/* The thumbprint computed here from the JWK's own members. */
static int
thumbprint_matches(const char *jwk_text, const char *kid)
{
	json_t *jwk = json_loads(jwk_text, 0, NULL);
	char in[256], want[TOKEN_THUMBPRINT_LEN + 1];
	uint8_t md[SHA256_DIGEST_LENGTH];
	int n, ok = 0;

	if (jwk == NULL)
		return 0;
	n = snprintf(in, sizeof(in),
	    "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
	    json_string_value(json_object_get(jwk, "crv")),
	    json_string_value(json_object_get(jwk, "kty")),
	    json_string_value(json_object_get(jwk, "x")),
	    json_string_value(json_object_get(jwk, "y")));
	if (n > 0 && (size_t)n < sizeof(in)) {
		SHA256((const uint8_t *)in, (size_t)n, md);
		b64url_encode_into(md, sizeof(md), want);
		ok = strcmp(want, kid) == 0 &&
		    strcmp(json_string_value(json_object_get(jwk, "kid")),
		        kid) == 0;
	}
	json_decref(jwk);
	return ok;
}

/* 43 characters decode to 32 bytes: a full-width coordinate. */
static int
coordinate_full(const char *jwk_text, const char *name)
{
	json_t *jwk = json_loads(jwk_text, 0, NULL);
	const char *s = json_string_value(json_object_get(jwk, name));
	int ok = s != NULL && strlen(s) == 43;

	json_decref(jwk);
	return ok;
}

/* A P-256 key whose x coordinate starts with a zero byte. */
static EVP_PKEY *
key_with_short_x(void)
{
	BIGNUM *x = NULL;
	EVP_PKEY *k;
	int i;

	for (i = 0; i < 5000; i++) {
		k = testutil_key("ec:P-256");
		if (k != NULL &&
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
		    BN_num_bytes(x) < 32) {
			BN_free(x);
			return k;
		}
		BN_free(x);
		x = NULL;
		EVP_PKEY_free(k);
	}
	return NULL;
}

/* {"keys":[jwk]} */
static json_t *
jwks_of(const char *jwk_text)
{
	return json_pack("{s:[o]}", "keys", json_loads(jwk_text, 0, NULL));
}

static void
test_jwk(void)
{
	EVP_PKEY *k = key_with_short_x(), *p384 = testutil_key("ec:P-384");
	EVP_PKEY *rsa = testutil_key("rsa:2048");
	char *jwk = NULL, kid[TOKEN_THUMBPRINT_LEN + 1];

	CHECK(k != NULL);
	if (k != NULL) {
		CHECK_ST(token_jwk(k, &jwk, kid), ST_OK);
		CHECK(jwk != NULL && strlen(kid) == TOKEN_THUMBPRINT_LEN);
		if (jwk != NULL) {
			CHECK(coordinate_full(jwk, "x"));
			CHECK(coordinate_full(jwk, "y"));
			CHECK(thumbprint_matches(jwk, kid));
			CHECK(strstr(jwk, "\"alg\":\"ES256\"") != NULL);
			CHECK(strstr(jwk, "\"use\":\"sig\"") != NULL);
			/* the public JWK holds no private member */
			CHECK(strstr(jwk, "\"d\"") == NULL);
		}
		free(jwk);
	}
	jwk = NULL;
	CHECK_ST(token_jwk(p384, &jwk, kid), ST_MALFORMED);
	CHECK(jwk == NULL);
	CHECK_ST(token_jwk(rsa, &jwk, kid), ST_MALFORMED);
	EVP_PKEY_free(k);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
}

static json_t *
sample_claims(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss",
	    "https://ca.example", "sub", "dev-1", "aud", "gw", "iat",
	    (json_int_t)1000, "nbf", (json_int_t)1000, "exp", (json_int_t)1300,
	    "jti", "j1");
}

/* The signature part of a compact JWS, decoded. */
static size_t
sig_len_of(const char *jwt)
{
	const char *dot = strrchr(jwt, '.');
	uint8_t *sig = NULL;
	size_t len = 0;

	if (dot == NULL ||
	    b64url_decode(dot + 1, strlen(dot + 1), &sig, &len) != ST_OK)
		return 0;
	free(sig);
	return len;
}

/*
 * Many signatures: about one in 128 has an r or s below 2^248, which DER
 * writes short. All must be 64 bytes and verify.
 */
static void
test_sign_verify(void)
{
	EVP_PKEY *k = testutil_key("ec:P-256");
	json_t *claims = sample_claims(), *jwks = NULL, *got = NULL;
	char *jwk = NULL, kid[TOKEN_THUMBPRINT_LEN + 1], *jwt = NULL;
	int i, bad = 0;

	CHECK_ST(token_jwk(k, &jwk, kid), ST_OK);
	jwks = jwks_of(jwk);
	for (i = 0; i < 600; i++) {
		if (token_sign(testutil_signer_key(k, SIGNER_ROLE_TOKEN), kid,
		        claims, &jwt) != ST_OK ||
		    sig_len_of(jwt) != 64 ||
		    token_verify(jwt, strlen(jwt), jwks, &got) != ST_OK ||
		    !json_equal(got, claims))
			bad++;
		json_decref(got);
		got = NULL;
		free(jwt);
		jwt = NULL;
	}
	CHECK(bad == 0);
	json_decref(jwks);
	json_decref(claims);
	free(jwk);
	EVP_PKEY_free(k);
}

/* header.payload.signature from raw JSON texts, signed by k. */
static char *
forge(EVP_PKEY *k, const char *header, const char *payload, int sig_bytes)
{
	char *h = NULL, *p = NULL, *s = NULL, *out = NULL, *input = NULL;
	uint8_t *der = NULL, raw[66];
	const unsigned char *q;
	size_t der_len = 0, n;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *sig = NULL;

	if (b64url_encode((const uint8_t *)header, strlen(header), &h) !=
	        ST_OK ||
	    b64url_encode((const uint8_t *)payload, strlen(payload), &p) !=
	        ST_OK)
		goto out;
	n = strlen(h) + strlen(p) + 2;
	if ((input = malloc(n)) == NULL)
		goto out;
	snprintf(input, n, "%s.%s", h, p);
	memset(raw, 0, sizeof(raw));
	if (k != NULL && ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSign(
	        ctx, NULL, &der_len, (uint8_t *)input, strlen(input)) == 1 &&
	    (der = malloc(der_len)) != NULL &&
	    EVP_DigestSign(
	        ctx, der, &der_len, (uint8_t *)input, strlen(input)) == 1) {
		q = der;
		if ((sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len)) != NULL) {
			BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
			BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
		}
	}
	if (b64url_encode(raw, (size_t)sig_bytes, &s) != ST_OK)
		goto out;
	n = strlen(input) + strlen(s) + 2;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s.%s", input, s);
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	free(der);
	free(input);
	free(h);
	free(p);
	free(s);
	return out;
}

static void
expect_refused(const char *what, const char *jwt, const json_t *jwks,
    enum status want, const char *detail)
{
	json_t *got = NULL;
	enum status st;

	st = token_verify(
	    jwt != NULL ? jwt : "", jwt != NULL ? strlen(jwt) : 0, jwks, &got);
	if (st != want || got != NULL ||
	    strstr(status_detail(), detail) == NULL) {
		test_failed++;
		fprintf(stderr, "%s: got %s (%s), want %s with \"%s\"\n", what,
		    status_name(st), status_detail(), status_name(want),
		    detail);
	} else {
		test_passed++;
	}
	json_decref(got);
}

/* A token forged from header and payload is refused as expect_refused says. */
static void
forged_refused(const char *what, EVP_PKEY *k, const char *header,
    const char *payload, int sig_bytes, const json_t *jwks, enum status want,
    const char *detail)
{
	char *t = forge(k, header, payload, sig_bytes);

	expect_refused(what, t, jwks, want, detail);
	free(t);
}

static void
test_refusals(void)
{
	EVP_PKEY *k = testutil_key("ec:P-256"),
	         *other = testutil_key("ec:P-256");
	json_t *claims = sample_claims(), *jwks = NULL, *got = NULL;
	char *jwk = NULL, kid[TOKEN_THUMBPRINT_LEN + 1], *good = NULL, *t;
	char hdr[200], *big;
	size_t n;

	CHECK_ST(token_jwk(k, &jwk, kid), ST_OK);
	jwks = jwks_of(jwk);
	CHECK_ST(token_sign(testutil_signer_key(k, SIGNER_ROLE_TOKEN), kid,
	             claims, &good),
	    ST_OK);
	if (good == NULL)
		goto out;
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);

	/* The forger itself makes tokens that pass. */
	t = forge(k, hdr, "{\"sub\":\"x\"}", 64);
	CHECK_ST(token_verify(t, strlen(t), jwks, &got), ST_OK);
	free(t);
	json_decref(got);

	forged_refused("alg none", NULL, "{\"alg\":\"none\"}",
	    "{\"sub\":\"x\"}", 0, jwks, ST_DENIED, "only ES256");
	forged_refused("alg HS256", k, "{\"alg\":\"HS256\",\"kid\":\"x\"}",
	    "{}", 64, jwks, ST_DENIED, "only ES256");
	forged_refused("no alg", k, "{\"kid\":\"x\"}", "{}", 64, jwks,
	    ST_DENIED, "(none)");
	forged_refused("no kid", k, "{\"alg\":\"ES256\"}", "{}", 64, jwks,
	    ST_MALFORMED, "no kid");
	forged_refused("unknown kid", k, "{\"alg\":\"ES256\",\"kid\":\"nope\"}",
	    "{}", 64, jwks, ST_DENIED, "no key \"nope\"");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":[\"exp\"]}", kid);
	forged_refused("crit", k, hdr, "{}", 64, jwks, ST_DENIED, "critical");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"%s\"}", kid);
	forged_refused(
	    "duplicate alg", k, hdr, "{}", 64, jwks, ST_MALFORMED, "JSON");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	forged_refused("payload array", k, hdr, "[1,2]", 64, jwks, ST_MALFORMED,
	    "payload: not a JSON object");
	forged_refused("other key", other, hdr, "{}", 64, jwks, ST_DENIED,
	    "bad signature");
	forged_refused(
	    "63-byte sig", k, hdr, "{}", 63, jwks, ST_MALFORMED, "63 bytes");
	forged_refused(
	    "66-byte sig", k, hdr, "{}", 66, jwks, ST_MALFORMED, "66 bytes");

	/* Tampering with the payload breaks the signature. */
	t = strdup(good);
	n = (size_t)(strchr(t, '.') - t) + 3;
	t[n] = t[n] == 'A' ? 'B' : 'A';
	expect_refused("payload changed", t, jwks, ST_DENIED, "bad signature");
	free(t);
	expect_refused("two parts", "eyJhbGciOiJFUzI1NiJ9.e30", jwks,
	    ST_MALFORMED, "three base64url parts");
	expect_refused("four parts", "a.b.c.d", jwks, ST_MALFORMED,
	    "three base64url parts");
	expect_refused("empty", "", jwks, ST_MALFORMED, "three");
	expect_refused(
	    "bad base64", "e30=.e30.AA", jwks, ST_MALFORMED, "not base64url");
	expect_refused("header not JSON", "bm90.e30.AA", jwks, ST_MALFORMED,
	    "header: JSON");
	if ((big = malloc(TOKEN_MAX_LEN + 2)) != NULL) {
		memset(big, 'A', TOKEN_MAX_LEN + 1);
		big[TOKEN_MAX_LEN + 1] = '\0';
		expect_refused("too long", big, jwks, ST_MALFORMED, "over");
		free(big);
	}
	/* A JWKS entry that is not a P-256 key. */
	json_decref(jwks);
	jwks = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "EC",
	    "crv", "P-256", "kid", kid, "x", "AAAA", "y", "AAAA");
	expect_refused("short JWK", good, jwks, ST_MALFORMED, "not an EC");
out:
	free(good);
	free(jwk);
	json_decref(jwks);
	json_decref(claims);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

/* A self-signed certificate to bind tokens to. */
static X509 *
make_cert(EVP_PKEY *k, long serial)
{
	X509 *x = X509_new();

	if (x == NULL)
		return NULL;
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"dev-1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	if (X509_sign(x, k, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
test_claims(void)
{
	EVP_PKEY *k = testutil_key("ec:P-256");
	X509 *cert = make_cert(k, 1), *other = make_cert(k, 2);
	char x5t[TOKEN_THUMBPRINT_LEN + 1];
	uint8_t md[32];
	unsigned int mdlen = 0;
	char want[TOKEN_THUMBPRINT_LEN + 1];
	json_t *c;

	CHECK_ST(token_cert_thumbprint(cert, x5t), ST_OK);
	/* RFC 8705 §3.1: SHA-256 over the DER, base64url. */
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	b64url_encode_into(md, mdlen, want);
	CHECK(strcmp(x5t, want) == 0 && strlen(x5t) == 43);

	c = json_pack("{s:s, s:[s,s], s:I, s:I, s:{s:s}}", "iss", "I", "aud",
	    "a", "gw", "exp", (json_int_t)1300, "nbf", (json_int_t)1000, "cnf",
	    "x5t#S256", x5t);
	CHECK_ST(token_check_claims(c, "I", "gw", 1100, 60, cert), ST_OK);
	CHECK_ST(token_check_claims(c, "I", "gw", 1100, 60, NULL), ST_OK);
	CHECK_ST(token_check_claims(c, "J", "gw", 1100, 60, cert), ST_DENIED);
	CHECK_DETAIL("issuer");
	CHECK_ST(token_check_claims(c, "I", "gx", 1100, 60, cert), ST_DENIED);
	CHECK_DETAIL("audience");
	CHECK_ST(token_check_claims(c, "I", "gw", 1100, 60, other), ST_DENIED);
	CHECK_DETAIL("another certificate");
	/* exp 1300 with a 60 s leeway: good until 1359, refused at 1360 */
	CHECK_ST(token_check_claims(c, "I", "gw", 1359, 60, NULL), ST_OK);
	CHECK_ST(token_check_claims(c, "I", "gw", 1360, 60, NULL), ST_DENIED);
	CHECK_DETAIL("expired");
	CHECK_ST(token_check_claims(c, "I", "gw", 1300, 0, NULL), ST_DENIED);
	/* nbf 1000: from 940 with the leeway */
	CHECK_ST(token_check_claims(c, "I", "gw", 940, 60, NULL), ST_OK);
	CHECK_ST(token_check_claims(c, "I", "gw", 939, 60, NULL), ST_DENIED);
	CHECK_DETAIL("not valid yet");
	json_object_del(c, "exp");
	CHECK_ST(token_check_claims(c, "I", "gw", 1100, 60, NULL), ST_DENIED);
	CHECK_DETAIL("no exp");
	json_decref(c);
	c = json_pack("{s:s, s:s, s:s}", "iss", "I", "aud", "gw", "exp", "9");
	CHECK_ST(token_check_claims(c, "I", "gw", 1, 60, NULL), ST_DENIED);
	json_decref(c);
	X509_free(cert);
	X509_free(other);
	EVP_PKEY_free(k);
}

/* The key in a SoftHSMv2 token signs; the result verifies. */
static void
test_hsm(void)
{
	char *dir = testutil_tmpdir(), *jwk = NULL, *jwt = NULL;
	char kid[TOKEN_THUMBPRINT_LEN + 1];
	struct hsm *hsm = NULL;
	struct hsm_key *key = NULL;
	json_t *claims = sample_claims(), *jwks = NULL, *got = NULL;
	int i, bad = 0;

	CHECK(testutil_softhsm(dir, "tok", "1234") == 0);
	CHECK_ST(
	    hsm_open(testutil_softhsm_module(), "tok", "1234", &hsm), ST_OK);
	if (hsm == NULL)
		goto out;
	CHECK_ST(hsm_key_generate(hsm, "token-signing", HSM_KEY_EC_P256, &key),
	    ST_OK);
	if (key == NULL)
		goto out;
	CHECK_ST(token_jwk(hsm_key_get0_public(key), &jwk, kid), ST_OK);
	jwks = jwks_of(jwk);
	for (i = 0; i < 200; i++) {
		if (token_sign(testutil_signer_key(
		                   hsm_key_get0_pkey(key), SIGNER_ROLE_TOKEN),
		        kid, claims, &jwt) != ST_OK ||
		    sig_len_of(jwt) != 64 ||
		    token_verify(jwt, strlen(jwt), jwks, &got) != ST_OK)
			bad++;
		json_decref(got);
		got = NULL;
		free(jwt);
		jwt = NULL;
	}
	CHECK(bad == 0);
out:
	json_decref(jwks);
	json_decref(claims);
	free(jwk);
	hsm_key_free(key);
	testutil_signer_free();
	hsm_close(hsm);
	testutil_rmtree(dir);
	free(dir);
}

static enum status
form(const char *body, char *grant, char *aud)
{
	struct form_field f[] = {
	    {"grant_type", grant, 32, 0},
	    {"audience", aud, 16, 0},
	};

	return form_parse((const uint8_t *)body, strlen(body), f, 2);
}

static void
test_form(void)
{
	char g[32], a[16];

	CHECK_ST(form("grant_type=client_credentials", g, a), ST_OK);
	CHECK(strcmp(g, "client_credentials") == 0 && a[0] == '\0');
	CHECK_ST(form("audience=urn%3Ax+y&grant_type=z&scope=q", g, a), ST_OK);
	CHECK(strcmp(a, "urn:x y") == 0 && strcmp(g, "z") == 0);
	CHECK_ST(form("&&grant_type=&x&=y&", g, a), ST_OK);
	CHECK(g[0] == '\0');
	CHECK_ST(form("", g, a), ST_OK);
	CHECK_ST(form("grant_type=a&grant_type=b", g, a), ST_MALFORMED);
	CHECK_DETAIL("grant_type given twice");
	CHECK_ST(form("grant_type=%zz", g, a), ST_MALFORMED);
	CHECK_DETAIL("bad %XX");
	CHECK_ST(form("grant_type=%4", g, a), ST_MALFORMED);
	CHECK_ST(form("grant_type=%", g, a), ST_MALFORMED);
	CHECK_ST(form("grant_type=a%00b", g, a), ST_MALFORMED);
	CHECK_ST(form("audience=0123456789abcdef", g, a), ST_MALFORMED);
	CHECK_DETAIL("longer than 15 bytes");
	CHECK_ST(form("audience=0123456789abcde", g, a), ST_OK);
	/* Unknown parameters are ignored, even broken ones (RFC 6749 §3.2). */
	CHECK_ST(form("x%zz=1&grant_type=c", g, a), ST_MALFORMED);
	CHECK_ST(
	    form("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxx=1&grant_type=c",
	        g, a),
	    ST_OK);
	CHECK(strcmp(g, "c") == 0);
}

static const char *const policy_head =
    "{\"version\":1,\"profiles\":{\"device\":{\"validity_days\":30,"
    "\"keys\":[\"ec:P-256\"],\"subject\":{\"CN\":\"{id}\"},"
    "\"key_usage\":[\"digitalSignature\"],\"extended_key_usage\":"
    "[\"clientAuth\"]}},\"tokens\":";

static enum status
tokens_policy(const char *tokens, struct policy **out)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s}", policy_head, tokens);
	return policy_parse(text, strlen(text), "p.json", out);
}

static void
test_policy(void)
{
	static const struct {
		const char *tokens, *detail;
	} bad[] = {
	    {"{\"profiles\":{\"device\":{}}}",
	        "$.tokens: missing key \"audiences\""},
	    {"{\"audiences\":[],\"profiles\":{}}",
	        "$.tokens.audiences: 0 entries"},
	    {"{\"audiences\":[\"a b\"],\"profiles\":{}}",
	        "$.tokens.audiences[0]: bad audience"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"nope\":{}}}",
	        "$.tokens.profiles.nope: no profile named \"nope\""},
	    {"{\"audiences\":[\"a\"],\"ttl_seconds\":3601,\"profiles\":{}}",
	        "$.tokens.ttl_seconds: 3601 is out of range (5..3600)"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"device\":{\"ttl_seconds\":"
	     "4}}}",
	        "$.tokens.profiles.device.ttl_seconds: 4 is out of range"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"device\":{\"claims\":"
	     "{\"sub\":\"x\"}}}}",
	        "$.tokens.profiles.device.claims: claim \"sub\" is set by "
	        "tessera itself"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"device\":{\"claims\":"
	     "{\"cnf\":{}}}}}",
	        "claim \"cnf\" is set by tessera"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"device\":{\"claim\":{}}}}",
	        "$.tokens.profiles.device: unknown key \"claim\""},
	    {"{\"audiences\":[\"a\"],\"leeway_seconds\":601,\"profiles\":{}}",
	        "$.tokens.leeway_seconds: 601 is out of range"},
	    {"{\"audiences\":[\"a\"],\"profiles\":{\"device\":[]}}",
	        "$.tokens.profiles.device: expected an object"},
	};
	const struct policy_tokens *t;
	const struct policy_token_profile *tp;
	struct policy *pol = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tokens_policy(bad[i].tokens, &pol) != ST_MALFORMED ||
		    pol != NULL ||
		    strstr(status_detail(), bad[i].detail) == NULL) {
			test_failed++;
			fprintf(stderr, "policy %s: %s\n", bad[i].tokens,
			    status_detail());
		} else {
			test_passed++;
		}
		policy_free(pol);
		pol = NULL;
	}
	CHECK_ST(tokens_policy("{\"audiences\":[\"gw\",\"urn:x\"],"
	                       "\"ttl_seconds\":120,\"profiles\":{\"device\":"
	                       "{\"claims\":{\"scope\":\"s\",\"n\":[1,2]}}}}",
	             &pol),
	    ST_OK);
	if (pol == NULL)
		return;
	t = policy_tokens(pol);
	CHECK(t->audience_count == 2 && strcmp(t->audiences[1], "urn:x") == 0);
	CHECK(t->leeway_seconds == 60 && t->max_ttl_seconds == 120);
	tp = policy_token_profile(pol, "device");
	CHECK(tp != NULL && tp->ttl_seconds == 120 && tp->claims != NULL &&
	    json_object_size(tp->claims) == 2);
	CHECK(policy_token_profile(pol, "gateway") == NULL);
	policy_free(pol);
	/* No profiles: nobody may have tokens. */
	CHECK_ST(tokens_policy("{\"audiences\":[\"a\"],\"profiles\":{}}", &pol),
	    ST_OK);
	CHECK(pol != NULL && policy_tokens(pol)->profile_count == 0);
	policy_free(pol);
}

int
main(void)
{
	test_b64url();
	test_jwk();
	test_sign_verify();
	test_refusals();
	test_claims();
	test_hsm();
	test_form();
	test_policy();
	TEST_END();
}
