/*
 * libFuzzer target: bytes as a DER OCSPRequest through ca_ocsp_respond,
 * ca_ocsp_respond_start and ca_ocsp_request_peek, with a fixed software
 * CA and delegated responder (embedded below, so the seeds in
 * corpus/fuzz_ocsp name our issuer) and a lookup that answers by the
 * serial's last hex digit.
 *
 * The seeds were made with openssl ocsp -reqout -issuer ca.pem -serial ...
 * against this CA; "other-issuer" names the responder as issuer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ca/ocsp.h"
#include "signer/soft.h"

/* A fixed "now" (2026-01-01) inside the embedded certificates' validity. */
#define FUZZ_NOW INT64_C(1767225600)

static const char ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnTCCAUSgAwIBAgIUOfOTBFbJ/8M7p4FJyk5PY/GOtmswCgYIKoZIzj0EAwIw\n"
    "GjEYMBYGA1UEAwwPdGVzc2VyYSBmdXp6IENBMCAXDTI2MTEyNDIwNDkxM1oYDzIx\n"
    "MjYxMDMxMjA0OTEzWjAaMRgwFgYDVQQDDA90ZXNzZXJhIGZ1enogQ0EwWTATBgcq\n"
    "hkjOPQIBBggqhkjOPQMBBwNCAATSAXTWG2mA33ddNok1Sq62x2aZcwkPKu/bc4Uw\n"
    "E9nxGwAb0QaCHeBRAWkTThjVjHlkIlcKLkgg/1QxPanF6Qg5o2YwZDAdBgNVHQ4E\n"
    "FgQUJiM2FDRZE9i1ooVTQIwCrjYCwBwwHwYDVR0jBBgwFoAUJiM2FDRZE9i1ooVT\n"
    "QIwCrjYCwBwwEgYDVR0TAQH/BAgwBgEB/wIBADAOBgNVHQ8BAf8EBAMCAQYwCgYI\n"
    "KoZIzj0EAwIDRwAwRAIgQbyl14eWTYghVAnk2RgfhauNCiTrTXt5jpPapgvWueMC\n"
    "IHZgVOnRWIAptKlQzQQ6x/WbbCmgnn/8qgXh2HnbAafL\n"
    "-----END CERTIFICATE-----\n";

static const char responder_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBoDCCAUagAwIBAgICEAEwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwPdGVzc2Vy\n"
    "YSBmdXp6IENBMCAXDTI2MTEyNDIwNDkxM1oYDzIxMjYxMDMxMjA0OTEzWjAcMRow\n"
    "GAYDVQQDDBF0ZXNzZXJhIGZ1enogT0NTUDBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABPyLZRbNC6xDBmOyTzw07QxvBIv5vI3SjYA2UeQp7oPOv2RcoXZnvPCohssi\n"
    "HctRWbxNN86+lD1VH091Gftpt2ijeDB2MA4GA1UdDwEB/wQEAwIHgDATBgNVHSUE\n"
    "DDAKBggrBgEFBQcDCTAPBgkrBgEFBQcwAQUEAgUAMB0GA1UdDgQWBBR/PKOEw3by\n"
    "kVn1zkXPgXfLD57ODDAfBgNVHSMEGDAWgBQmIzYUNFkT2LWihVNAjAKuNgLAHDAK\n"
    "BggqhkjOPQQDAgNIADBFAiB3VgYsO077dqN1DMfPUHvglrl9ap9CUKasmIE0EqEj\n"
    "DAIhAKXZbXMLJt6OrIo5wh/7Yt18ysJCxAipyUzAN3Na3Eko\n"
    "-----END CERTIFICATE-----\n";

/* Test-only key of the fuzz responder above; it signs nothing real. */
static const char responder_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmVjnGDbgj2OgrWVP\n"
    "L4kUKWiFte7NjDfM+W3Ih1rSMpihRANCAAT8i2UWzQusQwZjsk88NO0MbwSL+byN\n"
    "0o2ANlHkKe6Dzr9kXKF2Z7zwqIbLIh3LUVm8TTfOvpQ9VR9PdRn7abdo\n"
    "-----END PRIVATE KEY-----\n";

static struct ca_ocsp *ocsp;

