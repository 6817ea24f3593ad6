/*
 * api: the JSON admin API under /api/v1/, authenticated by client
 * certificate. Bodies are read strictly: size-limited, duplicate keys and
 * unknown keys refused with a message that names them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "ca/jsonread.h"
#include "common/log.h"
#include "common/secret.h"
#include "enroll/api.h"
#include "enroll/auth.h"
#include "enroll/handlers.h"

#define API_BODY_MAX (16 * 1024)
#define API_DEPTH_MAX 8

void
api_json_error(
    struct http_response *resp, int code, json_t *o, const char *fallback)
{
	char *text = NULL;

	http_response_error(resp, code, "%s", fallback);
	if (o != NULL && (text = json_dumps(o, JSON_COMPACT)) != NULL) {
		buf_free(&resp->body);
		buf_init(&resp->body, HTTP_RESPONSE_MAX);
		if (buf_printf(&resp->body, "%s\n", text) == ST_OK)
			resp->content_type = "application/json";
	}
	free(text);
	json_decref(o);
}

void
api_error(
    struct http_response *resp, int code, const char *error, const char *detail)
{
	api_json_error(resp, code,
	    json_pack("{s:s, s:s}", "error", error, "detail", detail), detail);
}

/* The error for a failed call: code and kind from st, the detail line. */
static void
api_status(struct http_response *resp, enum status st)
{
	int code = http_code_for(st);

	api_error(resp, code, status_name(st),
	    code == 500 ? "internal error" : status_detail());
}

enum status
api_body_parse(const uint8_t *body, size_t len, const char *const *known,
    struct jsonread **out)
{
	struct jsonread *r = NULL;
	enum status st;

	*out = NULL;
	if (len == 0)
		return status_fail(ST_MALFORMED,
		    "empty body; expected a JSON "
		    "object");
	if ((st = jsonread_parse((const char *)body, len, API_BODY_MAX,
	         API_DEPTH_MAX, "body", &r)) != ST_OK)
		return st;
	if ((st = jsonread_keys_check(r, "$", jsonread_root(r), known)) !=
	    ST_OK) {
		jsonread_free(r);
		return st;
	}
	*out = r;
	return ST_OK;
}

/* A string member of a body's top object ("$.key"), borrowed from r. */
static enum status
body_str(
    const struct jsonread *r, const char *key, int required, const char **out)
{
	return jsonread_str(
	    r, "$", jsonread_root(r), key, required, API_BODY_MAX, out);
}

void
api_send(struct http_response *resp, int code, json_t *o)
{
	char *text = NULL;

	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL ||
	    buf_printf(&resp->body, "%s\n", text) != ST_OK) {
		api_error(resp, 500, "internal error", "internal error");
	} else {
		resp->status = code;
		resp->content_type = "application/json";
	}
	secret_free(text);
	json_decref(o);
}

