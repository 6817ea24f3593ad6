#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca/authority.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera revoke [--data DIR] (--serial HEX | --device ID) "
	    "[--reason NAME]\n\n"
	    "Revokes one certificate by serial (hex, any case, leading zeros "
	    "allowed), or\nevery certificate of a device (and blocks it), as "
	    "the local operator; the\nrevocation is committed and audited "
	    "before this returns. Any certificate\ntessera holds, its CAs "
	    "included: the issuing CA (reason cACompromise) goes on\nthe "
	    "root's CRL and nothing is issued under it any more; the OCSP "
	    "responder is\nreplaced by a new key in the token.\n\n"
	    "  --reason NAME  RFC 5280 §5.3.1: unspecified (default), "
	    "keyCompromise,\n"
	    "                 cACompromise, affiliationChanged, superseded,\n"
	    "                 cessationOfOperation, privilegeWithdrawn\n");
}

int
cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"serial", required_argument, NULL, 's'},
	    {"device", required_argument, NULL, 'i'},
	    {"reason", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *serial = NULL, *device = NULL, *reason = NULL;
	struct authority_revocation rv;
	struct authority *a = NULL;
	struct principal who;
	size_t count = 0;
	enum status st;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			serial = optarg;
			break;
		case 'i':
			device = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((serial == NULL) == (device == NULL) || optind != argc) {
		fprintf(stderr,
		    "tessera revoke: one of --serial or --device is "
		    "required\n");
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	cli_operator(&who);
	if ((st = authority_open(dir, &a)) != ST_OK) {
		rc = cli_fail("revoke", st);
		goto out;
	}
	if (serial != NULL)
		st = authority_revoke_cert(a, &who, serial, reason, &rv);
	else
		st = authority_revoke_device(a, &who, device, reason, &count);
	if (st != ST_OK) {
		rc = cli_fail("revoke", st);
		goto out;
	}
	if (serial != NULL)
		printf(
		    "revoked %s (%s)\n", rv.serial, ca_reason_name(rv.reason));
	else
		printf("revoked %zu certificates of device %s and blocked it\n",
		    count, device);
	rc = 0;
out:
	authority_close(a);
	return rc;
}
