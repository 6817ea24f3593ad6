/*
 * libFuzzer target: the signer process's request parser, what any process
 * that reaches the signer socket controls. Each input is one frame body,
 * handed to the parser and, when it parses, to the request handling of a
 * signer over a software key (its purpose checks included). Whatever the
 * input: no crash, a parsed request re-encodes to the same bytes, and the
 * answer frame parses as an answer to the same id.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "signer/server.h"
#include "signer/soft.h"
#include "signer/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct signer *holder;

static void
setup(void)
{
	struct signer_key *k = NULL;
	EVP_PKEY *key;
	static const char *const labels[] = {"issuing", "token", "audit"};
	static const enum signer_role roles[] = {
	    SIGNER_ROLE_ISSUING, SIGNER_ROLE_TOKEN, SIGNER_ROLE_AUDIT};
	size_t i;

	if (signer_soft_open(NULL, NULL, 0, &holder) != ST_OK)
		abort();
	for (i = 0; i < 3; i++) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (key == NULL ||
		    signer_soft_key_add(holder, labels[i], roles[i], key, &k) !=
		        ST_OK)
			abort();
		signer_key_free(k);
		EVP_PKEY_free(key);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_wire_request req;
	struct signer_wire_response resp;
	struct buf again, out;

	if (holder == NULL)
		setup();
	if (signer_wire_request_parse(data, size, &req) != ST_OK) {
		if (req.op != 0 || req.str != NULL || req.tbs != NULL)
			abort();
		return 0;
	}
	buf_init(&again, SIGNER_WIRE_FRAME_MAX + 4);
	if (signer_wire_request_encode(&req, &again) != ST_OK ||
	    again.len != size + 4 || memcmp(again.data + 4, data, size) != 0)
		abort();
	buf_free(&again);
	buf_init(&out, SIGNER_WIRE_FRAME_MAX + 4);
	if (signer_serve_frame(holder, data, size, &out) != ST_OK ||
	    signer_wire_response_parse(
	        out.data + 4, out.len - 4, req.op, &resp) != ST_OK ||
	    resp.id != req.id)
		abort();
	buf_free(&out);
	return 0;
}
