/*
 * tessera admin: the admin API of a running tessera, over HTTPS with a
 * client certificate. Every decision is the server's; this file parses
 * arguments, sends calls and prints answers (tables, or the API's JSON).
 * The bulk commands (secrets import, revoke --from) are in admin_bulk.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/admin.h"
#include "cli/cli.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/secret.h"

#define ADMIN_CONFIG_DEFAULT ".config/tessera/admin.json"

static const char usage_text[] =
    "usage: tessera admin [CONNECTION] [--json] COMMAND ...\n"
    "\n"
    "Talks to a running tessera's admin API over HTTPS with a client\n"
    "certificate; the server decides what the certificate may do.\n"
    "\n"
    "connection (flag, else environment, else the configuration file):\n"
    "  --server URL    https://HOST:PORT         TESSERA_SERVER\n"
    "  --cert FILE     client certificate (PEM)  TESSERA_CERT\n"
    "  --key FILE      its private key (PEM)     TESSERA_KEY\n"
    "  --cacert FILE   CA for the server (PEM)   TESSERA_CACERT\n"
    "  --config FILE   JSON {\"server\", \"cert\", \"key\", \"cacert\"}\n"
    "                  (default ~/" ADMIN_CONFIG_DEFAULT "; relative paths\n"
    "                  in it are relative to its directory)\n"
    "  --json          print the API's JSON as is (one answer a line)\n"
    "\n"
    "commands:\n"
    "  certs list [--device ID] [--status valid|revoked] [--profile P]\n"
    "             [--expiring-before TIME] [--limit N] [--cursor C] "
    "[--all]\n"
    "  certs show SERIAL [--pem FILE|-]\n"
    "  revoke SERIAL [--reason R]         revoke one certificate\n"
    "  revoke --device ID [--reason R]    revoke a device's certificates, "
    "block it\n"
    "  revoke --from FILE [--devices] [--reason R]\n"
    "                                     one serial (or device id) a line\n"
    "  devices show ID\n"
    "  devices revoke ID [--reason R]     (as revoke --device)\n"
    "  devices reinstate ID\n"
    "  secrets mint DEVICE [--profile P] [--ttl SECONDS] [--out FILE|-]\n"
    "  secrets list [--device ID] [--minter M] [--profile P] [--any]\n"
    "               [--limit N] [--cursor C] [--all]\n"
    "  secrets cancel ID | --device ID [--minter M] | --minter M\n"
    "  secrets import FILE.csv --out FILE|- [--parallel N]\n"
    "                  CSV: device,profile,ttl; N connections (default 4)\n"
    "  audit [--since SEQ] [--limit N] [--follow] [--interval SECONDS]\n"
    "  revocations [--since SEQ] [--limit N]\n"
    "  token rotate                       a new device-token signing key\n"
    "\n"
    "exit status: 0 done; 1 usage; 2 refused by the server (its message\n"
    "is printed); 3 cannot connect, TLS failed or the answer is not the\n"
    "API's; 4 a local file is wrong (unreadable, bad rows, exists).\n";

/* Every option any admin command takes, and whether it has a value. */
static const struct {
	const char *name;
	int has_value;
} option_table[] = {
    {"--server", 1},
    {"--cert", 1},
    {"--key", 1},
    {"--cacert", 1},
    {"--config", 1},
    {"--json", 0},
    {"--device", 1},
    {"--status", 1},
    {"--profile", 1},
    {"--expiring-before", 1},
    {"--limit", 1},
    {"--cursor", 1},
    {"--all", 0},
    {"--pem", 1},
    {"--reason", 1},
    {"--from", 1},
    {"--devices", 0},
    {"--ttl", 1},
    {"--out", 1},
    {"--minter", 1},
    {"--any", 0},
    {"--since", 1},
    {"--follow", 0},
    {"--interval", 1},
    {"--parallel", 1},
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))

_Static_assert(OPTION_COUNT <= ADMIN_OPTION_MAX, "admin options");

static int
option_index(const char *name)
{
	size_t i;

	for (i = 0; i < OPTION_COUNT; i++)
		if (strcmp(option_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *
admin_opt(const struct admin_args *a, const char *name)
{
	int i = option_index(name);

	return i < 0 ? NULL : a->value[i];
}

int
admin_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tessera admin: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(tessera admin --help lists the commands)\n");
	return ADMIN_EXIT_USAGE;
}

/* Options anywhere on the line; positionals in order. */
static int
args_parse(int argc, char **argv, struct admin_args *a)
{
	int i, k;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-") != 0 && argv[i][0] == '-') {
			if ((k = option_index(argv[i])) < 0)
				return admin_usage_error(
				    "unknown option %s", argv[i]);
			if (a->value[k] != NULL)
				return admin_usage_error(
				    "%s given twice", argv[i]);
			if (!option_table[k].has_value) {
				a->value[k] = "";
				continue;
			}
			if (i + 1 >= argc)
				return admin_usage_error(
				    "%s needs a value", argv[i]);
			a->value[k] = argv[++i];
			continue;
		}
		if (a->pos_count == ADMIN_ARGS_MAX)
			return admin_usage_error("too many arguments");
		a->pos[a->pos_count++] = argv[i];
	}
	return ADMIN_EXIT_OK;
}

