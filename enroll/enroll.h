/*
 * enroll: the network face of one worker. It turns requests into calls on
 * the authority and back; it authenticates (who is this?) but never
 * authorizes (may they?): that is ca/'s.
 */
#ifndef TESSERA_ENROLL_ENROLL_H
#define TESSERA_ENROLL_ENROLL_H

#include "ca/authority.h"
#include "common/metrics.h"
#include "enroll/http.h"

struct enroll;
struct metrics;
struct ratelimit;

/*
 * A front for a (borrowed) authority; one per worker process. The caller
 * frees with enroll_free, before closing the authority.
 */
enum status enroll_new(struct authority *a, struct enroll **out) MUST_CHECK;

void enroll_free(struct enroll *e);

/*
 * Apply the policy's per-address rate limits to enrollment and token
 * requests, counted in limits (borrowed, shared by the workers; NULL:
 * none).
 */
void enroll_set_limits(struct enroll *e, struct ratelimit *limits);

/*
 * Count requests refused by a rate limit and OCSP answers in m, and serve
 * it on /metrics (borrowed, the service's shared pool; NULL: none).
 */
void enroll_set_metrics(struct enroll *e, struct metrics *m);

/* The endpoint a request path counts under in the metrics. */
enum metrics_endpoint enroll_endpoint(const char *path);

/* One request on the TLS listener: EST, the admin API, tokens. */
void enroll_handle_tls(struct enroll *e, const struct http_request *req,
    struct http_response *resp);

/* One request on the plain-HTTP listener: CA certificates, CRL, OCSP,
 * JWKS, /healthz. */
void enroll_handle_publish(struct enroll *e, const struct http_request *req,
    struct http_response *resp);

#endif
