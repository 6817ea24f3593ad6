#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/audit.h"
#include "ca/ceremony.h"
#include "ca/config.h"
#include "ca/issue.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"

/* A PEM chain file or a root CRL: far below this. */
#define CEREMONY_FILE_MAX (1024 * 1024)
/* thisUpdate this far ahead of our clock is the signer's skew, not ours. */
#define CEREMONY_SKEW 300

/* The bytes of path, and a name for messages. */
static enum status
read_all(const char *path, uint8_t **data, size_t *len)
{
	enum status st = file_read(path, CEREMONY_FILE_MAX, data, len);

	if (st == ST_NOTFOUND)
		return status_fail(ST_NOTFOUND, "%s: no such file", path);
	return st;
}

enum status
ca_ceremony_cert_parse(
    const uint8_t *data, size_t len, const char *name, X509 **out)
{
	const unsigned char *p;
	BIO *bio = NULL;
	X509 *cert = NULL, *more = NULL;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if (len == 0 || len > CEREMONY_FILE_MAX)
		return status_fail(ST_MALFORMED, "%s: empty or over %d bytes",
		    name, CEREMONY_FILE_MAX);
	if (data[0] == 0x30) {
		p = data;
		cert = d2i_X509(NULL, &p, (long)len);
		if (cert == NULL || p != data + len) {
			status_fail_ssl(
			    st, "%s: not exactly one DER certificate", name);
			goto out;
		}
	} else {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		if ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
			status_fail_ssl(st, "%s: not a PEM certificate", name);
			goto out;
		}
		if ((more = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			status_fail(st,
			    "%s: more than one certificate; give exactly one",
			    name);
			goto out;
		}
	}
	*out = cert;
	cert = NULL;
	st = ST_OK;
out:
	ERR_clear_error();
	X509_free(more);
	X509_free(cert);
	BIO_free(bio);
	return st;
}

enum status
ca_ceremony_crl_parse(
    const uint8_t *data, size_t len, const char *name, X509_CRL **out)
{
	const unsigned char *p;
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	enum status st = ST_MALFORMED;

	*out = NULL;
	if (len == 0 || len > CEREMONY_FILE_MAX)
		return status_fail(ST_MALFORMED, "%s: empty or over %d bytes",
		    name, CEREMONY_FILE_MAX);
	if (data[0] == 0x30) {
		p = data;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl == NULL || p != data + len) {
			status_fail_ssl(
			    st, "%s: not exactly one DER CRL", name);
			goto out;
		}
	} else {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		if ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) ==
		    NULL) {
			status_fail_ssl(st, "%s: not a PEM CRL", name);
			goto out;
		}
	}
	*out = crl;
	crl = NULL;
	st = ST_OK;
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	BIO_free(bio);
	return st;
}

enum status
ca_ceremony_cert_read(const char *path, X509 **out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	enum status st;

	*out = NULL;
	if ((st = read_all(path, &data, &len)) == ST_OK)
		st = ca_ceremony_cert_parse(data, len, path, out);
	free(data);
	return st;
}

enum status
ca_ceremony_crl_read(const char *path, X509_CRL **out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	enum status st;

	*out = NULL;
	if ((st = read_all(path, &data, &len)) == ST_OK)
		st = ca_ceremony_crl_parse(data, len, path, out);
	free(data);
	return st;
}

/* "subject" of cert into out, for messages. */
static void
subject_of(X509 *cert, char *out, size_t cap)
{
	char *s = ca_name_string(X509_get_subject_name(cert));

	snprintf(out, cap, "%s", s != NULL ? s : "?");
	free(s);
}

