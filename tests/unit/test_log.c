/*
 * log: JSON escaping is exact (what json_loads reads back is the input,
 * invalid UTF-8 aside, which becomes U+FFFD), never cut inside an escape;
 * a JSON line and an access line parse as one object each with the
 * fields promised; the access log file is created with its mode, narrowed
 * when wider, never followed through a symbolic link.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/file.h"
#include "common/log.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

/* log_json_escape(in) read back by jansson equals want. */
static int
round_trip(const char *in, const char *want)
{
	char esc[1024], doc[1100];
	json_t *j;
	int ok;

	log_json_escape(in, esc, sizeof(esc));
	snprintf(doc, sizeof(doc), "\"%s\"", esc);
	if ((j = json_loads(doc, JSON_DECODE_ANY, NULL)) == NULL)
		return 0;
	ok = json_is_string(j) && strcmp(json_string_value(j), want) == 0;
	json_decref(j);
	return ok;
}

static void
test_escape(void)
{
	char out[16];

	CHECK(round_trip("plain text", "plain text"));
	CHECK(round_trip("a \"quote\" and a \\ backslash",
	    "a \"quote\" and a \\ backslash"));
	CHECK(round_trip("nl\ncr\rtab\tbell\x07 esc\x1b del\x7f",
	    "nl\ncr\rtab\tbell\x07 esc\x1b del\x7f"));
	/* UTF-8 of 2, 3 and 4 bytes passes as it is. */
	CHECK(round_trip("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
	    "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));
	/* Not UTF-8: a lone continuation, a cut sequence, an overlong
	 * form, a surrogate, past U+10FFFF, 0xff. */
	CHECK(round_trip("a\x80z", "a\xef\xbf\xbdz"));
	CHECK(round_trip("a\xe2\x82z", "a\xef\xbf\xbd\xef\xbf\xbdz"));
	CHECK(round_trip("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(
	    round_trip("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(round_trip("\xf4\x90\x80\x80",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(round_trip("\xff", "\xef\xbf\xbd"));
	/* Cut to fit, never inside an escape or a character. */
	CHECK(log_json_escape("abc\ndef", out, 6) == 5);
	CHECK(strcmp(out, "abc\\n") == 0);
	CHECK(log_json_escape("abc\ndef", out, 5) == 3);
	CHECK(strcmp(out, "abc") == 0);
	CHECK(log_json_escape("ab\x01", out, 8) == 2);
	CHECK(strcmp(out, "ab") == 0);
	CHECK(log_json_escape("\xe2\x82\xac", out, 3) == 0);
	CHECK(out[0] == '\0');
	CHECK(log_json_escape("x", out, 0) == 0);
}

static void
test_format(void)
{
	enum log_format f = LOG_FORMAT_TEXT;

	CHECK_ST(log_format_parse("json", &f), ST_OK);
	CHECK(f == LOG_FORMAT_JSON);
	CHECK_ST(log_format_parse("text", &f), ST_OK);
	CHECK(f == LOG_FORMAT_TEXT);
	CHECK_ST(log_format_parse("JSON", &f), ST_MALFORMED);
	CHECK_DETAIL("\"text\" or \"json\"");
	CHECK_ST(log_format_parse("", &f), ST_MALFORMED);
	CHECK_ST(log_format_parse(NULL, &f), ST_MALFORMED);
}

/* The lines written to a file, each parsed. */
static void
test_lines(const char *dir)
{
	struct log_access_entry e = {
	    "::1", "GET", "/crl/\"x\"\n.crl", 404, 17, 1500000, NULL};
	char *path = file_join(dir, "lines.log");
	uint8_t *data = NULL;
	size_t len = 0;
	json_t *j;
	char *nl, *line;
	int fd = -1, saved;

	if (path == NULL)
		return;
	CHECK_ST(log_access_open(path, 0600, &fd), ST_OK);
	if (fd < 0)
		goto out;
	/* A log line: stderr pointed at the file for the moment. */
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_set_format(LOG_FORMAT_JSON);
	log_warn("device \"%s\" said \\%c", "d\n1", 'x');
	log_set_format(LOG_FORMAT_TEXT);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_format(LOG_FORMAT_JSON);
	log_access_write(fd, &e);
	e.principal = "cert:dev-1";
	e.method = "POST";
	log_access_write(fd, &e);
	log_set_format(LOG_FORMAT_TEXT);
	log_access_write(fd, &e);
	log_access_close(fd);
	CHECK_ST(file_read(path, 1 << 16, &data, &len), ST_OK);
	if (data == NULL)
		goto out;
	data[len] = '\0';
	/* Line 1: the log line. */
	line = (char *)data;
	nl = strchr(line, '\n');
	CHECK(nl != NULL);
	if (nl == NULL)
		goto out;
	*nl = '\0';
	j = json_loads(line, 0, NULL);
	CHECK(j != NULL);
	CHECK(j != NULL &&
	    strcmp(json_string_value(json_object_get(j, "message")),
	        "device \"d\n1\" said \\x") == 0);
	CHECK(j != NULL &&
	    strcmp(json_string_value(json_object_get(j, "level")), "warn") ==
	        0);
	CHECK(j != NULL &&
	    json_integer_value(json_object_get(j, "worker")) == getpid());
	CHECK(j != NULL &&
	    strlen(json_string_value(json_object_get(j, "time"))) == 24);
	json_decref(j);
	/* Line 2: an access line without a principal. */
	line = nl + 1;
	nl = strchr(line, '\n');
	CHECK(nl != NULL);
	if (nl == NULL)
		goto out;
	*nl = '\0';
	j = json_loads(line, 0, NULL);
	CHECK(j != NULL);
	CHECK(j != NULL &&
	    strcmp(json_string_value(json_object_get(j, "path")),
	        "/crl/\"x\"\n.crl") == 0);
	CHECK(j != NULL &&
	    json_integer_value(json_object_get(j, "status")) == 404);
	CHECK(
	    j != NULL && json_integer_value(json_object_get(j, "bytes")) == 17);
	CHECK(j != NULL &&
	    json_real_value(json_object_get(j, "duration")) == 0.0015);
	CHECK(j != NULL && json_is_null(json_object_get(j, "principal")));
	CHECK(j != NULL &&
	    strcmp(json_string_value(json_object_get(j, "remote")), "::1") ==
	        0);
	json_decref(j);
	/* Line 3: with one. */
	line = nl + 1;
	nl = strchr(line, '\n');
	CHECK(nl != NULL);
	if (nl == NULL)
		goto out;
	*nl = '\0';
	j = json_loads(line, 0, NULL);
	CHECK(j != NULL &&
	    strcmp(json_string_value(json_object_get(j, "principal")),
	        "cert:dev-1") == 0);
	json_decref(j);
	/* Line 4, text: one line, the path quoted with its newline escaped. */
	line = nl + 1;
	CHECK(strstr(line,
	          " access: ::1 POST \"/crl/\\x22x\\x22\\x0a.crl\" 404 17 "
	          "0.001500 cert:dev-1\n") != NULL);
	CHECK(strchr(line, '\n') == line + strlen(line) - 1);
out:
	free(data);
	free(path);
}

static void
test_open(const char *dir)
{
	char *path = file_join(dir, "access.log");
	char *link = file_join(dir, "link.log");
	struct stat sb;
	int fd = -1;

	if (path == NULL || link == NULL)
		goto out;
	CHECK_ST(log_access_open(path, 0640, &fd), ST_OK);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
	log_access_close(fd);
	/* Made wider by hand: narrowed again. */
	CHECK(chmod(path, 0666) == 0);
	CHECK_ST(log_access_open(path, 0600, &fd), ST_OK);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	log_access_close(fd);
	CHECK_ST(log_access_open(path, 0644, &fd), ST_MALFORMED);
	CHECK(fd == -1);
	CHECK(symlink(path, link) == 0);
	CHECK_ST(log_access_open(link, 0600, &fd), ST_UNAVAILABLE);
	CHECK(fd == -1);
	CHECK_ST(log_access_open(dir, 0600, &fd), ST_UNAVAILABLE);
	CHECK_ST(log_access_open("stderr", 0600, &fd), ST_OK);
	CHECK(fd == STDERR_FILENO);
	log_access_close(fd);
	CHECK(fcntl(STDERR_FILENO, F_GETFD) != -1);
out:
	free(path);
	free(link);
}

int
main(void)
{
	char *dir = testutil_tmpdir();

	if (dir == NULL) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	test_escape();
	test_format();
	test_lines(dir);
	test_open(dir);
	testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
