/*
 * The client of the signer process: the same interface, each call a
 * request on a local stream socket. Safe for many threads at once: each
 * call takes a connection of a small pool (opened on demand, up to
 * SIGNER_REMOTE_CONNECTIONS), so signatures of different threads are in
 * the signer at the same time. While the signer is not running every call
 * answers ST_UNAVAILABLE saying so; the next call connects again.
 */
#ifndef TESSERA_SIGNER_REMOTE_H
#define TESSERA_SIGNER_REMOTE_H

#include "signer/signer.h"

#define SIGNER_REMOTE_CONNECTIONS 16
/* How long one answer may take (a CRL of millions of entries). */
#define SIGNER_REMOTE_TIMEOUT_S 60

/*
 * A signer that talks to the signer process at socket_path. Connects
 * lazily: opening succeeds while the signer is down. Free with
 * signer_close.
 */
enum status
signer_remote_open(const char *socket_path, struct signer **out) MUST_CHECK;

#endif
