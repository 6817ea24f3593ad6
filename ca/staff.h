/*
 * expiry watch: a part of the authority — tessera's own certificates
 * close to expiry (the CAs, the OCSP responder, the TLS server, the
 * holders of admin, operator and auditor roles), as last found, for
 * /healthz and the daily warning in the log. ca/staff.c (also the staff
 * certificates' issuance) is the only file that sees the part's body.
 *
 * What it owns: the list as found and when (looked up again at most once
 * a minute, or at once after a renewal or a staff certificate), and when
 * it was last logged.
 * Locks: its own mutex guards the list and its time, never held across
 * the look-up (files, the store): found without it, kept with it. The
 * time it was logged is only the tick's thread's.
 * Who calls it: the authority makes it when it opens and frees it at
 * close; authority_expiring (any thread), authority_staff_issue, and
 * expiry_tick from authority_tick.
 */
#ifndef TESSERA_CA_STAFF_H
#define TESSERA_CA_STAFF_H

#include <stdint.h>

#include "common/status.h"

struct authority;
struct expiry_watch;

/* An empty watch (looks at the first call); free with expiry_watch_free. */
enum status expiry_watch_new(struct expiry_watch **out) MUST_CHECK;
/* NULL accepted. */
void expiry_watch_free(struct expiry_watch *w);

/* Log tessera's certificates close to expiry, at most once a day. */
void expiry_tick(struct authority *a, int64_t now);

#endif
