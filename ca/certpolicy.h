/*
 * certpolicy: the profile a certificate was issued under, as a
 * certificatePolicies OID (RFC 5280 §4.2.1.4) inside the signed
 * certificate, so that a holder's role never rests on a store column.
 *
 * A profile's OID is CA_POLICY_PROFILES_ARC followed by one arc per byte
 * of its name ("device" is ...1.100.101.118.105.99.101): no registry, the
 * name comes back from the certificate alone, and every arc stays small.
 * Small arcs are not a nicety: Python's cryptography 38 (Debian 12) cannot
 * parse an arc of 2^28 or more, nor an OID over 63 bytes, and then reads
 * none of a certificate's extensions; an X.667 arc (2.25.<UUID>) is always
 * above 2^76. The arc is IANA's documentation enterprise number (RFC 5612)
 * until tessera has one of its own.
 */
#ifndef TESSERA_CA_CERTPOLICY_H
#define TESSERA_CA_CERTPOLICY_H

#include <openssl/x509.h>

#include "common/limits.h"
#include "common/status.h"

#define CA_POLICY_ARC "1.3.6.1.4.1.32473.1"
#define CA_POLICY_PROFILES_ARC CA_POLICY_ARC ".1"
/* The longest profile name whose OID stays within 63 DER bytes. */
#define CA_POLICY_NAME_MAX 53

/*
 * Add a non-critical certificatePolicies extension holding profile's OID
 * (and nothing else) to cert. ST_MALFORMED for a name that is not
 * [a-z0-9_-]{1,CA_POLICY_NAME_MAX}.
 */
enum status ca_certpolicy_add(X509 *cert, const char *profile) MUST_CHECK;

/*
 * The profile named by cert's certificatePolicies into out: ST_OK,
 * ST_NOTFOUND when cert carries no profile OID of tessera's, ST_MALFORMED
 * when it carries two or one that names no valid profile name.
 */
enum status
ca_certpolicy_get(const X509 *cert, char out[LIMIT_LABEL_LEN + 1]) MUST_CHECK;

#endif
