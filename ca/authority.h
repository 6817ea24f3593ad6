/*
 * authority: the CA as one object: configuration, policy, the token and
 * its keys, the store. Every entry point (CLI, EST, admin API) goes
 * through it, so that the same principal gets the same answer everywhere.
 */
#ifndef TESSERA_CA_AUTHORITY_H
#define TESSERA_CA_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca/config.h"
#include "ca/principal.h"
#include "common/status.h"

struct authority;
struct store;
struct policy;

/*
 * Open the data directory: read tessera.json and the policy, log in to
 * the token (PIN from the configured file, or TESSERA_HSM_PIN), find the
 * issuing key, load the chain, open the store. Call after fork(), never
 * before. The caller frees *out with authority_close.
 */
enum status
authority_open(const char *data_dir, struct authority **out) MUST_CHECK;

void authority_close(struct authority *a);

/*
 * Issue a certificate for the DER PKCS#10 csr under profile, if who may
 * have it. The row (and the audit entry) are durably committed before this
 * returns ST_OK; every refusal is audited too. The caller frees *out.
 */
enum status authority_issue(struct authority *a, const struct principal *who,
    const char *profile, const uint8_t *csr, size_t csr_len,
    X509 **out) MUST_CHECK;

/* Borrowed views; valid until authority_close. */
const struct ca_config *authority_config(const struct authority *a);
const struct policy *authority_policy(const struct authority *a);
struct store *authority_store(struct authority *a);
X509 *authority_get0_issuing(const struct authority *a);
X509 *authority_get0_root(const struct authority *a);

/* "operator:local", "secret:dev-1", "cert:0A1B..." for audit entries. */
void principal_describe(const struct principal *who, char *out, size_t cap);

#endif
