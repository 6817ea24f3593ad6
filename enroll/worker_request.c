/*
 * worker_request: one request on a worker's listener, from MHD's calls to
 * the answer: framing checks, the body within its limit, the TLS facts
 * (client chain, channel binding), the dispatch to enroll_handle_* with
 * the authority held shared, and the headers every answer gets.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "enroll/worker_internal.h"

/* One request being received (MHD's per-request closure). */
struct exchange {
	int64_t start_ns; /* when its headers were in (the access log) */
	struct buf body;
	enum status body_st; /* ST_OK, or why the body was refused */
	/* Once the body is in: the request, its answer, and the facts both
	 * point into (a deferred request is answered on another thread). */
	struct listener *l;
	struct MHD_Connection *conn;
	struct conn_rec *r;
	struct http_request req;
	struct http_response resp;
	char addr[NI_MAXHOST];
	char principal[HTTP_PRINCIPAL_CAP];
	int is_lent; /* req.peer_chain is the connection's */
	int is_ready; /* deferred: resp is answered (atomic) */
	struct exchange *next; /* in the listener's queue */
	/* On its way (HTTP_PENDING): what finishes it, until when the
	 * finisher waits for it, and its place in the listener's list. */
	struct http_pending pending;
	int is_pending;
	int64_t pend_until_ms;
	struct exchange *pend_prev, *pend_next;
};

/* A helper thread with nothing to do for this long ends. */
#define HELPER_IDLE_SECONDS 10
/* An answer on its way that has not come in this long is handed to a
 * helper, which waits for it as a deferred request would (the signer's
 * own limit: its connection's timeouts, SIGNER_REMOTE_TIMEOUT_S). */
#define PENDING_WAIT_MS (60 * 1000)
/* How often the finisher looks for one that waited too long. */
#define FINISHER_TICK_MS 1000

/* A response body handed to MHD, wiped when MHD is done with it. */
struct wiped_body {
	size_t len;
	uint8_t data[];
};

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

/* Is der[0..count) the chain p was parsed from? */
static int
peer_is_kept(
    const struct conn_peer *p, const gnutls_datum_t *der, unsigned int count)
{
	size_t off = 0;
	unsigned int i;

	if (p == NULL || p->chain == NULL || p->count != count)
		return 0;
	for (i = 0; i < count; i++) {
		if (p->lens[i] != der[i].size ||
		    memcmp(p->der + off, der[i].data, der[i].size) != 0)
			return 0;
		off += der[i].size;
	}
	return 1;
}

/* Keep chain in p with the DER it was parsed from (a failure to keep
 * costs only time: the next request parses again). */
static void
peer_keep(struct conn_peer *p, STACK_OF(X509) * chain,
    const gnutls_datum_t *der, unsigned int count)
{
	size_t total = 0, off = 0;
	unsigned int i;

	sk_X509_pop_free(p->chain, X509_free);
	free(p->der);
	p->chain = NULL;
	p->der = NULL;
	p->der_len = 0;
	p->count = 0;
	for (i = 0; i < count; i++)
		total += der[i].size;
	if ((p->der = malloc(total)) == NULL)
		return;
	for (i = 0; i < count; i++) {
		memcpy(p->der + off, der[i].data, der[i].size);
		off += der[i].size;
		p->lens[i] = der[i].size;
	}
	p->der_len = total;
	p->count = count;
	p->chain = chain;
}

/*
 * The client's chain as DER from GnuTLS, leaf first; NULL: none sent.
 * With kept (the connection's record), the chain parsed at an earlier
 * request of the connection is lent when GnuTLS still holds the same DER,
 * and a chain parsed now is kept there (*is_lent: the caller must not
 * free *out).
 */
