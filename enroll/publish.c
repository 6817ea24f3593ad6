#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "enroll/codec.h"
#include "enroll/handlers.h"

/* DER of cert (OPENSSL_free). */
static enum status
cert_der(X509 *cert, uint8_t **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(cert, der)) <= 0)
		return status_fail_ssl(ST_INTERNAL, "encode certificate");
	*len = (size_t)n;
	return ST_OK;
}

enum status
publish_prepare(struct enroll *e)
{
	X509 *chain[2];
	uint8_t *der = NULL;
	size_t der_len;
	struct buf b64;
	enum status st;

	chain[0] = authority_get0_issuing(e->a);
	chain[1] = authority_get0_root(e->a);
	if ((st = cert_der(chain[1], &e->root_der, &e->root_der_len)) !=
	        ST_OK ||
	    (st = cert_der(chain[0], &e->issuing_der, &e->issuing_der_len)) !=
	        ST_OK)
		return st;
	/* RFC 7030 §4.1.3: the chain as a certs-only PKCS#7, base64. */
	if ((st = codec_certs_only(chain, 2, &der, &der_len)) != ST_OK)
		return st;
	buf_init(&b64, HTTP_RESPONSE_MAX);
	if ((st = codec_b64_encode(&b64, der, der_len, 0)) == ST_OK) {
		e->cacerts_b64 = (char *)b64.data;
		e->cacerts_b64_len = b64.len;
	} else {
		buf_free(&b64);
	}
	OPENSSL_free(der);
	return st;
}

static void
send_der(struct http_response *resp, const uint8_t *der, size_t len,
    const char *type)
{
	if (buf_append(&resp->body, der, len) != ST_OK) {
		http_response_error(resp, 500, "internal error");
		return;
	}
	resp->status = 200;
	resp->content_type = type;
	if (http_response_header(
	        resp, "Cache-Control", "public, max-age=3600") != ST_OK)
		resp->header_count = 0;
}

int
publish_handle(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	const char *p = req->path;
	int is_get =
	    strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	enum status st;

	if (strcmp(p, "/ca/root.crt") != 0 &&
	    strcmp(p, "/ca/issuing.crt") != 0 && strcmp(p, "/healthz") != 0)
		return 0;
	if (!is_get) {
		http_response_error(
		    resp, 405, "%s takes GET, not %.16s", p, req->method);
		if (http_response_header(resp, "Allow", "GET, HEAD") != ST_OK)
			resp->header_count = 0;
		return 1;
	}
	/* RFC 2585: a DER certificate as application/pkix-cert. */
	if (strcmp(p, "/ca/root.crt") == 0) {
		send_der(resp, e->root_der, e->root_der_len,
		    "application/pkix-cert");
		return 1;
	}
	if (strcmp(p, "/ca/issuing.crt") == 0) {
		send_der(resp, e->issuing_der, e->issuing_der_len,
		    "application/pkix-cert");
		return 1;
	}
	if ((st = authority_health(e->a)) != ST_OK) {
		http_response_error(
		    resp, 503, "unhealthy: %s", status_detail());
		return 1;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	if (buf_printf(&resp->body,
	        "{\"status\":\"ok\",\"hsm\":\"ok\","
	        "\"store\":\"ok\"}\n") != ST_OK)
		http_response_error(resp, 500, "internal error");
	return 1;
}
