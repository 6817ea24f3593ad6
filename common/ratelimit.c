/*
 * ratelimit: open addressing over a fixed table, a robust process-shared
 * mutex (a worker that dies holding it does not wedge the others).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "common/ratelimit.h"

#define SLOTS 8192
#define PROBES 8
#define KEY_MAX 47 /* an IPv6 address with its zone, cut */

struct slot {
	char key[KEY_MAX + 1];
	int kind;
	int is_used;
	double tokens;
	int64_t last_ms;
};

struct ratelimit {
	pthread_mutex_t mu;
	struct slot slots[SLOTS];
};

enum status
ratelimit_new(struct ratelimit **out)
{
	pthread_mutexattr_t attr;
	struct ratelimit *rl;

	*out = NULL;
	rl = mmap(NULL, sizeof(*rl), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rl == MAP_FAILED)
		return status_fail(
		    ST_NOMEM, "rate limits: mmap: %s", strerror(errno));
	if (pthread_mutexattr_init(&attr) != 0 ||
	    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&rl->mu, &attr) != 0) {
		munmap(rl, sizeof(*rl));
		return status_fail(ST_INTERNAL, "rate limits: shared mutex");
	}
	pthread_mutexattr_destroy(&attr);
	*out = rl;
	return ST_OK;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl != NULL)
		munmap(rl, sizeof(*rl));
}

/* FNV-1a over the kind and the address. */
static uint32_t
hash(int kind, const char *s)
{
	uint32_t h = 2166136261u ^ (uint32_t)kind;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct slot *
find(struct ratelimit *rl, int kind, const char *key, int64_t now_ms,
    int64_t burst)
{
	struct slot *s, *stalest = NULL;
	uint32_t h = hash(kind, key);
	int i;

	for (i = 0; i < PROBES; i++) {
		s = &rl->slots[(h + (uint32_t)i) % SLOTS];
		if (s->is_used && s->kind == kind && strcmp(s->key, key) == 0)
			return s;
		if (!s->is_used) {
			stalest = s;
			break;
		}
		if (stalest == NULL || s->last_ms < stalest->last_ms)
			stalest = s;
	}
	/* A new bucket starts full. */
	memset(stalest, 0, sizeof(*stalest));
	memcpy(stalest->key, key, strnlen(key, KEY_MAX));
	stalest->kind = kind;
	stalest->is_used = 1;
	stalest->tokens = (double)burst;
	stalest->last_ms = now_ms;
	return stalest;
}

/* Refill the bucket; take one token when take (and there is one). */
static int64_t
bucket_use(struct ratelimit *rl, int kind, const char *address,
    int64_t per_second, int64_t burst, int64_t now_ms, int take)
{
	char key[KEY_MAX + 1];
	struct slot *s;
	double t;
	int64_t wait = 0;

	if (rl == NULL || per_second <= 0)
		return 0;
	memset(key, 0, sizeof(key));
	memcpy(key, address, strnlen(address, KEY_MAX));
	if (pthread_mutex_lock(&rl->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&rl->mu);
	s = find(rl, kind, key, now_ms, burst);
	t = s->tokens;
	if (now_ms > s->last_ms)
		t +=
		    (double)(now_ms - s->last_ms) * (double)per_second / 1000.0;
	if (t > (double)burst)
		t = (double)burst;
	s->last_ms = now_ms > s->last_ms ? now_ms : s->last_ms;
	if (t >= 1.0) {
		s->tokens = take ? t - 1.0 : t;
	} else {
		s->tokens = t;
		wait = (int64_t)((1.0 - t) * 1000.0 / (double)per_second) + 1;
	}
	pthread_mutex_unlock(&rl->mu);
	return wait;
}

int64_t
ratelimit_take(struct ratelimit *rl, int kind, const char *address,
    int64_t per_second, int64_t burst, int64_t now_ms)
{
	return bucket_use(rl, kind, address, per_second, burst, now_ms, 1);
}

int64_t
ratelimit_check(struct ratelimit *rl, int kind, const char *address,
    int64_t per_second, int64_t burst, int64_t now_ms)
{
	return bucket_use(rl, kind, address, per_second, burst, now_ms, 0);
}
