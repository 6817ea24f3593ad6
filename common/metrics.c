/*
 * metrics: the pool's layout and its exposition. Every counter is a
 * uint64_t changed with __atomic_fetch_add (lock-free on the platforms
 * tessera builds for, so it works across processes in a shared mapping as
 * well as across threads); nothing in the pool is ever locked, so a
 * process killed in the middle of an update leaves at most that one
 * update out.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/limits.h"
#include "common/metrics.h"

/* Profiles the pool counts enrollments for (a policy has at most
 * LIMIT_POLICY_ENTRIES), one more slot being "other". */
#define METRICS_PROFILES LIMIT_POLICY_ENTRIES
#define METRICS_PROFILE_NAME 64
/* Processes that may hold a slot for requests in flight: two generations
 * of the largest number of workers during a reload, a signer, spare. */
#define METRICS_PROCS 160
/* HTTP status codes 100..599, one counter each per endpoint. */
#define METRICS_CODE_MIN 100
#define METRICS_CODES 500

enum { SLOT_FREE, SLOT_CLAIMING, SLOT_READY };

/* Histogram bounds: durations (seconds) and group sizes (jobs). */
static const double seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define SECONDS_BOUNDS (sizeof(seconds_bounds) / sizeof(seconds_bounds[0]))
static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define GROUP_BOUNDS (sizeof(group_bounds) / sizeof(group_bounds[0]))
#define BUCKETS_MAX (SECONDS_BOUNDS + 1)

/* Counts per bucket (not cumulative: summed when rendered) and the sum
 * (nanoseconds for durations, jobs for group sizes). */
struct hist {
	uint64_t buckets[BUCKETS_MAX];
	uint64_t sum;
};

struct profile_slot {
	uint32_t state; /* SLOT_* */
	char name[METRICS_PROFILE_NAME + 1];
	uint64_t results[ST_MAX];
};

struct proc_slot {
	int32_t pid; /* 0: free */
	int64_t in_flight;
};

struct metrics {
	uint64_t requests[METRICS_EP_MAX][METRICS_CODES];
	struct profile_slot profiles[METRICS_PROFILES];
	uint64_t enroll_other[ST_MAX];
	uint64_t tokens;
	uint64_t ocsp[METRICS_OCSP_MAX];
	uint64_t rate[METRICS_RATE_MAX];
	uint64_t restarts;
	struct hist sign[METRICS_SIGN_MAX];
	struct hist commit_seconds;
	struct hist commit_group;
	struct proc_slot procs[METRICS_PROCS];
};

static const char *const endpoint_names[METRICS_EP_MAX] = {
    [METRICS_EP_EST_CACERTS] = "est_cacerts",
    [METRICS_EP_EST_CSRATTRS] = "est_csrattrs",
    [METRICS_EP_EST_SIMPLEENROLL] = "est_simpleenroll",
    [METRICS_EP_EST_SIMPLEREENROLL] = "est_simplereenroll",
    [METRICS_EP_EST_SERVERKEYGEN] = "est_serverkeygen",
    [METRICS_EP_EST_OTHER] = "est_other",
    [METRICS_EP_API] = "api",
    [METRICS_EP_TOKEN] = "token",
    [METRICS_EP_WELL_KNOWN] = "well_known",
    [METRICS_EP_OCSP] = "ocsp",
    [METRICS_EP_CRL] = "crl",
    [METRICS_EP_CA_CERT] = "ca_cert",
    [METRICS_EP_HEALTHZ] = "healthz",
    [METRICS_EP_METRICS] = "metrics",
    [METRICS_EP_OTHER] = "other",
};

static const char *const ocsp_names[METRICS_OCSP_MAX] = {
    "good", "revoked", "unknown", "error"};

static const char *const rate_names[METRICS_RATE_MAX] = {
    "enroll", "token", "ocsp", "refusals"};

static const char *const sign_names[METRICS_SIGN_MAX] = {"device_cert",
    "service_cert", "ca_cert", "crl", "ocsp", "token", "audit", "ca_csr"};

