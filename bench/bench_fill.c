/*
 * bench_fill DB N CERT.pem [PROFILE]: put N synthetic issuances into the
 * store at DB (a tessera data directory's tessera.db, the server stopped),
 * as if tessera had enrolled N devices: per device one certificate row,
 * the device bound, and the "issue" audit entry (hash-chained, as
 * authority_enroll writes them). Not a test; bench/stored.sh uses it.
 *
 * The rows go through the store API (store_write, the same statements as
 * an enrollment) in transactions of ROWS_PER_TXN, so 1M rows take a minute
 * or so instead of a million fsyncs. Every row carries CERT.pem's DER (a
 * certificate of the data directory's issuing CA) under its own random
 * serial; device ids are bench-fill-<i>, valid for a year, spread over the
 * policy's CRL shards (SHARDS, default 1), none revoked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "common/status.h"

#define ROWS_PER_TXN 20000

struct fill {
	const uint8_t *der;
	size_t der_len;
	const char *issuer;
	const char *profile;
	int shards;
	long first, count; /* devices [first, first + count) */
	int64_t now;
};

static enum status
fill_job(struct store_txn *txn, void *arg)
{
	const struct fill *f = arg;
	struct store_cert row;
	char id[48], subject[64], detail[160];
	uint8_t rnd[16 * 256];
	long i;
	int k, r = 256;
	enum status st;

	for (i = 0; i < f->count; i++) {
		if (r == 256) {
			if (RAND_bytes(rnd, sizeof(rnd)) != 1)
				return status_fail(ST_INTERNAL, "RAND_bytes");
			r = 0;
		}
		memset(&row, 0, sizeof(row));
		rnd[16 * r] &= 0x7f;
		rnd[16 * r] |= 0x01;
		for (k = 0; k < 16; k++)
			snprintf(
			    row.serial + 2 * k, 3, "%02X", rnd[16 * r + k]);
		r++;
		snprintf(id, sizeof(id), "bench-fill-%ld", f->first + i);
		snprintf(subject, sizeof(subject), "CN=%s", id);
		row.issuer = (char *)f->issuer;
		row.subject = subject;
		row.device_id = id;
		row.profile = (char *)f->profile;
		row.not_before = f->now - 60;
		row.not_after = f->now + 365 * 86400;
		row.status = STORE_CERT_VALID;
		row.reason = -1;
		row.der = (uint8_t *)f->der;
		row.der_len = f->der_len;
		row.created = f->now;
		row.shard = (int)((f->first + i) % f->shards);
		snprintf(detail, sizeof(detail),
		    "enroll profile=%s device=%s subject=%s", f->profile, id,
		    subject);
		if ((st = store_txn_device_bind(
		         txn, id, f->profile, "role:bench", f->now)) != ST_OK ||
		    (st = store_txn_cert_insert(txn, &row)) != ST_OK ||
		    (st = audit_append(txn, f->now, "bench_fill", "issue",
		         row.serial, detail)) != ST_OK)
			return st;
	}
	return ST_OK;
}

/* The issuer as the rows spell it (RFC 2253, as ca_name_string). */
static char *
rfc2253(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (bio != NULL &&
	    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_get_mem_data(bio, &data)) >= 0 &&
	    (s = malloc((size_t)len + 1)) != NULL) {
		memcpy(s, data, (size_t)len);
		s[len] = '\0';
	}
	BIO_free(bio);
	return s;
}

int
main(int argc, char **argv)
{
	struct store *store = NULL;
	struct fill f;
	X509 *cert = NULL;
	FILE *fp;
	unsigned char *der = NULL;
	char *issuer = NULL;
	const char *shards = getenv("SHARDS");
	long n, done = 0;
	int der_len;
	struct timespec t0, t1;

	if (argc < 4 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: bench_fill DB N CERT.pem [PROFILE]\n");
		return 2;
	}
	if ((fp = fopen(argv[3], "r")) == NULL ||
	    (cert = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL ||
	    (der_len = i2d_X509(cert, &der)) <= 0) {
		fprintf(stderr, "bench_fill: %s: no certificate\n", argv[3]);
		return 1;
	}
	fclose(fp);
	if ((issuer = rfc2253(X509_get_issuer_name(cert))) == NULL)
		return 1;
	if (store_open(argv[1], &store) != ST_OK) {
		fprintf(stderr, "bench_fill: %s\n", status_detail());
		return 1;
	}
	memset(&f, 0, sizeof(f));
	f.der = der;
	f.der_len = (size_t)der_len;
	f.issuer = issuer;
	f.profile = argc > 4 ? argv[4] : "device";
	f.shards = shards != NULL ? (int)strtol(shards, NULL, 10) : 1;
	if (f.shards < 1)
		f.shards = 1;
	f.now = (int64_t)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < n) {
		f.first = done;
		f.count = n - done < ROWS_PER_TXN ? n - done : ROWS_PER_TXN;
		if (store_write(store, fill_job, &f) != ST_OK) {
			fprintf(stderr, "bench_fill: at %ld: %s\n", done,
			    status_detail());
			store_close(store);
			return 1;
		}
		done += f.count;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	store_close(store);
	fprintf(stderr, "bench_fill: %ld issuances in %.1f s\n", n,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(issuer);
	OPENSSL_free(der);
	X509_free(cert);
	return 0;
}
