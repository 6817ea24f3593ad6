/*
 * One worker process of `tessera serve`: its own authority (store
 * connection, PKCS#11 session, opened after fork), one libmicrohttpd
 * daemon per inherited listening socket (poll mode, internal thread), and
 * in exactly one worker a scheduler thread for authority_tick.
 *
 * The two daemon threads and the scheduler share the authority, which is
 * not thread-safe: every call into it holds auth_mu. The authority lets
 * it go while it makes a serverkeygen key (authority_set_lock), so that
 * the publication listener keeps answering meanwhile.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "ca/policy.h"
#include "enroll/enroll.h"
#include "enroll/server_internal.h"

/*
 * TLS 1.2 and 1.3 only (RFC 8996), AEAD suites with ECDHE, the server's
 * order. No session tickets: tls-unique is unsafe across resumption
 * (RFC 7030 §3.5), and libmicrohttpd keeps no session cache either.
 */
#define WORKER_TLS_PRIORITIES                                                  \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:"           \
	"+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"         \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE:%NO_TICKETS"
/* tls/server.pem and server.key are ours, but read with a bound all the same. */
#define WORKER_TLS_FILE_MAX (256 * 1024)
/* authority_tick every second: CRLs follow revocations that fast. */
#define WORKER_TICK_SECONDS 1
/* How often the sweeper looks for requests over their time. */
#define WORKER_SWEEP_SECONDS 1
/* How long a stopping worker lets requests in flight finish. */
#define WORKER_DRAIN_MS 5000
#define WORKER_DRAIN_STEP_MS 50

struct worker;

/*
 * A connection as the sweeper sees it: since when it has been receiving
 * its current request (or waiting for one). MHD's timeout counts idle
 * time only, so a client that sends a byte every few seconds would hold
 * a connection for ever; the sweeper cuts any request, header or body,
 * that takes longer than LIMIT_HTTP_REQUEST_SECONDS. A connection that
 * has not sent the headers of its first request (TLS handshake included)
 * gets LIMIT_HTTP_FIRST_REQUEST_SECONDS: holding a slot costs a client
 * that sends nothing no more than a few seconds.
 */
struct conn_rec {
	int is_used;
	int has_request; /* the headers of a first request arrived */
	int fd;
	int64_t since_ms;
};

struct listener {
	struct worker *w;
	int is_tls;
	/*
	 * The listener's thread is in a handler (or waiting for the
	 * authority): its other connections cannot progress, so their time
	 * does not count (a serverkeygen takes seconds).
	 */
	int is_busy;
	struct MHD_Daemon *daemon;
	pthread_mutex_t conns_mu;
	struct conn_rec conns[LIMIT_HTTP_CONNECTIONS];
};

/*
 * A thread that calls fn every period seconds until stopped: the
 * scheduler (authority_tick, in one worker) and the sweeper (requests
 * that take too long, in every worker).
 */
struct ticker {
	void (*fn)(struct worker *);
	int period;
	struct worker *w;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int is_running;
	int is_stopping;
};

struct worker {
	const struct server_worker_args *args;
	pthread_mutex_t auth_mu;
	struct ticker sweeper;
	struct authority *a;
	struct enroll *e;
	struct listener tls_listener;
	struct listener publish_listener;
	struct ticker scheduler;
	int is_started; /* MHD messages go to debug from then on */
	int is_draining; /* stopping: answers close their connection */
	int metrics_slot; /* this process's in the pool (in flight) */
	int access_fd; /* the access log; -1: none */
	char pid_text[16]; /* Tessera-Worker, for peers on loopback */
};

/* One request being received (MHD's per-request closure). */
struct exchange {
	int64_t start_ns; /* when its headers were in (the access log) */
	struct buf body;
	enum status body_st; /* ST_OK, or why the body was refused */
};

/* A response body handed to MHD, wiped when MHD is done with it. */
struct wiped_body {
	size_t len;
	uint8_t data[];
};

