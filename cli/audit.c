#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/audit.h"
#include "ca/config.h"
#include "ca/store.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera audit verify --data DIR\n\n"
	    "Walks the audit chain in the store: every entry must hold "
	    "the hash of the one\nbefore it and its own content. Names "
	    "the first entry that does not match and\nexits non-zero. "
	    "Needs no HSM PIN.\n");
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	struct ca_config *cfg = NULL;
	struct store *store = NULL;
	char *db = NULL;
	int64_t count = 0, bad = 0;
	enum status st;
	int c, rc = 1;

	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((st = ca_config_load(dir, &cfg)) != ST_OK)
		goto fail;
	if ((db = ca_config_path(cfg, cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto fail;
	}
	if ((st = store_open(db, &store)) != ST_OK)
		goto fail;
	if ((st = audit_verify(store, &count, &bad)) != ST_OK)
		goto fail;
	printf("audit chain verified: %lld entries\n", (long long)count);
	rc = 0;
	goto out;
fail:
	rc = cli_fail("audit verify", st);
out:
	store_close(store);
	ca_config_free(cfg);
	free(db);
	return rc;
}
