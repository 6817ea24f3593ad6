/*
 * server_internal: what the supervisor (server.c) and a worker
 * (server_worker.c) share. Only enroll/server*.c include this.
 */
#ifndef TESSERA_ENROLL_SERVER_INTERNAL_H
#define TESSERA_ENROLL_SERVER_INTERNAL_H

#include <sys/types.h>

struct metrics;
struct ratelimit;

/* A worker that could not start (its reason went on the report pipe). */
#define SERVER_EXIT_START 78

enum server_report_kind {
	SERVER_REPORT_READY, /* both listeners are serving */
	SERVER_REPORT_FAILED /* start-up failed; detail says why */
};

/* One message on the report pipe; under PIPE_BUF, so written atomically. */
struct server_report {
	pid_t pid;
	int kind;
	char detail[512];
};

struct server_worker_args {
	const char *data_dir;
	int tls_fd; /* listening sockets, inherited */
	int publish_fd;
	int report_fd; /* write end of the report pipe */
	int runs_scheduler; /* 1 in exactly one worker */
	pid_t supervisor;
	struct ratelimit *limits; /* per-address limits, shared */
	struct metrics *metrics; /* the service's counters, shared */
	/* The signer process's socket: a worker signs only through it, and
	 * never loads the PKCS#11 module or sees the PIN. */
	const char *signer_path;
};

/*
 * Run one worker until SIGTERM or SIGINT (which the caller has blocked):
 * open the authority, serve both listeners, report READY on report_fd.
 * Returns 0 after a clean stop, SERVER_EXIT_START when start-up failed
 * (after reporting FAILED with the reason). Takes the listening sockets.
 */
int server_worker_run(const struct server_worker_args *args);

#endif
