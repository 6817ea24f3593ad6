/*
 * route: the routing table walked whole, through the real dispatcher of
 * both listeners with a real authority (token, store) and no socket.
 * Every route answers on each of its listeners and is the route its path
 * finds; every other method on its path is a 405 whose Allow lists exactly
 * the methods the path takes; a path no route names is a 404 with the same
 * message everywhere; hostile paths (dot segments, encoded and decoded
 * slashes, over-long and empty segments, another listener's routes) name
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/authority.h"
#include "ca/setup.h"
#include "enroll/enroll.h"
#include "enroll/handlers.h"
#include "enroll/route.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct authority *a;
static struct enroll *e;
static X509 *admin;

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"};
#define METHOD_COUNT (sizeof(methods) / sizeof(methods[0]))

/* pattern with its captures filled in: a profile label or none, an id, a
 * rest. */
static void
concrete(const char *pattern, const char *label, char *out, size_t cap)
{
	const char *p = pattern;
	size_t used = 0;
	int n;

	out[0] = '\0';
	while (*p != '\0' && used < cap) {
		if (strncmp(p, "/{profile?}", 11) == 0) {
			n = label != NULL
			    ? snprintf(out + used, cap - used, "/%s", label)
			    : 0;
			p += 11;
		} else if (strncmp(p, "{id}", 4) == 0) {
			n = snprintf(out + used, cap - used, "x-1");
			p += 4;
		} else if (strncmp(p, "{*}", 3) == 0) {
			n = snprintf(out + used, cap - used, "MAMGAQ==");
			p += 3;
		} else {
			n = snprintf(out + used, cap - used, "%c", *p);
			p++;
		}
		used += n > 0 ? (size_t)n : 0;
	}
}

/* One request through the dispatcher of listener; the status. */
static int
run(unsigned listener, const char *method, const char *path, int with_admin,
    struct http_response *resp)
{
	struct http_request req;
	STACK_OF(X509) *chain = NULL;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.peer_address = "127.0.0.1";
	req.is_tls = listener == ROUTE_TLS;
	req.tls_version = req.is_tls ? 0x0303 : 0;
	if (with_admin && req.is_tls) {
		chain = sk_X509_new_null();
		sk_X509_push(chain, admin);
		req.peer_chain = chain;
	}
	http_response_init(resp);
	if (listener == ROUTE_TLS)
		enroll_handle_tls(e, &req, resp);
	else
		enroll_handle_publish(e, &req, resp);
	sk_X509_free(chain);
	return resp->status;
}

/* The Allow a path of pattern has on listener, as route.c writes it. */
static void
expected_allow(const struct route *t, size_t count, const char *pattern,
    unsigned listener, char *out, size_t cap)
{
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < count; i++) {
		if ((t[i].listeners & listener) == 0 ||
		    strcmp(t[i].pattern, pattern) != 0 ||
		    strstr(out, t[i].method) != NULL)
			continue;
		n = snprintf(out + used, cap - used, "%s%s%s",
		    used > 0 ? ", " : "", t[i].method,
		    strcmp(t[i].method, "GET") == 0 ? ", HEAD" : "");
		used += n > 0 ? (size_t)n : 0;
	}
}

/* 1 if the comma-separated list allow names method. */
static int
allows(const char *allow, const char *method)
{
	const char *p = allow;
	size_t n = strlen(method);

	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-2] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

/* Every route, on each of its listeners, with and without a label. */
static void
test_every_route(void)
{
	const struct route *t;
	struct route_match m;
	struct http_response resp;
	char path[512], allow[64], want[64];
	size_t count, i, k, l;
	unsigned listener;
	int code, with_admin;
	static const char *const labels[] = {NULL, "device"};

	t = route_table(&count);
	CHECK(count >= 25);
	for (i = 0; i < count; i++) {
		for (l = 0; l < 2; l++) {
			if (l == 1 &&
			    strstr(t[i].pattern, "{profile?}") == NULL)
				continue;
			concrete(t[i].pattern, labels[l], path, sizeof(path));
			for (listener = ROUTE_TLS; listener <= ROUTE_PLAIN;
			     listener <<= 1) {
				memset(&m, 0, sizeof(m));
				if ((t[i].listeners & listener) == 0) {
					/* Another listener's route: a 404. */
					CHECK_ST(route_find(e, t[i].method,
					             path, listener, &m, allow,
					             sizeof(allow)),
					    ST_NOTFOUND);
					continue;
				}
				CHECK_ST(
				    route_find(e, t[i].method, path, listener,
				        &m, allow, sizeof(allow)),
				    ST_OK);
				CHECK(m.route == &t[i]);
				CHECK(strcmp(m.param,
				          labels[l] != NULL &&
				                  strstr(t[i].pattern,
				                      "{profile?}") != NULL
				              ? labels[l]
				              : strstr(t[i].pattern, "{id}") !=
				                  NULL
				              ? "x-1"
				              : "") == 0);
				/* It answers: its handler, not the router. */
				with_admin = t[i].errors == ROUTE_ERR_API;
				code = run(listener, t[i].method, path,
				    with_admin, &resp);
				if (code < 200 || code == 405 ||
				    (code == 404 &&
				        strstr((char *)resp.body.data,
				            "no such resource") != NULL)) {
					fprintf(stderr, "%s %s: %d\n",
					    t[i].method, path, code);
					CHECK(0);
				}
				CHECK(resp.body.len > 0);
				http_response_free(&resp);
				/* Every other method: 405, Allow exact. */
				expected_allow(t, count, t[i].pattern, listener,
				    want, sizeof(want));
				CHECK(allows(want, t[i].method));
				for (k = 0; k < METHOD_COUNT; k++) {
					if (allows(want, methods[k]))
						continue;
					code = run(listener, methods[k], path,
					    with_admin, &resp);
					if (code != 405)
						fprintf(stderr, "%s %s: %d\n",
						    methods[k], path, code);
					CHECK(code == 405);
					CHECK(http_response_header_get(
					          &resp, "Allow") != NULL &&
					    strcmp(http_response_header_get(
					               &resp, "Allow"),
					        want) == 0);
					CHECK(resp.body.len > 1 &&
					    resp.body.data[resp.body.len - 1] ==
					        '\n');
					if (with_admin)
						CHECK(
						    resp.content_type != NULL &&
						    strcmp(resp.content_type,
						        "application/json") ==
						        0);
					http_response_free(&resp);
				}
			}
		}
	}
}

