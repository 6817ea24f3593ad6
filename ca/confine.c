/*
 * authority_confine: a worker's authority, once open, shuts itself in
 * (common/sandbox.h): the system's read-only parts, the store's files,
 * and of the data directory only ca/, tls/ and crl/, which scheduled
 * work rewrites. The token, the PIN files, admin/ and everything else
 * there can no longer be opened.
 */
#include <stdlib.h>

#include "ca/authority_internal.h"
#include "ca/store.h"
#include "common/log.h"
#include "common/sandbox.h"

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
	    (st = store_sandbox_enter(a->store, sb)) != ST_OK)
		goto out;
	log_debug("worker confined (Landlock ABI %d)", sandbox_abi(sb));
out:
	sandbox_free(sb);
	return st;
}
