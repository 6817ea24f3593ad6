/*
 * jsonread: the strict JSON reader that the policy, tessera.json and the
 * admin API's bodies share. Messages are "name: path: reason".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/jsonread.h"
#include "common/limits.h"
#include "common/log.h"

struct jsonread {
	char *name;
	json_t *root;
};

/* 1 if v is nested no deeper than max below depth. */
static int
depth_ok(json_t *v, int depth, int max)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > max)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		{
			if (!depth_ok(x, depth + 1, max))
				return 0;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (!depth_ok(x, depth + 1, max))
				return 0;
		}
	}
	return 1;
}

enum status
jsonread_parse(const char *text, size_t len, size_t max_len, int max_depth,
    const char *name, struct jsonread **out)
{
	struct jsonread *r = NULL;
	json_error_t err;
	enum status st = ST_NOMEM;

	*out = NULL;
	if (len > max_len)
		return status_fail(ST_LIMIT, "%s: %zu bytes, limit is %zu",
		    name, len, max_len);
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strdup(name)) == NULL) {
		st = status_fail(ST_NOMEM, "%s: out of memory", name);
		goto out;
	}
	/* jansson refuses invalid UTF-8 and, with this flag, duplicates. */
	if ((r->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		st = status_fail(ST_MALFORMED, "%s:%d:%d: %s", name, err.line,
		    err.column, err.text);
		goto out;
	}
	if (max_depth > 0 && !depth_ok(r->root, 0, max_depth)) {
		st = status_fail(ST_MALFORMED, "%s: JSON nested deeper than %d",
		    name, max_depth);
		goto out;
	}
	*out = r;
	r = NULL;
	st = ST_OK;
out:
	jsonread_free(r);
	return st;
}

void
jsonread_free(struct jsonread *r)
{
	if (r == NULL)
		return;
	json_decref(r->root);
	free(r->name);
	free(r);
}

json_t *
jsonread_root(const struct jsonread *r)
{
	return r->root;
}

const char *
jsonread_name(const struct jsonread *r)
{
	return r->name;
}

/* An input error at path: "name: $.a.b: reason". */
enum status
jsonread_fail(const struct jsonread *r, const char *path, const char *fmt, ...)
{
	char reason[400];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(reason, sizeof(reason), fmt, ap) < 0)
		reason[0] = '\0';
	va_end(ap);
	return status_fail(ST_MALFORMED, "%s: %s: %s", r->name, path, reason);
}

/* A JSON type as messages name it; JSON_TRUE and JSON_FALSE alike. */
static const char *
json_kind_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

const char *
jsonread_kind(const json_t *v)
{
	return json_kind_name(json_typeof(v));
}

static int
json_kind_is(const json_t *v, json_type want)
{
	if (want == JSON_TRUE || want == JSON_FALSE)
		return json_is_boolean(v);
	return json_typeof(v) == want;
}

/* Extend path by ".key" or "[i]"; a path too deep is cut, marked "...". */
void
jsonread_path_key(char *out, const char *path, const char *key)
{
	if (snprintf(out, JSONREAD_PATH_CAP, "%s.%s", path, key) >=
	    JSONREAD_PATH_CAP)
		memcpy(out + JSONREAD_PATH_CAP - 4, "...", 4);
}

void
jsonread_path_index(char *out, const char *path, size_t i)
{
	if (snprintf(out, JSONREAD_PATH_CAP, "%s[%zu]", path, i) >=
	    JSONREAD_PATH_CAP)
		memcpy(out + JSONREAD_PATH_CAP - 4, "...", 4);
}

/*
 * The one unknown-key check: obj must be an object and every key of it in
 * known (NULL terminated). A misspelt key is an error, never silently
 * ignored.
 */
enum status
jsonread_keys_check(const struct jsonread *r, const char *path, json_t *obj,
    const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;
	char q[JSONREAD_QUOTE_CAP];

	if (!json_is_object(obj))
		return jsonread_fail(
		    r, path, "expected an object, got %s", jsonread_kind(obj));
	json_object_foreach(obj, key, v)
	{
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return jsonread_fail(r, path, "unknown key %s",
			    log_quote(key, q, sizeof(q)));
	}
	return ST_OK;
}

/*
 * obj[key] of type want in *out; absent is an error when required, else
 * *out is NULL. JSON_TRUE stands for either boolean.
 */
