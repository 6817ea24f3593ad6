/*
 * codec: the encodings EST puts on the wire. Base64 (RFC 4648 §4, the
 * standard alphabet with padding, never base64url) that tolerates the line
 * breaks and blanks RFC 8951 says receivers should accept, and the
 * certs-only PKCS#7 of RFC 7030 §4.1.3.
 */
#ifndef TESSERA_ENROLL_CODEC_H
#define TESSERA_ENROLL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/status.h"

/*
 * Decode base64 text of in_len bytes, skipping CR, LF, space and tab;
 * anything else outside the alphabet, bad padding or a length that is not
 * a multiple of 4 is ST_MALFORMED; more than max decoded bytes ST_LIMIT.
 * The caller frees *out with free().
 */
enum status codec_b64_decode(const uint8_t *in, size_t in_len, size_t max,
    uint8_t **out, size_t *out_len) MUST_CHECK;

/* Append base64 of data to b in lines of 64 characters, each ending in
 * "\r\n" when crlf, else "\n". */
enum status codec_b64_encode(
    struct buf *b, const uint8_t *data, size_t len, int crlf) MUST_CHECK;

/*
 * DER of a degenerate PKCS#7 SignedData holding certs (certs-only, no
 * signers, eContentType id-data with the eContent omitted: RFC 5652 §5.2),
 * the certificates in DER SET OF order, not the order given. The caller
 * frees *der with OPENSSL_free.
 */
enum status codec_certs_only(X509 *const *certs, size_t count, uint8_t **der,
    size_t *der_len) MUST_CHECK;

/*
 * The same bytes from the certificates' DER (ders[i], lens[i] octets),
 * written directly: no X509 to parse, no PKCS7 to build. The caller frees
 * *der with OPENSSL_free.
 */
enum status codec_certs_only_der(const uint8_t *const *ders, const size_t *lens,
    size_t count, uint8_t **der, size_t *der_len) MUST_CHECK;

#endif
