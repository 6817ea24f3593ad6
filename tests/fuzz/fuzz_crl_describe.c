/*
 * libFuzzer target: bytes as a DER CRL, walked by ca_crl_describe (the
 * times and the entry count, entries never decoded). When OpenSSL reads
 * the same bytes as exactly one CRL too, both must count the same
 * entries and read the same thisUpdate.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/crl.h"
#include "ca/issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_crl_info info;
	const unsigned char *p = data;
	X509_CRL *crl;
	STACK_OF(X509_REVOKED) * revoked;
	size_t n;

	if (ca_crl_describe(data, size, &info) != ST_OK) {
		if (info.entries != 0 || info.this_update != 0)
			abort(); /* a failure leaves nothing behind */
		ERR_clear_error();
		return 0;
	}
	crl = d2i_X509_CRL(NULL, &p, (long)size);
	if (crl != NULL && p == data + size) {
		revoked = X509_CRL_get_REVOKED(crl);
		n = revoked != NULL ? (size_t)sk_X509_REVOKED_num(revoked) : 0;
		if (n != info.entries)
			abort();
		if (ca_time_unix(X509_CRL_get0_lastUpdate(crl)) !=
		    info.this_update)
			abort();
	}
	X509_CRL_free(crl);
	ERR_clear_error();
	return 0;
}