static void PRINTF_LIKE(2, 0) mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct worker *w = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	/* After start-up, what MHD says is mostly about hostile peers. */
	if (__atomic_load_n(&w->is_started, __ATOMIC_RELAXED))
		log_debug("http: %s", line);
	else
		log_warn("http: %s", line);
}

static const char *
request_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(
	    req->glue, MHD_GET_ARGUMENT_KIND, name);
}

struct query_scan {
	const char *const *known;
	const char *unknown;
};

static enum MHD_Result
query_scan_one(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_scan *q = cls;
	size_t i;

	(void)kind;
	(void)value;
	for (i = 0; q->known[i] != NULL; i++)
		if (strcmp(key, q->known[i]) == 0)
			return MHD_YES;
	q->unknown = key;
	return MHD_NO;
}

static const char *
request_query_unknown(const struct http_request *req, const char *const *known)
{
	struct query_scan q = {known, NULL};

	MHD_get_connection_values(
	    req->glue, MHD_GET_ARGUMENT_KIND, query_scan_one, &q);
	return q.unknown;
}

/*
 * Percent-decoding of the path and the query, except that a URL holding
 * %00 is left as it is: a NUL would cut the C string short ("cacerts%00.x"
 * read as "cacerts"), and no resource of tessera's has one.
 */
static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	if (strstr(s, "%00") != NULL)
		return strlen(s);
	return MHD_http_unescape(s);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Restart conn's clock: a request began, or one was answered. */
static void
conn_mark(struct listener *l, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_rec *r;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (r = ci->socket_context) == NULL)
		return;
	pthread_mutex_lock(&l->conns_mu);
	r->since_ms = now_ms();
	r->has_request = 1;
	pthread_mutex_unlock(&l->conns_mu);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct listener *l = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn_rec *r = *socket_context;
	size_t i;

	pthread_mutex_lock(&l->conns_mu);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (r != NULL)
			r->is_used = 0;
		*socket_context = NULL;
	} else if ((ci = MHD_get_connection_info(
	                conn, MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL) {
		for (i = 0; i < LIMIT_HTTP_CONNECTIONS; i++) {
			if (!l->conns[i].is_used) {
				l->conns[i].is_used = 1;
				l->conns[i].has_request = 0;
				l->conns[i].fd = ci->connect_fd;
				l->conns[i].since_ms = now_ms();
				*socket_context = &l->conns[i];
				break;
			}
		}
	}
	pthread_mutex_unlock(&l->conns_mu);
}

/* Shut down the sockets of l's requests that took too long. */
static void
sweep(struct listener *l, int64_t now)
{
	int64_t limit;
	size_t i;
	int is_busy = __atomic_load_n(&l->is_busy, __ATOMIC_RELAXED);

	if (l->daemon == NULL)
		return;
	pthread_mutex_lock(&l->conns_mu);
	for (i = 0; i < LIMIT_HTTP_CONNECTIONS; i++) {
		/* Waiting for us is not slowness: the clocks start again. */
		if (is_busy && l->conns[i].is_used) {
			l->conns[i].since_ms = now;
			continue;
		}
		limit = l->conns[i].has_request
		    ? LIMIT_HTTP_REQUEST_SECONDS
		    : LIMIT_HTTP_FIRST_REQUEST_SECONDS;
		if (!l->conns[i].is_used ||
		    now - l->conns[i].since_ms <= limit * 1000)
			continue;
		/* MHD sees the end of the stream and closes it itself. */
		shutdown(l->conns[i].fd, SHUT_RDWR);
		l->conns[i].since_ms = now;
		log_debug("http: %s over %lld s cut off",
		    l->conns[i].has_request ? "a request"
		                            : "a connection without a request",
		    (long long)limit);
	}
	pthread_mutex_unlock(&l->conns_mu);
}

/* Every second in every worker: slow connections, tallied refusals. */
static void
sweep_all(struct worker *w)
{
	sweep(&w->tls_listener, now_ms());
	sweep(&w->publish_listener, now_ms());
	pthread_mutex_lock(&w->auth_mu);
	authority_flush(w->a);
	pthread_mutex_unlock(&w->auth_mu);
}

static void
body_free(void *cls)
{
	struct wiped_body *b = cls;

	OPENSSL_cleanse(b->data, b->len);
	free(b);
}

/* Queue r on conn: Content-Length from the buffer, never chunked. */
static enum MHD_Result
response_send(struct MHD_Connection *conn, const struct http_response *r)
{
	struct MHD_Response *resp = NULL;
	struct wiped_body *b;
	enum MHD_Result ret = MHD_NO;
	size_t i;

	if ((b = malloc(sizeof(*b) + r->body.len)) == NULL)
		goto out;
	b->len = r->body.len;
	if (r->body.len > 0)
		memcpy(b->data, r->body.data, r->body.len);
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    b->len, b->data, body_free, b);
	if (resp == NULL) {
		body_free(b);
		goto out;
	}
	if (r->content_type != NULL &&
	    MHD_add_response_header(
	        resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type) != MHD_YES)
		goto out;
	for (i = 0; i < r->header_count && i < HTTP_HEADERS_MAX; i++) {
		if (MHD_add_response_header(resp, r->headers[i].name,
		        r->headers[i].value) != MHD_YES) {
			log_warn("http: response header %s refused",
			    r->headers[i].name);
			goto out;
		}
	}
	ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
out:
	MHD_destroy_response(resp);
	return ret;
}

