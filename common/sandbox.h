/*
 * The workers' sandbox: a Landlock ruleset (Linux 5.13 and later) that
 * lets a thread open only the paths it was given, with only the rights it
 * was given. A worker faces the network; once it has opened what it needs,
 * it enters the sandbox so that code run through a flaw in it cannot read
 * the HSM's PIN, the token's files or the admin's key, write outside the
 * data directory's public parts, or run a program.
 *
 * Landlock restricts the thread that enters and the threads it creates
 * afterwards, never its siblings: each thread that exists when the
 * sandbox is made must call sandbox_enter itself. Files already open stay
 * usable; only new opens are checked.
 */
#ifndef TESSERA_COMMON_SANDBOX_H
#define TESSERA_COMMON_SANDBOX_H

#include "common/status.h"

struct sandbox;

/* What a path may be used for; a file gets only the file rights. */
enum sandbox_use {
	SANDBOX_READ, /* read files, list directories */
	SANDBOX_WRITE, /* also write, create, rename and remove files */
};

/*
 * A new, empty ruleset: nothing may be opened until paths are allowed.
 * ST_UNAVAILABLE (with the reason) when the kernel has no Landlock.
 */
enum status sandbox_new(struct sandbox **out) MUST_CHECK;

/*
 * Allow path (a file or a directory and all beneath it) for use. A path
 * that does not exist is skipped (ST_OK). Rules follow the file, not its
 * name: renaming it later neither gives nor takes a right.
 */
enum status sandbox_allow(
    struct sandbox *sb, const char *path, enum sandbox_use use) MUST_CHECK;

/*
 * The system's parts that libraries read at run time: /usr, /lib*, /bin,
 * /proc, /sys, and of /etc, /run and /dev only the files the C library,
 * OpenSSL, GnuTLS and libpq read (never the whole: a PIN file, a systemd
 * credential or a raw disk may be there); /dev/null, /var/tmp and
 * /usr/tmp writable (SQLite spills a large sort there; never /tmp, where
 * data directories may live).
 */
enum status sandbox_allow_system(struct sandbox *sb) MUST_CHECK;

/*
 * Restrict the calling thread, for good (and set no_new_privs, which
 * Landlock needs and which also keeps any exec from gaining privileges).
 * Threads it creates afterwards inherit the restriction.
 */
enum status sandbox_enter(const struct sandbox *sb) MUST_CHECK;

/* The Landlock ABI version the sandbox uses (1 and up). */
int sandbox_abi(const struct sandbox *sb);

void sandbox_free(struct sandbox *sb);

#endif
