#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/authority.h"
#include "ca/backup.h"
#include "ca/config.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/log.h"

/* ustar (POSIX.1-1988) blocks and the fields tessera writes and reads. */
#define TAR_BLOCK 512
#define TAR_NAME_CAP 100
/* 11 octal digits: a file of up to 8 GiB - 1. */
#define TAR_SIZE_MAX 077777777777ULL
/* Entries of one archive; a data directory holds a few dozen. */
#define BACKUP_MAX_ENTRIES 4096
/* Directory depth below the data directory (crl/, ca/, ...). */
#define BACKUP_MAX_DEPTH 8

struct tar_header {
	char name[100];
	char mode[8];
	char uid[8];
	char gid[8];
	char size[12];
	char mtime[12];
	char chksum[8];
	char typeflag;
	char linkname[100];
	char magic[6];
	char version[2];
	char uname[32];
	char gname[32];
	char devmajor[8];
	char devminor[8];
	char prefix[155];
	char pad[12];
};

_Static_assert(sizeof(struct tar_header) == TAR_BLOCK, "ustar header size");

struct tar_out {
	FILE *f;
	const char *root;
	const char *store; /* the store's name inside root */
	const char *pin; /* the PIN file's name inside root, or NULL */
	struct ca_backup_report *report;
};

static enum status
out_write(struct tar_out *t, const void *data, size_t len)
{
	if (len > 0 && fwrite(data, 1, len, t->f) != len)
		return status_fail(
		    ST_INTERNAL, "backup: write: %s", strerror(errno));
	t->report->byte_count += len;
	return ST_OK;
}

