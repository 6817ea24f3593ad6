#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/ratelimit.h"

#include "enroll/enroll.h"
#include "enroll/api.h"
#include "enroll/handlers.h"
#include "enroll/route.h"

#define API_PREFIX "/api/v1/"
#define EST "/.well-known/est/{profile?}/"
#define API "/api/v1/"

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
	OPENSSL_free(e->retiring_der);
	free(e->cacerts_b64);
	free(e);
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

/*
 * Every endpoint. EST, the API and POST /token are for devices and admins
 * on the TLS listener; publication (CA certificates, CRLs, OCSP, JWKS and
 * the metadata, /healthz) is served on both, since gateways fetch it over
 * plain HTTP. POST /token is routed on the plain listener too only to say
 * why it cannot work there (400). A GET route answers HEAD as well.
 */
#define BOTH (ROUTE_TLS | ROUTE_PLAIN)
static const struct route routes[] = {
    {"GET", EST "cacerts", ROUTE_TLS, ROUTE_ANYONE, ROUTE_RATE_NONE,
        ROUTE_ERR_TEXT, est_handle, EST_CACERTS, METRICS_EP_EST_CACERTS, 0},
    {"GET", EST "csrattrs", ROUTE_TLS, ROUTE_ANYONE, ROUTE_RATE_NONE,
        ROUTE_ERR_TEXT, est_handle, EST_CSRATTRS, METRICS_EP_EST_CSRATTRS, 0},
    {"POST", EST "simpleenroll", ROUTE_TLS, ROUTE_DEVICE, ROUTE_RATE_ENROLL,
        ROUTE_ERR_TEXT, est_handle, EST_SIMPLEENROLL,
        METRICS_EP_EST_SIMPLEENROLL, 0},
    {"POST", EST "simplereenroll", ROUTE_TLS, ROUTE_DEVICE, ROUTE_RATE_ENROLL,
        ROUTE_ERR_TEXT, est_handle, EST_SIMPLEREENROLL,
        METRICS_EP_EST_SIMPLEREENROLL, 0},
    {"POST", EST "serverkeygen", ROUTE_TLS, ROUTE_DEVICE, ROUTE_RATE_ENROLL,
        ROUTE_ERR_TEXT, est_handle, EST_SERVERKEYGEN,
        METRICS_EP_EST_SERVERKEYGEN, 0},
    {"POST", EST "fullcmc", ROUTE_TLS, ROUTE_DEVICE, ROUTE_RATE_ENROLL,
        ROUTE_ERR_TEXT, est_handle, EST_FULLCMC, METRICS_EP_EST_OTHER, 0},
    {"POST", API "enrollment-secrets", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_SECRETS, METRICS_EP_API, 0},
    {"GET", API "enrollment-secrets", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_SECRET_LIST, METRICS_EP_API, 0},
    {"POST", API "enrollment-secrets/{id}/cancel", ROUTE_TLS, ROUTE_CERT,
        ROUTE_RATE_NONE, ROUTE_ERR_API, api_handle, API_SECRET_CANCEL,
        METRICS_EP_API, 0},
    {"POST", API "enrollment-secrets/cancel", ROUTE_TLS, ROUTE_CERT,
        ROUTE_RATE_NONE, ROUTE_ERR_API, api_handle, API_SECRETS_CANCEL,
        METRICS_EP_API, 0},
    {"GET", API "certificates", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_CERT_LIST, METRICS_EP_API, 0},
    {"GET", API "certificates/{id}", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_CERT_GET, METRICS_EP_API, 0},
    {"POST", API "certificates/{id}/revoke", ROUTE_TLS, ROUTE_CERT,
        ROUTE_RATE_NONE, ROUTE_ERR_API, api_handle, API_CERT_REVOKE,
        METRICS_EP_API, 0},
    {"GET", API "devices/{id}", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_DEVICE_GET, METRICS_EP_API, 0},
    {"POST", API "devices/{id}/revoke", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_DEVICE_REVOKE, METRICS_EP_API, 0},
    {"POST", API "devices/{id}/reinstate", ROUTE_TLS, ROUTE_CERT,
        ROUTE_RATE_NONE, ROUTE_ERR_API, api_handle, API_DEVICE_REINSTATE,
        METRICS_EP_API, 0},
    {"GET", API "revocations", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_REVOCATIONS, METRICS_EP_API, 0},
    {"GET", API "audit", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE, ROUTE_ERR_API,
        api_handle, API_AUDIT, METRICS_EP_API, 0},
    {"POST", API "token-keys", ROUTE_TLS, ROUTE_CERT, ROUTE_RATE_NONE,
        ROUTE_ERR_API, api_handle, API_TOKEN_KEY_NEW, METRICS_EP_API, 0},
    {"POST", "/token", BOTH, ROUTE_CERT, ROUTE_RATE_TOKEN, ROUTE_ERR_OAUTH,
        token_handle_post, 0, METRICS_EP_TOKEN, 0},
    {"GET", "/.well-known/jwks.json", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE,
        ROUTE_ERR_TEXT, token_handle_doc, TOKEN_DOC_JWKS, METRICS_EP_WELL_KNOWN,
        1},
    {"GET", "/.well-known/oauth-authorization-server", BOTH, ROUTE_ANYONE,
        ROUTE_RATE_NONE, ROUTE_ERR_TEXT, token_handle_doc, TOKEN_DOC_OAUTH,
        METRICS_EP_WELL_KNOWN, 1},
    {"GET", "/.well-known/openid-configuration", BOTH, ROUTE_ANYONE,
        ROUTE_RATE_NONE, ROUTE_ERR_TEXT, token_handle_doc, TOKEN_DOC_OPENID,
        METRICS_EP_WELL_KNOWN, 1},
    {"GET", "/ca/root.crt", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE, ROUTE_ERR_TEXT,
        publish_handle_cert, PUBLISH_CERT_ROOT, METRICS_EP_CA_CERT, 1},
    {"GET", "/ca/issuing.crt", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE,
        ROUTE_ERR_TEXT, publish_handle_cert, PUBLISH_CERT_ISSUING,
        METRICS_EP_CA_CERT, 1},
    /* After a rollover, /ca/issuing-gG.crt: each issuing CA's own. */
    {"GET", "/ca/{id}", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE, ROUTE_ERR_TEXT,
        publish_handle_cert, PUBLISH_CERT_GEN, METRICS_EP_CA_CERT, 1},
    {"GET", "/crl/{id}", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE, ROUTE_ERR_TEXT,
        publish_handle_crl, 0, METRICS_EP_CRL, 0},
    /* RFC 6960 App. A: POST to the responder URL, or GET with the
     * request in the path; both answered at either (a path of "/"s
     * and base64, which may hold "/" too). */
    {"POST", "/ocsp", BOTH, ROUTE_ANYONE, ROUTE_RATE_OCSP, ROUTE_ERR_TEXT,
        publish_handle_ocsp, 0, METRICS_EP_OCSP, 1},
    {"GET", "/ocsp", BOTH, ROUTE_ANYONE, ROUTE_RATE_OCSP, ROUTE_ERR_TEXT,
        publish_handle_ocsp, 0, METRICS_EP_OCSP, 1},
    {"POST", "/ocsp/{*}", BOTH, ROUTE_ANYONE, ROUTE_RATE_OCSP, ROUTE_ERR_TEXT,
        publish_handle_ocsp, 0, METRICS_EP_OCSP, 1},
    {"GET", "/ocsp/{*}", BOTH, ROUTE_ANYONE, ROUTE_RATE_OCSP, ROUTE_ERR_TEXT,
        publish_handle_ocsp, 0, METRICS_EP_OCSP, 1},
    /* The counters: on the plain listener only, for metrics.allow. */
    {"GET", "/metrics", ROUTE_PLAIN, ROUTE_ANYONE, ROUTE_RATE_NONE,
        ROUTE_ERR_TEXT, scrape_handle, 0, METRICS_EP_METRICS, 0},
    {"GET", "/healthz", BOTH, ROUTE_ANYONE, ROUTE_RATE_NONE, ROUTE_ERR_TEXT,
        publish_handle_health, 0, METRICS_EP_HEALTHZ, 0},
};
#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