/* RFC 3339 UTC, e.g. 2026-11-24T20:53:40Z. */
static json_t *
json_time(int64_t t)
{
	char out[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(out);
}

/* POST enrollment-secrets {"device": ID, "profile": P, "ttl": seconds} */
static void
secrets_create(struct enroll *e, const struct principal *who,
    const struct http_request *req, struct http_response *resp)
{
	static const char *const known[] = {"device", "profile", "ttl", NULL};
	struct jsonread *body = NULL;
	const char *device = NULL, *profile = NULL;
	int64_t ttl = 0, expires;
	char *secret = NULL;
	enum status st;

	if ((st = api_body_parse(req->body, req->body_len, known, &body)) !=
	        ST_OK ||
	    (st = body_str(body, "device", 1, &device)) != ST_OK ||
	    (st = body_str(body, "profile", 0, &profile)) != ST_OK ||
	    (st = jsonread_int(body, "$", jsonread_root(body), "ttl", 0,
	         INT64_MIN, INT64_MAX, 0, &ttl)) != ST_OK) {
		api_status(resp, st);
		goto out;
	}
	if ((st = authority_secret_create(e->a, who, device, profile, ttl,
	         &secret, &expires)) != ST_OK) {
		api_status(resp, st);
		goto out;
	}
	api_send(resp, 201,
	    json_pack("{s:s, s:s, s:s, s:o}", "device", device, "profile",
	        profile ? profile : "device", "secret", secret, "expires",
	        json_time(expires)));
out:
	jsonread_free(body);
	secret_free(secret);
}

static json_t *
json_str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* One page of GET enrollment-secrets: who, what and when, never the
 * secret or its hash (the store does not even read the hash). */
struct secret_page {
	json_t *array;
	int64_t last;
	size_t count;
	int64_t now;
};

static int
secret_one(const struct authority_secret *s, void *arg)
{
	struct secret_page *l = arg;
	const char *state = s->cancelled_at != 0 ? "cancelled"
	    : s->consumed_at != 0                ? "used"
	    : s->expires <= l->now               ? "expired"
	                                         : "outstanding";
	json_t *o, *minter;

	minter = s->minter_kind == NULL
	    ? json_null()
	    : json_pack("{s:s, s:o, s:o}", "kind", s->minter_kind, "id",
	          json_str_or_null(s->minter_id), "serial",
	          json_str_or_null(s->minter_serial));
	o = json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o}", "id",
	    (json_int_t)s->id, "device", s->device_id, "profile", s->profile,
	    "minter", minter, "status", state, "created", json_time(s->created),
	    "expires", json_time(s->expires));
	if (o != NULL && s->consumed_at != 0) {
		json_object_set_new(o, "used_at", json_time(s->consumed_at));
		json_object_set_new(
		    o, "certificate", json_str_or_null(s->consumed_serial));
	}
	if (o != NULL && s->cancelled_at != 0) {
		json_object_set_new(
		    o, "cancelled_at", json_time(s->cancelled_at));
		json_object_set_new(
		    o, "cancelled_by", json_str_or_null(s->cancelled_by));
	}
	if (o == NULL || json_array_append_new(l->array, o) != 0)
		return 1;
	l->last = s->id;
	l->count++;
	return 0;
}

/* A stored reason code as the API names it; unknown codes unspecified. */
static const char *
reason_name(int code)
{
	const char *name = ca_reason_name(code);

	return name != NULL ? name : "unspecified";
}

static json_t *
cert_json(const struct authority_cert *c)
{
	json_t *o;

	o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:o, s:o}", "serial",
	    c->serial, "device", json_str_or_null(c->device_id), "profile",
	    c->profile, "subject", c->subject, "status",
	    c->is_revoked ? "revoked" : "valid", "not_before",
	    json_time(c->not_before), "not_after", json_time(c->not_after));
	if (o != NULL && c->is_revoked) {
		json_object_set_new(o, "revoked_at", json_time(c->revoked_at));
		json_object_set_new(
		    o, "reason", json_string(reason_name(c->reason)));
	}
	return o;
}

/* A query parameter, or NULL. */
static const char *
query(const struct http_request *req, const char *name)
{
	const char *v;

	if (req->query == NULL)
		return NULL;
	v = req->query(req, name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* An integer query parameter in min..max (def when absent). */
static enum status
query_int(const struct http_request *req, const char *name, int64_t min,
    int64_t max, int64_t def, int64_t *out)
{
	const char *v = query(req, name);
	char *end;
	long long n;

	*out = def;
	if (v == NULL)
		return ST_OK;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return status_fail(ST_MALFORMED,
		    "query parameter %s must be an integer in %lld..%lld", name,
		    (long long)min, (long long)max);
	*out = n;
	return ST_OK;
}

/*
 * A time query parameter: RFC 3339 UTC ("2026-12-01T00:00:00Z", as the
 * API writes times) or Unix seconds; 0 when absent.
 */
static enum status
query_time(const struct http_request *req, const char *name, int64_t *out)
{
	const char *v = query(req, name), *end;
	struct tm tm;

	*out = 0;
	if (v == NULL)
		return ST_OK;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm)) != NULL &&
	    *end == '\0') {
		*out = (int64_t)timegm(&tm);
		return ST_OK;
	}
	return query_int(req, name, 0, INT64_MAX, 0, out);
}