/* Only the options in allowed (and the connection's) may be given. */
static int
args_allow(const struct admin_args *a, const char *cmd, const char *allowed)
{
	static const char *const common[] = {
	    "--server", "--cert", "--key", "--cacert", "--config", "--json"};
	size_t i, j, n;
	const char *p;
	int ok;

	for (i = 0; i < OPTION_COUNT; i++) {
		if (a->value[i] == NULL)
			continue;
		ok = 0;
		for (j = 0; j < sizeof(common) / sizeof(common[0]); j++)
			ok |= strcmp(common[j], option_table[i].name) == 0;
		n = strlen(option_table[i].name);
		for (p = strstr(allowed, option_table[i].name); !ok && p;
		     p = strstr(p + 1, option_table[i].name))
			ok = p[n] == '\0' || p[n] == ' ';
		if (!ok) {
			fprintf(stderr, "tessera admin: %s does not take %s\n",
			    cmd, option_table[i].name);
			return ADMIN_EXIT_USAGE;
		}
	}
	return ADMIN_EXIT_OK;
}

/* path resolved against dir (the configuration file's) unless absolute. */
static char *
config_path(const char *dir, const char *path)
{
	return path[0] == '/' || dir == NULL ? strdup(path)
	                                     : file_join(dir, path);
}

/*
 * The connection settings: each from its flag, else its environment
 * variable, else the configuration file. Strings in *o are owned by
 * held (freed by the caller with free, one by one).
 */
static int
connection_settings(
    const struct admin_args *a, struct https_options *o, char *held[4])
{
	static const char *const keys[4] = {"server", "cert", "key", "cacert"};
	static const char *const envs[4] = {
	    "TESSERA_SERVER", "TESSERA_CERT", "TESSERA_KEY", "TESSERA_CACERT"};
	static const char *const flags[4] = {
	    "--server", "--cert", "--key", "--cacert"};
	const char *cfg = admin_opt(a, "--config"), *home, *v, *k;
	char *def = NULL, *dir = NULL, *slash;
	uint8_t *text = NULL;
	size_t len, i;
	json_t *root = NULL, *x;
	json_error_t err;
	int rc = ADMIN_EXIT_LOCAL;
	enum status st;

	if (cfg == NULL && (home = getenv("HOME")) != NULL &&
	    (def = file_join(home, ADMIN_CONFIG_DEFAULT)) != NULL &&
	    file_exists(def))
		cfg = def;
	if (cfg != NULL) {
		if ((st = file_read(cfg, LIMIT_ADMIN_CONFIG, &text, &len)) !=
		    ST_OK) {
			fprintf(stderr, "tessera admin: %s\n", status_detail());
			goto out;
		}
		root = json_loadb(
		    (const char *)text, len, JSON_REJECT_DUPLICATES, &err);
		if (root == NULL || !json_is_object(root)) {
			fprintf(stderr,
			    "tessera admin: %s: %s (line %d): expected a "
			    "JSON object\n",
			    cfg, root ? "not an object" : err.text, err.line);
			goto out;
		}
		json_object_foreach(root, k, x)
		{
			for (i = 0; i < 4 && strcmp(k, keys[i]) != 0; i++)
				;
			if (i == 4 || !json_is_string(x)) {
				fprintf(stderr,
				    "tessera admin: %s: key \"%.64s\": %s\n",
				    cfg, k,
				    i == 4 ? "unknown (server, cert, key, "
				             "cacert)"
				           : "must be a string");
				goto out;
			}
		}
		if ((dir = strdup(cfg)) == NULL)
			goto out;
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		else {
			free(dir);
			dir = NULL;
		}
	}
	for (i = 0; i < 4; i++) {
		if ((v = admin_opt(a, flags[i])) != NULL)
			held[i] = strdup(v);
		else if ((v = getenv(envs[i])) != NULL && v[0] != '\0')
			held[i] = strdup(v);
		else if (root != NULL &&
		    (v = json_string_value(json_object_get(root, keys[i]))) !=
		        NULL)
			held[i] = i == 0 ? strdup(v) : config_path(dir, v);
		else {
			fprintf(stderr,
			    "tessera admin: no %s: give %s, set %s or "
			    "write \"%s\" in %s\n",
			    keys[i], flags[i], envs[i], keys[i],
			    cfg ? cfg : "~/" ADMIN_CONFIG_DEFAULT);
			rc = ADMIN_EXIT_USAGE;
			goto out;
		}
		if (held[i] == NULL)
			goto out;
	}
	/* The admin API is HTTPS only: never a plain URL. */
	memset(o, 0, sizeof(*o));
	o->url = held[0];
	o->cert = held[1];
	o->key = held[2];
	o->cacert = held[3];
	rc = ADMIN_EXIT_OK;
out:
	json_decref(root);
	free(text);
	free(def);
	free(dir);
	return rc;
}

