/*
 * p_debugger.c - the Debugger processor (PROC-14), GG's default: on save,
 * when log_received_mails is true, logs at info level the sender, the
 * recipients, the parsed headers and the subject (never the body: only
 * its size).  Client bytes need no escaping here: log_msg escapes the
 * whole entry (LOG-05); each value is cut to DBG_VALUE_MAX bytes and at
 * most DBG_HEADERS_MAX headers are logged, so a hostile message cannot
 * flood the log.
 *
 * Config: log_received_mails (bool, required; the config loader fills in
 * the default) and sleep_seconds (int, optional, 0; capped at one day).
 * sleep_seconds > 0 makes the worker sleep that long (a test hook for
 * timeouts); exactly 1 then reports a fault (BE-07; GG panics on purpose).
 */
#include "compat.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "guerrilla.h"
#include "processors/builtins.h"

#define DBG_ADDR_MAX	(2 * 128 + 255 + 8)	/* a printed address */
#define DBG_VALUE_MAX	512
#define DBG_HEADERS_MAX	100
#define DBG_SLEEP_MAX	86400

struct dbg {
	struct gd_ctx	*ctx;
	int		log_mails;
	int		sleep_s;
};

static void *
dbg_create(struct gd_ctx *ctx, void *user)
{
	struct dbg *d = calloc(1, sizeof(*d));

	(void)user;
	if (d != NULL)
		d->ctx = ctx;
	return d;
}

static int
dbg_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct dbg *d = inst;
	long long s = 0;

	if (gd_config_bool(bcfg, "log_received_mails", 1, &d->log_mails, err,
	    errlen) < 0 ||
	    gd_config_int(bcfg, "sleep_seconds", 0, &s, err, errlen) < 0)
		return -1;
	d->sleep_s = s <= 0 ? 0 : s > DBG_SLEEP_MAX ? DBG_SLEEP_MAX : (int)s;
	return 0;
}

/* dbg_nonblocking - only while it does not sleep: a sleeping Debugger on
 * the I/O loop would stall every session of that loop. */
static int
dbg_nonblocking(const void *inst)
{
	const struct dbg *d = inst;

	return d->sleep_s == 0;
}

/* sleep_full - sleep s seconds, resuming after signals. */
static void
sleep_full(int s)
{
	struct timespec left, rem;

	left.tv_sec = s;
	left.tv_nsec = 0;
	while (nanosleep(&left, &rem) != 0 && errno == EINTR)
		left = rem;
}

static void
log_mail(struct dbg *d, const struct gd_envelope *e)
{
	char addr[DBG_ADDR_MAX];
	const char *name, *value, *subject = gd_env_subject(e);
	size_t i, n = gd_env_rcpt_count(e), nh = gd_env_header_count(e);

	(void)gd_env_from_print(e, addr, sizeof(addr));
	gd_log(d->ctx, GD_LOG_INFO, "Mail from: %s / to: %zu recipient(s), "
	    "%llu bytes", addr, n, (unsigned long long)gd_env_body_size(e));
	for (i = 0; i < n; i++) {
		(void)gd_env_rcpt_print(e, i, addr, sizeof(addr));
		gd_log(d->ctx, GD_LOG_INFO, "Rcpt to: %s", addr);
	}
	for (i = 0; i < nh && i < DBG_HEADERS_MAX; i++) {
		name = gd_env_header_at(e, i, &value);
		gd_log(d->ctx, GD_LOG_INFO, "Header: %s: %.*s", name,
		    DBG_VALUE_MAX, value);
	}
	if (nh > DBG_HEADERS_MAX)
		gd_log(d->ctx, GD_LOG_INFO, "Headers: %zu more not logged",
		    nh - DBG_HEADERS_MAX);
	gd_log(d->ctx, GD_LOG_INFO, "Subject: %.*s", DBG_VALUE_MAX,
	    subject != NULL ? subject : "");
}

static void
dbg_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct dbg *d = inst;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	if (d->log_mails)
		log_mail(d, e);
	if (d->sleep_s > 0) {
		gd_log(d->ctx, GD_LOG_INFO, "Debugger: sleeping %d s",
		    d->sleep_s);
		sleep_full(d->sleep_s);
		if (d->sleep_s == 1) {	/* go-guerrilla panics here */
			gd_result_set(res, GD_STATUS_PERMFAIL, "storage failed");
			return;
		}
	}
	gd_next(next, e, task, res);
}

static void
dbg_destroy(void *inst)
{
	free(inst);
}

static const char *const dbg_keys[] = {
	"log_received_mails", "sleep_seconds", NULL
};

const struct gd_processor p_debugger_processor = {
	.name = "Debugger",
	.create = dbg_create,
	.init = dbg_init,
	.process = dbg_process,
	.destroy = dbg_destroy,
	.nonblocking = dbg_nonblocking,
	.keys = dbg_keys
};
