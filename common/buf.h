/*
 * A growable byte buffer with a hard maximum: appending past max fails with
 * ST_LIMIT instead of growing without bound.
 */
#ifndef TESSERA_COMMON_BUF_H
#define TESSERA_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* Start empty with a hard maximum of max bytes. */
void buf_init(struct buf *b, size_t max);

/* Append n bytes; ST_LIMIT past max, ST_NOMEM; b is unchanged on failure. */
enum status buf_append(struct buf *b, const void *p, size_t n) MUST_CHECK;

/* Append a printf-formatted string (without its NUL). */
enum status
buf_printf(struct buf *b, const char *fmt, ...) MUST_CHECK PRINTF_LIKE(2, 3);

/*
 * Make room for n more bytes (for a reader that writes into data + len
 * itself); ST_LIMIT past max, ST_NOMEM.
 */
enum status buf_reserve(struct buf *b, size_t n) MUST_CHECK;

/*
 * Append a DER tag and the definite length len (X.690 §8.1.3, the
 * shortest form); the len content bytes are the caller's to append next.
 */
enum status buf_der_head(struct buf *b, uint8_t tag, size_t len) MUST_CHECK;

/* Keep a NUL after the last byte so data can be read as a C string. */
enum status buf_terminate(struct buf *b) MUST_CHECK;

/* Free the memory; wipes it first (buffers may have held secrets). */
void buf_free(struct buf *b);

#endif