/*
 * An error the glue itself answers (413, 400, 500); with close, the
 * connection is closed after it (a request whose framing cannot be
 * trusted leaves nothing behind that could be read as the next one).
 */
static enum MHD_Result
error_send(struct MHD_Connection *conn, int code, const char *msg, int close)
{
	struct http_response r;
	enum MHD_Result ret;

	http_response_init(&r);
	http_response_error(&r, code, "%s", msg);
	if (close && http_response_header(&r, "Connection", "close") != ST_OK)
		r.header_count = 0;
	ret = response_send(conn, &r);
	http_response_free(&r);
	return ret;
}
static enum status
peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	socklen_t len;

	out[0] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return status_fail(ST_INTERNAL, "no peer address");
	if (sa->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		return status_fail(
		    ST_INTERNAL, "peer address family %d", (int)sa->sa_family);
	if (getnameinfo(
	        sa, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
		return status_fail(ST_INTERNAL, "peer address unprintable");
	return ST_OK;
}

/* The client's chain as DER from GnuTLS, leaf first; NULL: none sent. */
static enum status
peer_chain(gnutls_session_t s, STACK_OF(X509) * *out)
{
	STACK_OF(X509) *chain = NULL;
	const gnutls_datum_t *der;
	const unsigned char *p;
	unsigned int count = 0, i;
	X509 *x = NULL;
	enum status st = ST_MALFORMED;

	*out = NULL;
	der = gnutls_certificate_get_peers(s, &count);
	if (der == NULL || count == 0)
		return ST_OK;
	if (count > LIMIT_PEER_CHAIN)
		return status_fail(ST_LIMIT,
		    "client certificate chain has %u certificates", count);
	if ((chain = sk_X509_new_null()) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (der[i].size == 0 || der[i].size > LIMIT_CERT_DER) {
			st = status_fail(ST_LIMIT,
			    "client certificate %u is %u bytes", i,
			    der[i].size);
			goto out;
		}
		p = der[i].data;
		x = d2i_X509(NULL, &p, (long)der[i].size);
		if (x == NULL || p != der[i].data + der[i].size) {
			st = status_fail_ssl(ST_MALFORMED,
			    "client certificate %u is not one DER X.509", i);
			goto out;
		}
		if (!sk_X509_push(chain, x)) {
			st = ST_NOMEM;
			goto out;
		}
		x = NULL;
	}
	*out = chain;
	chain = NULL;
	st = ST_OK;
out:
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	return st;
}

/* Fill the TLS part of req: version, client chain, channel binding. */
static enum status
request_tls(struct MHD_Connection *conn, struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	gnutls_datum_t cb = {NULL, 0};
	gnutls_channel_binding_t cb_type;

	req->is_tls = 1;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return status_fail(ST_INTERNAL, "no TLS session");
	s = ci->tls_session;
	switch (gnutls_protocol_get_version(s)) {
	case GNUTLS_TLS1_2:
		req->tls_version = 0x0303;
		cb_type = GNUTLS_CB_TLS_UNIQUE;
		/*
		 * RFC 9266 §3 (and RFC 7627 §1, the triple handshake): without
		 * extended master secret, a man in the middle can bring two
		 * sessions to one tls-unique. Such a session has no binding.
		 */
		if (gnutls_session_ext_master_secret_status(s) == 0) {
			req->is_binding_unsafe = 1;
			return peer_chain(s, &req->peer_chain);
		}
		break;
	case GNUTLS_TLS1_3:
		/* RFC 9266: TLS 1.3 has no tls-unique. */
		req->tls_version = 0x0304;
		cb_type = GNUTLS_CB_TLS_EXPORTER;
		break;
	default:
		return status_fail(ST_INTERNAL, "TLS version below 1.2");
	}
	if (gnutls_session_channel_binding(s, cb_type, &cb) ==
	        GNUTLS_E_SUCCESS &&
	    cb.data != NULL) {
		if (cb.size <= sizeof(req->channel_binding)) {
			memcpy(req->channel_binding, cb.data, cb.size);
			req->channel_binding_len = cb.size;
		}
		gnutls_free(cb.data);
	}
	return peer_chain(s, &req->peer_chain);
}

static void
exchange_free(struct exchange *x)
{
	if (x == NULL)
		return;
	buf_free(&x->body);
	free(x);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode code)
{
	(void)code;
	conn_mark(cls, conn);
	exchange_free(*req_cls);
	*req_cls = NULL;
}

static enum MHD_Result
body_too_large(struct MHD_Connection *conn)
{
	char msg[80];

	snprintf(msg, sizeof(msg), "request body over the limit of %d bytes",
	    HTTP_BODY_MAX);
	return error_send(conn, 413, msg, 0);
}

/* The header fields whose number and values decide the framing. */
struct framing {
	int host, content_length, transfer_encoding, other_coding;
};

static enum MHD_Result
framing_one(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		f->host++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encoding++;
		if (value == NULL || strcasecmp(value, "chunked") != 0)
			f->other_coding = 1;
	}
	return MHD_YES;
}

/*
 * RFC 9112 §3.2, §6.1, §6.3: one Host, one Content-Length, no
 * Content-Length beside Transfer-Encoding, no coding but chunked. A
 * request that breaks one is answered 400 and its connection closed:
 * two parties could read its length differently (request smuggling).
 */
static const char *
framing_error(struct MHD_Connection *conn)
{
	struct framing f;

	memset(&f, 0, sizeof(f));
	MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_one, &f);
	if (f.host > 1)
		return "more than one Host header field (RFC 9112 3.2)";
	if (f.content_length > 1)
		return "more than one Content-Length header field "
		       "(RFC 9112 6.3)";
	if (f.content_length > 0 && f.transfer_encoding > 0)
		return "both Content-Length and Transfer-Encoding (RFC 9112 "
		       "6.3)";
	if (f.other_coding || f.transfer_encoding > 1)
		return "a Transfer-Encoding other than chunked (RFC 9112 6.1)";
	return NULL;
}

