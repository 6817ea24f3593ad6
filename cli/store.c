#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca/migrate.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera store migrate [--data DIR] --to URL\n\n"
	    "Copies the data directory's SQLite store into the empty "
	    "PostgreSQL database\nURL (postgresql://USER@HOST/DB, no password "
	    "in it: passfile=PATH or\nPGPASSFILE, mode 0600): certificates, "
	    "devices, secrets, revocations and\ntheir feed, OCSP responses, "
	    "CRLs, token keys and the audit with its chain,\nin one "
	    "transaction; then tessera.json names URL. The SQLite file stays "
	    "as it\nwas. Refused while tessera serve runs on DIR.\n\n"
	    "  --data DIR  the data directory (default: $TESSERA_DATA, else "
	    "/var/lib/tessera)\n"
	    "  --to URL    the PostgreSQL database, holding no certificate "
	    "yet\n");
}

int
cmd_store(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"to", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct store_copy_counts n;
	const char *dir = NULL, *to = NULL;
	enum status st;
	int c;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
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
		case 't':
			to = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || to == NULL) {
		fprintf(
		    stderr, "tessera store migrate: --to URL is required\n");
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	if ((st = ca_store_migrate(dir, to, &n)) != ST_OK)
		return cli_fail("store migrate", st);
	printf("copied %lld rows (%lld certificates, %lld audit entries) "
	       "into %s;\n%s/tessera.json names it now\n",
	    (long long)n.rows, (long long)n.certs, (long long)n.audit, to, dir);
	return 0;
}
