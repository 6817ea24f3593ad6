/*
 * libFuzzer target: what tessera ca import reads from an offline root.
 * The first byte picks the object (even: a certificate, odd: a CRL); the
 * rest is parsed as PEM or DER and checked as the issuing CA certificate
 * (and as a root) or as the root's CRL, against a fixed root and a fixed
 * issuing key made at start.
 *
 * Mutated bytes never carry a signature that verifies, so every input that
 * parses is also re-signed by the fixed root (its issuer set to the
 * root's name, a certificate's key set to the issuing key) and checked
 * again, which reaches the profile, validity, chain and crlNumber checks.
 * What is accepted must hold what the checks promise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ca/ceremony.h"

static EVP_PKEY *root_key, *issuing_key;
static X509 *root;
static int64_t now;

static void
setup(void)
{
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	issuing_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	root = X509_new();
	if (root_key == NULL || issuing_key == NULL || root == NULL)
		abort();
	now = (int64_t)time(NULL);
	name = X509_get_subject_name(root);
	X509_set_version(root, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(root), 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Root", -1, -1, 0);
	X509_set_issuer_name(root, name);
	X509_gmtime_adj(X509_getm_notBefore(root), -3600);
	X509_gmtime_adj(X509_getm_notAfter(root), 86400L * 3650);
	X509_set_pubkey(root, root_key);
	X509V3_set_ctx(&ctx, root, root, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(
	    NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(root, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(
	    NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	X509_add_ext(root, ext, -1);
	X509_EXTENSION_free(ext);
	if (X509_sign(root, root_key, EVP_sha256()) <= 0 ||
	    ca_ceremony_root_check(root, now) != ST_OK)
		abort();
}

static void
cert_case(const uint8_t *data, size_t len)
{
	X509 *cert = NULL;
	enum status st;

	if (ca_ceremony_cert_parse(data, len, "fuzz", &cert) != ST_OK)
		return;
	(void)ca_ceremony_root_check(cert, now);
	(void)ca_ceremony_issuing_check(cert, root, issuing_key, now);
	X509_set_issuer_name(cert, X509_get_subject_name(root));
	X509_set_pubkey(cert, issuing_key);
	if (X509_sign(cert, root_key, EVP_sha256()) > 0) {
		st = ca_ceremony_issuing_check(cert, root, issuing_key, now);
		/* Accepted: a CA with pathlen 0, keyCertSign and cRLSign,
		 * valid now, signed by the root. */
		if (st == ST_OK &&
		    (X509_check_ca(cert) == 0 || X509_get_pathlen(cert) != 0 ||
		        (X509_get_key_usage(cert) &
		            (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !=
		            (KU_KEY_CERT_SIGN | KU_CRL_SIGN) ||
		        X509_verify(cert, root_key) != 1 ||
		        X509_cmp_time(X509_get0_notAfter(cert), NULL) <= 0))
			abort();
	}
	X509_free(cert);
}

static void
crl_case(const uint8_t *data, size_t len)
{
	X509_CRL *crl = NULL;
	int64_t number = -1;
	enum status st;

	if (ca_ceremony_crl_parse(data, len, "fuzz", &crl) != ST_OK)
		return;
	(void)ca_ceremony_crl_check(crl, root, now, &number);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(root));
	if (X509_CRL_sign(crl, root_key, EVP_sha256()) > 0) {
		st = ca_ceremony_crl_check(crl, root, now, &number);
		/* Accepted: signed by the root, a number, not expired. */
		if (st == ST_OK &&
		    (number < 0 || X509_CRL_verify(crl, root_key) != 1 ||
		        X509_CRL_get0_nextUpdate(crl) == NULL ||
		        X509_cmp_time(X509_CRL_get0_nextUpdate(crl), NULL) <=
		            0))
			abort();
	}
	X509_CRL_free(crl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (root == NULL)
		setup();
	if (len < 2)
		return 0;
	if (data[0] & 1)
		crl_case(data + 1, len - 1);
	else
		cert_case(data + 1, len - 1);
	ERR_clear_error();
	return 0;
}
