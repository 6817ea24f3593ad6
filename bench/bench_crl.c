/*
 * bench_crl [-n N] [-d DIR] [-H]: time ca_crl_build over N synthetic revoked
 * entries (default 100000): random 128-bit serials in random order, a
 * quarter each without reason, keyCompromise, superseded and
 * cessationOfOperation. Prints the build time, the time of the entry
 * source alone, the PEM conversion, the DER size and the peak RSS, then
 * checks the CRL with OpenSSL (d2i_X509_CRL, entry count, signature).
 *
 *   -d DIR  sign with the software CA in DIR/ca.pem and DIR/ca.key, and
 *           write DIR/index.txt (an `openssl ca` database holding the same
 *           entries) and DIR/tessera.crl (DER), for bench/crl.sh
 *   -H      also build with a P-256 key in a fresh SoftHSMv2 token
 *   -q      build only: no PEM and no check (for `perf record`)
 *   -S      also from a store: N revoked certificate rows in a fresh
 *           SQLite store, read back with store_revoked_foreach into rows
 *           as publication.c collects them, then built; prints the fill,
 *           the read and the build apart
 *
 * Without -d the CA is a P-256 key made in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/status.h"
#include "hsm/hsm.h"
#include "tests/unit/testutil.h"

#define TOKEN "bench-crl"
#define PIN "bench-pin"
#define MAX_ENTRIES 20000000L
/* Revocations spread over a year from 2024-01-01. */
#define REVOKED_BASE 1704067200LL
#define REVOKED_SPAN (365LL * 86400)

static int build_only;

static const int reasons[4] = {-1, 1, 4, 5};
static const char *const reason_names[4] = {
    NULL, "keyCompromise", "superseded", "cessationOfOperation"};

/* A deterministic stream of entries, as a store cursor would give them. */
struct source {
	uint64_t state;
	long i, n;
	char hex[33];
};

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
source_reset(struct source *s, long n)
{
	s->state = 42;
	s->i = 0;
	s->n = n;
}

/* Fill e from the stream; 0 at the end. */
static int
source_next(void *arg, struct ca_crl_entry *e)
{
	static const char digits[] = "0123456789ABCDEF";
	struct source *s = arg;
	uint64_t w[2];
	int k;

	if (s->i == s->n)
		return 0;
	w[0] = splitmix(&s->state);
	w[1] = splitmix(&s->state);
	for (k = 0; k < 32; k++)
		s->hex[k] = digits[(w[k / 16] >> (60 - 4 * (k % 16))) & 0xf];
	s->hex[32] = '\0';
	e->serial_hex = s->hex;
	e->revoked_at = REVOKED_BASE + (int64_t)(w[0] % REVOKED_SPAN);
	e->reason = reasons[s->i % 4];
	s->i++;
	return 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Process CPU seconds: on a loaded machine the wall clock says little. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
peak_rss_mb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_maxrss / 1024.0;
}

/* A self-signed CA certificate with an SKI, signed by priv. */
static X509 *
make_ca(EVP_PKEY *priv, EVP_PKEY *pub, const EVP_MD *md)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	int ok = 0;

	if (x == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)"bench CRL CA", -1, -1, 0) ||
	    !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, pub))
		goto out;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(
	         NULL, &v3, NID_subject_key_identifier, "hash")) == NULL ||
	    !X509_add_ext(x, ext, -1))
		goto out;
	ok = X509_sign(x, priv, md) > 0;
out:
	X509_EXTENSION_free(ext);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Write the openssl ca database for the same n entries. */