/* The first call for a request: refuse bad framing and a declared
 * oversized body early. */
static enum MHD_Result
exchange_start(struct listener *l, struct MHD_Connection *conn, void **req_cls)
{
	struct exchange *x;
	const char *cl, *bad;
	char *end = NULL;
	unsigned long long n;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return MHD_NO;
	buf_init(&x->body, HTTP_BODY_MAX);
	x->start_ns = metrics_now_ns();
	*req_cls = x;
	/* The headers are in: the body has its own time from now. */
	conn_mark(l, conn);
	if ((bad = framing_error(conn)) != NULL) {
		x->body_st = ST_MALFORMED;
		return error_send(conn, 400, bad, 1);
	}
	cl = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && *end == '\0' &&
		    n > HTTP_BODY_MAX) {
			x->body_st = ST_LIMIT;
			/*
			 * Answering now makes MHD close with the body unread,
			 * and the client, still sending, may get a reset that
			 * eats the 413. Up to HTTP_DRAIN_MAX the body is read
			 * and dropped first; beyond it (where clients send
			 * Expect: 100-continue) the answer goes at once.
			 */
			if (n > HTTP_DRAIN_MAX)
				return body_too_large(conn);
		}
	}
	return MHD_YES;
}

/* Is the peer of conn on loopback (127/8, ::1)? */
static int
peer_is_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr_in6 *v6;
	const struct sockaddr_in *v4;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return 0;
	if (ci->client_addr->sa_family == AF_INET) {
		v4 = (const struct sockaddr_in *)ci->client_addr;
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	}
	if (ci->client_addr->sa_family == AF_INET6) {
		v6 = (const struct sockaddr_in6 *)ci->client_addr;
		return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
	}
	return 0;
}

