/*
 * buf.h - the one growable byte buffer of the tree.
 *
 * Every buffer that grows (a decoded header, a PEM file being read, a
 * FastCGI request, the error text of a config load, a message body in
 * memory) is a struct buf: bytes at p[0..len-1], always followed by a NUL
 * once anything was added (a convenience: the bytes may hold NULs too),
 * capacity cap, and a hard limit max on len chosen by the owner.  Sizes
 * are checked before they are added, so no append can overflow, and the
 * first failure is latched in err: later appends do nothing, and the
 * owner checks once at the end ("build, then look").
 *
 * Never blocks, never logs; the only allocation is realloc of p.
 */
#ifndef GD_BUF_H
#define GD_BUF_H

#include <stddef.h>

struct buf {
	char	*p;	/* NULL until the first byte is added */
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* len never exceeds it */
	int	 err;	/* 0, or latched: ENOMEM, or E2BIG when max was hit */
};

/* BUF_INIT - an empty buffer whose contents may grow to max bytes. */
#define BUF_INIT(max)	{ NULL, 0, 0, (max), 0 }

void	buf_init(struct buf *b, size_t max);
/* buf_add - append n bytes of p.  0, or -1 (err latched; b unchanged). */
int	buf_add(struct buf *b, const void *p, size_t n);
/* buf_adds - append a NUL-terminated string. */
int	buf_adds(struct buf *b, const char *s);
/* buf_addc - append one byte. */
int	buf_addc(struct buf *b, int c);
/* buf_printf - append formatted text (vsnprintf's rules). */
int	buf_printf(struct buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
/* buf_reserve - make room for n more bytes (and the NUL) without adding
 * them; b->p + b->len is then writable for n bytes.  0 or -1 (latched). */
int	buf_reserve(struct buf *b, size_t n);
/* buf_take - the bytes as a NUL-terminated string that the caller now
 * owns and frees ("" when nothing was added); NULL when err is set, and
 * then the bytes are freed.  b is empty afterwards (max kept). */
char	*buf_take(struct buf *b);
/* buf_clear - len = 0 and err = 0; the capacity is kept for reuse. */
void	buf_clear(struct buf *b);
/* buf_free - release p; b is empty (max kept). */
void	buf_free(struct buf *b);

#endif
