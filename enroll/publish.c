#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pkcs7.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/metrics.h"
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
	X509 *chain[3];
	uint8_t *der = NULL;
	size_t der_len, n = 0;
	struct buf b64;
	enum status st;

	chain[n++] = authority_get0_issuing(e->a);
	chain[n++] = authority_get0_root(e->a);
	if ((st = cert_der(chain[1], &e->root_der, &e->root_der_len)) !=
	        ST_OK ||
	    (st = cert_der(chain[0], &e->issuing_der, &e->issuing_der_len)) !=
	        ST_OK)
		return st;
	/* During a rollover's overlap both issuing CAs: devices of either
	 * chain find their issuer (cacerts, and each at its caIssuers). */
	authority_ca_cert_paths(
	    e->a, e->issuing_path, e->retiring_path, sizeof(e->issuing_path));
	if (authority_get0_retiring(e->a) != NULL) {
		chain[n++] = authority_get0_retiring(e->a);
		if ((st = cert_der(chain[2], &e->retiring_der,
		         &e->retiring_der_len)) != ST_OK)
			return st;
	}
	/* RFC 7030 §4.1.3: the chain as a certs-only PKCS#7, base64. */
	if ((st = codec_certs_only(chain, n, &der, &der_len)) != ST_OK)
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

/* An IMF-fixdate (RFC 9110 §5.6.7) for Last-Modified and Expires. */
static void
http_date(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/*
 * Caching headers for a signed object valid from this_update to next:
 * max-age is the policy's cache_seconds, and never past nextUpdate (RFC
 * 5019 §6.2). A cache in front of tessera shows a revocation within
 * cache_seconds, not when the object expires; Expires says the same to an
 * HTTP/1.0 cache.
 */
static enum status
cache_headers(struct http_response *resp, const void *tag, size_t tag_len,
    int64_t this_update, int64_t next_update, int64_t cache_seconds)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	char lm[64], ex[64];
	int64_t now = (int64_t)time(NULL), age = next_update - now;
	enum status st;

	if (age > cache_seconds)
		age = cache_seconds;
	if (age < 0)
		age = 0;
	if ((st = digest_buf(DIGEST_SHA256, tag, tag_len, md, NULL)) != ST_OK)
		return st;
	http_date(this_update, lm, sizeof(lm));
	http_date(now + age, ex, sizeof(ex));
	if ((st = http_response_header(resp, "ETag",
	         "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", md[0], md[1], md[2],
	         md[3], md[4], md[5], md[6], md[7])) != ST_OK ||
	    (st = http_response_header(resp, "Last-Modified", "%s", lm)) !=
	        ST_OK ||
	    (st = http_response_header(resp, "Expires", "%s", ex)) != ST_OK)
		return st;
	return http_response_header(resp, "Cache-Control",
	    "max-age=%lld, public, no-transform, must-revalidate",
	    (long long)age);
}

/* GET /crl/NAME: the stored CRL (RFC 5280 §5, RFC 2585 media type). */
static void
send_crl(struct enroll *e, const char *name, struct http_response *resp)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t this_update, next_update, number;
	char tag[LIMIT_ROUTE_PARAM_LEN + 64]; /* name, crlNumber, thisUpdate */
	enum status st;

	if ((st = authority_crl_get(e->a, name, &der, &len, &this_update,
	         &next_update, &number)) != ST_OK) {
		http_response_status(resp, st);
		return;
	}
	/*
	 * The ETag names the CRL, not its bytes: a shard's crlNumber is
	 * never stored twice (RFC 5280 §5.2.3), and a CRL of a million
	 * entries is tens of MB to hash on every request.
	 */
	snprintf(tag, sizeof(tag), "%s %lld %lld", name, (long long)number,
	    (long long)this_update);
	if (buf_append(&resp->body, der, len) != ST_OK ||
	    cache_headers(resp, tag, strlen(tag), this_update, next_update,
	        authority_crl_cache_seconds(e->a)) != ST_OK) {
		http_response_error(resp, 500, "internal error");
	} else {
		resp->status = 200;
		resp->content_type = "application/pkix-crl";
	}
	free(der);
}

/*
 * One DER TLV at *p, before end: its (one-byte) tag, its value and the
 * value's length; *p moves past it. 0 when it is not one whole TLV.
 */
