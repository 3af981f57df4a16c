/* t_proxy - the PROXY v1 header parser (SMTP-05..08). */
#include "../compat.h"

#include <string.h>

#include "proxy.h"
#include "t.h"

static int
parse(const char *s, struct proxy_info *pi)
{
	return proxy_parse_v1(s, strlen(s), pi);
}

static void
tcp4_ok(void)
{
	struct proxy_info pi;
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\nEHLO x\r\n";

	CHECK(parse(h, &pi) == 41);
	CHECK(pi.family == 4 && !pi.unknown);
	CHECK_STR(pi.src, "192.0.2.7");
	CHECK_STR(pi.dst, "127.0.0.1");
	CHECK(pi.sport == 40000 && pi.dport == 25);
}

static void
tcp6_ok(void)
{
	struct proxy_info pi;

	CHECK(parse("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", &pi) > 0);
	CHECK(pi.family == 6);
	CHECK_STR(pi.src, "2001:db8::1");
	CHECK(pi.sport == 65535 && pi.dport == 0);
}

static void
unknown_ok(void)
{
	struct proxy_info pi;

	CHECK(parse("PROXY UNKNOWN\r\n", &pi) == 15 && pi.unknown);
	CHECK(parse("PROXY UNKNOWN ffff:f::1 ffff::2 1 2\r\n", &pi) > 0 &&
	    pi.unknown);
}

static void
incomplete_needs_more(void)
{
	struct proxy_info pi;
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n";
	size_t i;

	for (i = 0; i < strlen(h); i++)
		CHECK(proxy_parse_v1(h, i, &pi) == 0);
	CHECK(proxy_parse_v1(h, strlen(h), &pi) > 0);
}

static void
malformed_refused(void)
{
	static const char *const bad[] = {
		"PROXY TCP4\r\n",			/* GAP-10 crash in GG */
		"PROXY TCP4 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",	/* bare LF */
		"PROXY TCP4 ::1 ::1 1 2\r\n",		/* family mismatch */
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",	/* not canonical */
		"PROXY TCP6 2001:DB8::1 ::1 1 2\r\n",
		"PROXY TCP6 2001:db8:0::1 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"EHLO example.com\r\n",
		"\r\n\r\n\0\r\nQUIT\n",			/* a v2 signature */
	};
	struct proxy_info pi;
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		size_t len = strlen(bad[i]);
		if (i == NELEM(bad) - 1)
			len = 12;
		if (proxy_parse_v1(bad[i], len, &pi) != -1) {
			printf("     accepted: case %zu\n", i);
			CHECK(!"malformed header accepted");
		}
	}
}

static void
too_long_refused(void)
{
	char h[200];
	struct proxy_info pi;

	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY UNKNOWN ", 14);
	CHECK(proxy_parse_v1(h, PROXY_V1_MAX - 1, &pi) == 0);
	CHECK(proxy_parse_v1(h, PROXY_V1_MAX, &pi) == -1);
	h[PROXY_V1_MAX - 2] = '\r';	/* exactly 107 octets with CRLF */
	h[PROXY_V1_MAX - 1] = '\n';
	CHECK(proxy_parse_v1(h, sizeof(h), &pi) == PROXY_V1_MAX);
}

int
main(void)
{
	RUN(tcp4_ok);
	RUN(tcp6_ok);
	RUN(unknown_ok);
	RUN(incomplete_needs_more);
	RUN(malformed_refused);
	RUN(too_long_refused);
	return T_DONE();
}
