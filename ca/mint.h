/*
 * minter: a part of the authority — the device tokens' signing key as this
 * process holds it. The store says which key signs now (another process
 * may have rotated it); the minter keeps the handle to it, by its label,
 * and its kid, and the handles it replaced while a mint on another thread
 * may still be signing with them (retired, freed only by minter_maintain).
 * What tokens say and who may have one are in ca/mint.c, which is the only
 * file that sees the part's body.
 *
 * What it owns: the current token-signing key's handle and kid, the
 * retired handles.
 * Locks: its own mutex guards all of them; it is never held across a
 * signature, a commit or a key look-up in the token. maintain_due is
 * atomic.
 * Who calls it: the authority opens it last (authority.c: after the
 * signer and the store) and frees it at close, before the signer closes
 * (the handles are the signer's); authority_maintain calls
 * minter_maintain, alone (no call on the authority in flight); the
 * token functions of ca/mint.c (authority_token_mint, _rotate) do the
 * rest.
 */
#ifndef TESSERA_CA_MINT_H
#define TESSERA_CA_MINT_H

#include "common/status.h"

struct authority;
struct minter;

/*
 * The minter of a (whose cfg, signer and store are open): when the store
 * names no token-signing key yet (a data directory from init), the one
 * tessera.json names is recorded as the signing key. The caller frees
 * *out with minter_free.
 */
enum status minter_open(struct authority *a, struct minter **out) MUST_CHECK;
/* NULL accepted; before the signer closes. */
void minter_free(struct minter *m);

/* Are retired handles waiting for minter_maintain? Cheap; any thread. */
int minter_maintain_due(struct minter *m);
/* Free the retired handles; no mint may be in flight. */
void minter_maintain(struct minter *m);

#endif
