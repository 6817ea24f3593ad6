/*
 * backup: a data directory as one archive, and back. The archive is a
 * POSIX ustar file: first an entry "tessera-backup" naming the format,
 * then every directory and regular file of the data directory except the
 * token and its PINs (hsm/), the PIN file, the lock and the live store
 * files, with the store itself as a consistent snapshot (store_backup).
 * Keys stay in the token: it is backed up with the HSM's own means.
 */
#ifndef TESSERA_CA_BACKUP_H
#define TESSERA_CA_BACKUP_H

#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

/* The name of the first entry, and the line it holds. */
#define BACKUP_MARK_NAME "tessera-backup"
#define BACKUP_MARK_TEXT "tessera backup format 1\n"

/* What to tell the operator about the token, which no archive holds. */
#define BACKUP_NOTE_CAP 1024

struct ca_backup_report {
	size_t file_count; /* regular files in the archive, the store too */
	uint64_t byte_count; /* bytes written, headers and padding too */
	char note[BACKUP_NOTE_CAP]; /* how to back up (restore) the token */
};

/*
 * Write an archive of the data directory data_dir to out: the store as
 * one snapshot taken while others write, the rest as files. Needs no PIN.
 * The caller opens out (mode 0600) and closes it; out is flushed.
 */
enum status ca_backup_write(const char *data_dir, FILE *out,
    struct ca_backup_report *report) MUST_CHECK;

/*
 * ST_CONFLICT when the archive path would lie inside data_dir (it would
 * be archived into itself, and into every later backup); else ST_OK.
 */
enum status
ca_backup_target_check(const char *data_dir, const char *path) MUST_CHECK;

/*
 * Read an archive from in without writing anything: every header, name,
 * size and the format mark are checked (ST_MALFORMED naming the entry).
 */
enum status ca_backup_check(FILE *in) MUST_CHECK;

/*
 * Restore the archive at path into data_dir, which must not exist or be
 * an empty directory (else ST_CONFLICT). The archive is checked whole
 * before anything is written; the store is checked after. With the
 * embedded SoftHSMv2 it writes hsm/softhsm2.conf for the new place; the
 * token itself is put back by the operator (report->note says how).
 */
enum status ca_backup_restore(const char *path, const char *data_dir,
    struct ca_backup_report *report) MUST_CHECK;

#endif
