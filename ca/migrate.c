/* migrate: a data directory's SQLite store into PostgreSQL. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ca/config.h"
#include "ca/migrate.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/status.h"

/* The lock tessera serve holds on its data directory (enroll/server.c). */
#define SERVE_LOCK_FILE "serve.lock"

/* Hold data_dir's serve lock, so that no serve starts or runs meanwhile. */
static enum status
serve_lock_take(const char *data_dir, int *fd)
{
	char *path;
	enum status st = ST_OK;

	*fd = -1;
	if ((path = file_join(data_dir, SERVE_LOCK_FILE)) == NULL)
		return status_fail(ST_NOMEM, "out of memory");
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd == -1)
		st = status_fail(ST_UNAVAILABLE, "cannot open %s: %s", path,
		    strerror(errno));
	else if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
		st = status_fail(
		    errno == EWOULDBLOCK ? ST_CONFLICT : ST_UNAVAILABLE,
		    "%s is served by tessera serve: stop it first (a write "
		    "during the copy would be lost)",
		    data_dir);
	free(path);
	return st;
}

enum status
ca_store_migrate(
    const char *data_dir, const char *url, struct store_copy_counts *counts)
{
	struct ca_config *cfg = NULL;
	char *from = NULL, *url_copy = NULL;
	enum status st;
	int fd = -1;

	memset(counts, 0, sizeof(*counts));
	if (!store_target_is_url(url))
		return status_fail(
		    ST_MALFORMED, "--to takes a postgresql://USER@HOST/DB URL");
	if ((st = store_target_check(url)) != ST_OK)
		return st;
	if ((st = ca_config_load(data_dir, &cfg)) != ST_OK)
		return st;
	if (store_target_is_url(cfg->database)) {
		st = status_fail(ST_CONFLICT,
		    "the store of %s is in PostgreSQL already", data_dir);
		goto out;
	}
	if ((st = serve_lock_take(data_dir, &fd)) != ST_OK)
		goto out;
	if ((from = ca_config_path(cfg, cfg->database)) == NULL ||
	    (url_copy = strdup(url)) == NULL) {
		st = status_fail(ST_NOMEM, "out of memory");
		goto out;
	}
	if ((st = store_copy(from, url, counts)) != ST_OK)
		goto out;
	/* The copy is committed: from now on tessera.json names it. */
	free(cfg->database);
	cfg->database = url_copy;
	url_copy = NULL;
	st = ca_config_update(cfg);
out:
	if (fd != -1)
		close(fd);
	free(url_copy);
	free(from);
	ca_config_free(cfg);
	return st;
}
