/*
 * status: what a person wants to know of a data directory at a glance,
 * read from its files alone (no PIN, no token, no write): the service's
 * addresses, whether a `tessera serve` holds it and with which pid, the
 * CA certificates' expiry (after a rollover the retiring one's too, from
 * ca/retiring.pem until it retires) and each CRL file's age and size. `tessera
 * status` prints it, with what the running server says on /healthz.
 */
#ifndef TESSERA_CA_STATUS_H
#define TESSERA_CA_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ca/config.h"
#include "common/limits.h"
#include "common/status.h"

/* CRL files in DIR/crl/ (the issuing CA's shards and the root's). */
#define CA_STATUS_CRLS (LIMIT_CRL_SHARDS + 2)

struct ca_status_cert {
	char what[16]; /* "root", "issuing", "retiring" */
	char subject[LIMIT_NAME_LEN + 1];
	int64_t not_after;
};

struct ca_status_crl {
	char name[32]; /* "issuing.crl", "issuing-K.crl", "root.crl" */
	int64_t this_update;
	int64_t next_update; /* 0: none */
	size_t entries;
	size_t bytes;
};

struct ca_status {
	struct ca_config *cfg; /* tessera.json */
	pid_t serve_pid; /* the serve holding DIR/serve.lock; 0: none */
	struct ca_status_cert ca[3]; /* root, issuing, [retiring] */
	size_t ca_count;
	struct ca_status_crl crls[CA_STATUS_CRLS];
	size_t crl_count;
};

/*
 * Read data_dir: ST_NOTFOUND when it is not a data directory (the detail
 * says to run tessera init), ST_MALFORMED for a CA certificate or CRL
 * file that does not parse (named). The caller frees *out with
 * ca_status_free.
 */
enum status
ca_status_read(const char *data_dir, struct ca_status **out) MUST_CHECK;

void ca_status_free(struct ca_status *s);

#endif
