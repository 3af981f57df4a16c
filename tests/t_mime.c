/*
 * t_mime.c - unit tests of mime.c: header block parsing (ENV-07), RFC 2047
 * decoding (ENV-08) and header address parsing (PROC-05).  No I/O.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "t.h"

/* parse - an envelope whose data is s, with its headers parsed. */
static int
parse(struct gd_envelope *e, const char *s, size_t n, char *err,
    size_t errlen)
{
	env_init(e);
	if (env_data_append(e, s, n) != 0)
		return -2;
	err[0] = '\0';
	return gd_env_parse_headers(e, err, errlen);
}

#define PARSE(e, lit, err) parse((e), (lit), sizeof(lit) - 1, (err), sizeof(err))

static void
test_hdr_folding(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Subject: hello\n world  \n\t again\nTo:  x \n\nbody: no\n",
	    err) == 0);
	CHECK(e.nhdr == 2);
	CHECK_STR(gd_env_header(&e, "subject"), "hello world again");
	CHECK_STR(gd_env_header(&e, "TO"), "x");
	CHECK(gd_env_header(&e, "Body") == NULL);
	CHECK_STR(e.subject, "hello world again");
	env_free(&e);
}

static void
test_hdr_canonical(void)
{
	struct gd_envelope e;
	char err[128];
	char n[] = "x-mAILER-id";

	CHECK(PARSE(&e, "content-TYPE: a\nmessage-id: b\nX-MAILER: c\n"
	    "Subject : d\n\n", err) == 0);
	CHECK(e.nhdr == 4);
	if (e.nhdr == 4) {
		CHECK_STR(e.hdr[0].name, "Content-Type");
		CHECK_STR(e.hdr[1].name, "Message-Id");
		CHECK_STR(e.hdr[2].name, "X-Mailer");
		CHECK_STR(e.hdr[3].name, "Subject");
		CHECK_STR(e.hdr[3].value, "d");
	}
	mime_canonical_name(n);
	CHECK_STR(n, "X-Mailer-Id");
	env_free(&e);
}

static void
test_hdr_duplicates(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Received: a\nSubject: first\nReceived: b\n"
	    "Subject: second\n\n", err) == 0);
	CHECK(e.nhdr == 4);
	if (e.nhdr == 4) {
		CHECK_STR(e.hdr[0].value, "a");
		CHECK_STR(e.hdr[2].name, "Received");
		CHECK_STR(e.hdr[2].value, "b");
	}
	CHECK_STR(e.subject, "first");
	env_free(&e);
}

static void
test_hdr_no_empty_line(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Subject: s\nFrom: f\n folded", err) == 0);
	CHECK(e.nhdr == 2);
	CHECK_STR(gd_env_header(&e, "From"), "f folded");
	env_free(&e);

	CHECK(PARSE(&e, "\nSubject: body", err) == 0);
	CHECK(e.nhdr == 0);
	CHECK(e.subject == NULL);
	CHECK(e.headers_parsed);
	env_free(&e);

	CHECK(parse(&e, "", 0, err, sizeof(err)) == 0);
	CHECK(e.nhdr == 0);
	env_free(&e);
}

static void
test_hdr_crlf(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Subject: a\r\n b\r\nTo: t\r\n\r\nX-Body: x\r\n",
	    err) == 0);
	CHECK(e.nhdr == 2);
	CHECK_STR(gd_env_header(&e, "Subject"), "a b");
	CHECK_STR(gd_env_header(&e, "To"), "t");
	env_free(&e);
}

static void
test_hdr_already_parsed(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Subject: s\n\n", err) == 0);
	CHECK(gd_env_parse_headers(&e, err, sizeof(err)) == -1);
	CHECK_STR(err, "headers already parsed");
	CHECK(e.nhdr == 1);
	/* a reset transaction can be parsed again */
	env_reset(&e);
	CHECK(env_data_append(&e, "A: b\n\n", 6) == 0);
	CHECK(gd_env_parse_headers(&e, err, sizeof(err)) == 0);
	CHECK_STR(gd_env_header(&e, "A"), "b");
	env_free(&e);
}

