#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/config.h"
#include "ca/jsonread.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"

#define CONFIG_FILE "tessera.json"
/* RFC 1035 §2.3.4 */
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
/* A path or a PKCS#11 URI (RFC 7512) in tessera.json. */
#define CONFIG_VALUE_MAX 4096

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

/*
 * A DNS name tessera's server may carry: RFC 1123 §2.1 labels (letters,
 * digits, hyphens; not starting or ending with a hyphen), no wildcard, not
 * an IPv4 literal. Folded to lower case into out.
 */
static enum status
dns_check(const char *name, char *out, size_t cap)
{
	unsigned char ip[16];
	size_t i, n = strlen(name), label = 0;

	if (n == 0 || n > DNS_NAME_MAX || n >= cap)
		return status_fail(ST_MALFORMED,
		    "DNS name \"%.64s\": 1 to %d characters (RFC 1035 "
		    "§2.3.4)",
		    name, DNS_NAME_MAX);
	if (strchr(name, '*') != NULL)
		return status_fail(ST_MALFORMED,
		    "DNS name \"%.64s\": no wildcard names for tessera's "
		    "server; give each name",
		    name);
	if (inet_pton(AF_INET, name, ip) == 1)
		return status_fail(ST_MALFORMED,
		    "DNS name \"%.64s\" is an IP address; give it with --ip",
		    name);
	for (i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX)
				return status_fail(ST_MALFORMED,
				    "DNS name \"%.64s\": every label is 1 to "
				    "%d characters (RFC 1035 §2.3.4)",
				    name, DNS_LABEL_MAX);
			if (name[i - 1] == '-')
				return status_fail(ST_MALFORMED,
				    "DNS name \"%.64s\": a label ends with "
				    "'-' (RFC 1123 §2.1)",
				    name);
			label = 0;
			out[i] = (char)c;
			continue;
		}
		if (label == 0 && c == '-')
			return status_fail(ST_MALFORMED,
			    "DNS name \"%.64s\": a label starts with '-' (RFC "
			    "1123 §2.1)",
			    name);
		if (!isalnum(c) && c != '-')
			return status_fail(ST_MALFORMED,
			    "DNS name \"%.64s\": character 0x%02x at %zu; "
			    "letters, digits, '-' and '.' only (RFC 1123 "
			    "§2.1)",
			    name, c, i + 1);
		label++;
		out[i] = (char)tolower(c);
	}
	return ST_OK;
}

/* An IP address: IPv4 or IPv6, not unspecified; canonical into out. */
static enum status
ip_check(const char *addr, char *out, size_t cap)
{
	unsigned char ip[16];
	static const unsigned char zero[16];
	int af = AF_INET;

	if (inet_pton(AF_INET, addr, ip) != 1) {
		af = AF_INET6;
		if (inet_pton(AF_INET6, addr, ip) != 1)
			return status_fail(ST_MALFORMED,
			    "IP address \"%.64s\" is neither IPv4 nor IPv6 "
			    "(write IPv6 without brackets)",
			    addr);
	}
	if (memcmp(ip, zero, af == AF_INET ? 4 : 16) == 0)
		return status_fail(ST_MALFORMED,
		    "IP address \"%.64s\" is unspecified; name the address "
		    "clients connect to",
		    addr);
	if (inet_ntop(af, ip, out, (socklen_t)cap) == NULL)
		return status_fail(ST_INTERNAL, "inet_ntop");
	return ST_OK;
}

/* Add a checked copy of name to list unless it is there already. */
static enum status
name_add(char **list, size_t *count, const char *name, int is_ip)
{
	char canon[DNS_NAME_MAX + 1];
	size_t i;
	enum status st;

	st = is_ip ? ip_check(name, canon, sizeof(canon))
	           : dns_check(name, canon, sizeof(canon));
	if (st != ST_OK)
		return st;
	for (i = 0; i < *count; i++)
		if (strcmp(list[i], canon) == 0)
			return ST_OK;
	if (*count == LIMIT_SERVER_NAMES)
		return status_fail(ST_LIMIT,
		    "more than %d %s for tessera's server", LIMIT_SERVER_NAMES,
		    is_ip ? "IP addresses" : "DNS names");
	if ((list[*count] = strdup(canon)) == NULL)
		return ST_NOMEM;
	(*count)++;
	return ST_OK;
}

