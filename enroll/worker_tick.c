/*
 * worker_tick: the threads of a worker that run every few seconds. The
 * scheduler (in exactly one worker) runs authority_tick; the sweeper (in
 * every worker) cuts slow connections, writes tallied refusals and runs
 * authority_maintain, the one call that holds the authority alone.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "enroll/worker_internal.h"

void
worker_auth_leave(void *arg)
{
	struct worker *w = arg;

	pthread_rwlock_unlock(&w->auth_rw);
}

void
worker_auth_enter(void *arg)
{
	struct worker *w = arg;

	pthread_rwlock_rdlock(&w->auth_rw);
}

void
worker_tick_schedule(struct worker *w)
{
	unsigned events = 0;
	enum status st;

	pthread_rwlock_rdlock(&w->auth_rw);
	st = authority_tick(w->a, &events);
	pthread_rwlock_unlock(&w->auth_rw);
	if (st != ST_OK)
		log_warn("scheduled work failed: %s",
		    status_detail()[0] ? status_detail() : status_name(st));
	if (events & AUTHORITY_TICK_RETIRED)
		log_info("the old issuing CA was retired: reloading workers");
	else if (events & AUTHORITY_TICK_RELOAD)
		log_info("TLS server certificate renewed: reloading workers");
	if (events & (AUTHORITY_TICK_RELOAD | AUTHORITY_TICK_RETIRED)) {
		/* Only our own supervisor, never whoever adopted us. */
		if (getppid() == w->args->supervisor)
			kill(w->args->supervisor, SIGHUP);
	}
}

void
worker_tick_sweep(struct worker *w)
{
	worker_listener_sweep(&w->tls_listener, worker_now_ms());
	worker_listener_sweep(&w->publish_listener, worker_now_ms());
	pthread_rwlock_rdlock(&w->auth_rw);
	authority_flush(w->a);
	pthread_rwlock_unlock(&w->auth_rw);
	/*
	 * Alone only when there is work (a token to reopen, handles to
	 * free): otherwise requests would wait every second for this.
	 */
	if (!authority_maintain_due(w->a))
		return;
	pthread_rwlock_wrlock(&w->auth_rw);
	authority_maintain(w->a);
	pthread_rwlock_unlock(&w->auth_rw);
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

enum status
worker_ticker_start(struct ticker *t, struct worker *w, const char *name,
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

void
worker_ticker_stop(struct ticker *t)
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
