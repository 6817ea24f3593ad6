/*
 * pattern: a POSIX extended regular expression from a policy (device id
 * patterns, subject attribute patterns), refused before regcomp when it
 * would cost too much to compile or to match: glibc's regcomp expands
 * bounded repeats ("((a{1,255}){1,255}){1,255}" took over a minute and
 * 18 GB), and back-references match by backtracking.
 */
#ifndef TESSERA_CA_PATTERN_H
#define TESSERA_CA_PATTERN_H

#include <stddef.h>

#include "common/status.h"

/* A compiled pattern and its source; immutable once compiled. */
struct pattern;

/*
 * Compile src (an ERE, matched without submatches). A pattern over the
 * cost guard or that regcomp refuses is ST_MALFORMED with the reason in
 * why ("regular expression has a back-reference ..."); why_cap bytes, NUL
 * included. The caller frees *out with pattern_free.
 */
enum status pattern_compile(const char *src, struct pattern **out, char *why,
    size_t why_cap) MUST_CHECK;

void pattern_free(struct pattern *p);

/* 1 if s matches p; a NULL pattern (none set) or string matches nothing. */
int pattern_match(const struct pattern *p, const char *s);

/* The source as written in the policy; "" for NULL. Owned by p. */
const char *pattern_source(const struct pattern *p);

#endif
