/*
 * The request handlers of enroll/, one file each (est.c, api.c,
 * publish.c), and what they share. Included only inside enroll/ and by its
 * tests.
 */
#ifndef TESSERA_ENROLL_HANDLERS_H
#define TESSERA_ENROLL_HANDLERS_H

#include "ca/authority.h"
#include "enroll/http.h"

struct enroll {
	struct authority *a;
	/* Published bodies, built once per worker: they change only with a
	 * new CA. */
	uint8_t *root_der;
	size_t root_der_len;
	uint8_t *issuing_der;
	size_t issuing_der_len;
	char *cacerts_b64; /* EST cacerts: base64 certs-only PKCS#7 */
	size_t cacerts_b64_len;
	struct ratelimit *limits; /* borrowed; NULL: none */
	struct metrics *metrics; /* borrowed; NULL: none */
};

/* EST (RFC 7030): path is what follows "/.well-known/est/". */
void est_handle(struct enroll *e, const struct http_request *req,
    const char *path, struct http_response *resp);

/* The JSON API: path is what follows "/api/v1/". */
void api_handle(struct enroll *e, const struct http_request *req,
    const char *path, struct http_response *resp);

/* Plain-HTTP publication: CA certificates, /healthz. 0 if not routed. */
int publish_handle(struct enroll *e, const struct http_request *req,
    struct http_response *resp);

/*
 * Device tokens: POST /token (TLS only), the JWKS and the metadata
 * documents under /.well-known/. 0 if not routed.
 */
int token_handle(struct enroll *e, const struct http_request *req,
    struct http_response *resp);

/*
 * GET /metrics on the plain listener: the service's counters in the
 * Prometheus text format, for addresses the policy's metrics.allow lists
 * (403 for others). 0 if not routed.
 */
int scrape_handle(struct enroll *e, const struct http_request *req,
    struct http_response *resp);

/* Build e's cached publication bodies. */
enum status publish_prepare(struct enroll *e) MUST_CHECK;

#endif
