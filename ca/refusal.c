/*
 * refusal: refused reads, audited in aggregate. Every refusal is audited
 * (who, what, why), but a refused read changes nothing, and a flood of
 * them (a scanner, a client without its certificate) must not cost one
 * transaction and fsync each: they are counted here, per (actor, object,
 * reason), and written a few seconds later, all that are due in one
 * transaction. The actor names the peer's address, so the audit still
 * says who was refused what, how often, from when to when.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "ca/refusal.h"
#include "common/log.h"

/* How long a refusal may wait in memory before it is in the audit. */
#define REFUSAL_FLUSH_SECONDS 5

/* One entry per distinct (actor, object, reason), counted. */
#define REFUSAL_TALLY_CAP 64
#define REFUSAL_OBJECT_CAP 192
struct refusal_tally {
	char actor[AUTHORITY_ACTOR_CAP];
	char object[REFUSAL_OBJECT_CAP];
	char detail[LIMIT_AUDIT_DETAIL];
	int64_t count;
	int64_t first; /* time of the first and the last refusal */
	int64_t last;
};

/* The part's fields (ca/refusal.h). */
struct refusals {
	pthread_mutex_t mu;
	int has_mu;
	struct refusal_tally v[REFUSAL_TALLY_CAP]; /* [mu] */
	size_t count; /* [mu] */
};

enum status
refusals_new(struct refusals **out)
{
	struct refusals *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ST_NOMEM;
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		return ST_NOMEM;
	}
	r->has_mu = 1;
	*out = r;
	return ST_OK;
}

void
refusals_free(struct refusals *r)
{
	if (r == NULL)
		return;
	if (r->has_mu)
		pthread_mutex_destroy(&r->mu);
	free(r);
}

struct flush_job {
	struct refusal_tally due[REFUSAL_TALLY_CAP]; /* copies */
	size_t count;
	int64_t now;
};

static enum status
flush_commit(struct store_txn *txn, void *arg)
{
	const struct flush_job *job = arg;
	char detail[LIMIT_AUDIT_DETAIL];
	const struct refusal_tally *t;
	enum status st;
	size_t i;

	for (i = 0; i < job->count; i++) {
		t = &job->due[i];
		if (snprintf(detail, sizeof(detail), "%lld times in %lld s: %s",
		        (long long)t->count, (long long)(t->last - t->first),
		        t->detail) >= (int)sizeof(detail))
			detail[sizeof(detail) - 2] = '~';
		if ((st = audit_append(txn, job->now, t->actor, "refuse",
		         t->object, detail)) != ST_OK)
			return st;
	}
	return ST_OK;
}

/*
 * Write the entries first seen before cutoff (all: INT64_MAX). They are
 * taken out of the table under its lock and written without it (a commit
 * waits for an fsync); when the write fails they go back, as far as
 * there is room.
 */
static void
flush_before(struct authority *a, int64_t cutoff)
{
	struct refusals *r = a->refusals;
	struct flush_job *job;
	size_t i, kept = 0;

	if (a->store == NULL || r == NULL ||
	    (job = calloc(1, sizeof(*job))) == NULL)
		return;
	job->now = (int64_t)time(NULL);
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->count; i++)
		if (r->v[i].first < cutoff)
			job->due[job->count++] = r->v[i];
		else
			r->v[kept++] = r->v[i];
	r->count = kept;
	pthread_mutex_unlock(&r->mu);
	if (job->count == 0)
		goto out;
	if (store_write(a->store, flush_commit, job) != ST_OK) {
		/* Kept for the next try; a full table is written over. */
		log_error("audit of %zu refused reads failed: %s", job->count,
		    status_detail());
		pthread_mutex_lock(&r->mu);
		for (i = 0; i < job->count && r->count < REFUSAL_TALLY_CAP; i++)
			r->v[r->count++] = job->due[i];
		pthread_mutex_unlock(&r->mu);
		goto out;
	}
	for (i = 0; i < job->count; i++)
		log_info("refused %s for %s %lld times: %s", job->due[i].object,
		    job->due[i].actor, (long long)job->due[i].count,
		    job->due[i].detail);
out:
	free(job);
}

/* The tally of (actor, object, detail), if any; under r->mu. */
static struct refusal_tally *
tally_find(struct refusals *r, const char *actor, const char *object,
    const char *detail)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		if (strcmp(r->v[i].actor, actor) == 0 &&
		    strncmp(r->v[i].object, object, REFUSAL_OBJECT_CAP - 1) ==
		        0 &&
		    strcmp(r->v[i].detail, detail) == 0)
			return &r->v[i];
	return NULL;
}

enum status
authority_refuse_read(struct authority *a, const struct principal *who,
    const char *object, enum status st)
{
	char actor[AUTHORITY_ACTOR_CAP], detail[LIMIT_AUDIT_DETAIL];
	char saved[LIMIT_AUDIT_DETAIL];
	struct refusals *r = a->refusals;
	struct refusal_tally *t;
	int64_t now = (int64_t)time(NULL);
	int is_full;

	snprintf(saved, sizeof(saved), "%s", status_detail());
	principal_describe(who, actor, sizeof(actor));
	if (snprintf(detail, sizeof(detail), "%s: %s", status_name(st),
	        saved) >= (int)sizeof(detail))
		detail[sizeof(detail) - 2] = '~'; /* cut: audit keeps 1 KiB */
	pthread_mutex_lock(&r->mu);
	t = tally_find(r, actor, object, detail);
	is_full = t == NULL && r->count == REFUSAL_TALLY_CAP;
	pthread_mutex_unlock(&r->mu);
	/* A full table is written now, without the lock. */
	if (is_full)
		flush_before(a, INT64_MAX);
	pthread_mutex_lock(&r->mu);
	if (is_full)
		t = tally_find(r, actor, object, detail);
	if (t == NULL) {
		if (r->count == REFUSAL_TALLY_CAP)
			r->count--; /* the store failed: drop the last */
		t = &r->v[r->count++];
		memset(t, 0, sizeof(*t));
		snprintf(t->actor, sizeof(t->actor), "%s", actor);
		snprintf(t->object, sizeof(t->object), "%s", object);
		snprintf(t->detail, sizeof(t->detail), "%s", detail);
		t->first = now;
	}
	t->count++;
	t->last = now;
	pthread_mutex_unlock(&r->mu);
	log_debug("refused %s for %s: %s", object, actor, saved);
	return status_fail(st, "%s", saved);
}

void
authority_flush(struct authority *a)
{
	size_t count;

	if (a == NULL || a->refusals == NULL)
		return;
	pthread_mutex_lock(&a->refusals->mu);
	count = a->refusals->count;
	pthread_mutex_unlock(&a->refusals->mu);
	if (count > 0)
		flush_before(
		    a, (int64_t)time(NULL) - REFUSAL_FLUSH_SECONDS + 1);
}

void
authority_flush_all(struct authority *a)
{
	if (a != NULL)
		flush_before(a, INT64_MAX);
}
