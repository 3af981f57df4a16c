/*
 * t_smtp.c - unit tests for smtp.c (SPEC 3, 9, 12) without sockets.
 *
 * A harness plays server.c: it feeds bytes through a 4 KiB input buffer
 * (all at once, byte by byte, and in odd chunk sizes), answers the events
 * (save, validate, STARTTLS, close) the way the server does, drains s->out
 * into a transcript and compares it byte for byte.  Saved messages are
 * copied out so the stored form can be checked.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "smtp.h"
#include "t.h"

#define R_MAIL		"250 2.1.0 OK\r\n"
#define R_RCPT		"250 2.1.5 OK\r\n"
#define R_354		"354 Enter message, ending with '.' on a line by itself\r\n"
#define R_QUEUED	"250 2.0.0 OK: queued as abc\r\n"
#define R_UNREC		"554 5.5.1 Unrecognized command\r\n"
#define R_BYE		"221 2.0.0 Bye\r\n"
#define R_421		"421 4.3.0 Server is shutting down. Please try again " \
			"later. Sayonara!\r\n"
#define TX		"MAIL FROM:<a@example.com>\r\n" \
			"RCPT TO:<b@example.com>\r\nDATA\r\n"
#define R_TX		R_MAIL R_RCPT R_354

/* What a test can vary; opts_default() before each test. */
struct opts {
	long long	max_size;
	int		start_tls;
	int		xclient;
	int		bare_lf_reject;
	int		have_validate;
	struct gd_result validate;	/* answer to every EV_VALIDATE */
	struct gd_result save;		/* ... and to every EV_SAVE */
	char		*greeting;
};

static struct opts O;

static struct {
	struct cfg_server	cfg;
	struct gd_envelope	env;
	struct smtp_session	s;
	char			out[1 << 16];
	size_t			outlen;
	char			*saved;		/* last saved message */
	size_t			savedlen;
	int			nsaved;
	size_t			saved_nrcpt;
	int			nvalidate;
	int			closed;
	int			stuck;		/* the harness made no progress */
	char			outbuf[SMTP_OUT_MAX];
} H;

static char hostname[] = "mx.test";

/* R - an outcome of the backend: status and text (NULL: none). */
static struct gd_result
R(enum gd_status st, const char *text)
{
	struct gd_result r;

	memset(&r, 0, sizeof(r));
	gd_result_set(&r, st, text != NULL ? "%s" : NULL, text);
	return r;
}

static void
opts_default(void)
{
	memset(&O, 0, sizeof(O));
	O.max_size = 1000;
	O.save = R(GD_STATUS_OK, NULL);
	O.validate = R(GD_STATUS_OK, NULL);
}

/* allow - the relay check of the tests: example.com and [127.0.0.1]. */
static int
allow(void *arg, const char *domain, int is_ip)
{
	(void)arg;
	if (is_ip)
		return strcmp(domain, "127.0.0.1") == 0;
	return gd_strcasecmp(domain, "example.com") == 0;
}

/* setup - a fresh greeted session (greeting discarded) from O. */
static void
setup(void)
{
	env_free(&H.env);
	free(H.saved);
	memset(&H, 0, sizeof(H));
	H.cfg.host_name = hostname;
	H.cfg.max_size = O.max_size;
	H.cfg.xclient_on = O.xclient;
	H.cfg.tls.start_tls_on = O.start_tls;
	H.cfg.bare_lf = O.bare_lf_reject ? CFG_BARE_LF_REJECT :
	    CFG_BARE_LF_NORMALIZE;
	H.cfg.greeting = O.greeting;
	env_init(&H.env);
	H.env.client_id = 1;
	gd_strlcpy(H.env.remote_ip, "192.0.2.1", sizeof(H.env.remote_ip));
	smtp_init(&H.s, &H.cfg, &H.env, allow, NULL, O.have_validate);
	H.s.out = H.outbuf;
	H.s.version = "1.0";
	smtp_greet(&H.s, 1, 0);
	H.s.outlen = 0;
}

static void
collect(void)
{
	size_t n = H.s.outlen;

	CHECK(n <= SMTP_OUT_MAX);
	if (n > sizeof(H.out) - 1 - H.outlen)
		n = sizeof(H.out) - 1 - H.outlen;
	memcpy(H.out + H.outlen, H.s.out, n);
	H.outlen += n;
	H.out[H.outlen] = '\0';
	smtp_drain(&H.s, H.s.outlen);
}

/* handle - act on an event as server.c does; 1 to keep going. */
static int
handle(enum smtp_event ev, size_t *blen)
{
	switch (ev) {
	case SMTP_EV_SAVE:
		free(H.saved);
		H.saved = gd_memdup(H.env.data.p ? H.env.data.p : "",
		    H.env.data.len);
		H.savedlen = H.env.data.len;
		H.saved_nrcpt = H.env.nrcpt;
		H.nsaved++;
		gd_strlcpy(H.env.queued_id, "abc", sizeof(H.env.queued_id));
		if (smtp_save_done(&H.s, &O.save) == SMTP_EV_CLOSE)
			H.closed = 1;
		break;
	case SMTP_EV_VALIDATE:
		H.nvalidate++;
		smtp_validate_done(&H.s, &O.validate);
		if (H.s.shutting_down &&
		    smtp_shutdown(&H.s) == SMTP_EV_CLOSE)
			H.closed = 1;
		break;
	case SMTP_EV_STARTTLS:
		*blen = 0;	/* SMTP-52: plaintext after STARTTLS is dropped */
		collect();
		smtp_tls_started(&H.s);
		break;
	case SMTP_EV_CLOSE:
		H.closed = 1;
		break;
	case SMTP_EV_NONE:
		break;
	}
	collect();
	return !H.closed;
}

/* run - feed in[0..len) in pieces of chunk octets (0 = as much as fits). */
static const char *
run(const char *in, size_t len, size_t chunk)
{
	char buf[16384];	/* > the decoder's chunk: long lines arrive whole */
	size_t blen = 0, pos = 0, n, k;
	enum smtp_event ev;

	while (!H.closed) {
		k = len - pos;
		if (chunk != 0 && k > chunk)
			k = chunk;
		if (k > sizeof(buf) - blen)
			k = sizeof(buf) - blen;
		memcpy(buf + blen, in + pos, k);
		blen += k;
		pos += k;
		do {
			n = smtp_input(&H.s, buf, blen, &ev);
			CHECK(n <= blen);
			memmove(buf, buf + n, blen - n);
			blen -= n;
			if (!handle(ev, &blen))
				break;
		} while (n > 0 || ev != SMTP_EV_NONE);
		if (pos == len)
			break;
		if (k == 0 && n == 0) {
			H.stuck = 1;
			break;
		}
	}
	return H.out;
}

/* RUN_LIT - run() a string literal, all at once (its length by sizeof). */
#define RUN_LIT(lit)	run((lit), sizeof(lit) - 1, 0)

static const size_t chunks[] = { 1, 2, 7, 100, 0 };

/* expect - the transcript of in (with a fresh session) must be want for
 * every chunk size; the session of the last run (all at once) is kept. */
static void
expect_n(const char *in, size_t len, const char *want)
{
	size_t i;

	for (i = 0; i < NELEM(chunks); i++) {
		setup();
		run(in, len, chunks[i]);
		if (strcmp(H.out, want) != 0)
			printf("     (chunk size %zu)\n", chunks[i]);
		CHECK_STR(H.out, want);
		CHECK(!H.stuck);
	}
}

static void
expect(const char *in, const char *want)
{
	expect_n(in, strlen(in), want);
}

/* EXPECT_LIT - expect() for a literal that may hold NULs. */
#define EXPECT_LIT(lit, want)	expect_n((lit), sizeof(lit) - 1, (want))

/* ---- greeting ---- */

static void
t_greeting(void)
{
	char want[200];
	time_t t = 1717675200;	/* 2024-06-06T12:00:00Z */

	opts_default();
	setenv("TZ", "UTC", 1);
	tzset();
	setup();
	smtp_init(&H.s, &H.cfg, &H.env, allow, NULL, 0);
	H.s.out = H.outbuf;
	H.s.version = "1.2.3";
	H.env.client_id = 7;
	CHECK(H.s.state == SMTP_S_GREETING);
	smtp_greet(&H.s, 3, t);
	collect();
	CHECK_STR(H.out, "220 mx.test SMTP Guerrilla(1.2.3) #7 (3) "
	    "2024-06-06T12:00:00Z\r\n");
	CHECK(H.s.state == SMTP_S_COMMAND);

	setenv("TZ", "XYZ-2", 1);	/* POSIX TZ: two hours east of UTC */
	tzset();
	setup();
	H.outlen = 0;
	H.s.version = NULL;
	smtp_greet(&H.s, 12, t);
	collect();
	snprintf(want, sizeof(want), "220 mx.test SMTP Guerrilla(unknown) "
	    "#1 (12) 2024-06-06T14:00:00+02:00\r\n");
	CHECK_STR(H.out, want);

	setenv("TZ", "ABC+5:30", 1);
	tzset();
	setup();
	H.outlen = 0;
	smtp_greet(&H.s, 1, t);
	collect();
	CHECK_STR(H.out, "220 mx.test SMTP Guerrilla(1.0) #1 (1) "
	    "2024-06-06T06:30:00-05:30\r\n");
	setenv("TZ", "UTC", 1);
	tzset();

	/* GAP-03: a configured greeting, %h and %% expanded, CR/LF dropped */
	O.greeting = (char *)"%h ESMTP ready, 100%% %x\r\n250 injected";
	setup();
	H.outlen = 0;
	smtp_greet(&H.s, 1, t);
	collect();
	CHECK_STR(H.out, "220 mx.test ESMTP ready, 100% %x250 injected\r\n");
}

