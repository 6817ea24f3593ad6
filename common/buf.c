#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static enum status
reserve(struct buf *b, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (need <= b->cap)
		return ST_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	/* Not realloc: the old block may hold a secret and must be wiped. */
	if ((p = malloc(cap)) == NULL)
		return ST_NOMEM;
	if (b->len > 0)
		memcpy(p, b->data, b->len);
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return ST_OK;
}

enum status
buf_append(struct buf *b, const void *p, size_t n)
{
	enum status st;

	if (n > b->max || b->len > b->max - n)
		return status_fail(ST_LIMIT, "more than %zu bytes", b->max);
	if ((st = reserve(b, b->len + n + 1)) != ST_OK)
		return st;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return ST_OK;
}

enum status
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256], *big = NULL;
	int n;
	enum status st;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return status_fail(ST_INTERNAL, "format failed");
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if ((big = malloc((size_t)n + 1)) == NULL)
		return ST_NOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	st = buf_append(b, big, (size_t)n);
	free(big);
	return st;
}

enum status
buf_terminate(struct buf *b)
{
	return reserve(b, b->len + 1) == ST_OK ? (b->data[b->len] = '\0', ST_OK)
	                                       : ST_NOMEM;
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

enum status
buf_der_head(struct buf *b, uint8_t tag, size_t len)
{
	uint8_t head[2 + sizeof(len)];
	size_t n = 0, i;

	head[n++] = tag;
	if (len < 0x80) {
		head[n++] = (uint8_t)len;
		return buf_append(b, head, n);
	}
	for (i = sizeof(len); ((len >> (8 * (i - 1))) & 0xff) == 0; i--)
		;
	head[n++] = (uint8_t)(0x80 | i);
	for (; i > 0; i--)
		head[n++] = (uint8_t)(len >> (8 * (i - 1)));
	return buf_append(b, head, n);
}

enum status
buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return status_fail(ST_LIMIT, "more than %zu bytes", b->max);
	return reserve(b, b->len + n + 1);
}
