/*
 * stamp.c - a processor written outside the tree, against guerrilla.h
 * alone, as an embedding program would write one: "Stamp" does in one
 * step what the built-in Hasher and Header do one after the other, and
 * stores exactly the same bytes (tests/t_example.c checks that, byte for
 * byte, against a Maildir written by HeadersParser|Hasher|Header).
 *
 * On save it gives every recipient an id, MD5 over
 *
 *	sender ‖ decoded subject ‖ unix time in ns (decimal) ‖ rcpt_0 ‖ ... ‖ rcpt_i
 *
 * (addresses printed as gd_env_rcpt_print does; 32 lower-case hex digits;
 * the running hash goes on from one recipient to the next), then sets the
 * delivery header that stores write before the body:
 *
 *	Delivered-To: <rcpt0 local part, trimmed>@<primary_mail_host>
 *	Received: from <ip> ([<ip>])
 *		by <rcpt0 domain> with <ESMTP|ESMTPS|SMTP|SMTPS> id <id0>@<rcpt0 domain>;
 *		<date, RFC 1123 with numeric zone>
 *
 * Config: primary_mail_host (string, required).  It only computes, so it
 * says so (nonblocking) and its chain may run on the I/O loop.  MD5 comes
 * from BearSSL, which every program that links libguerrilla links.
 *
 * Register it before gd_start:  gd_add_processor(d, &stamp_processor);
 * then name it in a chain:      "save_process": "HeadersParser|Stamp|MailDir"
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "guerrilla.h"

#define STAMP_HOST_MAX	255
#define STAMP_ADDR_MAX	(2 * 128 + 255 + 8)	/* a printed address */

extern const struct gd_processor stamp_processor;

struct stamp {
	struct gd_ctx	*ctx;
	char		 host[STAMP_HOST_MAX + 1];
};

static void *
stamp_create(struct gd_ctx *ctx, void *user)
{
	struct stamp *s = calloc(1, sizeof(*s));

	(void)user;
	if (s != NULL)
		s->ctx = ctx;
	return s;
}

static int
stamp_init(void *inst, const struct json_value *bcfg, char *err,
    size_t errlen)
{
	struct stamp *s = inst;
	const char *host;

	if (gd_config_str(bcfg, "primary_mail_host", 1, &host, err,
	    errlen) != 0)
		return -1;
	if (strlen(host) > STAMP_HOST_MAX || strpbrk(host, "\r\n") != NULL) {
		snprintf(err, errlen, "primary_mail_host must be one line of "
		    "at most %d bytes", STAMP_HOST_MAX);
		return -1;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	return 0;
}

static int
stamp_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

/* add_ids - one id per recipient; 0, or -1 when out of memory. */
static int
add_ids(const struct stamp *s, struct gd_envelope *e)
{
	static const char hex[] = "0123456789abcdef";
	br_md5_context md;
	unsigned char sum[br_md5_SIZE];
	char a[STAMP_ADDR_MAX], ts[32], id[2 * br_md5_SIZE + 1];
	const char *subject = gd_env_subject(e);
	size_t i, k, n;

	br_md5_init(&md);
	n = gd_env_from_print(e, a, sizeof(a));
	br_md5_update(&md, a, n < sizeof(a) ? n : sizeof(a) - 1);
	if (subject != NULL)
		br_md5_update(&md, subject, strlen(subject));
	n = (size_t)snprintf(ts, sizeof(ts), "%lld", gd_ctx_time_ns(s->ctx));
	br_md5_update(&md, ts, n);
	for (i = 0; i < gd_env_rcpt_count(e); i++) {
		n = gd_env_rcpt_print(e, i, a, sizeof(a));
		br_md5_update(&md, a, n < sizeof(a) ? n : sizeof(a) - 1);
		br_md5_out(&md, sum);	/* the context goes on unchanged */
		for (k = 0; k < sizeof(sum); k++) {
			id[2 * k] = hex[sum[k] >> 4];
			id[2 * k + 1] = hex[sum[k] & 15];
		}
		id[2 * k] = '\0';
		if (gd_env_add_hash(e, id) != 0)
			return -1;
	}
	return 0;
}

/* set_header - the delivery header; 0, or -1 when it cannot be built. */
static int
set_header(const struct stamp *s, struct gd_envelope *e)
{
	char to[129], dom[256], ip[64], id[129], date[64], out[2048];
	const char *proto, *lb, *le;
	int n;

	proto = gd_env_esmtp(e) ? (gd_env_tls(e) ? "ESMTPS" : "ESMTP") :
	    (gd_env_tls(e) ? "SMTPS" : "SMTP");
	gd_one_line(id, sizeof(id), gd_env_hash_count(e) > 0 ?
	    gd_env_hash(e, 0) : "unknown");
	gd_one_line(ip, sizeof(ip), gd_env_remote_ip(e));
	gd_rfc1123z(gd_ctx_time(s->ctx), date, sizeof(date));
	if (gd_env_rcpt_count(e) == 0)
		n = snprintf(out, sizeof(out), "Received: from %s ([%s])\n"
		    "\t%s\n", ip, ip, date);
	else {
		/* the local part without blanks around it */
		for (lb = gd_env_rcpt_local(e, 0); *lb == ' ' || *lb == '\t';
		    lb++)
			;
		for (le = lb + strlen(lb); le > lb && (le[-1] == ' ' ||
		    le[-1] == '\t'); le--)
			;
		snprintf(dom, sizeof(dom), "%.*s", (int)(le - lb), lb);
		gd_one_line(to, sizeof(to), dom);
		gd_one_line(dom, sizeof(dom), gd_env_rcpt_domain(e, 0));
		n = snprintf(out, sizeof(out), "Delivered-To: %s@%s\n"
		    "Received: from %s ([%s])\n"
		    "\tby %s with %s id %s@%s;\n\t%s\n",
		    to, s->host, ip, ip, dom, proto, id, dom, date);
	}
	if (n < 0 || (size_t)n >= sizeof(out))
		return -1;
	return gd_env_set_delivery_header(e, out);
}

static void
stamp_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct stamp *s = inst;

	if (task == GD_TASK_SAVE && (add_ids(s, e) != 0 ||
	    set_header(s, e) != 0)) {
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: out "
		    "of memory");
		gd_result_detail(res, "Stamp: cannot build the delivery "
		    "header");
		return;
	}
	gd_next(next, e, task, res);
}

static void
stamp_destroy(void *inst)
{
	free(inst);
}

static const char *const stamp_keys[] = { "primary_mail_host", NULL };

const struct gd_processor stamp_processor = {
	.name = "Stamp",
	.create = stamp_create,
	.init = stamp_init,
	.process = stamp_process,
	.destroy = stamp_destroy,
	.nonblocking = stamp_nonblocking,
	.keys = stamp_keys
};