void
ca_config_names_clear(struct ca_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->dns_count; i++)
		free(cfg->dns[i]);
	for (i = 0; i < cfg->ip_count; i++)
		free(cfg->ip[i]);
	cfg->dns_count = cfg->ip_count = 0;
}

enum status
ca_config_names_set(struct ca_config *cfg, const char *const *dns,
    size_t dns_count, const char *const *ip, size_t ip_count)
{
	static const char *const def_dns[] = {"localhost"};
	static const char *const def_ip[] = {"127.0.0.1"};
	struct ca_config next;
	char host[DNS_NAME_MAX + 1], why[256];
	unsigned char bin[16];
	size_t i;
	enum status st = ST_OK;

	memset(&next, 0, sizeof(next));
	if (dns_count == 0 && ip_count == 0) {
		dns = def_dns;
		dns_count = 1;
		ip = def_ip;
		ip_count = 1;
	}
	for (i = 0; st == ST_OK && i < dns_count; i++)
		st = name_add(next.dns, &next.dns_count, dns[i], 0);
	for (i = 0; st == ST_OK && i < ip_count; i++)
		st = name_add(next.ip, &next.ip_count, ip[i], 1);
	/* Clients reach tessera by its URL: the name must be served. */
	ca_config_url_host(cfg->url, host, sizeof(host));
	if (st == ST_OK && host[0] != '\0') {
		int is_ip = inet_pton(AF_INET, host, bin) == 1 ||
		    inet_pton(AF_INET6, host, bin) == 1;

		if ((st = name_add(is_ip ? next.ip : next.dns,
		         is_ip ? &next.ip_count : &next.dns_count, host,
		         is_ip)) != ST_OK) {
			snprintf(why, sizeof(why), "%s", status_detail());
			st = status_fail(st, "the host of the URL %.100s: %s",
			    cfg->url, why);
		}
	}
	if (st != ST_OK) {
		ca_config_names_clear(&next);
		return st;
	}
	ca_config_names_clear(cfg);
	memcpy(cfg->dns, next.dns, sizeof(cfg->dns));
	memcpy(cfg->ip, next.ip, sizeof(cfg->ip));
	cfg->dns_count = next.dns_count;
	cfg->ip_count = next.ip_count;
	return ST_OK;
}

char *
ca_config_san(const struct ca_config *cfg)
{
	size_t i, len = 1, at = 0;
	char *s;

	if (cfg->dns_count + cfg->ip_count == 0)
		return NULL;
	for (i = 0; i < cfg->dns_count; i++)
		len += strlen(cfg->dns[i]) + 5;
	for (i = 0; i < cfg->ip_count; i++)
		len += strlen(cfg->ip[i]) + 4;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < cfg->dns_count; i++)
		at += (size_t)snprintf(s + at, len - at, "%sDNS:%s",
		    at > 0 ? "," : "", cfg->dns[i]);
	for (i = 0; i < cfg->ip_count; i++)
		at += (size_t)snprintf(
		    s + at, len - at, "%sIP:%s", at > 0 ? "," : "", cfg->ip[i]);
	return s;
}

void
ca_config_url_host(const char *url, char *out, size_t cap)
{
	const char *h = url != NULL ? strstr(url, "://") : NULL;
	size_t n;

	out[0] = '\0';
	if (h == NULL)
		return;
	h += 3;
	if (*h == '[')
		n = strcspn(++h, "]");
	else
		n = strcspn(h, ":/?#");
	snprintf(out, cap, "%.*s", (int)n, h);
}

