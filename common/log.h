/*
 * Logging to standard error, one line per event, with a UTC time stamp.
 * Never log a secret, a private key or a request body: name a certificate
 * by serial, a key by label, a token by jti.
 */
#ifndef TESSERA_COMMON_LOG_H
#define TESSERA_COMMON_LOG_H

#include <stddef.h>

#include "common/status.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_MAX
};

/* Set the lowest level that is written; TESSERA_LOG=debug|info|warn|error. */
void log_set_level(enum log_level level);
void log_init_from_env(void);

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

#endif