/* Paths no route names: 404 for every method, on both listeners. */
static void
test_unknown_and_hostile(void)
{
	static const char *const tls_paths[] = {
	    "/",
	    "/nosuch",
	    "/HEALTHZ",
	    "/healthz/",
	    "//healthz",
	    "/ca/root.crt/",
	    "/ca/./root.crt",
	    "/ca/../ca/root.crt",
	    "/crl/",
	    "/crl/.",
	    "/crl/..",
	    "/crl/../../etc/passwd",
	    "/.well-known/est/",
	    "/.well-known/est/nosuchop",
	    "/.well-known/est/CACERTS",
	    "/.well-known/est/nolabel/cacerts",
	    "/.well-known/est//cacerts",
	    "/.well-known/est/device/cacerts/x",
	    "/.well-known/est/../api/v1/audit",
	    "/.well-known/est/device/../cacerts",
	    "/.well-known/est/./cacerts",
	    /* An encoded slash arrives decoded (two segments) or, from a
	     * glue that did not decode, as one odd segment: neither names
	     * a route. */
	    "/.well-known/est/dev/ice/cacerts",
	    "/.well-known/est/device%2Fcacerts",
	    "/.well-known/est/device%2fcacerts",
	    "/api",
	    "/api/v1",
	    "/api/v1/",
	    "/api/v1/nosuch",
	    "/api/v1//certificates",
	    "/api/v1/devices/",
	    "/api/v1/devices/.",
	    "/api/v1/devices/..",
	    "/api/v1/devices/../certificates",
	    "/api/v1/devices/x%2F..%2Fcertificates/revoke/x",
	    "/api/v1/certificates/x/revoke/extra",
	    "/api/v1/enrollment-secrets/cancel/x",
	    "/token/",
	    "/tokens",
	    "/.well-known/jwks.json/x",
	};
	static const char *const plain_only[] = {
	    /* TLS routes are not on the plain listener. */
	    "/.well-known/est/cacerts",
	    "/.well-known/est/device/simpleenroll",
	    "/api/v1/audit",
	    "/api/v1/certificates",
	};
	char path[600], allow[64];
	struct route_match m;
	struct http_response resp;
	size_t i, k;
	int code, with_admin;

	for (i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++) {
		with_admin = strncmp(tls_paths[i], "/api/", 5) == 0;
		for (k = 0; k < METHOD_COUNT; k++) {
			code = run(ROUTE_TLS, methods[k], tls_paths[i],
			    with_admin, &resp);
			if (code != 404)
				fprintf(stderr, "%s %s: %d\n", methods[k],
				    tls_paths[i], code);
			CHECK(code == 404);
			CHECK(http_response_header_get(&resp, "Allow") == NULL);
			CHECK(resp.body.data != NULL &&
			    strstr((char *)resp.body.data,
			        "no such resource") != NULL);
			http_response_free(&resp);
			/* The API tells nobody unauthenticated what it has. */
			if (strncmp(tls_paths[i], "/api/v1/", 8) == 0) {
				CHECK(run(ROUTE_TLS, methods[k], tls_paths[i],
				          0, &resp) == 401);
				http_response_free(&resp);
			}
		}
		if (strncmp(tls_paths[i], "/api/", 5) == 0)
			continue;
		CHECK(run(ROUTE_PLAIN, "GET", tls_paths[i], 0, &resp) == 404);
		http_response_free(&resp);
	}
	for (i = 0; i < sizeof(plain_only) / sizeof(plain_only[0]); i++) {
		CHECK(run(ROUTE_PLAIN, "GET", plain_only[i], 0, &resp) == 404);
		http_response_free(&resp);
		CHECK(run(ROUTE_PLAIN, "POST", plain_only[i], 0, &resp) == 404);
		http_response_free(&resp);
	}
	/* Over-long: a captured segment of LIMIT_ROUTE_PARAM_LEN is routed,
	 * one byte more names nothing; a label longer than a profile name
	 * names no profile. */
	snprintf(path, sizeof(path), "/api/v1/devices/%0*d",
	    LIMIT_ROUTE_PARAM_LEN, 0);
	CHECK_ST(
	    route_find(e, "GET", path, ROUTE_TLS, &m, allow, sizeof(allow)),
	    ST_OK);
	snprintf(path, sizeof(path), "/api/v1/devices/%0*d",
	    LIMIT_ROUTE_PARAM_LEN + 1, 0);
	CHECK_ST(
	    route_find(e, "GET", path, ROUTE_TLS, &m, allow, sizeof(allow)),
	    ST_NOTFOUND);
	CHECK(run(ROUTE_TLS, "GET", path, 1, &resp) == 404);
	http_response_free(&resp);
	snprintf(path, sizeof(path), "/crl/%0*d", 500, 0);
	CHECK(run(ROUTE_PLAIN, "GET", path, 0, &resp) == 404);
	http_response_free(&resp);
	snprintf(path, sizeof(path), "/.well-known/est/%0*d/cacerts",
	    LIMIT_LABEL_LEN + 1, 0);
	CHECK(run(ROUTE_TLS, "GET", path, 0, &resp) == 404);
	http_response_free(&resp);
	/* The same clear 404 text from every corner. */
	CHECK(run(ROUTE_PLAIN, "GET", "/x/y", 0, &resp) == 404);
	CHECK(resp.body.data != NULL &&
	    strcmp((char *)resp.body.data, "no such resource: /x/y\n") == 0);
	http_response_free(&resp);
}

