/*
 * bench_certder [-n N]: CPU per certificate issuance (default N = 2000),
 * for a device profile of policies/default.json (CN, a URI SAN, AIA, CRL
 * DP, policy OID) with a P-256 key, under a software P-256 issuing CA, in
 * one run so that the ratios hold on a loaded machine:
 *   x509       OpenSSL's X509 API as issue.c used it (X509_new, X509_set_*,
 *              X509V3 extensions, X509_sign): testutil_cert_x509
 *   template   ca_cert_issue: the profile's template built once, filled
 *              from the key as a CSR carries it (X509_PUBKEY) and its TBS
 *              signed (what enrollment does)
 *   per-call   ca_cert_sign: a template built for each certificate (what
 *              service certificates do)
 *   sign only  signer_sign over one TBS (a software signer): the
 *              signature's share
 *   raw sign   EVP_DigestSign over the same TBS: what X509_sign spends
 *              on the signature itself
 *   fill only  ca_certder_tbs: the TBS alone
 *   encode     what ca_cert_issue does but sign: serial, subject and SAN
 *              taken from the OpenSSL objects, the SPKI, the TBS, the
 *              Certificate around a 72-byte signature
 * Prints microseconds of process CPU per certificate for each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/certder.h"
#include "ca/der.h"
#include "signer/signer.h"
#include "ca/issue.h"
#include "tests/unit/testutil.h"

#define CRL_URL "http://127.0.0.1:8080/crl/issuing-2.crl"
#define OCSP_URL "http://127.0.0.1:8080/ocsp"
#define ISSUERS_URL "http://127.0.0.1:8080/ca/issuing.crt"

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	static const int eku[] = {NID_client_auth};
	static const uint8_t one[] = {1};
	struct ca_certder_profile prof;
	struct ca_certder *tmpl = NULL;
	struct ca_certder_san san_v[1];
	struct ca_certder_req r;
	struct ca_template t, ct;
	EVP_PKEY *ca_key = testutil_key("ec:P-256");
	EVP_PKEY *key = testutil_key("ec:P-256");
	X509_NAME *name = X509_NAME_new(), *ca_name = X509_NAME_new();
	GENERAL_NAMES *san = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
	unsigned char *subject = NULL, *spki = NULL;
	uint8_t serial[16], *der, *tbs = NULL, *sig;
	size_t der_len, tbs_len = 0, sig_len;
	char hex[41];
	X509 *ca, *cert;
	X509_PUBKEY *xpk = NULL;
	const struct signer_key *skey = NULL;
	double t0, x509_us, tmpl_us, call_us, sign_us, raw_us, fill_us, enc_us;
	long n = 2000, i;
	int c, len;

	while ((c = getopt(argc, argv, "n:")) != -1)
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
	if (n < 1 || ca_key == NULL || key == NULL || name == NULL ||
	    ca_name == NULL || san == NULL || gn == NULL || uri == NULL) {
		fprintf(stderr, "usage: bench_certder [-n N]\n");
		return 2;
	}
	X509_NAME_add_entry_by_txt(ca_name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"bench issuing CA", -1, -1, 0);
	memset(&ct, 0, sizeof(ct));
	ct.subject = ca_name;
	ct.pubkey = ca_key;
	ct.not_before = 1767225600;
	ct.not_after = 1767225600 + 3650LL * 86400;
	ct.is_ca = 1;
	ct.pathlen = 0;
	ct.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	ct.md_nid = NID_sha256;
	if ((ca = testutil_cert_x509(&ct, one, 1, NULL, ca_key)) == NULL ||
	    (skey = testutil_signer_key(ca_key, SIGNER_ROLE_ISSUING)) == NULL)
		return 1;
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"dev-000042", -1, -1, 0);
	ASN1_STRING_set(uri, "urn:dev:dev-000042", -1);
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	sk_GENERAL_NAME_push(san, gn);
	memset(&t, 0, sizeof(t));
	t.subject = name;
	t.pubkey = key;
	t.san = san;
	t.not_before = (int64_t)time(NULL) - 300;
	t.not_after = t.not_before + 30 * 86400;
	t.pathlen = -1;
	t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	t.eku_nids = eku;
	t.eku_count = 1;
	t.crl_url = CRL_URL;
	t.ocsp_url = OCSP_URL;
	t.ca_issuers_url = ISSUERS_URL;
	t.md_nid = NID_sha256;
	t.profile = "device";
	/* The key as a CSR carries it, as enrollment hands it over. */
	if (X509_PUBKEY_set(&xpk, key) != 1)
		return 1;
	t.xpubkey = xpk;
	ca_cert_profile_of(&t, ca_key, &prof);
	if (ca_certder_new(&prof, ca, &tmpl) != ST_OK)
		return 1;
	memset(serial, 0x42, sizeof(serial));

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		cert =
		    testutil_cert_x509(&t, serial, sizeof(serial), ca, ca_key);
		der = NULL;
		if (cert == NULL || (len = i2d_X509(cert, &der)) <= 0)
			return 1;
		OPENSSL_free(der);
		X509_free(cert);
	}
	x509_us = (cpu_us() - t0) / (double)n;

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		if (ca_cert_issue(tmpl, &t, skey, &der, &der_len, hex) != ST_OK)
			return 1;
		OPENSSL_free(der);
	}
	tmpl_us = (cpu_us() - t0) / (double)n;

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		if (ca_cert_sign(&t, ca, skey, &cert, hex) != ST_OK)
			return 1;
		X509_free(cert);
	}
	call_us = (cpu_us() - t0) / (double)n;

	memset(&r, 0, sizeof(r));
	r.serial = serial;
	r.serial_len = sizeof(serial);
	r.not_before = t.not_before;
	r.not_after = t.not_after;
	r.subject_len = (size_t)i2d_X509_NAME(name, &subject);
	r.subject = subject;
	r.spki_len = (size_t)i2d_PUBKEY(key, &spki);
	r.spki = spki;
	san_v[0].type = CA_CERTDER_SAN_URI;
	san_v[0].value = ASN1_STRING_get0_data(uri);
	san_v[0].len = (size_t)ASN1_STRING_length(uri);
	r.san = san_v;
	r.san_count = 1;
	r.crl_url = CRL_URL;
	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		free(tbs);
		if (ca_certder_tbs(tmpl, &r, &tbs, &tbs_len) != ST_OK)
			return 1;
	}
	fill_us = (cpu_us() - t0) / (double)n;

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		if (signer_sign(skey, SIGNER_PURPOSE_DEVICE_CERT, NID_sha256,
		        tbs, tbs_len, &sig, &sig_len) != ST_OK)
			return 1;
		OPENSSL_free(sig);
	}
	sign_us = (cpu_us() - t0) / (double)n;

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		static const uint8_t fake_sig[72];
		struct ca_certder_san sv[CA_CERTDER_SAN_MAX];
		struct ca_certder_req q = r;
		unsigned char *nm = NULL;
		uint8_t *pk = NULL, *tb = NULL, *out = NULL;
		size_t tb_len = 0, out_len = 0;

		if (RAND_bytes(serial, sizeof(serial)) != 1 ||
		    ca_certder_san_from(
		        san, sv, CA_CERTDER_SAN_MAX, &q.san_count) != ST_OK ||
		    (len = i2d_X509_NAME(name, &nm)) <= 0 ||
		    ca_certder_spki(xpk, &pk, &q.spki_len) != ST_OK)
			return 1;
		serial[0] &= 0x7f;
		serial[0] |= 1;
		q.san = sv;
		q.subject = nm;
		q.subject_len = (size_t)len;
		q.spki = pk;
		if (ca_certder_tbs(tmpl, &q, &tb, &tb_len) != ST_OK ||
		    ca_certder_assemble(tmpl, tb, tb_len, fake_sig,
		        sizeof(fake_sig), &out, &out_len) != ST_OK)
			return 1;
		OPENSSL_free(out);
		free(tb);
		OPENSSL_free(pk);
		OPENSSL_free(nm);
	}
	enc_us = (cpu_us() - t0) / (double)n;

	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		uint8_t raw[160];
		size_t raw_len = sizeof(raw);

		if (ctx == NULL ||
		    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ca_key) !=
		        1 ||
		    EVP_DigestSign(ctx, raw, &raw_len, tbs, tbs_len) != 1)
			return 1;
		EVP_MD_CTX_free(ctx);
	}
	raw_us = (cpu_us() - t0) / (double)n;

	printf("certificates: %ld each, P-256 key under a software P-256 CA "
	       "(TBS %zu bytes)\n",
	    n, tbs_len);
	printf("%-34s %8.1f us\n", "x509 (X509 API + X509_sign)", x509_us);
	printf("%-34s %8.1f us  (%.2fx of x509)\n", "template (ca_cert_issue)",
	    tmpl_us, tmpl_us / x509_us);
	printf("%-34s %8.1f us  (%.2fx of x509)\n",
	    "per-call template (ca_cert_sign)", call_us, call_us / x509_us);
	printf("%-34s %8.1f us\n", "sign only (signer_sign)", sign_us);
	printf("%-34s %8.1f us\n", "raw sign (EVP_DigestSign)", raw_us);
	printf("%-34s %8.1f us\n", "fill only (ca_certder_tbs)", fill_us);
	printf("%-34s %8.1f us vs %.1f us (x509 less raw sign): %.1fx less\n",
	    "encode (ca_cert_issue but sign)", enc_us, x509_us - raw_us,
	    (x509_us - raw_us) / enc_us);
	free(tbs);
	OPENSSL_free(spki);
	OPENSSL_free(subject);
	ca_certder_free(tmpl);
	GENERAL_NAMES_free(san);
	X509_NAME_free(name);
	X509_NAME_free(ca_name);
	X509_free(ca);
	X509_PUBKEY_free(xpk);
	testutil_signer_free();
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return 0;
}
