/*
 * refusal: refused reads, audited in aggregate. Every refusal is audited
 * (who, what, why), but a refused read changes nothing, and a flood of
 * them (a scanner, a client without its certificate) must not cost one
 * transaction and fsync each: they are counted here, per (actor, object,
 * reason), and written a few seconds later, all that are due in one
 * transaction. The actor names the peer's address, so the audit still
 * says who was refused what, how often, from when to when.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ca/audit.h"
#include "ca/authority_internal.h"
#include "common/log.h"

/* How long a refusal may wait in memory before it is in the audit. */
#define REFUSAL_FLUSH_SECONDS 5

struct flush_job {
	struct refusal_tally *due[REFUSAL_TALLY_CAP];
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
		t = job->due[i];
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

/* Write the entries first seen before cutoff (all: INT64_MAX). */
static void
flush_before(struct authority *a, int64_t cutoff)
{
	struct flush_job job;
	size_t i, kept = 0;

	memset(&job, 0, sizeof(job));
	job.now = (int64_t)time(NULL);
	for (i = 0; i < a->refusal_count; i++)
		if (a->refusals[i].first < cutoff)
			job.due[job.count++] = &a->refusals[i];
	if (job.count == 0 || a->store == NULL)
		return;
	if (store_write(a->store, flush_commit, &job) != ST_OK) {
		/* Kept for the next try; a full table is written over. */
		log_error("audit of %zu refused reads failed: %s", job.count,
		    status_detail());
		return;
	}
	for (i = 0; i < job.count; i++)
		log_info("refused %s for %s %lld times: %s", job.due[i]->object,
		    job.due[i]->actor, (long long)job.due[i]->count,
		    job.due[i]->detail);
	for (i = 0; i < a->refusal_count; i++)
		if (a->refusals[i].first >= cutoff)
			a->refusals[kept++] = a->refusals[i];
	a->refusal_count = kept;
}

enum status
authority_refuse_read(struct authority *a, const struct principal *who,
    const char *object, enum status st)
{
	char actor[AUTHORITY_ACTOR_CAP], detail[LIMIT_AUDIT_DETAIL];
	char saved[LIMIT_AUDIT_DETAIL];
	struct refusal_tally *t = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i;

	snprintf(saved, sizeof(saved), "%s", status_detail());
	principal_describe(who, actor, sizeof(actor));
	if (snprintf(detail, sizeof(detail), "%s: %s", status_name(st),
	        saved) >= (int)sizeof(detail))
		detail[sizeof(detail) - 2] = '~'; /* cut: audit keeps 1 KiB */
	for (i = 0; i < a->refusal_count && t == NULL; i++)
		if (strcmp(a->refusals[i].actor, actor) == 0 &&
		    strncmp(a->refusals[i].object, object,
		        REFUSAL_OBJECT_CAP - 1) == 0 &&
		    strcmp(a->refusals[i].detail, detail) == 0)
			t = &a->refusals[i];
	if (t == NULL) {
		if (a->refusal_count == REFUSAL_TALLY_CAP)
			flush_before(a, INT64_MAX);
		if (a->refusal_count == REFUSAL_TALLY_CAP)
			a->refusal_count--; /* the store failed: drop the last */
		t = &a->refusals[a->refusal_count++];
		memset(t, 0, sizeof(*t));
		snprintf(t->actor, sizeof(t->actor), "%s", actor);
		snprintf(t->object, sizeof(t->object), "%s", object);
		snprintf(t->detail, sizeof(t->detail), "%s", detail);
		t->first = now;
	}
	t->count++;
	t->last = now;
	log_debug("refused %s for %s: %s", object, actor, saved);
	return status_fail(st, "%s", saved);
}

void
authority_flush(struct authority *a)
{
	if (a == NULL || a->refusal_count == 0)
		return;
	flush_before(a, (int64_t)time(NULL) - REFUSAL_FLUSH_SECONDS + 1);
}

void
authority_flush_all(struct authority *a)
{
	if (a != NULL)
		flush_before(a, INT64_MAX);
}
