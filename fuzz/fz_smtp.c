/*
 * fz_smtp.c - libFuzzer target for the session state machine (smtp.c).
 *
 * Plays server.c: the input's first byte picks the config (max_size,
 * xclient_on, start_tls_on, bare_lf, have_validate, trace, XCLIENT from
 * an untrusted peer), the bytes after it are the client's stream, and
 * control bytes taken from the end of the input pick each chunk size and
 * how each event is answered (validate reason, save reply, job timeout,
 * shutdown).  Checks the caller contract from smtp.h: consumption never
 * exceeds what was offered, s->out never overflows, every reply line is
 * "ddd" + ' ' or '-' ... CRLF and at most SMTP_REPLY_MAX octets, and the
 * session always makes progress.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "smtp.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

struct ctl {
	const unsigned char	*p;	/* control bytes, read from the end */
	size_t			 n;
};

static unsigned
ctl_byte(struct ctl *c)
{
	if (c->n == 0)
		return 0;
	c->n--;
	return c->p[c->n];
}

static char hostname[] = "mx.test";

/* Outcomes of the backend that the control bytes choose among. */
static const struct {
	enum gd_status	st;
	const char	*text;
} outcomes[] = {
	{ GD_STATUS_OK, NULL }, { GD_STATUS_NONE, NULL },
	{ GD_STATUS_PERMFAIL, "no such user" },
	{ GD_STATUS_TEMPFAIL, "storage timeout" },
	{ GD_STATUS_TEMPFAIL, "451 4.3.0 Error\r\nx" },
	{ GD_STATUS_PERMFAIL, "bad\r\nreason" },
	{ GD_STATUS_PERMFAIL, "550 odd" },
	{ GD_STATUS_OK, "250 2.0.0 OK: queued as abc" },
	{ GD_STATUS_TEMPFAIL, "250 not a success" }
};

static void
outcome(struct gd_result *r, unsigned b)
{
	memset(r, 0, sizeof(*r));
	r->status = outcomes[b % NELEM(outcomes)].st;
	if (outcomes[b % NELEM(outcomes)].text != NULL)
		gd_strlcpy(r->text, outcomes[b % NELEM(outcomes)].text,
		    sizeof(r->text));
}

static int
allow(void *arg, const char *domain, int is_ip)
{
	(void)arg;
	if (is_ip)
		return strcmp(domain, "127.0.0.1") == 0;
	return gd_strcasecmp(domain, "example.com") == 0;
}

/* trace - touch every byte so ASan sees an out-of-range (p, n). */
static void
trace(void *arg, int incoming, const char *p, size_t n)
{
	size_t i;
	unsigned *sum = arg;

	for (i = 0; i < n; i++)
		*sum += (unsigned char)p[i] + (unsigned)incoming;
}

