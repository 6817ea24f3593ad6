#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ceremony.h"
#include "ca/rollover.h"
#include "ca/setup.h"
#include "cli/cli.h"
#include "enroll/server.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera ca import [--data DIR] --cert FILE --chain FILE "
	    "[--crl FILE]\n"
	    "       tessera ca import [--data DIR] --crl FILE\n"
	    "       tessera ca rollover [--data DIR]\n\n"
	    "rollover  A new issuing CA: a new issuing key in the token, "
	    "certified by the\n"
	    "        root; every certificate issued from now on comes from "
	    "it. The old\n"
	    "        issuing CA stays in cacerts and ca/chain.pem and keeps "
	    "signing the CRLs\n"
	    "        (/crl/issuing[-K].crl; the new one's are "
	    "/crl/issuing-gG[-K].crl) and\n"
	    "        OCSP answers for what it issued, and nothing else, until "
	    "the last of\n"
	    "        its certificates expires; then tessera serve retires it "
	    "(audited,\n"
	    "        dropped from cacerts; its key stays in the token). Needs "
	    "the root key in\n"
	    "        the token (an offline root is refused) and no rollover "
	    "still retiring.\n"
	    "        A running tessera serve is sent SIGHUP to reload.\n\n"
	    "Key ceremonies with an offline root (a data directory made "
	    "by tessera init\nwithout a root key; see tessera init "
	    "--help):\n"
	    "import  --cert takes the issuing CA certificate the offline "
	    "root signed from\n"
	    "        DIR/ca/issuing.csr, --chain the root certificate "
	    "(self-signed). They are\n"
	    "        checked: the certificate is for the issuing key in the "
	    "token, critical\n"
	    "        CA:TRUE with pathlen 0 and keyUsage keyCertSign and "
	    "cRLSign, valid now,\n"
	    "        and it chains to the root. Then the data directory is "
	    "completed as init\n"
	    "        does (OCSP responder, TLS server and admin "
	    "certificates, ca/chain.pem).\n"
	    "        --crl takes the root's CRL (PEM or DER): signed by the "
	    "root, a cRLNumber\n"
	    "        above the one served, nextUpdate still to come; it is "
	    "served at once as\n"
	    "        /crl/root.crl and in crl/crl-chain.pem; one that "
	    "lists the issuing CA\n"
	    "        revokes it here too (nothing is issued under it "
	    "then). A running\n"
	    "        tessera serve is sent SIGHUP to reload. Any refusal "
	    "says why and\n"
	    "        changes nothing.\n");
}

/* A running serve takes up what import wrote. */
static void
reload(const char *dir)
{
	int pid = 0;

	if (server_reload_signal(dir, &pid) != ST_OK)
		fprintf(stderr, "tessera ca: %s\n", status_detail());
	else if (pid > 0)
		printf(
		    "sent SIGHUP to tessera serve (pid %d) to reload\n", pid);
}

static int
ca_import(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"cert", required_argument, NULL, 'c'},
	    {"chain", required_argument, NULL, 'r'},
	    {"crl", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *cert = NULL, *chain = NULL, *crl = NULL;
	int64_t number = 0;
	enum status st;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'r':
			chain = optarg;
			break;
		case 'l':
			crl = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (cert != NULL) != (chain != NULL) ||
	    (cert == NULL && crl == NULL)) {
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	if (cert != NULL) {
		if ((st = ca_setup_import(dir, cert, chain)) != ST_OK)
			return cli_fail("ca import", st);
		printf("imported the issuing CA certificate: %s/ca/chain.pem; "
		       "the TLS server, OCSP responder and admin "
		       "certificates are issued\n",
		    dir);
	}
	if (crl != NULL) {
		if ((st = ca_ceremony_crl_import(dir, crl, &number)) != ST_OK)
			return cli_fail("ca import", st);
		printf("imported the root CRL, number %lld: %s/crl/root.crl\n",
		    (long long)number, dir);
	}
	reload(dir);
	return 0;
}

static int
ca_rollover_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_rollover_result r;
	const char *dir = NULL;
	enum status st;
	int c;

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
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	if ((st = ca_rollover(dir, &r)) != ST_OK)
		return cli_fail("ca rollover", st);
	printf("rolled over: issuing CA %s (generation %d, key %s) issues "
	       "from now on;\n"
	       "issuing CA %s (generation %d) signs CRLs and OCSP for its "
	       "certificates until the last expires\n",
	    r.new_serial, r.new_gen, r.key_label, r.old_serial, r.old_gen);
	reload(dir);
	return 0;
}

int
cmd_ca(int argc, char **argv)
{
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return ca_import(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rollover") == 0)
		return ca_rollover_cmd(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
