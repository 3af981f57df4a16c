/*
 * t.h - the unit tests' tiny assert header.
 *
 * Each test program is one main() that calls RUN(fn) for each test
 * function; CHECK records a failure with file:line and carries on.  Every
 * test prints one line, "PASS name" or "FAIL name: file:line: expr", which
 * tests/run.sh counts into the final "N passed, N failed".
 */
#ifndef GD_T_H
#define GD_T_H

#include <stdio.h>
#include <string.h>

static int t_failed_now;	/* failures inside the current test */
static int t_npass, t_nfail;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		if (t_failed_now++ == 0)				\
			printf("FAIL %s: %s:%d: %s\n", t_name, __FILE__, \
			    __LINE__, #cond);				\
		else							\
			printf("     also %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

/* CHECK_STR compares two NUL-terminated strings and prints both. */
#define CHECK_STR(a, b) do {						\
	const char *t_a = (a), *t_b = (b);				\
	if (t_a == NULL || t_b == NULL || strcmp(t_a, t_b) != 0) {	\
		CHECK(!"strings differ: " #a " == " #b);		\
		printf("     got:  [%s]\n     want: [%s]\n",		\
		    t_a ? t_a : "(null)", t_b ? t_b : "(null)");	\
	}								\
} while (0)

static const char *t_name = "";

#define RUN(fn) do {							\
	t_name = #fn;							\
	t_failed_now = 0;						\
	fn();								\
	if (t_failed_now == 0) {					\
		printf("PASS %s\n", #fn);				\
		t_npass++;						\
	} else								\
		t_nfail++;						\
} while (0)

#define T_DONE() (printf("# %d passed, %d failed\n", t_npass, t_nfail), \
	t_nfail ? 1 : 0)

#endif