static enum status
peer_chain(gnutls_session_t s, struct conn_peer *kept, STACK_OF(X509) * *out,
    int *is_lent)
{
	STACK_OF(X509) *chain = NULL;
	const gnutls_datum_t *der;
	const unsigned char *p;
	unsigned int count = 0, i;
	X509 *x = NULL;
	enum status st = ST_MALFORMED;

	*out = NULL;
	*is_lent = 0;
	der = gnutls_certificate_get_peers(s, &count);
	if (der == NULL || count == 0)
		return ST_OK;
	if (count > LIMIT_PEER_CHAIN)
		return status_fail(ST_LIMIT,
		    "client certificate chain has %u certificates", count);
	if (peer_is_kept(kept, der, count)) {
		*out = kept->chain;
		*is_lent = 1;
		return ST_OK;
	}
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
	if (kept != NULL) {
		peer_keep(kept, chain, der, count);
		if (kept->chain == chain)
			*is_lent = 1;
	}
	*out = chain;
	chain = NULL;
	st = ST_OK;
out:
	X509_free(x);
	if (chain != NULL)
		sk_X509_pop_free(chain, X509_free);
	return st;
}

/*
 * Fill the TLS part of req: version, client chain (lent from kept when it
 * is the connection's; *is_lent then), channel binding.
 */
static enum status
request_tls(struct MHD_Connection *conn, struct conn_peer *kept,
    struct http_request *req, int *is_lent)
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
			return peer_chain(s, kept, &req->peer_chain, is_lent);
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
	/* The session's binding, derived once per connection (tessera never
	 * renegotiates, so it cannot change). */
	if (kept != NULL && kept->has_binding) {
		memcpy(req->channel_binding, kept->binding, kept->binding_len);
		req->channel_binding_len = kept->binding_len;
	} else if (gnutls_session_channel_binding(s, cb_type, &cb) ==
	        GNUTLS_E_SUCCESS &&
	    cb.data != NULL) {
		if (cb.size <= sizeof(req->channel_binding)) {
			memcpy(req->channel_binding, cb.data, cb.size);
			req->channel_binding_len = cb.size;
		}
		gnutls_free(cb.data);
	}
	if (kept != NULL && !kept->has_binding &&
	    req->channel_binding_len <= sizeof(kept->binding)) {
		memcpy(kept->binding, req->channel_binding,
		    req->channel_binding_len);
		kept->binding_len = req->channel_binding_len;
		kept->has_binding = 1;
	}
	return peer_chain(s, kept, &req->peer_chain, is_lent);
}

static void
exchange_free(struct exchange *x)
{
	if (x == NULL)
		return;
	buf_free(&x->body);
	http_response_free(&x->resp);
	if (!x->is_lent)
		sk_X509_pop_free(x->req.peer_chain, X509_free);
	free(x);
}

