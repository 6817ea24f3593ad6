/*
 * issue: certificates through the per-profile DER template (ca/certder.h)
 * and one signature over its TBSCertificate, by the signer.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>

#include "ca/der.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "signer/signer.h"

/* RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes, top
 * bit cleared so the INTEGER needs no sign octet. */
#define SERIAL_LEN 16

static enum status
random_serial(uint8_t serial[SERIAL_LEN], char hex[41])
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		if (RAND_bytes(serial, SERIAL_LEN) != 1)
			return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
		serial[0] &= 0x7f;
		/* Short serials confuse some parsers; keep all 16 bytes. */
		if (serial[0] != 0)
			break;
	}
	if (serial[0] == 0)
		return status_fail(ST_INTERNAL, "no usable serial");
	for (i = 0; i < SERIAL_LEN; i++) {
		hex[2 * i] = digits[serial[i] >> 4];
		hex[2 * i + 1] = digits[serial[i] & 0xf];
	}
	hex[2 * SERIAL_LEN] = '\0';
	return ST_OK;
}

enum status
ca_cert_issue(const struct ca_certder *tmpl, const struct ca_template *t,
    const struct signer_key *key, uint8_t **der, size_t *der_len,
    char serial_hex[41])
{
	enum signer_purpose purpose = t->is_ca ? SIGNER_PURPOSE_CA_CERT
	    : t->is_service                    ? SIGNER_PURPOSE_SERVICE_CERT
	                                       : SIGNER_PURPOSE_DEVICE_CERT;
	struct ca_certder_san san[CA_CERTDER_SAN_MAX];
	struct ca_certder_req r;
	uint8_t serial[SERIAL_LEN], *tbs = NULL, *sig = NULL;
	unsigned char *subject = NULL;
	uint8_t *spki = NULL;
	size_t tbs_len = 0, sig_len = 0;
	int n;
	enum status st;

	*der = NULL;
	*der_len = 0;
	serial_hex[0] = '\0';
	memset(&r, 0, sizeof(r));
	if ((st = ca_certder_san_from(
	         t->san, san, CA_CERTDER_SAN_MAX, &r.san_count)) != ST_OK)
		return st;
	if ((n = i2d_X509_NAME(t->subject, &subject)) <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "subject name");
		goto out;
	}
	r.subject = subject;
	r.subject_len = (size_t)n;
	if (t->spki != NULL) {
		r.spki = t->spki;
		r.spki_len = t->spki_len;
	} else if (t->xpubkey != NULL) {
		if ((st = ca_certder_spki(t->xpubkey, &spki, &r.spki_len)) !=
		    ST_OK)
			goto out;
		r.spki = spki;
	} else if ((n = i2d_PUBKEY(t->pubkey, &spki)) > 0) {
		r.spki_len = (size_t)n;
		r.spki = spki;
	} else {
		st = status_fail_ssl(ST_MALFORMED, "subject public key");
		goto out;
	}
	if ((st = random_serial(serial, serial_hex)) != ST_OK)
		goto out;
	r.serial = serial;
	r.serial_len = sizeof(serial);
	r.not_before = t->not_before;
	r.not_after = t->not_after;
	r.san = san;
	r.san_critical = t->san_critical;
	r.crl_url = t->crl_url;
	if ((st = ca_certder_tbs(tmpl, &r, &tbs, &tbs_len)) != ST_OK ||
	    (st = signer_sign(key, purpose, ca_certder_md_nid(tmpl), tbs,
	         tbs_len, &sig, &sig_len)) != ST_OK ||
	    (st = ca_certder_assemble(
	         tmpl, tbs, tbs_len, sig, sig_len, der, der_len)) != ST_OK)
		goto out;
	st = ST_OK;
out:
	if (st != ST_OK)
		serial_hex[0] = '\0';
	free(tbs);
	OPENSSL_free(sig);
	OPENSSL_free(spki);
	OPENSSL_free(subject);
	return st;
}

