/*
 * signer/remote.c: the signer interface over the signer process's socket
 * (signer/wire.h). The purpose checks run there, in the key holder; this
 * side only carries requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "signer/remote.h"
#include "signer/signer_internal.h"
#include "signer/wire.h"

struct remote {
	struct signer base;
	char *path;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int idle[SIGNER_REMOTE_CONNECTIONS];
	size_t idle_count;
	size_t open_count; /* idle and in use */
	uint32_t next_id;
};

static enum status
unavailable(const char *why)
{
	return status_fail(ST_UNAVAILABLE,
	    "the signer is unavailable (%s); certificates and tokens cannot "
	    "be signed until it is back",
	    why);
}

/*
 * A new connection to the signer. is_nowait: the connect does not wait
 * for room in the signer's backlog (then ST_UNAVAILABLE at once).
 */
static enum status
conn_open(struct remote *r, int is_nowait, int *out)
{
	struct sockaddr_un sa;
	struct timeval tv = {SIGNER_REMOTE_TIMEOUT_S, 0};
	char why[160];
	int fd;

	*out = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(r->path) >= sizeof(sa.sun_path))
		return status_fail(ST_INTERNAL, "signer socket path too long");
	memcpy(sa.sun_path, r->path, strlen(r->path) + 1);
	if ((fd = socket(AF_UNIX,
	         SOCK_STREAM | SOCK_CLOEXEC | (is_nowait ? SOCK_NONBLOCK : 0),
	         0)) < 0)
		return unavailable(strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(why, sizeof(why), "%s: %s",
		    errno == ECONNREFUSED || errno == ENOENT ? "not running"
		                                             : "connect",
		    strerror(errno));
		close(fd);
		return unavailable(why);
	}
	/* Connected: from here on its reads and writes are bounded by the
	 * timeouts, as any other connection's. */
	if (is_nowait && fcntl(fd, F_SETFL, 0) != 0) {
		snprintf(why, sizeof(why), "fcntl: %s", strerror(errno));
		close(fd);
		return unavailable(why);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*out = fd;
	return ST_OK;
}

/*
 * A connection: an idle one, a new one, or wait for one (is_nowait: none
 * free is ST_UNAVAILABLE at once).
 */
static enum status
conn_get(struct remote *r, int is_nowait, int *fd, int *is_reused)
{
	enum status st;

	pthread_mutex_lock(&r->lock);
	while (
	    r->idle_count == 0 && r->open_count >= SIGNER_REMOTE_CONNECTIONS) {
		if (is_nowait) {
			pthread_mutex_unlock(&r->lock);
			return unavailable("all its connections are in use");
		}
		pthread_cond_wait(&r->freed, &r->lock);
	}
	if (r->idle_count > 0) {
		*fd = r->idle[--r->idle_count];
		*is_reused = 1;
		pthread_mutex_unlock(&r->lock);
		return ST_OK;
	}
	r->open_count++;
	pthread_mutex_unlock(&r->lock);
	*is_reused = 0;
	if ((st = conn_open(r, is_nowait, fd)) != ST_OK) {
		pthread_mutex_lock(&r->lock);
		r->open_count--;
		pthread_cond_signal(&r->freed);
		pthread_mutex_unlock(&r->lock);
	}
	return st;
}

/* Give fd back (is_broken: close it instead). */
static void
conn_put(struct remote *r, int fd, int is_broken)
{
	pthread_mutex_lock(&r->lock);
	if (is_broken) {
		close(fd);
		r->open_count--;
	} else
		r->idle[r->idle_count++] = fd;
	pthread_cond_signal(&r->freed);
	pthread_mutex_unlock(&r->lock);
}

/* Close every idle connection (their signer went away). */
static void
pool_flush(struct remote *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->idle_count > 0) {
		close(r->idle[--r->idle_count]);
		r->open_count--;
	}
	pthread_cond_broadcast(&r->freed);
	pthread_mutex_unlock(&r->lock);
}

/*
 * A request on its way: its frame, the connection it went on, and whether
 * it may still be sent once more (an idempotent request whose reused
 * connection turns out to be from before a restart of the signer).
 */
struct exchange {
	struct buf out;
	uint32_t id;
	enum signer_wire_op op;
	int fd;
	int is_reused;
	int may_retry;
	int is_nowait; /* sent without waiting (signer_sign_start_nowait) */
};

/*
 * Write x's frame on fd without waiting: all of it, or ST_UNAVAILABLE
 * (*is_broken: part of it went, or the peer is gone; the connection is
 * closed then). A connection of the pool is idle, its send buffer empty,
 * so a frame of a few KiB goes at once unless the signer is gone.
 */
static enum status
frame_send_nowait(int fd, const uint8_t *p, size_t len, int *is_broken)
{
	ssize_t n;

	*is_broken = 0;
	do
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return ST_OK;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return unavailable("its socket is full");
	*is_broken = 1;
	return unavailable(n < 0 ? strerror(errno) : "a frame cut short");
}

