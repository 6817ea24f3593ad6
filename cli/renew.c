#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca/authority.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera renew --data DIR [tls|ocsp]\n\n"
	    "Renews tessera's own certificates now (both when neither "
	    "is named):\n"
	    "  tls   the TLS server certificate: a new key in "
	    "DIR/tls/server.key (mode\n"
	    "        0600) and a certificate with the same names in "
	    "DIR/tls/server.pem;\n"
	    "  ocsp  the delegated OCSP responder certificate "
	    "DIR/ca/ocsp.pem (its key\n"
	    "        stays in the token).\n"
	    "tessera serve renews both by itself when a third of their "
	    "life is left; after\na manual renewal send it SIGHUP to load "
	    "them.\n");
}

int
cmd_renew(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *what = NULL;
	struct authority *a = NULL;
	enum status st = ST_OK;
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
	if (optind < argc)
		what = argv[optind++];
	if (dir == NULL || optind != argc ||
	    (what != NULL && strcmp(what, "tls") != 0 &&
	        strcmp(what, "ocsp") != 0)) {
		usage(stderr);
		return 2;
	}
	if ((st = authority_open(dir, &a)) != ST_OK)
		goto out;
	if ((what == NULL || strcmp(what, "tls") == 0) &&
	    (st = authority_tls_renew(a, 1, &renewed)) != ST_OK)
		goto out;
	if ((what == NULL || strcmp(what, "ocsp") == 0) &&
	    (st = authority_ocsp_renew(a, 1, &renewed)) != ST_OK)
		goto out;
	printf("renewed %s; send SIGHUP to tessera serve to load it\n",
	    what == NULL ? "the TLS and OCSP responder certificates"
	        : strcmp(what, "tls") == 0 ? "the TLS server certificate"
	                                   : "the OCSP responder certificate");
out:
	rc = st == ST_OK ? 0 : cli_fail("renew", st);
	authority_close(a);
	return rc;
}
