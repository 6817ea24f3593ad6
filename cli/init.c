#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca/setup.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera init --data DIR [--name ORG] [--url URL]\n"
	    "                    [--publish-url URL]\n"
	    "                    [--hsm-module PATH --hsm-token LABEL "
	    "--hsm-pin-file FILE]\n\n"
	    "Creates the data directory DIR. Inside the token: the root CA "
	    "key (EC P-384),\nthe issuing CA key, the OCSP responder key and "
	    "the token-signing key (EC P-256).\nIn DIR: ca/root.pem, "
	    "ca/issuing.pem, ca/chain.pem, ca/ocsp.pem, tls/server.pem\n"
	    "and tls/server.key, admin/admin.pem and admin/admin.key, "
	    "policy.json,\ntessera.json and tessera.db. No CA private key "
	    "is ever written to a file.\n\n"
	    "Without --hsm-module, tessera uses the embedded SoftHSMv2 token "
	    "in DIR/hsm/\nwith random PINs in DIR/hsm/user.pin and "
	    "DIR/hsm/so.pin (mode 0600).\nWith a production HSM the PIN "
	    "comes from --hsm-pin-file or TESSERA_HSM_PIN.\n\n"
	    "  --url URL          public https base (EST, token issuer); "
	    "default https://localhost:8443\n"
	    "  --publish-url URL  public http base for CRL, OCSP, CA "
	    "certificates;\n"
	    "                     default http://127.0.0.1:8080\n"
	    "Refuses an existing data directory and then changes nothing.\n");
}

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"url", required_argument, NULL, 'u'},
	    {"publish-url", required_argument, NULL, 'p'},
	    {"hsm-module", required_argument, NULL, 'm'},
	    {"hsm-token", required_argument, NULL, 't'},
	    {"hsm-pin-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_setup s;
	enum status st;
	int c;

	memset(&s, 0, sizeof(s));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			s.data_dir = optarg;
			break;
		case 'n':
			s.name = optarg;
			break;
		case 'u':
			s.url = optarg;
			break;
		case 'p':
			s.publish_url = optarg;
			break;
		case 'm':
			s.hsm_module = optarg;
			break;
		case 't':
			s.hsm_token = optarg;
			break;
		case 'f':
			s.hsm_pin_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (s.data_dir == NULL || optind != argc) {
		fprintf(stderr, "tessera init: --data DIR is required\n");
		usage(stderr);
		return 2;
	}
	if ((s.hsm_module != NULL) != (s.hsm_token != NULL)) {
		fprintf(stderr,
		    "tessera init: --hsm-module and --hsm-token go "
		    "together\n");
		return 2;
	}
	if ((st = ca_setup_run(&s)) != ST_OK)
		return cli_fail("init", st);
	printf("initialised %s\n  chain: %s/ca/chain.pem\n  admin: "
	       "%s/admin/admin.pem\n",
	    s.data_dir, s.data_dir, s.data_dir);
	return 0;
}
