/*
 * setup: `tessera init`. Creates a data directory: the token's keys (root
 * and issuing CA, OCSP responder, token signing, audit checkpoints), the
 * root and issuing CA certificates, the OCSP responder, the TLS server and
 * the first admin, the audit public key, the store with a first signed
 * audit checkpoint, the policy and tessera.json.
 */
#ifndef TESSERA_CA_SETUP_H
#define TESSERA_CA_SETUP_H

#include <stddef.h>

#include "common/status.h"

struct ca_setup {
	const char *data_dir; /* created; must not be a data dir */
	const char *name; /* organisation; default "tessera" */
	const char *url; /* default https://localhost:8443 */
	const char *publish_url; /* default http://127.0.0.1:8080 */
	/* The TLS certificate's names (ca_config_names_set: none given
	 * means localhost and 127.0.0.1; the host of url is added). */
	const char *const *dns;
	size_t dns_count;
	const char *const *ip;
	size_t ip_count;
	/* ADDR:PORT for serve; default 127.0.0.1 and the URL's port. */
	const char *listen;
	const char *publish;
	/* A production HSM; all NULL for the embedded SoftHSMv2 default. */
	const char *hsm_module;
	const char *hsm_token;
	const char *hsm_pin_file;
	/* Key labels start "PREFIX-" (CA_CONFIG_KEY_PREFIX when NULL), so
	 * that several data directories can share one token. */
	const char *key_prefix;
	/* The root stays offline: no root key in the token; init stops
	 * at DIR/ca/issuing.csr, and ca_setup_import completes it. */
	int offline_root;
	/* The root key's curve: "P-384" (NULL: the default) or "P-256",
	 * for fleets whose devices verify P-256 only or verify it faster
	 * (a secure element, a small TLS stack). Not with offline_root:
	 * an offline root's key is the operator's own. */
	const char *root_curve;
	/* The store: NULL for DIR/tessera.db (SQLite), or a PostgreSQL URL
	 * (no password in it) whose database holds no certificates yet. */
	const char *store;
};

/*
 * Run the whole set-up. Refuses (ST_CONFLICT) an existing data directory,
 * and a token that holds a key with one of the labels init would make
 * (another instance's prefix), and then changes nothing; on a later failure removes what it created in
 * the directory (keys already generated in a production token stay there,
 * and the detail names them).
 */
enum status ca_setup_run(const struct ca_setup *s) MUST_CHECK;

/*
 * Complete a data directory made with offline_root: the issuing CA's
 * certificate (cert_path) signed by the offline root (chain_path, the
 * self-signed root) is checked (ca/ceremony.h: the key in the token, the
 * profile, the chain, validity), their rows committed and audited, and
 * then what init does under the issuing CA: the OCSP responder, the TLS
 * server, the first admin and the chain files. Refuses (ST_CONFLICT) a
 * directory with its root in the token or its certificate already there;
 * a refusal changes nothing.
 */
enum status ca_setup_import(const char *data_dir, const char *cert_path,
    const char *chain_path) MUST_CHECK;

/*
 * The embedded SoftHSMv2's configuration: DIR/hsm/tokens (made, 0700) as
 * its token directory, written to DIR/hsm/softhsm2.conf (new, 0600) and
 * put in SOFTHSM2_CONF. DIR/hsm must exist. For init and restore.
 */
enum status ca_setup_softhsm_conf(const char *dir) MUST_CHECK;

#endif
