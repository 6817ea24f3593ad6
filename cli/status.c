/*
 * tessera status: the data directory (ca/status) and what the running
 * server answers on /healthz, for a person. Reads only; needs no PIN.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ca/status.h"
#include "cli/cli.h"
#include "cli/https.h"

/* Exit codes: all is well; something needs a look; usage or no data. */
#define STATUS_EXIT_OK 0
#define STATUS_EXIT_ATTENTION 1
#define STATUS_EXIT_USAGE 2
/* A CRL this close to its nextUpdate has missed its rebuilds. */
#define STATUS_CRL_SLACK (3600)
#define STATUS_URL_MAX 300

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera status [--data DIR] [--server URL]\n\n"
	    "Says, for a person, how a tessera is: whether tessera serve "
	    "runs on the data\ndirectory (and its pid), what it answers on "
	    "/healthz (version, the token),\nthe CA certificates' expiry, "
	    "each CRL's age, entries and size, and tessera's\nown "
	    "certificates close to expiry. Reads the data directory; needs "
	    "no PIN.\n\n"
	    "  --data DIR    the data directory (default: $TESSERA_DATA, "
	    "else\n"
	    "                /var/lib/tessera)\n"
	    "  --server URL  where to ask /healthz (default: http:// and "
	    "the publication\n"
	    "                listener of tessera.json, e.g. "
	    "http://127.0.0.1:8080)\n\n"
	    "Exit status: 0 when serve runs and the token answers, 1 when "
	    "something needs a\nlook (not running, not answering, the token "
	    "away, a CRL or certificate close\nto expiry), 2 for a usage "
	    "error or a directory that is not tessera's.\n");
}

/* "in 3 d 4 h", "12 min ago": a span for a person. */
static const char *
span(int64_t secs, char *out, size_t cap)
{
	int64_t a = secs < 0 ? -secs : secs;

	if (a < 120)
		snprintf(out, cap, "%lld s", (long long)a);
	else if (a < 2 * 3600)
		snprintf(out, cap, "%lld min", (long long)(a / 60));
	else if (a < 2 * 86400)
		snprintf(out, cap, "%lld h %lld min", (long long)(a / 3600),
		    (long long)(a % 3600 / 60));
	else
		snprintf(out, cap, "%lld days", (long long)(a / 86400));
	return out;
}

static const char *
date(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
	return out;
}

/*
 * GET URL/healthz into *out (parsed); the answer's code in *code. 0 when
 * it answered JSON, -1 (and why in why) when not.
 */
static int
healthz_get(const char *url, json_t **out, int *code, char *why, size_t cap)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct buf body;
	json_error_t err;
	int rc = -1;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.is_plain_ok = 1;
	buf_init(&body, 1 << 20);
	if (https_client_new(&o, &c) != ST_OK ||
	    https_request(c, "GET", "/healthz", NULL, code, &body) != ST_OK) {
		snprintf(why, cap, "%s", status_detail());
		goto out;
	}
	if ((*out = json_loadb((const char *)body.data, body.len, 0, &err)) ==
	        NULL ||
	    !json_is_object(*out)) {
		snprintf(why, cap, "/healthz answered %d, not JSON", *code);
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	buf_free(&body);
	https_client_free(c);
	return rc;
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "?";
}

/* The server part: running, what /healthz says. 1 if it needs a look. */
static int
server_print(const struct ca_status *s, const char *server, json_t **health)
{
	char url[STATUS_URL_MAX], why[512];
	int code = 0;

	*health = NULL;
	if (s->serve_pid > 0)
		printf("  serve        running, pid %d\n", (int)s->serve_pid);
	else
		printf("  serve        not running (no process holds "
		       "%s/serve.lock)\n",
		    s->cfg->data_dir);
	if (server == NULL) {
		snprintf(url, sizeof(url), "http://%s", s->cfg->publish);
		server = url;
	}
	if (healthz_get(server, health, &code, why, sizeof(why)) != 0) {
		printf(
		    "  server       %s/healthz: no answer (%s)\n", server, why);
		return 1;
	}
	printf("  server       %s/healthz: %s, version %s, token %s%s%s\n",
	    server, jstr(*health, "status"), jstr(*health, "version"),
	    jstr(*health, "hsm"),
	    json_object_get(*health, "detail") ? ": " : "",
	    json_object_get(*health, "detail") ? jstr(*health, "detail") : "");
	return code != 200 || s->serve_pid <= 0;
}

