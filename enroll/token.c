/*
 * token endpoints: POST /token (RFC 6749 §4.4 client credentials, the
 * client authenticated by its TLS certificate, RFC 8705 §2), the JWK Set
 * at /.well-known/jwks.json and the metadata that points at both
 * (RFC 8414; also at the OpenID path, where most libraries look).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/secret.h"
#include "enroll/api.h"
#include "enroll/auth.h"
#include "enroll/form.h"
#include "enroll/handlers.h"

#define FORM_TYPE "application/x-www-form-urlencoded"
#define JWKS_PATH "/.well-known/jwks.json"

void
token_oauth_error(struct http_response *resp, int status, const char *error,
    const char *description)
{
	api_json_error(resp, status,
	    json_pack(
	        "{s:s, s:s}", "error", error, "error_description", description),
	    description);
	if (http_response_header(resp, "Cache-Control", "no-store") != ST_OK)
		resp->header_count = 0;
}

/* The error for a failed mint: RFC 6749 §5.2 and RFC 8707 §2 codes. */
static void
oauth_status(struct http_response *resp, enum status st)
{
	const char *why = status_detail();

	switch (st) {
	case ST_UNAUTHENTICATED:
		token_oauth_error(resp, 401, "invalid_client", why);
		break;
	case ST_DENIED:
		token_oauth_error(resp, 400, "unauthorized_client", why);
		break;
	case ST_NOTFOUND:
		token_oauth_error(resp, 400, "invalid_target", why);
		break;
	case ST_MALFORMED:
	case ST_LIMIT:
		token_oauth_error(resp, 400, "invalid_request", why);
		break;
	case ST_UNAVAILABLE:
		token_oauth_error(resp, 503, "temporarily_unavailable", why);
		if (http_response_header(resp, "Retry-After", "5") != ST_OK)
			resp->header_count = 0;
		break;
	default:
		token_oauth_error(resp, 500, "server_error", "internal error");
	}
}

/* 200 with o (consumed) as a body of type, and a Cache-Control. */
static void
send_json(
    struct http_response *resp, json_t *o, const char *type, const char *cache)
{
	api_send(resp, 200, o);
	if (resp->status != 200)
		return;
	resp->content_type = type;
	if (http_response_header(resp, "Cache-Control", "%s", cache) != ST_OK)
		resp->header_count = 0;
}

/*
 * A refusal before the client is known (the request itself is wrong):
 * audited with the peer's address, then answered with error (400).
 */
static void
request_refuse(struct enroll *e, const struct http_request *req,
    struct http_response *resp, const char *error, enum status st)
{
	struct principal anon;
	char why[LIMIT_AUDIT_DETAIL];

	auth_anonymous(req, &anon);
	st = authority_refuse(e->a, &anon, "token", st);
	snprintf(why, sizeof(why), "%s", status_detail());
	token_oauth_error(resp, st == ST_NOMEM ? 500 : 400,
	    st == ST_NOMEM ? "server_error" : error, why);
}

