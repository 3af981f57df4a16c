/*
 * p_headersparser.c - the HeadersParser processor (PROC-10): on save,
 * parses the message's header block and decodes the subject (ENV-07/08,
 * mime.c) so that later processors can use e->hdr and e->subject.
 *
 * A parse error is logged at error level and never stops the chain.  No
 * config keys, no I/O besides the log.
 */
#include "compat.h"

#include <stdlib.h>

#include "guerrilla.h"
#include "processors/builtins.h"

struct hp {
	struct gd_ctx	*ctx;
};

static void *
hp_create(struct gd_ctx *ctx, void *user)
{
	struct hp *h = calloc(1, sizeof(*h));

	(void)user;
	if (h != NULL)
		h->ctx = ctx;
	return h;
}

static int
hp_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

static void
hp_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct hp *h = inst;
	char err[GD_ERROR_MAX];

	if (task == GD_TASK_SAVE && gd_env_parse_headers(e, err, sizeof(err)) != 0)
		gd_log(h->ctx, GD_LOG_ERROR, "HeadersParser: %s", err);
	gd_next(next, e, task, res);
}

static void
hp_destroy(void *inst)
{
	free(inst);
}

const struct gd_processor p_headersparser_processor = {
	.name = "HeadersParser",
	.create = hp_create,
	.process = hp_process,
	.destroy = hp_destroy,
	.nonblocking = hp_nonblocking
};
