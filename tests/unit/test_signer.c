/*
 * The signer from the attacker's side: a worker (any process that may
 * reach the signer socket) asks the key holder, through the protocol, to
 * sign what its purpose does not allow. Real SoftHSMv2 keys: a CA:TRUE
 * certificate, a certificate with an extension no profile has, an OCSP
 * ResponseData under the device-certificate purpose, a token with the
 * audit key, a CRL of another issuer, a key generated under a CA's label.
 * Each is refused (ST_DENIED) and the refusal logged; the same requests
 * done right are signed and verify. Then the protocol parser on the
 * empty, truncated, trailing-byte, over-limit and wrong-type frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "signer/local.h"
#include "signer/remote.h"
#include "signer/server.h"
#include "signer/wire.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

#define TOKEN "signer"
#define PIN "1234"
#define URI(label) "pkcs11:token=" TOKEN ";object=" label

static const char *const key_uris[SIGNER_ROLE_MAX] = {
    [SIGNER_ROLE_ROOT] = URI("t-root-ca"),
    [SIGNER_ROLE_ISSUING] = URI("t-issuing-ca"),
    [SIGNER_ROLE_OCSP] = URI("t-ocsp-responder"),
    [SIGNER_ROLE_TOKEN] = URI("t-token-signing"),
    [SIGNER_ROLE_AUDIT] = URI("t-audit-signing"),
    [SIGNER_ROLE_RETIRING] = URI("t-retiring-ca"),
};
static const char *const labels[SIGNER_ROLE_MAX] = {
    [SIGNER_ROLE_ROOT] = "t-root-ca",
    [SIGNER_ROLE_ISSUING] = "t-issuing-ca",
    [SIGNER_ROLE_OCSP] = "t-ocsp-responder",
    [SIGNER_ROLE_TOKEN] = "t-token-signing",
    [SIGNER_ROLE_AUDIT] = "t-audit-signing",
    [SIGNER_ROLE_RETIRING] = "t-retiring-ca",
};

/* The serving signer (not set-up) and the CA certificates it knows. */
static struct signer *holder;
static X509 *root_cert, *issuing_cert;
/* The issuing CA before a rollover (its key: keys.retiring). */
static X509 *retiring_cert;
static EVP_PKEY *pub[SIGNER_ROLE_MAX];

/* stderr into a file while fn's refusals are logged; 1 if needle was. */
static int log_fd = -1, saved_stderr = -1;
static char log_path[4096];

