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

#include "backend.h"
#include "envelope.h"

#define HDR_HOST_MAX	255

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

/* gd_rfc1123z - "Mon, 02 Jan 2006 15:04:05 -0700" in local time.  Day
 * and month names come from our own tables, not %a/%b, so that an
 * embedding program's setlocale() cannot change the header.  Also used
 * by GuerrillaDbRedis (backend.h). */
void
gd_rfc1123z(time_t t, char *buf, size_t len)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char mons[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;
	char z[16];

	if (localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		gd_strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", len);
		return;
	}
	if (strftime(z, sizeof(z), "%z", &tm) == 0)
		gd_strlcpy(z, "+0000", sizeof(z));
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d %s",
	    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, z);
}

/* gd_one_line - copy s (at most size-1 bytes) with CR/LF made spaces. */
void
gd_one_line(char *buf, size_t size, const char *s)
{
	char *p;

	gd_strlcpy(buf, s, size);
	for (p = buf; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
}

static void
hdr_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct hdr *h = inst;
	char to[ENV_LOCAL_MAX + 1], dom[ENV_DOMAIN_MAX + 1], hash[129];
	char ip[ENV_IP_MAX + 1], out[2048];
	const char *lb, *le, *proto;
	size_t n;
	time_t now;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	proto = e->esmtp ? (e->tls ? "ESMTPS" : "ESMTP") :
	    (e->tls ? "SMTPS" : "SMTP");
	gd_one_line(hash, sizeof(hash), e->nhashes > 0 ? e->hashes[0] :
	    "unknown");
	gd_one_line(ip, sizeof(ip), e->remote_ip);
	if ((now = gd_ctx_time(h->ctx)) != h->date_t || h->date[0] == '\0') {
		gd_rfc1123z(now, h->date, sizeof(h->date));
		h->date_t = now;
	}
	if (e->nrcpt > 0) {
		/* Go's strings.TrimSpace on the local part */
		for (lb = e->rcpt[0].local; *lb == ' ' || *lb == '\t'; lb++)
			;
		for (le = lb + strlen(lb); le > lb && (le[-1] == ' ' ||
		    le[-1] == '\t'); le--)
			;
		n = (size_t)(le - lb) < sizeof(dom) ? (size_t)(le - lb) :
		    sizeof(dom) - 1;
		memcpy(dom, lb, n);
		dom[n] = '\0';
		gd_one_line(to, sizeof(to), dom);
		gd_one_line(dom, sizeof(dom), e->rcpt[0].domain);
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
	    env_set_delivery_header(e, out) != 0) {
		gd_result_reply(res, "451 4.3.0 Error: out of memory");
		gd_result_error(res, "Header: cannot build the delivery header");
		return;
	}
	gd_next(next, e, task, res);
}

static void
hdr_destroy(void *inst)
{
	free(inst);
}

const struct gd_processor p_header_processor = {
	"Header", hdr_create, hdr_init, hdr_process, NULL, hdr_destroy, NULL, 1
};
