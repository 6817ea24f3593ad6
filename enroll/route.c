#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "enroll/enroll.h"
#include "enroll/handlers.h"

#define EST_PREFIX "/.well-known/est/"
#define API_PREFIX "/api/v1/"

enum status
enroll_new(struct authority *a, struct enroll **out)
{
	struct enroll *e;
	enum status st;

	*out = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ST_NOMEM;
	e->a = a;
	if ((st = publish_prepare(e)) != ST_OK) {
		enroll_free(e);
		return st;
	}
	*out = e;
	return ST_OK;
}

void
enroll_free(struct enroll *e)
{
	if (e == NULL)
		return;
	OPENSSL_free(e->root_der);
	OPENSSL_free(e->issuing_der);
	free(e->cacerts_b64);
	free(e);
}

static int
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void
enroll_handle_tls(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	status_clear();
	if (has_prefix(req->path, EST_PREFIX))
		est_handle(e, req, req->path + strlen(EST_PREFIX), resp);
	else if (has_prefix(req->path, API_PREFIX))
		api_handle(e, req, req->path + strlen(API_PREFIX), resp);
	else if (!token_handle(e, req, resp) && !publish_handle(e, req, resp))
		http_response_error(
		    resp, 404, "no such resource: %.200s", req->path);
}

void
enroll_handle_publish(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	status_clear();
	if (!token_handle(e, req, resp) && !publish_handle(e, req, resp))
		http_response_error(
		    resp, 404, "no such resource: %.200s", req->path);
}
