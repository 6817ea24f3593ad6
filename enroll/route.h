/*
 * route: the one routing table of tessera's network face. Every endpoint
 * (EST, the admin API, tokens, publication, health) is a row: method, path
 * pattern, the listeners it is served on, the authenticators it accepts,
 * the rate limit it counts against and its handler. A path no row names on
 * this listener is a 404, a path named with other methods a 405 with
 * Allow, the same everywhere. Included only inside enroll/ and by its
 * tests.
 */
#ifndef TESSERA_ENROLL_ROUTE_H
#define TESSERA_ENROLL_ROUTE_H

#include <stddef.h>

#include "ca/principal.h"
#include "common/limits.h"
#include "common/metrics.h"
#include "common/status.h"
#include "enroll/http.h"

struct enroll;

/* The listeners a route is served on. */
#define ROUTE_TLS (1u << 0)
#define ROUTE_PLAIN (1u << 1)

/* The authenticators a route accepts: 1u << enum principal_kind. */
#define ROUTE_AUTH(kind) (1u << (kind))
#define ROUTE_ANYONE ROUTE_AUTH(PRINCIPAL_NONE)
#define ROUTE_CERT ROUTE_AUTH(PRINCIPAL_CERT)
#define ROUTE_DEVICE                                                           \
	(ROUTE_AUTH(PRINCIPAL_CERT) | ROUTE_AUTH(PRINCIPAL_MANUFACTURER) |     \
	    ROUTE_AUTH(PRINCIPAL_SECRET))

/* The per-address limit a request counts against (policy rate_limits). */
enum route_rate {
	ROUTE_RATE_NONE,
	ROUTE_RATE_ENROLL,
	ROUTE_RATE_TOKEN,
	ROUTE_RATE_OCSP,
	ROUTE_RATE_REFUSAL, /* 401 and 403 answers, on any TLS route */
	ROUTE_RATE_MAX
};

/* How a route's refusals are written: text, the API's JSON, RFC 6749's. */
enum route_errors { ROUTE_ERR_TEXT, ROUTE_ERR_API, ROUTE_ERR_OAUTH };

struct route;

/* A request matched to its route, and what the pattern captured. */
struct route_match {
	const struct route *route;
	/* {id} or {profile?}: the segment, "" when the optional one is
	 * absent. */
	char param[LIMIT_ROUTE_PARAM_LEN + 1];
	/* {*}: the rest of the path after the '/', borrowed from it. */
	const char *rest;
	/* Who the API's guard authenticated (ROUTE_ERR_API routes). */
	struct principal who;
};

typedef void route_handler(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp);

struct route {
	const char *method; /* "GET" (which takes HEAD too) or "POST" */
	/*
	 * Segments: a literal, {id} (one segment of 1..LIMIT_ROUTE_PARAM_LEN
	 * bytes, not "." or ".."), {profile?} (an optional segment naming a
	 * policy profile) or a final {*} (the rest, possibly empty).
	 */
	const char *pattern;
	unsigned listeners; /* ROUTE_TLS, ROUTE_PLAIN */
	unsigned authenticators; /* ROUTE_ANYONE, ROUTE_CERT, ... */
	enum route_rate rate;
	enum route_errors errors;
	route_handler *handler;
	int op; /* the handler's operation (enum est_op, enum api_route) */
	enum metrics_endpoint endpoint; /* what the metrics count it as */
	/* The handler honours http_request.is_inline (answers from memory or
	 * defers by itself); 0: an is_inline request is deferred before its
	 * rate limit and handler. */
	int is_memory;
};

/* The table, and its number of rows. */
const struct route *route_table(size_t *count);

/*
 * Find the route for method and path on listener (ROUTE_TLS or
 * ROUTE_PLAIN) into *m. ST_NOTFOUND when no route names the path there,
 * ST_CONFLICT (a 405) when routes name it with other methods only: allow
 * then lists them ("GET, HEAD, POST"), allow_cap bytes.
 */
enum status route_find(struct enroll *e, const char *method, const char *path,
    unsigned listener, struct route_match *m, char *allow,
    size_t allow_cap) MUST_CHECK;

#endif
