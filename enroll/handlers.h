/*
 * The request handlers of enroll/, one file each (est.c, api.c,
 * publish.c), and what they share. Included only inside enroll/ and by its
 * tests.
 */
#ifndef TESSERA_ENROLL_HANDLERS_H
#define TESSERA_ENROLL_HANDLERS_H

#include "ca/authority.h"
#include "enroll/http.h"
#include "enroll/route.h"

struct enroll {
	struct authority *a;
	/* Published bodies, built once per worker: they change only with a
	 * new CA. */
	uint8_t *root_der;
	size_t root_der_len;
	uint8_t *issuing_der;
	size_t issuing_der_len;
	/* After a rollover the retiring issuing CA's too; each at the path
	 * its certificates name (authority_ca_cert_paths). */
	uint8_t *retiring_der;
	size_t retiring_der_len;
	char issuing_path[48];
	char retiring_path[48];
	char *cacerts_b64; /* EST cacerts: base64 certs-only PKCS#7 */
	size_t cacerts_b64_len;
	struct ratelimit *limits; /* borrowed; NULL: none */
	struct metrics *metrics; /* borrowed; NULL: none */
};

/* The EST operations (RFC 7030 §3.2.2), as routes name them. */
enum est_op {
	EST_CACERTS,
	EST_SIMPLEENROLL,
	EST_SIMPLEREENROLL,
	EST_CSRATTRS,
	EST_SERVERKEYGEN,
	EST_FULLCMC,
	EST_OP_MAX
};

/* The admin API's resources under /api/v1/, as routes name them. */
enum api_route {
	API_SECRETS,
	API_SECRET_LIST,
	API_SECRET_CANCEL,
	API_SECRETS_CANCEL,
	API_CERT_LIST,
	API_CERT_GET,
	API_CERT_REVOKE,
	API_DEVICE_GET,
	API_DEVICE_REVOKE,
	API_DEVICE_REINSTATE,
	API_REVOCATIONS,
	API_AUDIT,
	API_TOKEN_KEY_NEW,
	API_ROUTE_MAX
};

/* Where token_handle_doc and publish_handle_cert look. */
enum { TOKEN_DOC_JWKS, TOKEN_DOC_OAUTH, TOKEN_DOC_OPENID };
enum { PUBLISH_CERT_ROOT, PUBLISH_CERT_ISSUING, PUBLISH_CERT_GEN };

/*
 * The handlers of the routing table (route.c): EST (m->op an enum est_op,
 * m->param the label), the admin API (an enum api_route, m->param the id,
 * m->who the principal its guard authenticated), tokens and publication.
 */
void est_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void api_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void token_handle_post(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void token_handle_doc(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void publish_handle_cert(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void publish_handle_crl(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void publish_handle_ocsp(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);
void publish_handle_health(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);

/*
 * Before any route under /api/v1/ is looked up: the client must be a
 * holder of a certificate tessera issued (who), and a write must not be
 * cross-site. 0 when resp holds the refusal (audited).
 */
int api_guard(struct enroll *e, const struct http_request *req,
    struct principal *who, struct http_response *resp);

/* An RFC 6749 §5.2 error: {"error": error, "error_description": why}. */
void token_oauth_error(struct http_response *resp, int status,
    const char *error, const char *description);

/*
 * GET /metrics on the plain listener: the service's counters in the
 * Prometheus text format, for addresses the policy's metrics.allow lists
 * (403 for others).
 */
void scrape_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);

/* Build e's cached publication bodies. */
enum status publish_prepare(struct enroll *e) MUST_CHECK;

#endif
