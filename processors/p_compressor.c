/*
 * p_compressor.c - the Compressor processor (PROC-13): on save, stores
 * the message text (delivery header + data) compressed with zlib (an RFC
 * 1950 stream, level 1 = best speed) as envelope value "zlib-compressor",
 * for later processors (Redis, SQL) to store instead of the plain text.
 *
 * GG compresses lazily and drains the data buffer on first use (GAP-18).
 * [DEV] Here the bytes are computed once, when the chain reaches this
 * processor, and cached in the envelope; e->data is never touched.  So
 * put Compressor after Header (a delivery header set later is not in the
 * compressed copy).  A second Compressor in a chain reuses the cache.
 * No config keys, no I/O; out of memory answers 451 and stops the chain.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "backend.h"
#include "envelope.h"

#define ZC_KEY		"zlib-compressor"
#define ZC_CHUNK	((uInt)1 << 30)	/* avail_in is a uInt */

/* zc_feed - deflate n bytes of p into s (Z_NO_FLUSH); 0 or -1. */
static int
zc_feed(z_stream *s, const char *p, size_t n)
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

/* gd_zlib_compress - header ‖ data into one malloc'd zlib stream (*out,
 * *outlen; the caller frees).  0 or -1.  deflateBound() sizes the output,
 * so one Z_FINISH call completes the stream.  Also used by
 * GuerrillaDbRedis (backend.h). */
int
gd_zlib_compress(const char *h, size_t hl, const char *d, size_t dl,
    unsigned char **out, size_t *outlen)
{
	z_stream s;
	uLong bound;
	unsigned char *buf = NULL;

	if (hl > (size_t)-1 - dl || hl + dl > (uLong)-1 / 2)
		return -1;
	memset(&s, 0, sizeof(s));
	if (deflateInit(&s, Z_BEST_SPEED) != Z_OK)
		return -1;
	bound = deflateBound(&s, (uLong)(hl + dl)) + 16;
	if (bound > (uInt)-1 || (buf = malloc(bound)) == NULL)
		goto fail;
	s.next_out = buf;
	s.avail_out = (uInt)bound;
	if (zc_feed(&s, h, hl) != 0 || zc_feed(&s, d, dl) != 0)
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

static void
zc_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	const char *h = e->delivery_header != NULL ? e->delivery_header : "";
	unsigned char *z;
	size_t zl;

	(void)inst;
	if (task != GD_TASK_SAVE ||
	    env_get_value(e, ZC_KEY, NULL) != NULL) {
		gd_next(next, e, task, res);
		return;
	}
	if (gd_zlib_compress(h, strlen(h), e->data != NULL ? e->data : "",
	    e->data_len, &z, &zl) != 0) {
		gd_result_reply(res, "451 4.3.0 Error: could not compress");
		gd_result_error(res, "Compressor: out of memory");
		return;
	}
	if (env_set_value(e, ZC_KEY, z, zl) != 0) {
		free(z);
		gd_result_reply(res, "451 4.3.0 Error: could not compress");
		gd_result_error(res, "Compressor: out of memory");
		return;
	}
	free(z);
	gd_next(next, e, task, res);
}

const struct gd_processor p_compressor_processor = {
	"Compressor", NULL, NULL, zc_process, NULL, NULL, NULL, 1
};