/* ---- HELO / EHLO ---- */

#define EHLO_PLAIN	"250-mx.test Hello\r\n250-SIZE 1000\r\n" \
			"250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" \
			"250-8BITMIME\r\n250 HELP\r\n"
#define EHLO_TLS	"250-mx.test Hello\r\n250-SIZE 1000\r\n" \
			"250-PIPELINING\r\n250-STARTTLS\r\n" \
			"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 HELP\r\n"
#define R_SYNTAX	"550 5.5.2 Syntax error\r\n"

static void
t_helo_ehlo(void)
{
	opts_default();
	expect("HELO foo.example\r\n", "250 mx.test Hello\r\n");
	CHECK_STR(H.env.helo, "foo.example");
	CHECK(H.env.esmtp == 0);
	expect("helo a-1.b2\n", "250 mx.test Hello\r\n");
	expect("HELO foo.example \t \r\n", "250 mx.test Hello\r\n");
	CHECK_STR(H.env.helo, "foo.example");
	expect("EHLO foo.example\r\n", EHLO_PLAIN);
	CHECK(H.env.esmtp == 1);
	expect("EHLO foo\r\nHELO bar\r\n", EHLO_PLAIN "250 mx.test Hello\r\n");
	CHECK(H.env.esmtp == 0);
	CHECK_STR(H.env.helo, "bar");
	expect("EHLO [192.0.2.1]\r\n", EHLO_PLAIN);
	CHECK_STR(H.env.helo, "[192.0.2.1]");
	expect("EHLO [IPv6:2001:db8::1]\r\n", EHLO_PLAIN);

	/* SMTP-19: bad arguments; state unchanged, not "unrecognised" */
	expect("HELO\r\n", R_SYNTAX);
	expect("HELO \r\n", R_SYNTAX);
	expect("HELOX foo\r\n", R_SYNTAX);
	expect("HELO  foo\r\n", R_SYNTAX);
	expect("HELO foo bar\r\n", R_SYNTAX);
	expect("HELO -foo\r\n", R_SYNTAX);
	expect("HELO foo-\r\n", R_SYNTAX);
	expect("HELO foo_bar\r\n", R_SYNTAX);
	expect("HELO foo..bar\r\n", R_SYNTAX);
	expect("HELO foo.\r\n", R_SYNTAX);
	expect("HELO f\xc3\xb6o\r\n", R_SYNTAX);
	expect("HELO [192.0.2.1]\r\n", R_SYNTAX);
	expect("EHLO [300.0.2.1]\r\n", R_SYNTAX);
	expect("EHLO [IPv6:xyz]\r\n", R_SYNTAX);
	expect("EHLO [tag:foo]\r\n", R_SYNTAX);
	EXPECT_LIT("HELO a\0b\r\n", R_SYNTAX);
	expect("EHLO foo\r\nHELO\r\n", EHLO_PLAIN R_SYNTAX);
	CHECK(H.env.esmtp == 1);
	CHECK(H.s.unrecognized == 0);

	/* success resets the transaction */
	expect("MAIL FROM:<a@example.com>\r\nHELO x\r\n"
	    "RCPT TO:<b@example.com>\r\n",
	    R_MAIL "250 mx.test Hello\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n");

	O.start_tls = 1;
	expect("EHLO foo\r\n", EHLO_TLS);
	O.max_size = 10485760;
	expect("EHLO foo\r\n", "250-mx.test Hello\r\n250-SIZE 10485760\r\n"
	    "250-PIPELINING\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n250 HELP\r\n");
}

/* ---- simple commands ---- */