/* GET enrollment-secrets?minter=&device=&profile=&status=&limit=&cursor= */
static void
list_secrets(struct enroll *e, const struct principal *who,
    const struct http_request *req, struct http_response *resp)
{
	struct secret_page l;
	const char *status = query(req, "status");
	int64_t limit, cursor;
	int is_outstanding = 1;
	enum status st;

	memset(&l, 0, sizeof(l));
	if (status != NULL) {
		if (strcmp(status, "any") == 0)
			is_outstanding = 0;
		else if (strcmp(status, "outstanding") != 0) {
			api_error(resp, 400, "malformed",
			    "status must be outstanding or any");
			return;
		}
	}
	if ((st = query_int(req, "limit", 1, AUTHORITY_LIST_LIMIT_MAX, 100,
	         &limit)) != ST_OK ||
	    (st = query_int(req, "cursor", 0, INT64_MAX, 0, &cursor)) !=
	        ST_OK) {
		api_status(resp, st);
		return;
	}
	l.now = (int64_t)time(NULL);
	if ((l.array = json_array()) == NULL) {
		api_error(resp, 500, "internal error", "internal error");
		return;
	}
	if ((st = authority_secret_list(e->a, who, query(req, "minter"),
	         query(req, "device"), query(req, "profile"), is_outstanding,
	         cursor, (size_t)limit, secret_one, &l)) != ST_OK) {
		json_decref(l.array);
		api_status(resp, st);
		return;
	}
	api_send(resp, 200,
	    json_pack("{s:o, s:o}", "secrets", l.array, "next_cursor",
	        l.count == (size_t)limit ? json_integer((json_int_t)l.last)
	                                 : json_null()));
}

/* POST enrollment-secrets/{id}/cancel */
static void
cancel_secret(struct enroll *e, const struct principal *who,
    const struct http_request *req, const char *id, struct http_response *resp)
{
	static const char *const known[] = {NULL};
	struct jsonread *body = NULL;
	char *end;
	long long n;
	enum status st;

	if (req->body_len > 0 &&
	    (st = api_body_parse(req->body, req->body_len, known, &body)) !=
	        ST_OK) {
		api_status(resp, st);
		return;
	}
	jsonread_free(body);
	errno = 0;
	n = strtoll(id, &end, 10);
	if (errno != 0 || end == id || *end != '\0' || n < 1) {
		api_error(resp, 400, status_name(ST_MALFORMED),
		    "a secret id is a positive integer");
		return;
	}
	if ((st = authority_secret_cancel(e->a, who, (int64_t)n)) != ST_OK) {
		api_status(resp, st);
		return;
	}
	api_send(resp, 200,
	    json_pack(
	        "{s:I, s:s}", "id", (json_int_t)n, "status", "cancelled"));
}

/* POST enrollment-secrets/cancel {"minter": M, "device": D} */
static void
cancel_secrets(struct enroll *e, const struct principal *who,
    const struct http_request *req, struct http_response *resp)
{
	static const char *const known[] = {"minter", "device", NULL};
	const char *minter = NULL, *device = NULL;
	struct jsonread *body = NULL;
	size_t count = 0;
	enum status st;

	if ((st = api_body_parse(req->body, req->body_len, known, &body)) !=
	        ST_OK ||
	    (st = body_str(body, "minter", 0, &minter)) != ST_OK ||
	    (st = body_str(body, "device", 0, &device)) != ST_OK) {
		api_status(resp, st);
		goto out;
	}
	if ((st = authority_secrets_cancel(
	         e->a, who, minter, device, &count)) != ST_OK) {
		api_status(resp, st);
		goto out;
	}
	api_send(resp, 200, json_pack("{s:I}", "cancelled", (json_int_t)count));
out:
	jsonread_free(body);
}

/* The "reason" of a revoke body ({} means unspecified). */
static enum status
revoke_reason(
    const struct http_request *req, struct jsonread **body, const char **reason)
{
	static const char *const known[] = {"reason", NULL};
	enum status st;

	*body = NULL;
	*reason = NULL;
	if (req->body_len == 0)
		return ST_OK;
	if ((st = api_body_parse(req->body, req->body_len, known, body)) !=
	    ST_OK)
		return st;
	return body_str(*body, "reason", 0, reason);
}

