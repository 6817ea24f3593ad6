/*
 * The signer process of `tessera serve`: the only tessera process that
 * loads the PKCS#11 module and knows the PIN. It holds the token through
 * a local signer (its purpose checks named by tessera.json's keys and the
 * CA certificates) and answers the workers on the data directory's
 * signer socket of its generation (signer/server.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/authority_internal.h"
#include "common/log.h"
#include "signer/server.h"

/* Logins tried while the token is busy (another process reading it). */
#define SIGNERD_OPEN_TRIES 5

struct authority_signerd {
	struct ca_config *cfg;
	X509 *root;
	X509 *issuing;
	X509 *retiring; /* after a rollover, or NULL */
	struct signer *holder;
	char *path;
	int listen_fd;
};

enum status
authority_signerd_open(const char *data_dir, const char *socket_path,
    const char *pin, struct authority_signerd **out)
{
	struct authority_signerd *d;
	enum status st;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ST_NOMEM;
	d->listen_fd = -1;
	if ((st = ca_config_load(data_dir, &d->cfg)) != ST_OK ||
	    (st = authority_ca_certs_load(d->cfg, &d->root, &d->issuing)) !=
	        ST_OK ||
	    (st = authority_retiring_cert_load(d->cfg, &d->retiring)) != ST_OK)
		goto out;
	if ((st = authority_signer_local_open(d->cfg, d->root, d->issuing,
	         d->retiring, pin, SIGNERD_OPEN_TRIES, &d->holder)) != ST_OK)
		goto out;
	if ((d->path = strdup(socket_path)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = signer_listen(d->path, &d->listen_fd)) != ST_OK)
		goto out;
	*out = d;
	d = NULL;
out:
	authority_signerd_close(d);
	return st;
}

enum status
authority_signerd_serve(struct authority_signerd *d, int stop_fd)
{
	enum status st;

	log_info("signer: serving %s", d->path);
	st = signer_serve(d->holder, d->listen_fd, stop_fd);
	d->listen_fd = -1;
	return st;
}

void
authority_signerd_close(struct authority_signerd *d)
{
	if (d == NULL)
		return;
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	signer_close(d->holder);
	X509_free(d->root);
	X509_free(d->issuing);
	X509_free(d->retiring);
	free(d->path);
	ca_config_free(d->cfg);
	free(d);
}