static void
t_simple_commands(void)
{
	opts_default();
	expect("RSET\r\n", "250 2.1.0 OK\r\n");
	expect("VRFY bob\r\nvrfy\r\n", "252 2.5.0 Cannot verify user\r\n"
	    "252 2.5.0 Cannot verify user\r\n");
	expect("NOOP\r\nnoopx\r\n", "250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
	expect("QUIT\r\nNOOP\r\n", R_BYE);
	CHECK(H.closed && H.s.state == SMTP_S_CLOSING);
	expect("quitting\r\n", R_BYE);
	expect("HELP\r\n", "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP\r\n214 2.0.0 End of HELP info\r\n");
	O.start_tls = 1;
	O.xclient = 1;
	expect("HELP me\r\n", "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP STARTTLS XCLIENT\r\n"
	    "214 2.0.0 End of HELP info\r\n");

	/* RSET keeps the connection fields */
	opts_default();
	expect("EHLO foo\r\nMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<b@example.com>\r\nRSET\r\nDATA\r\n",
	    EHLO_PLAIN R_MAIL R_RCPT "250 2.1.0 OK\r\n"
	    "503 5.5.1 Error: No sender\r\n");
	CHECK_STR(H.env.helo, "foo");
	CHECK(H.env.esmtp == 1);
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	CHECK(H.env.nrcpt == 0 && !H.env.has_from);

	/* the closed session consumes nothing more */
	{
		enum smtp_event ev;
		CHECK(smtp_input(&H.s, "NOOP\r\n", 6, &ev) == 6);
		setup();
		RUN_LIT("QUIT\r\n");
		CHECK(smtp_input(&H.s, "NOOP\r\n", 6, &ev) == 0);
		CHECK(ev == SMTP_EV_CLOSE);
	}
}

static void
t_unrecognized(void)
{
	opts_default();
	expect("FOO\r\n\r\nMAIL FROM :<a@example.com>\r\nMAIL\r\n"
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nNOOP\r\n",
	    R_UNREC R_UNREC R_UNREC R_UNREC
	    "554 5.5.1 Too many unrecognized commands\r\n");
	CHECK(H.closed);
	/* syntax errors of known commands do not count; nor is it reset */
	expect("A\r\nB\r\nHELO\r\nMAIL FROM:x\r\nRSET\r\nC\r\nD\r\nE\r\n",
	    R_UNREC R_UNREC R_SYNTAX "501 5.5.4 Invalid address\r\n"
	    "250 2.1.0 OK\r\n" R_UNREC R_UNREC
	    "554 5.5.1 Too many unrecognized commands\r\n");
	/* STARTTLS and XCLIENT are unknown unless enabled */
	expect("STARTTLS\r\nXCLIENT ADDR=1.2.3.4\r\n", R_UNREC R_UNREC);
}

/* ---- line length (SMTP-12) ---- */

static void
t_line_length(void)
{
	static char in[2100];
	size_t n;

	opts_default();
	memcpy(in, "NOOP", 4);
	memset(in + 4, 'x', 1018);
	memcpy(in + 1022, "\r\nNOOP\r\n", 8);	/* 1022 + CRLF = 1024 */
	expect_n(in, 1030, "250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
	memset(in + 4, 'x', 1019);
	memcpy(in + 1023, "\nNOOP\r\n", 7);	/* 1023 + LF = 1024 */
	expect_n(in, 1030, "250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
	memcpy(in + 1023, "\r\nNOOP\r\n", 8);	/* 1023 + CRLF = 1025 */
	expect_n(in, 1031, "554 5.5.1 Line too long.\r\n");
	CHECK(H.closed);
	memset(in, 'x', sizeof(in));		/* no line end at all */
	expect_n(in, sizeof(in), "554 5.5.1 Line too long.\r\n");
	/* an incomplete line is left for later */
	{
		enum smtp_event ev;
		setup();
		n = smtp_input(&H.s, "NOOP", 4, &ev);
		CHECK(n == 0 && ev == SMTP_EV_NONE && !H.s.line_done);
		n = smtp_input(&H.s, "NOOP\r", 5, &ev);
		CHECK(n == 0 && H.s.outlen == 0);
		n = smtp_input(&H.s, "NOOP\r\nNO", 8, &ev);
		CHECK(n == 6 && H.s.line_done);
	}
}

/* ---- MAIL FROM ---- */

#define R_INVALID	"501 5.5.4 Invalid address\r\n"
#define R_PARAMS	"501 5.5.4 Syntax error in parameters\r\n"

static void
t_mail(void)
{
	opts_default();
	expect("MAIL FROM:<a@example.com>\r\n", R_MAIL);
	CHECK(H.s.in_tx && H.env.has_from);
	CHECK_STR(H.env.from.local, "a");
	CHECK_STR(H.env.from.domain, "example.com");
	expect("mail from: <a@example.com>\r\n", R_MAIL);
	expect("MAIL FROM:<>\r\n", R_MAIL);
	CHECK(H.env.from.null_path && H.s.in_tx);
	expect("MAIL FROM:<a@example.com>\r\nMAIL FROM:<b@example.com>\r\n",
	    R_MAIL "503 5.5.1 Error: nested MAIL command\r\n");
	expect("MAIL FROM:<>\r\nMAIL FROM:<>\r\n",	/* GAP-12 */
	    R_MAIL "503 5.5.1 Error: nested MAIL command\r\n");
	expect("MAIL FROM:a@example.com\r\n", R_INVALID);
	expect("MAIL FROM:\r\n", R_INVALID);
	expect("MAIL FROM:  <a@example.com>\r\n", R_INVALID);
	expect("MAIL FROM:<a@example.com>SIZE=1\r\n", R_INVALID);
	expect("MAIL FROM:<postmaster>\r\n", R_INVALID);

	/* SMTP-25 parameters */
	expect("MAIL FROM:<a@example.com> SIZE=500 BODY=8BITMIME\r\n", R_MAIL);
	CHECK_STR(H.env.from.params, "SIZE=500 BODY=8BITMIME");
	expect("MAIL FROM:<a@example.com> SIZE=1000\r\n", R_MAIL);
	expect("MAIL FROM:<a@example.com> size=1001\r\n",
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
	CHECK(!H.s.in_tx);
	expect("MAIL FROM:<a@example.com> SIZE=99999999999999999999999999\r\n",
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
	expect("MAIL FROM:<a@example.com> SIZE=12a\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> SIZE\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> SIZE=\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> BODY=7bit\r\n", R_MAIL);
	expect("MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> AUTH=<>\r\n", R_MAIL);
	expect("MAIL FROM:<a@example.com> SMTPUTF8\r\n",
	    "555 5.5.4 Unsupported option: SMTPUTF8\r\n");
	expect("MAIL FROM:<a@example.com> BODY=8BITMIME Ret=HDRS\r\n",
	    "555 5.5.4 Unsupported option: Ret\r\n");
	CHECK(!H.s.in_tx && !H.env.has_from);
	expect("MAIL FROM:<a@example.com> =x\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> -X=1\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> X=a=b\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> X=\x01\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> X=\xc3\xa9\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com> SIZE=1\tBODY=7BIT\r\n", R_PARAMS);
	expect("MAIL FROM:<a@example.com>   \r\n", R_MAIL);
	CHECK(H.env.from.params == NULL);

	/* SMTP-35 replies */
	{
		char in[400];
		memcpy(in, "MAIL FROM:<", 11);
		memset(in + 11, 'a', 129);
		memcpy(in + 140, "@grr.la>\r\n", 11);
		expect(in, "550 5.5.4 Local part too long, cannot exceed 64 "
		    "characters\r\n");
		memset(in + 11, 'a', 300);
		memcpy(in + 311, "@grr.la>\r\n", 11);
		expect(in, "550 5.5.4 Path too long\r\n");
	}
}

/* ---- RCPT TO ---- */

static void
t_rcpt(void)
{
	opts_default();
	expect("RCPT TO:<b@example.com>\r\n",
	    "503 5.5.1 Error: need MAIL command\r\n");
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n"
	    "RCPT TO:<c@EXAMPLE.COM>\r\n", R_MAIL R_RCPT R_RCPT);
	CHECK(H.env.nrcpt == 2);
	CHECK_STR(H.env.rcpt[1].domain, "EXAMPLE.COM");
	expect("MAIL FROM:<>\r\nRCPT TO:<b@other.org>\r\n",
	    R_MAIL "454 4.1.1 Error: Relay access denied: other.org\r\n");
	CHECK(H.env.nrcpt == 0);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@[127.0.0.1]>\r\n"
	    "RCPT TO:<b@[10.0.0.1]>\r\n", R_MAIL R_RCPT
	    "454 4.1.1 Error: Relay access denied: 10.0.0.1\r\n");
	CHECK(H.env.nrcpt == 1 && H.env.rcpt[0].ip_family == 4);
	/* SMTP-28/29: bare postmaster always; the prefix form is ordinary */
	expect("MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n"
	    "RCPT TO: <PostMaster>\r\nRCPT TO:<postmaster@other.org>\r\n"
	    "RCPT TO:<postmaster.x@example.com>\r\n",
	    R_MAIL R_RCPT R_RCPT
	    "454 4.1.1 Error: Relay access denied: other.org\r\n" R_RCPT);
	CHECK(H.env.nrcpt == 3);
	CHECK_STR(H.env.rcpt[1].local, "postmaster");
	CHECK_STR(H.env.rcpt[1].domain, "mx.test");
	CHECK(H.env.rcpt[1].bare_postmaster);
	CHECK_STR(H.env.rcpt[2].local, "postmaster.x");
	expect("MAIL FROM:<>\r\nRCPT TO:<>\r\nRCPT TO:b@example.com\r\n"
	    "RCPT TO :<b@example.com>\r\n",
	    R_MAIL R_INVALID R_INVALID R_UNREC);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
	    "RCPT TO:<b@other.org> ORCPT=rfc822;b@x\r\n"
	    "RCPT TO:<b@example.com> =\r\n",
	    R_MAIL "555 5.5.4 Unsupported option: NOTIFY\r\n"
	    "555 5.5.4 Unsupported option: ORCPT\r\n" R_PARAMS);
	CHECK(H.env.nrcpt == 0);
}

static void
t_rcpt_limit(void)
{
	static char in[100 * 32 + 200], want[100 * 16 + 200];
	size_t n = 0, w = 0;
	int i;

	opts_default();
	n += (size_t)snprintf(in + n, sizeof(in) - n, "MAIL FROM:<>\r\n");
	w += (size_t)snprintf(want + w, sizeof(want) - w, R_MAIL);
	for (i = 0; i < 101; i++) {
		n += (size_t)snprintf(in + n, sizeof(in) - n,
		    "RCPT TO:<u%d@example.com>\r\n", i);
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%s",
		    i < 100 ? R_RCPT : "452 4.5.3 Too many recipients\r\n");
	}
	n += (size_t)snprintf(in + n, sizeof(in) - n,
	    "DATA\r\nhi\r\n.\r\n");
	w += (size_t)snprintf(want + w, sizeof(want) - w, R_354 R_QUEUED);
	expect_n(in, n, want);
	CHECK(H.nsaved == 1 && H.saved_nrcpt == 100);
}

/* ---- the address grammar (SMTP-33..35) ---- */

struct pcase {
	const char	*in;
	int		 rcpt;
	int		 err;
	const char	*local;		/* NULL: not checked */
	const char	*domain;
	int		 quoted;
	int		 family;
};

static const struct pcase pcases[] = {
	{ "<a@grr.la>", 0, 0, "a", "grr.la", 0, 0 },
	{ " <a@grr.la>", 0, 0, "a", "grr.la", 0, 0 },
	{ "  <a@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "a@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@grr.la", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<>", 0, 0, "", "", 0, 0 },
	{ "<>", 1, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@b@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	/* dot-string */
	{ "<a.b+c_d!#$%&'*/=?^`{|}~-@grr.la>", 0, 0,
	    "a.b+c_d!#$%&'*/=?^`{|}~-", "grr.la", 0, 0 },
	{ "<\"a.b\"@grr.la>", 0, 0, "a.b", "grr.la", 1, 0 },
	{ "<\"qu\\{oted\"@grr.la>", 0, 0, "qu{oted", "grr.la", 0, 0 },
	{ "<.a@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a.@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a..b@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a b@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a(b)@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<Ab1@grr.la>", 0, 0, "Ab1", "grr.la", 0, 0 },
	/* quoted strings: unquoted when stored */
	{ "<\"john doe\"@grr.la>", 0, 0, "john doe", "grr.la", 1, 0 },
	{ "<\"abc\"@grr.la>", 0, 0, "abc", "grr.la", 0, 0 },
	{ "<\"a\\\"b\\\\c\"@grr.la>", 0, 0, "a\"b\\c", "grr.la", 1, 0 },
	{ "<\"\\a\"@grr.la>", 0, 0, "a", "grr.la", 0, 0 },
	{ "<\"a>b\"@grr.la>", 0, 0, "a>b", "grr.la", 1, 0 },
	{ "<\"\"@grr.la>", 0, 0, "", "grr.la", 1, 0 },
	{ "<\"abc@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<\"a\"b@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<\"a\tb\"@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<\"a\\\xc3\xa9\"@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	/* 8-bit: no SMTPUTF8 */
	{ "<j\xc3\xb6@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<j@gr\xc3\xb6.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<\"j\xc3\xb6\"@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	/* domains */
	{ "<a@-x.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@x-.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@x-y.l-a>", 0, 0, "a", "x-y.l-a", 0, 0 },
	{ "<a@x_y.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@x..la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@x.la.>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@localhost>", 0, 0, "a", "localhost", 0, 0 },
	/* address literals */
	{ "<a@[192.0.2.1]>", 0, 0, "a", "192.0.2.1", 0, 4 },
	{ "<a@[001.02.3.255]>", 0, 0, "a", "1.2.3.255", 0, 4 },
	{ "<a@[256.0.0.1]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[1.2.3]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[1.2.3.4.5]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[1.2.3.1234]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[1.2.3.4>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[IPv6:2001:DB8:0:0:0:0:0:1]>", 0, 0, "a", "2001:db8::1", 0, 6 },
	{ "<a@[ipv6:::1]>", 0, 0, "a", "::1", 0, 6 },
	{ "<a@[IPV6:::FFFF:1.2.3.4]>", 0, 0, "a", "::ffff:1.2.3.4", 0, 6 },
	{ "<a@[IPv6:1.2.3.4]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[IPv6:2001:db8::g]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, SMTP_ADDR_INVALID, NULL, NULL,
	    0, 0 },
	{ "<a@[IPv6:]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[tag:content]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@[x]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@x.[1.2.3.4]>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	/* source routes */
	{ "<@a.la,@b.la:u@grr.la>", 0, 0, "u", "grr.la", 0, 0 },
	{ "<@a.la:u@grr.la>", 1, 0, "u", "grr.la", 0, 0 },
	{ "<@a.la,b.la:u@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<@:u@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<@a.la u@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<@a.la,:u@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<@[1.2.3.4]:u@grr.la>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	/* postmaster (RCPT only, exact) */
	{ "<postmaster>", 1, 0, "postmaster", "mx.test", 0, 0 },
	{ "<POSTMASTER>", 1, 0, "postmaster", "mx.test", 0, 0 },
	{ "<postmaster>", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<postmasterx>", 1, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<postmaster@grr.la>", 1, 0, "postmaster", "grr.la", 0, 0 },
	/* parameters */
	{ "<a@grr.la> SIZE=10", 0, 0, "a", "grr.la", 0, 0 },
	{ "<a@grr.la>SIZE=10", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@grr.la> SIZE=", 0, SMTP_ADDR_PARAMS, NULL, NULL, 0, 0 },
	{ "<a@grr.la> =1", 0, SMTP_ADDR_PARAMS, NULL, NULL, 0, 0 },
	{ "<a@grr.la> A_B=1", 0, SMTP_ADDR_PARAMS, NULL, NULL, 0, 0 },
	{ "<a b@grr.la> =1", 0, SMTP_ADDR_INVALID, NULL, NULL, 0, 0 },
	{ "<a@grr.la> X-Y Z=1", 0, 0, "a", "grr.la", 0, 0 },
};

static void
t_parse_path(void)
{
	struct gd_address a;
	size_t i;
	int err;

	for (i = 0; i < NELEM(pcases); i++) {
		const struct pcase *c = &pcases[i];
		err = smtp_parse_path(c->in, strlen(c->in), c->rcpt, "mx.test",
		    &a);
		if (err != c->err)
			printf("     case %zu [%s]: got %d, want %d\n", i, c->in,
			    err, c->err);
		CHECK(err == c->err);
		if (err == 0 && c->local != NULL) {
			CHECK_STR(a.local, c->local);
			CHECK_STR(a.domain, c->domain);
			if (a.quoted != c->quoted || a.ip_family != c->family)
				printf("     case %zu [%s]: quoted %d family %d\n",
				    i, c->in, a.quoted, a.ip_family);
			CHECK(a.quoted == c->quoted);
			CHECK(a.ip_family == c->family);
		}
		env_addr_clear(&a);
	}

	/* stored extras */
	err = smtp_parse_path("<@a.la,@b.la:u@[IPv6:2001:DB8::0:1]>  X=1  Y ",
	    45, 0, "h", &a);
	CHECK(err == 0);
	CHECK_STR(a.adl, "@a.la,@b.la");
	CHECK_STR(a.params, "X=1  Y");
	CHECK_STR(a.domain, "2001:db8::1");
	CHECK(a.ip[0] == 0x20 && a.ip[1] == 0x01 && a.ip[15] == 1);
	env_addr_clear(&a);
	err = smtp_parse_path("<a@[10.1.2.3]>", 14, 0, "h", &a);
	CHECK(err == 0 && a.ip[0] == 10 && a.ip[3] == 3 && a.adl == NULL &&
	    a.params == NULL);
	env_addr_clear(&a);
	err = smtp_parse_path("<>", 2, 0, "h", &a);
	CHECK(err == 0 && a.null_path && a.local[0] == '\0');
	env_addr_clear(&a);
	err = smtp_parse_path("<postmaster>", 12, 1, "h", &a);
	CHECK(err == 0 && a.bare_postmaster);
	env_addr_clear(&a);
	/* NUL bytes are just invalid octets */
	CHECK(smtp_parse_path("<a\0b@grr.la>", 12, 0, "h", &a) ==
	    SMTP_ADDR_INVALID);
	CHECK(smtp_parse_path("<a@grr.la>\0", 11, 0, "h", &a) ==
	    SMTP_ADDR_INVALID);
	CHECK(smtp_parse_path("<a@grr.la> X=\0", 14, 0, "h", &a) ==
	    SMTP_ADDR_PARAMS);
	CHECK(smtp_parse_path("", 0, 0, "h", &a) == SMTP_ADDR_INVALID);
	CHECK(smtp_parse_path("<", 1, 0, "h", &a) == SMTP_ADDR_INVALID);
	CHECK(smtp_parse_path("<\"\\", 3, 0, "h", &a) == SMTP_ADDR_INVALID);
}

/* t_path_limits - the GG oracles of SMTP-35 and the order of the checks. */
static void
t_path_limits(void)
{
	char p[600];
	struct gd_address a;
	size_t n;

	/* local part: 127 and 128 accepted, 129 refused */
	for (n = 127; n <= 129; n++) {
		p[0] = '<';
		memset(p + 1, 'a', n);
		memcpy(p + 1 + n, "@grr.la>", 8);
		CHECK(smtp_parse_path(p, n + 9, 0, "h", &a) ==
		    (n <= 128 ? SMTP_ADDR_OK : SMTP_ADDR_LOCAL_TOO_LONG));
		CHECK(n > 128 || strlen(a.local) == n);
		env_addr_clear(&a);
	}
	/* a quoted local part counts its stored octets */
	p[0] = '<';
	p[1] = '"';
	for (n = 0; n < 128; n++) {
		p[2 + 2 * n] = '\\';
		p[3 + 2 * n] = 'a';
	}
	memcpy(p + 258, "\"@x>", 4);		/* path of 262 octets */
	CHECK(smtp_parse_path(p, 262, 0, "h", &a) == SMTP_ADDR_PATH_TOO_LONG);
	memcpy(p + 2 + 2 * 120, "\"@x>", 4);	/* 120 escaped octets */
	CHECK(smtp_parse_path(p, 246, 0, "h", &a) == SMTP_ADDR_OK);
	CHECK(strlen(a.local) == 120 && !a.quoted);
	env_addr_clear(&a);

	/* "<" + 64 a + "@" + 186 b + ".la>" = 256 octets passes */
	p[0] = '<';
	memset(p + 1, 'a', 64);
	p[65] = '@';
	memset(p + 66, 'b', 186);
	memcpy(p + 252, ".la>", 4);
	CHECK(smtp_parse_path(p, 256, 0, "h", &a) == SMTP_ADDR_OK);
	CHECK(strlen(a.domain) == 189);
	env_addr_clear(&a);
	/* parameters do not count ([DEV] SMTP-35) */
	memset(p + 256, ' ', 1);
	memset(p + 257, 'X', 300);
	CHECK(smtp_parse_path(p, 557, 0, "h", &a) == SMTP_ADDR_OK);
	CHECK(a.params != NULL && strlen(a.params) == 300);
	env_addr_clear(&a);
	/* 257 octets: too long, even with a syntax error inside */
	memmove(p + 253, ".la>", 4);
	p[252] = 'b';
	CHECK(smtp_parse_path(p, 257, 0, "h", &a) == SMTP_ADDR_PATH_TOO_LONG);
	p[10] = ' ';
	CHECK(smtp_parse_path(p, 257, 0, "h", &a) == SMTP_ADDR_PATH_TOO_LONG);
	/* no ">" at all: measured to the end */
	CHECK(smtp_parse_path(p, 250, 0, "h", &a) == SMTP_ADDR_INVALID);
	CHECK(smtp_parse_path(p, 300, 0, "h", &a) == SMTP_ADDR_PATH_TOO_LONG);
	/* syntax before length of the local part */
	p[0] = '<';
	memset(p + 1, 'a', 130);
	memcpy(p + 131, "@-grr.la>", 9);
	CHECK(smtp_parse_path(p, 140, 0, "h", &a) == SMTP_ADDR_INVALID);
}

static void
t_valid_domain(void)
{
	CHECK(smtp_valid_domain("a", 1));
	CHECK(smtp_valid_domain("1.2", 3));
	CHECK(smtp_valid_domain("a-b.c--d.e9", 11));
	CHECK(!smtp_valid_domain("", 0));
	CHECK(!smtp_valid_domain(".", 1));
	CHECK(!smtp_valid_domain("a.", 2));
	CHECK(!smtp_valid_domain(".a", 2));
	CHECK(!smtp_valid_domain("a-.b", 4));
	CHECK(!smtp_valid_domain("a.-b", 4));
	CHECK(!smtp_valid_domain("a_b", 3));
	CHECK(!smtp_valid_domain("a b", 3));
	CHECK(!smtp_valid_domain("a\0b", 3));
	CHECK(!smtp_valid_domain("[1.2.3.4]", 9));
}

/* ---- DATA ---- */

struct dcase {
	const char	*body;		/* after the 354, with the terminator */
	size_t		 blen;		/* 0: strlen */
	const char	*stored;
	size_t		 slen;		/* 0: strlen */
};

static const struct dcase dcases[] = {
	{ "Hello\r\n.\r\n", 0, "Hello\n", 0 },
	{ ".\r\n", 0, "", 0 },				/* empty message */
	{ "\r\n.\r\n", 0, "\n", 0 },
	{ "a\r\nb\r\n\r\nc\r\n.\r\n", 0, "a\nb\n\nc\n", 0 },
	{ "..dot\r\n.\r\n", 0, ".dot\n", 0 },		/* SMTP-46 */
	{ "a\r\n..\r\n...\r\n.\r\n", 0, "a\n.\n..\n", 0 },
	{ ".x\r\n.\r\n", 0, "x\n", 0 },
	{ ". \r\n.\r\n", 0, " \n", 0 },
	{ "a.\r\n.b.\r\n.\r\n", 0, "a.\nb.\n", 0 },
	{ "a\rb\r\n.\r\n", 0, "a\rb\n", 0 },		/* bare CR kept */
	{ "a\r\r\n.\r\n", 0, "a\r\n", 0 },
	{ "\r\r\r\n.\r\n", 0, "\r\r\n", 0 },
	{ "a\r", 0, NULL, 0 },
	{ "a\nb\r\n.\r\n", 0, "a\nb\n", 0 },		/* bare LF kept */
	{ "a\0\xff\x80\r\n.\r\n", 9, "a\0\xff\x80\n", 5 },
	{ "no end\r\n", 0, NULL, 0 },
	/* smuggling: only CR LF "." CR LF ends */
	{ "a\n.\nb\r\n.\r\n", 0, "a\n.\nb\n", 0 },	/* <LF>.<LF> */
	{ "a\r\n.\nb\r\n.\r\n", 0, "a\n.\nb\n", 0 },	/* <CRLF>.<LF> */
	{ "a\n.\r\nb\r\n.\r\n", 0, "a\n.\nb\n", 0 },	/* <LF>.<CRLF> */
	{ "a\r.\rb\r\n.\r\n", 0, "a\r.\rb\n", 0 },	/* <CR>.<CR> */
	{ "a\r.\r\nb\r\n.\r\n", 0, "a\r.\nb\n", 0 },	/* <CR>.<CRLF> */
	{ "a\r\n.\rb\r\n.\r\n", 0, "a\n.\rb\n", 0 },	/* <CRLF>.<CR> */
	{ "a\n.\rb\r\n.\r\n", 0, "a\n.\rb\n", 0 },	/* <LF>.<CR> */
	{ "a\r\n.\r\r\n.\r\n", 0, "a\n.\r\n", 0 },	/* <CRLF>.<CR><CRLF> */
	{ "a\r\n.\r.\r\n.\r\n", 0, "a\n.\r.\n", 0 },
	{ ".\n.\r\n.\r\n", 0, ".\n.\n", 0 },
	{ "a\n..b\r\n.\r\n", 0, "a\n.b\n", 0 },	/* unstuffed after bare LF */
	{ "a\n.\n", 0, NULL, 0 },
	{ "a\n.\r\n", 0, NULL, 0 },
	{ "a\r\n.\n", 0, NULL, 0 },
	{ "a\r\n.\r", 0, NULL, 0 },
	{ "a\r\n. \r\n", 0, NULL, 0 },
};

static void
t_data_decoder(void)
{
	char in[256], want[256];
	size_t i, n, j;

	opts_default();
	n = strlen(TX);
	memcpy(in, TX, n);
	for (i = 0; i < NELEM(dcases); i++) {
		const struct dcase *c = &dcases[i];
		size_t bl = c->blen ? c->blen : strlen(c->body);
		size_t sl = c->stored == NULL ? 0 :
		    c->slen ? c->slen : strlen(c->stored);
		memcpy(in + n, c->body, bl);
		snprintf(want, sizeof(want), "%s%s", R_TX,
		    c->stored != NULL ? R_QUEUED : "");
		for (j = 0; j < NELEM(chunks); j++) {
			setup();
			run(in, n + bl, chunks[j]);
			if (strcmp(H.out, want) != 0)
				printf("     case %zu, chunk %zu\n", i, chunks[j]);
			CHECK_STR(H.out, want);
			if (c->stored == NULL) {
				CHECK(H.nsaved == 0 &&
				    H.s.state == SMTP_S_DATA);
				continue;
			}
			if (H.nsaved != 1 || H.savedlen != sl ||
			    memcmp(H.saved, c->stored, sl) != 0)
				printf("     case %zu, chunk %zu: stored [%.*s]\n",
				    i, chunks[j], (int)H.savedlen,
				    H.saved ? H.saved : "");
			CHECK(H.nsaved == 1);
			CHECK(H.savedlen == sl);
			CHECK(H.saved != NULL && memcmp(H.saved, c->stored,
			    sl) == 0);
			CHECK(H.s.state == SMTP_S_COMMAND && !H.s.in_tx);
			CHECK(H.s.messages == 1);
		}
	}
	/* DATA preconditions */
	expect("DATA\r\n", "503 5.5.1 Error: No sender\r\n");
	expect("MAIL FROM:<>\r\nDATA\r\n",
	    R_MAIL "503 5.5.1 Error: No recipients\r\n");
	expect("MAIL FROM:<>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n",
	    R_MAIL "454 4.1.1 Error: Relay access denied: y.z\r\n"
	    "503 5.5.1 Error: No recipients\r\n");
}

static void
t_data_bare_lf_reject(void)
{
	opts_default();
	O.bare_lf_reject = 1;
	expect(TX "a\nb\r\n.\r\nRCPT TO:<b@example.com>\r\n",
	    R_TX "550 5.5.2 Error: bare <LF> received\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n");
	CHECK(H.nsaved == 0 && H.env.data.len == 0);
	expect(TX "a\r\n.\nb\r\n.\r\n",
	    R_TX "550 5.5.2 Error: bare <LF> received\r\n");
	expect(TX "a\rb\r\n.\r\n", R_TX R_QUEUED);	/* bare CR is fine */
	CHECK(H.nsaved == 1 && H.savedlen == 4);
	/* the flag does not leak into the next message */
	expect(TX "a\nb\r\n.\r\n" TX "ok\r\n.\r\n",
	    R_TX "550 5.5.2 Error: bare <LF> received\r\n" R_TX R_QUEUED);
	CHECK(H.nsaved == 1 && H.savedlen == 3);
}

static void
t_data_max_size(void)
{
	static char in[4000], want[1000];
	size_t n;

	opts_default();
	/* exactly max_size decoded octets: 999 x and the LF of CR LF */
	n = strlen(TX);
	memcpy(in, TX, n);
	memset(in + n, 'x', 999);
	memcpy(in + n + 999, "\r\n.\r\nNOOP\r\n", 11);
	expect_n(in, n + 1010, R_TX R_QUEUED "250 2.0.0 OK\r\n");
	CHECK(H.nsaved == 1 && H.savedlen == 1000);
	/* one more: 552 once at the end, transaction reset, session goes on */
	memset(in + n, 'x', 1000);
	memcpy(in + n + 1000, "\r\n.\r\nNOOP\r\nRCPT TO:<b@example.com>\r\n"
	    "MAIL FROM:<>\r\n", 50);
	snprintf(want, sizeof(want), "%s", R_TX
	    "552 5.3.4 Error: maximum DATA size exceeded (1000)\r\n"
	    "250 2.0.0 OK\r\n503 5.5.1 Error: need MAIL command\r\n" R_MAIL);
	expect_n(in, n + 1050, want);
	CHECK(H.nsaved == 0 && !H.closed && H.s.d_toobig);
	CHECK(H.env.data.len == 0);
	/* dot-stuffing does not count: 1000 stored from 1001 sent */
	memcpy(in + n, "..", 2);
	memset(in + n + 2, 'x', 997);
	memcpy(in + n + 999, "\r\n.\r\n", 5);
	expect_n(in, n + 1004, R_TX R_QUEUED);
	CHECK(H.savedlen == 999);
}

/* t_data_discard_limit - SMTP-48: past max_size + SMTP_DISCARD_EXTRA
 * discarded octets the session is closed with the same 552. */
static void
t_data_discard_limit(void)
{
	size_t n = strlen(TX), x, len;
	char *in;
	int close;

	opts_default();
	O.max_size = 10;
	/* decoded size d = x + 1 (the LF); discarded = d - 10 */
	x = 2 * 10 + SMTP_DISCARD_EXTRA - 1;
	if ((in = malloc(n + x + 32)) == NULL) {
		CHECK(!"malloc");
		return;
	}
	for (close = 0; close <= 1; close++) {
		memcpy(in, TX, n);
		memset(in + n, 'x', x + (size_t)close);
		len = n + x + (size_t)close;
		memcpy(in + len, "\r\n.\r\nNOOP\r\n", 11);
		len += 11;
		setup();
		run(in, len, 0);
		CHECK_STR(H.out, close ? R_TX "552 5.3.4 Error: maximum DATA "
		    "size exceeded (10)\r\n" : R_TX "552 5.3.4 Error: maximum "
		    "DATA size exceeded (10)\r\n250 2.0.0 OK\r\n");
		CHECK(H.closed == close);
		CHECK(H.env.data.len == 0 && !H.s.in_tx);
		setup();
		run(in, len, 997);
		CHECK(H.closed == close);
	}
	/* a stream without any terminator is cut as well */
	memset(in + n, 'x', x + 20);
	setup();
	run(in, n + x + 20, 0);
	CHECK_STR(H.out, R_TX "552 5.3.4 Error: maximum DATA size exceeded "
	    "(10)\r\n");
	CHECK(H.closed && H.s.state == SMTP_S_CLOSING);
	free(in);
}

/* t_data_nomem - env_data_append failing is our trouble: 451, the
 * transaction is reset, the session goes on. */
static void
t_data_nomem(void)
{
	opts_default();
	setup();
	RUN_LIT(TX "abc\r\n");
	H.s.d_nomem = 1;	/* as data_store sets it when the append fails */
	RUN_LIT("def\r\n.\r\nNOOP\r\nDATA\r\n");
	CHECK_STR(H.out, R_TX "451 4.3.0 Error: out of memory\r\n"
	    "250 2.0.0 OK\r\n503 5.5.1 Error: No sender\r\n");
	CHECK(H.nsaved == 0 && !H.closed);
}

/* ---- pipelining and the event flow ---- */

static void
t_pipelining(void)
{
	static const char in[] = "EHLO x\r\nMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
	    "Subject: hi\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<postmaster>\r\nDATA\r\n.\r\nQUIT\r\nNOOP\r\n";

	opts_default();
	expect(in, EHLO_PLAIN R_MAIL R_RCPT R_RCPT R_354 R_QUEUED
	    R_MAIL R_RCPT R_354 R_QUEUED R_BYE);
	CHECK(H.nsaved == 2 && H.savedlen == 0 && H.s.messages == 2);
	setup();
	run(in, (size_t)(strstr(in, "body\r\n.\r\n") + 9 - in), 0);
	CHECK(H.nsaved == 1 && H.saved_nrcpt == 2);
	CHECK(H.savedlen == 18 && memcmp(H.saved, "Subject: hi\n\nbody\n",
	    18) == 0);
}

static void
t_save_flow(void)
{
	static const char in[] = TX "hi\r\n.\r\nNOOP\r\n";
	size_t len = sizeof(in) - 1, n;
	enum smtp_event ev;

	opts_default();
	setup();
	n = smtp_input(&H.s, in, len, &ev);
	CHECK(ev == SMTP_EV_SAVE && n == len - 6);
	CHECK(H.s.state == SMTP_S_WAIT_SAVE && H.s.line_done);
	CHECK(H.env.data.len == 3 && memcmp(H.env.data.p, "hi\n", 3) == 0);
	CHECK(smtp_input(&H.s, in + n, 6, &ev) == 0 && ev == SMTP_EV_NONE);
	collect();
	CHECK_STR(H.out, R_TX);
	gd_strlcpy(H.env.queued_id, "abc", sizeof(H.env.queued_id));
	CHECK(smtp_save_done(&H.s, &O.save) == SMTP_EV_NONE);
	CHECK(H.s.state == SMTP_S_COMMAND && !H.s.in_tx);
	CHECK(H.env.data.len == 0 && H.env.nrcpt == 0 && !H.env.has_from);
	CHECK(H.s.messages == 1);
	CHECK(smtp_input(&H.s, in + n, 6, &ev) == 6 && ev == SMTP_EV_NONE);
	collect();
	CHECK_STR(H.out, R_TX R_QUEUED "250 2.0.0 OK\r\n");
	/* a second save_done is ignored */
	CHECK(smtp_save_done(&H.s, &O.save) == SMTP_EV_NONE);
	CHECK(H.s.outlen == 0);

	/* the reply: from the status, a whole reply text of the same class
	 * verbatim, CR/LF removed; only OK counts as a message */
	O.save = R(GD_STATUS_PERMFAIL, "storage failed");
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: storage failed\r\n");
	CHECK(H.s.messages == 0 && H.nsaved == 1);
	O.save = R(GD_STATUS_PERMFAIL, NULL);
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: storage failed\r\n");
	O.save = R(GD_STATUS_PERMFAIL, "554 Error: could not save email");
	expect(TX "x\r\n.\r\n", R_TX "554 Error: could not save email\r\n");
	O.save = R(GD_STATUS_TEMPFAIL, NULL);
	expect(TX "x\r\n.\r\n", R_TX "451 4.3.0 Error: storage not "
	    "available\r\n");
	O.save = R(GD_STATUS_TEMPFAIL, "451 4.7.1 Later");
	expect(TX "x\r\n.\r\n", R_TX "451 4.7.1 Later\r\n");
	CHECK(H.s.messages == 0);
	O.save = R(GD_STATUS_OK, "250 ok\r\n421 injected\n");
	expect(TX "x\r\n.\r\n", R_TX "250 ok421 injected\r\n");
	CHECK(H.s.messages == 1);
	O.save = R(GD_STATUS_OK, "299 fine");
	expect(TX "x\r\n.\r\n", R_TX "299 fine\r\n");
	CHECK(H.s.messages == 1);
	O.save = R(GD_STATUS_OK, "saved as 7");
	expect(TX "x\r\n.\r\n", R_TX "250 2.0.0 OK: saved as 7\r\n");
	CHECK(H.s.messages == 1);
	/* a failure can never be answered with a success code */
	O.save = R(GD_STATUS_TEMPFAIL, "250 not");
	expect(TX "x\r\n.\r\n", R_TX "451 4.3.0 Error: 250 not\r\n");
	CHECK(H.s.messages == 0);
	O.save = R(GD_STATUS_PERMFAIL, "2x0 odd");
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: 2x0 odd\r\n");
	CHECK(H.s.messages == 0);
	O.save = R(GD_STATUS_PERMFAIL, "451 wrong class");
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: 451 wrong class\r\n");
	O.save = R(GD_STATUS_NONE, NULL);
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: no response from "
	    "backend - processor did not return a result or an error\r\n");
	O.save = R(GD_STATUS_NONE, "250 text without a status");
	expect(TX "x\r\n.\r\n", R_TX "554 5.5.0 Error: no response from "
	    "backend - processor did not return a result or an error\r\n");
	CHECK(H.s.messages == 0);
}

static void
t_validate_flow(void)
{
	static const char in[] = "MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n"
	    "RCPT TO:<c@example.com>\r\nDATA\r\n";
	size_t n;
	enum smtp_event ev;

	opts_default();
	O.have_validate = 1;
	expect(in, R_MAIL R_RCPT R_RCPT R_354);
	CHECK(H.nvalidate == 2 && H.env.nrcpt == 2);
	CHECK_STR(H.env.rcpt[1].local, "c");
	O.validate = R(GD_STATUS_OK, NULL);
	expect(in, R_MAIL R_RCPT R_RCPT R_354);
	O.validate = R(GD_STATUS_PERMFAIL, "no such user");
	expect(in, R_MAIL
	    "550 5.1.1 User unknown in local recipient table no such user\r\n"
	    "550 5.1.1 User unknown in local recipient table no such user\r\n"
	    "503 5.5.1 Error: No recipients\r\n");
	CHECK(H.env.nrcpt == 0 && H.s.in_tx);
	O.validate = R(GD_STATUS_TEMPFAIL, "storage timeout");
	expect(in, R_MAIL "451 4.3.0 Error: storage timeout\r\n"
	    "451 4.3.0 Error: storage timeout\r\n"
	    "503 5.5.1 Error: No recipients\r\n");
	O.validate = R(GD_STATUS_TEMPFAIL, NULL);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n",
	    R_MAIL "451 4.3.0 Error: storage not available\r\n");
	O.validate = R(GD_STATUS_PERMFAIL, NULL);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n", R_MAIL
	    "550 5.1.1 User unknown in local recipient table no such user\r\n");
	O.validate = R(GD_STATUS_PERMFAIL, "553 5.7.1 Not you");
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n", R_MAIL
	    "553 5.7.1 Not you\r\n");
	O.validate = R(GD_STATUS_NONE, NULL);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n", R_MAIL
	    "451 4.3.0 Error: storage error\r\n");
	O.validate = R(GD_STATUS_TEMPFAIL, "250 2.1.5 OK");
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n", R_MAIL
	    "451 4.3.0 Error: 250 2.1.5 OK\r\n");
	CHECK(H.env.nrcpt == 0);
	O.validate = R(GD_STATUS_PERMFAIL, "bad\r\n250 injected");
	expect("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\n", R_MAIL
	    "550 5.1.1 User unknown in local recipient table bad250 "
	    "injected\r\n");
	/* refused before validation: no job */
	O.validate = R(GD_STATUS_OK, NULL);
	expect("MAIL FROM:<>\r\nRCPT TO:<b@other.org>\r\nRCPT TO:<>\r\n",
	    R_MAIL "454 4.1.1 Error: Relay access denied: other.org\r\n"
	    R_INVALID);
	CHECK(H.nvalidate == 0);

	/* the event itself */
	setup();
	n = smtp_input(&H.s, in, sizeof(in) - 1, &ev);
	CHECK(ev == SMTP_EV_VALIDATE && n == 14 + 25);
	CHECK(H.s.state == SMTP_S_WAIT_VALIDATE && H.env.nrcpt == 1);
	CHECK(smtp_input(&H.s, in + n, 10, &ev) == 0 && ev == SMTP_EV_NONE);
	O.save = R(GD_STATUS_OK, "250 wrong state");
	smtp_save_done(&H.s, &O.save);			/* ignored */
	O.validate = R(GD_STATUS_PERMFAIL, "no such user");
	smtp_validate_done(&H.s, &O.validate);
	CHECK(H.s.state == SMTP_S_COMMAND && H.env.nrcpt == 0);
	smtp_validate_done(&H.s, &O.validate);		/* ignored */
	collect();
	CHECK_STR(H.out, R_MAIL "550 5.1.1 User unknown in local recipient "
	    "table no such user\r\n");
}

/* ---- output room (SMTP_OUT_ROOM) ---- */

static void
t_output_room(void)
{
	static char in[600 * 6];
	size_t i, n, off = 0;
	enum smtp_event ev;

	opts_default();
	setup();
	for (i = 0; i < 600; i++)
		memcpy(in + 6 * i, "NOOP\r\n", 6);
	n = smtp_input(&H.s, in, sizeof(in), &ev);
	CHECK(ev == SMTP_EV_NONE && n > 0 && n < sizeof(in) && n % 6 == 0);
	CHECK(H.s.outlen <= SMTP_OUT_MAX);
	CHECK(SMTP_OUT_MAX - H.s.outlen < SMTP_OUT_ROOM);
	CHECK(smtp_input(&H.s, in + n, sizeof(in) - n, &ev) == 0);
	off = n;
	while (off < sizeof(in)) {
		collect();
		n = smtp_input(&H.s, in + off, sizeof(in) - off, &ev);
		CHECK(n > 0);
		if (n == 0)
			break;
		off += n;
	}
	collect();
	CHECK(off == sizeof(in) && H.outlen == 600 * 14);
	/* partial writes */
	setup();
	smtp_input(&H.s, "NOOP\r\nRSET\r\n", 12, &ev);
	smtp_drain(&H.s, 5);
	CHECK(H.s.outlen == 23 && memcmp(H.s.out, ".0.0 OK\r\n250 ", 13) == 0);
	smtp_drain(&H.s, 100);
	CHECK(H.s.outlen == 0);
	/* while the reply buffer is full no command starts, but the data
	 * phase, which queues nothing until its end, goes on */
	setup();
	H.s.outlen = SMTP_OUT_MAX - SMTP_OUT_ROOM + 1;
	CHECK(smtp_input(&H.s, "NOOP\r\n", 6, &ev) == 0);
	H.s.outlen = 0;
	CHECK(smtp_input(&H.s, TX, strlen(TX), &ev) == strlen(TX));
	H.s.outlen = SMTP_OUT_MAX - SMTP_OUT_ROOM + 1;
	CHECK(smtp_input(&H.s, "abc\r\n.\r\n", 8, &ev) == 8 &&
	    ev == SMTP_EV_SAVE);
	O.save = R(GD_STATUS_OK, "250 ok");
	CHECK(smtp_save_done(&H.s, &O.save) == SMTP_EV_NONE);
	CHECK(H.s.outlen == SMTP_OUT_MAX - SMTP_OUT_ROOM + 1 + 8);
}

/* ---- STARTTLS ---- */

static void
t_starttls(void)
{
	static const char in[] = "EHLO a\r\nMAIL FROM:<a@example.com>\r\n"
	    "STARTTLS\r\nRCPT TO:<b@example.com>\r\n";
	size_t n;
	enum smtp_event ev;

	opts_default();
	O.start_tls = 1;
	setup();
	n = smtp_input(&H.s, in, sizeof(in) - 1, &ev);
	CHECK(ev == SMTP_EV_STARTTLS && n == 8 + 27 + 10);
	CHECK(H.s.state == SMTP_S_STARTTLS);
	CHECK(smtp_input(&H.s, in + n, 5, &ev) == 0 && ev == SMTP_EV_NONE);
	collect();
	CHECK_STR(H.out, EHLO_TLS R_MAIL "220 2.0.0 Ready to start TLS\r\n");
	smtp_tls_started(&H.s);
	CHECK(H.s.tls_active && H.env.tls && H.s.state == SMTP_S_COMMAND);
	CHECK(H.env.helo[0] == '\0' && !H.env.esmtp);	/* SMTP-53 */
	CHECK(!H.s.in_tx && !H.env.has_from);

	/* through the harness: injected plaintext is dropped */
	setup();
	run(in, sizeof(in) - 1, 0);
	CHECK_STR(H.out, EHLO_TLS R_MAIL "220 2.0.0 Ready to start TLS\r\n");
	H.outlen = 0;
	RUN_LIT("EHLO b\r\nHELP\r\nSTARTTLS\r\n");
	CHECK_STR(H.out, EHLO_PLAIN "214-2.0.0 Commands: HELO EHLO MAIL RCPT "
	    "DATA RSET NOOP QUIT VRFY HELP\r\n214 2.0.0 End of HELP info\r\n"
	    "503 5.5.1 Error: TLS already active\r\n");
	CHECK(H.s.state == SMTP_S_COMMAND);
}

/* ---- XCLIENT ---- */

static void
t_xclient(void)
{
	opts_default();
	O.xclient = 1;
	expect("XCLIENT\r\n", "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	expect("XCLIENT \r\nxclient = == ADDR= HELO=\r\n",
	    "250 2.1.0 OK\r\n250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	expect("XCLIENT NAME=spike ADDR=198.51.100.7 PORT=25 "
	    "HELO=spike.example LOGIN=x\r\n", "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "198.51.100.7");
	CHECK_STR(H.env.helo, "spike.example");
	expect("XCLIENT ADDR=IPV6:2001:DB8:0::1\r\n", "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "2001:db8::1");
	expect("XCLIENT ADDR=::ffff:10.1.2.3\r\n", "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "10.1.2.3");
	expect("XCLIENT ADDR=[UNAVAILABLE] HELO=[TEMPUNAVAIL]\r\n",
	    "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	CHECK(H.env.helo[0] == '\0');
	expect("XCLIENT ADDR=999.1.1.1\r\nXCLIENT ADDR=1.2.3.4.5\r\n"
	    "XCLIENT ADDR=IPV6:1.2.3.4\r\n",
	    "250 2.1.0 OK\r\n250 2.1.0 OK\r\n250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	EXPECT_LIT("XCLIENT HELO=a\x01 ADDR=1.2.3.4\0\r\n",
	    "250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "192.0.2.1");
	CHECK(H.env.helo[0] == '\0');
	expect("MAIL FROM:<>\r\nXCLIENT ADDR=10.0.0.1\r\nRSET\r\n"
	    "XCLIENT ADDR=10.0.0.1\r\n", R_MAIL
	    "503 5.5.1 Error: XCLIENT not allowed in a transaction\r\n"
	    "250 2.1.0 OK\r\n250 2.1.0 OK\r\n");
	CHECK_STR(H.env.remote_ip, "10.0.0.1");
}

/* ---- shutdown, timeout, EOF (SMTP-49, 59, 61) ---- */

static void
t_shutdown(void)
{
	enum smtp_event ev;
	size_t n;

	opts_default();
	setup();
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_CLOSE);
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_421);
	CHECK(H.s.state == SMTP_S_CLOSING);

	/* in data: the message finishes, then 421 */
	setup();
	RUN_LIT(TX "abc\r\n");
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_NONE);
	RUN_LIT(".\r\nNOOP\r\n");
	CHECK_STR(H.out, R_TX R_QUEUED R_421);
	CHECK(H.closed && H.nsaved == 1);
	/* a refused message too */
	setup();
	RUN_LIT(TX "abc\nd\r\n");
	H.cfg.bare_lf = CFG_BARE_LF_REJECT;
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_NONE);
	RUN_LIT(".\r\n");
	CHECK_STR(H.out, R_TX "550 5.5.2 Error: bare <LF> received\r\n" R_421);
	CHECK(H.closed);
	/* waiting for a validation */
	O.have_validate = 1;
	setup();
	n = smtp_input(&H.s, "MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nNOOP\r\n",
	    42, &ev);
	CHECK(ev == SMTP_EV_VALIDATE && n == 36);
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_NONE);
	smtp_validate_done(&H.s, &O.validate);
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_MAIL R_RCPT R_421);
	/* a pipelined command after the flag was set */
	opts_default();
	setup();
	H.s.shutting_down = 1;
	RUN_LIT("NOOP\r\nNOOP\r\n");
	CHECK_STR(H.out, R_421);
	/* before the greeting */
	setup();
	smtp_init(&H.s, &H.cfg, &H.env, allow, NULL, 0);
	H.s.out = H.outbuf;
	CHECK(smtp_shutdown(&H.s) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_421);
}