static void
log_capture(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	log_fd = open(log_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	dup2(log_fd, 2);
}

static int
log_release_has(const char *needle)
{
	char text[8192];
	ssize_t n;
	int fd;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	close(log_fd);
	if ((fd = open(log_path, O_RDONLY)) < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return strstr(text, needle) != NULL;
}

/*
 * Ask the holder as a worker would: a SIGN request frame through the
 * server's request handling; the answer's status, and the signature into
 * *sig (OPENSSL_free) on ST_OK.
 */
static enum status
ask(enum signer_role role, unsigned purpose, int md_nid, const uint8_t *tbs,
    size_t tbs_len, uint8_t **sig, size_t *sig_len)
{
	struct signer_wire_request req;
	struct signer_wire_response resp;
	struct buf in, out;
	enum status st;

	*sig = NULL;
	*sig_len = 0;
	memset(&req, 0, sizeof(req));
	req.id = 7;
	req.op = SIGNER_OP_SIGN;
	req.purpose = purpose;
	req.md_nid = (uint32_t)md_nid;
	req.str = labels[role];
	req.str_len = strlen(labels[role]);
	req.tbs = tbs;
	req.tbs_len = tbs_len;
	buf_init(&in, SIGNER_WIRE_FRAME_MAX + 4);
	buf_init(&out, SIGNER_WIRE_FRAME_MAX + 4);
	if ((st = signer_wire_request_encode(&req, &in)) != ST_OK ||
	    (st = signer_serve_frame(holder, in.data + 4, in.len - 4, &out)) !=
	        ST_OK ||
	    (st = signer_wire_response_parse(
	         out.data + 4, out.len - 4, SIGNER_OP_SIGN, &resp)) != ST_OK)
		goto out;
	CHECK(resp.id == 7);
	st = (enum status)resp.status;
	if (st != ST_OK)
		status_fail(st, "%.*s", (int)resp.detail_len, resp.detail);
	else if ((*sig = OPENSSL_memdup(resp.blob, resp.blob_len)) != NULL)
		*sig_len = resp.blob_len;
out:
	buf_free(&in);
	buf_free(&out);
	return st;
}

/* Whether sig is role's key's signature over tbs with md_nid. */
static int
verifies(enum signer_role role, int md_nid, const uint8_t *tbs, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL &&
	    EVP_DigestVerifyInit(
	        ctx, NULL, EVP_get_digestbynid(md_nid), NULL, pub[role]) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, tbs, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The TBSCertificate of x with the signature algorithm ECDSA-SHA256. */
static uint8_t *
cert_tbs(X509 *x, size_t *len)
{
	X509_ALGOR *alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	uint8_t *der = NULL;
	int n;

	X509_ALGOR_set0(
	    alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL);
	n = i2d_re_X509_tbs(x, &der);
	*len = n > 0 ? (size_t)n : 0;
	return n > 0 ? der : NULL;
}

static X509_EXTENSION *
ext(int nid, const char *value)
{
	return X509V3_EXT_conf_nid(NULL, NULL, nid, value);
}

/*
 * A device certificate under the issuing CA: basicConstraints as given
 * (NULL: none), keyUsage digitalSignature, EKU eku, and one more
 * extension when extra is set.
 */
static uint8_t *
device_tbs(const char *bc, X509_EXTENSION *extra, const char *eku, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();
	X509_EXTENSION *e;
	uint8_t *tbs = NULL;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"device-0001", -1, -1, 0);
	X509_set_subject_name(x, subject);
	X509_set_issuer_name(x, X509_get_subject_name(issuing_cert));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub[SIGNER_ROLE_TOKEN]);
	if (bc != NULL && (e = ext(NID_basic_constraints, bc)) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if ((e = ext(NID_key_usage, "critical,digitalSignature")) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if ((e = ext(NID_ext_key_usage, eku)) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (extra != NULL)
		X509_add_ext(x, extra, -1);
	tbs = cert_tbs(x, len);
	X509_NAME_free(subject);
	X509_free(x);
	return tbs;
}

static void
test_certificates(void)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1);
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	X509_EXTENSION *odd = NULL;
	uint8_t *tbs, *sig = NULL;
	size_t len = 0, sig_len = 0;

	/* The intended request: signed, and it verifies. */
	tbs = device_tbs("critical,CA:FALSE", NULL, "clientAuth", &len);
	CHECK(tbs != NULL);
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_OK);
	CHECK(sig != NULL &&
	    verifies(SIGNER_ROLE_ISSUING, NID_sha256, tbs, len, sig, sig_len));
	OPENSSL_free(sig);
	OPENSSL_free(tbs);

	/* A CA certificate under the device purpose. */
	tbs = device_tbs("critical,CA:TRUE", NULL, "clientAuth", &len);
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("cA is TRUE");
	CHECK(log_release_has("signer: refused to sign (purpose device-cert"));
	CHECK(sig == NULL);
	/* ... nor as a service certificate, nor as a CA one once serving. */
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_SERVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_ST(ask(SIGNER_ROLE_ROOT, SIGNER_PURPOSE_CA_CERT, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("offline");
	OPENSSL_free(tbs);

	/* An extension no profile has. */
	CHECK(oid != NULL && value != NULL &&
	    ASN1_OCTET_STRING_set(value, (const unsigned char *)"\x05\x00", 2));
	odd = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value);
	tbs = device_tbs("critical,CA:FALSE", odd, "clientAuth", &len);
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("1.3.6.1.4.1.55555.1");
	CHECK(log_release_has("is in no device profile"));
	OPENSSL_free(tbs);
	X509_EXTENSION_free(odd);

	/* id-kp-OCSPSigning: a device that would answer for the CA. */
	tbs = device_tbs(NULL, NULL, "clientAuth,OCSPSigning", &len);
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("id-kp-OCSPSigning");
	OPENSSL_free(tbs);

	/* A device certificate signed with the token or the audit key. */
	tbs = device_tbs(NULL, NULL, "clientAuth", &len);
	CHECK_ST(ask(SIGNER_ROLE_TOKEN, SIGNER_PURPOSE_DEVICE_CERT, NID_sha256,
	             tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("is a token key");
	/* Garbage after a good TBS, and a truncated one. */
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len - 1, &sig, &sig_len),
	    ST_DENIED);
	OPENSSL_free(tbs);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(value);
}

/* An extension of nid whose value is the DER value[0..len). */
static X509_EXTENSION *
ext_raw(int nid, const char *value, size_t len)
{
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;

	if (v != NULL &&
	    ASN1_OCTET_STRING_set(v, (const unsigned char *)value, (int)len))
		e = X509_EXTENSION_create_by_NID(NULL, nid, 0, v);
	ASN1_OCTET_STRING_free(v);
	return e;
}

/*
 * An end-entity TBS under issuer's name (NULL: the issuing CA) with
 * exactly the extensions exts (NULL-terminated; taken); version v.
 */
static uint8_t *
ee_tbs(X509_EXTENSION **exts, const X509 *issuer, long version, size_t *len)
{
	X509 *x = X509_new();
	uint8_t *tbs;

	X509_set_version(x, version);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4243);
	X509_set_subject_name(x, X509_get_subject_name(issuing_cert));
	X509_set_issuer_name(
	    x, X509_get_subject_name(issuer ? issuer : issuing_cert));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub[SIGNER_ROLE_TOKEN]);
	for (; exts != NULL && *exts != NULL; exts++) {
		X509_add_ext(x, *exts, -1);
		X509_EXTENSION_free(*exts);
	}
	tbs = cert_tbs(x, len);
	X509_free(x);
	return tbs;
}

/* Ask for purpose over ee_tbs(exts...); the status, detail kept. */
static enum status
ask_ee(
    unsigned purpose, X509_EXTENSION **exts, const X509 *issuer, long version)
{
	uint8_t *tbs, *sig = NULL;
	size_t len = 0, sig_len = 0;
	enum status st;

	if ((tbs = ee_tbs(exts, issuer, version, &len)) == NULL)
		return ST_INTERNAL;
	st = ask(
	    SIGNER_ROLE_ISSUING, purpose, NID_sha256, tbs, len, &sig, &sig_len);
	OPENSSL_free(sig);
	OPENSSL_free(tbs);
	return st;
}

/*
 * The end-entity TBS is walked as DER, not parsed by OpenSSL: each thing
 * the walk must see, from the side of a worker that sends its own TBS.
 */
