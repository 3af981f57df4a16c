/*
 * p_header.c - the Header processor (PROC-11): on save, sets the delivery
 * header that storage processors prepend to the message:
 *
 *	Delivered-To: <rcpt0 local part, trimmed>@<primary_mail_host>
 *	Received: from <remote ip> ([<remote ip>])
 *		by <rcpt0 domain> with <proto> id <hash0>@<rcpt0 domain>;
 *		<date>
 *
 * byte for byte, LF line ends, continuation lines indented with a tab.
 * HELO is deliberately left out (GG #198/#200).  Config: primary_mail_host
 * (string, required; the config loader fills in the host name).  CR and LF
 * inside any field are turned into spaces so that a header can never be
 * split.  Never does I/O.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guerrilla.h"
#include "processors/builtins.h"

#define HDR_HOST_MAX	255
#define HDR_LOCAL_MAX	128	/* the longest local part RCPT accepts */
#define HDR_DOMAIN_MAX	255
#define HDR_IP_MAX	46	/* INET6_ADDRSTRLEN */

struct hdr {
	struct gd_ctx	*ctx;
	char		host[HDR_HOST_MAX + 1];
	time_t		date_t;		/* the second date[] shows ... */
	char		date[64];	/* ... formatted once per second */
};

static void *
hdr_create(struct gd_ctx *ctx, void *user)
{
	struct hdr *h = calloc(1, sizeof(*h));

	(void)user;
	if (h != NULL)
		h->ctx = ctx;
	return h;
}

static int
hdr_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct hdr *h = inst;
	const char *host;

	if (gd_config_str(bcfg, "primary_mail_host", 1, &host, err,
	    errlen) != 0)
		return -1;
	if (strlen(host) > HDR_HOST_MAX || strpbrk(host, "\r\n") != NULL) {
		snprintf(err, errlen, "primary_mail_host must be one line of "
		    "at most %d bytes", HDR_HOST_MAX);
		return -1;
	}
	gd_strlcpy(h->host, host, sizeof(h->host));
	return 0;
}

static int
hdr_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

static void
hdr_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct hdr *h = inst;
	char to[HDR_LOCAL_MAX + 1], dom[HDR_DOMAIN_MAX + 1], hash[129];
	char ip[HDR_IP_MAX + 1], out[2048];
	const char *lb, *le, *proto;
	size_t n;
	time_t now;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	proto = gd_env_esmtp(e) ? (gd_env_tls(e) ? "ESMTPS" : "ESMTP") :
	    (gd_env_tls(e) ? "SMTPS" : "SMTP");
	gd_one_line(hash, sizeof(hash), gd_env_hash_count(e) > 0 ?
	    gd_env_hash(e, 0) : "unknown");
	gd_one_line(ip, sizeof(ip), gd_env_remote_ip(e));
	if ((now = gd_ctx_time(h->ctx)) != h->date_t || h->date[0] == '\0') {
		gd_rfc1123z(now, h->date, sizeof(h->date));
		h->date_t = now;
	}
	if (gd_env_rcpt_count(e) > 0) {
		/* Go's strings.TrimSpace on the local part */
		for (lb = gd_env_rcpt_local(e, 0); *lb == ' ' || *lb == '\t';
		    lb++)
			;
		for (le = lb + strlen(lb); le > lb && (le[-1] == ' ' ||
		    le[-1] == '\t'); le--)
			;
		n = (size_t)(le - lb) < sizeof(dom) ? (size_t)(le - lb) :
		    sizeof(dom) - 1;
		memcpy(dom, lb, n);
		dom[n] = '\0';
		gd_one_line(to, sizeof(to), dom);
		gd_one_line(dom, sizeof(dom), gd_env_rcpt_domain(e, 0));
		n = gd_cat(out, sizeof(out), "Delivered-To: ", to, "@",
		    h->host, "\nReceived: from ", ip, " ([", ip, "])\n\tby ",
		    dom, " with ", proto, " id ", hash, "@", dom, ";\n\t",
		    h->date, "\n", (char *)NULL);
	} else {
		/* no recipient (only through the API): GG would crash */
		n = gd_cat(out, sizeof(out), "Received: from ", ip, " ([",
		    ip, "])\n\t", h->date, "\n", (char *)NULL);
	}
	if (n >= sizeof(out) ||
	    gd_env_set_delivery_header(e, out) != 0) {
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: out "
		    "of memory");
		gd_result_detail(res, "Header: cannot build the delivery "
		    "header");
		return;
	}
	gd_next(next, e, task, res);
}

static void
hdr_destroy(void *inst)
{
	free(inst);
}

static const char *const hdr_keys[] = { "primary_mail_host", NULL };

const struct gd_processor p_header_processor = {
	.name = "Header",
	.create = hdr_create,
	.init = hdr_init,
	.process = hdr_process,
	.destroy = hdr_destroy,
	.nonblocking = hdr_nonblocking,
	.keys = hdr_keys
};
