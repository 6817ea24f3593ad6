/*
 * admin_rows: the input files of tessera admin's bulk commands, parsed and
 * checked before any call is made: the CSV of secrets import and the list
 * of revoke --from. Every bad line is reported (FILE:LINE: reason) to
 * report; entries point into the text, which must outlive the rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/deviceid.h"
#include "cli/admin_rows.h"
#include "common/limits.h"

static int
row_cmp(const void *a, const void *b)
{
	return strcmp((*(struct admin_row *const *)a)->device,
	    (*(struct admin_row *const *)b)->device);
}

struct admin_row *
admin_rows_find(const struct admin_rows *r, const char *device)
{
	struct admin_row key, *k = &key, **hit;

	key.device = (char *)device;
	hit = bsearch(&k, r->sorted, r->count, sizeof(*r->sorted), row_cmp);
	return hit ? *hit : NULL;
}

void
admin_rows_free(struct admin_rows *r)
{
	free(r->v);
	free(r->sorted);
	memset(r, 0, sizeof(*r));
}

/* Next line of text (NUL-terminated in place, CR LF accepted). */
char *
admin_line_next(char **p)
{
	char *s = *p, *nl;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = NULL;
	}
	if (nl != NULL && nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return s;
}

static char *
trim(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int
is_profile_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int
is_ttl(const char *s)
{
	size_t n = strlen(s);

	return n == 0 ||
	    (n <= 10 && strspn(s, "0123456789") == n &&
	        strtoll(s, NULL, 10) > 0);
}

/* Sort for lookups and report every device given twice. */
static int
rows_index(struct admin_rows *r, const char *file, FILE *report)
{
	size_t i;
	int bad = 0;

	if ((r->sorted = calloc(r->count + 1, sizeof(*r->sorted))) == NULL)
		return -1;
	for (i = 0; i < r->count; i++)
		r->sorted[i] = &r->v[i];
	qsort(r->sorted, r->count, sizeof(*r->sorted), row_cmp);
	for (i = 1; i < r->count; i++)
		if (strcmp(r->sorted[i - 1]->device, r->sorted[i]->device) ==
		    0) {
			fprintf(report,
			    "%s:%zu: device %s is also on line %zu\n", file,
			    r->sorted[i]->line, r->sorted[i]->device,
			    r->sorted[i - 1]->line);
			bad++;
		}
	return bad;
}

/*
 * Parse the CSV (header "device,profile,ttl"; then one device a row) and
 * check every row; each bad row is reported with its line number. The
 * rows point into text.
 */
int
admin_csv_parse(
    const char *file, char *text, FILE *report, struct admin_rows *r)
{
	char *p = text, *line, *f[3], *q;
	size_t lineno = 0, cap = 0, n;
	struct admin_row *grown;
	int bad = 0, dup;

	memset(r, 0, sizeof(*r));
	while ((line = admin_line_next(&p)) != NULL) {
		lineno++;
		if (lineno == 1) {
			if (strcmp(trim(line), "device,profile,ttl") != 0) {
				fprintf(report,
				    "%s:1: the header must be "
				    "device,profile,ttl\n",
				    file);
				bad++;
			}
			continue;
		}
		if (trim(line)[0] == '\0')
			continue;
		for (n = 0, q = line; n < 3 && q != NULL; n++) {
			f[n] = q;
			if ((q = strchr(q, ',')) != NULL)
				*q++ = '\0';
		}
		if (n != 3 || q != NULL) {
			fprintf(report,
			    "%s:%zu: expected 3 fields (device,profile,ttl)\n",
			    file, lineno);
			bad++;
			continue;
		}
		f[0] = trim(f[0]);
		f[1] = trim(f[1]);
		f[2] = trim(f[2]);
		if (ca_device_id_check(f[0], NULL) != ST_OK) {
			fprintf(report, "%s:%zu: %s\n", file, lineno,
			    status_detail());
			bad++;
			continue;
		}
		if (f[1][0] != '\0' && !is_profile_name(f[1])) {
			fprintf(report,
			    "%s:%zu: profile \"%.64s\": a-z 0-9 _ -, at "
			    "most 64\n",
			    file, lineno, f[1]);
			bad++;
			continue;
		}
		if (!is_ttl(f[2])) {
			fprintf(report,
			    "%s:%zu: ttl \"%.32s\": a positive number of "
			    "seconds (or empty)\n",
			    file, lineno, f[2]);
			bad++;
			continue;
		}
		if (r->count == cap) {
			cap = cap ? cap * 2 : 256;
			if ((grown = realloc(r->v, cap * sizeof(*r->v))) ==
			    NULL)
				return -1;
			r->v = grown;
		}
		memset(&r->v[r->count], 0, sizeof(r->v[0]));
		r->v[r->count].line = lineno;
		r->v[r->count].device = f[0];
		r->v[r->count].profile = f[1];
		r->v[r->count].ttl = f[2];
		r->count++;
	}
	if (lineno == 0) {
		fprintf(report, "%s: empty (expected a header line)\n", file);
		bad++;
	}
	if ((dup = rows_index(r, file, report)) < 0)
		return -1;
	return bad + dup;
}

/* A serial as the API takes it: hex digits, at most LIMIT_SERIAL_INPUT. */
static int
is_serial(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= LIMIT_SERIAL_INPUT &&
	    strspn(s, "0123456789abcdefABCDEF") == n;
}

int
admin_list_parse(const char *file, char *text, int is_devices, FILE *report,
    struct admin_rows *r)
{
	char *p = text, *line, *entry;
	size_t lineno = 0, cap = 0;
	struct admin_row *grown;
	int bad = 0, dup;

	memset(r, 0, sizeof(*r));
	while ((line = admin_line_next(&p)) != NULL) {
		lineno++;
		entry = trim(line);
		if (entry[0] == '\0' || entry[0] == '#')
			continue;
		if (is_devices ? ca_device_id_check(entry, NULL) != ST_OK
		               : !is_serial(entry)) {
			fprintf(report, "%s:%zu: %s\n", file, lineno,
			    is_devices ? status_detail()
			               : "not a serial (hex digits)");
			bad++;
			continue;
		}
		if (r->count == cap) {
			cap = cap ? cap * 2 : 256;
			if ((grown = realloc(r->v, cap * sizeof(*r->v))) ==
			    NULL)
				return -1;
			r->v = grown;
		}
		memset(&r->v[r->count], 0, sizeof(r->v[0]));
		r->v[r->count].line = lineno;
		r->v[r->count].device = entry;
		r->count++;
	}
	if ((dup = rows_index(r, file, report)) < 0)
		return -1;
	return bad + dup;
}
