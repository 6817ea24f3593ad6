/*
 * signer/server.c: the signer process's side of the protocol. Every
 * request is parsed (signer_wire_request_parse) and handed to the key
 * holder, whose purpose checks decide; nothing a worker sends reaches the
 * token otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "signer/server.h"
#include "signer/signer_internal.h"
#include "signer/wire.h"

/* Key handles the server keeps by label (the holder decides roles). */
#define SERVER_KEYS_MAX 64
/* Connections at once: a few per worker thread. */
#define SERVER_CONNS_MAX 1024
/* How long a stopping signer lets requests in flight finish. */
#define SERVER_DRAIN_MS 5000

struct server {
	struct signer *holder;
	pthread_mutex_t lock;
	struct signer_key *keys[SERVER_KEYS_MAX];
	size_t key_count;
	int busy; /* requests being answered */
	int threads; /* connection threads running */
	int fds[SERVER_CONNS_MAX]; /* their sockets, to end them at stop */
};

/* The shared server of this process (one signer per process). */
struct conn {
	struct server *srv;
	int fd;
};

/*
 * Listen on path. The socket is bound under a name of its own beside path,
 * listens, and is then renamed onto path: a signer started on a path
 * another one holds takes it over in one step, and a worker that connects
 * meanwhile reaches one of the two, never no one (unlinking path and
 * binding it anew refused connections in between: a /healthz answered 503
 * during a reload, test_reload, when every generation shared one path).
 * tessera serve gives each generation's signer a path of its own, which a
 * restarted one (after a crash) takes over from the socket left behind.
 */
enum status
signer_listen(const char *path, int *fd)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	mode_t old;
	int s, n;

	*fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return status_fail(ST_LIMIT,
		    "signer socket %s: longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 12);
	memcpy(sa.sun_path, tmp, (size_t)n + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return status_fail(
		    ST_UNAVAILABLE, "signer socket: %s", strerror(errno));
	unlink(tmp);
	/* Only this user may connect: the socket is born 0600. */
	old = umask(0177);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		close(s);
		return status_fail(ST_UNAVAILABLE, "signer socket %s: %s", tmp,
		    strerror(errno));
	}
	umask(old);
	if (listen(s, 128) != 0 || rename(tmp, path) != 0) {
		status_fail(ST_UNAVAILABLE, "signer socket %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		close(s);
		return ST_UNAVAILABLE;
	}
	*fd = s;
	return ST_OK;
}

/* The handle of the key labelled label (found once, then kept). */
static enum status
key_get(struct server *srv, const char *label, const struct signer_key **out)
{
	struct signer_key *k = NULL;
	size_t i;
	enum status st;

	*out = NULL;
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->key_count; i++)
		if (strcmp(srv->keys[i]->label, label) == 0) {
			*out = srv->keys[i];
			pthread_mutex_unlock(&srv->lock);
			return ST_OK;
		}
	pthread_mutex_unlock(&srv->lock);
	if ((st = signer_key_find(srv->holder, label, &k)) != ST_OK)
		return st;
	pthread_mutex_lock(&srv->lock);
	if (srv->key_count == SERVER_KEYS_MAX) {
		pthread_mutex_unlock(&srv->lock);
		signer_key_free(k);
		return status_fail(
		    ST_LIMIT, "signer: over %d keys", SERVER_KEYS_MAX);
	}
	srv->keys[srv->key_count++] = k;
	*out = k;
	pthread_mutex_unlock(&srv->lock);
	return ST_OK;
}

/* A FIND or GENERATE answer's fields for k (*spki: OPENSSL_free). */
static enum status
key_answer(const struct signer_key *k, struct signer_wire_response *resp,
    uint8_t **spki)
{
	int n;

	*spki = NULL;
	if ((n = i2d_PUBKEY(k->pub, spki)) <= 0)
		return status_fail_ssl(ST_INTERNAL, "signer: a public key");
	resp->role = (unsigned)k->role;
	resp->label = k->label;
	resp->label_len = strlen(k->label);
	resp->blob = *spki;
	resp->blob_len = (size_t)n;
	return ST_OK;
}