/* good, revoked, unknown, never issued or a failing store, by last digit. */
static enum status
lookup(void *arg, const char *serial_hex, struct ca_ocsp_status *st)
{
	size_t n = strlen(serial_hex);
	char c;
	int d;

	(void)arg;
	if (n == 0 || n > 40)
		abort();
	c = serial_hex[n - 1];
	d = c >= 'A' ? c - 'A' + 10 : c - '0';
	if (d < 0 || d > 15 || (c >= 'a' && c <= 'f'))
		abort();
	switch (d % 5) {
	case 0:
		return ST_NOTFOUND;
	case 1:
		st->status = CA_OCSP_GOOD;
		return ST_OK;
	case 2:
		st->status = CA_OCSP_REVOKED;
		st->revoked_at = FUZZ_NOW - 86400;
		st->reason = d == 7 ? -1 : d % 11;
		return ST_OK;
	case 3:
		st->status = CA_OCSP_UNKNOWN;
		return ST_OK;
	default:
		return d == 4 ? ST_STORE : ST_NOTFOUND;
	}
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static void
setup(void)
{
	struct ca_ocsp_config cfg;
	struct signer *holder = NULL;
	struct signer_key *key = NULL;
	BIO *b = BIO_new_mem_buf(responder_key_pem, -1);
	EVP_PKEY *priv =
	    b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	cfg.issuer = pem_cert(ca_pem);
	cfg.responder = pem_cert(responder_pem);
	cfg.validity_seconds = 3600;
	/* The responder key is held by a software signer, as the key holder
	 * holds it in tessera serve; both live as long as the process. */
	if (priv == NULL || cfg.issuer == NULL || cfg.responder == NULL ||
	    signer_soft_open(NULL, NULL, 0, &holder) != ST_OK ||
	    signer_soft_key_add(
	        holder, "fuzz-ocsp", SIGNER_ROLE_OCSP, priv, &key) != ST_OK)
		abort();
	cfg.responder_key = key;
	if (ca_ocsp_new(&cfg, &ocsp) != ST_OK)
		abort();
	/* ocsp holds its own references to the certificates. */
	X509_free(cfg.issuer);
	X509_free(cfg.responder);
	EVP_PKEY_free(priv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_ocsp_peek pk;
	struct ca_ocsp_pending *pend = NULL;
	OCSP_RESPONSE *r;
	const unsigned char *p;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	int64_t this_update, next_update;
	int cacheable, rstatus;
	enum status pst, st, sst;

	if (ocsp == NULL)
		setup();
	pst = ca_ocsp_request_peek(ocsp, data, size, &pk);
	if (pst == ST_OK &&
	    (strlen(pk.serial_hex) == 0 || strlen(pk.serial_hex) > 40 ||
	        (pk.is_presigned_match &&
	            (pk.has_nonce || pk.hash_nid != NID_sha1))))
		abort();
	if (pst != ST_OK && (pk.serial_hex[0] != '\0' || pk.is_presigned_match))
		abort();
	st = ca_ocsp_respond(ocsp, data, size, lookup, NULL, FUZZ_NOW, &resp,
	    &resp_len, &cacheable, &this_update, &next_update);
	if (st != ST_OK)
		abort();
	/* Whatever came in, one DER OCSPResponse goes out. */
	p = resp;
	r = d2i_OCSP_RESPONSE(NULL, &p, (long)resp_len);
	if (r == NULL || p != resp + resp_len)
		abort();
	rstatus = OCSP_response_status(r);
	if (rstatus == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		if (this_update != FUZZ_NOW || next_update != FUZZ_NOW + 3600)
			abort();
	} else if (cacheable || this_update != 0 || next_update != 0 ||
	    resp_len != 5) {
		abort();
	}
	/* A request peek accepts is one respond answers (or, for a
	 * failing store, asks to retry). */
	if (pst == ST_OK && rstatus != OCSP_RESPONSE_STATUS_SUCCESSFUL &&
	    rstatus != OCSP_RESPONSE_STATUS_TRYLATER)
		abort();
	if (pst == ST_OK && rstatus == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
	    cacheable != !pk.has_nonce)
		abort();
	/*
	 * The publication pool's split start parses and looks up as respond
	 * does; the software signer signs in this process, so it never
	 * starts: it gets as far as the signer for a successful answer with
	 * a nonce, and stops at the parse for a malformed request.
	 */
	sst = ca_ocsp_respond_start(
	    ocsp, data, size, lookup, NULL, FUZZ_NOW, &pend);
	if (sst == ST_OK || pend != NULL)
		abort();
	if (rstatus == OCSP_RESPONSE_STATUS_SUCCESSFUL && !cacheable &&
	    sst != ST_UNAVAILABLE)
		abort();
	if (rstatus == OCSP_RESPONSE_STATUS_MALFORMEDREQUEST &&
	    sst != ST_MALFORMED && sst != ST_LIMIT)
		abort();
	/* And malformed for everything peek finds malformed. */
	if ((pst == ST_MALFORMED) !=
	        (rstatus == OCSP_RESPONSE_STATUS_MALFORMEDREQUEST) &&
	    pst != ST_LIMIT)
		abort();
	OCSP_RESPONSE_free(r);
	OPENSSL_free(resp);
	ERR_clear_error();
	return 0;
}
