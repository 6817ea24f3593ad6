#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/secret.h"
#include "enroll/auth.h"
#include "enroll/codec.h"

/* n bytes of p as a NUL-terminated string (p need not be terminated). */
static char *
dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

enum status
auth_basic_parse(const char *header, char **user, char **password)
{
	uint8_t *raw = NULL;
	size_t raw_len = 0, n;
	const char *p;
	uint8_t *colon;
	enum status st;

	*user = NULL;
	*password = NULL;
	if (strncasecmp(header, "Basic", 5) != 0 ||
	    (header[5] != ' ' && header[5] != '\t'))
		return status_fail(ST_NOTFOUND, "not the Basic scheme");
	for (p = header + 5; *p == ' ' || *p == '\t'; p++)
		;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0 || n > AUTH_BASIC_MAX * 4 / 3 + 4)
		return status_fail(ST_MALFORMED,
		    "Authorization: Basic credentials empty or too long");
	if ((st = codec_b64_decode((const uint8_t *)p, n, AUTH_BASIC_MAX, &raw,
	         &raw_len)) != ST_OK)
		return status_fail(st == ST_LIMIT ? ST_MALFORMED : st,
		    "Authorization: Basic credentials are not base64 "
		    "(RFC 7617)");
	st = ST_MALFORMED;
	if ((colon = memchr(raw, ':', raw_len)) == NULL) {
		status_fail(ST_MALFORMED,
		    "Authorization: Basic credentials lack the ':' between "
		    "device id and secret");
		goto out;
	}
	if (memchr(raw, '\0', raw_len) != NULL) {
		status_fail(ST_MALFORMED,
		    "Authorization: Basic credentials contain a NUL byte");
		goto out;
	}
	if ((*user = dup_bytes(raw, (size_t)(colon - raw))) == NULL ||
	    (*password = dup_bytes(
	         colon + 1, raw_len - (size_t)(colon - raw) - 1)) == NULL) {
		secret_free(*user);
		*user = NULL;
		st = ST_NOMEM;
		goto out;
	}
	st = ST_OK;
out:
	OPENSSL_cleanse(raw, raw_len);
	free(raw);
	return st;
}

void
auth_anonymous(const struct http_request *req, struct principal *who)
{
	memset(who, 0, sizeof(*who));
	snprintf(who->address, sizeof(who->address), "%s",
	    req->peer_address ? req->peer_address : "");
}

static enum status
principal_find(struct authority *a, const struct http_request *req,
    unsigned allowed, struct principal *who, char **secret)
{
	char *user = NULL, *password = NULL;
	enum status cert_st = ST_UNAUTHENTICATED, st;
	char cert_detail[512] = ""; /* status_detail()'s size */
	int may_secret = (allowed & (1u << PRINCIPAL_SECRET)) != 0;

	*secret = NULL;
	memset(who, 0, sizeof(*who));
	/* A valid client certificate is enough, whatever Basic says: some
	 * clients always send (empty) Basic credentials. */
	if (req->peer_chain != NULL) {
		cert_st = authority_authenticate_conn(a, req->peer_chain,
		    req->peer_address, req->chain_memo, who);
		if (cert_st == ST_OK && (allowed & (1u << who->kind)) == 0)
			cert_st = status_fail(ST_UNAUTHENTICATED,
			    "%.100s needs a tessera-issued client certificate",
			    req->path);
		if (cert_st == ST_OK)
			return ST_OK;
		snprintf(
		    cert_detail, sizeof(cert_detail), "%s", status_detail());
	}
	auth_anonymous(req, who);
	if (!may_secret) {
		st = status_fail(cert_st, "%s",
		    req->peer_chain != NULL ? cert_detail
		                            : "no credentials: present a "
		                              "tessera-issued client "
		                              "certificate");
		goto out;
	}
	if (req->authorization != NULL) {
		st = auth_basic_parse(req->authorization, &user, &password);
		if (st == ST_OK && password[0] != '\0') {
			if (user[0] == '\0' ||
			    strlen(user) > LIMIT_DEVICE_ID_LEN) {
				st = status_fail(ST_UNAUTHENTICATED,
				    "Basic user must be the device id "
				    "(1..%d characters)",
				    LIMIT_DEVICE_ID_LEN);
				goto out;
			}
			who->kind = PRINCIPAL_SECRET;
			snprintf(who->id, sizeof(who->id), "%s", user);
			who->secret = password;
			*secret = password;
			password = NULL;
			goto out;
		}
		if (st == ST_MALFORMED || st == ST_NOMEM)
			goto out;
	}
	if (req->peer_chain != NULL)
		st = status_fail(cert_st, "%s", cert_detail);
	else
		st = status_fail(ST_UNAUTHENTICATED,
		    "no credentials: present a client certificate, or HTTP "
		    "Basic with the device id and its one-time secret");
out:
	secret_free(user);
	secret_free(password);
	return st;
}

enum status
auth_principal(struct authority *a, const struct http_request *req,
    unsigned allowed, struct principal *who, char **secret)
{
	static const char *const kinds[PRINCIPAL_KIND_MAX] = {
	    "anonymous", "operator", "secret", "cert", "manufacturer"};
	enum status st = principal_find(a, req, allowed, who, secret);

	/* For the access log: who this request presented itself as (a
	 * secret's claim is checked later; the status says how it went). */
	if (st == ST_OK && req->principal != NULL &&
	    (unsigned)who->kind < PRINCIPAL_KIND_MAX)
		snprintf(req->principal, HTTP_PRINCIPAL_CAP, "%s:%s",
		    kinds[who->kind], who->id);
	return st;
}
