#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"

enum status
file_read(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	uint8_t *data = NULL;
	size_t len = 0, cap;
	ssize_t n;
	struct stat sb;
	int fd;
	enum status st = ST_INTERNAL;

	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return status_fail(
			    ST_NOTFOUND, "%s: no such file", path);
		return status_fail(
		    ST_UNAVAILABLE, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		st = status_fail(ST_MALFORMED, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)sb.st_size > max) {
		st = status_fail(ST_LIMIT, "%s: %lld bytes, limit is %zu", path,
		    (long long)sb.st_size, max);
		goto out;
	}
	cap = (size_t)sb.st_size + 1;
	if ((data = malloc(cap)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	/* A file that grows while read is cut at the size fstat saw. */
	for (;;) {
		if (len == cap - 1)
			break;
		n = read(fd, data + len, cap - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			st = status_fail(
			    ST_UNAVAILABLE, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	*out = data;
	*out_len = len;
	data = NULL;
	st = ST_OK;
out:
	free(data);
	close(fd);
	return st;
}

static enum status
write_all(int fd, const void *data, size_t len, const char *path)
{
	const uint8_t *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return status_fail(
			    ST_UNAVAILABLE, "%s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1)
		return status_fail(
		    ST_UNAVAILABLE, "%s: fsync: %s", path, strerror(errno));
	return ST_OK;
}

static void
sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL)
		return;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

enum status
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	int fd, n;
	enum status st;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return status_fail(ST_LIMIT, "path too long");
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1)
		return status_fail(
		    ST_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
	/* The umask must not widen or narrow what the caller asked for. */
	if (fchmod(fd, mode) == -1) {
		st = status_fail(
		    ST_UNAVAILABLE, "%s: chmod: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return st;
	}
	st = write_all(fd, data, len, tmp);
	close(fd);
	if (st != ST_OK) {
		unlink(tmp);
		return st;
	}
	if (rename(tmp, path) == -1) {
		st = status_fail(
		    ST_UNAVAILABLE, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		return st;
	}
	sync_dir_of(path);
	return ST_OK;
}

enum status
file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;
	enum status st;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1) {
		if (errno == EEXIST)
			return status_fail(
			    ST_CONFLICT, "%s exists already", path);
		return status_fail(
		    ST_UNAVAILABLE, "%s: %s", path, strerror(errno));
	}
	if (fchmod(fd, mode) == -1)
		st = status_fail(
		    ST_UNAVAILABLE, "%s: chmod: %s", path, strerror(errno));
	else
		st = write_all(fd, data, len, path);
	close(fd);
	if (st != ST_OK)
		unlink(path);
	else
		sync_dir_of(path);
	return st;
}

enum status
file_mkdir(const char *path, mode_t mode)
{
	struct stat sb;

	if (mkdir(path, mode) == 0)
		return ST_OK;
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return ST_OK;
	return status_fail(
	    ST_UNAVAILABLE, "mkdir %s: %s", path, strerror(errno));
}

int
file_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

char *
file_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *s;

	if ((s = malloc(a + b + 2)) == NULL)
		return NULL;
	memcpy(s, dir, a);
	s[a] = '/';
	memcpy(s + a + 1, name, b + 1);
	return s;
}
