/*
 * tessera admin: shared between the commands (admin.c) and the bulk work
 * (admin_bulk.c). Exit codes are the documented ones.
 */
#ifndef TESSERA_CLI_ADMIN_H
#define TESSERA_CLI_ADMIN_H

#include <jansson.h>

#include "cli/https.h"
#include "common/buf.h"
#include "common/status.h"

#define ADMIN_EXIT_OK 0
#define ADMIN_EXIT_USAGE 1
#define ADMIN_EXIT_REFUSED 2 /* the server said no; its message printed */
#define ADMIN_EXIT_CONNECT 3 /* cannot connect, TLS, not the API's answer */
#define ADMIN_EXIT_LOCAL 4 /* a local file is wrong */

struct admin {
	struct https_client *https;
	const struct https_options *opts; /* for more connections */
	int is_json;
	int last_code; /* HTTP status of the last answer */
	int is_quiet_conflict; /* a 409 is expected: do not print it */
};

#define ADMIN_OPTION_MAX 32
#define ADMIN_ARGS_MAX 32

/* A parsed command line: options by their index, then positionals. */
struct admin_args {
	const char *value[ADMIN_OPTION_MAX]; /* "" for a flag that is set */
	const char *pos[ADMIN_ARGS_MAX];
	size_t pos_count;
};

/* The value of an option ("" for a flag), NULL when not given. */
const char *admin_opt(const struct admin_args *a, const char *name);

/* Print a usage error and return ADMIN_EXIT_USAGE. */
int admin_usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * One API call. On 2xx, *out is the answer's JSON object (the caller
 * decrefs it) and raw, when not NULL, its bytes (the caller buf_frees
 * it). Otherwise the refusal or failure is printed on stderr and the
 * exit code returned.
 */
int admin_call(struct admin *ad, const char *method, const char *path,
    const char *json, json_t **out, struct buf *raw);

/* Percent-encode s into b (a path segment or a query value). */
enum status admin_escape(struct buf *b, const char *s) MUST_CHECK;

/* The body of a revoke: {"reason": R} or {}; the caller frees. */
char *admin_reason_body(const char *reason);

/* The body of POST enrollment-secrets; ttl checked. Caller frees. */
enum status admin_secret_body(const char *device, const char *profile,
    const char *ttl, char **out) MUST_CHECK;

/* Overwrite the string at key in o (a secret) before o is freed. */
void admin_json_wipe(json_t *o, const char *key);

/* secrets import FILE.csv --out FILE, and revoke --from FILE. */
int admin_secrets_import(struct admin *ad, const struct admin_args *a);
int admin_bulk_revoke(struct admin *ad, const struct admin_args *a);

#endif