enum status
admin_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	enum status st = ST_OK;

	for (; *s != '\0' && st == ST_OK; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~:", ch) != NULL)
			st = buf_append(b, s, 1);
		else
			st =
			    buf_printf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
	return st;
}

/* Print the server's refusal: {"error", "detail"} or the raw text. */
static void
print_refusal(int code, const struct buf *body)
{
	json_t *o = json_loadb(
	    (const char *)body->data, body->len, JSON_DISABLE_EOF_CHECK, NULL);
	const char *err = json_string_value(json_object_get(o, "error"));
	const char *detail = json_string_value(json_object_get(o, "detail"));
	int n = (int)(body->len > 300 ? 300 : body->len);

	if (detail != NULL)
		fprintf(stderr, "tessera admin: refused (%d %s): %s\n", code,
		    err ? err : "", detail);
	else
		fprintf(stderr, "tessera admin: refused (%d): %.*s\n", code, n,
		    body->len ? (const char *)body->data : "");
	json_decref(o);
}

int
admin_call(struct admin *ad, const char *method, const char *path,
    const char *json, json_t **out, struct buf *raw)
{
	struct buf body;
	json_error_t err;
	int code = 0, rc = ADMIN_EXIT_CONNECT;
	enum status st;

	*out = NULL;
	buf_init(&body, LIMIT_HTTPS_BODY);
	if ((st = https_request(ad->https, method, path, json, &code, &body)) !=
	    ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		goto out;
	}
	if (code >= 300) {
		if (code != 409 || !ad->is_quiet_conflict)
			print_refusal(code, &body);
		rc = ADMIN_EXIT_REFUSED;
		ad->last_code = code;
		goto out;
	}
	ad->last_code = code;
	if ((*out = json_loadb((const char *)body.data, body.len,
	         JSON_REJECT_DUPLICATES, &err)) == NULL ||
	    !json_is_object(*out)) {
		fprintf(stderr,
		    "tessera admin: %s %s: the answer (%d) is not a JSON "
		    "object\n",
		    method, path, code);
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	if (raw != NULL) {
		*raw = body;
		buf_init(&body, LIMIT_HTTPS_BODY);
	}
	rc = ADMIN_EXIT_OK;
out:
	buf_free(&body);
	return rc;
}

/* Print the raw API answer for --json. */
static void
print_raw(const struct buf *raw)
{
	fwrite(raw->data, 1, raw->len, stdout);
	if (raw->len == 0 || raw->data[raw->len - 1] != '\n')
		putchar('\n');
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	return "-";
}

/* A GET with a built path; prints the raw JSON when asked. */
static int
get_json(struct admin *ad, struct buf *path, json_t **out)
{
	struct buf raw;
	int rc;

	buf_init(&raw, LIMIT_HTTPS_BODY);
	if (buf_terminate(path) != ST_OK) {
		*out = NULL;
		return ADMIN_EXIT_LOCAL;
	}
	rc = admin_call(ad, "GET", (const char *)path->data, NULL, out, &raw);
	if (rc == ADMIN_EXIT_OK && ad->is_json)
		print_raw(&raw);
	buf_free(&raw);
	return rc;
}

/* Append "&name=value" (or "?name=...") when value is set. */
static enum status
query_add(struct buf *b, const char *name, const char *value)
{
	enum status st;

	if (value == NULL)
		return ST_OK;
	if ((st = buf_printf(b, "%c%s=",
	         memchr(b->data, '?', b->len) ? '&' : '?', name)) != ST_OK)
		return st;
	return admin_escape(b, value);
}

static void
print_cert_row(json_t *c)
{
	printf("%-40s %-24s %-10s %-8s %s\n", jstr(c, "serial"),
	    jstr(c, "device"), jstr(c, "profile"), jstr(c, "status"),
	    jstr(c, "not_after"));
}

static int
certs_list(struct admin *ad, const struct admin_args *a)
{
	static const char *const map[][2] = {{"--device", "device"},
	    {"--status", "status"}, {"--profile", "profile"},
	    {"--expiring-before", "expiring_before"}, {"--limit", "limit"}};
	const char *cursor = admin_opt(a, "--cursor");
	int all = admin_opt(a, "--all") != NULL, rc = ADMIN_EXIT_OK;
	size_t i, k, shown = 0;
	char *next = NULL;
	json_t *o = NULL, *v;
	struct buf p;

	if (!ad->is_json)
		printf("%-40s %-24s %-10s %-8s %s\n", "SERIAL", "DEVICE",
		    "PROFILE", "STATUS", "NOT_AFTER");
	do {
		buf_init(&p, 4096);
		if (buf_printf(&p, "/api/v1/certificates") != ST_OK)
			rc = ADMIN_EXIT_LOCAL;
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (query_add(&p, map[i][1], admin_opt(a, map[i][0])) !=
			    ST_OK)
				rc = ADMIN_EXIT_LOCAL;
		if (query_add(&p, "cursor", next ? next : cursor) != ST_OK)
			rc = ADMIN_EXIT_LOCAL;
		if (rc == ADMIN_EXIT_OK)
			rc = get_json(ad, &p, &o);
		buf_free(&p);
		free(next);
		next = NULL;
		if (rc != ADMIN_EXIT_OK)
			break;
		json_array_foreach(json_object_get(o, "certificates"), k, v)
		{
			if (!ad->is_json)
				print_cert_row(v);
			shown++;
		}
		v = json_object_get(o, "next_cursor");
		if (json_is_string(v)) {
			if ((next = strdup(json_string_value(v))) == NULL)
				rc = ADMIN_EXIT_LOCAL;
			else if (!all && !ad->is_json)
				fprintf(stderr,
				    "more: --cursor %s (or --all)\n", next);
		}
		json_decref(o);
		o = NULL;
	} while (rc == ADMIN_EXIT_OK && all && next != NULL);
	free(next);
	if (rc == ADMIN_EXIT_OK && !ad->is_json)
		fprintf(stderr, "%zu certificate%s\n", shown,
		    shown == 1 ? "" : "s");
	return rc;
}

/* Write data to path (0600 when a file; "-" is standard output). */
static int
output_write(const char *path, const char *data, size_t len, mode_t mode)
{
	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return ADMIN_EXIT_LOCAL;
		return ADMIN_EXIT_OK;
	}
	if (file_write_new(path, data, len, mode) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		return ADMIN_EXIT_LOCAL;
	}
	return ADMIN_EXIT_OK;
}