static void
test_hdr_malformed_lines(void)
{
	struct gd_envelope e;
	char err[128];

	/* a leading continuation, a line without a colon (and its own
	 * continuation), an mbox From line, an empty name, a NUL in a value */
	CHECK(PARSE(&e, " orphan\ngarbage line\n cont: x\n"
	    "From foo@bar Mon Jan  1 12:00:00 2024\n: empty\n"
	    "Subject: ok\nX-Nul: a\0b\n\n", err) == 0);
	CHECK(e.nhdr == 2);
	CHECK_STR(gd_env_header(&e, "Subject"), "ok");
	CHECK_STR(gd_env_header(&e, "X-Nul"), "ab");
	env_free(&e);
}

static void
test_hdr_encoded_subject(void)
{
	struct gd_envelope e;
	char err[128];

	CHECK(PARSE(&e, "Subject: =?utf-8?B?w6k=?=\n =?utf-8?Q?t=C3=A9?=\n\n",
	    err) == 0);
	CHECK_STR(e.subject, "\xc3\xa9t\xc3\xa9");
	env_free(&e);
}

/* hostile blocks: these would take minutes if anything were quadratic */
static void
test_hdr_hostile(void)
{
	struct gd_envelope e;
	char err[128];
	size_t n = 10 * 1024 * 1024, i;
	char *big = malloc(n + 16);
	clock_t t0 = clock();

	CHECK(big != NULL);
	if (big == NULL)
		return;
	/* 2.6 million tiny fields */
	for (i = 0; i + 4 <= n; i += 4)
		memcpy(big + i, "a:b\n", 4);
	CHECK(parse(&e, big, i, err, sizeof(err)) == -1);
	CHECK(strstr(err, "too many header fields") != NULL);
	CHECK(e.nhdr == 10000);
	CHECK(e.headers_parsed);
	env_free(&e);

	/* one 10 MB line */
	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'x', n - 9);
	CHECK(parse(&e, big, n, err, sizeof(err)) == 0);
	CHECK(e.nhdr == 1 && e.subject != NULL && strlen(e.subject) == n - 9);
	env_free(&e);

	/* one field folded over 2.6 million lines */
	memcpy(big, "X-Fold: a\n", 10);
	for (i = 10; i + 4 <= n; i += 4)
		memcpy(big + i, " b \n", 4);
	CHECK(parse(&e, big, i, err, sizeof(err)) == 0);
	CHECK(e.nhdr == 1 && strlen(e.hdr[0].value) == 1 + (i - 10) / 2);
	env_free(&e);

	/* a subject of broken encoded words before one far "?=" */
	memcpy(big, "Subject: ", 9);
	for (i = 9; i + 8 <= n - 4; i += 8)
		memcpy(big + i, "=?a?Q?x ", 8);
	memcpy(big + i, "?=\n\n", 4);
	CHECK(parse(&e, big, i + 4, err, sizeof(err)) == 0);
	CHECK(e.subject != NULL && strlen(e.subject) == i - 9 + 2);
	env_free(&e);
	free(big);
	CHECK((clock() - t0) / CLOCKS_PER_SEC < 30);
}

/* ---- RFC 2047 ---- */

static void
check_dec(const char *in, const char *want)
{
	char *got = mime_decode_words(in, strlen(in));

	CHECK_STR(got, want);
	free(got);
}

static void
test_2047_b_and_q(void)
{
	check_dec("=?UTF-8?B?SGVsbG8=?=", "Hello");
	check_dec("=?utf-8?Q?Caf=C3=A9_au_lait?=", "Caf\xc3\xa9 au lait");
	check_dec("=?utf-8?b?SGk=?=", "Hi");
	check_dec("=?utf-8?q?h=69?=", "hi");
	check_dec("=?US-ASCII?Q?plain?=", "plain");
	check_dec("=?utf-8?B?\?=", "");
	check_dec("no words here", "no words here");
	check_dec("", "");
}

