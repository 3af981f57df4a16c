/*
 * p_hasher.c - the Hasher processor (PROC-12): on save, appends one id per
 * recipient to the envelope's hash list, in GG-flashmob's layout:
 *
 *	MD5(sender printed ‖ decoded subject ‖ unix time in ns (decimal)
 *	    ‖ rcpt_0 printed ‖ ... ‖ rcpt_i printed)
 *
 * as 32 lower-case hex digits.  The running hash is shared, so recipient
 * i's id covers every recipient up to i (br_md5_out does not alter the
 * context).  The time is gd_ctx_time_ns(), so a test that pins the
 * clock gets reproducible ids.  Run it after HeadersParser if the subject
 * should count.  No config keys, no I/O.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearssl.h>

#include "guerrilla.h"
#include "processors/builtins.h"

#define HS_ADDR_MAX	(2 * 128 + 255 + 8)	/* a printed address, quoted */

struct hasher {
	struct gd_ctx	*ctx;
};

static void *
hasher_create(struct gd_ctx *ctx, void *user)
{
	struct hasher *h = calloc(1, sizeof(*h));

	(void)user;
	if (h != NULL)
		h->ctx = ctx;
	return h;
}

static int
hasher_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

/* md5_print - feed an address printed by pr (its printed form). */
static void
md5_print(br_md5_context *md, size_t n, const char *buf, size_t size)
{
	br_md5_update(md, buf, n < size ? n : size - 1);
}

static void
hasher_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	static const char hex[] = "0123456789abcdef";
	struct hasher *h = inst;
	br_md5_context md;
	unsigned char sum[br_md5_SIZE];
	char ts[32], out[2 * br_md5_SIZE + 1], a[HS_ADDR_MAX];
	const char *subject;
	size_t i, k;
	int n;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	n = (int)(gd_dec(ts, (unsigned long long)gd_ctx_time_ns(h->ctx)) -
	    ts);
	br_md5_init(&md);
	md5_print(&md, gd_env_from_print(e, a, sizeof(a)), a, sizeof(a));
	if ((subject = gd_env_subject(e)) != NULL)
		br_md5_update(&md, subject, strlen(subject));
	br_md5_update(&md, ts, (size_t)n);
	for (i = 0; i < gd_env_rcpt_count(e); i++) {
		md5_print(&md, gd_env_rcpt_print(e, i, a, sizeof(a)), a,
		    sizeof(a));
		br_md5_out(&md, sum);
		for (k = 0; k < sizeof(sum); k++) {
			out[2 * k] = hex[sum[k] >> 4];
			out[2 * k + 1] = hex[sum[k] & 15];
		}
		out[2 * k] = '\0';
		if (gd_env_add_hash(e, out) != 0) {
			gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 "
			    "Error: out of memory");
			gd_result_detail(res, "Hasher: out of memory");
			return;
		}
	}
	gd_next(next, e, task, res);
}

static void
hasher_destroy(void *inst)
{
	free(inst);
}

const struct gd_processor p_hasher_processor = {
	.name = "Hasher",
	.create = hasher_create,
	.process = hasher_process,
	.destroy = hasher_destroy,
	.nonblocking = hasher_nonblocking
};