void
worker_request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode code)
{
	struct listener *l = cls;

	(void)code;
	worker_conn_mark(l, worker_conn_get(l, conn));
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
	http_response_init(&x->resp);
	x->start_ns = metrics_now_ns();
	*req_cls = x;
	/* The headers are in: the body has its own time from now. */
	worker_conn_mark(l, worker_conn_get(l, conn));
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
 * to peers on loopback only, Tessera-Worker: the worker's pid, and
 * Tessera-Thread: the thread that served the connection, so that an
 * operator or a test on the machine can tell which worker answered.
 */
static void
worker_headers(
    struct worker *w, struct MHD_Connection *conn, struct http_response *resp)
{
	if (__atomic_load_n(&w->is_draining, __ATOMIC_RELAXED) &&
	    http_response_header(resp, "Connection", "close") != ST_OK)
		log_debug("http: no room for Connection: close");
	if (!peer_is_loopback(conn))
		return;
	if (http_response_header(resp, "Tessera-Worker", "%s", w->pid_text) !=
	    ST_OK)
		log_debug("http: no room for Tessera-Worker");
	if (http_response_header(
	        resp, "Tessera-Thread", "%ld", (long)gettid()) != ST_OK)
		log_debug("http: no room for Tessera-Thread");
}

/*
 * Run x's request through the authority (held shared): in a handler, the
 * connection's slow-request clock stops (not for an inline run, which
 * never waits).
 */
static void
exchange_run(struct exchange *x)
{
	struct listener *l = x->l;
	struct worker *w = l->w;

	if (!x->req.is_inline)
		worker_conn_handling(l, x->r, 1);
	metrics_inflight_add(w->args->metrics, w->metrics_slot, 1);
	pthread_rwlock_rdlock(&w->auth_rw);
	if (l->is_tls)
		enroll_handle_tls(w->e, &x->req, &x->resp);
	else
		enroll_handle_publish(w->e, &x->req, &x->resp);
	pthread_rwlock_unlock(&w->auth_rw);
	metrics_inflight_add(w->args->metrics, w->metrics_slot, -1);
	if (!x->req.is_inline)
		worker_conn_handling(l, x->r, 0);
}

/* The answer of x: counted, logged, sent. */
static enum MHD_Result
exchange_answer(struct exchange *x)
{
	struct listener *l = x->l;
	struct worker *w = l->w;
	struct log_access_entry entry;
	enum MHD_Result ret;

	metrics_request_count(
	    w->args->metrics, enroll_endpoint(x->req.path), x->resp.status);
	if (w->access_fd >= 0) {
		/* The path: MHD keeps the query apart, so what a query
		 * carries never reaches the log. */
		entry.remote = x->addr[0] != '\0' ? x->addr : NULL;
		entry.method = x->req.method;
		entry.path = x->req.path;
		entry.status = x->resp.status;
		entry.bytes = x->resp.body.len;
		entry.duration_ns = metrics_now_ns() - x->start_ns;
		entry.principal = x->principal;
		log_access_write(w->access_fd, &entry);
	}
	worker_headers(w, x->conn, &x->resp);
	if (l->is_tls)
		log_debug("https: %s %s %.200s -> %d (TLS 0x%04x, client "
		          "certificates %d, channel binding %zu bytes)",
		    x->addr, x->req.method, x->req.path, x->resp.status,
		    x->req.tls_version,
		    x->req.peer_chain != NULL ? sk_X509_num(x->req.peer_chain)
		                              : 0,
		    x->req.channel_binding_len);
	else
		log_debug("http: %s %s %.200s -> %d", x->addr, x->req.method,
		    x->req.path, x->resp.status);
	ret = response_send(x->conn, &x->resp);
	http_response_free(&x->resp);
	return ret;
}

/* x is answered: its connection resumes (MHD answers it on its thread). */
static void
exchange_resume(struct exchange *x)
{
	struct listener *l = x->l;

	__atomic_store_n(&x->is_ready, 1, __ATOMIC_RELEASE);
	/* From here x is MHD's again (it may answer and free it). */
	MHD_resume_connection(x->conn);
	pthread_mutex_lock(&l->deferred_mu);
	if (--l->deferred == 0)
		pthread_cond_broadcast(&l->deferred_cv);
	pthread_mutex_unlock(&l->deferred_mu);
}

/* A deferred request on a helper thread; its connection resumes. */
static void
exchange_deferred(struct exchange *x)
{
	exchange_run(x);
	exchange_resume(x);
}

/*
 * An answer on its way is finished (its descriptor out of finish_ep
 * already): the route fills resp, the connection's clock goes on, and it
 * resumes.
 */
static void
exchange_finish(struct exchange *x)
{
	struct listener *l = x->l;
	struct worker *w = l->w;

	status_clear();
	x->pending.finish(x->pending.ctx, x->pending.arg, &x->resp);
	metrics_inflight_add(w->args->metrics, w->metrics_slot, -1);
	worker_conn_handling(l, x->r, 0);
	exchange_resume(x);
}

/*
 * A helper: runs the queued deferred requests one after another, waits
 * for more while idle, ends after HELPER_IDLE_SECONDS without work or at
 * the listener's stop.
 */
static void *
helper_main(void *arg)
{
	struct listener *l = arg;
	struct exchange *x;
	struct timespec until;
	int rc;

	/* Named for ps -L (by itself: Landlock keeps a worker from writing
	 * another thread's /proc/.../comm). */
	(void)pthread_setname_np(pthread_self(), "http-helper");
	pthread_mutex_lock(&l->deferred_mu);
	for (;;) {
		rc = 0;
		while (l->queue_head == NULL && !l->is_stopping && rc == 0) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += HELPER_IDLE_SECONDS;
			l->helpers_idle++;
			rc = pthread_cond_timedwait(
			    &l->work_cv, &l->deferred_mu, &until);
			l->helpers_idle--;
		}
		if ((x = l->queue_head) == NULL)
			break;
		if ((l->queue_head = x->next) == NULL)
			l->queue_tail = NULL;
		pthread_mutex_unlock(&l->deferred_mu);
		if (x->is_pending)
			exchange_finish(x);
		else
			exchange_deferred(x);
		pthread_mutex_lock(&l->deferred_mu);
	}
	pthread_mutex_unlock(&l->deferred_mu);
	/*
	 * A detached thread: its OpenSSL state (the per-thread random
	 * generators) is freed now, before the stop can count it gone and
	 * the process exit; freed by the thread's exit instead, it raced
	 * the exit (a sanitizer build reported it leaked, under load).
	 */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&l->deferred_mu);
	l->helpers--;
	pthread_cond_broadcast(&l->deferred_cv);
	pthread_mutex_unlock(&l->deferred_mu);
	return NULL;
}

