/*
 * Logging to standard error, one line per event, with a UTC time stamp.
 * Never log a secret, a private key or a request body: name a certificate
 * by serial, a key by label, a token by jti.
 */
#ifndef TESSERA_COMMON_LOG_H
#define TESSERA_COMMON_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_MAX
};

/* How a line is written: text (the default) or one JSON object a line. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_MAX };

/* Set the lowest level that is written; TESSERA_LOG=debug|info|warn|error. */
void log_set_level(enum log_level level);
void log_init_from_env(void);

/*
 * Write every line from now on in format (set once at start-up, before
 * any thread or worker starts). In JSON, a line is {"time": RFC 3339 UTC
 * with milliseconds, "level", "worker": the pid, "message"}.
 */
void log_set_format(enum log_format format);

/* "text" or "json" into *out; ST_MALFORMED (naming both) otherwise. */
enum status log_format_parse(const char *s, enum log_format *out) MUST_CHECK;

void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_error(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * s, from outside (a file, a request), made safe for a message: in double
 * quotes, bytes outside printable ASCII as \xNN, cut with "..." to fit cap
 * bytes. Returns out.
 */
const char *log_quote(const char *s, char *out, size_t cap);

/*
 * s with every control character (below 0x20, and DEL) as \xNN, so that
 * it can never start a line of a log or a record of its own; cut to fit
 * cap bytes with its NUL (4 * strlen(s) + 1 always fits). Returns the
 * length written. Every log line goes through it; the audit's fields too.
 */
size_t log_escape(const char *s, char *out, size_t cap);

/*
 * s as the contents of a JSON string (RFC 8259 §7): '"' and '\\' escaped,
 * control characters as \n, \t, ... or \u00XX, DEL as \u007f, bytes that
 * are not UTF-8 as \ufffd; cut (never inside an escape) to fit cap
 * bytes with its NUL (6 * strlen(s) + 1 always fits). Returns the length.
 */
size_t log_json_escape(const char *s, char *out, size_t cap);

/* One request as the access log has it (strings may be NULL: "-"). */
struct log_access_entry {
	const char *remote; /* the client's address */
	const char *method;
	const char *path; /* without the query */
	int status;
	size_t bytes; /* of the answer's body */
	int64_t duration_ns;
	const char *principal; /* "KIND:ID", or NULL when none */
};

/*
 * Open the access log: "stderr" (the log's own stream), else the file
 * path, appended to, created with mode (0600 or 0640) and narrowed to it
 * if it was wider; never a symbolic link. *fd is the caller's to close
 * with log_access_close.
 */
enum status log_access_open(const char *path, int mode, int *fd) MUST_CHECK;
void log_access_close(int fd);

/* Write e as one line (in the log's format) to fd, in one write. */
void log_access_write(int fd, const struct log_access_entry *e);

#endif