static void
test_2047_adjacent(void)
{
	check_dec("=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab");
	check_dec("=?utf-8?Q?a?=\r\n\t =?utf-8?B?Yg==?=", "ab");
	check_dec("=?utf-8?Q?a?= x =?utf-8?Q?b?=", "a x b");
}

static void
test_2047_mixed(void)
{
	check_dec("Re: =?utf-8?Q?caf=C3=A9?= time", "Re: caf\xc3\xa9 time");
	check_dec("[list] =?utf-8?Q?x?=", "[list] x");
	check_dec("a =?utf-8?Q?b", "a =?utf-8?Q?b");
	check_dec("=?utf-8*en?Q?hi?=", "hi");	/* RFC 2231 language */
}

static void
test_2047_latin1(void)
{
	check_dec("=?ISO-8859-1?Q?Andr=E9?=", "Andr\xc3\xa9");
	check_dec("=?iso-8859-1?B?/w==?=", "\xc3\xbf");
	check_dec("=?us-ascii?Q?a=FF?=", "a\xef\xbf\xbd");
}

static void
test_2047_failures_literal(void)
{
	check_dec("=?utf-8?B?***?=", "=?utf-8?B?***?=");
	check_dec("=?utf-8?B?SGk?=", "=?utf-8?B?SGk?=");	/* no padding */
	check_dec("=?utf-8?Q?a=G1?=", "=?utf-8?Q?a=G1?=");
	check_dec("=?utf-8?X?abc?=", "=?utf-8?X?abc?=");
	check_dec("=?koi8-r?B?8fQ=?=", "=?koi8-r?B?8fQ=?=");
	check_dec("=?windows-1252?Q?=80?=", "=?windows-1252?Q?=80?=");
	/* the space before an undecoded word is kept */
	check_dec("=?utf-8?Q?a?= =?koi8-r?Q?b?=", "a =?koi8-r?Q?b?=");
	/* a broken word does not stop a later good one */
	check_dec("=?utf-8?B?*?= =?utf-8?Q?ok?=", "=?utf-8?B?*?= ok");
}

/* ---- addresses ---- */

static void
test_addr_forms(void)
{
	struct gd_address a;

	memset(&a, 0, sizeof(a));
	CHECK(mime_parse_address("Name <user@host>", &a) == 0);
	CHECK_STR(a.local, "user");
	CHECK_STR(a.domain, "host");
	CHECK_STR(a.display_name, "Name");
	CHECK(a.display_quoted == 0);
	env_addr_clear(&a);

	CHECK(mime_parse_address("\"Quoted, Name\" <u@h>", &a) == 0);
	CHECK_STR(a.display_name, "Quoted, Name");
	CHECK(a.display_quoted == 1);
	CHECK_STR(a.local, "u");
	CHECK_STR(a.domain, "h");
	env_addr_clear(&a);

	CHECK(mime_parse_address("  user@host  ", &a) == 0);
	CHECK_STR(a.local, "user");
	CHECK_STR(a.domain, "host");
	CHECK(a.display_name == NULL);
	env_addr_clear(&a);

	CHECK(mime_parse_address("user@host (A (nested) comment)", &a) == 0);
	CHECK_STR(a.local, "user");
	CHECK_STR(a.display_name, "A (nested) comment");	/* as Go */
	env_addr_clear(&a);

	CHECK(mime_parse_address("John Q. Public <jqp@example.com>", &a) == 0);
	CHECK_STR(a.display_name, "John Q. Public");
	env_addr_clear(&a);

	CHECK(mime_parse_address("<bare@example.com>", &a) == 0);
	CHECK_STR(a.local, "bare");
	CHECK(a.display_name == NULL);
	env_addr_clear(&a);

	CHECK(mime_parse_address("=?utf-8?Q?J=C3=B6rg?= =?utf-8?Q?_M?= <j@h>",
	    &a) == 0);
	CHECK_STR(a.display_name, "J\xc3\xb6rg M");
	env_addr_clear(&a);

	CHECK(mime_parse_address("\"john doe\"@example.com", &a) == 0);
	CHECK_STR(a.local, "john doe");
	CHECK(a.quoted == 1);
	env_addr_clear(&a);

	CHECK(mime_parse_address("Route <@a.example,@b.example:u@c.example>",
	    &a) == 0);
	CHECK_STR(a.local, "u");
	CHECK_STR(a.domain, "c.example");
	env_addr_clear(&a);
}

