/*
 * bench_ocsp: an OCSP load generator (not a test). N threads send OCSP
 * requests for a set of certificates to a responder over plain HTTP for a
 * number of seconds; the responses per second are printed.
 *
 *   --mode get    nonce-less GET {path}/{percent-encoded base64 DER}: what
 *                 RFC 5019 clients and nginx send; a responder may answer
 *                 from pre-signed responses
 *   --mode post   POST {path} with a fresh 32-byte nonce in every request:
 *                 the responder must sign online
 *   --close       a new TCP connection per request (else HTTP/1.1
 *                 keep-alive, reconnecting only when the server closes)
 *
 * The requests (SHA-1 CertIDs, as nginx and openssl send) are built before
 * the clock starts: one GET per certificate, and for --mode post a pool of
 * --pool requests with distinct random nonces per thread, reused round
 * robin. A response counts when the HTTP status is 200 and the body is an
 * OCSPResponse with responseStatus successful(0) (checked from its first
 * bytes); anything else counts as failed. --check parses the first response
 * of each certificate fully and prints its status (good/revoked/unknown).
 *
 * usage: bench_ocsp --connect HOST:PORT --issuer ISSUER.pem CERT.pem...
 *            [--path /ocsp] [--mode get|post] [--close] [--threads N]
 *            [--seconds S] [--pool N] [--check]
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define THREADS_MAX 16
#define RESP_MAX 65536

struct req {
	char *data; /* a whole HTTP request */
	size_t len;
};

struct worker {
	pthread_t thread;
	int index;
	struct req *post; /* --mode post: this thread's nonce pool */
	size_t ok, failed, connects;
};

static struct {
	const char *connect, *issuer, *path;
	char host[256], port[16];
	int post, close, threads, check;
	double seconds;
	size_t pool;
} cfg = {.path = "", .threads = 1, .seconds = 10, .pool = 4096};

static X509 **certs;
static size_t ncerts;
static struct req *gets; /* one per certificate */
static struct addrinfo *addr;
static pthread_barrier_t start_line;
static double t_start, t_end;

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "bench_ocsp: %s\n", what);
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

static X509 *
load_cert(const char *path)
{
	FILE *f;
	X509 *x;

	if ((f = fopen(path, "r")) == NULL)
		die(path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		die(path);
	return x;
}

/* DER of an OCSP request for cert (SHA-1 CertID), with a nonce or not. */
static unsigned char *
request_der(X509 *issuer, X509 *cert, int nonce, int *len)
{
	OCSP_REQUEST *req;
	OCSP_CERTID *id;
	unsigned char *der = NULL;

	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) == NULL ||
	    OCSP_request_add0_id(req, id) == NULL ||
	    (nonce && OCSP_request_add1_nonce(req, NULL, 32) != 1) ||
	    (*len = i2d_OCSP_REQUEST(req, &der)) <= 0)
		die("build an OCSP request");
	OCSP_REQUEST_free(req);
	return der;
}

static void
build_get(X509 *issuer, X509 *cert, struct req *out)
{
	unsigned char *der, *b64;
	char *enc, *p;
	int len, n, i;
	size_t cap;

	der = request_der(issuer, cert, 0, &len);
	b64 = malloc((size_t)len * 2 + 4);
	enc = malloc((size_t)len * 6 + 16);
	if (b64 == NULL || enc == NULL)
		die("out of memory");
	n = EVP_EncodeBlock(b64, der, len);
	for (p = enc, i = 0; i < n; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=') {
			static const char hex[] = "0123456789ABCDEF";

			*p++ = '%';
			*p++ = hex[b64[i] >> 4];
			*p++ = hex[b64[i] & 15];
		} else
			*p++ = (char)b64[i];
	}
	*p = '\0';
	cap = strlen(enc) + 256;
	if ((out->data = malloc(cap)) == NULL)
		die("out of memory");
	n = snprintf(out->data, cap,
	    "GET %s/%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: %s\r\n\r\n",
	    cfg.path, enc, cfg.host, cfg.port,
	    cfg.close ? "close" : "keep-alive");
	out->len = (size_t)n;
	OPENSSL_free(der);
	free(b64);
	free(enc);
}

static void
build_post(X509 *issuer, X509 *cert, struct req *out)
{
	unsigned char *der;
	char head[512];
	int len, n;

	der = request_der(issuer, cert, 1, &len);
	n = snprintf(head, sizeof(head),
	    "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Content-Type: application/ocsp-request\r\n"
	    "Content-Length: %d\r\nConnection: %s\r\n\r\n",
	    *cfg.path ? cfg.path : "/", cfg.host, cfg.port, len,
	    cfg.close ? "close" : "keep-alive");
	if ((out->data = malloc((size_t)n + (size_t)len)) == NULL)
		die("out of memory");
	memcpy(out->data, head, (size_t)n);
	memcpy(out->data + n, der, (size_t)len);
	out->len = (size_t)n + (size_t)len;
	OPENSSL_free(der);
}