static void
time_text(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/*
 * Whether t is a time as RFC 5280 §4.1.2.5 writes it (UTCTime
 * YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ) and OpenSSL's path
 * validation can compare (OpenSSL parses shorter forms that
 * X509_cmp_time then refuses: relying parties would reject them).
 */
static int
time_is_rfc5280(const ASN1_TIME *t)
{
	const unsigned char *d;
	int i, len, want;

	if (t == NULL || ASN1_TIME_check(t) != 1)
		return 0;
	want = ASN1_STRING_type(t) == V_ASN1_UTCTIME        ? 13
	    : ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME ? 15
	                                                    : -1;
	len = ASN1_STRING_length(t);
	d = ASN1_STRING_get0_data(t);
	if (len != want || d[len - 1] != 'Z')
		return 0;
	for (i = 0; i < len - 1; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	return X509_cmp_time(t, NULL) != 0;
}

/* notBefore <= now < notAfter, or which one fails. */
static enum status
validity_check(X509 *cert, const char *what, int64_t now)
{
	int64_t nb = ca_time_unix(X509_get0_notBefore(cert));
	int64_t na = ca_time_unix(X509_get0_notAfter(cert));
	char when[40];

	if (!time_is_rfc5280(X509_get0_notBefore(cert)) ||
	    !time_is_rfc5280(X509_get0_notAfter(cert)))
		return status_fail(ST_MALFORMED,
		    "%s: notBefore or notAfter is not a valid UTCTime or "
		    "GeneralizedTime (RFC 5280 §4.1.2.5)",
		    what);

	if (na <= now) {
		time_text(na, when, sizeof(when));
		return status_fail(ST_MALFORMED,
		    "%s expired at %s (notAfter, RFC 5280 §4.1.2.5)", what,
		    when);
	}
	if (nb > now + CEREMONY_SKEW) {
		time_text(nb, when, sizeof(when));
		return status_fail(ST_MALFORMED,
		    "%s is not valid before %s (notBefore, RFC 5280 "
		    "§4.1.2.5)",
		    what, when);
	}
	return ST_OK;
}

enum status
ca_ceremony_root_check(X509 *root, int64_t now)
{
	char name[256];
	uint32_t ku;

	subject_of(root, name, sizeof(name));
	if (X509_NAME_cmp(
	        X509_get_subject_name(root), X509_get_issuer_name(root)) != 0 ||
	    X509_verify(root, X509_get0_pubkey(root)) != 1)
		return status_fail(ST_MALFORMED,
		    "the root (%s) is not self-signed: --chain takes the "
		    "root CA certificate itself, the trust anchor",
		    name);
	if (X509_check_ca(root) != 1 ||
	    !(X509_get_extension_flags(root) & EXFLAG_CA))
		return status_fail(ST_MALFORMED,
		    "the root (%s) is not a CA: basicConstraints CA:TRUE is "
		    "missing (RFC 5280 §4.2.1.9)",
		    name);
	ku = X509_get_key_usage(root);
	if ((X509_get_extension_flags(root) & EXFLAG_KUSAGE) &&
	    !(ku & KU_KEY_CERT_SIGN))
		return status_fail(ST_MALFORMED,
		    "the root (%s) may not sign certificates: its keyUsage "
		    "lacks keyCertSign (RFC 5280 §4.2.1.3)",
		    name);
	return validity_check(root, "the root", now);
}

/* PROTOCOLS.md §7: critical CA:TRUE, pathlen:0; critical keyUsage
 * keyCertSign and cRLSign. */
static enum status
profile_check(X509 *issuing)
{
	int i;
	uint32_t flags = X509_get_extension_flags(issuing);
	uint32_t ku = X509_get_key_usage(issuing);
	X509_EXTENSION *ext;

	if (X509_get_version(issuing) != X509_VERSION_3)
		return status_fail(
		    ST_MALFORMED, "the issuing certificate is not X.509 v3");
	if (!(flags & EXFLAG_CA))
		return status_fail(ST_MALFORMED,
		    "the issuing certificate is not a CA: basicConstraints "
		    "CA:TRUE is missing (RFC 5280 §4.2.1.9)");
	i = X509_get_ext_by_NID(issuing, NID_basic_constraints, -1);
	ext = i >= 0 ? X509_get_ext(issuing, i) : NULL;
	if (ext == NULL || !X509_EXTENSION_get_critical(ext))
		return status_fail(ST_MALFORMED,
		    "the issuing certificate's basicConstraints is not "
		    "critical (RFC 5280 §4.2.1.9)");
	if (X509_get_pathlen(issuing) != 0)
		return status_fail(ST_MALFORMED,
		    "the issuing certificate needs pathLenConstraint 0 (it "
		    "issues only end entities); it has %ld",
		    X509_get_pathlen(issuing));
	i = X509_get_ext_by_NID(issuing, NID_key_usage, -1);
	ext = i >= 0 ? X509_get_ext(issuing, i) : NULL;
	if (ext == NULL || !X509_EXTENSION_get_critical(ext) ||
	    (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !=
	        (KU_KEY_CERT_SIGN | KU_CRL_SIGN))
		return status_fail(ST_MALFORMED,
		    "the issuing certificate needs a critical keyUsage with "
		    "keyCertSign and cRLSign (RFC 5280 §4.2.1.3)");
	return ST_OK;
}

/* issuing under root, by OpenSSL's path validation with root alone. */
static enum status
chain_check(X509 *issuing, X509 *root, int64_t now)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char a[256], b[256];
	char *issuer = NULL;
	enum status st = ST_NOMEM;
	int err;

	if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, root))
		goto out;
	if (X509_NAME_cmp(X509_get_issuer_name(issuing),
	        X509_get_subject_name(root)) != 0) {
		issuer = ca_name_string(X509_get_issuer_name(issuing));
		subject_of(root, b, sizeof(b));
		st = status_fail(ST_MALFORMED,
		    "the issuing certificate is issued by %s, not by the "
		    "root %s: wrong chain",
		    issuer != NULL ? issuer : "?", b);
		goto out;
	}
	if (!X509_STORE_CTX_init(ctx, store, issuing, NULL))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		subject_of(root, a, sizeof(a));
		st = status_fail(ST_MALFORMED,
		    "the issuing certificate does not chain to the root %s: "
		    "%s",
		    a, X509_verify_cert_error_string(err));
		goto out;
	}
	st = ST_OK;
