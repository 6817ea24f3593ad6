/*
 * store: which node runs the scheduled work on a shared PostgreSQL store.
 * One session holds pg_try_advisory_lock(STORE_LEADER_LOCK); PostgreSQL
 * drops a session's locks with it, so a node that dies (or loses its
 * connection) frees the lock for the next node that asks.
 */
#include <pthread.h>

#include "ca/store.h"
#include "ca/store_db.h"
#include "ca/store_internal.h"
#include "common/log.h"

/* The scheduler's advisory lock (an arbitrary key of tessera's). */
#define STORE_LEADER_SQL "SELECT pg_try_advisory_lock(7390414512551283)"

/* Ask for the lock on the leader session (opened if need be): 1 held. */
static int
leader_ask(struct store *store)
{
	struct db_stmt *stmt = NULL;
	int is_held = 0;

	if (store->leader_db == NULL &&
	    db_open(store->path, 0, &store->leader_db) != ST_OK)
		return 0;
	/* Asked again while held, it stacks: still ours, still one lock. */
	if (db_prepare(store->leader_db, STORE_LEADER_SQL, 0, &stmt) == DB_OK &&
	    db_step(stmt) == DB_ROW)
		is_held = db_column_int(stmt, 0) != 0;
	db_finalize(stmt);
	if (!is_held && db_is_disconnected(store->leader_db)) {
		/* A new session next time: the old one's lock is gone. */
		db_close(store->leader_db);
		store->leader_db = NULL;
	}
	return is_held;
}

int
store_leader_check(struct store *store)
{
	int is_held;

	if (db_kind(store->rdb) != DB_PG)
		return 1;
	pthread_mutex_lock(&store->leader_lock);
	is_held = leader_ask(store);
	if (is_held != store->is_leader)
		log_info(is_held ? "scheduler: this node runs the scheduled "
		                   "work of the shared store"
		                 : "scheduler: another node runs the scheduled "
		                   "work of the shared store");
	store->is_leader = is_held;
	pthread_mutex_unlock(&store->leader_lock);
	return is_held;
}
