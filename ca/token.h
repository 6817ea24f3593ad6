/*
 * token: the JOSE pieces of tessera's device tokens (RFC 7515, 7517, 7518,
 * 7519, 7638, 8705): base64url, ES256 signatures as raw r||s, EC public
 * JWKs and their thumbprints, compact JWS signing and checking. It knows
 * nothing of policies or devices; ca/mint.c decides what goes in a token.
 */
#ifndef TESSERA_CA_TOKEN_H
#define TESSERA_CA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/status.h"

struct signer_key;

/* A SHA-256 in base64url: 43 characters and the NUL. */
#define TOKEN_THUMBPRINT_LEN 43
/* The longest token token_verify reads. */
#define TOKEN_MAX_LEN 8192

/*
 * The public JWK of an EC P-256 key, x and y the full 32 bytes (RFC 7518
 * §6.2.1.2), with "kid" its RFC 7638 thumbprint, "use":"sig" and
 * "alg":"ES256". *jwk is compact JSON (caller frees with free()); kid gets
 * the thumbprint. ST_MALFORMED for any other key.
 */
enum status token_jwk(
    EVP_PKEY *pub, char **jwk, char kid[TOKEN_THUMBPRINT_LEN + 1]) MUST_CHECK;

/*
 * RFC 8705 §3.1: base64url(SHA-256(DER of cert)), the value of
 * cnf.x5t#S256 that binds a token to a certificate.
 */
enum status token_cert_thumbprint(
    X509 *cert, char out[TOKEN_THUMBPRINT_LEN + 1]) MUST_CHECK;

/*
 * Sign claims as a compact JWS with key (P-256, usually in the token):
 * header {"alg":"ES256","typ":"at+jwt","kid":kid}, signature r||s. The
 * caller frees *out with free().
 */
enum status token_sign(const struct signer_key *key, const char *kid,
    const json_t *claims, char **out) MUST_CHECK;

/*
 * token_sign in two steps, so that the caller can do other work while the
 * signer signs (a mint commits the token's row meanwhile): start sends
 * the signing input to the signer; finish waits for the signature and
 * gives the token (or why not). Every started signing is finished, which
 * frees it, whether its token is still wanted or not.
 */
struct token_signing;
enum status token_sign_start(const struct signer_key *key, const char *kid,
    const json_t *claims, struct token_signing **out) MUST_CHECK;
enum status token_sign_finish(struct token_signing *t, char **out) MUST_CHECK;

/*
 * Check a compact JWS against a JWK Set (the JSON of
 * {"keys":[...]}): exactly three parts, a header of alg ES256 (nothing
 * else, never "none" or HS*), a kid found in the set, a valid 64-byte
 * r||s signature, a JSON object as payload. Claims are not judged here
 * (see token_check_claims). *claims gets the payload (caller decrefs).
 * ST_MALFORMED, ST_DENIED (signature or unknown kid), with a detail.
 */
enum status token_verify(const char *token, size_t len, const json_t *jwks,
    json_t **claims) MUST_CHECK;

/*
 * Judge verified claims as a gateway must: iss equals issuer; aud is, or
 * is an array holding, audience; exp > now - leeway; nbf (when present)
 * <= now + leeway; and, when cert is given (the client certificate of
 * the connection), cnf.x5t#S256 equals its thumbprint. ST_DENIED with
 * the reason.
 */
enum status token_check_claims(const json_t *claims, const char *issuer,
    const char *audience, int64_t now, int64_t leeway, X509 *cert) MUST_CHECK;

#endif
