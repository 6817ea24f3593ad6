/*
 * Files: bounded reads, and atomic writes with an explicit mode (written to
 * a temporary file, fsynced, renamed, and the directory fsynced), so that a
 * reader or a crash never sees half a file.
 */
#ifndef TESSERA_COMMON_FILE_H
#define TESSERA_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/status.h"

/*
 * Read all of path, at most max bytes (ST_LIMIT beyond). The caller frees
 * *out with free(); *out is NUL-terminated (not counted in *out_len).
 */
enum status file_read(
    const char *path, size_t max, uint8_t **out, size_t *out_len) MUST_CHECK;

/* Write len bytes to path atomically, created with mode. */
enum status file_write_atomic(
    const char *path, const void *data, size_t len, mode_t mode) MUST_CHECK;

/*
 * Create a new file exclusively (ST_CONFLICT if it exists) with mode and
 * write data to it, durably. For files that must never be overwritten.
 */
enum status file_write_new(
    const char *path, const void *data, size_t len, mode_t mode) MUST_CHECK;

/* mkdir with mode; an existing directory is fine. */
enum status file_mkdir(const char *path, mode_t mode) MUST_CHECK;

/* 1 if path exists (any type), else 0. */
int file_exists(const char *path);

/* Join dir and name into a new string; the caller frees it. NULL on ENOMEM. */
char *file_join(const char *dir, const char *name);

#endif