static void
t_timeout(void)
{
	enum smtp_event ev;

	opts_default();
	setup();
	CHECK(smtp_timeout(&H.s) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	CHECK(H.s.state == SMTP_S_CLOSING);
	CHECK(smtp_input(&H.s, "NOOP\r\n", 6, &ev) == 0 &&
	    ev == SMTP_EV_CLOSE);
	/* in data: nothing stored, a 451 (SMTP-49), closed */
	setup();
	RUN_LIT(TX "abc\r\nde");
	CHECK(H.env.data.len == 6);
	CHECK(smtp_timeout(&H.s) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_TX "451 4.3.0 Error: timeout exceeded\r\n");
	CHECK(H.env.data.len == 0 && H.env.nrcpt == 0);
	CHECK(H.s.state == SMTP_S_CLOSING);
	/* waiting for the backend: the envelope is not touched */
	setup();
	CHECK(smtp_input(&H.s, TX "abc\r\n.\r\n", strlen(TX) + 8, &ev) ==
	    strlen(TX) + 8 && ev == SMTP_EV_SAVE);
	CHECK(smtp_timeout(&H.s) == SMTP_EV_CLOSE);
	CHECK(H.env.data.len == 4 && H.env.nrcpt == 1);
	collect();
	CHECK_STR(H.out, R_TX);
}

static void
t_eof(void)
{
	opts_default();
	setup();
	RUN_LIT(TX "abc");
	CHECK(smtp_eof(&H.s, "read: connection reset\r\n") == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_TX "451 4.3.0 Error: read: connection reset\r\n");
	CHECK(H.env.data.len == 0 && !H.s.in_tx);
	setup();
	RUN_LIT(TX "a\n.\n");	/* not an end */
	CHECK(smtp_eof(&H.s, NULL) == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, R_TX "451 4.3.0 Error: connection closed\r\n");
	CHECK(H.nsaved == 0);
	setup();
	RUN_LIT("NOOP\r\nNO");
	CHECK(smtp_eof(&H.s, "eof") == SMTP_EV_CLOSE);
	collect();
	CHECK_STR(H.out, "250 2.0.0 OK\r\n");
}

static void
t_line_done(void)
{
	enum smtp_event ev;

	opts_default();
	setup();
	CHECK(smtp_input(&H.s, TX, strlen(TX), &ev) == strlen(TX));
	CHECK(H.s.line_done);
	H.s.line_done = 0;
	CHECK(smtp_input(&H.s, "abc", 3, &ev) == 3 && !H.s.line_done);
	CHECK(smtp_input(&H.s, "\r", 1, &ev) == 1 && !H.s.line_done);
	CHECK(smtp_input(&H.s, "\n", 1, &ev) == 1 && H.s.line_done);
	H.s.line_done = 0;
	CHECK(smtp_input(&H.s, "x\ny", 3, &ev) == 3 && H.s.line_done);
}

/* ---- robustness: random input never crashes or overflows ---- */

static unsigned long rng = 12345;

static unsigned
rnd(unsigned n)
{
	rng = rng * 1103515245UL + 12345UL;
	return (unsigned)((rng >> 16) % n);
}

static void
t_random_input(void)
{
	static const char *const line[] = {	/* mostly valid commands */
		"MAIL FROM:<a@example.com>\r\n", "RCPT TO:<b@example.com>\r\n",
		"DATA\r\n", "DATA\r\n", "RCPT TO:<c@example.com>\r\n",
		".\r\n", ".\r\n", "EHLO x\r\n", "HELO [1.2.3.4]\r\n",
		"RSET\r\n", "STARTTLS\r\n", "XCLIENT ADDR=1.2.3.4 HELO=x\r\n",
		"XCLIENT\r\n", "RCPT TO:<postmaster>\r\n", "HELP\r\n",
		"NOOP\r\n", "MAIL FROM:<> SIZE=99999999999999999999\r\n",
		"MAIL FROM:<\"a b\"@[IPv6:::1]> BODY=8BITMIME\r\n",
		"RCPT TO:<@a,@b:c@[127.0.0.1]> X=1\r\n"
	};
	static const char *const frag[] = {	/* pieces and junk */
		"\r\n", "\n", ".", "\r", "..", "xyz", "\0", "\xff", "<", ">",
		" ", "\"", "@", "[", "]", "\r\n.\n", "\n.\r\n", "MAIL FROM:<"
	};
	static const struct {
		enum gd_status	st;
		const char	*text;
	} reasons[] = {
		{ GD_STATUS_OK, NULL }, { GD_STATUS_NONE, NULL },
		{ GD_STATUS_PERMFAIL, "no such user" },
		{ GD_STATUS_TEMPFAIL, "storage timeout" }
	};
	static char in[6000], ref[sizeof(H.out)];
	size_t saved = 0, closed = 0;
	unsigned k;
	int iter, nsaved;

	for (iter = 0; iter < 3000; iter++) {
		size_t len = 0, tl;
		const char *t;
		opts_default();
		O.max_size = 60 + rnd(100);
		O.start_tls = (int)rnd(2);
		O.xclient = (int)rnd(2);
		O.bare_lf_reject = (int)rnd(2);
		O.have_validate = (int)rnd(2);
		k = rnd(NELEM(reasons));
		O.validate = R(reasons[k].st, reasons[k].text);
		while (len < sizeof(in) - 64 && rnd(150) != 0) {
			if (rnd(10) < 7) {
				t = line[rnd(NELEM(line))];
				tl = strlen(t);
			} else if (rnd(8) == 0) {
				in[len++] = (char)rnd(256);
				continue;
			} else {
				t = frag[rnd(NELEM(frag))];
				tl = t[0] == '\0' ? 1 : strlen(t);
			}
			memcpy(in + len, t, tl);
			len += tl;
		}
		if (rnd(2) == 0) {
			memcpy(in + len, "QUIT\r\n", 6);
			len += 6;
		}
		/* the transcript must not depend on how the bytes arrive
		 * (except after STARTTLS, which drops what was buffered) */
		setup();
		H.s.unrecognized = -1000;	/* let junk run (SMTP-15 is tested) */
		run(in, len, 0);
		if (!O.start_tls) {
			memcpy(ref, H.out, H.outlen + 1);
			nsaved = H.nsaved;
			setup();
			H.s.unrecognized = -1000;
			run(in, len, 1 + rnd(300));
			CHECK(strcmp(ref, H.out) == 0 && nsaved == H.nsaved);
		}
		CHECK(!H.stuck);
		CHECK(H.s.outlen <= SMTP_OUT_MAX);
		saved += (size_t)H.nsaved;
		closed += (size_t)H.closed;
		if (!H.closed)
			smtp_eof(&H.s, "eof");
		collect();
	}
	/* the generator must reach the interesting states */
	CHECK(saved > 300);
	CHECK(closed > 300 && closed < 2900);
}

/* t_random_bodies - the message bytes stored must not depend on how they
 * arrive: random bodies of CRLF lines (the fast path), bare CRs and LFs,
 * dots and lines longer than the decoder's 4 KiB chunk, fed all at once
 * and in random pieces (1 to 300 octets: mostly the byte switch). */
static void
t_random_bodies(void)
{
	static const char *const frag[] = {
		"Subject: x", "\r\n", "\r\n", "\r\n", "\n", "\r", ".", "..",
		"abc", "a\rb", " ", "\r\r\n", "\r\n.\n", "\n.\r\n", "\r\n. \r\n",
		"\r\n..\r\n", "\r\n.x"
	};
	static char in[24000], ref[24000];
	size_t reflen, total = 0;
	int iter;

	for (iter = 0; iter < 400; iter++) {
		size_t len = strlen(TX), tl;
		const char *t;

		opts_default();
		O.max_size = 100000;
		memcpy(in, TX, len);
		while (len < sizeof(in) - 8200 && rnd(60) != 0) {
			if (rnd(40) == 0) {	/* 4093, 4094 or 4095 + CRLF */
				tl = 4093 + rnd(3);
				memset(in + len, 'L', tl);
				memcpy(in + len + tl, "\r\n", 2);
				len += tl + 2;
				continue;
			}
			t = frag[rnd(NELEM(frag))];
			tl = strlen(t);
			memcpy(in + len, t, tl);
			len += tl;
		}
		memcpy(in + len, "\r\n.\r\n", 5);
		len += 5;
		setup();
		run(in, len, 0);
		CHECK(H.nsaved == 1 && !H.stuck);
		if (H.nsaved != 1)
			continue;
		reflen = H.savedlen;
		memcpy(ref, H.saved, reflen);
		total += reflen;
		setup();
		run(in, len, 1 + rnd(300));
		CHECK(H.nsaved == 1 && H.savedlen == reflen &&
		    memcmp(H.saved, ref, reflen) == 0);
	}
	CHECK(total > 400 * 100);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	RUN(t_greeting);
	RUN(t_helo_ehlo);
	RUN(t_simple_commands);
	RUN(t_unrecognized);
	RUN(t_line_length);
	RUN(t_mail);
	RUN(t_rcpt);
	RUN(t_rcpt_limit);
	RUN(t_parse_path);
	RUN(t_path_limits);
	RUN(t_valid_domain);
	RUN(t_data_decoder);
	RUN(t_data_bare_lf_reject);
	RUN(t_data_max_size);
	RUN(t_data_discard_limit);
	RUN(t_data_nomem);
	RUN(t_pipelining);
	RUN(t_save_flow);
	RUN(t_validate_flow);
	RUN(t_output_room);
	RUN(t_starttls);
	RUN(t_xclient);
	RUN(t_shutdown);
	RUN(t_timeout);
	RUN(t_eof);
	RUN(t_line_done);
	RUN(t_random_input);
	RUN(t_random_bodies);
	env_free(&H.env);
	free(H.saved);
	return T_DONE();
}
