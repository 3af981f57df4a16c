/*
 * p_hasher.c - the Hasher processor (PROC-12): on save, appends one id per
 * recipient to the envelope's hash list, in GG-flashmob's layout:
 *
 *	MD5(sender printed ‖ decoded subject ‖ unix time in ns (decimal)
 *	    ‖ rcpt_0 printed ‖ ... ‖ rcpt_i printed)
 *
 * as 32 lower-case hex digits.  The running hash is shared, so recipient
 * i's id covers every recipient up to i (br_md5_out does not alter the
 * context).  With ctx->fixed_time set the time is fixed_time * 10^9 so
 * tests are reproducible.  Run it after HeadersParser if the subject
 * should count.  No config keys, no I/O.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearssl.h>

#include "backend.h"
#include "envelope.h"

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

/* md5_addr - feed an address in its printed form (3.8). */
static void
md5_addr(br_md5_context *md, const struct gd_address *a)
{
	char buf[2 * ENV_LOCAL_MAX + ENV_DOMAIN_MAX + 8];
	size_t n = env_addr_print(a, buf, sizeof(buf));

	br_md5_update(md, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

static void
hasher_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	static const char hex[] = "0123456789abcdef";
	struct hasher *h = inst;
	br_md5_context md;
	unsigned char sum[br_md5_SIZE];
	char ts[32], out[2 * br_md5_SIZE + 1];
	long long ns;
	size_t i, k;
	int n;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	if (h->ctx != NULL && h->ctx->fixed_time != 0)
		ns = (long long)h->ctx->fixed_time * 1000000000LL;
	else {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	}
	if (ns < 0)	/* before 1970: not from a working clock */
		ns = 0;
	n = (int)(gd_dec(ts, (unsigned long long)ns) - ts);
	br_md5_init(&md);
	if (e->has_from)
		md5_addr(&md, &e->from);
	if (e->subject != NULL)
		br_md5_update(&md, e->subject, strlen(e->subject));
	br_md5_update(&md, ts, (size_t)n);
	for (i = 0; i < e->nrcpt; i++) {
		md5_addr(&md, &e->rcpt[i]);
		br_md5_out(&md, sum);
		for (k = 0; k < sizeof(sum); k++) {
			out[2 * k] = hex[sum[k] >> 4];
			out[2 * k + 1] = hex[sum[k] & 15];
		}
		out[2 * k] = '\0';
		if (env_add_hash(e, out) != 0) {
			gd_result_reply(res, "451 4.3.0 Error: out of memory");
			gd_result_error(res, "Hasher: out of memory");
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
	"Hasher", hasher_create, NULL, hasher_process, NULL, hasher_destroy,
	NULL, 1
};
