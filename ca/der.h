/*
 * ca/der: the DER that tessera writes and reads itself (X.690 §10). Read:
 * a bounded cursor that takes one TLV at a time, one-octet tags and
 * minimal definite lengths only (ca/csr.c's PKCS#10 reader). Write, shared
 * by the CRL builder (ca/crl.c) and the certificate template
 * (ca/certder.c): a
 * bounded writer that stops before a byte would land past its end, the
 * length and tag headers, INTEGERs from a big-endian magnitude, and the
 * Time of RFC 5280 §4.1.2.5 (UTCTime through 2049, GeneralizedTime from
 * 2050). Callers size their buffer exactly first (the _size functions),
 * write, and check that the writer ended where they said it would.
 */
#ifndef TESSERA_CA_DER_H
#define TESSERA_CA_DER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/status.h"

/* X.690 identifier octets tessera writes. */
#define CA_DER_BOOLEAN 0x01
#define CA_DER_INTEGER 0x02
#define CA_DER_BIT_STRING 0x03
#define CA_DER_OCTET_STRING 0x04
#define CA_DER_OID 0x06
#define CA_DER_NULL 0x05
#define CA_DER_ENUMERATED 0x0a
#define CA_DER_UTF8STRING 0x0c
#define CA_DER_PRINTABLESTRING 0x13
#define CA_DER_IA5STRING 0x16
#define CA_DER_UNIVERSALSTRING 0x1c
#define CA_DER_BMPSTRING 0x1e
#define CA_DER_UTCTIME 0x17
#define CA_DER_GENTIME 0x18
#define CA_DER_SEQUENCE 0x30
#define CA_DER_SET 0x31
/* [n] IMPLICIT of a primitive, [n] of a constructed (or EXPLICIT). */
#define CA_DER_CTX(n) (0x80 | (n))
#define CA_DER_CTX_CONS(n) (0xa0 | (n))

/* Time bounds, seconds since the epoch (RFC 5280 §4.1.2.5, §5.1.2.4). */
#define CA_DER_T_1950 (-631152000LL) /* 1950-01-01: UTCTime from here */
#define CA_DER_T_2050 2524608000LL /* 2050-01-01: GeneralizedTime */
#define CA_DER_T_MIN (-62167219200LL) /* 0000-01-01 */
#define CA_DER_T_MAX 253402300800LL /* 10000-01-01 */

/*
 * A reader over [p, end): every read checks its bounds; a read that fails
 * leaves the reader where it was.
 */
struct ca_der_r {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void
ca_der_r_init(struct ca_der_r *r, const uint8_t *der, size_t len)
{
	r->p = der;
	r->end = der + len;
}

/* 1 when nothing is left. */
static inline int
ca_der_r_empty(const struct ca_der_r *r)
{
	return r->p == r->end;
}

/* 1 when the next TLV has tag (one octet), without reading it. */
static inline int
ca_der_r_peek(const struct ca_der_r *r, uint8_t tag)
{
	return r->p < r->end && r->p[0] == tag;
}

/*
 * One TLV of tag at the reader's position, in DER: a definite length of
 * at most three octets, in its shortest form, within the reader. 1 and
 * the reader past it, *in over its content and, when tlv is not NULL, the
 * whole TLV's bytes in *tlv and *tlv_len; else 0.
 */
int ca_der_r_get(struct ca_der_r *r, uint8_t tag, struct ca_der_r *in,
    const uint8_t **tlv, size_t *tlv_len) MUST_CHECK;

/*
 * A whole OBJECT IDENTIFIER's content is well formed as X.690 §8.19 and
 * OpenSSL's c2i_ASN1_OBJECT read it: not empty, every subidentifier
 * minimal (no leading 0x80), the last octet ends one.
 */
int ca_der_oid_ok(const uint8_t *c, size_t n);

/*
 * A writer over [p, end). A write that does not fit writes nothing and
 * marks the writer short; every later write is then dropped too, so a
 * caller checks once, at the end (ca_der_w_done).
 */
struct ca_der_w {
	uint8_t *p;
	uint8_t *end;
	int is_short;
};

static inline void
ca_der_w_init(struct ca_der_w *w, uint8_t *buf, size_t cap)
{
	w->p = buf;
	w->end = buf + cap;
	w->is_short = 0;
}

/*
 * n bytes of room at the writer's position, which the caller then fills
 * exactly; NULL (and the writer short) when they do not fit.
 */
static inline uint8_t *
ca_der_w_take(struct ca_der_w *w, size_t n)
{
	uint8_t *q = w->p;

	if (w->is_short || (size_t)(w->end - w->p) < n) {
		w->is_short = 1;
		return NULL;
	}
	w->p += n;
	return q;
}

static inline void
ca_der_put(struct ca_der_w *w, const void *b, size_t n)
{
	uint8_t *q = ca_der_w_take(w, n);

	if (q != NULL && n > 0)
		memcpy(q, b, n);
}

static inline void
ca_der_put_u8(struct ca_der_w *w, uint8_t v)
{
	uint8_t *q = ca_der_w_take(w, 1);

	if (q != NULL)
		*q = v;
}

/* 1 when every write fitted and the writer stands exactly at want. */
static inline int
ca_der_w_done(const struct ca_der_w *w, const uint8_t *want)
{
	return !w->is_short && w->p == want;
}

/* Octets of a definite length n: 1 below 128, else 1 + its bytes. */
static inline size_t
ca_der_len_size(size_t n)
{
	size_t k = 1;

	if (n < 0x80)
		return 1;
	while (n > 0) {
		k++;
		n >>= 8;
	}
	return k;
}

/* Octets of a whole TLV with one-octet tag and content of n octets. */
static inline size_t
ca_der_tlv_size(size_t n)
{
	return 1 + ca_der_len_size(n) + n;
}

/* Write length n at q (ca_der_len_size(n) octets); returns past it. */
uint8_t *ca_der_len_write(uint8_t *q, size_t n);

/* Tag and length of a TLV whose content (n octets) follows. */
void ca_der_put_hdr(struct ca_der_w *w, uint8_t tag, size_t n);

/* A whole TLV: tag, length, the n content octets of b. */
void ca_der_put_tlv(struct ca_der_w *w, uint8_t tag, const void *b, size_t n);

/*
 * Content octets of the INTEGER whose value is the unsigned big-endian
 * mag (n octets, leading zeros allowed): leading zeros dropped, one 0x00
 * before a set top bit, and 00 for zero.
 */
size_t ca_der_uint_len(const uint8_t *mag, size_t n);

/* The INTEGER TLV of that value. */
void ca_der_put_uint(struct ca_der_w *w, const uint8_t *mag, size_t n);

/* 1 if t can be written as a Time: year 0000 to 9999. */
int ca_der_time_ok(int64_t t);

/* Octets of t's Time TLV: 15 (UTCTime) or 17 (GeneralizedTime). */
static inline size_t
ca_der_time_size(int64_t t)
{
	return t >= CA_DER_T_1950 && t < CA_DER_T_2050 ? 2 + 13 : 2 + 15;
}

/*
 * Write t (ca_der_time_ok) as a Time TLV at q, which has room for
 * ca_der_time_size(t) octets; returns past it. The raw form is for loops
 * that took their room once (a CRL's million entries).
 */
uint8_t *ca_der_time_write(uint8_t *q, int64_t t);

void ca_der_put_time(struct ca_der_w *w, int64_t t);

#endif