out:
	free(issuer);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return st;
}

enum status
ca_ceremony_issuing_check(X509 *issuing, X509 *root, EVP_PKEY *key, int64_t now)
{
	enum status st;

	if ((st = ca_ceremony_root_check(root, now)) != ST_OK)
		return st;
	if (EVP_PKEY_eq(X509_get0_pubkey(issuing), key) != 1)
		return status_fail(ST_CONFLICT,
		    "the issuing certificate certifies another key than the "
		    "issuing key in the token: sign the CSR this data "
		    "directory wrote (ca/issuing.csr)");
	if ((st = profile_check(issuing)) != ST_OK ||
	    (st = validity_check(issuing, "the issuing certificate", now)) !=
	        ST_OK)
		return st;
	return chain_check(issuing, root, now);
}

enum status
ca_ceremony_crl_check(X509_CRL *crl, X509 *root, int64_t now, int64_t *number)
{
	ASN1_INTEGER *num = NULL, *delta = NULL;
	const ASN1_TIME *next;
	char a[256], when[40];
	char *issuer = NULL;
	int64_t n = 0, t;
	enum status st = ST_MALFORMED;

	*number = 0;
	if (X509_NAME_cmp(
	        X509_CRL_get_issuer(crl), X509_get_subject_name(root)) != 0) {
		issuer = ca_name_string(X509_CRL_get_issuer(crl));
		subject_of(root, a, sizeof(a));
		status_fail(st, "the CRL is issued by %s, not by the root %s",
		    issuer != NULL ? issuer : "?", a);
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(root)) != 1) {
		status_fail(st,
		    "the CRL's signature does not verify with the root's "
		    "key");
		goto out;
	}
	if (X509_CRL_get_version(crl) != X509_CRL_VERSION_2) {
		status_fail(st, "the CRL is not v2 (RFC 5280 §5.1.2.1)");
		goto out;
	}
	if ((delta = X509_CRL_get_ext_d2i(crl, NID_delta_crl, NULL, NULL)) !=
	    NULL) {
		status_fail(st,
		    "the CRL is a delta CRL; import the root's full CRL "
		    "(RFC 5280 §5.2.4)");
		goto out;
	}
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) ==
	        NULL ||
	    ASN1_INTEGER_get_int64(&n, num) != 1 || n < 0) {
		status_fail(st,
		    "the CRL has no cRLNumber tessera can read (RFC 5280 "
		    "§5.2.3: a non-negative integer; here at most 63 bits)");
		goto out;
	}
	/* A time that does not parse (a GeneralizedTime of two-digit year,
	 * say) is what relying parties refuse: so does import. */
	if (!time_is_rfc5280(X509_CRL_get0_lastUpdate(crl)) ||
	    ((next = X509_CRL_get0_nextUpdate(crl)) != NULL &&
	        !time_is_rfc5280(next))) {
		status_fail(st,
		    "the CRL's thisUpdate or nextUpdate is not a valid "
		    "UTCTime or GeneralizedTime (RFC 5280 §5.1.2.4)");
		goto out;
	}
	t = ca_time_unix(X509_CRL_get0_lastUpdate(crl));
	if (t > now + CEREMONY_SKEW) {
		time_text(t, when, sizeof(when));
		status_fail(
		    st, "the CRL's thisUpdate %s is in the future", when);
		goto out;
	}
	if ((next = X509_CRL_get0_nextUpdate(crl)) == NULL) {
		status_fail(st,
		    "the CRL has no nextUpdate (RFC 5280 §5.1.2.5: "
		    "conforming CAs MUST include it)");
		goto out;
	}
	if ((t = ca_time_unix(next)) <= now) {
		time_text(t, when, sizeof(when));
		status_fail(st,
		    "the CRL expired at %s (nextUpdate): relying parties "
		    "would refuse every certificate; sign a fresh one",
		    when);
		goto out;
	}
	*number = n;
	st = ST_OK;