/* Start a helper for l; deferred_mu is held. 0, or -1 when none starts. */
static int
helper_start(struct listener *l)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc = -1;

	if (pthread_attr_init(&attr) != 0)
		return -1;
	if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
	    pthread_create(&t, &attr, helper_main, l) == 0) {
		l->helpers++;
		rc = 0;
	}
	pthread_attr_destroy(&attr);
	return rc;
}

/*
 * Queue x for a helper thread (an idle one, or a new one: a deferred
 * request never waits behind another); deferred_mu held. 0, or -1 when
 * no helper can be had.
 */
static int
helper_queue(struct listener *l, struct exchange *x)
{
	if (l->helpers_idle == 0 && helper_start(l) != 0)
		return -1;
	x->next = NULL;
	if (l->queue_tail != NULL)
		l->queue_tail->next = x;
	else
		l->queue_head = x;
	l->queue_tail = x;
	pthread_cond_signal(&l->work_cv);
	return 0;
}

/*
 * Run x again where it may wait: its connection suspended (the pool
 * thread serves the others meanwhile), on a helper thread, which
 * resumes it; MHD then calls worker_request_on again and it is answered.
 */
static enum MHD_Result
exchange_defer(struct exchange *x)
{
	struct listener *l = x->l;
	int is_queued;

	http_response_free(&x->resp);
	http_response_init(&x->resp);
	x->req.is_inline = 0;
	x->req.is_deferred = 1;
	MHD_suspend_connection(x->conn);
	pthread_mutex_lock(&l->deferred_mu);
	l->deferred++;
	is_queued = helper_queue(l, x) == 0;
	pthread_mutex_unlock(&l->deferred_mu);
	/* No thread to be had: it waits here, as a thread per connection
	 * would. */
	if (!is_queued)
		exchange_deferred(x);
	return MHD_YES;
}

/* Add x to the end of l's list of answers on their way; deferred_mu held. */
static void
pend_link(struct listener *l, struct exchange *x)
{
	x->pend_next = NULL;
	x->pend_prev = l->pend_tail;
	if (l->pend_tail != NULL)
		l->pend_tail->pend_next = x;
	else
		l->pend_head = x;
	l->pend_tail = x;
}

/* Take x out of l's list of answers on their way; deferred_mu held. */
static void
pend_unlink(struct listener *l, struct exchange *x)
{
	if (x->pend_prev != NULL)
		x->pend_prev->pend_next = x->pend_next;
	else
		l->pend_head = x->pend_next;
	if (x->pend_next != NULL)
		x->pend_next->pend_prev = x->pend_prev;
	else
		l->pend_tail = x->pend_prev;
	x->pend_prev = x->pend_next = NULL;
}

/*
 * x's answer is on its way (a route started it and left HTTP_PENDING):
 * its connection is suspended and its descriptor handed to the finisher;
 * this thread goes on with its other connections at once.
 */
