/*
 * est_pop: an EST client that links its CSR to the TLS channel (RFC 7030
 * §3.5), for the integration tests. It connects, reads the channel
 * binding (tls-unique over TLS 1.2: the client's Finished on a full
 * handshake; RFC 9266 tls-exporter over TLS 1.3), makes a fresh P-256 key
 * and a CSR for CN=<id> whose challengePassword is base64(binding), and
 * POSTs it to simpleenroll on the same connection. It prints the HTTP
 * status line and exits 0 on 200, 1 on any other status, 2 on an error.
 *
 * usage: est_pop --connect HOST:PORT --cafile F --id ID [--name SNI]
 *            [--cert F --key F] [--user U --password P] [--label L]
 *            [--tls13] [--wrong] [--no-binding] [--no-ems] [--out F]
 *
 * --no-ems leaves extended master secret (RFC 7627) out of a TLS 1.2
 * handshake, whose tls-unique a server must then refuse (RFC 9266 §3).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define REQ_MAX 16384
#define RESP_MAX 65536

struct opts {
	const char *connect;
	const char *name;
	const char *cafile;
	const char *cert;
	const char *key;
	const char *user;
	const char *password;
	const char *id;
	const char *label;
	const char *out;
	int tls13;
	int wrong;
	int no_binding;
	int no_ems;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: est_pop --connect HOST:PORT --cafile F --id ID "
	    "[--name SNI]\n"
	    "           [--cert F --key F] [--user U --password P] "
	    "[--label L]\n"
	    "           [--tls13] [--wrong] [--no-binding] [--no-ems] "
	    "[--out F]\n");
	exit(2);
}

static void die_ssl(const char *what) __attribute__((noreturn));

static void
die_ssl(const char *what)
{
	fprintf(stderr, "est_pop: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* The channel binding of ssl: tls-unique (1.2) or tls-exporter (1.3). */
static size_t
channel_binding(SSL *ssl, unsigned char *out, size_t cap)
{
	size_t n;

	if (SSL_version(ssl) >= TLS1_3_VERSION) {
		if (cap < 32 ||
		    SSL_export_keying_material(ssl, out, 32,
		        "EXPORTER-Channel-Binding", 24, NULL, 0, 0) != 1)
			die_ssl("tls-exporter failed");
		return 32;
	}
	/* RFC 5929 §3.1: the first Finished of the handshake. */
	if (SSL_session_reused(ssl))
		n = SSL_get_peer_finished(ssl, out, cap);
	else
		n = SSL_get_finished(ssl, out, cap);
	if (n == 0 || n > cap)
		die_ssl("no Finished message for tls-unique");
	return n;
}

/* A P-256 CSR for CN=id, challengePassword = cp if not NULL; DER. */
static unsigned char *
make_csr(const char *id, const char *cp, int *der_len)
{
	EVP_PKEY *key;
	X509_REQ *req;
	X509_NAME *name;
	unsigned char *der = NULL;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL)
		die_ssl("out of memory");
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)id, -1, -1, 0) ||
	    !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key))
		die_ssl("cannot build the CSR");
	if (cp != NULL &&
	    !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	        MBSTRING_ASC, (const unsigned char *)cp, -1))
		die_ssl("cannot add challengePassword");
	if (!X509_REQ_sign(req, key, EVP_sha256()))
		die_ssl("cannot sign the CSR");
	if ((*der_len = i2d_X509_REQ(req, &der)) <= 0)
		die_ssl("cannot encode the CSR");
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return der;
}

static void
write_all(SSL *ssl, const char *p, size_t n)
{
	size_t done;

	while (n > 0) {
		if (SSL_write_ex(ssl, p, n, &done) != 1)
			die_ssl("TLS write failed");
		p += done;
		n -= done;
	}
}

/* The Content-Length of the header block buf..end, 0 if none. */
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

