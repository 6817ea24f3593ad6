/*
 * The signer process's loop: the key holder (a local signer) answering
 * the signer protocol (signer/wire.h) on a listening local socket, one
 * thread per connection, so that the requests of several worker threads
 * are signed at the same time (libp11 gives each its own session).
 */
#ifndef TESSERA_SIGNER_SERVER_H
#define TESSERA_SIGNER_SERVER_H

#include "common/buf.h"
#include "signer/signer.h"

/*
 * Bind a listening socket at path (mode 0600; a stale one is replaced):
 * *fd to give to signer_serve. ST_UNAVAILABLE with the reason.
 */
enum status signer_listen(const char *path, int *fd) MUST_CHECK;

/*
 * Answer requests on listen_fd with holder until stop_fd is readable (a
 * signalfd), then stop accepting and wait (bounded) for the requests in
 * flight. Only connections of this process's user are served.
 */
enum status
signer_serve(struct signer *holder, int listen_fd, int stop_fd) MUST_CHECK;

/*
 * Answer one request frame body with holder: the whole answer frame is
 * appended to out. A frame that does not parse is ST_MALFORMED (the
 * connection is then closed). For the server's threads and the fuzz target.
 */
enum status signer_serve_frame(struct signer *holder, const uint8_t *frame,
    size_t len, struct buf *out) MUST_CHECK;

#endif