/* Send x's frame on a connection (x->fd); no connection held on failure. */
static enum status
exchange_send(struct remote *r, struct exchange *x)
{
	char why[256];
	enum status st;
	int is_broken = 1;

	for (;;) {
		if ((st = conn_get(r, x->is_nowait, &x->fd, &x->is_reused)) !=
		    ST_OK)
			return st;
		if (x->is_nowait)
			st = frame_send_nowait(
			    x->fd, x->out.data, x->out.len, &is_broken);
		else
			st = signer_wire_write(x->fd, x->out.data, x->out.len);
		if (st == ST_OK)
			return ST_OK;
		if (!is_broken) {
			/* Nothing went: the connection is as it was. */
			conn_put(r, x->fd, 0);
			return st;
		}
		snprintf(why, sizeof(why), "%s", status_detail());
		conn_put(r, x->fd, 1);
		/* The others were to the same signer: gone too. */
		pool_flush(r);
		if (x->is_reused && x->may_retry) {
			x->may_retry = 0;
			continue;
		}
		return unavailable(why);
	}
}

/* Start x: req encoded and sent. x->out freed by exchange_recv. */
static enum status
exchange_start(struct remote *r, struct signer_wire_request *req, int is_nowait,
    struct exchange *x)
{
	enum status st;

	pthread_mutex_lock(&r->lock);
	req->id = ++r->next_id;
	pthread_mutex_unlock(&r->lock);
	x->id = req->id;
	x->op = req->op;
	x->fd = -1;
	x->is_nowait = is_nowait;
	x->may_retry = req->op != SIGNER_OP_GENERATE;
	buf_init(&x->out, SIGNER_WIRE_FRAME_MAX + 4);
	if ((st = signer_wire_request_encode(req, &x->out)) != ST_OK ||
	    (st = exchange_send(r, x)) != ST_OK)
		buf_free(&x->out);
	return st;
}

/*
 * The answer to x (the frame into answer, parsed into *resp); the
 * connection given back, x->out freed. A connection left from before a
 * restart of the signer fails at once: an idempotent request is then sent
 * once more on a new one.
 */
static enum status
exchange_recv(struct remote *r, struct exchange *x, struct buf *answer,
    struct signer_wire_response *resp)
{
	char why[256];
	enum status st;

	while ((st = signer_wire_frame_read(x->fd, answer)) != ST_OK) {
		snprintf(why, sizeof(why), "%s", status_detail());
		conn_put(r, x->fd, 1);
		pool_flush(r);
		if (!x->is_reused || !x->may_retry) {
			st = unavailable(why);
			goto out;
		}
		x->may_retry = 0;
		if ((st = exchange_send(r, x)) != ST_OK)
			goto out;
	}
	if ((st = signer_wire_response_parse(
	         answer->data, answer->len, x->op, resp)) != ST_OK ||
	    resp->id != x->id) {
		conn_put(r, x->fd, 1);
		st = status_fail(ST_INTERNAL, "signer: an answer out of turn");
		goto out;
	}
	conn_put(r, x->fd, 0);
	if (resp->status != ST_OK)
		st = status_fail((enum status)resp->status, "%.*s",
		    (int)resp->detail_len, resp->detail);
out:
	buf_free(&x->out);
	return st;
}

/* One request and its answer. */
static enum status
call(struct remote *r, struct signer_wire_request *req, struct buf *answer,
    struct signer_wire_response *resp)
{
	struct exchange x;
	enum status st;

	if ((st = exchange_start(r, req, 0, &x)) != ST_OK)
		return st;
	return exchange_recv(r, &x, answer, resp);
}

/* A handle from a FIND or GENERATE answer. */
static enum status
key_from(struct remote *r, const struct signer_wire_response *resp,
    struct signer_key **out)
{
	const unsigned char *p = resp->blob;
	EVP_PKEY *pub;
	char label[SIGNER_WIRE_STR_MAX + 1];

	if (resp->role >= SIGNER_ROLE_MAX)
		return status_fail(ST_INTERNAL, "signer: role %u", resp->role);
	if ((pub = d2i_PUBKEY(NULL, &p, (long)resp->blob_len)) == NULL ||
	    p != resp->blob + resp->blob_len) {
		EVP_PKEY_free(pub);
		return status_fail_ssl(ST_INTERNAL, "signer: the public key");
	}
	memcpy(label, resp->label, resp->label_len);
	label[resp->label_len] = '\0';
	*out =
	    signer_key_new(&r->base, label, (enum signer_role)resp->role, pub);
	return *out != NULL ? ST_OK : ST_NOMEM;
}

/* Send a FIND or GENERATE request; the handle its answer names. */
static enum status
key_call(
    struct remote *r, struct signer_wire_request *req, struct signer_key **out)
{
	struct signer_wire_response resp;
	struct buf answer;
	enum status st;

	buf_init(&answer, SIGNER_WIRE_FRAME_MAX);
	if ((st = call(r, req, &answer, &resp)) == ST_OK)
		st = key_from(r, &resp, out);
	buf_free(&answer);
	return st;
}

