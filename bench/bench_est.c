/*
 * bench_est: an EST load generator (not a test). N threads POST
 * pre-generated P-256 CSRs to /.well-known/est/simpleenroll for a number of
 * seconds and the enrollments per second are printed.
 *
 *   --mode station    each thread holds one keep-alive TLS connection with
 *                     a client certificate (a factory provisioning station)
 *   --mode firstboot  a new TLS connection per enrollment, HTTP Basic with a
 *                     one-time secret (a device's first boot); the secrets
 *                     are minted through the API (with --cert, an admin or
 *                     station certificate) before the clock starts
 *
 *   --mode token      each thread holds one keep-alive TLS connection with
 *                     a device certificate and POSTs /token (a device
 *                     token per request: signed in the token, audited)
 *   --mode jwks       the same connections GET /.well-known/jwks.json: the
 *                     TLS and HTTP path without a signature or a commit
 *   --mode cacerts    the same connections GET /.well-known/est/cacerts
 *                     (RFC 7030 §4.1: the CA chain, built once per worker)
 *
 * CSRs (and secrets) are made before timing; a thread stops when its time
 * is up or its pool (--pool) is used up (token and jwks use no pool).
 * --save DIR writes each enrolled CSR as DIR/<device id>.csr (PEM), for a
 * comparison with other CAs. --wait FILE: once the CSRs and secrets are
 * made, print "bench_est: ready" on stderr and start the clock only when
 * FILE exists (several load generators started together, e.g. one per
 * node, time the same window). The line printed has cpu=, the CPU
 * seconds this process used while timed, then where a request's time went
 * on the client, in ms per request as WALL/CPU-OF-THIS-CLIENT: tcp= the
 * TCP connect and tls= the handshake (first boot), http= the request
 * written to the answer read, close= the TLS close and the free.
 *
 * usage: bench_est --connect HOST:PORT --cafile F
 *            --mode station|firstboot|token|jwks|cacerts
 *            --cert F --key F --prefix ID-PREFIX [--name SNI]
 *            [--threads N] [--seconds S] [--pool N] [--save DIR]
 *            [--wait FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/unit/testutil.h"

#define THREADS_MAX 16
#define RESP_MAX 65536
#define REQ_MAX 8192

enum mode { MODE_STATION, MODE_FIRSTBOOT, MODE_TOKEN, MODE_JWKS, MODE_CACERTS };

static const char *const mode_names[] = {
    "station", "firstboot", "token", "jwks", "cacerts", NULL};

#define TOKEN_BODY "grant_type=client_credentials"

struct item {
	char id[64];
	char *b64; /* base64 DER CSR */
	char *pem; /* PEM CSR, for --save */
	char secret[128];
	int done;
};

/* Where a thread's time went, wall and its own CPU, in seconds. */
enum phase { PH_TCP, PH_TLS, PH_HTTP, PH_CLOSE, PH_MAX };

static const char *const phase_names[PH_MAX] = {"tcp", "tls", "http", "close"};

struct worker {
	pthread_t thread;
	int index;
	struct item *items;
	size_t count;
	size_t ok, failed, connects;
	double finished;
	double wall[PH_MAX], cpu[PH_MAX];
};

static struct {
	const char *connect, *name, *cafile, *cert, *key, *prefix, *save;
	enum mode mode;
	int threads;
	double seconds;
	size_t pool;
} cfg;

static SSL_CTX *ctx;
static pthread_barrier_t start_line;
static double t_start, t_end;

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "bench_est: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A TLS client context that trusts --cafile and, when cert is not NULL,
 * presents cert and key. No tickets and no session cache: every connection
 * makes a full handshake.
 */
static SSL_CTX *
client_ctx(const char *cert, const char *key)
{
	SSL_CTX *c;

	if ((c = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(c, cfg.cafile, NULL) != 1)
		die("TLS setup");
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	if (cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
	        SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1))
		die("cannot load --cert/--key");
	return c;
}

/* This thread's CPU time so far, in seconds. */
static double
thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Phase timing: a mark, then the time since it charged to a phase. */
struct mark {
	double wall, cpu;
};

static void
mark_set(struct mark *m)
{
	m->wall = now();
	m->cpu = thread_cpu();
}

