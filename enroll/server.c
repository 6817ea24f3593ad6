/*
 * The supervisor of `tessera serve`: reads tessera.json (and nothing
 * else: PKCS#11 state must not cross fork), binds both listeners, forks
 * the workers and keeps them running.
 *
 * Signals are taken synchronously from a signalfd, so there are no
 * handlers and no global state: SIGTERM/SIGINT stop everything, SIGHUP
 * replaces the workers one at a time (each replacement serves before its
 * predecessor is stopped), SIGCHLD reaps. Workers report READY or FAILED
 * (with the reason) on a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca/config.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "enroll/server.h"
#include "enroll/server_internal.h"

/* --workers is the operator's; a cap keeps a typo from forking 10^6. */
#define SERVER_WORKERS_MAX 64
#define SERVER_BACKLOG 511
/* After SIGTERM, how long workers get before SIGKILL. */
#define SERVER_STOP_GRACE_MS 10000
/* Restart delay after an unexpected exit: doubling from min to max. */
#define SERVER_BACKOFF_MIN_MS 500
#define SERVER_BACKOFF_MAX_MS 30000
/* Consecutive failures (exits before serving) of one worker slot. */
#define SERVER_FAILURES_MAX 5
/* The longest wait in the loop; reaping never depends on it. */
#define SERVER_TICK_MS 1000

struct slot {
	pid_t pid; /* 0: none (restart at restart_at) */
	pid_t old_pid; /* being replaced by a reload; 0: none */
	int is_ready;
	int failures;
	int64_t restart_at; /* monotonic ms */
	int64_t old_kill_at; /* SIGKILL old_pid after this */
	char detail[512]; /* last start-up failure */
};

struct supervisor {
	const char *data_dir;
	const char *listen;
	const char *publish;
	pid_t self;
	int tls_fd;
	int publish_fd;
	int sig_fd;
	int report_rd;
	int report_wr;
	struct slot *slots;
	int slot_count;
	int is_serving; /* the first generation all became ready */
	int reload_next; /* slot being replaced; -1: no reload */
	int reload_pending;
	int is_child; /* this process is a forked worker */
	int child_rc;
	struct ratelimit *limits; /* shared with every worker */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Split "HOST:PORT" or "[V6]:PORT" into host and port (both copied into
 * the caller's buffers).
 */
static enum status
address_split(
    const char *addr, char *host, size_t host_cap, char *port, size_t port_cap)
{
	const char *colon, *h = addr, *end;
	char *stop = NULL;
	size_t host_len;
	long n;

	if (addr[0] == '[') {
		h = addr + 1;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':')
			return status_fail(
			    ST_MALFORMED, "'%s' is not [ADDRESS]:PORT", addr);
		colon = end + 1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return status_fail(
			    ST_MALFORMED, "'%s' is not ADDRESS:PORT", addr);
		end = colon;
		if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return status_fail(ST_MALFORMED,
			    "'%s': write an IPv6 address as [ADDRESS]:PORT",
			    addr);
	}
	host_len = (size_t)(end - h);
	if (host_len == 0 || host_len >= host_cap)
		return status_fail(
		    ST_MALFORMED, "'%s' has no usable address", addr);
	errno = 0;
	n = strtol(colon + 1, &stop, 10);
	if (errno != 0 || stop == colon + 1 || *stop != '\0' || n < 1 ||
	    n > 65535)
		return status_fail(
		    ST_MALFORMED, "'%s': the port must be 1 to 65535", addr);
	memcpy(host, h, host_len);
	host[host_len] = '\0';
	snprintf(port, port_cap, "%ld", n);
	return ST_OK;
}

/* A listening socket on addr: CLOEXEC, non-blocking (workers share it). */
static enum status
listener_open(const char *addr, int *out)
{
	struct addrinfo hints, *ai = NULL;
	char host[256], port[8];
	enum status st;
	int fd = -1, one = 1, rc;

	*out = -1;
	if ((st = address_split(
	         addr, host, sizeof(host), port, sizeof(port))) != ST_OK)
		return st;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		st = status_fail(ST_MALFORMED, "cannot listen on %s: %s", addr,
		    gai_strerror(rc));
		goto out;
	}
	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
	            0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SERVER_BACKLOG) != 0) {
		st = status_fail(ST_UNAVAILABLE, "cannot listen on %s: %s",
		    addr, strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
	st = ST_OK;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return st;
}

static void
supervisor_close(struct supervisor *sv)
{
	if (sv->tls_fd >= 0)
		close(sv->tls_fd);
	if (sv->publish_fd >= 0)
		close(sv->publish_fd);
	if (sv->sig_fd >= 0)
		close(sv->sig_fd);
	if (sv->report_rd >= 0)
		close(sv->report_rd);
	if (sv->report_wr >= 0)
		close(sv->report_wr);
	sv->tls_fd = sv->publish_fd = sv->sig_fd = -1;
	sv->report_rd = sv->report_wr = -1;
	free(sv->slots);
	sv->slots = NULL;
	ratelimit_free(sv->limits);
	sv->limits = NULL;
}

/*
 * Fork the worker for slot i. In the child this runs the worker and sets
 * sv->is_child; every caller then unwinds to server_run.
 */
static void
slot_spawn(struct supervisor *sv, int i)
{
	struct server_worker_args args;
	struct slot *s = &sv->slots[i];
	sigset_t mask;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		log_error("cannot fork a worker: %s", strerror(errno));
		s->pid = 0;
		s->failures++;
		s->restart_at = now_ms() + SERVER_BACKOFF_MAX_MS;
		return;
	}
	if (pid > 0) {
		s->pid = pid;
		s->is_ready = 0;
		return;
	}
	/* The worker: die with the supervisor, never outlive it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sv->is_child = 1;
	sv->child_rc = SERVER_EXIT_START;
	if (getppid() != sv->self)
		return;
	close(sv->sig_fd);
	close(sv->report_rd);
	sv->sig_fd = sv->report_rd = -1;
	/* Stop signals stay blocked: the worker waits for them itself. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	args.data_dir = sv->data_dir;
	args.tls_fd = sv->tls_fd;
	args.publish_fd = sv->publish_fd;
	args.report_fd = sv->report_wr;
	args.runs_scheduler = i == 0;
	args.supervisor = sv->self;
	args.limits = sv->limits;
	/* The worker's daemons own the listening sockets from here. */
	sv->tls_fd = sv->publish_fd = -1;
	sv->child_rc = server_worker_run(&args);
}