static void
test_addr_groups(void)
{
	struct gd_address a;

	memset(&a, 0, sizeof(a));
	CHECK(mime_parse_address("Team: a@b, c@d;", &a) == 0);
	CHECK_STR(a.local, "a");
	CHECK_STR(a.domain, "b");
	env_addr_clear(&a);

	CHECK(mime_parse_address("Team: Ann <a@b>, c@d;", &a) == 0);
	CHECK_STR(a.display_name, "Ann");
	CHECK_STR(a.local, "a");
	env_addr_clear(&a);

	CHECK(mime_parse_address("Empty:;, x@y", &a) == 0);
	CHECK_STR(a.local, "x");
	env_addr_clear(&a);

	CHECK(mime_parse_address(", , first@one, second@two", &a) == 0);
	CHECK_STR(a.local, "first");
	env_addr_clear(&a);

	CHECK(mime_parse_address("undisclosed-recipients:;", &a) == -1);
}

static void
test_addr_literals(void)
{
	struct gd_address a;

	memset(&a, 0, sizeof(a));
	CHECK(mime_parse_address("x@[192.0.2.1]", &a) == 0);
	CHECK_STR(a.domain, "192.0.2.1");
	CHECK(a.ip_family == 4 && a.ip[0] == 192 && a.ip[3] == 1);
	env_addr_clear(&a);

	CHECK(mime_parse_address("<x@[IPv6:2001:DB8:0::1]>", &a) == 0);
	CHECK_STR(a.domain, "2001:db8::1");
	CHECK(a.ip_family == 6);
	env_addr_clear(&a);

	CHECK(mime_parse_address("x@[not-an-ip]", &a) == -1);
}

static void
test_addr_invalid(void)
{
	struct gd_address a;
	char longl[300];

	memset(&a, 0, sizeof(a));
	CHECK(mime_parse_address("", &a) == -1);
	CHECK(mime_parse_address("not an address", &a) == -1);
	CHECK(mime_parse_address("user@", &a) == -1);
	CHECK(mime_parse_address("<user@host", &a) == -1);
	CHECK(mime_parse_address("two words@host", &a) == -1);
	CHECK(mime_parse_address("a@b..c", &a) == -1);
	CHECK(mime_parse_address("\"unterminated <a@b>", &a) == -1);
	memset(longl, 'a', 200);
	memcpy(longl + 200, "@host", 6);
	CHECK(mime_parse_address(longl, &a) == -1);
	CHECK(a.local[0] == '\0' && a.display_name == NULL);
}

int
main(void)
{
	RUN(test_hdr_folding);
	RUN(test_hdr_canonical);
	RUN(test_hdr_duplicates);
	RUN(test_hdr_no_empty_line);
	RUN(test_hdr_crlf);
	RUN(test_hdr_already_parsed);
	RUN(test_hdr_malformed_lines);
	RUN(test_hdr_encoded_subject);
	RUN(test_hdr_hostile);
	RUN(test_2047_b_and_q);
	RUN(test_2047_adjacent);
	RUN(test_2047_mixed);
	RUN(test_2047_latin1);
	RUN(test_2047_failures_literal);
	RUN(test_addr_forms);
	RUN(test_addr_groups);
	RUN(test_addr_literals);
	RUN(test_addr_invalid);
	return T_DONE();
}
