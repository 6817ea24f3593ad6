/*
 * The supervisor of `tessera serve`: reads tessera.json (and nothing
 * else: PKCS#11 state must not cross fork), holds the data directory's
 * lock, binds both listeners, forks the workers and keeps them running.
 *
 * Signals are taken synchronously from a signalfd, so there are no
 * handlers and no global state: SIGTERM/SIGINT stop everything, SIGHUP
 * reloads, SIGCHLD reaps. Workers report READY (with the id of the policy
 * they loaded) or FAILED (with the reason) on a pipe.
 *
 * A reload starts a whole new generation of workers beside the serving
 * one (one at a time); once every new worker serves, the old ones are told to drain (stop
 * accepting, finish what is in flight, exit) and are killed if they take
 * longer than SERVER_DRAIN_GRACE_MS. The reload is complete, and logged,
 * when the last old worker is gone. A SIGHUP during a reload queues one
 * more (the signals coalesce: the queued reload reads the files as they
 * are when it starts). If a new worker cannot start, the reload fails, the
 * old generation keeps serving, and the reload is tried again later.
 *
 * Each generation has a signer of its own, on a socket of its own
 * (DIR/signer-GEN.sock): a reload starts a new signer first, and the new
 * workers once it serves (with its path); the old signer serves the old
 * workers until the last of them is gone, then drains too. A worker thus
 * signs only through the signer of its own generation, which holds the
 * keys as the files it read at start name them (after a rollover the new
 * signer holds the old issuing key as retiring, which issues nothing).
 * If the new signer cannot start, the new workers get the serving one.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca/authority.h"
#include "ca/config.h"
#include "common/file.h"
#include "common/log.h"
#include "common/limits.h"
#include "common/metrics.h"
#include "common/ratelimit.h"
#include "common/secret.h"
#include "enroll/server.h"
#include "enroll/server_internal.h"

/* --workers is the operator's; a cap keeps a typo from forking 10^6. */
#define SERVER_WORKERS_MAX 64
#define SERVER_BACKLOG 511
/*
 * How long a worker told to stop (SIGTERM) gets before SIGKILL: its own
 * drain (WORKER_DRAIN_MS, 5 s) and closing the authority, with room.
 */
#define SERVER_DRAIN_GRACE_MS 10000
/* Restart delay after an unexpected exit: doubling from min to max. */
#define SERVER_BACKOFF_MIN_MS 500
#define SERVER_BACKOFF_MAX_MS 30000
/* Consecutive failures (exits before serving) of one worker slot. */
#define SERVER_FAILURES_MAX 5
/* How long the signer may take to log in to the token at start. */
#define SERVER_SIGNER_START_MS 60000
/* The longest wait in the loop; reaping never depends on it. */
#define SERVER_TICK_MS 1000
/* Held (flock) by the supervisor for its life: one serve per directory. */
#define SERVER_LOCK_FILE "serve.lock"
/* The ids of a generation's policies, as the log line shows them. */
#define SERVER_POLICIES_CAP 128

/* One worker process, and the id of the policy it reported. */
struct worker_proc {
	pid_t pid; /* 0: none */
	unsigned gen; /* the generation of the signer it signs through */
	int is_ready;
	char policy[32];
};

/*
 * A signer process and its socket, DIR/signer-GEN.sock: the workers forked
 * while it is the one to use sign through it alone. Restarted on the same
 * path when it dies, so that they reconnect.
 */
struct signer_proc {
	unsigned gen; /* 0: none */
	char *path;
	pid_t pid; /* 0: restart at restart_at */
	int is_ready; /* it has served once */
	int failures; /* exits in a row, for the back-off */
	int64_t restart_at; /* monotonic ms */
};

struct slot {
	struct worker_proc cur; /* serving; pid 0: restart at restart_at */
	struct worker_proc next; /* the reload's replacement; pid 0: none */
	int failures;
	int64_t restart_at; /* monotonic ms */
	char detail[512]; /* last start-up failure */
};

/* A worker (or a signer) told to stop, until it is reaped. */
struct drain {
	pid_t pid;
	unsigned gen; /* a worker's signer generation; 0: a signer */
	int64_t kill_at; /* SIGKILL after this; 0: sent */
};

enum reload_phase {
	RELOAD_IDLE,
	RELOAD_STARTING, /* the next generation is starting */
	RELOAD_DRAINING /* it serves; the old one is draining */
};

struct reload {
	enum reload_phase phase;
	unsigned number; /* the reload running, or the last one */
	int is_pending; /* a SIGHUP (or a failed try) awaits a reload */
	int failures; /* tries of the pending reload that failed */
	int64_t retry_at; /* monotonic ms; 0: at once */
	char detail[512]; /* why a new worker did not start */
};

