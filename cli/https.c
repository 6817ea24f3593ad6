/*
 * https: OpenSSL over a socket, HTTP/1.1 with Content-Length, for
 * tessera admin. See https.h.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/https.h"
#include "common/limits.h"

/* Seconds a connect, a write or a read may wait for the server. */
#define HTTPS_TIMEOUT 60
#define HTTPS_HOST_MAX 256

struct https_client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int is_plain; /* http://: no TLS (tessera status, /healthz) */
	int is_ip; /* the host is an address literal: no SNI */
	char host[HTTPS_HOST_MAX];
	char port[8];
	char authority[HTTPS_HOST_MAX + 16]; /* Host: header */
};

/*
 * https://HOST[:PORT][/], HOST a name, an IPv4 or a [bracketed] IPv6;
 * http:// too when is_plain_ok.
 */
static enum status
url_parse(const char *url, int is_plain_ok, struct https_client *c)
{
	const char *p, *end, *colon;
	size_t n;

	if (is_plain_ok && strncmp(url, "http://", 7) == 0) {
		c->is_plain = 1;
		p = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		p = url + 8;
	} else
		return status_fail(ST_MALFORMED,
		    "server URL %.200s: must start with https://%s", url,
		    is_plain_ok ? " or http://" : "");
	end = p + strcspn(p, "/?#");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return status_fail(ST_MALFORMED,
		    "server URL %.200s: no path, query or fragment allowed",
		    url);
	if (*p == '[') {
		colon = memchr(p, ']', (size_t)(end - p));
		if (colon == NULL)
			return status_fail(
			    ST_MALFORMED, "server URL %.200s: unclosed [", url);
		n = (size_t)(colon - p - 1);
		if (n == 0 || n >= sizeof(c->host))
			return status_fail(
			    ST_MALFORMED, "server URL %.200s: bad host", url);
		memcpy(c->host, p + 1, n);
		c->host[n] = '\0';
		colon++;
		if (colon != end && *colon != ':')
			return status_fail(
			    ST_MALFORMED, "server URL %.200s: bad host", url);
		c->is_ip = 1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			colon = end;
		n = (size_t)(colon - p);
		if (n == 0 || n >= sizeof(c->host))
			return status_fail(
			    ST_MALFORMED, "server URL %.200s: bad host", url);
		memcpy(c->host, p, n);
		c->host[n] = '\0';
		c->is_ip = strspn(c->host, "0123456789.") == n;
	}
	if (colon != end) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") < n ||
		    strtol(colon + 1, NULL, 10) < 1 ||
		    strtol(colon + 1, NULL, 10) > 65535)
			return status_fail(
			    ST_MALFORMED, "server URL %.200s: bad port", url);
		memcpy(c->port, colon + 1, n);
		c->port[n] = '\0';
	} else {
		snprintf(c->port, sizeof(c->port), c->is_plain ? "80" : "443");
	}
	snprintf(c->authority, sizeof(c->authority), "%s%s%s:%s",
	    strchr(c->host, ':') ? "[" : "", c->host,
	    strchr(c->host, ':') ? "]" : "", c->port);
	return ST_OK;
}

enum status
https_client_new(const struct https_options *o, struct https_client **out)
{
	struct https_client *c = NULL;
	enum status st;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ST_NOMEM;
	c->fd = -1;
	if ((st = url_parse(o->url, o->is_plain_ok, c)) != ST_OK)
		goto out;
	if (c->is_plain) {
		/* Nothing to verify or show: plain HTTP reads public data. */
		*out = c;
		return ST_OK;
	}
	st = ST_UNAVAILABLE;
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION)) {
		status_fail_ssl(st, "TLS context");
		goto out;
	}
	if (SSL_CTX_load_verify_locations(c->ctx, o->cacert, NULL) != 1) {
		status_fail_ssl(st, "CA file %.200s: cannot use it", o->cacert);
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert) != 1) {
		status_fail_ssl(
		    st, "client certificate %.200s: cannot use it", o->cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM) !=
	        1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1) {
		status_fail_ssl(st,
		    "client key %.200s: cannot use it with the certificate",
		    o->key);
		goto out;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	*out = c;
	c = NULL;
	st = ST_OK;
out:
	https_client_free(c);
	return st;
}