static void
mark_charge(struct worker *w, enum phase ph, struct mark *m)
{
	struct mark t;

	mark_set(&t);
	if (w != NULL) {
		w->wall[ph] += t.wall - m->wall;
		w->cpu[ph] += t.cpu - m->cpu;
	}
	*m = t;
}

/* A TLS connection; with w, its TCP connect and handshake are timed. */
static BIO *
tls_connect(struct worker *w)
{
	struct mark m;
	BIO *bio, *conn;
	SSL *ssl = NULL;

	if ((bio = BIO_new_ssl_connect(ctx)) == NULL)
		return NULL;
	BIO_get_ssl(bio, &ssl);
	/* As curl does: no Nagle, or the request waits for the ACK of the
	 * client's Finished (the peer's delayed ACK, 40 ms). */
	if ((conn = BIO_find_type(bio, BIO_TYPE_CONNECT)) == NULL ||
	    BIO_set_conn_mode(conn, BIO_SOCK_NODELAY) != 1) {
		BIO_free_all(bio);
		return NULL;
	}
	mark_set(&m);
	if (ssl == NULL || BIO_set_conn_hostname(bio, cfg.connect) != 1 ||
	    SSL_set_tlsext_host_name(ssl, cfg.name) != 1 ||
	    SSL_set1_host(ssl, cfg.name) != 1 || BIO_do_connect(conn) != 1) {
		BIO_free_all(bio);
		return NULL;
	}
	mark_charge(w, PH_TCP, &m);
	if (BIO_do_handshake(bio) != 1) {
		BIO_free_all(bio);
		return NULL;
	}
	mark_charge(w, PH_TLS, &m);
	return bio;
}