static void
revoke_cert(struct enroll *e, const struct principal *who,
    const struct http_request *req, const char *serial,
    struct http_response *resp)
{
	struct authority_revocation r;
	struct jsonread *body = NULL;
	const char *reason;
	enum status st;

	/* reason points into body: released once the authority is done. */
	if ((st = revoke_reason(req, &body, &reason)) == ST_OK)
		st = authority_revoke_cert(e->a, who, serial, reason, &r);
	jsonread_free(body);
	if (st != ST_OK) {
		api_status(resp, st);
		return;
	}
	api_send(resp, 200,
	    json_pack("{s:s, s:o, s:s, s:s, s:o}", "serial", r.serial, "device",
	        json_str_or_null(r.device_id), "status", "revoked", "reason",
	        reason_name(r.reason), "revoked_at", json_time(r.time)));
}

static void
revoke_device(struct enroll *e, const struct principal *who,
    const struct http_request *req, const char *id, struct http_response *resp)
{
	struct jsonread *body = NULL;
	const char *reason;
	size_t count = 0;
	enum status st;

	if ((st = revoke_reason(req, &body, &reason)) == ST_OK)
		st = authority_revoke_device(e->a, who, id, reason, &count);
	jsonread_free(body);
	if (st != ST_OK) {
		api_status(resp, st);
		return;
	}
	api_send(resp, 200,
	    json_pack("{s:s, s:I, s:s}", "device", id, "revoked",
	        (json_int_t)count, "status", "blocked"));
}

/* One page of GET certificates, filled by list_one. */
struct cert_page {
	json_t *array;
	char last[AUTHORITY_SERIAL_CAP]; /* the serial to resume after */
	size_t count;
};

static int
list_one(const struct authority_cert *c, void *arg)
{
	struct cert_page *l = arg;

	if (json_array_append_new(l->array, cert_json(c)) != 0)
		return 1;
	snprintf(l->last, sizeof(l->last), "%s", c->serial);
	l->count++;
	return 0;
}

static void
list_certs(struct enroll *e, const struct principal *who,
    const struct http_request *req, struct http_response *resp)
{
	struct authority_cert_filter f;
	struct cert_page l;
	const char *status = query(req, "status");
	int64_t limit, before;
	enum status st;

	memset(&f, 0, sizeof(f));
	memset(&l, 0, sizeof(l));
	f.device_id = query(req, "device");
	f.profile = query(req, "profile");
	f.cursor = query(req, "cursor");
	f.status = AUTHORITY_CERT_ANY;
	if (status != NULL) {
		if (strcmp(status, "valid") == 0)
			f.status = AUTHORITY_CERT_VALID;
		else if (strcmp(status, "revoked") == 0)
			f.status = AUTHORITY_CERT_REVOKED;
		else {
			api_error(resp, 400, "malformed",
			    "status must be valid or revoked");
			return;
		}
	}
	if ((st = query_int(req, "limit", 1, AUTHORITY_LIST_LIMIT_MAX, 100,
	         &limit)) != ST_OK ||
	    (st = query_time(req, "expiring_before", &before)) != ST_OK) {
		api_status(resp, st);
		return;
	}
	f.limit = (size_t)limit;
	f.expiring_before = before;
	if ((l.array = json_array()) == NULL) {
		api_error(resp, 500, "internal error", "internal error");
		return;
	}
	if ((st = authority_cert_list(e->a, who, &f, list_one, &l)) != ST_OK) {
		json_decref(l.array);
		api_status(resp, st);
		return;
	}
	/* A full page may have more behind it: hand out the cursor. */
	api_send(resp, 200,
	    json_pack("{s:o, s:o}", "certificates", l.array, "next_cursor",
	        l.count == f.limit ? json_string(l.last) : json_null()));
}

static void
get_cert(struct enroll *e, const struct principal *who, const char *serial,
    struct http_response *resp)
{
	struct authority_cert *c = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	BIO *bio = NULL;
	char *pem;
	long pem_len;
	json_t *o;
	enum status st;

