/*
 * config: tessera's server names (RFC 1123 DNS names folded to lower case,
 * IP addresses in inet_ntop's form, no wildcards or unspecified addresses,
 * the URL's host added, duplicates dropped, a limit); a failed set leaves
 * the names as they were; tessera.json keeps them and refuses a "tls"
 * object that is malformed; the URLs' ports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/config.h"
#include "common/file.h"
#include "common/log.h"
#include "tests/unit/test.h"

static void
test_names(void)
{
	struct ca_config cfg;
	const char *dns[LIMIT_SERVER_NAMES + 1], *ip[2];
	char names[LIMIT_SERVER_NAMES + 1][16];
	char *san;
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.url = "https://CA.Acme.Example:8443/";
	/* None given: localhost and 127.0.0.1, and the URL's host. */
	CHECK_ST(ca_config_names_set(&cfg, NULL, 0, NULL, 0), ST_OK);
	san = ca_config_san(&cfg);
	CHECK(san != NULL &&
	    strcmp(san, "DNS:localhost,DNS:ca.acme.example,IP:127.0.0.1") == 0);
	free(san);
	dns[0] = "ca.acme.example";
	dns[1] = "CA.ACME.EXAMPLE";
	ip[0] = "2001:DB8:0:0::1";
	CHECK_ST(ca_config_names_set(&cfg, dns, 2, ip, 1), ST_OK);
	san = ca_config_san(&cfg);
	CHECK(san != NULL &&
	    strcmp(san, "DNS:ca.acme.example,IP:2001:db8::1") == 0);
	free(san);

	/* Each refusal names the rule and leaves the names alone. */
	static const struct {
		const char *name;
		int is_ip;
		const char *detail;
	} bad[] = {
	    {"", 0, "1 to 253 characters"},
	    {"*.acme.example", 0, "no wildcard"},
	    {"a*b.example", 0, "no wildcard"},
	    {"under_score.example", 0, "character 0x5f at 6"},
	    {"-lead.example", 0, "starts with '-'"},
	    {"trail-.example", 0, "ends with '-'"},
	    {"a..b", 0, "every label is 1 to 63"},
	    {"trailing.dot.", 0, "every label is 1 to 63"},
	    {"192.0.2.1", 0, "is an IP address"},
	    {"caf\xc3\xa9.example", 0, "character 0xc3"},
	    {"192.0.2", 1, "neither IPv4 nor IPv6"},
	    {"[::1]", 1, "neither IPv4 nor IPv6"},
	    {"ca.acme.example", 1, "neither IPv4 nor IPv6"},
	    {"0.0.0.0", 1, "unspecified"},
	    {"::", 1, "unspecified"},
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dns[0] = bad[i].name;
		CHECK_ST(ca_config_names_set(&cfg, bad[i].is_ip ? NULL : dns,
		             bad[i].is_ip ? 0 : 1, bad[i].is_ip ? dns : NULL,
		             bad[i].is_ip ? 1 : 0),
		    ST_MALFORMED);
		CHECK_DETAIL(bad[i].detail);
		CHECK(cfg.dns_count == 1 && cfg.ip_count == 1 &&
		    strcmp(cfg.ip[0], "2001:db8::1") == 0);
	}
	/* A label of 64 and a name of 254 characters. */
	{
		char long_name[300];

		memset(long_name, 'a', 64);
		snprintf(long_name + 64, sizeof(long_name) - 64, ".example");
		dns[0] = long_name;
		CHECK_ST(
		    ca_config_names_set(&cfg, dns, 1, NULL, 0), ST_MALFORMED);
		for (i = 0; i < 254; i++)
			long_name[i] = i % 2 ? '.' : 'a';
		long_name[254] = '\0';
		CHECK_ST(
		    ca_config_names_set(&cfg, dns, 1, NULL, 0), ST_MALFORMED);
		CHECK_DETAIL("1 to 253 characters");
	}
	/* At most LIMIT_SERVER_NAMES of each (the URL's host counts). */
	for (i = 0; i <= LIMIT_SERVER_NAMES; i++) {
		snprintf(names[i], sizeof(names[i]), "n%zu.example", i);
		dns[i] = names[i];
	}
	CHECK_ST(ca_config_names_set(&cfg, dns, LIMIT_SERVER_NAMES, NULL, 0),
	    ST_LIMIT);
	CHECK_ST(
	    ca_config_names_set(&cfg, dns, LIMIT_SERVER_NAMES - 1, NULL, 0),
	    ST_OK);
	CHECK(cfg.dns_count == LIMIT_SERVER_NAMES && cfg.ip_count == 0);
	/* An IP literal URL host goes among the addresses. */
	cfg.url = "https://[2001:db8::2]:8443";
	dns[0] = "ca.acme.example";
	CHECK_ST(ca_config_names_set(&cfg, dns, 1, NULL, 0), ST_OK);
	CHECK(cfg.ip_count == 1 && strcmp(cfg.ip[0], "2001:db8::2") == 0);
	cfg.url = "https://bad_host:8443";
	CHECK_ST(ca_config_names_set(&cfg, dns, 1, NULL, 0), ST_MALFORMED);
	CHECK_DETAIL("the host of the URL https://bad_host:8443");
	ca_config_names_clear(&cfg);
	CHECK(ca_config_san(&cfg) == NULL);
}

