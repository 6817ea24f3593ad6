/*
 * api: the JSON admin API under /api/v1/, authenticated by client
 * certificate. Bodies are read strictly: size-limited, duplicate keys and
 * unknown keys refused with a message that names them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/secret.h"
#include "enroll/api.h"
#include "enroll/auth.h"
#include "enroll/handlers.h"

#define API_BODY_MAX (16 * 1024)
#define API_DEPTH_MAX 8

void
api_error(
    struct http_response *resp, int code, const char *error, const char *detail)
{
	json_t *o;
	char *text = NULL;

	http_response_error(resp, code, "%s", detail);
	o = json_pack("{s:s, s:s}", "error", error, "detail", detail);
	if (o != NULL && (text = json_dumps(o, JSON_COMPACT)) != NULL) {
		buf_free(&resp->body);
		buf_init(&resp->body, HTTP_RESPONSE_MAX);
		if (buf_printf(&resp->body, "%s\n", text) == ST_OK)
			resp->content_type = "application/json";
	}
	free(text);
	json_decref(o);
}

/* The error for a failed call: code and kind from st, the detail line. */
static void
api_status(struct http_response *resp, enum status st)
{
	int code = http_code_for(st);

	api_error(resp, code, status_name(st),
	    code == 500 ? "internal error" : status_detail());
}

static int
depth_ok(json_t *v, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > API_DEPTH_MAX)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach(
		    v, k, x) if (!depth_ok(x, depth + 1)) return 0;
	} else if (json_is_array(v)) {
		json_array_foreach(
		    v, i, x) if (!depth_ok(x, depth + 1)) return 0;
	}
	return 1;
}

enum status
api_body_parse(
    const uint8_t *body, size_t len, const char *const *known, json_t **out)
{
	json_t *root = NULL;
	json_error_t err;
	const char *key;
	json_t *v;
	size_t i;

	*out = NULL;
	if (len > API_BODY_MAX)
		return status_fail(ST_LIMIT, "body is %zu bytes, limit is %d",
		    len, API_BODY_MAX);
	if (len == 0)
		return status_fail(ST_MALFORMED,
		    "empty body; expected a JSON "
		    "object");
	/* jansson refuses invalid UTF-8 and, with this flag, duplicates. */
	root =
	    json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return status_fail(ST_MALFORMED,
		    "JSON: %s (line %d, column %d)", err.text, err.line,
		    err.column);
	if (!json_is_object(root)) {
		json_decref(root);
		return status_fail(ST_MALFORMED, "expected a JSON object");
	}
	if (!depth_ok(root, 0)) {
		json_decref(root);
		return status_fail(
		    ST_MALFORMED, "JSON nested deeper than %d", API_DEPTH_MAX);
	}
	json_object_foreach(root, key, v)
	{
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			/* key lives in root: report before freeing it. */
			status_fail(ST_MALFORMED, "unknown key \"%.64s\"", key);
			json_decref(root);
			return ST_MALFORMED;
		}
	}
	*out = root;
	return ST_OK;
}

/* POST enrollment-secrets {"device": ID, "profile": P, "ttl": seconds} */
static void
secrets_create(struct enroll *e, const struct principal *who,
    const struct http_request *req, struct http_response *resp)
{
	static const char *const known[] = {"device", "profile", "ttl", NULL};
	json_t *body = NULL, *o = NULL;
	json_error_t err;
	const char *device = NULL, *profile = NULL;
	json_int_t ttl = 0;
	char *secret = NULL, *text = NULL, when[32];
	int64_t expires;
	struct tm tm;
	time_t t;
	enum status st;

	if ((st = api_body_parse(req->body, req->body_len, known, &body)) !=
	    ST_OK) {
		api_status(resp, st);
		goto out;
	}
	if (json_unpack_ex(body, &err, 0, "{s:s, s?:s, s?:I}", "device",
	        &device, "profile", &profile, "ttl", &ttl) != 0) {
		api_error(resp, 400, "malformed", err.text);
		goto out;
	}
	if ((st = authority_secret_create(e->a, who, device, profile,
	         (int64_t)ttl, &secret, &expires)) != ST_OK) {
		api_status(resp, st);
		goto out;
	}
	t = (time_t)expires;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_pack("{s:s, s:s, s:s, s:s}", "device", device, "profile",
	    profile ? profile : "device", "secret", secret, "expires", when);
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL ||
	    buf_printf(&resp->body, "%s\n", text) != ST_OK) {
		api_error(resp, 500, "internal error", "internal error");
		goto out;
	}
	resp->status = 201;
	resp->content_type = "application/json";
out:
	if (text != NULL)
		secret_free(text);
	json_decref(o);
	json_decref(body);
	secret_free(secret);
}

void
api_handle(struct enroll *e, const struct http_request *req, const char *path,
    struct http_response *resp)
{
	struct principal who;
	char *secret = NULL;
	enum status st;

	/* The API is for certificate holders only: no Basic secrets. */
	if (req->peer_chain == NULL) {
		api_error(resp, 401, "unauthenticated",
		    "the API needs a client certificate");
		return;
	}
	st = auth_principal(e->a, req, &who, &secret);
	secret_free(secret);
	if (st == ST_OK && who.kind != PRINCIPAL_CERT)
		st = status_fail(ST_UNAUTHENTICATED,
		    "the API needs a tessera-issued client certificate");
	if (st != ST_OK) {
		api_status(resp, st);
		return;
	}
	if (strcmp(path, "enrollment-secrets") == 0) {
		if (strcmp(req->method, "POST") != 0) {
			api_error(resp, 405, "method not allowed",
			    "enrollment-secrets takes POST");
			return;
		}
		secrets_create(e, &who, req, resp);
		return;
	}
	api_error(resp, 404, "not found", "no such API resource");
}
