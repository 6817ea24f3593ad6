#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "common/b64url.h"
#include "enroll/codec.h"

enum status
codec_b64_decode(const uint8_t *in, size_t in_len, size_t max, uint8_t **out,
    size_t *out_len)
{
	uint8_t *data = NULL;
	size_t i, o = 0, chars = 0, pad = 0, cap;
	uint32_t acc = 0;
	int v;

	*out = NULL;
	*out_len = 0;
	/* Bound the work before allocating: 3 bytes per 4 characters. */
	cap = in_len / 4 * 3 + 3;
	if (cap > max + 3)
		cap = max + 3;
	if ((data = malloc(cap)) == NULL)
		return ST_NOMEM;
	for (i = 0; i < in_len; i++) {
		uint8_t c = in[i];

		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			/* At most two, only at the end of a quantum. */
			if (++pad > 2 || chars % 4 < 2)
				goto bad;
			chars++;
			continue;
		}
		if (pad > 0 || (v = b64_digit(c, 0)) < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		chars++;
		if (chars % 4 == 0) {
			if (o + 3 > max) {
				free(data);
				return status_fail(ST_LIMIT,
				    "body decodes to more than %zu bytes", max);
			}
			data[o++] = (uint8_t)(acc >> 16);
			data[o++] = (uint8_t)(acc >> 8);
			data[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (chars == 0 || chars % 4 != 0)
		goto bad;
	if (pad > 0) {
		/* The quantum with padding: acc holds 4 - pad sextets. */
		size_t keep = 3 - pad;
		uint32_t bits = acc << (6 * pad);

		if (o + keep > max) {
			free(data);
			return status_fail(ST_LIMIT,
			    "body decodes to more than %zu bytes", max);
		}
		/* Non-zero bits under the padding: not canonical base64. */
		if ((pad == 1 && (bits & 0xff)) ||
		    (pad == 2 && (bits & 0xffff)))
			goto bad;
		data[o++] = (uint8_t)(bits >> 16);
		if (keep == 2)
			data[o++] = (uint8_t)(bits >> 8);
	}
	*out = data;
	*out_len = o;
	return ST_OK;
bad:
	free(data);
	return status_fail(ST_MALFORMED,
	    "body is not base64 (RFC 7030 §4: base64 of DER, standard "
	    "alphabet with padding; line breaks allowed)");
}

enum status
codec_b64_encode(struct buf *b, const uint8_t *data, size_t len, int crlf)
{
	unsigned char line[66];
	size_t i, take;
	int n;
	enum status st;

	for (i = 0; i < len; i += 48) {
		take = len - i < 48 ? len - i : 48;
		n = EVP_EncodeBlock(line, data + i, (int)take);
		if ((st = buf_append(b, line, (size_t)n)) != ST_OK ||
		    (st = buf_append(b, crlf ? "\r\n" : "\n", crlf ? 2 : 1)) !=
		        ST_OK)
			return st;
	}
	OPENSSL_cleanse(line, sizeof(line));
	return ST_OK;
}

/* One certificate with its DER, for sorting the SET OF. */
struct cert_der {
	X509 *cert;
	unsigned char *der;
	size_t len;
};

/* X.690 §11.6: a DER SET OF is in the order of its elements' encodings,
 * compared as octet strings with the shorter padded by zeros. */
static int
cert_der_cmp(const void *pa, const void *pb)
{
	const struct cert_der *a = pa, *b = pb;
	size_t i, n = a->len > b->len ? a->len : b->len;

	for (i = 0; i < n; i++) {
		unsigned x = i < a->len ? a->der[i] : 0;
		unsigned y = i < b->len ? b->der[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* Octets of a DER length n; with q, written there. */
static size_t
der_len_put(uint8_t *q, size_t n)
{
	size_t k = 0, m;

	if (n < 0x80) {
		if (q != NULL)
			q[0] = (uint8_t)n;
		return 1;
	}
	for (m = n; m > 0; m >>= 8)
		k++;
	if (q != NULL) {
		q[0] = (uint8_t)(0x80 | k);
		for (m = 0; m < k; m++)
			q[1 + m] = (uint8_t)(n >> (8 * (k - 1 - m)));
	}
	return 1 + k;
}

/* A tag and the length n at *q, moving *q past them. */
static void
der_hdr(uint8_t **q, uint8_t tag, size_t n)
{
	*(*q)++ = tag;
	*q += der_len_put(*q, n);
}

enum status
codec_certs_only_der(const uint8_t *const *ders, const size_t *lens,
    size_t count, uint8_t **der, size_t *der_len)
{
	/* signedData, version 1, digestAlgorithms {}, encapContentInfo
	 * { id-data } (RFC 5652 §5.1, §5.2); the certificates; signerInfos
	 * {} */
	static const uint8_t oid_signed[] = {
	    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
	static const uint8_t head[] = {0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b,
	    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
	static const uint8_t tail[] = {0x31, 0x00};
	struct cert_der *sorted = NULL;
	size_t certs = 0, sd, ex, ci, i;
	uint8_t *out = NULL, *q;
	enum status st = ST_NOMEM;

	*der = NULL;
	*der_len = 0;
	if ((sorted = calloc(count ? count : 1, sizeof(*sorted))) == NULL)
		goto out;
	for (i = 0; i < count; i++) {
		sorted[i].der = (unsigned char *)ders[i];
		sorted[i].len = lens[i];
		certs += lens[i];
	}
	/* The SET OF in DER order (X.690 §11.6), as codec_certs_only. */
	qsort(sorted, count, sizeof(*sorted), cert_der_cmp);
	sd = sizeof(head) + 1 + der_len_put(NULL, certs) + certs + sizeof(tail);
	ex = 1 + der_len_put(NULL, sd) + sd;
	ci = sizeof(oid_signed) + 1 + der_len_put(NULL, ex) + ex;
	if ((out = OPENSSL_malloc(1 + der_len_put(NULL, ci) + ci)) == NULL)
		goto out;
	q = out;
	der_hdr(&q, 0x30, ci);
	memcpy(q, oid_signed, sizeof(oid_signed));
	q += sizeof(oid_signed);
	der_hdr(&q, 0xa0, ex);
	der_hdr(&q, 0x30, sd);
	memcpy(q, head, sizeof(head));
	q += sizeof(head);
	der_hdr(&q, 0xa0, certs);
	for (i = 0; i < count; i++) {
		memcpy(q, sorted[i].der, sorted[i].len);
		q += sorted[i].len;
	}
	memcpy(q, tail, sizeof(tail));
	q += sizeof(tail);
	*der = out;
	*der_len = (size_t)(q - out);
	st = ST_OK;
out:
	free(sorted);
	return st;
}

enum status
codec_certs_only(
    X509 *const *certs, size_t count, uint8_t **der, size_t *der_len)
{
	PKCS7 *p7 = NULL, *inner = NULL;
	struct cert_der *sorted = NULL;
	unsigned char *p = NULL;
	size_t i;
	int n;
	enum status st = ST_NOMEM;

	*der = NULL;
	*der_len = 0;
	/* certificates is a SET OF (RFC 5652 §5.1) that OpenSSL encodes in
	 * the order given: give it in DER order, or strict parsers refuse
	 * it (cryptography: InvalidSetOrdering). */
	if ((sorted = calloc(count ? count : 1, sizeof(*sorted))) == NULL)
		goto out;
	for (i = 0; i < count; i++) {
		sorted[i].cert = certs[i];
		if ((n = i2d_X509(certs[i], &sorted[i].der)) <= 0) {
			st = status_fail_ssl(ST_INTERNAL, "encode certificate");
			goto out;
		}
		sorted[i].len = (size_t)n;
	}
	qsort(sorted, count, sizeof(*sorted), cert_der_cmp);
	if ((p7 = PKCS7_new()) == NULL)
		goto out;
	if (!PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !ASN1_INTEGER_set(p7->d.sign->version, 1))
		goto out;
	/* RFC 5652 §5.2: no signed content, so eContentType id-data and the
	 * eContent omitted (PKCS7_content_new would add an empty one). */
	if ((inner = PKCS7_new()) == NULL ||
	    (inner->type = OBJ_nid2obj(NID_pkcs7_data)) == NULL ||
	    !PKCS7_set_content(p7, inner))
		goto out;
	inner = NULL;
	for (i = 0; i < count; i++)
		if (!PKCS7_add_certificate(p7, sorted[i].cert))
			goto out;
	if ((n = i2d_PKCS7(p7, &p)) <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "encode PKCS#7");
		goto out;
	}
	*der = p;
	*der_len = (size_t)n;
	st = ST_OK;
out:
	for (i = 0; sorted != NULL && i < count; i++)
		OPENSSL_free(sorted[i].der);
	free(sorted);
	PKCS7_free(inner);
	PKCS7_free(p7);
	return st;
}
