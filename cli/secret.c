#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/authority.h"
#include "cli/cli.h"
#include "common/secret.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera secret --data DIR --device ID [--profile NAME] "
	    "[--ttl DURATION]\n\n"
	    "Mints a one-time enrollment secret for device ID (the CSR's CN) "
	    "under profile\nNAME (default device). The device enrolls once "
	    "with HTTP Basic: user = ID,\npassword = the secret. Only a hash "
	    "is stored; the secret is printed on the\nlast line of standard "
	    "output and nowhere else.\n\n"
	    "  --ttl DURATION  how long it is valid: 3600, 90s, 30m, 24h or "
	    "7d\n"
	    "                  (default and maximum from the policy)\n");
}

/* "3600", "90s", "30m", "24h", "7d" -> seconds; -1 when malformed. */
static long long
parse_duration(const char *s)
{
	char *end;
	long long n, unit = 1;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || n <= 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -1;
		}
	}
	if (n > 100LL * 365 * 86400 / unit)
		return -1;
	return n * unit;
}

int
cmd_secret(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"device", required_argument, NULL, 'i'},
	    {"profile", required_argument, NULL, 'p'},
	    {"ttl", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *device = NULL, *profile = NULL;
	long long ttl = 0;
	struct authority *a = NULL;
	struct principal who;
	char *secret = NULL, when[32];
	int64_t expires;
	struct tm tm;
	time_t t;
	enum status st;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'i':
			device = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 't':
			if ((ttl = parse_duration(optarg)) < 0) {
				fprintf(stderr,
				    "tessera secret: --ttl %s is "
				    "not a duration (3600, 90s, 30m, 24h, "
				    "7d)\n",
				    optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || device == NULL || optind != argc) {
		fprintf(stderr,
		    "tessera secret: --data and --device are "
		    "required\n");
		usage(stderr);
		return 2;
	}
	cli_operator(&who);
	if ((st = authority_open(dir, &a)) != ST_OK ||
	    (st = authority_secret_create(a, &who, device, profile,
	         (int64_t)ttl, &secret, &expires)) != ST_OK) {
		rc = cli_fail("secret", st);
		goto out;
	}
	t = (time_t)expires;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("one-time secret for device %s (profile %s), valid until %s:\n"
	       "%s\n",
	    device, profile ? profile : "device", when, secret);
	rc = 0;
out:
	secret_free(secret);
	authority_close(a);
	return rc;
}
