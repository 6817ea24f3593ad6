/*
 * config: tessera.json, the data directory's configuration: where to
 * listen, the public URLs written into certificates, the HSM and the keys
 * (as RFC 7512 PKCS#11 URIs), the policy and database paths. Read strictly:
 * an unknown key is an error that names it.
 */
#ifndef TESSERA_CA_CONFIG_H
#define TESSERA_CA_CONFIG_H

#include <stddef.h>

#include "common/limits.h"
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
	/* Every key label tessera makes in the token starts with
	 * "PREFIX-" (several instances can share one token); never NULL
	 * once loaded: CA_CONFIG_KEY_PREFIX in data directories made
	 * before it was configurable. */
	char *key_prefix;
	char *key_root; /* PKCS#11 URIs; key_root NULL: the root is offline
			 * (init --offline-root), never in the token */
	char *key_issuing;
	char *key_ocsp;
	char *key_token;
	char *key_audit; /* signs audit checkpoints; NULL in data directories
			  * made before it existed */
	/* After `tessera ca rollover`: the issuing CA before it (its
	 * certificate ca/retiring.pem), which signs CRLs and OCSP answers
	 * for what it issued until the last of it expires; NULL otherwise. */
	char *key_retiring;
	char *policy; /* relative to data_dir or absolute */
	char *database;
	/* The TLS server certificate's names (canonical: DNS lower case,
	 * IP as inet_ntop writes it); the host of url is among them. Both
	 * counts 0 in data directories made before: renewal then keeps the
	 * certificate's names. */
	char *dns[LIMIT_SERVER_NAMES];
	size_t dns_count;
	char *ip[LIMIT_SERVER_NAMES];
	size_t ip_count;
	/* "log": how serve writes its log (enum log_format, text when
	 * absent) and the access log: NULL (none), "stderr" or a file
	 * (relative to data_dir or absolute) created with access_log_mode
	 * (0600, or 0640 for a log group). */
	int log_format;
	char *access_log;
	int access_log_mode;
};

/*
 * Read DIR/tessera.json. ST_NOTFOUND when DIR is not a data directory
 * ("run tessera init"). The caller frees with ca_config_free.
 */
enum status
ca_config_load(const char *data_dir, struct ca_config **out) MUST_CHECK;

/* Write cfg to DIR/tessera.json (mode 0600); ST_CONFLICT if it exists. */
enum status ca_config_save(const struct ca_config *cfg) MUST_CHECK;

/* Replace DIR/tessera.json with cfg, atomically (mode 0600). */
enum status ca_config_update(const struct ca_config *cfg) MUST_CHECK;

/*
 * Set the TLS server names: each DNS name checked against RFC 1123 (no
 * wildcard, no IP literal) and folded to lower case, each IP address parsed
 * with inet_pton (not unspecified), duplicates dropped, and the host of
 * cfg->url added when it is not among them. Counts 0 and 0: localhost and
 * 127.0.0.1. ST_MALFORMED names the bad name and leaves cfg unchanged.
 * The names are freed by ca_config_free or ca_config_names_clear.
 */
enum status ca_config_names_set(struct ca_config *cfg, const char *const *dns,
    size_t dns_count, const char *const *ip, size_t ip_count) MUST_CHECK;

void ca_config_names_clear(struct ca_config *cfg);

/*
 * The names as a subjectAltName in OpenSSL's syntax ("DNS:a,IP:b") into a
 * new string the caller frees; NULL when cfg has none or on ENOMEM.
 */
char *ca_config_san(const struct ca_config *cfg);

/* The host of an http(s) URL (no port, no brackets) into out, or "". */
void ca_config_url_host(const char *url, char *out, size_t cap);

/* The port of an http(s) URL (its scheme's default when none); 0 if bad. */
int ca_config_url_port(const char *url);

/*
 * Log a warning when a listener (ADDR:PORT) is on another port than the
 * URL clients are given for it (url for listen, publish_url for publish).
 */
void ca_config_ports_check(
    const struct ca_config *cfg, const char *listen, const char *publish);

void ca_config_free(struct ca_config *cfg);

/* The key label prefix of data directories that name none. */
#define CA_CONFIG_KEY_PREFIX "tessera"
/* Its longest: the longest label made from it fits LIMIT_LABEL_LEN. */
#define CA_CONFIG_KEY_PREFIX_MAX 24

/*
 * Whether prefix may start key labels: 1 to CA_CONFIG_KEY_PREFIX_MAX
 * letters, digits, '.', '_' or '-', starting with a letter or digit (so
 * that it needs no percent-encoding in a PKCS#11 URI). ST_MALFORMED says
 * what is wrong.
 */
enum status ca_config_key_prefix_check(const char *prefix) MUST_CHECK;

/*
 * The label of the key for role ("issuing-ca", "ocsp-responder", ...):
 * "PREFIX-role" into out. ST_LIMIT when it does not fit cap.
 */
enum status ca_config_key_label(const struct ca_config *cfg, const char *role,
    char *out, size_t cap) MUST_CHECK;

/*
 * Resolve path against the data directory: an absolute path (or a store's
 * postgresql:// URL) is copied, a relative one joined to data_dir. The caller frees; NULL on ENOMEM.
 */
char *ca_config_path(const struct ca_config *cfg, const char *path);

#endif