static int
der_tlv(const uint8_t **p, const uint8_t *end, uint8_t *tag,
    const uint8_t **value, size_t *value_len)
{
	const uint8_t *q = *p;
	size_t len = 0, n;

	if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
		return 0;
	*tag = *q++;
	if (*q < 0x80)
		len = *q++;
	else {
		n = *q++ & 0x7f;
		if (n == 0 || n > 4 || (size_t)(end - q) < n)
			return 0;
		while (n-- > 0)
			len = len << 8 | *q++;
	}
	if (len > (size_t)(end - q))
		return 0;
	*value = q;
	*value_len = len;
	*p = q + len;
	return 1;
}

/* Enter the TLV at *p if its tag is want: *p and *end become its value. */
static int
der_enter(const uint8_t **p, const uint8_t **end, uint8_t want)
{
	const uint8_t *v;
	size_t n;
	uint8_t tag;

	if (!der_tlv(p, *end, &tag, &v, &n) || tag != want)
		return 0;
	*p = v;
	*end = v + n;
	return 1;
}

/*
 * What an OCSP answer tells (the first SingleResponse's certStatus), read
 * back from the bytes sent, for the metrics: whichever path made it
 * (stored, signed now, an error status), it counts as what it says. A
 * walk over the DER to that one field (RFC 6960 §4.2.1): decoding the
 * whole response would decode the responder's certificate and its key
 * on every answer, which costs more than serving a stored one.
 */
static enum metrics_ocsp
ocsp_status_of(const uint8_t *der, size_t len)
{
	const uint8_t *p = der, *end = der + len, *v;
	size_t n;
	uint8_t tag;

	/* OCSPResponse { responseStatus successful(0), [0] { SEQUENCE {
	 * responseType, response OCTET STRING (BasicOCSPResponse) } } } */
	if (!der_enter(&p, &end, 0x30) || !der_tlv(&p, end, &tag, &v, &n) ||
	    tag != 0x0a || n != 1 || v[0] != 0 || !der_enter(&p, &end, 0xa0) ||
	    !der_enter(&p, &end, 0x30) || !der_tlv(&p, end, &tag, &v, &n) ||
	    tag != 0x06 || !der_enter(&p, &end, 0x04))
		return METRICS_OCSP_ERROR;
	/* BasicOCSPResponse { ResponseData { [0] version OPTIONAL,
	 * responderID [1] or [2], producedAt, responses SEQUENCE OF } } */
	if (!der_enter(&p, &end, 0x30) || !der_enter(&p, &end, 0x30) ||
	    !der_tlv(&p, end, &tag, &v, &n))
		return METRICS_OCSP_ERROR;
	if (tag == 0xa0 && !der_tlv(&p, end, &tag, &v, &n))
		return METRICS_OCSP_ERROR;
	if ((tag != 0xa1 && tag != 0xa2) || !der_tlv(&p, end, &tag, &v, &n) ||
	    tag != 0x18 || !der_enter(&p, &end, 0x30) ||
	    !der_enter(&p, &end, 0x30) || !der_tlv(&p, end, &tag, &v, &n) ||
	    tag != 0x30 || !der_tlv(&p, end, &tag, &v, &n))
		return METRICS_OCSP_ERROR;
	/* SingleResponse { certID, certStatus CHOICE { good [0] IMPLICIT
	 * NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] } ... } */
	switch (tag) {
	case 0x80:
		return METRICS_OCSP_GOOD;
	case 0xa1:
		return METRICS_OCSP_REVOKED;
	case 0x82:
		return METRICS_OCSP_UNKNOWN;
	}
	return METRICS_OCSP_ERROR;
}

/* resp for the answer ans (freed) as authority_ocsp_answer* gave it. */
static void
ocsp_reply(struct enroll *e, enum status st, struct authority_ocsp_answer *ans,
    struct http_response *resp)
{
	if (st != ST_OK) {
		http_response_status(resp, st);
		return;
	}
	if (buf_append(&resp->body, ans->der, ans->len) != ST_OK ||
	    (ans->is_cacheable
	            ? cache_headers(resp, ans->der, ans->len, ans->this_update,
	                  ans->next_update, authority_ocsp_cache_seconds(e->a))
	            : http_response_header(
	                  resp, "Cache-Control", "no-store")) != ST_OK) {
		http_response_error(resp, 500, "internal error");
	} else {
		resp->status = 200;
		resp->content_type = "application/ocsp-response";
		if (e->metrics != NULL)
			metrics_ocsp_count(
			    e->metrics, ocsp_status_of(ans->der, ans->len));
	}
	free(ans->der);
	ans->der = NULL;
}

/* An OCSP answer whose signature has come (http_pending.finish). */
static void
ocsp_finish(void *ctx, void *arg, struct http_response *resp)
{
	struct authority_ocsp_answer ans;
	enum status st;

	status_clear();
	st = authority_ocsp_finish(arg, &ans);
	ocsp_reply(ctx, st, &ans, resp);
}