/* Read one response (headers and a Content-Length body) into buf. */
static size_t
read_response(
    SSL *ssl, char *buf, size_t cap, size_t *body_off, size_t *body_len)
{
	size_t len = 0, got, want = 0;
	char *end;

	*body_off = 0;
	*body_len = 0;
	for (;;) {
		if (len + 1 >= cap) {
			fprintf(stderr, "est_pop: response too large\n");
			exit(2);
		}
		if (SSL_read_ex(ssl, buf + len, cap - 1 - len, &got) != 1)
			break;
		len += got;
		buf[len] = '\0';
		if (*body_off == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			*body_off = (size_t)(end + 4 - buf);
			want = content_length(buf, end + 2);
		}
		if (*body_off != 0 && len >= *body_off + want)
			break;
	}
	buf[len] = '\0';
	if (*body_off != 0)
		*body_len = len - *body_off;
	return len;
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
	    {"user", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'p'},
	    {"id", required_argument, NULL, 'i'},
	    {"label", required_argument, NULL, 'l'},
	    {"out", required_argument, NULL, 'o'},
	    {"tls13", no_argument, NULL, '3'},
	    {"wrong", no_argument, NULL, 'w'},
	    {"no-binding", no_argument, NULL, 'N'},
	    {"no-ems", no_argument, NULL, 'E'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *bio;
	unsigned char binding[64], *der, cp[128], *b64, *cred_b64 = NULL;
	char *req, *resp, *eol, cred[512], auth[800] = "", path[256];
	int c, der_len, n, b64_len;
	size_t blen, len, body_off, body_len;
	FILE *f;

	memset(&o, 0, sizeof(o));
	o.name = "localhost";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.connect = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'A':
			o.cafile = optarg;
			break;
		case 'C':
			o.cert = optarg;
			break;
		case 'K':
			o.key = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'p':
			o.password = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 'l':
			o.label = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case '3':
			o.tls13 = 1;
			break;
		case 'w':
			o.wrong = 1;
			break;
		case 'N':
			o.no_binding = 1;
			break;
		case 'E':
			o.no_ems = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.connect == NULL || o.cafile == NULL ||
	    o.id == NULL || (o.cert == NULL) != (o.key == NULL) ||
	    (o.user == NULL) != (o.password == NULL))
		usage();

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die_ssl("SSL_CTX_new");
	n = o.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	if (!SSL_CTX_set_min_proto_version(ctx, n) ||
	    !SSL_CTX_set_max_proto_version(ctx, n))
		die_ssl("cannot pin the TLS version");
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (o.no_ems)
		SSL_CTX_set_options(ctx, SSL_OP_NO_EXTENDED_MASTER_SECRET);
	if (SSL_CTX_load_verify_locations(ctx, o.cafile, NULL) != 1)
		die_ssl("cannot load --cafile");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o.cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o.cert) != 1 ||
	        SSL_CTX_use_PrivateKey_file(ctx, o.key, SSL_FILETYPE_PEM) !=
	            1 ||
	        SSL_CTX_check_private_key(ctx) != 1))
		die_ssl("cannot load --cert/--key");

	if ((bio = BIO_new_ssl_connect(ctx)) == NULL)
		die_ssl("BIO_new_ssl_connect");
	BIO_get_ssl(bio, &ssl);
	if (ssl == NULL || BIO_set_conn_hostname(bio, o.connect) != 1 ||
	    SSL_set_tlsext_host_name(ssl, o.name) != 1 ||
	    SSL_set1_host(ssl, o.name) != 1)
		die_ssl("cannot set up the connection");
	if (BIO_do_connect(bio) != 1 || BIO_do_handshake(bio) != 1)
		die_ssl("TLS handshake failed");

	blen = channel_binding(ssl, binding, sizeof(binding));
	if (o.wrong)
		binding[0] ^= 0x5a;
	if (EVP_EncodeBlock(cp, binding, (int)blen) <= 0)
		die_ssl("base64");
	fprintf(stderr, "est_pop: %s, %s %s\n", SSL_get_version(ssl),
	    SSL_version(ssl) >= TLS1_3_VERSION ? "tls-exporter" : "tls-unique",
	    (char *)cp);

	der = make_csr(o.id, o.no_binding ? NULL : (char *)cp, &der_len);
	if ((b64 = malloc((size_t)der_len * 4 / 3 + 4)) == NULL)
		die_ssl("out of memory");
	b64_len = EVP_EncodeBlock(b64, der, der_len);
	OPENSSL_free(der);

	if (o.user != NULL) {
		n = snprintf(cred, sizeof(cred), "%s:%s", o.user, o.password);
		if (n < 0 || (size_t)n >= sizeof(cred) ||
		    (cred_b64 = malloc((size_t)n * 4 / 3 + 4)) == NULL)
			die_ssl("credentials too long");
		EVP_EncodeBlock(cred_b64, (unsigned char *)cred, n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n",
		    (char *)cred_b64);
		OPENSSL_cleanse(cred, sizeof(cred));
	}
	snprintf(path, sizeof(path), "/.well-known/est/%s%ssimpleenroll",
	    o.label ? o.label : "", o.label ? "/" : "");
	if ((req = malloc(REQ_MAX)) == NULL ||
	    (resp = malloc(RESP_MAX)) == NULL)
		die_ssl("out of memory");
	n = snprintf(req, REQ_MAX,
	    "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/pkcs10\r\n"
	    "Content-Length: %d\r\n%s\r\n%s",
	    path, o.name, b64_len, auth, (char *)b64);
	if (n < 0 || n >= REQ_MAX)
		die_ssl("request too large");
	write_all(ssl, req, (size_t)n);

	len = read_response(ssl, resp, RESP_MAX, &body_off, &body_len);
	if (len == 0) {
		fprintf(stderr, "est_pop: no response\n");
		return 2;
	}
	if ((eol = strstr(resp, "\r\n")) != NULL)
		*eol = '\0';
	printf("%s\n", resp);
	if (body_off != 0 && body_len > 0) {
		if (o.out != NULL) {
			if ((f = fopen(o.out, "w")) == NULL ||
			    fwrite(resp + body_off, 1, body_len, f) !=
			        body_len ||
			    fclose(f) != 0) {
				fprintf(stderr, "est_pop: cannot write %s\n",
				    o.out);
				return 2;
			}
		} else if (strncmp(resp, "HTTP/1.1 200", 12) != 0)
			fprintf(
			    stderr, "%.*s\n", (int)body_len, resp + body_off);
	}
	n = strncmp(resp, "HTTP/1.1 200 ", 13) == 0 ||
	    strcmp(resp, "HTTP/1.1 200") == 0;
	free(b64);
	free(cred_b64);
	free(req);
	free(resp);
	BIO_free_all(bio);
	SSL_CTX_free(ctx);
	return n ? 0 : 1;
}
