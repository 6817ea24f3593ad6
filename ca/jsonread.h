/*
 * jsonread: the one strict JSON reader of tessera's files and API bodies
 * (the policy, tessera.json, admin API requests). A text is parsed with a
 * size limit, duplicate keys refused and nesting bounded; then each object
 * is checked for keys it does not know before its members are read. Every
 * error names the source, the JSON path and the reason:
 * "policy.json: $.profiles.device.keys[1]: unknown key type \"ec:P-521\"".
 */
#ifndef TESSERA_CA_JSONREAD_H
#define TESSERA_CA_JSONREAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/status.h"

/* Room for a JSON path: "$.profiles.<64 chars>.subject.OU.pattern" etc. */
#define JSONREAD_PATH_CAP 256
/* A quoted value in a message: enough to recognise it, no more. */
#define JSONREAD_QUOTE_CAP 100

/* A parsed text and the name its messages give it. */
struct jsonread;

/*
 * Parse len bytes of text: at most max_len bytes (ST_LIMIT beyond), no
 * duplicate keys, nested at most max_depth deep (0: jansson's own bound).
 * name starts every message ("body", a file's path). The caller frees *out
 * with jsonread_free.
 */
enum status jsonread_parse(const char *text, size_t len, size_t max_len,
    int max_depth, const char *name, struct jsonread **out) MUST_CHECK;

void jsonread_free(struct jsonread *r);

/* The parsed document, owned by r (any JSON type). */
json_t *jsonread_root(const struct jsonread *r);

/* The name messages start with. Owned by r. */
const char *jsonread_name(const struct jsonread *r);

/* An input error at path: ST_MALFORMED, detail "name: path: reason". */
enum status jsonread_fail(const struct jsonread *r, const char *path,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

/* path extended by ".key" or "[i]" into out (JSONREAD_PATH_CAP bytes); a
 * path too deep is cut and marked "...". */
void jsonread_path_key(char *out, const char *path, const char *key);
void jsonread_path_index(char *out, const char *path, size_t i);

/* A JSON value's type as messages name it: "an object", "a boolean". */
const char *jsonread_kind(const json_t *v);

/*
 * The one unknown-key check: obj must be an object and each of its keys
 * in known (NULL terminated). A misspelt key is an error naming it.
 */
enum status jsonread_keys_check(const struct jsonread *r, const char *path,
    json_t *obj, const char *const *known) MUST_CHECK;

/*
 * obj[key] of type want in *out (borrowed from obj); absent is an error
 * when required, else *out is NULL. JSON_TRUE stands for either boolean.
 */
enum status
jsonread_member(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, json_type want, int required, json_t **out) MUST_CHECK;

/* An integer in min..max; def when absent and optional. */
enum status jsonread_int(const struct jsonread *r, const char *path,
    json_t *obj, const char *key, int required, int64_t min, int64_t max,
    int64_t def, int64_t *out) MUST_CHECK;

/*
 * A string of 1..maxlen bytes (jansson already refuses \u0000), borrowed
 * from obj, or NULL when absent and optional.
 */
enum status
jsonread_str(const struct jsonread *r, const char *path, json_t *obj,
    const char *key, int required, size_t maxlen, const char **out) MUST_CHECK;

/*
 * A string that must be one of names (NULL terminated); *out is its index,
 * def when absent and optional.
 */
enum status jsonread_choice(const struct jsonread *r, const char *path,
    json_t *obj, const char *key, int required, const char *const *names,
    int def, int *out) MUST_CHECK;

/* An array of min..max elements, or NULL when absent and optional. */
enum status jsonread_array(const struct jsonread *r, const char *path,
    json_t *obj, const char *key, int required, size_t min, size_t max,
    json_t **out) MUST_CHECK;

/*
 * obj[key]: an array of min..max strings (absent and optional: each is
 * never called). each gets the element's path ("$.a.b[2]") and its value,
 * borrowed from obj; a status other than ST_OK ends the walk with it.
 */
enum status jsonread_strings(const struct jsonread *r, const char *path,
    json_t *obj, const char *key, int required, size_t min, size_t max,
    enum status (*each)(
        const struct jsonread *r, const char *at, const char *s, void *arg),
    void *arg) MUST_CHECK;

#endif