static size_t
content_length(const char *buf, const char *end)
{
	const char *p, *nl;
	unsigned long v;

	for (p = buf; p < end; p = nl + 2) {
		if ((nl = strstr(p, "\r\n")) == NULL)
			break;
		if (strncasecmp(p, "Content-Length:", 15) == 0) {
			errno = 0;
			v = strtoul(p + 15, NULL, 10);
			return errno == 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/*
 * One request on bio, one response into buf (NUL-terminated). The HTTP
 * status, or -1 when the connection failed; *body points into buf.
 */
static int
exchange(BIO *bio, const char *head, const char *body, size_t body_len,
    char *buf, size_t cap, const char **out_body)
{
	size_t len = 0, off = 0, want = 0, hlen;
	char *end;
	int n;
	unsigned long code;

	*out_body = NULL;
	/* One write: head and body in separate TLS records would meet
	 * Nagle and the peer's delayed ACK (40 ms a request). */
	hlen = strlen(head);
	if (hlen + body_len >= cap)
		return -1;
	memcpy(buf, head, hlen);
	memcpy(buf + hlen, body, body_len);
	if (BIO_write(bio, buf, (int)(hlen + body_len)) !=
	        (int)(hlen + body_len) ||
	    BIO_flush(bio) != 1)
		return -1;
	for (;;) {
		if (len + 1 >= cap)
			return -1;
		if ((n = BIO_read(bio, buf + len, (int)(cap - 1 - len))) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (off == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			off = (size_t)(end + 4 - buf);
			want = content_length(buf, end + 2);
		}
		if (off != 0 && len >= off + want)
			break;
	}
	if (strncmp(buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	errno = 0;
	code = strtoul(buf + 9, NULL, 10);
	if (errno != 0)
		return -1;
	*out_body = buf + off;
	return (int)code;
}

/* The request for it (NULL in token and jwks modes): head and body. */
static int
request_head(const struct item *it, char *head, size_t cap, const char **body)
{
	char cred[256], auth[512] = "";
	unsigned char cred_b64[360];
	int n;

	if (cfg.mode == MODE_JWKS || cfg.mode == MODE_CACERTS) {
		*body = "";
		n = snprintf(head, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
		    cfg.mode == MODE_JWKS ? "/.well-known/jwks.json"
		                          : "/.well-known/est/cacerts",
		    cfg.name);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (cfg.mode == MODE_TOKEN) {
		*body = TOKEN_BODY;
		n = snprintf(head, cap,
		    "POST /token HTTP/1.1\r\nHost: %s\r\nContent-Type: "
		    "application/x-www-form-urlencoded\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    cfg.name, strlen(TOKEN_BODY));
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	*body = it->b64;
	if (cfg.mode == MODE_FIRSTBOOT) {
		n = snprintf(cred, sizeof(cred), "%s:%s", it->id, it->secret);
		if (n < 0 || (size_t)n >= sizeof(cred))
			return -1;
		EVP_EncodeBlock(cred_b64, (unsigned char *)cred, n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n",
		    (char *)cred_b64);
	}
	n = snprintf(head, cap,
	    "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
	    "Host: %s\r\nContent-Type: application/pkcs10\r\n"
	    "Content-Length: %zu\r\n%s\r\n",
	    cfg.name, strlen(it->b64), auth);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	char head[REQ_MAX], *buf;
	const char *body, *req_body;
	BIO *bio = NULL;
	struct mark m;
	size_t i = 0;
	int code,
	    pooled = cfg.mode == MODE_STATION || cfg.mode == MODE_FIRSTBOOT;

	if ((buf = malloc(RESP_MAX)) == NULL)
		die("out of memory");
	if (cfg.mode != MODE_FIRSTBOOT) {
		if ((bio = tls_connect(NULL)) == NULL)
			die("station: cannot connect");
		w->connects++;
	}
	pthread_barrier_wait(&start_line);
	for (i = 0; (!pooled || i < w->count) && now() < t_end; i++) {
		struct item *it = pooled ? &w->items[i] : NULL;

		if (request_head(it, head, sizeof(head), &req_body) != 0)
			die("request too large");
		if (cfg.mode == MODE_FIRSTBOOT) {
			if ((bio = tls_connect(w)) == NULL) {
				w->failed++;
				continue;
			}
			w->connects++;
		}
		mark_set(&m);
		code = exchange(bio, head, req_body, strlen(req_body), buf,
		    RESP_MAX, &body);
		mark_charge(w, PH_HTTP, &m);
		if (code == 200) {
			w->ok++;
			if (it != NULL)
				it->done = 1;
		} else {
			w->failed++;
			if (w->failed <= 3)
				fprintf(stderr,
				    "bench_est: %s: HTTP %d %.200s\n",
				    it != NULL ? it->id : mode_names[cfg.mode],
				    code, body ? body : "");
			if (code < 0 && cfg.mode != MODE_FIRSTBOOT) {
				BIO_free_all(bio);
				if ((bio = tls_connect(NULL)) == NULL)
					die("station: cannot reconnect");
				w->connects++;
			}
		}
		if (cfg.mode == MODE_FIRSTBOOT) {
			BIO_free_all(bio);
			bio = NULL;
			mark_charge(w, PH_CLOSE, &m);
		}
	}
	w->finished = now();
	BIO_free_all(bio);
	free(buf);
	return NULL;
}

/* A fresh P-256 key and a CSR for CN=id, as base64 DER and PEM. */
static void
make_item(struct item *it)
{
	EVP_PKEY *key;
	uint8_t *der;
	size_t der_len;
	BIO *mem;
	char *p;
	long plen;

	if ((key = testutil_key("ec:P-256")) == NULL)
		die("keygen");
	if (testutil_csr(key, it->id, NULL, &der, &der_len) != 0)
		die("CSR");
	if ((it->b64 = malloc(der_len * 4 / 3 + 4)) == NULL)
		die("out of memory");
	EVP_EncodeBlock((unsigned char *)it->b64, der, (int)der_len);
	if ((mem = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(mem, PEM_STRING_X509_REQ, "", der, (long)der_len))
		die("PEM");
	plen = BIO_get_mem_data(mem, &p);
	if ((it->pem = strndup(p, (size_t)plen)) == NULL)
		die("out of memory");
	BIO_free(mem);
	free(der);
	EVP_PKEY_free(key);
}

/* Secrets for every item, over one keep-alive API connection. */
static void
mint_secrets(struct worker *w, int nw)
{
	char head[1024], json[256], *buf;
	const char *body, *s, *e;
	BIO *bio;
	size_t i;
	int t, code, n;

	if ((buf = malloc(RESP_MAX)) == NULL ||
	    (bio = tls_connect(NULL)) == NULL)
		die("mint: cannot connect to the API");
	for (t = 0; t < nw; t++)
		for (i = 0; i < w[t].count; i++) {
			struct item *it = &w[t].items[i];

			n = snprintf(json, sizeof(json),
			    "{\"device\":\"%s\",\"ttl\":3600}", it->id);
			snprintf(head, sizeof(head),
			    "POST /api/v1/enrollment-secrets HTTP/1.1\r\n"
			    "Host: %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %d\r\n\r\n",
			    cfg.name, n);
			code = exchange(
			    bio, head, json, (size_t)n, buf, RESP_MAX, &body);
			if (code != 201 ||
			    (s = strstr(body, "\"secret\":\"")) == NULL ||
			    (e = strchr(s + 10, '"')) == NULL ||
			    (size_t)(e - s - 10) >= sizeof(it->secret)) {
				fprintf(stderr,
				    "bench_est: mint %s: HTTP %d "
				    "%.200s\n",
				    it->id, code, body ? body : "");
				exit(1);
			}
			memcpy(it->secret, s + 10, (size_t)(e - s - 10));
			it->secret[e - s - 10] = '\0';
		}
	BIO_free_all(bio);
	free(buf);
}

static void
save(struct worker *w, int nw)
{
	char path[4096];
	FILE *f;
	size_t i;
	int t;

	for (t = 0; t < nw; t++)
		for (i = 0; i < w[t].count; i++) {
			if (!w[t].items[i].done)
				continue;
			snprintf(path, sizeof(path), "%s/%s.csr", cfg.save,
			    w[t].items[i].id);
			if ((f = fopen(path, "w")) == NULL ||
			    fputs(w[t].items[i].pem, f) == EOF ||
			    fclose(f) != 0)
				die("cannot write a CSR under --save");
		}
}

static long
number(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		fprintf(
		    stderr, "bench_est: %s must be %ld..%ld\n", what, lo, hi);
		exit(2);
	}
	return v;
}

/* This process's CPU time so far (user and system), in seconds. */
static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_est --connect HOST:PORT --cafile F "
	    "--mode station|firstboot|token|jwks|cacerts\n"
	    "           --cert F --key F --prefix ID-PREFIX [--name SNI]\n"
	    "           [--threads N] [--seconds S] [--pool N] "
	    "[--save DIR] [--wait FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"cafile", required_argument, NULL, 'A'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"mode", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 't'},
	    {"seconds", required_argument, NULL, 's'},
	    {"pool", required_argument, NULL, 'p'},
	    {"prefix", required_argument, NULL, 'P'},
	    {"save", required_argument, NULL, 'S'},
	    {"wait", required_argument, NULL, 'W'},
	    {NULL, 0, NULL, 0},
	};
	struct worker w[THREADS_MAX];
	size_t ok = 0, failed = 0, connects = 0, i;
	double last = 0, elapsed, t0, cpu0;
	const char *wait_file = NULL;
	int c, t;

	cfg.name = "localhost";
	cfg.threads = 1;
	cfg.seconds = 10;
	cfg.pool = 2000;
	cfg.mode = MODE_STATION;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg.connect = optarg;
			break;
		case 'n':
			cfg.name = optarg;
			break;
		case 'A':
			cfg.cafile = optarg;
			break;
		case 'C':
			cfg.cert = optarg;
			break;
		case 'K':
			cfg.key = optarg;
			break;
		case 'P':
			cfg.prefix = optarg;
			break;
		case 'S':
			cfg.save = optarg;
			break;
		case 'W':
			wait_file = optarg;
			break;
		case 'm':
			for (i = 0; mode_names[i] != NULL; i++)
				if (strcmp(optarg, mode_names[i]) == 0)
					break;
			if (mode_names[i] == NULL)
				usage();
			cfg.mode = (enum mode)i;
			break;
		case 't':
			cfg.threads =
			    (int)number(optarg, 1, THREADS_MAX, "--threads");
			break;
		case 's':
			cfg.seconds =
			    (double)number(optarg, 1, 3600, "--seconds");
			break;
		case 'p':
			cfg.pool = (size_t)number(optarg, 1, 1000000, "--pool");
			break;
		default:
			usage();
		}
	}
	if (optind != argc || cfg.connect == NULL || cfg.cafile == NULL ||
	    cfg.cert == NULL || cfg.key == NULL || cfg.prefix == NULL)
		usage();

	ctx = client_ctx(cfg.cert, cfg.key);

	/* Everything the clock must not see: keys, CSRs, secrets. */
	t0 = now();
	memset(w, 0, sizeof(w));
	if (cfg.mode == MODE_TOKEN || cfg.mode == MODE_JWKS ||
	    cfg.mode == MODE_CACERTS)
		cfg.pool = 0;
	for (t = 0; t < cfg.threads; t++) {
		w[t].index = t;
		w[t].count = cfg.pool;
		if ((w[t].items = calloc(cfg.pool + 1, sizeof(struct item))) ==
		    NULL)
			die("out of memory");
		for (i = 0; i < cfg.pool; i++) {
			snprintf(w[t].items[i].id, sizeof(w[t].items[i].id),
			    "%s-%d-%zu", cfg.prefix, t, i);
			make_item(&w[t].items[i]);
		}
	}
	fprintf(stderr, "bench_est: %zu CSRs made in %.1f s\n",
	    cfg.pool * (size_t)cfg.threads, now() - t0);
	if (cfg.mode == MODE_FIRSTBOOT) {
		/* Devices at first boot hold no certificate. */
		t0 = now();
		mint_secrets(w, cfg.threads);
		fprintf(stderr, "bench_est: %zu secrets minted in %.1f s\n",
		    cfg.pool * (size_t)cfg.threads, now() - t0);
		SSL_CTX_free(ctx);
		ctx = client_ctx(NULL, NULL);
	}

	if (wait_file != NULL) {
		fprintf(stderr, "bench_est: ready\n");
		while (access(wait_file, F_OK) != 0)
			usleep(1000);
	}
	if (pthread_barrier_init(
	        &start_line, NULL, (unsigned)cfg.threads + 1) != 0)
		die("barrier");
	for (t = 0; t < cfg.threads; t++)
		if (pthread_create(&w[t].thread, NULL, run, &w[t]) != 0)
			die("pthread_create");
	t_start = now();
	t_end = t_start + cfg.seconds;
	pthread_barrier_wait(&start_line);
	t_start = now();
	cpu0 = cpu_seconds();
	for (t = 0; t < cfg.threads; t++) {
		pthread_join(w[t].thread, NULL);
		ok += w[t].ok;
		failed += w[t].failed;
		connects += w[t].connects;
		if (w[t].finished > last)
			last = w[t].finished;
	}
	elapsed = last - t_start;
	printf("mode=%s threads=%d ok=%zu failed=%zu "
	       "connections=%zu seconds=%.2f rate=%.1f cpu=%.2f",
	    mode_names[cfg.mode], cfg.threads, ok, failed, connects, elapsed,
	    elapsed > 0 ? (double)ok / elapsed : 0.0, cpu_seconds() - cpu0);
	/* Per request, in ms: the wall time of each phase and (after /)
	 * the CPU this client spent in it. */
	for (i = 0; i < PH_MAX; i++) {
		double wall = 0, cpu = 0;

		for (t = 0; t < cfg.threads; t++) {
			wall += w[t].wall[i];
			cpu += w[t].cpu[i];
		}
		if (wall > 0 && ok + failed > 0)
			printf(" %s=%.3f/%.3f", phase_names[i],
			    wall * 1e3 / (double)(ok + failed),
			    cpu * 1e3 / (double)(ok + failed));
	}
	printf("\n");
	if (cfg.save != NULL)
		save(w, cfg.threads);
	for (t = 0; t < cfg.threads; t++) {
		for (i = 0; i < w[t].count; i++) {
			free(w[t].items[i].b64);
			free(w[t].items[i].pem);
			OPENSSL_cleanse(
			    w[t].items[i].secret, sizeof(w[t].items[i].secret));
		}
		free(w[t].items);
	}
	SSL_CTX_free(ctx);
	return failed == 0 ? 0 : 1;
}
