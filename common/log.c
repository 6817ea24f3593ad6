#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/*
 * The one piece of process-wide mutable state in common/ (the level and
 * the format): set once at start-up, read afterwards.
 */
static enum log_level min_level = LOG_LEVEL_INFO;
static enum log_format line_format = LOG_FORMAT_TEXT;

static const char *const format_names[LOG_FORMAT_MAX] = {"text", "json"};

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

void
log_set_format(enum log_format format)
{
	if (format < LOG_FORMAT_MAX)
		line_format = format;
}

enum status
log_format_parse(const char *s, enum log_format *out)
{
	int i;

	for (i = 0; s != NULL && i < LOG_FORMAT_MAX; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum log_format)i;
			return ST_OK;
		}
	}
	return status_fail(ST_MALFORMED,
	    "log format %.32s: expected \"text\" or \"json\"",
	    s != NULL ? s : "(none)");
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629 §4), or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing past U+10FFFF */
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

size_t
log_json_escape(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t o = 0, n, len;

	if (cap == 0)
		return 0;
	while (*p != '\0') {
		esc[0] = '\0';
		len = 1;
		if (*p == '"' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (*p == '\r')
			snprintf(esc, sizeof(esc), "\\r");
		else if (*p == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		else if ((len = utf8_len(p)) == 0) {
			snprintf(esc, sizeof(esc), "\\ufffd");
			len = 1;
		}
		n = esc[0] != '\0' ? strlen(esc) : len;
		if (o + n >= cap)
			break;
		memcpy(out + o, esc[0] != '\0' ? esc : (const char *)p, n);
		o += n;
		p += len;
	}
	out[o] = '\0';
	return o;
}

/* The time now: "2026-12-02T07:00:00Z", or with milliseconds for JSON. */
static void
stamp_now(char *out, size_t cap, int with_ms)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms)
		snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
	else
		snprintf(out + n, cap - n, "Z");
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

/*
 * One line to fd in one write(2), so that lines of several processes never
 * mix. Formatted here rather than by dprintf, which sets a FILE up around
 * fd for every call (an fstat and an lseek each line: a line is logged per
 * enrollment). A line longer than the buffer goes through dprintf.
 */
static void PRINTF_LIKE(2, 3) line_write(int fd, const char *fmt, ...)
{
	char out[8192];
	va_list ap;
	size_t off = 0;
	ssize_t w;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out)) {
		va_start(ap, fmt);
		vdprintf(fd, fmt, ap);
		va_end(ap);
		return;
	}
	while (off < (size_t)n) {
		w = write(fd, out + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void
    PRINTF_LIKE(2, 0) vlog(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024], safe[6 * sizeof(line)], stamp[40];
	int n;

	if (level < min_level)
		return;
	stamp_now(stamp, sizeof(stamp), line_format == LOG_FORMAT_JSON);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (line_format == LOG_FORMAT_JSON) {
		/* One object a line; the escape keeps it on one line. */
		log_json_escape(line, safe, sizeof(safe));
		line_write(STDERR_FILENO,
		    "{\"time\":\"%s\",\"level\":\"%s\",\"worker\":%d,"
		    "\"message\":\"%s\"}\n",
		    stamp, level_names[level], (int)getpid(), safe);
		return;
	}
	/*
	 * Whatever a message carries from outside (a device id, a header, a
	 * path, a name in a CSR), a control character in it never starts a
	 * line of its own: this is the one place every line passes.
	 */
	log_escape(line, safe, sizeof(safe));
	/* One write per line, so that lines of several processes never mix. */
	line_write(STDERR_FILENO, "%s tessera[%d] %s: %s\n", stamp,
	    (int)getpid(), level_names[level], safe);
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

enum status
log_access_open(const char *path, int mode, int *fd)
{
	struct stat sb;
	int f;

	*fd = -1;
	if (mode != 0600 && mode != 0640)
		return status_fail(ST_MALFORMED,
		    "access log mode %o: 0600 or 0640 only", (unsigned)mode);
	if (strcmp(path, "stderr") == 0) {
		*fd = STDERR_FILENO;
		return ST_OK;
	}
	f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    (mode_t)mode);
	if (f < 0)
		return status_fail(
		    ST_UNAVAILABLE, "access log %s: %s", path, strerror(errno));
	if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return status_fail(
		    ST_UNAVAILABLE, "access log %s: not a regular file", path);
	}
	/* A file made wider by hand is narrowed: it names every client. */
	if ((sb.st_mode & 0777 & ~(mode_t)mode) != 0 &&
	    fchmod(f, (mode_t)mode) != 0) {
		close(f);
		return status_fail(ST_UNAVAILABLE, "access log %s: chmod: %s",
		    path, strerror(errno));
	}
	*fd = f;
	return ST_OK;
}

void
log_access_close(int fd)
{
	if (fd > STDERR_FILENO)
		close(fd);
}

void
log_access_write(int fd, const struct log_access_entry *e)
{
	char stamp[40], remote[6 * 64], method[6 * 16], path[6 * 256];
	char principal[6 * 128], cut[256];
	double secs = (double)e->duration_ns / 1e9;
	int is_json = line_format == LOG_FORMAT_JSON;
	size_t (*esc)(const char *, char *, size_t) =
	    is_json ? log_json_escape : log_escape;

	if (fd < 0)
		return;
	stamp_now(stamp, sizeof(stamp), is_json);
	/* Each field bounded: a path of 200 kB is not a line of 200 kB. */
	snprintf(cut, sizeof(cut), "%s", e->remote ? e->remote : "-");
	esc(cut, remote, sizeof(remote));
	snprintf(cut, sizeof(cut), "%.15s", e->method ? e->method : "-");
	esc(cut, method, sizeof(method));
	snprintf(cut, sizeof(cut), "%s", e->path ? e->path : "-");
	/* In text, quoted: a '"' in the path cannot end the field. */
	if (is_json)
		log_json_escape(cut, path, sizeof(path));
	else
		log_quote(cut, path, sizeof(path));
	snprintf(cut, sizeof(cut), "%.127s",
	    e->principal && e->principal[0] ? e->principal : "-");
	esc(cut, principal, sizeof(principal));
	if (is_json)
		line_write(fd,
		    "{\"time\":\"%s\",\"level\":\"info\",\"worker\":%d,"
		    "\"type\":\"access\",\"remote\":\"%s\",\"method\":\"%s\","
		    "\"path\":\"%s\",\"status\":%d,\"bytes\":%zu,"
		    "\"duration\":%.6f,\"principal\":%s%s%s}\n",
		    stamp, (int)getpid(), remote, method, path, e->status,
		    e->bytes, secs, e->principal && e->principal[0] ? "\"" : "",
		    e->principal && e->principal[0] ? principal : "null",
		    e->principal && e->principal[0] ? "\"" : "");
	else
		line_write(fd,
		    "%s tessera[%d] access: %s %s %s %d %zu %.6f %s\n", stamp,
		    (int)getpid(), remote, method, path, e->status, e->bytes,
		    secs, principal);
}
