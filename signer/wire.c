/*
 * signer/wire.c: the signer protocol's frames (signer/wire.h), parsed with
 * a bounded cursor: every length is checked before a byte is read.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "signer/wire.h"

struct cursor {
	const uint8_t *p;
	size_t left;
};

static int
get_u8(struct cursor *c, unsigned *v)
{
	if (c->left < 1)
		return 0;
	*v = c->p[0];
	c->p++;
	c->left--;
	return 1;
}

static int
get_u32(struct cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return 0;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	    (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return 1;
}

/* A length-prefixed field of at most max bytes. */
static enum status
get_bytes(struct cursor *c, size_t max, const char *what, const uint8_t **p,
    size_t *len)
{
	uint32_t n;

	if (!get_u32(c, &n))
		return status_fail(ST_MALFORMED, "signer: %s: truncated", what);
	if (n > max)
		return status_fail(ST_LIMIT,
		    "signer: %s: %u bytes (at most %zu)", what, n, max);
	if (n > c->left)
		return status_fail(ST_MALFORMED, "signer: %s: truncated", what);
	*p = c->p;
	*len = n;
	c->p += n;
	c->left -= n;
	return ST_OK;
}

/* A printable string field (no NUL, no control character). */
static enum status
get_str(struct cursor *c, const char *what, const char **s, size_t *len,
    int may_be_empty)
{
	const uint8_t *p;
	size_t i;
	enum status st;

	if ((st = get_bytes(c, SIGNER_WIRE_STR_MAX, what, &p, len)) != ST_OK)
		return st;
	if (*len == 0 && !may_be_empty)
		return status_fail(ST_MALFORMED, "signer: %s: empty", what);
	for (i = 0; i < *len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return status_fail(ST_MALFORMED,
			    "signer: %s: a control character", what);
	*s = (const char *)p;
	return ST_OK;
}

enum status
signer_wire_request_parse(
    const uint8_t *frame, size_t len, struct signer_wire_request *out)
{
	struct cursor c = {frame, len};
	struct signer_wire_request r;
	unsigned op;
	enum status st = ST_OK;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (len > SIGNER_WIRE_FRAME_MAX)
		return status_fail(ST_LIMIT, "signer: a %zu-byte request", len);
	if (!get_u32(&c, &r.id) || !get_u8(&c, &op))
		return status_fail(ST_MALFORMED, "signer: request: truncated");
	switch (op) {
	case SIGNER_OP_FIND:
		st = get_str(&c, "uri", &r.str, &r.str_len, 0);
		break;
	case SIGNER_OP_GENERATE:
		if (!get_u8(&c, &r.key_type))
			return status_fail(
			    ST_MALFORMED, "signer: key type: truncated");
		st = get_str(&c, "label", &r.str, &r.str_len, 0);
		break;
	case SIGNER_OP_SIGN:
		if (!get_u8(&c, &r.purpose) || !get_u32(&c, &r.md_nid))
			return status_fail(
			    ST_MALFORMED, "signer: purpose: truncated");
		if ((st = get_str(&c, "label", &r.str, &r.str_len, 0)) == ST_OK)
			st = get_bytes(
			    &c, LIMIT_SIGNER_TBS, "tbs", &r.tbs, &r.tbs_len);
		break;
	case SIGNER_OP_PING:
		break;
	default:
		return status_fail(ST_MALFORMED, "signer: unknown op %u", op);
	}
	if (st != ST_OK)
		return st;
	if (c.left != 0)
		return status_fail(ST_MALFORMED,
		    "signer: %zu bytes after the request", c.left);
	r.op = (enum signer_wire_op)op;
	*out = r;
	return ST_OK;
}

enum status
signer_wire_response_parse(const uint8_t *frame, size_t len,
    enum signer_wire_op op, struct signer_wire_response *out)
{
	struct cursor c = {frame, len};
	struct signer_wire_response r;
	enum status st;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (!get_u32(&c, &r.id) || !get_u8(&c, &r.status))
		return status_fail(ST_MALFORMED, "signer: answer: truncated");
	if (r.status >= ST_MAX)
		return status_fail(
		    ST_MALFORMED, "signer: answer: status %u", r.status);
	if ((st = get_str(&c, "detail", &r.detail, &r.detail_len, 1)) != ST_OK)
		return st;
	if (r.status == ST_OK &&
	    (op == SIGNER_OP_FIND || op == SIGNER_OP_GENERATE)) {
		if (!get_u8(&c, &r.role))
			return status_fail(
			    ST_MALFORMED, "signer: role: truncated");
		if ((st = get_str(&c, "label", &r.label, &r.label_len, 0)) !=
		        ST_OK ||
		    (st = get_bytes(&c, SIGNER_WIRE_BLOB_MAX, "public key",
		         &r.blob, &r.blob_len)) != ST_OK)
			return st;
	} else if (r.status == ST_OK && op == SIGNER_OP_SIGN &&
	    (st = get_bytes(&c, SIGNER_WIRE_BLOB_MAX, "signature", &r.blob,
	         &r.blob_len)) != ST_OK)
		return st;
	if (c.left != 0)
		return status_fail(
		    ST_MALFORMED, "signer: %zu bytes after the answer", c.left);
	*out = r;
	return ST_OK;
}

static enum status
put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v};

	return buf_append(b, x, sizeof(x));
}

static enum status
put_u8(struct buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;

	return buf_append(b, &x, 1);
}

static enum status
put_bytes(struct buf *b, const void *p, size_t len)
{
	enum status st;

	if (len > UINT32_MAX)
		return ST_LIMIT;
	if ((st = put_u32(b, (uint32_t)len)) != ST_OK)
		return st;
	return buf_append(b, p, len);
}

