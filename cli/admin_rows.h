/*
 * admin_rows: the CSV of tessera admin secrets import and the list of
 * revoke --from, parsed and checked in full before any call is made.
 */
#ifndef TESSERA_CLI_ADMIN_ROWS_H
#define TESSERA_CLI_ADMIN_ROWS_H

#include <stddef.h>
#include <stdio.h>

/* One entry: its line, a device id (or a serial) and, for the CSV, the
 * profile and ttl ("" for the server's default). Strings point into the
 * parsed text. */
struct admin_row {
	size_t line;
	char *device;
	char *profile;
	char *ttl;
	int is_done;
	int has_outstanding;
};

struct admin_rows {
	struct admin_row *v;
	size_t count;
	struct admin_row **sorted; /* by device, for admin_rows_find */
};

/*
 * Parse the CSV in text (modified in place): the header
 * "device,profile,ttl", then one device a row; device ids canonical and
 * each once, profiles a-z 0-9 _ -, ttl positive seconds or empty. Every
 * bad row is reported to report as FILE:LINE: reason. Returns the number
 * of bad rows (0: *r is usable), -1 when out of memory. The caller frees
 * *r with admin_rows_free in every case.
 */
int admin_csv_parse(
    const char *file, char *text, FILE *report, struct admin_rows *r);

/*
 * Parse a revoke list: one serial (hex) or, is_devices, one device id a
 * line; blank lines and # comments skipped. Returns as admin_csv_parse.
 */
int admin_list_parse(const char *file, char *text, int is_devices, FILE *report,
    struct admin_rows *r);

/* The row of device, or NULL. */
struct admin_row *
admin_rows_find(const struct admin_rows *r, const char *device);

/* Free the arrays (not the text). NULL members are fine. */
void admin_rows_free(struct admin_rows *r);

/* The next line of *p, NUL-terminated in place (CR LF accepted); NULL at
 * the end. */
char *admin_line_next(char **p);

#endif
