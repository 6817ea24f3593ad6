/*
 * One worker process of `tessera serve`: its own authority (store
 * connection, PKCS#11 session, opened after fork), one libmicrohttpd
 * daemon per inherited listening socket with a thread per connection
 * (worker_listen.c, worker_request.c), the sweeper and, in exactly one
 * worker, the scheduler (worker_tick.c). This file starts them, waits for
 * the stop signal and drains.
 *
 * The threads share the authority, which is safe for concurrent calls:
 * each holds auth_rw shared, authority_maintain alone holds it
 * exclusively (worker_internal.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/file.h"
#include "common/log.h"
#include "common/metrics.h"
#include "enroll/worker_internal.h"

/* tls/server.pem and server.key are ours, but read with a bound all the same. */
#define WORKER_TLS_FILE_MAX (256 * 1024)
/* authority_tick every second: CRLs follow revocations that fast. */
#define WORKER_TICK_SECONDS 1
/* How often the sweeper looks for requests over their time. */
#define WORKER_SWEEP_SECONDS 1
/* How long a stopping worker lets requests in flight finish. */
#define WORKER_DRAIN_MS 5000
#define WORKER_DRAIN_STEP_MS 50
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
	worker_listener_quiesce(&w->tls_listener);
	worker_listener_quiesce(&w->publish_listener);
	for (waited = 0; waited < WORKER_DRAIN_MS;
	     waited += WORKER_DRAIN_STEP_MS) {
		if (worker_listener_connections(&w->tls_listener) +
		        worker_listener_connections(&w->publish_listener) ==
		    0)
			break;
		nanosleep(&step, NULL);
	}
	worker_listener_stop(&w->tls_listener);
	worker_listener_stop(&w->publish_listener);
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
	pthread_rwlockattr_t rw_attr;
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
	pthread_rwlockattr_init(&rw_attr);
	pthread_rwlockattr_setkind_np(
	    &rw_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&w.auth_rw, &rw_attr);
	pthread_rwlockattr_destroy(&rw_attr);
	/* Stop signals are taken by sigwaitinfo below; threads inherit. */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	status_clear();
	if ((st = authority_open_signer(
	         args->data_dir, args->signer_path, &w.a)) != ST_OK)
		goto out;
	authority_set_lock(w.a, worker_auth_leave, worker_auth_enter, &w);
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
	/* All read at start is read: before the first network thread. */
	if ((st = authority_confine(w.a)) != ST_OK)
		goto out;
	if ((st = worker_listener_start(&w, &w.tls_listener, args->tls_fd, 1,
	         (const char *)cert, (const char *)key, trust)) != ST_OK)
		goto out;
	if ((st = worker_listener_start(&w, &w.publish_listener,
	         args->publish_fd, 0, NULL, NULL, NULL)) != ST_OK)
		goto out;
	if ((st = worker_ticker_start(&w.sweeper, &w, "sweeper",
	         worker_tick_sweep, WORKER_SWEEP_SECONDS)) != ST_OK ||
	    (args->runs_scheduler &&
	        (st = worker_ticker_start(&w.scheduler, &w, "scheduler",
	             worker_tick_schedule, WORKER_TICK_SECONDS)) != ST_OK))
		goto out;
	__atomic_store_n(&w.is_started, 1, __ATOMIC_RELAXED);
	is_serving = 1;
	/* The supervisor logs which policy each generation runs. */
	report(args, SERVER_REPORT_READY, authority_policy_id(w.a));
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
	worker_ticker_stop(&w.scheduler);
	/* Before the listeners: the sweeper reads their tables. */
	worker_ticker_stop(&w.sweeper);
	worker_drain(&w);
	enroll_free(w.e);
	authority_close(w.a);
	pthread_rwlock_destroy(&w.auth_rw);
	log_access_close(w.access_fd);
	tls_file_free(cert, cert_len);
	tls_file_free(key, key_len);
	if (trust != NULL)
		OPENSSL_cleanse(trust, trust_len);
	free(trust);
	return rc;
}