static enum MHD_Result
exchange_pend(struct exchange *x)
{
	struct listener *l = x->l;
	struct worker *w = l->w;
	struct epoll_event ev;
	int is_watched;

	x->pending = x->resp.pending;
	http_response_free(&x->resp);
	http_response_init(&x->resp);
	x->is_pending = 1;
	x->req.is_inline = 0;
	metrics_inflight_add(w->args->metrics, w->metrics_slot, 1);
	/* Waiting for tessera now: the slow-request clock stops. */
	worker_conn_handling(l, x->r, 1);
	if (x->pending.fd < 0) {
		/* The answer is here already. */
		status_clear();
		x->pending.finish(x->pending.ctx, x->pending.arg, &x->resp);
		metrics_inflight_add(w->args->metrics, w->metrics_slot, -1);
		worker_conn_handling(l, x->r, 0);
		return exchange_answer(x);
	}
	MHD_suspend_connection(x->conn);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = x;
	x->pend_until_ms = worker_now_ms() + PENDING_WAIT_MS;
	pthread_mutex_lock(&l->deferred_mu);
	l->deferred++;
	/* (finish_ep is -1 once the finisher has stopped.) */
	is_watched = l->finish_ep >= 0 &&
	    epoll_ctl(l->finish_ep, EPOLL_CTL_ADD, x->pending.fd, &ev) == 0;
	if (is_watched)
		pend_link(l, x);
	pthread_mutex_unlock(&l->deferred_mu);
	if (!is_watched) {
		log_warn("http: cannot wait for an answer on its way: %s",
		    strerror(errno));
		/* It waits here, as a thread per connection would. */
		exchange_finish(x);
	}
	return MHD_YES;
}

/*
 * The finisher: waits on the descriptors of l's answers on their way and
 * finishes each whose answer has come (the signer's connection readable)
 * on this thread, without waiting; one whose connection was closed (the
 * signer gone: the finish may send it once more and wait) or that waited
 * longer than PENDING_WAIT_MS goes to a helper.
 */
static void *
finisher_main(void *arg)
{
	struct listener *l = arg;
	struct epoll_event ev[64];
	struct exchange *x;
	int64_t now;
	int ep = l->finish_ep, i, n, is_stopping = 0, is_hup, is_late;

	(void)pthread_setname_np(pthread_self(), "http-finisher");
	while (!is_stopping) {
		n = epoll_wait(ep, ev, 64, FINISHER_TICK_MS);
		if (n < 0 && errno != EINTR) {
			log_error("http: the finisher's epoll_wait: %s",
			    strerror(errno));
			n = 0;
			usleep(10 * 1000);
		}
		for (i = 0; i < n; i++) {
			if ((x = ev[i].data.ptr) == NULL) {
				is_stopping = 1;
				continue;
			}
			is_hup = (ev[i].events &
			             (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) != 0;
			pthread_mutex_lock(&l->deferred_mu);
			/* Out of epoll before the finish gives the
			 * connection back to the signer's pool. */
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, x->pending.fd, NULL);
			pend_unlink(l, x);
			/* Its signer connection closed: the finish may send
			 * it once more, and a helper may wait for that. */
			if (is_hup && helper_queue(l, x) == 0)
				x = NULL;
			pthread_mutex_unlock(&l->deferred_mu);
			if (x != NULL)
				exchange_finish(x);
		}
		/* Those that waited too long: a helper waits for them. */
		now = worker_now_ms();
		do {
			is_late = 0;
			pthread_mutex_lock(&l->deferred_mu);
			if ((x = l->pend_head) != NULL &&
			    x->pend_until_ms <= now) {
				is_late = 1;
				(void)epoll_ctl(
				    ep, EPOLL_CTL_DEL, x->pending.fd, NULL);
				pend_unlink(l, x);
				if (helper_queue(l, x) == 0)
					x = NULL;
			} else
				x = NULL;
			pthread_mutex_unlock(&l->deferred_mu);
			if (x != NULL)
				exchange_finish(x);
		} while (is_late);
	}
	OPENSSL_thread_stop();
	return NULL;
}

