/*
 * http: one HTTP exchange as tessera's handlers see it. The libmicrohttpd
 * glue (server.c) fills a struct http_request from the wire and sends the
 * struct http_response back; the handlers (est.c, api.c, publish.c) never
 * see a socket, so they are tested without one.
 */
#ifndef TESSERA_ENROLL_HTTP_H
#define TESSERA_ENROLL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/status.h"

/* Largest request body accepted (413 above); a CSR is ~1.5 KB base64. */
#define HTTP_BODY_MAX (64 * 1024)
/* A body over HTTP_BODY_MAX but at most this is read and dropped before
 * the 413, so that the client sees the answer (curl sends Expect:
 * 100-continue above 1 MiB, which lets larger ones be refused at once). */
#define HTTP_DRAIN_MAX (1024 * 1024)
/* Largest response body a handler may build. */
#define HTTP_RESPONSE_MAX (4 * 1024 * 1024)
#define HTTP_HEADERS_MAX 8
#define HTTP_HEADER_VALUE_MAX 256
/* "KIND:ID" of a request's principal in the access log. */
#define HTTP_PRINCIPAL_CAP (LIMIT_NAME_LEN + 16)
/* Not an HTTP status: the request is to be run again where it may wait
 * (see is_inline). */
#define HTTP_DEFER 1
/* Not an HTTP status: the answer is on its way (http_response.pending). */
#define HTTP_PENDING 2

struct authority_chain_memo;

struct http_request {
	const char *method; /* "GET", "POST", ... */
	const char *path; /* URL path without the query */
	const char *content_type; /* NULL when absent */
	const char *authorization; /* NULL when absent */
	/* Where a browser says the request came from (Fetch metadata); the
	 * API refuses cross-site writes with them. NULL when absent. */
	const char *host; /* Host */
	const char *origin; /* Origin */
	const char *sec_fetch_site; /* Sec-Fetch-Site */
	const uint8_t *body; /* NULL when empty */
	size_t body_len;
	const char *peer_address; /* "127.0.0.1", "::1" */
	/* Query parameters: value of name, or NULL. */
	const char *(*query)(const struct http_request *req, const char *name);
	/* The first query parameter not in known (NULL-terminated), or NULL
	 * when all are known. May be NULL (no query). */
	const char *(*query_unknown)(
	    const struct http_request *req, const char *const *known);
	void *glue; /* the glue's connection, for query() */
	/* TLS only (all zero on the plain listener). */
	int is_tls;
	int tls_version; /* 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
	STACK_OF(X509) * peer_chain; /* leaf first; NULL: no certificate */
	/* What the connection's chain proved before (verified once per
	 * connection); the glue's, or NULL: verified on every request. */
	struct authority_chain_memo **chain_memo;
	/* RFC 7030 §3.5: tls-unique (TLS 1.2) or tls-exporter (TLS 1.3,
	 * RFC 9266); length 0 when the session offers neither. */
	uint8_t channel_binding[64];
	size_t channel_binding_len;
	/* TLS 1.2 without extended master secret (RFC 7627): tls-unique is
	 * not unique to this connection, so there is no binding. */
	int is_binding_unsafe;
	/*
	 * Set by the glue on a thread that serves other connections too: a
	 * route answers only what it has in memory, never waiting (no store
	 * read, no signature, no commit); otherwise it leaves resp->status at
	 * HTTP_DEFER with nothing charged or changed but a route's rate limit,
	 * and the glue runs the request again, with is_deferred, on a thread
	 * of its own.
	 */
	int is_inline;
	int is_deferred;
	/* With is_inline: the glue has a thread that finishes an answer on
	 * its way (HTTP_PENDING), so a route may start one. */
	int can_pend;
	/* Where auth_principal writes "KIND:ID" of who the request presents
	 * itself as, for the access log (HTTP_PRINCIPAL_CAP bytes, the
	 * glue's); NULL: nowhere. */
	char *principal;
};

struct http_header {
	const char *name; /* a static string */
	char value[HTTP_HEADER_VALUE_MAX];
};

/*
 * An answer on its way (status HTTP_PENDING): when fd turns readable,
 * the glue calls finish(ctx, arg, resp) once, on a thread of its own,
 * which fills resp as a handler would have. finish must not wait for
 * long (it runs beside the other answers on their way).
 */
struct http_response;

struct http_pending {
	int fd;
	void (*finish)(void *ctx, void *arg, struct http_response *resp);
	void *ctx;
	void *arg;
};

struct http_response {
	int status;
	struct http_pending pending; /* HTTP_PENDING only */
	const char *content_type; /* a static string; NULL: none */
	struct http_header headers[HTTP_HEADERS_MAX];
	size_t header_count;
	struct buf body; /* sent with Content-Length */
};

/* Start a 500 with an empty body; handlers overwrite what they set. */
void http_response_init(struct http_response *r);

/* Free (and wipe: a body may hold a server-generated private key). */
void http_response_free(struct http_response *r);

/* Add a header (name must be a static string). ST_LIMIT when full. */
/* The value of the response header name (case as added), or NULL. */
const char *
http_response_header_get(const struct http_response *r, const char *name);

enum status http_response_header(struct http_response *r, const char *name,
    const char *fmt, ...) MUST_CHECK PRINTF_LIKE(3, 4);

/*
 * Make r a text/plain error: code, and the message (printf format) as the
 * body, ending in a newline. Any body built so far is discarded.
 */
void http_response_error(
    struct http_response *r, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);

/*
 * Make r the error for a failed call: the HTTP code for st and the
 * thread's status detail as the message.
 */
void http_response_status(struct http_response *r, enum status st);

/*
 * 1 if the Content-Type value is the media type want (case aside), with
 * or without parameters ("application/json; charset=utf-8").
 */
int http_media_type_is(const char *value, const char *want);

/* The HTTP code for st: 400, 401, 403, 404, 409, 413, 503, 500. */
int http_code_for(enum status st);

#endif