static int
certs_show(struct admin *ad, const struct admin_args *a)
{
	const char *pem = admin_opt(a, "--pem"), *text;
	json_t *o = NULL;
	struct buf p;
	int rc;

	if (a->pos_count != 3)
		return admin_usage_error("certs show takes one SERIAL");
	buf_init(&p, 1024);
	if (buf_printf(&p, "/api/v1/certificates/") != ST_OK ||
	    admin_escape(&p, a->pos[2]) != ST_OK) {
		buf_free(&p);
		return ADMIN_EXIT_LOCAL;
	}
	/* With --pem - the PEM is the output: no JSON beside it. */
	if (pem != NULL && strcmp(pem, "-") == 0)
		ad->is_json = 0;
	rc = get_json(ad, &p, &o);
	buf_free(&p);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	if (!ad->is_json && pem == NULL) {
		printf("serial      %s\ndevice      %s\nprofile     %s\n"
		       "subject     %s\nstatus      %s\nnot_before  %s\n"
		       "not_after   %s\n",
		    jstr(o, "serial"), jstr(o, "device"), jstr(o, "profile"),
		    jstr(o, "subject"), jstr(o, "status"),
		    jstr(o, "not_before"), jstr(o, "not_after"));
		if (json_object_get(o, "revoked_at") != NULL)
			printf("revoked_at  %s\nreason      %s\n",
			    jstr(o, "revoked_at"), jstr(o, "reason"));
	}
	if (pem != NULL) {
		text = json_string_value(json_object_get(o, "pem"));
		if (text == NULL) {
			fprintf(stderr,
			    "tessera admin: the answer has no "
			    "PEM\n");
			rc = ADMIN_EXIT_CONNECT;
		} else {
			rc = output_write(pem, text, strlen(text), 0644);
		}
	}
	json_decref(o);
	return rc;
}

