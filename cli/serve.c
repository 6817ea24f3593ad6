#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "enroll/server.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera serve [--data DIR] [--listen ADDR:PORT] "
	    "[--publish ADDR:PORT]\n"
	    "                     [--workers N] [--log-format text|json]\n\n"
	    "Runs the TLS listener (EST, admin API) and the plain-HTTP "
	    "listener (CRL, OCSP,\nCA certificates, /healthz) in N worker "
	    "processes under a small supervisor.\n\n"
	    "  --data DIR          the data directory made by tessera init "
	    "(default:\n"
	    "                      $TESSERA_DATA, else /var/lib/tessera)\n"
	    "  --listen ADDR:PORT  TLS listener; default from tessera.json "
	    "(127.0.0.1:8443)\n"
	    "  --publish ADDR:PORT plain-HTTP listener; default from "
	    "tessera.json\n"
	    "                      (127.0.0.1:8080)\n"
	    "  --workers N         worker processes; default one per core\n"
	    "  --log-format FMT    text (the default) or json: one object a "
	    "line; default\n"
	    "                      from tessera.json (log.format)\n\n"
	    "Write an IPv6 address as [::1]:8443. SIGTERM or SIGINT stops "
	    "the service.\nSIGHUP reloads: new workers read the policy, "
	    "tessera.json and the TLS files,\nthen the old ones drain and "
	    "exit (\"reload N complete\" in the log). One serve\nper data "
	    "directory (DIR/serve.lock).\n");
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"publish", required_argument, NULL, 'p'},
	    {"workers", required_argument, NULL, 'w'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct server_config cfg;
	char *end = NULL;
	long n;
	int c;

	memset(&cfg, 0, sizeof(cfg));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'l':
			cfg.listen = optarg;
			break;
		case 'p':
			cfg.publish = optarg;
			break;
		case 'w':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    n < 1 || n > 64) {
				fprintf(stderr,
				    "tessera serve: --workers "
				    "must be 1 to 64\n");
				return 2;
			}
			cfg.workers = (int)n;
			break;
		case 'f':
			if (strcmp(optarg, "text") != 0 &&
			    strcmp(optarg, "json") != 0) {
				fprintf(stderr,
				    "tessera serve: --log-format is text "
				    "or json\n");
				return 2;
			}
			cfg.log_format = optarg;
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
	cfg.data_dir = cli_data_dir(cfg.data_dir);
	return server_run(&cfg);
}
