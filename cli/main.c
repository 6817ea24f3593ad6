#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca/config.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/secret.h"

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
    {"init", cmd_init,
        "create a data directory: CA keys in the token, "
        "certificates, store, policy"},
    {"serve", cmd_serve, "run the EST, API and publication listeners"},
    {"secret", cmd_secret, "mint, list or cancel one-time enrollment secrets"},
    {"issue", cmd_issue,
        "issue a certificate for a CSR, or to a person holding a role"},
    {"revoke", cmd_revoke,
        "revoke a certificate (a CA's too) or a device's, offline"},
    {"renew", cmd_renew,
        "renew tessera's TLS (and its names), OCSP responder or admin "
        "certificate"},
    {"token", cmd_token,
        "rotate the device-token signing key; verify a device token"},
    {"admin", cmd_admin, "operate a running tessera over its HTTPS admin API"},
    {"audit", cmd_audit,
        "verify the signed audit log, or sign a checkpoint of it"},
    {"backup", cmd_backup,
        "archive a data directory while it serves (never the keys or PIN)"},
    {"restore", cmd_restore, "make a new data directory from a backup"},
    {"ca", cmd_ca,
        "key ceremonies: import what an offline root signed (issuing CA, "
        "root CRL)"},
    {"status", cmd_status,
        "how a tessera is: serve, /healthz, CA expiry, CRL age"},
    {"store", cmd_store,
        "migrate the store from its SQLite file into PostgreSQL"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: tessera COMMAND [OPTIONS]\n\n"
	    "tessera is a certificate authority for fleets of devices; "
	    "its keys live in a\nPKCS#11 token.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(
		    f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\n'tessera COMMAND --help' describes one command.\n"
	    "Environment: TESSERA_DATA (the data directory when --data is "
	    "not given;\n" CLI_DATA_DEFAULT " when neither is), "
	    "TESSERA_HSM_PIN (the token's user PIN,\nwhen not in a file), "
	    "TESSERA_LOG=debug|info|warn|error.\n");
}

const char *
cli_data_dir(const char *given)
{
	const char *env;

	if (given != NULL)
		return given;
	if ((env = getenv("TESSERA_DATA")) != NULL && env[0] != '\0')
		return env;
	return CLI_DATA_DEFAULT;
}

int
cli_fail(const char *cmd, enum status st)
{
	const char *detail = status_detail();

	fprintf(stderr, "tessera %s: %s\n", cmd,
	    detail[0] ? detail : status_name(st));
	switch (st) {
	case ST_MALFORMED:
	case ST_LIMIT:
		return 2;
	case ST_UNAUTHENTICATED:
	case ST_DENIED:
		return 3;
	case ST_NOTFOUND:
	case ST_CONFLICT:
		return 4;
	case ST_UNAVAILABLE:
		return 5;
	default:
		return 1;
	}
}

void
cli_operator(struct principal *who)
{
	memset(who, 0, sizeof(*who));
	who->kind = PRINCIPAL_OPERATOR;
	snprintf(who->id, sizeof(who->id), "local");
}

void
cli_names_print(const struct ca_config *cfg)
{
	size_t i;

	if (cfg->dns_count + cfg->ip_count == 0)
		return;
	printf("  TLS names:   ");
	for (i = 0; i < cfg->dns_count; i++)
		printf(" DNS:%s", cfg->dns[i]);
	for (i = 0; i < cfg->ip_count; i++)
		printf(" IP:%s", cfg->ip[i]);
	printf("\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	/* Any command may log in to the token: no core, no ptrace. */
	secret_process_protect();
	log_init_from_env();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("tessera %s (%s)\n", TESSERA_VERSION,
		    OpenSSL_version(OPENSSL_VERSION));
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tessera: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
