/*
 * tessera admin's bulk work: secrets import (a CSV of devices in, a 0600
 * file of secrets out, resumable) and revoke --from (a list of serials or
 * device ids). Every row is checked before the first call; a progress line
 * (rate, ETA) is drawn when standard error is a terminal.
 *
 * Resuming an import: the output file is the journal. A row in it is done
 * and skipped. A secret minted but never written (killed between the
 * answer and the write) cannot be recovered, since the server keeps only
 * its hash, so before minting for a device the import cancels every
 * outstanding secret of that device (found in one paged listing of the
 * outstanding secrets), then mints: each device of the CSV ends with
 * exactly one valid secret, the one in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/admin.h"
#include "cli/admin_rows.h"
#include "common/file.h"
#include "common/limits.h"

#define IMPORT_HEADER "device,profile,secret,expires\n"
#define IMPORT_SYNC_EVERY 256
#define IMPORT_PAGE "1000"
/* Connections minting side by side (the server groups their commits). */
#define IMPORT_PARALLEL_DEFAULT 4
#define IMPORT_PARALLEL_MAX 16

struct progress {
	int is_tty;
	size_t total, done;
	struct timespec start, last;
	const char *what;
};

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void
progress_start(struct progress *p, size_t total, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->is_tty = isatty(STDERR_FILENO);
	p->total = total;
	p->what = what;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

/* Redraw at most five times a second, and always when is_last. */
static void
progress_step(struct progress *p, int is_last)
{
	struct timespec now;
	double secs, rate, eta;

	if (!p->is_tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!is_last && elapsed(&p->last, &now) < 0.2)
		return;
	p->last = now;
	secs = elapsed(&p->start, &now);
	rate = secs > 0 ? (double)p->done / secs : 0;
	eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
	fprintf(stderr, "\r%zu/%zu %s  %.1f/s  ETA %02d:%02d:%02d  ", p->done,
	    p->total, p->what, rate, (int)(eta / 3600), (int)(eta / 60) % 60,
	    (int)eta % 60);
	if (is_last)
		fputc('\n', stderr);
}

static int
write_all(int fd, const void *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Open the output for an import: a new file (O_EXCL, 0600, the header
 * written) or, when it exists, the journal of an earlier run: it must be
 * a 0600 regular file of ours with the header; its rows mark their
 * devices done, and a torn last row is cut off. *resumed counts them.
 */
static int
journal_open(const char *out, const char *csv, struct admin_rows *r,
    int *fd_out, size_t *resumed)
{
	uint8_t *text = NULL;
	size_t len = 0, lineno = 1, keep;
	char *p, *line, *comma;
	struct admin_row *hit;
	struct stat sb;
	int fd, rc = ADMIN_EXIT_LOCAL;

	*fd_out = -1;
	*resumed = 0;
	fd =
	    open(out, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fchmod(fd, 0600) != 0 ||
		    write_all(fd, IMPORT_HEADER, strlen(IMPORT_HEADER)) != 0 ||
		    fsync(fd) != 0) {
			fprintf(stderr, "tessera admin: %s: %s\n", out,
			    strerror(errno));
			close(fd);
			return rc;
		}
		*fd_out = fd;
		return ADMIN_EXIT_OK;
	}
	if (errno != EEXIST ||
	    (fd = open(out, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		fprintf(
		    stderr, "tessera admin: %s: %s\n", out, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 07777) != 0600) {
		fprintf(stderr,
		    "tessera admin: %s exists and is not a 0600 regular file "
		    "of this user; it cannot be the journal of an import\n",
		    out);
		goto out;
	}
	if (file_read(out, LIMIT_ADMIN_LIST, &text, &len) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		goto out;
	}
	if (len < strlen(IMPORT_HEADER) ||
	    memcmp(text, IMPORT_HEADER, strlen(IMPORT_HEADER)) != 0) {
		fprintf(stderr,
		    "tessera admin: %s exists and does not start with the "
		    "header %.*s; not an import's output\n",
		    out, (int)strlen(IMPORT_HEADER) - 1, IMPORT_HEADER);
		goto out;
	}
	/* Complete rows only: a row without its newline was torn. */
	keep = len;
	while (keep > 0 && text[keep - 1] != '\n')
		keep--;
	text[keep] = '\0';
	p = (char *)text + strlen(IMPORT_HEADER);
	while ((line = admin_line_next(&p)) != NULL) {
		lineno++;
		if ((comma = strchr(line, ',')) == NULL) {
			fprintf(stderr, "tessera admin: %s:%zu: not a row\n",
			    out, lineno);
			goto out;
		}
		*comma = '\0';
		if ((hit = admin_rows_find(r, line)) == NULL || hit->is_done) {
			fprintf(stderr,
			    "tessera admin: %s:%zu: device %.64s is %s %s; "
			    "is this the output of another import?\n",
			    out, lineno, line, hit ? "twice in" : "not in",
			    hit ? out : csv);
			goto out;
		}
		hit->is_done = 1;
		(*resumed)++;
	}
	if (keep < len && ftruncate(fd, (off_t)keep) != 0) {
		fprintf(
		    stderr, "tessera admin: %s: %s\n", out, strerror(errno));
		goto out;
	}
	*fd_out = fd;
	fd = -1;
	rc = ADMIN_EXIT_OK;
out:
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Mark the rows whose device has an outstanding secret (paged list). */
static int
outstanding_mark(struct admin *ad, struct admin_rows *r, size_t *count)
{
	char path[128];
	long long cursor = 0;
	json_t *o = NULL, *v, *next;
	struct admin_row *hit;
	size_t i;
	int rc;

	*count = 0;
	for (;;) {
		snprintf(path, sizeof(path),
		    "/api/v1/enrollment-secrets?limit=" IMPORT_PAGE
		    "&cursor=%lld",
		    cursor);
		if ((rc = admin_call(ad, "GET", path, NULL, &o, NULL)) !=
		    ADMIN_EXIT_OK)
			return rc;
		json_array_foreach(json_object_get(o, "secrets"), i, v)
		{
			hit = admin_rows_find(r,
			    json_string_value(json_object_get(v, "device"))
			        ?: "");
			if (hit != NULL && !hit->is_done &&
			    !hit->has_outstanding) {
				hit->has_outstanding = 1;
				(*count)++;
			}
		}
		next = json_object_get(o, "next_cursor");
		cursor = json_is_integer(next) ? json_integer_value(next) : 0;
		json_decref(o);
		if (cursor == 0)
			return ADMIN_EXIT_OK;
	}
}

/*
 * One import, shared by its workers: each takes the next row not done,
 * mints over its own connection and appends the row under the lock. The
 * first failure stops them all; the journal holds what was written.
 */
struct import_job {
	pthread_mutex_t mu;
	struct admin_rows *r;
	const struct https_options *opts;
	int is_json;
	size_t next; /* the next row to look at */
	int fd, is_stdout;
	size_t minted, cancelled;
	int rc; /* the first failure */
	const struct admin_row *failed;
	struct progress pg;
};

/* Append one row to the output (a whole line, under the lock). */
static int
import_write(struct import_job *job, const struct buf *line)
{
	int rc;

	pthread_mutex_lock(&job->mu);
	rc = write_all(job->fd, line->data, line->len);
	pthread_mutex_unlock(&job->mu);
	return rc;
}

/* Cancel the device's outstanding secrets, then mint and write one. */
static int
import_row(struct admin *ad, const struct admin_row *w, struct import_job *job,
    size_t *cancelled)
{
	char *body = NULL, *cbody = NULL;
	const char *secret;
	json_t *o = NULL;
	struct buf line;
	int rc;

	buf_init(&line, 4096);
	if (w->has_outstanding) {
		o = json_pack("{s:s}", "device", w->device);
		cbody = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		o = NULL;
		if (cbody == NULL) {
			rc = ADMIN_EXIT_LOCAL;
			goto out;
		}
		if ((rc = admin_call(ad, "POST",
		         "/api/v1/enrollment-secrets/cancel", cbody, &o,
		         NULL)) != ADMIN_EXIT_OK)
			goto out;
		*cancelled +=
		    (size_t)json_integer_value(json_object_get(o, "cancelled"));
		json_decref(o);
		o = NULL;
	}
	if (admin_secret_body(w->device, w->profile, w->ttl, &body) != ST_OK) {
		rc = ADMIN_EXIT_LOCAL;
		goto out;
	}
	if ((rc = admin_call(ad, "POST", "/api/v1/enrollment-secrets", body, &o,
	         NULL)) != ADMIN_EXIT_OK)
		goto out;
	secret = json_string_value(json_object_get(o, "secret"));
	if (secret == NULL ||
	    strcmp(json_string_value(json_object_get(o, "device")) ?: "",
	        w->device) != 0) {
		fprintf(stderr,
		    "tessera admin: the answer for %s has no "
		    "secret\n",
		    w->device);
		rc = ADMIN_EXIT_CONNECT;
		goto out;
	}
	if (buf_printf(&line, "%s,%s,%s,%s\n", w->device,
	        json_string_value(json_object_get(o, "profile")) ?: "", secret,
	        json_string_value(json_object_get(o, "expires")) ?: "") !=
	        ST_OK ||
	    import_write(job, &line) != 0) {
		fprintf(stderr, "tessera admin: writing the secret of %s: %s\n",
		    w->device, strerror(errno));
		rc = ADMIN_EXIT_LOCAL;
		goto out;
	}
	rc = ADMIN_EXIT_OK;
out:
	admin_json_wipe(o, "secret");
	json_decref(o);
	buf_free(&line);
	free(body);
	free(cbody);
	return rc;
}

static void *
import_worker(void *arg)
{
	struct import_job *job = arg;
	struct admin ad;
	size_t cancelled, i;
	int rc = ADMIN_EXIT_OK;

	memset(&ad, 0, sizeof(ad));
	ad.is_json = job->is_json;
	if (https_client_new(job->opts, &ad.https) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		rc = ADMIN_EXIT_CONNECT;
	}
	for (;;) {
		pthread_mutex_lock(&job->mu);
		if (rc != ADMIN_EXIT_OK && job->rc == ADMIN_EXIT_OK)
			job->rc = rc;
		while (
		    job->next < job->r->count && job->r->v[job->next].is_done)
			job->next++;
		if (job->rc != ADMIN_EXIT_OK || job->next == job->r->count) {
			pthread_mutex_unlock(&job->mu);
			break;
		}
		i = job->next++;
		pthread_mutex_unlock(&job->mu);
		cancelled = 0;
		rc = import_row(&ad, &job->r->v[i], job, &cancelled);
		pthread_mutex_lock(&job->mu);
		job->cancelled += cancelled;
		if (rc != ADMIN_EXIT_OK) {
			if (job->rc == ADMIN_EXIT_OK) {
				job->rc = rc;
				job->failed = &job->r->v[i];
			}
		} else {
			job->minted++;
			job->pg.done++;
			if (!job->is_stdout &&
			    job->minted % IMPORT_SYNC_EVERY == 0)
				fdatasync(job->fd);
			progress_step(&job->pg, 0);
		}
		pthread_mutex_unlock(&job->mu);
	}
	https_client_free(ad.https);
	return NULL;
}

int
admin_secrets_import(struct admin *ad, const struct admin_args *a)
{
	const char *out = admin_opt(a, "--out"), *csv;
	const char *par = admin_opt(a, "--parallel");
	struct admin_rows r;
	struct import_job job;
	pthread_t tids[IMPORT_PARALLEL_MAX];
	uint8_t *text = NULL;
	size_t len, i, started, resumed = 0, doubt = 0, cancelled = 0;
	size_t minted = 0;
	int fd = -1, rc = ADMIN_EXIT_LOCAL, bad, is_stdout;
	long parallel = IMPORT_PARALLEL_DEFAULT;
	char *end;

	memset(&r, 0, sizeof(r));
	memset(&job, 0, sizeof(job));
	if (a->pos_count != 3 || out == NULL)
		return admin_usage_error(
		    "secrets import takes FILE.csv and --out FILE");
	if (par != NULL &&
	    ((parallel = strtol(par, &end, 10)) < 1 ||
	        parallel > IMPORT_PARALLEL_MAX || *end != '\0' || end == par))
		return admin_usage_error("--parallel %s: 1..%d connections",
		    par, IMPORT_PARALLEL_MAX);
	if (pthread_mutex_init(&job.mu, NULL) != 0)
		return ADMIN_EXIT_LOCAL;
	csv = a->pos[2];
	if (file_read(csv, LIMIT_ADMIN_LIST, &text, &len) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		return ADMIN_EXIT_LOCAL;
	}
	if (memchr(text, '\0', len) != NULL) {
		fprintf(stderr, "tessera admin: %s: holds a NUL byte\n", csv);
		goto out;
	}
	if ((bad = admin_csv_parse(csv, (char *)text, stderr, &r)) != 0) {
		if (bad > 0)
			fprintf(stderr,
			    "tessera admin: %d bad row%s in %s; nothing "
			    "minted\n",
			    bad, bad == 1 ? "" : "s", csv);
		goto out;
	}
	is_stdout = strcmp(out, "-") == 0;
	if (is_stdout) {
		fd = STDOUT_FILENO;
		if (write_all(fd, IMPORT_HEADER, strlen(IMPORT_HEADER)) != 0)
			goto out;
	} else if ((rc = journal_open(out, csv, &r, &fd, &resumed)) !=
	    ADMIN_EXIT_OK) {
		goto out;
	}
	if ((rc = outstanding_mark(ad, &r, &doubt)) != ADMIN_EXIT_OK)
		goto out;
	/* Workers mint side by side: the server commits them in groups. */
	job.r = &r;
	job.opts = ad->opts;
	job.is_json = ad->is_json;
	job.fd = fd;
	job.is_stdout = is_stdout;
	progress_start(&job.pg, r.count, "devices");
	job.pg.done = resumed;
	for (i = 1; i < (size_t)parallel; i++)
		if (pthread_create(&tids[i], NULL, import_worker, &job) != 0)
			break;
	started = i;
	import_worker(&job);
	for (i = 1; i < started; i++)
		pthread_join(tids[i], NULL);
	minted = job.minted;
	cancelled = job.cancelled;
	if ((rc = job.rc) != ADMIN_EXIT_OK) {
		progress_step(&job.pg, 1);
		if (job.failed != NULL)
			fprintf(stderr,
			    "tessera admin: stopped at %s:%zu (device %s); "
			    "%zu of %zu done; the same command resumes\n",
			    csv, job.failed->line, job.failed->device,
			    job.pg.done, r.count);
		goto out;
	}
	progress_step(&job.pg, 1);
	if (!is_stdout && fsync(fd) != 0) {
		fprintf(
		    stderr, "tessera admin: %s: %s\n", out, strerror(errno));
		rc = ADMIN_EXIT_LOCAL;
		goto out;
	}
	if (ad->is_json && !is_stdout)
		printf("{\"minted\":%zu,\"skipped\":%zu,\"cancelled\":%zu}\n",
		    minted, resumed, cancelled);
	else
		fprintf(stderr,
		    "%zu secret%s minted, %zu already in %s, %zu outstanding "
		    "secret%s cancelled first\n",
		    minted, minted == 1 ? "" : "s", resumed, out, cancelled,
		    cancelled == 1 ? "" : "s");
	rc = ADMIN_EXIT_OK;
out:
	if (fd > STDERR_FILENO)
		close(fd);
	pthread_mutex_destroy(&job.mu);
	admin_rows_free(&r);
	free(text);
	return rc;
}

int
admin_bulk_revoke(struct admin *ad, const struct admin_args *a)
{
	const char *file = admin_opt(a, "--from");
	int is_devices = admin_opt(a, "--devices") != NULL;
	struct progress pg;
	struct admin_rows r;
	uint8_t *text = NULL;
	char *body = NULL;
	size_t len, i, revoked = 0, already = 0;
	int bad, rc = ADMIN_EXIT_LOCAL;

	memset(&r, 0, sizeof(r));
	if (a->pos_count != 1 || admin_opt(a, "--device") != NULL)
		return admin_usage_error(
		    "revoke --from FILE takes no other serial or device");
	if (file_read(file, LIMIT_ADMIN_LIST, &text, &len) != ST_OK) {
		fprintf(stderr, "tessera admin: %s\n", status_detail());
		return ADMIN_EXIT_LOCAL;
	}
	if ((bad = admin_list_parse(
	         file, (char *)text, is_devices, stderr, &r)) < 0)
		goto out;
	if (bad > 0) {
		fprintf(stderr,
		    "tessera admin: %d bad line%s in %s; nothing revoked\n",
		    bad, bad == 1 ? "" : "s", file);
		goto out;
	}
	if ((body = admin_reason_body(admin_opt(a, "--reason"))) == NULL)
		goto out;
	progress_start(&pg, r.count, is_devices ? "devices" : "certificates");
	for (i = 0; i < r.count; i++) {
		struct buf path;
		json_t *o = NULL;

		buf_init(&path, 1024);
		if (buf_printf(&path, "/api/v1/%s/",
		        is_devices ? "devices" : "certificates") != ST_OK ||
		    admin_escape(&path, r.v[i].device) != ST_OK ||
		    buf_printf(&path, "/revoke") != ST_OK ||
		    buf_terminate(&path) != ST_OK) {
			buf_free(&path);
			goto out;
		}
		/* Already revoked (409) is done: rerunning resumes. */
		ad->is_quiet_conflict = 1;
		rc = admin_call(
		    ad, "POST", (const char *)path.data, body, &o, NULL);
		ad->is_quiet_conflict = 0;
		buf_free(&path);
		json_decref(o);
		if (rc == ADMIN_EXIT_REFUSED && ad->last_code == 409) {
			already++;
		} else if (rc != ADMIN_EXIT_OK) {
			progress_step(&pg, 1);
			fprintf(stderr,
			    "tessera admin: stopped at %s:%zu (%s); %zu of "
			    "%zu done; the same command resumes\n",
			    file, r.v[i].line, r.v[i].device, pg.done, r.count);
			goto out;
		} else {
			revoked++;
		}
		pg.done++;
		progress_step(&pg, 0);
	}
	progress_step(&pg, 1);
	if (ad->is_json)
		printf("{\"revoked\":%zu,\"already\":%zu}\n", revoked, already);
	else
		printf("%zu revoked, %zu already revoked\n", revoked, already);
	rc = ADMIN_EXIT_OK;
out:
	free(body);
	admin_rows_free(&r);
	free(text);
	return rc;
}
