/*
 * pattern: regular expressions of the policy, with the cost guard that
 * keeps a hostile or careless policy from stalling a process in regcomp
 * or regexec.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/pattern.h"
#include "common/limits.h"

/*
 * Bounds above PATTERN_MAX_REPEAT and patterns whose expanded size
 * (estimated) is over PATTERN_MAX_COST are refused; 4096 compiles in about
 * 10 ms.
 */
#define PATTERN_MAX_REPEAT 255
#define PATTERN_MAX_COST 4096
#define PATTERN_MAX_DEPTH 32

struct pattern {
	regex_t re; /* POSIX extended, compiled with REG_NOSUB */
	char source[LIMIT_PATTERN_LEN + 1];
};

/*
 * Read "m}", "m,}", "m,n}" or glibc's ",n}" (0 to n) after a '{'; the
 * largest count, or -1 when regcomp reads the brace as a literal.
 */
static long
pattern_bound(const char **sp)
{
	const char *s = *sp;
	long m = 0, n = -1;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if ((m = m * 10 + (*s - '0')) > 100000)
			return -1;
	if (digits == 0 && *s != ',')
		return -1;
	if (*s == ',') {
		s++;
		digits = 0;
		for (n = 0; *s >= '0' && *s <= '9'; s++, digits++)
			if ((n = n * 10 + (*s - '0')) > 100000)
				return -1;
		/* "{m,}" expands to m copies and a star. */
		n = digits == 0 ? m + 1 : n;
	}
	if (*s != '}')
		return -1;
	*sp = s + 1;
	return n > m ? n : m;
}

/*
 * An upper estimate of what regcomp will build from an ERE: each atom
 * costs 1, a group the sum of its content, a bound {m,n} multiplies the
 * preceding atom or group by n. NULL if acceptable, else the reason.
 */
static const char *
pattern_too_complex(const char *s)
{
	long total[PATTERN_MAX_DEPTH + 1], last[PATTERN_MAX_DEPTH + 1], k, w;
	int depth = 0;

	total[0] = last[0] = 0;
	while (*s != '\0') {
		k = 0;
		switch (*s) {
		case '(':
			if (++depth > PATTERN_MAX_DEPTH)
				return "groups nested too deeply";
			total[depth] = last[depth] = 0;
			s++;
			continue;
		case ')':
			if (depth == 0) {
				w = 1;
				s++;
				break;
			}
			w = total[depth] > 0 ? total[depth] : 1;
			depth--;
			s++;
			break;
		case '{':
			s++;
			if ((k = pattern_bound(&s)) < 0) {
				w = 1; /* a literal brace */
				break;
			}
			if (k > PATTERN_MAX_REPEAT)
				return "repetition count above 255";
			w = 0;
			break;
		case '+':
			/* glibc turns "a+" into "aa*". */
			k = 2;
			w = 0;
			s++;
			break;
		case '*':
		case '?':
			/* Compiled as a loop or a branch: no copies. */
			s++;
			continue;
		case '|':
			last[depth] = 0;
			s++;
			continue;
		case '\\':
			/* glibc matches back-references by backtracking:
			 * exponential time on a hostile CN. */
			if (s[1] >= '1' && s[1] <= '9')
				return "has a back-reference (\\1 to \\9), "
				       "which "
				       "can take exponential time to match";
			s += s[1] != '\0' ? 2 : 1;
			w = 1;
			break;
		case '[':
			/* A bracket expression is one atom; "]" first is literal. */
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			while (*s != '\0' && *s != ']') {
				if (*s == '[' &&
				    (s[1] == ':' || s[1] == '.' ||
				        s[1] == '=')) {
					const char *e = strchr(s + 2, s[1]);

					s = e != NULL && e[1] == ']' ? e + 2
					                             : s + 1;
				} else
					s++;
			}
			if (*s == ']')
				s++;
			w = 1;
			break;
		default:
			s++;
			w = 1;
			break;
		}
		if (k > 1) {
			/* Repeat the last atom: k copies in place of one. */
			total[depth] += last[depth] * (k - 1);
			last[depth] *= k;
		} else if (w > 0) {
			total[depth] += w;
			last[depth] = w;
		}
		if (total[depth] > PATTERN_MAX_COST ||
		    last[depth] > PATTERN_MAX_COST)
			return "too complex (bounded repeats expand beyond "
			       "4096 states)";
	}
	return NULL;
}

enum status
pattern_compile(
    const char *src, struct pattern **out, char *why, size_t why_cap)
{
	struct pattern *p = NULL;
	const char *too;
	char err[200];
	size_t len = strlen(src);
	int rc;

	*out = NULL;
	if (why_cap > 0)
		why[0] = '\0';
	if (len > LIMIT_PATTERN_LEN) {
		snprintf(why, why_cap, "regular expression over %d bytes",
		    LIMIT_PATTERN_LEN);
		return ST_MALFORMED;
	}
	if ((too = pattern_too_complex(src)) != NULL) {
		snprintf(why, why_cap, "regular expression %s", too);
		return ST_MALFORMED;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ST_NOMEM;
	if ((rc = regcomp(&p->re, src, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, NULL, err, sizeof(err));
		snprintf(why, why_cap, "bad regular expression: %s", err);
		free(p);
		return ST_MALFORMED;
	}
	memcpy(p->source, src, len + 1);
	*out = p;
	return ST_OK;
}

void
pattern_free(struct pattern *p)
{
	if (p == NULL)
		return;
	regfree(&p->re);
	free(p);
}

int
pattern_match(const struct pattern *p, const char *s)
{
	if (p == NULL || s == NULL)
		return 0;
	return regexec(&p->re, s, 0, NULL, 0) == 0;
}

const char *
pattern_source(const struct pattern *p)
{
	return p != NULL ? p->source : "";
}