/*
 * /ocsp: POST with the DER request, or GET /ocsp/<base64> (RFC 6960
 * App. A). Every answer, errors included, is an OCSPResponse with 200 and
 * exactly "application/ocsp-response" (nginx accepts nothing else). On a
 * thread that must not wait: from memory, or (a nonce's, signed now) its
 * signature started and the answer left to the glue's finisher
 * (HTTP_PENDING), or deferred.
 */
static void
send_ocsp(struct enroll *e, const struct http_request *req, const char *b64,
    struct http_response *resp)
{
	struct authority_ocsp_answer ans;
	struct authority_ocsp_pending *p = NULL;
	const uint8_t *der = NULL;
	uint8_t *decoded = NULL;
	size_t len = 0;
	enum status st;

	if (strcmp(req->method, "POST") == 0) {
		if (!http_media_type_is(
		        req->content_type, "application/ocsp-request")) {
			http_response_error(resp, 400,
			    "OCSP POST takes Content-Type "
			    "application/ocsp-request (RFC 6960 App. A)");
			return;
		}
		der = req->body;
		len = req->body_len;
	} else {
		/* The path is percent-decoded already; '+' is base64's. An
		 * undecodable one is answered malformedRequest below. */
		while (*b64 == '/')
			b64++;
		if (codec_b64_decode((const uint8_t *)b64, strlen(b64),
		        HTTP_BODY_MAX, &decoded, &len) == ST_OK)
			der = decoded;
		else
			len = 0;
	}
	if (req->is_inline) {
		st = authority_ocsp_answer_memory(
		    e->a, der != NULL ? der : (const uint8_t *)"", len, &ans);
		if (st == ST_NOTFOUND && req->can_pend &&
		    authority_ocsp_start(e->a,
		        der != NULL ? der : (const uint8_t *)"", len,
		        &p) == ST_OK) {
			free(decoded);
			resp->status = HTTP_PENDING;
			resp->pending.fd = authority_ocsp_pending_fd(p);
			resp->pending.finish = ocsp_finish;
			resp->pending.ctx = e;
			resp->pending.arg = p;
			return;
		}
		if (st == ST_NOTFOUND) {
			free(decoded);
			resp->status = HTTP_DEFER;
			return;
		}
	} else
		st = authority_ocsp_answer(
		    e->a, der != NULL ? der : (const uint8_t *)"", len, &ans);
	free(decoded);
	ocsp_reply(e, st, &ans, resp);
}

/*
 * tessera's certificates that expire within 30 days, as a JSON array
 * (authority_expiring); NULL on ENOMEM. A failed look-up is an empty list
 * and a log line: health is about the token.
 */
static json_t *
health_expiring(struct enroll *e)
{
	struct authority_expiry x[AUTHORITY_EXPIRY_MAX];
	int64_t now = (int64_t)time(NULL);
	size_t i, n = 0;
	json_t *arr = json_array(), *o;

	if (arr == NULL)
		return NULL;
	if (authority_expiring(e->a, now, x, &n) != ST_OK) {
		log_warn("/healthz: expiry: %s", status_detail());
		n = 0;
	}
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "certificate",
		    x[i].what, "subject", x[i].subject, "serial", x[i].serial,
		    "not_after", (json_int_t)x[i].not_after, "days_left",
		    (json_int_t)((x[i].not_after - now) / (24 * 3600)));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/*
 * The CA certificates' expiry ("ca") and each published CRL's age and size
 * ("crls") into o. A CRL look-up that fails is an empty list and a log
 * line: health is about the token. 0, or -1 on ENOMEM.
 */
