#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/backup.h"
#include "cli/cli.h"

static void
backup_usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera backup [--data DIR] --to FILE\n\n"
	    "Writes DIR as one archive (POSIX tar, mode 0600; - is standard "
	    "output): the\nstore as a consistent snapshot taken while tessera "
	    "serve runs and writes,\ntessera.json, the policy, the CA "
	    "certificates, the CRLs, the TLS and admin\nmaterial and the "
	    "audit public key. Never the token or a PIN: it says on\nstandard "
	    "error how to back those up with the HSM's own means. Needs no "
	    "PIN.\n\n"
	    "  --data DIR  the data directory (default: $TESSERA_DATA, else "
	    "/var/lib/tessera)\n"
	    "  --to FILE   the archive to write (replaced atomically; not "
	    "inside DIR), or -\n"
	    "              for standard output\n");
}

static void
restore_usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera restore --from FILE [--data DIR]\n\n"
	    "Makes the new data directory DIR from an archive of tessera "
	    "backup. DIR must\nnot exist or be empty. The archive is checked "
	    "whole before anything is written,\nthe store after. The token "
	    "is not in the archive: put it back as the message\nsays (for the "
	    "embedded SoftHSMv2, into DIR/hsm/) before tessera serve.\n\n"
	    "  --from FILE  the archive tessera backup wrote\n"
	    "  --data DIR   the data directory to create (default: "
	    "$TESSERA_DATA, else\n"
	    "               /var/lib/tessera)\n");
}

/* Write the archive to a temporary file beside to, then rename it. */
static int
backup_to_file(const char *dir, const char *to, struct ca_backup_report *r)
{
	size_t len = strlen(to) + 16;
	char *tmp = malloc(len);
	enum status st;
	FILE *f = NULL;
	int fd = -1, rc = 1;

	if (tmp == NULL)
		return cli_fail("backup", ST_NOMEM);
	snprintf(tmp, len, "%s.XXXXXX", to);
	/* mkstemp makes it 0600 whatever the umask. */
	if ((fd = mkstemp(tmp)) == -1 || (f = fdopen(fd, "wb")) == NULL) {
		fprintf(stderr, "tessera backup: create %s: %s\n", tmp,
		    strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return 1;
	}
	if ((st = ca_backup_write(dir, f, r)) != ST_OK) {
		rc = cli_fail("backup", st);
		fclose(f);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	if (fsync(fileno(f)) == -1 || fclose(f) != 0 || rename(tmp, to) == -1) {
		fprintf(stderr, "tessera backup: write %s: %s\n", to,
		    strerror(errno));
		unlink(tmp);
		free(tmp);
		return 1;
	}
	free(tmp);
	return 0;
}

int
cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"to", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_backup_report r;
	const char *dir = NULL, *to = NULL;
	enum status st;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'h':
			backup_usage(stdout);
			return 0;
		default:
			backup_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || to == NULL) {
		fprintf(stderr, "tessera backup: --to FILE is required\n");
		backup_usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	if (strcmp(to, "-") != 0 &&
	    (st = ca_backup_target_check(dir, to)) != ST_OK)
		return cli_fail("backup", st);
	if (strcmp(to, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			fprintf(stderr,
			    "tessera backup: standard output is a "
			    "terminal; redirect it or give --to "
			    "FILE\n");
			return 2;
		}
		if ((st = ca_backup_write(dir, stdout, &r)) != ST_OK)
			return cli_fail("backup", st);
	} else if ((rc = backup_to_file(dir, to, &r)) != 0) {
		return rc;
	}
	fprintf(stderr, "tessera backup: wrote %s: %zu files, %llu bytes\n",
	    strcmp(to, "-") == 0 ? "standard output" : to, r.file_count,
	    (unsigned long long)r.byte_count);
	fprintf(stderr, "tessera backup: %s\n", r.note);
	return 0;
}

int
cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"from", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_backup_report r;
	const char *dir = NULL, *from = NULL;
	enum status st;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			restore_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || from == NULL) {
		fprintf(stderr, "tessera restore: --from FILE is required\n");
		restore_usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	if ((st = ca_backup_restore(from, dir, &r)) != ST_OK)
		return cli_fail("restore", st);
	printf("restored %s: %zu files\n", dir, r.file_count);
	fprintf(stderr, "tessera restore: %s\n", r.note);
	return 0;
}