/* drain - check the queued replies and throw them away. */
static void
drain(struct smtp_session *s, struct ctl *c)
{
	size_t i = 0, n = s->outlen;

	FZ_ASSERT(n <= SMTP_OUT_MAX);
	while (i < n) {
		const char *lf = memchr(s->out + i, '\n', n - i);
		size_t l;

		FZ_ASSERT(lf != NULL);	/* replies are whole lines */
		l = (size_t)(lf - (s->out + i)) + 1;
		FZ_ASSERT(l >= 6 && l <= SMTP_REPLY_MAX);
		FZ_ASSERT(s->out[i + l - 2] == '\r');
		FZ_ASSERT(memchr(s->out + i, '\r', l - 2) == NULL);
		FZ_ASSERT(s->out[i] >= '2' && s->out[i] <= '5');
		FZ_ASSERT(s->out[i + 3] == ' ' || s->out[i + 3] == '-');
		i += l;
	}
	/* sometimes flush only the first line, as a slow socket would */
	if (n > 0 && (ctl_byte(c) & 0x80))
		n = (size_t)((const char *)memchr(s->out, '\n', n) - s->out) + 1;
	smtp_drain(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long long sizes[] = { 2000, 10, 0, 100000 };
	struct cfg_server cfg;
	struct gd_envelope env;
	struct gd_result res;
	struct smtp_session s;
	static char outbuf[SMTP_OUT_MAX];
	struct ctl c;
	char buf[4096];
	size_t blen = 0, pos, len, n, k, had, spins = 0;
	enum smtp_event ev;
	unsigned flags, sum = 0;
	int closed = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	/* the last quarter (at most 256 octets) is control, the rest stream */
	k = size / 4 < 256 ? size / 4 : 256;
	len = size - k;
	c.p = data + len;
	c.n = k;

	memset(&cfg, 0, sizeof(cfg));
	cfg.host_name = hostname;
	cfg.max_size = sizes[flags & 3];
	cfg.xclient_on = (flags >> 2) & 1;
	cfg.tls.start_tls_on = (flags >> 3) & 1;
	cfg.bare_lf = (flags >> 4) & 1 ? CFG_BARE_LF_REJECT :
	    CFG_BARE_LF_NORMALIZE;
	env_init(&env);
	env.client_id = 1;
	gd_strlcpy(env.remote_ip, "127.0.0.1", sizeof(env.remote_ip));
	smtp_init(&s, &cfg, &env, allow, NULL, (flags >> 5) & 1);
	s.out = outbuf;
	s.version = "fuzz";
	s.xclient_untrusted = (flags >> 7) & 1;	/* CFG-07a */
	if ((flags >> 6) & 1) {
		s.trace = trace;
		s.trace_arg = &sum;
	}
	smtp_greet(&s, 1, 0);
	drain(&s, &c);

	pos = 0;
	while (!closed) {
		unsigned cb = ctl_byte(&c);

		k = len - pos;
		if (cb != 0 && k > (cb & 0x3f) * 16 + 1)
			k = (cb & 0x3f) * 16 + 1;
		if (cb >= 0xc0 && k > 3)
			k = cb & 3;	/* tiny pieces now and then */
		if (k > sizeof(buf) - blen)
			k = sizeof(buf) - blen;
		memcpy(buf + blen, data + pos, k);
		blen += k;
		pos += k;
		do {
			enum smtp_state before = s.state;

			n = smtp_input(&s, buf, blen, &ev);
			FZ_ASSERT(n <= blen);
			FZ_ASSERT(s.outlen <= SMTP_OUT_MAX);
			if (before == SMTP_S_DATA && ev == SMTP_EV_NONE)
				FZ_ASSERT(n == blen || s.state != SMTP_S_DATA);
			memmove(buf, buf + n, blen - n);
			blen -= n;
			switch (ev) {
			case SMTP_EV_VALIDATE: {
				unsigned b = ctl_byte(&c);

				FZ_ASSERT(s.state == SMTP_S_WAIT_VALIDATE);
				if (b & 0x10)
					smtp_job_timeout(&s);
				if (b & 0x20)
					(void)smtp_shutdown(&s);
				outcome(&res, b);
				smtp_validate_done(&s, &res);
				if (s.shutting_down &&
				    smtp_shutdown(&s) == SMTP_EV_CLOSE)
					closed = 1;
				break;
			}
			case SMTP_EV_SAVE: {
				unsigned b = ctl_byte(&c);

				FZ_ASSERT(s.state == SMTP_S_WAIT_SAVE);
				FZ_ASSERT(cfg.max_size <= 0 ||
				    env.data.len <= (size_t)cfg.max_size);
				FZ_ASSERT(env.data.len == 0 ||
				    env.data.p != NULL);
				if (b & 0x10)
					smtp_job_timeout(&s);
				if (b & 0x20)
					(void)smtp_shutdown(&s);
				outcome(&res, b);
				if (smtp_save_done(&s, &res) == SMTP_EV_CLOSE)
					closed = 1;
				break;
			}
			case SMTP_EV_STARTTLS:
				FZ_ASSERT(s.state == SMTP_S_STARTTLS);
				blen = 0;	/* SMTP-52 */
				drain(&s, &c);
				smtp_tls_started(&s);
				env.tls = 1;
				break;
			case SMTP_EV_CLOSE:
				closed = 1;
				break;
			case SMTP_EV_NONE:
				break;
			}
			had = s.outlen;
			drain(&s, &c);
			FZ_ASSERT(++spins < 1000000);
		} while (!closed && (n > 0 || ev != SMTP_EV_NONE ||
		    s.outlen < had));
		if (pos == len) {
			/* the rest of the buffer can never complete */
			break;
		}
	}
	if (!closed) {
		if (c.n > 0 && (ctl_byte(&c) & 1))
			(void)smtp_timeout(&s);
		else
			(void)smtp_eof(&s, (flags & 0x80) ? "fuzz" : NULL);
		drain(&s, &c);
	}
	env_free(&env);
	return 0;
}