/* The digits after the last ':' of s, up to end; 0 if none or bad. */
static int
port_parse(const char *s, size_t end)
{
	long port = 0;
	size_t i;

	if (end == 0 || !isdigit((unsigned char)s[0]) || end > 5)
		return 0;
	for (i = 0; i < end; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		port = port * 10 + (s[i] - '0');
	}
	return port > 0 && port <= 65535 ? (int)port : 0;
}

int
ca_config_url_port(const char *url)
{
	const char *h = url != NULL ? strstr(url, "://") : NULL;
	const char *p;
	int is_https;

	if (h == NULL)
		return 0;
	is_https = strncmp(url, "https://", 8) == 0;
	h += 3;
	if (*h == '[' && (h = strchr(h, ']')) == NULL)
		return 0;
	p = h + strcspn(h, ":/?#");
	if (*p != ':')
		return is_https ? 443 : 80;
	p++;
	return port_parse(p, strcspn(p, "/?#"));
}

/* The port of ADDR:PORT ([V6]:PORT); 0 if none. */
static int
listener_port(const char *listen)
{
	const char *c = listen != NULL ? strrchr(listen, ':') : NULL;

	return c == NULL ? 0 : port_parse(c + 1, strlen(c + 1));
}

void
ca_config_ports_check(
    const struct ca_config *cfg, const char *listen, const char *publish)
{
	int want, have;

	want = ca_config_url_port(cfg->url);
	have = listener_port(listen);
	if (want != have)
		log_warn("the TLS listener %s is not on the port of the URL "
		         "%s that clients are given (%d); fine only behind a "
		         "proxy that forwards it",
		    listen, cfg->url, want);
	want = ca_config_url_port(cfg->publish_url);
	have = listener_port(publish);
	if (want != have)
		log_warn("the publication listener %s is not on the port of "
		         "the publish URL %s written into certificates for "
		         "CRLs and OCSP (%d); fine only behind a proxy that "
		         "forwards it",
		    publish, cfg->publish_url, want);
}

/* The names of one list of "tls", as read. */
struct names_list {
	const char *name[LIMIT_SERVER_NAMES];
	size_t count;
};

static enum status
names_add(const struct jsonread *r, const char *at, const char *s, void *arg)
{
	struct names_list *l = arg;

	(void)r;
	(void)at;
	l->name[l->count++] = s;
	return ST_OK;
}

/* "tls": {"dns": [...], "ip": [...]}, checked as when they were set. */
static enum status
names_load(struct ca_config *cfg, const struct jsonread *r, json_t *tls)
{
	static const char *const keys[] = {"dns", "ip", NULL};
	struct names_list dns = {{NULL}, 0}, ip = {{NULL}, 0};
	char why[256];
	enum status st;

	if ((st = jsonread_keys_check(r, "$.tls", tls, keys)) != ST_OK ||
	    (st = jsonread_strings(r, "$.tls", tls, "dns", 0, 0,
	         LIMIT_SERVER_NAMES, names_add, &dns)) != ST_OK ||
	    (st = jsonread_strings(r, "$.tls", tls, "ip", 0, 0,
	         LIMIT_SERVER_NAMES, names_add, &ip)) != ST_OK)
		return st;
	if (dns.count + ip.count == 0)
		return jsonread_fail(r, "$.tls", "names no name");
	if (ca_config_names_set(cfg, dns.name, dns.count, ip.name, ip.count) !=
	    ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		return jsonread_fail(r, "$.tls", "%s", why);
	}
	return ST_OK;
}

/* A required (or optional) string member, a path or a PKCS#11 URI. */
static enum status
config_str(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, const char **out)
{
	return jsonread_str(r, path, obj, key, required, CONFIG_VALUE_MAX, out);
}

/*
 * "log": {"format": "text"|"json", "access": "stderr"|PATH,
 * "access_mode": "0600"|"0640"}.
 */
