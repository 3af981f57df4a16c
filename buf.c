/*
 * buf.c - the checked, growable byte buffer (buf.h).
 *
 * Growth doubles the capacity (from 64 bytes), capped at max + 1 so that
 * a buffer near its limit does not ask for twice what it may hold.  Every
 * size is checked against SIZE_MAX and max before it is used.
 */
#include "compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_FIRST	64

void
buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->err = 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *np;

	if (b->err != 0)
		return -1;
	/* len + n must be within max, and len + n + 1 (the NUL) must fit */
	if (n > b->max || b->len > b->max - n || b->len + n == SIZE_MAX) {
		b->err = E2BIG;
		return -1;
	}
	need = b->len + n + 1;	/* no overflow: checked above */
	if (need <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : BUF_FIRST;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	if ((np = realloc(b->p, cap)) == NULL) {
		b->err = ENOMEM;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return b->err != 0 ? -1 : 0;
	if (buf_reserve(b, n) != 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addc(struct buf *b, int c)
{
	char ch = (char)c;

	return buf_add(b, &ch, 1);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err != 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = EINVAL;
		return -1;
	}
	if (buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *
buf_take(struct buf *b)
{
	char *p = b->p;

	if (b->err != 0) {
		free(p);
		p = NULL;
	} else if (p == NULL)
		p = gd_strdup("");
	buf_init(b, b->max);
	return p;
}

void
buf_clear(struct buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b, b->max);
}