void
ca_cert_profile_of(
    const struct ca_template *t, EVP_PKEY *key, struct ca_certder_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->is_ca = t->is_ca;
	p->pathlen = t->pathlen;
	p->key_usage = t->key_usage;
	p->eku_nids = t->eku_nids;
	p->eku_count = t->eku_count;
	p->ocsp_nocheck = t->ocsp_nocheck;
	p->ocsp_url = t->ocsp_url;
	p->ca_issuers_url = t->ca_issuers_url;
	p->profile = t->profile;
	p->sig_key_type = EVP_PKEY_get_base_id(key);
	/* Ed25519 hashes inside the signature: X509_sign takes no digest. */
	p->md_nid = p->sig_key_type == EVP_PKEY_ED25519 ? NID_undef : t->md_nid;
}

void
ca_cert_profile_from_policy(const struct policy_profile *pp,
    const char *ocsp_url, const char *ca_issuers_url, int sig_key_type,
    struct ca_certder_profile *out)
{
	memset(out, 0, sizeof(*out));
	out->pathlen = -1;
	out->key_usage = pp->key_usage;
	out->eku_nids = pp->eku_nids;
	out->eku_count = pp->eku_count;
	out->ocsp_url = ocsp_url;
	out->ca_issuers_url = ca_issuers_url;
	/* A leaf's role comes from this OID (ca/certpolicy.h). */
	out->profile = pp->name;
	out->sig_key_type = sig_key_type;
	out->md_nid =
	    sig_key_type == EVP_PKEY_ED25519 ? NID_undef : pp->sig_md_nid;
}

int
ca_key_md_nid(const EVP_PKEY *key)
{
	return key != NULL && EVP_PKEY_get_security_bits(key) >= 192
	    ? NID_sha384
	    : NID_sha256;
}

enum status
ca_cert_sign(const struct ca_template *t, X509 *issuer,
    const struct signer_key *issuer_key, X509 **out, char serial_hex[41])
{
	struct ca_certder_profile prof;
	struct ca_certder *tmpl = NULL;
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	X509 *cert = NULL;
	enum status st;

	*out = NULL;
	serial_hex[0] = '\0';
	ca_cert_profile_of(t, signer_key_get0_public(issuer_key), &prof);
	if ((st = ca_certder_new(&prof, issuer, &tmpl)) != ST_OK ||
	    (st = ca_cert_issue(
	         tmpl, t, issuer_key, &der, &der_len, serial_hex)) != ST_OK)
		goto out;
	p = der;
	if ((cert = d2i_X509(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len) {
		st = status_fail_ssl(ST_INTERNAL, "issued certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
	st = ST_OK;
out:
	if (st != ST_OK)
		serial_hex[0] = '\0';
	X509_free(cert);
	OPENSSL_free(der);
	ca_certder_free(tmpl);
	return st;
}

enum status
ca_cert_serial_hex(const X509 *cert, char serial_hex[41])
{
	BIGNUM *bn;
	char *hex;
	size_t n;

	serial_hex[0] = '\0';
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn == NULL)
		return status_fail_ssl(ST_MALFORMED, "serial number");
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL)
		return ST_NOMEM;
	n = strlen(hex);
	if (n > 40 || hex[0] == '-') {
		OPENSSL_free(hex);
		return status_fail(ST_MALFORMED,
		    "serial number over 20 octets "
		    "or negative");
	}
	memcpy(serial_hex, hex, n + 1);
	OPENSSL_free(hex);
	return ST_OK;
}

char *
ca_name_string(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	long len;

	if (bio == NULL)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len >= 0 && (s = malloc((size_t)len + 1)) != NULL) {
			memcpy(s, data, (size_t)len);
			s[len] = '\0';
		}
	}
	BIO_free(bio);
	return s;
}

int64_t
ca_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

enum status
ca_cert_pem(const X509 *cert, char **pem, size_t *pem_len)
{
	/* PEM_write_bio_X509 takes no const; it does not change cert. */
	X509 *c = (X509 *)cert;

	return ca_pem_encode(&c, 1, NULL, pem, pem_len);
}
