/*
 * server: `tessera serve`. A small supervisor opens the listening sockets
 * and runs N worker processes; each worker opens its own authority (store
 * connection, PKCS#11 session) after fork and runs one libmicrohttpd
 * daemon per listener in poll mode. A crashed worker is restarted.
 */
#ifndef TESSERA_ENROLL_SERVER_H
#define TESSERA_ENROLL_SERVER_H

#include "common/status.h"

struct server_config {
	const char *data_dir;
	const char *listen; /* ADDR:PORT for TLS; NULL: from tessera.json */
	const char *publish; /* ADDR:PORT for plain HTTP; NULL: config */
	int workers; /* 0: one per core */
	const char *log_format; /* "text", "json"; NULL: tessera.json's */
};

/*
 * Run until SIGTERM or SIGINT; returns the process exit code (0 after a
 * clean shutdown). Start-up failures print one line and return non-zero.
 */
int server_run(const struct server_config *cfg);

/*
 * Ask the tessera serve of data_dir, if one runs, to reload (SIGHUP: new
 * workers read the CA files and tessera.json afresh, the old ones drain).
 * *pid is the supervisor's pid when one was signalled, 0 when none serves
 * data_dir (its serve.lock is not held). ST_UNAVAILABLE with a detail when
 * one serves but cannot be signalled.
 */
enum status server_reload_signal(const char *data_dir, int *pid) MUST_CHECK;

#endif