	if ((st = authority_cert_get(e->a, who, serial, &c)) != ST_OK) {
		api_status(resp, st);
		return;
	}
	o = cert_json(c);
	p = c->der;
	if (o != NULL && (x = d2i_X509(NULL, &p, (long)c->der_len)) != NULL &&
	    (bio = BIO_new(BIO_s_mem())) != NULL &&
	    PEM_write_bio_X509(bio, x) &&
	    (pem_len = BIO_get_mem_data(bio, &pem)) > 0)
		json_object_set_new(
		    o, "pem", json_stringn(pem, (size_t)pem_len));
	BIO_free(bio);
	X509_free(x);
	authority_cert_free(c);
	api_send(resp, 200, o);
}

static void
get_device(struct enroll *e, const struct principal *who, const char *id,
    struct http_response *resp)
{
	struct authority_device d;
	enum status st;

	if ((st = authority_device_get(e->a, who, id, &d)) != ST_OK) {
		api_status(resp, st);
		return;
	}
	/* family and authenticator: null until an enrollment records them. */
	api_send(resp, 200,
	    json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o}", "device", id,
	        "status", d.is_blocked ? "blocked" : "active", "certificates",
	        (json_int_t)d.cert_count, "valid", (json_int_t)d.valid_count,
	        "created", json_time(d.created), "updated",
	        json_time(d.updated), "family", json_str_or_null(d.family),
	        "authenticator", json_str_or_null(d.authenticator)));
}

struct feed {
	json_t *array;
	int64_t last;
};

static int
feed_one(const struct authority_feed_entry *r, void *arg)
{
	struct feed *f = arg;

	f->last = r->seq;
	return json_array_append_new(f->array,
	           json_pack("{s:I, s:s, s:o, s:s, s:o}", "seq",
	               (json_int_t)r->seq, "serial", r->serial, "device",
	               json_str_or_null(r->device_id), "reason",
	               reason_name(r->reason), "time", json_time(r->time))) !=
	    0;
}

static int
audit_one(const struct authority_audit_entry *a, void *arg)
{
	struct feed *f = arg;

	f->last = a->seq;
	return json_array_append_new(f->array,
	           json_pack("{s:I, s:o, s:s, s:s, s:s, s:s}", "seq",
	               (json_int_t)a->seq, "time", json_time(a->time), "actor",
	               a->actor, "action", a->action, "object", a->object,
	               "detail", a->detail)) != 0;
}

/* GET revocations or audit: ?since=SEQ&limit=N. */
static void
since_list(struct enroll *e, const struct principal *who,
    const struct http_request *req, int is_audit, struct http_response *resp)
{
	struct feed f;
	int64_t since, limit;
	enum status st;

	if ((st = query_int(req, "since", 0, INT64_MAX, 0, &since)) != ST_OK ||
	    (st = query_int(req, "limit", 1, AUTHORITY_LIST_LIMIT_MAX, 100,
	         &limit)) != ST_OK) {
		api_status(resp, st);
		return;
	}
	f.last = since;
	if ((f.array = json_array()) == NULL) {
		api_error(resp, 500, "internal error", "internal error");
		return;
	}
	st = is_audit ? authority_audit_since(
	                    e->a, who, since, (size_t)limit, audit_one, &f)
	              : authority_revocations_since(
	                    e->a, who, since, (size_t)limit, feed_one, &f);
	if (st != ST_OK) {
		json_decref(f.array);
		api_status(resp, st);
		return;
	}
	api_send(resp, 200,
	    json_pack("{s:o, s:I}", is_audit ? "entries" : "revocations",
	        f.array, "last_seq", (json_int_t)f.last));
}

/* What each API resource takes besides its path (route.c routes it). */

static const char *const no_queries[] = {NULL};
static const char *const list_queries[] = {
    "device", "status", "profile", "expiring_before", "limit", "cursor", NULL};
static const char *const since_queries[] = {"since", "limit", NULL};
static const char *const secret_queries[] = {
    "minter", "device", "profile", "status", "limit", "cursor", NULL};