out:
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(delta);
	free(issuer);
	return st;
}

struct crl_import_job {
	int64_t number, this_update, next_update, now;
	const uint8_t *der;
	size_t len;
	/* The issuing CA when the CRL lists it: revoked here too. */
	const char *issuing_serial;
	int64_t issuing_revoked_at;
	int issuing_reason;
	int is_issuing_revoked; /* out: newly revoked by this import */
};

/*
 * Whether crl lists issuing: its revocation date and reason (-1 when the
 * entry has none tessera stores) into the job.
 */
static int
crl_lists(X509_CRL *crl, X509 *issuing, struct crl_import_job *job)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *reason;
	long r;

	if (issuing == NULL ||
	    X509_CRL_get0_by_serial(crl, &rev,
	        (ASN1_INTEGER *)X509_get0_serialNumber(issuing)) != 1 ||
	    rev == NULL)
		return 0;
	job->issuing_revoked_at =
	    ca_time_unix(X509_REVOKED_get0_revocationDate(rev));
	job->issuing_reason = -1;
	if ((reason = X509_REVOKED_get_ext_d2i(
	         rev, NID_crl_reason, NULL, NULL)) != NULL) {
		r = ASN1_ENUMERATED_get(reason);
		if (r >= 0 && r <= 10 && store_reason_is_valid((int)r))
			job->issuing_reason = (int)r;
		ASN1_ENUMERATED_free(reason);
	}
	return 1;
}

static enum status
crl_import_commit(struct store_txn *txn, void *arg)
{
	struct crl_import_job *job = arg;
	char object[32], detail[128];
	enum status st;

	job->is_issuing_revoked = 0;
	if ((st = store_txn_crl_put(txn, STORE_CRL_SHARD_ROOT, job->number,
	         job->this_update, job->next_update, job->der, job->len)) !=
	    ST_OK)
		return st;
	/* The root revoked the issuing CA: nothing is issued under it from
	 * this commit on (the issuance gate reads this row). */
	if (job->issuing_serial != NULL) {
		st = store_txn_cert_revoke(txn, job->issuing_serial,
		    job->issuing_reason, job->issuing_revoked_at, NULL);
		if (st == ST_OK) {
			job->is_issuing_revoked = 1;
			snprintf(detail, sizeof(detail),
			    "by the offline root's CRL number %lld",
			    (long long)job->number);
			if ((st = audit_append(txn, job->now,
			         "operator id=\"ca import\"", "revoke",
			         job->issuing_serial, detail)) != ST_OK)
				return st;
		} else if (st != ST_CONFLICT && st != ST_NOTFOUND) {
			return st;
		}
	}
	snprintf(object, sizeof(object), "crl:root");
	snprintf(detail, sizeof(detail),
	    "crlNumber=%lld nextUpdate=%lld (signed by the offline root)",
	    (long long)job->number, (long long)job->next_update);
	return audit_append(txn, job->now, "operator id=\"ca import\"",
	    "import-crl", object, detail);
}

