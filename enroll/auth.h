/*
 * auth: who is asking on this request (authentication only; ca/ decides
 * what they may do). A verified TLS client certificate comes first; HTTP
 * Basic (device id and one-time secret) is the fallback.
 */
#ifndef TESSERA_ENROLL_AUTH_H
#define TESSERA_ENROLL_AUTH_H

#include "ca/authority.h"
#include "enroll/http.h"

/* Device ids and secrets in a Basic header; generous, and bounded. */
#define AUTH_BASIC_MAX 512

/*
 * Parse an Authorization header of the Basic scheme (RFC 7617) into user
 * and password (each NUL-free). ST_NOTFOUND when the scheme is another
 * one, ST_MALFORMED when broken. The caller frees both with secret_free.
 */
enum status
auth_basic_parse(const char *header, char **user, char **password) MUST_CHECK;

/*
 * Authenticate req into *who with the authenticators allowed (the route's:
 * 1u << enum principal_kind each); a credential of another kind is
 * ST_UNAUTHENTICATED, and Basic is not even read when secrets are not
 * allowed. *secret receives the decoded Basic password when who is a
 * PRINCIPAL_SECRET (who->secret points at it); the caller frees it with
 * secret_free after the request.
 */
enum status auth_principal(struct authority *a, const struct http_request *req,
    unsigned allowed, struct principal *who, char **secret) MUST_CHECK;

/*
 * Make *who the peer of req as nothing but its address: the principal a
 * refusal is audited under when no one was authenticated.
 */
void auth_anonymous(const struct http_request *req, struct principal *who);

#endif
