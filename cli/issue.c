#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ca/authority.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "cli/cli.h"
#include "common/file.h"
#include "common/limits.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera issue [--data DIR] --profile NAME --csr FILE "
	    "--out FILE\n"
	    "       tessera issue [--data DIR] --profile ROLE --name HOLDER "
	    "--key FILE --out FILE\n\n"
	    "Issues a certificate for the PKCS#10 request in FILE (PEM or "
	    "DER) under the\npolicy profile NAME, offline, through the same "
	    "checks, signing and store as\nenrollment. The certificate (PEM) "
	    "is written to --out only after its row is\ncommitted; the "
	    "issuance is audited as the local operator.\n\n"
	    "Without --csr, issues a client certificate for the admin API to "
	    "a person: ROLE\nis a certificate profile a role of the policy "
	    "holds (admin, operator, auditor\nin the default policy), "
	    "HOLDER the person's name (CN), a new EC P-256 key\nwritten to "
	    "--key (mode 0600), valid a year. Issue it again before it "
	    "expires.\n");
}

/* A CSR file may be PEM or DER; DER goes to the authority either way. */
static enum status
read_csr(const char *path, uint8_t **der, size_t *der_len)
{
	uint8_t *data = NULL;
	size_t len;
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	unsigned char *p = NULL;
	int n;
	enum status st;

	*der = NULL;
	*der_len = 0;
	/* Read generously: the authority applies LIMIT_CSR_DER and audits
	 * the refusal, as it does for a request over the network. */
	if ((st = file_read(path, 64 * LIMIT_CSR_DER, &data, &len)) != ST_OK)
		return st;
	if (len < 11 || memcmp(data, "-----BEGIN", 10) != 0) {
		*der = data;
		*der_len = len;
		return ST_OK;
	}
	st = ST_MALFORMED;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL) {
		st = status_fail_ssl(ST_MALFORMED,
		    "%s: not a PEM "
		    "CERTIFICATE REQUEST",
		    path);
		goto out;
	}
	if ((n = i2d_X509_REQ(req, &p)) <= 0)
		goto out;
	if ((*der = malloc((size_t)n)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	memcpy(*der, p, (size_t)n);
	*der_len = (size_t)n;
	st = ST_OK;
out:
	OPENSSL_free(p);
	X509_REQ_free(req);
	BIO_free(bio);
	free(data);
	return st;
}

/* A role holder's certificate and new key: the key file first (0600). */
static int
issue_staff(const char *dir, const struct principal *who, const char *profile,
    const char *name, const char *key_path, const char *out_path)
{
	struct authority *a = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	char *pem = NULL, *key_pem = NULL, serial[41];
	size_t pem_len = 0, key_len = 0;
	enum status st;
	int rc = 0;

	if ((st = authority_open(dir, &a)) != ST_OK ||
	    (st = authority_staff_issue(a, who, profile, name, &cert, &key)) !=
	        ST_OK ||
	    (st = ca_pem_encode(NULL, 0, key, &key_pem, &key_len)) != ST_OK ||
	    (st = ca_pem_encode(&cert, 1, NULL, &pem, &pem_len)) != ST_OK ||
	    (st = ca_cert_serial_hex(cert, serial)) != ST_OK ||
	    (st = file_write_atomic(key_path, key_pem, key_len, 0600)) !=
	        ST_OK ||
	    (st = file_write_atomic(out_path, pem, pem_len, 0644)) != ST_OK) {
		rc = cli_fail("issue", st);
		goto out;
	}
	printf("issued %s (%s, CN=%s) -> %s, key %s\n", serial, profile, name,
	    out_path, key_path);
out:
	ca_pem_free(pem, pem_len);
	ca_pem_free(key_pem, key_len);
	EVP_PKEY_free(key);
	X509_free(cert);
	authority_close(a);
	return rc;
}

int
cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"csr", required_argument, NULL, 'c'},
	    {"profile", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"key", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *csr_path = NULL, *profile = NULL,
	           *out_path = NULL, *name = NULL, *key_path = NULL;
	struct authority *a = NULL;
	struct principal who;
	uint8_t *der = NULL;
	size_t der_len = 0, pem_len;
	char *pem = NULL, serial[41];
	X509 *cert = NULL;
	enum status st;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			csr_path = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!profile || !out_path || optind != argc ||
	    (csr_path != NULL) == (name != NULL || key_path != NULL) ||
	    (name != NULL) != (key_path != NULL)) {
		fprintf(stderr,
		    "tessera issue: --profile, --out and either --csr or "
		    "--name and --key are required\n");
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	cli_operator(&who);
	if (csr_path == NULL)
		return issue_staff(
		    dir, &who, profile, name, key_path, out_path);
	if ((st = read_csr(csr_path, &der, &der_len)) != ST_OK ||
	    (st = authority_open(dir, &a)) != ST_OK ||
	    (st = authority_issue(a, &who, profile, der, der_len, &cert)) !=
	        ST_OK ||
	    (st = ca_cert_pem(cert, &pem, &pem_len)) != ST_OK ||
	    (st = ca_cert_serial_hex(cert, serial)) != ST_OK ||
	    (st = file_write_atomic(out_path, pem, pem_len, 0644)) != ST_OK) {
		rc = cli_fail("issue", st);
		goto out;
	}
	printf("issued %s -> %s\n", serial, out_path);
	rc = 0;
out:
	free(pem);
	X509_free(cert);
	authority_close(a);
	free(der);
	return rc;
}
