/*
 * deviceid: the one canonical form of a device id, and the one check of
 * it. Every place a device id enters tessera (a CSR, secret minting, the
 * revoke, reinstate and read API, a manufacturer certificate) goes through
 * here, so that no two spellings ever name one device.
 *
 * Canonical: 1..LIMIT_DEVICE_ID_LEN bytes of lower-case ASCII letters,
 * digits, '.', '_', ':' and '-'; the first is a letter or a digit; the
 * last is not '.'. "Dev-1" and "dev-1." are not canonical; "dev-1" is.
 */
#ifndef TESSERA_CA_DEVICEID_H
#define TESSERA_CA_DEVICEID_H

#include <stddef.h>

#include "ca/policy.h"
#include "common/status.h"

/* A sentence saying what the canonical form is, for messages and docs. */
#define CA_DEVICE_ID_FORM                                                      \
	"1..64 characters of a-z 0-9 . _ : -, starting with a letter or "      \
	"digit, not ending with a dot, lower case only"

/*
 * ST_OK when id is a canonical device id and, when profile is not NULL,
 * matches the profile's device_id_pattern. Otherwise ST_MALFORMED with a
 * detail that quotes id and states the canonical form (and, when lower
 * case would make it canonical, the spelling to use).
 */
enum status ca_device_id_check(
    const char *id, const struct policy_profile *profile) MUST_CHECK;

/*
 * The canonical form of an id that its holder cannot re-spell (the
 * serialNumber or CN of a manufacturer's IDevID): ASCII upper case folded
 * to lower case into out (cap bytes), then ca_device_id_check.
 */
enum status ca_device_id_fold(const char *id, char *out, size_t cap) MUST_CHECK;

#endif