enum status
jsonread_member(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, json_type want, int required, json_t **out)
{
	json_t *v;
	char sub[JSONREAD_PATH_CAP];

	*out = NULL;
	if ((v = json_object_get(obj, key)) == NULL) {
		if (required)
			return jsonread_fail(
			    r, path, "missing key \"%s\"", key);
		return ST_OK;
	}
	if (!json_kind_is(v, want)) {
		jsonread_path_key(sub, path, key);
		return jsonread_fail(r, sub, "expected %s, got %s",
		    json_kind_name(want), jsonread_kind(v));
	}
	*out = v;
	return ST_OK;
}

enum status
jsonread_int(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, int64_t min, int64_t max, int64_t def,
    int64_t *out)
{
	json_t *v;
	json_int_t n;
	char sub[JSONREAD_PATH_CAP];
	enum status st;

	*out = 0;
	if ((st = jsonread_member(
	         r, path, obj, key, JSON_INTEGER, required, &v)) != ST_OK)
		return st;
	if (v == NULL) {
		*out = def;
		return ST_OK;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		jsonread_path_key(sub, path, key);
		return jsonread_fail(r, sub,
		    "%lld is out of range (%lld..%lld)", (long long)n,
		    (long long)min, (long long)max);
	}
	*out = (int64_t)n;
	return ST_OK;
}

/*
 * A string of 1..maxlen bytes (jansson already refuses \u0000), or NULL
 * when absent and optional.
 */
enum status
jsonread_str(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, size_t maxlen, const char **out)
{
	json_t *v;
	char sub[JSONREAD_PATH_CAP];
	enum status st;

	*out = NULL;
	if ((st = jsonread_member(
	         r, path, obj, key, JSON_STRING, required, &v)) != ST_OK)
		return st;
	if (v == NULL)
		return ST_OK;
	if (json_string_length(v) == 0 || json_string_length(v) > maxlen) {
		jsonread_path_key(sub, path, key);
		return jsonread_fail(
		    r, sub, "must be 1..%zu characters long", maxlen);
	}
	*out = json_string_value(v);
	return ST_OK;
}

/*
 * A string that must be one of names (NULL terminated); *out is its index,
 * def when absent and optional.
 */
enum status
jsonread_choice(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, const char *const *names, int def, int *out)
{
	const char *s;
	char sub[JSONREAD_PATH_CAP], q[JSONREAD_QUOTE_CAP], expect[200];
	size_t i, used = 0;
	enum status st;

	*out = def;
	if ((st = jsonread_str(
	         r, path, obj, key, required, LIMIT_NAME_LEN, &s)) != ST_OK)
		return st;
	if (s == NULL)
		return ST_OK;
	expect[0] = '\0';
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return ST_OK;
		}
		if (used < sizeof(expect))
			used += (size_t)snprintf(expect + used,
			    sizeof(expect) - used, "%s%s", i ? " or " : "",
			    names[i]);
	}
	jsonread_path_key(sub, path, key);
	return jsonread_fail(r, sub, "unknown value %s (expected %s)",
	    log_quote(s, q, sizeof(q)), expect);
}

/* An array of min..max elements, or NULL when absent and optional. */
enum status
jsonread_array(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, size_t min, size_t max, json_t **out)
{
	json_t *v;
	char sub[JSONREAD_PATH_CAP];
	enum status st;

	*out = NULL;
	if ((st = jsonread_member(
	         r, path, obj, key, JSON_ARRAY, required, &v)) != ST_OK)
		return st;
	if (v == NULL)
		return ST_OK;
	if (json_array_size(v) < min || json_array_size(v) > max) {
		jsonread_path_key(sub, path, key);
		return jsonread_fail(r, sub, "%zu entries, expected %zu..%zu",
		    json_array_size(v), min, max);
	}
	*out = v;
	return ST_OK;
}

enum status
jsonread_strings(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, size_t min, size_t max,
    enum status (*each)(
        const struct jsonread *r, const char *at, const char *s, void *arg),
    void *arg)
{
	json_t *arr, *v;
	char sub[JSONREAD_PATH_CAP], at[JSONREAD_PATH_CAP];
	size_t i;
	enum status st;

	if ((st = jsonread_array(
	         r, path, obj, key, required, min, max, &arr)) != ST_OK ||
	    arr == NULL)
		return st;
	jsonread_path_key(sub, path, key);
	json_array_foreach(arr, i, v)
	{
		jsonread_path_index(at, sub, i);
		if (!json_is_string(v))
			return jsonread_fail(r, at, "expected a string, got %s",
			    jsonread_kind(v));
		if ((st = each(r, at, json_string_value(v), arg)) != ST_OK)
			return st;
	}
	return ST_OK;
}