const struct route *
route_table(size_t *count)
{
	*count = ROUTE_COUNT;
	return routes;
}

/* 1 if the n bytes at s are the pattern segment lit. */
static int
seg_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* A segment a route may capture or name: not empty, ".", ".." or long. */
static int
seg_ok(const char *s, size_t n)
{
	return n > 0 && n <= LIMIT_ROUTE_PARAM_LEN && !seg_is(s, n, ".") &&
	    !seg_is(s, n, "..");
}

static void
param_set(struct route_match *m, const char *s, size_t n)
{
	memcpy(m->param, s, n);
	m->param[n] = '\0';
}

/*
 * 1 if path matches pat from here (both at a '/' or their end), with the
 * captures in m. A literal segment matches itself only (case and all).
 * Without e, a label is not looked up: any segment may be one.
 */
static int
match_from(
    struct enroll *e, const char *pat, const char *path, struct route_match *m)
{
	const char *ps, *ss;
	size_t pn, sn;

	while (*pat != '\0') {
		if (*path != '/')
			return 0;
		ps = pat + 1;
		ss = path + 1;
		pn = strcspn(ps, "/");
		sn = strcspn(ss, "/");
		if (seg_is(ps, pn, "{*}")) {
			m->rest = ss;
			return 1;
		}
		if (seg_is(ps, pn, "{profile?}")) {
			/* With the segment, which must name a profile ... */
			if (seg_ok(ss, sn) && sn <= LIMIT_LABEL_LEN) {
				param_set(m, ss, sn);
				if ((e == NULL ||
				        authority_profile_exists(
				            e->a, m->param)) &&
				    match_from(e, ps + pn, ss + sn, m))
					return 1;
			}
			/* ... or without it. */
			m->param[0] = '\0';
			pat = ps + pn;
			continue;
		}
		if (!seg_ok(ss, sn))
			return 0;
		if (seg_is(ps, pn, "{id}"))
			param_set(m, ss, sn);
		else if (pn != sn || memcmp(ps, ss, sn) != 0)
			return 0;
		pat = ps + pn;
		path = ss + sn;
	}
	return *path == '\0';
}