static struct slot *
slot_find(struct supervisor *sv, pid_t pid, int *is_old)
{
	int i;

	for (i = 0; i < sv->slot_count; i++) {
		if (sv->slots[i].pid == pid) {
			*is_old = 0;
			return &sv->slots[i];
		}
		if (sv->slots[i].old_pid == pid) {
			*is_old = 1;
			return &sv->slots[i];
		}
	}
	return NULL;
}

/* Replace the next slot in a reload; the reload ends after the last. */
static void
reload_step(struct supervisor *sv)
{
	struct slot *s;

	while (sv->reload_next >= 0 && sv->reload_next < sv->slot_count) {
		s = &sv->slots[sv->reload_next];
		if (s->pid == 0 || s->old_pid != 0) {
			/* A restart is pending: it starts afresh anyway. */
			sv->reload_next++;
			continue;
		}
		s->old_pid = s->pid;
		slot_spawn(sv, sv->reload_next);
		return;
	}
	if (sv->reload_next < 0)
		return;
	sv->reload_next = -1;
	log_info("workers reloaded");
	if (sv->reload_pending) {
		sv->reload_pending = 0;
		sv->reload_next = 0;
		reload_step(sv);
	}
}

static void
reload_start(struct supervisor *sv)
{
	if (sv->reload_next >= 0) {
		sv->reload_pending = 1;
		return;
	}
	log_info("SIGHUP: replacing workers one at a time");
	sv->reload_next = 0;
	reload_step(sv);
}

/* Read what workers reported. */
static void
reports_read(struct supervisor *sv)
{
	struct server_report r;
	struct slot *s;
	ssize_t n;
	int i, is_old = 0, ready = 0;

	for (;;) {
		n = read(sv->report_rd, &r, sizeof(r));
		if (n != (ssize_t)sizeof(r))
			break;
		r.detail[sizeof(r.detail) - 1] = '\0';
		if ((s = slot_find(sv, r.pid, &is_old)) == NULL || is_old)
			continue;
		if (r.kind == SERVER_REPORT_FAILED) {
			snprintf(s->detail, sizeof(s->detail), "%s", r.detail);
			continue;
		}
		s->is_ready = 1;
		s->failures = 0;
		if (s->old_pid != 0 && sv->reload_next >= 0 &&
		    s == &sv->slots[sv->reload_next]) {
			kill(s->old_pid, SIGTERM);
			s->old_kill_at = now_ms() + SERVER_STOP_GRACE_MS;
			sv->reload_next++;
			reload_step(sv);
			if (sv->is_child)
				return;
		}
	}
	if (sv->is_serving)
		return;
	for (i = 0; i < sv->slot_count; i++)
		ready += sv->slots[i].is_ready;
	if (ready == sv->slot_count) {
		sv->is_serving = 1;
		log_info("serving https://%s (EST, API) and http://%s (CRL, "
		         "OCSP, CA certificates) with %d worker%s",
		    sv->listen, sv->publish, sv->slot_count,
		    sv->slot_count == 1 ? "" : "s");
	}
}