static void
test_ports(void)
{
	CHECK(ca_config_url_port("https://ca.example") == 443);
	CHECK(ca_config_url_port("http://ca.example/x") == 80);
	CHECK(ca_config_url_port("https://ca.example:8443/x") == 8443);
	CHECK(ca_config_url_port("http://[::1]:8080") == 8080);
	CHECK(ca_config_url_port("http://[::1]") == 80);
	CHECK(ca_config_url_port("http://ca.example:0") == 0);
	CHECK(ca_config_url_port("http://ca.example:65536") == 0);
	CHECK(ca_config_url_port("http://ca.example:80x") == 0);
	CHECK(ca_config_url_port("http://ca.example:") == 0);
	CHECK(ca_config_url_port("ca.example:80") == 0);
	CHECK(ca_config_url_port("http://[::1:80") == 0);
}

/* A data directory's tessera.json with KEYS first in "keys" and TLS as
 * the "tls" member. */
static enum status
load_full(
    const char *dir, const char *keys, const char *tls, struct ca_config **out)
{
	char text[2048], *path = file_join(dir, "tessera.json");
	enum status st;

	snprintf(text, sizeof(text),
	    "{\"version\": 1, \"name\": \"t\", \"url\": "
	    "\"https://ca.example:8443\", \"publish_url\": "
	    "\"http://127.0.0.1:8080\", \"listen\": \"127.0.0.1:8443\", "
	    "\"publish\": \"127.0.0.1:8080\", \"hsm\": {\"module\": \"m\", "
	    "\"token\": \"t\"}, \"keys\": {%s\"root\": \"r\", \"issuing\": "
	    "\"i\", \"ocsp\": \"o\", \"token\": \"t\"}, \"policy\": "
	    "\"policy.json\", \"database\": \"tessera.db\"%s%s}",
	    keys, tls ? ", \"tls\": " : "", tls ? tls : "");
	st = file_write_atomic(path, text, strlen(text), 0600);
	free(path);
	if (st != ST_OK)
		return st;
	return ca_config_load(dir, out);
}

static enum status
load_with(const char *dir, const char *tls, struct ca_config **out)
{
	return load_full(dir, "", tls, out);
}

static enum status
load_keys(const char *dir, const char *keys, struct ca_config **out)
{
	return load_full(dir, keys, NULL, out);
}

static void
test_key_prefix(void)
{
	struct ca_config cfg;
	char label[LIMIT_LABEL_LEN + 1], small[8];

	CHECK_ST(ca_config_key_prefix_check("site-a"), ST_OK);
	CHECK_ST(ca_config_key_prefix_check("A1.b_c"), ST_OK);
	CHECK_ST(ca_config_key_prefix_check("abcdefghijklmnopqrstuvwx"), ST_OK);
	CHECK_ST(ca_config_key_prefix_check("abcdefghijklmnopqrstuvwxy"),
	    ST_MALFORMED);
	CHECK_DETAIL("1 to 24 characters");
	CHECK_ST(ca_config_key_prefix_check(""), ST_MALFORMED);
	CHECK_ST(ca_config_key_prefix_check("-a"), ST_MALFORMED);
	CHECK_DETAIL("starts with a letter or a digit");
	/* Would need percent-encoding in a PKCS#11 URI, or split it. */
	CHECK_ST(ca_config_key_prefix_check("a;object=x"), ST_MALFORMED);
	CHECK_DETAIL("only letters, digits");
	CHECK_ST(ca_config_key_prefix_check("a b"), ST_MALFORMED);
	CHECK_ST(ca_config_key_prefix_check("a%20"), ST_MALFORMED);
	memset(&cfg, 0, sizeof(cfg));
	CHECK_ST(
	    ca_config_key_label(&cfg, "root-ca", label, sizeof(label)), ST_OK);
	CHECK(strcmp(label, "tessera-root-ca") == 0);
	cfg.key_prefix = "site-b";
	CHECK_ST(ca_config_key_label(&cfg, "issuing-ca", label, sizeof(label)),
	    ST_OK);
	CHECK(strcmp(label, "site-b-issuing-ca") == 0);
	CHECK_ST(ca_config_key_label(&cfg, "issuing-ca", small, sizeof(small)),
	    ST_LIMIT);
}