struct supervisor {
	const struct ca_config *cfg;
	const char *data_dir;
	const char *listen;
	const char *publish;
	pid_t self;
	int tls_fd;
	int publish_fd;
	int sig_fd;
	int report_rd;
	int report_wr;
	int lock_fd;
	struct slot *slots;
	int slot_count;
	struct drain drains[2 * SERVER_WORKERS_MAX + 2];
	int drain_count;
	struct reload reload;
	int is_serving; /* the first generation all became ready */
	int is_child; /* this process is a forked worker */
	int child_rc;
	struct ratelimit *limits; /* shared with every worker */
	struct metrics *metrics; /* the service's counters, shared too */
	char *pin; /* TESSERA_HSM_PIN, out of the environment; or NULL */
	/* The signer processes: the only ones with the token and the PIN. */
	struct signer_proc signer; /* the serving generation's */
	struct signer_proc signer_next; /* a reload's, until it commits */
	struct signer_proc signer_old; /* until its workers are gone */
	unsigned signer_gen; /* the last generation started */
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

/*
 * Take the data directory's lock (DIR/serve.lock, flock'd for the life of
 * the supervisor, never by a worker). The kernel drops a flock with its
 * holder, so the file a killed supervisor left behind blocks nothing.
 */
static enum status
lock_take(struct supervisor *sv)
{
	char *path = NULL, line[32], holder[32] = "";
	enum status st = ST_OK;
	ssize_t n;
	int fd = -1;

	if ((path = file_join(sv->data_dir, SERVER_LOCK_FILE)) == NULL)
		return status_fail(ST_NOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		st = status_fail(ST_UNAVAILABLE, "cannot open %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			st = status_fail(ST_UNAVAILABLE, "cannot lock %s: %s",
			    path, strerror(errno));
			goto out;
		}
		/* The holder wrote its pid; say it when it reads as one. */
		n = pread(fd, line, sizeof(line) - 1, 0);
		if (n > 0) {
			line[n] = '\0';
			line[strspn(line, "0123456789")] = '\0';
			if (line[0] != '\0')
				snprintf(holder, sizeof(holder), " (pid %.12s)",
				    line);
		}
		st = status_fail(ST_CONFLICT,
		    "%s is already served by another tessera serve%s; stop "
		    "it first",
		    sv->data_dir, holder);
		goto out;
	}
	n = snprintf(line, sizeof(line), "%d\n", (int)sv->self);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n)
		log_warn("%s: cannot write the pid: %s", path, strerror(errno));
	sv->lock_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return st;
}

enum status
server_reload_signal(const char *data_dir, int *pid)
{
	char *path = NULL, line[32];
	enum status st = ST_OK;
	ssize_t n;
	long v;
	int fd;

	*pid = 0;
	if ((path = file_join(data_dir, SERVER_LOCK_FILE)) == NULL)
		return ST_NOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		free(path);
		return ST_OK; /* never served */
	}
	/* Free to take: no supervisor holds it, nothing to reload. */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		goto out;
	n = pread(fd, line, sizeof(line) - 1, 0);
	line[n > 0 ? n : 0] = '\0';
	v = strtol(line, NULL, 10);
	if (v <= 1 || v > INT32_MAX) {
		st = status_fail(ST_UNAVAILABLE,
		    "%s is served, but %s names no pid: send SIGHUP to "
		    "tessera serve yourself",
		    data_dir, path);
		goto out;
	}
	if (kill((pid_t)v, SIGHUP) != 0) {
		st = status_fail(ST_UNAVAILABLE,
		    "cannot signal tessera serve (pid %ld): %s; send it "
		    "SIGHUP yourself",
		    v, strerror(errno));
		goto out;
	}
	*pid = (int)v;
out:
	close(fd);
	free(path);
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
	/* Last: the lock is released once every worker is gone. */
	if (sv->lock_fd >= 0)
		close(sv->lock_fd);
	sv->tls_fd = sv->publish_fd = sv->sig_fd = -1;
	sv->report_rd = sv->report_wr = sv->lock_fd = -1;
	free(sv->slots);
	sv->slots = NULL;
	ratelimit_free(sv->limits);
	sv->limits = NULL;
	metrics_free(sv->metrics);
	sv->metrics = NULL;
	secret_free(sv->pin);
	sv->pin = NULL;
	free(sv->signer.path);
	free(sv->signer_next.path);
	free(sv->signer_old.path);
	sv->signer.path = sv->signer_next.path = sv->signer_old.path = NULL;
}

/*
 * Remove the signer sockets a killed serve left in the data directory
 * (signer-GEN.sock, the temporary names beside them, and signer.sock of
 * before). Run with the lock held: no other serve uses them.
 */
static void
signer_paths_clean(const struct supervisor *sv)
{
	size_t n = strlen(AUTHORITY_SIGNER_SOCKET_PREFIX);
	struct dirent *e;
	struct stat sb;
	DIR *dir;

	if ((dir = opendir(sv->data_dir)) == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		if ((strncmp(e->d_name, AUTHORITY_SIGNER_SOCKET_PREFIX, n) !=
		            0 &&
		        strncmp(e->d_name, "signer.", 7) != 0) ||
		    strstr(e->d_name, ".sock") == NULL)
			continue;
		if (fstatat(dirfd(dir), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) !=
		        0 ||
		    !S_ISSOCK(sb.st_mode))
			continue;
		if (unlinkat(dirfd(dir), e->d_name, 0) != 0)
			log_warn("cannot remove %s/%s: %s", sv->data_dir,
			    e->d_name, strerror(errno));
	}
	closedir(dir);
}

