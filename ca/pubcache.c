/*
 * pubcache: published objects in memory, dropped when the store changes
 * what they are built from (see pubcache.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ca/pubcache.h"
#include "ca/store.h"
#include "common/limits.h"

/* Shards -2 (the full CRL) and -1 (the root's) come first. */
/* A generation's CRLs (store.h), two generations side by side: the
 * issuing CA's and, after a rollover, the retiring one's. */
#define CRL_GEN_SLOTS (LIMIT_CRL_SHARDS + 2)
#define CRL_SLOTS (2 * CRL_GEN_SLOTS)

/* A CRL is shared with the readers copying it, outside the lock. */
struct crl_entry {
	int refs;
	int shard; /* a slot is shared by generations of one parity */
	uint8_t *der;
	size_t len;
	int64_t this_update, next_update, number;
};

struct ocsp_entry {
	char serial[STORE_SERIAL_HEX_CAP];
	uint8_t *der; /* NULL: empty slot */
	size_t len;
	int64_t next_update;
};

struct pubcache {
	pthread_mutex_t lock; /* guards everything below */
	uint64_t gen; /* grows with every drop */
	uint64_t data_version; /* the store's, when v was read */
	int has_version;
	struct store_pub_version v;
	char *jwks;
	int64_t jwks_until;
	struct crl_entry *crl[CRL_SLOTS];
	struct ocsp_entry *ocsp; /* PUBCACHE_OCSP_SLOTS */
	uint64_t hits, misses, drops;
};

enum status
pubcache_new(struct pubcache **out)
{
	struct pubcache *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return status_fail(ST_NOMEM, "pubcache: out of memory");
	if ((c->ocsp = calloc(PUBCACHE_OCSP_SLOTS, sizeof(*c->ocsp))) == NULL) {
		free(c);
		return status_fail(ST_NOMEM, "pubcache: out of memory");
	}
	c->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	*out = c;
	return ST_OK;
}

static void
crl_unref(struct crl_entry *e)
{
	if (e != NULL && --e->refs == 0) {
		free(e->der);
		free(e);
	}
}

static void
ocsp_drop(struct pubcache *c)
{
	size_t i;

	for (i = 0; i < PUBCACHE_OCSP_SLOTS; i++) {
		free(c->ocsp[i].der);
		c->ocsp[i].der = NULL;
	}
}

static void
crl_drop(struct pubcache *c)
{
	size_t i;

	for (i = 0; i < CRL_SLOTS; i++) {
		crl_unref(c->crl[i]);
		c->crl[i] = NULL;
	}
}