static enum status
remote_key_find(struct signer *s, const char *uri, struct signer_key **out)
{
	struct signer_wire_request req;

	memset(&req, 0, sizeof(req));
	req.op = SIGNER_OP_FIND;
	req.str = uri;
	req.str_len = strlen(uri);
	return key_call((struct remote *)s, &req, out);
}

static enum status
remote_key_generate(struct signer *s, const char *label,
    enum signer_key_type type, struct signer_key **out)
{
	struct signer_wire_request req;

	memset(&req, 0, sizeof(req));
	req.op = SIGNER_OP_GENERATE;
	req.key_type = (unsigned)type;
	req.str = label;
	req.str_len = strlen(label);
	return key_call((struct remote *)s, &req, out);
}

static void
sign_request(struct signer_wire_request *req, const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len)
{
	memset(req, 0, sizeof(*req));
	req->op = SIGNER_OP_SIGN;
	req->purpose = (unsigned)purpose;
	req->md_nid = (uint32_t)md_nid;
	req->str = key->label;
	req->str_len = strlen(key->label);
	req->tbs = tbs;
	req->tbs_len = tbs_len;
}

/* The signature of a SIGN exchange started as x. */
static enum status
sign_recv(struct remote *r, struct exchange *x, uint8_t **sig, size_t *sig_len)
{
	struct signer_wire_response resp;
	struct buf answer;
	enum status st;

	buf_init(&answer, SIGNER_WIRE_FRAME_MAX);
	if ((st = exchange_recv(r, x, &answer, &resp)) == ST_OK) {
		if (resp.blob_len == 0 ||
		    (*sig = OPENSSL_memdup(resp.blob, resp.blob_len)) == NULL)
			st = resp.blob_len == 0
			    ? status_fail(ST_INTERNAL, "signer: no signature")
			    : ST_NOMEM;
		else
			*sig_len = resp.blob_len;
	}
	buf_free(&answer);
	return st;
}

static enum status
remote_sign(struct signer *s, const struct signer_key *key,
    enum signer_purpose purpose, int md_nid, const uint8_t *tbs, size_t tbs_len,
    uint8_t **sig, size_t *sig_len)
{
	struct remote *r = (struct remote *)s;
	struct signer_wire_request req;
	struct exchange x;
	enum status st;

	sign_request(&req, key, purpose, md_nid, tbs, tbs_len);
	if ((st = exchange_start(r, &req, 0, &x)) != ST_OK)
		return st;
	return sign_recv(r, &x, sig, sig_len);
}

/* The request goes out now; the signer signs while the caller works. */
static enum status
remote_sign_start(struct signer *s, struct signer_pending *p, int md_nid,
    const uint8_t *tbs, size_t tbs_len, int is_nowait)
{
	struct remote *r = (struct remote *)s;
	struct signer_wire_request req;
	struct exchange *x;
	enum status st;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return ST_NOMEM;
	sign_request(&req, p->key, p->purpose, md_nid, tbs, tbs_len);
	if ((st = exchange_start(r, &req, is_nowait, x)) != ST_OK) {
		free(x);
		return st;
	}
	p->state = x;
	return ST_OK;
}

static enum status
remote_sign_finish(
    struct signer *s, struct signer_pending *p, uint8_t **sig, size_t *sig_len)
{
	struct exchange *x = p->state;
	enum status st;

	st = sign_recv((struct remote *)s, x, sig, sig_len);
	free(x);
	p->state = NULL;
	return st;
}

static int
remote_pending_fd(const struct signer_pending *p)
{
	const struct exchange *x = p->state;

	return x != NULL ? x->fd : -1;
}

static enum status
remote_ping(struct signer *s)
{
	struct remote *r = (struct remote *)s;
	struct signer_wire_request req;
	struct signer_wire_response resp;
	struct buf answer;
	enum status st;

	memset(&req, 0, sizeof(req));
	req.op = SIGNER_OP_PING;
	buf_init(&answer, SIGNER_WIRE_FRAME_MAX);
	st = call(r, &req, &answer, &resp);
	buf_free(&answer);
	return st;
}

static void
remote_close(struct signer *s)
{
	struct remote *r = (struct remote *)s;

	while (r->idle_count > 0)
		close(r->idle[--r->idle_count]);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->freed);
	free(r->path);
	free(r);
}

static const struct signer_ops remote_ops = {
    .key_find = remote_key_find,
    .key_generate = remote_key_generate,
    .sign = remote_sign,
    .sign_start = remote_sign_start,
    .sign_finish = remote_sign_finish,
    .pending_fd = remote_pending_fd,
    .ping = remote_ping,
    .close = remote_close,
};

enum status
signer_remote_open(const char *socket_path, struct signer **out)
{
	struct remote *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ST_NOMEM;
	if ((r->path = strdup(socket_path)) == NULL) {
		free(r);
		return ST_NOMEM;
	}
	r->base.ops = &remote_ops;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->freed, NULL);
	*out = &r->base;
	return ST_OK;
}
