#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ca/policy.h"
#include "common/ratelimit.h"

#include "enroll/enroll.h"
#include "enroll/handlers.h"

#define EST_PREFIX "/.well-known/est/"
#define API_PREFIX "/api/v1/"

enum status
enroll_new(struct authority *a, struct enroll **out)
{
	struct enroll *e;
	enum status st;

	*out = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ST_NOMEM;
	e->a = a;
	if ((st = publish_prepare(e)) != ST_OK) {
		enroll_free(e);
		return st;
	}
	*out = e;
	return ST_OK;
}

void
enroll_free(struct enroll *e)
{
	if (e == NULL)
		return;
	OPENSSL_free(e->root_der);
	OPENSSL_free(e->issuing_der);
	free(e->cacerts_b64);
	free(e);
}

static int
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void
enroll_set_limits(struct enroll *e, struct ratelimit *limits)
{
	e->limits = limits;
}

void
enroll_set_metrics(struct enroll *e, struct metrics *m)
{
	e->metrics = m;
}

enum metrics_endpoint
enroll_endpoint(const char *path)
{
	static const struct {
		const char *op;
		enum metrics_endpoint ep;
	} est_ops[] = {
	    {"cacerts", METRICS_EP_EST_CACERTS},
	    {"csrattrs", METRICS_EP_EST_CSRATTRS},
	    {"simpleenroll", METRICS_EP_EST_SIMPLEENROLL},
	    {"simplereenroll", METRICS_EP_EST_SIMPLEREENROLL},
	    {"serverkeygen", METRICS_EP_EST_SERVERKEYGEN},
	};
	const char *op;
	size_t i;

	if (has_prefix(path, EST_PREFIX)) {
		/* The last segment; a label may stand before it. */
		op = strrchr(path, '/') + 1;
		for (i = 0; i < sizeof(est_ops) / sizeof(est_ops[0]); i++)
			if (strcmp(op, est_ops[i].op) == 0)
				return est_ops[i].ep;
		return METRICS_EP_EST_OTHER;
	}
	if (has_prefix(path, API_PREFIX))
		return METRICS_EP_API;
	if (strcmp(path, "/token") == 0)
		return METRICS_EP_TOKEN;
	if (has_prefix(path, "/.well-known/"))
		return METRICS_EP_WELL_KNOWN;
	if (strcmp(path, "/ocsp") == 0 || has_prefix(path, "/ocsp/"))
		return METRICS_EP_OCSP;
	if (has_prefix(path, "/crl/"))
		return METRICS_EP_CRL;
	if (has_prefix(path, "/ca/"))
		return METRICS_EP_CA_CERT;
	if (strcmp(path, "/healthz") == 0)
		return METRICS_EP_HEALTHZ;
	if (strcmp(path, "/metrics") == 0)
		return METRICS_EP_METRICS;
	return METRICS_EP_OTHER;
}

enum rate_kind { RATE_NONE, RATE_ENROLL, RATE_TOKEN, RATE_OCSP, RATE_REFUSAL };

/*
 * Which limit a request counts against: EST POSTs, POST /token, and every
 * OCSP request (GET or POST; a signature each when not pre-signed).
 */