/* The query parameters each resource knows (route.c has the rest). */
static const char *const *const route_queries[API_ROUTE_MAX] = {
    [API_SECRETS] = no_queries,
    [API_SECRET_LIST] = secret_queries,
    [API_SECRET_CANCEL] = no_queries,
    [API_SECRETS_CANCEL] = no_queries,
    [API_CERT_LIST] = list_queries,
    [API_CERT_GET] = no_queries,
    [API_CERT_REVOKE] = no_queries,
    [API_DEVICE_GET] = no_queries,
    [API_DEVICE_REVOKE] = no_queries,
    [API_DEVICE_REINSTATE] = no_queries,
    [API_REVOCATIONS] = since_queries,
    [API_AUDIT] = since_queries,
    [API_TOKEN_KEY_NEW] = no_queries,
};

/*
 * "https://host:port" of an URL: the length of its scheme and authority,
 * what a browser sends as Origin (RFC 6454 §6.1).
 */
static size_t
url_origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL)
		return strlen(url);
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

/*
 * Why a write came from another site, or NULL. An admin's browser presents
 * the admin's certificate to whatever page posts to tessera (a form,
 * navigator.sendBeacon: no preflight), so a write is taken only when
 * neither Sec-Fetch-Site nor Origin names another site. An Origin is ours
 * when it is the service's (tessera.json "url") or https:// and the Host
 * the browser sent this request to: the page and the target are then the
 * same origin, and a page elsewhere cannot set its Origin (a host name
 * that is not tessera's fails TLS before a request). "null" (a sandboxed
 * page) is never ours. A request with neither header did not come from a
 * page (curl, scripts).
 */
static const char *
request_cross_site(const struct enroll *e, const struct http_request *req)
{
	const char *url = authority_config(e->a)->url;
	size_t n = url_origin_len(url);

	if (req->sec_fetch_site != NULL &&
	    strcasecmp(req->sec_fetch_site, "same-origin") != 0 &&
	    strcasecmp(req->sec_fetch_site, "none") != 0)
		return "Sec-Fetch-Site";
	if (req->origin == NULL)
		return NULL;
	if (strlen(req->origin) == n && strncasecmp(req->origin, url, n) == 0)
		return NULL;
	if (req->host != NULL && strncasecmp(req->origin, "https://", 8) == 0 &&
	    strcasecmp(req->origin + 8, req->host) == 0)
		return NULL;
	return "Origin";
}

/*
 * 1 (and a 403 in resp) when req is a write (any method but GET) from a
 * page of another site: refused before routing, whatever it names.
 */
static int
request_cross_site_refused(const struct enroll *e,
    const struct http_request *req, struct http_response *resp)
{
	const char *why;
	char msg[300], q[96];

	if (strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0 ||
	    (why = request_cross_site(e, req)) == NULL)
		return 0;
	snprintf(msg, sizeof(msg),
	    "cross-site request refused: %s is %s, and a write is taken only "
	    "from %.*s or from a client that is no browser page",
	    why,
	    log_quote(why[0] == 'O' ? req->origin : req->sec_fetch_site, q,
	        sizeof(q)),
	    (int)url_origin_len(authority_config(e->a)->url),
	    authority_config(e->a)->url);
	api_error(resp, 403, status_name(ST_DENIED), msg);
	return 1;
}

/*
 * The request fits route r: no unknown query parameter, and no media type
 * but JSON. A POST with another Content-Type is refused even when empty:
 * a browser's cross-site form POST always sends one (text/plain,
 * urlencoded, multipart), so it can never act with an admin's
 * certificate. Every write (any method but GET) also needs Content-Type
 * application/json and a JSON body ("{}" when it has nothing to say): an
 * empty POST without a type is what navigator.sendBeacon sends from any
 * page. This is the one place every route goes through (cross-site writes
 * are refused before it). Writes the error into resp and returns 0 when
 * the request does not fit.
 */
static int
request_fits(const struct route_match *m, const struct http_request *req,
    struct http_response *resp)
{
	const char *name;
	char msg[200], q[96];
	int is_write = strcmp(m->route->method, "GET") != 0;

