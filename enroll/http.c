#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "enroll/http.h"

void
http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 500;
	buf_init(&r->body, HTTP_RESPONSE_MAX);
}

void
http_response_free(struct http_response *r)
{
	buf_free(&r->body);
	r->header_count = 0;
}

enum status
http_response_header(
    struct http_response *r, const char *name, const char *fmt, ...)
{
	struct http_header *h;
	va_list ap;
	int n;

	if (r->header_count == HTTP_HEADERS_MAX)
		return status_fail(ST_LIMIT, "too many response headers");
	h = &r->headers[r->header_count];
	va_start(ap, fmt);
	n = vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(h->value))
		return status_fail(ST_LIMIT, "header %s too long", name);
	h->name = name;
	r->header_count++;
	return ST_OK;
}

const char *
http_response_header_get(const struct http_response *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->header_count; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static void PRINTF_LIKE(3, 0)
    verror(struct http_response *r, int code, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	buf_free(&r->body);
	buf_init(&r->body, HTTP_RESPONSE_MAX);
	r->status = code;
	r->content_type = "text/plain; charset=utf-8";
	/* RFC 8951 §5 allows a human-readable text/plain error body. */
	if (buf_printf(&r->body, "%s\n", msg) != ST_OK)
		buf_free(&r->body);
}

void
http_response_error(struct http_response *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(r, code, fmt, ap);
	va_end(ap);
}

int
http_code_for(enum status st)
{
	switch (st) {
	case ST_OK:
		return 200;
	case ST_MALFORMED:
		return 400;
	case ST_LIMIT:
		return 413;
	case ST_UNAUTHENTICATED:
		return 401;
	case ST_DENIED:
		return 403;
	case ST_NOTFOUND:
		return 404;
	case ST_CONFLICT:
		return 409;
	case ST_UNAVAILABLE:
		return 503;
	default:
		return 500;
	}
}

void
http_response_status(struct http_response *r, enum status st)
{
	const char *detail = status_detail();
	int code = http_code_for(st);

	/* Internal details stay in the log; the client learns the kind. */
	if (code == 500 && detail[0] != '\0')
		log_error("answered 500 (%s): %s", status_name(st), detail);
	if (code == 500 || detail[0] == '\0')
		http_response_error(r, code, "%s", status_name(st));
	else
		http_response_error(r, code, "%s", detail);
}

int
http_media_type_is(const char *value, const char *want)
{
	size_t n = strlen(want);

	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	return strncasecmp(value, want, n) == 0 &&
	    (value[n] == '\0' || value[n] == ';' || value[n] == ' ' ||
	        value[n] == '\t');
}