/*
 * When the retiring CA retires (the latest notAfter of what it issued), as
 * the running server's /healthz says it ("retires_at"); 0 when it does not
 * say (not running, or its store did not answer).
 */
static int64_t
retires_at(json_t *health)
{
	json_t *list = json_object_get(health, "ca"), *x;
	size_t i;

	json_array_foreach(list, i, x)
	{
		if (strcmp(jstr(x, "certificate"), "retiring") == 0)
			return (int64_t)json_integer_value(
			    json_object_get(x, "retires_at"));
	}
	return 0;
}

static int
certs_print(const struct ca_status *s, json_t *health, int64_t now)
{
	char d[40], sp[40], r[40];
	int attention = 0, is_retiring;
	int64_t until;
	size_t i;

	printf("CA certificates\n");
	for (i = 0; i < s->ca_count; i++) {
		is_retiring = strcmp(s->ca[i].what, "retiring") == 0;
		printf("  %-12s %s, expires %s (%s %s)", s->ca[i].what,
		    s->ca[i].subject, date(s->ca[i].not_after, d, sizeof(d)),
		    s->ca[i].not_after >= now ? "in" : "EXPIRED",
		    span(s->ca[i].not_after - now, sp, sizeof(sp)));
		until = is_retiring && health != NULL ? retires_at(health) : 0;
		if (until > 0)
			printf(", retires %s (its last certificate's notAfter)",
			    date(until, r, sizeof(r)));
		printf("\n");
		/* The retiring CA signs only CRLs and OCSP answers for what
		 * it issued, none of which outlives it: its end is due. */
		if (!is_retiring)
			attention |= s->ca[i].not_after - now < 30 * 86400;
	}
	return attention;
}

static int
crls_print(const struct ca_status *s, int64_t now)
{
	char age[40], next[40];
	const struct ca_status_crl *c;
	int attention = 0;
	size_t i;

	printf("CRLs (%s/crl)\n", s->cfg->data_dir);
	if (s->crl_count == 0)
		printf("  none published yet\n");
	for (i = 0; i < s->crl_count; i++) {
		c = &s->crls[i];
		printf("  %-12s age %s, next update %s%s, %zu entr%s, %zu "
		       "bytes\n",
		    c->name, span(now - c->this_update, age, sizeof(age)),
		    c->next_update >= now ? "in " : "PASSED ",
		    span(c->next_update - now, next, sizeof(next)), c->entries,
		    c->entries == 1 ? "y" : "ies", c->bytes);
		attention |= c->next_update - now < STATUS_CRL_SLACK;
	}
	return attention;
}

/* tessera's own certificates close to expiry, as /healthz lists them. */
static int
expiring_print(json_t *health)
{
	json_t *list = json_object_get(health, "expiring"), *x;
	size_t i;

	if (!json_is_array(list))
		return 0;
	printf("Expiring within 30 days\n");
	if (json_array_size(list) == 0)
		printf("  none\n");
	json_array_foreach(list, i, x)
	{
		printf("  %-12s %s (serial %s), %lld days left\n",
		    jstr(x, "certificate"), jstr(x, "subject"),
		    jstr(x, "serial"),
		    (long long)json_integer_value(
		        json_object_get(x, "days_left")));
	}
	return json_array_size(list) > 0;
}

int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"server", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = NULL, *server = NULL;
	struct ca_status *s = NULL;
	json_t *health = NULL;
	int64_t now = (int64_t)time(NULL);
	enum status st;
	int c, attention = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 's':
			server = optarg;
			break;
		case 'h':
			usage(stdout);
			return STATUS_EXIT_OK;
		default:
			usage(stderr);
			return STATUS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return STATUS_EXIT_USAGE;
	}
	if ((st = ca_status_read(cli_data_dir(data), &s)) != ST_OK) {
		(void)cli_fail("status", st);
		return STATUS_EXIT_USAGE;
	}
	printf("tessera %s: %s\n", TESSERA_VERSION, s->cfg->data_dir);
	printf("  service      %s (listen %s)\n", s->cfg->url, s->cfg->listen);
	printf("  publication  %s (listen %s)\n", s->cfg->publish_url,
	    s->cfg->publish);
	attention |= server_print(s, server, &health);
	attention |= certs_print(s, health, now);
	attention |= crls_print(s, now);
	if (health != NULL)
		attention |= expiring_print(health);
	json_decref(health);
	ca_status_free(s);
	return attention ? STATUS_EXIT_ATTENTION : STATUS_EXIT_OK;
}
