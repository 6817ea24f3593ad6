/*
 * The signer process's protocol, on a local stream socket. Every message is
 * a frame: a 4-byte big-endian length, then that many bytes.
 *
 * Request:  u32 id, u8 op, then by op
 *           FIND      str uri
 *           GENERATE  u8 key type, str label
 *           SIGN      u8 purpose, u32 digest NID, str label, bytes tbs
 *           PING      nothing
 * Response: u32 id, u8 status, str detail, then for ST_OK by op
 *           FIND, GENERATE  u8 role, str label, bytes SubjectPublicKeyInfo
 *           SIGN            bytes signature
 * str and bytes are a u32 length and the bytes (str: printable, no NUL).
 * Anything else, a length over its limit or trailing bytes is malformed.
 */
#ifndef TESSERA_SIGNER_WIRE_H
#define TESSERA_SIGNER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/status.h"

/* A frame: the largest TBS and the fields around it. */
#define SIGNER_WIRE_FRAME_MAX (LIMIT_SIGNER_TBS + 4096)
/* What a frame's first read takes at most after its header (a usual
 * request or answer whole). */
#define SIGNER_WIRE_READ_AHEAD 4096
/* A URI, a label or a detail line. */
#define SIGNER_WIRE_STR_MAX 1024
/* A public key or a signature. */
#define SIGNER_WIRE_BLOB_MAX 8192

enum signer_wire_op {
	SIGNER_OP_FIND = 1,
	SIGNER_OP_GENERATE,
	SIGNER_OP_SIGN,
	SIGNER_OP_PING,
	SIGNER_OP_MAX
};

/* A parsed request; its pointers point into the frame parsed. */
struct signer_wire_request {
	uint32_t id;
	enum signer_wire_op op;
	const char *str; /* uri (FIND) or label (GENERATE, SIGN) */
	size_t str_len;
	unsigned key_type; /* GENERATE */
	unsigned purpose; /* SIGN */
	uint32_t md_nid; /* SIGN */
	const uint8_t *tbs; /* SIGN */
	size_t tbs_len;
};

/* A parsed response; pointers into the frame. */
struct signer_wire_response {
	uint32_t id;
	unsigned status; /* enum status */
	const char *detail;
	size_t detail_len;
	unsigned role; /* FIND, GENERATE */
	const char *label;
	size_t label_len;
	const uint8_t *blob; /* the public key, or the signature */
	size_t blob_len;
};

/*
 * Parse one request frame body (without its length). ST_MALFORMED or
 * ST_LIMIT with the field named; *out is left zeroed then.
 */
enum status signer_wire_request_parse(const uint8_t *frame, size_t len,
    struct signer_wire_request *out) MUST_CHECK;

/* Parse one response frame body for a request of op. */
enum status signer_wire_response_parse(const uint8_t *frame, size_t len,
    enum signer_wire_op op, struct signer_wire_response *out) MUST_CHECK;

/* Append a whole request frame (length first) for r to b. */
enum status signer_wire_request_encode(
    const struct signer_wire_request *r, struct buf *b) MUST_CHECK;

/* Append a whole response frame for a request of op to b. */
enum status signer_wire_response_encode(enum signer_wire_op op,
    const struct signer_wire_response *r, struct buf *b) MUST_CHECK;

/*
 * Read one frame from fd into b (emptied first; its body only).
 * ST_UNAVAILABLE with the reason when the peer closed or the read failed
 * or timed out, ST_LIMIT for a frame over SIGNER_WIRE_FRAME_MAX,
 * ST_MALFORMED when bytes came after the frame (a peer sends a frame only
 * once its last one was answered).
 */
enum status signer_wire_frame_read(int fd, struct buf *b) MUST_CHECK;

/* Send len bytes on socket fd (all of them); ST_UNAVAILABLE on failure. */
enum status signer_wire_write(int fd, const uint8_t *p, size_t len) MUST_CHECK;

#endif