static int
tcp_connect(void)
{
	int fd, one = 1;

	if ((fd = socket(addr->ai_family, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, addr->ai_addr, addr->ai_addrlen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A header's value (case-insensitive name), or NULL. */
static const char *
header(const char *head, const char *end, const char *name)
{
	const char *p = head, *nl;
	size_t n = strlen(name);

	while (p < end && (nl = strstr(p, "\r\n")) != NULL && nl < end) {
		p = nl + 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/*
 * One request and its response on *fd (connecting when *fd < 0). Returns
 * the HTTP status (-1 on a transport error), the body in *body and *blen.
 * *fd is closed and set to -1 unless the connection can carry the next
 * request.
 */
static int
exchange(int *fd, const struct req *r, char *buf, const char **body,
    size_t *blen, size_t *connects)
{
	size_t len = 0, off = 0, want = 0;
	int have_len = 0, keep = 0, code = -1, tries;
	ssize_t n;
	const char *v;
	char *end;

	for (tries = 0; tries < 2; tries++) {
		if (*fd < 0) {
			if ((*fd = tcp_connect()) < 0)
				goto out;
			(*connects)++;
		}
		if (write_all(*fd, r->data, r->len) == 0)
			break;
		/* The server closed an idle keep-alive connection. */
		close(*fd);
		*fd = -1;
	}
	if (*fd < 0)
		goto out;
	for (;;) {
		if (len + 1 >= RESP_MAX)
			goto out;
		n = read(*fd, buf + len, RESP_MAX - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (off != 0 && !have_len)
				break; /* body delimited by close */
			goto out;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (off == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			off = (size_t)(end + 4 - buf);
			if ((v = header(buf, end + 2, "Content-Length")) !=
			    NULL) {
				want = strtoul(v, NULL, 10);
				have_len = 1;
			}
		}
		if (off != 0 && have_len && len >= off + want)
			break;
	}
	/*
	 * Reuse needs a response delimited by its Content-Length. HTTP/1.1
	 * keeps the connection unless told to close, HTTP/1.0 only when told
	 * to keep it alive.
	 */
	v = header(buf, buf + off, "Connection");
	if (v != NULL && strncasecmp(v, "close", 5) == 0)
		keep = 0;
	else if (v != NULL && strncasecmp(v, "keep-alive", 10) == 0)
		keep = have_len && strncmp(buf, "HTTP/1.", 7) == 0;
	else
		keep = have_len && strncmp(buf, "HTTP/1.1 ", 9) == 0;
	*body = buf + off;
	*blen = have_len ? want : len - off;
	code = (int)strtol(buf + 9, NULL, 10);
out:
	if ((code < 0 || !keep || cfg.close) && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return code;
}

/* The body is an OCSPResponse whose responseStatus is successful (0). */
static int
successful(const unsigned char *p, size_t n)
{
	size_t i = 2;

	if (n < 5 || p[0] != 0x30)
		return 0;
	if (p[1] & 0x80)
		i = 2 + (p[1] & 0x7f);
	return i + 3 <= n && p[i] == 0x0a && p[i + 1] == 0x01 &&
	    p[i + 2] == 0x00;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	char *buf;
	const char *body;
	size_t blen, i = (size_t)w->index * 7;
	int fd = -1;
	const struct req *r;

	if ((buf = malloc(RESP_MAX)) == NULL)
		die("out of memory");
	pthread_barrier_wait(&start_line);
	while (now() < t_end) {
		r = cfg.post ? &w->post[i % cfg.pool] : &gets[i % ncerts];
		i++;
		if (exchange(&fd, r, buf, &body, &blen, &w->connects) == 200 &&
		    successful((const unsigned char *)body, blen))
			w->ok++;
		else
			w->failed++;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* --check: one request per certificate, fully parsed. */
static void
check_all(X509 *issuer)
{
	char *buf = malloc(RESP_MAX);
	const char *body;
	const unsigned char *p;
	size_t blen, connects = 0, i;
	int fd = -1, code, status, reason;
	struct req r;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	OCSP_CERTID *id;

	if (buf == NULL)
		die("out of memory");
	for (i = 0; i < ncerts; i++) {
		if (cfg.post)
			build_post(issuer, certs[i], &r);
		else
			r = gets[i];
		code = exchange(&fd, &r, buf, &body, &blen, &connects);
		p = (const unsigned char *)body;
		status = -1;
		if (code == 200 &&
		    (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)blen)) != NULL) {
			if ((bs = OCSP_response_get1_basic(resp)) != NULL) {
				id = OCSP_cert_to_id(
				    EVP_sha1(), certs[i], issuer);
				if (OCSP_resp_find_status(bs, id, &status,
				        &reason, NULL, NULL, NULL) != 1)
					status = -1;
				OCSP_CERTID_free(id);
				OCSP_BASICRESP_free(bs);
			}
			OCSP_RESPONSE_free(resp);
		}
		printf("check %zu: HTTP %d %s\n", i, code,
		    status < 0 ? "no status" : OCSP_cert_status_str(status));
		if (cfg.post)
			free(r.data);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"issuer", required_argument, NULL, 'i'},
	    {"path", required_argument, NULL, 'P'},
	    {"mode", required_argument, NULL, 'm'},
	    {"close", no_argument, NULL, 'C'},
	    {"threads", required_argument, NULL, 't'},
	    {"seconds", required_argument, NULL, 's'},
	    {"pool", required_argument, NULL, 'p'},
	    {"check", no_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	struct worker w[THREADS_MAX];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	size_t ok = 0, failed = 0, connects = 0, i, j;
	X509 *issuer;
	const char *colon;
	int c, t;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg.connect = optarg;
			break;
		case 'i':
			cfg.issuer = optarg;
			break;
		case 'P':
			cfg.path = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "post") == 0)
				cfg.post = 1;
			else if (strcmp(optarg, "get") != 0)
				die("--mode get|post");
			break;
		case 'C':
			cfg.close = 1;
			break;
		case 't':
			cfg.threads = (int)strtol(optarg, NULL, 10);
			break;
		case 's':
			cfg.seconds = atof(optarg);
			break;
		case 'p':
			cfg.pool = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			cfg.check = 1;
			break;
		default:
			die("bad option");
		}
	}
	if (cfg.connect == NULL || cfg.issuer == NULL || optind >= argc ||
	    cfg.threads < 1 || cfg.threads > THREADS_MAX || cfg.pool == 0 ||
	    (colon = strrchr(cfg.connect, ':')) == NULL ||
	    (size_t)(colon - cfg.connect) >= sizeof(cfg.host))
		die("usage: bench_ocsp --connect HOST:PORT --issuer F CERT... "
		    "[--path P] [--mode get|post] [--close] [--threads N] "
		    "[--seconds S] [--pool N] [--check]");
	memcpy(cfg.host, cfg.connect, (size_t)(colon - cfg.connect));
	snprintf(cfg.port, sizeof(cfg.port), "%s", colon + 1);
	if (getaddrinfo(cfg.host, cfg.port, &hints, &addr) != 0)
		die("resolve --connect");
	issuer = load_cert(cfg.issuer);
	ncerts = (size_t)(argc - optind);
	if ((certs = calloc(ncerts, sizeof(*certs))) == NULL ||
	    (gets = calloc(ncerts, sizeof(*gets))) == NULL)
		die("out of memory");
	for (i = 0; i < ncerts; i++) {
		certs[i] = load_cert(argv[optind + (int)i]);
		build_get(issuer, certs[i], &gets[i]);
	}
	if (cfg.check) {
		check_all(issuer);
		return 0;
	}
	memset(w, 0, sizeof(w));
	for (t = 0; t < cfg.threads; t++) {
		w[t].index = t;
		if (!cfg.post)
			continue;
		if ((w[t].post = calloc(cfg.pool, sizeof(struct req))) == NULL)
			die("out of memory");
		for (j = 0; j < cfg.pool; j++)
			build_post(issuer, certs[j % ncerts], &w[t].post[j]);
	}
	pthread_barrier_init(&start_line, NULL, (unsigned)cfg.threads + 1);
	for (t = 0; t < cfg.threads; t++)
		if (pthread_create(&w[t].thread, NULL, run, &w[t]) != 0)
			die("pthread_create");
	t_start = now();
	t_end = t_start + cfg.seconds;
	pthread_barrier_wait(&start_line);
	for (t = 0; t < cfg.threads; t++) {
		pthread_join(w[t].thread, NULL);
		ok += w[t].ok;
		failed += w[t].failed;
		connects += w[t].connects;
	}
	t_end = now();
	printf("threads=%d mode=%s%s responses=%zu failed=%zu connects=%zu "
	       "seconds=%.2f rate=%.1f\n",
	    cfg.threads, cfg.post ? "post-nonce" : "get",
	    cfg.close ? "-close" : "-keepalive", ok, failed, connects,
	    t_end - t_start, (double)ok / (t_end - t_start));
	return 0;
}
