#include <getopt.h>
#include <stdio.h>

#include "ca/authority.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera tls-renew --data DIR\n\n"
	    "Renews tessera's own TLS server certificate now: a new key "
	    "in DIR/tls/server.key\n(mode 0600) and a certificate with "
	    "the same names in DIR/tls/server.pem.\n"
	    "tessera serve does this by itself when a third of the "
	    "certificate's life is\nleft; after a manual renewal send it "
	    "SIGHUP to load the new one.\n");
}

int
cmd_tls_renew(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	struct authority *a = NULL;
	enum status st;
	int c, renewed = 0, rc;

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
	if ((st = authority_open(dir, &a)) != ST_OK ||
	    (st = authority_tls_renew(a, 1, &renewed)) != ST_OK) {
		rc = cli_fail("tls-renew", st);
	} else {
		printf(
		    "renewed %s/tls/server.pem; send SIGHUP to tessera serve "
		    "to load it\n",
		    dir);
		rc = 0;
	}
	authority_close(a);
	return rc;
}