static int
write_index(const char *path, long n)
{
	struct source s;
	struct ca_crl_entry e;
	struct tm tm;
	time_t t;
	char when[80];
	FILE *f;
	int k;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	source_reset(&s, n);
	while (source_next(&s, &e) == 1) {
		t = (time_t)e.revoked_at;
		gmtime_r(&t, &tm);
		snprintf(when, sizeof(when), "%02d%02d%02d%02d%02d%02dZ",
		    tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		k = (int)((s.i - 1) % 4);
		fprintf(f, "R\t350101000000Z\t%s%s%s\t%s\tunknown\t/CN=x\n",
		    when, reason_names[k] != NULL ? "," : "",
		    reason_names[k] != NULL ? reason_names[k] : "",
		    e.serial_hex);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Build once and print one line; optionally keep the DER in out. */
static int
run(const char *label, X509 *ca, EVP_PKEY *key, long n, const char *out)
{
	struct ca_crl_params p;
	struct ca_crl_entry e;
	struct source s;
	const unsigned char *q;
	X509_CRL *crl = NULL;
	uint8_t *der = NULL;
	char *pem = NULL;
	size_t der_len = 0, pem_len = 0;
	double t0, c0, t_src, t_build, c_build, t_pem, t_check, rss0, rss_build;
	int ok = 0, verified;
	long count;

	memset(&p, 0, sizeof(p));
	p.issuer = ca;
	p.key = testutil_signer_key(key, SIGNER_ROLE_ISSUING);
	p.number = 7;
	p.this_update = (int64_t)time(NULL);
	p.next_update = p.this_update + 7 * 86400;
	p.md_nid = NID_sha256;

	/* The source alone, to tell its cost from the builder's. */
	source_reset(&s, n);
	t0 = now();
	while (source_next(&s, &e) == 1)
		;
	t_src = now() - t0;

	rss0 = peak_rss_mb();
	source_reset(&s, n);
	t0 = now();
	c0 = cpu_now();
	if (ca_crl_build(&p, source_next, &s, &der, &der_len) != ST_OK) {
		fprintf(stderr, "bench_crl: %s\n", status_detail());
		goto out;
	}
	c_build = cpu_now() - c0;
	t_build = now() - t0;
	rss_build = peak_rss_mb();
	if (build_only) {
		printf(
		    "tessera %-8s n=%ld build=%.3f s cpu=%.3f s der=%.1f MB\n",
		    label, n, t_build, c_build, (double)der_len / 1e6);
		ok = 1;
		goto out;
	}
	t0 = now();
	if (ca_crl_pem(der, der_len, &pem, &pem_len) != ST_OK) {
		fprintf(stderr, "bench_crl: %s\n", status_detail());
		goto out;
	}
	t_pem = now() - t0;
	printf("tessera %-8s n=%ld build=%.3f s cpu=%.3f s (source alone %.3f "
	       "s) pem=%.3f s der=%.1f MB peak_rss=%.0f MB (%.0f MB before the "
	       "build, %.0f MB with the PEM)\n",
	    label, n, t_build, c_build, t_src, t_pem, (double)der_len / 1e6,
	    rss_build, rss0, peak_rss_mb());

	/* What a relying party does with it: parse and verify. */
	t0 = now();
	q = der;
	crl = d2i_X509_CRL(NULL, &q, (long)der_len);
	count =
	    crl != NULL ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : -1;
	if (count < 0)
		count = 0;
	verified =
	    crl != NULL && X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
	t_check = now() - t0;
	printf("  check: d2i_X509_CRL + X509_CRL_verify %.3f s, %ld entries, "
	       "signature %s\n",
	    t_check, count, verified ? "ok" : "BAD");
	if (crl == NULL || count != n || !verified)
		goto out;
	if (out != NULL &&
	    file_write_atomic(out, der, der_len, 0644) != ST_OK) {
		fprintf(stderr, "bench_crl: %s\n", status_detail());
		goto out;
	}
	ok = 1;
out:
	X509_CRL_free(crl);
	free(pem);
	free(der);
	fflush(stdout);
	return ok;
}

/* The same build with a P-256 key in a fresh SoftHSMv2 token. */
static int
run_hsm(long n)
{
	struct hsm *hsm = NULL;
	struct hsm_key *key = NULL;
	X509 *ca = NULL;
	char *dir;
	int ok = 0;

	if ((dir = testutil_tmpdir()) == NULL) {
		perror("mkdtemp");
		return 0;
	}
	if (testutil_softhsm(dir, TOKEN, PIN) != 0) {
		fprintf(stderr, "bench_crl: no SoftHSMv2 token in %s\n", dir);
		goto out;
	}
	if (hsm_open(testutil_softhsm_module(), TOKEN, PIN, &hsm) != ST_OK ||
	    hsm_key_generate(hsm, "crl-p256", HSM_KEY_EC_P256, &key) != ST_OK) {
		fprintf(stderr, "bench_crl: %s\n", status_detail());
		goto out;
	}
	if ((ca = make_ca(hsm_key_get0_pkey(key), hsm_key_get0_public(key),
	         EVP_sha256())) == NULL) {
		fprintf(stderr, "bench_crl: cannot make the token CA\n");
		goto out;
	}
	ok = run("softhsm", ca, hsm_key_get0_pkey(key), n, NULL);
out:
	X509_free(ca);
	hsm_key_free(key);
	hsm_close(hsm);
	testutil_rmtree(dir);
	free(dir);
	return ok;
}

/* N revoked rows, written in transactions of FILL_BATCH. */
#define FILL_BATCH 20000
struct fill {
	struct source *src;
	long count;
};

static enum status
fill_commit(struct store_txn *txn, void *arg)
{
	static const uint8_t der[] = {0x30, 0x00};
	struct fill *f = arg;
	struct ca_crl_entry e;
	struct store_cert row;
	enum status st;
	long i;

	for (i = 0; i < f->count && source_next(f->src, &e) == 1; i++) {
		memset(&row, 0, sizeof(row));
		snprintf(row.serial, sizeof(row.serial), "%s", e.serial_hex);
		row.issuer = "CN=bench CRL CA";
		row.subject = "CN=x";
		row.profile = "device";
		row.not_before = REVOKED_BASE - 86400;
		row.not_after = REVOKED_BASE + 10 * REVOKED_SPAN;
		row.status = STORE_CERT_REVOKED;
		row.revoked_at = e.revoked_at;
		row.reason = e.reason;
		row.der = (uint8_t *)der;
		row.der_len = sizeof(der);
		row.created = row.not_before;
		row.shard = STORE_CRL_SHARD_FULL;
		if ((st = store_txn_cert_insert(txn, &row)) != ST_OK)
			return st;
	}
	return ST_OK;
}

/* What publication.c keeps of each row while it builds. */
struct row {
	char serial[STORE_SERIAL_HEX_CAP];
	int64_t revoked_at;
	int reason;
};
struct rows {
	struct row *v;
	size_t count, cap, next;
};

static int
rows_collect(const char *serial, int64_t revoked_at, int reason, void *arg)
{
	struct rows *r = arg;
	struct row *grown;

	if (r->count == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		if ((grown = realloc(r->v, r->cap * sizeof(*grown))) == NULL)
			return 1;
		r->v = grown;
	}
	snprintf(
	    r->v[r->count].serial, sizeof(r->v[r->count].serial), "%s", serial);
	r->v[r->count].revoked_at = revoked_at;
	r->v[r->count].reason = reason;
	r->count++;
	return 0;
}

static int
rows_next(void *arg, struct ca_crl_entry *e)
{
	struct rows *r = arg;

	if (r->next == r->count)
		return 0;
	e->serial_hex = r->v[r->next].serial;
	e->revoked_at = r->v[r->next].revoked_at;
	e->reason = r->v[r->next].reason;
	r->next++;
	return 1;
}

/* The CRL of n rows read from a fresh store, each phase timed. */
static int
run_store(X509 *ca, EVP_PKEY *key, long n)
{
	struct ca_crl_params p;
	struct store *store = NULL;
	struct source s;
	struct fill f;
	struct rows rows;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *dir, path[4200];
	double t0, c0, t_fill, t_read, c_read, t_build, c_build;
	long done;
	int ok = 0;

	memset(&rows, 0, sizeof(rows));
	if ((dir = testutil_tmpdir()) == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/store.db", dir);
	if (store_open(path, &store) != ST_OK)
		goto out;
	source_reset(&s, n);
	f.src = &s;
	t0 = now();
	for (done = 0; done < n; done += FILL_BATCH) {
		f.count = n - done < FILL_BATCH ? n - done : FILL_BATCH;
		if (store_write(store, fill_commit, &f) != ST_OK)
			goto out;
	}
	t_fill = now() - t0;
	t0 = now();
	c0 = cpu_now();
	if (store_revoked_foreach(store, STORE_CRL_SHARD_FULL, REVOKED_BASE,
	        rows_collect, &rows) != ST_OK ||
	    rows.count != (size_t)n)
		goto out;
	c_read = cpu_now() - c0;
	t_read = now() - t0;
	memset(&p, 0, sizeof(p));
	p.issuer = ca;
	p.key = testutil_signer_key(key, SIGNER_ROLE_ISSUING);
	p.number = 7;
	p.this_update = (int64_t)time(NULL);
	p.next_update = p.this_update + 7 * 86400;
	p.md_nid = NID_sha256;
	t0 = now();
	c0 = cpu_now();
	if (ca_crl_build(&p, rows_next, &rows, &der, &der_len) != ST_OK)
		goto out;
	c_build = cpu_now() - c0;
	t_build = now() - t0;
	printf("tessera store    n=%ld fill=%.1f s read=%.3f s cpu=%.3f s "
	       "build=%.3f s cpu=%.3f s der=%.1f MB\n",
	    n, t_fill, t_read, c_read, t_build, c_build, (double)der_len / 1e6);
	ok = 1;
out:
	if (!ok)
		fprintf(stderr, "bench_crl: store: %s\n", status_detail());
	free(der);
	free(rows.v);
	store_close(store);
	testutil_rmtree(dir);
	free(dir);
	return ok;
}

static void
usage(void)
{
	fprintf(
	    stderr, "usage: bench_crl [-n entries] [-d dir] [-H] [-q] [-S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	char path[4096], *end;
	const char *dir = NULL;
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	FILE *f;
	long n = 100000;
	int c, with_hsm = 0, with_store = 0, rc = 1;

	while ((c = getopt(argc, argv, "n:d:HqS")) != -1) {
		switch (c) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 0 || n > MAX_ENTRIES)
				usage();
			break;
		case 'd':
			dir = optarg;
			break;
		case 'H':
			with_hsm = 1;
			break;
		case 'q':
			build_only = 1;
			break;
		case 'S':
			with_store = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (dir != NULL) {
		snprintf(path, sizeof(path), "%s/ca.key", dir);
		if ((f = fopen(path, "r")) != NULL) {
			key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/ca.pem", dir);
		if ((f = fopen(path, "r")) != NULL) {
			ca = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (key == NULL || ca == NULL) {
			fprintf(
			    stderr, "bench_crl: cannot read %s/ca.*\n", dir);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/index.txt", dir);
		if (write_index(path, n) != 0) {
			fprintf(stderr, "bench_crl: cannot write %s\n", path);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/tessera.crl", dir);
	} else if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (ca = make_ca(key, key, EVP_sha256())) == NULL) {
		fprintf(stderr, "bench_crl: cannot make a software CA\n");
		goto out;
	}
	if (!run("software", ca, key, n, dir != NULL ? path : NULL))
		goto out;
	if (with_hsm && !run_hsm(n))
		goto out;
	if (with_store && !run_store(ca, key, n))
		goto out;
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}