void
pubcache_free(struct pubcache *c)
{
	if (c == NULL)
		return;
	ocsp_drop(c);
	crl_drop(c);
	free(c->ocsp);
	free(c->jwks);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
pubcache_sync(struct pubcache *c, struct store *store, uint64_t *gen)
{
	struct store_pub_version v;
	uint64_t seen, fast_gen;
	int is_dropped = 0, is_read;
	enum status st;

	int has_version;

	*gen = 0;
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	seen = c->data_version;
	has_version = c->has_version;
	fast_gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	/*
	 * Nothing committed since the version this cache reflected: what it
	 * holds now is that or newer (another thread's sync only drops, and
	 * a put with the generation read before such a drop is refused).
	 */
	if (!store_data_changed(store, &seen) && has_version) {
		*gen = fast_gen;
		return;
	}
	/*
	 * Read after data_version: v is at least as new as seen. Two threads
	 * may apply theirs in either order; an older v only drops more.
	 */
	st = store_pub_version(store, &v);
	is_read = st == ST_OK;
	pthread_mutex_lock(&c->lock);
	/*
	 * The database cannot be reached (PostgreSQL restarting, failing
	 * over): what this cache holds is the newest this node can know, and
	 * each answer in it stays valid until its nextUpdate. Publication
	 * goes on serving it from memory; the next sync that reads compares
	 * and drops what changed meanwhile.
	 */
	if (st == ST_UNAVAILABLE && c->has_version) {
		*gen = c->gen;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (!is_read || !c->has_version || v.feed != c->v.feed) {
		ocsp_drop(c);
		is_dropped = 1;
	}
	if (!is_read || !c->has_version ||
	    memcmp(v.token_keys, c->v.token_keys, sizeof(v.token_keys)) != 0) {
		free(c->jwks);
		c->jwks = NULL;
		is_dropped = 1;
	}
	if (!is_read || !c->has_version ||
	    memcmp(v.crls, c->v.crls, sizeof(v.crls)) != 0) {
		crl_drop(c);
		is_dropped = 1;
	}
	if (is_dropped) {
		c->gen++;
		c->drops++;
	}
	c->v = v;
	c->has_version = is_read;
	c->data_version = seen;
	*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
}

int
pubcache_is_fresh(struct pubcache *c, struct store *store)
{
	uint64_t seen;
	int has_version;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	seen = c->data_version;
	has_version = c->has_version;
	pthread_mutex_unlock(&c->lock);
	/* seen is a copy: the next sync still sees what moved. */
	return has_version && !store_data_changed(store, &seen);
}

void
pubcache_stats(
    struct pubcache *c, uint64_t *hits, uint64_t *misses, uint64_t *drops)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	*drops = c->drops;
	pthread_mutex_unlock(&c->lock);
}

/* Count a lookup; the lock is held. */
static int
counted(struct pubcache *c, int is_hit)
{
	if (is_hit)
		c->hits++;
	else
		c->misses++;
	return is_hit;
}

int
pubcache_jwks_get(struct pubcache *c, int64_t now, char **json)
{
	int hit;

	*json = NULL;
	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->jwks != NULL && now < c->jwks_until)
		*json = strdup(c->jwks);
	hit = counted(c, *json != NULL);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
pubcache_jwks_put(
    struct pubcache *c, uint64_t gen, const char *json, int64_t valid_until)
{
	char *copy;

	if (c == NULL || (copy = strdup(json)) == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	if (gen == c->gen) {
		free(c->jwks);
		c->jwks = copy;
		c->jwks_until = valid_until;
		copy = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(copy);
}

static int
crl_slot(int shard)
{
	int gen, index;

	store_shard_split(shard, &gen, &index);
	if (index < STORE_CRL_SHARD_FULL || index >= LIMIT_CRL_SHARDS)
		return -1;
	return (gen & 1) * CRL_GEN_SLOTS + index - STORE_CRL_SHARD_FULL;
}

int
pubcache_crl_get(struct pubcache *c, int shard, uint8_t **der, size_t *len,
    int64_t *this_update, int64_t *next_update, int64_t *number)
{
	struct crl_entry *e = NULL;
	int k = crl_slot(shard);

	*der = NULL;
	*len = 0;
	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (k >= 0 && (e = c->crl[k]) != NULL && e->shard != shard)
		e = NULL;
	if (e != NULL)
		e->refs++;
	counted(c, e != NULL);
	pthread_mutex_unlock(&c->lock);
	if (e == NULL)
		return 0;
	/* A CRL of a million entries is tens of MB: copied unlocked. */
	if ((*der = malloc(e->len)) != NULL) {
		memcpy(*der, e->der, e->len);
		*len = e->len;
		*this_update = e->this_update;
		*next_update = e->next_update;
		*number = e->number;
	}
	pthread_mutex_lock(&c->lock);
	crl_unref(e);
	pthread_mutex_unlock(&c->lock);
	return *der != NULL;
}

void
pubcache_crl_put(struct pubcache *c, uint64_t gen, int shard,
    const uint8_t *der, size_t len, int64_t this_update, int64_t next_update,
    int64_t number)
{
	struct crl_entry *e;
	int k = crl_slot(shard);

	if (c == NULL || k < 0 || len == 0 ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return;
	if ((e->der = malloc(len)) == NULL) {
		free(e);
		return;
	}
	memcpy(e->der, der, len);
	e->len = len;
	e->this_update = this_update;
	e->next_update = next_update;
	e->number = number;
	e->shard = shard;
	e->refs = 1;
	pthread_mutex_lock(&c->lock);
	if (gen == c->gen) {
		crl_unref(c->crl[k]);
		c->crl[k] = e;
		e = NULL;
	}
	if (e != NULL)
		crl_unref(e);
	pthread_mutex_unlock(&c->lock);
}

/* FNV-1a of the serial: its slot. */
static size_t
ocsp_slot(const char *serial)
{
	uint32_t h = 2166136261u;

	for (; *serial != '\0'; serial++)
		h = (h ^ (uint8_t)*serial) * 16777619u;
	return h % PUBCACHE_OCSP_SLOTS;
}

int
pubcache_ocsp_get(struct pubcache *c, const char *serial, uint8_t **der,
    size_t *len, int64_t *next_update)
{
	struct ocsp_entry *e;
	int hit = 0;

	*der = NULL;
	*len = 0;
	if (c == NULL)
		return 0;
	e = &c->ocsp[ocsp_slot(serial)];
	pthread_mutex_lock(&c->lock);
	if (e->der != NULL && strcmp(e->serial, serial) == 0 &&
	    (*der = malloc(e->len)) != NULL) {
		memcpy(*der, e->der, e->len);
		*len = e->len;
		*next_update = e->next_update;
		hit = 1;
	}
	counted(c, hit);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
pubcache_ocsp_put(struct pubcache *c, uint64_t gen, const char *serial,
    const uint8_t *der, size_t len, int64_t next_update)
{
	struct ocsp_entry *e;
	uint8_t *copy;

	if (c == NULL)
		return;
	e = &c->ocsp[ocsp_slot(serial)];
	if (len == 0 || strlen(serial) >= sizeof(e->serial) ||
	    (copy = malloc(len)) == NULL)
		return;
	memcpy(copy, der, len);
	pthread_mutex_lock(&c->lock);
	if (gen == c->gen) {
		free(e->der);
		memcpy(e->serial, serial, strlen(serial) + 1);
		e->der = copy;
		e->len = len;
		e->next_update = next_update;
		copy = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(copy);
}