static enum status
log_load(struct ca_config *cfg, const struct jsonread *r, json_t *logs)
{
	static const char *const keys[] = {
	    "format", "access", "access_mode", NULL};
	const char *format = NULL, *access = NULL, *mode = NULL;
	enum log_format f = LOG_FORMAT_TEXT;
	enum status st;

	if ((st = jsonread_keys_check(r, "$.log", logs, keys)) != ST_OK ||
	    (st = config_str(r, "$.log", logs, "format", 0, &format)) !=
	        ST_OK ||
	    (st = config_str(r, "$.log", logs, "access", 0, &access)) !=
	        ST_OK ||
	    (st = config_str(r, "$.log", logs, "access_mode", 0, &mode)) !=
	        ST_OK)
		return st;
	if (format != NULL && log_format_parse(format, &f) != ST_OK)
		return jsonread_fail(
		    r, "$.log.format", "expected \"text\" or \"json\"");
	cfg->log_format = (int)f;
	if (mode != NULL) {
		if (strcmp(mode, "0600") != 0 && strcmp(mode, "0640") != 0)
			return jsonread_fail(r, "$.log.access_mode",
			    "expected \"0600\" or \"0640\"");
		cfg->access_log_mode = strcmp(mode, "0600") == 0 ? 0600 : 0640;
	}
	if (access != NULL) {
		if (access[0] == '\0')
			return jsonread_fail(r, "$.log.access",
			    "\"stderr\" or a file; leave it out for none");
		if ((cfg->access_log = strdup(access)) == NULL)
			return ST_NOMEM;
	}
	return ST_OK;
}

