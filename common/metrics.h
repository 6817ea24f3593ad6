/*
 * metrics: the service's counters and histograms, shared by every process
 * of `tessera serve`. The pool is one anonymous shared mapping (MAP_SHARED
 * | MAP_ANONYMOUS) that the supervisor makes before it forks anything, of
 * a fixed layout (struct metrics in metrics.c); every value in it is
 * changed with an atomic add, so workers, their threads and the signer
 * record into it at once, and whichever worker answers /metrics reports
 * the whole service. Besides the rate limits' table, it is the only
 * memory the processes share.
 *
 * Every recording function accepts a NULL pool and then does nothing (the
 * CLI, unit tests): callers never test for it.
 */
#ifndef TESSERA_COMMON_METRICS_H
#define TESSERA_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/status.h"

struct metrics;

/* Where a request went (the label "endpoint"); a fixed set, so that no
 * client can grow the pool or the exposition with made-up paths. */
enum metrics_endpoint {
	METRICS_EP_EST_CACERTS,
	METRICS_EP_EST_CSRATTRS,
	METRICS_EP_EST_SIMPLEENROLL,
	METRICS_EP_EST_SIMPLEREENROLL,
	METRICS_EP_EST_SERVERKEYGEN,
	METRICS_EP_EST_OTHER,
	METRICS_EP_API,
	METRICS_EP_TOKEN,
	METRICS_EP_WELL_KNOWN, /* JWKS, metadata documents */
	METRICS_EP_OCSP,
	METRICS_EP_CRL,
	METRICS_EP_CA_CERT,
	METRICS_EP_HEALTHZ,
	METRICS_EP_METRICS,
	METRICS_EP_OTHER, /* anything else (404) */
	METRICS_EP_MAX
};

/* What an OCSP answer said about the certificate asked for. */
enum metrics_ocsp {
	METRICS_OCSP_GOOD,
	METRICS_OCSP_REVOKED,
	METRICS_OCSP_UNKNOWN,
	METRICS_OCSP_ERROR, /* an unsigned error status (RFC 6960 §4.2.1) */
	METRICS_OCSP_MAX
};

/* Which per-address limit refused a request (429). */
enum metrics_rate {
	METRICS_RATE_ENROLL,
	METRICS_RATE_TOKEN,
	METRICS_RATE_OCSP,
	METRICS_RATE_REFUSALS,
	METRICS_RATE_MAX
};

/* What a signature was for (the label "purpose"): the signer's purposes. */
enum metrics_sign {
	METRICS_SIGN_DEVICE_CERT,
	METRICS_SIGN_SERVICE_CERT,
	METRICS_SIGN_CA_CERT,
	METRICS_SIGN_CRL,
	METRICS_SIGN_OCSP,
	METRICS_SIGN_TOKEN,
	METRICS_SIGN_AUDIT,
	METRICS_SIGN_CA_CSR,
	METRICS_SIGN_MAX
};

/* Map a new, zeroed pool (inherited across fork). The caller frees it. */
enum status metrics_new(struct metrics **out) MUST_CHECK;

/* Unmap it (in each process that holds it). NULL is accepted. */
void metrics_free(struct metrics *m);

/* A monotonic clock in nanoseconds, for the durations recorded below. */
int64_t metrics_now_ns(void);

/* One answered request: its endpoint and HTTP status code (100..599). */
void
metrics_request_count(struct metrics *m, enum metrics_endpoint ep, int code);

/*
 * One enrollment under profile (a name from the policy; NULL or one the
 * pool has no room for: counted as "other") with its result (ST_OK:
 * issued).
 */
void metrics_enroll_count(
    struct metrics *m, const char *profile, enum status result);

void metrics_token_count(struct metrics *m);
void metrics_ocsp_count(struct metrics *m, enum metrics_ocsp status);
void metrics_rate_count(struct metrics *m, enum metrics_rate kind);
void metrics_restart_count(struct metrics *m);

/* A signature by the token that took ns nanoseconds. */
void
metrics_sign_observe(struct metrics *m, enum metrics_sign purpose, int64_t ns);

/* A store transaction of group jobs whose commit took ns nanoseconds. */
void metrics_commit_observe(struct metrics *m, int64_t ns, size_t group);

/*
 * Requests in flight are kept per process, so that a process that dies
 * takes its own with it: proc_claim gives pid a slot (its index, or -1
 * when the table is full: then nothing is counted for it), inflight_add
 * moves the slot's count, proc_release (by the supervisor, when it reaps
 * pid) zeroes and frees it.
 */
int metrics_proc_claim(struct metrics *m, pid_t pid);
void metrics_inflight_add(struct metrics *m, int slot, int delta);
void metrics_proc_release(struct metrics *m, pid_t pid);

/*
 * Append the pool's families to out in the Prometheus text exposition
 * format (version 0.0.4): HELP and TYPE for each, counters ending in
 * _total, durations in seconds, histograms as cumulative _bucket{le},
 * _sum and _count.
 */
enum status metrics_render(const struct metrics *m, struct buf *out) MUST_CHECK;

/*
 * For families computed when scraped (gauges read from the store or the
 * token): a family's HELP and TYPE lines, then samples. labels is
 * NULL or "name=value" pairs as a NULL-terminated array of alternating
 * names and values; values are escaped as the format requires.
 */
enum status metrics_family(struct buf *out, const char *name, const char *type,
    const char *help) MUST_CHECK;
enum status metrics_sample(struct buf *out, const char *name,
    const char *const *labels, double value) MUST_CHECK;

#endif