enum status
ca_ceremony_crl_import(
    const char *data_dir, const char *crl_path, int64_t *number)
{
	struct ca_config *cfg = NULL;
	struct store *store = NULL;
	struct store_crl *prev = NULL;
	struct crl_import_job job;
	X509_CRL *crl = NULL;
	X509 *root = NULL, *issuing = NULL;
	char *root_path = NULL, *db = NULL, *out_path = NULL;
	char *issuing_path = NULL, issuing_serial[41];
	unsigned char *der = NULL;
	int len;
	enum status st;

	*number = 0;
	memset(&job, 0, sizeof(job));
	job.now = (int64_t)time(NULL);
	if ((st = ca_config_load(data_dir, &cfg)) != ST_OK)
		return st;
	if (cfg->key_root != NULL) {
		st = status_fail(ST_CONFLICT,
		    "%s keeps its root key in the token and signs the root "
		    "CRL itself; ca import --crl is for an offline root",
		    data_dir);
		goto out;
	}
	if ((issuing_path = ca_config_path(cfg, "ca/issuing.pem")) == NULL ||
	    (root_path = ca_config_path(cfg, "ca/root.pem")) == NULL ||
	    (db = ca_config_path(cfg, cfg->database)) == NULL ||
	    (out_path = ca_config_path(cfg, "crl/root.crl")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if (!file_exists(root_path)) {
		st = status_fail(ST_NOTFOUND,
		    "%s has no root certificate yet: import the issuing CA "
		    "(ca import --cert --chain) first",
		    data_dir);
		goto out;
	}
	if ((st = ca_ceremony_cert_read(root_path, &root)) != ST_OK ||
	    (st = ca_ceremony_crl_read(crl_path, &crl)) != ST_OK ||
	    (st = ca_ceremony_crl_check(crl, root, job.now, &job.number)) !=
	        ST_OK)
		goto out;
	if ((st = ca_ceremony_cert_read(issuing_path, &issuing)) != ST_OK)
		goto out;
	if (crl_lists(crl, issuing, &job)) {
		if ((st = ca_cert_serial_hex(issuing, issuing_serial)) != ST_OK)
			goto out;
		job.issuing_serial = issuing_serial;
	}
	if ((st = store_open(db, &store)) != ST_OK)
		goto out;
	st = store_crl_get(store, STORE_CRL_SHARD_ROOT, &prev);
	if (st != ST_OK && st != ST_NOTFOUND)
		goto out;
	if (prev != NULL && job.number <= prev->number) {
		st = status_fail(ST_CONFLICT,
		    "the CRL is stale: its crlNumber %lld is not above %lld, "
		    "the root CRL served now (RFC 5280 §5.2.3)",
		    (long long)job.number, (long long)prev->number);
		goto out;
	}
	if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "encoding the CRL");
		goto out;
	}
	job.der = der;
	job.len = (size_t)len;
	job.this_update = ca_time_unix(X509_CRL_get0_lastUpdate(crl));
	job.next_update = ca_time_unix(X509_CRL_get0_nextUpdate(crl));
	if ((st = store_write(store, crl_import_commit, &job)) != ST_OK)
		goto out;
	/* Gateways that read the file see a whole CRL or the previous. */
	if ((st = file_write_atomic(out_path, der, job.len, 0644)) != ST_OK)
		goto out;
	*number = job.number;
	if (job.is_issuing_revoked)
		log_warn("the root CRL revokes the issuing CA (serial %s): "
		         "nothing is issued under it any more",
		    issuing_serial);
out:
	X509_free(issuing);
	free(issuing_path);
	OPENSSL_free(der);
	store_crl_free(prev);
	store_close(store);
	X509_CRL_free(crl);
	X509_free(root);
	free(out_path);
	free(db);
	free(root_path);
	ca_config_free(cfg);
	return st;
}