/* The "log" object as loaded, or NULL when everything is the default. */
static json_t *
log_json(const struct ca_config *cfg)
{
	json_t *o;

	if (cfg->log_format != LOG_FORMAT_JSON && cfg->access_log == NULL &&
	    cfg->access_log_mode != 0640)
		return NULL;
	if ((o = json_object()) == NULL)
		return NULL;
	if ((cfg->log_format == LOG_FORMAT_JSON &&
	        json_object_set_new(o, "format", json_string("json")) != 0) ||
	    (cfg->access_log != NULL &&
	        json_object_set_new(
	            o, "access", json_string(cfg->access_log)) != 0) ||
	    (cfg->access_log_mode == 0640 &&
	        json_object_set_new(o, "access_mode", json_string("0640")) !=
	            0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum status
ca_config_load(const char *data_dir, struct ca_config **out)
{
	static const char *const top_keys[] = {"version", "name", "url",
	    "publish_url", "listen", "publish", "hsm", "keys", "policy",
	    "database", "tls", "log", NULL};
	static const char *const hsm_keys[] = {
	    "module", "token", "pin_file", "softhsm_conf", NULL};
	static const char *const key_keys[] = {"prefix", "root", "issuing",
	    "ocsp", "token", "audit", "retiring", NULL};
	struct ca_config *cfg = NULL;
	struct jsonread *r = NULL;
	char *path = NULL;
	uint8_t *data = NULL;
	size_t len;
	json_t *root, *hsm, *keys, *tls, *logs;
	const char *name, *url, *publish_url, *listen, *publish, *module,
	    *token, *pin_file, *softhsm, *k_prefix, *k_root, *k_issuing,
	    *k_ocsp, *k_token, *k_audit, *k_retiring, *policy, *database;
	int64_t version;
	enum status st;

	*out = NULL;
	if ((path = file_join(data_dir, CONFIG_FILE)) == NULL)
		return ST_NOMEM;
	st = file_read(path, LIMIT_CONFIG_JSON, &data, &len);
	if (st == ST_NOTFOUND) {
		st = status_fail(ST_NOTFOUND,
		    "%s is not a tessera data directory (no %s); run "
		    "'tessera init --data %s' first",
		    data_dir, CONFIG_FILE, data_dir);
		goto out;
	}
	if (st != ST_OK)
		goto out;
	if ((st = jsonread_parse((const char *)data, len, LIMIT_CONFIG_JSON, 0,
	         path, &r)) != ST_OK)
		goto out;
	root = jsonread_root(r);
	if ((st = jsonread_keys_check(r, "$", root, top_keys)) != ST_OK ||
	    (st = jsonread_int(r, "$", root, "version", 1, INT32_MIN, INT32_MAX,
	         0, &version)) != ST_OK)
		goto out;
	if (version != 1) {
		st = jsonread_fail(r, "$.version",
		    "%lld is not supported (expected 1)", (long long)version);
		goto out;
	}
	if ((st = config_str(r, "$", root, "name", 1, &name)) != ST_OK ||
	    (st = config_str(r, "$", root, "url", 1, &url)) != ST_OK ||
	    (st = config_str(r, "$", root, "publish_url", 1, &publish_url)) !=
	        ST_OK ||
	    (st = config_str(r, "$", root, "listen", 1, &listen)) != ST_OK ||
	    (st = config_str(r, "$", root, "publish", 1, &publish)) != ST_OK ||
	    (st = jsonread_member(r, "$", root, "hsm", JSON_OBJECT, 1, &hsm)) !=
	        ST_OK ||
	    (st = jsonread_keys_check(r, "$.hsm", hsm, hsm_keys)) != ST_OK ||
	    (st = config_str(r, "$.hsm", hsm, "module", 1, &module)) != ST_OK ||
	    (st = config_str(r, "$.hsm", hsm, "token", 1, &token)) != ST_OK ||
	    (st = config_str(r, "$.hsm", hsm, "pin_file", 0, &pin_file)) !=
	        ST_OK ||
	    (st = config_str(r, "$.hsm", hsm, "softhsm_conf", 0, &softhsm)) !=
	        ST_OK ||
	    (st = jsonread_member(
	         r, "$", root, "keys", JSON_OBJECT, 1, &keys)) != ST_OK ||
	    (st = jsonread_keys_check(r, "$.keys", keys, key_keys)) != ST_OK ||
	    (st = config_str(r, "$.keys", keys, "prefix", 0, &k_prefix)) !=
	        ST_OK ||
	    (st = config_str(r, "$.keys", keys, "root", 0, &k_root)) != ST_OK ||
	    (st = config_str(r, "$.keys", keys, "issuing", 1, &k_issuing)) !=
	        ST_OK ||
	    (st = config_str(r, "$.keys", keys, "ocsp", 1, &k_ocsp)) != ST_OK ||
	    (st = config_str(r, "$.keys", keys, "token", 1, &k_token)) !=
	        ST_OK ||
	    (st = config_str(r, "$.keys", keys, "audit", 0, &k_audit)) !=
	        ST_OK ||
	    (st = config_str(r, "$.keys", keys, "retiring", 0, &k_retiring)) !=
	        ST_OK ||
	    (st = config_str(r, "$", root, "policy", 1, &policy)) != ST_OK ||
	    (st = config_str(r, "$", root, "database", 1, &database)) !=
	        ST_OK ||
	    (st = jsonread_member(r, "$", root, "tls", JSON_OBJECT, 0, &tls)) !=
	        ST_OK ||
	    (st = jsonread_member(
	         r, "$", root, "log", JSON_OBJECT, 0, &logs)) != ST_OK)
		goto out;
	/* A store's URL never holds its password (store_target_check). */
	if (store_target_is_url(database) &&
	    store_target_check(database) != ST_OK) {
		char why[300];

		snprintf(why, sizeof(why), "%s", status_detail());
		st = jsonread_fail(r, "$.database", "%s", why);
		goto out;
	}
	if (k_prefix != NULL && ca_config_key_prefix_check(k_prefix) != ST_OK) {
		char why[160];

		snprintf(why, sizeof(why), "%s", status_detail());
		st = jsonread_fail(r, "$.keys.prefix", "%s", why);
		goto out;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	cfg->data_dir = strdup(data_dir);
	cfg->key_prefix =
	    strdup(k_prefix != NULL ? k_prefix : CA_CONFIG_KEY_PREFIX);
	cfg->name = strdup(name);
	cfg->url = strdup(url);
	cfg->publish_url = strdup(publish_url);
	cfg->listen = strdup(listen);
	cfg->publish = strdup(publish);
	cfg->hsm_module = strdup(module);
	cfg->hsm_token = strdup(token);
	cfg->hsm_pin_file = dup_or_null(pin_file);
	cfg->softhsm_conf = dup_or_null(softhsm);
	cfg->key_root = dup_or_null(k_root);
	cfg->key_issuing = strdup(k_issuing);
	cfg->key_ocsp = strdup(k_ocsp);
	cfg->key_token = strdup(k_token);
	cfg->key_audit = dup_or_null(k_audit);
	cfg->key_retiring = dup_or_null(k_retiring);
	cfg->policy = strdup(policy);
	cfg->database = strdup(database);
	if (!cfg->data_dir || !cfg->name || !cfg->url || !cfg->publish_url ||
	    !cfg->listen || !cfg->publish || !cfg->hsm_module ||
	    !cfg->hsm_token || (pin_file && !cfg->hsm_pin_file) ||
	    (softhsm && !cfg->softhsm_conf) || !cfg->key_prefix ||
	    (k_root && !cfg->key_root) || !cfg->key_issuing || !cfg->key_ocsp ||
	    !cfg->key_token || (k_audit && !cfg->key_audit) ||
	    (k_retiring && !cfg->key_retiring) || !cfg->policy ||
	    !cfg->database) {
		st = ST_NOMEM;
		goto out;
	}
	if (tls != NULL && (st = names_load(cfg, r, tls)) != ST_OK)
		goto out;
	cfg->access_log_mode = 0600;
	if (logs != NULL && (st = log_load(cfg, r, logs)) != ST_OK)
		goto out;
	*out = cfg;
	cfg = NULL;
	st = ST_OK;
out:
	ca_config_free(cfg);
	jsonread_free(r);
	free(data);
	free(path);
	return st;
}

/* The names as "tls": {"dns": [...], "ip": [...]}. */
static json_t *
names_json(const struct ca_config *cfg)
{
	json_t *o = json_object(), *dns = json_array(), *ip = json_array();
	size_t i;
	int bad = o == NULL || dns == NULL || ip == NULL;

	for (i = 0; !bad && i < cfg->dns_count; i++)
		bad = json_array_append_new(dns, json_string(cfg->dns[i])) != 0;
	for (i = 0; !bad && i < cfg->ip_count; i++)
		bad = json_array_append_new(ip, json_string(cfg->ip[i])) != 0;
	if (!bad)
		bad = json_object_set(o, "dns", dns) != 0 ||
		    json_object_set(o, "ip", ip) != 0;
	json_decref(dns);
	json_decref(ip);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static enum status
config_write(const struct ca_config *cfg, int is_new)
{
	static const char *const key_names[] = {
	    "prefix", "root", "issuing", "ocsp", "token", "audit", "retiring"};
	const char *const key_values[] = {cfg->key_prefix, cfg->key_root,
	    cfg->key_issuing, cfg->key_ocsp, cfg->key_token, cfg->key_audit,
	    cfg->key_retiring};
	json_t *root = NULL, *hsm = NULL, *keys = NULL, *logs;
	size_t i;
	char *text = NULL, *path = NULL;
	enum status st = ST_NOMEM;

	/* In this order; a NULL one is left out (no prefix: made before
	 * prefixes; no root: the root is offline; no audit: made before). */
	if ((keys = json_object()) == NULL)
		goto out;
	for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_values[i] != NULL &&
		    json_object_set_new(
		        keys, key_names[i], json_string(key_values[i])) != 0)
			goto out;
	hsm = json_pack(
	    "{s:s, s:s}", "module", cfg->hsm_module, "token", cfg->hsm_token);
	if (hsm == NULL)
		goto out;
	if (cfg->hsm_pin_file != NULL &&
	    json_object_set_new(
	        hsm, "pin_file", json_string(cfg->hsm_pin_file)) != 0)
		goto out;
	if (cfg->softhsm_conf != NULL &&
	    json_object_set_new(
	        hsm, "softhsm_conf", json_string(cfg->softhsm_conf)) != 0)
		goto out;
	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:s}",
	    "version", 1, "name", cfg->name, "url", cfg->url, "publish_url",
	    cfg->publish_url, "listen", cfg->listen, "publish", cfg->publish,
	    "hsm", hsm, "keys", keys, "policy", cfg->policy, "database",
	    cfg->database);
	if (root == NULL)
		goto out;
	if (cfg->dns_count + cfg->ip_count > 0 &&
	    json_object_set_new(root, "tls", names_json(cfg)) != 0)
		goto out;
	/* Written back as read: a renewal must not drop the log settings. */
	if ((logs = log_json(cfg)) != NULL &&
	    json_object_set_new(root, "log", logs) != 0)
		goto out;
	if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	if ((path = file_join(cfg->data_dir, CONFIG_FILE)) == NULL)
		goto out;
	st = is_new ? file_write_new(path, text, strlen(text), 0600)
	            : file_write_atomic(path, text, strlen(text), 0600);
out:
	json_decref(keys);
	json_decref(hsm);
	json_decref(root);
	free(text);
	free(path);
	return st;
}

enum status
ca_config_save(const struct ca_config *cfg)
{
	return config_write(cfg, 1);
}

enum status
ca_config_update(const struct ca_config *cfg)
{
	return config_write(cfg, 0);
}

void
ca_config_free(struct ca_config *cfg)
{
	if (cfg == NULL)
		return;
	ca_config_names_clear(cfg);
	free(cfg->access_log);
	free(cfg->data_dir);
	free(cfg->name);
	free(cfg->url);
	free(cfg->publish_url);
	free(cfg->listen);
	free(cfg->publish);
	free(cfg->hsm_module);
	free(cfg->hsm_token);
	free(cfg->hsm_pin_file);
	free(cfg->softhsm_conf);
	free(cfg->key_prefix);
	free(cfg->key_root);
	free(cfg->key_issuing);
	free(cfg->key_ocsp);
	free(cfg->key_token);
	free(cfg->key_audit);
	free(cfg->key_retiring);
	free(cfg->policy);
	free(cfg->database);
	free(cfg);
}

char *
ca_config_path(const struct ca_config *cfg, const char *path)
{
	if (path[0] == '/' || store_target_is_url(path))
		return strdup(path);
	return file_join(cfg->data_dir, path);
}

enum status
ca_config_key_prefix_check(const char *prefix)
{
	size_t i, n = strlen(prefix);

	if (n == 0 || n > CA_CONFIG_KEY_PREFIX_MAX)
		return status_fail(ST_MALFORMED,
		    "key prefix \"%.40s\": 1 to %d characters", prefix,
		    CA_CONFIG_KEY_PREFIX_MAX);
	if (!isalnum((unsigned char)prefix[0]))
		return status_fail(ST_MALFORMED,
		    "key prefix \"%.40s\": starts with a letter or a digit",
		    prefix);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)prefix[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return status_fail(ST_MALFORMED,
			    "key prefix \"%.40s\": only letters, digits, "
			    "'.', '_' and '-' (character %zu)",
			    prefix, i + 1);
	}
	return ST_OK;
}

enum status
ca_config_key_label(
    const struct ca_config *cfg, const char *role, char *out, size_t cap)
{
	const char *prefix =
	    cfg->key_prefix != NULL ? cfg->key_prefix : CA_CONFIG_KEY_PREFIX;
	int n = snprintf(out, cap, "%s-%s", prefix, role);

	if (n < 0 || (size_t)n >= cap || (size_t)n > LIMIT_LABEL_LEN)
		return status_fail(ST_LIMIT,
		    "key label %s-%s: longer than %d characters", prefix, role,
		    LIMIT_LABEL_LEN);
	return ST_OK;
}
