/*
 * rollover: `tessera ca rollover` — a new issuing CA beside the old one.
 *
 * A new issuing key is made in the token (PREFIX-issuing-ca-TIME-RANDOM),
 * certified by the root (in the token), recorded as the next generation
 * of the issuers table with an audit entry, and the data directory
 * switched: ca/issuing.pem is the new CA (every new certificate comes from
 * it), ca/retiring.pem the old one (tessera.json keys.retiring: it signs
 * its CRLs, issuing-gG[-K].crl after a rollover, and OCSP answers for what
 * it issued, with its own key, and nothing else), ca/chain.pem both
 * issuing CAs and the root, ca/ocsp.pem the responder's key certified
 * anew by the new CA. serve takes it up on SIGHUP (the CLI sends it);
 * once the last certificate of the old CA has expired serve retires it
 * (issuer_retire_tick): audited, dropped from cacerts and chain.pem,
 * ca/retiring.pem renamed ca/retired-gG.pem; its key stays in the token
 * for the HSM's own tools to destroy.
 */
#ifndef TESSERA_CA_ROLLOVER_H
#define TESSERA_CA_ROLLOVER_H

#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"

struct ca_rollover_result {
	int old_gen, new_gen;
	char old_serial[41], new_serial[41];
	char key_label[LIMIT_LABEL_LEN + 1]; /* the new issuing key's */
	int64_t new_not_after;
};

/*
 * Roll data_dir's issuing CA over (above). Refused, changing nothing:
 * an offline root (ST_CONFLICT: the root must sign, see the message), a
 * rollover whose old CA is not retired yet (ST_CONFLICT), a root that
 * ends within a day (ST_LIMIT).
 */
enum status
ca_rollover(const char *data_dir, struct ca_rollover_result *out) MUST_CHECK;

#endif
