#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/config.h"
#include "common/file.h"
#include "common/limits.h"

#define CONFIG_FILE "tessera.json"

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

enum status
ca_config_load(const char *data_dir, struct ca_config **out)
{
	struct ca_config *cfg = NULL;
	char *path = NULL;
	uint8_t *data = NULL;
	size_t len;
	json_t *root = NULL;
	json_error_t err;
	const char *name, *url, *publish_url, *listen, *publish, *module,
	    *token, *pin_file = NULL, *softhsm = NULL, *k_root, *k_issuing,
	            *k_ocsp, *k_token, *k_audit = NULL, *policy, *database;
	int version;
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
	root =
	    json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		st = status_fail(ST_MALFORMED, "%s:%d:%d: %s", path, err.line,
		    err.column, err.text);
		goto out;
	}
	/* '!' makes jansson refuse keys the format does not name. */
	if (json_unpack_ex(root, &err, 0,
	        "{s:i, s:s, s:s, s:s, s:s, s:s,"
	        " s:{s:s, s:s, s?:s, s?:s !},"
	        " s:{s:s, s:s, s:s, s:s, s?:s !}, s:s, s:s !}",
	        "version", &version, "name", &name, "url", &url, "publish_url",
	        &publish_url, "listen", &listen, "publish", &publish, "hsm",
	        "module", &module, "token", &token, "pin_file", &pin_file,
	        "softhsm_conf", &softhsm, "keys", "root", &k_root, "issuing",
	        &k_issuing, "ocsp", &k_ocsp, "token", &k_token, "audit",
	        &k_audit, "policy", &policy, "database", &database) != 0) {
		st = status_fail(ST_MALFORMED, "%s: %s%s%s", path, err.text,
		    err.source[0] ? " at " : "", err.source);
		goto out;
	}
	if (version != 1) {
		st = status_fail(ST_MALFORMED,
		    "%s: $.version: %d is not supported (expected 1)", path,
		    version);
		goto out;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	cfg->data_dir = strdup(data_dir);
	cfg->name = strdup(name);
	cfg->url = strdup(url);
	cfg->publish_url = strdup(publish_url);
	cfg->listen = strdup(listen);
	cfg->publish = strdup(publish);
	cfg->hsm_module = strdup(module);
	cfg->hsm_token = strdup(token);
	cfg->hsm_pin_file = dup_or_null(pin_file);
	cfg->softhsm_conf = dup_or_null(softhsm);
	cfg->key_root = strdup(k_root);
	cfg->key_issuing = strdup(k_issuing);
	cfg->key_ocsp = strdup(k_ocsp);
	cfg->key_token = strdup(k_token);
	cfg->key_audit = dup_or_null(k_audit);
	cfg->policy = strdup(policy);
	cfg->database = strdup(database);
	if (!cfg->data_dir || !cfg->name || !cfg->url || !cfg->publish_url ||
	    !cfg->listen || !cfg->publish || !cfg->hsm_module ||
	    !cfg->hsm_token || (pin_file && !cfg->hsm_pin_file) ||
	    (softhsm && !cfg->softhsm_conf) || !cfg->key_root ||
	    !cfg->key_issuing || !cfg->key_ocsp || !cfg->key_token ||
	    (k_audit && !cfg->key_audit) || !cfg->policy || !cfg->database) {
		st = ST_NOMEM;
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	st = ST_OK;
out:
	ca_config_free(cfg);
	json_decref(root);
	free(data);
	free(path);
	return st;
}

enum status
ca_config_save(const struct ca_config *cfg)
{
	json_t *root = NULL, *hsm = NULL, *keys = NULL;
	char *text = NULL, *path = NULL;
	enum status st = ST_NOMEM;

	keys = json_pack("{s:s, s:s, s:s, s:s}", "root", cfg->key_root,
	    "issuing", cfg->key_issuing, "ocsp", cfg->key_ocsp, "token",
	    cfg->key_token);
	if (keys == NULL)
		goto out;
	if (cfg->key_audit != NULL &&
	    json_object_set_new(keys, "audit", json_string(cfg->key_audit)) !=
	        0)
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
	if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	if ((path = file_join(cfg->data_dir, CONFIG_FILE)) == NULL)
		goto out;
	st = file_write_new(path, text, strlen(text), 0600);
out:
	json_decref(keys);
	json_decref(hsm);
	json_decref(root);
	free(text);
	free(path);
	return st;
}

void
ca_config_free(struct ca_config *cfg)
{
	if (cfg == NULL)
		return;
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
	free(cfg->key_root);
	free(cfg->key_issuing);
	free(cfg->key_ocsp);
	free(cfg->key_token);
	free(cfg->key_audit);
	free(cfg->policy);
	free(cfg->database);
	free(cfg);
}

char *
ca_config_path(const struct ca_config *cfg, const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	return file_join(cfg->data_dir, path);
}