/* POST /token: grant_type=client_credentials[&audience=...]. */
void
token_handle_post(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	char grant[64], audience[LIMIT_NAME_LEN + 1],
	    client[LIMIT_NAME_LEN + 1];
	struct form_field f[] = {
	    {"grant_type", grant, sizeof(grant), 0},
	    {"audience", audience, sizeof(audience), 0},
	    {"client_id", client, sizeof(client), 0},
	};
	struct authority_token tok;
	struct principal who;
	char *secret = NULL;
	enum status st;

	memset(&who, 0, sizeof(who));
	/* Routed on the plain listener too, so that a device that tries it
	 * there learns why it cannot work rather than a 404. */
	if (!req->is_tls) {
		token_oauth_error(resp, 400, "invalid_request",
		    "POST /token is served on the TLS listener only: the "
		    "device authenticates with its certificate");
		return;
	}
	if (!http_media_type_is(req->content_type, FORM_TYPE)) {
		request_refuse(e, req, resp, "invalid_request",
		    status_fail(ST_MALFORMED,
		        "POST /token takes Content-Type " FORM_TYPE
		        " (RFC 6749 §4.4.2)"));
		return;
	}
	if ((st = form_parse(req->body, req->body_len, f, 3)) != ST_OK) {
		request_refuse(e, req, resp, "invalid_request", st);
		return;
	}
	if (!f[0].is_set) {
		request_refuse(e, req, resp, "invalid_request",
		    status_fail(ST_MALFORMED,
		        "grant_type is missing; tessera grants "
		        "client_credentials"));
		return;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		request_refuse(e, req, resp, "unsupported_grant_type",
		    status_fail(ST_MALFORMED,
		        "only grant_type=client_credentials, with the "
		        "device's certificate as the TLS client "
		        "certificate"));
		return;
	}
	st = auth_principal(e->a, req, m->route->authenticators, &who, &secret);
	secret_free(secret);
	if (st == ST_OK && f[2].is_set && strcmp(client, who.id) != 0)
		st = status_fail(ST_UNAUTHENTICATED,
		    "client_id is not the device of the client certificate");
	if (st != ST_OK) {
		/* Refused before a principal exists: audited all the same. */
		if (who.kind != PRINCIPAL_CERT)
			auth_anonymous(req, &who);
		if (st != ST_NOMEM)
			st = ST_UNAUTHENTICATED;
		oauth_status(resp, authority_refuse(e->a, &who, "token", st));
		return;
	}
	st = authority_token_mint(
	    e->a, &who, f[1].is_set ? audience : NULL, &tok);
	if (st != ST_OK) {
		oauth_status(resp, st);
		return;
	}
	/* RFC 6749 §5.1: never cached. */
	send_json(resp,
	    json_pack("{s:s, s:s, s:I}", "access_token", tok.jwt, "token_type",
	        "Bearer", "expires_in", (json_int_t)tok.expires_in),
	    "application/json", "no-store");
	if (resp->status == 200 &&
	    http_response_header(resp, "Pragma", "no-cache") != ST_OK)
		resp->header_count = 0;
	free(tok.jwt);
}

static void
jwks_get(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	char *json = NULL;
	enum status st;

	if (req->is_inline) {
		if (authority_jwks_memory(e->a, &json) != ST_OK) {
			resp->status = HTTP_DEFER;
			return;
		}
	} else if ((st = authority_jwks(e->a, &json)) != ST_OK) {
		http_response_status(resp, st);
		return;
	}
	/* Written as the authority made it; a gateway that meets an
	 * unknown kid fetches again, so the cache is short. */
	if (buf_printf(&resp->body, "%s\n", json) != ST_OK ||
	    http_response_header(resp, "Cache-Control", "public, max-age=60") !=
	        ST_OK) {
		http_response_error(resp, 500, "internal error");
	} else {
		resp->status = 200;
		resp->content_type = "application/jwk-set+json";
	}
	free(json);
}

/*
 * RFC 8414 §2 metadata. response_types_supported is REQUIRED and lists the
 * response types of the authorization endpoint; tessera has none (client
 * credentials only, §2: no authorization_endpoint then), so it is empty.
 * At the OpenID path, subject_types_supported (OpenID Connect Discovery
 * 1.0 §3) too: sub is the device id for every client ("public").
 */
static void
metadata_get(struct enroll *e, int is_openid, struct http_response *resp)
{
	const char *url = authority_config(e->a)->url;
	size_t n = strlen(url);
	char token[LIMIT_NAME_LEN + 32], jwks[LIMIT_NAME_LEN + 32];
	json_t *doc;

	while (n > 0 && url[n - 1] == '/')
		n--;
	snprintf(token, sizeof(token), "%.*s/token", (int)n, url);
	snprintf(jwks, sizeof(jwks), "%.*s" JWKS_PATH, (int)n, url);
	doc = json_pack("{s:s, s:s, s:s, s:[], s:[s], s:[s], s:b}", "issuer",
	    url, "token_endpoint", token, "jwks_uri", jwks,
	    "response_types_supported", "grant_types_supported",
	    "client_credentials", "token_endpoint_auth_methods_supported",
	    "tls_client_auth", "tls_client_certificate_bound_access_tokens", 1);
	if (doc != NULL && is_openid &&
	    json_object_set_new(doc, "subject_types_supported",
	        json_pack("[s]", "public")) != 0) {
		json_decref(doc);
		doc = NULL;
	}
	send_json(resp, doc, "application/json", "public, max-age=3600");
}

void
token_handle_doc(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	if (m->route->op == TOKEN_DOC_JWKS)
		jwks_get(e, req, resp);
	else
		metadata_get(e, m->route->op == TOKEN_DOC_OPENID, resp);
}
