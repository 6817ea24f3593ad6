/*
 * One status enum for all of tessera, and a thread-local detail line that
 * says, for a human, what exactly went wrong.
 */
#ifndef TESSERA_COMMON_STATUS_H
#define TESSERA_COMMON_STATUS_H

#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

enum status {
	ST_OK = 0,
	ST_NOMEM, /* allocation failed */
	ST_MALFORMED, /* input does not parse */
	ST_LIMIT, /* input over a named limit */
	ST_UNAUTHENTICATED, /* who is asking is not proven */
	ST_DENIED, /* proven, but not allowed */
	ST_NOTFOUND, /* no such object */
	ST_CONFLICT, /* exists already, or state forbids it */
	ST_UNAVAILABLE, /* HSM or another dependency is not there */
	ST_STORE, /* the store failed */
	ST_INTERNAL, /* a bug or an unexpected library failure */
	ST_MAX
};

/*
 * Record a detail line for the current thread (printf format), log it at
 * debug level and return st, so that callers can write
 * "return status_fail(ST_MALFORMED, ...)".
 */
enum status status_fail(enum status st, const char *fmt, ...) PRINTF_LIKE(2, 3);

/*
 * Like status_fail, then appends the reason of the newest OpenSSL error
 * queue entry (if any) and clears the queue.
 */
enum status
status_fail_ssl(enum status st, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The current thread's detail line; "" when none. Valid until the next call. */
const char *status_detail(void);

/* Forget the detail line (and the OpenSSL error queue). */
void status_clear(void);

/* A short stable name for st ("malformed", "denied", ...). */
const char *status_name(enum status st);

#endif