/* A new signer generation in *sp (not started): its number and path. */
static enum status
signer_gen_new(struct supervisor *sv, struct signer_proc *sp)
{
	char name[32];

	memset(sp, 0, sizeof(*sp));
	snprintf(name, sizeof(name), AUTHORITY_SIGNER_SOCKET_FMT,
	    sv->signer_gen + 1);
	if ((sp->path = ca_config_path(sv->cfg, name)) == NULL)
		return status_fail(ST_NOMEM, "out of memory");
	sp->gen = ++sv->signer_gen;
	return ST_OK;
}

/* Forget *sp (its process is reaped or drained): its socket goes too. */
static void
signer_gen_end(struct signer_proc *sp)
{
	if (sp->path != NULL && unlink(sp->path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", sp->path, strerror(errno));
	free(sp->path);
	memset(sp, 0, sizeof(*sp));
}

/* The signer with pid; NULL: none of them. */
static struct signer_proc *
signer_find(struct supervisor *sv, pid_t pid)
{
	if (pid <= 0)
		return NULL;
	if (sv->signer.gen != 0 && sv->signer.pid == pid)
		return &sv->signer;
	if (sv->signer_next.gen != 0 && sv->signer_next.pid == pid)
		return &sv->signer_next;
	if (sv->signer_old.gen != 0 && sv->signer_old.pid == pid)
		return &sv->signer_old;
	return NULL;
}

/*
 * Fork a worker for slot i into *w. In the child this runs the worker and
 * sets sv->is_child; every caller then unwinds to server_run. Returns
 * ST_OK in the parent once forked.
 */
static enum status
worker_fork(struct supervisor *sv, int i, struct worker_proc *w,
    const struct signer_proc *sp)
{
	struct server_worker_args args;
	sigset_t mask;
	pid_t pid;

	memset(w, 0, sizeof(*w));
	fflush(NULL);
	if ((pid = fork()) < 0)
		return status_fail(ST_UNAVAILABLE, "cannot fork a worker: %s",
		    strerror(errno));
	if (pid > 0) {
		w->pid = pid;
		w->gen = sp->gen;
		return ST_OK;
	}
	/* The worker: die with the supervisor, never outlive it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sv->is_child = 1;
	sv->child_rc = SERVER_EXIT_START;
	if (getppid() != sv->self)
		return ST_OK;
	/* The lock is the supervisor's alone: a worker left behind by a
	 * killed supervisor must not keep a new one from starting. */
	close(sv->lock_fd);
	close(sv->sig_fd);
	close(sv->report_rd);
	sv->lock_fd = sv->sig_fd = sv->report_rd = -1;
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
	args.metrics = sv->metrics;
	/* The PIN is the signer's alone: the copy this fork inherited is
	 * wiped before the worker runs anything. */
	secret_free(sv->pin);
	sv->pin = NULL;
	args.signer_path = sp->path;
	/* The worker's daemons own the listening sockets from here. */
	sv->tls_fd = sv->publish_fd = -1;
	sv->child_rc = server_worker_run(&args);
	return ST_OK;
}

/* A report on the pipe, from this process (a child of the supervisor). */
static void
child_report(struct supervisor *sv, int kind, const char *detail)
{
	struct server_report r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.pid = getpid();
	snprintf(r.detail, sizeof(r.detail), "%s", detail);
	if (write(sv->report_wr, &r, sizeof(r)) != (ssize_t)sizeof(r))
		log_error("signer: cannot report to the supervisor");
}

/*
 * Fork the signer process of *sp. In the child: log in to the token with
 * the PIN, report READY (or FAILED with the reason) and serve the workers
 * on sp's socket until SIGTERM; sets sv->is_child. Returns ST_OK in the
 * parent once forked.
 */
static enum status
signer_fork(struct supervisor *sv, struct signer_proc *sp)
{
	struct authority_signerd *d = NULL;
	sigset_t mask;
	pid_t pid;
	int stop_fd;
	enum status st;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return status_fail(ST_UNAVAILABLE, "cannot fork the signer: %s",
		    strerror(errno));
	if (pid > 0) {
		sp->pid = pid;
		return ST_OK;
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* Told apart from the workers in ps and /proc (comm). */
	prctl(PR_SET_NAME, "tessera-signer");
	sv->is_child = 1;
	sv->child_rc = SERVER_EXIT_START;
	if (getppid() != sv->self)
		return ST_OK;
	/* No listener, no lock: the signer talks to the workers only. */
	close(sv->lock_fd);
	close(sv->sig_fd);
	close(sv->report_rd);
	close(sv->tls_fd);
	close(sv->publish_fd);
	sv->lock_fd = sv->sig_fd = sv->report_rd = -1;
	sv->tls_fd = sv->publish_fd = -1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	sigdelset(&mask, SIGHUP);
	st = authority_signerd_open(sv->data_dir, sp->path, sv->pin, &d);
	/* The signer holds its own locked copy now. */
	secret_free(sv->pin);
	sv->pin = NULL;
	if (st != ST_OK) {
		child_report(sv, SERVER_REPORT_FAILED, status_detail());
		return ST_OK;
	}
	if ((stop_fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		child_report(sv, SERVER_REPORT_FAILED, "signalfd failed");
		authority_signerd_close(d);
		return ST_OK;
	}
	child_report(sv, SERVER_REPORT_READY, "signer");
	sv->child_rc = authority_signerd_serve(d, stop_fd) == ST_OK ? 0 : 1;
	authority_signerd_close(d);
	close(stop_fd);
	return ST_OK;
}

/*
 * At start: the signer first, and its word before any worker starts
 * (bounded). 0 when it serves; else the reason is printed, and 1.
 */
static int
signer_start(struct supervisor *sv)
{
	struct server_report r;
	struct pollfd pfd;
	int64_t deadline = now_ms() + SERVER_SIGNER_START_MS;
	int status;

	if (signer_gen_new(sv, &sv->signer) != ST_OK ||
	    signer_fork(sv, &sv->signer) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n", status_detail());
		return 1;
	}
	if (sv->is_child)
		return 0;
	while (now_ms() < deadline) {
		pfd.fd = sv->report_rd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, SERVER_TICK_MS) <= 0)
			continue;
		if (read(sv->report_rd, &r, sizeof(r)) != (ssize_t)sizeof(r) ||
		    r.pid != sv->signer.pid)
			continue;
		r.detail[sizeof(r.detail) - 1] = '\0';
		if (r.kind == SERVER_REPORT_READY) {
			sv->signer.is_ready = 1;
			return 0;
		}
		fprintf(stderr, "tessera serve: %s\n", r.detail);
		waitpid(sv->signer.pid, &status, 0);
		signer_gen_end(&sv->signer);
		return 1;
	}
	fprintf(stderr, "tessera serve: the signer did not start within %d s\n",
	    SERVER_SIGNER_START_MS / 1000);
	kill(sv->signer.pid, SIGKILL);
	waitpid(sv->signer.pid, &status, 0);
	signer_gen_end(&sv->signer);
	return 1;
}

/*
 * Stop the signers (after the workers): SIGTERM, SIGKILL past the grace;
 * their sockets go with them.
 */
static void
signers_stop(struct supervisor *sv)
{
	struct signer_proc *all[3] = {
	    &sv->signer, &sv->signer_next, &sv->signer_old};
	struct timespec pause = {0, 20 * 1000000L};
	int64_t deadline = now_ms() + SERVER_DRAIN_GRACE_MS;
	int i, live, status;

	for (i = 0; i < 3; i++)
		if (all[i]->pid > 0)
			kill(all[i]->pid, SIGTERM);
	for (;;) {
		for (i = live = 0; i < 3; i++) {
			if (all[i]->pid > 0 &&
			    waitpid(all[i]->pid, &status, WNOHANG) ==
			        all[i]->pid)
				all[i]->pid = 0;
			live += all[i]->pid > 0;
		}
		if (live == 0 || now_ms() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	for (i = 0; i < 3; i++) {
		if (all[i]->pid > 0) {
			log_warn("the signer still runs %d s after it was "
			         "told to stop: killing it",
			    SERVER_DRAIN_GRACE_MS / 1000);
			kill(all[i]->pid, SIGKILL);
			waitpid(all[i]->pid, &status, 0);
		}
		signer_gen_end(all[i]);
	}
}

/* Start slot i's serving worker (at start, and to restart one). */
static void
slot_spawn(struct supervisor *sv, int i)
{
	struct slot *s = &sv->slots[i];

	if (worker_fork(sv, i, &s->cur, &sv->signer) != ST_OK) {
		log_error("%s", status_detail());
		s->failures++;
		s->restart_at = now_ms() + SERVER_BACKOFF_MAX_MS;
	}
}

/*
 * Tell pid (a worker of signer generation gen, or a signer: 0) to stop
 * (drain and exit); SIGKILL if it takes too long.
 */
static void
drain_add(struct supervisor *sv, pid_t pid, unsigned gen)
{
	struct drain *d;

	if (pid <= 0)
		return;
	if (sv->drain_count == (int)(sizeof(sv->drains) / sizeof(*d))) {
		/* Never more than two generations stop at once. */
		log_error(
		    "worker %d: too many workers stopping; killed", (int)pid);
		kill(pid, SIGKILL);
		return;
	}
	d = &sv->drains[sv->drain_count++];
	d->pid = pid;
	d->gen = gen;
	d->kill_at = now_ms() + SERVER_DRAIN_GRACE_MS;
	kill(pid, SIGTERM);
}

/* Forget a reaped pid that was draining; 1 if it was one. */
static int
drain_remove(struct supervisor *sv, pid_t pid)
{
	int i;

	for (i = 0; i < sv->drain_count; i++) {
		if (sv->drains[i].pid != pid)
			continue;
		sv->drains[i] = sv->drains[--sv->drain_count];
		return 1;
	}
	return 0;
}

/* Workers (serving, starting or stopping) that sign through gen. */
static int
gen_workers(const struct supervisor *sv, unsigned gen)
{
	int i, n = 0;

	for (i = 0; i < sv->slot_count; i++)
		n += (sv->slots[i].cur.pid > 0 && sv->slots[i].cur.gen == gen) +
		    (sv->slots[i].next.pid > 0 && sv->slots[i].next.gen == gen);
	for (i = 0; i < sv->drain_count; i++)
		n += sv->drains[i].gen == gen;
	return n;
}

/*
 * The replaced signer stops (drains like a worker) once no worker of its
 * generation is left; its socket is removed then (no one connects to it
 * any more).
 */
static void
signer_old_retire(struct supervisor *sv)
{
	struct signer_proc *sp = &sv->signer_old;

	if (sp->gen == 0 || gen_workers(sv, sp->gen) > 0)
		return;
	if (sp->pid > 0)
		drain_add(sv, sp->pid, 0);
	signer_gen_end(sp);
}

/* The serving or the next worker with pid; NULL: neither. */
static struct worker_proc *
worker_find(struct supervisor *sv, pid_t pid, struct slot **slot)
{
	int i;

	for (i = 0; i < sv->slot_count; i++) {
		*slot = &sv->slots[i];
		if (sv->slots[i].cur.pid == pid)
			return &sv->slots[i].cur;
		if (sv->slots[i].next.pid == pid)
			return &sv->slots[i].next;
	}
	*slot = NULL;
	return NULL;
}

/* The distinct policy ids the serving workers reported, comma-separated. */
static const char *
policies_describe(const struct supervisor *sv, char *out, size_t cap)
{
	const char *id;
	size_t len = 0;
	int i, j, is_seen;

	out[0] = '\0';
	for (i = 0; i < sv->slot_count; i++) {
		id = sv->slots[i].cur.policy;
		for (j = is_seen = 0; j < i && !is_seen; j++)
			is_seen = strcmp(sv->slots[j].cur.policy, id) == 0;
		if (is_seen || id[0] == '\0')
			continue;
		len += (size_t)snprintf(
		    out + len, cap - len, "%s%s", len > 0 ? "," : "", id);
		if (len >= cap)
			break;
	}
	if (out[0] == '\0')
		snprintf(out, cap, "unknown");
	return out;
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
 * The next generation did not come up: stop what of it started, keep the
 * serving one, and try again after a back-off (at once on a new SIGHUP).
 */
static void
reload_fail(struct supervisor *sv, const char *why)
{
	struct reload *r = &sv->reload;
	char ids[SERVER_POLICIES_CAP];
	int64_t wait;
	int i;

	for (i = 0; i < sv->slot_count; i++) {
		drain_add(sv, sv->slots[i].next.pid, sv->slots[i].next.gen);
		memset(&sv->slots[i].next, 0, sizeof(sv->slots[i].next));
	}
	/* The new signer serves the new workers until they are gone. */
	if (sv->signer_next.gen != 0) {
		if (sv->signer_old.gen == 0) {
			sv->signer_old = sv->signer_next;
			memset(&sv->signer_next, 0, sizeof(sv->signer_next));
		} else {
			if (sv->signer_next.pid > 0)
				drain_add(sv, sv->signer_next.pid, 0);
			signer_gen_end(&sv->signer_next);
		}
		signer_old_retire(sv);
	}
	r->phase = RELOAD_IDLE;
	r->is_pending = 1;
	r->failures++;
	wait = backoff_ms(r->failures + 1);
	r->retry_at = now_ms() + wait;
	log_error("reload %u failed: %s; %d workers keep serving policy %s; "
	          "trying again in %lld ms (or at the next SIGHUP)",
	    r->number, why, sv->slot_count,
	    policies_describe(sv, ids, sizeof(ids)), (long long)wait);
}

/*
 * Start the next generation's next worker. One at a time: each logs in to
 * the token, and SoftHSMv2 serves others poorly while a login rewrites
 * its files. Slot 0 (the scheduler's) last, so that two schedulers run
 * side by side only between its start and the commit. Not before the
 * reload's signer has served: the new workers sign through it (or, if it
 * could not start, through the serving one).
 */
static void
reload_spawn_next(struct supervisor *sv)
{
	struct signer_proc *sp = &sv->signer;
	int i;

	if (sv->signer_next.gen != 0) {
		if (!sv->signer_next.is_ready)
			return;
		sp = &sv->signer_next;
	}
	for (i = sv->slot_count - 1; i >= 0; i--) {
		if (sv->slots[i].next.pid != 0)
			continue;
		if (worker_fork(sv, i, &sv->slots[i].next, sp) != ST_OK)
			reload_fail(sv, status_detail());
		return;
	}
}

/* The reload starting: commit once every new worker serves, or go on. */
static void reload_commit(struct supervisor *sv);

static void
reload_step(struct supervisor *sv)
{
	int i, ready = 0, starting = 0;

	if (sv->reload.phase != RELOAD_STARTING)
		return;
	for (i = 0; i < sv->slot_count; i++) {
		ready += sv->slots[i].next.is_ready;
		starting +=
		    sv->slots[i].next.pid != 0 && !sv->slots[i].next.is_ready;
	}
	if (ready == sv->slot_count)
		reload_commit(sv);
	else if (starting == 0)
		reload_spawn_next(sv);
}

/* Start the pending reload if it is due and nothing else is under way. */
static void
reload_poll(struct supervisor *sv)
{
	struct reload *r = &sv->reload;

	signer_old_retire(sv);
	if (r->phase != RELOAD_IDLE || !r->is_pending || !sv->is_serving ||
	    sv->drain_count > 0 || sv->signer_old.gen != 0 ||
	    now_ms() < r->retry_at)
		return;
	r->is_pending = 0;
	if (r->failures == 0)
		r->number++;
	r->detail[0] = '\0';
	r->phase = RELOAD_STARTING;
	log_info("reload %u: starting %d new worker%s", r->number,
	    sv->slot_count, sv->slot_count == 1 ? "" : "s");
	/*
	 * A new signer first (the CA certificates or keys may have changed),
	 * on a socket of its own; the new workers start once it serves.
	 */
	if (signer_gen_new(sv, &sv->signer_next) != ST_OK ||
	    signer_fork(sv, &sv->signer_next) != ST_OK) {
		log_error("%s", status_detail());
		signer_gen_end(&sv->signer_next);
	}
	if (sv->is_child)
		return;
	reload_spawn_next(sv);
}

/* A SIGHUP: reload now, or after the reload under way. */
static void
reload_request(struct supervisor *sv)
{
	struct reload *r = &sv->reload;

	if (r->phase != RELOAD_IDLE)
		log_info("SIGHUP: queued after reload %u", r->number);
	else if (!sv->is_serving)
		log_info("SIGHUP: queued until the workers serve");
	r->is_pending = 1;
	r->failures = 0;
	r->retry_at = 0;
	reload_poll(sv);
}

static void
reload_complete(struct supervisor *sv)
{
	struct reload *r = &sv->reload;
	char ids[SERVER_POLICIES_CAP];

	r->phase = RELOAD_IDLE;
	r->failures = 0;
	log_info("reload %u complete: %d worker%s, policy %s%s", r->number,
	    sv->slot_count, sv->slot_count == 1 ? "" : "s",
	    policies_describe(sv, ids, sizeof(ids)),
	    r->is_pending ? "; a queued SIGHUP reloads again" : "");
	reload_poll(sv);
}

/* Every new worker serves: they take over, the old ones drain. */
static void
reload_commit(struct supervisor *sv)
{
	struct slot *s;
	int i;

	for (i = 0; i < sv->slot_count; i++) {
		s = &sv->slots[i];
		/* A serving worker that died meanwhile is not restarted. */
		drain_add(sv, s->cur.pid, s->cur.gen);
		s->cur = s->next;
		memset(&s->next, 0, sizeof(s->next));
		s->failures = 0;
		s->restart_at = 0;
	}
	/* The new signer is the one to use; the old one serves the old
	 * workers until they are gone. */
	if (sv->signer_next.gen != 0) {
		if (sv->signer_old.gen != 0) {
			if (sv->signer_old.pid > 0)
				drain_add(sv, sv->signer_old.pid, 0);
			signer_gen_end(&sv->signer_old);
		}
		sv->signer_old = sv->signer;
		sv->signer = sv->signer_next;
		memset(&sv->signer_next, 0, sizeof(sv->signer_next));
		signer_old_retire(sv);
	}
	sv->reload.phase = RELOAD_DRAINING;
	log_info("reload %u: the new workers serve; the old ones drain",
	    sv->reload.number);
	if (sv->drain_count == 0)
		reload_complete(sv);
}

/* Read what workers reported. */
static void
reports_read(struct supervisor *sv)
{
	struct server_report r;
	struct signer_proc *sp;
	struct worker_proc *w;
	struct slot *s;
	char ids[SERVER_POLICIES_CAP];
	ssize_t n;
	int i, ready = 0;

	for (;;) {
		n = read(sv->report_rd, &r, sizeof(r));
		if (n != (ssize_t)sizeof(r))
			break;
		r.detail[sizeof(r.detail) - 1] = '\0';
		if ((sp = signer_find(sv, r.pid)) != NULL) {
			if (r.kind == SERVER_REPORT_FAILED) {
				/* A reload's: the serving one stays, and
				 * the new workers sign through it. */
				if (sp == &sv->signer_next && !sp->is_ready) {
					log_error("the new signer could not "
					          "start: %s; the new workers "
					          "use the one serving",
					    r.detail);
					signer_gen_end(sp);
				} else
					log_error("the signer could not start: "
					          "%s",
					    r.detail);
			} else {
				log_info("the signer serves%s",
				    sp == &sv->signer_next && !sp->is_ready
				        ? " (reloaded)"
				        : " again");
				sp->is_ready = 1;
				sp->failures = 0;
			}
			continue;
		}
		/* A worker stopping (drained) has nothing to say. */
		if ((w = worker_find(sv, r.pid, &s)) == NULL)
			continue;
		if (r.kind == SERVER_REPORT_FAILED) {
			snprintf(w == &s->next ? sv->reload.detail : s->detail,
			    sizeof(s->detail), "%s", r.detail);
			continue;
		}
		w->is_ready = 1;
		snprintf(w->policy, sizeof(w->policy), "%.*s",
		    (int)sizeof(w->policy) - 1, r.detail);
		if (w == &s->cur)
			s->failures = 0;
	}
	if (sv->reload.phase == RELOAD_STARTING) {
		reload_step(sv);
		return;
	}
	if (sv->is_serving)
		return;
	for (i = 0; i < sv->slot_count; i++)
		ready += sv->slots[i].cur.is_ready;
	if (ready == sv->slot_count) {
		sv->is_serving = 1;
		log_info("serving https://%s (EST, API) and http://%s (CRL, "
		         "OCSP, CA certificates) with %d worker%s, policy %s",
		    sv->listen, sv->publish, sv->slot_count,
		    sv->slot_count == 1 ? "" : "s",
		    policies_describe(sv, ids, sizeof(ids)));
		/* The URLs written into certificates name these ports; said
		 * once serving, so that a refusal to start stays one line. */
		ca_config_ports_check(sv->cfg, sv->listen, sv->publish);
		reload_poll(sv);
	}
}

/* How a worker ended, for the log. */
static void
exit_describe(int status, char *out, size_t cap)
{
	if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(
		    out, cap, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(out, cap, "ended (wait status %d)", status);
}

/*
 * Reap exited workers. Returns 0 to go on, or the exit code when the
 * service cannot run (a worker keeps failing to start).
 */
static int
children_reap(struct supervisor *sv)
{
	struct signer_proc *sp;
	struct worker_proc *w;
	struct slot *s;
	char how[64], why[700];
	pid_t pid;
	int status, code;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* A worker reports before it exits: read that first. */
		reports_read(sv);
		if (sv->is_child)
			return 0;
		/* What it had in flight ended with it. */
		metrics_proc_release(sv->metrics, pid);
		exit_describe(status, how, sizeof(how));
		if ((sp = signer_find(sv, pid)) != NULL) {
			/* A reload's that never served: the serving one
			 * stays, and the new workers sign through it. */
			if (sp == &sv->signer_next && !sp->is_ready) {
				log_error("the new signer (%d) %s before it "
				          "served",
				    (int)pid, how);
				signer_gen_end(sp);
				reload_step(sv);
				if (sv->is_child)
					return 0;
				continue;
			}
			/* Signing answers 503 meanwhile (on its workers);
			 * what is published keeps being served. */
			sp->pid = 0;
			sp->failures++;
			sp->restart_at = now_ms() + backoff_ms(sp->failures);
			log_error(
			    "the signer (%d) %s: restarting it", (int)pid, how);
			continue;
		}
		if (drain_remove(sv, pid)) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warn(
				    "worker %d (stopping) %s", (int)pid, how);
			/* Its generation's signer may stop now. */
			signer_old_retire(sv);
			continue;
		}
		if ((w = worker_find(sv, pid, &s)) == NULL)
			continue;
		if (w == &s->next) {
			memset(w, 0, sizeof(*w));
			snprintf(why, sizeof(why), "new worker %d %s%s%s",
			    (int)pid, how, sv->reload.detail[0] ? ": " : "",
			    sv->reload.detail);
			reload_fail(sv, why);
			if (sv->is_child)
				return 0;
			continue;
		}
		code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (!w->is_ready)
			s->failures++;
		else
			s->failures = 1;
		memset(w, 0, sizeof(*w));
		/* A first start that fails will fail again (a wrong PIN). */
		if ((!sv->is_serving && code == SERVER_EXIT_START) ||
		    s->failures >= SERVER_FAILURES_MAX) {
			fprintf(stderr, "tessera serve: %s\n",
			    s->detail[0] ? s->detail
			                 : "a worker keeps failing to start");
			return 1;
		}
		metrics_restart_count(sv->metrics);
		if (code == SERVER_EXIT_START)
			log_error("worker %d could not start: %s", (int)pid,
			    s->detail[0] ? s->detail : "no reason given");
		else
			log_error("worker %d %s", (int)pid, how);
		s->restart_at = now_ms() + backoff_ms(s->failures);
	}
	if (sv->reload.phase == RELOAD_DRAINING && sv->drain_count == 0)
		reload_complete(sv);
	return 0;
}

/*
 * Slots due a restart, workers past their drain, a reload due a retry.
 * Returns how long the loop may wait (ms).
 */
static int
timers_run(struct supervisor *sv)
{
	struct slot *s;
	struct drain *d;
	struct signer_proc *signers[3] = {
	    &sv->signer, &sv->signer_next, &sv->signer_old};
	struct signer_proc *sp;
	int64_t now = now_ms(), next = now + SERVER_TICK_MS;
	int i;

	/* A signer that died: again, on its generation's socket. */
	for (i = 0; i < 3; i++) {
		sp = signers[i];
		if (sp->gen == 0 || sp->pid != 0)
			continue;
		if (sp->restart_at <= now) {
			if (signer_fork(sv, sp) != ST_OK) {
				log_error("%s", status_detail());
				sp->restart_at = now + SERVER_BACKOFF_MAX_MS;
			}
			if (sv->is_child)
				return 0;
		} else if (sp->restart_at < next)
			next = sp->restart_at;
	}
	for (i = 0; i < sv->slot_count; i++) {
		s = &sv->slots[i];
		if (s->cur.pid != 0)
			continue;
		if (s->restart_at <= now) {
			slot_spawn(sv, i);
			if (sv->is_child)
				return 0;
		} else if (s->restart_at < next)
			next = s->restart_at;
	}
	for (i = 0; i < sv->drain_count; i++) {
		d = &sv->drains[i];
		if (d->kill_at == 0)
			continue;
		if (d->kill_at <= now) {
			log_warn("worker %d still running %d s after it was "
			         "told to stop: killing it",
			    (int)d->pid, SERVER_DRAIN_GRACE_MS / 1000);
			kill(d->pid, SIGKILL);
			d->kill_at = 0;
		} else if (d->kill_at < next)
			next = d->kill_at;
	}
	reload_poll(sv);
	if (sv->is_child)
		return 0;
	if (sv->reload.is_pending && sv->reload.phase == RELOAD_IDLE &&
	    sv->reload.retry_at > now && sv->reload.retry_at < next)
		next = sv->reload.retry_at;
	return (int)(next > now ? next - now : 0);
}

/* Stop every worker: SIGTERM, then SIGKILL after the grace period. */
static void
workers_stop(struct supervisor *sv)
{
	struct pollfd pfd;
	struct signalfd_siginfo si;
	struct signer_proc *sp;
	struct worker_proc *w;
	struct slot *s;
	int64_t deadline = now_ms() + SERVER_DRAIN_GRACE_MS, left;
	pid_t pid;
	int i, live, status;

	for (i = 0; i < sv->slot_count; i++) {
		if (sv->slots[i].cur.pid > 0)
			kill(sv->slots[i].cur.pid, SIGTERM);
		if (sv->slots[i].next.pid > 0)
			kill(sv->slots[i].next.pid, SIGTERM);
	}
	for (i = 0; i < sv->drain_count; i++)
		if (sv->drains[i].kill_at != 0)
			kill(sv->drains[i].pid, SIGTERM);
	for (;;) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if ((sp = signer_find(sv, pid)) != NULL) {
				sp->pid = 0;
				continue;
			}
			if (drain_remove(sv, pid))
				continue;
			if ((w = worker_find(sv, pid, &s)) != NULL)
				w->pid = 0;
		}
		for (i = 0, live = sv->drain_count; i < sv->slot_count; i++)
			live += (sv->slots[i].cur.pid > 0) +
			    (sv->slots[i].next.pid > 0);
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
	    SERVER_DRAIN_GRACE_MS / 1000);
	for (i = 0; i < sv->slot_count; i++) {
		if ((pid = sv->slots[i].cur.pid) > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		if ((pid = sv->slots[i].next.pid) > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	for (i = 0; i < sv->drain_count; i++) {
		kill(sv->drains[i].pid, SIGKILL);
		waitpid(sv->drains[i].pid, &status, 0);
	}
	sv->drain_count = 0;
}

/* The main loop; returns the exit code. */
static int
supervise(struct supervisor *sv)
{
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	int i, rc, timeout, stop = 0;

	if ((rc = signer_start(sv)) != 0 || sv->is_child)
		return rc;
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
			else if (si.ssi_signo == SIGHUP && !stop)
				reload_request(sv);
			if (sv->is_child)
				return 0;
		}
		if (stop) {
			/* Workers exiting now (SIGINT from a terminal reaches
			 * them too) are not restarted. */
			log_info("stopping");
			workers_stop(sv);
			signers_stop(sv);
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
			signers_stop(sv);
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
	enum log_format format;
	long cores;
	enum status st;

	memset(&sv, 0, sizeof(sv));
	sv.tls_fd = sv.publish_fd = sv.sig_fd = -1;
	sv.report_rd = sv.report_wr = sv.lock_fd = -1;
	sv.self = getpid();
	/* The configuration first: it says how every line is written. */
	if ((st = ca_config_load(cfg->data_dir, &cc)) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n",
		    status_detail()[0] ? status_detail() : status_name(st));
		goto out;
	}
	sv.cfg = cc;
	sv.data_dir = cc->data_dir;
	if (cfg->log_format != NULL) {
		if (log_format_parse(cfg->log_format, &format) != ST_OK) {
			fprintf(stderr, "tessera serve: %s\n", status_detail());
			goto out;
		}
	} else
		format = (enum log_format)cc->log_format;
	log_set_format(format);
	/*
	 * The PIN leaves the environment before anything runs or is forked:
	 * the signer is forked, not exec'd, and gets it in memory (workers
	 * never do); nothing they start inherits it, and /proc/PID/environ of
	 * no tessera process shows it.
	 */
	st = secret_read_env("TESSERA_HSM_PIN", LIMIT_PIN_LEN, &sv.pin);
	if (st != ST_OK && st != ST_NOTFOUND) {
		fprintf(stderr, "tessera serve: %s\n", status_detail());
		goto out;
	}
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
	/* Before the listeners: a second serve says why, not "in use". */
	if ((st = lock_take(&sv)) != ST_OK) {
		fprintf(stderr, "tessera serve: %s\n", status_detail());
		goto out;
	}
	/* What a killed serve left: the lock says none other uses them. */
	signer_paths_clean(&sv);
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
	/* Before the fork: every worker inherits the same tables. */
	if ((st = ratelimit_new(&sv.limits)) != ST_OK ||
	    (st = metrics_new(&sv.metrics)) != ST_OK) {
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