/*
 * What the worker adds to every answer: Connection: close while it drains
 * (a keep-alive client moves on to a new worker after this request), and
 * to peers on loopback only, Tessera-Worker: the worker's pid, so that an
 * operator or a test on the machine can tell which worker answered.
 */
static void
worker_headers(
    struct worker *w, struct MHD_Connection *conn, struct http_response *resp)
{
	if (__atomic_load_n(&w->is_draining, __ATOMIC_RELAXED) &&
	    http_response_header(resp, "Connection", "close") != ST_OK)
		log_debug("http: no room for Connection: close");
	if (peer_is_loopback(conn) &&
	    http_response_header(resp, "Tessera-Worker", "%s", w->pid_text) !=
	        ST_OK)
		log_debug("http: no room for Tessera-Worker");
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct listener *l = cls;
	struct worker *w = l->w;
	struct exchange *x = *req_cls;
	struct http_request req;
	struct http_response resp;
	struct log_access_entry entry;
	char addr[NI_MAXHOST], principal[HTTP_PRINCIPAL_CAP] = "";
	enum MHD_Result ret;
	enum status st;

	(void)version;
	if (x == NULL)
		return exchange_start(l, conn, req_cls);
	if (*upload_data_size != 0) {
		/* Past the limit the rest is read and dropped, not kept. */
		if (x->body_st == ST_OK &&
		    (x->body_st = buf_append(
		         &x->body, upload_data, *upload_data_size)) != ST_OK)
			buf_free(&x->body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (x->body_st == ST_LIMIT)
		return body_too_large(conn);
	if (x->body_st == ST_MALFORMED) /* answered in exchange_start */
		return MHD_YES;
	if (x->body_st != ST_OK)
		return error_send(conn, 503, "out of memory", 0);

	memset(&req, 0, sizeof(req));
	http_response_init(&resp);
	req.method = method;
	req.path = url;
	req.content_type = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.authorization = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.host = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	req.origin = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
	req.sec_fetch_site = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (x->body.len > 0) {
		req.body = x->body.data;
		req.body_len = x->body.len;
	}
	req.query = request_query;
	req.query_unknown = request_query_unknown;
	req.glue = conn;
	req.principal = principal;
	status_clear();
	if ((st = peer_address(conn, addr, sizeof(addr))) != ST_OK) {
		http_response_status(&resp, st);
		goto send;
	}
	req.peer_address = addr;
	if (l->is_tls && (st = request_tls(conn, &req)) != ST_OK) {
		http_response_error(&resp, st == ST_INTERNAL ? 500 : 400,
		    "TLS client certificate: %s", status_detail());
		goto send;
	}
	__atomic_store_n(&l->is_busy, 1, __ATOMIC_RELAXED);
	metrics_inflight_add(w->args->metrics, w->metrics_slot, 1);
	pthread_mutex_lock(&w->auth_mu);
	if (l->is_tls)
		enroll_handle_tls(w->e, &req, &resp);
	else
		enroll_handle_publish(w->e, &req, &resp);
	pthread_mutex_unlock(&w->auth_mu);
	metrics_inflight_add(w->args->metrics, w->metrics_slot, -1);
	__atomic_store_n(&l->is_busy, 0, __ATOMIC_RELAXED);
send:
	metrics_request_count(
	    w->args->metrics, enroll_endpoint(url), resp.status);
	if (w->access_fd >= 0) {
		/* url is the path: MHD keeps the query apart, so what a query
		 * carries never reaches the log. */
		entry.remote = addr[0] != '\0' ? addr : NULL;
		entry.method = method;
		entry.path = url;
		entry.status = resp.status;
		entry.bytes = resp.body.len;
		entry.duration_ns = metrics_now_ns() - x->start_ns;
		entry.principal = principal;
		log_access_write(w->access_fd, &entry);
	}
	worker_headers(w, conn, &resp);
	if (l->is_tls)
		log_debug("https: %s %s %.200s -> %d (TLS 0x%04x, client "
		          "certificates %d, channel binding %zu bytes)",
		    addr, method, url, resp.status, req.tls_version,
		    req.peer_chain != NULL ? sk_X509_num(req.peer_chain) : 0,
		    req.channel_binding_len);
	else
		log_debug(
		    "http: %s %s %.200s -> %d", addr, method, url, resp.status);
	ret = response_send(conn, &resp);
	http_response_free(&resp);
	sk_X509_pop_free(req.peer_chain, X509_free);
	return ret;
}

static void
auth_leave(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_unlock(&w->auth_mu);
}

static void
auth_enter(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->auth_mu);
}

static void
scheduler_tick(struct worker *w)
{
	unsigned events = 0;
	enum status st;

	pthread_mutex_lock(&w->auth_mu);
	st = authority_tick(w->a, &events);
	pthread_mutex_unlock(&w->auth_mu);
	if (st != ST_OK)
		log_warn("scheduled work failed: %s",
		    status_detail()[0] ? status_detail() : status_name(st));
	if (events & AUTHORITY_TICK_RELOAD) {
		log_info("TLS server certificate renewed: reloading workers");
		/* Only our own supervisor, never whoever adopted us. */
		if (getppid() == w->args->supervisor)
			kill(w->args->supervisor, SIGHUP);
	}
}

static void *
ticker_main(void *arg)
{
	struct ticker *t = arg;
	struct timespec deadline;

	pthread_mutex_lock(&t->mu);
	while (!t->is_stopping) {
		pthread_mutex_unlock(&t->mu);
		t->fn(t->w);
		pthread_mutex_lock(&t->mu);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += t->period;
		while (!t->is_stopping &&
		    pthread_cond_timedwait(&t->cv, &t->mu, &deadline) !=
		        ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static enum status
ticker_start(struct ticker *t, struct worker *w, const char *name,
    void (*fn)(struct worker *), int period)
{
	pthread_condattr_t attr;
	int rc;

	t->fn = fn;
	t->period = period;
	t->w = w;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &attr);
	pthread_condattr_destroy(&attr);
	if ((rc = pthread_create(&t->thread, NULL, ticker_main, t)) != 0)
		return status_fail(ST_INTERNAL,
		    "cannot start the %s thread: %s", name, strerror(rc));
	t->is_running = 1;
	return ST_OK;
}

static void
ticker_stop(struct ticker *t)
{
	if (!t->is_running)
		return;
	pthread_mutex_lock(&t->mu);
	t->is_stopping = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	t->is_running = 0;
}

static enum status
listener_start(struct worker *w, struct listener *l, int fd, int is_tls,
    const char *cert, const char *key, const char *trust)
{
	unsigned int flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
	/* Both listeners: limits, timeouts, strict parsing, the hooks. */
	struct MHD_OptionItem common[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, w},
	    {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, LIMIT_HTTP_CONNECTIONS, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, LIMIT_HTTP_CONNECTIONS_PER_IP,
	        NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, LIMIT_HTTP_IDLE_SECONDS, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, LIMIT_HTTP_CONNECTION_MEMORY,
	        NULL},
	    /* RFC 9112 3.2: HTTP/1.1 without Host is a 400. */
	    {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
	    {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, l},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, l},
	    {MHD_OPTION_END, 0, NULL},
	};

	l->w = w;
	l->is_tls = is_tls;
	pthread_mutex_init(&l->conns_mu, NULL);
	if (is_tls)
		l->daemon = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL,
		    on_request, l, MHD_OPTION_ARRAY, common,
		    MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY,
		    key, MHD_OPTION_HTTPS_MEM_TRUST, trust,
		    MHD_OPTION_HTTPS_PRIORITIES, WORKER_TLS_PRIORITIES,
		    MHD_OPTION_END);
	else
		l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request,
		    l, MHD_OPTION_ARRAY, common, MHD_OPTION_END);
	if (l->daemon == NULL)
		return status_fail(ST_INTERNAL,
		    "cannot start the %s listener%s",
		    is_tls ? "TLS" : "plain-HTTP",
		    is_tls ? " (check tls/server.pem and tls/server.key)" : "");
	return ST_OK;
}
/* Stop accepting; the socket stays open in the other workers. */
static void
listener_quiesce(struct listener *l)
{
	MHD_socket fd;

	if (l->daemon != NULL &&
	    (fd = MHD_quiesce_daemon(l->daemon)) != MHD_INVALID_SOCKET)
		close(fd);
}