/* Enrollment results: "issued", else why not, in one word each. */
static const char *const result_names[ST_MAX] = {
    [ST_OK] = "issued",
    [ST_NOMEM] = "no_memory",
    [ST_MALFORMED] = "malformed",
    [ST_LIMIT] = "over_limit",
    [ST_UNAUTHENTICATED] = "unauthenticated",
    [ST_DENIED] = "denied",
    [ST_NOTFOUND] = "not_found",
    [ST_CONFLICT] = "conflict",
    [ST_UNAVAILABLE] = "unavailable",
    [ST_STORE] = "store_failure",
    [ST_INTERNAL] = "internal_error",
};

static void
add(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

enum status
metrics_new(struct metrics **out)
{
	struct metrics *m;

	*out = NULL;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return status_fail(
		    ST_NOMEM, "metrics: mmap: %s", strerror(errno));
	/* An anonymous mapping starts zeroed: every count 0, slots free. */
	*out = m;
	return ST_OK;
}

void
metrics_free(struct metrics *m)
{
	if (m != NULL)
		munmap(m, sizeof(*m));
}

int64_t
metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
metrics_request_count(struct metrics *m, enum metrics_endpoint ep, int code)
{
	if (m == NULL || (unsigned)ep >= METRICS_EP_MAX ||
	    code < METRICS_CODE_MIN || code >= METRICS_CODE_MIN + METRICS_CODES)
		return;
	add(&m->requests[ep][code - METRICS_CODE_MIN], 1);
}

/* The slot counting profile: found, or claimed; NULL when none is free. */
static struct profile_slot *
profile_slot(struct metrics *m, const char *profile)
{
	struct profile_slot *s;
	uint32_t state, free_state;
	size_t i, len = strlen(profile);

	if (len == 0 || len > METRICS_PROFILE_NAME)
		return NULL;
	for (i = 0; i < METRICS_PROFILES; i++) {
		s = &m->profiles[i];
		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (state == SLOT_READY && strcmp(s->name, profile) == 0)
			return s;
		if (state != SLOT_FREE)
			continue;
		free_state = SLOT_FREE;
		if (!__atomic_compare_exchange_n(&s->state, &free_state,
		        SLOT_CLAIMING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue; /* taken meanwhile: look on */
		/*
		 * Two processes may claim a slot each for one name at the
		 * same moment; the exposition sums slots of one name.
		 */
		memcpy(s->name, profile, len + 1);
		__atomic_store_n(&s->state, SLOT_READY, __ATOMIC_RELEASE);
		return s;
	}
	return NULL;
}

void
metrics_enroll_count(struct metrics *m, const char *profile, enum status result)
{
	struct profile_slot *s;

	if (m == NULL || (unsigned)result >= ST_MAX)
		return;
	if (profile != NULL && (s = profile_slot(m, profile)) != NULL)
		add(&s->results[result], 1);
	else
		add(&m->enroll_other[result], 1);
}

void
metrics_token_count(struct metrics *m)
{
	if (m != NULL)
		add(&m->tokens, 1);
}

void
metrics_ocsp_count(struct metrics *m, enum metrics_ocsp status)
{
	if (m != NULL && (unsigned)status < METRICS_OCSP_MAX)
		add(&m->ocsp[status], 1);
}

void
metrics_rate_count(struct metrics *m, enum metrics_rate kind)
{
	if (m != NULL && (unsigned)kind < METRICS_RATE_MAX)
		add(&m->rate[kind], 1);
}

void
metrics_restart_count(struct metrics *m)
{
	if (m != NULL)
		add(&m->restarts, 1);
}

/* Count v in h, whose buckets have the n upper bounds given. */
static void
hist_observe(
    struct hist *h, const double *bounds, size_t n, double v, uint64_t sum_add)
{
	size_t i;

	for (i = 0; i < n && v > bounds[i]; i++)
		;
	add(&h->buckets[i], 1);
	add(&h->sum, sum_add);
}

void
metrics_sign_observe(struct metrics *m, enum metrics_sign purpose, int64_t ns)
{
	if (m == NULL || (unsigned)purpose >= METRICS_SIGN_MAX || ns < 0)
		return;
	hist_observe(&m->sign[purpose], seconds_bounds, SECONDS_BOUNDS,
	    (double)ns / 1e9, (uint64_t)ns);
}

void
metrics_commit_observe(struct metrics *m, int64_t ns, size_t group)
{
	if (m == NULL || ns < 0)
		return;
	hist_observe(&m->commit_seconds, seconds_bounds, SECONDS_BOUNDS,
	    (double)ns / 1e9, (uint64_t)ns);
	hist_observe(&m->commit_group, group_bounds, GROUP_BOUNDS,
	    (double)group, (uint64_t)group);
}

int
metrics_proc_claim(struct metrics *m, pid_t pid)
{
	int32_t free_pid;
	int i;

	if (m == NULL || pid <= 0)
		return -1;
	for (i = 0; i < METRICS_PROCS; i++) {
		free_pid = 0;
		if (__atomic_compare_exchange_n(&m->procs[i].pid, &free_pid,
		        (int32_t)pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return i;
	}
	return -1;
}

void
metrics_inflight_add(struct metrics *m, int slot, int delta)
{
	if (m == NULL || slot < 0 || slot >= METRICS_PROCS)
		return;
	__atomic_fetch_add(&m->procs[slot].in_flight, delta, __ATOMIC_RELAXED);
}

void
metrics_proc_release(struct metrics *m, pid_t pid)
{
	int i;

	if (m == NULL || pid <= 0)
		return;
	for (i = 0; i < METRICS_PROCS; i++) {
		if (__atomic_load_n(&m->procs[i].pid, __ATOMIC_ACQUIRE) != pid)
			continue;
		/* The process is gone: what it had in flight is not. */
		__atomic_store_n(&m->procs[i].in_flight, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&m->procs[i].pid, 0, __ATOMIC_RELEASE);
	}
}

/* A sample value: integers exactly, others with 12 significant digits. */
static enum status
value_append(struct buf *out, double v)
{
	if (v >= 0 && v < 9007199254740992.0 && (double)(uint64_t)v == v)
		return buf_printf(out, "%llu", (unsigned long long)v);
	return buf_printf(out, "%.12g", v);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static enum status
label_append(struct buf *out, const char *v)
{
	enum status st = ST_OK;

	for (; *v != '\0' && st == ST_OK; v++) {
		if (*v == '\\')
			st = buf_append(out, "\\\\", 2);
		else if (*v == '"')
			st = buf_append(out, "\\\"", 2);
		else if (*v == '\n')
			st = buf_append(out, "\\n", 2);
		else
			st = buf_append(out, v, 1);
	}
	return st;
}

enum status
metrics_family(
    struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(
	    out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum status
metrics_sample(
    struct buf *out, const char *name, const char *const *labels, double value)
{
	enum status st;
	size_t i;

	if ((st = buf_printf(out, "%s", name)) != ST_OK)
		return st;
	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		if ((st = buf_printf(out, "%s%s=\"", i == 0 ? "{" : ",",
		         labels[i])) != ST_OK ||
		    (st = label_append(out, labels[i + 1])) != ST_OK ||
		    (st = buf_append(out, "\"", 1)) != ST_OK)
			return st;
	}
	if (i > 0 && (st = buf_append(out, "}", 1)) != ST_OK)
		return st;
	if ((st = buf_append(out, " ", 1)) != ST_OK ||
	    (st = value_append(out, value)) != ST_OK)
		return st;
	return buf_append(out, "\n", 1);
}

/*
 * One histogram's samples: cumulative buckets, +Inf, _sum (scaled by
 * sum_scale) and _count, with one optional label (name, value) first.
 */
static enum status
hist_render(struct buf *out, const char *name, const char *label,
    const char *label_value, const struct hist *h, const double *bounds,
    size_t n, double sum_scale)
{
	char series[128], le[32];
	const char *labels[5];
	uint64_t cumulative = 0;
	size_t i, at = 0;
	enum status st;

	if (label != NULL) {
		labels[at++] = label;
		labels[at++] = label_value;
	}
	labels[at + 2] = NULL;
	snprintf(series, sizeof(series), "%s_bucket", name);
	for (i = 0; i <= n; i++) {
		cumulative += get(&h->buckets[i]);
		if (i < n)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		labels[at] = "le";
		labels[at + 1] = le;
		if ((st = metrics_sample(
		         out, series, labels, (double)cumulative)) != ST_OK)
			return st;
	}
	labels[at] = NULL;
	snprintf(series, sizeof(series), "%s_sum", name);
	if ((st = metrics_sample(out, series, labels,
	         (double)get(&h->sum) * sum_scale)) != ST_OK)
		return st;
	/* The count is the buckets' sum, so that the two always agree. */
	snprintf(series, sizeof(series), "%s_count", name);
	return metrics_sample(out, series, labels, (double)cumulative);
}

static enum status
requests_render(const struct metrics *m, struct buf *out)
{
	const char *labels[5] = {"endpoint", NULL, "code", NULL, NULL};
	char code[8];
	uint64_t v;
	enum status st;
	int ep, c;

	if ((st = metrics_family(out, "tessera_http_requests_total", "counter",
	         "HTTP requests answered, by endpoint and status code.")) !=
	    ST_OK)
		return st;
	for (ep = 0; ep < METRICS_EP_MAX; ep++) {
		for (c = 0; c < METRICS_CODES; c++) {
			if ((v = get(&m->requests[ep][c])) == 0)
				continue;
			snprintf(
			    code, sizeof(code), "%d", c + METRICS_CODE_MIN);
			labels[1] = endpoint_names[ep];
			labels[3] = code;
			if ((st = metrics_sample(out,
			         "tessera_http_requests_total", labels,
			         (double)v)) != ST_OK)
				return st;
		}
	}
	return ST_OK;
}

static enum status
enrollments_render(const struct metrics *m, struct buf *out)
{
	const char *labels[5] = {"profile", NULL, "result", NULL, NULL};
	const struct profile_slot *s, *t;
	uint64_t v;
	enum status st;
	size_t i, j;
	int r, is_seen;

	if ((st = metrics_family(out, "tessera_enrollments_total", "counter",
	         "Enrollments (EST and tessera issue), by profile and result "
	         "(issued, or why not).")) != ST_OK)
		return st;
	for (i = 0; i <= METRICS_PROFILES; i++) {
		s = i < METRICS_PROFILES ? &m->profiles[i] : NULL;
		if (s != NULL) {
			if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) !=
			    SLOT_READY)
				continue;
			/* A name claimed twice is shown once, summed. */
			for (j = 0, is_seen = 0; j < i && !is_seen; j++)
				is_seen = __atomic_load_n(&m->profiles[j].state,
				              __ATOMIC_ACQUIRE) == SLOT_READY &&
				    strcmp(m->profiles[j].name, s->name) == 0;
			if (is_seen)
				continue;
		}
		labels[1] = s != NULL ? s->name : "other";
		for (r = 0; r < ST_MAX; r++) {
			if (s == NULL)
				v = get(&m->enroll_other[r]);
			else
				for (j = i, v = 0; j < METRICS_PROFILES; j++) {
					t = &m->profiles[j];
					if (__atomic_load_n(
					        &t->state, __ATOMIC_ACQUIRE) ==
					        SLOT_READY &&
					    strcmp(t->name, s->name) == 0)
						v += get(&t->results[r]);
				}
			if (v == 0)
				continue;
			labels[3] = result_names[r];
			if ((st = metrics_sample(out,
			         "tessera_enrollments_total", labels,
			         (double)v)) != ST_OK)
				return st;
		}
	}
	return ST_OK;
}

/* A counter family with one label over a fixed set (every value shown,
 * zeros too, so that a rate() has a series from the start). */
static enum status
labelled_render(struct buf *out, const char *name, const char *help,
    const char *label, const char *const *names, const uint64_t *values,
    size_t n)
{
	const char *labels[3] = {label, NULL, NULL};
	enum status st;
	size_t i;

	if ((st = metrics_family(out, name, "counter", help)) != ST_OK)
		return st;
	for (i = 0; i < n; i++) {
		labels[1] = names[i];
		if ((st = metrics_sample(
		         out, name, labels, (double)get(&values[i]))) != ST_OK)
			return st;
	}
	return ST_OK;
}

static enum status
single_render(struct buf *out, const char *name, const char *type,
    const char *help, double v)
{
	enum status st;

	if ((st = metrics_family(out, name, type, help)) != ST_OK)
		return st;
	return metrics_sample(out, name, NULL, v);
}

enum status
metrics_render(const struct metrics *m, struct buf *out)
{
	int64_t in_flight = 0;
	enum status st;
	size_t i;

	if ((st = requests_render(m, out)) != ST_OK ||
	    (st = enrollments_render(m, out)) != ST_OK ||
	    (st = single_render(out, "tessera_tokens_minted_total", "counter",
	         "Device tokens minted.", (double)get(&m->tokens))) != ST_OK ||
	    (st = labelled_render(out, "tessera_ocsp_responses_total",
	         "OCSP responses sent, by the certificate status they give "
	         "(error: an unsigned error status).",
	         "status", ocsp_names, m->ocsp, METRICS_OCSP_MAX)) != ST_OK ||
	    (st = labelled_render(out, "tessera_rate_limited_total",
	         "Requests refused (429) by a per-address rate limit, by "
	         "limit.",
	         "limit", rate_names, m->rate, METRICS_RATE_MAX)) != ST_OK ||
	    (st = single_render(out, "tessera_worker_restarts_total", "counter",
	         "Worker processes restarted after an unexpected exit.",
	         (double)get(&m->restarts))) != ST_OK)
		return st;
	for (i = 0; i < METRICS_PROCS; i++)
		if (__atomic_load_n(&m->procs[i].pid, __ATOMIC_ACQUIRE) != 0)
			in_flight += __atomic_load_n(
			    &m->procs[i].in_flight, __ATOMIC_RELAXED);
	if ((st = single_render(out, "tessera_http_requests_in_flight", "gauge",
	         "Requests being handled now, over every worker.",
	         (double)(in_flight > 0 ? in_flight : 0))) != ST_OK)
		return st;
	if ((st = metrics_family(out, "tessera_hsm_sign_duration_seconds",
	         "histogram",
	         "Time the token took for one signature, by purpose.")) !=
	    ST_OK)
		return st;
	for (i = 0; i < METRICS_SIGN_MAX; i++)
		if ((st = hist_render(out, "tessera_hsm_sign_duration_seconds",
		         "purpose", sign_names[i], &m->sign[i], seconds_bounds,
		         SECONDS_BOUNDS, 1e-9)) != ST_OK)
			return st;
	if ((st = metrics_family(out, "tessera_store_commit_duration_seconds",
	         "histogram",
	         "Time one store transaction took, from BEGIN to a durable "
	         "COMMIT.")) != ST_OK ||
	    (st = hist_render(out, "tessera_store_commit_duration_seconds",
	         NULL, NULL, &m->commit_seconds, seconds_bounds, SECONDS_BOUNDS,
	         1e-9)) != ST_OK ||
	    (st = metrics_family(out, "tessera_store_commit_group_size",
	         "histogram",
	         "Writes that shared one store transaction (group "
	         "commit).")) != ST_OK)
		return st;
	return hist_render(out, "tessera_store_commit_group_size", NULL, NULL,
	    &m->commit_group, group_bounds, GROUP_BOUNDS, 1);
}
