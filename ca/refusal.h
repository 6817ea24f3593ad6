/*
 * refusals: a part of the authority — refused reads waiting for the audit.
 * Every refusal is audited, but a refused read changes nothing, so a
 * flood of them costs no transaction each: they are tallied here per
 * (actor, object, reason) and written together a few seconds later
 * (authority_refuse_read, authority_flush, authority_flush_all in
 * ca/refusal.c, the only file that sees the part's body).
 *
 * What it owns: the tallies (at most REFUSAL_TALLY_CAP; a full table is
 * written at once).
 * Locks: its own mutex guards the tallies; due ones are taken out under
 * it and written without it (a commit waits for an fsync), and put back
 * under it when the write fails.
 * Who calls it: the authority makes it when it opens, before anything
 * can be refused, and frees it at close after the last flush; any thread
 * refuses; the worker's sweeper flushes.
 */
#ifndef TESSERA_CA_REFUSAL_H
#define TESSERA_CA_REFUSAL_H

#include "common/status.h"

struct refusals;

/* An empty table; the caller frees it with refusals_free. */
enum status refusals_new(struct refusals **out) MUST_CHECK;
/* NULL accepted; what is still tallied is lost (flush all first). */
void refusals_free(struct refusals *r);

#endif