static void
test_file(void)
{
	char dir[] = "/tmp/tessera-config-XXXXXX";
	struct ca_config *cfg = NULL, *again = NULL;
	const char *dns[] = {"other.example"};
	char *path;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	/* Made before names were kept: none, and renewal keeps the cert's. */
	CHECK_ST(load_with(dir, NULL, &cfg), ST_OK);
	CHECK(cfg != NULL && cfg->dns_count == 0 && cfg->ip_count == 0);
	/* ... and before key prefixes: the labels they always had. */
	CHECK(cfg != NULL && strcmp(cfg->key_prefix, "tessera") == 0);
	if (cfg != NULL) {
		CHECK_ST(ca_config_names_set(cfg, dns, 1, NULL, 0), ST_OK);
		CHECK_ST(ca_config_update(cfg), ST_OK);
		CHECK_ST(ca_config_save(cfg), ST_CONFLICT);
		CHECK_ST(ca_config_load(dir, &again), ST_OK);
		/* The prefix is written, and read back. */
		CHECK(again != NULL &&
		    strcmp(again->key_prefix, CA_CONFIG_KEY_PREFIX) == 0);
		CHECK(again != NULL && again->dns_count == 2 &&
		    strcmp(again->dns[0], "other.example") == 0 &&
		    strcmp(again->dns[1], "ca.example") == 0 &&
		    again->ip_count == 0);
		ca_config_free(again);
		again = NULL;
	}
	ca_config_free(cfg);
	cfg = NULL;
	CHECK_ST(load_with(dir,
	             "{\"dns\": [\"ca.example\"], \"ip\": "
	             "[\"10.0.0.1\"]}",
	             &cfg),
	    ST_OK);
	CHECK(cfg != NULL && cfg->dns_count == 1 && cfg->ip_count == 1);
	ca_config_free(cfg);
	cfg = NULL;
	/* Hand-edited mistakes: refused with the path and the reason. */
	CHECK_ST(
	    load_with(dir, "{\"dns\": [\"*.example\"]}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.tls: DNS name \"*.example\": no wildcard");
	CHECK_ST(
	    load_with(dir, "{\"dns\": \"ca.example\"}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.tls.dns: expected an array, got a string");
	CHECK_ST(load_with(dir, "{\"dns\": [1]}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.tls.dns[0]: expected a string, got an integer");
	CHECK_ST(load_with(dir, "{\"uri\": []}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.tls: unknown key \"uri\"");
	CHECK_ST(load_with(dir, "{}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.tls: names no name");
	CHECK_ST(load_keys(dir, "\"prefix\": \"a b\", ", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.keys.prefix: key prefix \"a b\": only letters");
	CHECK_ST(load_keys(dir, "\"prefix\": \"site-a\", ", &cfg), ST_OK);
	CHECK(cfg != NULL && strcmp(cfg->key_prefix, "site-a") == 0);
	ca_config_free(cfg);
	cfg = NULL;
	CHECK_ST(load_with(dir, "[]", &cfg), ST_MALFORMED);
	CHECK(cfg == NULL);
	path = file_join(dir, "tessera.json");
	unlink(path);
	free(path);
	rmdir(dir);
}

/* tessera.json as text, hand-edited: each mistake is refused naming the
 * file, the JSON path and the reason (the reader the policy shares). */
static void
test_strict(void)
{
	static const struct {
		const char *text, *detail;
	} bad[] = {
	    {"{\"version\": 1, \"nmae\": \"t\"}",
	        "tessera.json: $: unknown key \"nmae\""},
	    {"{\"version\": 2}",
	        "tessera.json: $.version: 2 is not supported (expected 1)"},
	    {"{\"version\": \"1\"}",
	        "tessera.json: $.version: expected an integer, got a string"},
	    {"{\"version\": 1, \"name\": \"t\", \"url\": \"u\", "
	     "\"publish_url\": \"p\", \"listen\": \"l\", \"publish\": "
	     "\"p\", \"hsm\": {\"module\": \"m\", \"tokn\": \"t\"}}",
	        "tessera.json: $.hsm: unknown key \"tokn\""},
	    {"{\"version\": 1, \"name\": \"t\", \"url\": \"u\", "
	     "\"publish_url\": \"p\", \"listen\": \"l\", \"publish\": "
	     "\"p\", \"hsm\": {\"module\": \"m\"}}",
	        "tessera.json: $.hsm: missing key \"token\""},
	    {"{\"version\": 1, \"name\": \"\"}",
	        "tessera.json: $.name: must be 1..4096 characters long"},
	    {"{\"version\": 1, \"version\": 1}", "duplicate object key"},
	    {"{\"version\": 1,", "tessera.json:1:"},
	};
	char dir[] = "/tmp/tessera-config-XXXXXX";
	struct ca_config *cfg = NULL;
	char *path;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	path = file_join(dir, "tessera.json");
	for (i = 0; path != NULL && i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ST(file_write_atomic(
		             path, bad[i].text, strlen(bad[i].text), 0600),
		    ST_OK);
		CHECK_ST(ca_config_load(dir, &cfg), ST_MALFORMED);
		CHECK(cfg == NULL);
		CHECK_DETAIL(bad[i].detail);
	}
	if (path != NULL)
		unlink(path);
	free(path);
	rmdir(dir);
}

/* "log": the format, the access log and its mode; written back as read. */
static void
test_log(void)
{
	char dir[] = "/tmp/tessera-config-XXXXXX";
	struct ca_config *cfg = NULL, *again = NULL;
	char *path;

#define TLS_AND "{\"dns\": [\"ca.example\"]}, \"log\": "
	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	CHECK_ST(load_with(dir, NULL, &cfg), ST_OK);
	CHECK(cfg != NULL && cfg->log_format == LOG_FORMAT_TEXT &&
	    cfg->access_log == NULL && cfg->access_log_mode == 0600);
	ca_config_free(cfg);
	cfg = NULL;
	CHECK_ST(load_with(dir,
	             TLS_AND "{\"format\": \"json\", \"access\": "
	                     "\"log/access.log\", \"access_mode\": \"0640\"}",
	             &cfg),
	    ST_OK);
	CHECK(cfg != NULL && cfg->log_format == LOG_FORMAT_JSON &&
	    cfg->access_log != NULL &&
	    strcmp(cfg->access_log, "log/access.log") == 0 &&
	    cfg->access_log_mode == 0640);
	/* A renewal rewrites tessera.json: the log settings stay. */
	if (cfg != NULL) {
		CHECK_ST(ca_config_update(cfg), ST_OK);
		CHECK_ST(ca_config_load(dir, &again), ST_OK);
		CHECK(again != NULL && again->log_format == LOG_FORMAT_JSON &&
		    again->access_log != NULL &&
		    strcmp(again->access_log, "log/access.log") == 0 &&
		    again->access_log_mode == 0640);
		ca_config_free(again);
	}
	ca_config_free(cfg);
	cfg = NULL;
	CHECK_ST(load_with(dir, TLS_AND "{\"format\": \"xml\"}", &cfg),
	    ST_MALFORMED);
	CHECK_DETAIL("$.log.format: expected \"text\" or \"json\"");
	CHECK_ST(load_with(dir, TLS_AND "{\"access_mode\": \"0644\"}", &cfg),
	    ST_MALFORMED);
	CHECK_DETAIL("$.log.access_mode");
	CHECK_ST(
	    load_with(dir, TLS_AND "{\"access\": \"\"}", &cfg), ST_MALFORMED);
	CHECK_DETAIL("$.log.access");
	CHECK_ST(load_with(dir, TLS_AND "{\"acess\": \"stderr\"}", &cfg),
	    ST_MALFORMED);
	CHECK_DETAIL("unknown key \"acess\"");
	CHECK(cfg == NULL);
#undef TLS_AND
	path = file_join(dir, "tessera.json");
	unlink(path);
	free(path);
	rmdir(dir);
}

int
main(void)
{
	test_names();
	test_ports();
	test_key_prefix();
	test_file();
	test_strict();
	test_log();
	TEST_END();
}