static int
health_ca_crls(struct enroll *e, json_t *o)
{
	struct authority_crl_state crls[AUTHORITY_CRLS_MAX];
	const char *names[2] = {"root", "issuing"};
	int64_t now = (int64_t)time(NULL), ends[2], not_after, until;
	json_t *ca = json_array(), *list = json_array(), *c;
	size_t count = 0, i;
	int bad = ca == NULL || list == NULL;

	authority_ca_not_after(e->a, &ends[0], &ends[1]);
	for (i = 0; !bad && i < 2; i++) {
		not_after = ends[i];
		c = json_pack("{s:s, s:I, s:I}", "certificate", names[i],
		    "not_after", (json_int_t)not_after, "days_left",
		    (json_int_t)((not_after - now) / (24 * 3600)));
		bad = c == NULL || json_array_append_new(ca, c) != 0;
	}
	/* After a rollover, until it retires: the old issuing CA, and when
	 * it retires (its certificates' latest notAfter, when known). */
	if (!bad && authority_retiring_not_after(e->a, &not_after, &until)) {
		c = json_pack("{s:s, s:I, s:I}", "certificate", "retiring",
		    "not_after", (json_int_t)not_after, "days_left",
		    (json_int_t)((not_after - now) / (24 * 3600)));
		bad = c == NULL ||
		    (until > 0 &&
		        json_object_set_new(c, "retires_at",
		            json_integer((json_int_t)until)) != 0) ||
		    json_array_append_new(ca, c) != 0;
	}
	if (!bad &&
	    authority_crl_states(e->a, crls, AUTHORITY_CRLS_MAX, &count) !=
	        ST_OK) {
		log_warn("/healthz: CRLs: %s", status_detail());
		count = 0;
	}
	for (i = 0; !bad && i < count; i++) {
		c = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
		    crls[i].name, "number", (json_int_t)crls[i].number,
		    "this_update", (json_int_t)crls[i].this_update,
		    "next_update", (json_int_t)crls[i].next_update,
		    "age_seconds", (json_int_t)(now - crls[i].this_update),
		    "entries", (json_int_t)crls[i].entries, "bytes",
		    (json_int_t)crls[i].der_len);
		bad = c == NULL || json_array_append_new(list, c) != 0;
	}
	if (!bad)
		bad = json_object_set(o, "ca", ca) != 0 ||
		    json_object_set(o, "crls", list) != 0;
	json_decref(ca);
	json_decref(list);
	return bad ? -1 : 0;
}

/*
 * /healthz: 200 when the token answers; 503 with the reason when it does
 * not (CA certificates, CRLs and stored OCSP answers are still served
 * then; issuance and tokens are not). Either way: "version", "expiring"
 * (tessera's own certificates within 30 days of expiry), "ca" (the CA
 * certificates' notAfter: root, issuing, and after a rollover the retiring
 * one with "retires_at") and "crls" (each published CRL's age and size).
 */
static void
send_health(struct enroll *e, struct http_response *resp)
{
	enum status st = authority_health(e->a);
	json_t *o, *expiring = NULL;
	char *text = NULL;

	o = st == ST_OK ? json_pack("{s:s, s:s}", "status", "ok", "hsm", "ok")
	                : json_pack("{s:s, s:s, s:s}", "status", "degraded",
	                      "hsm", "unavailable", "detail", status_detail());
	if (o != NULL &&
	    ((expiring = health_expiring(e)) == NULL ||
	        json_object_set_new(o, "expiring", expiring) != 0 ||
	        json_object_set_new(
	            o, "version", json_string(TESSERA_VERSION)) != 0 ||
	        health_ca_crls(e, o) != 0)) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL ||
	    buf_printf(&resp->body, "%s\n", text) != ST_OK) {
		http_response_error(resp, 500, "internal error");
	} else {
		resp->status = st == ST_OK ? 200 : 503;
		resp->content_type = "application/json";
	}
	free(text);
	json_decref(o);
}

void
publish_handle_cert(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	char path[LIMIT_ROUTE_PARAM_LEN + 8];

	(void)req;
	/* RFC 2585: a DER certificate as application/pkix-cert. */
	if (m->route->op == PUBLISH_CERT_ROOT) {
		send_der(resp, e->root_der, e->root_der_len,
		    "application/pkix-cert");
		return;
	}
	/* The path an issuing CA's certificates name as caIssuers: the
	 * first one's is /ca/issuing.crt (the issuing CA's while no other
	 * is retiring there), later ones' /ca/issuing-gG.crt. */
	if (m->route->op == PUBLISH_CERT_ISSUING)
		snprintf(path, sizeof(path), "/ca/issuing.crt");
	else
		snprintf(path, sizeof(path), "/ca/%s", m->param);
	if (e->retiring_der != NULL && strcmp(path, e->retiring_path) == 0)
		send_der(resp, e->retiring_der, e->retiring_der_len,
		    "application/pkix-cert");
	else if (m->route->op == PUBLISH_CERT_ISSUING ||
	    strcmp(path, e->issuing_path) == 0)
		send_der(resp, e->issuing_der, e->issuing_der_len,
		    "application/pkix-cert");
	else
		http_response_error(
		    resp, 404, "no CA certificate named %s", m->param);
}

void
publish_handle_crl(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	(void)req;
	send_crl(e, m->param, resp);
}

void
publish_handle_ocsp(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	send_ocsp(e, req, m->rest != NULL ? m->rest : "", resp);
}

void
publish_handle_health(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	(void)req;
	(void)m;
	send_health(e, resp);
}
