/*
 * worker_internal: the parts of one `tessera serve` worker process, shared
 * by the files that make it up. Only enroll/server_worker.c and
 * enroll/worker_*.c include this.
 *
 *   server_worker.c   start-up, the TLS files, the drain, the stop signal
 *   worker_listen.c   the libmicrohttpd daemons: limits, connection
 *                     records, the sweeper's cut of slow connections
 *   worker_request.c  one request: framing, body, TLS facts, dispatch to
 *                     enroll_handle_*, the answer
 *   worker_tick.c     the threads that run every few seconds: the
 *                     scheduler (authority_tick) and the sweeper
 *
 * Requests in flight: the TLS listener runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION); the plain listener a pool of threads
 * that answer from memory, hand an OCSP answer whose signature they
 * started to the finisher thread, and defer the rest to helper threads.
 * So a worker serves many connections at once and a slow request (a
 * serverkeygen, a slow disk, a slow HSM) holds up only its own
 * connection. Every call into the authority holds
 * auth_rw shared; only authority_maintain (the token reopened after a
 * fault, replaced key handles freed) holds it exclusively, and only when
 * it has work. ARCHITECTURE.md, "Request model", says why.
 */
#ifndef TESSERA_ENROLL_WORKER_INTERNAL_H
#define TESSERA_ENROLL_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <microhttpd.h>
#include <openssl/x509.h>

#include "ca/authority.h"
#include "common/limits.h"
#include "enroll/enroll.h"
#include "enroll/server_internal.h"

struct worker;

/*
 * A connection as the sweeper sees it: since when it has been receiving
 * its current request (or waiting for one). MHD's timeout counts idle
 * time only, so a client that sends a byte every few seconds would hold
 * a connection for ever; the sweeper cuts any request, header or body,
 * that takes longer than LIMIT_HTTP_REQUEST_SECONDS. A connection that
 * has not sent the headers of its first request (TLS handshake included)
 * gets LIMIT_HTTP_FIRST_REQUEST_SECONDS: holding a slot costs a client
 * that sends nothing no more than a few seconds. A connection whose
 * request is in a handler is waiting for us, not slow: its clock stops.
 *
 * memo is what the connection's TLS client chain proved (verified once
 * per connection, authority_authenticate_conn), and peer the chain itself
 * as parsed at the first request that carried it: decoding a certificate
 * (its key through OpenSSL's decoders) costs more than serving a JWKS,
 * so a keep-alive connection parses its chain once and each request only
 * compares the DER GnuTLS holds with the bytes it was parsed from; the
 * channel binding is likewise derived once per connection. Only
 * the connection's own thread touches memo and peer.
 */
struct conn_peer {
	STACK_OF(X509) * chain; /* NULL: none parsed yet */
	uint8_t *der; /* the chain's DER, one after the other */
	size_t der_len;
	unsigned int count;
	unsigned int lens[LIMIT_PEER_CHAIN];
	/* The session's channel binding (RFC 9266), derived once. */
	uint8_t binding[64];
	size_t binding_len;
	int has_binding;
};

struct conn_rec {
	int is_used;
	int has_request; /* the headers of a first request arrived */
	int is_handling; /* its request is in a handler */
	int fd;
	int64_t since_ms;
	struct authority_chain_memo *memo;
	struct conn_peer peer;
};

/* Let go of what p holds (the chain and its DER). */
void worker_conn_peer_clear(struct conn_peer *p);

