/*
 * https: the small HTTPS client of tessera admin. OpenSSL over a TCP
 * socket, HTTP/1.1 with Content-Length, one connection kept alive between
 * requests; the server is verified against a CA file and its host name,
 * and the client shows its certificate. Reads are bounded
 * (LIMIT_HTTPS_HEADER, LIMIT_HTTPS_BODY).
 */
#ifndef TESSERA_CLI_HTTPS_H
#define TESSERA_CLI_HTTPS_H

#include "common/buf.h"
#include "common/status.h"

struct https_client;

struct https_options {
	const char *url; /* https://HOST[:PORT] */
	const char *cert; /* client certificate (PEM, chain allowed) */
	const char *key; /* its private key (PEM) */
	const char *cacert; /* trust anchors for the server (PEM) */
	/* Accept an http:// URL too (no TLS; cert, key and cacert unused):
	 * for public resources only, such as /healthz. */
	int is_plain_ok;
};

/*
 * Check the URL and load the credentials (nothing is sent yet).
 * ST_MALFORMED for a bad URL, ST_UNAVAILABLE for files OpenSSL cannot
 * use; the caller frees *out with https_client_free.
 */
enum status https_client_new(
    const struct https_options *o, struct https_client **out) MUST_CHECK;

/* Close the connection and free everything. NULL is accepted. */
void https_client_free(struct https_client *c);

/*
 * Send METHOD path (with its query) and read the answer: *code gets the
 * HTTP status, body (initialised by the caller with buf_init) the body.
 * json, when not NULL, is sent with Content-Type application/json (an
 * empty string sends an empty JSON-typed body). ST_UNAVAILABLE when the
 * server cannot be reached or TLS fails, ST_MALFORMED or ST_LIMIT for an
 * answer that is not HTTP or too big. A GET that finds the kept
 * connection closed by the server is retried once on a new one; a POST
 * never is (it may have been carried out).
 */
enum status https_request(struct https_client *c, const char *method,
    const char *path, const char *json, int *code, struct buf *body) MUST_CHECK;

/* What tessera admin reads from an answer's head. */
struct https_head {
	int code; /* the status, 100..999 */
	int has_length; /* Content-Length was given */
	size_t content_length; /* at most LIMIT_HTTPS_BODY */
	int is_close; /* Connection: close */
};

/*
 * Parse a head: the status line and header lines, each ending in CRLF,
 * NUL-terminated after the last one. ST_MALFORMED for what is not
 * HTTP/1.x, a bad Content-Length or a Transfer-Encoding (tessera answers
 * with Content-Length); ST_LIMIT for a body over LIMIT_HTTPS_BODY.
 */
enum status
https_head_parse(const char *head, struct https_head *out) MUST_CHECK;

#endif
