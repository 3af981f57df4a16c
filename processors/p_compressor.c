/*
 * p_compressor.c - the Compressor processor (PROC-13): on save, stores
 * the message text (delivery header + data) compressed with zlib (an RFC
 * 1950 stream, level 1 = best speed) as envelope value "zlib-compressor",
 * for later processors (Redis, SQL) to store instead of the plain text.
 *
 * GG compresses lazily and drains the data buffer on first use (GAP-18).
 * [DEV] Here the bytes are computed once, when the chain reaches this
 * processor, and cached in the envelope; the body is never touched.  So
 * put Compressor after Header (a delivery header set later is not in the
 * compressed copy).  A second Compressor in a chain reuses the cache.
 * No config keys, no I/O; out of memory answers 451 and stops the chain.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"
#include "processors/builtins.h"

#define ZC_KEY		"zlib-compressor"

static int
zc_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

static void
zc_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	const char *h = gd_env_delivery_header(e);
	unsigned char *z;
	size_t zl;

	(void)inst;
	if (task != GD_TASK_SAVE ||
	    gd_env_value(e, ZC_KEY, NULL) != NULL) {
		gd_next(next, e, task, res);
		return;
	}
	if (gd_env_deflate(e, h, strlen(h), &z, &zl) != 0) {
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: "
		    "could not compress");
		gd_result_detail(res, "Compressor: out of memory");
		return;
	}
	if (gd_env_set_value(e, ZC_KEY, z, zl) != 0) {
		free(z);
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: "
		    "could not compress");
		gd_result_detail(res, "Compressor: out of memory");
		return;
	}
	free(z);
	gd_next(next, e, task, res);
}

const struct gd_processor p_compressor_processor = {
	.name = "Compressor",
	.process = zc_process,
	.nonblocking = zc_nonblocking
};
