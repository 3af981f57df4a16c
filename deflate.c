/*
 * deflate.c - a message compressed with zlib, for the processors that
 * store it that way (Compressor, GuerrillaRedisDB; guerrilla.h's
 * gd_env_deflate).  Its own file because zlib is the one thing here that
 * needs it, and two processors must not reach into each other for it.
 *
 * The output is one zlib stream (RFC 1950) at level 1, best speed, as
 * go-guerrilla writes it.  deflateBound() of the whole input sizes the
 * buffer, so one Z_FINISH completes the stream and no output is copied
 * twice.  Never does I/O besides reading the body's windows.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "guerrilla.h"

#define ZC_CHUNK	((uInt)1 << 30)	/* avail_in is a uInt */

/* feed - deflate n bytes of p into s (Z_NO_FLUSH); 0 or -1. */
static int
feed(z_stream *s, const char *p, size_t n)
{
	while (n > 0) {
		uInt k = n > ZC_CHUNK ? ZC_CHUNK : (uInt)n;

		s->next_in = (Bytef *)(uintptr_t)p;	/* zlib never writes it */
		s->avail_in = k;
		if (deflate(s, Z_NO_FLUSH) != Z_OK || s->avail_in != 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

int
gd_env_deflate(const struct gd_envelope *e, const char *head, size_t hl,
    unsigned char **out, size_t *outlen)
{
	uint64_t size = gd_env_body_size(e), off = 0;
	unsigned char *buf = NULL;
	const char *p;
	z_stream s;
	uLong bound;
	ssize_t n;

	if (size > (uLong)-1 / 2 || hl > (uLong)-1 / 2 - size)
		return -1;
	memset(&s, 0, sizeof(s));
	if (deflateInit(&s, Z_BEST_SPEED) != Z_OK)
		return -1;
	bound = deflateBound(&s, (uLong)(hl + size)) + 16;
	if (bound > (uInt)-1 || (buf = malloc(bound)) == NULL)
		goto fail;
	s.next_out = buf;
	s.avail_out = (uInt)bound;
	if (feed(&s, head, hl) != 0)
		goto fail;
	while ((n = gd_env_body_window(e, off, &p)) > 0) {
		if (feed(&s, p, (size_t)n) != 0)
			goto fail;
		off += (uint64_t)n;
	}
	if (n < 0)
		goto fail;
	s.next_in = NULL;
	s.avail_in = 0;
	if (deflate(&s, Z_FINISH) != Z_STREAM_END)
		goto fail;
	*outlen = (size_t)s.total_out;
	*out = buf;
	deflateEnd(&s);
	return 0;
fail:
	deflateEnd(&s);
	free(buf);
	return -1;
}
