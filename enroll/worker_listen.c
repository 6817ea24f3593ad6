/*
 * worker_listen: a worker's libmicrohttpd daemons (one per inherited
 * listening socket): their limits, one thread per connection, a record
 * per connection for the sweeper, the quiesce and stop of the drain.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "enroll/worker_internal.h"

/*
 * TLS 1.2 and 1.3 only (RFC 8996), AEAD suites with ECDHE, the server's
 * order. No session tickets: tls-unique is unsafe across resumption
 * (RFC 7030 §3.5), and libmicrohttpd keeps no session cache either.
 *
 * The groups: X25519 first. With the server's order GnuTLS picks its
 * first group the client supports and, when the client sent no key share
 * for it, answers a HelloRetryRequest: one more round trip and one more
 * key for the client. SECURE128 puts P-256 first, and OpenSSL, Go, Java,
 * rustls and curl send an X25519 share only; GnuTLS clients send both; a
 * client without X25519 gets P-256 without a retry. Elliptic curves only:
 * every TLS 1.3 client has P-256 (RFC 8446 §9.1), and a client offering
 * only ffdhe8192 would make the server pay an 8192-bit exponentiation.
 */
#define WORKER_TLS_PRIORITIES                                                  \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:"           \
	"+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"         \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:"            \
	"+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:"      \
	"%SERVER_PRECEDENCE:%NO_TICKETS"

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

int64_t
worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct conn_rec *
worker_conn_get(struct listener *l, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	(void)l;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

void
worker_conn_mark(struct listener *l, struct conn_rec *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&l->conns_mu);
	r->since_ms = worker_now_ms();
	r->has_request = 1;
	pthread_mutex_unlock(&l->conns_mu);
}

void
worker_conn_handling(struct listener *l, struct conn_rec *r, int is_in)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&l->conns_mu);
	r->is_handling = is_in;
	r->since_ms = worker_now_ms();
	pthread_mutex_unlock(&l->conns_mu);
}

void
worker_conn_peer_clear(struct conn_peer *p)
{
	sk_X509_pop_free(p->chain, X509_free);
	free(p->der);
	memset(p, 0, sizeof(*p));
}

/*
 * No Nagle on an accepted socket, from its first byte: the TLS handshake
 * is written in several small records (GnuTLS sends a HelloRetryRequest
 * and its ChangeCipherSpec in two writes, then the server's flight), and
 * with Nagle a record written while the one before is unacknowledged
 * waits for the peer's delayed ACK: 40 ms on Linux, for a client that has
 * nothing to send until that record arrives. MHD itself sets TCP_NODELAY
 * only around its response. Failure costs only time.
 */
static void
nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		log_debug("http: TCP_NODELAY: %s", strerror(errno));
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct listener *l = cls;
	const union MHD_ConnectionInfo *ci = NULL;
	struct conn_rec *r = *socket_context;
	struct authority_chain_memo *memo = NULL;
	struct conn_peer peer;
	size_t i;

	memset(&peer, 0, sizeof(peer));
	if (toe == MHD_CONNECTION_NOTIFY_STARTED &&
	    (ci = MHD_get_connection_info(
	         conn, MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL)
		nodelay(ci->connect_fd);
	pthread_mutex_lock(&l->conns_mu);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (r != NULL) {
			r->is_used = 0;
			memo = r->memo;
			r->memo = NULL;
			peer = r->peer;
			memset(&r->peer, 0, sizeof(r->peer));
		}
		*socket_context = NULL;
	} else if (ci != NULL) {
		for (i = 0; i < LIMIT_HTTP_CONNECTIONS; i++) {
			if (!l->conns[i].is_used) {
				l->conns[i].is_used = 1;
				l->conns[i].has_request = 0;
				l->conns[i].is_handling = 0;
				l->conns[i].fd = ci->connect_fd;
				l->conns[i].since_ms = worker_now_ms();
				l->conns[i].memo = NULL;
				memset(&l->conns[i].peer, 0,
				    sizeof(l->conns[i].peer));
				*socket_context = &l->conns[i];
				break;
			}
		}
	}
	pthread_mutex_unlock(&l->conns_mu);
	authority_chain_memo_free(memo);
	worker_conn_peer_clear(&peer);
}

void
worker_listener_sweep(struct listener *l, int64_t now)
{
	struct conn_rec *r;
	int64_t limit;
	size_t i;

	if (l->daemon == NULL)
		return;
	pthread_mutex_lock(&l->conns_mu);
	for (i = 0; i < LIMIT_HTTP_CONNECTIONS; i++) {
		r = &l->conns[i];
		if (!r->is_used)
			continue;
		/* Waiting for us is not slowness: its clock starts again. */
		if (r->is_handling) {
			r->since_ms = now;
			continue;
		}
		limit = r->has_request ? LIMIT_HTTP_REQUEST_SECONDS
		                       : LIMIT_HTTP_FIRST_REQUEST_SECONDS;
		if (now - r->since_ms <= limit * 1000)
			continue;
		/* MHD sees the end of the stream and closes it itself. */
		shutdown(r->fd, SHUT_RDWR);
		r->since_ms = now;
		log_debug("http: %s over %lld s cut off",
		    r->has_request ? "a request"
		                   : "a connection without a request",
		    (long long)limit);
	}
	pthread_mutex_unlock(&l->conns_mu);
}