/* len - 1 octal digits, zero-filled, then NUL (v fits: checked before). */
static void
octal_put(char *field, size_t len, uint64_t v)
{
	size_t i;

	field[len - 1] = '\0';
	for (i = len - 1; i > 0; i--) {
		field[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

static unsigned
header_sum(const struct tar_header *h)
{
	const unsigned char *p = (const unsigned char *)h;
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < TAR_BLOCK; i++)
		sum += (i >= offsetof(struct tar_header, chksum) &&
		           i < offsetof(struct tar_header, chksum) + 8)
		    ? ' '
		    : p[i];
	return sum;
}

static enum status
header_write(struct tar_out *t, const char *name, char type, mode_t mode,
    uint64_t size, time_t mtime)
{
	struct tar_header h;
	size_t len = strlen(name);

	if (len == 0 || len >= TAR_NAME_CAP)
		return status_fail(ST_LIMIT,
		    "backup: %s: a name in the data directory is over %d "
		    "bytes",
		    name, TAR_NAME_CAP - 1);
	if (size > TAR_SIZE_MAX)
		return status_fail(ST_LIMIT, "backup: %s is over 8 GiB", name);
	memset(&h, 0, sizeof(h));
	memcpy(h.name, name, len);
	octal_put(h.mode, sizeof(h.mode), mode & 0777);
	octal_put(h.uid, sizeof(h.uid), 0);
	octal_put(h.gid, sizeof(h.gid), 0);
	octal_put(h.size, sizeof(h.size), size);
	octal_put(h.mtime, sizeof(h.mtime), mtime < 0 ? 0 : (uint64_t)mtime);
	h.typeflag = type;
	memcpy(h.magic, "ustar", 6);
	memcpy(h.version, "00", 2);
	octal_put(h.chksum, 7, header_sum(&h));
	h.chksum[7] = ' ';
	return out_write(t, &h, sizeof(h));
}

static enum status
pad_write(struct tar_out *t, uint64_t size)
{
	static const char zero[TAR_BLOCK];

	return out_write(t, zero, (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
}

static enum status
data_write(struct tar_out *t, const char *name, const void *data, size_t len)
{
	enum status st;

	if ((st = header_write(t, name, '0', 0600, len, time(NULL))) != ST_OK ||
	    (st = out_write(t, data, len)) != ST_OK)
		return st;
	t->report->file_count++;
	return pad_write(t, len);
}

/* The regular file at path as entry name, exactly as fstat sized it. */
static enum status
file_put(struct tar_out *t, const char *name, const char *path)
{
	char buf[65536];
	struct stat sb;
	uint64_t left;
	size_t n;
	enum status st;
	int fd;
	FILE *f = NULL;

	/* O_NOFOLLOW: a link planted in the directory is not followed. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return status_fail(
		    ST_INTERNAL, "backup: open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1 || (f = fdopen(fd, "rb")) == NULL) {
		st = status_fail(
		    ST_INTERNAL, "backup: %s: %s", path, strerror(errno));
		close(fd);
		return st;
	}
	if ((st = header_write(t, name, '0', sb.st_mode, (uint64_t)sb.st_size,
	         sb.st_mtime)) != ST_OK)
		goto out;
	/* Files are replaced by rename: the open one stays as it was. */
	for (left = (uint64_t)sb.st_size; left > 0; left -= n) {
		n = fread(buf, 1, left < sizeof(buf) ? left : sizeof(buf), f);
		if (n == 0) {
			st = status_fail(ST_INTERNAL,
			    "backup: %s shrank while it was read", path);
			goto out;
		}
		if ((st = out_write(t, buf, n)) != ST_OK)
			goto out;
	}
	t->report->file_count++;
	st = pad_write(t, (uint64_t)sb.st_size);
out:
	fclose(f);
	return st;
}

/* Names at the top of the data directory that never go into an archive. */
static int
is_excluded(const struct tar_out *t, const char *rel)
{
	size_t n = strlen(t->store);

	/* The token, its configuration and its PINs: the HSM's own backup. */
	if (strcmp(rel, "hsm") == 0 || strcmp(rel, "serve.lock") == 0)
		return 1;
	/* The signer's sockets (signer-GEN.sock; signer.sock before). */
	if ((strncmp(rel, AUTHORITY_SIGNER_SOCKET_PREFIX,
	         strlen(AUTHORITY_SIGNER_SOCKET_PREFIX)) == 0 ||
	        strncmp(rel, "signer.", 7) == 0) &&
	    strstr(rel, ".sock") != NULL && strchr(rel, '/') == NULL)
		return 1;
	if (t->pin != NULL && strcmp(rel, t->pin) == 0)
		return 1;
	/* The live store, its -wal, -shm, and copies kept before migrations;
	 * the snapshot stands for them. */
	if (strncmp(rel, t->store, n) == 0 &&
	    (rel[n] == '\0' || rel[n] == '-' || rel[n] == '.'))
		return 1;
	/* Hidden files: temporaries of atomic writes and of this backup. */
	return strrchr(rel, '/') != NULL ? strrchr(rel, '/')[1] == '.'
	                                 : rel[0] == '.';
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry below rel (a directory, "" for the top), sorted. */
static enum status
dir_put(struct tar_out *t, const char *rel, int depth)
{
	char **names = NULL, *path = NULL, *sub = NULL;
	size_t count = 0, cap = 0, i;
	struct dirent *de;
	struct stat sb;
	enum status st = ST_OK;
	DIR *d = NULL;

	if (depth > BACKUP_MAX_DEPTH)
		return status_fail(ST_LIMIT,
		    "backup: %s is more than %d directories deep", rel,
		    BACKUP_MAX_DEPTH);
	if ((path = file_join(t->root, rel)) == NULL)
		return ST_NOMEM;
	if ((d = opendir(path)) == NULL) {
		st = status_fail(
		    ST_INTERNAL, "backup: open %s: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (count == cap) {
			char **n;

			cap = cap ? cap * 2 : 32;
			if (cap > BACKUP_MAX_ENTRIES ||
			    (n = realloc(names, cap * sizeof(*n))) == NULL) {
				st = cap > BACKUP_MAX_ENTRIES
				    ? status_fail(ST_LIMIT,
				          "backup: over %d entries in %s",
				          BACKUP_MAX_ENTRIES, path)
				    : ST_NOMEM;
				goto out;
			}
			names = n;
		}
		if ((names[count] = strdup(de->d_name)) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		count++;
	}
	if (count > 0)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0; i < count && st == ST_OK; i++) {
		free(sub);
		sub = rel[0] ? file_join(rel, names[i]) : strdup(names[i]);
		free(path);
		path = NULL;
		if (sub == NULL || (path = file_join(t->root, sub)) == NULL) {
			st = ST_NOMEM;
			break;
		}
		if (is_excluded(t, sub))
			continue;
		if (lstat(path, &sb) == -1) {
			/* Gone since readdir: a temporary file. */
			if (errno == ENOENT)
				continue;
			st = status_fail(ST_INTERNAL, "backup: %s: %s", path,
			    strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			char name[TAR_NAME_CAP + 1];

			snprintf(name, sizeof(name), "%s/", sub);
			if ((st = header_write(t, name, '5', sb.st_mode, 0,
			         sb.st_mtime)) == ST_OK)
				st = dir_put(t, sub, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			st = file_put(t, sub, path);
		} else {
			log_warn("backup: %s is neither a file nor a "
			         "directory; not archived",
			    path);
		}
	}
out:
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(sub);
	free(path);
	if (d != NULL)
		closedir(d);
	return st;
}

/* rel when path is a file directly or below dir, else NULL. */
static const char *
path_inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (path[0] != '/')
		return path;
	if (strncmp(path, dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return NULL;
}

static void
note_token(const struct ca_config *cfg, int is_restore, char *note)
{
	const char *d = cfg->data_dir;

	if (cfg->softhsm_conf != NULL && !is_restore)
		snprintf(note, BACKUP_NOTE_CAP,
		    "the keys are not in this archive. Back up the SoftHSMv2 "
		    "token with its own files: %s/hsm/tokens/ (one directory "
		    "per token: the encrypted key objects of the root and "
		    "issuing CAs, the OCSP responder, token signing and "
		    "audit keys) and its PINs %s/hsm/user.pin and "
		    "%s/hsm/so.pin, e.g. tar -C %s -cf hsm.tar hsm/tokens "
		    "hsm/user.pin hsm/so.pin, when no key is being made (token "
		    "rotate, renew); keep it apart from this archive, as safe "
		    "as the keys",
		    d, d, d, d);
	else if (cfg->softhsm_conf != NULL)
		snprintf(note, BACKUP_NOTE_CAP,
		    "put the SoftHSMv2 token back before tessera serve: its "
		    "token directories into %s/hsm/tokens/ and the PINs "
		    "user.pin and so.pin into %s/hsm/ (mode 0600), e.g. tar "
		    "-C %s -xf hsm.tar",
		    d, d, d);
	else
		snprintf(note, BACKUP_NOTE_CAP,
		    "the keys are not in this archive: they stay in the HSM "
		    "token \"%s\" (module %s), %s with the HSM's own means "
		    "(its key backup or cloning); nor is the PIN (%s)",
		    cfg->hsm_token, cfg->hsm_module,
		    is_restore ? "which this machine must reach, restored"
		               : "backed up",
		    cfg->hsm_pin_file ? cfg->hsm_pin_file : "TESSERA_HSM_PIN");
}

enum status
ca_backup_write(
    const char *data_dir, FILE *out, struct ca_backup_report *report)
{
	struct ca_config *cfg = NULL;
	struct tar_out t;
	char *snap = NULL, *db = NULL, *store = NULL;
	static const char zero[2 * TAR_BLOCK];
	enum status st;
	int fd;

	memset(report, 0, sizeof(*report));
	memset(&t, 0, sizeof(t));
	if ((st = ca_config_load(data_dir, &cfg)) != ST_OK)
		goto out;
	t.f = out;
	t.root = data_dir;
	t.report = report;
	if (store_target_is_url(cfg->database)) {
		st = status_fail(ST_CONFLICT,
		    "backup: the store is in PostgreSQL: back it up with "
		    "PostgreSQL's own tools (pg_dump, pg_basebackup); tessera "
		    "backup copies SQLite stores only");
		goto out;
	}
	if ((db = ca_config_path(cfg, cfg->database)) == NULL ||
	    (snap = file_join(data_dir, ".backup-XXXXXX")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((t.store = path_inside(data_dir, cfg->database)) == NULL ||
	    strchr(t.store, '/') != NULL) {
		st = status_fail(ST_CONFLICT,
		    "backup: the store %s is not at the top of %s", db,
		    data_dir);
		goto out;
	}
	if ((store = strdup(t.store)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	t.store = store;
	if (cfg->hsm_pin_file != NULL)
		t.pin = path_inside(data_dir, cfg->hsm_pin_file);
	/* The snapshot first: the files after it are at least as new. */
	if ((fd = mkstemp(snap)) == -1) {
		st = status_fail(ST_INTERNAL, "backup: create %s: %s", snap,
		    strerror(errno));
		free(snap);
		snap = NULL;
		goto out;
	}
	close(fd);
	unlink(snap);
	if ((st = store_backup(db, snap)) != ST_OK)
		goto out;
	if ((st = data_write(&t, BACKUP_MARK_NAME, BACKUP_MARK_TEXT,
	         strlen(BACKUP_MARK_TEXT))) != ST_OK ||
	    (st = file_put(&t, t.store, snap)) != ST_OK ||
	    (st = dir_put(&t, "", 0)) != ST_OK ||
	    (st = out_write(&t, zero, sizeof(zero))) != ST_OK)
		goto out;
	if (fflush(out) != 0) {
		st = status_fail(
		    ST_INTERNAL, "backup: write: %s", strerror(errno));
		goto out;
	}
	note_token(cfg, 0, report->note);
out:
	if (snap != NULL) {
		unlink(snap);
		free(snap);
	}
	free(store);
	free(db);
	ca_config_free(cfg);
	return st;
}

enum status
ca_backup_target_check(const char *data_dir, const char *path)
{
	char *dir = NULL, *copy = NULL, *parent = NULL, *slash;
	enum status st = ST_OK;
	size_t n;

	if ((dir = realpath(data_dir, NULL)) == NULL)
		goto out; /* no such directory: ca_backup_write says so */
	if ((copy = strdup(path)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	/* The directory the archive goes to, as the kernel resolves it. */
	if ((slash = strrchr(copy, '/')) == NULL)
		parent = realpath(".", NULL);
	else if (slash == copy)
		parent = realpath("/", NULL);
	else {
		*slash = '\0';
		parent = realpath(copy, NULL);
	}
	if (parent == NULL)
		goto out; /* the write will fail and say why */
	n = strlen(dir);
	if (strncmp(parent, dir, n) == 0 &&
	    (parent[n] == '\0' || parent[n] == '/'))
		st = status_fail(ST_CONFLICT,
		    "backup: %s is inside the data directory %s; write the "
		    "archive elsewhere",
		    path, data_dir);
out:
	free(parent);
	free(copy);
	free(dir);
	return st;
}

/* ---- reading ----------------------------------------------------------- */

/* An octal field: digits 0-7, then only NULs or spaces. */
static enum status
octal_get(const char *field, size_t len, const char *what, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	*out = 0;
	while (i < len && field[i] >= '0' && field[i] <= '7') {
		v = v * 8 + (uint64_t)(field[i] - '0');
		i++;
	}
	if (i == 0)
		return status_fail(ST_MALFORMED, "%s is not octal", what);
	for (; i < len; i++)
		if (field[i] != '\0' && field[i] != ' ')
			return status_fail(
			    ST_MALFORMED, "%s is not octal", what);
	*out = v;
	return ST_OK;
}

/*
 * A name tessera writes: relative, components of [A-Za-z0-9._-] that are
 * not "." or "..", a directory's ending in one "/". Nothing else is
 * extracted, so no entry can land outside the new data directory.
 */
static enum status
name_check(const char *name, int is_dir)
{
	size_t len = strlen(name), i, start = 0;

	if (is_dir) {
		if (len < 2 || name[len - 1] != '/')
			return status_fail(ST_MALFORMED,
			    "directory entry \"%s\" does not end in /", name);
		len--;
	}
	if (len == 0)
		return status_fail(ST_MALFORMED, "an entry has no name");
	for (i = 0; i <= len; i++) {
		char c = i < len ? name[i] : '/';

		if (c == '/') {
			if (i == start ||
			    (i - start == 1 && name[start] == '.') ||
			    (i - start == 2 && name[start] == '.' &&
			        name[start + 1] == '.'))
				return status_fail(ST_MALFORMED,
				    "entry \"%s\": an empty, . or .. "
				    "component",
				    name);
			start = i + 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		               (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		               c == '-')) {
			return status_fail(ST_MALFORMED,
			    "entry name \"%.*s\" has a character tessera "
			    "never writes",
			    (int)len, name);
		}
	}
	return ST_OK;
}

struct tar_entry {
	char name[TAR_NAME_CAP + 1];
	char type;
	mode_t mode;
	uint64_t size;
};

/* Read one header: 1 in *is_end at the two zero blocks of the end. */
static enum status
header_read(FILE *in, size_t index, struct tar_entry *e, int *is_end)
{
	struct tar_header h;
	uint64_t sum, mode;
	static const char zero[TAR_BLOCK];
	char what[64];
	enum status st;

	*is_end = 0;
	memset(e, 0, sizeof(*e));
	if (fread(&h, 1, sizeof(h), in) != sizeof(h))
		return status_fail(ST_MALFORMED,
		    "the archive ends inside entry %zu (no end marker)",
		    index + 1);
	if (memcmp(&h, zero, sizeof(h)) == 0) {
		if (fread(&h, 1, sizeof(h), in) != sizeof(h) ||
		    memcmp(&h, zero, sizeof(h)) != 0)
			return status_fail(ST_MALFORMED,
			    "the archive's end marker is not two zero blocks");
		*is_end = 1;
		return ST_OK;
	}
	snprintf(what, sizeof(what), "entry %zu", index + 1);
	if (memcmp(h.magic, "ustar", 6) != 0 || memcmp(h.version, "00", 2))
		return status_fail(ST_MALFORMED,
		    "%s%s is not a POSIX ustar header",
		    index == 0 ? "not a tessera backup: " : "", what);
	if ((st = octal_get(h.chksum, sizeof(h.chksum), what, &sum)) != ST_OK)
		return st;
	if (sum != header_sum(&h))
		return status_fail(
		    ST_MALFORMED, "%s: header checksum does not match", what);
	if (memchr(h.name, '\0', sizeof(h.name)) == NULL || h.prefix[0] ||
	    h.linkname[0])
		return status_fail(ST_MALFORMED,
		    "%s: a name tessera never writes (over 99 bytes, a "
		    "prefix or a link)",
		    what);
	memcpy(e->name, h.name, sizeof(h.name));
	if (h.typeflag != '0' && h.typeflag != '5')
		return status_fail(ST_MALFORMED,
		    "entry \"%s\" is of type '%c': only files and directories",
		    e->name, h.typeflag);
	e->type = h.typeflag;
	if ((st = octal_get(h.mode, sizeof(h.mode), what, &mode)) != ST_OK ||
	    (st = octal_get(h.size, sizeof(h.size), what, &e->size)) != ST_OK)
		return st;
	if (mode > 0777)
		return status_fail(ST_MALFORMED, "entry \"%s\": mode %llo",
		    e->name, (unsigned long long)mode);
	/* Never more than the owner's own, and nothing executable. */
	e->mode = (mode_t)mode & (e->type == '5' ? 0755 : 0644);
	if (e->type == '5' && e->size != 0)
		return status_fail(
		    ST_MALFORMED, "directory entry \"%s\" has a size", e->name);
	return name_check(e->name, e->type == '5');
}

/* Copy (or with fd -1 skip) size bytes and the padding after them. */
static enum status
body_copy(
    FILE *in, const struct tar_entry *e, int fd, char *first, size_t first_cap)
{
	char buf[65536];
	uint64_t left = e->size,
	         pad = (TAR_BLOCK - e->size % TAR_BLOCK) % TAR_BLOCK;
	size_t n, want, off = 0;

	while (left > 0) {
		want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if ((n = fread(buf, 1, want, in)) != want)
			return status_fail(ST_MALFORMED,
			    "the archive ends inside \"%s\"", e->name);
		if (first != NULL && off < first_cap) {
			size_t k = n < first_cap - off ? n : first_cap - off;

			memcpy(first + off, buf, k);
			off += k;
		}
		if (fd != -1 && write(fd, buf, n) != (ssize_t)n)
			return status_fail(ST_INTERNAL, "restore: write %s: %s",
			    e->name, strerror(errno));
		left -= n;
	}
	if (pad > 0 && fread(buf, 1, (size_t)pad, in) != pad)
		return status_fail(
		    ST_MALFORMED, "the archive ends inside \"%s\"", e->name);
	return ST_OK;
}

/* Walk the archive; with dir non-NULL, create each entry below it. */
static enum status
archive_read(FILE *in, const char *dir, size_t *file_count)
{
	struct tar_entry e;
	char mark[sizeof(BACKUP_MARK_TEXT)];
	char *path = NULL;
	enum status st = ST_OK;
	size_t i;
	int is_end = 0, fd = -1;

	*file_count = 0;
	for (i = 0; !is_end; i++) {
		if (i > BACKUP_MAX_ENTRIES)
			return status_fail(ST_LIMIT,
			    "the archive has over %d entries",
			    BACKUP_MAX_ENTRIES);
		if ((st = header_read(in, i, &e, &is_end)) != ST_OK)
			return st;
		if (is_end)
			break;
		if (i == 0) {
			memset(mark, 0, sizeof(mark));
			if (strcmp(e.name, BACKUP_MARK_NAME) != 0 ||
			    e.size != strlen(BACKUP_MARK_TEXT) ||
			    (st = body_copy(in, &e, -1, mark,
			         sizeof(mark) - 1)) != ST_OK ||
			    strcmp(mark, BACKUP_MARK_TEXT) != 0)
				return st != ST_OK ? st
				                   : status_fail(ST_MALFORMED,
				                         "not a tessera backup "
				                         "(format 1): the "
				                         "first entry is not "
				                         "%s",
				                         BACKUP_MARK_NAME);
			continue;
		}
		if (dir == NULL) {
			if ((st = body_copy(in, &e, -1, NULL, 0)) != ST_OK)
				return st;
			*file_count += e.type == '0';
			continue;
		}
		if ((path = file_join(dir, e.name)) == NULL)
			return ST_NOMEM;
		if (e.type == '5') {
			path[strlen(path) - 1] = '\0';
			if (mkdir(path, e.mode) == -1)
				st = status_fail(ST_INTERNAL,
				    "restore: mkdir %s: %s", path,
				    strerror(errno));
		} else {
			fd = open(path,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			        O_CLOEXEC,
			    e.mode);
			if (fd == -1)
				st = status_fail(ST_INTERNAL,
				    "restore: create %s: %s", path,
				    strerror(errno));
			else if ((st = body_copy(in, &e, fd, NULL, 0)) ==
			        ST_OK &&
			    (fchmod(fd, e.mode) == -1 || fsync(fd) == -1))
				st = status_fail(ST_INTERNAL, "restore: %s: %s",
				    path, strerror(errno));
			if (fd != -1)
				close(fd);
			fd = -1;
			*file_count += 1;
		}
		free(path);
		path = NULL;
		if (st != ST_OK)
			return st;
	}
	if (i <= 1)
		return status_fail(ST_MALFORMED,
		    "not a tessera backup: no %s entry", BACKUP_MARK_NAME);
	return ST_OK;
}

enum status
ca_backup_check(FILE *in)
{
	size_t count;

	return archive_read(in, NULL, &count);
}

/* data_dir must not exist, or be an empty directory. */
static enum status
dir_is_free(const char *data_dir)
{
	struct dirent *de;
	DIR *d;
	int has_entries = 0;

	if ((d = opendir(data_dir)) == NULL) {
		if (errno == ENOENT)
			return ST_OK;
		return status_fail(
		    ST_CONFLICT, "restore: %s: %s", data_dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			has_entries = 1;
	closedir(d);
	if (has_entries)
		return status_fail(ST_CONFLICT,
		    "%s exists and is not empty; restore makes a new data "
		    "directory, it never overwrites one",
		    data_dir);
	return ST_OK;
}

enum status
ca_backup_restore(
    const char *path, const char *data_dir, struct ca_backup_report *report)
{
	struct ca_config *cfg = NULL;
	char *db = NULL, *hsm = NULL;
	enum status st;
	FILE *in = NULL;
	size_t count;

	memset(report, 0, sizeof(*report));
	if ((st = dir_is_free(data_dir)) != ST_OK)
		return st;
	if ((in = fopen(path, "rbe")) == NULL)
		return status_fail(
		    ST_NOTFOUND, "restore: open %s: %s", path, strerror(errno));
	/* All of it first: a bad archive leaves nothing behind. */
	if ((st = archive_read(in, NULL, &count)) != ST_OK)
		goto out;
	if (fseek(in, 0, SEEK_SET) != 0) {
		st = status_fail(ST_INTERNAL, "restore: rewind %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((st = file_mkdir(data_dir, 0700)) != ST_OK ||
	    (st = archive_read(in, data_dir, &report->file_count)) != ST_OK)
		goto fail;
	if ((st = ca_config_load(data_dir, &cfg)) != ST_OK)
		goto fail;
	if ((db = ca_config_path(cfg, cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto fail;
	}
	if ((st = store_check(db)) != ST_OK)
		goto fail;
	if (cfg->softhsm_conf != NULL) {
		if ((hsm = file_join(data_dir, "hsm")) == NULL) {
			st = ST_NOMEM;
			goto fail;
		}
		if ((st = file_mkdir(hsm, 0700)) != ST_OK ||
		    (st = ca_setup_softhsm_conf(data_dir)) != ST_OK)
			goto fail;
	}
	note_token(cfg, 1, report->note);
	goto out;
fail : {
	char detail[512];

	snprintf(detail, sizeof(detail), "%s", status_detail());
	status_fail(st, "%s; %s is incomplete: remove it before trying again",
	    detail[0] ? detail : status_name(st), data_dir);
}
out:
	free(hsm);
	free(db);
	ca_config_free(cfg);
	fclose(in);
	return st;
}