enum status
worker_finisher_start(struct listener *l)
{
	struct epoll_event ev;

	l->finish_ep = epoll_create1(EPOLL_CLOEXEC);
	l->finish_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (l->finish_ep < 0 || l->finish_stop < 0 ||
	    epoll_ctl(l->finish_ep, EPOLL_CTL_ADD, l->finish_stop, &ev) != 0 ||
	    pthread_create(&l->finisher, NULL, finisher_main, l) != 0) {
		if (l->finish_ep >= 0)
			close(l->finish_ep);
		if (l->finish_stop >= 0)
			close(l->finish_stop);
		l->finish_ep = l->finish_stop = -1;
		return status_fail(
		    ST_INTERNAL, "no finisher thread: %s", strerror(errno));
	}
	return ST_OK;
}

void
worker_finisher_stop(struct listener *l)
{
	uint64_t one = 1;
	int ep, has_pending;

	pthread_mutex_lock(&l->deferred_mu);
	ep = l->finish_ep;
	/* From here a pool thread finishes what it starts itself. */
	__atomic_store_n(&l->finish_ep, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->deferred_mu);
	if (ep < 0)
		return;
	if (write(l->finish_stop, &one, sizeof(one)) != sizeof(one))
		log_warn("http: stopping the finisher: %s", strerror(errno));
	pthread_join(l->finisher, NULL);
	pthread_mutex_lock(&l->deferred_mu);
	has_pending = l->pend_head != NULL;
	pthread_mutex_unlock(&l->deferred_mu);
	/* One still on its way (the stop's wait ran out) keeps the
	 * descriptors, as the helpers keep the mutex. */
	if (!has_pending) {
		close(ep);
		close(l->finish_stop);
	}
	l->finish_stop = -1;
}

enum MHD_Result
worker_request_on(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct listener *l = cls;
	struct exchange *x = *req_cls;
	struct http_request *req;
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
	if (__atomic_load_n(&x->is_ready, __ATOMIC_ACQUIRE))
		return exchange_answer(x);
	if (x->body_st == ST_LIMIT)
		return body_too_large(conn);
	if (x->body_st == ST_MALFORMED) /* answered in exchange_start */
		return MHD_YES;
	if (x->body_st != ST_OK)
		return error_send(conn, 503, "out of memory", 0);

	x->l = l;
	x->conn = conn;
	req = &x->req;
	req->method = method;
	req->path = url;
	req->content_type = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req->authorization = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req->host = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	req->origin = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
	req->sec_fetch_site = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (x->body.len > 0) {
		req->body = x->body.data;
		req->body_len = x->body.len;
	}
	req->query = request_query;
	req->query_unknown = request_query_unknown;
	req->glue = conn;
	req->principal = x->principal;
	status_clear();
	if ((st = peer_address(conn, x->addr, sizeof(x->addr))) != ST_OK) {
		http_response_status(&x->resp, st);
		return exchange_answer(x);
	}
	req->peer_address = x->addr;
	x->r = worker_conn_get(l, conn);
	if (l->is_tls &&
	    (st = request_tls(conn, x->r != NULL ? &x->r->peer : NULL, req,
	         &x->is_lent)) != ST_OK) {
		http_response_error(&x->resp, st == ST_INTERNAL ? 500 : 400,
		    "TLS client certificate: %s", status_detail());
		return exchange_answer(x);
	}
	/* The connection's verified chain: checked once per connection. */
	if (x->r != NULL && l->is_tls)
		req->chain_memo = &x->r->memo;
	/* A pool thread answers from memory only, or starts an answer the
	 * finisher completes; the rest is deferred. */
	req->is_inline = l->is_pool;
	req->can_pend =
	    l->is_pool && __atomic_load_n(&l->finish_ep, __ATOMIC_RELAXED) >= 0;
	exchange_run(x);
	if (x->resp.status == HTTP_DEFER)
		return exchange_defer(x);
	if (x->resp.status == HTTP_PENDING)
		return exchange_pend(x);
	return exchange_answer(x);
}
