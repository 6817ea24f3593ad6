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