	if (req->query_unknown != NULL &&
	    (name = req->query_unknown(req, route_queries[m->route->op])) !=
	        NULL) {
		snprintf(msg, sizeof(msg), "unknown query parameter %s",
		    log_quote(name, q, sizeof(q)));
		api_error(resp, 400, status_name(ST_MALFORMED), msg);
		return 0;
	}
	if ((req->content_type != NULL &&
	        !http_media_type_is(req->content_type, "application/json")) ||
	    (req->content_type == NULL && (req->body_len > 0 || is_write))) {
		api_error(resp, 415, "unsupported media type",
		    "the API takes Content-Type application/json");
		return 0;
	}
	if (is_write && req->body_len == 0) {
		api_error(resp, 400, status_name(ST_MALFORMED),
		    "a write needs a JSON object as its body ({} when it has "
		    "nothing to say)");
		return 0;
	}
	if (!is_write && req->body_len > 0) {
		api_error(resp, 400, status_name(ST_MALFORMED),
		    "this resource takes no request body");
		return 0;
	}
	return 1;
}

/* A write whose body carries nothing: exactly "{}" (any spacing). */
static enum status
body_empty_object(const struct http_request *req)
{
	static const char *const known[] = {NULL};
	struct jsonread *body = NULL;
	enum status st;

	st = api_body_parse(req->body, req->body_len, known, &body);
	jsonread_free(body);
	return st;
}

int
api_guard(struct enroll *e, const struct http_request *req,
    struct principal *who, struct http_response *resp)
{
	char *secret = NULL;
	enum status st;

	/* The API is for holders of certificates tessera issued: no Basic
	 * secrets, no IDevIDs (every API route accepts only those). */
	st = auth_principal(e->a, req, ROUTE_CERT, who, &secret);
	secret_free(secret);
	if (st != ST_OK) {
		/* Refused before a principal exists: audited all the same.
		 * A refused read changes nothing: audited in aggregate. */
		api_status(resp,
		    strcmp(req->method, "GET") == 0 ||
		            strcmp(req->method, "HEAD") == 0
		        ? authority_refuse_read(e->a, who, "api", st)
		        : authority_refuse(e->a, who, "api", st));
		return 0;
	}
	return !request_cross_site_refused(e, req, resp);
}

void
api_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	const struct principal *who = &m->who;
	const char *id = m->param;
	char kid[TOKEN_THUMBPRINT_LEN + 1];
	enum status st;

	if (!request_fits(m, req, resp))
		return;
	switch ((enum api_route)m->route->op) {
	case API_SECRETS:
		secrets_create(e, who, req, resp);
		break;
	case API_SECRET_LIST:
		list_secrets(e, who, req, resp);
		break;
	case API_SECRET_CANCEL:
		cancel_secret(e, who, req, id, resp);
		break;
	case API_SECRETS_CANCEL:
		cancel_secrets(e, who, req, resp);
		break;
	case API_CERT_LIST:
		list_certs(e, who, req, resp);
		break;
	case API_CERT_GET:
		get_cert(e, who, id, resp);
		break;
	case API_CERT_REVOKE:
		revoke_cert(e, who, req, id, resp);
		break;
	case API_DEVICE_GET:
		get_device(e, who, id, resp);
		break;
	case API_DEVICE_REVOKE:
		revoke_device(e, who, req, id, resp);
		break;
	case API_DEVICE_REINSTATE:
		if ((st = body_empty_object(req)) != ST_OK ||
		    (st = authority_reinstate_device(e->a, who, id)) != ST_OK)
			api_status(resp, st);
		else
			api_send(resp, 200,
			    json_pack("{s:s, s:s}", "device", id, "status",
			        "active"));
		break;
	case API_REVOCATIONS:
		since_list(e, who, req, 0, resp);
		break;
	case API_AUDIT:
		since_list(e, who, req, 1, resp);
		break;
	case API_TOKEN_KEY_NEW:
		if ((st = body_empty_object(req)) != ST_OK ||
		    (st = authority_token_rotate(e->a, who, kid)) != ST_OK)
			api_status(resp, st);
		else
			api_send(resp, 201, json_pack("{s:s}", "kid", kid));
		break;
	default:
		api_error(resp, 404, "not found", "no such API resource");
	}
}
