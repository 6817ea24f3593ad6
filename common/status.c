#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "common/log.h"
#include "common/status.h"

#define DETAIL_CAP 512

static _Thread_local char detail[DETAIL_CAP];

static const char *const names[ST_MAX] = {
    [ST_OK] = "ok",
    [ST_NOMEM] = "out of memory",
    [ST_MALFORMED] = "malformed",
    [ST_LIMIT] = "over limit",
    [ST_UNAUTHENTICATED] = "unauthenticated",
    [ST_DENIED] = "denied",
    [ST_NOTFOUND] = "not found",
    [ST_CONFLICT] = "conflict",
    [ST_UNAVAILABLE] = "unavailable",
    [ST_STORE] = "store failure",
    [ST_INTERNAL] = "internal error",
};

static void PRINTF_LIKE(1, 0) vset(const char *fmt, va_list ap)
{
	int n;

	n = vsnprintf(detail, sizeof(detail), fmt, ap);
	if (n < 0)
		detail[0] = '\0';
}

enum status
status_fail(enum status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	log_debug("%s: %s", status_name(st), detail);
	return st;
}

enum status
status_fail_ssl(enum status st, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	size_t used;
	char reason[256];

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	e = ERR_peek_last_error();
	if (e != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		used = strlen(detail);
		if (used < sizeof(detail) - 1)
			snprintf(detail + used, sizeof(detail) - used, " (%s)",
			    reason);
	}
	ERR_clear_error();
	log_debug("%s: %s", status_name(st), detail);
	return st;
}

const char *
status_detail(void)
{
	return detail;
}

void
status_clear(void)
{
	detail[0] = '\0';
	ERR_clear_error();
}

const char *
status_name(enum status st)
{
	if ((unsigned)st >= ST_MAX || names[st] == NULL)
		return "unknown";
	return names[st];
}