static enum status
serve_frame(
    struct server *srv, const uint8_t *frame, size_t len, struct buf *out)
{
	struct signer_wire_request req;
	struct signer_wire_response resp;
	struct signer_key *made = NULL;
	const struct signer_key *k = NULL;
	uint8_t *blob = NULL, *sig = NULL;
	size_t sig_len = 0, i;
	char str[SIGNER_WIRE_STR_MAX + 1], detail[SIGNER_WIRE_STR_MAX + 1];
	enum status st;

	if ((st = signer_wire_request_parse(frame, len, &req)) != ST_OK)
		return st;
	memcpy(str, req.str != NULL ? req.str : "", req.str_len);
	str[req.str_len] = '\0';
	memset(&resp, 0, sizeof(resp));
	resp.id = req.id;
	status_clear();
	switch (req.op) {
	case SIGNER_OP_FIND:
		if ((st = signer_key_find(srv->holder, str, &made)) == ST_OK)
			st = key_answer(made, &resp, &blob);
		break;
	case SIGNER_OP_GENERATE:
		if (req.key_type >= SIGNER_KEY_TYPE_MAX)
			st = status_fail(
			    ST_MALFORMED, "signer: key type %u", req.key_type);
		else if ((st = signer_key_generate(srv->holder, str,
		              (enum signer_key_type)req.key_type, &made)) ==
		    ST_OK)
			st = key_answer(made, &resp, &blob);
		break;
	case SIGNER_OP_SIGN:
		if (req.purpose >= SIGNER_PURPOSE_MAX)
			st = status_fail(
			    ST_MALFORMED, "signer: purpose %u", req.purpose);
		else if ((st = key_get(srv, str, &k)) == ST_OK &&
		    (st = signer_sign(k, (enum signer_purpose)req.purpose,
		         (int)req.md_nid, req.tbs, req.tbs_len, &sig,
		         &sig_len)) == ST_OK) {
			resp.blob = sig;
			resp.blob_len = sig_len;
		}
		break;
	case SIGNER_OP_PING:
		st = signer_ping(srv->holder);
		break;
	default:
		st = status_fail(ST_MALFORMED, "signer: op");
	}
	resp.status = (unsigned)st;
	if (st != ST_OK) {
		/* One line on the wire, whatever the detail held. */
		snprintf(detail, sizeof(detail), "%s", status_detail());
		for (i = 0; detail[i] != '\0'; i++)
			if ((unsigned char)detail[i] < 0x20 ||
			    detail[i] == 0x7f)
				detail[i] = ' ';
		resp.detail = detail;
		resp.detail_len = strlen(detail);
	}
	st = signer_wire_response_encode(req.op, &resp, out);
	OPENSSL_free(blob);
	OPENSSL_free(sig);
	signer_key_free(made);
	return st;
}

static void *
conn_run(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	struct buf in, out;
	enum status st;
	int fd;
	size_t i;

	buf_init(&in, SIGNER_WIRE_FRAME_MAX);
	buf_init(&out, SIGNER_WIRE_FRAME_MAX);
	for (;;) {
		if (signer_wire_frame_read(c->fd, &in) != ST_OK)
			break;
		out.len = 0;
		pthread_mutex_lock(&srv->lock);
		srv->busy++;
		pthread_mutex_unlock(&srv->lock);
		st = serve_frame(srv, in.data, in.len, &out);
		if (st != ST_OK)
			log_warn("signer: a request refused unread, connection "
			         "closed: %s",
			    status_detail());
		else
			st = signer_wire_write(c->fd, out.data, out.len);
		pthread_mutex_lock(&srv->lock);
		srv->busy--;
		pthread_mutex_unlock(&srv->lock);
		if (st != ST_OK)
			break;
	}
	/* Detached: what it holds goes before the drain counts it gone,
	 * its OpenSSL state included (see helper_main in
	 * enroll/worker_request.c). */
	fd = c->fd;
	buf_free(&in);
	buf_free(&out);
	free(c);
	OPENSSL_thread_stop();
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < SERVER_CONNS_MAX; i++)
		if (srv->fds[i] == fd) {
			srv->fds[i] = -1;
			break;
		}
	close(fd);
	srv->threads--;
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Whether fd's peer runs as this user (SO_PEERCRED). */
static int
peer_is_ours(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.uid == getuid();
}

