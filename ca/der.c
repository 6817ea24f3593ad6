/*
 * DER reading (the PKCS#10 reader) and writing (the CRL and certificate
 * encoders); see der.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca/der.h"

int
ca_der_r_get(struct ca_der_r *r, uint8_t tag, struct ca_der_r *in,
    const uint8_t **tlv, size_t *tlv_len)
{
	const uint8_t *p = r->p;
	size_t avail, hdr, len, k, i;

	if (p >= r->end || (avail = (size_t)(r->end - p)) < 2 || p[0] != tag)
		return 0;
	if (p[1] < 0x80) {
		len = p[1];
		hdr = 2;
	} else {
		/* Long form: 1 to 3 octets, no leading zero, from 128 on. */
		k = p[1] & 0x7f;
		if (k == 0 || k > 3 || avail < 2 + k || p[2] == 0)
			return 0;
		for (len = 0, i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return 0;
		hdr = 2 + k;
	}
	if (len > avail - hdr)
		return 0;
	in->p = p + hdr;
	in->end = p + hdr + len;
	if (tlv != NULL) {
		*tlv = p;
		*tlv_len = hdr + len;
	}
	r->p = p + hdr + len;
	return 1;
}

int
ca_der_oid_ok(const uint8_t *c, size_t n)
{
	size_t i;

	if (n == 0 || (c[n - 1] & 0x80) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (c[i] == 0x80 && (i == 0 || (c[i - 1] & 0x80) == 0))
			return 0;
	return 1;
}

uint8_t *
ca_der_len_write(uint8_t *q, size_t n)
{
	size_t k = ca_der_len_size(n) - 1, i;

	if (k == 0) {
		*q++ = (uint8_t)n;
		return q;
	}
	*q++ = (uint8_t)(0x80 | k);
	for (i = k; i > 0; i--)
		*q++ = (uint8_t)(n >> (8 * (i - 1)));
	return q;
}

void
ca_der_put_hdr(struct ca_der_w *w, uint8_t tag, size_t n)
{
	uint8_t *q = ca_der_w_take(w, 1 + ca_der_len_size(n));

	if (q == NULL)
		return;
	*q++ = tag;
	ca_der_len_write(q, n);
}

void
ca_der_put_tlv(struct ca_der_w *w, uint8_t tag, const void *b, size_t n)
{
	ca_der_put_hdr(w, tag, n);
	ca_der_put(w, b, n);
}

size_t
ca_der_uint_len(const uint8_t *mag, size_t n)
{
	while (n > 0 && *mag == 0) {
		mag++;
		n--;
	}
	if (n == 0)
		return 1;
	return n + (*mag >> 7);
}

void
ca_der_put_uint(struct ca_der_w *w, const uint8_t *mag, size_t n)
{
	size_t len;

	while (n > 0 && *mag == 0) {
		mag++;
		n--;
	}
	len = ca_der_uint_len(mag, n);
	ca_der_put_hdr(w, CA_DER_INTEGER, len);
	/* Zero, or a set top bit: the 0x00 that keeps it positive. */
	if (len > n)
		ca_der_put_u8(w, 0);
	ca_der_put(w, mag, n);
}

int
ca_der_time_ok(int64_t t)
{
	return t >= CA_DER_T_MIN && t < CA_DER_T_MAX;
}

static uint8_t *
put2(uint8_t *q, int v)
{
	*q++ = (uint8_t)('0' + v / 10);
	*q++ = (uint8_t)('0' + v % 10);
	return q;
}

uint8_t *
ca_der_time_write(uint8_t *q, int64_t t)
{
	int64_t days = t / 86400, rem = t % 86400, z, era, doe, yoe, doy, mp;
	int year, month, day;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* Days to civil date, proleptic Gregorian (H. Hinnant's method). */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = (int)(doy - (153 * mp + 2) / 5 + 1);
	month = (int)(mp < 10 ? mp + 3 : mp - 9);
	year = (int)(yoe + era * 400 + (month <= 2));

	if (t >= CA_DER_T_1950 && t < CA_DER_T_2050) {
		*q++ = CA_DER_UTCTIME;
		*q++ = 13;
		q = put2(q, year % 100);
	} else {
		*q++ = CA_DER_GENTIME;
		*q++ = 15;
		q = put2(q, year / 100);
		q = put2(q, year % 100);
	}
	q = put2(q, month);
	q = put2(q, day);
	q = put2(q, (int)(rem / 3600));
	q = put2(q, (int)(rem / 60 % 60));
	q = put2(q, (int)(rem % 60));
	*q++ = 'Z';
	return q;
}

void
ca_der_put_time(struct ca_der_w *w, int64_t t)
{
	uint8_t *q = ca_der_w_take(w, ca_der_time_size(t));

	if (q != NULL)
		ca_der_time_write(q, t);
}
