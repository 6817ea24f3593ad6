/*
 * est: RFC 7030 (with RFC 8951) over the request/response records of
 * http.h. Paths: "[label/]op" after /.well-known/est/, where the label
 * names a policy profile (none: "device").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/limits.h"
#include "common/secret.h"
#include "enroll/auth.h"
#include "enroll/codec.h"
#include "enroll/handlers.h"

#define CT_CERTS_ONLY "application/pkcs7-mime; smime-type=certs-only"
#define CT_PKCS7 "application/pkcs7-mime"
#define CT_CSRATTRS "application/csrattrs"
#define CT_PKCS10 "application/pkcs10"
#define REALM "Basic realm=\"tessera EST\", charset=\"UTF-8\""

/* The operations' names, for messages and the audit. */
static const char *const op_names[EST_OP_MAX] = {
    [EST_CACERTS] = "cacerts",
    [EST_SIMPLEENROLL] = "simpleenroll",
    [EST_SIMPLEREENROLL] = "simplereenroll",
    [EST_CSRATTRS] = "csrattrs",
    [EST_SERVERKEYGEN] = "serverkeygen",
    [EST_FULLCMC] = "fullcmc",
};

/* RFC 8951 §3: base64 always; say so for clients that look. */
static void
send_b64(struct http_response *resp, const char *type, const uint8_t *der,
    size_t len)
{
	if (codec_b64_encode(&resp->body, der, len, 0) != ST_OK ||
	    http_response_header(resp, "Content-Transfer-Encoding", "base64") !=
	        ST_OK) {
		http_response_error(resp, 500, "internal error");
		return;
	}
	resp->status = 200;
	resp->content_type = type;
}

/*
 * csrattrs (RFC 7030 §4.5, RFC 8951 §4): the profile's default key type as
 * an Attribute {id-ecPublicKey, {curve}} or a bare rsaEncryption OID, and
 * the signature algorithm as a bare OID.
 */
static enum status
csrattrs_der(const struct authority_profile *p, uint8_t **der, size_t *der_len)
{
	STACK_OF(ASN1_TYPE) *seq = NULL;
	X509_ATTRIBUTE *attr = NULL;
	ASN1_TYPE *t = NULL;
	ASN1_OBJECT *curve;
	unsigned char *out = NULL, *pp;
	int sig_nid, n, i;
	enum status st = ST_NOMEM;

	*der = NULL;
	*der_len = 0;
	if ((seq = sk_ASN1_TYPE_new_null()) == NULL)
		goto out;
	if (p->is_ec) {
		curve = OBJ_nid2obj(p->curve_nid);
		attr = X509_ATTRIBUTE_create(
		    NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT, curve);
		if (attr == NULL)
			goto out;
		/* An Attribute is a SEQUENCE: carry its DER as one. */
		pp = NULL;
		if ((n = i2d_X509_ATTRIBUTE(attr, &pp)) <= 0)
			goto out;
		t = ASN1_TYPE_new();
		ASN1_STRING *s = ASN1_STRING_new();
		if (t == NULL || s == NULL) {
			ASN1_STRING_free(s);
			OPENSSL_free(pp);
			goto out;
		}
		ASN1_STRING_set0(s, pp, n);
		ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
		sig_nid = p->sig_md_nid == NID_sha384 ? NID_ecdsa_with_SHA384
		                                      : NID_ecdsa_with_SHA256;
	} else {
		t = ASN1_TYPE_new();
		if (t == NULL)
			goto out;
		ASN1_TYPE_set(t, V_ASN1_OBJECT, OBJ_nid2obj(NID_rsaEncryption));
		sig_nid = p->sig_md_nid == NID_sha384
		    ? NID_sha384WithRSAEncryption
		    : NID_sha256WithRSAEncryption;
	}
	if (!sk_ASN1_TYPE_push(seq, t))
		goto out;
	t = NULL;
	if ((t = ASN1_TYPE_new()) == NULL)
		goto out;
	ASN1_TYPE_set(t, V_ASN1_OBJECT, OBJ_nid2obj(sig_nid));
	if (!sk_ASN1_TYPE_push(seq, t))
		goto out;
	t = NULL;
	n = i2d_ASN1_SEQUENCE_ANY(seq, &out);
	if (n <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "encode csrattrs");
		goto out;
	}
	*der = out;
	*der_len = (size_t)n;
	st = ST_OK;
out:
	ASN1_TYPE_free(t);
	for (i = 0; seq != NULL && i < sk_ASN1_TYPE_num(seq); i++)
		ASN1_TYPE_free(sk_ASN1_TYPE_value(seq, i));
	sk_ASN1_TYPE_free(seq);
	X509_ATTRIBUTE_free(attr);
	return st;
}

static void
refuse(struct http_response *resp, enum status st)
{
	http_response_status(resp, st);
	/* RFC 7030 §3.2.3 / RFC 7235: a 401 names the scheme to use. */
	if (st == ST_UNAUTHENTICATED &&
	    http_response_header(resp, "WWW-Authenticate", REALM) != ST_OK)
		http_response_error(resp, 500, "internal error");
}

