#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/audit.h"
#include "ca/issue.h"
#include "ca/service.h"

/* notBefore a little in the past, for clients with slow clocks. */
#define BACKDATE 300
#define DAY (24 * 3600)

enum status
ca_row_from_cert(X509 *cert, const char *device_id, const char *profile,
    int64_t now, struct store_cert *row)
{
	int len;
	enum status st;

	memset(row, 0, sizeof(*row));
	if ((st = ca_cert_serial_hex(cert, row->serial)) != ST_OK)
		return st;
	row->issuer = ca_name_string(X509_get_issuer_name(cert));
	row->subject = ca_name_string(X509_get_subject_name(cert));
	row->device_id = (char *)device_id;
	row->profile = (char *)profile;
	row->not_before = ca_time_unix(X509_get0_notBefore(cert));
	row->not_after = ca_time_unix(X509_get0_notAfter(cert));
	row->status = STORE_CERT_VALID;
	row->reason = -1;
	row->created = now;
	if (row->issuer == NULL || row->subject == NULL)
		goto fail;
	if ((len = i2d_X509(cert, &row->der)) <= 0)
		goto fail;
	row->der_len = (size_t)len;
	return ST_OK;
fail:
	ca_row_clear(row);
	return status_fail_ssl(ST_NOMEM, "certificate row");
}

void
ca_row_clear(struct store_cert *row)
{
	OPENSSL_free(row->der);
	free(row->issuer);
	free(row->subject);
	row->der = NULL;
	row->issuer = row->subject = NULL;
}

static X509_NAME *
make_name(const char *org, const char *cn)
{
	X509_NAME *name = X509_NAME_new();

	if (name == NULL)
		return NULL;
	if ((org != NULL &&
	        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	            (const unsigned char *)org, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0)) {
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

struct row_job {
	const struct store_cert *row;
	const char *actor;
	const char *detail;
};

static enum status
row_commit(struct store_txn *txn, void *arg)
{
	const struct row_job *job = arg;
	enum status st;

	if ((st = store_txn_cert_insert(txn, job->row)) != ST_OK)
		return st;
	return audit_append(txn, job->row->created, job->actor, "issue",
	    job->row->serial, job->detail);
}

enum status
ca_service_issue(struct store *store, const char *org, const char *actor,
    int64_t now, const struct ca_service_spec *spec, X509 *issuer,
    const struct signer_key *issuer_key, const char *crl_url,
    const char *ocsp_url, const char *ca_issuers_url, X509 **out)
{
	struct ca_template t;
	struct store_cert row;
	struct row_job job;
	X509_NAME *name = NULL;
	X509_EXTENSION *ext;
	GENERAL_NAMES *san = NULL;
	X509 *cert = NULL;
	char serial[41], detail[256];
	enum status st = ST_NOMEM;

	*out = NULL;
	memset(&row, 0, sizeof(row));
	if ((name = make_name(org, spec->cn)) == NULL)
		goto out;
	if (spec->san != NULL) {
		ext = X509V3_EXT_conf_nid(
		    NULL, NULL, NID_subject_alt_name, spec->san);
		if (ext == NULL) {
			st = status_fail_ssl(ST_INTERNAL, "SAN %s", spec->san);
			goto out;
		}
		san = X509V3_EXT_d2i(ext);
		X509_EXTENSION_free(ext);
		if (san == NULL)
			goto out;
	}
	memset(&t, 0, sizeof(t));
	t.subject = name;
	t.pubkey = spec->pubkey;
	t.san = san != NULL ? san : spec->san_names;
	t.not_before = now - BACKDATE;
	t.not_after = now + spec->days * DAY;
	t.is_ca = spec->is_ca;
	t.is_service = 1;
	t.pathlen = spec->pathlen;
	t.key_usage = spec->key_usage;
	t.eku_nids = spec->eku;
	t.eku_count = spec->eku_count;
	t.ocsp_nocheck = spec->ocsp_nocheck;
	t.crl_url = crl_url;
	t.ocsp_url = ocsp_url;
	t.ca_issuers_url = ca_issuers_url;
	t.md_nid = spec->md_nid;
	/* A leaf's role comes from this OID; CA certificates hold none. */
	t.profile = spec->is_ca ? NULL : spec->profile;
	if ((st = ca_cert_sign(&t, issuer, issuer_key, &cert, serial)) !=
	        ST_OK ||
	    (st = ca_row_from_cert(cert, NULL, spec->profile, now, &row)) !=
	        ST_OK)
		goto out;
	/* The root's CRL lists the CAs; every other certificate is in the
	 * issuing CA's full CRL (store.h). */
	row.shard = spec->is_ca
	    ? STORE_CRL_SHARD_ROOT
	    : store_shard_make(spec->issuer_gen, STORE_CRL_SHARD_FULL);
	snprintf(detail, sizeof(detail), "profile=%s subject=%s", spec->profile,
	    row.subject);
	job.row = &row;
	job.actor = actor;
	job.detail = detail;
	/* Nothing issued is ever forgotten: the row before the files. */
	if ((st = store_write(store, row_commit, &job)) != ST_OK)
		goto out;
	*out = cert;
	cert = NULL;
	st = ST_OK;
out:
	ca_row_clear(&row);
	GENERAL_NAMES_free(san);
	X509_NAME_free(name);
	X509_free(cert);
	return st;
}

enum status
ca_pem_encode(X509 *const *certs, size_t count, EVP_PKEY *key, char **out,
    size_t *out_len)
{
	/* secmem: the buffer is wiped when freed, for the key's sake. */
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data, *s;
	long len;
	size_t i;
	enum status st = ST_NOMEM;

	*out = NULL;
	*out_len = 0;
	if (bio == NULL)
		return ST_NOMEM;
	for (i = 0; i < count; i++)
		if (!PEM_write_bio_X509(bio, certs[i]))
			goto out;
	if (key != NULL &&
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	if ((len = BIO_get_mem_data(bio, &data)) <= 0 ||
	    (s = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
	*out = s;
	*out_len = (size_t)len;
	st = ST_OK;
out:
	BIO_free(bio);
	return st;
}

void
ca_pem_free(char *pem, size_t len)
{
	if (pem == NULL)
		return;
	OPENSSL_cleanse(pem, len);
	free(pem);
}