enum status
signer_serve_frame(
    struct signer *holder, const uint8_t *frame, size_t len, struct buf *out)
{
	struct server srv;
	enum status st;
	size_t i;

	memset(&srv, 0, sizeof(srv));
	srv.holder = holder;
	pthread_mutex_init(&srv.lock, NULL);
	st = serve_frame(&srv, frame, len, out);
	for (i = 0; i < srv.key_count; i++)
		signer_key_free(srv.keys[i]);
	pthread_mutex_destroy(&srv.lock);
	return st;
}

enum status
signer_serve(struct signer *holder, int listen_fd, int stop_fd)
{
	struct server *srv;
	struct pollfd pfd[2];
	struct conn *c;
	struct timespec pause = {0, 10 * 1000000L};
	pthread_attr_t attr;
	pthread_t t;
	int fd, waited, busy = 0, threads = 0, slot;
	size_t i;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return ST_NOMEM;
	srv->holder = holder;
	for (i = 0; i < SERVER_CONNS_MAX; i++)
		srv->fds[i] = -1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pfd[0].fd = listen_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = stop_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if (!peer_is_ours(fd)) {
			log_warn(
			    "signer: a connection of another user refused");
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		pthread_mutex_lock(&srv->lock);
		for (i = 0, slot = -1; i < SERVER_CONNS_MAX && slot < 0; i++)
			if (srv->fds[i] < 0)
				slot = (int)i;
		if (slot >= 0) {
			srv->fds[slot] = fd;
			srv->threads++;
		}
		pthread_mutex_unlock(&srv->lock);
		if (slot < 0) {
			log_warn("signer: over %d connections: one refused",
			    SERVER_CONNS_MAX);
			close(fd);
			free(c);
			continue;
		}
		if (pthread_create(&t, &attr, conn_run, c) != 0) {
			log_warn("signer: no thread for a connection");
			pthread_mutex_lock(&srv->lock);
			srv->fds[slot] = -1;
			srv->threads--;
			pthread_mutex_unlock(&srv->lock);
			close(fd);
			free(c);
		}
	}
	close(listen_fd);
	pthread_attr_destroy(&attr);
	/* Requests in flight finish, within a bound. */
	for (waited = 0; waited < SERVER_DRAIN_MS; waited += 10) {
		pthread_mutex_lock(&srv->lock);
		busy = srv->busy;
		pthread_mutex_unlock(&srv->lock);
		if (busy == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (busy > 0)
		log_warn("signer: stopping with %d requests unanswered", busy);
	/* Idle connections end: their threads read the end and leave. */
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < SERVER_CONNS_MAX; i++)
		if (srv->fds[i] >= 0)
			shutdown(srv->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);
	for (waited = 0; waited < SERVER_DRAIN_MS; waited += 10) {
		pthread_mutex_lock(&srv->lock);
		threads = srv->threads;
		pthread_mutex_unlock(&srv->lock);
		if (threads == 0)
			break;
		nanosleep(&pause, NULL);
	}
	/* A thread still inside the holder keeps srv: the process ends. */
	if (threads > 0)
		return ST_OK;
	for (i = 0; i < srv->key_count; i++)
		signer_key_free(srv->keys[i]);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ST_OK;
}
