/* issuer: an issuing CA that publishes for what it issued (issuer.h). */
#include <stdlib.h>
#include <string.h>

#include "ca/issue.h"
#include "ca/issuer.h"
#include "ca/ocsp.h"
#include "signer/signer.h"

struct issuer {
	int gen;
	X509 *cert;
	struct signer_key *key;
	char serial[41];
	struct ca_ocsp *ocsp; /* answers signed with key */
	int is_retired; /* atomic: set once by the scheduler */
	int64_t until; /* the tick's thread only */
};

enum status
issuer_open(X509 *cert, struct signer_key *key, int gen, int64_t ocsp_validity,
    struct issuer **out)
{
	struct ca_ocsp_config oc;
	struct issuer *is;
	enum status st;

	*out = NULL;
	if (X509_check_private_key(cert, signer_key_get0_public(key)) != 1) {
		st = status_fail(ST_CONFLICT,
		    "the retiring issuing CA's key %s does not match its "
		    "certificate (ca/retiring.pem)",
		    signer_key_label(key));
		signer_key_free(key);
		return st;
	}
	if ((is = calloc(1, sizeof(*is))) == NULL || !X509_up_ref(cert)) {
		free(is);
		signer_key_free(key);
		return ST_NOMEM;
	}
	is->cert = cert;
	is->key = key;
	is->gen = gen;
	memset(&oc, 0, sizeof(oc));
	oc.issuer = cert;
	oc.responder = cert;
	oc.responder_key = key;
	oc.validity_seconds = ocsp_validity;
	if ((st = ca_cert_serial_hex(cert, is->serial)) != ST_OK ||
	    (st = ca_ocsp_new(&oc, &is->ocsp)) != ST_OK) {
		issuer_free(is);
		return st;
	}
	*out = is;
	return ST_OK;
}

void
issuer_free(struct issuer *is)
{
	if (is == NULL)
		return;
	ca_ocsp_free(is->ocsp);
	signer_key_free(is->key);
	X509_free(is->cert);
	free(is);
}

int
issuer_gen(const struct issuer *is)
{
	return is->gen;
}

X509 *
issuer_cert(const struct issuer *is)
{
	return is->cert;
}

const struct signer_key *
issuer_key(const struct issuer *is)
{
	return is->key;
}

const char *
issuer_serial(const struct issuer *is)
{
	return is->serial;
}

struct ca_ocsp *
issuer_ocsp(const struct issuer *is)
{
	return is->ocsp;
}

int
issuer_is_retired(const struct issuer *is)
{
	return __atomic_load_n(&is->is_retired, __ATOMIC_ACQUIRE);
}

void
issuer_set_retired(struct issuer *is)
{
	__atomic_store_n(&is->is_retired, 1, __ATOMIC_RELEASE);
}

int64_t
issuer_until(const struct issuer *is)
{
	return is->until;
}

void
issuer_set_until(struct issuer *is, int64_t until)
{
	is->until = until;
}
