#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>

#include "ca/certpolicy.h"
#include "ca/issue.h"
#include "ca/service.h"

/* RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes, top
 * bit cleared so the INTEGER needs no sign octet. */
#define SERIAL_LEN 16

static enum status
random_serial(X509 *cert)
{
	unsigned char raw[SERIAL_LEN];
	BIGNUM *bn = NULL;
	enum status st = ST_INTERNAL;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return status_fail_ssl(ST_INTERNAL, "RAND_bytes");
		raw[0] &= 0x7f;
		if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL)
			return ST_NOMEM;
		/* Short serials confuse some parsers; keep all 16 bytes. */
		if (BN_num_bytes(bn) == SERIAL_LEN)
			break;
		BN_free(bn);
		bn = NULL;
	}
	if (bn == NULL)
		return status_fail(ST_INTERNAL, "no usable serial");
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		st = status_fail_ssl(ST_INTERNAL, "set serial");
	else
		st = ST_OK;
	BN_free(bn);
	return st;
}

static enum status
add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return status_fail_ssl(
		    ST_INTERNAL, "extension %s = %s", OBJ_nid2sn(nid), value);
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? ST_OK : status_fail_ssl(ST_NOMEM, "add extension");
}

static enum status
add_key_usage(X509 *cert, unsigned bits)
{
	ASN1_BIT_STRING *ku = NULL;
	enum status st = ST_NOMEM;
	int i;

	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		goto out;
	/* X509v3_KU_* bit b is DER bit (7 - b % 8) of octet b / 8. */
	for (i = 0; i < 9; i++) {
		unsigned flag = i < 8 ? 0x80u >> i : 0x8000u;
		if ((bits & flag) && !ASN1_BIT_STRING_set_bit(ku, i, 1))
			goto out;
	}
	if (X509_add1_ext_i2d(cert, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) !=
	    1) {
		st = status_fail_ssl(ST_INTERNAL, "keyUsage");
		goto out;
	}
	st = ST_OK;
out:
	ASN1_BIT_STRING_free(ku);
	return st;
}

static enum status
add_eku(X509 *cert, const int *nids, size_t count)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *obj;
	enum status st = ST_NOMEM;
	size_t i;

	if (count == 0)
		return ST_OK;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		goto out;
	for (i = 0; i < count; i++) {
		if ((obj = OBJ_nid2obj(nids[i])) == NULL ||
		    !sk_ASN1_OBJECT_push(eku, obj))
			goto out;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "extendedKeyUsage");
		goto out;
	}
	st = ST_OK;
out:
	/* OBJ_nid2obj returns static objects: free the stack only. */
	sk_ASN1_OBJECT_free(eku);
	return st;
}

static enum status
add_constraints(X509 *cert, const struct ca_template *t)
{
	BASIC_CONSTRAINTS *bc = NULL;
	enum status st = ST_NOMEM;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto out;
	bc->ca = t->is_ca ? 0xff : 0;
	if (t->is_ca && t->pathlen >= 0) {
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, t->pathlen))
			goto out;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "basicConstraints");
		goto out;
	}
	st = ST_OK;
out:
	BASIC_CONSTRAINTS_free(bc);
	return st;
}

static enum status
add_urls(X509 *cert, X509V3_CTX *ctx, const struct ca_template *t)
{
	char value[1200];
	enum status st;
	int n;

	if (t->crl_url != NULL) {
		n = snprintf(value, sizeof(value), "URI:%s", t->crl_url);
		if (n < 0 || (size_t)n >= sizeof(value))
			return status_fail(ST_LIMIT, "CRL URL too long");
		if ((st = add_ext(cert, ctx, NID_crl_distribution_points,
		         value)) != ST_OK)
			return st;
	}
	if (t->ocsp_url == NULL && t->ca_issuers_url == NULL)
		return ST_OK;
	n = snprintf(value, sizeof(value), "%s%s%s%s%s",
	    t->ocsp_url ? "OCSP;URI:" : "", t->ocsp_url ? t->ocsp_url : "",
	    t->ocsp_url && t->ca_issuers_url ? "," : "",
	    t->ca_issuers_url ? "caIssuers;URI:" : "",
	    t->ca_issuers_url ? t->ca_issuers_url : "");
	if (n < 0 || (size_t)n >= sizeof(value))
		return status_fail(ST_LIMIT, "AIA URLs too long");
	return add_ext(cert, ctx, NID_info_access, value);
}

static enum status
set_validity(X509 *cert, int64_t not_before, int64_t not_after)
{
	/* ASN1_TIME_set picks UTCTime up to 2049, GeneralizedTime from 2050
	 * (RFC 5280 §4.1.2.5). */
	if (ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) ==
	        NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after) == NULL)
		return status_fail_ssl(ST_INTERNAL, "set validity");
	return ST_OK;
}

enum status
ca_cert_sign(const struct ca_template *t, X509 *issuer, EVP_PKEY *issuer_key,
    X509 **out, char serial_hex[41])
{
	X509 *cert = NULL;
	X509V3_CTX ctx;
	const EVP_MD *md;
	enum status st = ST_NOMEM;

	*out = NULL;
	serial_hex[0] = '\0';
	if (t->not_after <= t->not_before)
		return status_fail(ST_INTERNAL, "empty validity period");
	if ((md = EVP_get_digestbynid(t->md_nid)) == NULL)
		return status_fail(ST_INTERNAL, "no digest %d", t->md_nid);
	if ((cert = X509_new()) == NULL)
		goto out;
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !X509_set_subject_name(cert, t->subject) ||
	    !X509_set_issuer_name(
	        cert, issuer ? X509_get_subject_name(issuer) : t->subject) ||
	    !X509_set_pubkey(cert, t->pubkey)) {
		st = status_fail_ssl(ST_INTERNAL, "certificate fields");
		goto out;
	}
	if ((st = random_serial(cert)) != ST_OK ||
	    (st = set_validity(cert, t->not_before, t->not_after)) != ST_OK)
		goto out;
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	if ((st = add_constraints(cert, t)) != ST_OK ||
	    (st = add_key_usage(cert, t->key_usage)) != ST_OK ||
	    (st = add_eku(cert, t->eku_nids, t->eku_count)) != ST_OK ||
	    (st = add_ext(cert, &ctx, NID_subject_key_identifier, "hash")) !=
	        ST_OK)
		goto out;
	/* A self-signed root's AKI names its own SKI, set just above. */
	if ((st = add_ext(cert, &ctx, NID_authority_key_identifier,
	         "keyid:always")) != ST_OK)
		goto out;
	if (t->san != NULL && sk_GENERAL_NAME_num(t->san) > 0 &&
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, (void *)t->san,
	        t->san_critical, X509V3_ADD_DEFAULT) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "subjectAltName");
		goto out;
	}
	if (t->ocsp_nocheck &&
	    (st = add_ext(cert, &ctx, NID_id_pkix_OCSP_noCheck, "ignored")) !=
	        ST_OK)
		goto out;
	if ((st = add_urls(cert, &ctx, t)) != ST_OK)
		goto out;
	if (t->profile != NULL &&
	    (st = ca_certpolicy_add(cert, t->profile)) != ST_OK)
		goto out;
	if (X509_sign(cert, issuer_key, md) <= 0) {
		st = status_fail_ssl(
		    ST_UNAVAILABLE, "signing the certificate failed");
		goto out;
	}
	if ((st = ca_cert_serial_hex(cert, serial_hex)) != ST_OK)
		goto out;
	*out = cert;
	cert = NULL;
	st = ST_OK;
out:
	X509_free(cert);
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