static void
conn_close(struct https_client *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

void
https_client_free(struct https_client *c)
{
	if (c == NULL)
		return;
	conn_close(c);
	SSL_CTX_free(c->ctx);
	free(c);
}

static enum status
conn_open(struct https_client *c)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {HTTPS_TIMEOUT, 0};
	int rc, err = 0;
	long vr;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(c->host, c->port, &hints, &res)) != 0)
		return status_fail(
		    ST_UNAVAILABLE, "%.200s: %s", c->host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((c->fd = socket(ai->ai_family,
		         ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
			continue;
		/* On Linux the send timeout bounds connect() too. */
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return status_fail(ST_UNAVAILABLE, "cannot connect to %s: %s",
		    c->authority, strerror(err));
	if (c->is_plain)
		return ST_OK;
	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    /* The server's certificate must name the host we asked for. */
	    SSL_set1_host(c->ssl, c->host) != 1 ||
	    (!c->is_ip && SSL_set_tlsext_host_name(c->ssl, c->host) != 1)) {
		conn_close(c);
		return status_fail_ssl(ST_INTERNAL, "TLS session");
	}
	if (SSL_connect(c->ssl) != 1) {
		vr = SSL_get_verify_result(c->ssl);
		conn_close(c);
		if (vr != X509_V_OK)
			return status_fail(ST_UNAVAILABLE,
			    "TLS with %s: the server's certificate: %s",
			    c->authority, X509_verify_cert_error_string(vr));
		return status_fail_ssl(
		    ST_UNAVAILABLE, "TLS with %s", c->authority);
	}
	return ST_OK;
}

/* 1 when the kept connection has been closed (or spoken on) by the server. */
static int
conn_stale(struct https_client *c)
{
	struct pollfd p = {c->fd, POLLIN, 0};

	return (c->ssl != NULL && SSL_pending(c->ssl) > 0) ||
	    poll(&p, 1, 0) != 0;
}

static enum status
conn_write(struct https_client *c, const void *p, size_t n)
{
	size_t done;
	ssize_t w;

	while (n > 0 && c->is_plain) {
		if ((w = write(c->fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return status_fail(ST_UNAVAILABLE, "sending to %s: %s",
			    c->authority, strerror(errno));
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	while (n > 0) {
		if (SSL_write_ex(c->ssl, p, n, &done) != 1)
			return status_fail_ssl(
			    ST_UNAVAILABLE, "sending to %s", c->authority);
		p = (const char *)p + done;
		n -= done;
	}
	return ST_OK;
}

/* Read up to cap bytes; *n is 0 at a clean end of the stream. */
static enum status
conn_read(struct https_client *c, void *p, size_t cap, size_t *n)
{
	ssize_t r;
	int err;

	*n = 0;
	if (c->is_plain) {
		do
			r = read(c->fd, p, cap);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return status_fail(ST_UNAVAILABLE,
			    "reading from %s: %s", c->authority,
			    strerror(errno));
		*n = (size_t)r;
		return ST_OK;
	}
	if (SSL_read_ex(c->ssl, p, cap, n) == 1)
		return ST_OK;
	err = SSL_get_error(c->ssl, 0);
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
		ERR_clear_error();
		return ST_OK;
	}
	if (err == SSL_ERROR_SSL &&
	    ERR_GET_REASON(ERR_peek_error()) ==
	        SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return ST_OK;
	}
	return status_fail_ssl(ST_UNAVAILABLE, "reading from %s", c->authority);
}

/* A header's value in the block hdr (lines after the status line). */
static const char *
header_find(const char *hdr, const char *name, size_t *len)
{
	const char *line = strstr(hdr, "\r\n");
	size_t n = strlen(name);

	while (line != NULL && line[2] != '\r' && line[2] != '\0') {
		line += 2;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			line += n + 1;
			line += strspn(line, " \t");
			*len = strcspn(line, "\r");
			while (*len > 0 &&
			    (line[*len - 1] == ' ' || line[*len - 1] == '\t'))
				(*len)--;
			return line;
		}
		line = strstr(line, "\r\n");
	}
	return NULL;
}

enum status
https_head_parse(const char *hdr, struct https_head *out)
{
	const char *v;
	size_t vlen;
	char num[24];

	memset(out, 0, sizeof(*out));
	if (strncmp(hdr, "HTTP/1.", 7) != 0 || hdr[7] == '\0' ||
	    hdr[8] != ' ' || strspn(hdr + 9, "0123456789") != 3 ||
	    (hdr[12] != ' ' && hdr[12] != '\r'))
		return status_fail(ST_MALFORMED, "the answer is not HTTP/1.x");
	out->code = (int)strtol(hdr + 9, NULL, 10);
	if (out->code < 100)
		return status_fail(ST_MALFORMED, "HTTP status %d", out->code);
	if (header_find(hdr, "Transfer-Encoding", &vlen) != NULL)
		return status_fail(ST_MALFORMED,
		    "a Transfer-Encoding answer is not supported");
	if ((v = header_find(hdr, "Connection", &vlen)) != NULL && vlen == 5 &&
	    strncasecmp(v, "close", 5) == 0)
		out->is_close = 1;
	if ((v = header_find(hdr, "Content-Length", &vlen)) != NULL) {
		if (vlen == 0 || vlen >= sizeof(num) ||
		    strspn(v, "0123456789") < vlen)
			return status_fail(ST_MALFORMED, "bad Content-Length");
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		if (vlen > 10 || strtoull(num, NULL, 10) > LIMIT_HTTPS_BODY)
			return status_fail(ST_LIMIT,
			    "an answer of %s bytes, over %d", num,
			    LIMIT_HTTPS_BODY);
		out->content_length = (size_t)strtoull(num, NULL, 10);
		out->has_length = 1;
	}
	return ST_OK;
}

/*
 * Read one answer: headers up to LIMIT_HTTPS_HEADER, then exactly
 * Content-Length bytes of body (or up to the end of the stream when the
 * server closes instead). *got is 1 once any byte came back.
 */
static enum status
response_read(struct https_client *c, int *code, struct buf *body, int *got)
{
	char *hdr = NULL, *end = NULL;
	struct https_head head;
	size_t len = 0, n, want = 0;
	int has_length = 0, is_close = 0;
	enum status st;

	*got = 0;
	if ((hdr = malloc(LIMIT_HTTPS_HEADER + 1)) == NULL)
		return ST_NOMEM;
	while (end == NULL) {
		if (len == LIMIT_HTTPS_HEADER) {
			st = status_fail(ST_LIMIT,
			    "%s: answer headers over %d bytes", c->authority,
			    LIMIT_HTTPS_HEADER);
			goto out;
		}
		if ((st = conn_read(
		         c, hdr + len, LIMIT_HTTPS_HEADER - len, &n)) != ST_OK)
			goto out;
		if (n == 0) {
			st = status_fail(ST_UNAVAILABLE,
			    "%s closed the connection before answering",
			    c->authority);
			goto out;
		}
		*got = 1;
		len += n;
		hdr[len] = '\0';
		end = strstr(hdr, "\r\n\r\n");
	}
	end[2] = '\0'; /* headers end with the last CRLF */
	if ((st = https_head_parse(hdr, &head)) != ST_OK) {
		status_fail(st, "%s: %s", c->authority, status_detail());
		goto out;
	}
	*code = head.code;
	has_length = head.has_length;
	want = head.content_length;
	is_close = head.is_close;
	/* What came after the headers already belongs to the body. */
	n = len - (size_t)(end + 4 - hdr);
	if (has_length && n > want) {
		st = status_fail(ST_MALFORMED,
		    "%s: more bytes than Content-Length", c->authority);
		goto out;
	}
	if ((st = buf_append(body, end + 4, n)) != ST_OK)
		goto out;
	for (;;) {
		if (has_length && body->len == want)
			break;
		if ((st = conn_read(c, hdr,
		         has_length ? (want - body->len < LIMIT_HTTPS_HEADER
		                              ? want - body->len
		                              : LIMIT_HTTPS_HEADER)
		                    : LIMIT_HTTPS_HEADER,
		         &n)) != ST_OK)
			goto out;
		if (n == 0) {
			if (has_length) {
				st = status_fail(ST_UNAVAILABLE,
				    "%s: the answer was cut short",
				    c->authority);
				goto out;
			}
			is_close = 1;
			break;
		}
		if ((st = buf_append(body, hdr, n)) != ST_OK) {
			status_fail(st, "%s: answer over %d bytes",
			    c->authority, LIMIT_HTTPS_BODY);
			goto out;
		}
	}
	if (is_close)
		conn_close(c);
	st = buf_terminate(body);
out:
	free(hdr);
	return st;
}

enum status
https_request(struct https_client *c, const char *method, const char *path,
    const char *json, int *code, struct buf *body)
{
	struct buf req;
	int is_reused, got = 0, attempt;
	enum status st = ST_INTERNAL;

	*code = 0;
	for (attempt = 0; attempt < 2; attempt++) {
		body->len = 0;
		buf_init(&req, LIMIT_HTTPS_HEADER + LIMIT_HTTPS_BODY);
		if (c->ssl != NULL && conn_stale(c))
			conn_close(c);
		is_reused = c->ssl != NULL;
		if (!is_reused && (st = conn_open(c)) != ST_OK)
			goto out;
		if ((st = buf_printf(&req,
		         "%s %s HTTP/1.1\r\nHost: %s\r\n"
		         "User-Agent: tessera-admin\r\n"
		         "Accept: application/json\r\n",
		         method, path, c->authority)) != ST_OK ||
		    (json != NULL &&
		        (st = buf_printf(&req,
		             "Content-Type: application/json\r\n"
		             "Content-Length: %zu\r\n",
		             strlen(json))) != ST_OK) ||
		    (json == NULL && strcmp(method, "GET") != 0 &&
		        (st = buf_printf(&req, "Content-Length: 0\r\n")) !=
		            ST_OK) ||
		    (st = buf_printf(&req, "\r\n%s", json ? json : "")) !=
		        ST_OK)
			goto out;
		if ((st = conn_write(c, req.data, req.len)) == ST_OK &&
		    (st = response_read(c, code, body, &got)) == ST_OK)
			goto out;
		conn_close(c);
		/* The server may drop a kept connection between two calls;
		 * only a GET is safe to send again. */
		if (!is_reused || got || strcmp(method, "GET") != 0)
			goto out;
		buf_free(&req);
	}
out:
	buf_free(&req);
	return st;
}