static unsigned int
listener_connections(struct listener *l)
{
	const union MHD_DaemonInfo *info;

	if (l->daemon == NULL)
		return 0;
	info =
	    MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

static void
listener_stop(struct listener *l)
{
	if (l->daemon == NULL)
		return;
	MHD_stop_daemon(l->daemon);
	l->daemon = NULL;
	pthread_mutex_destroy(&l->conns_mu);
}

/*
 * The drain: both listeners stop accepting at once (the new workers are
 * already serving), the requests in flight get WORKER_DRAIN_MS in all
 * (answers close their connections from now), then both stop. Under the
 * supervisor's grace period, so a drain is never cut by SIGKILL.
 */
static void
worker_drain(struct worker *w)
{
	struct timespec step = {0, WORKER_DRAIN_STEP_MS * 1000000L};
	int waited;

	__atomic_store_n(&w->is_draining, 1, __ATOMIC_RELAXED);
	listener_quiesce(&w->tls_listener);
	listener_quiesce(&w->publish_listener);
	for (waited = 0; waited < WORKER_DRAIN_MS;
	     waited += WORKER_DRAIN_STEP_MS) {
		if (listener_connections(&w->tls_listener) +
		        listener_connections(&w->publish_listener) ==
		    0)
			break;
		nanosleep(&step, NULL);
	}
	listener_stop(&w->tls_listener);
	listener_stop(&w->publish_listener);
}

static void
report(const struct server_worker_args *args, int kind, const char *detail)
{
	struct server_report r;
	ssize_t n;

	memset(&r, 0, sizeof(r));
	r.pid = getpid();
	r.kind = kind;
	snprintf(r.detail, sizeof(r.detail), "%s", detail);
	do
		n = write(args->report_fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
}

/* DIR/name, one of tessera's TLS files; the caller frees *out. */
static enum status
tls_file_read(const char *dir, const char *name, uint8_t **out, size_t *len)
{
	char *path;
	enum status st;

	*out = NULL;
	if ((path = file_join(dir, name)) == NULL)
		return ST_NOMEM;
	st = file_read(path, WORKER_TLS_FILE_MAX, out, len);
	free(path);
	return st;
}

static void
tls_file_free(uint8_t *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
	free(p);
}

/*
 * The access log tessera.json names, opened by each worker (so that a
 * reload, SIGHUP, opens it afresh after a rotation); none when it names
 * none.
 */
static enum status
access_log_open(struct worker *w)
{
	const struct ca_config *cfg = authority_config(w->a);
	char *path;
	enum status st;

	if (cfg->access_log == NULL)
		return ST_OK;
	if (strcmp(cfg->access_log, "stderr") == 0)
		return log_access_open("stderr", 0600, &w->access_fd);
	if ((path = ca_config_path(cfg, cfg->access_log)) == NULL)
		return ST_NOMEM;
	st = log_access_open(path, cfg->access_log_mode, &w->access_fd);
	free(path);
	return st;
}

int
server_worker_run(const struct server_worker_args *args)
{
	struct worker w;
	sigset_t stop_set;
	char *trust = NULL;
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0, trust_len = 0;
	enum status st;
	int is_serving = 0, sig, rc = SERVER_EXIT_START;

	memset(&w, 0, sizeof(w));
	w.args = args;
	w.access_fd = -1;
	snprintf(w.pid_text, sizeof(w.pid_text), "%d", (int)getpid());
	pthread_mutex_init(&w.auth_mu, NULL);
	/* Stop signals are taken by sigwaitinfo below; threads inherit. */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	status_clear();
	if ((st = authority_open_pin(args->data_dir, args->pin, &w.a)) != ST_OK)
		goto out;
	authority_set_lock(w.a, auth_leave, auth_enter, &w);
	authority_set_metrics(w.a, args->metrics);
	if ((st = enroll_new(w.a, &w.e)) != ST_OK)
		goto out;
	enroll_set_limits(w.e, args->limits);
	enroll_set_metrics(w.e, args->metrics);
	w.metrics_slot = metrics_proc_claim(args->metrics, getpid());
	if ((st = access_log_open(&w)) != ST_OK)
		goto out;
	if ((st = tls_file_read(args->data_dir, "tls/server.pem", &cert,
	         &cert_len)) != ST_OK ||
	    (st = tls_file_read(
	         args->data_dir, "tls/server.key", &key, &key_len)) != ST_OK ||
	    (st = authority_client_ca_pem(w.a, &trust, &trust_len)) != ST_OK)
		goto out;
	if ((st = listener_start(&w, &w.tls_listener, args->tls_fd, 1,
	         (const char *)cert, (const char *)key, trust)) != ST_OK)
		goto out;
	if ((st = listener_start(&w, &w.publish_listener, args->publish_fd, 0,
	         NULL, NULL, NULL)) != ST_OK)
		goto out;
	if ((st = ticker_start(&w.sweeper, &w, "sweeper", sweep_all,
	         WORKER_SWEEP_SECONDS)) != ST_OK ||
	    (args->runs_scheduler &&
	        (st = ticker_start(&w.scheduler, &w, "scheduler",
	             scheduler_tick, WORKER_TICK_SECONDS)) != ST_OK))
		goto out;
	__atomic_store_n(&w.is_started, 1, __ATOMIC_RELAXED);
	is_serving = 1;
	/* The supervisor logs which policy each generation runs. */
	report(args, SERVER_REPORT_READY, policy_id(authority_policy(w.a)));
	log_debug("worker %d serving", (int)getpid());

	for (;;) {
		sig = sigwaitinfo(&stop_set, NULL);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	rc = 0;
out:
	if (!is_serving) {
		if (st == ST_OK)
			st = ST_INTERNAL;
		report(args, SERVER_REPORT_FAILED,
		    status_detail()[0] ? status_detail() : status_name(st));
	}
	ticker_stop(&w.scheduler);
	/* Before the listeners: the sweeper reads their tables. */
	ticker_stop(&w.sweeper);
	worker_drain(&w);
	enroll_free(w.e);
	authority_close(w.a);
	pthread_mutex_destroy(&w.auth_mu);
	log_access_close(w.access_fd);
	tls_file_free(cert, cert_len);
	tls_file_free(key, key_len);
	if (trust != NULL)
		OPENSSL_cleanse(trust, trust_len);
	free(trust);
	return rc;
}
