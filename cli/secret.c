#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/authority.h"
#include "ca/store.h"
#include "cli/cli.h"
#include "common/secret.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera secret [--data DIR] --device ID [--profile NAME] "
	    "[--ttl DURATION]\n"
	    "       tessera secret list [--data DIR] [--minter M] [--device "
	    "ID] "
	    "[--profile NAME]\n"
	    "                           [--all] [--limit N] [--cursor ID]\n"
	    "       tessera secret cancel [--data DIR] (--id ID | --minter M "
	    "| --device ID)\n\n"
	    "Mints a one-time enrollment secret for device ID (the CSR's CN) "
	    "under profile\nNAME (default device). The device enrolls once "
	    "with HTTP Basic: user = ID,\npassword = the secret. Only a hash "
	    "is stored; the secret is printed on the\nlast line of standard "
	    "output and nowhere else.\n\n"
	    "  --ttl DURATION  how long it is valid: 3600, 90s, 30m, 24h or "
	    "7d\n"
	    "                  (default and maximum from the policy)\n\n"
	    "list    the outstanding secrets (--all: used, cancelled and "
	    "expired too),\n"
	    "        one a line: id, device, profile, minter, status, "
	    "expiry; never the\n"
	    "        secret. M is \"operator\" or the serial of the minting "
	    "certificate.\n"
	    "cancel  one secret by id, or every unused one of a minter or a "
	    "device.\n");
}

static void
time_text(int64_t when, char out[32])
{
	time_t t = (time_t)when;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct listing {
	int64_t now;
	int64_t last;
	size_t count;
};

static int
list_one(const struct authority_secret *s, void *arg)
{
	struct listing *l = arg;
	char expires[32];

	time_text(s->expires, expires);
	printf("%lld\t%s\t%s\t%s:%s%s%s\t%s\t%s\n", (long long)s->id,
	    s->device_id, s->profile, s->minter_kind ? s->minter_kind : "-",
	    s->minter_id ? s->minter_id : "-", s->minter_serial ? "/" : "",
	    s->minter_serial ? s->minter_serial : "",
	    s->cancelled_at            ? "cancelled"
	        : s->consumed_at       ? "used"
	        : s->expires <= l->now ? "expired"
	                               : "outstanding",
	    expires);
	l->last = s->id;
	l->count++;
	return 0;
}

/* tessera secret list|cancel: as the operator, through the authority. */
static int
manage(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"minter", required_argument, NULL, 'm'},
	    {"device", required_argument, NULL, 'i'},
	    {"profile", required_argument, NULL, 'p'},
	    {"id", required_argument, NULL, 'n'},
	    {"limit", required_argument, NULL, 'l'},
	    {"cursor", required_argument, NULL, 'c'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *verb = argv[1], *dir = NULL, *minter = NULL;
	const char *device = NULL, *profile = NULL;
	long long id = 0, limit = 100, cursor = 0, *num;
	struct authority *a = NULL;
	struct listing l;
	struct principal who;
	size_t count = 0;
	char *end;
	int c, is_all = 0, rc = 1;
	enum status st;

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'm':
			minter = optarg;
			break;
		case 'i':
			device = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'a':
			is_all = 1;
			break;
		case 'n':
		case 'l':
		case 'c':
			num = c == 'n' ? &id : c == 'l' ? &limit : &cursor;
			errno = 0;
			*num = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    *num < 0) {
				fprintf(stderr,
				    "tessera secret %s: --%s %s is not a "
				    "number\n",
				    verb,
				    c == 'n'       ? "id"
				        : c == 'l' ? "limit"
				                   : "cursor",
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
	if (optind != argc ||
	    (strcmp(verb, "cancel") == 0 &&
	        (id != 0) == (minter != NULL || device != NULL))) {
		if (strcmp(verb, "cancel") == 0)
			fprintf(stderr,
			    "tessera secret cancel: either --id or "
			    "--minter/--device is required\n");
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	cli_operator(&who);
	if ((st = authority_open(dir, &a)) != ST_OK)
		goto fail;
	if (strcmp(verb, "list") == 0) {
		memset(&l, 0, sizeof(l));
		l.now = (int64_t)time(NULL);
		if ((st = authority_secret_list(a, &who, minter, device,
		         profile, !is_all, (int64_t)cursor, (size_t)limit,
		         list_one, &l)) != ST_OK)
			goto fail;
		if (l.count == (size_t)limit)
			printf("# more: --cursor %lld\n", (long long)l.last);
	} else if (id != 0) {
		if ((st = authority_secret_cancel(a, &who, (int64_t)id)) !=
		    ST_OK)
			goto fail;
		printf("cancelled secret %lld\n", id);
	} else {
		if ((st = authority_secrets_cancel(
		         a, &who, minter, device, &count)) != ST_OK)
			goto fail;
		printf("cancelled %zu secrets\n", count);
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(
	    strcmp(verb, "list") == 0 ? "secret list" : "secret cancel", st);
out:
	authority_close(a);
	return rc;
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

	if (argc > 1 &&
	    (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "cancel") == 0))
		return manage(argc, argv);
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
	if (device == NULL || optind != argc) {
		fprintf(stderr, "tessera secret: --device is required\n");
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
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
