/*
 * principal: who is asking, as proven on this connection or command line.
 * enroll/auth fills it in (authentication); ca/ decides what it may do
 * (authorization). A principal owns nothing: its certificate is borrowed.
 */
#ifndef TESSERA_CA_PRINCIPAL_H
#define TESSERA_CA_PRINCIPAL_H

#include <openssl/x509.h>

#include "common/limits.h"

enum principal_kind {
	PRINCIPAL_NONE, /* nothing proven */
	PRINCIPAL_OPERATOR, /* local operator: holds the data dir and PIN */
	PRINCIPAL_SECRET, /* one-time enrollment secret (HTTP Basic) */
	PRINCIPAL_CERT, /* a certificate tessera issued */
	PRINCIPAL_MANUFACTURER, /* an IDevID from a trusted manufacturer CA */
	PRINCIPAL_KIND_MAX
};

struct principal {
	enum principal_kind kind;
	char id[LIMIT_NAME_LEN + 1]; /* device id, user or serial */
	char role[LIMIT_LABEL_LEN + 1]; /* admin, station, device, ... */
	X509 *cert; /* borrowed; NULL when none */
	char address[64]; /* peer address, "" for local */
	/* PRINCIPAL_CERT: the certificate's row. */
	char serial[41];
	char profile[LIMIT_LABEL_LEN + 1];
	int is_expired; /* within the profile's renewal grace */
	/* PRINCIPAL_MANUFACTURER: the authenticator's name. */
	char authenticator[LIMIT_LABEL_LEN + 1];
	/* PRINCIPAL_SECRET: the claimed secret (borrowed; its owner wipes). */
	const char *secret;
};

#endif