static int64_t
backoff_ms(int failures)
{
	int64_t ms = SERVER_BACKOFF_MIN_MS;

	while (--failures > 0 && ms < SERVER_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < SERVER_BACKOFF_MAX_MS ? ms : SERVER_BACKOFF_MAX_MS;
}

/*
 * Reap exited workers. Returns 0 to go on, or the exit code when the
 * service cannot run (a worker keeps failing to start).
 */
static int
children_reap(struct supervisor *sv)
{
	struct slot *s;
	pid_t pid;
	int status, is_old = 0, code;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* A worker reports before it exits: read that first. */
		reports_read(sv);
		if (sv->is_child)
			return 0;
		if ((s = slot_find(sv, pid, &is_old)) == NULL)
			continue;
		if (is_old) {
			s->old_pid = 0;
			continue;
		}
		s->pid = 0;
		code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (!s->is_ready)
			s->failures++;
		else
			s->failures = 1;
		s->is_ready = 0;
		/* A first start that fails will fail again (a wrong PIN). */
		if ((!sv->is_serving && code == SERVER_EXIT_START) ||
		    s->failures >= SERVER_FAILURES_MAX) {
			fprintf(stderr, "tessera serve: %s\n",
			    s->detail[0] ? s->detail
			                 : "a worker keeps failing to start");
			return 1;
		}
		if (WIFSIGNALED(status))
			log_error("worker %d killed by signal %d", (int)pid,
			    WTERMSIG(status));
		else if (code == SERVER_EXIT_START)
			log_error("worker %d could not start: %s", (int)pid,
			    s->detail[0] ? s->detail : "no reason given");
		else
			log_error(
			    "worker %d exited with status %d", (int)pid, code);
		s->restart_at = now_ms() + backoff_ms(s->failures);
	}
	return 0;
}

/* Slots due a restart, and predecessors past their grace period. */
static int
timers_run(struct supervisor *sv)
{
	struct slot *s;
	int64_t now = now_ms(), next = now + SERVER_TICK_MS;
	int i;

	for (i = 0; i < sv->slot_count; i++) {
		s = &sv->slots[i];
		if (s->pid == 0 && s->restart_at <= now) {
			slot_spawn(sv, i);
			if (sv->is_child)
				return 0;
		} else if (s->pid == 0 && s->restart_at < next)
			next = s->restart_at;
		if (s->old_pid != 0 && s->old_kill_at != 0 &&
		    s->old_kill_at <= now)
			kill(s->old_pid, SIGKILL);
		else if (s->old_pid != 0 && s->old_kill_at != 0 &&
		    s->old_kill_at < next)
			next = s->old_kill_at;
	}
	return (int)(next > now ? next - now : 0);
}