enum status
worker_listener_start(struct worker *w, struct listener *l, int fd, int is_tls,
    const char *cert, const char *key, const char *trust)
{
	/*
	 * TLS: one thread per connection: a request that waits (a commit, a
	 * signature, a key generation) holds up no other connection, and
	 * two long-lived connections run on two cores. Plain HTTP
	 * (publication): a pool of a thread per core on epoll, which starts
	 * no thread per connection; a request it cannot answer from memory
	 * is deferred to a thread of its own (worker_request.c), so there too
	 * a request that waits holds up only its own connection.
	 */
	unsigned int flags = is_tls ? MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC
	                            : MHD_USE_EPOLL_INTERNAL_THREAD |
	        MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int pool = cores < 1 ? 1 : cores > 64 ? 64 : (unsigned)cores;
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
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)worker_request_completed,
	        l},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, l},
	    {MHD_OPTION_END, 0, NULL},
	};

	l->w = w;
	l->is_tls = is_tls;
	l->is_pool = !is_tls;
	l->finish_ep = l->finish_stop = -1;
	pthread_mutex_init(&l->conns_mu, NULL);
	pthread_mutex_init(&l->deferred_mu, NULL);
	pthread_cond_init(&l->deferred_cv, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	if (is_tls)
		l->daemon = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL,
		    worker_request_on, l, MHD_OPTION_ARRAY, common,
		    MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY,
		    key, MHD_OPTION_HTTPS_MEM_TRUST, trust,
		    MHD_OPTION_HTTPS_PRIORITIES, WORKER_TLS_PRIORITIES,
		    MHD_OPTION_END);
	else
		l->daemon = MHD_start_daemon(flags, 0, NULL, NULL,
		    worker_request_on, l, MHD_OPTION_ARRAY, common,
		    MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_END);
	if (l->daemon == NULL)
		return status_fail(ST_INTERNAL,
		    "cannot start the %s listener%s",
		    is_tls ? "TLS" : "plain-HTTP",
		    is_tls ? " (check tls/server.pem and tls/server.key)" : "");
	/* Without it the pool defers what it would have started. */
	if (l->is_pool && worker_finisher_start(l) != ST_OK)
		log_warn("http: %s; OCSP answers signed now go to helper "
		         "threads",
		    status_detail());
	return ST_OK;
}

void
worker_listener_quiesce(struct listener *l)
{
	MHD_socket fd;

	if (l->daemon != NULL &&
	    (fd = MHD_quiesce_daemon(l->daemon)) != MHD_INVALID_SOCKET)
		close(fd);
}

unsigned int
worker_listener_connections(struct listener *l)
{
	const union MHD_DaemonInfo *info;

	if (l->daemon == NULL)
		return 0;
	info =
	    MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

void
worker_listener_stop(struct listener *l)
{
	size_t i;

	struct timespec until;

	if (l->daemon == NULL)
		return;
	/*
	 * MHD must not stop with a connection suspended: the deferred
	 * requests end first (each resumes its connection), 60 s at most.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&l->deferred_mu);
	while (l->deferred > 0 &&
	    pthread_cond_timedwait(&l->deferred_cv, &l->deferred_mu, &until) !=
	        ETIMEDOUT)
		;
	if (l->deferred > 0)
		log_warn("http: %u deferred requests still running at the "
		         "stop",
		    l->deferred);
	/* The idle helpers end (5 s more at most). */
	l->is_stopping = 1;
	pthread_cond_broadcast(&l->work_cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	while ((l->helpers > 0 || l->deferred > 0) &&
	    pthread_cond_timedwait(&l->deferred_cv, &l->deferred_mu, &until) !=
	        ETIMEDOUT)
		;
	pthread_mutex_unlock(&l->deferred_mu);
	worker_finisher_stop(l);
	MHD_stop_daemon(l->daemon);
	l->daemon = NULL;
	/* Every connection is closed: a memo left is one MHD never told. */
	for (i = 0; i < LIMIT_HTTP_CONNECTIONS; i++) {
		authority_chain_memo_free(l->conns[i].memo);
		l->conns[i].memo = NULL;
		worker_conn_peer_clear(&l->conns[i].peer);
	}
	pthread_mutex_destroy(&l->conns_mu);
	if (l->deferred == 0 && l->helpers == 0) {
		pthread_cond_destroy(&l->work_cv);
		pthread_cond_destroy(&l->deferred_cv);
		pthread_mutex_destroy(&l->deferred_mu);
	}
}