/* What the metrics count a request as: the table's column, by path. */
static void
test_endpoints(void)
{
	static const struct {
		const char *path;
		enum metrics_endpoint ep;
	} cases[] = {
	    {"/.well-known/est/cacerts", METRICS_EP_EST_CACERTS},
	    {"/.well-known/est/any-label/simpleenroll",
	        METRICS_EP_EST_SIMPLEENROLL},
	    {"/.well-known/est/simplereenroll", METRICS_EP_EST_SIMPLEREENROLL},
	    {"/.well-known/est/serverkeygen", METRICS_EP_EST_SERVERKEYGEN},
	    {"/.well-known/est/csrattrs", METRICS_EP_EST_CSRATTRS},
	    {"/.well-known/est/fullcmc", METRICS_EP_EST_OTHER},
	    {"/.well-known/est/nosuchop", METRICS_EP_EST_OTHER},
	    {"/api/v1/certificates", METRICS_EP_API},
	    {"/api/v1/nosuch", METRICS_EP_API},
	    {"/token", METRICS_EP_TOKEN},
	    {"/.well-known/jwks.json", METRICS_EP_WELL_KNOWN},
	    {"/ocsp/MAMGAQ==", METRICS_EP_OCSP},
	    {"/ocsp", METRICS_EP_OCSP},
	    {"/crl/issuing.crl", METRICS_EP_CRL},
	    {"/ca/root.crt", METRICS_EP_CA_CERT},
	    {"/healthz", METRICS_EP_HEALTHZ},
	    {"/metrics", METRICS_EP_METRICS},
	    {"/nosuch", METRICS_EP_OTHER},
	    {"/", METRICS_EP_OTHER},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (enroll_endpoint(cases[i].path) != cases[i].ep)
			fprintf(stderr, "%s: endpoint %d, want %d\n",
			    cases[i].path, (int)enroll_endpoint(cases[i].path),
			    (int)cases[i].ep);
		CHECK(enroll_endpoint(cases[i].path) == cases[i].ep);
	}
}

int
main(void)
{
	struct ca_setup s;
	char *dir = testutil_tmpdir(), *data, *path;
	FILE *f;

	data = malloc(strlen(dir) + 8);
	snprintf(data, strlen(dir) + 8, "%s/var", dir);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK_ST(authority_open(data, &a), ST_OK);
	CHECK_ST(enroll_new(a, &e), ST_OK);
	path = malloc(strlen(data) + 32);
	snprintf(path, strlen(data) + 32, "%s/admin/admin.pem", data);
	if ((f = fopen(path, "r")) != NULL) {
		admin = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	free(path);
	CHECK(admin != NULL);
	if (e != NULL && admin != NULL) {
		test_every_route();
		test_unknown_and_hostile();
		test_endpoints();
	}
	X509_free(admin);
	enroll_free(e);
	authority_close(a);
	testutil_rmtree(dir);
	free(data);
	free(dir);
	TEST_END();
}