static void
test_cert_walk(void)
{
	X509_EXTENSION *e[6];

	log_capture();
	/* Every extension a profile writes: signed. */
	e[0] = ext(NID_basic_constraints, "critical,CA:FALSE");
	e[1] = ext(NID_key_usage, "critical,digitalSignature,keyAgreement");
	e[2] = ext(NID_ext_key_usage, "clientAuth,serverAuth");
	e[3] = ext(NID_subject_alt_name, "DNS:a.example,IP:10.0.0.1");
	e[4] = ext(NID_crl_distribution_points, "URI:http://c.example/1.crl");
	e[5] = NULL;
	CHECK_ST(
	    ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3), ST_OK);
	e[0] = ext(NID_info_access, "OCSP;URI:http://o.example/");
	/* { { 1.3.6.1.4.1.55555.9.1 } } */
	e[1] = ext_raw(NID_certificate_policies,
	    "\x30\x0e\x30\x0c\x06\x0a\x2b\x06\x01\x04\x01\x83\xb2\x03"
	    "\x09\x01",
	    16);
	e[2] = NULL;
	CHECK_ST(
	    ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3), ST_OK);
	/* No extensions at all. */
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, NULL, NULL, X509_VERSION_3),
	    ST_OK);
	/* A v1 certificate. */
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, NULL, NULL, X509_VERSION_1),
	    ST_DENIED);
	CHECK_DETAIL("not a v3 certificate");
	/* Another issuer's name (the root's). */
	CHECK_ST(
	    ask_ee(SIGNER_PURPOSE_DEVICE_CERT, NULL, root_cert, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("the issuer is not the issuing CA's subject");
	/* One extension twice. */
	e[0] = ext(NID_key_usage, "digitalSignature");
	e[1] = ext(NID_key_usage, "digitalSignature");
	e[2] = NULL;
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("does not parse or is repeated");
	/* keyCertSign, cRLSign. */
	e[0] = ext(NID_key_usage, "digitalSignature,keyCertSign");
	e[1] = NULL;
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("keyCertSign or cRLSign");
	e[0] = ext(NID_key_usage, "cRLSign");
	CHECK_ST(ask_ee(SIGNER_PURPOSE_SERVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("keyCertSign or cRLSign");
	/* cA TRUE with a path length, BER's explicit FALSE. */
	e[0] = ext(NID_basic_constraints, "CA:TRUE,pathlen:0");
	CHECK_ST(ask_ee(SIGNER_PURPOSE_SERVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("cA is TRUE");
	e[0] = ext_raw(NID_basic_constraints, "\x30\x03\x01\x01\x00", 5);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("does not parse");
	/* Values that are not their extension's syntax. */
	e[0] = ext_raw(NID_subject_alt_name, "\x30\x03\x99\x01\x00", 5);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("does not parse");
	e[0] = ext_raw(NID_subject_alt_name, "\x30\x00", 2);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	e[0] = ext_raw(NID_ext_key_usage, "\x30\x02\x05\x00", 4);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	e[0] = ext_raw(NID_key_usage, "\x03\x02\x07\x80\x00", 5);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	e[0] = ext_raw(NID_crl_distribution_points, "\x30\x02\x04\x00", 4);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	e[0] = ext_raw(NID_info_access, "\x30\x04\x30\x02\x06\x00", 6);
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	/* OCSP no-check and OCSPSigning: a responder's (service), never a
	 * device's. */
	e[0] = ext(NID_id_pkix_OCSP_noCheck, "ignored");
	e[1] = ext(NID_ext_key_usage, "OCSPSigning");
	e[2] = NULL;
	CHECK_ST(ask_ee(SIGNER_PURPOSE_SERVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_OK);
	e[0] = ext(NID_id_pkix_OCSP_noCheck, "ignored");
	e[1] = NULL;
	CHECK_ST(ask_ee(SIGNER_PURPOSE_DEVICE_CERT, e, NULL, X509_VERSION_3),
	    ST_DENIED);
	CHECK_DETAIL("is in no device profile");
	CHECK(log_release_has("signer: refused to sign (purpose device-cert"));
}

/* An OCSP ResponseData (as a worker could make one with any key). */
static uint8_t *
ocsp_tbs(size_t *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, root_cert, issuing_cert);
	EVP_PKEY *k = testutil_key("ec:P-256");
	X509 *self = X509_new();
	ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
	uint8_t *der = NULL;
	int n = -1;

	/* A throwaway responder, only to have OpenSSL fill ResponseData. */
	X509_set_pubkey(self, k);
	X509_sign(self, k, EVP_sha256());
	if (bs != NULL && id != NULL &&
	    OCSP_basic_add1_status(
	        bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, now, NULL) != NULL &&
	    OCSP_basic_sign(bs, self, k, EVP_sha256(), NULL, OCSP_RESPID_KEY))
		n = i2d_OCSP_RESPDATA(
		    (OCSP_RESPDATA *)OCSP_resp_get0_respdata(bs), &der);
	*len = n > 0 ? (size_t)n : 0;
	ASN1_TIME_free(now);
	X509_free(self);
	EVP_PKEY_free(k);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	return n > 0 ? der : NULL;
}

static void
test_ocsp(void)
{
	uint8_t *tbs, *sig = NULL;
	size_t len = 0, sig_len = 0;

	tbs = ocsp_tbs(&len);
	CHECK(tbs != NULL);
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("not one DER TBSCertificate");
	CHECK(log_release_has("signer: refused to sign"));
	/* As OCSP with the responder key: its responderID names another
	 * key (the throwaway one). */
	CHECK_ST(ask(SIGNER_ROLE_OCSP, SIGNER_PURPOSE_OCSP, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("responderID");
	OPENSSL_free(tbs);
}

/* A JWS signing input "header.payload" for header and payload JSON. */
static char *
jws_input(const char *header, const char *payload)
{
	char *h = NULL, *p = NULL, *out = NULL;

	if (b64url_encode((const uint8_t *)header, strlen(header), &h) ==
	        ST_OK &&
	    b64url_encode((const uint8_t *)payload, strlen(payload), &p) ==
	        ST_OK &&
	    (out = malloc(strlen(h) + strlen(p) + 2)) != NULL) {
		memcpy(out, h, strlen(h));
		out[strlen(h)] = '.';
		memcpy(out + strlen(h) + 1, p, strlen(p) + 1);
	}
	free(h);
	free(p);
	return out;
}

static void
test_tokens(void)
{
	char *in =
	    jws_input("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k\"}",
	        "{\"sub\":\"device-0001\"}");
	uint8_t msg[8 + 27 + 8 + 32], *sig = NULL;
	size_t sig_len = 0;

	CHECK(in != NULL);
	if (in == NULL)
		return;
	CHECK_ST(ask(SIGNER_ROLE_TOKEN, SIGNER_PURPOSE_TOKEN, NID_sha256,
	             (const uint8_t *)in, strlen(in), &sig, &sig_len),
	    ST_OK);
	CHECK(sig != NULL &&
	    verifies(SIGNER_ROLE_TOKEN, NID_sha256, (const uint8_t *)in,
	        strlen(in), sig, sig_len));
	OPENSSL_free(sig);
	/* The same token with the audit key, the issuing key, the root. */
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_AUDIT, SIGNER_PURPOSE_TOKEN, NID_sha256,
	             (const uint8_t *)in, strlen(in), &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("is a audit key");
	CHECK(log_release_has("purpose token, key t-audit-signing"));
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_TOKEN, NID_sha256,
	             (const uint8_t *)in, strlen(in), &sig, &sig_len),
	    ST_DENIED);
	/* ... and with the audit key under the audit purpose: not one. */
	CHECK_ST(ask(SIGNER_ROLE_AUDIT, SIGNER_PURPOSE_AUDIT, NID_sha256,
	             (const uint8_t *)in, strlen(in), &sig, &sig_len),
	    ST_DENIED);
	free(in);
	/* alg none, and something that is no JWS at all. */
	in = jws_input("{\"alg\":\"none\",\"kid\":\"k\"}", "{}");
	CHECK_ST(ask(SIGNER_ROLE_TOKEN, SIGNER_PURPOSE_TOKEN, NID_sha256,
	             (const uint8_t *)in, strlen(in), &sig, &sig_len),
	    ST_DENIED);
	free(in);
	memset(msg, 0, sizeof(msg));
	msg[7] = 27;
	memcpy(msg + 8, "tessera audit checkpoint v1", 27);
	CHECK_ST(ask(SIGNER_ROLE_TOKEN, SIGNER_PURPOSE_TOKEN, NID_sha256, msg,
	             sizeof(msg), &sig, &sig_len),
	    ST_DENIED);
	/* The checkpoint is the audit key's to sign. */
	CHECK_ST(ask(SIGNER_ROLE_AUDIT, SIGNER_PURPOSE_AUDIT, NID_sha256, msg,
	             sizeof(msg), &sig, &sig_len),
	    ST_OK);
	CHECK(sig != NULL &&
	    verifies(
	        SIGNER_ROLE_AUDIT, NID_sha256, msg, sizeof(msg), sig, sig_len));
	OPENSSL_free(sig);
}

/* A TBSCertList v2 under issuer's name, signature ECDSA-SHA256. */
static uint8_t *
crl_tbs(const X509_NAME *issuer, size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
	uint8_t *der = NULL;
	int n = -1;

	if (crl != NULL && now != NULL && X509_CRL_set_version(crl, 1) &&
	    X509_CRL_set_issuer_name(crl, issuer) &&
	    X509_CRL_set1_lastUpdate(crl, now)) {
		/* The inner signature algorithm is set by signing: a soft
		 * key gives the same AlgorithmIdentifier as the token's. */
		EVP_PKEY *k = testutil_key("ec:P-256");

		X509_CRL_sign(crl, k, EVP_sha256());
		EVP_PKEY_free(k);
		n = i2d_re_X509_CRL_tbs(crl, &der);
	}
	*len = n > 0 ? (size_t)n : 0;
	ASN1_TIME_free(now);
	X509_CRL_free(crl);
	return n > 0 ? der : NULL;
}

static void
test_crls(void)
{
	X509_NAME *other = X509_NAME_new();
	uint8_t *tbs, *sig = NULL;
	size_t len = 0, sig_len = 0;

	tbs = crl_tbs(X509_get_subject_name(issuing_cert), &len);
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_CRL, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_OK);
	OPENSSL_free(sig);
	/* The issuing CA's CRL with the root's key: another issuer. */
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_ROOT, SIGNER_PURPOSE_CRL, NID_sha256, tbs, len,
	             &sig, &sig_len),
	    ST_DENIED);
	CHECK(log_release_has("the issuer is not the root CA's subject"));
	OPENSSL_free(tbs);
	X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Someone Else CA", -1, -1, 0);
	tbs = crl_tbs(other, &len);
	CHECK_ST(ask(SIGNER_ROLE_ISSUING, SIGNER_PURPOSE_CRL, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_DENIED);
	CHECK_DETAIL("issuer");
	OPENSSL_free(tbs);
	X509_NAME_free(other);
}

/*
 * After a rollover the old issuing key signs CRLs (and OCSP answers) for
 * what it issued, and never a certificate: a worker that asks it for a
 * device or service certificate, even one under its own name, is refused.
 */
static void
test_retiring(void)
{
	uint8_t *tbs, *sig = NULL;
	size_t len = 0, sig_len = 0;
	X509 *saved = issuing_cert;

	/* A device certificate under the old CA's name. */
	issuing_cert = retiring_cert;
	tbs = device_tbs("critical,CA:FALSE", NULL, "clientAuth", &len);
	issuing_cert = saved;
	CHECK(tbs != NULL);
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_RETIRING, SIGNER_PURPOSE_DEVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK(log_release_has("signer: refused to sign (purpose device-cert"));
	CHECK(sig == NULL);
	CHECK_ST(ask(SIGNER_ROLE_RETIRING, SIGNER_PURPOSE_SERVICE_CERT,
	             NID_sha256, tbs, len, &sig, &sig_len),
	    ST_DENIED);
	CHECK(sig == NULL);
	OPENSSL_free(tbs);
	/* Its own CRL: signed, and it verifies with its key. */
	tbs = crl_tbs(X509_get_subject_name(retiring_cert), &len);
	CHECK_ST(ask(SIGNER_ROLE_RETIRING, SIGNER_PURPOSE_CRL, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_OK);
	CHECK(sig != NULL &&
	    verifies(SIGNER_ROLE_RETIRING, NID_sha256, tbs, len, sig, sig_len));
	OPENSSL_free(sig);
	sig = NULL;
	OPENSSL_free(tbs);
	/* The new issuing CA's CRL with the old key: another issuer. */
	tbs = crl_tbs(X509_get_subject_name(issuing_cert), &len);
	log_capture();
	CHECK_ST(ask(SIGNER_ROLE_RETIRING, SIGNER_PURPOSE_CRL, NID_sha256, tbs,
	             len, &sig, &sig_len),
	    ST_DENIED);
	CHECK(log_release_has("the issuer is not the retiring issuing CA's"));
	OPENSSL_free(tbs);
	/* Nor does it sign a token or a checkpoint. */
	CHECK_ST(ask(SIGNER_ROLE_RETIRING, SIGNER_PURPOSE_AUDIT, NID_sha256,
	             (const uint8_t *)"x", 1, &sig, &sig_len),
	    ST_DENIED);
}

static void
test_generate(void)
{
	struct signer_key *k = NULL;

	log_capture();
	CHECK_ST(signer_key_generate(
	             holder, "t-issuing-ca-2", SIGNER_KEY_EC_P256, &k),
	    ST_DENIED);
	CHECK(log_release_has("refused to generate"));
	CHECK(k == NULL);
	/* A rotated token key is allowed, and is a token key. */
	CHECK_ST(signer_key_generate(
	             holder, "t-token-signing-2", SIGNER_KEY_EC_P256, &k),
	    ST_OK);
	CHECK(k != NULL && signer_key_role(k) == SIGNER_ROLE_TOKEN);
	signer_key_free(k);
}

/* The request parser on what a hostile peer can send. */
static void
test_wire(void)
{
	struct signer_wire_request r;
	struct buf b;
	static const uint8_t ping[] = {0, 0, 0, 1, SIGNER_OP_PING};
	uint8_t big[5 + 4];

	CHECK_ST(signer_wire_request_parse(NULL, 0, &r), ST_MALFORMED);
	CHECK_ST(signer_wire_request_parse(ping, sizeof(ping), &r), ST_OK);
	CHECK(r.id == 1 && r.op == SIGNER_OP_PING);
	CHECK_ST(signer_wire_request_parse(ping, 4, &r), ST_MALFORMED);
	memcpy(big, ping, sizeof(ping));
	big[5] = 0;
	CHECK_ST(signer_wire_request_parse(big, 6, &r), ST_MALFORMED);
	CHECK_DETAIL("after the request");
	big[4] = 99;
	CHECK_ST(signer_wire_request_parse(big, 5, &r), ST_MALFORMED);
	CHECK_DETAIL("unknown op");
	/* A FIND whose uri claims more than the limit, and than the frame. */
	big[4] = SIGNER_OP_FIND;
	big[5] = 0x7f;
	big[6] = big[7] = big[8] = 0xff;
	CHECK_ST(signer_wire_request_parse(big, 9, &r), ST_LIMIT);
	big[5] = big[6] = 0;
	big[7] = 0;
	big[8] = 10;
	CHECK_ST(signer_wire_request_parse(big, 9, &r), ST_MALFORMED);
	CHECK(r.op == 0 && r.str == NULL);
	/* A label with a control character. */
	memset(&r, 0, sizeof(r));
	r.op = SIGNER_OP_FIND;
	r.str = "a\nb";
	r.str_len = 3;
	buf_init(&b, 1024);
	CHECK_ST(signer_wire_request_encode(&r, &b), ST_OK);
	CHECK_ST(
	    signer_wire_request_parse(b.data + 4, b.len - 4, &r), ST_MALFORMED);
	CHECK_DETAIL("control character");
	buf_free(&b);
}

/* Write all of p to fd (a socketpair end: it fits in its buffer). */
static void
put_all(int fd, const uint8_t *p, size_t len)
{
	CHECK(write(fd, p, len) == (ssize_t)len);
}

/*
 * A frame read off a socket as it arrives: in one read with its header, in
 * pieces (a SOCK_SEQPACKET pair gives a read one record at most, so the
 * header and the body come apart where the writer cut them), larger than
 * the first read takes; a second frame sent before the first was answered
 * is the peer's error; the end of the connection is told.
 */
static void
test_wire_read(void)
{
	struct buf b;
	uint8_t frame[4 + 10000];
	size_t i, len = sizeof(frame) - 4;
	int sv[2];

	frame[0] = 0;
	frame[1] = 0;
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	for (i = 4; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	buf_init(&b, SIGNER_WIRE_FRAME_MAX);
	/* Whole, and over SIGNER_WIRE_READ_AHEAD. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	put_all(sv[0], frame, sizeof(frame));
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_OK);
	CHECK(b.len == len && memcmp(b.data, frame + 4, len) == 0);
	/* A short one, then one more right behind it: refused. */
	put_all(sv[0], (const uint8_t[]){0, 0, 0, 2, 'a', 'b'}, 6);
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_OK);
	CHECK(b.len == 2 && memcmp(b.data, "ab", 2) == 0);
	put_all(sv[0], (const uint8_t[]){0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b'}, 10);
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_MALFORMED);
	CHECK_DETAIL("bytes after a 1-byte frame");
	close(sv[0]);
	close(sv[1]);
	/* In pieces: 1 + 3 header bytes, the body in three. */
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	put_all(sv[0], frame, 1);
	put_all(sv[0], frame + 1, 3);
	put_all(sv[0], frame + 4, 100);
	put_all(sv[0], frame + 104, 5000);
	put_all(sv[0], frame + 5104, len - 5100);
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_OK);
	CHECK(b.len == len && memcmp(b.data, frame + 4, len) == 0);
	/* The header only, then the end. */
	put_all(sv[0], frame, 4);
	close(sv[0]);
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_UNAVAILABLE);
	CHECK_DETAIL("closed");
	close(sv[1]);
	/* Nothing at all, then the end. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[0]);
	CHECK_ST(signer_wire_frame_read(sv[1], &b), ST_UNAVAILABLE);
	CHECK_DETAIL("closed");
	close(sv[1]);
	buf_free(&b);
}

/*
 * The worker's side: many threads signing at once through one remote
 * signer (its pool of connections) to the signer's server on a real
 * socket; every signature verifies. Then the server stops: calls answer
 * ST_UNAVAILABLE naming the signer, and a new server is found again.
 */
#define REMOTE_THREADS 8
#define REMOTE_SIGNS 40

struct serve_arg {
	int listen_fd;
	int stop_fd;
};

static void *
serve_run(void *arg)
{
	struct serve_arg *sa = arg;

	if (signer_serve(holder, sa->listen_fd, sa->stop_fd) != ST_OK)
		fprintf(stderr, "signer_serve failed\n");
	return NULL;
}

static struct signer_key *remote_key;
static int remote_good;
static pthread_mutex_t remote_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
sign_run(void *arg)
{
	char msg[64];
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int i, good = 0;
	char *in;

	(void)arg;
	for (i = 0; i < REMOTE_SIGNS; i++) {
		snprintf(
		    msg, sizeof(msg), "{\"sub\":\"d-%p-%d\"}", (void *)&i, i);
		in = jws_input("{\"alg\":\"ES256\",\"kid\":\"k\"}", msg);
		if (in != NULL &&
		    signer_sign(remote_key, SIGNER_PURPOSE_TOKEN, NID_sha256,
		        (const uint8_t *)in, strlen(in), &sig,
		        &sig_len) == ST_OK &&
		    verifies(SIGNER_ROLE_TOKEN, NID_sha256, (const uint8_t *)in,
		        strlen(in), sig, sig_len))
			good++;
		OPENSSL_free(sig);
		sig = NULL;
		free(in);
	}
	pthread_mutex_lock(&remote_lock);
	remote_good += good;
	pthread_mutex_unlock(&remote_lock);
	return NULL;
}

/*
 * Signatures started and finished later (signer_sign_start): several in
 * flight from one thread at once, finished in the other order, each
 * verifies; a refusal comes at its finish with its own reason, though
 * other calls set the thread's detail line meanwhile. tok and audit are
 * the token and audit keys of one signer (the holder itself, which signs
 * at start, or the remote one, which sends at start).
 */
#define STARTED 4

static void
test_started(const struct signer_key *tok, const struct signer_key *audit)
{
	struct signer_pending *p[STARTED], *refused = NULL;
	char *in[STARTED], msg[64];
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int i;

	for (i = 0; i < STARTED; i++) {
		snprintf(msg, sizeof(msg), "{\"sub\":\"started-%d\"}", i);
		in[i] = jws_input("{\"alg\":\"ES256\",\"kid\":\"k\"}", msg);
		p[i] = NULL;
		CHECK(in[i] != NULL);
		if (in[i] != NULL)
			CHECK_ST(signer_sign_start(tok, SIGNER_PURPOSE_TOKEN,
			             NID_sha256, (const uint8_t *)in[i],
			             strlen(in[i]), &p[i]),
			    ST_OK);
	}
	if (in[0] == NULL)
		goto out;
	/* The audit key may not sign a token: said at finish. */
	log_capture();
	CHECK_ST(signer_sign_start(audit, SIGNER_PURPOSE_TOKEN, NID_sha256,
	             (const uint8_t *)in[0], strlen(in[0]), &refused),
	    ST_OK);
	for (i = STARTED - 1; i >= 0; i--) {
		if (p[i] == NULL)
			continue;
		CHECK_ST(signer_sign_finish(p[i], &sig, &sig_len), ST_OK);
		CHECK(sig != NULL &&
		    verifies(SIGNER_ROLE_TOKEN, NID_sha256,
		        (const uint8_t *)in[i], strlen(in[i]), sig, sig_len));
		OPENSSL_free(sig);
		sig = NULL;
	}
	status_fail(ST_INTERNAL, "another call's detail");
	if (refused != NULL) {
		CHECK_ST(
		    signer_sign_finish(refused, &sig, &sig_len), ST_DENIED);
		CHECK_DETAIL("is a audit key");
		CHECK(sig == NULL);
	}
	CHECK(log_release_has("purpose token, key t-audit-signing"));
	/* Arguments are checked before anything is sent. */
	CHECK_ST(signer_sign_start(tok, SIGNER_PURPOSE_TOKEN, NID_sha1,
	             (const uint8_t *)in[0], strlen(in[0]), &refused),
	    ST_MALFORMED);
	CHECK(refused == NULL);
out:
	for (i = 0; i < STARTED; i++)
		free(in[i]);
}

/* The same with the holder in this process. */
static void
test_started_local(void)
{
	struct signer_key *tok = NULL, *audit = NULL;

	CHECK_ST(
	    signer_key_find(holder, labels[SIGNER_ROLE_TOKEN], &tok), ST_OK);
	CHECK_ST(
	    signer_key_find(holder, labels[SIGNER_ROLE_AUDIT], &audit), ST_OK);
	if (tok != NULL && audit != NULL)
		test_started(tok, audit);
	signer_key_free(tok);
	signer_key_free(audit);
}

static void
test_remote(const char *dir)
{
	struct serve_arg sa;
	struct signer *remote = NULL;
	struct signer_key *remote_audit = NULL;
	pthread_t server, threads[REMOTE_THREADS];
	char path[4096];
	uint64_t one = 1;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int i;

	snprintf(path, sizeof(path), "%s/signer.sock", dir);
	CHECK_ST(signer_remote_open(path, &remote), ST_OK);
	/* Not running yet: refused at once, naming the signer. */
	CHECK_ST(signer_ping(remote), ST_UNAVAILABLE);
	CHECK_DETAIL("the signer is unavailable");
	CHECK_ST(signer_listen(path, &sa.listen_fd), ST_OK);
	sa.stop_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(pthread_create(&server, NULL, serve_run, &sa) == 0);
	CHECK_ST(signer_ping(remote), ST_OK);
	CHECK_ST(
	    signer_key_find(remote, labels[SIGNER_ROLE_TOKEN], &remote_key),
	    ST_OK);
	if (remote_key != NULL) {
		CHECK(signer_key_role(remote_key) == SIGNER_ROLE_TOKEN);
		CHECK(EVP_PKEY_eq(signer_key_get0_public(remote_key),
		          pub[SIGNER_ROLE_TOKEN]) == 1);
		for (i = 0; i < REMOTE_THREADS; i++)
			CHECK(pthread_create(
			          &threads[i], NULL, sign_run, NULL) == 0);
		for (i = 0; i < REMOTE_THREADS; i++)
			pthread_join(threads[i], NULL);
		CHECK(remote_good == REMOTE_THREADS * REMOTE_SIGNS);
		CHECK_ST(signer_key_find(
		             remote, labels[SIGNER_ROLE_AUDIT], &remote_audit),
		    ST_OK);
		if (remote_audit != NULL)
			test_started(remote_key, remote_audit);
		/* Refused over the socket as in the holder: the audit key. */
		CHECK_ST(
		    signer_sign(remote_key, SIGNER_PURPOSE_AUDIT, NID_sha256,
		        (const uint8_t *)"x", 1, &sig, &sig_len),
		    ST_DENIED);
		CHECK_DETAIL("the signer refused");
	}
	/* The signer stops: the pooled connections find it gone. */
	CHECK(write(sa.stop_fd, &one, sizeof(one)) == sizeof(one));
	pthread_join(server, NULL);
	unlink(path);
	CHECK_ST(signer_ping(remote), ST_UNAVAILABLE);
	CHECK_DETAIL("the signer is unavailable");
	/* ... and back: the next call connects to the new one. */
	CHECK_ST(signer_listen(path, &sa.listen_fd), ST_OK);
	close(sa.stop_fd);
	sa.stop_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(pthread_create(&server, NULL, serve_run, &sa) == 0);
	CHECK_ST(signer_ping(remote), ST_OK);
	CHECK(write(sa.stop_fd, &one, sizeof(one)) == sizeof(one));
	pthread_join(server, NULL);
	close(sa.stop_fd);
	signer_key_free(remote_audit);
	signer_key_free(remote_key);
	signer_close(remote);
}

/* Connects to its path again and again until told to stop; counts those
 * that found no one listening. */
struct knocker {
	const char *path;
	int stop; /* atomic */
	int tries; /* atomic */
	int refused;
};

static void *
knock_run(void *arg)
{
	struct knocker *k = arg;
	struct sockaddr_un sa;
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", k->path);
	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		if ((s = socket(AF_UNIX,
		         SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
			continue;
		__atomic_add_fetch(&k->tries, 1, __ATOMIC_RELEASE);
		/* EAGAIN: a listener's backlog is full (nobody accepts
		 * here), which is reaching it. */
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
		    (errno == ECONNREFUSED || errno == ENOENT))
			k->refused++;
		close(s);
	}
	return NULL;
}

/* Until k has tried more than seen times, at most ms milliseconds. */
static void
knock_wait(struct knocker *k, int seen, int ms)
{
	struct timespec pause = {0, 1000000};

	while (__atomic_load_n(&k->tries, __ATOMIC_ACQUIRE) <= seen && ms-- > 0)
		nanosleep(&pause, NULL);
}

/*
 * A signer started while another listens (a reload) takes the socket's
 * path over with nobody refused in between: a client connecting all the
 * while always reaches one of them.
 */
static void
test_listen_takeover(const char *dir)
{
	struct knocker k;
	pthread_t t;
	char path[4096];
	int fds[200], i, seen = 0, n = (int)(sizeof(fds) / sizeof(fds[0]));

	snprintf(path, sizeof(path), "%s/takeover.sock", dir);
	memset(&k, 0, sizeof(k));
	k.path = path;
	CHECK_ST(signer_listen(path, &fds[0]), ST_OK);
	CHECK(pthread_create(&t, NULL, knock_run, &k) == 0);
	/* On a busy machine the knocker may not run for a while: each
	 * takeover waits (up to 10 s for the first, 50 ms for the others)
	 * until it has tried again since the last one. */
	for (i = 1; i < n; i++) {
		knock_wait(&k, seen, i == 1 ? 10000 : 50);
		seen = __atomic_load_n(&k.tries, __ATOMIC_ACQUIRE);
		CHECK_ST(signer_listen(path, &fds[i]), ST_OK);
	}
	__atomic_store_n(&k.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK(k.tries > 0);
	if (k.refused != 0)
		fprintf(stderr,
		    "  %d of %d connects refused during %d "
		    "takeovers\n",
		    k.refused, k.tries, n - 1);
	CHECK(k.refused == 0);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	unlink(path);
}

int
main(void)
{
	struct signer_local_config sc;
	struct signer *setup = NULL;
	struct signer_key *keys[SIGNER_ROLE_MAX] = {NULL};
	struct ca_template t;
	X509_NAME *name = NULL;
	char serial[41], *dir = testutil_tmpdir();
	int r;

	CHECK(dir != NULL);
	if (dir == NULL)
		TEST_END();
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	CHECK(testutil_softhsm(dir, TOKEN, PIN) == 0);
	test_wire();
	test_wire_read();
	test_listen_takeover(dir);
	/* Set-up: every key, and the CA certificates, as tessera init. */
	memset(&sc, 0, sizeof(sc));
	sc.module = testutil_softhsm_module();
	sc.token = TOKEN;
	sc.pin = PIN;
	for (r = SIGNER_ROLE_ROOT; r < SIGNER_ROLE_MAX; r++)
		sc.key_uri[r] = key_uris[r];
	sc.is_setup = 1;
	sc.open_tries = 1;
	CHECK_ST(signer_local_open(&sc, &setup), ST_OK);
	if (setup == NULL)
		TEST_END();
	for (r = SIGNER_ROLE_ROOT; r < SIGNER_ROLE_MAX; r++) {
		CHECK_ST(signer_key_generate(setup, labels[r],
		             r == SIGNER_ROLE_ROOT ? SIGNER_KEY_EC_P256
		                                   : SIGNER_KEY_EC_P256,
		             &keys[r]),
		    ST_OK);
		if (keys[r] != NULL) {
			pub[r] = signer_key_get0_public(keys[r]);
			EVP_PKEY_up_ref(pub[r]);
		}
	}
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Test Root CA", -1, -1, 0);
	memset(&t, 0, sizeof(t));
	t.subject = name;
	t.pubkey = pub[SIGNER_ROLE_ROOT];
	t.not_before = (int64_t)time(NULL) - 60;
	t.not_after = t.not_before + 86400;
	t.is_ca = 1;
	t.pathlen = -1;
	t.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	t.md_nid = NID_sha256;
	CHECK_ST(
	    ca_cert_sign(&t, NULL, keys[SIGNER_ROLE_ROOT], &root_cert, serial),
	    ST_OK);
	X509_NAME_free(name);
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Test Issuing CA", -1, -1, 0);
	t.subject = name;
	t.pubkey = pub[SIGNER_ROLE_ISSUING];
	t.pathlen = 0;
	CHECK_ST(ca_cert_sign(&t, root_cert, keys[SIGNER_ROLE_ROOT],
	             &issuing_cert, serial),
	    ST_OK);
	X509_NAME_free(name);
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Test Old Issuing CA", -1, -1, 0);
	t.subject = name;
	t.pubkey = pub[SIGNER_ROLE_RETIRING];
	CHECK_ST(ca_cert_sign(&t, root_cert, keys[SIGNER_ROLE_ROOT],
	             &retiring_cert, serial),
	    ST_OK);
	X509_NAME_free(name);
	for (r = SIGNER_ROLE_ROOT; r < SIGNER_ROLE_MAX; r++)
		signer_key_free(keys[r]);
	signer_close(setup);
	if (root_cert == NULL || issuing_cert == NULL || retiring_cert == NULL)
		TEST_END();

	/* Serving: what a worker can reach. */
	sc.is_setup = 0;
	sc.root = root_cert;
	sc.issuing = issuing_cert;
	sc.retiring = retiring_cert;
	CHECK_ST(signer_local_open(&sc, &holder), ST_OK);
	if (holder != NULL) {
		test_certificates();
		test_cert_walk();
		test_ocsp();
		test_tokens();
		test_started_local();
		test_crls();
		test_retiring();
		test_generate();
		test_remote(dir);
		signer_close(holder);
	}
	for (r = 0; r < SIGNER_ROLE_MAX; r++)
		EVP_PKEY_free(pub[r]);
	X509_free(root_cert);
	X509_free(issuing_cert);
	X509_free(retiring_cert);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