/* The frame's length, now that its body follows it in b. */
static void
frame_close(struct buf *b, size_t start)
{
	size_t n = b->len - start - 4;

	b->data[start] = (uint8_t)(n >> 24);
	b->data[start + 1] = (uint8_t)(n >> 16);
	b->data[start + 2] = (uint8_t)(n >> 8);
	b->data[start + 3] = (uint8_t)n;
}

enum status
signer_wire_request_encode(const struct signer_wire_request *r, struct buf *b)
{
	size_t start = b->len;
	enum status st;

	if ((st = put_u32(b, 0)) != ST_OK ||
	    (st = put_u32(b, r->id)) != ST_OK ||
	    (st = put_u8(b, r->op)) != ST_OK)
		return st;
	switch (r->op) {
	case SIGNER_OP_FIND:
		st = put_bytes(b, r->str, r->str_len);
		break;
	case SIGNER_OP_GENERATE:
		if ((st = put_u8(b, r->key_type)) == ST_OK)
			st = put_bytes(b, r->str, r->str_len);
		break;
	case SIGNER_OP_SIGN:
		if ((st = put_u8(b, r->purpose)) == ST_OK &&
		    (st = put_u32(b, r->md_nid)) == ST_OK &&
		    (st = put_bytes(b, r->str, r->str_len)) == ST_OK)
			st = put_bytes(b, r->tbs, r->tbs_len);
		break;
	default:
		break;
	}
	if (st != ST_OK)
		return st;
	frame_close(b, start);
	return ST_OK;
}

enum status
signer_wire_response_encode(
    enum signer_wire_op op, const struct signer_wire_response *r, struct buf *b)
{
	size_t start = b->len;
	size_t detail_len = r->detail_len;
	enum status st;

	/* A detail line is a line: cut at the wire's limit. */
	if (detail_len > SIGNER_WIRE_STR_MAX)
		detail_len = SIGNER_WIRE_STR_MAX;
	if ((st = put_u32(b, 0)) != ST_OK ||
	    (st = put_u32(b, r->id)) != ST_OK ||
	    (st = put_u8(b, r->status)) != ST_OK ||
	    (st = put_bytes(b, r->detail, detail_len)) != ST_OK)
		return st;
	if (r->status == ST_OK &&
	    (op == SIGNER_OP_FIND || op == SIGNER_OP_GENERATE)) {
		if ((st = put_u8(b, r->role)) != ST_OK ||
		    (st = put_bytes(b, r->label, r->label_len)) != ST_OK ||
		    (st = put_bytes(b, r->blob, r->blob_len)) != ST_OK)
			return st;
	} else if (r->status == ST_OK && op == SIGNER_OP_SIGN &&
	    (st = put_bytes(b, r->blob, r->blob_len)) != ST_OK)
		return st;
	frame_close(b, start);
	return ST_OK;
}

/* Read exactly len bytes; 0 at a clean end before the first byte. */
static enum status
read_full(int fd, uint8_t *p, size_t len, int *is_eof)
{
	size_t got = 0;
	ssize_t n;

	*is_eof = 0;
	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return status_fail(ST_UNAVAILABLE, "read: %s",
			    errno == EAGAIN || errno == EWOULDBLOCK
			        ? "timed out"
			        : strerror(errno));
		if (n == 0) {
			*is_eof = got == 0;
			return status_fail(
			    ST_UNAVAILABLE, "the connection was closed");
		}
		got += (size_t)n;
	}
	return ST_OK;
}

enum status
signer_wire_frame_read(int fd, struct buf *b)
{
	uint8_t head[4];
	struct iovec iov[2];
	size_t len, got;
	ssize_t n;
	int is_eof;
	enum status st;

	b->len = 0;
	/*
	 * The header and a usual frame's body in one read: a signature's
	 * request or answer is a few hundred bytes, and a second read(2) per
	 * frame was a system call per frame for nothing. The peer never
	 * sends a frame before the one it waits on is answered, so a read
	 * never takes more than one frame; more is the peer's error.
	 */
	if ((st = buf_reserve(b, SIGNER_WIRE_READ_AHEAD)) != ST_OK)
		return st;
	iov[0].iov_base = head;
	iov[0].iov_len = sizeof(head);
	iov[1].iov_base = b->data;
	iov[1].iov_len = SIGNER_WIRE_READ_AHEAD;
	while ((n = readv(fd, iov, 2)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return status_fail(ST_UNAVAILABLE, "read: %s",
		    errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
		                                            : strerror(errno));
	if (n == 0)
		return status_fail(ST_UNAVAILABLE, "the connection was closed");
	if ((size_t)n < sizeof(head)) {
		if ((st = read_full(fd, head + n, sizeof(head) - (size_t)n,
		         &is_eof)) != ST_OK)
			return st;
		got = 0;
	} else
		got = (size_t)n - sizeof(head);
	len = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
	    (size_t)head[2] << 8 | head[3];
	if (len > SIGNER_WIRE_FRAME_MAX)
		return status_fail(ST_LIMIT, "signer: a %zu-byte frame", len);
	if (got > len)
		return status_fail(
		    ST_MALFORMED, "signer: bytes after a %zu-byte frame", len);
	b->len = got;
	if (len > got) {
		if ((st = buf_reserve(b, len - got)) != ST_OK)
			return st;
		if ((st = read_full(fd, b->data + got, len - got, &is_eof)) !=
		    ST_OK)
			return st;
	}
	b->len = len;
	return ST_OK;
}

enum status
signer_wire_write(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		/* A peer that went away is an error, never a SIGPIPE. */
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return status_fail(ST_UNAVAILABLE, "write: %s",
			    n < 0 ? strerror(errno) : "nothing written");
		p += n;
		len -= (size_t)n;
	}
	return ST_OK;
}
