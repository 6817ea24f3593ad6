/*
 * authority_confine: a worker's authority, once open, shuts itself in
 * (common/sandbox.h): the system's read-only parts, the store's files,
 * and of the data directory only ca/, tls/ and crl/, which scheduled
 * work rewrites. The token, the PIN files, admin/ and everything else
 * there can no longer be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "ca/authority_internal.h"
#include "ca/store.h"
#include "common/log.h"
#include "common/sandbox.h"

/*
 * After entering: the PIN file must be out of reach. One kept beneath a
 * directory workers read (under /usr, say) would still be readable:
 * refuse to serve rather than run believing otherwise.
 */
static enum status
pin_out_of_reach(const struct authority *a)
{
	char *path;
	int fd;

	if (a->cfg->hsm_pin_file == NULL)
		return ST_OK;
	if ((path = ca_config_path(a->cfg, a->cfg->hsm_pin_file)) == NULL)
		return ST_NOMEM;
	/* Missing is fine too: the PIN came from TESSERA_HSM_PIN. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == ENOENT)) {
		free(path);
		return ST_OK;
	}
	if (fd >= 0)
		close(fd);
	status_fail(ST_DENIED,
	    "the PIN file %s can still be read from a confined worker "
	    "(%s); keep it where workers do not read: the data "
	    "directory's hsm/, or a directory of its own such as "
	    "/etc/tessera",
	    path,
	    fd >= 0 ? "it lies beneath a system directory" : strerror(errno));
	free(path);
	return ST_DENIED;
}

enum status
authority_confine(struct authority *a)
{
	static const char *const writable[] = {"ca", "tls", "crl"};
	struct sandbox *sb = NULL;
	const char *off = getenv("TESSERA_NO_SANDBOX");
	char *path;
	enum status st;
	size_t i;

	if (off != NULL && off[0] != '\0' && off[0] != '0') {
		log_warn("TESSERA_NO_SANDBOX is set: this worker is not "
		         "confined and can read the PIN file");
		return ST_OK;
	}
	if ((st = sandbox_new(&sb)) != ST_OK) {
		if (st != ST_UNAVAILABLE)
			return st;
		log_warn("workers are not confined (%s): a flaw in one could "
		         "read the PIN file",
		    status_detail());
		status_clear();
		return ST_OK;
	}
	if ((st = sandbox_allow_system(sb)) != ST_OK)
		goto out;
	for (i = 0; i < sizeof(writable) / sizeof(writable[0]); i++) {
		if ((path = ca_config_path(a->cfg, writable[i])) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		st = sandbox_allow(sb, path, SANDBOX_WRITE);
		free(path);
		if (st != ST_OK)
			goto out;
	}
	if ((st = store_sandbox_allow(a->store, sb)) != ST_OK ||
	    (st = sandbox_enter(sb)) != ST_OK ||
	    (st = pin_out_of_reach(a)) != ST_OK ||
	    (st = store_sandbox_enter(a->store, sb)) != ST_OK)
		goto out;
	log_debug("worker confined (Landlock ABI %d)", sandbox_abi(sb));
out:
	sandbox_free(sb);
	return st;
}