struct listener {
	struct worker *w;
	int is_tls;
	/* A pool of threads (epoll) rather than one per connection: each
	 * request runs first with is_inline, and what cannot be answered
	 * from memory is deferred to a thread of its own. */
	int is_pool;
	pthread_mutex_t deferred_mu; /* guards the fields below */
	pthread_cond_t deferred_cv; /* deferred or helpers went down */
	pthread_cond_t work_cv; /* a deferred request queued, or stopping */
	unsigned int deferred; /* requests queued or on a helper */
	/* Deferred requests waiting for a helper thread. A request finds an
	 * idle helper or starts one, so none waits behind another; a helper
	 * idle for HELPER_IDLE_SECONDS ends. */
	struct exchange *queue_head, *queue_tail;
	unsigned int helpers, helpers_idle;
	int is_stopping;
	/*
	 * Answers on their way (HTTP_PENDING: an OCSP answer whose signature
	 * the pool thread started): their connections suspended, their
	 * descriptors in finish_ep, which the finisher thread waits on; it
	 * finishes each when its descriptor turns readable and resumes the
	 * connection. In start order (each has the same time limit), under
	 * deferred_mu; counted in deferred. finish_ep -1: no finisher (a
	 * pool thread then defers as before).
	 */
	int finish_ep;
	int finish_stop; /* an eventfd: the finisher ends */
	pthread_t finisher;
	struct exchange *pend_head, *pend_tail;
	struct MHD_Daemon *daemon;
	pthread_mutex_t conns_mu; /* guards conns[] but memo */
	struct conn_rec conns[LIMIT_HTTP_CONNECTIONS];
};

/*
 * A thread that calls fn every period seconds until stopped: the
 * scheduler (authority_tick, in one worker) and the sweeper (requests
 * that take too long, tallied refusals, authority_maintain; in every
 * worker).
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
	/*
	 * Shared by every call into the authority, exclusive for
	 * authority_maintain only; writers first, so that maintenance is
	 * not starved by a steady stream of requests.
	 */
	pthread_rwlock_t auth_rw;
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

/* CLOCK_MONOTONIC in milliseconds. */
int64_t worker_now_ms(void);

/*
 * Serve the listening socket fd with l (TLS with cert, key and the client
 * trust anchors when is_tls). ST_INTERNAL when MHD refuses to start.
 */
enum status
worker_listener_start(struct worker *w, struct listener *l, int fd, int is_tls,
    const char *cert, const char *key, const char *trust) MUST_CHECK;

/* Stop accepting; the socket stays open in the other workers. */
void worker_listener_quiesce(struct listener *l);

/* Connections l holds now. */
unsigned int worker_listener_connections(struct listener *l);

/* Close every connection of l and stop its threads. */
void worker_listener_stop(struct listener *l);

/*
 * The finisher of l's answers on their way (worker_request.c): started
 * with the pool's daemon (ST_OK or why not: the pool then defers them),
 * stopped once none is left.
 */
enum status worker_finisher_start(struct listener *l) MUST_CHECK;
void worker_finisher_stop(struct listener *l);

/* Shut down the sockets of l's requests that took too long. */
void worker_listener_sweep(struct listener *l, int64_t now);

/*
 * conn's record on l (NULL when it has none: more connections than
 * records, which MHD's limit prevents). For conn's own thread.
 */
struct conn_rec *
worker_conn_get(struct listener *l, struct MHD_Connection *conn);

/* Restart r's clock (a request began, or one was answered). */
void worker_conn_mark(struct listener *l, struct conn_rec *r);

/* Mark r as in a handler (its clock stops) or out of it (restarts). */
void worker_conn_handling(struct listener *l, struct conn_rec *r, int is_in);

/* MHD's access handler and completion callback (cls: the listener). */
enum MHD_Result worker_request_on(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **req_cls);
void worker_request_completed(void *cls, struct MHD_Connection *conn,
    void **req_cls, enum MHD_RequestTerminationCode code);

/* Start t: fn(w) now and every period seconds; name is for errors. */
enum status worker_ticker_start(struct ticker *t, struct worker *w,
    const char *name, void (*fn)(struct worker *), int period) MUST_CHECK;

/* Stop t and wait for its thread (nothing when it never started). */
void worker_ticker_stop(struct ticker *t);

/* The scheduler's work: authority_tick, and a reload when it asks. */
void worker_tick_schedule(struct worker *w);

/* The sweeper's work: slow connections, refusals, authority_maintain. */
void worker_tick_sweep(struct worker *w);

/* The hooks authority_set_lock gets: let go of auth_rw, take it again. */
void worker_auth_leave(void *arg);
void worker_auth_enter(void *arg);

#endif
