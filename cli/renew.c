#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/authority.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera renew [--data DIR] [tls [--dns NAME]... "
	    "[--ip ADDR]... | ocsp | admin]\n\n"
	    "Renews tessera's own certificates now (TLS and OCSP when none "
	    "is named):\n"
	    "  tls   the TLS server certificate: a new key in "
	    "DIR/tls/server.key (mode\n"
	    "        0600) and a certificate in DIR/tls/server.pem with the "
	    "names kept in\n"
	    "        tessera.json; --dns and --ip (each repeatable) replace "
	    "those names\n"
	    "        (the host of the service URL is always added);\n"
	    "  ocsp  the delegated OCSP responder certificate "
	    "DIR/ca/ocsp.pem (its key\n"
	    "        stays in the token);\n"
	    "  admin the first admin's client certificate: a new key in "
	    "DIR/admin/admin.key\n"
	    "        (mode 0600) and DIR/admin/admin.pem, valid a year; the "
	    "old one stays\n"
	    "        valid until it expires.\n"
	    "tessera serve renews TLS and OCSP by itself when a third of "
	    "their life is left;\nafter a manual renewal send it SIGHUP to "
	    "load them.\n");
}

int
cmd_renew(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"dns", required_argument, NULL, 'n'},
	    {"ip", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *what = NULL, **dns = NULL, **ip = NULL;
	size_t dns_count = 0, ip_count = 0;
	struct authority *a = NULL;
	enum status st = ST_OK;
	int c, renewed = 0, rc = 2;

	dns = calloc((size_t)argc + 1, sizeof(*dns));
	ip = calloc((size_t)argc + 1, sizeof(*ip));
	if (dns == NULL || ip == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			dns[dns_count++] = optarg;
			break;
		case 'i':
			ip[ip_count++] = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto done;
		default:
			usage(stderr);
			goto done;
		}
	}
	if (optind < argc)
		what = argv[optind++];
	if (optind != argc ||
	    (what != NULL && strcmp(what, "tls") != 0 &&
	        strcmp(what, "ocsp") != 0 && strcmp(what, "admin") != 0)) {
		usage(stderr);
		goto done;
	}
	if (dns_count + ip_count > 0 && (what == NULL || strcmp(what, "tls"))) {
		fprintf(
		    stderr, "tessera renew: --dns and --ip go with 'tls'\n");
		goto done;
	}
	dir = cli_data_dir(dir);
	if ((st = authority_open(dir, &a)) != ST_OK)
		goto out;
	if (what != NULL && strcmp(what, "admin") == 0) {
		if ((st = authority_admin_renew(a, &renewed)) != ST_OK)
			goto out;
		printf("renewed the admin certificate: %s/admin/admin.pem and "
		       "admin.key\n",
		    dir);
		goto out;
	}
	if (dns_count + ip_count > 0) {
		if ((st = authority_tls_names_set(
		         a, dns, dns_count, ip, ip_count, &renewed)) != ST_OK)
			goto out;
	} else if ((what == NULL || strcmp(what, "tls") == 0) &&
	    (st = authority_tls_renew(a, 1, &renewed)) != ST_OK)
		goto out;
	if ((what == NULL || strcmp(what, "ocsp") == 0) &&
	    (st = authority_ocsp_renew(a, 1, &renewed)) != ST_OK)
		goto out;
	if (what == NULL || strcmp(what, "tls") == 0)
		cli_names_print(authority_config(a));
	printf("renewed %s; send SIGHUP to tessera serve to load it\n",
	    what == NULL ? "the TLS and OCSP responder certificates"
	        : strcmp(what, "tls") == 0 ? "the TLS server certificate"
	                                   : "the OCSP responder certificate");
out:
	rc = st == ST_OK ? 0 : cli_fail("renew", st);
done:
	authority_close(a);
	free(dns);
	free(ip);
	return rc;
}
