/*
 * status: the data directory's files, read only. Whether a serve runs is
 * asked of the kernel (does the pid in DIR/serve.lock hold a flock on
 * it?), never by taking the lock, which a serve starting at that moment
 * would then find taken.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/crl.h"
#include "ca/issue.h"
#include "ca/status.h"
#include "common/file.h"

/* A CRL file: LIMIT_CRL_SHARDS shards of CA_CRL_MAX_ENTRIES is a lot. */
#define STATUS_CRL_MAX ((size_t)1 << 30)
#define STATUS_PEM_MAX (64 * 1024)

/*
 * The pid in DIR/serve.lock, when that process holds a FLOCK on the file
 * (its /proc/PID/fdinfo says so for an open descriptor of the file); 0
 * when none does. A stale file (its serve was killed) names a pid that
 * holds nothing, or none at all.
 */
static pid_t
lock_holder(const char *lock)
{
	char real[PATH_MAX], link[PATH_MAX], dir[64], at[PATH_MAX];
	char info[8192];
	uint8_t *text = NULL;
	int fd;
	struct dirent *de;
	size_t len;
	ssize_t n;
	char *end;
	long pid;
	pid_t holder = 0;
	DIR *d = NULL;

	if (realpath(lock, real) == NULL ||
	    file_read(lock, 32, &text, &len) != ST_OK || len == 0)
		goto out;
	text[len - 1] = text[len - 1] == '\n' ? '\0' : text[len - 1];
	errno = 0;
	pid = strtol((const char *)text, &end, 10);
	if (errno != 0 || end == (const char *)text ||
	    (*end != '\0' && *end != '\n') || pid <= 0)
		goto out;
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	if ((d = opendir(dir)) == NULL)
		goto out;
	while (holder == 0 && (de = readdir(d)) != NULL) {
		snprintf(at, sizeof(at), "%s/%s", dir, de->d_name);
		n = readlink(at, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, real) != 0)
			continue;
		snprintf(
		    at, sizeof(at), "/proc/%ld/fdinfo/%s", pid, de->d_name);
		/* /proc files have no size: read what fits. */
		if ((fd = open(at, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, info, sizeof(info));
		close(fd);
		if (n > 0 && memmem(info, (size_t)n, "FLOCK", 5) != NULL)
			holder = (pid_t)pid;
	}
out:
	if (d != NULL)
		closedir(d);
	free(text);
	return holder;
}

static enum status
cert_read(const struct ca_config *cfg, const char *rel, const char *what,
    struct ca_status_cert *out)
{
	char *path = NULL, *name = NULL;
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	enum status st;

	memset(out, 0, sizeof(*out));
	if ((path = ca_config_path(cfg, rel)) == NULL)
		return ST_NOMEM;
	if ((st = file_read(path, STATUS_PEM_MAX, &pem, &len)) != ST_OK)
		goto out;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		st = status_fail_ssl(
		    ST_MALFORMED, "%s: not a PEM certificate", path);
		goto out;
	}
	snprintf(out->what, sizeof(out->what), "%s", what);
	name = ca_name_string(X509_get_subject_name(x));
	snprintf(out->subject, sizeof(out->subject), "%s", name ? name : "?");
	out->not_after = ca_time_unix(X509_get0_notAfter(x));
	st = ST_OK;
out:
	free(name);
	X509_free(x);
	BIO_free(bio);
	free(pem);
	free(path);
	return st;
}

/* "issuing.crl", "issuing-K.crl" or "root.crl": the names tessera writes. */
static int
crl_name_is_ours(const char *n)
{
	size_t len = strlen(n), digits;

	if (strcmp(n, "issuing.crl") == 0 || strcmp(n, "root.crl") == 0)
		return 1;
	if (strncmp(n, "issuing-", 8) != 0 || len < 13 ||
	    strcmp(n + len - 4, ".crl") != 0)
		return 0;
	digits = len - 12;
	return digits <= 2 && strspn(n + 8, "0123456789") == digits;
}

static int
crl_compare(const void *a, const void *b)
{
	return strcmp(((const struct ca_status_crl *)a)->name,
	    ((const struct ca_status_crl *)b)->name);
}

static enum status
crls_read(struct ca_status *s)
{
	struct ca_status_crl *c;
	struct ca_crl_info info;
	struct dirent *de;
	char *dir = NULL, *path = NULL;
	uint8_t *der = NULL;
	size_t len;
	DIR *d = NULL;
	enum status st = ST_OK;

	if ((dir = ca_config_path(s->cfg, "crl")) == NULL)
		return ST_NOMEM;
	if ((d = opendir(dir)) == NULL)
		goto out; /* none published yet */
	while ((de = readdir(d)) != NULL) {
		if (!crl_name_is_ours(de->d_name))
			continue;
		if (s->crl_count == CA_STATUS_CRLS)
			break;
		free(path);
		if ((path = file_join(dir, de->d_name)) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		free(der);
		der = NULL;
		if ((st = file_read(path, STATUS_CRL_MAX, &der, &len)) != ST_OK)
			goto out;
		if (ca_crl_describe(der, len, &info) != ST_OK) {
			st = status_fail(ST_MALFORMED,
			    "%s: not a DER CRL (RFC 5280 5.1)", path);
			goto out;
		}
		c = &s->crls[s->crl_count++];
		snprintf(c->name, sizeof(c->name), "%s", de->d_name);
		c->this_update = info.this_update;
		c->next_update = info.next_update;
		c->entries = info.entries;
		c->bytes = len;
	}
	qsort(s->crls, s->crl_count, sizeof(s->crls[0]), crl_compare);
out:
	if (d != NULL)
		closedir(d);
	free(der);
	free(path);
	free(dir);
	return st;
}

enum status
ca_status_read(const char *data_dir, struct ca_status **out)
{
	struct ca_status *s;
	char *lock = NULL;
	enum status st;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ST_NOMEM;
	if ((st = ca_config_load(data_dir, &s->cfg)) != ST_OK)
		goto out;
	if ((lock = file_join(s->cfg->data_dir, "serve.lock")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	s->serve_pid = lock_holder(lock);
	if ((st = cert_read(s->cfg, "ca/root.pem", "root", &s->ca[0])) !=
	        ST_OK ||
	    (st = cert_read(s->cfg, "ca/issuing.pem", "issuing", &s->ca[1])) !=
	        ST_OK)
		goto out;
	s->ca_count = 2;
	/* After a rollover, until it retires (then the file is renamed). */
	st = cert_read(s->cfg, "ca/retiring.pem", "retiring", &s->ca[2]);
	if (st == ST_OK)
		s->ca_count = 3;
	else if (st == ST_NOTFOUND)
		status_clear();
	else
		goto out;
	if ((st = crls_read(s)) != ST_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	free(lock);
	ca_status_free(s);
	return st;
}

void
ca_status_free(struct ca_status *s)
{
	if (s == NULL)
		return;
	ca_config_free(s->cfg);
	free(s);
}