/* Stop every worker: SIGTERM, then SIGKILL after the grace period. */
static void
workers_stop(struct supervisor *sv)
{
	struct pollfd pfd;
	struct signalfd_siginfo si;
	int64_t deadline = now_ms() + SERVER_STOP_GRACE_MS, left;
	pid_t pid;
	int i, live, status, is_old;
	struct slot *s;

	for (i = 0; i < sv->slot_count; i++) {
		if (sv->slots[i].pid > 0)
			kill(sv->slots[i].pid, SIGTERM);
		if (sv->slots[i].old_pid > 0)
			kill(sv->slots[i].old_pid, SIGTERM);
	}
	for (;;) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if ((s = slot_find(sv, pid, &is_old)) == NULL)
				continue;
			if (is_old)
				s->old_pid = 0;
			else
				s->pid = 0;
		}
		for (i = live = 0; i < sv->slot_count; i++)
			live +=
			    (sv->slots[i].pid > 0) + (sv->slots[i].old_pid > 0);
		if (live == 0)
			return;
		if ((left = deadline - now_ms()) <= 0)
			break;
		pfd.fd = sv->sig_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1,
		        left < SERVER_TICK_MS ? (int)left : SERVER_TICK_MS) > 0)
			while (read(sv->sig_fd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si))
				;
	}
	log_warn("workers still running after %d s: killing them",
	    SERVER_STOP_GRACE_MS / 1000);
	for (i = 0; i < sv->slot_count; i++) {
		if ((pid = sv->slots[i].pid) > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		if ((pid = sv->slots[i].old_pid) > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
}

/* The main loop; returns the exit code. */
static int
supervise(struct supervisor *sv)
{
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	int i, rc, timeout, stop = 0;

	for (i = 0; i < sv->slot_count; i++) {
		slot_spawn(sv, i);
		if (sv->is_child)
			return 0;
	}
	for (;;) {
		timeout = timers_run(sv);
		if (sv->is_child)
			return 0;
		pfd[0].fd = sv->sig_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sv->report_rd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			stop = 1;
		}
		while (
		    read(sv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				stop = 1;
			else if (si.ssi_signo == SIGHUP && sv->is_serving &&
			    !stop)
				reload_start(sv);
			if (sv->is_child)
				return 0;
		}
		if (stop) {
			/* Workers exiting now (SIGINT from a terminal reaches
			 * them too) are not restarted. */
			log_info("stopping");
			workers_stop(sv);
			return 0;
		}
		reports_read(sv);
		if (sv->is_child)
			return 0;
		rc = children_reap(sv);
		if (sv->is_child)
			return 0;
		if (rc != 0) {
			workers_stop(sv);
			return rc;
		}
	}
}

int
server_run(const struct server_config *cfg)
{
	struct supervisor sv;
	struct ca_config *cc = NULL;
	sigset_t mask, old_mask;
	int fds[2], rc = 1, has_mask = 0;
	long cores;
	enum status st;

	memset(&sv, 0, sizeof(sv));
	sv.tls_fd = sv.publish_fd = sv.sig_fd = -1;
	sv.report_rd = sv.report_wr = -1;
	sv.reload_next = -1;
	sv.self = getpid();
	if ((st = ca_config_load(cfg->data_dir, &cc)) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n",
		    status_detail()[0] ? status_detail() : status_name(st));
		goto out;
	}
	sv.data_dir = cc->data_dir;
	sv.listen = cfg->listen != NULL ? cfg->listen : cc->listen;
	sv.publish = cfg->publish != NULL ? cfg->publish : cc->publish;
	sv.slot_count = cfg->workers;
	if (sv.slot_count <= 0) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		sv.slot_count = cores > 0 ? (int)cores : 1;
		if (sv.slot_count > SERVER_WORKERS_MAX)
			sv.slot_count = SERVER_WORKERS_MAX;
	}
	if (sv.slot_count > SERVER_WORKERS_MAX) {
		fprintf(stderr, "tessera serve: at most %d workers\n",
		    SERVER_WORKERS_MAX);
		goto out;
	}
	if (sv.listen == NULL || sv.publish == NULL) {
		fprintf(stderr,
		    "tessera serve: no listen or publish address "
		    "in tessera.json\n");
		goto out;
	}
	if ((sv.slots = calloc((size_t)sv.slot_count, sizeof(*sv.slots))) ==
	    NULL) {
		fprintf(stderr, "tessera serve: out of memory\n");
		goto out;
	}
	if ((st = listener_open(sv.listen, &sv.tls_fd)) != ST_OK ||
	    (st = listener_open(sv.publish, &sv.publish_fd)) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n", status_detail());
		goto out;
	}
	/* Before the fork: every worker inherits the same table. */
	if ((st = ratelimit_new(&sv.limits)) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n", status_detail());
		goto out;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "tessera serve: pipe: %s\n", strerror(errno));
		goto out;
	}
	sv.report_rd = fds[0];
	sv.report_wr = fds[1];
	fcntl(sv.report_rd, F_SETFL, O_NONBLOCK);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &old_mask) != 0) {
		fprintf(stderr, "tessera serve: sigprocmask: %s\n",
		    strerror(errno));
		goto out;
	}
	has_mask = 1;
	if ((sv.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(
		    stderr, "tessera serve: signalfd: %s\n", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = supervise(&sv);
	if (sv.is_child)
		rc = sv.child_rc;
out:
	supervisor_close(&sv);
	if (has_mask && !sv.is_child)
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
	ca_config_free(cc);
	return rc;
}