/* {"reason": R} or {} as a new string; NULL on no memory. */
char *
admin_reason_body(const char *reason)
{
	json_t *o =
	    reason ? json_pack("{s:s}", "reason", reason) : json_object();
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* POST path with body; prints the answer (raw or through show). */
static int
post_print(struct admin *ad, const char *path, const char *body,
    void (*show)(json_t *))
{
	struct buf raw;
	json_t *o = NULL;
	int rc;

	buf_init(&raw, LIMIT_HTTPS_BODY);
	rc = admin_call(ad, "POST", path, body, &o, &raw);
	if (rc == ADMIN_EXIT_OK) {
		if (ad->is_json)
			print_raw(&raw);
		else
			show(o);
	}
	json_decref(o);
	buf_free(&raw);
	return rc;
}

static void
show_cert_revoked(json_t *o)
{
	printf("revoked %s (device %s, reason %s, at %s)\n", jstr(o, "serial"),
	    jstr(o, "device"), jstr(o, "reason"), jstr(o, "revoked_at"));
}

static void
show_device_revoked(json_t *o)
{
	printf("device %s blocked, %lld certificate(s) revoked\n",
	    jstr(o, "device"),
	    (long long)json_integer_value(json_object_get(o, "revoked")));
}

static void
show_device_status(json_t *o)
{
	printf("device %s %s\n", jstr(o, "device"), jstr(o, "status"));
}

/* POST /api/v1/<collection>/<id>/<action> with body. */
static int
post_id(struct admin *ad, const char *collection, const char *id,
    const char *action, const char *body, void (*show)(json_t *))
{
	struct buf p;
	int rc = ADMIN_EXIT_LOCAL;

	buf_init(&p, 1024);
	if (buf_printf(&p, "/api/v1/%s/", collection) == ST_OK &&
	    admin_escape(&p, id) == ST_OK &&
	    buf_printf(&p, "/%s", action) == ST_OK &&
	    buf_terminate(&p) == ST_OK)
		rc = post_print(ad, (const char *)p.data, body, show);
	buf_free(&p);
	return rc;
}

static int
cmd_revoke_one(struct admin *ad, const struct admin_args *a)
{
	const char *device = admin_opt(a, "--device");
	char *body;
	int rc;

	if (admin_opt(a, "--from") != NULL)
		return admin_bulk_revoke(ad, a);
	if ((device == NULL) == (a->pos_count != 2))
		return admin_usage_error(
		    "revoke takes one SERIAL, --device ID or --from FILE%s",
		    "");
	if ((body = admin_reason_body(admin_opt(a, "--reason"))) == NULL)
		return ADMIN_EXIT_LOCAL;
	if (device != NULL)
		rc = post_id(
		    ad, "devices", device, "revoke", body, show_device_revoked);
	else
		rc = post_id(ad, "certificates", a->pos[1], "revoke", body,
		    show_cert_revoked);
	free(body);
	return rc;
}

static int
devices_cmd(struct admin *ad, const struct admin_args *a)
{
	const char *verb = a->pos_count > 1 ? a->pos[1] : "";
	json_t *o = NULL;
	struct buf p;
	char *body;
	int rc;

	if (a->pos_count != 3)
		return admin_usage_error(
		    "devices show|revoke|reinstate takes one ID");
	if (strcmp(verb, "revoke") == 0) {
		if ((body = admin_reason_body(admin_opt(a, "--reason"))) ==
		    NULL)
			return ADMIN_EXIT_LOCAL;
		rc = post_id(ad, "devices", a->pos[2], "revoke", body,
		    show_device_revoked);
		free(body);
		return rc;
	}
	if (strcmp(verb, "reinstate") == 0)
		return post_id(ad, "devices", a->pos[2], "reinstate", "{}",
		    show_device_status);
	if (strcmp(verb, "show") != 0)
		return admin_usage_error("devices: no such command %s", verb);
	buf_init(&p, 1024);
	if (buf_printf(&p, "/api/v1/devices/") != ST_OK ||
	    admin_escape(&p, a->pos[2]) != ST_OK) {
		buf_free(&p);
		return ADMIN_EXIT_LOCAL;
	}
	rc = get_json(ad, &p, &o);
	buf_free(&p);
	if (rc == ADMIN_EXIT_OK && !ad->is_json)
		printf("device         %s\nstatus         %s\n"
		       "certificates   %lld (%lld valid)\nfamily         %s\n"
		       "authenticator  %s\ncreated        %s\n"
		       "updated        %s\n",
		    jstr(o, "device"), jstr(o, "status"),
		    (long long)json_integer_value(
		        json_object_get(o, "certificates")),
		    (long long)json_integer_value(json_object_get(o, "valid")),
		    jstr(o, "family"), jstr(o, "authenticator"),
		    jstr(o, "created"), jstr(o, "updated"));
	json_decref(o);
	return rc;
}

enum status
admin_secret_body(
    const char *device, const char *profile, const char *ttl, char **out)
{
	json_t *o = json_pack("{s:s}", "device", device);
	char *end;
	long long n;

	*out = NULL;
	if (o == NULL)
		return ST_NOMEM;
	if (profile != NULL && profile[0] != '\0')
		json_object_set_new(o, "profile", json_string(profile));
	if (ttl != NULL && ttl[0] != '\0') {
		errno = 0;
		n = strtoll(ttl, &end, 10);
		if (errno != 0 || end == ttl || *end != '\0' || n < 1) {
			json_decref(o);
			return status_fail(ST_MALFORMED,
			    "ttl \"%.32s\": a positive number of seconds", ttl);
		}
		json_object_set_new(o, "ttl", json_integer((json_int_t)n));
	}
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out ? ST_OK : ST_NOMEM;
}

void
admin_json_wipe(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	/* jansson keeps the string; overwrite it before it is freed. */
	if (json_is_string(v))
		OPENSSL_cleanse(
		    (char *)json_string_value(v), json_string_length(v));
}

static int
secrets_mint(struct admin *ad, const struct admin_args *a)
{
	const char *out = admin_opt(a, "--out"), *secret;
	struct buf raw, line;
	char *body = NULL;
	json_t *o = NULL;
	int rc;

	if (a->pos_count != 3)
		return admin_usage_error("secrets mint takes one DEVICE");
	if (admin_secret_body(a->pos[2], admin_opt(a, "--profile"),
	        admin_opt(a, "--ttl"), &body) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		return ADMIN_EXIT_USAGE;
	}
	buf_init(&raw, LIMIT_HTTPS_BODY);
	buf_init(&line, 4096);
	rc = admin_call(
	    ad, "POST", "/api/v1/enrollment-secrets", body, &o, &raw);
	if (rc != ADMIN_EXIT_OK)
		goto out;
	secret = json_string_value(json_object_get(o, "secret"));
	if (secret == NULL) {
		fprintf(stderr, "tessera admin: the answer has no secret\n");
		rc = ADMIN_EXIT_CONNECT;
		goto out;
	}
	/* The secret goes to the requested output only: stdout or 0600. */
	if (ad->is_json)
		rc = output_write(
		    out ? out : "-", (const char *)raw.data, raw.len, 0600);
	else if (buf_printf(&line, "%s\n", secret) != ST_OK)
		rc = ADMIN_EXIT_LOCAL;
	else
		rc = output_write(
		    out ? out : "-", (const char *)line.data, line.len, 0600);
	if (rc == ADMIN_EXIT_OK)
		fprintf(stderr, "secret for %s (profile %s), expires %s%s%s\n",
		    jstr(o, "device"), jstr(o, "profile"), jstr(o, "expires"),
		    out && strcmp(out, "-") ? ", written to " : "",
		    out && strcmp(out, "-") ? out : "");
out:
	admin_json_wipe(o, "secret");
	json_decref(o);
	buf_free(&raw);
	buf_free(&line);
	free(body);
	return rc;
}

static int
secrets_list(struct admin *ad, const struct admin_args *a)
{
	static const char *const map[][2] = {{"--device", "device"},
	    {"--minter", "minter"}, {"--profile", "profile"},
	    {"--limit", "limit"}};
	const char *cursor = admin_opt(a, "--cursor");
	int all = admin_opt(a, "--all") != NULL, rc = ADMIN_EXIT_OK;
	char next[32] = "";
	size_t i, k, shown = 0;
	json_t *o = NULL, *v, *m;
	struct buf p;

	if (!ad->is_json)
		printf("%-8s %-24s %-10s %-11s %-34s %s\n", "ID", "DEVICE",
		    "PROFILE", "STATUS", "MINTER", "EXPIRES");
	do {
		buf_init(&p, 4096);
		if (buf_printf(&p, "/api/v1/enrollment-secrets") != ST_OK ||
		    query_add(&p, "status",
		        admin_opt(a, "--any") ? "any" : NULL) != ST_OK ||
		    query_add(&p, "cursor", next[0] ? next : cursor) != ST_OK)
			rc = ADMIN_EXIT_LOCAL;
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (query_add(&p, map[i][1], admin_opt(a, map[i][0])) !=
			    ST_OK)
				rc = ADMIN_EXIT_LOCAL;
		if (rc == ADMIN_EXIT_OK)
			rc = get_json(ad, &p, &o);
		buf_free(&p);
		next[0] = '\0';
		if (rc != ADMIN_EXIT_OK)
			break;
		json_array_foreach(json_object_get(o, "secrets"), k, v)
		{
			m = json_object_get(v, "minter");
			if (!ad->is_json)
				printf("%-8lld %-24s %-10s %-11s %-34s %s\n",
				    (long long)json_integer_value(
				        json_object_get(v, "id")),
				    jstr(v, "device"), jstr(v, "profile"),
				    jstr(v, "status"),
				    json_is_object(m)
				        ? (json_is_string(
				               json_object_get(m, "serial"))
				                  ? jstr(m, "serial")
				                  : jstr(m, "kind"))
				        : "-",
				    jstr(v, "expires"));
			shown++;
		}
		v = json_object_get(o, "next_cursor");
		if (json_is_integer(v)) {
			snprintf(next, sizeof(next), "%lld",
			    (long long)json_integer_value(v));
			if (!all && !ad->is_json)
				fprintf(stderr,
				    "more: --cursor %s (or --all)\n", next);
		}
		json_decref(o);
		o = NULL;
	} while (all && next[0] != '\0');
	if (rc == ADMIN_EXIT_OK && !ad->is_json)
		fprintf(stderr, "%zu secret%s\n", shown, shown == 1 ? "" : "s");
	return rc;
}

static void
show_cancelled(json_t *o)
{
	json_t *n = json_object_get(o, "cancelled");

	if (json_is_integer(n))
		printf("%lld secret(s) cancelled\n",
		    (long long)json_integer_value(n));
	else
		printf("secret %lld cancelled\n",
		    (long long)json_integer_value(json_object_get(o, "id")));
}

static int
secrets_cancel(struct admin *ad, const struct admin_args *a)
{
	const char *device = admin_opt(a, "--device");
	const char *minter = admin_opt(a, "--minter");
	json_t *o;
	char *body;
	int rc;

	if (a->pos_count == 3 && device == NULL && minter == NULL)
		return post_id(ad, "enrollment-secrets", a->pos[2], "cancel",
		    "{}", show_cancelled);
	if (a->pos_count != 2 || (device == NULL && minter == NULL))
		return admin_usage_error(
		    "secrets cancel takes one ID, or --device and/or "
		    "--minter");
	if ((o = json_object()) == NULL)
		return ADMIN_EXIT_LOCAL;
	if (device != NULL)
		json_object_set_new(o, "device", json_string(device));
	if (minter != NULL)
		json_object_set_new(o, "minter", json_string(minter));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (body == NULL)
		return ADMIN_EXIT_LOCAL;
	rc = post_print(
	    ad, "/api/v1/enrollment-secrets/cancel", body, show_cancelled);
	free(body);
	return rc;
}

/* audit and revocations: pages after a sequence number, or follow. */
static int
since_cmd(struct admin *ad, const struct admin_args *a, int is_audit)
{
	const char *since = admin_opt(a, "--since");
	const char *iv = admin_opt(a, "--interval");
	int follow = is_audit && admin_opt(a, "--follow") != NULL;
	long long seq = 0, interval = 2;
	char num[32], *end;
	size_t k, count;
	json_t *o = NULL, *v, *e;
	struct buf p;
	int rc;

	if (a->pos_count != 1)
		return admin_usage_error(
		    "%s takes no argument", is_audit ? "audit" : "revocations");
	if (since != NULL) {
		errno = 0;
		seq = strtoll(since, &end, 10);
		if (errno != 0 || end == since || *end != '\0' || seq < 0)
			return admin_usage_error(
			    "--since %s: a sequence number", since);
	}
	if (iv != NULL) {
		errno = 0;
		interval = strtoll(iv, &end, 10);
		if (errno != 0 || end == iv || *end != '\0' || interval < 1 ||
		    interval > 3600)
			return admin_usage_error(
			    "--interval %s: 1..3600 seconds", iv);
	}
	if (!ad->is_json && is_audit)
		printf("%-8s %-20s %-22s %-30s %s\n", "SEQ", "TIME", "ACTION",
		    "OBJECT", "ACTOR / DETAIL");
	else if (!ad->is_json)
		printf("%-8s %-40s %-24s %-20s %s\n", "SEQ", "SERIAL", "DEVICE",
		    "REASON", "TIME");
	for (;;) {
		buf_init(&p, 1024);
		snprintf(num, sizeof(num), "%lld", seq);
		rc = buf_printf(&p, "/api/v1/%s",
		         is_audit ? "audit" : "revocations") != ST_OK ||
		        query_add(&p, "since", num) != ST_OK ||
		        query_add(&p, "limit", admin_opt(a, "--limit")) != ST_OK
		    ? ADMIN_EXIT_LOCAL
		    : ADMIN_EXIT_OK;
		/* Following: empty pages are not printed, even as JSON. */
		if (rc == ADMIN_EXIT_OK) {
			int was_json = ad->is_json;

			ad->is_json = 0;
			rc = get_json(ad, &p, &o);
			ad->is_json = was_json;
		}
		buf_free(&p);
		if (rc != ADMIN_EXIT_OK)
			return rc;
		v = json_object_get(o, is_audit ? "entries" : "revocations");
		count = json_array_size(v);
		if (ad->is_json && (count > 0 || !follow)) {
			char *s = json_dumps(o, JSON_COMPACT);

			if (s != NULL)
				printf("%s\n", s);
			free(s);
		}
		json_array_foreach(v, k, e)
		{
			if (ad->is_json)
				break;
			if (is_audit)
				printf("%-8lld %-20s %-22s %-30s %s %s\n",
				    (long long)json_integer_value(
				        json_object_get(e, "seq")),
				    jstr(e, "time"), jstr(e, "action"),
				    jstr(e, "object"), jstr(e, "actor"),
				    jstr(e, "detail"));
			else
				printf("%-8lld %-40s %-24s %-20s %s\n",
				    (long long)json_integer_value(
				        json_object_get(e, "seq")),
				    jstr(e, "serial"), jstr(e, "device"),
				    jstr(e, "reason"), jstr(e, "time"));
		}
		seq = (long long)json_integer_value(
		    json_object_get(o, "last_seq"));
		json_decref(o);
		o = NULL;
		fflush(stdout);
		if (!follow)
			return ADMIN_EXIT_OK;
		/* A full page may have more behind it: ask again at once. */
		if (count == 0)
			sleep((unsigned)interval);
	}
}

static void
show_kid(json_t *o)
{
	printf("new token-signing key %s\n", jstr(o, "kid"));
}

int
cmd_admin(int argc, char **argv)
{
	struct admin_args a;
	struct https_options o;
	struct admin ad;
	char *held[4] = {NULL, NULL, NULL, NULL};
	const char *cmd, *sub;
	size_t i;
	int rc;

	for (i = 1; i < (size_t)argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return ADMIN_EXIT_OK;
		}
	/* A server that closed a kept connection must not kill us (EPIPE). */
	signal(SIGPIPE, SIG_IGN);
	if ((rc = args_parse(argc, argv, &a)) != ADMIN_EXIT_OK)
		return rc;
	if (a.pos_count == 0)
		return admin_usage_error("no command given");
	cmd = a.pos[0];
	sub = a.pos_count > 1 ? a.pos[1] : "";
	/* Check the command line before any connection is made. */
	if (strcmp(cmd, "certs") == 0 && strcmp(sub, "list") == 0)
		rc = args_allow(&a, "certs list",
		    "--device --status --profile --expiring-before --limit "
		    "--cursor --all");
	else if (strcmp(cmd, "certs") == 0 && strcmp(sub, "show") == 0)
		rc = args_allow(&a, "certs show", "--pem");
	else if (strcmp(cmd, "revoke") == 0)
		rc = args_allow(
		    &a, "revoke", "--device --reason --from --devices");
	else if (strcmp(cmd, "devices") == 0)
		rc = args_allow(&a, "devices", "--reason");
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "mint") == 0)
		rc = args_allow(&a, "secrets mint", "--profile --ttl --out");
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "list") == 0)
		rc = args_allow(&a, "secrets list",
		    "--device --minter --profile --any --limit --cursor --all");
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "cancel") == 0)
		rc = args_allow(&a, "secrets cancel", "--device --minter");
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "import") == 0)
		rc = args_allow(&a, "secrets import", "--out --parallel");
	else if (strcmp(cmd, "audit") == 0)
		rc = args_allow(
		    &a, "audit", "--since --limit --follow --interval");
	else if (strcmp(cmd, "revocations") == 0)
		rc = args_allow(&a, "revocations", "--since --limit");
	else if (strcmp(cmd, "token") == 0 && strcmp(sub, "rotate") == 0 &&
	    a.pos_count == 2)
		rc = args_allow(&a, "token rotate", "");
	else
		return admin_usage_error("no such command: %s", cmd);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	memset(&ad, 0, sizeof(ad));
	ad.is_json = admin_opt(&a, "--json") != NULL;
	if ((rc = connection_settings(&a, &o, held)) != ADMIN_EXIT_OK)
		goto out;
	ad.opts = &o;
	if (https_client_new(&o, &ad.https) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		rc = status_detail()[0] != '\0' &&
		        strncmp(status_detail(), "server URL", 10) == 0
		    ? ADMIN_EXIT_USAGE
		    : ADMIN_EXIT_CONNECT;
		goto out;
	}
	if (strcmp(cmd, "certs") == 0)
		rc = strcmp(sub, "list") == 0 ? certs_list(&ad, &a)
		                              : certs_show(&ad, &a);
	else if (strcmp(cmd, "revoke") == 0)
		rc = cmd_revoke_one(&ad, &a);
	else if (strcmp(cmd, "devices") == 0)
		rc = devices_cmd(&ad, &a);
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "mint") == 0)
		rc = secrets_mint(&ad, &a);
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "list") == 0)
		rc = secrets_list(&ad, &a);
	else if (strcmp(cmd, "secrets") == 0 && strcmp(sub, "cancel") == 0)
		rc = secrets_cancel(&ad, &a);
	else if (strcmp(cmd, "secrets") == 0)
		rc = admin_secrets_import(&ad, &a);
	else if (strcmp(cmd, "audit") == 0 || strcmp(cmd, "revocations") == 0)
		rc = since_cmd(&ad, &a, strcmp(cmd, "audit") == 0);
	else
		rc = post_print(&ad, "/api/v1/token-keys", "{}", show_kid);
out:
	https_client_free(ad.https);
	for (i = 0; i < 4; i++)
		free(held[i]);
	return rc;
}
