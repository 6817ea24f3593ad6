#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/config.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera init [--data DIR] [--name ORG] [--url URL]\n"
	    "                    [--publish-url URL] [--dns NAME]... "
	    "[--ip ADDR]...\n"
	    "                    [--listen ADDR:PORT] [--publish "
	    "ADDR:PORT]\n"
	    "                    [--hsm-module PATH --hsm-token LABEL "
	    "--hsm-pin-file FILE]\n"
	    "                    [--key-prefix PREFIX] [--offline-root] "
	    "[--root-curve CURVE]\n"
	    "                    [--store URL]\n\n"
	    "Creates the data directory DIR. Inside the token: the root CA "
	    "key (EC P-384, or\nP-256 with --root-curve), the issuing CA "
	    "key, the OCSP responder key and the\ntoken-signing key (EC "
	    "P-256).\nIn DIR: ca/root.pem, "
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
	    "certificates, written\n"
	    "                     into every certificate; default "
	    "http://127.0.0.1:8080\n"
	    "  --dns NAME         a DNS name of the TLS server certificate "
	    "(RFC 1123, no\n"
	    "                     wildcard); repeatable\n"
	    "  --ip ADDR          an IPv4 or IPv6 address of it; "
	    "repeatable. Neither given:\n"
	    "                     localhost and 127.0.0.1. The host of "
	    "--url is always added.\n"
	    "  --listen ADDR:PORT TLS listener of serve; default 127.0.0.1 "
	    "and the port of --url\n"
	    "  --publish ADDR:PORT plain-HTTP listener; default 127.0.0.1 "
	    "and the port of\n"
	    "                     --publish-url\n"
	    "  --key-prefix PREFIX the token's key labels start PREFIX- "
	    "(letters, digits,\n"
	    "                     '.', '_', '-'; at most 24); default "
	    "tessera. Several instances\n"
	    "                     share one token with a prefix each; a "
	    "prefix whose keys\n"
	    "                     are in the token already is refused\n"
	    "  --root-curve CURVE the root CA key's curve: P-384 (default) "
	    "or P-256, for\n"
	    "                     devices that verify P-256 only or faster; "
	    "the root then\n"
	    "                     signs with SHA-256. Not with "
	    "--offline-root\n"
	    "  --store URL        the store in PostgreSQL, "
	    "postgresql://USER@HOST/DB, instead\n"
	    "                     of DIR/tessera.db; its password comes "
	    "from the URL's\n"
	    "                     passfile=PATH or PGPASSFILE (mode 0600), "
	    "never the URL\n"
	    "Refuses an existing data directory and then changes nothing.\n");
}

/* What init wrote, for the person who ran it. */
static void
print_written(const char *dir)
{
	struct ca_config *cfg = NULL;

	if (ca_config_load(dir, &cfg) != ST_OK) {
		printf("initialised %s\n", dir);
		return;
	}
	printf("initialised %s\n", dir);
	cli_names_print(cfg);
	printf("  URL:          %s (EST, API, token issuer)\n", cfg->url);
	printf("  publish URL:  %s (CRL, OCSP and CA certificate URLs in "
	       "certificates)\n",
	    cfg->publish_url);
	printf("  listeners:    https://%s and http://%s (tessera serve)\n",
	    cfg->listen, cfg->publish);
	printf("  chain:        %s/ca/chain.pem\n", dir);
	printf("  TLS server:   %s/tls/server.pem, server.key (0600)\n", dir);
	printf("  admin:        %s/admin/admin.pem, admin.key (0600)\n", dir);
	printf("  policy:       %s/policy.json\n", dir);
	printf("  config:       %s/tessera.json\n", dir);
	if (store_target_is_url(cfg->database))
		printf("  store:        %s (PostgreSQL)\n", cfg->database);
	ca_config_free(cfg);
}

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"url", required_argument, NULL, 'u'},
	    {"publish-url", required_argument, NULL, 'p'},
	    {"dns", required_argument, NULL, 'D'},
	    {"ip", required_argument, NULL, 'I'},
	    {"listen", required_argument, NULL, 'l'},
	    {"publish", required_argument, NULL, 'P'},
	    {"hsm-module", required_argument, NULL, 'm'},
	    {"hsm-token", required_argument, NULL, 't'},
	    {"hsm-pin-file", required_argument, NULL, 'f'},
	    {"key-prefix", required_argument, NULL, 'k'},
	    {"offline-root", no_argument, NULL, 'o'},
	    {"root-curve", required_argument, NULL, 'c'},
	    {"store", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_setup s;
	const char **dns = NULL, **ip = NULL;
	size_t dns_count = 0, ip_count = 0;
	enum status st;
	int c, rc = 2;

	memset(&s, 0, sizeof(s));
	dns = calloc((size_t)argc + 1, sizeof(*dns));
	ip = calloc((size_t)argc + 1, sizeof(*ip));
	if (dns == NULL || ip == NULL) {
		rc = cli_fail("init", ST_NOMEM);
		goto out;
	}
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
		case 'D':
			dns[dns_count++] = optarg;
			break;
		case 'I':
			ip[ip_count++] = optarg;
			break;
		case 'l':
			s.listen = optarg;
			break;
		case 'P':
			s.publish = optarg;
			break;
		case 'm':
			s.hsm_module = optarg;
			break;
		case 'S':
			s.store = optarg;
			break;
		case 't':
			s.hsm_token = optarg;
			break;
		case 'f':
			s.hsm_pin_file = optarg;
			break;
		case 'k':
			s.key_prefix = optarg;
			break;
		case 'o':
			s.offline_root = 1;
			break;
		case 'c':
			s.root_curve = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	s.data_dir = cli_data_dir(s.data_dir);
	if ((s.hsm_module != NULL) != (s.hsm_token != NULL)) {
		fprintf(stderr,
		    "tessera init: --hsm-module and --hsm-token go "
		    "together\n");
		goto out;
	}
	s.dns = dns;
	s.dns_count = dns_count;
	s.ip = ip;
	s.ip_count = ip_count;
	if ((st = ca_setup_run(&s)) != ST_OK) {
		rc = cli_fail("init", st);
		goto out;
	}
	if (s.offline_root)
		printf("initialised %s, waiting for its issuing CA "
		       "certificate:\n"
		       "  request:      %s/ca/issuing.csr (the issuing key "
		       "is in the token; no root key is)\n"
		       "  next:         sign it with the offline root, then "
		       "tessera ca import --data %s\n"
		       "                --cert ISSUING.pem --chain ROOT.pem "
		       "--crl ROOT.crl\n",
		    s.data_dir, s.data_dir, s.data_dir);
	else
		print_written(s.data_dir);
	rc = 0;
out:
	free(dns);
	free(ip);
	return rc;
}