/* RFC 7030 §4.4.2: key part then certificate part, base64 each. */
static enum status
send_keygen(
    struct http_response *resp, EVP_PKEY *key, const uint8_t *p7, size_t p7_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	unsigned char rnd[12];
	char boundary[40];
	int der_len = 0;
	size_t i;
	enum status st = ST_NOMEM;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
	memcpy(boundary, "tessera-", 8);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(boundary + 8 + 2 * i, 3, "%02x", rnd[i]);
	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "encode PKCS#8");
		goto out;
	}
	if ((st = buf_printf(&resp->body,
	         "--%s\r\nContent-Type: application/pkcs8\r\n"
	         "Content-Transfer-Encoding: base64\r\n\r\n",
	         boundary)) != ST_OK ||
	    (st = codec_b64_encode(&resp->body, der, (size_t)der_len, 1)) !=
	        ST_OK ||
	    (st = buf_printf(&resp->body,
	         "--%s\r\nContent-Type: " CT_CERTS_ONLY "\r\n"
	         "Content-Transfer-Encoding: base64\r\n\r\n",
	         boundary)) != ST_OK ||
	    (st = codec_b64_encode(&resp->body, p7, p7_len, 1)) != ST_OK ||
	    (st = buf_printf(&resp->body, "--%s--\r\n", boundary)) != ST_OK)
		goto out;
	if ((st = http_response_header(resp, "Content-Type",
	         "multipart/mixed; boundary=%s", boundary)) != ST_OK)
		goto out;
	resp->status = 200;
	resp->content_type = NULL; /* carried in the header above */
	st = ST_OK;
out:
	if (der != NULL) {
		OPENSSL_cleanse(der, (size_t)der_len);
		OPENSSL_free(der);
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	return st;
}

static void
enroll_op(struct enroll *e, const struct http_request *req, const char *label,
    enum est_op op, unsigned allowed, struct http_response *resp)
{
	struct authority_enroll_req er;
	struct principal who;
	char *secret = NULL;
	uint8_t *csr = NULL, *p7 = NULL, *cert = NULL;
	size_t csr_len = 0, p7_len = 0, cert_len = 0;
	const uint8_t *certs[1];
	EVP_PKEY *key = NULL;
	enum status st;

	/* Who first: an unauthenticated client learns nothing more. */
	if ((st = auth_principal(e->a, req, allowed, &who, &secret)) != ST_OK)
		goto refused;
	if (!http_media_type_is(req->content_type, CT_PKCS10)) {
		st = status_fail(ST_MALFORMED,
		    "%s takes Content-Type %s (RFC 7030 §4.2.1), not %.64s",
		    op_names[op], CT_PKCS10,
		    req->content_type ? req->content_type : "(none)");
		goto refused;
	}
	/* RFC 8951 §3: base64 whatever Content-Transfer-Encoding says. */
	if ((st = codec_b64_decode(req->body, req->body_len, LIMIT_CSR_DER,
	         &csr, &csr_len)) != ST_OK)
		goto refused;
	memset(&er, 0, sizeof(er));
	er.profile = label[0] ? label : NULL;
	er.csr = csr;
	er.csr_len = csr_len;
	er.is_reenroll = op == EST_SIMPLEREENROLL;
	er.is_server_keygen = op == EST_SERVERKEYGEN;
	er.binding = req->channel_binding;
	er.binding_len = req->channel_binding_len;
	er.is_binding_unsafe = req->is_binding_unsafe;
	if ((st = authority_enroll(e->a, &who, &er, &cert, &cert_len, &key)) !=
	    ST_OK) {
		refuse(resp, st);
		goto out;
	}
	certs[0] = cert;
	if ((st = codec_certs_only_der(certs, &cert_len, 1, &p7, &p7_len)) !=
	    ST_OK) {
		http_response_status(resp, st);
		goto out;
	}
	if (op == EST_SERVERKEYGEN) {
		if ((st = send_keygen(resp, key, p7, p7_len)) != ST_OK)
			http_response_status(resp, st);
		goto out;
	}
	send_b64(resp, CT_CERTS_ONLY, p7, p7_len);
	goto out;
refused:
	/* Refused before the authority saw it: audited all the same. */
	refuse(resp, authority_refuse(e->a, &who, op_names[op], st));
out:
	OPENSSL_free(p7);
	EVP_PKEY_free(key);
	OPENSSL_free(cert);
	free(csr);
	secret_free(secret);
}

void
est_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	struct authority_profile p;
	const char *label = m->param;
	uint8_t *der = NULL;
	size_t der_len;
	enum est_op op = (enum est_op)m->route->op;
	enum status st;

	switch (op) {
	case EST_CACERTS:
		if (buf_append(&resp->body, e->cacerts_b64,
		        e->cacerts_b64_len) != ST_OK ||
		    http_response_header(
		        resp, "Content-Transfer-Encoding", "base64") != ST_OK) {
			http_response_error(resp, 500, "internal error");
			return;
		}
		resp->status = 200;
		resp->content_type = CT_PKCS7;
		return;
	case EST_CSRATTRS:
		if ((st = authority_profile_get(
		         e->a, label[0] ? label : "device", &p)) != ST_OK ||
		    (st = csrattrs_der(&p, &der, &der_len)) != ST_OK) {
			http_response_status(resp, st);
			return;
		}
		send_b64(resp, CT_CSRATTRS, der, der_len);
		OPENSSL_free(der);
		return;
	case EST_FULLCMC:
		http_response_error(resp, 501,
		    "fullcmc is not supported; use simpleenroll, "
		    "simplereenroll or serverkeygen");
		return;
	default:
		enroll_op(e, req, label, op, m->route->authenticators, resp);
		return;
	}
}
