#include "common/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A sanitizer build: its leak checker reads its suppressions at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

struct sandbox {
	int fd; /* the ruleset */
	int abi;
	uint64_t handled; /* every right this kernel and header know */
};

/* Rights of ABI 1 that apply to files; the rest apply to directories. */
#define FILE_RIGHTS                                                            \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |          \
	    LANDLOCK_ACCESS_FS_READ_FILE)
#define ABI1_RIGHTS                                                            \
	(FILE_RIGHTS | LANDLOCK_ACCESS_FS_READ_DIR |                           \
	    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |   \
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |       \
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |       \
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |     \
	    LANDLOCK_ACCESS_FS_MAKE_SYM)

#define READ_RIGHTS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define WRITE_RIGHTS                                                           \
	(READ_RIGHTS | LANDLOCK_ACCESS_FS_WRITE_FILE |                         \
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REMOVE_FILE)

enum status
sandbox_new(struct sandbox **out)
{
	struct landlock_ruleset_attr attr;
	struct sandbox *sb;
	long abi;

	*out = NULL;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return status_fail(ST_UNAVAILABLE,
		    "the kernel has no Landlock (%s)",
		    errno == ENOSYS ? "not built in"
		        : errno == EOPNOTSUPP
		        ? "disabled: add landlock to the lsm= boot parameter"
		        : strerror(errno));
	if ((sb = calloc(1, sizeof(*sb))) == NULL)
		return ST_NOMEM;
	sb->abi = (int)abi;
	sb->handled = ABI1_RIGHTS;
#ifdef LANDLOCK_ACCESS_FS_REFER
	/* Without it, ABI 2 and later forbid every cross-directory rename. */
	if (abi >= 2)
		sb->handled |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3)
		sb->handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = sb->handled;
	sb->fd =
	    (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (sb->fd < 0) {
		free(sb);
		return status_fail(ST_UNAVAILABLE,
		    "cannot make a Landlock ruleset: %s", strerror(errno));
	}
	*out = sb;
	return ST_OK;
}

enum status
sandbox_allow(struct sandbox *sb, const char *path, enum sandbox_use use)
{
	struct landlock_path_beneath_attr rule;
	struct stat st;
	uint64_t rights = use == SANDBOX_WRITE ? WRITE_RIGHTS : READ_RIGHTS;
	int fd, rc;

#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (use == SANDBOX_WRITE)
		rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return ST_OK;
		return status_fail(
		    ST_INTERNAL, "sandbox: %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return status_fail(
		    ST_INTERNAL, "sandbox: %s: %s", path, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		rights &= FILE_RIGHTS
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
		    | LANDLOCK_ACCESS_FS_TRUNCATE
#endif
		    ;
	memset(&rule, 0, sizeof(rule));
	rule.allowed_access = rights & sb->handled;
	rule.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, sb->fd,
	    LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	close(fd);
	if (rc != 0)
		return status_fail(ST_INTERNAL, "sandbox: rule for %s: %s",
		    path, strerror(errno));
	return ST_OK;
}

/*
 * In a sanitizer build only: the suppressions files that LSAN_OPTIONS and
 * ASAN_OPTIONS name ("suppressions=PATH"), which the leak checker reads
 * when the process exits, long after it was confined.
 */
static enum status
allow_sanitizer_files(struct sandbox *sb)
{
#ifdef SANDBOX_SANITIZED
	static const char *const vars[] = {"LSAN_OPTIONS", "ASAN_OPTIONS"};
	const char *opts, *p;
	char path[4096];
	enum status st;
	size_t i, n;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((opts = getenv(vars[i])) == NULL)
			continue;
		for (p = opts; (p = strstr(p, "suppressions=")) != NULL;) {
			p += strlen("suppressions=");
			n = strcspn(p, ": ");
			if (n == 0 || n >= sizeof(path))
				continue;
			memcpy(path, p, n);
			path[n] = '\0';
			if ((st = sandbox_allow(sb, path, SANDBOX_READ)) !=
			    ST_OK)
				return st;
		}
	}
#else
	(void)sb;
#endif
	return ST_OK;
}

enum status
sandbox_allow_system(struct sandbox *sb)
{
	/* What the C library, OpenSSL, GnuTLS, libpq and the sanitizers read
	 * at run time. Never /etc or /run whole (an HSM's PIN file or a
	 * systemd credential may be there), never /dev whole (raw disks). */
	static const char *const read_only[] = {"/usr", "/lib", "/lib64",
	    "/lib32", "/bin", "/sbin", "/proc", "/sys", "/etc/ssl",
	    "/etc/gnutls", "/etc/pki", "/etc/crypto-policies", "/etc/localtime",
	    "/etc/timezone", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf",
	    "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/services",
	    "/etc/protocols", "/etc/passwd", "/etc/group", "/etc/ld.so.cache",
	    "/etc/postgresql-common", "/run/systemd/resolve", "/dev/urandom",
	    "/dev/random", "/dev/zero"};
	static const char *const writable[] = {
	    "/dev/null", "/var/tmp", "/usr/tmp"};
	enum status st;
	size_t i;

	for (i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
		if ((st = sandbox_allow(sb, read_only[i], SANDBOX_READ)) !=
		    ST_OK)
			return st;
	for (i = 0; i < sizeof(writable) / sizeof(writable[0]); i++)
		if ((st = sandbox_allow(sb, writable[i], SANDBOX_WRITE)) !=
		    ST_OK)
			return st;
	return allow_sanitizer_files(sb);
}

enum status
sandbox_enter(const struct sandbox *sb)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return status_fail(
		    ST_INTERNAL, "sandbox: no_new_privs: %s", strerror(errno));
	if (syscall(SYS_landlock_restrict_self, sb->fd, 0) != 0)
		return status_fail(
		    ST_INTERNAL, "sandbox: cannot enter: %s", strerror(errno));
	return ST_OK;
}

int
sandbox_abi(const struct sandbox *sb)
{
	return sb->abi;
}

void
sandbox_free(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	close(sb->fd);
	free(sb);
}