static enum rate_kind
rate_kind(const struct http_request *req)
{
	if (strcmp(req->path, "/ocsp") == 0 ||
	    strncmp(req->path, "/ocsp/", 6) == 0)
		return RATE_OCSP;
	if (strcmp(req->method, "POST") != 0)
		return RATE_NONE;
	if (has_prefix(req->path, EST_PREFIX))
		return RATE_ENROLL;
	if (strcmp(req->path, "/token") == 0)
		return RATE_TOKEN;
	return RATE_NONE;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The 429 for kind after wait milliseconds, with Retry-After. */
static void
too_many(struct http_response *resp, const char *what, const char *address,
    const struct policy_rate *r, int64_t wait)
{
	int64_t secs = (wait + 999) / 1000;

	http_response_error(resp, 429,
	    "too many %s from %s: the policy allows %lld a second (bursts of "
	    "%lld); retry after %lld s",
	    what, address, (long long)r->per_second, (long long)r->burst,
	    (long long)secs);
	if (http_response_header(
	        resp, "Retry-After", "%lld", (long long)secs) != ST_OK)
		resp->header_count = 0;
}

/*
 * 1 (and a 429 with Retry-After in resp) when the client's address has
 * used up its bucket for this kind of request, or (with_refusals) has
 * been refused (401, 403) more often than the policy allows on any
 * endpoint; counted before any work (TLS client certificate checks aside)
 * so that a flood costs little.
 */
static int
over_limit(struct enroll *e, const struct http_request *req, int with_refusals,
    struct http_response *resp)
{
	const struct policy *pol = authority_policy(e->a);
	const struct policy_rates *rates = policy_rates(pol);
	const struct policy_rate *r;
	enum rate_kind kind = rate_kind(req);
	int64_t wait, now = now_ms();

	if (req->peer_address == NULL ||
	    policy_rate_exempt(pol, req->peer_address))
		return 0;
	if (with_refusals &&
	    (wait = ratelimit_check(e->limits, RATE_REFUSAL, req->peer_address,
	         rates->refusals.per_second, rates->refusals.burst, now)) > 0) {
		too_many(resp, "refused requests", req->peer_address,
		    &rates->refusals, wait);
		metrics_rate_count(e->metrics, METRICS_RATE_REFUSALS);
		return 1;
	}
	if (kind == RATE_NONE)
		return 0;
	r = kind == RATE_ENROLL  ? &rates->enroll
	    : kind == RATE_TOKEN ? &rates->token
	                         : &rates->ocsp;
	wait = ratelimit_take(
	    e->limits, kind, req->peer_address, r->per_second, r->burst, now);
	if (wait == 0)
		return 0;
	too_many(resp,
	    kind == RATE_ENROLL      ? "enrollment requests"
	        : kind == RATE_TOKEN ? "token requests"
	                             : "OCSP requests",
	    req->peer_address, r, wait);
	metrics_rate_count(e->metrics,
	    kind == RATE_ENROLL      ? METRICS_RATE_ENROLL
	        : kind == RATE_TOKEN ? METRICS_RATE_TOKEN
	                             : METRICS_RATE_OCSP);
	return 1;
}

/* Charge a refusal (401, 403) to the client's address. */
static void
refusal_count(struct enroll *e, const struct http_request *req,
    const struct http_response *resp)
{
	const struct policy *pol = authority_policy(e->a);
	const struct policy_rate *r = &policy_rates(pol)->refusals;

	if ((resp->status != 401 && resp->status != 403) ||
	    req->peer_address == NULL ||
	    policy_rate_exempt(pol, req->peer_address))
		return;
	(void)ratelimit_take(e->limits, RATE_REFUSAL, req->peer_address,
	    r->per_second, r->burst, now_ms());
}

void
enroll_handle_tls(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	status_clear();
	if (over_limit(e, req, 1, resp))
		return;
	if (has_prefix(req->path, EST_PREFIX))
		est_handle(e, req, req->path + strlen(EST_PREFIX), resp);
	else if (has_prefix(req->path, API_PREFIX))
		api_handle(e, req, req->path + strlen(API_PREFIX), resp);
	else if (!token_handle(e, req, resp) && !publish_handle(e, req, resp))
		http_response_error(
		    resp, 404, "no such resource: %.200s", req->path);
	refusal_count(e, req, resp);
}

void
enroll_handle_publish(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	/*
	 * The plain listener serves /ocsp and /token too: the same limits;
	 * but it is publication's, so no refusal limit: a client refused on
	 * the TLS listener still gets CRLs and OCSP.
	 */
	status_clear();
	if (over_limit(e, req, 0, resp))
		return;
	if (!token_handle(e, req, resp) && !publish_handle(e, req, resp) &&
	    !scrape_handle(e, req, resp))
		http_response_error(
		    resp, 404, "no such resource: %.200s", req->path);
}
