/*
 * config: tessera.json, the data directory's configuration: where to
 * listen, the public URLs written into certificates, the HSM and the keys
 * (as RFC 7512 PKCS#11 URIs), the policy and database paths. Read strictly:
 * an unknown key is an error that names it.
 */
#ifndef TESSERA_CA_CONFIG_H
#define TESSERA_CA_CONFIG_H

#include "common/status.h"

struct ca_config {
	char *data_dir; /* absolute */
	char *name; /* organisation, used in CA subjects */
	char *url; /* https base: EST, token issuer */
	char *publish_url; /* http base: CRL, OCSP, caIssuers */
	char *listen; /* ADDR:PORT of the TLS listener */
	char *publish; /* ADDR:PORT of the plain-HTTP listener */
	char *hsm_module; /* PKCS#11 module path */
	char *hsm_token; /* token label */
	char *hsm_pin_file; /* relative to data_dir or absolute; may be NULL */
	char *softhsm_conf; /* embedded default only, else NULL */
	char *key_root; /* PKCS#11 URIs */
	char *key_issuing;
	char *key_ocsp;
	char *key_token;
	char *key_audit; /* signs audit checkpoints; NULL in data directories
			  * made before it existed */
	char *policy; /* relative to data_dir or absolute */
	char *database;
};

/*
 * Read DIR/tessera.json. ST_NOTFOUND when DIR is not a data directory
 * ("run tessera init"). The caller frees with ca_config_free.
 */
enum status
ca_config_load(const char *data_dir, struct ca_config **out) MUST_CHECK;

/* Write cfg to DIR/tessera.json (mode 0600); ST_CONFLICT if it exists. */
enum status ca_config_save(const struct ca_config *cfg) MUST_CHECK;

void ca_config_free(struct ca_config *cfg);

/*
 * Resolve path against the data directory: an absolute path is copied, a
 * relative one joined to data_dir. The caller frees; NULL on ENOMEM.
 */
char *ca_config_path(const struct ca_config *cfg, const char *path);

#endif