/* 1 if method is what route takes (HEAD with GET). */
static int
method_fits(const struct route *r, const char *method)
{
	return strcmp(method, r->method) == 0 ||
	    (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

enum status
route_find(struct enroll *e, const char *method, const char *path,
    unsigned listener, struct route_match *m, char *allow, size_t allow_cap)
{
	const struct route *other = NULL;
	size_t i, used = 0;
	int n;

	m->route = NULL;
	m->param[0] = '\0';
	m->rest = NULL;
	if (allow_cap > 0)
		allow[0] = '\0';
	for (i = 0; i < ROUTE_COUNT; i++) {
		/* A route that matched part of the path captured it. */
		m->param[0] = '\0';
		m->rest = NULL;
		if ((routes[i].listeners & listener) == 0 ||
		    !match_from(e, routes[i].pattern, path, m))
			continue;
		if (method_fits(&routes[i], method)) {
			m->route = &routes[i];
			return ST_OK;
		}
		if (other == NULL)
			other = &routes[i];
		/* The methods the path takes, for a 405's Allow. */
		if (strstr(allow, routes[i].method) == NULL &&
		    used < allow_cap) {
			n = snprintf(allow + used, allow_cap - used, "%s%s%s",
			    used > 0 ? ", " : "", routes[i].method,
			    strcmp(routes[i].method, "GET") == 0 ? ", HEAD"
			                                         : "");
			used += n > 0 ? (size_t)n : 0;
		}
	}
	m->route = other;
	m->param[0] = '\0';
	m->rest = NULL;
	if (other != NULL)
		return status_fail(ST_CONFLICT, "%.100s takes %s, not %.16s",
		    path, allow, method);
	return status_fail(ST_NOTFOUND, "no such resource: %.200s", path);
}

enum metrics_endpoint
enroll_endpoint(const char *path)
{
	struct route_match m;
	size_t i;

	for (i = 0; i < ROUTE_COUNT; i++) {
		m.param[0] = '\0';
		m.rest = NULL;
		if (match_from(NULL, routes[i].pattern, path, &m))
			return routes[i].endpoint;
	}
	/* Refused there, but counted with the protocol it tried. */
	if (strncmp(path, "/.well-known/est/", 17) == 0)
		return METRICS_EP_EST_OTHER;
	if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0)
		return METRICS_EP_API;
	return METRICS_EP_OTHER;
}

/*
 * The 404 or 405 (with Allow) of a request no route takes, in the style
 * of the routes of its path: the API's JSON, RFC 6749's, or text.
 */
static void
route_refuse(enum route_errors errors, enum status st, const char *allow,
    struct http_response *resp)
{
	int code = st == ST_CONFLICT ? 405 : 404;
	char why[300];

	snprintf(why, sizeof(why), "%s", status_detail());
	if (errors == ROUTE_ERR_API)
		api_error(resp, code,
		    code == 405 ? "method not allowed" : "not found", why);
	else if (errors == ROUTE_ERR_OAUTH)
		token_oauth_error(resp, code, "invalid_request", why);
	else
		http_response_error(resp, code, "%s", why);
	if (code == 405 &&
	    http_response_header(resp, "Allow", "%s", allow) != ST_OK)
		resp->header_count = 0;
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
    const struct authority_rate *r, int64_t wait)
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
over_limit(struct enroll *e, const struct http_request *req,
    enum route_rate kind, int with_refusals, struct http_response *resp)
{
	struct authority_rates rates;
	const struct authority_rate *r;
	int64_t wait, now = now_ms();

	if (req->peer_address == NULL ||
	    authority_rate_exempt(e->a, req->peer_address))
		return 0;
	authority_rates_get(e->a, &rates);
	if (with_refusals &&
	    (wait = ratelimit_check(e->limits, ROUTE_RATE_REFUSAL,
	         req->peer_address, rates.refusals.per_second,
	         rates.refusals.burst, now)) > 0) {
		too_many(resp, "refused requests", req->peer_address,
		    &rates.refusals, wait);
		metrics_rate_count(e->metrics, METRICS_RATE_REFUSALS);
		return 1;
	}
	if (kind == ROUTE_RATE_NONE)
		return 0;
	r = kind == ROUTE_RATE_ENROLL  ? &rates.enroll
	    : kind == ROUTE_RATE_TOKEN ? &rates.token
	                               : &rates.ocsp;
	wait = ratelimit_take(
	    e->limits, kind, req->peer_address, r->per_second, r->burst, now);
	if (wait == 0)
		return 0;
	too_many(resp,
	    kind == ROUTE_RATE_ENROLL      ? "enrollment requests"
	        : kind == ROUTE_RATE_TOKEN ? "token requests"
	                                   : "OCSP requests",
	    req->peer_address, r, wait);
	metrics_rate_count(e->metrics,
	    kind == ROUTE_RATE_ENROLL      ? METRICS_RATE_ENROLL
	        : kind == ROUTE_RATE_TOKEN ? METRICS_RATE_TOKEN
	                                   : METRICS_RATE_OCSP);
	return 1;
}

/* Charge a refusal (401, 403) to the client's address. */
static void
refusal_count(struct enroll *e, const struct http_request *req,
    const struct http_response *resp)
{
	struct authority_rates rates;

	if ((resp->status != 401 && resp->status != 403) ||
	    req->peer_address == NULL ||
	    authority_rate_exempt(e->a, req->peer_address))
		return;
	authority_rates_get(e->a, &rates);
	(void)ratelimit_take(e->limits, ROUTE_RATE_REFUSAL, req->peer_address,
	    rates.refusals.per_second, rates.refusals.burst, now_ms());
}

/*
 * One request on listener: the refusals limit (TLS), the API's guard for
 * any path under /api/v1/ (an unauthenticated client learns nothing of its
 * resources), the route, its rate limit, its handler.
 */
static void
route_dispatch(struct enroll *e, const struct http_request *req,
    unsigned listener, struct http_response *resp)
{
	struct route_match m;
	char allow[64];
	int is_api = listener == ROUTE_TLS &&
	    strncmp(req->path, API_PREFIX, strlen(API_PREFIX)) == 0;
	enum status st;

	status_clear();
	memset(&m, 0, sizeof(m));
	if (over_limit(e, req, ROUTE_RATE_NONE, listener == ROUTE_TLS, resp))
		return;
	if (is_api && !api_guard(e, req, &m.who, resp))
		return;
	if ((st = route_find(e, req->method, req->path, listener, &m, allow,
	         sizeof(allow))) != ST_OK) {
		route_refuse(m.route != NULL ? m.route->errors
		        : is_api             ? ROUTE_ERR_API
		                             : ROUTE_ERR_TEXT,
		    st, allow, resp);
		return;
	}
	if (req->is_inline && !m.route->is_memory) {
		resp->status = HTTP_DEFER;
		return;
	}
	/* A route that deferred by itself was charged on its first run. */
	if (!(req->is_deferred && m.route->is_memory) &&
	    over_limit(e, req, m.route->rate, 0, resp))
		return;
	m.route->handler(e, req, &m, resp);
}

void
enroll_handle_tls(struct enroll *e, const struct http_request *req,
    struct http_response *resp)
{
	route_dispatch(e, req, ROUTE_TLS, resp);
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
	route_dispatch(e, req, ROUTE_PLAIN, resp);
}
