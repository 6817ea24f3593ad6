#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/*
 * The one piece of process-wide mutable state in common/: set once at
 * start-up, read afterwards.
 */
static enum log_level min_level = LOG_LEVEL_INFO;

static const char *const level_names[LOG_LEVEL_MAX] = {
    "debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	if (level < LOG_LEVEL_MAX)
		min_level = level;
}

void
log_init_from_env(void)
{
	const char *v = getenv("TESSERA_LOG");
	int i;

	if (v == NULL)
		return;
	for (i = 0; i < LOG_LEVEL_MAX; i++)
		if (strcmp(v, level_names[i]) == 0)
			min_level = (enum log_level)i;
}

size_t
log_escape(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)*p;
		} else {
			if (o + 4 >= cap)
				break;
			snprintf(out + o, cap - o, "\\x%02x", *p);
			o += 4;
		}
	}
	out[o] = '\0';
	return o;
}

static void
    PRINTF_LIKE(2, 0) vlog(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024], safe[4 * sizeof(line)], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/*
	 * Whatever a message carries from outside (a device id, a header, a
	 * path, a name in a CSR), a control character in it never starts a
	 * line of its own: this is the one place every line passes.
	 */
	log_escape(line, safe, sizeof(safe));
	/* One write per line, so that lines of several processes never mix. */
	dprintf(STDERR_FILENO, "%s tessera[%d] %s: %s\n", stamp, (int)getpid(),
	    level_names[level], safe);
}

#define LOG_FN(name, level)                                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, fmt, ap);                                          \
		va_end(ap);                                                    \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

const char *
log_quote(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;

	if (cap < 12) {
		if (cap > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (; *p != '\0'; p++) {
		if (o + 4 + 5 >= cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
			out[o++] = (char)*p;
		else {
			snprintf(out + o, cap - o, "\\x%02x", *p);
			o += 4;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
